//! No input makes the engine or the scenario loader panic: arbitrary bytes,
//! mutated scenario files, and random request bodies for every operation.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation should stop the test"
)]

use kmsgov_authz::{decide, Call, Environment, Guardrail, Operation, Scenario, Trace, World};
use kmsgov_policy::Caller;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const WORLD: &str = include_str!("../../../scenarios/spec/s37-retire-vs-revoke.json");

/// Guardrails that read much of the input document: the worked examples.
const GUARDRAIL_SCENARIOS: [&str; 3] = [
    include_str!("../../../scenarios/guardrails/g01-change-window.json"),
    include_str!("../../../scenarios/guardrails/g02-tenant-context.json"),
    include_str!("../../../scenarios/guardrails/g03-no-public-key-policy.json"),
];

/// The robustness world with the example guardrails loaded.
fn guarded_world() -> World {
    let mut world = Scenario::parse(WORLD).unwrap().world;
    for text in GUARDRAIL_SCENARIOS {
        world
            .guardrails
            .extend(Scenario::parse(text).unwrap().world.guardrails);
    }
    world
}

fn guardrail_sources() -> Vec<String> {
    GUARDRAIL_SCENARIOS
        .iter()
        .map(|t| {
            let v: Value = serde_json::from_str(t).unwrap();
            v["guardrails"][0]["rego"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn member_name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "KeyId",
        "Plaintext",
        "CiphertextBlob",
        "EncryptionContext",
        "GrantTokens",
        "DryRun",
        "Operations",
        "GranteePrincipal",
        "RetiringPrincipal",
        "Constraints",
        "GrantId",
        "GrantToken",
        "Policy",
        "PolicyName",
        "BypassPolicyLockoutSafetyCheck",
        "AliasName",
        "TargetKeyId",
        "SourceKeyId",
        "DestinationKeyId",
        "SourceEncryptionContext",
        "DestinationEncryptionContext",
        "KeySpec",
        "KeyUsage",
        "NumberOfBytes",
        "KeyPairSpec",
        "SigningAlgorithm",
        "MessageType",
        "Message",
        "Signature",
        "MacAlgorithm",
        "Mac",
        "Tags",
        "TagKeys",
        "PendingWindowInDays",
        "RotationPeriodInDays",
        "Limit",
        "Marker",
        "Description",
        "EncryptionAlgorithm",
        "Origin",
    ])
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop::sample::select(vec![
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "alias/x",
            "alias/aws/ebs",
            "AAAA",
            "not base64!",
            "default",
            "Decrypt",
            "",
            "RSASSA_PSS_SHA_256",
            "{\"Statement\": []}",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        "\\PC{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[A-Za-z]{1,12}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn body() -> impl Strategy<Value = Value> {
    prop::collection::vec((member_name(), json_value()), 0..8)
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_requests_never_panic(op in 0..Operation::ALL.len(), input in body(), principal in prop::sample::select(vec![
        "arn:aws:iam::111122223333:user/alice",
        "arn:aws:sts::111122223333:assumed-role/App/s1",
        "arn:aws:iam::444455556666:root",
        "ec2.amazonaws.com",
        "anonymous",
    ])) {
        let scenario = Scenario::parse(WORLD).unwrap();
        let caller = Caller::parse(principal).unwrap();
        let env = Environment::new();
        let call = Call { caller: &caller, operation: Operation::ALL[op], input: &input, env: &env, ciphertext_key: None };
        let fast = decide(&scenario.world, &call, Trace::Off);
        let full = decide(&scenario.world, &call, Trace::Full);
        prop_assert_eq!(fast.outcome, full.outcome);
        prop_assert_eq!(fast.message, full.message);
    }

    #[test]
    fn random_requests_with_guardrails_never_panic(op in 0..Operation::ALL.len(), input in body(), principal in prop::sample::select(vec![
        "arn:aws:iam::111122223333:user/alice",
        "arn:aws:sts::111122223333:assumed-role/App/s1",
        "arn:aws:iam::111122223333:root",
        "ec2.amazonaws.com",
    ])) {
        let world = guarded_world();
        let caller = Caller::parse(principal).unwrap();
        let env = Environment::new();
        let call = Call { caller: &caller, operation: Operation::ALL[op], input: &input, env: &env, ciphertext_key: None };
        let fast = decide(&world, &call, Trace::Off);
        let full = decide(&world, &call, Trace::Full);
        prop_assert_eq!(fast.outcome, full.outcome);
        prop_assert_eq!(fast.message, full.message);
    }

    #[test]
    fn mutated_guardrails_never_panic_the_loader(which in 0usize..3, at in 0usize..2_000, byte in 32u8..127, cut in 0usize..64) {
        let sources = guardrail_sources();
        let mut text = sources[which].clone().into_bytes();
        let at = at % text.len();
        text[at] = byte;
        text.truncate(text.len() - cut.min(text.len()));
        if let Ok(source) = String::from_utf8(text) {
            if let Ok(g) = Guardrail::compile("mutated", &source) {
                let mut world = Scenario::parse(WORLD).unwrap().world;
                world.guardrails.push(g);
                let caller = Caller::parse("arn:aws:iam::111122223333:root").unwrap();
                let env = Environment::new();
                let input = json!({});
                let call = Call { caller: &caller, operation: Operation::ListKeys, input: &input, env: &env, ciphertext_key: None };
                let _ = decide(&world, &call, Trace::Full);
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics_the_guardrail_loader(source in "\\PC{0,200}") {
        let _ = Guardrail::compile("arbitrary", &source);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_loader(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = Scenario::parse(text);
        }
    }

    #[test]
    fn mutated_scenarios_never_panic(at in 0usize..10_000, byte in any::<u8>(), cut in 0usize..64) {
        let mut text = WORLD.as_bytes().to_vec();
        let at = at % text.len();
        text[at] = byte;
        text.truncate(text.len() - cut.min(text.len()));
        if let Ok(s) = std::str::from_utf8(&text) {
            if let Ok(scenario) = Scenario::parse(s) {
                for t in &scenario.tests {
                    let _ = scenario.run(t);
                }
            }
        }
    }
}

#[test]
fn non_object_bodies_are_validation_errors() {
    let scenario = Scenario::parse(WORLD).unwrap();
    let caller = Caller::parse("arn:aws:iam::111122223333:user/alice").unwrap();
    let env = Environment::new();
    for input in [json!([]), json!("x"), json!(1)] {
        let call = Call {
            caller: &caller,
            operation: Operation::Encrypt,
            input: &input,
            env: &env,
            ciphertext_key: None,
        };
        assert_eq!(
            decide(&scenario.world, &call, Trace::Full).outcome.name(),
            "ValidationException"
        );
    }
}
