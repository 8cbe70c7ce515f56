//! `kmsgov bench` against a running `kmsgov serve`: its requests are signed
//! well enough to pass the server's SigV4 checks, every operation it drives
//! succeeds, and denials and bad credentials show up as errors.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/server.rs"]
mod server;

use std::process::Output;

use serde_json::Value;
use server::{binary, user, Workspace};

fn bench(url: &str, who: (&str, &str), args: &[&str]) -> Output {
    std::process::Command::new(binary())
        .args(["bench", "--endpoint", url, "--clients", "2"])
        .args(["--duration", "0.5", "--warmup", "0.1"])
        .args(["--access-key-id", who.0, "--secret-access-key", who.1])
        .args(args)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap()
}

fn report(output: &Output) -> Value {
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let line = stdout.lines().next().unwrap_or_else(|| {
        panic!(
            "no output; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    serde_json::from_str(line).unwrap()
}

#[test]
fn every_operation_runs_without_errors() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let (id, secret, _) = user("admin");
    for op in ["Encrypt", "Decrypt", "GenerateDataKey"] {
        let output = bench(&kms.url(), (id, secret), &["--op", op, "--label", "t"]);
        assert!(output.status.success(), "{op}: {output:?}");
        let r = report(&output);
        assert_eq!(r["op"], op);
        assert_eq!(r["label"], "t");
        assert_eq!(r["clients"], 2);
        assert_eq!(r["errors"], 0, "{op}: {r}");
        assert!(r["requests"].as_u64().unwrap() > 0, "{op}: {r}");
        assert!(r["requests_per_s"].as_f64().unwrap() > 0.0);
        let (p50, p99, max) = (
            r["p50_ms"].as_f64().unwrap(),
            r["p99_ms"].as_f64().unwrap(),
            r["max_ms"].as_f64().unwrap(),
        );
        assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{op}: {r}");
    }
    // The server saw the requests as the signer's.
    let log = kms.log();
    assert!(log.contains("user/admin"), "{log}");
}

#[test]
fn denied_requests_are_counted_as_errors_by_type() {
    let ws = Workspace::new();
    let kms = ws.serve();
    // carol may do anything but decrypt: the setup (CreateKey, Encrypt)
    // passes and every measured Decrypt is denied.
    let (id, secret, _) = user("carol");
    let output = bench(&kms.url(), (id, secret), &["--op", "Decrypt"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let r = report(&output);
    assert_eq!(r["requests"], 0);
    let denied = r["error_types"]["AccessDeniedException"].as_u64().unwrap();
    assert!(denied > 0);
    assert_eq!(r["errors"].as_u64().unwrap(), denied);
}

#[test]
fn a_wrong_secret_fails_the_setup() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let (id, _, _) = user("admin");
    let output = bench(&kms.url(), (id, "not-the-secret"), &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("InvalidSignatureException"), "{stderr}");
}

#[test]
fn bad_arguments_are_refused() {
    let (id, secret, _) = user("admin");
    let output = bench("https://127.0.0.1:1", (id, secret), &[]);
    assert_eq!(output.status.code(), Some(2));
    for bad in [
        ["--clients", "0"],
        ["--duration", "0"],
        ["--duration", "-1"],
        ["--duration", "NaN"],
        ["--warmup", "1e300"],
    ] {
        let output = bench("http://127.0.0.1:1", (id, secret), &bad);
        assert_eq!(output.status.code(), Some(2), "{bad:?}: {output:?}");
    }
}
