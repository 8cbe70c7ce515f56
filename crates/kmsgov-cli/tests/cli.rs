//! The `kmsgov` binary: exit codes and output of `test`, `eval`, `explain`
//! and `policy validate`.

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
    Command::cargo_bin("kmsgov").unwrap()
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const WORLD: &str = r#"{
  "name": "cli",
  "accounts": {"111122223333": {}},
  "principals": [{"arn": "arn:aws:iam::111122223333:user/alice", "policies": [
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}]}]}],
  "keys": [{"arn": "arn:aws:kms:us-east-1:111122223333:key/k1"}],
  "tests": [
    {"name": "alice encrypts", "principal": "arn:aws:iam::111122223333:user/alice", "operation": "Encrypt",
     "input": {"KeyId": "k1", "Plaintext": "aGk="}, "expect": "Allow"},
    {"name": "alice decrypts", "principal": "arn:aws:iam::111122223333:user/alice", "operation": "Decrypt",
     "input": {"KeyId": "k1", "CiphertextBlob": "AAAA"}, "expect": "Deny",
     "reason": "because no identity-based policy allows the kms:Decrypt action"}
  ]
}"#;

fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .last()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn test_passes_the_bundled_scenarios() {
    let out = kmsgov()
        .arg("test")
        .arg(repo("scenarios"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let last = last_line(&out.stdout);
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
    let passed: usize = last.split_whitespace().next().unwrap().parse().unwrap();
    assert!(passed >= 600, "{last}");
}

#[test]
fn test_exit_codes_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(&dir, "good.json", WORLD);
    let out = kmsgov().arg("test").arg(&good).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(last_line(&out.stdout), "2 passed, 0 failed");

    let failing = write(
        &dir,
        "failing.json",
        &WORLD.replace(r#""expect": "Deny""#, r#""expect": "Allow""#),
    );
    let out = kmsgov().arg("test").arg(&failing).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAIL")
            && stdout.contains("alice decrypts")
            && stdout.contains("expected Allow"),
        "{stdout}"
    );
    assert_eq!(last_line(&out.stdout), "1 passed, 1 failed");

    let bad = write(
        &dir,
        "bad.json",
        &WORLD.replace(
            r#""operation": "Decrypt""#,
            r#""operation": "Decrypt", "typo": 1"#,
        ),
    );
    let out = kmsgov().arg("test").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.json") && stderr.contains("/tests/1/typo"),
        "{stderr}"
    );

    let out = kmsgov()
        .arg("test")
        .arg(dir.path().join("missing.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(last_line(&out.stdout), "0 passed, 0 failed");
}

#[test]
fn eval_prints_the_decision_path() {
    let dir = tempfile::tempdir().unwrap();
    let world = write(&dir, "w.json", WORLD);
    let args = |format: &str| {
        let mut c = kmsgov();
        c.args(["eval"]).arg(&world).args([
            "--principal",
            "arn:aws:iam::111122223333:user/alice",
            "--operation",
            "Decrypt",
            "--input",
            r#"{"KeyId": "k1", "CiphertextBlob": "AAAA"}"#,
            "--context",
            r#"{"aws:SourceIp": "203.0.113.7"}"#,
            "--format",
            format,
        ]);
        c
    };
    let out = args("json").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["decision"], "Deny");
    assert!(v["reason"]
        .as_str()
        .unwrap()
        .contains("no identity-based policy allows the kms:Decrypt action"));
    assert!(v["path"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["layer"] == "key policy"));

    let out = args("text").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("decision: Deny"), "{text}");
    assert!(text.contains("key policy"), "{text}");

    let out = kmsgov()
        .arg("eval")
        .arg(&world)
        .args(["--principal", "nobody", "--operation", "Decrypt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = kmsgov()
        .arg("eval")
        .arg(&world)
        .args([
            "--principal",
            "arn:aws:iam::111122223333:user/alice",
            "--operation",
            "Decrypt",
            "--input",
            "{",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn explain_decides_as_eval_does_and_writes_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let world = write(&dir, "w.json", WORLD);
    let page = dir.path().join("out.html");
    let request = |command: &str| {
        let mut c = kmsgov();
        c.arg(command).arg(&world).args([
            "--principal",
            "arn:aws:iam::111122223333:user/alice",
            "--operation",
            "Encrypt",
            "--input",
            r#"{"KeyId": "k1", "Plaintext": "aGk=", "EncryptionContext": {"note": "</script><!--"}}"#,
            "--context",
            r#"{"aws:SourceIp": "203.0.113.7"}"#,
            "--format",
            "json",
        ]);
        c
    };
    let eval = request("eval").output().unwrap();
    assert_eq!(eval.status.code(), Some(0));
    let decision: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    let out = request("explain")
        .arg("--html")
        .arg(&page)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let document: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(document["kind"], "decision");
    assert_eq!(document["decision"], decision);
    assert_eq!(document["decision"]["decision"], "Allow");
    assert_eq!(
        document["request"],
        serde_json::json!({
            "principal": "arn:aws:iam::111122223333:user/alice",
            "operation": "Encrypt",
            "input": {"KeyId": "k1", "Plaintext": "aGk=", "EncryptionContext": {"note": "</script><!--"}},
            "context": {"aws:SourceIp": "203.0.113.7"}
        })
    );
    // The page embeds the same document, escaped so that it stays data.
    let html = std::fs::read_to_string(&page).unwrap();
    let open = r#"<script type="application/json" id="kmsgov-document">"#;
    let embedded = html
        .split_once(open)
        .unwrap()
        .1
        .split_once("</script>")
        .unwrap()
        .0;
    assert!(!embedded.contains('<'), "{embedded}");
    let back: serde_json::Value = serde_json::from_str(embedded).unwrap();
    assert_eq!(back, document);

    // Text: the request, then the path as eval prints it.
    let text_eval = kmsgov()
        .arg("eval")
        .arg(&world)
        .args([
            "--principal",
            "arn:aws:iam::111122223333:user/alice",
            "--operation",
            "Decrypt",
        ])
        .output()
        .unwrap();
    let text = kmsgov()
        .arg("explain")
        .arg(&world)
        .args([
            "--principal",
            "arn:aws:iam::111122223333:user/alice",
            "--operation",
            "Decrypt",
        ])
        .output()
        .unwrap();
    assert_eq!(text.status.code(), Some(0));
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.starts_with("principal: arn:aws:iam::111122223333:user/alice\n"),
        "{text}"
    );
    assert!(
        text.ends_with(std::str::from_utf8(&text_eval.stdout).unwrap()),
        "{text}"
    );

    // Bad input is exit 2 and writes no page; an unwritable page is exit 1.
    let missing = dir.path().join("never.html");
    let out = kmsgov()
        .arg("explain")
        .arg(&world)
        .args(["--principal", "nobody", "--operation", "Decrypt", "--html"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!missing.exists());
    let out = request("explain")
        .arg("--html")
        .arg(dir.path().join("no/such/dir/out.html"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn policy_validate_reports_pointers() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        &dir,
        "good.json",
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}}"#,
    );
    let bad = write(
        &dir,
        "bad.json",
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*", "Condition": {"StringLikee": {"a:b": "c"}}}]}"#,
    );
    let out = kmsgov()
        .args(["policy", "validate"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = kmsgov()
        .args(["policy", "validate"])
        .arg(&good)
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("bad.json: /Statement/0/Condition/StringLikee: unknown condition operator"),
        "{stdout}"
    );
    let out = kmsgov()
        .args(["policy", "validate"])
        .arg(dir.path().join("nope.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // A KMS key policy with ForAllValues on an encryption-context key.
    let kp = write(
        &dir,
        "kp.json",
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:Decrypt", "Resource": "*", "Condition": {"ForAllValues:StringEquals": {"kms:EncryptionContext:dept": "IT"}}}]}"#,
    );
    let out = kmsgov()
        .args(["policy", "validate", "--kind", "key"])
        .arg(&kp)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("overly permissive"));
}

#[test]
fn policy_id_names_content_not_formatting() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        &dir,
        "a.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#,
    );
    let b = write(
        &dir,
        "b.json",
        "{\n  \"Statement\": [ {\"Resource\": \"*\", \"Action\": \"kms:*\", \"Effect\": \"Allow\"} ],\n  \"Version\": \"2012-10-17\"\n}\n",
    );
    let c = write(
        &dir,
        "c.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:*","Resource":"*"}]}"#,
    );
    let output = kmsgov()
        .args(["policy", "id"])
        .arg(&a)
        .arg(&b)
        .arg(&c)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let ids: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0].len(), 64);
    assert_eq!(ids[0], ids[1]);
    assert_ne!(ids[0], ids[2]);
    let bad = write(&dir, "bad.json", "{not json");
    kmsgov().args(["policy", "id"]).arg(&bad).assert().code(1);
}

const NO_ENCRYPT: &str = "package kmsgov.guardrails.no_encrypt\n\nimport rego.v1\n\ndeny contains \"Encrypt is paused\" if input.operation == \"Encrypt\"\n";

#[test]
fn test_and_eval_take_a_guardrail_directory() {
    let dir = tempfile::tempdir().unwrap();
    let world = write(&dir, "world.json", WORLD);
    let rego = dir.path().join("rego");
    std::fs::create_dir(&rego).unwrap();
    std::fs::write(rego.join("no-encrypt.rego"), NO_ENCRYPT).unwrap();
    std::fs::write(rego.join("notes.txt"), "not a guardrail").unwrap();

    // Without the directory both tests pass; with it, the Encrypt test fails.
    let out = kmsgov().arg("test").arg(&world).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = kmsgov()
        .arg("test")
        .arg(&world)
        .arg("--guardrails")
        .arg(&rego)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("alice encrypts: expected Allow, got Deny")
            && stdout.contains(
                "with an explicit deny in a guardrail policy (no-encrypt): Encrypt is paused"
            ),
        "{stdout}"
    );
    // How the guardrail is evaluated: its rule is in the compiled fragment.
    assert!(
        stdout.contains(": guardrails no-encrypt (compiled)\n"),
        "{stdout}"
    );
    assert_eq!(last_line(&out.stdout), "1 passed, 1 failed");

    let out = kmsgov()
        .args(["eval"])
        .arg(&world)
        .args([
            "--principal",
            "arn:aws:iam::111122223333:user/alice",
            "--operation",
            "Encrypt",
            "--input",
            r#"{"KeyId": "k1", "Plaintext": "aGk="}"#,
            "--format",
            "json",
            "--guardrails",
        ])
        .arg(&rego)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["decision"], "Deny");
    let entry = v["path"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["layer"] == "guardrail")
        .expect("a guardrail entry");
    assert_eq!(entry["policy"], "no-encrypt");
    assert_eq!(entry["verdict"], "ExplicitDeny");
    assert_eq!(entry["note"], "Encrypt is paused");
}

#[test]
fn a_guardrail_that_does_not_parse_is_reported_with_its_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let world = write(&dir, "world.json", WORLD);
    let rego = dir.path().join("rego");
    std::fs::create_dir(&rego).unwrap();
    std::fs::write(
        rego.join("broken.rego"),
        "package broken\n\nimport rego.v1\n\ndeny contains msg if {\n  msg := input.x +\n}\n",
    )
    .unwrap();
    let out = kmsgov()
        .arg("test")
        .arg(&world)
        .arg("--guardrails")
        .arg(&rego)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.rego: guardrail `broken`, line 6, column"),
        "{stderr}"
    );
}

#[test]
fn guardrail_prints_are_not_written_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let world = write(&dir, "world.json", WORLD);
    let rego = dir.path().join("rego");
    std::fs::create_dir(&rego).unwrap();
    std::fs::write(
        rego.join("chatty.rego"),
        "package chatty\n\nimport rego.v1\n\ndeny contains \"x\" if {\n  print(\"CHATTY-GUARDRAIL\", input.operation)\n  false\n}\n",
    )
    .unwrap();
    let out = kmsgov()
        .arg("test")
        .arg(&world)
        .arg("--guardrails")
        .arg(&rego)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("CHATTY-GUARDRAIL"), "{all}");
}
