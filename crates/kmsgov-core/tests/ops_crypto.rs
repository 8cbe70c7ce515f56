//! ReEncrypt, GenerateDataKeyPair(WithoutPlaintext) and Encrypt/Decrypt
//! with RSA keys through the service, with authorization on, cross-checked
//! with the `openssl` command line.
//!
//! Expected lengths and algorithms come from the AWS KMS key spec reference,
//! not from the code under test.

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

use crypto_tools::{key_material, known_root_harness, openssl, with_key_state, Scratch};
use harness::{b64, unb64, Harness, ACCOUNT};
use kmsgov_core::ErrorKind;
use serde_json::{json, Value};

/// RSA key specs with their modulus size in bytes and the largest
/// plaintexts for RSAES_OAEP_SHA_1 and RSAES_OAEP_SHA_256.
const RSA: [(&str, usize, usize, usize); 3] = [
    ("RSA_2048", 256, 214, 190),
    ("RSA_3072", 384, 342, 318),
    ("RSA_4096", 512, 470, 446),
];

/// Every `KeyPairSpec` kmsgov generates, with what `openssl pkey -text`
/// says of such a private key.
const KEY_PAIRS: [(&str, &str); 7] = [
    ("RSA_2048", "Private-Key: (2048 bit"),
    ("RSA_3072", "Private-Key: (3072 bit"),
    ("RSA_4096", "Private-Key: (4096 bit"),
    ("ECC_NIST_P256", "NIST CURVE: P-256"),
    ("ECC_NIST_P384", "NIST CURVE: P-384"),
    ("ECC_NIST_P521", "NIST CURVE: P-521"),
    ("ECC_SECG_P256K1", "ASN1 OID: secp256k1"),
];

fn arn(id: &str) -> String {
    format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{id}")
}

fn rsa_key(h: &Harness, spec: &str) -> String {
    h.create_key(json!({"KeySpec": spec, "KeyUsage": "ENCRYPT_DECRYPT"}))
}

fn encrypt(h: &Harness, key: &str, plaintext: &[u8], context: &Value) -> String {
    h.ok(
        "admin",
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(plaintext), "EncryptionContext": context}),
    )["CiphertextBlob"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// OpenSSL's `-pkeyopt` arguments for a KMS RSA-OAEP algorithm (the same
/// digest for OAEP and MGF1).
fn oaep_options(algorithm: &str) -> [&'static str; 6] {
    let md = if algorithm == "RSAES_OAEP_SHA_1" {
        ["rsa_oaep_md:sha1", "rsa_mgf1_md:sha1"]
    } else {
        ["rsa_oaep_md:sha256", "rsa_mgf1_md:sha256"]
    };
    [
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        md[0],
        "-pkeyopt",
        md[1],
    ]
}

// ----- ReEncrypt -----

#[test]
fn re_encrypt_between_symmetric_keys() {
    let h = Harness::new();
    let first = h.symmetric_key();
    let second = h.symmetric_key();
    let blob = encrypt(&h, &first, b"secret data", &json!({"purpose": "test"}));

    let out = h.ok(
        "admin",
        "ReEncrypt",
        json!({"CiphertextBlob": blob, "SourceEncryptionContext": {"purpose": "test"},
               "DestinationKeyId": second, "DestinationEncryptionContext": {"stage": "two"}}),
    );
    assert_eq!(out["SourceKeyId"], arn(&first));
    assert_eq!(out["KeyId"], arn(&second));
    assert_eq!(out["SourceEncryptionAlgorithm"], "SYMMETRIC_DEFAULT");
    assert_eq!(out["DestinationEncryptionAlgorithm"], "SYMMETRIC_DEFAULT");
    let reencrypted = out["CiphertextBlob"].as_str().unwrap();
    assert_ne!(reencrypted, blob);
    let back = h.ok(
        "admin",
        "Decrypt",
        json!({"CiphertextBlob": reencrypted, "EncryptionContext": {"stage": "two"}}),
    );
    assert_eq!(unb64(&back["Plaintext"]), b"secret data");
    assert_eq!(back["KeyId"], arn(&second));
    // The new ciphertext is bound to the destination context only.
    h.err(
        "admin",
        "Decrypt",
        json!({"CiphertextBlob": reencrypted, "EncryptionContext": {"purpose": "test"}}),
        ErrorKind::InvalidCiphertextException,
    );
    // The original still decrypts under the first key.
    let back = h.ok(
        "admin",
        "Decrypt",
        json!({"CiphertextBlob": blob, "EncryptionContext": {"purpose": "test"}}),
    );
    assert_eq!(unb64(&back["Plaintext"]), b"secret data");

    // Named source key, same key as destination: only the context changes.
    let out = h.ok(
        "admin",
        "ReEncrypt",
        json!({"CiphertextBlob": blob, "SourceKeyId": arn(&first),
               "SourceEncryptionContext": {"purpose": "test"}, "DestinationKeyId": first,
               "SourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
               "DestinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
    );
    assert_eq!(out["SourceKeyId"], arn(&first));
    assert_eq!(out["KeyId"], arn(&first));
    let back = h.ok(
        "admin",
        "Decrypt",
        json!({"CiphertextBlob": out["CiphertextBlob"]}),
    );
    assert_eq!(unb64(&back["Plaintext"]), b"secret data");
}

#[test]
fn re_encrypt_to_and_from_rsa_keys() {
    let h = Harness::new();
    let symmetric = h.symmetric_key();
    for (spec, modulus, _, max_sha256) in RSA {
        let rsa = rsa_key(&h, spec);
        let plaintext = vec![0x5a; max_sha256];
        let blob = encrypt(&h, &symmetric, &plaintext, &json!({"k": "v"}));
        let out = h.ok(
            "admin",
            "ReEncrypt",
            json!({"CiphertextBlob": blob, "SourceEncryptionContext": {"k": "v"},
                   "DestinationKeyId": rsa,
                   "DestinationEncryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
        );
        assert_eq!(out["SourceKeyId"], arn(&symmetric));
        assert_eq!(out["KeyId"], arn(&rsa));
        assert_eq!(out["SourceEncryptionAlgorithm"], "SYMMETRIC_DEFAULT");
        assert_eq!(out["DestinationEncryptionAlgorithm"], "RSAES_OAEP_SHA_256");
        let rsa_blob = out["CiphertextBlob"].as_str().unwrap().to_owned();
        assert_eq!(unb64(&json!(rsa_blob)).len(), modulus, "{spec}");
        let back = h.ok(
            "admin",
            "Decrypt",
            json!({"CiphertextBlob": rsa_blob, "KeyId": rsa,
                   "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
        );
        assert_eq!(unb64(&back["Plaintext"]), plaintext);

        // And back from the RSA key, which the request must name.
        let out = h.ok(
            "admin",
            "ReEncrypt",
            json!({"CiphertextBlob": rsa_blob, "SourceKeyId": rsa,
                   "SourceEncryptionAlgorithm": "RSAES_OAEP_SHA_256",
                   "DestinationKeyId": symmetric, "DestinationEncryptionContext": {"x": "y"}}),
        );
        assert_eq!(out["SourceKeyId"], arn(&rsa));
        assert_eq!(out["SourceEncryptionAlgorithm"], "RSAES_OAEP_SHA_256");
        assert_eq!(out["DestinationEncryptionAlgorithm"], "SYMMETRIC_DEFAULT");
        let back = h.ok(
            "admin",
            "Decrypt",
            json!({"CiphertextBlob": out["CiphertextBlob"], "EncryptionContext": {"x": "y"}}),
        );
        assert_eq!(unb64(&back["Plaintext"]), plaintext);

        // RSA ciphertexts name no key, and need their algorithm.
        h.err(
            "admin",
            "ReEncrypt",
            json!({"CiphertextBlob": rsa_blob, "DestinationKeyId": symmetric}),
            ErrorKind::InvalidCiphertextException,
        );
        h.err(
            "admin",
            "ReEncrypt",
            json!({"CiphertextBlob": rsa_blob, "SourceKeyId": rsa, "DestinationKeyId": symmetric}),
            ErrorKind::InvalidKeyUsageException,
        );
        h.err(
            "admin",
            "ReEncrypt",
            json!({"CiphertextBlob": rsa_blob, "SourceKeyId": rsa,
                   "SourceEncryptionAlgorithm": "RSAES_OAEP_SHA_1", "DestinationKeyId": symmetric}),
            ErrorKind::InvalidCiphertextException,
        );
        // A plaintext longer than the destination algorithm takes.
        let long = encrypt(&h, &symmetric, &vec![1; max_sha256 + 1], &json!({}));
        h.err(
            "admin",
            "ReEncrypt",
            json!({"CiphertextBlob": long, "DestinationKeyId": rsa,
                   "DestinationEncryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
            ErrorKind::ValidationException,
        );
    }
}

#[test]
fn re_encrypt_errors() {
    let h = Harness::new();
    let first = h.symmetric_key();
    let second = h.symmetric_key();
    let signing = h.create_key(json!({"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}));
    let hmac = h.create_key(json!({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}));
    let rsa = rsa_key(&h, "RSA_2048");
    let blob = encrypt(&h, &first, b"data", &json!({"a": "b"}));
    let request = |extra: Value| {
        let mut r = json!({"CiphertextBlob": blob, "SourceEncryptionContext": {"a": "b"},
                           "DestinationKeyId": second});
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    };
    h.ok("admin", "ReEncrypt", request(json!({})));

    // The ciphertext and its context.
    h.err(
        "admin",
        "ReEncrypt",
        request(json!({"SourceEncryptionContext": {"a": "c"}})),
        ErrorKind::InvalidCiphertextException,
    );
    h.err(
        "admin",
        "ReEncrypt",
        request(json!({"SourceEncryptionContext": {}})),
        ErrorKind::InvalidCiphertextException,
    );
    let mut tampered = unb64(&json!(blob));
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    h.err(
        "admin",
        "ReEncrypt",
        request(json!({"CiphertextBlob": b64(&tampered)})),
        ErrorKind::InvalidCiphertextException,
    );
    h.err(
        "admin",
        "ReEncrypt",
        request(json!({"CiphertextBlob": b64(b"not a ciphertext")})),
        ErrorKind::InvalidCiphertextException,
    );
    // A source key that did not encrypt it.
    let e = h.err(
        "admin",
        "ReEncrypt",
        request(json!({"SourceKeyId": second})),
        ErrorKind::IncorrectKeyException,
    );
    assert!(e.message.contains("key ID"), "{}", e.message);
    // Destination keys that cannot encrypt, or not with that algorithm.
    for (destination, algorithm) in [
        (&signing, Some("RSAES_OAEP_SHA_256")),
        (&hmac, None),
        (&second, Some("RSAES_OAEP_SHA_256")),
        (&rsa, None),
        (&rsa, Some("SYMMETRIC_DEFAULT")),
    ] {
        let mut r = request(json!({"DestinationKeyId": destination}));
        if let Some(a) = algorithm {
            r["DestinationEncryptionAlgorithm"] = json!(a);
        }
        h.err("admin", "ReEncrypt", r, ErrorKind::InvalidKeyUsageException);
    }
    // Required members and unknown keys.
    h.err(
        "admin",
        "ReEncrypt",
        json!({"CiphertextBlob": blob}),
        ErrorKind::ValidationException,
    );
    h.err(
        "admin",
        "ReEncrypt",
        json!({"DestinationKeyId": second}),
        ErrorKind::ValidationException,
    );
    h.err(
        "admin",
        "ReEncrypt",
        request(json!({"DestinationKeyId": "11111111-2222-3333-4444-555555555555"})),
        ErrorKind::NotFoundException,
    );
    // Key states, on either side.
    let e = with_key_state(&h, &first, "Disabled").err(
        "admin",
        "ReEncrypt",
        request(json!({})),
        ErrorKind::DisabledException,
    );
    assert_eq!(e.message, format!("{} is disabled.", arn(&first)));
    with_key_state(&h, &first, "Enabled");
    let e = with_key_state(&h, &second, "PendingDeletion").err(
        "admin",
        "ReEncrypt",
        request(json!({})),
        ErrorKind::KMSInvalidStateException,
    );
    assert_eq!(e.message, format!("{} is pending deletion.", arn(&second)));
    // Authorization and DryRun.
    h.err(
        "alice",
        "ReEncrypt",
        request(json!({})),
        ErrorKind::AccessDeniedException,
    );
    h.err(
        "admin",
        "ReEncrypt",
        request(json!({"DryRun": true})),
        ErrorKind::DryRunOperationException,
    );
}

// ----- Encrypt and Decrypt with RSA keys -----

#[test]
fn rsa_encrypt_and_decrypt_every_spec_and_algorithm() {
    let h = Harness::new();
    for (spec, modulus, max_sha1, max_sha256) in RSA {
        let id = rsa_key(&h, spec);
        let other = rsa_key(&h, spec);
        for (algorithm, max, wrong) in [
            ("RSAES_OAEP_SHA_1", max_sha1, "RSAES_OAEP_SHA_256"),
            ("RSAES_OAEP_SHA_256", max_sha256, "RSAES_OAEP_SHA_1"),
        ] {
            let plaintext: Vec<u8> = (0..max).map(|i| (i % 251) as u8).collect();
            let encrypt = |plaintext: &[u8]| {
                h.call(
                    "admin",
                    "Encrypt",
                    json!({"KeyId": id, "Plaintext": b64(plaintext), "EncryptionAlgorithm": algorithm}),
                )
            };
            let out = encrypt(&plaintext).unwrap();
            assert_eq!(out["KeyId"], arn(&id));
            assert_eq!(out["EncryptionAlgorithm"], algorithm);
            let blob = out["CiphertextBlob"].as_str().unwrap().to_owned();
            assert_eq!(unb64(&json!(blob)).len(), modulus, "{spec} {algorithm}");
            // OAEP is randomized.
            assert_ne!(
                encrypt(&plaintext).unwrap()["CiphertextBlob"].as_str(),
                Some(blob.as_str())
            );
            let decrypt = |key: &str, algorithm: &str| {
                h.call(
                    "admin",
                    "Decrypt",
                    json!({"CiphertextBlob": blob, "KeyId": key, "EncryptionAlgorithm": algorithm}),
                )
            };
            let back = decrypt(&id, algorithm).unwrap();
            assert_eq!(unb64(&back["Plaintext"]), plaintext);
            assert_eq!(back["KeyId"], arn(&id));
            assert_eq!(back["EncryptionAlgorithm"], algorithm);
            for (key, algorithm) in [(&id, wrong), (&other, algorithm)] {
                assert_eq!(
                    decrypt(key, algorithm).unwrap_err().kind,
                    ErrorKind::InvalidCiphertextException,
                    "{spec} {algorithm}"
                );
            }
            assert_eq!(
                encrypt(&vec![1; max + 1]).unwrap_err().kind,
                ErrorKind::ValidationException,
                "{spec} {algorithm} longest plaintext + 1"
            );
        }
    }
}

#[test]
fn rsa_encryption_errors() {
    let h = Harness::new();
    let rsa = rsa_key(&h, "RSA_2048");
    let signing = h.create_key(json!({"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}));
    let symmetric = h.symmetric_key();
    let out = h.ok(
        "admin",
        "Encrypt",
        json!({"KeyId": rsa, "Plaintext": b64(b"x"), "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"}),
    );
    let blob = out["CiphertextBlob"].as_str().unwrap();
    // RSA keys need an RSA algorithm, both ways; symmetric keys cannot use one.
    h.err(
        "admin",
        "Encrypt",
        json!({"KeyId": rsa, "Plaintext": b64(b"x")}),
        ErrorKind::InvalidKeyUsageException,
    );
    h.err(
        "admin",
        "Decrypt",
        json!({"KeyId": rsa, "CiphertextBlob": blob}),
        ErrorKind::InvalidKeyUsageException,
    );
    h.err(
        "admin",
        "Encrypt",
        json!({"KeyId": symmetric, "Plaintext": b64(b"x"), "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
        ErrorKind::InvalidKeyUsageException,
    );
    h.err(
        "admin",
        "Encrypt",
        json!({"KeyId": signing, "Plaintext": b64(b"x"), "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
        ErrorKind::InvalidKeyUsageException,
    );
    // An RSA ciphertext names no key.
    h.err(
        "admin",
        "Decrypt",
        json!({"CiphertextBlob": blob, "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"}),
        ErrorKind::InvalidCiphertextException,
    );
    // A ciphertext of the wrong length for the key.
    h.err(
        "admin",
        "Decrypt",
        json!({"KeyId": rsa, "CiphertextBlob": b64(&[1; 255]),
               "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"}),
        ErrorKind::InvalidCiphertextException,
    );
    with_key_state(&h, &rsa, "Disabled").err(
        "admin",
        "Decrypt",
        json!({"KeyId": rsa, "CiphertextBlob": blob, "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"}),
        ErrorKind::DisabledException,
    );
}

#[test]
fn openssl_and_the_service_agree_on_rsa_oaep() {
    let Some(dir) = Scratch::new("rsa-oaep") else {
        return;
    };
    let h = known_root_harness();
    let plaintext = b"kmsgov RSA-OAEP cross-check";
    let plaintext_path = dir.write("plaintext", plaintext);
    for (spec, modulus, _, _) in RSA {
        let id = rsa_key(&h, spec);
        let public = unb64(&h.ok("admin", "GetPublicKey", json!({"KeyId": id}))["PublicKey"]);
        let public_path = dir.write("public.der", &public);
        let private_path = dir.write("private.der", &key_material(&h, &id));
        for algorithm in ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"] {
            // OpenSSL encrypts with the public key; the service decrypts.
            let ciphertext_path = dir.path("ciphertext");
            let mut args = vec![
                "pkeyutl",
                "-encrypt",
                "-pubin",
                "-keyform",
                "DER",
                "-inkey",
                &public_path,
                "-in",
                &plaintext_path,
                "-out",
                &ciphertext_path,
            ];
            args.extend(oaep_options(algorithm));
            openssl(&args);
            let ciphertext = dir.read("ciphertext");
            assert_eq!(ciphertext.len(), modulus);
            let back = h.ok(
                "admin",
                "Decrypt",
                json!({"KeyId": id, "CiphertextBlob": b64(&ciphertext),
                       "EncryptionAlgorithm": algorithm}),
            );
            assert_eq!(unb64(&back["Plaintext"]), plaintext, "{spec} {algorithm}");

            // The service encrypts; OpenSSL decrypts with the private key.
            let out = h.ok(
                "admin",
                "Encrypt",
                json!({"KeyId": id, "Plaintext": b64(plaintext), "EncryptionAlgorithm": algorithm}),
            );
            let blob_path = dir.write("blob", &unb64(&out["CiphertextBlob"]));
            let decrypted_path = dir.path("decrypted");
            let mut args = vec![
                "pkeyutl",
                "-decrypt",
                "-keyform",
                "DER",
                "-inkey",
                &private_path,
                "-in",
                &blob_path,
                "-out",
                &decrypted_path,
            ];
            args.extend(oaep_options(algorithm));
            openssl(&args);
            assert_eq!(dir.read("decrypted"), plaintext, "{spec} {algorithm}");
        }
    }
}

#[test]
fn re_encrypt_to_an_rsa_key_gives_what_openssl_decrypts() {
    let Some(dir) = Scratch::new("reencrypt-rsa") else {
        return;
    };
    let h = known_root_harness();
    let symmetric = h.symmetric_key();
    let rsa = rsa_key(&h, "RSA_2048");
    let private_path = dir.write("private.der", &key_material(&h, &rsa));
    let blob = encrypt(&h, &symmetric, b"moving to RSA", &json!({}));
    for algorithm in ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"] {
        let out = h.ok(
            "admin",
            "ReEncrypt",
            json!({"CiphertextBlob": blob, "DestinationKeyId": rsa,
                   "DestinationEncryptionAlgorithm": algorithm}),
        );
        let blob_path = dir.write("blob", &unb64(&out["CiphertextBlob"]));
        let decrypted_path = dir.path("decrypted");
        let mut args = vec![
            "pkeyutl",
            "-decrypt",
            "-keyform",
            "DER",
            "-inkey",
            &private_path,
            "-in",
            &blob_path,
            "-out",
            &decrypted_path,
        ];
        args.extend(oaep_options(algorithm));
        openssl(&args);
        assert_eq!(dir.read("decrypted"), b"moving to RSA", "{algorithm}");
    }
}

// ----- GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext -----

#[test]
fn data_key_pairs_for_every_spec() {
    let h = Harness::new();
    let key = h.symmetric_key();
    let context = json!({"tenant": "blue"});
    for (spec, _) in KEY_PAIRS {
        let with = h.ok(
            "admin",
            "GenerateDataKeyPair",
            json!({"KeyId": key, "KeyPairSpec": spec, "EncryptionContext": context}),
        );
        let without = h.ok(
            "admin",
            "GenerateDataKeyPairWithoutPlaintext",
            json!({"KeyId": key, "KeyPairSpec": spec, "EncryptionContext": context}),
        );
        for out in [&with, &without] {
            assert_eq!(out["KeyId"], arn(&key));
            assert_eq!(out["KeyPairSpec"], spec);
            assert!(!unb64(&out["PublicKey"]).is_empty());
        }
        assert!(without.get("PrivateKeyPlaintext").is_none(), "{spec}");
        // Each call makes a new pair.
        assert_ne!(with["PublicKey"], without["PublicKey"], "{spec}");
        // The encrypted private key decrypts, with the context, to the
        // plaintext copy.
        let private = unb64(&with["PrivateKeyPlaintext"]);
        let back = h.ok(
            "admin",
            "Decrypt",
            json!({"CiphertextBlob": with["PrivateKeyCiphertextBlob"], "EncryptionContext": context}),
        );
        assert_eq!(unb64(&back["Plaintext"]), private, "{spec}");
        assert_eq!(back["KeyId"], arn(&key));
        for out in [&with, &without] {
            h.err(
                "admin",
                "Decrypt",
                json!({"CiphertextBlob": out["PrivateKeyCiphertextBlob"]}),
                ErrorKind::InvalidCiphertextException,
            );
        }
    }
}

#[test]
fn data_key_pair_private_keys_are_pkcs8_and_match_their_public_keys() {
    let Some(dir) = Scratch::new("data-key-pair") else {
        return;
    };
    let h = Harness::new();
    let key = h.symmetric_key();
    for (spec, expected) in KEY_PAIRS {
        for op in ["GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"] {
            let out = h.ok("admin", op, json!({"KeyId": key, "KeyPairSpec": spec}));
            let private = unb64(
                &h.ok(
                    "admin",
                    "Decrypt",
                    json!({"CiphertextBlob": out["PrivateKeyCiphertextBlob"]}),
                )["Plaintext"],
            );
            let private_path = dir.write("private.der", &private);
            // `openssl pkcs8 -nocrypt` reads only unencrypted PKCS#8.
            let pkcs8_path = dir.path("pkcs8.der");
            openssl(&[
                "pkcs8",
                "-inform",
                "DER",
                "-nocrypt",
                "-in",
                &private_path,
                "-outform",
                "DER",
                "-out",
                &pkcs8_path,
            ]);
            let text = openssl(&[
                "pkey",
                "-inform",
                "DER",
                "-in",
                &private_path,
                "-text",
                "-noout",
            ]);
            assert!(text.contains(expected), "{spec} {op}: {text}");
            let public_path = dir.path("public.der");
            openssl(&[
                "pkey",
                "-inform",
                "DER",
                "-in",
                &private_path,
                "-pubout",
                "-outform",
                "DER",
                "-out",
                &public_path,
            ]);
            assert_eq!(
                dir.read("public.der"),
                unb64(&out["PublicKey"]),
                "{spec} {op}"
            );
        }
    }
}

#[test]
fn data_key_pair_errors() {
    let h = Harness::new();
    let key = h.symmetric_key();
    let rsa = rsa_key(&h, "RSA_2048");
    let signing = h.create_key(json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}));
    let hmac = h.create_key(json!({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}));
    let request = |key: &str, spec: &str| json!({"KeyId": key, "KeyPairSpec": spec});
    for op in ["GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"] {
        // Valid AWS specs that kmsgov does not implement.
        for spec in ["SM2", "ECC_NIST_EDWARDS25519"] {
            let e = h.err(
                "admin",
                op,
                request(&key, spec),
                ErrorKind::UnsupportedOperationException,
            );
            assert!(e.message.contains(spec), "{}", e.message);
        }
        h.err(
            "admin",
            op,
            request(&key, "RSA_1024"),
            ErrorKind::ValidationException,
        );
        h.err(
            "admin",
            op,
            json!({"KeyId": key}),
            ErrorKind::ValidationException,
        );
        // Only symmetric encryption keys wrap data key pairs.
        for wrapping in [&rsa, &signing, &hmac] {
            h.err(
                "admin",
                op,
                request(wrapping, "ECC_NIST_P256"),
                ErrorKind::InvalidKeyUsageException,
            );
        }
        h.err(
            "admin",
            op,
            request("alias/none", "ECC_NIST_P256"),
            ErrorKind::NotFoundException,
        );
        h.err(
            "alice",
            op,
            request(&key, "ECC_NIST_P256"),
            ErrorKind::AccessDeniedException,
        );
        let mut dry = request(&key, "ECC_NIST_P256");
        dry["DryRun"] = json!(true);
        h.err("admin", op, dry, ErrorKind::DryRunOperationException);
    }
    with_key_state(&h, &key, "Disabled").err(
        "admin",
        "GenerateDataKeyPair",
        request(&key, "RSA_2048"),
        ErrorKind::DisabledException,
    );
    with_key_state(&h, &key, "PendingDeletion").err(
        "admin",
        "GenerateDataKeyPairWithoutPlaintext",
        request(&key, "RSA_2048"),
        ErrorKind::KMSInvalidStateException,
    );
}

#[test]
fn data_key_pair_context_is_checked_by_key_policy_conditions() {
    // kms:DataKeyPairSpec and kms:EncryptionContext conditions see the
    // request: a key policy lets alice make only P-256 pairs for her tenant.
    let h = Harness::new();
    let key = h.create_key(json!({"Policy": json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
             "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/alice")},
             "Action": "kms:GenerateDataKeyPair*", "Resource": "*",
             "Condition": {"StringEquals": {"kms:DataKeyPairSpec": "ECC_NIST_P256",
                                            "kms:EncryptionContext:tenant": "alice"}}}
        ]}).to_string()}));
    let ok = json!({"KeyId": key, "KeyPairSpec": "ECC_NIST_P256",
                    "EncryptionContext": {"tenant": "alice"}});
    let out = h.ok("alice", "GenerateDataKeyPairWithoutPlaintext", ok.clone());
    assert_eq!(out["KeyPairSpec"], "ECC_NIST_P256");
    let mut other_spec = ok.clone();
    other_spec["KeyPairSpec"] = json!("ECC_NIST_P384");
    h.err(
        "alice",
        "GenerateDataKeyPair",
        other_spec,
        ErrorKind::AccessDeniedException,
    );
    let mut other_context = ok;
    other_context["EncryptionContext"] = json!({"tenant": "bob"});
    h.err(
        "alice",
        "GenerateDataKeyPair",
        other_context,
        ErrorKind::AccessDeniedException,
    );
}
