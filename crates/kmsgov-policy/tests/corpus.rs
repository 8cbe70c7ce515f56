//! Runs the data-driven corpus under `tests/corpus/` (format: its README.md).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation should stop the test"
)]

use std::path::{Path, PathBuf};

use kmsgov_policy::{
    Caller, MapContext, Outcome, ParseOptions, Policy, PolicyKind, PrincipalCheck, Request,
};
use serde_json::{json, Value};

fn corpus_files(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn context_from(values: &[Option<&Value>], key_value: Option<(&str, &Value)>) -> MapContext {
    let mut ctx = MapContext::new();
    let mut put = |k: &str, v: &Value| match v {
        Value::Array(items) => ctx.insert_many(k, items.iter().map(scalar_text)),
        other => ctx.insert(k, scalar_text(other)),
    };
    for extra in values.iter().flatten() {
        for (k, v) in extra.as_object().expect("extra_context is an object") {
            put(k, v);
        }
    }
    if let Some((k, v)) = key_value {
        put(k, v);
    }
    ctx
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn condition_operators() {
    let caller = Caller::parse("arn:aws:iam::111122223333:user/tester").unwrap();
    let mut failures = Vec::new();
    let mut count = 0;
    for file in corpus_files("conditions") {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        for (i, case) in doc["cases"].as_array().expect("cases").iter().enumerate() {
            count += 1;
            let op = case
                .get("operator")
                .or(doc.get("operator"))
                .and_then(Value::as_str)
                .expect("operator");
            let key = case
                .get("key")
                .or(doc.get("key"))
                .and_then(Value::as_str)
                .unwrap_or("test:key");
            let version = case
                .get("version")
                .and_then(Value::as_str)
                .unwrap_or("2012-10-17");
            let policy = json!({"Version": version, "Statement": [{
                "Effect": "Allow", "Action": "test:Act", "Resource": "*",
                "Condition": {op: {key: case["policy"].clone()}}}]});
            let label = format!(
                "{name} case {i} ({}): {op} {key} {} vs {}",
                case.get("note").and_then(Value::as_str).unwrap_or(""),
                case["policy"],
                case.get("context")
                    .map_or("<absent>".to_owned(), Value::to_string)
            );
            let parsed = Policy::from_json(&policy, &ParseOptions::new(PolicyKind::Identity));
            if case.get("invalid").and_then(Value::as_bool) == Some(true) {
                if parsed.is_ok() {
                    failures.push(format!("{label}: expected a parse error"));
                }
                continue;
            }
            let policy = match parsed {
                Ok(p) => p,
                Err(e) => {
                    failures.push(format!("{label}: unexpected parse error {e}"));
                    continue;
                }
            };
            let ctx = context_from(
                &[case.get("extra_context")],
                case.get("context").map(|v| (key, v)),
            );
            let request = Request {
                caller: &caller,
                action: "test:Act",
                resource: "arn:aws:test:us-east-1:111122223333:thing/x",
                context: &ctx,
            };
            let expect = case["expect"].as_bool().expect("expect is a boolean");
            let fast = policy.decide(&request).outcome == Outcome::Allow;
            let full = policy.evaluate(&request);
            if fast != expect {
                failures.push(format!("{label}: expected {expect}, got {fast}"));
            }
            if (full.outcome == Outcome::Allow) != fast {
                failures.push(format!("{label}: decide and evaluate disagree"));
            }
        }
    }
    assert!(count > 0, "no condition cases found");
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn kind(s: &str) -> PolicyKind {
    match s {
        "identity" => PolicyKind::Identity,
        "resource" => PolicyKind::Resource,
        "boundary" => PolicyKind::Boundary,
        "session" => PolicyKind::Session,
        "scp" => PolicyKind::Scp,
        "rcp" => PolicyKind::Rcp,
        "vpc-endpoint" => PolicyKind::VpcEndpoint,
        "trust" => PolicyKind::Trust,
        other => panic!("unknown kind {other}"),
    }
}

#[test]
fn statements() {
    let mut failures = Vec::new();
    let mut count = 0;
    for file in corpus_files("statements") {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let fname = file.file_name().unwrap().to_string_lossy().into_owned();
        for case in doc["cases"].as_array().expect("cases") {
            count += 1;
            let label = format!("{fname}: {}", case["name"].as_str().unwrap_or("?"));
            let options = ParseOptions::new(kind(case["kind"].as_str().unwrap_or("identity")));
            // Parse from text so duplicate members are seen; a policy given as
            // a JSON string is the document's raw text.
            let text = match &case["policy"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let parsed = Policy::parse(&text, &options);
            if let Some(err) = case.get("error") {
                match parsed {
                    Ok(_) => failures.push(format!("{label}: expected error, parsed fine")),
                    Err(errors) => {
                        let pointer = err["pointer"].as_str().unwrap();
                        let contains = err.get("contains").and_then(Value::as_str).unwrap_or("");
                        let hit = errors.iter().any(|e| {
                            e.pointer() == pointer
                                && e.to_string().to_lowercase().contains(contains)
                        });
                        if !hit {
                            failures.push(format!("{label}: expected error at {pointer} containing {contains:?}, got: {errors}"));
                        }
                    }
                }
                continue;
            }
            let policy = match parsed {
                Ok(p) => p,
                Err(e) => {
                    failures.push(format!("{label}: unexpected parse error {e}"));
                    continue;
                }
            };
            let req = &case["request"];
            let caller = Caller::parse(req["principal"].as_str().unwrap()).unwrap();
            let ctx = context_from(&[req.get("context")], None);
            let request = Request {
                caller: &caller,
                action: req["action"].as_str().unwrap(),
                resource: req["resource"].as_str().unwrap_or("*"),
                context: &ctx,
            };
            let verdict = policy.decide(&request);
            let eval = policy.evaluate(&request);
            let expect = case["expect"].as_str().unwrap();
            if verdict.outcome.as_str() != expect {
                failures.push(format!(
                    "{label}: expected {expect}, got {}",
                    verdict.outcome.as_str()
                ));
            }
            if eval.outcome != verdict.outcome {
                failures.push(format!("{label}: decide and evaluate disagree"));
            }
            let statements = policy.statements();
            let labels: Vec<String> = verdict
                .matched
                .iter()
                .filter(|m| {
                    verdict.outcome != Outcome::ExplicitDeny
                        || m.effect == kmsgov_policy::Effect::Deny
                })
                .map(|m| statements[m.index].label(m.index))
                .collect();
            if let Some(want) = case.get("matched") {
                let want: Vec<String> = want
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect();
                if want != labels {
                    failures.push(format!("{label}: matched {labels:?}, expected {want:?}"));
                }
            }
            if let Some(want) = case.get("principal_match").and_then(Value::as_str) {
                let got = verdict
                    .matched
                    .first()
                    .and_then(|m| m.principal)
                    .map(|p| p.as_str());
                if got != Some(want) {
                    failures.push(format!("{label}: principal match {got:?}, expected {want}"));
                }
            }
            // The trace agrees with the fast path statement by statement.
            let traced: Vec<usize> = eval.matched().map(|s| s.index).collect();
            let fast: Vec<usize> = verdict.matched.iter().map(|m| m.index).collect();
            if traced != fast {
                failures.push(format!(
                    "{label}: trace matched {traced:?}, fast path {fast:?}"
                ));
            }
            for st in &eval.statements {
                if st.matched
                    && matches!(
                        st.principal,
                        PrincipalCheck::NotMatched | PrincipalCheck::NotPrincipalExempt
                    )
                {
                    failures.push(format!(
                        "{label}: statement {} matched without its principal",
                        st.index
                    ));
                }
            }
        }
    }
    assert!(count > 0, "no statement cases found");
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
