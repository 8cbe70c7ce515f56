//! Compiled guardrails decide every request as the interpreter does: the
//! same outcome, message and decision path on the 1,000-request workload
//! and on every test of every scenario, with the worked examples and
//! fragment-covering guardrails loaded (docs/guardrails.md, "Compiled
//! guardrails").

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation should stop the test"
)]

use std::path::{Path, PathBuf};

use kmsgov_authz::{compile_guardrails, Evaluation, Guardrail, Scenario, Trace, World};
use serde_json::Value;

#[path = "../benches/support/workload.rs"]
#[allow(dead_code, unreachable_pub, reason = "shared with the benchmark")]
mod workload;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The worked examples of `scenarios/guardrails/`.
fn examples() -> Vec<Guardrail> {
    let mut out = Vec::new();
    for file in [
        "g01-change-window.json",
        "g02-tenant-context.json",
        "g03-no-public-key-policy.json",
        "g04-fail-closed.json",
    ] {
        let text = std::fs::read_to_string(root().join("scenarios/guardrails").join(file)).unwrap();
        out.extend(Scenario::parse(&text).unwrap().world.guardrails);
    }
    out
}

/// Guardrails that read every member of the input document.
fn readers() -> Vec<Guardrail> {
    compile_guardrails([
        (
            "members",
            r#"package t.members

import rego.v1

deny contains msg if {
	input.principal.type == "AssumedRole"
	input.key.state != "Enabled"
	msg := sprintf("%s on a %s key", [input.operation, input.key.state])
}

deny contains msg if {
	input.context["aws:SourceIp"] == "203.0.113.7"
	msg := sprintf("from %v at %v", [input.context["aws:SourceIp"], input.context["aws:CurrentTime"]])
}

deny contains msg if {
	count(input.principal.tags) > 0
	input.principal.tags.tenant != object.get(input.key.tags, "tenant", input.principal.tags.tenant)
	msg := sprintf("tenant %q, key tenant %q", [input.principal.tags.tenant, input.key.tags.tenant])
}

deny contains msg if {
	input.operation in {"CreateGrant", "CreateAlias", "UpdateAlias"}
	input.resource != input.key.arn
	msg := sprintf("resource %v, request %v", [input.resource, input.request])
}

deny contains msg if {
	input.request.GrantTokens
	msg := sprintf("grant tokens %v for %v", [input.request.GrantTokens, input.principal])
}
"#,
        ),
        (
            "context",
            r#"package t.context

import rego.v1

deny contains msg if {
	input.context["kms:ViaService"]
	not endswith(input.context["kms:ViaService"], ".amazonaws.com")
	msg := sprintf("via %v", [input.context])
}

deny contains msg if {
	t := input.principal.tags.tenant
	e := input.encryption_context.tenant
	msg := sprintf("tag %v, context %v", [t, e])
}

deny contains msg if {
	input.operation != "DescribeKey"
	v := input.context["aws:PrincipalTag/tenant"]
	msg := sprintf("aws:PrincipalTag/tenant=%v", [v])
}

deny contains msg if {
	input.operation != "DescribeKey"
	v := input.context["aws:principaltag/tenant"]
	msg := sprintf("aws:principaltag/tenant=%v", [v])
}

deny contains msg if {
	input.operation != "DescribeKey"
	v := input.context["kms:CallerAccount"]
	msg := sprintf("kms:CallerAccount=%v", [v])
}

deny contains msg if {
	input.operation != "DescribeKey"
	v := input.context["aws:PrincipalArn"]
	msg := sprintf("aws:PrincipalArn=%v", [v])
}

deny contains msg if {
	input.operation != "DescribeKey"
	v := input.context["aws:PrincipalAccount"]
	msg := sprintf("aws:PrincipalAccount=%v", [v])
}

deny contains msg if {
	input.operation != "DescribeKey"
	v := input.context["kms:ViaService"]
	msg := sprintf("kms:ViaService=%v", [v])
}

deny contains msg if {
	input.operation != "DescribeKey"
	v := input.context["aws:CurrentTime"]
	msg := sprintf("aws:CurrentTime=%v", [v])
}

deny contains msg if {
	input.operation != "DescribeKey"
	v := input.context["kms:EncryptionContext:tenant"]
	msg := sprintf("kms:EncryptionContext:tenant=%v", [v])
}

deny contains msg if {
	input.operation != "DescribeKey"
	v := input.context["aws:ResourceTag/env"]
	msg := sprintf("aws:ResourceTag/env=%v", [v])
}

deny contains msg if {
	input.operation != "DescribeKey"
	v := input.context["aws:ResourceTag/tenant"]
	msg := sprintf("aws:ResourceTag/tenant=%v", [v])
}

deny contains msg if {
	input.operation != "DescribeKey"
	v := input.context["kms:GrantOperations"]
	msg := sprintf("kms:GrantOperations=%v", [v])
}

deny contains msg if {
	input.operation != "DescribeKey"
	v := input.context["kms:EncryptionContextKeys"]
	msg := sprintf("kms:EncryptionContextKeys=%v", [v])
}

deny contains msg if {
	input.operation != "DescribeKey"
	v := input.context["aws:SourceIp"]
	msg := sprintf("aws:SourceIp=%v", [v])
}

deny contains msg if {
	input.operation != "DescribeKey"
	v := input.context["kms:KeySpec"]
	msg := sprintf("kms:KeySpec=%v", [v])
}

deny contains msg if {
	input.encryption_context.purpose == "test"
	input.principal.account != input.context["kms:CallerAccount"]
	msg := sprintf("test context %v", [input.encryption_context])
}
"#,
        ),
    ])
    .unwrap()
}

fn all_guardrails() -> Vec<Guardrail> {
    let mut all = examples();
    // The failing example denies every Encrypt: keep it last so the
    // others are evaluated (with a full path every one is anyway).
    let broken = all.iter().position(|g| g.name() == "broken").unwrap();
    let broken = all.remove(broken);
    let readers = readers();
    assert!(readers
        .iter()
        .all(|g| g.evaluation() == Evaluation::Compiled && g.compiled()));
    all.extend(readers);
    all.push(broken);
    all
}

fn interpreted(world: &World) -> World {
    let mut w = world.clone();
    w.guardrails = world
        .guardrails
        .iter()
        .map(Guardrail::interpreted)
        .collect();
    w
}

#[test]
fn the_workload_is_decided_as_by_the_interpreter() {
    let w = workload::load();
    let guardrails = all_guardrails();
    // Each guardrail alone (its verdict is never masked by an earlier
    // one), then all of them together.
    let mut worlds: Vec<World> = guardrails
        .iter()
        .map(|g| {
            let mut world = w.scenario.world.clone();
            world.guardrails = vec![g.clone()];
            world
        })
        .collect();
    let mut together = w.scenario.world.clone();
    together.guardrails = guardrails;
    worlds.push(together);
    let mut denied = 0;
    for world in &worlds {
        let reference = interpreted(world);
        for r in &w.requests {
            for trace in [Trace::Off, Trace::Full] {
                let call = kmsgov_authz::ActionCall {
                    caller: &r.caller,
                    action: &r.action,
                    key: &r.key,
                    env: &r.env,
                };
                let compiled = kmsgov_authz::decide_action(world, &call, trace);
                let expected = kmsgov_authz::decide_action(&reference, &call, trace);
                assert_eq!(compiled, expected, "{}", r.text);
                if compiled.message.contains("guardrail policy") {
                    denied += 1;
                }
            }
        }
    }
    assert!(denied > 100, "only {denied} guardrail denials");
}

fn scenario_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            scenario_files(&e, out);
        } else if e.extension().is_some_and(|x| x == "json") {
            out.push(e);
        }
    }
}

#[test]
fn every_scenario_test_is_decided_as_by_the_interpreter() {
    let mut files = Vec::new();
    scenario_files(&root().join("scenarios"), &mut files);
    // Shared scenarios, when this checkout has them.
    scenario_files(Path::new("/work/shared/scenarios"), &mut files);
    assert!(files.len() >= 70, "found {} scenarios", files.len());
    let extra = all_guardrails();
    let mut count = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let Ok(doc) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        // Scenarios that do not load (malformed on purpose) have nothing
        // to compare.
        let Ok(mut scenario) = Scenario::from_value(&doc) else {
            continue;
        };
        scenario.world.guardrails.extend(extra.iter().cloned());
        let mut reference = scenario.clone();
        reference.world = interpreted(&scenario.world);
        for test in &scenario.tests {
            let compiled = scenario.run(test);
            let expected = reference.run(test);
            assert_eq!(
                format!("{compiled:?}"),
                format!("{expected:?}"),
                "{}: {}",
                file.display(),
                test.name
            );
            count += 1;
        }
    }
    assert!(count > 300, "only {count} tests");
}
