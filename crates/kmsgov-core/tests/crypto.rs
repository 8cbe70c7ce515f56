//! Key material and the asymmetric and HMAC operations, checked against
//! themselves; `openssl.rs` checks them against an independent implementation.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use kmsgov_core::crypto::{
    random_bytes, CryptoError, EncryptionAlgorithm, ErrorCode, KeyMaterial, KeySpec, MacAlgorithm,
    MessageType, SigningAlgorithm, MAX_MESSAGE_LEN,
};

fn sha(algorithm: SigningAlgorithm, message: &[u8]) -> Vec<u8> {
    use aws_lc_rs::digest;
    let algorithm = match algorithm.digest_len() {
        32 => &digest::SHA256,
        48 => &digest::SHA384,
        _ => &digest::SHA512,
    };
    digest::digest(algorithm, message).as_ref().to_vec()
}

#[test]
fn key_specs_parse_by_aws_name() {
    for spec in KeySpec::ALL {
        assert_eq!(spec.as_str().parse::<KeySpec>().unwrap(), spec);
    }
    for name in [
        "SM2",
        "ECC_NIST_EDWARDS25519",
        "ML_DSA_44",
        "ML_DSA_65",
        "ML_DSA_87",
    ] {
        let error = name.parse::<KeySpec>().unwrap_err();
        assert_eq!(error, CryptoError::UnsupportedKeySpec(name.to_owned()));
        assert_eq!(error.code(), ErrorCode::UnsupportedOperationException);
        assert_eq!(
            error.to_string(),
            format!("key spec `{name}` is not supported by kmsgov")
        );
    }
    let error = "AES_256".parse::<KeySpec>().unwrap_err();
    assert_eq!(error.code(), ErrorCode::ValidationException);
    assert_eq!(error.to_string(), "`AES_256` is not a key spec");
}

#[test]
fn unsupported_algorithms_are_named() {
    for name in [
        "SM2DSA",
        "ED25519_SHA_512",
        "ED25519_PH_SHA_512",
        "ML_DSA_SHAKE_256",
    ] {
        let error = name.parse::<SigningAlgorithm>().unwrap_err();
        assert_eq!(error.code(), ErrorCode::UnsupportedOperationException);
    }
    let error = "SM2PKE".parse::<EncryptionAlgorithm>().unwrap_err();
    assert_eq!(error.code(), ErrorCode::UnsupportedOperationException);
    let error = "EXTERNAL_MU".parse::<MessageType>().unwrap_err();
    assert_eq!(error.code(), ErrorCode::UnsupportedOperationException);
    for algorithm in SigningAlgorithm::ALL {
        assert_eq!(
            algorithm.as_str().parse::<SigningAlgorithm>().unwrap(),
            algorithm
        );
    }
    for algorithm in EncryptionAlgorithm::ALL {
        assert_eq!(
            algorithm.as_str().parse::<EncryptionAlgorithm>().unwrap(),
            algorithm
        );
    }
    for algorithm in MacAlgorithm::ALL {
        assert_eq!(
            algorithm.as_str().parse::<MacAlgorithm>().unwrap(),
            algorithm
        );
    }
}

#[test]
fn material_has_the_size_of_its_spec_and_survives_storage() {
    for spec in KeySpec::ALL {
        let key = KeyMaterial::generate(spec).unwrap();
        assert_eq!(key.spec(), spec);
        match spec {
            KeySpec::SymmetricDefault => assert_eq!(key.expose_secret().len(), 32),
            KeySpec::Hmac224 => assert_eq!(key.expose_secret().len(), 28),
            KeySpec::Hmac256 => assert_eq!(key.expose_secret().len(), 32),
            KeySpec::Hmac384 => assert_eq!(key.expose_secret().len(), 48),
            KeySpec::Hmac512 => assert_eq!(key.expose_secret().len(), 64),
            _ => assert_eq!(key.expose_secret().first(), Some(&0x30), "PKCS#8 DER"),
        }
        let stored = KeyMaterial::from_bytes(spec, key.expose_secret()).unwrap();
        assert_eq!(stored, key);
        let other = KeyMaterial::generate(spec).unwrap();
        assert_ne!(other, key, "{spec}: two generated keys are equal");
    }
}

#[test]
fn material_that_does_not_fit_its_spec_is_rejected() {
    let p256 = KeyMaterial::generate(KeySpec::EccNistP256).unwrap();
    let rsa = KeyMaterial::generate(KeySpec::Rsa2048).unwrap();
    let cases: [(KeySpec, &[u8]); 7] = [
        (KeySpec::SymmetricDefault, &[0; 31]),
        (KeySpec::SymmetricDefault, &[0; 33]),
        (KeySpec::Hmac256, &[0; 31]),
        (KeySpec::Hmac224, &[0; 65]),
        (KeySpec::EccNistP384, p256.expose_secret()),
        (KeySpec::Rsa3072, rsa.expose_secret()),
        (KeySpec::EccNistP256, rsa.expose_secret()),
    ];
    for (spec, bytes) in cases {
        let error = KeyMaterial::from_bytes(spec, bytes).unwrap_err();
        assert_eq!(error, CryptoError::InvalidKeyMaterial(spec));
    }
    // Imported HMAC keys may be longer than the spec's size, up to 64 bytes.
    KeyMaterial::from_bytes(KeySpec::Hmac224, &[7; 64]).unwrap();
}

#[test]
fn debug_never_shows_secrets() {
    let key = KeyMaterial::from_bytes(KeySpec::SymmetricDefault, &[0xab; 32]).unwrap();
    let debug = format!("{key:?}");
    assert_eq!(
        debug,
        r#"KeyMaterial { spec: SymmetricDefault, secret: "<redacted>" }"#
    );
    let random = random_bytes(16).unwrap();
    assert_eq!(format!("{random:?}"), "SecretBytes(<redacted>)");
    let p256 = KeyMaterial::generate(KeySpec::EccNistP256).unwrap();
    assert_eq!(
        format!("{p256:?}"),
        r#"KeyMaterial { spec: EccNistP256, secret: "<redacted>" }"#
    );
}

#[test]
fn random_bytes_has_kms_limits() {
    assert_eq!(random_bytes(1).unwrap().len(), 1);
    assert_eq!(random_bytes(1024).unwrap().len(), 1024);
    assert_ne!(random_bytes(32).unwrap(), random_bytes(32).unwrap());
    for n in [0, 1025] {
        let error = random_bytes(n).unwrap_err();
        assert_eq!(error.code(), ErrorCode::ValidationException);
    }
}

#[test]
fn every_signing_algorithm_round_trips_raw_and_digest() {
    for spec in KeySpec::ALL {
        let key = KeyMaterial::generate(spec).unwrap();
        for &algorithm in SigningAlgorithm::for_spec(spec) {
            let message = b"the message to sign";
            let raw = key.sign(algorithm, MessageType::Raw, message).unwrap();
            key.verify(algorithm, MessageType::Raw, message, &raw)
                .unwrap();
            // A RAW signature is the signature of the message's digest.
            let digest = sha(algorithm, message);
            key.verify(algorithm, MessageType::Digest, &digest, &raw)
                .unwrap();
            let signed_digest = key.sign(algorithm, MessageType::Digest, &digest).unwrap();
            key.verify(algorithm, MessageType::Raw, message, &signed_digest)
                .unwrap();

            let error = key
                .verify(algorithm, MessageType::Raw, b"another message", &raw)
                .unwrap_err();
            assert_eq!(error, CryptoError::InvalidSignature);
            assert_eq!(error.code(), ErrorCode::KMSInvalidSignatureException);
            let mut flipped = raw.clone();
            let last = flipped.len() - 1;
            flipped[last] ^= 1;
            assert_eq!(
                key.verify(algorithm, MessageType::Raw, message, &flipped),
                Err(CryptoError::InvalidSignature),
                "{spec} {algorithm}"
            );
        }
    }
}

#[test]
fn signatures_have_the_expected_shape() {
    for (spec, len) in [
        (KeySpec::Rsa2048, 256),
        (KeySpec::Rsa3072, 384),
        (KeySpec::Rsa4096, 512),
    ] {
        let key = KeyMaterial::generate(spec).unwrap();
        let signature = key
            .sign(SigningAlgorithm::RsassaPssSha512, MessageType::Raw, b"m")
            .unwrap();
        assert_eq!(signature.len(), len);
    }
    let key = KeyMaterial::generate(KeySpec::EccSecgP256k1).unwrap();
    let signature = key
        .sign(SigningAlgorithm::EcdsaSha256, MessageType::Raw, b"m")
        .unwrap();
    assert_eq!(signature.first(), Some(&0x30), "DER SEQUENCE");
    // PSS is randomized, PKCS#1 v1.5 is deterministic.
    let rsa = KeyMaterial::generate(KeySpec::Rsa2048).unwrap();
    let pss = |m: &[u8]| {
        rsa.sign(SigningAlgorithm::RsassaPssSha256, MessageType::Raw, m)
            .unwrap()
    };
    assert_ne!(pss(b"m"), pss(b"m"));
    let pkcs1 = |m: &[u8]| {
        rsa.sign(SigningAlgorithm::RsassaPkcs1V15Sha256, MessageType::Raw, m)
            .unwrap()
    };
    assert_eq!(pkcs1(b"m"), pkcs1(b"m"));
}

#[test]
fn digest_messages_must_have_the_digest_length() {
    let key = KeyMaterial::generate(KeySpec::EccNistP384).unwrap();
    for len in [0, 32, 47, 49, 64] {
        let error = key
            .sign(
                SigningAlgorithm::EcdsaSha384,
                MessageType::Digest,
                &vec![1; len],
            )
            .unwrap_err();
        assert_eq!(
            error,
            CryptoError::DigestLength {
                expected: 48,
                actual: len
            }
        );
        assert_eq!(error.code(), ErrorCode::ValidationException);
    }
    let error = key
        .sign(
            SigningAlgorithm::EcdsaSha384,
            MessageType::Raw,
            &vec![0; MAX_MESSAGE_LEN + 1],
        )
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::ValidationException);
    key.sign(
        SigningAlgorithm::EcdsaSha384,
        MessageType::Raw,
        &vec![0; MAX_MESSAGE_LEN],
    )
    .unwrap();
}

#[test]
fn algorithms_must_fit_the_key_spec() {
    let p256 = KeyMaterial::generate(KeySpec::EccNistP256).unwrap();
    let error = p256
        .sign(SigningAlgorithm::EcdsaSha384, MessageType::Raw, b"m")
        .unwrap_err();
    assert_eq!(
        error,
        CryptoError::IncompatibleAlgorithm {
            spec: KeySpec::EccNistP256,
            algorithm: "ECDSA_SHA_384"
        }
    );
    assert_eq!(error.code(), ErrorCode::InvalidKeyUsageException);
    assert_eq!(
        error.to_string(),
        "algorithm ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256"
    );
    let error = p256
        .sign(SigningAlgorithm::RsassaPssSha256, MessageType::Raw, b"m")
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::InvalidKeyUsageException);

    let rsa = KeyMaterial::generate(KeySpec::Rsa2048).unwrap();
    let error = rsa
        .sign(SigningAlgorithm::EcdsaSha256, MessageType::Raw, b"m")
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::InvalidKeyUsageException);
    let error = rsa
        .rsa_encrypt(EncryptionAlgorithm::SymmetricDefault, b"m")
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::InvalidKeyUsageException);

    let hmac = KeyMaterial::generate(KeySpec::Hmac256).unwrap();
    let error = hmac
        .generate_mac(MacAlgorithm::HmacSha512, b"m")
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::InvalidKeyUsageException);
}

#[test]
fn operations_the_key_spec_cannot_do_are_wrong_key_usage() {
    let symmetric = KeyMaterial::generate(KeySpec::SymmetricDefault).unwrap();
    let hmac = KeyMaterial::generate(KeySpec::Hmac384).unwrap();
    let p256 = KeyMaterial::generate(KeySpec::EccNistP256).unwrap();
    let k1 = KeyMaterial::generate(KeySpec::EccSecgP256k1).unwrap();
    let rsa = KeyMaterial::generate(KeySpec::Rsa2048).unwrap();
    let peer = p256.public_key_der().unwrap();
    let errors = [
        symmetric
            .sign(SigningAlgorithm::EcdsaSha256, MessageType::Raw, b"m")
            .unwrap_err(),
        hmac.verify(SigningAlgorithm::EcdsaSha256, MessageType::Raw, b"m", b"s")
            .unwrap_err(),
        symmetric
            .generate_mac(MacAlgorithm::HmacSha256, b"m")
            .unwrap_err(),
        p256.verify_mac(MacAlgorithm::HmacSha256, b"m", b"mac")
            .unwrap_err(),
        p256.rsa_encrypt(EncryptionAlgorithm::RsaesOaepSha256, b"m")
            .unwrap_err(),
        hmac.rsa_decrypt(EncryptionAlgorithm::RsaesOaepSha256, b"c")
            .unwrap_err(),
        rsa.derive_shared_secret(&peer).unwrap_err(),
        k1.derive_shared_secret(&peer).unwrap_err(),
        symmetric.derive_shared_secret(&peer).unwrap_err(),
    ];
    for error in errors {
        assert!(
            matches!(error, CryptoError::WrongKeyUsage { .. }),
            "{error:?}"
        );
        assert_eq!(error.code(), ErrorCode::InvalidKeyUsageException);
    }
    assert_eq!(
        symmetric
            .sign(SigningAlgorithm::EcdsaSha256, MessageType::Raw, b"m")
            .unwrap_err()
            .to_string(),
        "a key with key spec SYMMETRIC_DEFAULT cannot be used for Sign"
    );
    for key in [&symmetric, &hmac] {
        let error = key.public_key_der().unwrap_err();
        assert_eq!(error, CryptoError::NoPublicKey(key.spec()));
        assert_eq!(error.code(), ErrorCode::UnsupportedOperationException);
    }
    assert_eq!(
        hmac.public_key_der().unwrap_err().to_string(),
        "key spec HMAC_384 has no public key, so it is not valid for GetPublicKey"
    );
}

#[test]
fn rsa_oaep_round_trips_up_to_the_kms_limits() {
    // KMS's documented maximums: RSA_2048 214/190, RSA_3072 342/318, RSA_4096 470/446.
    let limits = [
        (KeySpec::Rsa2048, 214, 190),
        (KeySpec::Rsa3072, 342, 318),
        (KeySpec::Rsa4096, 470, 446),
    ];
    for (spec, sha1_max, sha256_max) in limits {
        let key = KeyMaterial::generate(spec).unwrap();
        for (algorithm, max) in [
            (EncryptionAlgorithm::RsaesOaepSha1, sha1_max),
            (EncryptionAlgorithm::RsaesOaepSha256, sha256_max),
        ] {
            assert_eq!(algorithm.max_plaintext_len(spec), Some(max));
            let plaintext: Vec<u8> = (0..max).map(|i| i as u8).collect();
            let ciphertext = key.rsa_encrypt(algorithm, &plaintext).unwrap();
            assert_eq!(ciphertext.len(), spec.rsa_bits().unwrap() / 8);
            assert_eq!(
                key.rsa_decrypt(algorithm, &ciphertext).unwrap().expose(),
                plaintext
            );
            // OAEP is randomized.
            assert_ne!(key.rsa_encrypt(algorithm, &plaintext).unwrap(), ciphertext);

            let error = key.rsa_encrypt(algorithm, &vec![0; max + 1]).unwrap_err();
            assert_eq!(
                error,
                CryptoError::InvalidLength {
                    what: "plaintext",
                    min: 1,
                    max,
                    actual: max + 1
                }
            );
            assert_eq!(error.code(), ErrorCode::ValidationException);
        }
    }
}

#[test]
fn rsa_oaep_rejects_wrong_algorithm_key_and_tampering() {
    let key = KeyMaterial::generate(KeySpec::Rsa2048).unwrap();
    let other = KeyMaterial::generate(KeySpec::Rsa2048).unwrap();
    let ciphertext = key
        .rsa_encrypt(EncryptionAlgorithm::RsaesOaepSha256, b"secret")
        .unwrap();
    let mut flipped = ciphertext.clone();
    flipped[17] ^= 0x40;
    let failures = [
        key.rsa_decrypt(EncryptionAlgorithm::RsaesOaepSha1, &ciphertext),
        other.rsa_decrypt(EncryptionAlgorithm::RsaesOaepSha256, &ciphertext),
        key.rsa_decrypt(EncryptionAlgorithm::RsaesOaepSha256, &flipped),
        key.rsa_decrypt(EncryptionAlgorithm::RsaesOaepSha256, &ciphertext[1..]),
        key.rsa_decrypt(EncryptionAlgorithm::RsaesOaepSha256, &[]),
    ];
    for failure in failures {
        let error = failure.unwrap_err();
        assert_eq!(
            error.code(),
            ErrorCode::InvalidCiphertextException,
            "{error:?}"
        );
    }
}

#[test]
fn hmac_round_trips_for_every_size() {
    for spec in [
        KeySpec::Hmac224,
        KeySpec::Hmac256,
        KeySpec::Hmac384,
        KeySpec::Hmac512,
    ] {
        let key = KeyMaterial::generate(spec).unwrap();
        let algorithm = spec.mac_algorithm().unwrap();
        let mac = key.generate_mac(algorithm, b"message").unwrap();
        assert_eq!(mac.len(), algorithm.mac_len());
        key.verify_mac(algorithm, b"message", &mac).unwrap();
        assert_eq!(key.generate_mac(algorithm, b"message").unwrap(), mac);
        for bad in [&mac[..mac.len() - 1], &[0; 64][..], &[][..]] {
            let error = key.verify_mac(algorithm, b"message", bad).unwrap_err();
            assert_eq!(error, CryptoError::InvalidMac);
            assert_eq!(error.code(), ErrorCode::KMSInvalidMacException);
        }
        let error = key.verify_mac(algorithm, b"messagE", &mac).unwrap_err();
        assert_eq!(error, CryptoError::InvalidMac);
        let error = key
            .generate_mac(algorithm, &vec![0; MAX_MESSAGE_LEN + 1])
            .unwrap_err();
        assert_eq!(error.code(), ErrorCode::ValidationException);
    }
}

#[test]
fn hmac_matches_rfc_4231_test_case_2() {
    // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
    // KMS keys are at least the digest size, so the key is imported padded
    // with zeros to 64 bytes, which HMAC treats identically (keys shorter
    // than the block size are zero-padded).
    let mut key_bytes = b"Jefe".to_vec();
    key_bytes.resize(64, 0);
    let key = KeyMaterial::from_bytes(KeySpec::Hmac256, &key_bytes).unwrap();
    let mac = key
        .generate_mac(MacAlgorithm::HmacSha256, b"what do ya want for nothing?")
        .unwrap();
    assert_eq!(
        hex(&mac),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn ecdh_agrees_on_every_nist_curve() {
    for (spec, len) in [
        (KeySpec::EccNistP256, 32),
        (KeySpec::EccNistP384, 48),
        (KeySpec::EccNistP521, 66),
    ] {
        let alice = KeyMaterial::generate(spec).unwrap();
        let bob = KeyMaterial::generate(spec).unwrap();
        let ab = alice
            .derive_shared_secret(&bob.public_key_der().unwrap())
            .unwrap();
        let ba = bob
            .derive_shared_secret(&alice.public_key_der().unwrap())
            .unwrap();
        assert_eq!(ab, ba);
        assert_eq!(ab.len(), len);
    }
}

#[test]
fn ecdh_needs_a_subject_public_key_info_on_the_same_curve() {
    let p256 = KeyMaterial::generate(KeySpec::EccNistP256).unwrap();
    let p384 = KeyMaterial::generate(KeySpec::EccNistP384).unwrap();
    let k1 = KeyMaterial::generate(KeySpec::EccSecgP256k1).unwrap();
    let rsa = KeyMaterial::generate(KeySpec::Rsa2048).unwrap();
    let spki = p256.public_key_der().unwrap();
    // The last 65 bytes of a P-256 SubjectPublicKeyInfo are the bare SEC1 point.
    let bare_point = &spki[spki.len() - 65..];
    assert_eq!(bare_point[0], 0x04);
    let bad_peers = [
        p384.public_key_der().unwrap(),
        k1.public_key_der().unwrap(),
        rsa.public_key_der().unwrap(),
        bare_point.to_vec(),
        spki[..spki.len() - 1].to_vec(),
        Vec::new(),
    ];
    for peer in bad_peers {
        let error = p256.derive_shared_secret(&peer).unwrap_err();
        assert_eq!(error, CryptoError::InvalidPublicKey);
        assert_eq!(error.code(), ErrorCode::ValidationException);
    }
}

#[test]
fn public_keys_are_subject_public_key_infos() {
    // The AlgorithmIdentifier OIDs, DER-encoded.
    let rsa_encryption = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    let ec_public_key = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    let curves: [(KeySpec, &[u8]); 4] = [
        (
            KeySpec::EccNistP256,
            &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
        ),
        (KeySpec::EccNistP384, &[0x2b, 0x81, 0x04, 0x00, 0x22]),
        (KeySpec::EccNistP521, &[0x2b, 0x81, 0x04, 0x00, 0x23]),
        (KeySpec::EccSecgP256k1, &[0x2b, 0x81, 0x04, 0x00, 0x0a]),
    ];
    for (spec, curve) in curves {
        let der = KeyMaterial::generate(spec)
            .unwrap()
            .public_key_der()
            .unwrap();
        assert!(contains(&der, &ec_public_key), "{spec}");
        assert!(contains(&der, curve), "{spec}");
    }
    for spec in [KeySpec::Rsa2048, KeySpec::Rsa3072, KeySpec::Rsa4096] {
        let der = KeyMaterial::generate(spec)
            .unwrap()
            .public_key_der()
            .unwrap();
        assert!(contains(&der, &rsa_encryption), "{spec}");
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn fixed_key(spec: KeySpec) -> &'static KeyMaterial {
    use std::sync::OnceLock;
    static KEYS: OnceLock<Vec<KeyMaterial>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        [KeySpec::EccNistP256, KeySpec::Rsa2048, KeySpec::Hmac384]
            .into_iter()
            .map(|spec| KeyMaterial::generate(spec).unwrap())
            .collect()
    });
    keys.iter().find(|key| key.spec() == spec).unwrap()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    #[test]
    fn signatures_verify_only_their_message(
        message in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..=MAX_MESSAGE_LEN),
        other in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        rsa in proptest::prelude::any::<bool>(),
    ) {
        let (key, algorithm) = if rsa {
            (fixed_key(KeySpec::Rsa2048), SigningAlgorithm::RsassaPssSha256)
        } else {
            (fixed_key(KeySpec::EccNistP256), SigningAlgorithm::EcdsaSha256)
        };
        let signature = key.sign(algorithm, MessageType::Raw, &message).unwrap();
        let verified = key.verify(algorithm, MessageType::Raw, &message, &signature);
        proptest::prop_assert!(verified.is_ok());
        if other != message {
            proptest::prop_assert_eq!(
                key.verify(algorithm, MessageType::Raw, &other, &signature),
                Err(CryptoError::InvalidSignature)
            );
        }
    }

    #[test]
    fn macs_verify_only_unchanged(
        message in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..=MAX_MESSAGE_LEN),
        flip in proptest::prelude::any::<proptest::sample::Index>(),
    ) {
        let key = fixed_key(KeySpec::Hmac384);
        let mac = key.generate_mac(MacAlgorithm::HmacSha384, &message).unwrap();
        proptest::prop_assert!(key.verify_mac(MacAlgorithm::HmacSha384, &message, &mac).is_ok());
        let mut flipped = mac.clone();
        flipped[flip.index(mac.len())] ^= 1;
        proptest::prop_assert_eq!(
            key.verify_mac(MacAlgorithm::HmacSha384, &message, &flipped),
            Err(CryptoError::InvalidMac)
        );
    }

    #[test]
    fn rsa_oaep_round_trips_any_plaintext_within_the_limit(
        plaintext in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..=190),
        sha1 in proptest::prelude::any::<bool>(),
    ) {
        let key = fixed_key(KeySpec::Rsa2048);
        let algorithm = if sha1 {
            EncryptionAlgorithm::RsaesOaepSha1
        } else {
            EncryptionAlgorithm::RsaesOaepSha256
        };
        let ciphertext = key.rsa_encrypt(algorithm, &plaintext).unwrap();
        let decrypted = key.rsa_decrypt(algorithm, &ciphertext).unwrap();
        proptest::prop_assert_eq!(decrypted.expose(), &plaintext[..]);
    }
}
