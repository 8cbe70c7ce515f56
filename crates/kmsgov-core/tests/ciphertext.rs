//! The symmetric ciphertext format: round trips, tampering, encryption
//! context binding, governance fields and the parser's limits.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::collections::BTreeMap;

use kmsgov_core::ciphertext::{
    self, canonical_encryption_context, CiphertextError, Governance, MAX_CIPHERTEXT_LEN,
    MAX_PLAINTEXT_LEN,
};
use kmsgov_core::crypto::{CryptoError, ErrorCode, KeyMaterial, KeySpec};
use proptest::prelude::*;

const KEY_ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

fn symmetric() -> KeyMaterial {
    KeyMaterial::generate(KeySpec::SymmetricDefault).unwrap()
}

fn context(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

fn governance() -> Governance {
    Governance {
        policy_id: [0x5a; 32],
        governance_size: 42,
    }
}

fn open(
    material: &KeyMaterial,
    blob: &[u8],
    encryption_context: &BTreeMap<String, String>,
) -> Result<Vec<u8>, CryptoError> {
    let header = ciphertext::parse(blob)?;
    ciphertext::decrypt(material, &header, blob, encryption_context)
        .map(|plaintext| plaintext.expose().to_vec())
}

fn invalid(error: CiphertextError) -> Result<Vec<u8>, CryptoError> {
    Err(CryptoError::InvalidCiphertext(error))
}

#[test]
fn round_trip_with_and_without_governance() {
    let material = symmetric();
    let ec = context(&[("Department", "10-A"), ("purpose", "test")]);
    for governance in [None, Some(governance())] {
        for plaintext in [
            &b""[..],
            b"x",
            b"a longer plaintext of several words",
            &[7; MAX_PLAINTEXT_LEN],
        ] {
            let blob =
                ciphertext::encrypt(&material, KEY_ID, 3, plaintext, &ec, governance.as_ref())
                    .unwrap();
            let header = ciphertext::parse(&blob).unwrap();
            assert_eq!(header.key_id(), KEY_ID);
            assert_eq!(header.key_version(), 3);
            assert_eq!(header.governance(), governance.as_ref());
            assert_eq!(open(&material, &blob, &ec).unwrap(), plaintext);
            let overhead = if governance.is_some() { 40 } else { 0 };
            assert_eq!(
                blob.len(),
                45 + KEY_ID.len() + overhead + 32 + 12 + plaintext.len() + 16
            );
        }
    }
}

#[test]
fn the_header_is_laid_out_as_documented() {
    let material = symmetric();
    let blob = ciphertext::encrypt(
        &material,
        "k",
        0x0102_0304,
        b"pt",
        &BTreeMap::new(),
        Some(&governance()),
    )
    .unwrap();
    assert_eq!(&blob[0..4], b"GKMS");
    assert_eq!(blob[4], 0x01, "format version");
    assert_eq!(blob[5], 0x01, "suite");
    assert_eq!(&blob[6..8], &[0x00, 0x08], "flags: governance");
    assert_eq!(blob[8], 1, "key id length");
    assert_eq!(blob[9], b'k');
    assert_eq!(&blob[10..14], &[1, 2, 3, 4], "key version");
    // 14..46 salt
    assert_eq!(&blob[46..78], &[0x5a; 32], "policy id");
    assert_eq!(&blob[78..86], &42u64.to_be_bytes(), "governance size");
    // 86..118 commitment, 118..130 iv, then ciphertext and tag
    assert_eq!(blob.len(), 130 + 2 + 16);
}

#[test]
fn each_encryption_is_fresh() {
    let material = symmetric();
    let ec = BTreeMap::new();
    let a = ciphertext::encrypt(&material, KEY_ID, 1, b"same", &ec, None).unwrap();
    let b = ciphertext::encrypt(&material, KEY_ID, 1, b"same", &ec, None).unwrap();
    assert_ne!(a, b);
    let salt = 9 + KEY_ID.len() + 4;
    assert_ne!(a[salt..salt + 32], b[salt..salt + 32], "salts differ");
}

#[test]
fn flipping_any_bit_of_any_byte_is_rejected() {
    let material = symmetric();
    let ec = context(&[("k", "v")]);
    for governance in [None, Some(governance())] {
        let blob = ciphertext::encrypt(
            &material,
            KEY_ID,
            1,
            b"tamper with me",
            &ec,
            governance.as_ref(),
        )
        .unwrap();
        for index in 0..blob.len() {
            for bit in [0x01, 0x80] {
                let mut tampered = blob.clone();
                tampered[index] ^= bit;
                let error = open(&material, &tampered, &ec).unwrap_err();
                assert_eq!(
                    error.code(),
                    ErrorCode::InvalidCiphertextException,
                    "byte {index} bit {bit:#x}: {error:?}"
                );
            }
        }
    }
}

#[test]
fn header_changes_fail_at_the_commitment_and_body_changes_at_the_tag() {
    let material = symmetric();
    let ec = BTreeMap::new();
    let blob = ciphertext::encrypt(&material, KEY_ID, 1, b"plaintext", &ec, None).unwrap();
    let core_len = 45 + KEY_ID.len();
    // A key id byte that stays printable ASCII, the version, the salt.
    for index in [9, 9 + KEY_ID.len() + 3, 9 + KEY_ID.len() + 4, core_len - 1] {
        let mut tampered = blob.clone();
        tampered[index] ^= 0x02;
        assert_eq!(
            open(&material, &tampered, &ec),
            invalid(CiphertextError::CommitmentMismatch),
            "byte {index}"
        );
    }
    for index in core_len..core_len + 32 {
        let mut tampered = blob.clone();
        tampered[index] ^= 0x01;
        assert_eq!(
            open(&material, &tampered, &ec),
            invalid(CiphertextError::CommitmentMismatch)
        );
    }
    for index in core_len + 32..blob.len() {
        let mut tampered = blob.clone();
        tampered[index] ^= 0x01;
        assert_eq!(
            open(&material, &tampered, &ec),
            invalid(CiphertextError::AuthenticationFailed),
            "byte {index}"
        );
    }
}

#[test]
fn governance_fields_cannot_be_stripped_or_swapped() {
    let material = symmetric();
    let ec = context(&[("tenant", "blue")]);
    let original = governance();
    let blob = ciphertext::encrypt(&material, KEY_ID, 1, b"bound", &ec, Some(&original)).unwrap();
    let governance_at = 45 + KEY_ID.len();

    // Stripped: clear the flag and cut the 40 bytes out.
    let mut stripped = blob.clone();
    stripped[7] &= !0x08;
    stripped.drain(governance_at..governance_at + 40);
    let header = ciphertext::parse(&stripped).unwrap();
    assert_eq!(header.governance(), None);
    assert_eq!(
        open(&material, &stripped, &ec),
        invalid(CiphertextError::CommitmentMismatch)
    );

    // Swapped policy id, and swapped governance size.
    let mut swapped_policy = blob.clone();
    swapped_policy[governance_at..governance_at + 32].copy_from_slice(&[0xa5; 32]);
    let mut swapped_size = blob.clone();
    swapped_size[governance_at + 32..governance_at + 40].copy_from_slice(&43u64.to_be_bytes());
    for swapped in [swapped_policy, swapped_size] {
        assert_ne!(
            ciphertext::parse(&swapped).unwrap().governance(),
            Some(&original)
        );
        assert_eq!(
            open(&material, &swapped, &ec),
            invalid(CiphertextError::CommitmentMismatch)
        );
    }

    // Added to a blob that had none.
    let plain = ciphertext::encrypt(&material, KEY_ID, 1, b"bound", &ec, None).unwrap();
    let mut added = plain.clone();
    added[7] |= 0x08;
    let mut fields = original.policy_id.to_vec();
    fields.extend_from_slice(&original.governance_size.to_be_bytes());
    added.splice(governance_at..governance_at, fields);
    assert_eq!(
        ciphertext::parse(&added).unwrap().governance(),
        Some(&original)
    );
    assert_eq!(
        open(&material, &added, &ec),
        invalid(CiphertextError::CommitmentMismatch)
    );
}

#[test]
fn a_bc_and_ab_c_are_different_encryption_contexts() {
    let a_bc = context(&[("a", "bc")]);
    let ab_c = context(&[("ab", "c")]);
    let a_bc_bytes = canonical_encryption_context(&a_bc).unwrap();
    let ab_c_bytes = canonical_encryption_context(&ab_c).unwrap();
    assert_eq!(a_bc_bytes, [0, 1, 0, 1, b'a', 0, 2, b'b', b'c']);
    assert_eq!(ab_c_bytes, [0, 1, 0, 2, b'a', b'b', 0, 1, b'c']);

    let material = symmetric();
    let blob = ciphertext::encrypt(&material, KEY_ID, 1, b"pt", &a_bc, None).unwrap();
    assert_eq!(open(&material, &blob, &a_bc).unwrap(), b"pt");
    assert_eq!(
        open(&material, &blob, &ab_c),
        invalid(CiphertextError::CommitmentMismatch)
    );
    let blob = ciphertext::encrypt(&material, KEY_ID, 1, b"pt", &ab_c, None).unwrap();
    assert_eq!(
        open(&material, &blob, &a_bc),
        invalid(CiphertextError::CommitmentMismatch)
    );

    // Other concatenation ambiguities: moving bytes between entries.
    let pairs = context(&[("a", ""), ("b", "c")]);
    let merged = context(&[("a", "b"), ("c", "")]);
    assert_ne!(
        canonical_encryption_context(&pairs).unwrap(),
        canonical_encryption_context(&merged).unwrap()
    );
}

#[test]
fn the_encryption_context_must_match_exactly() {
    let material = symmetric();
    let ec = context(&[("Department", "10-A"), ("purpose", "test")]);
    let blob = ciphertext::encrypt(&material, KEY_ID, 1, b"pt", &ec, None).unwrap();
    let wrong = [
        BTreeMap::new(),
        context(&[("Department", "10-A")]),
        context(&[("department", "10-A"), ("purpose", "test")]),
        context(&[("Department", "10-a"), ("purpose", "test")]),
        context(&[("Department", "10-A"), ("purpose", "test"), ("extra", "")]),
    ];
    for wrong in wrong {
        assert_eq!(
            open(&material, &blob, &wrong),
            invalid(CiphertextError::CommitmentMismatch)
        );
    }
    // Insertion order never matters: the map is sorted by key bytes.
    let mut reordered = BTreeMap::new();
    reordered.insert("purpose".to_owned(), "test".to_owned());
    reordered.insert("Department".to_owned(), "10-A".to_owned());
    assert_eq!(open(&material, &blob, &reordered).unwrap(), b"pt");
}

#[test]
fn wrong_key_or_version_fails_at_the_commitment() {
    let material = symmetric();
    let other = symmetric();
    let ec = BTreeMap::new();
    let blob = ciphertext::encrypt(&material, KEY_ID, 2, b"pt", &ec, None).unwrap();
    assert_eq!(
        open(&other, &blob, &ec),
        invalid(CiphertextError::CommitmentMismatch)
    );

    // The same material under another version number is another key.
    let version_1 = ciphertext::encrypt(&material, KEY_ID, 1, b"pt", &ec, None).unwrap();
    let mut relabelled = version_1.clone();
    let version_at = 9 + KEY_ID.len();
    relabelled[version_at..version_at + 4].copy_from_slice(&2u32.to_be_bytes());
    assert_eq!(ciphertext::parse(&relabelled).unwrap().key_version(), 2);
    assert_eq!(
        open(&material, &relabelled, &ec),
        invalid(CiphertextError::CommitmentMismatch)
    );
}

#[test]
fn only_symmetric_keys_encrypt_and_decrypt() {
    let ec = BTreeMap::new();
    let blob = ciphertext::encrypt(&symmetric(), KEY_ID, 1, b"pt", &ec, None).unwrap();
    let header = ciphertext::parse(&blob).unwrap();
    for spec in [KeySpec::Hmac256, KeySpec::EccNistP256] {
        let key = KeyMaterial::generate(spec).unwrap();
        let error = ciphertext::encrypt(&key, KEY_ID, 1, b"pt", &ec, None).unwrap_err();
        assert_eq!(error.code(), ErrorCode::InvalidKeyUsageException);
        let error = ciphertext::decrypt(&key, &header, &blob, &ec).unwrap_err();
        assert_eq!(error.code(), ErrorCode::InvalidKeyUsageException);
    }
}

#[test]
fn decrypt_checks_that_the_header_is_the_blobs() {
    let material = symmetric();
    let ec = BTreeMap::new();
    let a = ciphertext::encrypt(&material, KEY_ID, 1, b"a", &ec, None).unwrap();
    let b = ciphertext::encrypt(&material, KEY_ID, 1, b"b", &ec, None).unwrap();
    let header_a = ciphertext::parse(&a).unwrap();
    assert_eq!(
        ciphertext::decrypt(&material, &header_a, &b, &ec).unwrap_err(),
        CryptoError::InvalidCiphertext(CiphertextError::HeaderMismatch)
    );
}

#[test]
fn encrypt_rejects_what_the_format_cannot_hold() {
    let material = symmetric();
    let ec = BTreeMap::new();
    let error = ciphertext::encrypt(&material, KEY_ID, 1, &[0; MAX_PLAINTEXT_LEN + 1], &ec, None)
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::ValidationException);
    for (key_id, version) in [("", 1), (KEY_ID, 0), ("has space", 1), ("é", 1)] {
        assert_eq!(
            ciphertext::encrypt(&material, key_id, version, b"pt", &ec, None).unwrap_err(),
            CryptoError::InvalidKeyReference
        );
    }
    let long_id = "k".repeat(256);
    assert_eq!(
        ciphertext::encrypt(&material, &long_id, 1, b"pt", &ec, None).unwrap_err(),
        CryptoError::InvalidKeyReference
    );
    let max_id = "k".repeat(255);
    let blob = ciphertext::encrypt(
        &material,
        &max_id,
        1,
        &[0; MAX_PLAINTEXT_LEN],
        &ec,
        Some(&governance()),
    )
    .unwrap();
    assert!(blob.len() <= MAX_CIPHERTEXT_LEN);
    assert_eq!(ciphertext::parse(&blob).unwrap().key_id(), max_id);

    let huge = context(&[("k", &"v".repeat(65_536))]);
    assert_eq!(
        ciphertext::encrypt(&material, KEY_ID, 1, b"pt", &huge, None).unwrap_err(),
        CryptoError::InvalidEncryptionContext
    );
}

#[test]
fn parse_rejects_every_truncation() {
    let material = symmetric();
    let blob = ciphertext::encrypt(
        &material,
        KEY_ID,
        1,
        b"",
        &BTreeMap::new(),
        Some(&governance()),
    )
    .unwrap();
    for len in 0..blob.len() {
        assert_eq!(
            ciphertext::parse(&blob[..len]).unwrap_err(),
            CiphertextError::Truncated,
            "length {len}"
        );
    }
    ciphertext::parse(&blob).unwrap();
}

#[test]
fn parse_rejects_foreign_and_future_blobs() {
    let material = symmetric();
    let blob = ciphertext::encrypt(&material, KEY_ID, 1, b"pt", &BTreeMap::new(), None).unwrap();
    let with = |index: usize, value: u8| {
        let mut changed = blob.clone();
        changed[index] = value;
        ciphertext::parse(&changed).unwrap_err()
    };
    assert_eq!(with(0, b'X'), CiphertextError::BadMagic);
    assert_eq!(with(4, 0x02), CiphertextError::UnsupportedVersion(2));
    assert_eq!(with(4, 0x00), CiphertextError::UnsupportedVersion(0));
    assert_eq!(with(5, 0x02), CiphertextError::UnsupportedSuite(2));
    assert_eq!(with(7, 0x01), CiphertextError::UnsupportedFlags(0x0001));
    assert_eq!(with(6, 0x80), CiphertextError::UnsupportedFlags(0x8000));
    assert_eq!(with(8, 0), CiphertextError::InvalidKeyId);
    assert_eq!(with(9, b' '), CiphertextError::InvalidKeyId);
    let version_at = 9 + KEY_ID.len();
    let mut zero_version = blob.clone();
    zero_version[version_at..version_at + 4].copy_from_slice(&[0; 4]);
    assert_eq!(
        ciphertext::parse(&zero_version).unwrap_err(),
        CiphertextError::InvalidKeyVersion
    );

    let mut oversized = blob.clone();
    oversized.resize(MAX_CIPHERTEXT_LEN + 1, 0);
    assert_eq!(
        ciphertext::parse(&oversized).unwrap_err(),
        CiphertextError::TooLarge
    );
    let mut long_body = blob.clone();
    long_body.resize(blob.len() + MAX_PLAINTEXT_LEN, 0);
    assert_eq!(
        ciphertext::parse(&long_body).unwrap_err(),
        CiphertextError::TooLarge
    );

    assert_eq!(
        CryptoError::from(CiphertextError::BadMagic).to_string(),
        "invalid ciphertext: ciphertext is not a kmsgov ciphertext"
    );
}

fn encryption_context() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map(".{0,12}", ".{0,24}", 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..7000)) {
        let _ = ciphertext::parse(&bytes);
    }

    #[test]
    fn parse_never_panics_on_near_valid_blobs(
        plaintext in proptest::collection::vec(any::<u8>(), 0..64),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let material = KeyMaterial::from_bytes(KeySpec::SymmetricDefault, &[1; 32]).unwrap();
        let ec = BTreeMap::new();
        let governance = governance();
        let mut blob =
            ciphertext::encrypt(&material, KEY_ID, 1, &plaintext, &ec, Some(&governance)).unwrap();
        for (index, value) in edits {
            let index = index.index(blob.len());
            blob[index] = value;
        }
        blob.truncate(cut.index(blob.len() + 1));
        if let Ok(header) = ciphertext::parse(&blob) {
            let _ = ciphertext::decrypt(&material, &header, &blob, &ec);
        }
    }

    #[test]
    fn encrypt_decrypt_round_trips(
        plaintext in proptest::collection::vec(any::<u8>(), 0..=MAX_PLAINTEXT_LEN),
        ec in encryption_context(),
        other in encryption_context(),
        version in 1u32..,
        with_governance in any::<bool>(),
    ) {
        let material = KeyMaterial::from_bytes(KeySpec::SymmetricDefault, &[9; 32]).unwrap();
        let governance = with_governance.then(governance);
        let blob =
            ciphertext::encrypt(&material, KEY_ID, version, &plaintext, &ec, governance.as_ref())
                .unwrap();
        let header = ciphertext::parse(&blob).unwrap();
        prop_assert_eq!(header.key_version(), version);
        let decrypted = ciphertext::decrypt(&material, &header, &blob, &ec).unwrap();
        prop_assert_eq!(decrypted.expose(), &plaintext[..]);
        if other != ec {
            prop_assert_eq!(
                ciphertext::decrypt(&material, &header, &blob, &other).unwrap_err(),
                CryptoError::InvalidCiphertext(CiphertextError::CommitmentMismatch)
            );
        }
    }

    #[test]
    fn different_contexts_have_different_encodings(
        a in encryption_context(),
        b in encryption_context(),
    ) {
        let encoded_a = canonical_encryption_context(&a).unwrap();
        let encoded_b = canonical_encryption_context(&b).unwrap();
        prop_assert_eq!(a == b, encoded_a == encoded_b);
    }
}
