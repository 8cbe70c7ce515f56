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

use aws_sdk_kms::operation::RequestId as _;
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

/// Some allowed, denied and failed calls: the number of requests made, and
/// the request ids of the Encrypt and the denied Decrypt.
async fn traffic_with_ids(kms: &server::Kmsgov) -> (usize, String, String) {
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
    let encrypted = kms
        .client("alice")
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("audited"))
        .send()
        .await
        .unwrap();
    let encrypt_id = encrypted.request_id().unwrap().to_owned();
    let blob = encrypted.ciphertext_blob().unwrap().clone();
    let denied = kms
        .client("carol")
        .decrypt()
        .ciphertext_blob(blob)
        .send()
        .await
        .unwrap_err();
    let denied_id = denied.request_id().unwrap().to_owned();
    let missing = admin.describe_key().key_id("alias/none").send().await;
    assert!(missing.is_err());
    (4, encrypt_id, denied_id)
}

async fn traffic(kms: &server::Kmsgov) -> usize {
    traffic_with_ids(kms).await.0
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
    let path = data.join("audit.log");
    let original = std::fs::read(&path).unwrap();
    let frames = frames(&original);
    let write = |bytes: &[u8]| std::fs::write(&path, bytes).unwrap();

    // One bit of entry 1's leaf.
    let at = frames
        .iter()
        .find_map(|f| f.leaves.iter().find(|(n, _)| *n == 1))
        .map(|(_, leaf)| leaf.start + 100)
        .unwrap();
    let mut changed = original.clone();
    changed[at] ^= 0x04;
    write(&changed);
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
    write(&original);
    assert_eq!(audit(&data, &["verify"]).status.code(), Some(0));

    // The last batch and its checkpoint removed: only the saved checkpoint
    // shows it.
    let last = frames.last().unwrap();
    let mut truncated = original.clone();
    truncated[last.offset..].fill(0);
    write(&truncated);
    assert_eq!(audit(&data, &["verify"]).status.code(), Some(0));
    let verified = audit(&data, &["verify", "--checkpoint", saved.to_str().unwrap()]);
    assert_eq!(verified.status.code(), Some(1));
    assert!(
        stdout(&verified).contains("truncated"),
        "{}",
        stdout(&verified)
    );

    // A checkpoint whose root was replaced no longer verifies.
    let frame = frames.iter().find(|f| f.size == 2).unwrap();
    let note = std::str::from_utf8(&truncated[frame.note.clone()]).unwrap();
    let lines: Vec<&str> = note.lines().collect();
    let forged = note.replacen(lines[2], "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 1);
    assert_eq!(forged.len(), note.len());
    let mut changed = truncated.clone();
    changed[frame.note.clone()].copy_from_slice(forged.as_bytes());
    write(&changed);
    let verified = audit(&data, &["verify"]);
    assert_eq!(verified.status.code(), Some(1));
    assert!(
        stdout(&verified).contains("checkpoint stored for size 2"),
        "{}",
        stdout(&verified)
    );
}

/// One frame of an `audit.log`, read by the layout `docs/audit.md` gives.
struct Frame {
    offset: usize,
    /// The log's size after it.
    size: u64,
    note: std::ops::Range<usize>,
    /// Each entry's position and the bytes of its leaf.
    leaves: Vec<(u64, std::ops::Range<usize>)>,
}

fn frames(bytes: &[u8]) -> Vec<Frame> {
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    assert_eq!(&bytes[..16], b"kmsgov-audit-1\n\0");
    let mut out = Vec::new();
    let mut offset = 16;
    // Zeros after the frames are space made ready for the next ones.
    while offset < bytes.len() && u32_at(offset) != 0 {
        let end = offset + 4 + u32_at(offset);
        let first = u64::from_le_bytes(bytes[offset + 4..offset + 12].try_into().unwrap());
        let count = u32_at(offset + 12) as u64;
        let note = offset + 20..offset + 20 + u32_at(offset + 16);
        let mut at = note.end;
        let mut leaves = Vec::new();
        for n in first..first + count {
            let leaf = at + 4..at + 4 + u32_at(at);
            at = leaf.end;
            at += 4 + u32_at(at);
            leaves.push((n, leaf));
        }
        assert_eq!(at + 32, end, "the frame at {offset}");
        out.push(Frame {
            offset,
            size: first + count,
            note,
            leaves,
        });
        offset = end;
    }
    out
}

/// Evidence that one request is in the log, checked offline with only the
/// pinned verifier key; changed evidence is refused.
#[tokio::test(flavor = "multi_thread")]
async fn evidence_of_a_request_is_checked_offline() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let (_, encrypt_id, denied_id) = traffic_with_ids(&kms).await;
    traffic(&kms).await;
    assert!(kms.stop().success());
    let data = ws.data_dir();
    let key = stdout(&audit(&data, &["verifier-key"])).trim().to_owned();

    let check = |evidence: &str| {
        let path = ws.dir.path().join("evidence.json");
        std::fs::write(&path, evidence).unwrap();
        std::process::Command::new(binary())
            .args(["audit", "check", "--verifier-key", &key, "--evidence"])
            .arg(&path)
            .output()
            .unwrap()
    };
    let proved = audit(&data, &["prove", "--request-id", &encrypt_id]);
    assert_eq!(proved.status.code(), Some(0), "{proved:?}");
    let evidence = stdout(&proved);
    let checked = check(&evidence);
    assert_eq!(checked.status.code(), Some(0), "{checked:?}");
    let said = stdout(&checked);
    assert!(said.contains(&encrypt_id), "{said}");
    assert!(
        said.contains("Encrypt by arn:aws:iam::111122223333:user/alice"),
        "{said}"
    );
    assert!(said.contains("(Allow, Ok)"), "{said}");

    let denied = stdout(&audit(&data, &["prove", "--request-id", &denied_id]));
    let said = stdout(&check(&denied));
    assert!(
        said.contains("Decrypt by arn:aws:iam::111122223333:user/carol"),
        "{said}"
    );
    assert!(
        said.contains("(Deny, ExplicitDeny): AccessDeniedException"),
        "{said}"
    );

    // Changed evidence: another position, another leaf, another detail
    // record, another key.
    let mut json: Value = serde_json::from_str(&evidence).unwrap();
    let original = json.clone();
    json["seq"] = (json["seq"].as_u64().unwrap() + 1).into();
    assert_eq!(check(&json.to_string()).status.code(), Some(1));
    json = original.clone();
    json["leaf"] = denied_json_member(&denied, "leaf");
    assert_eq!(check(&json.to_string()).status.code(), Some(1));
    json = original.clone();
    json["detail"] = denied_json_member(&denied, "detail");
    let refused = check(&json.to_string());
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stdout(&refused).contains("detail record"),
        "{}",
        stdout(&refused)
    );
    // The key of another log (another Region's name) signed nothing here.
    let other = stdout(&audit(&data, &["verifier-key", "--region", "eu-west-1"]));
    let path = ws.dir.path().join("evidence.json");
    std::fs::write(&path, &evidence).unwrap();
    let other_key = std::process::Command::new(binary())
        .args([
            "audit",
            "check",
            "--verifier-key",
            other.trim(),
            "--evidence",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(other_key.status.code(), Some(1), "{other_key:?}");
    assert!(
        stdout(&other_key).contains("no signature"),
        "{}",
        stdout(&other_key)
    );

    // An unknown request id is an error.
    let unknown = audit(
        &data,
        &[
            "prove",
            "--request-id",
            "00000000-0000-4000-8000-000000000000",
        ],
    );
    assert_eq!(unknown.status.code(), Some(2));
}

fn denied_json_member(evidence: &str, member: &str) -> Value {
    serde_json::from_str::<Value>(evidence).unwrap()[member].clone()
}
