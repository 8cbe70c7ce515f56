//! The OPA-compatible decision API of a running `kmsgov serve`, called the
//! way OPA clients call OPA: curl with a bearer token, JSON in and out.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/server.rs"]
mod server;

use std::process::Command;

use serde_json::{json, Value};
use server::{binary, Workspace};

const EVALUATOR: &str = "arn:aws:iam::111122223333:user/evaluator";
const TOKEN: &str = "opa-style-token-for-the-e2e-tests-000";

/// The test world plus `evaluator`, who may ask for decisions and nothing else.
fn world() -> String {
    server::WORLD.replacen(
        r#""principals": ["#,
        r#""principals": [
    {"arn": "arn:aws:iam::111122223333:user/evaluator",
     "policies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kmsgov:Evaluate", "Resource": "*"}]}]},"#,
        1,
    )
}

/// `curl -s -X POST URL -H 'Authorization: Bearer …' -d BODY`: (status, JSON).
fn curl(url: &str, token: &str, body: &Value) -> (u16, Value) {
    let out = Command::new("curl")
        .args(["-s", "-X", "POST", "-w", "\n%{http_code}"])
        .args(["-H", "Content-Type: application/json"])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args(["--data-binary", &body.to_string()])
        .arg(format!("{url}/v1/data/kmsgov/decision"))
        .output()
        .expect("curl runs (apt-get install curl)");
    let text = String::from_utf8(out.stdout).unwrap();
    let (json, status) = text.rsplit_once('\n').unwrap();
    (
        status.trim().parse().unwrap(),
        serde_json::from_str(json).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_opa_style_client_gets_the_engines_decisions() {
    let ws = Workspace::with_world(&world());
    let token_file = ws.dir.path().join("decision.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let kms = ws.serve_with(&[
        "--decision-token-file",
        token_file.to_str().unwrap(),
        "--decision-token-principal",
        EVALUATOR,
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
    let ask = |principal: &str, operation: &str| {
        json!({"input": {
            "principal": format!("arn:aws:iam::111122223333:user/{principal}"),
            "operation": operation,
            "input": {"KeyId": key, "CiphertextBlob": "AAAA", "Plaintext": "aGk="},
            "context": {}
        }})
    };
    // alice may decrypt, carol is denied explicitly, bob has no policy.
    let (status, body) = curl(&kms.url(), TOKEN, &ask("alice", "Decrypt"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["decision"], "Allow");
    let (_, body) = curl(&kms.url(), TOKEN, &ask("carol", "Decrypt"));
    assert_eq!(body["result"]["decision"], "Deny");
    assert!(body["result"]["reason"]
        .as_str()
        .unwrap()
        .contains("with an explicit deny in an identity-based policy"));
    let layers: Vec<&str> = body["result"]["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["layer"].as_str().unwrap())
        .collect();
    assert!(layers.contains(&"identity-based policy"), "{layers:?}");
    let (_, body) = curl(&kms.url(), TOKEN, &ask("bob", "Encrypt"));
    assert_eq!(body["result"]["decision"], "Deny");
    // A wrong token is refused.
    let (status, body) = curl(&kms.url(), "not-the-token", &ask("alice", "Decrypt"));
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));

    // Every decision request is in the audit log, as Evaluate by the evaluator.
    assert!(kms.stop().success());
    let shown = Command::new(binary())
        .args(["audit", "show", "--format", "json", "--data-dir"])
        .arg(ws.data_dir())
        .env_remove("KMSGOV_ROOT_KEY")
        .output()
        .unwrap();
    let evaluations = String::from_utf8(shown.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["operation"] == "Evaluate")
        .count();
    // The refused token never reached the service: three entries.
    assert_eq!(evaluations, 3);
}
