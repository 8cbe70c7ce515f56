//! Several services on one shared store (a store with a change feed, as
//! PostgreSQL is) behave as one: each applies the others' changes, a change
//! refused as conflicting is decided again on the latest state, and a
//! change that takes access away is answered only once the other live
//! services enforce it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{arn, b64, Harness, ACCOUNT};
use kmsgov_authz::{Environment, Operation, Scenario};
use kmsgov_core::root_key::RootKey;
use kmsgov_core::store::{MemoryStore, Store};
use kmsgov_core::{Config, ErrorKind, Kms, Request, LEASE};
use kmsgov_policy::Caller;
use serde_json::{json, Value};

fn key_arn(key: &str) -> String {
    format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{key}")
}

/// Another service on `h`'s store, root key and clock.
fn open_beside(h: &Harness) -> Kms {
    Kms::open(Config {
        region: "us-east-1".into(),
        store: Arc::clone(&h.store),
        root_key: RootKey::from_bytes(&h.root).unwrap(),
        clock: h.clock.clone(),
        directory: Scenario::parse(harness::WORLD).unwrap().world,
    })
    .unwrap()
}

/// Encrypt as `who` on `kms`.
fn encrypt_on(kms: &Kms, who: &str, key: &str) -> Result<Value, ErrorKind> {
    let caller = Caller::parse(&arn(who)).unwrap();
    let env = Environment::new();
    kms.call(&Request {
        caller: &caller,
        operation: Operation::Encrypt,
        input: &json!({"KeyId": key, "Plaintext": b64(b"shared secret")}),
        env: &env,
    })
    .map(|o| o.value().clone())
    .map_err(|e| e.kind)
}

/// Two services on one shared store.
fn two_nodes() -> (Harness, Harness) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::shared());
    let a = Harness::on_store(store, RootKey::generate().unwrap());
    let b = a.reopen();
    (a, b)
}

fn encrypt(h: &Harness, who: &str, key: &str) -> Result<Value, ErrorKind> {
    h.call(
        who,
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"shared secret")}),
    )
    .map_err(|e| e.kind)
}

#[test]
fn a_key_created_on_one_service_is_usable_on_the_other() {
    let (a, b) = two_nodes();
    // b has caught up once (its first request) and is not stale, so it
    // does not catch up by itself before the next request.
    encrypt(&b, "admin", "alias/none").unwrap_err();
    let key = a.symmetric_key();
    // b does not know the key, finds the feed ahead of it, catches up and
    // decides again: the key is usable at once.
    let ct = encrypt(&b, "admin", &key).unwrap()["CiphertextBlob"].clone();
    // And the other way round: a decrypts what b encrypted.
    let out = a.ok("admin", "Decrypt", json!({"CiphertextBlob": ct}));
    assert_eq!(out["KeyId"], json!(key_arn(&key)));
    a.kms.sync().unwrap();
    assert_eq!(b.kms.applied_position(), a.kms.applied_position());
    assert!(a.kms.applied_position() > 0);
}

#[test]
fn changes_on_one_service_are_enforced_by_the_other() {
    let (a, b) = two_nodes();
    let key = a.symmetric_key();
    let grant = a.ok(
        "admin",
        "CreateGrant",
        json!({"KeyId": key, "GranteePrincipal": arn("alice"), "Operations": ["Encrypt"]}),
    );
    b.kms.sync().unwrap();
    encrypt(&b, "alice", &key).unwrap();

    // An alias made on a resolves on b.
    a.ok(
        "admin",
        "CreateAlias",
        json!({"AliasName": "alias/shared", "TargetKeyId": key}),
    );
    b.kms.sync().unwrap();
    encrypt(&b, "admin", "alias/shared").unwrap();

    // Revoking the grant on a stops alice on b.
    a.ok(
        "admin",
        "RevokeGrant",
        json!({"KeyId": key, "GrantId": grant["GrantId"]}),
    );
    b.kms.sync().unwrap();
    assert_eq!(
        encrypt(&b, "alice", &key),
        Err(ErrorKind::AccessDeniedException)
    );

    // Disabling the key on a stops everyone on b.
    a.ok("admin", "DisableKey", json!({"KeyId": key}));
    b.kms.sync().unwrap();
    assert_eq!(
        encrypt(&b, "admin", &key),
        Err(ErrorKind::DisabledException)
    );

    // Moving and deleting the alias.
    a.ok("admin", "EnableKey", json!({"KeyId": key}));
    let other = a.symmetric_key();
    a.ok(
        "admin",
        "UpdateAlias",
        json!({"AliasName": "alias/shared", "TargetKeyId": other}),
    );
    b.kms.sync().unwrap();
    let out = encrypt(&b, "admin", "alias/shared").unwrap();
    assert_eq!(out["KeyId"], json!(key_arn(&other)));
    a.ok("admin", "DeleteAlias", json!({"AliasName": "alias/shared"}));
    b.kms.sync().unwrap();
    assert_eq!(
        encrypt(&b, "admin", "alias/shared"),
        Err(ErrorKind::NotFoundException)
    );
    // A key policy that no longer lets the account's IAM policies in.
    let policy = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "OnlyAdminManages", "Effect": "Allow",
        "Principal": {"AWS": arn("admin")},
        "Action": ["kms:PutKeyPolicy", "kms:DescribeKey", "kms:EnableKey"], "Resource": "*"}]});
    a.ok(
        "admin",
        "PutKeyPolicy",
        json!({"KeyId": key, "PolicyName": "default", "Policy": policy.to_string(),
               "BypassPolicyLockoutSafetyCheck": true}),
    );
    b.kms.sync().unwrap();
    assert_eq!(
        encrypt(&b, "admin", &key),
        Err(ErrorKind::AccessDeniedException)
    );
}

#[test]
fn a_deletion_carried_out_on_one_service_removes_the_key_on_the_other() {
    let (a, b) = two_nodes();
    let key = a.symmetric_key();
    a.ok(
        "admin",
        "ScheduleKeyDeletion",
        json!({"KeyId": key, "PendingWindowInDays": 7}),
    );
    b.kms.sync().unwrap();
    assert_eq!(b.describe(&key)["KeyState"], json!("PendingDeletion"));
    a.clock.advance(8 * 86_400);
    b.clock.advance(8 * 86_400);
    a.kms.tick().unwrap();
    // b finds the key due too, but a deleted it first: b catches up
    // instead of failing.
    b.kms.tick().unwrap();
    assert_eq!(
        b.call("admin", "DescribeKey", json!({"KeyId": key}))
            .unwrap_err()
            .kind,
        ErrorKind::NotFoundException
    );
}

#[test]
fn concurrent_changes_of_one_key_on_two_services_all_succeed() {
    let (a, b) = two_nodes();
    let key = a.symmetric_key();
    b.kms.sync().unwrap();
    let before = a.store.key(&key).unwrap().unwrap().revision;
    let rounds = 40;
    std::thread::scope(|s| {
        for (name, h) in [("a", &a), ("b", &b)] {
            let key = key.clone();
            s.spawn(move || {
                for i in 0..rounds {
                    if let Err(e) = h.call(
                        "admin",
                        "UpdateKeyDescription",
                        json!({"KeyId": key, "Description": format!("{name}{i}")}),
                    ) {
                        panic!("{name}{i}: {e} ({:?})", e.detail);
                    }
                }
            });
        }
    });
    // Every change was stored, none lost: one revision each.
    let after = a.store.key(&key).unwrap().unwrap();
    assert_eq!(after.revision, before + 2 * rounds);
    a.kms.sync().unwrap();
    b.kms.sync().unwrap();
    assert_eq!(
        a.describe(&key)["Description"],
        b.describe(&key)["Description"]
    );
}

#[test]
fn a_reset_on_one_service_empties_the_other() {
    let (a, b) = two_nodes();
    let key = a.symmetric_key();
    b.kms.sync().unwrap();
    encrypt(&b, "admin", &key).unwrap();
    a.kms.reset().unwrap();
    b.kms.sync().unwrap();
    assert_eq!(
        encrypt(&b, "admin", &key),
        Err(ErrorKind::NotFoundException)
    );
    // New keys after the reset still reach b.
    let fresh = a.symmetric_key();
    b.kms.sync().unwrap();
    encrypt(&b, "admin", &fresh).unwrap();
}

/// b follows the feed from its own thread; a's revocation returns only
/// once b enforces it, with no help from the test.
#[test]
fn a_revocation_returns_once_the_following_service_enforces_it() {
    let (a, _) = two_nodes();
    let b_kms = Arc::new(open_beside(&a));
    let follower = Kms::follow(&b_kms).expect("a shared store is followed");
    let key = a.symmetric_key();
    let grant = a.ok(
        "admin",
        "CreateGrant",
        json!({"KeyId": key, "GranteePrincipal": arn("alice"), "Operations": ["Encrypt"]}),
    );
    // b has caught up with the grant once it works there.
    let deadline = Instant::now() + Duration::from_secs(10);
    while encrypt_on(&b_kms, "alice", &key).is_err() {
        assert!(Instant::now() < deadline, "b never saw the grant");
        std::thread::sleep(Duration::from_millis(5));
    }
    a.ok(
        "admin",
        "RevokeGrant",
        json!({"KeyId": key, "GrantId": grant["GrantId"]}),
    );
    // No sync, no waiting: b already refuses.
    assert_eq!(
        encrypt_on(&b_kms, "alice", &key),
        Err(ErrorKind::AccessDeniedException)
    );
    drop(b_kms);
    follower.join().unwrap();
}

/// b acknowledged the feed but stopped following it: a waits out the
/// lease, after which b, by its own staleness check, catches up before it
/// answers.
#[test]
fn a_revocation_outwaits_a_service_that_stopped_following() {
    let (a, b) = two_nodes();
    let key = a.symmetric_key();
    let grant = a.ok(
        "admin",
        "CreateGrant",
        json!({"KeyId": key, "GranteePrincipal": arn("alice"), "Operations": ["Encrypt"]}),
    );
    b.kms.sync().unwrap();
    encrypt(&b, "alice", &key).unwrap();
    let started = Instant::now();
    a.ok(
        "admin",
        "RevokeGrant",
        json!({"KeyId": key, "GrantId": grant["GrantId"]}),
    );
    assert!(
        started.elapsed() >= LEASE,
        "a answered after {:?}, before b's lease ran out",
        started.elapsed()
    );
    assert_eq!(
        encrypt(&b, "alice", &key),
        Err(ErrorKind::AccessDeniedException)
    );
}
