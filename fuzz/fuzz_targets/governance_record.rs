//! Parses arbitrary bytes as a governance record. Whatever parses encodes
//! back to the same bytes (the format has one encoding per record), the
//! prefix parser agrees, and nothing panics.

#![no_main]

use kmsgov_core::governance::{Chain, Record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = Record::parse(data) {
        assert_eq!(record.encode().unwrap().as_slice(), data);
        let (prefix, used) = Record::parse_prefix(data).unwrap();
        assert_eq!((prefix, used), (record, data.len()));
    }
    // Applying never panics either, whatever the bytes.
    let _ = Chain::new(None, &[]).apply(data);
});
