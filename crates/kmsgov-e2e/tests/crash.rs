//! Crash safety: the server under concurrent load is killed with SIGKILL at
//! random moments, again and again, and restarted on the same data
//! directory. Everything acknowledged before a kill must be there after it:
//! every created key, every ciphertext (decrypting to its plaintext), every
//! grant (letting its grantee in), every key policy change (the one last
//! acknowledged, or one sent after it whose answer the kill swallowed), and
//! an audit log that verifies and holds the request id of every
//! acknowledged call. Bounded: a few seconds per round.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/server.rs"]
mod server;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_kms::operation::RequestId as _;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::GrantOperation;
use serde_json::{json, Value};
use server::{user, Workspace};

const ROUNDS: usize = 6;
const WRITERS: usize = 6;

/// What the clients were told happened.
#[derive(Debug, Default)]
struct Acknowledged {
    keys: BTreeSet<String>,
    /// (key, ciphertext, plaintext)
    ciphertexts: Vec<(String, Blob, Vec<u8>)>,
    /// (key, grant id)
    grants: Vec<(String, String)>,
    /// Per key, the policies sent in order, and how many of them were
    /// acknowledged (the acknowledged ones are a prefix per writer; one
    /// writer owns each key's policy).
    policies: BTreeMap<String, (Vec<Value>, usize)>,
    request_ids: Vec<String>,
    calls: usize,
}

fn policy(marker: usize) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Root", "Effect": "Allow", "Action": "kms:*", "Resource": "*",
             "Principal": {"AWS": "arn:aws:iam::111122223333:root"}},
            {"Sid": format!("Marker{marker}"), "Effect": "Allow", "Action": "kms:DescribeKey",
             "Resource": "*", "Principal": {"AWS": "arn:aws:iam::111122223333:user/bob"}}
        ]
    })
}

/// One writer: keys, ciphertexts, data keys, grants and policy changes,
/// until the server goes away.
async fn writer(client: aws_sdk_kms::Client, seed: usize, acked: Arc<Mutex<Acknowledged>>) {
    let mut n = 0usize;
    loop {
        n += 1;
        let Ok(created) = client.create_key().send().await else {
            return;
        };
        let key = created.key_metadata().unwrap().key_id().to_owned();
        {
            let mut a = acked.lock().unwrap();
            a.keys.insert(key.clone());
            a.request_ids
                .extend(created.request_id().map(str::to_owned));
            a.calls += 1;
        }
        let plaintext = format!("writer {seed} call {n}").into_bytes();
        let Ok(encrypted) = client
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new(plaintext.clone()))
            .send()
            .await
        else {
            return;
        };
        {
            let mut a = acked.lock().unwrap();
            a.ciphertexts.push((
                key.clone(),
                encrypted.ciphertext_blob().unwrap().clone(),
                plaintext,
            ));
            a.request_ids
                .extend(encrypted.request_id().map(str::to_owned));
            a.calls += 1;
        }
        let Ok(data_key) = client
            .generate_data_key()
            .key_id(&key)
            .number_of_bytes(32)
            .send()
            .await
        else {
            return;
        };
        {
            let mut a = acked.lock().unwrap();
            a.ciphertexts.push((
                key.clone(),
                data_key.ciphertext_blob().unwrap().clone(),
                data_key.plaintext().unwrap().as_ref().to_vec(),
            ));
            a.request_ids
                .extend(data_key.request_id().map(str::to_owned));
            a.calls += 1;
        }
        let Ok(grant) = client
            .create_grant()
            .key_id(&key)
            .grantee_principal(user("bob").2)
            .operations(GrantOperation::Decrypt)
            .send()
            .await
        else {
            return;
        };
        {
            let mut a = acked.lock().unwrap();
            a.grants
                .push((key.clone(), grant.grant_id().unwrap().to_owned()));
            a.request_ids.extend(grant.request_id().map(str::to_owned));
            a.calls += 1;
        }
        let body = policy(seed * 100_000 + n);
        acked
            .lock()
            .unwrap()
            .policies
            .entry(key.clone())
            .or_default()
            .0
            .push(body.clone());
        let Ok(put) = client
            .put_key_policy()
            .key_id(&key)
            .policy(body.to_string())
            .send()
            .await
        else {
            return;
        };
        let mut a = acked.lock().unwrap();
        a.policies.get_mut(&key).unwrap().1 += 1;
        a.request_ids.extend(put.request_id().map(str::to_owned));
        a.calls += 1;
    }
}

fn lcg(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *state >> 33
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_acknowledged_is_lost_to_sigkill() {
    let ws = Workspace::new();
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let mut random = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let seed = random;
    for round in 0..ROUNDS {
        let kms = ws.serve();
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                tokio::spawn(writer(
                    kms.client("admin"),
                    round * WRITERS + w,
                    Arc::clone(&acked),
                ))
            })
            .collect();
        let delay = 150 + lcg(&mut random) % 600;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        kms.kill();
        for w in writers {
            w.await.unwrap();
        }
    }

    let kms = ws.serve();
    let admin = kms.client("admin");
    let bob = kms.client("bob");
    let a = std::mem::take(&mut *acked.lock().unwrap());
    assert!(a.keys.len() >= ROUNDS, "too little was done: {a:?}");
    for key in &a.keys {
        admin
            .describe_key()
            .key_id(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("key {key} acknowledged and lost: {e:?} (seed {seed})"));
    }
    for (key, blob, plaintext) in &a.ciphertexts {
        let opened = admin
            .decrypt()
            .ciphertext_blob(blob.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("a ciphertext of {key} no longer opens: {e:?}"));
        assert_eq!(opened.plaintext().unwrap().as_ref(), plaintext.as_slice());
    }
    for (key, grant) in &a.grants {
        let listed = admin.list_grants().key_id(key).send().await.unwrap();
        assert!(
            listed.grants().iter().any(|g| g.grant_id() == Some(grant)),
            "grant {grant} on {key} acknowledged and lost"
        );
    }
    // bob decrypts through his grants.
    for (key, blob, plaintext) in a
        .ciphertexts
        .iter()
        .filter(|(k, _, _)| a.grants.iter().any(|(g, _)| g == k))
    {
        let opened = bob
            .decrypt()
            .ciphertext_blob(blob.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("bob's grant on {key} not in force: {e:?}"));
        assert_eq!(opened.plaintext().unwrap().as_ref(), plaintext.as_slice());
    }
    let mut policies_checked = 0;
    for (key, (sent, acknowledged)) in &a.policies {
        let stored = admin.get_key_policy().key_id(key).send().await.unwrap();
        let stored: Value = serde_json::from_str(stored.policy().unwrap()).unwrap();
        if *acknowledged > 0 {
            // The last acknowledged policy, or one sent after it.
            assert!(
                sent[acknowledged - 1..].contains(&stored),
                "key {key}: acknowledged policy {acknowledged} of {} lost",
                sent.len()
            );
            policies_checked += 1;
        }
    }
    assert!(kms.stop().success());

    // The audit log verifies and holds every acknowledged call.
    let verified = std::process::Command::new(server::binary())
        .args(["audit", "verify", "--data-dir"])
        .arg(ws.data_dir())
        .output()
        .unwrap();
    assert_eq!(verified.status.code(), Some(0), "{verified:?}");
    let shown = std::process::Command::new(server::binary())
        .args(["audit", "show", "--format", "json", "--data-dir"])
        .arg(ws.data_dir())
        .output()
        .unwrap();
    let logged: BTreeSet<String> = String::from_utf8(shown.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["request_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let missing: Vec<&String> = a
        .request_ids
        .iter()
        .filter(|id| !logged.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged calls not in the audit log: {missing:?}"
    );
    assert_eq!(a.request_ids.len(), a.calls);
    eprintln!(
        "crash test: {ROUNDS} kills, {} acknowledged calls checked ({} keys, {} ciphertexts, {} grants, {policies_checked} policies, {} audit entries), seed {seed}",
        a.calls,
        a.keys.len(),
        a.ciphertexts.len(),
        a.grants.len(),
        a.request_ids.len()
    );
}
