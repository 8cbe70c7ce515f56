//! Property tests: deny wins, adding a Deny never allows, print/parse round trip,
//! and no input makes the parser panic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation should stop the test"
)]

use kmsgov_policy::{Caller, MapContext, Outcome, ParseOptions, Policy, PolicyKind, Request};
use proptest::prelude::*;
use serde_json::{json, Value};

fn action() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:*",
        "kms:Get*",
        "s3:GetObject",
        "*",
        "kms:?ncrypt",
    ])
}

fn resource() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "*",
        "arn:aws:kms:us-east-1:111122223333:key/*",
        "arn:aws:kms:*:111122223333:key/k1",
        "arn:aws:s3:::bucket/${aws:username}/*",
        "arn:aws:kms:us-east-1:444455556666:key/k2",
    ])
}

fn condition() -> impl Strategy<Value = Value> {
    let string_ops = prop::sample::select(vec![
        "StringEquals",
        "StringNotEquals",
        "StringLike",
        "ForAnyValue:StringEquals",
        "ForAllValues:StringLike",
        "StringEqualsIfExists",
    ]);
    let strings = prop::collection::vec(
        prop::sample::select(vec!["a", "b*", "bob", "${aws:username}", "${aws:x, 'a'}"]),
        1..3,
    );
    let key = prop::sample::select(vec!["test:team", "test:tags", "aws:SecureTransport"]);
    let string_cond =
        (string_ops, key, strings).prop_map(|(op, key, vals)| json!({op: {key: vals}}));
    let typed = prop::sample::select(vec![
        json!({"Bool": {"aws:SecureTransport": "true"}}),
        json!({"Null": {"test:team": true}}),
        json!({"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "::1"]}}),
        json!({"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}),
        json!({"NumericLessThan": {"test:n": 5}}),
        json!({"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}),
    ]);
    prop_oneof![string_cond, typed]
}

fn statement(with_principal: bool) -> impl Strategy<Value = Value> {
    (
        prop::bool::ANY,
        prop::collection::vec(action(), 1..3),
        prop::collection::vec(resource(), 1..3),
        prop::option::of(condition()),
        prop::bool::ANY,
    )
        .prop_map(move |(allow, actions, resources, cond, not_action)| {
            let mut st = json!({"Effect": if allow { "Allow" } else { "Deny" }});
            st[if not_action { "NotAction" } else { "Action" }] = json!(actions);
            st["Resource"] = json!(resources);
            if let Some(c) = cond {
                st["Condition"] = c;
            }
            if with_principal {
                st["Principal"] = json!({"AWS": ["arn:aws:iam::111122223333:root", "arn:aws:iam::111122223333:role/App"]});
            }
            st
        })
}

fn policy_json() -> impl Strategy<Value = Value> {
    (prop::collection::vec(statement(false), 1..5), prop::bool::ANY).prop_map(|(sts, v2012)| {
        json!({"Version": if v2012 { "2012-10-17" } else { "2008-10-17" }, "Statement": sts})
    })
}

fn request_parts() -> impl Strategy<Value = (&'static str, &'static str, MapContext)> {
    (
        action(),
        prop::sample::select(vec![
            "arn:aws:kms:us-east-1:111122223333:key/k1",
            "arn:aws:s3:::bucket/bob/x",
            "*",
        ]),
        prop::option::of(prop::sample::select(vec!["10.1.2.3", "192.0.2.1", "::1"])),
        prop::option::of(prop::sample::select(vec!["a", "bob", "true"])),
        prop::collection::vec(prop::sample::select(vec!["a", "bx", "c"]), 0..3),
    )
        .prop_map(|(action, resource, ip, team, tags)| {
            let action = if action.contains('*') || action.contains('?') {
                "kms:Decrypt"
            } else {
                action
            };
            let mut ctx = MapContext::new();
            ctx.insert("aws:username", "bob");
            if let Some(ip) = ip {
                ctx.insert("aws:SourceIp", ip);
            }
            if let Some(t) = team {
                ctx.insert("test:team", t);
                ctx.insert("aws:SecureTransport", t);
            }
            ctx.insert_many("test:tags", tags);
            ctx.insert("test:n", "3");
            (action, resource, ctx)
        })
}

fn identity() -> ParseOptions {
    ParseOptions::new(PolicyKind::Identity)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn explicit_deny_always_wins(p in policy_json(), (action, resource, ctx) in request_parts()) {
        let policy = Policy::from_json(&p, &identity()).unwrap();
        let caller = Caller::parse("arn:aws:iam::111122223333:user/bob").unwrap();
        let req = Request { caller: &caller, action, resource, context: &ctx };
        let verdict = policy.decide(&req);
        let deny_matched = verdict.matched.iter().any(|m| m.effect == kmsgov_policy::Effect::Deny);
        prop_assert_eq!(deny_matched, verdict.outcome == Outcome::ExplicitDeny);
        prop_assert_eq!(policy.evaluate(&req).outcome, verdict.outcome);
    }

    #[test]
    fn adding_a_deny_never_allows(p in policy_json(), extra in statement(false), (action, resource, ctx) in request_parts()) {
        let mut extra = extra;
        extra["Effect"] = json!("Deny");
        let mut with = p.clone();
        with["Statement"].as_array_mut().unwrap().push(extra);
        let before = Policy::from_json(&p, &identity()).unwrap();
        let after = Policy::from_json(&with, &identity()).unwrap();
        let caller = Caller::parse("arn:aws:iam::111122223333:user/bob").unwrap();
        let req = Request { caller: &caller, action, resource, context: &ctx };
        let (b, a) = (before.decide(&req).outcome, after.decide(&req).outcome);
        if b != Outcome::Allow {
            prop_assert_ne!(a, Outcome::Allow);
        }
        if b == Outcome::ExplicitDeny {
            prop_assert_eq!(a, Outcome::ExplicitDeny);
        }
    }

    #[test]
    fn print_then_parse_is_identity(p in policy_json(), key_policy in prop::collection::vec(statement(true), 1..4)) {
        let policy = Policy::from_json(&p, &identity()).unwrap();
        let again = Policy::parse(&policy.to_string(), &identity()).unwrap();
        prop_assert_eq!(&policy, &again);
        let kp = json!({"Version": "2012-10-17", "Id": "k", "Statement": key_policy});
        let opts = ParseOptions::new(PolicyKind::Resource);
        let policy = Policy::from_json(&kp, &opts).unwrap();
        prop_assert_eq!(&policy, &Policy::parse(&policy.to_string(), &opts).unwrap());
    }

    #[test]
    fn any_bytes_give_a_policy_or_a_typed_error(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for kind in [PolicyKind::Identity, PolicyKind::Resource, PolicyKind::Scp] {
            let _ = Policy::parse_bytes(&bytes, &ParseOptions::new(kind));
        }
    }

    #[test]
    fn mutated_policies_never_panic(p in policy_json(), cut in 0usize..400, byte in any::<u8>(), at in 0usize..400) {
        let mut text = p.to_string().into_bytes();
        let at = at.min(text.len());
        text.insert(at, byte);
        text.truncate(text.len().saturating_sub(cut % 8));
        let opts = ParseOptions::new(PolicyKind::Identity);
        if let Ok(policy) = Policy::parse_bytes(&text, &opts) {
            let caller = Caller::parse("anonymous").unwrap();
            let ctx = MapContext::new();
            let req = Request { caller: &caller, action: "kms:Decrypt", resource: "*", context: &ctx };
            let _ = policy.evaluate(&req);
        }
    }
}

#[test]
fn deeply_nested_input_is_an_error_not_a_crash() {
    let deep = "[".repeat(100_000);
    assert!(Policy::parse(&deep, &identity()).is_err());
    let deep_obj = format!("{{\"Statement\":{}", "{\"a\":".repeat(50_000));
    assert!(Policy::parse(&deep_obj, &identity()).is_err());
}
