//! Every scenario under `scenarios/` passes; malformed scenarios are reported
//! with the JSON pointer of the problem; decision paths are snapshot-tested.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation should stop the test"
)]

use std::path::{Path, PathBuf};

use kmsgov_authz::{decide, Call, Scenario, TestResult, Trace};

fn scenario_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            scenario_files(&e, out);
        } else if e.extension().is_some_and(|x| x == "json") {
            out.push(e);
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

fn load(rel: &str) -> Scenario {
    let text = std::fs::read_to_string(root().join(rel)).unwrap();
    Scenario::parse(&text).unwrap()
}

#[test]
fn every_scenario_passes() {
    let mut files = Vec::new();
    scenario_files(&root(), &mut files);
    assert!(
        files.len() >= 70,
        "expected the spec and rule scenarios, found {}",
        files.len()
    );
    let mut count = 0;
    let mut failures = Vec::new();
    for file in &files {
        let scenario = Scenario::parse(&std::fs::read_to_string(file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for test in &scenario.tests {
            count += 1;
            match scenario.run(test) {
                Ok(TestResult::Pass) => {}
                Ok(TestResult::Fail { actual, message }) => failures.push(format!(
                    "{}: {}: expected {}, got {}: {message}",
                    file.display(),
                    test.name,
                    test.expect.name(),
                    actual.name()
                )),
                Err(e) => failures.push(format!("{}: {e}", file.display())),
            }
        }
    }
    assert!(count >= 600, "only {count} tests");
    assert!(
        failures.is_empty(),
        "{} of {count} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn malformed_scenarios_name_the_json_pointer() {
    let cases = [
        (r#"{"tests": [], "keyz": []}"#, "/keyz", "unknown field"),
        (
            r#"{"tests": [{"principal": "arn:aws:iam::111122223333:user/a", "operation": "Decrypt", "expect": "Allow", "inptu": {}}]}"#,
            "/tests/0/inptu",
            "unknown field",
        ),
        (
            r#"{"tests": [{"principal": "arn:aws:iam::111122223333:user/a", "operation": "Decrypts", "expect": "Allow"}]}"#,
            "/tests/0/operation",
            "not a KMS operation",
        ),
        (
            r#"{"tests": [{"principal": "arn:aws:iam::111122223333:user/a", "operation": "Decrypt", "expect": "Maybe"}]}"#,
            "/tests/0/expect",
            "not Allow",
        ),
        (
            r#"{"tests": [{"principal": "bob", "operation": "Decrypt", "expect": "Allow"}]}"#,
            "/tests/0/principal",
            "not a principal",
        ),
        (
            r#"{"keys": [{"arn": "arn:aws:kms:us-east-1:111122223333:alias/x"}], "tests": []}"#,
            "/keys/0/arn",
            "not a key arn",
        ),
        (
            r#"{"keys": [{"arn": "arn:aws:kms:us-east-1:111122223333:key/k", "policy": {"Statement": [{"Effect": "Alow", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}}], "tests": []}"#,
            "/keys/0/policy/Statement/0/Effect",
            "invalid effect",
        ),
        (
            r#"{"principals": [{"arn": "arn:aws:iam::111122223333:user/a", "policies": [{"Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*", "Condition": {"StringEqualz": {"a:b": "c"}}}]}]}], "tests": []}"#,
            "/principals/0/policies/0/Statement/0/Condition/StringEqualz",
            "unknown condition operator",
        ),
        (
            r#"{"accounts": {"12": {}}, "tests": []}"#,
            "/accounts/12",
            "12-digit",
        ),
        (
            r#"{"grants": [{"key": "arn:aws:kms:us-east-1:111122223333:key/none", "id": "g", "grantee": "arn:aws:iam::111122223333:user/a", "operations": ["Decrypt"]}], "tests": []}"#,
            "/grants/0/key",
            "not in the world",
        ),
        ("{", "", "invalid json"),
        ("[]", "", "expected an object"),
    ];
    for (text, pointer, message) in cases {
        let e = Scenario::parse(text).expect_err(text);
        assert_eq!(e.pointer, pointer, "{text}: {e}");
        assert!(e.message.contains(message), "{text}: {e}");
    }
    // x- fields are allowed anywhere.
    Scenario::parse(r#"{"x-note": 1, "tests": [{"x-a": 2, "principal": "arn:aws:iam::111122223333:user/a", "operation": "ListKeys", "expect": "Deny"}]}"#).unwrap();
}

#[test]
fn a_test_naming_what_the_world_lacks_is_a_scenario_error() {
    let s = Scenario::parse(
        r#"{"accounts": {"111122223333": {}}, "tests": [
            {"principal": "arn:aws:iam::111122223333:user/a", "operation": "Decrypt",
             "input": {"KeyId": "arn:aws:kms:us-east-1:111122223333:key/missing", "CiphertextBlob": "AAAA"}, "expect": "Deny"},
            {"principal": "arn:aws:iam::111122223333:user/a", "operation": "Decrypt",
             "input": {"KeyId": "arn:aws:kms:us-east-1:111122223333:key/missing", "CiphertextBlob": "AAAA"}, "expect": "NotFoundException"},
            {"principal": "arn:aws:iam::111122223333:user/a", "operation": "ListKeys",
             "context": {"aws:SourceVpce": "vpce-nowhere"}, "expect": "Deny"}]}"#,
    )
    .unwrap();
    assert!(s.run(&s.tests[0]).is_err());
    assert_eq!(s.run(&s.tests[1]).unwrap(), TestResult::Pass);
    assert_eq!(s.run(&s.tests[2]).unwrap_err().pointer, "/tests/2/context");
}

/// Renders the decision path of a scenario's test for a snapshot.
fn path_of(rel: &str, test: usize) -> String {
    let s = load(rel);
    let t = &s.tests[test];
    let call = Call {
        caller: &t.principal,
        operation: t.operation,
        input: &t.input,
        env: &t.env,
        ciphertext_key: None,
    };
    let d = decide(&s.world, &call, Trace::Full);
    assert_eq!(d.outcome, t.expect, "{rel} #{test}");
    format!(
        "{} {} ({})\n{}",
        t.principal.arn(),
        t.operation,
        t.name,
        d.render_text()
    )
}

#[test]
fn decision_paths() {
    let cases = [
        (
            "spec/s01-default-policy-iam-allow.json",
            0,
            "s01_delegation_allow",
        ),
        (
            "spec/s03-no-root-statement-iam-admin-ignored.json",
            0,
            "s03_no_resource_policy_allows",
        ),
        (
            "spec/s05-iam-explicit-deny-overrides-key-policy.json",
            0,
            "s05_identity_explicit_deny",
        ),
        (
            "spec/s07-cross-account-no-caller-iam.json",
            0,
            "s07_cross_account_needs_iam",
        ),
        (
            "spec/s13-grant-encryption-context-equals.json",
            0,
            "s13_grant_allows",
        ),
        (
            "spec/s13-grant-encryption-context-equals.json",
            1,
            "s13_grant_constraint_fails",
        ),
        (
            "spec/s17-foranyvalue-empty-encryption-context.json",
            0,
            "s17_foranyvalue_empty_context",
        ),
        ("spec/s21-scp-explicit-deny.json", 0, "s21_scp_deny"),
        (
            "spec/s25-boundary-vs-iam-delegation.json",
            0,
            "s25_boundary_blocks",
        ),
        (
            "spec/s29-star-principal-arn-escapes-boundary.json",
            0,
            "s29_star_with_principal_arn",
        ),
        ("spec/s31-disabled-key.json", 0, "s31_disabled_key"),
        (
            "spec/s33-reencrypt-two-permissions.json",
            0,
            "s33_reencrypt_to_denied",
        ),
        (
            "spec/s37-retire-vs-revoke.json",
            0,
            "s37_retiring_principal",
        ),
        (
            "spec/s19-overly-permissive-ec-condition-rejected.json",
            0,
            "s19_overly_permissive",
        ),
    ];
    for (rel, test, name) in cases {
        insta::assert_snapshot!(name, path_of(rel, test));
    }
}

#[test]
fn decision_path_json_shape() {
    let s = load("spec/s13-grant-encryption-context-equals.json");
    let t = &s.tests[1];
    let call = Call {
        caller: &t.principal,
        operation: t.operation,
        input: &t.input,
        env: &t.env,
        ciphertext_key: None,
    };
    let json = decide(&s.world, &call, Trace::Full).to_json();
    assert_eq!(json["decision"], "Deny");
    assert!(json["reason"]
        .as_str()
        .unwrap()
        .ends_with("because no identity-based policy allows the kms:Decrypt action"));
    let layers: Vec<&str> = json["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["layer"].as_str().unwrap())
        .collect();
    for layer in [
        "key",
        "key policy",
        "identity-based policy",
        "grants",
        "result",
    ] {
        assert!(
            layers.contains(&layer),
            "missing layer {layer} in {layers:?}"
        );
    }
    let key_policy = json["path"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["layer"] == "key policy")
        .unwrap();
    assert_eq!(key_policy["statements"][0]["principal"], "Account");
}
