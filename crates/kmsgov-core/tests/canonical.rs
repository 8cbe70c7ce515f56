//! RFC 8785 canonical JSON against the examples of the RFC, and policy ids
//! that name a policy's content, not its formatting.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use kmsgov_core::canonical::{canonicalize, policy_id};
use serde_json::Value;

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// RFC 8785 §3.2.2: whitespace, literals, numbers and string escapes.
#[test]
fn the_rfc_example_of_values() {
    let input = r#"{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }"#;
    assert_eq!(
        canonicalize(&parse(input)).unwrap(),
        "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"string\":\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}"
    );
}

/// RFC 8785 §3.2.3: members sorted by UTF-16 code units (the emoji, a
/// surrogate pair, sorts before U+FB33).
#[test]
fn the_rfc_example_of_sorting() {
    let input = r#"{
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis"
    }"#;
    let canonical = canonicalize(&parse(input)).unwrap();
    let order: Vec<String> = parse(&canonical)
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        order,
        [
            "Carriage Return",
            "One",
            "Control",
            "Latin Small Letter O With Diaeresis",
            "Euro Sign",
            "Emoji: Grinning Face",
            "Hebrew Letter Dalet With Dagesh"
        ]
    );
}

#[test]
fn numbers_a_double_cannot_hold_have_no_canonical_form() {
    assert!(canonicalize(&parse("9007199254740993")).is_err());
    assert!(canonicalize(&parse("-9007199254740993")).is_err());
    assert_eq!(
        canonicalize(&parse("9007199254740992")).unwrap(),
        "9007199254740992"
    );
    assert_eq!(canonicalize(&parse("-0.0")).unwrap(), "0");
}

#[test]
fn a_policy_id_names_the_content_not_the_formatting() {
    let compact = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;
    let spaced = r#"{
        "Statement": [ { "Resource": "*", "Action": "kms:*",
                         "Principal": { "AWS": "arn:aws:iam::111122223333:root" },
                         "Effect": "Allow" } ],
        "Version": "2012-10-17"
    }"#;
    let id = policy_id(&parse(compact)).unwrap();
    assert_eq!(id.len(), 64);
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(policy_id(&parse(spaced)).unwrap(), id);
    let other = compact.replace("kms:*", "kms:Decrypt");
    assert_ne!(policy_id(&parse(&other)).unwrap(), id);
    // The id is over a domain label, not the bare canonical bytes.
    let bare: String = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        canonicalize(&parse(compact)).unwrap().as_bytes(),
    )
    .as_ref()
    .iter()
    .map(|b| format!("{b:02x}"))
    .collect();
    assert_ne!(bare, id);
}

proptest::proptest! {
    /// Every finite double is written so that it reads back as itself.
    #[test]
    fn every_double_reads_back_as_itself(bits in proptest::prelude::any::<u64>()) {
        let f = f64::from_bits(bits);
        proptest::prop_assume!(f.is_finite());
        let text = canonicalize(&Value::from(f)).unwrap();
        let back: f64 = text.parse().unwrap();
        proptest::prop_assert!(back == f || (f == 0.0 && back == 0.0), "{f:e} -> {text}");
        proptest::prop_assert!(!text.contains('E') && !text.ends_with('.'), "{text}");
    }
}
