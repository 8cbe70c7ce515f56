//! The compiled form against regorus's interpreter: the same verdict and
//! messages on every input, for the worked examples, the documentation's
//! example and modules written to cover the fragment; and modules outside
//! the fragment still evaluated by the interpreter.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation should stop the test"
)]

use serde_json::{json, Value as Json};

use super::{Evaluation, Outcome};
use crate::guardrail::{Guardrail, Verdict};

fn scenario_guardrails(file: &str) -> Vec<(String, String)> {
    let path = format!(
        "{}/../../scenarios/guardrails/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let doc: Json = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["guardrails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["name"].as_str().unwrap().to_owned(),
                g["rego"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The first Rego example of `docs/guardrails.md`.
fn docs_example() -> (String, String) {
    let path = format!("{}/../../docs/guardrails.md", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let (_, after) = text.split_once("```rego\n").unwrap();
    let (source, _) = after.split_once("```").unwrap();
    ("docs-example".to_owned(), source.to_owned())
}

/// Modules written to cover the fragment: every kind of statement and
/// term, type mismatches, undefined values, builtin errors, v0 syntax.
const FRAGMENT: &[(&str, &str)] = &[
    (
        "comparisons",
        r#"package t.comparisons

import rego.v1

limits := {"max": 10, "names": ["a", "b"]}

deny contains msg if {
	input.request.Size > limits.max
	msg := sprintf("size %v over %d", [input.request.Size, limits.max])
}

deny contains msg if {
	input.principal.type != "AssumedRole"
	msg := sprintf("type %s", [input.principal.type])
}

deny contains msg if {
	input.principal.account <= "1"
	msg := "small account"
}

deny contains msg if {
	input.key.multi_region == false
	input.key.state >= "E"
	input.key.state < input.operation
	msg := concat(",", [input.key.state, input.operation])
}

deny contains msg if {
	input.request.Size == 1.0
	msg := "exactly one"
}
"#,
    ),
    (
        "strings",
        r#"package t.strings

import rego.v1

deny contains msg if {
	startswith(input.action, "kms:Schedule")
	not endswith(input.resource, "-prod")
	msg := sprintf("%s on %q", [input.action, input.resource])
}

deny contains msg if {
	tenant := object.get(input.principal.tags, "tenant", "none")
	not tenant in {"red", "blue"}
	msg := sprintf("tenant %v", [tenant])
}

deny contains msg if {
	count(input.principal.org_paths) == 0
	msg := "no org path"
}

deny contains msg if {
	contains(lower(input.request.KeyId), "alias/")
	upper(input.operation) == "DECRYPT"
	msg := "aliases are not decrypted"
}

deny contains msg if {
	input.context["kms:ViaService"] in ["s3.us-east-1.amazonaws.com", "ec2.us-east-1.amazonaws.com"]
	input.principal.tags.tenant in input.key.tags
	msg := trim_space(sprintf(" via %v ", [input.context["kms:ViaService"]]))
}
"#,
    ),
    (
        "v0",
        r#"package t.v0

deny[msg] {
	input.operation == "Encrypt"
	x := input.encryption_context
	x.tenant != input.principal.tags.tenant
	msg := "tenant mismatch"
}

deny[msg] {
	input.operation == "Encrypt"
	msg := "tenant mismatch"
	not input.principal.tags.tenant == "red"
}

deny[msg] {
	input.principal.tags.team
	msg := sprintf("team %v", [input.principal.tags.team])
}
"#,
    ),
    (
        "errors-and-literals",
        r#"package t.errors

import rego.v1

deny contains msg if {
	n := to_number(input.request.Plaintext)
	n > 3
	msg := "big"
}

deny contains msg if {
	arr := [input.operation, input.request.Missing]
	count(arr) > 0
	msg := "never"
}

deny contains msg if {
	o := {"op": input.operation, "t": input.principal.tags}
	o.t.tenant == "blue"
	msg := sprintf("%v", [o])
}

deny contains msg if {
	ns := time.parse_rfc3339_ns(input.context["aws:CurrentTime"])
	time.weekday(ns) == "Monday"
	msg := "no changes on Mondays"
}

deny contains msg if {
	startswith(input.request.KeyId, "1")
	msg := "size as text"
}
"#,
    ),
    (
        "helpers-and-destructuring",
        r#"package t.helpers

import rego.v1

deny contains msg if {
	not allowed_region
	msg := sprintf("region %v", [input.key.region])
}

allowed_region if input.key.region == "us-east-1"

allowed_region if {
	startswith(input.key.region, "eu-")
	input.principal.tags.tenant == "red"
}

deny contains msg if {
	[first, _, third] := split(input.resource, ":")
	first != "arn"
	msg := sprintf("%s resource (%s)", [third, first])
}

deny contains msg if {
	[h, m, _] := time.clock(time.parse_rfc3339_ns(input.context["aws:CurrentTime"]))
	h == 10
	m >= 30
	in_window
	msg := "late morning"
}

in_window if {
	now := time.parse_rfc3339_ns(input.context["aws:CurrentTime"])
	time.weekday(now) in {"Monday", "Tuesday"}
}

in_window if to_number(input.request.Plaintext) > 5
"#,
    ),
    (
        "non-string-messages",
        r#"package t.messages

import rego.v1

deny contains input.request.Size if {
	input.operation == "Sign"
}

deny contains msg if {
	input.operation == "Sign"
	msg := "signing"
}
"#,
    ),
];

/// Modules with statements outside the fragment: a guard, then the
/// interpreter; or the interpreter only.
const OUTSIDE: &[(&str, &str, Evaluation)] = &[
    (
        "guard-then-loop",
        r#"package t.mixed

import rego.v1

deny contains msg if {
	input.operation == "CreateGrant"
	some op in input.request.Operations
	op == "Decrypt"
	msg := "no decrypt grants"
}

deny contains msg if {
	input.principal.type == "IAMUser"
	msg := "no users"
}
"#,
        Evaluation::Guarded,
    ),
    (
        "constant-mentioned-later",
        r#"package t.shadow

import rego.v1

ops := {"Encrypt"}

deny contains msg if {
	input.operation in ops
	some op in input.request.Operations
	op in ops
	msg := sprintf("operation %v", [op])
}
"#,
        Evaluation::Interpreted,
    ),
    (
        "loop-only",
        r#"package t.loops

import rego.v1

deny contains msg if {
	some k, v in input.principal.tags
	v == ""
	msg := sprintf("empty tag %s", [k])
}
"#,
        Evaluation::Interpreted,
    ),
    (
        "helper-with-a-loop",
        r#"package t.helper_loop

import rego.v1

deny contains msg if {
	input.operation == "Decrypt"
	not has_tenant_tag
	msg := "no tenant tag"
}

has_tenant_tag if {
	some k, _ in input.principal.tags
	k == "tenant"
}
"#,
        Evaluation::Guarded,
    ),
];

fn base_documents() -> Vec<Json> {
    let base = json!({
        "principal": {
            "arn": "arn:aws:sts::111122223333:assumed-role/App/s1",
            "principal_arn": "arn:aws:iam::111122223333:role/App",
            "account": "111122223333",
            "type": "AssumedRole",
            "tags": {"tenant": "red"},
            "org_id": "o-abc123",
            "org_paths": ["o-abc123/r-ab12/ou-ab12-11111111/"]
        },
        "action": "kms:Decrypt",
        "operation": "Decrypt",
        "resource": "arn:aws:kms:us-east-1:111122223333:key/k1",
        "key": {
            "arn": "arn:aws:kms:us-east-1:111122223333:key/k1", "id": "k1",
            "account": "111122223333", "region": "us-east-1", "spec": "SYMMETRIC_DEFAULT",
            "usage": "ENCRYPT_DECRYPT", "state": "Enabled", "tags": {"env": "prod", "owner": "red"},
            "aliases": ["alias/app"], "origin": "AWS_KMS", "manager": "CUSTOMER",
            "multi_region": false
        },
        "request": {
            "KeyId": "alias/App", "Plaintext": "7", "Size": 12,
            "EncryptionContext": {"tenant": "red"},
            "Policy": "{\"Statement\": [{\"Sid\": \"Open\", \"Effect\": \"Allow\", \"Principal\": \"*\"}]}",
            "Operations": ["Decrypt", "Encrypt"]
        },
        "encryption_context": {"tenant": "red"},
        "context": {
            "aws:CurrentTime": "2026-01-06T10:30:00Z",
            "kms:ViaService": "s3.us-east-1.amazonaws.com",
            "aws:PrincipalTag/tenant": "red"
        }
    });
    let mut docs = Vec::new();
    for op in [
        "Decrypt",
        "Encrypt",
        "GenerateDataKey",
        "ScheduleKeyDeletion",
        "PutKeyPolicy",
        "CreateKey",
        "CreateGrant",
        "Sign",
    ] {
        for time in [
            "2026-01-06T10:30:00Z",
            "2026-01-06T16:00:00Z",
            "2026-01-05T12:00:00Z",
            "not a time",
        ] {
            let mut d = base.clone();
            d["operation"] = json!(op);
            d["action"] = json!(format!("kms:{op}"));
            d["context"]["aws:CurrentTime"] = json!(time);
            docs.push(d);
        }
    }
    docs
}

/// Paths the modules read, to remove or replace.
const PATHS: &[&[&str]] = &[
    &["action"],
    &["operation"],
    &["resource"],
    &["principal"],
    &["principal", "type"],
    &["principal", "account"],
    &["principal", "tags"],
    &["principal", "tags", "tenant"],
    &["principal", "tags", "team"],
    &["principal", "org_paths"],
    &["key"],
    &["key", "state"],
    &["key", "multi_region"],
    &["key", "tags"],
    &["key", "region"],
    &["request"],
    &["request", "Size"],
    &["request", "Plaintext"],
    &["request", "Policy"],
    &["request", "KeyId"],
    &["request", "Operations"],
    &["encryption_context"],
    &["encryption_context", "tenant"],
    &["context"],
    &["context", "aws:CurrentTime"],
    &["context", "kms:ViaService"],
];

fn replacements() -> Vec<Option<Json>> {
    vec![
        None,
        Some(json!("")),
        Some(json!("red")),
        Some(json!("blue")),
        Some(json!("x")),
        Some(json!(0)),
        Some(json!(1)),
        Some(json!(1.0)),
        Some(json!(-2.5)),
        Some(json!(true)),
        Some(json!(false)),
        Some(json!(null)),
        Some(json!([])),
        Some(json!(["x", "red"])),
        Some(json!({})),
        Some(json!({"tenant": "red", "AWS": "*"})),
        Some(json!("kms:ScheduleKeyDeletion")),
        Some(json!("2026-01-06T11:00:00Z")),
        Some(json!("eu-west-1")),
        Some(json!("arn:aws:kms")),
        Some(json!("x:y:z")),
        Some(json!(
            "{\"Statement\": {\"Effect\": \"Allow\", \"Principal\": {\"AWS\": [\"*\"]}}}"
        )),
    ]
}

fn set_path(doc: &mut Json, path: &[&str], value: Option<Json>) {
    let (last, parents) = path.split_last().unwrap();
    let mut at = doc;
    for p in parents {
        match at.get_mut(*p) {
            Some(next) if next.is_object() => at = next,
            _ => return,
        }
    }
    if let Some(obj) = at.as_object_mut() {
        match value {
            Some(v) => {
                obj.insert((*last).to_owned(), v);
            }
            None => {
                obj.remove(*last);
            }
        }
    }
}

/// The base documents, each with every path removed or replaced in turn,
/// and then with several paths changed at once (a fixed pseudo-random
/// sequence).
fn documents() -> Vec<regorus::Value> {
    let bases = base_documents();
    let values = replacements();
    let mut docs: Vec<Json> = bases.clone();
    for (i, base) in bases.iter().enumerate() {
        for (j, path) in PATHS.iter().enumerate() {
            // Every replacement on a few bases, one on the others.
            for (k, v) in values.iter().enumerate() {
                if i % 8 == j % 8 || (i + j + k) % 16 == 0 {
                    let mut d = base.clone();
                    set_path(&mut d, path, v.clone());
                    docs.push(d);
                }
            }
        }
    }
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize % n
    };
    for _ in 0..600 {
        let mut d = bases[next(bases.len())].clone();
        for _ in 0..(1 + next(4)) {
            let path = PATHS[next(PATHS.len())];
            set_path(&mut d, path, values[next(values.len())].clone());
        }
        docs.push(d);
    }
    docs.push(json!({}));
    docs.push(json!(null));
    docs.iter()
        .map(|d| regorus::Value::from_json_str(&d.to_string()).unwrap())
        .collect()
}

/// Compares the compiled guardrail with the interpreter on every
/// document; returns how many the compiled form decided alone.
fn differential(name: &str, source: &str, docs: &[regorus::Value]) -> usize {
    let compiled = Guardrail::compile(name, source).unwrap();
    let reference = compiled.interpreted();
    assert_eq!(reference.evaluation(), Evaluation::Interpreted);
    let mut decided = 0;
    for doc in docs {
        let expected = reference.evaluate(doc);
        let actual = compiled.evaluate(doc);
        assert_eq!(
            actual,
            expected,
            "{name} on {}",
            doc.to_json_str().unwrap_or_default()
        );
        if let Some(plan) = &compiled.plan {
            match plan.evaluate(doc) {
                Outcome::Pass => {
                    decided += 1;
                    assert_eq!(expected, Verdict::Pass, "{name}");
                }
                Outcome::Deny(messages) => {
                    decided += 1;
                    assert_eq!(expected, Verdict::Deny(messages), "{name}");
                }
                Outcome::Interpret => {}
            }
        }
    }
    decided
}

#[test]
fn the_worked_examples_are_compiled_or_guarded() {
    let mut seen = Vec::new();
    for file in [
        "g01-change-window.json",
        "g02-tenant-context.json",
        "g03-no-public-key-policy.json",
        "g04-fail-closed.json",
    ] {
        for (name, source) in scenario_guardrails(file) {
            let g = Guardrail::compile(&name, &source).unwrap();
            seen.push((name, g.evaluation()));
        }
    }
    let (name, source) = docs_example();
    seen.push((
        name.clone(),
        Guardrail::compile(&name, &source).unwrap().evaluation(),
    ));
    assert_eq!(
        seen,
        [
            ("change-window".to_owned(), Evaluation::Compiled),
            ("tenant-context".to_owned(), Evaluation::Compiled),
            ("no-public-key-policy".to_owned(), Evaluation::Guarded),
            ("broken".to_owned(), Evaluation::Compiled),
            ("tries-to-allow".to_owned(), Evaluation::Interpreted),
            ("docs-example".to_owned(), Evaluation::Compiled),
        ]
    );
}

#[test]
fn the_worked_examples_decide_as_the_interpreter() {
    let docs = documents();
    assert!(docs.len() > 2000, "{} documents", docs.len());
    let mut modules = Vec::new();
    for file in [
        "g01-change-window.json",
        "g02-tenant-context.json",
        "g03-no-public-key-policy.json",
        "g04-fail-closed.json",
    ] {
        modules.extend(scenario_guardrails(file));
    }
    modules.push(docs_example());
    for (name, source) in &modules {
        let decided = differential(name, source, &docs);
        if name != "tries-to-allow" {
            assert!(
                decided > docs.len() / 2,
                "{name}: the compiled form decided only {decided} of {}",
                docs.len()
            );
        }
    }
}

#[test]
fn fragment_modules_decide_as_the_interpreter() {
    let docs = documents();
    for (name, source) in FRAGMENT {
        let g = Guardrail::compile(name, source).unwrap();
        assert_eq!(g.evaluation(), Evaluation::Compiled, "{name}");
        let decided = differential(name, source, &docs);
        assert!(
            decided > docs.len() / 4,
            "{name}: the compiled form decided only {decided} of {}",
            docs.len()
        );
    }
}

#[test]
fn modules_outside_the_fragment_fall_back_to_the_interpreter() {
    let docs = documents();
    for (name, source, evaluation) in OUTSIDE {
        let g = Guardrail::compile(name, source).unwrap();
        assert_eq!(g.evaluation(), *evaluation, "{name}");
        assert!(!g.compiled());
        differential(name, source, &docs);
    }
    // The interpreter gives the verdicts the compiled form leaves to it.
    let doc = |v: Json| regorus::Value::from_json_str(&v.to_string()).unwrap();
    let mixed = Guardrail::compile(OUTSIDE[0].0, OUTSIDE[0].1).unwrap();
    assert_eq!(
        mixed.evaluate(&doc(json!({"operation": "CreateGrant",
            "request": {"Operations": ["Encrypt", "Decrypt"]}}))),
        Verdict::Deny(vec!["no decrypt grants".to_owned()])
    );
    assert_eq!(
        mixed.evaluate(&doc(json!({"operation": "CreateGrant",
            "request": {"Operations": ["Encrypt"]}}))),
        Verdict::Pass
    );
    let loops = Guardrail::compile(OUTSIDE[2].0, OUTSIDE[2].1).unwrap();
    assert_eq!(
        loops.evaluate(&doc(
            json!({"principal": {"tags": {"a": "", "b": "x", "c": ""}}})
        )),
        Verdict::Deny(vec!["empty tag a".to_owned(), "empty tag c".to_owned()])
    );
}

#[test]
fn errors_fail_closed_with_the_interpreters_message() {
    let g = Guardrail::compile(FRAGMENT[3].0, FRAGMENT[3].1).unwrap();
    let doc = |v: Json| regorus::Value::from_json_str(&v.to_string()).unwrap();
    let input = doc(json!({"request": {"Plaintext": "seven"}}));
    assert_eq!(
        g.plan.as_ref().unwrap().evaluate(&input),
        Outcome::Interpret
    );
    match g.evaluate(&input) {
        Verdict::Error(e) => assert!(e.starts_with("line 6, column"), "{e}"),
        v => panic!("{v:?}"),
    }
    let input = doc(json!({"request": {"Plaintext": "7"}}));
    assert_eq!(
        g.plan.as_ref().unwrap().evaluate(&input),
        Outcome::Deny(vec!["big".to_owned()])
    );
}
