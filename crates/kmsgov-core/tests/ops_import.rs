//! GetParametersForImport, ImportKeyMaterial and DeleteImportedKeyMaterial
//! through the service. Key material is wrapped as a client would: with the
//! `openssl` command line (RSAES-OAEP, and AES key wrap with padding), and
//! in-process with aws-lc-rs for every wrapping algorithm.
//!
//! That the imported material is the material in use is checked outside the
//! service: ciphertexts it returns are opened with the test's own copy of
//! the material.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
use aws_lc_rs::rsa::{
    OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
};
use harness::{b64, unb64, Harness, ACCOUNT, START};
use kmsgov_core::ciphertext;
use kmsgov_core::crypto::{EncryptionAlgorithm, KeyMaterial, KeySpec};
use kmsgov_core::ErrorKind;
use serde_json::{json, Value};

/// Import parameters: the token (base64, as the API carries it) and the
/// DER public key.
struct Params {
    token: String,
    public_key: Vec<u8>,
}

fn params(h: &Harness, key: &str, algorithm: &str, spec: &str) -> Params {
    let out = h.ok(
        "admin",
        "GetParametersForImport",
        json!({"KeyId": key, "WrappingAlgorithm": algorithm, "WrappingKeySpec": spec}),
    );
    assert_eq!(out["KeyId"], key_arn(key));
    Params {
        token: out["ImportToken"].as_str().unwrap().to_owned(),
        public_key: unb64(&out["PublicKey"]),
    }
}

fn key_arn(key: &str) -> String {
    format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{key}")
}

fn external_key(h: &Harness) -> String {
    h.create_key(json!({"Origin": "EXTERNAL"}))
}

fn random(n: usize) -> Vec<u8> {
    let mut out = vec![0; n];
    aws_lc_rs::rand::fill(&mut out).unwrap();
    out
}

/// RSA-OAEP with the public key (SHA-1 or SHA-256 for hash and MGF1).
fn oaep(public_key: &[u8], sha256: bool, data: &[u8]) -> Vec<u8> {
    let key =
        OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public_key).unwrap()).unwrap();
    let alg = if sha256 {
        &OAEP_SHA256_MGF1SHA256
    } else {
        &OAEP_SHA1_MGF1SHA1
    };
    let mut out = vec![0; key.ciphertext_size()];
    let n = key.encrypt(alg, data, &mut out, None).unwrap().len();
    out.truncate(n);
    out
}

/// RSA_AES_KEY_WRAP: OAEP of a fresh AES-256 key, then the material wrapped
/// under it with AES key wrap with padding.
fn key_wrap(public_key: &[u8], sha256: bool, material: &[u8]) -> Vec<u8> {
    let aes = random(32);
    let mut wrapped = vec![0; material.len() + 16];
    let n = AesKek::new(&AES_256, &aes)
        .unwrap()
        .wrap_with_padding(material, &mut wrapped)
        .unwrap()
        .len();
    wrapped.truncate(n);
    let mut out = oaep(public_key, sha256, &aes);
    out.extend_from_slice(&wrapped);
    out
}

fn import(
    h: &Harness,
    key: &str,
    token: &str,
    encrypted: &[u8],
) -> Result<Value, kmsgov_core::KmsError> {
    h.call(
        "admin",
        "ImportKeyMaterial",
        json!({"KeyId": key, "ImportToken": token, "EncryptedKeyMaterial": b64(encrypted),
               "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}),
    )
}

/// Imports `material` into a symmetric EXTERNAL key with RSAES_OAEP_SHA_256.
fn import_symmetric(h: &Harness, key: &str, material: &[u8]) {
    let p = params(h, key, "RSAES_OAEP_SHA_256", "RSA_2048");
    import(h, key, &p.token, &oaep(&p.public_key, true, material)).unwrap();
}

/// Encrypts through the service and opens the blob with `material`.
fn assert_material_in_use(h: &Harness, key: &str, material: &[u8]) {
    let context = BTreeMap::from([("purpose".to_owned(), "import test".to_owned())]);
    let out = h.ok(
        "admin",
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"imported"), "EncryptionContext": context}),
    );
    let blob = unb64(&out["CiphertextBlob"]);
    let header = ciphertext::parse(&blob).unwrap();
    assert_eq!(header.key_id(), key);
    assert_eq!(header.key_version(), 1);
    let material = KeyMaterial::from_bytes(KeySpec::SymmetricDefault, material).unwrap();
    let plain = ciphertext::decrypt(&material, &header, &blob, &context).unwrap();
    assert_eq!(plain.expose(), b"imported");
    // A different key does not open it: the check above means something.
    let other = KeyMaterial::generate(KeySpec::SymmetricDefault).unwrap();
    assert!(ciphertext::decrypt(&other, &header, &blob, &context).is_err());
}

#[test]
fn symmetric_material_wrapped_by_openssl_is_imported_and_used() {
    let Some(dir) = Scratch::new("oaep-import") else {
        return;
    };
    let h = Harness::new();
    let key = external_key(&h);
    let md = h.describe(&key);
    assert_eq!(md["KeyState"], "PendingImport");
    assert_eq!(md["Origin"], "EXTERNAL");
    assert!(md.get("ExpirationModel").is_none());
    h.err(
        "admin",
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"x")}),
        ErrorKind::KMSInvalidStateException,
    );

    let out = h.ok(
        "admin",
        "GetParametersForImport",
        json!({"KeyId": key, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"}),
    );
    assert_eq!(out["KeyId"], key_arn(&key));
    assert_eq!(out["ParametersValidTo"], START + 24 * 3600);
    assert!(!unb64(&out["ImportToken"]).is_empty());
    let public = dir.write("public.der", &unb64(&out["PublicKey"]));
    let text = openssl(&[
        "pkey", "-pubin", "-inform", "DER", "-in", &public, "-text", "-noout",
    ]);
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");

    let material = random(32);
    let plain = dir.write("material.bin", &material);
    let wrapped = dir.path("wrapped.bin");
    openssl(&[
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-keyform",
        "DER",
        "-inkey",
        &public,
        "-in",
        &plain,
        "-out",
        &wrapped,
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        "rsa_oaep_md:sha256",
        "-pkeyopt",
        "rsa_mgf1_md:sha256",
    ]);
    let encrypted = fs::read(&wrapped).unwrap();
    let out = import(&h, &key, out["ImportToken"].as_str().unwrap(), &encrypted).unwrap();
    assert_eq!(out["KeyId"], key_arn(&key));

    let md = h.describe(&key);
    assert_eq!(md["KeyState"], "Enabled");
    assert_eq!(md["Enabled"], true);
    assert_eq!(md["ExpirationModel"], "KEY_MATERIAL_DOES_NOT_EXPIRE");
    assert!(md.get("ValidTo").is_none());
    assert_material_in_use(&h, &key, &material);
}

#[test]
fn material_wrapped_by_openssl_with_rsa_aes_key_wrap_is_imported() {
    let Some(dir) = Scratch::new("key-wrap-import") else {
        return;
    };
    let h = Harness::new();
    let key = external_key(&h);
    let p = params(&h, &key, "RSA_AES_KEY_WRAP_SHA_256", "RSA_3072");
    let public = dir.write("public.der", &p.public_key);
    let material = random(32);
    let aes = random(32);
    let aes_file = dir.write("aes.bin", &aes);
    let plain = dir.write("material.bin", &material);
    let wrapped_material = dir.path("material.wrapped");
    let aes_hex: String = aes.iter().map(|b| format!("{b:02x}")).collect();
    openssl(&[
        "enc",
        "-id-aes256-wrap-pad",
        "-K",
        &aes_hex,
        "-iv",
        "A65959A6",
        "-in",
        &plain,
        "-out",
        &wrapped_material,
    ]);
    let wrapped_aes = dir.path("aes.wrapped");
    openssl(&[
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-keyform",
        "DER",
        "-inkey",
        &public,
        "-in",
        &aes_file,
        "-out",
        &wrapped_aes,
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        "rsa_oaep_md:sha256",
        "-pkeyopt",
        "rsa_mgf1_md:sha256",
    ]);
    let mut encrypted = fs::read(&wrapped_aes).unwrap();
    assert_eq!(encrypted.len(), 384);
    encrypted.extend(fs::read(&wrapped_material).unwrap());
    import(&h, &key, &p.token, &encrypted).unwrap();
    assert_material_in_use(&h, &key, &material);
}

#[test]
fn every_wrapping_algorithm_and_key_spec_imports() {
    for (algorithm, spec) in [
        ("RSAES_OAEP_SHA_1", "RSA_2048"),
        ("RSAES_OAEP_SHA_256", "RSA_4096"),
        ("RSA_AES_KEY_WRAP_SHA_1", "RSA_2048"),
        ("RSA_AES_KEY_WRAP_SHA_256", "RSA_3072"),
    ] {
        let h = Harness::new();
        let key = external_key(&h);
        let p = params(&h, &key, algorithm, spec);
        let material = random(32);
        let sha256 = algorithm.ends_with("SHA_256");
        let encrypted = if algorithm.starts_with("RSA_AES") {
            key_wrap(&p.public_key, sha256, &material)
        } else {
            oaep(&p.public_key, sha256, &material)
        };
        import(&h, &key, &p.token, &encrypted)
            .unwrap_or_else(|e| panic!("{algorithm} {spec}: {e}"));
        assert_material_in_use(&h, &key, &material);
    }
}

#[test]
fn an_rsa_private_key_is_imported_with_key_wrap() {
    let h = Harness::new();
    let key = h.create_key(
        json!({"Origin": "EXTERNAL", "KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}),
    );
    let pair = KeyMaterial::generate(KeySpec::Rsa2048).unwrap();
    // PKCS#8 of an RSA key is too long for RSA-OAEP itself (at most 446
    // bytes under RSA_4096 with SHA-256): the key-wrap algorithms carry it.
    assert!(pair.expose_secret().len() > 4096 / 8 - 66);
    let p = params(&h, &key, "RSA_AES_KEY_WRAP_SHA_256", "RSA_4096");
    import(
        &h,
        &key,
        &p.token,
        &key_wrap(&p.public_key, true, pair.expose_secret()),
    )
    .unwrap();
    assert_eq!(h.describe(&key)["KeyState"], "Enabled");
    // The service encrypts under the imported key pair: the test's private
    // key decrypts.
    let out = h.ok(
        "admin",
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"to the key pair"), "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
    );
    let plain = pair
        .rsa_decrypt(
            EncryptionAlgorithm::RsaesOaepSha256,
            &unb64(&out["CiphertextBlob"]),
        )
        .unwrap();
    assert_eq!(plain.expose(), b"to the key pair");
    // Material of the wrong spec is refused.
    let other = h.create_key(
        json!({"Origin": "EXTERNAL", "KeySpec": "RSA_3072", "KeyUsage": "ENCRYPT_DECRYPT"}),
    );
    let p = params(&h, &other, "RSA_AES_KEY_WRAP_SHA_256", "RSA_4096");
    h.err(
        "admin",
        "ImportKeyMaterial",
        json!({"KeyId": other, "ImportToken": p.token,
               "EncryptedKeyMaterial": b64(&key_wrap(&p.public_key, true, pair.expose_secret())),
               "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}),
        ErrorKind::IncorrectKeyMaterialException,
    );
}

#[test]
fn deleted_material_comes_back_only_as_the_same_material() {
    let h = Harness::new();
    let key = external_key(&h);
    let material = random(32);
    import_symmetric(&h, &key, &material);
    let ct = h.ok(
        "admin",
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"kept")}),
    )["CiphertextBlob"]
        .clone();

    let out = h.ok("admin", "DeleteImportedKeyMaterial", json!({"KeyId": key}));
    assert_eq!(out["KeyId"], key_arn(&key));
    let md = h.describe(&key);
    assert_eq!(md["KeyState"], "PendingImport");
    assert!(md.get("ExpirationModel").is_none());
    h.err(
        "admin",
        "Decrypt",
        json!({"CiphertextBlob": ct}),
        ErrorKind::KMSInvalidStateException,
    );
    // Nothing of the material is left in the store.
    let record = h.store.key(&key).unwrap().unwrap();
    assert!(record.versions.is_empty());

    // After a restart, other material is still told apart from the old.
    let h = h.reopen();
    let p = params(&h, &key, "RSAES_OAEP_SHA_256", "RSA_2048");
    let e = import(&h, &key, &p.token, &oaep(&p.public_key, true, &random(32))).unwrap_err();
    assert_eq!(e.kind, ErrorKind::IncorrectKeyMaterialException);
    assert_eq!(h.describe(&key)["KeyState"], "PendingImport");

    import(&h, &key, &p.token, &oaep(&p.public_key, true, &material)).unwrap();
    assert_eq!(h.describe(&key)["KeyState"], "Enabled");
    let out = h.ok("admin", "Decrypt", json!({"CiphertextBlob": ct}));
    assert_eq!(unb64(&out["Plaintext"]), b"kept");
    assert_material_in_use(&h, &key, &material);
}

#[test]
fn reimporting_into_a_key_with_material_changes_only_the_expiration() {
    let h = Harness::new();
    let key = external_key(&h);
    let material = random(32);
    import_symmetric(&h, &key, &material);
    let before = h.store.key(&key).unwrap().unwrap().versions;
    assert_eq!(before.len(), 1);

    let p = params(&h, &key, "RSAES_OAEP_SHA_1", "RSA_2048");
    let e = import(&h, &key, &p.token, &oaep(&p.public_key, false, &random(32))).unwrap_err();
    assert_eq!(e.kind, ErrorKind::IncorrectKeyMaterialException);

    let valid_to = START + 10 * 86_400;
    h.ok(
        "admin",
        "ImportKeyMaterial",
        json!({"KeyId": key, "ImportToken": p.token,
               "EncryptedKeyMaterial": b64(&oaep(&p.public_key, false, &material)),
               "ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": valid_to}),
    );
    let md = h.describe(&key);
    assert_eq!(md["ExpirationModel"], "KEY_MATERIAL_EXPIRES");
    assert_eq!(md["ValidTo"], valid_to);
    assert_eq!(md["KeyState"], "Enabled");
    // No new version: the same material stays version 1.
    assert_eq!(h.store.key(&key).unwrap().unwrap().versions, before);
    assert_material_in_use(&h, &key, &material);
}

#[test]
fn a_disabled_key_stays_disabled_when_material_is_reimported() {
    let h = Harness::new();
    let key = external_key(&h);
    let material = random(32);
    import_symmetric(&h, &key, &material);
    let h = h.with_key_state(&key, "Disabled");
    import_symmetric(&h, &key, &material);
    assert_eq!(h.describe(&key)["KeyState"], "Disabled");
}

#[test]
fn import_tokens_must_be_current_and_the_keys_own() {
    let h = Harness::new();
    let key = external_key(&h);
    let other = external_key(&h);
    let material = random(32);

    // No parameters yet.
    h.err(
        "admin",
        "ImportKeyMaterial",
        json!({"KeyId": key, "ImportToken": b64(b"made up"), "EncryptedKeyMaterial": b64(&[1; 256]),
               "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}),
        ErrorKind::InvalidImportTokenException,
    );
    let theirs = params(&h, &other, "RSAES_OAEP_SHA_256", "RSA_2048");
    let p = params(&h, &key, "RSAES_OAEP_SHA_256", "RSA_2048");
    let encrypted = oaep(&p.public_key, true, &material);
    // Another key's token.
    let e = import(&h, &key, &theirs.token, &encrypted).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidImportTokenException);
    // A changed token.
    let mut bad = unb64(&json!(p.token));
    bad[0] ^= 1;
    let e = import(&h, &key, &b64(&bad), &encrypted).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidImportTokenException);
    // New parameters replace the old ones.
    let newer = params(&h, &key, "RSAES_OAEP_SHA_256", "RSA_2048");
    let e = import(&h, &key, &p.token, &encrypted).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidImportTokenException);
    // Parameters expire after 24 hours.
    h.clock.advance(24 * 3600);
    let e = import(
        &h,
        &key,
        &newer.token,
        &oaep(&newer.public_key, true, &material),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::ExpiredImportTokenException);
    assert_eq!(h.describe(&key)["KeyState"], "PendingImport");
    let fresh = params(&h, &key, "RSAES_OAEP_SHA_256", "RSA_2048");
    import(
        &h,
        &key,
        &fresh.token,
        &oaep(&fresh.public_key, true, &material),
    )
    .unwrap();
}

#[test]
fn encrypted_material_that_does_not_unwrap_or_fit_is_refused() {
    let h = Harness::new();
    let key = external_key(&h);
    let p = params(&h, &key, "RSAES_OAEP_SHA_256", "RSA_2048");
    let cases = [
        // Wrapped with the other OAEP hash.
        (
            oaep(&p.public_key, false, &random(32)),
            ErrorKind::InvalidCiphertextException,
        ),
        // Not a ciphertext of this key.
        (random(256), ErrorKind::InvalidCiphertextException),
        (random(10), ErrorKind::InvalidCiphertextException),
        // Unwraps, but a symmetric key is 32 bytes.
        (
            oaep(&p.public_key, true, &random(16)),
            ErrorKind::IncorrectKeyMaterialException,
        ),
        (
            oaep(&p.public_key, true, &random(33)),
            ErrorKind::IncorrectKeyMaterialException,
        ),
    ];
    for (encrypted, kind) in cases {
        let e = import(&h, &key, &p.token, &encrypted).unwrap_err();
        assert_eq!(e.kind, kind, "{e}");
    }
    // The key-wrap variant: a corrupted AES-KWP part does not unwrap.
    let p = params(&h, &key, "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048");
    let mut encrypted = key_wrap(&p.public_key, true, &random(32));
    let last = encrypted.len() - 1;
    encrypted[last] ^= 1;
    let e = import(&h, &key, &p.token, &encrypted).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidCiphertextException);
    // Only the RSA part: nothing to unwrap.
    let e = import(&h, &key, &p.token, &oaep(&p.public_key, true, &random(32))).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidCiphertextException);
    assert_eq!(h.describe(&key)["KeyState"], "PendingImport");
}

#[test]
fn the_expiration_model_and_valid_to_are_checked() {
    let h = Harness::new();
    let key = external_key(&h);
    let material = random(32);
    let p = params(&h, &key, "RSAES_OAEP_SHA_256", "RSA_2048");
    let encrypted = b64(&oaep(&p.public_key, true, &material));
    let request = |extra: Value| {
        let mut v =
            json!({"KeyId": key, "ImportToken": p.token, "EncryptedKeyMaterial": encrypted});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    for bad in [
        // The default model is KEY_MATERIAL_EXPIRES, which needs ValidTo.
        json!({}),
        json!({"ExpirationModel": "KEY_MATERIAL_EXPIRES"}),
        json!({"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "ValidTo": START + 3600}),
        json!({"ValidTo": START}),
        json!({"ValidTo": START - 1}),
        json!({"ValidTo": START + 365 * 86_400 + 1}),
        json!({"ValidTo": "tomorrow"}),
        json!({"ExpirationModel": "SOMETIMES", "ValidTo": START + 3600}),
        json!({"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "ImportType": "OLD"}),
    ] {
        let e = h
            .call("admin", "ImportKeyMaterial", request(bad.clone()))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::ValidationException, "{bad}: {e}");
    }
    assert_eq!(h.describe(&key)["KeyState"], "PendingImport");
    // The furthest allowed, with fractional seconds, as SDKs send timestamps.
    h.ok(
        "admin",
        "ImportKeyMaterial",
        request(json!({"ValidTo": (START + 365 * 86_400) as f64 - 0.5})),
    );
    let md = h.describe(&key);
    assert_eq!(md["ExpirationModel"], "KEY_MATERIAL_EXPIRES");
    assert_eq!(md["ValidTo"], START + 365 * 86_400);
    // New material for a key that has material is not supported.
    h.err(
        "admin",
        "ImportKeyMaterial",
        request(json!({"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "ImportType": "NEW_KEY_MATERIAL"})),
        ErrorKind::UnsupportedOperationException,
    );
}

#[test]
fn get_parameters_for_import_rejects_what_aws_rejects() {
    let h = Harness::new();
    let key = external_key(&h);
    let ok = json!({"KeyId": key, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"});
    let with = |k: &str, v: Value| {
        let mut x = ok.clone();
        if v.is_null() {
            x.as_object_mut().unwrap().remove(k);
        } else {
            x[k] = v;
        }
        x
    };
    for (input, kind) in [
        (
            with("WrappingAlgorithm", json!("AES")),
            ErrorKind::ValidationException,
        ),
        (
            with("WrappingAlgorithm", Value::Null),
            ErrorKind::ValidationException,
        ),
        (
            with("WrappingAlgorithm", json!("RSAES_PKCS1_V1_5")),
            ErrorKind::UnsupportedOperationException,
        ),
        (
            with("WrappingKeySpec", json!("RSA_1024")),
            ErrorKind::ValidationException,
        ),
        (
            with("WrappingKeySpec", Value::Null),
            ErrorKind::ValidationException,
        ),
        (
            with("WrappingKeySpec", json!("SM2")),
            ErrorKind::UnsupportedOperationException,
        ),
        (
            with("KeyId", json!("1234abcd-12ab-34cd-56ef-1234567890ab")),
            ErrorKind::NotFoundException,
        ),
        (with("KeyId", Value::Null), ErrorKind::ValidationException),
    ] {
        let e = h
            .call("admin", "GetParametersForImport", input.clone())
            .unwrap_err();
        assert_eq!(e.kind, kind, "{input}: {e}");
    }
    // Only keys for imported material.
    let aws_kms = h.symmetric_key();
    h.err(
        "admin",
        "GetParametersForImport",
        with("KeyId", json!(aws_kms)),
        ErrorKind::UnsupportedOperationException,
    );
    h.err(
        "alice",
        "GetParametersForImport",
        ok.clone(),
        ErrorKind::AccessDeniedException,
    );
    let h = h.with_key_state(&key, "PendingDeletion");
    h.err(
        "admin",
        "GetParametersForImport",
        ok.clone(),
        ErrorKind::KMSInvalidStateException,
    );
}

#[test]
fn import_key_material_rejects_what_aws_rejects() {
    let h = Harness::new();
    let key = external_key(&h);
    let p = params(&h, &key, "RSAES_OAEP_SHA_256", "RSA_2048");
    let encrypted = b64(&oaep(&p.public_key, true, &random(32)));
    let full = json!({"KeyId": key, "ImportToken": p.token, "EncryptedKeyMaterial": encrypted,
                      "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"});
    for missing in ["ImportToken", "EncryptedKeyMaterial", "KeyId"] {
        let mut input = full.clone();
        input.as_object_mut().unwrap().remove(missing);
        let e = h.call("admin", "ImportKeyMaterial", input).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ValidationException, "{missing}: {e}");
    }
    let aws_kms = h.symmetric_key();
    let mut input = full.clone();
    input["KeyId"] = json!(aws_kms);
    h.err(
        "admin",
        "ImportKeyMaterial",
        input,
        ErrorKind::UnsupportedOperationException,
    );
    h.err(
        "alice",
        "ImportKeyMaterial",
        full.clone(),
        ErrorKind::AccessDeniedException,
    );
    let h = h.with_key_state(&key, "PendingDeletion");
    h.err(
        "admin",
        "ImportKeyMaterial",
        full,
        ErrorKind::KMSInvalidStateException,
    );
}

#[test]
fn delete_imported_key_material_rejects_what_aws_rejects() {
    let h = Harness::new();
    let aws_kms = h.symmetric_key();
    h.err(
        "admin",
        "DeleteImportedKeyMaterial",
        json!({"KeyId": aws_kms}),
        ErrorKind::UnsupportedOperationException,
    );
    h.err(
        "admin",
        "DeleteImportedKeyMaterial",
        json!({"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
        ErrorKind::NotFoundException,
    );
    h.err(
        "admin",
        "DeleteImportedKeyMaterial",
        json!({}),
        ErrorKind::ValidationException,
    );
    // On a key that has no material it changes nothing.
    let key = external_key(&h);
    h.ok("admin", "DeleteImportedKeyMaterial", json!({"KeyId": key}));
    assert_eq!(h.describe(&key)["KeyState"], "PendingImport");
    import_symmetric(&h, &key, &random(32));
    h.err(
        "alice",
        "DeleteImportedKeyMaterial",
        json!({"KeyId": key}),
        ErrorKind::AccessDeniedException,
    );
    assert_eq!(h.describe(&key)["KeyState"], "Enabled");
    // A key pending deletion keeps that state.
    let h = h.with_key_state(&key, "PendingDeletion");
    h.ok("admin", "DeleteImportedKeyMaterial", json!({"KeyId": key}));
    assert_eq!(h.describe(&key)["KeyState"], "PendingDeletion");
    assert!(h.store.key(&key).unwrap().unwrap().versions.is_empty());
}

// ----- openssl -----

fn openssl(args: &[&str]) -> String {
    let output = Command::new("openssl").args(args).output().unwrap();
    assert!(
        output.status.success(),
        "openssl {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
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
                let _ = writeln!(
                    std::io::stderr(),
                    "skipping `{name}`: the `openssl` command is not available"
                );
                return None;
            }
        }
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kmsgov-core-import-{}-{name}-{}",
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
        fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}
