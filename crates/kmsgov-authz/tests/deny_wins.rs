//! An explicit Deny always wins: for every scenario test that expects Allow,
//! adding a Deny-everything statement to the layer that governs the call
//! turns it into an explicit deny naming that layer.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation should stop the test"
)]

use std::path::{Path, PathBuf};

use kmsgov_authz::{Operation, Outcome, Scenario, TestResult};
use serde_json::{json, Value};

fn files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["spec", "rules"] {
        let d = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../scenarios")
            .join(dir);
        let mut entries: Vec<PathBuf> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        out.extend(
            entries
                .into_iter()
                .filter(|p| p.extension().is_some_and(|x| x == "json")),
        );
    }
    out
}

/// Operations decided without the key policy (IAM-only, or by the grant).
fn key_policy_decides(op: Operation) -> bool {
    !matches!(
        op,
        Operation::CreateKey
            | Operation::ListKeys
            | Operation::ListAliases
            | Operation::ListRetirableGrants
            | Operation::GenerateRandom
            | Operation::RetireGrant
            | Operation::ConnectCustomKeyStore
            | Operation::CreateCustomKeyStore
            | Operation::DeleteCustomKeyStore
            | Operation::DescribeCustomKeyStores
            | Operation::DisconnectCustomKeyStore
            | Operation::UpdateCustomKeyStore
    )
}

fn deny_all() -> Value {
    json!({"Sid": "DenyEverything", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"})
}

/// Runs every Allow test of `doc` after `mutate`, returning (name, outcome, message).
fn rerun(
    doc: &Value,
    mutate: impl Fn(&mut Value),
) -> Vec<(String, Operation, String, Outcome, String)> {
    let mut changed = doc.clone();
    mutate(&mut changed);
    let original = Scenario::from_value(doc).unwrap();
    let scenario = Scenario::from_value(&changed).unwrap();
    let mut out = Vec::new();
    for (before, after) in original.tests.iter().zip(&scenario.tests) {
        if before.expect != Outcome::Allow {
            continue;
        }
        let (outcome, message) = match scenario.run(after).unwrap() {
            TestResult::Pass => (Outcome::Allow, String::new()),
            TestResult::Fail { actual, message } => (actual, message),
        };
        out.push((
            after.name.clone(),
            after.operation,
            after.principal.arn().to_owned(),
            outcome,
            message,
        ));
    }
    out
}

#[test]
fn a_deny_in_every_key_policy_denies_every_allowed_call() {
    let mut checked = 0;
    for file in files() {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let results = rerun(&doc, |d| {
            for key in d["keys"].as_array_mut().into_iter().flatten() {
                if key.get("policy").is_none() {
                    let account = key["arn"]
                        .as_str()
                        .unwrap()
                        .split(':')
                        .nth(4)
                        .unwrap()
                        .to_owned();
                    key["policy"] =
                        serde_json::from_str(&kmsgov_authz::default_policy_text(&account)).unwrap();
                }
                let statements = &mut key["policy"]["Statement"];
                if statements.is_object() {
                    *statements = json!([statements.clone()]);
                }
                statements.as_array_mut().unwrap().push(deny_all());
            }
        });
        for (name, op, _, outcome, message) in results {
            if key_policy_decides(op) {
                checked += 1;
                assert_eq!(
                    outcome,
                    Outcome::Deny,
                    "{}: {name}: {message}",
                    file.display()
                );
                assert!(
                    message.contains("with an explicit deny in a resource-based policy"),
                    "{}: {name}: {message}",
                    file.display()
                );
            } else {
                assert_eq!(
                    outcome,
                    Outcome::Allow,
                    "{}: {name}: the key policy does not decide {op}",
                    file.display()
                );
            }
        }
    }
    assert!(checked > 100, "only {checked} allowed calls checked");
}

#[test]
fn a_deny_in_the_callers_identity_policies_denies_every_allowed_call() {
    let mut checked = 0;
    for file in files() {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        // The identity entities the world lists: users and roles.
        let listed: Vec<String> = doc["principals"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["arn"].as_str().map(str::to_owned))
            .filter(|a| a.contains(":user/") || a.contains(":role/"))
            .collect();
        let results = rerun(&doc, |d| {
            for p in d["principals"].as_array_mut().into_iter().flatten() {
                let arn = p["arn"].as_str().unwrap_or("").to_owned();
                if arn.contains(":user/") || arn.contains(":role/") {
                    let deny = json!({"Version": "2012-10-17", "Statement": [
                        {"Effect": "Deny", "Action": "*", "Resource": "*"}]});
                    match p.get_mut("policies").and_then(Value::as_array_mut) {
                        Some(list) => list.push(deny),
                        None => p["policies"] = json!([deny]),
                    }
                }
            }
        });
        for (name, _, caller, outcome, message) in results {
            // A session's identity policies are its role's.
            let identity_listed = listed.iter().any(|l| {
                l == &caller
                    || caller
                        .split_once(":assumed-role/")
                        .and_then(|(prefix, rest)| {
                            let role = rest.split('/').next()?;
                            let account = prefix.rsplit(':').next()?;
                            Some(
                                l.starts_with(&format!("arn:aws:iam::{account}:role/"))
                                    && l.ends_with(&format!("/{role}")),
                            )
                        })
                        .unwrap_or(false)
            });
            if identity_listed {
                checked += 1;
                assert_eq!(
                    outcome,
                    Outcome::Deny,
                    "{}: {name}: {message}",
                    file.display()
                );
                assert!(
                    message.contains("with an explicit deny in an identity-based policy"),
                    "{}: {name}: {message}",
                    file.display()
                );
            }
        }
    }
    assert!(checked > 100, "only {checked} allowed calls checked");
}
