//! Parses arbitrary bytes as a symmetric ciphertext blob. Whatever parses
//! names a valid key reference, and decrypting it under a fixed key (the
//! key of the committed seeds) fails cleanly or returns a plaintext that
//! fits, never panics.

#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use kmsgov_core::ciphertext::{self, MAX_CIPHERTEXT_LEN, MAX_KEY_ID_LEN, MAX_PLAINTEXT_LEN};
use kmsgov_core::crypto::{KeyMaterial, KeySpec};
use libfuzzer_sys::fuzz_target;

fn material() -> &'static KeyMaterial {
    static MATERIAL: OnceLock<KeyMaterial> = OnceLock::new();
    MATERIAL.get_or_init(|| {
        KeyMaterial::from_bytes(KeySpec::SymmetricDefault, &[0x42; 32])
            .expect("32 bytes are symmetric key material")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(header) = ciphertext::parse(data) else {
        return;
    };
    assert!(data.len() <= MAX_CIPHERTEXT_LEN);
    assert!(!header.key_id().is_empty() && header.key_id().len() <= MAX_KEY_ID_LEN);
    assert!(header.key_id().bytes().all(|b| b.is_ascii_graphic()));
    assert!(header.key_version() >= 1);

    if let Ok(plaintext) = ciphertext::decrypt(material(), &header, data, &BTreeMap::new()) {
        assert!(plaintext.len() <= MAX_PLAINTEXT_LEN);
    }
});
