//! `kmsgov mcp` driven by a real MCP client: the Python SDK's stdio client
//! (`mcp_client.py`, `pip install mcp`) starts the server, lists its tools
//! and calls each one; the answers are checked here against the engine's
//! (the same JSON `kmsgov eval` and `kmsgov explain` print) and against
//! exact expected values.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use server::{binary, Workspace};

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/11111111-1111-1111-1111-111111111111";

fn arn(name: &str) -> String {
    format!("arn:aws:iam::111122223333:{name}")
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn world_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mcp-world.json")
}

/// Runs the Python MCP client against `kmsgov ARGS…` with `calls`, in an
/// empty directory that must still be empty afterwards: its report.
fn client(args: &[&str], calls: &Value, env: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_client.py");
    let check = Command::new(python())
        .args(["-c", "import mcp"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python()));
    assert!(
        check.status.success(),
        "the Python MCP SDK is needed: bash scripts/install-test-deps.sh\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let cwd = tempfile::tempdir().unwrap();
    let mut child = Command::new(python())
        .arg(&script)
        .arg(binary())
        .args(args)
        .current_dir(cwd.path())
        .env("KMSGOV_MCP_ENV", env.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(calls.to_string().as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the MCP client failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left: Vec<_> = std::fs::read_dir(cwd.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "kmsgov mcp wrote files: {left:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The structured result of call `i`, which must have succeeded.
fn ok(report: &Value, i: usize) -> &Value {
    let result = &report["calls"][i]["result"];
    assert_eq!(result["isError"], false, "call {i}: {result}");
    &result["structuredContent"]
}

/// The message of the tool error of call `i` (`isError: true`).
fn tool_error(report: &Value, i: usize) -> String {
    let result = &report["calls"][i]["result"];
    assert_eq!(result["isError"], true, "call {i} should fail: {result}");
    result["content"][0]["text"].as_str().unwrap().to_owned()
}

/// `kmsgov ARGS… --format json`, parsed (exit code 0, or 1 for findings).
fn cli_json(args: &[&str]) -> Value {
    let out = Command::new(binary()).args(args).output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{args:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The `sid`s of the statements of a decision path's layer, matched or not.
fn sids(decision: &Value, layer: &str) -> Vec<(String, bool)> {
    let entry = decision["path"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["layer"] == layer)
        .unwrap_or_else(|| panic!("no {layer} layer in {decision}"));
    entry["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["sid"].as_str().unwrap_or("").to_owned(),
                s["matched"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn verdict(decision: &Value, layer: &str) -> String {
    decision["path"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["layer"] == layer)
        .map(|e| e["verdict"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn key_policy(statements: &[Value]) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements})
}

fn root() -> Value {
    json!({"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": arn("root")}, "Action": "kms:*", "Resource": "*"})
}

fn bob_encrypts() -> Value {
    json!({"Sid": "BobEncrypts", "Effect": "Allow", "Principal": {"AWS": arn("user/bob")}, "Action": "kms:Encrypt", "Resource": "*"})
}

fn app_decrypts() -> Value {
    json!({"Sid": "AppDecrypts", "Effect": "Allow", "Principal": {"AWS": arn("role/app")}, "Action": "kms:Decrypt", "Resource": "*"})
}

#[test]
fn an_mcp_client_lists_the_read_only_tools_and_gets_the_engines_answers() {
    let world = world_file();
    let world = world.to_str().unwrap();
    let before = std::fs::read(world).unwrap();
    let decrypt = json!({"KeyId": KEY, "CiphertextBlob": "AAAA"});
    let calls = json!([
        {"name": "evaluate", "arguments": {"principal": arn("user/alice"), "operation": "Decrypt", "input": decrypt}},
        {"name": "evaluate", "arguments": {"principal": arn("user/mallory"), "operation": "Decrypt",
                                           "input": {"KeyId": "alias/orders", "CiphertextBlob": "AAAA"}}},
        {"name": "evaluate", "arguments": {"principal": arn("user/bob"), "operation": "Decrypt", "input": decrypt}},
        {"name": "explain", "arguments": {"principal": arn("user/bob"), "operation": "Encrypt",
                                          "input": {"KeyId": KEY, "Plaintext": "aGk="},
                                          "context": {"aws:SourceIp": "192.0.2.1"}}},
        {"name": "who_can", "arguments": {"key": "alias/orders", "action": "kms:Decrypt"}},
        {"name": "can_reach", "arguments": {"principal": arn("user/carol")}},
        {"name": "lint_policy", "arguments": {"policy": key_policy(&[
            json!({"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"})])}},
        {"name": "lint_policy", "arguments": {}},
        {"name": "diff_policies", "arguments": {
            "old": key_policy(&[root(), bob_encrypts(), app_decrypts()]),
            "new": key_policy(&[root(), app_decrypts(), json!({
                "Sid": "NoDecryptOutsideS3", "Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt",
                "Resource": "*", "Condition": {"StringNotEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}})])}},
    ]);
    let report = client(&["mcp", "--world", world], &calls, &json!({}));
    assert_eq!(report["server"], "kmsgov");
    assert_eq!(report["alive"], true);

    // Six tools, every one declared read-only and not destructive.
    let mut names: Vec<&str> = report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "can_reach",
            "diff_policies",
            "evaluate",
            "explain",
            "lint_policy",
            "who_can"
        ]
    );
    for tool in report["tools"].as_array().unwrap() {
        let hints = &tool["annotations"];
        assert_eq!(
            (&hints["readOnlyHint"], &hints["destructiveHint"]),
            (&json!(true), &json!(false)),
            "{tool}"
        );
        assert_eq!(tool["inputSchema"]["type"], "object", "{tool}");
        assert_eq!(tool["inputSchema"]["additionalProperties"], false, "{tool}");
    }
    let evaluate = report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "evaluate")
        .unwrap();
    assert_eq!(
        evaluate["inputSchema"]["required"],
        json!(["principal", "operation"])
    );

    // evaluate: exactly what `kmsgov eval --format json` prints.
    let alice = ok(&report, 0);
    let decrypt_text = decrypt.to_string();
    let eval_args = |who: &str| {
        vec![
            "eval".to_owned(),
            world.to_owned(),
            "--principal".to_owned(),
            arn(who),
            "--operation".to_owned(),
            "Decrypt".to_owned(),
            "--input".to_owned(),
            decrypt_text.clone(),
            "--format".to_owned(),
            "json".to_owned(),
        ]
    };
    let args = eval_args("user/alice");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(alice, &cli_json(&args));
    assert_eq!(alice["decision"], "Allow");
    assert_eq!(sids(alice, "key policy"), [("Root".to_owned(), true)]);
    assert_eq!(
        sids(alice, "identity-based policy"),
        [("AliceDecrypts".to_owned(), true)]
    );
    // An explicit deny in mallory's identity policy decides.
    let mallory = ok(&report, 1);
    assert_eq!(mallory["decision"], "Deny");
    assert_eq!(verdict(mallory, "identity-based policy"), "ExplicitDeny");
    assert!(sids(mallory, "identity-based policy").contains(&("NeverDecrypt".to_owned(), true)));
    assert_eq!(
        mallory["reason"],
        format!("User: {} is not authorized to perform: kms:Decrypt on resource: {KEY} with an explicit deny in an identity-based policy", arn("user/mallory"))
    );
    // bob may encrypt, not decrypt.
    let bob = ok(&report, 2);
    assert_eq!(bob["decision"], "Deny");
    assert_eq!(
        bob["reason"],
        format!("User: {} is not authorized to perform: kms:Decrypt on resource: {KEY} because no identity-based policy allows the kms:Decrypt action", arn("user/bob"))
    );

    // explain: the document of `kmsgov explain --format json`, then its text.
    let explained = ok(&report, 3);
    let cli = cli_json(&[
        "explain",
        world,
        "--principal",
        &arn("user/bob"),
        "--operation",
        "Encrypt",
        "--input",
        &json!({"KeyId": KEY, "Plaintext": "aGk="}).to_string(),
        "--context",
        &json!({"aws:SourceIp": "192.0.2.1"}).to_string(),
        "--format",
        "json",
    ]);
    assert_eq!(explained, &cli);
    assert_eq!(explained["kind"], "decision");
    assert_eq!(explained["request"]["context"]["aws:SourceIp"], "192.0.2.1");
    assert_eq!(explained["decision"]["decision"], "Allow");
    assert_eq!(
        sids(&explained["decision"], "key policy"),
        [("Root".to_owned(), true), ("BobEncrypts".to_owned(), true)]
    );
    let text = report["calls"][3]["result"]["content"][1]["text"]
        .as_str()
        .unwrap();
    assert!(
        text.starts_with(&format!(
            "principal: {}\noperation: Encrypt\n",
            arn("user/bob")
        )),
        "{text}"
    );
    assert!(text.contains("decision: Allow\n"), "{text}");

    // who_can: the principals, and carol through the app role.
    let who = ok(&report, 4);
    assert_eq!(who["query"]["key"], KEY);
    let principals: Vec<&str> = who["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["principal"].as_str().unwrap())
        .collect();
    assert_eq!(
        principals,
        [
            arn("role/app"),
            arn("root"),
            arn("user/alice"),
            arn("user/carol")
        ]
    );
    let carol = &who["results"][3]["paths"][0]["hops"];
    let hops: Vec<(&str, &str)> = carol
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["kind"].as_str().unwrap(), h["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        hops,
        [("assume-role", "sts:AssumeRole"), ("policy", "kms:Decrypt")]
    );
    let trust: Vec<&str> = carol[0]["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sid"].as_str().unwrap())
        .collect();
    assert_eq!(trust, ["CarolAssumes", "AssumeApp"]);
    assert_eq!(
        who,
        &cli_json(&[
            "who-can",
            world,
            "--key",
            "alias/orders",
            "--action",
            "kms:Decrypt",
            "--format",
            "json"
        ])
    );

    // can_reach: carol reaches Decrypt on the key, and nothing else.
    let reach = ok(&report, 5);
    let reached: Vec<(&str, &str)> = reach["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap(), r["action"].as_str().unwrap()))
        .collect();
    assert_eq!(reached, [(KEY, "kms:Decrypt")]);

    // lint_policy: a policy document, then the world.
    let findings = |i: usize| -> Vec<(String, String, String, String)> {
        ok(&report, i)["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let s = |k: &str| f[k].as_str().unwrap().to_owned();
                (s("id"), s("severity"), s("location"), s("pointer"))
            })
            .collect()
    };
    let own = |rows: &[(&str, &str, &str, &str)]| -> Vec<(String, String, String, String)> {
        rows.iter()
            .map(|(a, b, c, d)| ((*a).into(), (*b).into(), (*c).into(), (*d).into()))
            .collect()
    };
    assert_eq!(
        findings(6),
        own(&[
            ("KG004", "info", "", "/Statement"),
            ("KG002", "warning", "", "/Statement/0/Action"),
            ("KG001", "error", "", "/Statement/0/Principal"),
        ])
    );
    let world_findings = findings(7);
    let ids: Vec<&str> = world_findings.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        ids,
        cli_json(&["policy", "lint", "--format", "json", world])["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap())
            .collect::<Vec<_>>()
    );
    assert!(
        world_findings.contains(&(
            "KG002".into(),
            "warning".into(),
            "principals[1].policies[0]".into(),
            "/Statement/0/Action".into()
        )),
        "{world_findings:?}"
    );
    assert_eq!(ok(&report, 7)["findings"][0]["file"], "mcp-world.json");

    // diff_policies: who loses what.
    let diff = ok(&report, 8);
    assert_eq!(diff["key"], KEY);
    let rows: Vec<(&str, &str, &str, &str)> = diff["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap();
            (s("principal"), s("action"), s("before"), s("after"))
        })
        .collect();
    let (app, root, alice, bob) = (
        arn("role/app"),
        arn("root"),
        arn("user/alice"),
        arn("user/bob"),
    );
    assert_eq!(
        rows,
        [
            (app.as_str(), "kms:Decrypt", "Allow", "Deny"),
            (root.as_str(), "kms:Decrypt", "Allow", "Deny"),
            (alice.as_str(), "kms:Decrypt", "Allow", "Deny"),
            (bob.as_str(), "kms:Encrypt", "Allow", "Deny"),
        ]
    );
    assert!(diff["changes"][0]["reason_after"]
        .as_str()
        .unwrap()
        .ends_with("with an explicit deny in a resource-based policy"));

    // Nothing was written: the world file is as it was.
    assert_eq!(std::fs::read(world).unwrap(), before);
}

#[test]
fn malformed_calls_get_errors_and_the_server_keeps_answering() {
    let world = world_file();
    let bob = arn("user/bob");
    let calls = json!([
        {"name": "nope", "arguments": {}},
        {"name": "evaluate", "arguments": {"operation": "Decrypt"}},
        {"name": "evaluate", "arguments": {"principal": bob, "operation": "Decrypt", "input": "text"}},
        {"name": "evaluate", "arguments": {"principal": bob, "operation": "Decrypt", "world": "/etc/passwd"}},
        {"name": "evaluate", "arguments": {"principal": "nobody", "operation": "Decrypt"}},
        {"name": "explain", "arguments": {"principal": bob, "operation": "Frobnicate"}},
        {"name": "evaluate", "arguments": {"principal": bob, "operation": "Decrypt", "context": {"aws:SourceIp": {"nested": "x"}}}},
        {"name": "who_can", "arguments": {"key": "alias/missing", "action": "kms:Decrypt"}},
        {"name": "can_reach", "arguments": {"principal": "not-an-arn"}},
        {"name": "lint_policy", "arguments": {"kind": "nope"}},
        {"name": "lint_policy", "arguments": {"policy": {"Statement": [{"Effect": "Allow", "NotPrincipal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}]}}},
        {"name": "diff_policies", "arguments": {"old": {}, "new": {}, "key": "arn:aws:kms:us-east-1:111122223333:key/missing"}},
        {"name": "evaluate", "arguments": {"principal": bob, "operation": "Encrypt", "input": {"KeyId": KEY, "Plaintext": "aGk="}}},
    ]);
    let report = client(
        &["mcp", "--world", world.to_str().unwrap()],
        &calls,
        &json!({}),
    );
    // An unknown tool is a protocol error.
    assert_eq!(
        report["calls"][0]["error"],
        json!({"code": -32602, "message": "tool not found"})
    );
    // Arguments the tool cannot take are tool errors the agent can read.
    let expected = [
        (1, "missing field `principal`"),
        (2, "invalid type: string \"text\", expected a map"),
        (3, "unknown field `world`"),
        (
            4,
            "principal: `nobody` is not a principal arn, service principal or `anonymous`",
        ),
        (5, "operation: `Frobnicate` is not a KMS operation"),
        (6, "context: "),
        (6, "expected a string or a list of strings"),
        (7, "key `alias/missing` is not in the world"),
        (8, "`not-an-arn` is not a principal ARN"),
        (9, "kind: unknown policy type `nope`"),
        (
            10,
            "policy: /Statement/0/NotPrincipal: `NotPrincipal` can only be used with effect `Deny`",
        ),
        (11, "old: "),
    ];
    for (i, message) in expected {
        let got = tool_error(&report, i);
        assert!(got.contains(message), "call {i}: {got:?} lacks {message:?}");
    }
    // The engine's refusals carry their message as structured content too.
    assert_eq!(
        report["calls"][9]["result"]["structuredContent"],
        json!({"error": "kind: unknown policy type `nope`"})
    );
    // And the server still answers, correctly.
    assert_eq!(ok(&report, 12)["decision"], "Allow");
    assert_eq!(report["alive"], true);
}

#[test]
fn mcp_needs_a_world_or_a_server_that_it_can_use() {
    let run = |args: &[&str]| {
        let out = Command::new(binary())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["mcp"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, err) = run(&["mcp", "--world", "/nonexistent/world.json"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("/nonexistent/world.json: cannot read"),
        "{err}"
    );
    let (code, _) = run(&["mcp", "--world", "w.json", "--server", "http://127.0.0.1:1"]);
    assert_eq!(code, Some(2));
    let (code, err) = run(&[
        "mcp",
        "--server",
        "https://127.0.0.1:1",
        "--token-file",
        "t",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("only http:// URLs"), "{err}");
    // A client that goes away before the handshake ends the process.
    let world = world_file();
    let (code, err) = run(&["mcp", "--world", world.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("connection closed"), "{err}");
}

const EVALUATOR_KEY: &str = "AKIAMCPEVALUATOR0001";
const EVALUATOR_SECRET: &str = "evaluator+secret/mcp/0000000000000000000000";
const TOKEN: &str = "mcp-decision-token-for-the-e2e-tests-0";

#[tokio::test(flavor = "multi_thread")]
async fn against_a_running_server_only_evaluate_and_explain_are_offered() {
    let world = server::WORLD.replacen(
        r#""principals": ["#,
        &format!(
            r#""principals": [
    {{"arn": "arn:aws:iam::111122223333:user/evaluator",
     "policies": [{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "kmsgov:Evaluate", "Resource": "*"}}]}}],
     "access_keys": [{{"id": "{EVALUATOR_KEY}", "secret": "{EVALUATOR_SECRET}"}}]}},"#
        ),
        1,
    );
    let ws = Workspace::with_world(&world);
    let token_file = ws.dir.path().join("decision.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let kms = ws.serve_with(&[
        "--decision-token-file",
        token_file.to_str().unwrap(),
        "--decision-token-principal",
        &arn("user/evaluator"),
    ]);
    let key = kms
        .client("admin")
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    let input = json!({"KeyId": key, "CiphertextBlob": "AAAA"});
    let calls = json!([
        {"name": "evaluate", "arguments": {"principal": arn("user/alice"), "operation": "Decrypt", "input": input}},
        {"name": "evaluate", "arguments": {"principal": arn("user/carol"), "operation": "Decrypt", "input": input}},
        {"name": "explain", "arguments": {"principal": arn("user/bob"), "operation": "Decrypt", "input": input}},
        {"name": "evaluate", "arguments": {"principal": "nobody", "operation": "Decrypt"}},
        {"name": "who_can", "arguments": {"key": key, "action": "kms:Decrypt"}},
    ]);
    let url = kms.url();
    let token = token_file.to_str().unwrap();
    let by_token = client(
        &["mcp", "--server", &url, "--token-file", token],
        &calls,
        &json!({}),
    );
    let by_sigv4 = client(
        &["mcp", "--server", &url],
        &calls,
        &json!({"AWS_ACCESS_KEY_ID": EVALUATOR_KEY, "AWS_SECRET_ACCESS_KEY": EVALUATOR_SECRET}),
    );
    for report in [&by_token, &by_sigv4] {
        let mut names: Vec<&str> = report["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["evaluate", "explain"]);
        assert_eq!(ok(report, 0)["decision"], "Allow");
        let carol = ok(report, 1);
        assert_eq!(carol["decision"], "Deny");
        assert_eq!(verdict(carol, "identity-based policy"), "ExplicitDeny");
        let explained = ok(report, 2);
        assert_eq!(explained["kind"], "decision");
        assert_eq!(explained["request"]["principal"], arn("user/bob"));
        assert_eq!(explained["request"]["input"], input);
        assert_eq!(explained["decision"]["decision"], "Deny");
        let refused = tool_error(report, 3);
        assert!(refused.contains("invalid_parameter (400)"), "{refused}");
        assert_eq!(
            report["calls"][4]["error"],
            json!({"code": -32602, "message": "tool not found"})
        );
    }
    // The same answers both ways.
    assert_eq!(ok(&by_token, 1), ok(&by_sigv4, 1));

    // A wrong token is the server's refusal, as a tool error.
    let wrong = ws.dir.path().join("wrong.token");
    std::fs::write(&wrong, "not-the-token-not-the-token\n").unwrap();
    let refused = client(
        &[
            "mcp",
            "--server",
            &url,
            "--token-file",
            wrong.to_str().unwrap(),
        ],
        &json!([{"name": "evaluate", "arguments": {"principal": arn("user/alice"), "operation": "Decrypt", "input": input}}]),
        &json!({}),
    );
    let message = tool_error(&refused, 0);
    assert!(message.contains("unauthorized (401)"), "{message}");
    assert!(kms.stop().success());
}
