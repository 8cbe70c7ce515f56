//! Running the server: shutdown that finishes the requests in flight, logs
//! that say who did what without a secret in them, and many concurrent
//! clients.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/server.rs"]
mod server;

use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use base64::Engine as _;
use serde_json::Value;
use server::{user, Workspace};

/// SIGTERM while slow requests (RSA-4096 key generation) are in flight:
/// every one of them is answered, the server exits cleanly, and the keys
/// they created are in the store after a restart.
#[tokio::test(flavor = "multi_thread")]
async fn shutdown_finishes_the_requests_in_flight() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let mut calls = Vec::new();
    for _ in 0..4 {
        let admin = admin.clone();
        calls.push(tokio::spawn(async move {
            admin
                .create_key()
                .key_spec(KeySpec::Rsa4096)
                .key_usage(KeyUsageType::SignVerify)
                .send()
                .await
        }));
    }
    // Let the requests reach the server, then ask it to stop.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let log_before = kms.log();
    let stopping = tokio::task::spawn_blocking(move || kms.stop());
    let mut created = Vec::new();
    for call in calls {
        let out = call.await.unwrap().unwrap_or_else(|e| {
            panic!("a request in flight at shutdown failed: {e:?}\nlog before: {log_before}")
        });
        created.push(out.key_metadata().unwrap().key_id().to_owned());
    }
    let status = stopping.await.unwrap();
    assert!(status.success(), "exit status {status:?}");
    let log = std::fs::read_to_string(ws.dir.path().join("server.log")).unwrap();
    assert!(log.contains("kmsgov stopped"), "{log}");
    // Key generation takes long enough that requests were still running
    // when the shutdown began: their log lines come after it.
    let (_, after) = log
        .split_once("finishing the requests in flight")
        .unwrap_or_else(|| panic!("no shutdown line in the log:\n{log}"));
    assert!(
        after
            .lines()
            .any(|l| l.contains("kms request") && l.contains("CreateKey")),
        "no request was in flight at the shutdown:\n{log}"
    );

    let kms = ws.serve();
    let admin = kms.client("admin");
    for id in &created {
        let described = admin.describe_key().key_id(id).send().await.unwrap();
        assert_eq!(
            described.key_metadata().unwrap().key_spec(),
            Some(&KeySpec::Rsa4096)
        );
    }
}

/// The JSON log has one line per request with its id, operation, principal
/// and outcome, and nowhere a plaintext, a data key or a secret access key.
#[tokio::test(flavor = "multi_thread")]
async fn logs_say_who_did_what_and_never_carry_secrets() {
    let ws = Workspace::new();
    let kms = ws.serve_with(&["--log-format", "json"]);
    let alice = kms.client("alice");
    let admin = kms.client("admin");
    let key = admin
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let plaintext = b"TOP-SECRET-PLAINTEXT-7d1f3a";
    let blob = alice
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(plaintext.to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    alice.decrypt().ciphertext_blob(blob).send().await.unwrap();
    let data_key = alice
        .generate_data_key()
        .key_id(&key)
        .number_of_bytes(32)
        .send()
        .await
        .unwrap();
    let denied = kms
        .client("bob")
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(plaintext.to_vec()))
        .send()
        .await;
    assert!(denied.is_err());
    let log = kms.log();
    drop(kms);

    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let data_key_bytes = data_key.plaintext().unwrap().as_ref();
    for (what, secret) in [
        ("plaintext", String::from_utf8(plaintext.to_vec()).unwrap()),
        ("plaintext (base64)", b64(plaintext)),
        ("data key (base64)", b64(data_key_bytes)),
        ("admin's secret", user("admin").1.to_owned()),
        ("alice's secret", user("alice").1.to_owned()),
    ] {
        assert!(!log.contains(&secret), "the log carries the {what}:\n{log}");
    }

    let requests: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "kms request")
        .collect();
    let find = |operation: &str, principal: &str| {
        requests
            .iter()
            .find(|v| {
                v["fields"]["operation"] == operation
                    && v["fields"]["principal"]
                        .as_str()
                        .unwrap_or("")
                        .ends_with(principal)
            })
            .unwrap_or_else(|| panic!("no log line for {principal} {operation}:\n{log}"))
    };
    let decrypt = &find("Decrypt", "user/alice")["fields"];
    assert_eq!(decrypt["outcome"], "ok");
    assert_eq!(decrypt["status"], 200);
    assert!(decrypt["request_id"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));
    let denied = &find("Encrypt", "user/bob")["fields"];
    assert_eq!(denied["outcome"], "AccessDeniedException");
    assert_eq!(denied["status"], 400);
}

/// A hundred clients at once, each on its own connection, each encrypting
/// and decrypting its own data: every call succeeds with its own answer.
#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_concurrent_clients() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let key = kms
        .client("admin")
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let mut tasks = Vec::new();
    for i in 0..100 {
        // A client of its own: its own connection pool.
        let client = kms.client("alice");
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..5 {
                let plaintext = format!("client {i} round {round}");
                let blob = client
                    .encrypt()
                    .key_id(&key)
                    .plaintext(Blob::new(plaintext.clone()))
                    .send()
                    .await
                    .unwrap()
                    .ciphertext_blob()
                    .unwrap()
                    .clone();
                let out = client.decrypt().ciphertext_blob(blob).send().await.unwrap();
                assert_eq!(out.plaintext().unwrap().as_ref(), plaintext.as_bytes());
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(kms.stop().success());
}
