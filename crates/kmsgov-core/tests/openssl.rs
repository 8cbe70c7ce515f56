//! Cross-checks with an independent implementation: the `openssl` command
//! line (OpenSSL 3).
//!
//! OpenSSL verifies our signatures with the DER public key we export,
//! decrypts our RSA-OAEP ciphertexts with the private key we export to PEM,
//! computes the same HMACs and ECDH secrets, and signs and encrypts for us to
//! verify and decrypt.
//! For the symmetric format it recomputes the documented key derivation and
//! decrypts the body.
//! If `openssl` is not installed each test prints why it is skipped; it
//! never passes silently otherwise.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use kmsgov_core::ciphertext::{self, Governance};
use kmsgov_core::crypto::{
    EncryptionAlgorithm, KeyMaterial, KeySpec, MacAlgorithm, MessageType, SigningAlgorithm,
};

const MESSAGE: &[u8] = b"kmsgov cross-check message\n";

#[test]
fn openssl_reads_our_public_keys() {
    let Some(dir) = Scratch::new("public-keys") else {
        return;
    };
    let cases = [
        (KeySpec::Rsa2048, "Public-Key: (2048 bit)"),
        (KeySpec::Rsa3072, "Public-Key: (3072 bit)"),
        (KeySpec::Rsa4096, "Public-Key: (4096 bit)"),
        (KeySpec::EccNistP256, "NIST CURVE: P-256"),
        (KeySpec::EccNistP384, "NIST CURVE: P-384"),
        (KeySpec::EccNistP521, "NIST CURVE: P-521"),
        (KeySpec::EccSecgP256k1, "ASN1 OID: secp256k1"),
    ];
    for (spec, expected) in cases {
        let key = KeyMaterial::generate(spec).unwrap();
        let public = dir.write("public.der", &key.public_key_der().unwrap());
        let text = openssl(&[
            "pkey", "-pubin", "-inform", "DER", "-in", &public, "-text", "-noout",
        ]);
        assert!(text.contains(expected), "{spec}: {text}");
    }
}

#[test]
fn openssl_verifies_our_rsa_signatures() {
    let Some(dir) = Scratch::new("rsa-signatures") else {
        return;
    };
    for spec in [KeySpec::Rsa2048, KeySpec::Rsa3072, KeySpec::Rsa4096] {
        let key = KeyMaterial::generate(spec).unwrap();
        let public = dir.write("public.der", &key.public_key_der().unwrap());
        let message = dir.write("message", MESSAGE);
        for &algorithm in SigningAlgorithm::for_spec(spec) {
            for message_type in [MessageType::Raw, MessageType::Digest] {
                let input = match message_type {
                    MessageType::Raw => MESSAGE.to_vec(),
                    MessageType::Digest => openssl_digest(&dir, algorithm, &message),
                };
                let signature = key.sign(algorithm, message_type, &input).unwrap();
                let signature = dir.write("signature", &signature);
                let mut args = vec![
                    "dgst".to_owned(),
                    format!("-{}", digest_name(algorithm)),
                    "-verify".to_owned(),
                    public.clone(),
                    "-keyform".to_owned(),
                    "DER".to_owned(),
                    "-signature".to_owned(),
                    signature,
                ];
                if is_pss(algorithm) {
                    // An explicit salt length makes OpenSSL insist on it.
                    let salt = algorithm.digest_len().to_string();
                    args.extend(["-sigopt", "rsa_padding_mode:pss", "-sigopt"].map(String::from));
                    args.push(format!("rsa_pss_saltlen:{salt}"));
                }
                args.push(message.clone());
                let out = openssl_owned(&args);
                assert_eq!(
                    out.trim(),
                    "Verified OK",
                    "{spec} {algorithm} {message_type}"
                );
            }
        }
    }
}

#[test]
fn openssl_rejects_a_pss_signature_with_another_salt_length() {
    // The control for the test above: OpenSSL does check the salt length.
    let Some(dir) = Scratch::new("pss-salt") else {
        return;
    };
    let key = KeyMaterial::generate(KeySpec::Rsa2048).unwrap();
    let public = dir.write("public.der", &key.public_key_der().unwrap());
    let message = dir.write("message", MESSAGE);
    let signature = key
        .sign(SigningAlgorithm::RsassaPssSha256, MessageType::Raw, MESSAGE)
        .unwrap();
    let signature = dir.write("signature", &signature);
    let output = run(&[
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
        "rsa_pss_saltlen:20",
        &message,
    ]);
    assert!(
        !output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn openssl_verifies_our_ecdsa_signatures() {
    let Some(dir) = Scratch::new("ecdsa-signatures") else {
        return;
    };
    for spec in [
        KeySpec::EccNistP256,
        KeySpec::EccNistP384,
        KeySpec::EccNistP521,
        KeySpec::EccSecgP256k1,
    ] {
        let key = KeyMaterial::generate(spec).unwrap();
        let public = dir.write("public.der", &key.public_key_der().unwrap());
        let message = dir.write("message", MESSAGE);
        let algorithm = SigningAlgorithm::for_spec(spec)[0];
        for message_type in [MessageType::Raw, MessageType::Digest] {
            let input = match message_type {
                MessageType::Raw => MESSAGE.to_vec(),
                MessageType::Digest => openssl_digest(&dir, algorithm, &message),
            };
            let signature = dir.write(
                "signature",
                &key.sign(algorithm, message_type, &input).unwrap(),
            );
            let out = openssl(&[
                "dgst",
                &format!("-{}", digest_name(algorithm)),
                "-verify",
                &public,
                "-keyform",
                "DER",
                "-signature",
                &signature,
                &message,
            ]);
            assert_eq!(out.trim(), "Verified OK", "{spec} {message_type}");
        }
    }
}

#[test]
fn we_verify_signatures_openssl_made_with_our_keys() {
    let Some(dir) = Scratch::new("openssl-signs") else {
        return;
    };
    let message = dir.write("message", MESSAGE);
    let cases = [
        (KeySpec::EccNistP256, SigningAlgorithm::EcdsaSha256),
        (KeySpec::EccNistP384, SigningAlgorithm::EcdsaSha384),
        (KeySpec::EccNistP521, SigningAlgorithm::EcdsaSha512),
        (KeySpec::EccSecgP256k1, SigningAlgorithm::EcdsaSha256),
        (KeySpec::Rsa2048, SigningAlgorithm::RsassaPssSha384),
        (KeySpec::Rsa2048, SigningAlgorithm::RsassaPkcs1V15Sha512),
    ];
    for (spec, algorithm) in cases {
        let key = KeyMaterial::generate(spec).unwrap();
        let private = dir.write("private.pem", pem(key.expose_secret()).as_bytes());
        let signature = dir.path("signature");
        let mut args = vec![
            "dgst".to_owned(),
            format!("-{}", digest_name(algorithm)),
            "-sign".to_owned(),
            private,
            "-out".to_owned(),
            signature.clone(),
        ];
        if is_pss(algorithm) {
            args.extend(
                [
                    "-sigopt",
                    "rsa_padding_mode:pss",
                    "-sigopt",
                    "rsa_pss_saltlen:digest",
                ]
                .map(String::from),
            );
        }
        args.push(message.clone());
        openssl_owned(&args);
        let signature = fs::read(&signature).unwrap();
        key.verify(algorithm, MessageType::Raw, MESSAGE, &signature)
            .unwrap_or_else(|e| panic!("{spec} {algorithm}: {e}"));
        assert!(key
            .verify(algorithm, MessageType::Raw, b"other", &signature)
            .is_err());
    }
}

#[test]
fn keys_openssl_generated_import_and_sign() {
    let Some(dir) = Scratch::new("openssl-keys") else {
        return;
    };
    let cases = [
        (
            KeySpec::EccNistP256,
            vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        ),
        (
            KeySpec::EccSecgP256k1,
            vec![
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:secp256k1",
            ],
        ),
        (
            KeySpec::Rsa2048,
            vec!["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        ),
    ];
    let message = dir.write("message", MESSAGE);
    for (spec, options) in cases {
        let pem_path = dir.path("generated.pem");
        let der_path = dir.path("generated.der");
        let mut args = vec!["genpkey"];
        args.extend(options);
        args.extend(["-out", &pem_path]);
        openssl(&args);
        openssl(&[
            "pkcs8", "-topk8", "-nocrypt", "-in", &pem_path, "-outform", "DER", "-out", &der_path,
        ]);
        let key = KeyMaterial::from_bytes(spec, &fs::read(&der_path).unwrap()).unwrap();
        let algorithm = SigningAlgorithm::for_spec(spec)[0];
        let signature = dir.write(
            "signature",
            &key.sign(algorithm, MessageType::Raw, MESSAGE).unwrap(),
        );
        let public = dir.path("public.pem");
        openssl(&["pkey", "-in", &pem_path, "-pubout", "-out", &public]);
        let mut args = vec![
            "dgst".to_owned(),
            format!("-{}", digest_name(algorithm)),
            "-verify".to_owned(),
            public,
            "-signature".to_owned(),
            signature,
        ];
        if is_pss(algorithm) {
            args.extend(
                [
                    "-sigopt",
                    "rsa_padding_mode:pss",
                    "-sigopt",
                    "rsa_pss_saltlen:32",
                ]
                .map(String::from),
            );
        }
        args.push(message.clone());
        assert_eq!(openssl_owned(&args).trim(), "Verified OK", "{spec}");
    }
}

#[test]
fn openssl_decrypts_our_rsa_oaep_ciphertexts() {
    let Some(dir) = Scratch::new("oaep") else {
        return;
    };
    for spec in [KeySpec::Rsa2048, KeySpec::Rsa3072, KeySpec::Rsa4096] {
        let key = KeyMaterial::generate(spec).unwrap();
        let private = dir.write("private.pem", pem(key.expose_secret()).as_bytes());
        for (algorithm, md) in [
            (EncryptionAlgorithm::RsaesOaepSha1, "sha1"),
            (EncryptionAlgorithm::RsaesOaepSha256, "sha256"),
        ] {
            let max = algorithm.max_plaintext_len(spec).unwrap();
            for plaintext in [
                b"secret".to_vec(),
                (0..max).map(|i| (i * 7) as u8).collect(),
            ] {
                let ciphertext = dir.write(
                    "ciphertext",
                    &key.rsa_encrypt(algorithm, &plaintext).unwrap(),
                );
                let decrypted = dir.path("decrypted");
                openssl(&[
                    "pkeyutl",
                    "-decrypt",
                    "-inkey",
                    &private,
                    "-in",
                    &ciphertext,
                    "-out",
                    &decrypted,
                    "-pkeyopt",
                    "rsa_padding_mode:oaep",
                    "-pkeyopt",
                    &format!("rsa_oaep_md:{md}"),
                    "-pkeyopt",
                    &format!("rsa_mgf1_md:{md}"),
                ]);
                assert_eq!(
                    fs::read(&decrypted).unwrap(),
                    plaintext,
                    "{spec} {algorithm}"
                );
            }
        }
    }
}

#[test]
fn we_decrypt_openssl_rsa_oaep_ciphertexts() {
    let Some(dir) = Scratch::new("oaep-reverse") else {
        return;
    };
    let key = KeyMaterial::generate(KeySpec::Rsa3072).unwrap();
    let public = dir.write("public.der", &key.public_key_der().unwrap());
    let plaintext = dir.write("plaintext", b"from openssl");
    for (algorithm, md) in [
        (EncryptionAlgorithm::RsaesOaepSha1, "sha1"),
        (EncryptionAlgorithm::RsaesOaepSha256, "sha256"),
    ] {
        let ciphertext = dir.path("ciphertext");
        openssl(&[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-keyform",
            "DER",
            "-inkey",
            &public,
            "-in",
            &plaintext,
            "-out",
            &ciphertext,
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            &format!("rsa_oaep_md:{md}"),
            "-pkeyopt",
            &format!("rsa_mgf1_md:{md}"),
        ]);
        let decrypted = key
            .rsa_decrypt(algorithm, &fs::read(&ciphertext).unwrap())
            .unwrap();
        assert_eq!(decrypted.expose(), b"from openssl");
    }
}

#[test]
fn hmacs_match_openssl() {
    let Some(dir) = Scratch::new("hmac") else {
        return;
    };
    let message = dir.write("message", MESSAGE);
    for (spec, digest) in [
        (KeySpec::Hmac224, "SHA224"),
        (KeySpec::Hmac256, "SHA256"),
        (KeySpec::Hmac384, "SHA384"),
        (KeySpec::Hmac512, "SHA512"),
    ] {
        let key = KeyMaterial::generate(spec).unwrap();
        let algorithm: MacAlgorithm = spec.mac_algorithm().unwrap();
        let ours = hex(&key.generate_mac(algorithm, MESSAGE).unwrap());
        let hexkey = format!("hexkey:{}", hex(key.expose_secret()));
        let mac = openssl(&[
            "mac", "-digest", digest, "-macopt", &hexkey, "-in", &message, "HMAC",
        ]);
        assert_eq!(mac.trim().to_ascii_lowercase(), ours, "{spec} openssl mac");
        let dgst = openssl(&[
            "dgst",
            &format!("-{}", digest.to_ascii_lowercase()),
            "-mac",
            "HMAC",
            "-macopt",
            &hexkey,
            "-r",
            &message,
        ]);
        assert_eq!(
            dgst.split_whitespace().next(),
            Some(ours.as_str()),
            "{spec} openssl dgst"
        );
    }
}

#[test]
fn ecdh_secrets_match_openssl() {
    let Some(dir) = Scratch::new("ecdh") else {
        return;
    };
    for spec in [
        KeySpec::EccNistP256,
        KeySpec::EccNistP384,
        KeySpec::EccNistP521,
    ] {
        let ours = KeyMaterial::generate(spec).unwrap();
        let peer = KeyMaterial::generate(spec).unwrap();
        let private = dir.write("private.pem", pem(ours.expose_secret()).as_bytes());
        let peer_public = dir.write("peer.der", &peer.public_key_der().unwrap());
        let peer_pem = dir.path("peer.pem");
        openssl(&[
            "pkey",
            "-pubin",
            "-inform",
            "DER",
            "-in",
            &peer_public,
            "-out",
            &peer_pem,
        ]);
        let secret = dir.path("secret");
        openssl(&[
            "pkeyutl", "-derive", "-inkey", &private, "-peerkey", &peer_pem, "-out", &secret,
        ]);
        let derived = ours
            .derive_shared_secret(&fs::read(&peer_public).unwrap())
            .unwrap();
        assert_eq!(derived.expose(), fs::read(&secret).unwrap(), "{spec}");
    }
}

#[test]
fn openssl_rederives_and_decrypts_our_symmetric_ciphertexts() {
    // docs/ciphertext-format.md, recomputed step by step with OpenSSL: the
    // SHA-256 digests, HKDF-SHA-512 for the commitment and the key, AES-CTR
    // for the body (GCM encrypts with counter block IV || 00000002 onwards),
    // and GMAC for the tag of an empty plaintext (GCM without ciphertext is
    // GMAC over the AAD).
    let Some(dir) = Scratch::new("symmetric") else {
        return;
    };
    let material = KeyMaterial::generate(KeySpec::SymmetricDefault).unwrap();
    let key_id = "1234abcd-12ab-34cd-56ef-1234567890ab";
    let governance = Governance {
        policy_id: [0x5a; 32],
        governance_size: 42,
    };
    let context = BTreeMap::from([("a".to_owned(), "bc".to_owned())]);
    // Encoded by hand here, not by the code under test.
    let canonical_context = [0, 1, 0, 1, b'a', 0, 2, b'b', b'c'];
    let plaintext: Vec<u8> = (0..100u8).collect();

    for plaintext in [&plaintext[..], &[]] {
        let blob =
            ciphertext::encrypt(&material, key_id, 7, plaintext, &context, Some(&governance))
                .unwrap();
        let core_len = 45 + key_id.len() + 40;
        let (core, rest) = blob.split_at(core_len);
        let (commitment, rest) = rest.split_at(32);
        let (iv, rest) = rest.split_at(12);
        let (body, tag) = rest.split_at(rest.len() - 16);

        let header_hash = openssl_sha256(&dir, &[b"kmsgov/ct/v1/header", core].concat());
        let context_hash = openssl_sha256(
            &dir,
            &[&b"kmsgov/ct/v1/ec"[..], &canonical_context].concat(),
        );
        let hkdf = |label: &[u8]| {
            let info = [label, &header_hash, &context_hash].concat();
            let out = openssl(&[
                "kdf",
                "-keylen",
                "64",
                "-kdfopt",
                "digest:SHA512",
                "-kdfopt",
                "mode:EXPAND_ONLY",
                "-kdfopt",
                &format!("hexkey:{}", hex(material.expose_secret())),
                "-kdfopt",
                &format!("hexinfo:{}", hex(&info)),
                "HKDF",
            ]);
            out.trim().replace(':', "").to_ascii_lowercase()
        };
        let okm = hkdf(b"kmsgov/ct/v1/dk");
        let (encryption_key, expected_commitment) = okm.split_at(64);
        assert_eq!(expected_commitment, hex(commitment));
        let encryption_key = encryption_key.to_owned();

        let body_file = dir.write("body", body);
        let decrypted = dir.path("decrypted");
        openssl(&[
            "enc",
            "-d",
            "-aes-256-ctr",
            "-K",
            &encryption_key,
            "-iv",
            &format!("{}00000002", hex(iv)),
            "-in",
            &body_file,
            "-out",
            &decrypted,
        ]);
        assert_eq!(fs::read(&decrypted).unwrap(), plaintext);

        if plaintext.is_empty() {
            let aad = dir.write("aad", &[core, commitment, &canonical_context].concat());
            let gmac = openssl(&[
                "mac",
                "-cipher",
                "AES-256-GCM",
                "-macopt",
                &format!("hexkey:{encryption_key}"),
                "-macopt",
                &format!("hexiv:{}", hex(iv)),
                "-in",
                &aad,
                "GMAC",
            ]);
            assert_eq!(gmac.trim().to_ascii_lowercase(), hex(tag));
        }
    }
}

fn openssl_sha256(dir: &Scratch, data: &[u8]) -> Vec<u8> {
    let input = dir.write("to-hash", data);
    let out = dir.path("hash");
    openssl(&["dgst", "-sha256", "-binary", "-out", &out, &input]);
    fs::read(out).unwrap()
}

fn digest_name(algorithm: SigningAlgorithm) -> &'static str {
    match algorithm.digest_len() {
        32 => "sha256",
        48 => "sha384",
        _ => "sha512",
    }
}

fn is_pss(algorithm: SigningAlgorithm) -> bool {
    algorithm.as_str().starts_with("RSASSA_PSS")
}

/// The digest of the file at `message`, computed by OpenSSL.
fn openssl_digest(dir: &Scratch, algorithm: SigningAlgorithm, message: &str) -> Vec<u8> {
    let out = dir.path("digest");
    openssl(&[
        "dgst",
        &format!("-{}", digest_name(algorithm)),
        "-binary",
        "-out",
        &out,
        message,
    ]);
    fs::read(out).unwrap()
}

/// PKCS#8 DER as a PEM `PRIVATE KEY`: test-only export, to hand keys to OpenSSL.
fn pem(der: &[u8]) -> String {
    let base64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in base64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn run(args: &[&str]) -> Output {
    Command::new("openssl").args(args).output().unwrap()
}

/// Runs `openssl` and returns its standard output, failing the test if it fails.
fn openssl(args: &[&str]) -> String {
    let output = run(args);
    assert!(
        output.status.success(),
        "openssl {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn openssl_owned(args: &[String]) -> String {
    openssl(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// A scratch directory removed on drop; `None`, with the reason printed, when
/// `openssl` is not installed.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Option<Self> {
        match Command::new("openssl").arg("version").output() {
            Ok(output) if output.status.success() => {}
            Ok(_) | Err(_) => {
                // Written to the stream itself rather than through
                // `eprintln!`, which the test harness captures: a skip is seen.
                let _ = writeln!(
                    std::io::stderr(),
                    "skipping the `{name}` cross-check: the `openssl` command is not available"
                );
                return None;
            }
        }
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kmsgov-core-openssl-{}-{name}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).unwrap();
        Some(Self { dir })
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.path(name);
        fs::write(Path::new(&path), bytes).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}
