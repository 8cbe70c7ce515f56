//! Guardrails (docs/guardrails.md): loading errors name the guardrail, its
//! line and column and the JSON pointer; evaluation errors deny; every
//! guardrail has its own decision-path entry; the input document matches its
//! schema; guardrails never change a decision they do not deny.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation should stop the test"
)]

use kmsgov_authz::{
    compile_guardrails, decide, decide_account_action, decide_action, decide_role_action,
    AccountActionCall, ActionCall, Call, Decision, Environment, Operation, Outcome, RoleActionCall,
    Scenario, Trace, World,
};
use kmsgov_policy::Caller;
use serde_json::{json, Value};

#[path = "../benches/support/workload.rs"]
#[allow(dead_code, unreachable_pub, reason = "shared with the benchmark")]
mod workload;

const ACCOUNT: &str = "111122223333";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/0e5a1c2b-3d4e-4f60-8a9b-0c1d2e3f4a5b";
const ADMIN: &str = "arn:aws:sts::111122223333:assumed-role/Admin/s1";

/// A world where `Admin` may do anything and `Denied` is denied Decrypt by
/// its own policy, with these guardrails.
fn world(guardrails: Value) -> Value {
    json!({
        "accounts": {ACCOUNT: {"organization_id": "o-abc123", "org_paths": ["o-abc123/r-ab12/ou-ab12-11111111/"]}},
        "principals": [
            {"arn": "arn:aws:iam::111122223333:role/Admin", "tags": {"tenant": "red"},
             "policies": [{"Version": "2012-10-17", "Statement": [
                 {"Effect": "Allow", "Action": ["kms:*", "sts:AssumeRole", "iam:PassRole", "kmsgov:*"], "Resource": "*"}]}],
             "trust_policy": {"Version": "2012-10-17", "Statement": [
                 {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/Admin"}, "Action": "sts:AssumeRole", "Resource": "*"}]}},
            {"arn": "arn:aws:iam::111122223333:user/denied",
             "policies": [{"Version": "2012-10-17", "Statement": [
                 {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
                 {"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}]}]}
        ],
        "keys": [{"arn": KEY, "aliases": ["alias/app"], "tags": {"env": "prod"}}],
        "guardrails": guardrails,
        "tests": []
    })
}

fn load(guardrails: Value) -> World {
    Scenario::from_value(&world(guardrails)).unwrap().world
}

fn run(world: &World, who: &str, op: Operation, input: Value, env: &Environment<'_>) -> Decision {
    let caller = Caller::parse(who).unwrap();
    let call = Call {
        caller: &caller,
        operation: op,
        input: &input,
        env,
        ciphertext_key: None,
    };
    decide(world, &call, Trace::Full)
}

fn guardrail_entries(d: &Decision) -> Vec<(String, String, String)> {
    d.path
        .iter()
        .filter(|e| e.layer == "guardrail")
        .map(|e| (e.policy.clone(), e.verdict.to_string(), e.note.to_string()))
        .collect()
}

#[test]
fn a_syntax_error_refuses_to_load_with_line_column_and_pointer() {
    let bad = "package g\n\nimport rego.v1\n\ndeny contains msg if {\n  msg := input.x +\n}\n";
    let err = Scenario::from_value(&world(json!([
        {"name": "fine", "rego": "package ok\nimport rego.v1\ndeny contains \"x\" if false\n"},
        {"name": "broken-syntax", "rego": bad}
    ])))
    .unwrap_err();
    assert_eq!(err.pointer, "/guardrails/1/rego");
    assert!(
        err.message
            .contains("guardrail `broken-syntax`, line 6, column"),
        "{}",
        err.message
    );

    let direct = compile_guardrails([("broken-syntax", bad)]).unwrap_err();
    assert_eq!(direct.name, "broken-syntax");
    assert_eq!(direct.line, Some(6));
    assert!(direct.column.is_some());
}

#[test]
fn a_module_without_deny_refuses_to_load() {
    let err = compile_guardrails([("no-deny", "package nodeny\nimport rego.v1\nallow := true\n")])
        .unwrap_err();
    assert_eq!(err.name, "no-deny");
    assert!(
        err.message.contains("data.nodeny has no rule `deny`"),
        "{err}"
    );
}

#[test]
fn scenario_guardrail_entries_are_checked() {
    let dup = Scenario::from_value(&world(json!([
        {"name": "a", "rego": "package a\nimport rego.v1\ndeny contains \"x\" if false\n"},
        {"name": "a", "rego": "package b\nimport rego.v1\ndeny contains \"x\" if false\n"}
    ])))
    .unwrap_err();
    assert_eq!(dup.pointer, "/guardrails/1/name");
    let unknown = Scenario::from_value(&world(json!([
        {"name": "a", "rego": "package a\nimport rego.v1\ndeny contains \"x\" if false\n", "mode": "audit"}
    ])))
    .unwrap_err();
    assert_eq!(unknown.pointer, "/guardrails/0/mode");
}

#[test]
fn rego_v0_deny_rules_load_too() {
    let world = load(json!([
        {"name": "v0", "rego": "package legacy\n\ndeny[msg] {\n  input.operation == \"Encrypt\"\n  msg := \"no Encrypt\"\n}\n"}
    ]));
    let env = Environment::new();
    let d = run(
        &world,
        ADMIN,
        Operation::Encrypt,
        json!({"KeyId": KEY, "Plaintext": "aGk="}),
        &env,
    );
    assert_eq!(d.outcome, Outcome::Deny);
    assert!(
        d.message.ends_with("guardrail policy (v0): no Encrypt"),
        "{}",
        d.message
    );
    let d = run(
        &world,
        ADMIN,
        Operation::DescribeKey,
        json!({"KeyId": KEY}),
        &env,
    );
    assert_eq!(d.outcome, Outcome::Allow);
}

#[test]
fn every_guardrail_has_a_path_entry_and_the_first_denial_speaks() {
    let world = load(json!([
        {"name": "passes", "rego": "package p\nimport rego.v1\ndeny contains \"never\" if input.operation == \"Sign\"\n"},
        {"name": "denies", "rego": "package d\nimport rego.v1\ndeny contains \"first reason\" if true\ndeny contains \"another reason\" if true\n"},
        {"name": "fails", "rego": "package f\nimport rego.v1\ndeny contains \"x\" if to_number(\"seven\") > 1\n"}
    ]));
    let env = Environment::new();
    let d = run(
        &world,
        ADMIN,
        Operation::DescribeKey,
        json!({"KeyId": KEY}),
        &env,
    );
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(
        d.message,
        format!(
            "User: {ADMIN} is not authorized to perform: kms:DescribeKey on resource: {KEY} with an explicit deny in a guardrail policy (denies): another reason; first reason"
        )
    );
    let entries = guardrail_entries(&d);
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert_eq!(
        (entries[0].0.as_str(), entries[0].1.as_str()),
        ("passes", "Pass")
    );
    assert_eq!(
        (
            entries[1].0.as_str(),
            entries[1].1.as_str(),
            entries[1].2.as_str()
        ),
        ("denies", "ExplicitDeny", "another reason; first reason")
    );
    assert_eq!(
        (entries[2].0.as_str(), entries[2].1.as_str()),
        ("fails", "Error")
    );
    // Without a path the same decision is reached.
    let caller = Caller::parse(ADMIN).unwrap();
    let input = json!({"KeyId": KEY});
    let fast = decide(
        &world,
        &Call {
            caller: &caller,
            operation: Operation::DescribeKey,
            input: &input,
            env: &env,
            ciphertext_key: None,
        },
        Trace::Off,
    );
    assert_eq!((fast.outcome, &fast.message), (d.outcome, &d.message));
    assert!(fast.path.is_empty());
}

#[test]
fn a_runtime_error_denies_with_the_error_in_the_path() {
    let world = load(json!([
        {"name": "fails", "rego": "package f\n\nimport rego.v1\n\ndeny contains \"x\" if {\n  to_number(input.operation) > 1\n}\n"}
    ]));
    let env = Environment::new();
    let d = run(
        &world,
        ADMIN,
        Operation::DescribeKey,
        json!({"KeyId": KEY}),
        &env,
    );
    assert_eq!(d.outcome, Outcome::Deny);
    assert!(
        d.message
            .contains("guardrail policy (fails): evaluation failed: line 6, column"),
        "{}",
        d.message
    );
    let entries = guardrail_entries(&d);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].1, "Error");
    assert!(
        entries[0].2.contains("evaluation failed"),
        "{:?}",
        entries[0]
    );
    assert!(entries[0].2.contains("number"), "{:?}", entries[0]);
}

#[test]
fn a_deny_that_is_not_a_set_is_an_error() {
    let world = load(json!([
        {"name": "boolean", "rego": "package b\nimport rego.v1\ndeny := false\n"}
    ]));
    let env = Environment::new();
    let d = run(
        &world,
        ADMIN,
        Operation::DescribeKey,
        json!({"KeyId": KEY}),
        &env,
    );
    assert_eq!(d.outcome, Outcome::Deny);
    assert!(
        d.message.contains("`deny` must be a set of strings"),
        "{}",
        d.message
    );
}

#[test]
fn a_guardrail_never_turns_a_deny_into_an_allow() {
    let allow_all = json!([
        {"name": "tries", "rego": "package t\nimport rego.v1\nallow := true\ndeny := set()\n"}
    ]);
    let with = load(allow_all);
    let without = load(json!([]));
    let env = Environment::new();
    for (who, op, input) in [
        (
            "arn:aws:iam::111122223333:user/denied",
            Operation::Decrypt,
            json!({"KeyId": KEY, "CiphertextBlob": "AAAA"}),
        ),
        (
            "arn:aws:iam::444455556666:user/stranger",
            Operation::Encrypt,
            json!({"KeyId": KEY, "Plaintext": "aGk="}),
        ),
    ] {
        let a = run(&with, who, op, input.clone(), &env);
        let b = run(&without, who, op, input, &env);
        assert_eq!(a.outcome, Outcome::Deny, "{}", a.message);
        assert_eq!((a.outcome, &a.message), (b.outcome, &b.message));
        assert!(guardrail_entries(&a).is_empty(), "{:?}", a.path);
    }
}

#[test]
fn guardrails_apply_to_actions_accounts_and_roles() {
    let world = load(json!([
        {"name": "by-action", "rego": "package a\nimport rego.v1\ndeny contains sprintf(\"%s on %s\", [input.action, input.resource]) if input.operation in {\"Decrypt\", \"GetCheckpoint\", \"AssumeRole\"}\n"}
    ]));
    let caller = Caller::parse(ADMIN).unwrap();
    let env = Environment::new();
    let d = decide_action(
        &world,
        &ActionCall {
            caller: &caller,
            action: "kms:Decrypt",
            key: KEY,
            env: &env,
        },
        Trace::Full,
    );
    assert_eq!(d.outcome, Outcome::Deny);
    assert!(
        d.message
            .ends_with(&format!("(by-action): kms:Decrypt on {KEY}")),
        "{}",
        d.message
    );
    let d = decide_action(
        &world,
        &ActionCall {
            caller: &caller,
            action: "kms:Encrypt",
            key: KEY,
            env: &env,
        },
        Trace::Full,
    );
    assert_eq!(d.outcome, Outcome::Allow, "{}", d.message);
    assert_eq!(guardrail_entries(&d).len(), 1);

    let d = decide_account_action(
        &world,
        &AccountActionCall {
            caller: &caller,
            action: "kmsgov:GetCheckpoint",
            env: &env,
        },
        Trace::Off,
    );
    assert_eq!(d.outcome, Outcome::Deny);
    assert!(
        d.message
            .ends_with("(by-action): kmsgov:GetCheckpoint on *"),
        "{}",
        d.message
    );

    let role = "arn:aws:iam::111122223333:role/Admin";
    let d = decide_role_action(
        &world,
        &RoleActionCall {
            caller: &caller,
            action: "sts:AssumeRole",
            role,
            env: &env,
        },
        Trace::Full,
    );
    assert_eq!(d.outcome, Outcome::Deny, "{}", d.render_text());
    assert!(
        d.message
            .ends_with(&format!("(by-action): sts:AssumeRole on {role}")),
        "{}",
        d.message
    );
    let d = decide_role_action(
        &world,
        &RoleActionCall {
            caller: &caller,
            action: "iam:PassRole",
            role,
            env: &env,
        },
        Trace::Off,
    );
    assert_eq!(d.outcome, Outcome::Allow, "{}", d.message);
}

/// A guardrail that denies with the input document it was given.
fn mirror() -> Value {
    json!([{"name": "mirror", "rego": "package mirror\nimport rego.v1\ndeny contains json.marshal(input) if true\n"}])
}

fn input_document(
    world: &World,
    who: &str,
    op: Operation,
    input: Value,
    env: &Environment<'_>,
) -> Value {
    let d = run(world, who, op, input, env);
    let entries = guardrail_entries(&d);
    assert_eq!(entries.len(), 1, "{}", d.render_text());
    serde_json::from_str(&entries[0].2).unwrap()
}

/// The parts of JSON Schema the input schema uses: type, required,
/// properties, additionalProperties, items, enum, oneOf.
fn validate(schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let actual = match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        if !types.contains(&actual) {
            errors.push(format!("{at}: {actual} is not {types:?}"));
            return;
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum") {
        if !options.contains(v) {
            errors.push(format!("{at}: {v} is not one of {options:?}"));
        }
    }
    if let Some(Value::Array(options)) = schema.get("oneOf") {
        let fits = options
            .iter()
            .filter(|o| {
                let mut e = Vec::new();
                validate(o, v, at, &mut e);
                e.is_empty()
            })
            .count();
        if fits != 1 {
            errors.push(format!("{at}: {v} fits {fits} of oneOf"));
        }
    }
    if let (Some(Value::Object(items)), Value::Array(a)) = (schema.get("items"), v) {
        let items = Value::Object(items.clone());
        for (i, x) in a.iter().enumerate() {
            validate(&items, x, &format!("{at}/{i}"), errors);
        }
    }
    if let Value::Object(obj) = v {
        if let Some(Value::Array(required)) = schema.get("required") {
            for r in required.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    errors.push(format!("{at}: `{r}` is missing"));
                }
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        for (k, x) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate(s, x, &format!("{at}/{k}"), errors),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => errors.push(format!("{at}: `{k}` is not allowed")),
                    Some(s @ Value::Object(_)) => validate(s, x, &format!("{at}/{k}"), errors),
                    _ => {}
                },
            }
        }
    }
}

#[test]
fn the_input_document_matches_its_schema() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/guardrail-input.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let world = load(mirror());
    let mut env = Environment::new();
    env.insert("aws:SourceIp", "203.0.113.7");
    env.insert("kms:ViaService", "s3.us-east-1.amazonaws.com");
    env.insert("aws:CurrentTime", "2026-01-06T10:30:00Z");
    let cases = [
        (
            ADMIN,
            Operation::Decrypt,
            json!({"KeyId": KEY, "CiphertextBlob": "AAAA", "EncryptionContext": {"tenant": "red"}}),
        ),
        (
            ADMIN,
            Operation::CreateKey,
            json!({"Policy": "{\"Statement\": []}", "Tags": [{"TagKey": "team", "TagValue": "a"}]}),
        ),
        (ADMIN, Operation::ListKeys, json!({})),
        (
            ADMIN,
            Operation::CreateAlias,
            json!({"AliasName": "alias/other", "TargetKeyId": KEY}),
        ),
        (ADMIN, Operation::DescribeKey, json!({"KeyId": "alias/app"})),
    ];
    for (who, op, input) in cases {
        let doc = input_document(&world, who, op, input.clone(), &env);
        let mut errors = Vec::new();
        validate(&schema, &doc, "", &mut errors);
        assert!(errors.is_empty(), "{}: {errors:?}\n{doc:#}", op.name());
        assert_eq!(doc["operation"], op.name());
        assert_eq!(doc["action"], format!("kms:{}", op.name()));
        assert_eq!(doc["request"], input);
        assert_eq!(doc["principal"]["arn"], ADMIN);
        assert_eq!(
            doc["principal"]["principal_arn"],
            "arn:aws:iam::111122223333:role/Admin"
        );
        assert_eq!(doc["principal"]["tags"]["tenant"], "red");
        assert_eq!(doc["principal"]["org_id"], "o-abc123");
        assert_eq!(doc["context"]["aws:SourceIp"], "203.0.113.7");
        assert_eq!(
            doc["context"]["kms:ViaService"],
            "s3.us-east-1.amazonaws.com"
        );
        assert_eq!(doc["context"]["aws:CurrentTime"], "2026-01-06T10:30:00Z");
        assert_eq!(doc["context"]["aws:PrincipalTag/tenant"], "red");
    }
    let doc = input_document(
        &world,
        ADMIN,
        Operation::Decrypt,
        json!({"KeyId": KEY, "CiphertextBlob": "AAAA", "EncryptionContext": {"tenant": "red"}}),
        &env,
    );
    assert_eq!(doc["resource"], KEY);
    assert_eq!(doc["key"]["arn"], KEY);
    assert_eq!(doc["key"]["tags"]["env"], "prod");
    assert_eq!(doc["key"]["aliases"], json!(["alias/app"]));
    assert_eq!(doc["key"]["manager"], "CUSTOMER");
    assert_eq!(doc["encryption_context"], json!({"tenant": "red"}));
    assert_eq!(doc["context"]["kms:EncryptionContext:tenant"], "red");
    assert_eq!(
        doc["context"]["kms:EncryptionContextKeys"],
        json!(["tenant"])
    );
    assert_eq!(doc["context"]["aws:ResourceTag/env"], "prod");
    let doc = input_document(&world, ADMIN, Operation::ListKeys, json!({}), &env);
    assert_eq!(doc["resource"], "*");
    assert!(doc.get("key").is_none());
    // The schema itself is checked: a document lacking a required member fails.
    let mut broken = doc.clone();
    broken.as_object_mut().unwrap().remove("context");
    let mut errors = Vec::new();
    validate(&schema, &broken, "", &mut errors);
    assert_eq!(errors, vec![": `context` is missing".to_owned()]);
}

#[test]
fn guardrails_that_pass_change_no_workload_decision() {
    let w = workload::load();
    let mut guarded = w.scenario.world.clone();
    guarded
        .add_guardrails([
            ("never", "package n\nimport rego.v1\ndeny contains \"x\" if input.operation == \"NoSuchOperation\"\n"),
            ("tenant-present", "package t\nimport rego.v1\ndeny contains \"x\" if { not input.principal.arn }\n"),
        ])
        .unwrap();
    assert_eq!(guarded.guardrails.len(), 2);
    for (i, r) in w.requests.iter().enumerate() {
        let plain = w.decide(r, Trace::Full);
        let call = ActionCall {
            caller: &r.caller,
            action: &r.action,
            key: &r.key,
            env: &r.env,
        };
        let with = decide_action(&guarded, &call, Trace::Full);
        assert_eq!(
            (plain.outcome, &plain.message),
            (with.outcome, &with.message),
            "request {i}"
        );
        let extra = with.path.len() - plain.path.len();
        let expected = if plain.outcome == Outcome::Allow {
            2
        } else {
            0
        };
        assert_eq!(extra, expected, "request {i}: {}", with.render_text());
    }
}

#[test]
fn add_guardrails_adds_nothing_when_one_fails() {
    let mut world = load(json!([]));
    let err = world
        .add_guardrails([
            (
                "good",
                "package g\nimport rego.v1\ndeny contains \"x\" if false\n",
            ),
            ("bad", "package b\nimport rego.v1\ndeny contains if {\n"),
        ])
        .unwrap_err();
    assert_eq!(err.name, "bad");
    assert!(world.guardrails.is_empty());
}

#[test]
fn a_guardrail_that_runs_too_long_is_stopped_and_denies() {
    let world = load(json!([
        {"name": "slow", "rego": "package slow\nimport rego.v1\ndeny contains \"big\" if {\n  count([1 | some i in numbers.range(1, 4000); some j in numbers.range(1, 4000); i != j]) > 1\n}\n"}
    ]));
    let env = Environment::new();
    let started = std::time::Instant::now();
    let d = run(
        &world,
        ADMIN,
        Operation::DescribeKey,
        json!({"KeyId": KEY}),
        &env,
    );
    let took = started.elapsed();
    assert_eq!(d.outcome, Outcome::Deny, "{}", d.render_text());
    assert!(
        d.message
            .contains("guardrail policy (slow): evaluation failed"),
        "{}",
        d.message
    );
    assert!(
        took < kmsgov_authz::GUARDRAIL_TIME_LIMIT * 20,
        "stopped only after {took:?}: {}",
        d.message
    );
    assert!(d.message.contains("time"), "{}", d.message);
}

#[test]
fn request_parameter_keys_are_spelled_as_aws_spells_them() {
    let world = load(mirror());
    let env = Environment::new();
    let doc = input_document(
        &world,
        ADMIN,
        Operation::CreateGrant,
        json!({"KeyId": KEY, "GranteePrincipal": "arn:aws:iam::111122223333:role/Admin", "Operations": ["Decrypt", "Encrypt"]}),
        &env,
    );
    let context = doc["context"].as_object().unwrap();
    assert_eq!(
        context["kms:GrantOperations"],
        json!(["Decrypt", "Encrypt"])
    );
    assert_eq!(
        context["kms:GranteePrincipal"],
        "arn:aws:iam::111122223333:role/Admin"
    );
    assert!(
        context.keys().all(|k| k != "kms:grantoperations"),
        "{context:?}"
    );
    assert_eq!(context["kms:CallerAccount"], ACCOUNT);
}

#[test]
fn a_builtin_that_is_not_compiled_in_fails_closed() {
    let world = load(json!([
        {"name": "uses-regex", "rego": "package r\nimport rego.v1\ndeny contains \"x\" if regex.match(\"^Encrypt\", input.operation)\n"}
    ]));
    let env = Environment::new();
    let d = run(
        &world,
        ADMIN,
        Operation::DescribeKey,
        json!({"KeyId": KEY}),
        &env,
    );
    assert_eq!(d.outcome, Outcome::Deny, "{}", d.render_text());
    assert!(
        d.message
            .contains("guardrail policy (uses-regex): evaluation failed: line 3, column"),
        "{}",
        d.message
    );
    assert!(
        d.message.contains("could not find function regex.match"),
        "{}",
        d.message
    );
}

#[test]
fn a_v0_module_with_a_mistake_is_located_by_the_v0_parser() {
    // v0 syntax (no `if`), with an unfinished expression: the v1 parser
    // would only say that `if` is missing.
    let err = compile_guardrails([(
        "legacy",
        "package legacy\n\ndeny[msg] {\n  msg := input.x +\n}\n",
    )])
    .unwrap_err();
    assert!(err.line.is_some() && err.column.is_some(), "{err}");
    assert!(!err.message.contains("keyword is required"), "{err}");
    assert!(err.message.contains("expecting"), "{err}");
}
