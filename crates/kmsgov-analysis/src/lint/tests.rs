use serde_json::json;

use super::{fails, lint_policy, lint_world, render_text, to_json, Role, Severity};

const ROOT: &str = "arn:aws:iam::111122223333:root";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const ADMIN: &str = "arn:aws:iam::111122223333:role/admin";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/k1";

/// (id, pointer) of every finding for a policy given as JSON.
fn found(doc: &serde_json::Value, role: Role) -> Vec<(String, String)> {
    let findings = lint_policy("p.json", &doc.to_string(), role)
        .unwrap_or_else(|e| panic!("lint failed: {e}"));
    findings
        .into_iter()
        .map(|f| (f.id.to_owned(), f.pointer))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// A root delegation statement, so key policies do not trip KG003/KG004.
fn root_statement() -> serde_json::Value {
    json!({"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"})
}

fn key_policy(extra: serde_json::Value) -> serde_json::Value {
    json!({"Version": "2012-10-17", "Statement": [root_statement(), extra]})
}

#[test]
fn clean_policies_have_no_findings() {
    let key = json!({"Version": "2012-10-17", "Statement": [
        root_statement(),
        {"Sid": "Use", "Effect": "Allow", "Principal": {"AWS": ALICE},
         "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
         "Condition": {"StringEquals": {"kms:EncryptionContext:team": "blue"}}},
        {"Sid": "Org", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}}
    ]});
    assert_eq!(found(&key, Role::Key), vec![]);
    let identity = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": KEY,
         "Condition": {"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["team"]},
                       "Null": {"kms:EncryptionContextKeys": "false"}}}
    ]});
    assert_eq!(found(&identity, Role::Identity), vec![]);
}

#[test]
fn kg001_public_principal_without_limiting_condition() {
    let doc = key_policy(
        json!({"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "kms:Decrypt", "Resource": "*"}),
    );
    assert_eq!(
        found(&doc, Role::Key),
        pairs(&[("KG001", "/Statement/1/Principal/AWS/0")])
    );
    // A negated condition, or a `*` pattern, limits nothing.
    let doc = key_policy(
        json!({"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:PrincipalAccount": "444455556666"}}}),
    );
    assert_eq!(
        found(&doc, Role::Key),
        pairs(&[("KG001", "/Statement/1/Principal")])
    );
    // A positive condition on a limiting key does.
    for key in [
        "kms:CallerAccount",
        "aws:SourceVpce",
        "kms:ViaService",
        "aws:PrincipalArn",
    ] {
        let doc = key_policy(
            json!({"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
            "Condition": {"StringEquals": {key: "x"}}}),
        );
        assert_eq!(found(&doc, Role::Key), vec![], "{key}");
    }
    // Trust policies too.
    let trust = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}});
    assert_eq!(
        found(&trust, Role::Trust),
        pairs(&[("KG001", "/Statement/Principal/AWS")])
    );
}

#[test]
fn kg002_full_kms_access_to_non_administrators() {
    let doc = key_policy(
        json!({"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": ["kms:Decrypt", "kms:*"], "Resource": "*"}),
    );
    assert_eq!(
        found(&doc, Role::Key),
        pairs(&[("KG002", "/Statement/1/Action/1")])
    );
    let identity = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": KEY}]});
    assert_eq!(
        found(&identity, Role::Identity),
        pairs(&[("KG002", "/Statement/0/Action")])
    );
}

#[test]
fn kg003_and_kg004_lone_key_policy() {
    let doc = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:Decrypt", "Resource": "*"}]});
    let findings = lint_policy("p.json", &doc.to_string(), Role::Key).unwrap_or_default();
    let got: Vec<(&str, Severity, &str)> = findings
        .iter()
        .map(|f| (f.id, f.severity, f.pointer.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("KG003", Severity::Error, "/Statement"),
            ("KG004", Severity::Info, "/Statement")
        ]
    );
    // An administrator that may PutKeyPolicy avoids the lockout, not the missing delegation.
    let doc = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ADMIN}, "Action": ["kms:Put*", "kms:Describe*"], "Resource": "*"}]});
    assert_eq!(found(&doc, Role::Key), pairs(&[("KG004", "/Statement")]));
}

#[test]
fn kg005_for_all_values_on_context_keys_without_null_check() {
    let doc = key_policy(
        json!({"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:Decrypt", "Resource": "*",
        "Condition": {"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["team", "app"]}}}),
    );
    assert_eq!(
        found(&doc, Role::Key),
        pairs(&[(
            "KG005",
            "/Statement/1/Condition/ForAllValues:StringEquals/kms:EncryptionContextKeys"
        )])
    );
}

#[test]
fn kg006_string_like_star_alone() {
    let doc = key_policy(
        json!({"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:Decrypt", "Resource": "*",
        "Condition": {"StringLike": {"kms:EncryptionContext:aws:s3/arn": "*"}}}),
    );
    assert_eq!(
        found(&doc, Role::Key),
        pairs(&[(
            "KG006",
            "/Statement/1/Condition/StringLike/kms:EncryptionContext:aws:s3~1arn"
        )])
    );
}

#[test]
fn kg007_set_operator_on_single_valued_key() {
    // Key policies reject ForAllValues here at validation; ForAnyValue passes.
    let doc = key_policy(
        json!({"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:Decrypt", "Resource": "*",
        "Condition": {"ForAnyValue:StringEquals": {"kms:EncryptionContext:team": "blue"}}}),
    );
    assert_eq!(
        found(&doc, Role::Key),
        pairs(&[(
            "KG007",
            "/Statement/1/Condition/ForAnyValue:StringEquals/kms:EncryptionContext:team"
        )])
    );
    let identity = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY,
        "Condition": {"ForAllValues:StringEquals": {"kms:CallerAccount": "111122223333"}}}]});
    assert_eq!(
        found(&identity, Role::Identity),
        pairs(&[(
            "KG007",
            "/Statement/0/Condition/ForAllValues:StringEquals/kms:CallerAccount"
        )])
    );
}

#[test]
fn kg008_any_key_for_use_actions_in_identity_policies() {
    let identity = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"},
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": ["arn:aws:kms:*:111122223333:key/*", "*"]},
        {"Effect": "Allow", "Action": "kms:GenerateDataKey*", "Resource": "*",
         "Condition": {"StringEquals": {"aws:ResourceTag/team": "blue"}}}
    ]});
    assert_eq!(
        found(&identity, Role::Identity),
        pairs(&[("KG008", "/Statement/1/Resource/1")])
    );
}

#[test]
fn kg009_not_principal_and_allow_rejected_by_validation() {
    let doc = key_policy(
        json!({"Effect": "Deny", "NotPrincipal": {"AWS": ADMIN}, "Action": "kms:ScheduleKeyDeletion", "Resource": "*"}),
    );
    assert_eq!(
        found(&doc, Role::Key),
        pairs(&[("KG009", "/Statement/1/NotPrincipal")])
    );
    let allow = key_policy(
        json!({"Effect": "Allow", "NotPrincipal": {"AWS": ADMIN}, "Action": "kms:Decrypt", "Resource": "*"}),
    );
    let err = lint_policy("p.json", &allow.to_string(), Role::Key);
    assert!(
        err.as_ref()
            .is_err_and(|e| e.pointer == "/Statement/1/NotPrincipal"),
        "{err:?}"
    );
}

#[test]
fn kg010_not_action_with_allow_in_key_policies() {
    let doc = key_policy(
        json!({"Effect": "Allow", "Principal": {"AWS": ALICE}, "NotAction": ["kms:ScheduleKeyDeletion"], "Resource": "*"}),
    );
    assert_eq!(
        found(&doc, Role::Key),
        pairs(&[("KG010", "/Statement/1/NotAction")])
    );
}

#[test]
fn kg013_allow_shadowed_by_unconditional_deny() {
    let doc = json!({"Version": "2012-10-17", "Statement": [
        root_statement(),
        {"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": ["kms:Decrypt", "kms:ReEncrypt*"], "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:Encrypt", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": ["kms:Decrypt", "kms:ReEncrypt*"], "Resource": "*"}
    ]});
    assert_eq!(found(&doc, Role::Key), pairs(&[("KG013", "/Statement/1")]));
    // A conditional Deny shadows nothing.
    let doc = json!({"Version": "2012-10-17", "Statement": [
        root_statement(),
        {"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:Decrypt", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    ]});
    assert_eq!(found(&doc, Role::Key), vec![]);
}

#[test]
fn kg014_duplicate_statements() {
    let doc = json!({"Version": "2012-10-17", "Statement": [
        root_statement(),
        {"Sid": "A", "Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:Decrypt", "Resource": "*"},
        {"Sid": "B", "Resource": "*", "Action": "kms:Decrypt", "Principal": {"AWS": ALICE}, "Effect": "Allow"}
    ]});
    assert_eq!(found(&doc, Role::Key), pairs(&[("KG014", "/Statement/2")]));
}

#[test]
fn kg015_key_policy_statement_without_kms_actions() {
    let doc = key_policy(
        json!({"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": ["s3:GetObject", "ec2:*"], "Resource": "*"}),
    );
    assert_eq!(
        found(&doc, Role::Key),
        pairs(&[("KG015", "/Statement/1/Action")])
    );
}

#[test]
fn kg016_condition_key_never_in_a_kms_request() {
    let doc = key_policy(
        json!({"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:Decrypt", "Resource": "*",
        "Condition": {"StringEquals": {"s3:prefix": "home/"}, "StringNotEquals": {"ec2:Region": "x"},
                      "StringEqualsIfExists": {"sqs:QueueUrl": "y"}}}),
    );
    assert_eq!(
        found(&doc, Role::Key),
        pairs(&[("KG016", "/Statement/1/Condition/StringEquals/s3:prefix")])
    );
}

fn world(
    keys: serde_json::Value,
    principals: serde_json::Value,
    grants: serde_json::Value,
) -> String {
    json!({"accounts": {"111122223333": {}}, "principals": principals, "keys": keys, "grants": grants, "tests": []})
        .to_string()
}

fn world_found(text: &str) -> Vec<(String, String, String, Severity)> {
    lint_world("w.json", text)
        .unwrap_or_else(|e| panic!("lint failed: {e}"))
        .into_iter()
        .map(|f| (f.id.to_owned(), f.location, f.pointer, f.severity))
        .collect()
}

#[test]
fn world_lockout_is_decided_by_the_engine() {
    // Only alice may use the key; nobody may PutKeyPolicy.
    let locked = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:Decrypt", "Resource": "*"}]});
    let text = world(
        json!([{"arn": KEY, "policy": locked}]),
        json!([{"arn": ALICE}]),
        json!([]),
    );
    assert_eq!(
        world_found(&text),
        vec![(
            "KG003".to_owned(),
            "keys[0].policy".to_owned(),
            "/Statement".to_owned(),
            Severity::Error
        )]
    );
    // The same policy with an admin role that may PutKeyPolicy: no lockout.
    let admin = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:Decrypt", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": ADMIN}, "Action": "kms:PutKeyPolicy", "Resource": "*"}]});
    let text = world(
        json!([{"arn": KEY, "policy": admin}]),
        json!([{"arn": ALICE}, {"arn": ADMIN}]),
        json!([]),
    );
    assert_eq!(world_found(&text), vec![]);
    // An admin statement that the engine rejects (a condition no request meets) is a lockout.
    let conditional = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ADMIN}, "Action": "kms:PutKeyPolicy", "Resource": "*",
         "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}}]});
    let text = world(
        json!([{"arn": KEY, "policy": conditional}]),
        json!([{"arn": ADMIN}]),
        json!([]),
    );
    assert_eq!(
        world_found(&text)
            .iter()
            .map(|f| f.0.as_str())
            .collect::<Vec<_>>(),
        vec!["KG003"]
    );
}

#[test]
fn world_missing_root_delegation_matters_only_when_identity_policies_rely_on_it() {
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ADMIN}, "Action": "kms:*", "Resource": "*"}]});
    let bob_policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY}]});
    let text = world(
        json!([{"arn": KEY, "policy": policy}]),
        json!([{"arn": ADMIN}, {"arn": "arn:aws:iam::111122223333:user/bob", "policies": [bob_policy]}]),
        json!([]),
    );
    assert_eq!(
        world_found(&text),
        vec![
            (
                "KG004".to_owned(),
                "keys[0].policy".to_owned(),
                "/Statement".to_owned(),
                Severity::Warning
            ),
            (
                "KG002".to_owned(),
                "keys[0].policy".to_owned(),
                "/Statement/0/Action".to_owned(),
                Severity::Warning
            ),
        ]
    );
    // Without bob's identity policy the delegation is not missed.
    let text = world(
        json!([{"arn": KEY, "policy": policy}]),
        json!([{"arn": ADMIN}, {"arn": "arn:aws:iam::111122223333:user/bob"}]),
        json!([]),
    );
    assert_eq!(
        world_found(&text)
            .iter()
            .map(|f| f.0.as_str())
            .collect::<Vec<_>>(),
        vec!["KG002"]
    );
}

#[test]
fn world_grants_and_roles() {
    let identity = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]});
    let text = world(
        json!([{"arn": KEY}]),
        json!([{"arn": ALICE, "policies": [identity]}]),
        json!([
            {"key": KEY, "id": "g1", "grantee": ALICE, "operations": ["Decrypt", "CreateGrant"]},
            {"key": KEY, "id": "g2", "grantee": ALICE, "operations": ["Decrypt"],
             "constraints": {"EncryptionContextSubset": {"team": "blue"}}}
        ]),
    );
    assert_eq!(
        world_found(&text),
        vec![
            (
                "KG011".to_owned(),
                "grants[0]".to_owned(),
                "/operations".to_owned(),
                Severity::Warning
            ),
            (
                "KG012".to_owned(),
                "grants[0]".to_owned(),
                "/operations/1".to_owned(),
                Severity::Warning
            ),
            (
                "KG008".to_owned(),
                "principals[0].policies[0]".to_owned(),
                "/Statement/0/Resource".to_owned(),
                Severity::Warning
            ),
        ]
    );
}

#[test]
fn text_and_json_output() {
    let doc = key_policy(
        json!({"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}),
    );
    let findings = lint_policy("p.json", &doc.to_string(), Role::Key).unwrap_or_default();
    assert!(fails(&findings));
    assert_eq!(
        render_text(&findings),
        "p.json:/Statement/1/Principal: error[KG001] Allow with Principal \"*\" and no limiting condition: any AWS principal in any account (fix: name the principals, or add a condition on aws:PrincipalOrgID, aws:PrincipalAccount, kms:CallerAccount, aws:SourceVpce or kms:ViaService)\n1 finding: 1 error, 0 warnings, 0 infos\n"
    );
    assert_eq!(
        to_json(&findings)["findings"][0],
        json!({"id": "KG001", "severity": "error", "file": "p.json", "location": "",
               "pointer": "/Statement/1/Principal",
               "message": "Allow with Principal \"*\" and no limiting condition: any AWS principal in any account",
               "fix": "name the principals, or add a condition on aws:PrincipalOrgID, aws:PrincipalAccount, kms:CallerAccount, aws:SourceVpce or kms:ViaService"})
    );
    assert_eq!(render_text(&[]), "no findings\n");
}

#[test]
fn findings_sort_statement_indexes_numerically() {
    let mut statements = vec![root_statement()];
    for _ in 0..11 {
        statements.push(json!({"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*", "Sid": "x"}));
    }
    let doc = json!({"Version": "2012-10-17", "Statement": statements});
    let got = found(&doc, Role::Key);
    let kg001: Vec<&str> = got
        .iter()
        .filter(|(id, _)| id == "KG001")
        .map(|(_, p)| p.as_str())
        .collect();
    assert_eq!(kg001.first(), Some(&"/Statement/1/Principal"));
    assert_eq!(kg001.last(), Some(&"/Statement/11/Principal"));
    assert_eq!(kg001.len(), 11);
}

#[test]
fn every_rule_is_documented() {
    let docs = include_str!("../../../../docs/lint.md");
    for (id, severity) in super::rules() {
        let heading = format!("## {id} ");
        assert!(
            docs.contains(&heading),
            "{id} has no section in docs/lint.md"
        );
        let line = format!("Severity: {}", severity.name());
        let section = docs
            .split(&heading)
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .unwrap_or("");
        assert!(section.contains(&line), "{id}: docs/lint.md lacks `{line}`");
    }
}

#[test]
fn kg017_full_access_for_another_account_in_a_world() {
    let policy = json!({"Version": "2012-10-17", "Statement": [
        root_statement(),
        {"Effect": "Allow", "Principal": {"AWS": ["444455556666", ADMIN]}, "Action": "kms:*", "Resource": "*"}]});
    let text = world(
        json!([{"arn": KEY, "policy": policy}]),
        json!([]),
        json!([]),
    );
    assert_eq!(
        world_found(&text),
        vec![
            (
                "KG002".to_owned(),
                "keys[0].policy".to_owned(),
                "/Statement/1/Action".to_owned(),
                Severity::Warning
            ),
            (
                "KG017".to_owned(),
                "keys[0].policy".to_owned(),
                "/Statement/1/Principal/AWS/0".to_owned(),
                Severity::Warning
            ),
        ]
    );
    // The key's own account root is the root delegation: no finding.
    let text = world(
        json!([{"arn": KEY, "policy": key_policy(json!({"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:*", "Resource": "*"}))}]),
        json!([]),
        json!([]),
    );
    assert_eq!(world_found(&text), vec![]);
}

#[test]
fn kg018_create_grant_without_grant_condition() {
    let doc = key_policy(
        json!({"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": ["kms:Decrypt", "kms:CreateGrant"], "Resource": "*"}),
    );
    assert_eq!(
        found(&doc, Role::Key),
        pairs(&[("KG018", "/Statement/1/Action/1")])
    );
    let doc = key_policy(
        json!({"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": ["kms:Decrypt", "kms:CreateGrant"], "Resource": "*",
        "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}),
    );
    assert_eq!(found(&doc, Role::Key), vec![]);
}

#[test]
fn aws_managed_keys_are_not_checked_for_lockout_or_delegation() {
    let aws_policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["kms:Decrypt", "kms:Encrypt"], "Resource": "*",
         "Condition": {"StringEquals": {"kms:CallerAccount": "111122223333", "kms:ViaService": "s3.us-east-1.amazonaws.com"}}}]});
    let customer = world(
        json!([{"arn": KEY, "policy": aws_policy}]),
        json!([]),
        json!([]),
    );
    assert_eq!(
        world_found(&customer)
            .iter()
            .map(|f| f.0.as_str())
            .collect::<Vec<_>>(),
        vec!["KG003"]
    );
    let managed = world(
        json!([{"arn": KEY, "manager": "AWS", "policy": aws_policy}]),
        json!([]),
        json!([]),
    );
    assert_eq!(world_found(&managed), vec![]);
}

#[test]
fn root_delegation_on_the_key_arn_counts() {
    let doc = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": KEY}]});
    assert_eq!(found(&doc, Role::Key), vec![]);
}
