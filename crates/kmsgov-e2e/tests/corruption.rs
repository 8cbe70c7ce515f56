//! A damaged data directory is refused with a clear error, never served:
//! a key record that no longer decodes, key material that no longer
//! unwraps, and a database file overwritten with garbage.

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

use server::{binary, Workspace};

async fn populated() -> Workspace {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    for _ in 0..20 {
        admin
            .create_key()
            .description("x".repeat(500))
            .send()
            .await
            .unwrap();
    }
    assert!(kms.stop().success());
    ws
}

fn start(ws: &Workspace) -> Output {
    std::process::Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(ws.data_dir())
        .arg("--world")
        .arg(ws.world())
        .env_remove("KMSGOV_ROOT_KEY")
        .output()
        .unwrap()
}

fn refused(ws: &Workspace) -> String {
    let output = start(ws);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_that_does_not_decode_is_refused() {
    let ws = populated().await;
    let db = rusqlite::Connection::open(ws.data_dir().join("kmsgov.db")).unwrap();
    db.execute(
        "UPDATE keys SET record = x'01ff00' WHERE key_id = (SELECT MIN(key_id) FROM keys)",
        [],
    )
    .unwrap();
    drop(db);
    let stderr = refused(&ws);
    assert!(stderr.contains("cannot open the service"), "{stderr}");
    assert!(!stderr.contains("root key"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn key_material_that_does_not_unwrap_is_refused() {
    let ws = populated().await;
    let db = rusqlite::Connection::open(ws.data_dir().join("kmsgov.db")).unwrap();
    let (id, record): (String, Vec<u8>) = db
        .query_row("SELECT key_id, record FROM keys LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    // The record is a version byte and JSON; change one character of the
    // wrapped material's base64.
    let mut json: serde_json::Value = serde_json::from_slice(&record[1..]).unwrap();
    let wrapped = json["versions"][0]["wrapped_material"]
        .as_str()
        .unwrap()
        .to_owned();
    let flipped: String = wrapped
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 10 {
                if c == 'A' {
                    'B'
                } else {
                    'A'
                }
            } else {
                c
            }
        })
        .collect();
    json["versions"][0]["wrapped_material"] = flipped.into();
    let mut changed = vec![record[0]];
    changed.extend(serde_json::to_vec(&json).unwrap());
    db.execute(
        "UPDATE keys SET record = ?1 WHERE key_id = ?2",
        rusqlite::params![changed, id],
    )
    .unwrap();
    drop(db);
    let stderr = refused(&ws);
    assert!(stderr.contains("cannot open the service"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_file_overwritten_with_garbage_is_refused() {
    let ws = populated().await;
    let path = ws.data_dir().join("kmsgov.db");
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 8192, "{}", bytes.len());
    // Everything after the first page: the schema survives, the data not.
    for (i, b) in bytes.iter_mut().enumerate().skip(4096) {
        *b = (i as u8).wrapping_mul(31) ^ 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    let _ = std::fs::remove_file(ws.data_dir().join("kmsgov.db-wal"));
    let _ = std::fs::remove_file(ws.data_dir().join("kmsgov.db-shm"));
    let stderr = refused(&ws);
    assert!(
        stderr.contains("corrupt") || stderr.contains("malformed"),
        "{stderr}"
    );
    assert!(!stderr.contains("root key"), "{stderr}");
}
