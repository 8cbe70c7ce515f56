//! Verifies arbitrary text as a checkpoint note against a fixed key. Only a
//! note that key signed may pass (none can be forged here), and nothing
//! panics; a note that passes says what the signed body says.

#![no_main]

use std::sync::OnceLock;

use kmsgov_core::audit::{Signer, Verifier};
use libfuzzer_sys::fuzz_target;

fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let signer = Signer::from_seed("kmsgov/audit/fuzz", &[0x24; 32]).expect("a seed");
        Verifier::parse(&signer.verifier_key()).expect("its own key parses")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(checkpoint) = verifier().verify(text) {
        let body = format!("{}\n{}\n", checkpoint.origin, checkpoint.size);
        assert!(text.starts_with(&body));
    }
});
