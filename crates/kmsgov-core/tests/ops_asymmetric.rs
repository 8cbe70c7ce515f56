//! Sign, Verify, GenerateMac, VerifyMac, GetPublicKey and DeriveSharedSecret
//! through the service, with authorization on, cross-checked with the
//! `openssl` command line.
//!
//! Expected algorithms, lengths and curves come from the AWS KMS key spec
//! reference, not from the code under test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/harness.rs"]
mod harness;

#[path = "support/crypto_tools.rs"]
mod crypto_tools;

use crypto_tools::{
    digest_name, hex, key_material, known_root_harness, openssl, run, with_key_state, Scratch,
};
use harness::{b64, unb64, Harness, ACCOUNT};
use kmsgov_core::crypto::{KeyMaterial, KeySpec};
use kmsgov_core::ErrorKind;
use serde_json::{json, Value};

const MESSAGE: &[u8] = b"kmsgov asymmetric operations\n";

const RSA_SIGNING: [&str; 6] = [
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
];

/// Every signing key spec with its signing algorithms.
const SIGNING: [(&str, &[&str]); 7] = [
    ("RSA_2048", &RSA_SIGNING),
    ("RSA_3072", &RSA_SIGNING),
    ("RSA_4096", &RSA_SIGNING),
    ("ECC_NIST_P256", &["ECDSA_SHA_256"]),
    ("ECC_NIST_P384", &["ECDSA_SHA_384"]),
    ("ECC_NIST_P521", &["ECDSA_SHA_512"]),
    ("ECC_SECG_P256K1", &["ECDSA_SHA_256"]),
];

/// HMAC key specs, their algorithm, OpenSSL digest and MAC length.
const HMAC: [(&str, &str, &str, usize); 4] = [
    ("HMAC_224", "HMAC_SHA_224", "SHA224", 28),
    ("HMAC_256", "HMAC_SHA_256", "SHA256", 32),
    ("HMAC_384", "HMAC_SHA_384", "SHA384", 48),
    ("HMAC_512", "HMAC_SHA_512", "SHA512", 64),
];

/// Key agreement curves, OpenSSL's name for them and the shared secret
/// length (the size of a field element).
const ECDH: [(&str, &str, usize); 3] = [
    ("ECC_NIST_P256", "P-256", 32),
    ("ECC_NIST_P384", "P-384", 48),
    ("ECC_NIST_P521", "P-521", 66),
];

fn arn(id: &str) -> String {
    format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{id}")
}

fn signing_key(h: &Harness, spec: &str) -> String {
    h.create_key(json!({"KeySpec": spec, "KeyUsage": "SIGN_VERIFY"}))
}

fn mac_key(h: &Harness, spec: &str) -> String {
    h.create_key(json!({"KeySpec": spec, "KeyUsage": "GENERATE_VERIFY_MAC"}))
}

fn agreement_key(h: &Harness, spec: &str) -> String {
    h.create_key(json!({"KeySpec": spec, "KeyUsage": "KEY_AGREEMENT"}))
}

fn public_key(h: &Harness, id: &str) -> Vec<u8> {
    unb64(&h.ok("admin", "GetPublicKey", json!({"KeyId": id}))["PublicKey"])
}

/// The digest of `MESSAGE` for a signing algorithm, computed by OpenSSL.
fn openssl_digest(dir: &Scratch, algorithm: &str, message: &str) -> Vec<u8> {
    let out = dir.path("digest");
    openssl(&[
        "dgst",
        &format!("-{}", digest_name(algorithm)),
        "-binary",
        "-out",
        &out,
        message,
    ]);
    dir.read("digest")
}

/// `-sigopt` arguments for RSASSA-PSS with a salt as long as the digest, as
/// KMS signs (OpenSSL insists on an explicit salt length).
fn pss_options(algorithm: &str) -> Vec<String> {
    if !algorithm.starts_with("RSASSA_PSS") {
        return Vec::new();
    }
    let salt = match digest_name(algorithm) {
        "sha256" => 32,
        "sha384" => 48,
        _ => 64,
    };
    vec![
        "-sigopt".into(),
        "rsa_padding_mode:pss".into(),
        "-sigopt".into(),
        format!("rsa_pss_saltlen:{salt}"),
    ]
}

fn openssl_owned(args: &[String]) -> String {
    openssl(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

// ----- Sign and Verify -----

#[test]
fn openssl_verifies_signatures_of_every_spec_algorithm_and_message_type() {
    let Some(dir) = Scratch::new("sign") else {
        return;
    };
    let h = Harness::new();
    let message = dir.write("message", MESSAGE);
    for (spec, algorithms) in SIGNING {
        let id = signing_key(&h, spec);
        let public = dir.write("public.der", &public_key(&h, &id));
        for &algorithm in algorithms {
            let digest = openssl_digest(&dir, algorithm, &message);
            // RAW by default, RAW named, and DIGEST of the same message: all
            // three are signatures of MESSAGE.
            for message_type in [None, Some("RAW"), Some("DIGEST")] {
                let input = if message_type == Some("DIGEST") {
                    digest.clone()
                } else {
                    MESSAGE.to_vec()
                };
                let mut request =
                    json!({"KeyId": id, "Message": b64(&input), "SigningAlgorithm": algorithm});
                if let Some(t) = message_type {
                    request["MessageType"] = json!(t);
                }
                let out = h.ok("admin", "Sign", request.clone());
                assert_eq!(out["KeyId"], arn(&id));
                assert_eq!(out["SigningAlgorithm"], algorithm);
                let signature = unb64(&out["Signature"]);
                if let Some(bits) = spec.strip_prefix("RSA_") {
                    assert_eq!(signature.len() * 8, bits.parse::<usize>().unwrap());
                }
                let signature_path = dir.write("signature", &signature);
                let mut args: Vec<String> = vec![
                    "dgst".into(),
                    format!("-{}", digest_name(algorithm)),
                    "-verify".into(),
                    public.clone(),
                    "-keyform".into(),
                    "DER".into(),
                    "-signature".into(),
                    signature_path,
                ];
                args.extend(pss_options(algorithm));
                args.push(message.clone());
                assert_eq!(
                    openssl_owned(&args).trim(),
                    "Verified OK",
                    "{spec} {algorithm} {message_type:?}"
                );
                // And the service verifies its own signature.
                request["Signature"] = out["Signature"].clone();
                let verified = h.ok("admin", "Verify", request);
                assert_eq!(verified["SignatureValid"], true);
                assert_eq!(verified["KeyId"], arn(&id));
                assert_eq!(verified["SigningAlgorithm"], algorithm);
            }
        }
    }
}

#[test]
fn the_service_verifies_signatures_openssl_made_with_the_key() {
    let Some(dir) = Scratch::new("verify") else {
        return;
    };
    let h = known_root_harness();
    let message = dir.write("message", MESSAGE);
    for (spec, algorithms) in SIGNING {
        let id = signing_key(&h, spec);
        let private = dir.write("private.der", &key_material(&h, &id));
        for &algorithm in algorithms {
            let signature = dir.path("signature");
            let mut args: Vec<String> = vec![
                "dgst".into(),
                format!("-{}", digest_name(algorithm)),
                "-sign".into(),
                private.clone(),
                "-keyform".into(),
                "DER".into(),
                "-out".into(),
                signature.clone(),
            ];
            args.extend(pss_options(algorithm));
            args.push(message.clone());
            openssl_owned(&args);
            let signature = b64(&dir.read("signature"));
            let out = h.ok(
                "admin",
                "Verify",
                json!({"KeyId": id, "Message": b64(MESSAGE), "Signature": signature,
                       "SigningAlgorithm": algorithm}),
            );
            assert_eq!(out["SignatureValid"], true, "{spec} {algorithm}");
            let digest = openssl_digest(&dir, algorithm, &message);
            let out = h.ok(
                "admin",
                "Verify",
                json!({"KeyId": id, "Message": b64(&digest), "MessageType": "DIGEST",
                       "Signature": signature, "SigningAlgorithm": algorithm}),
            );
            assert_eq!(out["SignatureValid"], true, "{spec} {algorithm} DIGEST");
            // Another message does not verify.
            h.err(
                "admin",
                "Verify",
                json!({"KeyId": id, "Message": b64(b"another message"), "Signature": signature,
                       "SigningAlgorithm": algorithm}),
                ErrorKind::KMSInvalidSignatureException,
            );
        }
    }
}

#[test]
fn verify_rejects_what_was_not_signed() {
    let h = Harness::new();
    for (spec, algorithm) in [
        ("ECC_NIST_P256", "ECDSA_SHA_256"),
        ("RSA_2048", "RSASSA_PSS_SHA_256"),
        ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256"),
    ] {
        let id = signing_key(&h, spec);
        let other = signing_key(&h, spec);
        // A 32-byte message, so that it also passes as a SHA-256 digest.
        let message = [7u8; 32];
        let sign = |key: &str| {
            h.ok(
                "admin",
                "Sign",
                json!({"KeyId": key, "Message": b64(&message), "SigningAlgorithm": algorithm}),
            )["Signature"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let signature = sign(&id);
        let verify = |message: &[u8], signature: &str, message_type: &str| {
            h.call(
                "admin",
                "Verify",
                json!({"KeyId": id, "Message": b64(message), "Signature": signature,
                       "SigningAlgorithm": algorithm, "MessageType": message_type}),
            )
        };
        assert_eq!(
            verify(&message, &signature, "RAW").unwrap()["SignatureValid"],
            true
        );
        let mut changed = message;
        changed[0] ^= 1;
        let mut bad_signature = unb64(&json!(signature));
        let last = bad_signature.len() - 1;
        bad_signature[last] ^= 1;
        let failures = [
            // Another message.
            verify(&changed, &signature, "RAW"),
            // Another signature.
            verify(&message, &b64(&bad_signature), "RAW"),
            // Another key's signature.
            verify(&message, &sign(&other), "RAW"),
            // The RAW message taken as a digest is hashed once less.
            verify(&message, &signature, "DIGEST"),
        ];
        for (i, result) in failures.into_iter().enumerate() {
            let e = result.unwrap_err();
            assert_eq!(
                e.kind,
                ErrorKind::KMSInvalidSignatureException,
                "{spec} case {i}: {e}"
            );
        }
    }
}

#[test]
fn sign_and_verify_errors() {
    let h = Harness::new();
    let p256 = signing_key(&h, "ECC_NIST_P256");
    let p384 = signing_key(&h, "ECC_NIST_P384");
    let rsa = signing_key(&h, "RSA_2048");
    let rsa_encryption =
        h.create_key(json!({"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}));
    let agreement = agreement_key(&h, "ECC_NIST_P256");
    let symmetric = h.symmetric_key();
    let hmac = mac_key(&h, "HMAC_256");
    let sign = |key: &str, algorithm: &str, message: &[u8], extra: Value| {
        let mut request =
            json!({"KeyId": key, "Message": b64(message), "SigningAlgorithm": algorithm});
        for (k, v) in extra.as_object().unwrap() {
            request[k] = v.clone();
        }
        request
    };

    // Algorithms the key spec does not support.
    for (key, algorithm) in [
        (&p256, "ECDSA_SHA_384"),
        (&p256, "RSASSA_PSS_SHA_256"),
        (&p384, "ECDSA_SHA_256"),
        (&rsa, "ECDSA_SHA_256"),
    ] {
        for op in ["Sign", "Verify"] {
            let mut request = sign(key, algorithm, MESSAGE, json!({}));
            request["Signature"] = json!(b64(&[1; 64]));
            let e = h.err("admin", op, request, ErrorKind::InvalidKeyUsageException);
            assert!(e.message.contains(algorithm), "{}", e.message);
        }
    }
    // Keys whose usage is not SIGN_VERIFY.
    for key in [&rsa_encryption, &agreement, &symmetric, &hmac] {
        let algorithm = if key == &rsa_encryption {
            "RSASSA_PSS_SHA_256"
        } else {
            "ECDSA_SHA_256"
        };
        let e = h.err(
            "admin",
            "Sign",
            sign(key, algorithm, MESSAGE, json!({})),
            ErrorKind::InvalidKeyUsageException,
        );
        assert!(e.message.contains("key usage"), "{}", e.message);
    }
    // A DIGEST must be as long as the algorithm's digest.
    for (key, algorithm, len) in [
        (&p256, "ECDSA_SHA_256", 31),
        (&p256, "ECDSA_SHA_256", 48),
        (&p384, "ECDSA_SHA_384", 32),
        (&rsa, "RSASSA_PKCS1_V1_5_SHA_512", 48),
    ] {
        h.err(
            "admin",
            "Sign",
            sign(
                key,
                algorithm,
                &vec![1; len],
                json!({"MessageType": "DIGEST"}),
            ),
            ErrorKind::ValidationException,
        );
    }
    // Message length 1 to 4096.
    h.ok(
        "admin",
        "Sign",
        sign(&p256, "ECDSA_SHA_256", &[1; 4096], json!({})),
    );
    h.err(
        "admin",
        "Sign",
        sign(&p256, "ECDSA_SHA_256", &[1; 4097], json!({})),
        ErrorKind::ValidationException,
    );
    // Message types.
    h.err(
        "admin",
        "Sign",
        sign(
            &p256,
            "ECDSA_SHA_256",
            MESSAGE,
            json!({"MessageType": "HASHED"}),
        ),
        ErrorKind::ValidationException,
    );
    h.err(
        "admin",
        "Sign",
        sign(
            &p256,
            "ECDSA_SHA_256",
            &[1; 64],
            json!({"MessageType": "EXTERNAL_MU"}),
        ),
        ErrorKind::UnsupportedOperationException,
    );
    // Required members.
    h.err(
        "admin",
        "Sign",
        json!({"KeyId": p256, "Message": b64(MESSAGE)}),
        ErrorKind::ValidationException,
    );
    h.err(
        "admin",
        "Verify",
        sign(&p256, "ECDSA_SHA_256", MESSAGE, json!({})),
        ErrorKind::ValidationException,
    );
    // Keys that do not exist, or whose state forbids use.
    h.err(
        "admin",
        "Sign",
        sign(
            "11111111-2222-3333-4444-555555555555",
            "ECDSA_SHA_256",
            MESSAGE,
            json!({}),
        ),
        ErrorKind::NotFoundException,
    );
    let disabled = with_key_state(&h, &p256, "Disabled");
    let e = disabled.err(
        "admin",
        "Sign",
        sign(&p256, "ECDSA_SHA_256", MESSAGE, json!({})),
        ErrorKind::DisabledException,
    );
    assert_eq!(e.message, format!("{} is disabled.", arn(&p256)));
    let pending = with_key_state(&h, &p384, "PendingDeletion");
    let e = pending.err(
        "admin",
        "Verify",
        sign(
            &p384,
            "ECDSA_SHA_384",
            MESSAGE,
            json!({"Signature": b64(&[1; 64])}),
        ),
        ErrorKind::KMSInvalidStateException,
    );
    assert_eq!(e.message, format!("{} is pending deletion.", arn(&p384)));
    // Authorization and DryRun.
    h.err(
        "alice",
        "Sign",
        sign(&rsa, "RSASSA_PSS_SHA_256", MESSAGE, json!({})),
        ErrorKind::AccessDeniedException,
    );
    h.err(
        "admin",
        "Sign",
        sign(&rsa, "RSASSA_PSS_SHA_256", MESSAGE, json!({"DryRun": true})),
        ErrorKind::DryRunOperationException,
    );
}

// ----- GenerateMac and VerifyMac -----

#[test]
fn macs_match_openssl_for_every_hmac_spec() {
    let Some(dir) = Scratch::new("mac") else {
        return;
    };
    let h = known_root_harness();
    let message = dir.write("message", MESSAGE);
    for (spec, algorithm, digest, len) in HMAC {
        let id = mac_key(&h, spec);
        let out = h.ok(
            "admin",
            "GenerateMac",
            json!({"KeyId": id, "Message": b64(MESSAGE), "MacAlgorithm": algorithm}),
        );
        assert_eq!(out["KeyId"], arn(&id));
        assert_eq!(out["MacAlgorithm"], algorithm);
        let mac = unb64(&out["Mac"]);
        assert_eq!(mac.len(), len, "{spec}");
        let key = format!("hexkey:{}", hex(&key_material(&h, &id)));
        let expected = openssl(&[
            "mac", "-digest", digest, "-macopt", &key, "-in", &message, "HMAC",
        ]);
        assert_eq!(hex(&mac), expected.trim().to_ascii_lowercase(), "{spec}");
    }
}

#[test]
fn verify_mac_accepts_only_the_mac_of_the_message() {
    let h = Harness::new();
    for (spec, algorithm, _, _) in HMAC {
        let id = mac_key(&h, spec);
        let other = mac_key(&h, spec);
        let mac_of = |key: &str, message: &[u8]| {
            h.ok(
                "admin",
                "GenerateMac",
                json!({"KeyId": key, "Message": b64(message), "MacAlgorithm": algorithm}),
            )["Mac"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let mac = mac_of(&id, MESSAGE);
        // HMAC is deterministic.
        assert_eq!(mac_of(&id, MESSAGE), mac);
        let verify = |message: &[u8], mac: &str| {
            h.call(
                "admin",
                "VerifyMac",
                json!({"KeyId": id, "Message": b64(message), "Mac": mac, "MacAlgorithm": algorithm}),
            )
        };
        let out = verify(MESSAGE, &mac).unwrap();
        assert_eq!(out["MacValid"], true);
        assert_eq!(out["KeyId"], arn(&id));
        assert_eq!(out["MacAlgorithm"], algorithm);
        let mut changed = unb64(&json!(mac));
        changed[0] ^= 0x80;
        let truncated = unb64(&json!(mac))[..16].to_vec();
        for (i, result) in [
            verify(b"another message", &mac),
            verify(MESSAGE, &b64(&changed)),
            verify(MESSAGE, &b64(&truncated)),
            verify(MESSAGE, &mac_of(&other, MESSAGE)),
        ]
        .into_iter()
        .enumerate()
        {
            let e = result.unwrap_err();
            assert_eq!(e.kind, ErrorKind::KMSInvalidMacException, "{spec} case {i}");
        }
    }
}

#[test]
fn mac_errors() {
    let h = Harness::new();
    let hmac256 = mac_key(&h, "HMAC_256");
    let hmac512 = mac_key(&h, "HMAC_512");
    let symmetric = h.symmetric_key();
    let rsa = signing_key(&h, "RSA_2048");
    let request = |key: &str, algorithm: &str| {
        json!({"KeyId": key, "Message": b64(MESSAGE), "MacAlgorithm": algorithm,
               "Mac": b64(&[0; 32])})
    };
    for (key, algorithm) in [(&hmac256, "HMAC_SHA_512"), (&hmac512, "HMAC_SHA_224")] {
        for op in ["GenerateMac", "VerifyMac"] {
            let e = h.err(
                "admin",
                op,
                request(key, algorithm),
                ErrorKind::InvalidKeyUsageException,
            );
            assert!(e.message.contains(algorithm), "{}", e.message);
        }
    }
    for key in [&symmetric, &rsa] {
        h.err(
            "admin",
            "GenerateMac",
            request(key, "HMAC_SHA_256"),
            ErrorKind::InvalidKeyUsageException,
        );
    }
    h.err(
        "admin",
        "GenerateMac",
        request(&hmac256, "HMAC_SHA_1"),
        ErrorKind::ValidationException,
    );
    h.err(
        "admin",
        "GenerateMac",
        json!({"KeyId": hmac256, "Message": b64(&[1; 4097]), "MacAlgorithm": "HMAC_SHA_256"}),
        ErrorKind::ValidationException,
    );
    h.err(
        "admin",
        "VerifyMac",
        json!({"KeyId": hmac256, "Message": b64(MESSAGE), "MacAlgorithm": "HMAC_SHA_256"}),
        ErrorKind::ValidationException,
    );
    h.err(
        "admin",
        "GenerateMac",
        request("alias/none", "HMAC_SHA_256"),
        ErrorKind::NotFoundException,
    );
    with_key_state(&h, &hmac256, "Disabled").err(
        "admin",
        "GenerateMac",
        request(&hmac256, "HMAC_SHA_256"),
        ErrorKind::DisabledException,
    );
    with_key_state(&h, &hmac512, "PendingDeletion").err(
        "admin",
        "VerifyMac",
        request(&hmac512, "HMAC_SHA_512"),
        ErrorKind::KMSInvalidStateException,
    );
    h.err(
        "app",
        "VerifyMac",
        request(&hmac256, "HMAC_SHA_256"),
        ErrorKind::AccessDeniedException,
    );
    let mut dry = request(&hmac256, "HMAC_SHA_256");
    dry["DryRun"] = json!(true);
    h.err(
        "admin",
        "GenerateMac",
        dry,
        ErrorKind::DryRunOperationException,
    );
}

// ----- GetPublicKey -----

#[test]
fn get_public_key_describes_the_key() {
    let h = Harness::new();
    let cases = [
        ("RSA_2048", "ENCRYPT_DECRYPT"),
        ("RSA_3072", "SIGN_VERIFY"),
        ("RSA_4096", "ENCRYPT_DECRYPT"),
        ("ECC_NIST_P256", "SIGN_VERIFY"),
        ("ECC_NIST_P384", "KEY_AGREEMENT"),
        ("ECC_NIST_P521", "SIGN_VERIFY"),
        ("ECC_SECG_P256K1", "SIGN_VERIFY"),
    ];
    for (spec, usage) in cases {
        let id = h.create_key(json!({"KeySpec": spec, "KeyUsage": usage}));
        let out = h.ok("admin", "GetPublicKey", json!({"KeyId": arn(&id)}));
        assert_eq!(out["KeyId"], arn(&id));
        assert_eq!(out["KeySpec"], spec);
        assert_eq!(out["CustomerMasterKeySpec"], spec);
        assert_eq!(out["KeyUsage"], usage);
        let lists = [
            "EncryptionAlgorithms",
            "SigningAlgorithms",
            "KeyAgreementAlgorithms",
        ];
        let (present, expected) = match usage {
            "ENCRYPT_DECRYPT" => (0, json!(["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"])),
            "SIGN_VERIFY" => {
                let algorithms = SIGNING.iter().find(|(s, _)| *s == spec).unwrap().1;
                (1, json!(algorithms))
            }
            _ => (2, json!(["ECDH"])),
        };
        for (i, list) in lists.into_iter().enumerate() {
            if i == present {
                assert_eq!(out[list], expected, "{spec} {usage}");
            } else {
                assert!(out.get(list).is_none(), "{spec} {usage} has {list}");
            }
        }
        // Stable: the same key each time.
        assert_eq!(public_key(&h, &id), unb64(&out["PublicKey"]));
    }
}

#[test]
fn openssl_reads_public_keys_that_match_the_private_keys() {
    let Some(dir) = Scratch::new("public-key") else {
        return;
    };
    let h = known_root_harness();
    let cases = [
        ("RSA_2048", "ENCRYPT_DECRYPT", "Public-Key: (2048 bit)"),
        ("RSA_3072", "SIGN_VERIFY", "Public-Key: (3072 bit)"),
        ("RSA_4096", "SIGN_VERIFY", "Public-Key: (4096 bit)"),
        ("ECC_NIST_P256", "KEY_AGREEMENT", "NIST CURVE: P-256"),
        ("ECC_NIST_P384", "SIGN_VERIFY", "NIST CURVE: P-384"),
        ("ECC_NIST_P521", "KEY_AGREEMENT", "NIST CURVE: P-521"),
        ("ECC_SECG_P256K1", "SIGN_VERIFY", "ASN1 OID: secp256k1"),
    ];
    for (spec, usage, expected) in cases {
        let id = h.create_key(json!({"KeySpec": spec, "KeyUsage": usage}));
        let public = public_key(&h, &id);
        let public_path = dir.write("public.der", &public);
        let text = openssl(&[
            "pkey",
            "-pubin",
            "-inform",
            "DER",
            "-in",
            &public_path,
            "-text",
            "-noout",
        ]);
        assert!(text.contains(expected), "{spec}: {text}");
        let private = dir.write("private.der", &key_material(&h, &id));
        let derived = dir.path("derived.der");
        openssl(&[
            "pkey", "-inform", "DER", "-in", &private, "-pubout", "-outform", "DER", "-out",
            &derived,
        ]);
        assert_eq!(dir.read("derived.der"), public, "{spec}");
    }
}

#[test]
fn get_public_key_errors() {
    let h = Harness::new();
    let symmetric = h.symmetric_key();
    let hmac = mac_key(&h, "HMAC_384");
    let rsa = signing_key(&h, "RSA_2048");
    let ec = agreement_key(&h, "ECC_NIST_P256");
    for key in [&symmetric, &hmac] {
        h.err(
            "admin",
            "GetPublicKey",
            json!({"KeyId": key}),
            ErrorKind::UnsupportedOperationException,
        );
    }
    h.err(
        "admin",
        "GetPublicKey",
        json!({"KeyId": "11111111-2222-3333-4444-555555555555"}),
        ErrorKind::NotFoundException,
    );
    h.err(
        "admin",
        "GetPublicKey",
        json!({}),
        ErrorKind::ValidationException,
    );
    with_key_state(&h, &rsa, "Disabled").err(
        "admin",
        "GetPublicKey",
        json!({"KeyId": rsa}),
        ErrorKind::DisabledException,
    );
    with_key_state(&h, &ec, "PendingDeletion").err(
        "admin",
        "GetPublicKey",
        json!({"KeyId": ec}),
        ErrorKind::KMSInvalidStateException,
    );
    h.err(
        "alice",
        "GetPublicKey",
        json!({"KeyId": rsa}),
        ErrorKind::AccessDeniedException,
    );
}

// ----- DeriveSharedSecret -----

#[test]
fn shared_secrets_match_openssl() {
    let Some(dir) = Scratch::new("ecdh") else {
        return;
    };
    let h = Harness::new();
    for (spec, curve, len) in ECDH {
        let id = agreement_key(&h, spec);
        let ours = dir.write("ours.der", &public_key(&h, &id));
        let peer = dir.path("peer.pem");
        openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            &format!("ec_paramgen_curve:{curve}"),
            "-out",
            &peer,
        ]);
        let peer_public = dir.path("peer.der");
        openssl(&[
            "pkey",
            "-in",
            &peer,
            "-pubout",
            "-outform",
            "DER",
            "-out",
            &peer_public,
        ]);
        let out = h.ok(
            "admin",
            "DeriveSharedSecret",
            json!({"KeyId": id, "KeyAgreementAlgorithm": "ECDH",
                   "PublicKey": b64(&dir.read("peer.der"))}),
        );
        assert_eq!(out["KeyId"], arn(&id));
        assert_eq!(out["KeyAgreementAlgorithm"], "ECDH");
        assert_eq!(out["KeyOrigin"], "AWS_KMS");
        let secret = unb64(&out["SharedSecret"]);
        assert_eq!(secret.len(), len, "{spec}");
        let expected = dir.path("secret");
        openssl(&[
            "pkeyutl",
            "-derive",
            "-inkey",
            &peer,
            "-peerkey",
            &ours,
            "-peerform",
            "DER",
            "-out",
            &expected,
        ]);
        assert_eq!(secret, dir.read("secret"), "{spec}");
    }
}

#[test]
fn shared_secrets_agree_in_both_directions() {
    // Two KMS keys: each derives with the other's public key.
    let h = Harness::new();
    for (spec, _, len) in ECDH {
        let a = agreement_key(&h, spec);
        let b = agreement_key(&h, spec);
        let derive = |key: &str, peer: &str| {
            unb64(
                &h.ok(
                    "admin",
                    "DeriveSharedSecret",
                    json!({"KeyId": key, "KeyAgreementAlgorithm": "ECDH",
                           "PublicKey": b64(&public_key(&h, peer))}),
                )["SharedSecret"],
            )
        };
        let ab = derive(&a, &b);
        assert_eq!(ab.len(), len);
        assert_eq!(ab, derive(&b, &a), "{spec}");
        assert_ne!(ab, derive(&a, &a), "{spec}");
    }
}

#[test]
fn derive_shared_secret_errors() {
    let h = Harness::new();
    let p256 = agreement_key(&h, "ECC_NIST_P256");
    let p384 = agreement_key(&h, "ECC_NIST_P384");
    let signing = signing_key(&h, "ECC_NIST_P256");
    let symmetric = h.symmetric_key();
    let peer256 = KeyMaterial::generate(KeySpec::EccNistP256)
        .unwrap()
        .public_key_der()
        .unwrap();
    let peer384 = KeyMaterial::generate(KeySpec::EccNistP384)
        .unwrap()
        .public_key_der()
        .unwrap();
    let request = |key: &str, peer: &[u8]| json!({"KeyId": key, "KeyAgreementAlgorithm": "ECDH", "PublicKey": b64(peer)});
    h.ok("admin", "DeriveSharedSecret", request(&p256, &peer256));
    // The peer key must be a SubjectPublicKeyInfo on the key's curve.
    let bare_point = peer256[peer256.len() - 65..].to_vec();
    for (key, peer) in [
        (&p256, peer384.clone()),
        (&p384, peer256.clone()),
        (&p256, bare_point),
        (&p256, b"not a public key".to_vec()),
    ] {
        h.err(
            "admin",
            "DeriveSharedSecret",
            request(key, &peer),
            ErrorKind::ValidationException,
        );
    }
    for key in [&signing, &symmetric] {
        let e = h.err(
            "admin",
            "DeriveSharedSecret",
            request(key, &peer256),
            ErrorKind::InvalidKeyUsageException,
        );
        assert!(e.message.contains("DeriveSharedSecret"), "{}", e.message);
    }
    let mut other_algorithm = request(&p256, &peer256);
    other_algorithm["KeyAgreementAlgorithm"] = json!("ECDHE");
    h.err(
        "admin",
        "DeriveSharedSecret",
        other_algorithm,
        ErrorKind::ValidationException,
    );
    h.err(
        "admin",
        "DeriveSharedSecret",
        json!({"KeyId": p256, "KeyAgreementAlgorithm": "ECDH"}),
        ErrorKind::ValidationException,
    );
    h.err(
        "admin",
        "DeriveSharedSecret",
        request("alias/none", &peer256),
        ErrorKind::NotFoundException,
    );
    with_key_state(&h, &p256, "Disabled").err(
        "admin",
        "DeriveSharedSecret",
        request(&p256, &peer256),
        ErrorKind::DisabledException,
    );
    with_key_state(&h, &p384, "PendingDeletion").err(
        "admin",
        "DeriveSharedSecret",
        request(&p384, &peer384),
        ErrorKind::KMSInvalidStateException,
    );
    h.err(
        "alice",
        "DeriveSharedSecret",
        request(&p256, &peer256),
        ErrorKind::AccessDeniedException,
    );
    let mut dry = request(&p256, &peer256);
    dry["DryRun"] = json!(true);
    h.err(
        "admin",
        "DeriveSharedSecret",
        dry,
        ErrorKind::DryRunOperationException,
    );
}

#[test]
fn openssl_is_really_checking() {
    // The control for the cross-checks: OpenSSL rejects a signature of
    // another message and a PSS signature checked with another salt length.
    let Some(dir) = Scratch::new("control") else {
        return;
    };
    let h = Harness::new();
    let id = signing_key(&h, "RSA_2048");
    let public = dir.write("public.der", &public_key(&h, &id));
    let message = dir.write("message", MESSAGE);
    let other = dir.write("other", b"another message");
    let out = h.ok(
        "admin",
        "Sign",
        json!({"KeyId": id, "Message": b64(MESSAGE), "SigningAlgorithm": "RSASSA_PSS_SHA_256"}),
    );
    let signature = dir.write("signature", &unb64(&out["Signature"]));
    let verify = |salt: &str, file: &str| {
        run(&[
            "dgst",
            "-sha256",
            "-verify",
            &public,
            "-keyform",
            "DER",
            "-signature",
            &signature,
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            &format!("rsa_pss_saltlen:{salt}"),
            file,
        ])
        .status
        .success()
    };
    assert!(verify("32", &message));
    assert!(!verify("20", &message));
    assert!(!verify("32", &other));
}
