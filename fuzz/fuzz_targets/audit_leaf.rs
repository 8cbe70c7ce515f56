//! Parses arbitrary bytes as an audit leaf. Whatever parses encodes back to
//! the same bytes (the format has one encoding per leaf), and never panics.

#![no_main]

use kmsgov_core::audit::{Leaf, LEAF_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(leaf) = Leaf::decode(data) {
        assert_eq!(data.len(), LEAF_LEN);
        assert_eq!(leaf.encode().as_slice(), data);
    }
});
