//! The audit log of a served data directory: every request through the SDK
//! is in it, `kmsgov audit verify` finds it intact across restarts and
//! extending a saved checkpoint, and finds and names a changed entry, a
//! truncation and a forged checkpoint.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/server.rs"]
mod server;

use std::path::Path;
use std::process::Output;

use aws_sdk_kms::primitives::Blob;
use serde_json::Value;
use server::{binary, Workspace};

fn audit(data_dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(binary())
        .arg("audit")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("KMSGOV_ROOT_KEY")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Some allowed, denied and failed calls; the number of requests made.
async fn traffic(kms: &server::Kmsgov) -> usize {
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
    let blob = kms
        .client("alice")
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("audited"))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    let denied = kms
        .client("carol")
        .decrypt()
        .ciphertext_blob(blob)
        .send()
        .await;
    assert!(denied.is_err());
    let missing = admin.describe_key().key_id("alias/none").send().await;
    assert!(missing.is_err());
    4
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_is_in_a_log_that_verifies() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let made = traffic(&kms).await;
    assert!(kms.stop().success());
    let data = ws.data_dir();

    let verified = audit(&data, &["verify"]);
    assert_eq!(verified.status.code(), Some(0), "{verified:?}");
    assert!(stdout(&verified).starts_with(&format!("ok: {made} entries")));

    let shown = audit(&data, &["show", "--format", "json"]);
    let lines: Vec<Value> = stdout(&shown)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<(String, String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["operation"].as_str().unwrap().to_owned(),
                l["decision"].as_str().unwrap().to_owned(),
                l["principal"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    let expect =
        |op: &str, decision: &str, who: &str| (op.to_owned(), decision.to_owned(), who.to_owned());
    assert_eq!(
        summary,
        [
            expect("CreateKey", "Allow", "admin"),
            expect("Encrypt", "Allow", "alice"),
            expect("Decrypt", "Deny", "carol"),
            expect("DescribeKey", "Error", "admin"),
        ]
    );
    assert_eq!(lines[2]["reason"], "ExplicitDeny");

    // Save the checkpoint, serve again, and the log still extends it.
    let saved = ws.dir.path().join("saved.checkpoint");
    std::fs::write(&saved, stdout(&audit(&data, &["checkpoint"]))).unwrap();
    let kms = ws.serve();
    let more = traffic(&kms).await;
    assert!(kms.stop().success());
    let verified = audit(&data, &["verify", "--checkpoint", saved.to_str().unwrap()]);
    assert_eq!(verified.status.code(), Some(0), "{verified:?}");
    assert!(stdout(&verified).starts_with(&format!("ok: {} entries", made + more)));

    // A pinned verifier key works without the root key.
    let key = stdout(&audit(&data, &["verifier-key"]));
    let pinned = std::process::Command::new(binary())
        .args([
            "audit",
            "verify",
            "--verifier-key",
            key.trim(),
            "--data-dir",
        ])
        .arg(&data)
        .arg("--root-key-file")
        .arg("/nonexistent")
        .output()
        .unwrap();
    assert_eq!(pinned.status.code(), Some(0), "{pinned:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_behind_the_servers_back_are_found() {
    let ws = Workspace::new();
    let kms = ws.serve();
    traffic(&kms).await;
    assert!(kms.stop().success());
    let data = ws.data_dir();
    let saved = ws.dir.path().join("saved.checkpoint");
    std::fs::write(&saved, stdout(&audit(&data, &["checkpoint"]))).unwrap();
    let db = rusqlite::Connection::open(data.join("audit.db")).unwrap();

    // One bit of entry 1's leaf.
    let leaf: Vec<u8> = db
        .query_row("SELECT leaf FROM audit_entries WHERE seq = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    let mut changed = leaf.clone();
    changed[100] ^= 0x04;
    db.execute(
        "UPDATE audit_entries SET leaf = ?1 WHERE seq = 1",
        [&changed],
    )
    .unwrap();
    let verified = audit(&data, &["verify"]);
    assert_eq!(verified.status.code(), Some(1));
    let report = stdout(&verified);
    assert!(report.contains("an entry in 1..2 was changed"), "{report}");
    // The server refuses to go on from a log that does not match its checkpoint.
    let refused = std::process::Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("audit"));
    db.execute("UPDATE audit_entries SET leaf = ?1 WHERE seq = 1", [&leaf])
        .unwrap();
    assert_eq!(audit(&data, &["verify"]).status.code(), Some(0));

    // The last entry and its checkpoint removed: only the saved checkpoint
    // shows it.
    db.execute("DELETE FROM audit_entries WHERE seq = 3", [])
        .unwrap();
    db.execute("DELETE FROM audit_checkpoints WHERE size = 4", [])
        .unwrap();
    assert_eq!(audit(&data, &["verify"]).status.code(), Some(0));
    let verified = audit(&data, &["verify", "--checkpoint", saved.to_str().unwrap()]);
    assert_eq!(verified.status.code(), Some(1));
    assert!(
        stdout(&verified).contains("truncated"),
        "{}",
        stdout(&verified)
    );

    // A checkpoint whose root was replaced no longer verifies.
    let note: String = db
        .query_row(
            "SELECT note FROM audit_checkpoints WHERE size = 2",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let lines: Vec<&str> = note.lines().collect();
    let forged = note.replacen(lines[2], "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 1);
    db.execute(
        "UPDATE audit_checkpoints SET note = ?1 WHERE size = 2",
        [&forged],
    )
    .unwrap();
    let verified = audit(&data, &["verify"]);
    assert_eq!(verified.status.code(), Some(1));
    assert!(
        stdout(&verified).contains("checkpoint stored for size 2"),
        "{}",
        stdout(&verified)
    );
}
