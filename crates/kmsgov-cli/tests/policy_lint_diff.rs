//! The `kmsgov` binary: exit codes and output of `policy lint` and `policy diff`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation should stop the test"
)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn kmsgov() -> Command {
    let mut cmd = Command::cargo_bin("kmsgov").unwrap();
    cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data"));
    cmd
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = kmsgov().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

const ROOT_FIX: &str = "add a statement allowing arn:aws:iam::ACCOUNT:root kms:* on *, or grant access in the key policy itself";

#[test]
fn lint_a_key_policy_file() {
    let (code, stdout, _) = run(&["policy", "lint", "lint-key-policy.json"]);
    assert_eq!(code, Some(1));
    let expected = "\
lint-key-policy.json:/Statement/1/Principal: error[KG001] Allow with Principal \"*\" and no limiting condition: any AWS principal in any account (fix: name the principals, or add a condition on aws:PrincipalOrgID, aws:PrincipalAccount, kms:CallerAccount, aws:SourceVpce or kms:ViaService)
lint-key-policy.json:/Statement/2/Condition/ForAllValues:StringEquals/kms:EncryptionContextKeys: warning[KG005] ForAllValues:StringEquals on kms:EncryptionContextKeys also matches a request without kms:EncryptionContextKeys: an empty set satisfies ForAllValues (fix: add \"Null\": {KEY: \"false\"} to the same statement)
2 findings: 1 error, 1 warning, 0 infos
";
    assert_eq!(stdout, expected);
}

#[test]
fn lint_clean_and_info_only_pass() {
    let (code, stdout, _) = run(&["policy", "lint", "lint-clean-key-policy.json"]);
    assert_eq!((code, stdout.as_str()), (Some(0), "no findings\n"));
    let (code, stdout, _) = run(&["policy", "lint", "lint-root-only-info.json"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout,
        format!("lint-root-only-info.json:/Statement: info[KG004] no statement allows an account root kms:*: IAM policies cannot grant access to this key (fix: {ROOT_FIX})\n1 finding: 0 errors, 0 warnings, 1 info\n")
    );
}

#[test]
fn lint_kind_changes_the_rules() {
    // As an identity policy, the key policy's Principal is invalid: exit 2.
    let (code, _, stderr) = run(&[
        "policy",
        "lint",
        "--kind",
        "identity",
        "lint-clean-key-policy.json",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("lint-clean-key-policy.json: /Statement/0/Principal"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&[
        "policy",
        "lint",
        "--kind",
        "nope",
        "lint-clean-key-policy.json",
    ]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("unknown policy type `nope`"), "{stderr}");
}

#[test]
fn lint_a_world_as_json() {
    let (code, stdout, _) = run(&["policy", "lint", "--format", "json", "lint-world.json"]);
    assert_eq!(code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let got: Vec<(String, String, String, String)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_owned(),
                f["severity"].as_str().unwrap().to_owned(),
                f["location"].as_str().unwrap().to_owned(),
                f["pointer"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        ("KG011", "warning", "grants[0]", "/operations"),
        ("KG012", "warning", "grants[0]", "/operations/1"),
        ("KG003", "error", "keys[0].policy", "/Statement"),
        ("KG004", "warning", "keys[0].policy", "/Statement"),
        (
            "KG008",
            "warning",
            "principals[0].policies[0]",
            "/Statement/0/Resource",
        ),
    ];
    let want: Vec<(String, String, String, String)> = want
        .iter()
        .map(|(a, b, c, d)| ((*a).into(), (*b).into(), (*c).into(), (*d).into()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(v["findings"][0]["file"], "lint-world.json");
    assert!(v["findings"][0]["message"]
        .as_str()
        .unwrap()
        .contains("Decrypt"));
    assert!(!v["findings"][0]["fix"].as_str().unwrap().is_empty());
}

#[test]
fn lint_bad_input_exits_2_and_still_reports_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{not json").unwrap();
    let out = kmsgov()
        .args(["policy", "lint"])
        .arg(&broken)
        .arg(data("lint-key-policy.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("error[KG001]"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid json"));
    // NotPrincipal with Allow is invalid, not a finding.
    let (code, _, stderr) = run(&["policy", "lint", "diff-invalid.json"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("/Statement/0/NotPrincipal"), "{stderr}");
    let (code, _, _) = run(&["policy", "lint", "missing.json"]);
    assert_eq!(code, Some(2));
}

#[test]
fn diff_an_explicit_deny_added() {
    let (code, stdout, _) = run(&[
        "policy",
        "diff",
        "diff-old.json",
        "diff-new-deny.json",
        "--world",
        "diff-world.json",
    ]);
    assert_eq!(code, Some(1));
    let expected = "\
key: arn:aws:kms:us-east-1:111122223333:key/k1
PRINCIPAL                             ACTION       BEFORE -> AFTER
arn:aws:iam::111122223333:role/admin  kms:Decrypt  Allow -> Deny
arn:aws:iam::111122223333:root        kms:Decrypt  Allow -> Deny
arn:aws:iam::111122223333:user/alice  kms:Decrypt  Allow -> Deny
3 changes for 3 principals: 0 newly allowed, 3 no longer allowed, 0 other
";
    assert_eq!(stdout, expected);
    // Through S3 the Deny does not apply: nothing changes.
    let (code, stdout, _) = run(&[
        "policy",
        "diff",
        "diff-old.json",
        "diff-new-deny.json",
        "--world",
        "diff-world.json",
        "--context",
        r#"{"kms:ViaService": "s3.us-east-1.amazonaws.com"}"#,
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout,
        "key: arn:aws:kms:us-east-1:111122223333:key/k1\nno access changes\n"
    );
}

#[test]
fn diff_a_change_through_the_root_delegation_as_json() {
    let (code, stdout, _) = run(&[
        "policy",
        "diff",
        "diff-old.json",
        "diff-new-narrowed.json",
        "--world",
        "diff-world.json",
        "--key",
        "arn:aws:kms:us-east-1:111122223333:key/k1",
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "key": "arn:aws:kms:us-east-1:111122223333:key/k1",
            "changes": [{
                "principal": "arn:aws:iam::111122223333:user/alice",
                "action": "kms:Decrypt",
                "before": "Allow",
                "after": "Deny",
                "reason_after": "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:111122223333:key/k1 because no resource-based policy allows the kms:Decrypt action"
            }]
        })
    );
}

#[test]
fn diff_bad_input_exits_2() {
    let base = ["policy", "diff", "diff-old.json"];
    let cases: [(&[&str], &str); 5] = [
        (
            &["diff-invalid.json", "--world", "diff-world.json"],
            "diff-invalid.json: /Statement/0/NotPrincipal",
        ),
        (&["diff-old.json", "--world", "missing.json"], "cannot read"),
        (
            &["diff-old.json", "--world", "lint-key-policy.json"],
            "lint-key-policy.json",
        ),
        (
            &[
                "diff-old.json",
                "--world",
                "diff-world.json",
                "--key",
                "arn:aws:kms:us-east-1:111122223333:key/nope",
            ],
            "is not in the world",
        ),
        (
            &[
                "diff-old.json",
                "--world",
                "diff-world.json",
                "--context",
                "[1]",
            ],
            "--context",
        ),
    ];
    for (rest, message) in cases {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(rest);
        let (code, _, stderr) = run(&args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
