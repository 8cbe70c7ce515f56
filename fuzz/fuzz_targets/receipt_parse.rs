//! Verifies arbitrary text, and arbitrary bytes as a base64url token, as a
//! use receipt against a fixed key, and inspects them unverified. Nothing
//! panics, and nothing verifies: no token signed by that key can be made
//! here.

#![no_main]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine as _;
use kmsgov_core::receipt::{inspect_unverified, verify, PublicKeyText, ReceiptIssuer, UseCheck};
use libfuzzer_sys::fuzz_target;

fn root() -> &'static PublicKeyText {
    static ROOT: OnceLock<PublicKeyText> = OnceLock::new();
    ROOT.get_or_init(|| {
        ReceiptIssuer::from_seed(&[0x24; 32])
            .expect("an issuer")
            .public_key()
    })
}

fn check(text: &str) {
    let use_check = UseCheck {
        now_unix: 1_780_000_000,
        purpose: "fraud-scoring".into(),
        audience: "svc:scoring".into(),
        hop: 0,
        plaintext: Some(([0; 32], b"plaintext")),
    };
    assert!(verify(text, root(), &use_check).is_err());
    let _ = inspect_unverified(text);
    let _ = PublicKeyText::parse(text);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
    check(&URL_SAFE.encode(data));
});
