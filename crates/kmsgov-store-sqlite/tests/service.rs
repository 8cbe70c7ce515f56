//! The KMS service on a real SQLite file: what it acknowledged survives a
//! restart (and is visible to another connection at once), what fell due
//! while it was down is carried out on reopening, and concurrent requests
//! leave a state the file agrees with.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use base64::Engine as _;
use kmsgov_authz::{Environment, Operation, Scenario};
use kmsgov_core::root_key::RootKey;
use kmsgov_core::store::{KeyRecord, Store};
use kmsgov_core::{ciphertext, Config, ErrorKind, Kms, KmsError, ManualClock, Request};
use kmsgov_policy::Caller;
use kmsgov_store_sqlite::SqliteStore;
use serde_json::{json, Value};
use tempfile::TempDir;

const ACCOUNT: &str = "111122223333";
/// 2026-01-01T00:00:00Z.
const START: i64 = 1_767_225_600;
const DAY: i64 = 86_400;

/// An administrator with `kms:*`, and alice and the role `app` with no IAM
/// policy.
const WORLD: &str = r#"{
  "accounts": {"111122223333": {}},
  "principals": [
    {"arn": "arn:aws:iam::111122223333:user/admin", "policies": [
      {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}]},
    {"arn": "arn:aws:iam::111122223333:user/alice"},
    {"arn": "arn:aws:iam::111122223333:role/app"}
  ],
  "tests": []
}"#;

// ----- a service on a SQLite file -----

/// A service on `kms.db` in a temporary directory.
struct Node {
    kms: Kms,
    clock: Arc<ManualClock>,
    path: PathBuf,
    root: [u8; 32],
}

fn open(path: &Path, root: &[u8; 32], clock: Arc<ManualClock>) -> Result<Kms, KmsError> {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(path).unwrap());
    Kms::open(Config {
        region: "us-east-1".into(),
        store,
        root_key: RootKey::from_bytes(root).unwrap(),
        clock,
        directory: Scenario::parse(WORLD).unwrap().world,
    })
}

impl Node {
    fn new(dir: &TempDir) -> Node {
        let root = *RootKey::generate().unwrap().expose_bytes();
        let clock = Arc::new(ManualClock::at(START));
        let path = dir.path().join("kms.db");
        let kms = open(&path, &root, Arc::clone(&clock)).unwrap();
        Node {
            kms,
            clock,
            path,
            root,
        }
    }

    /// Drops the service and its store, and opens both again on the same
    /// file with the same root key; the clock keeps its time.
    fn restart(self) -> Node {
        let Node {
            kms,
            clock,
            path,
            root,
        } = self;
        drop(kms);
        let kms = open(&path, &root, Arc::clone(&clock)).unwrap();
        Node {
            kms,
            clock,
            path,
            root,
        }
    }

    /// Another connection to the file, opened now.
    fn observer(&self) -> SqliteStore {
        SqliteStore::open(&self.path).unwrap()
    }

    /// The key as another connection reads it.
    fn stored(&self, key_id: &str) -> Option<KeyRecord> {
        self.observer().key(key_id).unwrap()
    }

    fn call(&self, who: &str, op: &str, input: Value) -> Result<Value, KmsError> {
        call(&self.kms, who, op, input)
    }

    #[track_caller]
    fn ok(&self, who: &str, op: &str, input: Value) -> Value {
        match self.call(who, op, input) {
            Ok(v) => v,
            Err(e) => panic!("{op} as {who} failed: {e}"),
        }
    }

    #[track_caller]
    fn err(&self, who: &str, op: &str, input: Value, kind: ErrorKind) {
        match self.call(who, op, input) {
            Ok(v) => panic!("{op} as {who} succeeded, expected {kind}: {v}"),
            Err(e) => assert_eq!(e.kind, kind, "{op} as {who}: {e}"),
        }
    }

    fn create_key(&self, input: Value) -> String {
        self.ok(ADMIN, "CreateKey", input)["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn describe(&self, key_id: &str) -> Value {
        self.ok(ADMIN, "DescribeKey", json!({"KeyId": key_id}))["KeyMetadata"].clone()
    }
}

fn call(kms: &Kms, who: &str, op: &str, input: Value) -> Result<Value, KmsError> {
    let caller = Caller::parse(&format!("arn:aws:iam::{ACCOUNT}:{who}")).unwrap();
    let env = Environment::new();
    kms.call(&Request {
        caller: &caller,
        operation: Operation::from_name(op).unwrap(),
        input: &input,
        env: &env,
    })
    .map(|o| o.value().clone())
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

fn key_arn(id: &str) -> String {
    format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{id}")
}

/// The key version a symmetric ciphertext names.
fn version_of(blob: &Value) -> u32 {
    ciphertext::parse(&unb64(blob)).unwrap().key_version()
}

// Callers: `user/admin`, `user/alice`, `role/app`.
const ADMIN: &str = "user/admin";
const ALICE: &str = "user/alice";
const APP: &str = "role/app";

/// Everything the list and get operations say about a key, as admin sees it.
fn key_view(n: &Node, id: &str) -> Value {
    let spec = n.describe(id)["KeySpec"].clone();
    let rotations = if spec == "SYMMETRIC_DEFAULT" {
        n.call(ADMIN, "ListKeyRotations", json!({"KeyId": id}))
            .unwrap_or_else(|e| json!(e.kind.name()))
    } else {
        Value::Null
    };
    json!({
        "describe": n.describe(id),
        "aliases": n.ok(ADMIN, "ListAliases", json!({"KeyId": id})),
        "grants": n.ok(ADMIN, "ListGrants", json!({"KeyId": id})),
        "tags": n.ok(ADMIN, "ListResourceTags", json!({"KeyId": id})),
        "policy": n.ok(ADMIN, "GetKeyPolicy", json!({"KeyId": id, "PolicyName": "default"})),
        "rotations": rotations,
    })
}

// ----- restart durability -----

#[test]
fn everything_acknowledged_survives_a_restart() {
    let dir = TempDir::new().unwrap();
    let n = Node::new(&dir);

    // Keys of several specs.
    let sym = n.create_key(
        json!({"Description": "rotated", "Tags": [{"TagKey": "team", "TagValue": "blue"}]}),
    );
    let rsa = n.create_key(json!({"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}));
    let ecc = n.create_key(json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}));
    let hmac = n.create_key(json!({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}));
    let doomed = n.create_key(json!({"Description": "to be deleted"}));

    // Aliases, a grant, tags, a changed key policy.
    n.ok(
        ADMIN,
        "CreateAlias",
        json!({"AliasName": "alias/rotated", "TargetKeyId": sym}),
    );
    n.ok(
        ADMIN,
        "CreateAlias",
        json!({"AliasName": "alias/rsa", "TargetKeyId": rsa}),
    );
    let grant = n.ok(
        ADMIN,
        "CreateGrant",
        json!({"KeyId": sym, "GranteePrincipal": format!("arn:aws:iam::{ACCOUNT}:{APP}"),
               "Operations": ["Decrypt"], "Name": "app-decrypts"}),
    )["GrantId"]
        .clone();
    n.ok(
        ADMIN,
        "TagResource",
        json!({"KeyId": hmac, "Tags": [{"TagKey": "cost-center", "TagValue": "42"}, {"TagKey": "env", "TagValue": "prod"}]}),
    );
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "alice signs", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:{ALICE}")},
             "Action": "kms:Sign", "Resource": "*"}
        ]
    })
    .to_string();
    n.ok(
        ADMIN,
        "PutKeyPolicy",
        json!({"KeyId": ecc, "PolicyName": "default", "Policy": policy}),
    );

    // Rotations: on demand, then automatic with the clock.
    let encrypt = |n: &Node, text: &str| {
        n.ok(
            ADMIN,
            "Encrypt",
            json!({"KeyId": "alias/rotated", "Plaintext": b64(text.as_bytes()), "EncryptionContext": {"text": text}}),
        )["CiphertextBlob"]
            .clone()
    };
    let mut blobs = vec![("first", encrypt(&n, "first"))];
    n.ok(ADMIN, "RotateKeyOnDemand", json!({"KeyId": sym}));
    blobs.push(("on demand", encrypt(&n, "on demand")));
    n.ok(
        ADMIN,
        "EnableKeyRotation",
        json!({"KeyId": sym, "RotationPeriodInDays": 90}),
    );
    n.clock.advance(90 * DAY);
    blobs.push(("automatic", encrypt(&n, "automatic")));
    let versions: Vec<u32> = blobs.iter().map(|(_, b)| version_of(b)).collect();
    assert_eq!(versions, [1, 2, 3]);

    // Asymmetric and HMAC results made before the restart.
    let rsa_blob = n.ok(
        ADMIN,
        "Encrypt",
        json!({"KeyId": "alias/rsa", "Plaintext": b64(b"rsa secret"), "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
    )["CiphertextBlob"]
        .clone();
    let message = b64(b"signed before the restart");
    let signature = n.ok(
        ALICE,
        "Sign",
        json!({"KeyId": ecc, "Message": message, "SigningAlgorithm": "ECDSA_SHA_256"}),
    )["Signature"]
        .clone();
    let mac = n.ok(
        ADMIN,
        "GenerateMac",
        json!({"KeyId": hmac, "Message": message, "MacAlgorithm": "HMAC_SHA_256"}),
    )["Mac"]
        .clone();

    // A scheduled deletion, still pending at the restart.
    n.ok(
        ADMIN,
        "ScheduleKeyDeletion",
        json!({"KeyId": doomed, "PendingWindowInDays": 7}),
    );

    // Imported material.
    let imported = imported_key(&n);

    let keys = [&sym, &rsa, &ecc, &hmac, &doomed]
        .into_iter()
        .chain(imported.as_ref().map(|(id, _)| id))
        .cloned()
        .collect::<Vec<_>>();
    let before: Vec<Value> = keys.iter().map(|id| key_view(&n, id)).collect();
    let all_aliases = n.ok(ADMIN, "ListAliases", json!({}));
    let list_keys = n.ok(ADMIN, "ListKeys", json!({}));
    let snapshot = n.observer().load_all().unwrap();
    assert_eq!(before[4]["describe"]["KeyState"], "PendingDeletion");

    let n = n.restart();

    let after: Vec<Value> = keys.iter().map(|id| key_view(&n, id)).collect();
    assert_eq!(after, before);
    assert_eq!(n.ok(ADMIN, "ListAliases", json!({})), all_aliases);
    assert_eq!(n.ok(ADMIN, "ListKeys", json!({})), list_keys);
    assert_eq!(n.observer().load_all().unwrap(), snapshot);
    assert_eq!(after[0]["grants"]["Grants"][0]["GrantId"], grant);
    assert_eq!(
        after[0]["rotations"]["Rotations"].as_array().unwrap().len(),
        2
    );
    assert_eq!(after[3]["tags"]["Tags"].as_array().unwrap().len(), 2);

    // Ciphertexts of every version decrypt, through the grant too.
    for (text, blob) in &blobs {
        for who in [ADMIN, APP] {
            let out = n.ok(
                who,
                "Decrypt",
                json!({"CiphertextBlob": blob, "EncryptionContext": {"text": text}}),
            );
            assert_eq!(unb64(&out["Plaintext"]), text.as_bytes());
            assert_eq!(out["KeyId"], key_arn(&sym));
        }
    }
    // The grant allows only Decrypt.
    n.err(
        APP,
        "Encrypt",
        json!({"KeyId": sym, "Plaintext": b64(b"x")}),
        ErrorKind::AccessDeniedException,
    );
    // Rotation goes on from the stored schedule: 90 more days, version 4.
    n.clock.advance(90 * DAY - 1);
    assert_eq!(version_of(&encrypt(&n, "before")), 3);
    n.clock.advance(1);
    assert_eq!(version_of(&encrypt(&n, "after")), 4);

    let out = n.ok(
        ADMIN,
        "Decrypt",
        json!({"KeyId": rsa, "CiphertextBlob": rsa_blob, "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
    );
    assert_eq!(unb64(&out["Plaintext"]), b"rsa secret");

    // The changed key policy still decides: alice signs with that key only.
    let verify = n.ok(
        ADMIN,
        "Verify",
        json!({"KeyId": ecc, "Message": message, "Signature": signature, "SigningAlgorithm": "ECDSA_SHA_256"}),
    );
    assert_eq!(verify["SignatureValid"], true);
    n.ok(
        ALICE,
        "Sign",
        json!({"KeyId": ecc, "Message": message, "SigningAlgorithm": "ECDSA_SHA_256"}),
    );
    n.err(
        ALICE,
        "GenerateMac",
        json!({"KeyId": hmac, "Message": message, "MacAlgorithm": "HMAC_SHA_256"}),
        ErrorKind::AccessDeniedException,
    );
    let verify = n.ok(
        ADMIN,
        "VerifyMac",
        json!({"KeyId": hmac, "Message": message, "Mac": mac, "MacAlgorithm": "HMAC_SHA_256"}),
    );
    assert_eq!(verify["MacValid"], true);

    if let Some((id, blob)) = &imported {
        let out = n.ok(ADMIN, "Decrypt", json!({"CiphertextBlob": blob}));
        assert_eq!(unb64(&out["Plaintext"]), b"imported");
        assert_eq!(out["KeyId"], key_arn(id));
    }

    // Another root key does not open the file, and says so as KMS would.
    let other = *RootKey::generate().unwrap().expose_bytes();
    let e = open(&n.path, &other, Arc::clone(&n.clock)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::KMSInternalException, "{e}");
    // The file is untouched by the refusal.
    assert_eq!(
        n.observer().key(&sym).unwrap().unwrap().versions.len(),
        4,
        "the rotation after the restart is stored"
    );
    drop(n);
    let n = open(
        &dir.path().join("kms.db"),
        &other,
        Arc::new(ManualClock::at(START)),
    );
    assert!(n.is_err());
}

/// A symmetric key with imported material (wrapped with the `openssl`
/// command line) and a ciphertext under it; `None` when `openssl` is not
/// installed.
fn imported_key(n: &Node) -> Option<(String, Value)> {
    if !Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("skipping imported material: the `openssl` command is not available");
        return None;
    }
    let id = n.create_key(json!({"Origin": "EXTERNAL"}));
    let params = n.ok(
        ADMIN,
        "GetParametersForImport",
        json!({"KeyId": id, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"}),
    );
    let dir = TempDir::new().unwrap();
    let public = dir.path().join("public.der");
    let material = dir.path().join("material.bin");
    let wrapped = dir.path().join("wrapped.bin");
    fs::write(&public, unb64(&params["PublicKey"])).unwrap();
    let random = n.ok(ADMIN, "GenerateRandom", json!({"NumberOfBytes": 32}));
    fs::write(&material, unb64(&random["Plaintext"])).unwrap();
    let output = Command::new("openssl")
        .args(["pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey"])
        .arg(&public)
        .arg("-in")
        .arg(&material)
        .arg("-out")
        .arg(&wrapped)
        .args([
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    n.ok(
        ADMIN,
        "ImportKeyMaterial",
        json!({"KeyId": id, "ImportToken": params["ImportToken"],
               "EncryptedKeyMaterial": b64(&fs::read(&wrapped).unwrap()),
               "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}),
    );
    let blob = n.ok(
        ADMIN,
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(b"imported")}),
    )["CiphertextBlob"]
        .clone();
    Some((id, blob))
}

// ----- scheduled deletion across a restart -----

#[test]
fn a_deletion_that_falls_due_while_the_service_is_down_is_carried_out_on_reopening() {
    let dir = TempDir::new().unwrap();
    let n = Node::new(&dir);
    let doomed = n.create_key(json!({}));
    let kept = n.create_key(json!({}));
    n.ok(
        ADMIN,
        "CreateAlias",
        json!({"AliasName": "alias/doomed", "TargetKeyId": doomed}),
    );
    n.ok(
        ADMIN,
        "CreateGrant",
        json!({"KeyId": doomed, "GranteePrincipal": format!("arn:aws:iam::{ACCOUNT}:{APP}"),
               "Operations": ["Decrypt"]}),
    );
    let out = n.ok(
        ADMIN,
        "ScheduleKeyDeletion",
        json!({"KeyId": doomed, "PendingWindowInDays": 7}),
    );
    assert_eq!(out["DeletionDate"], START + 7 * DAY);
    let Node {
        kms,
        clock,
        path,
        root,
    } = n;
    drop(kms);

    // The service is down when the date passes.
    clock.advance(8 * DAY);
    let still = SqliteStore::open(&path).unwrap();
    assert!(still.key(&doomed).unwrap().is_some());
    drop(still);

    let n = Node {
        kms: open(&path, &root, Arc::clone(&clock)).unwrap(),
        clock,
        path,
        root,
    };
    let listed: Vec<Value> = n.ok(ADMIN, "ListKeys", json!({}))["Keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["KeyId"].clone())
        .collect();
    assert_eq!(listed, [json!(kept)]);
    n.err(
        ADMIN,
        "DescribeKey",
        json!({"KeyId": doomed}),
        ErrorKind::NotFoundException,
    );
    let observer = n.observer();
    assert!(observer.key(&doomed).unwrap().is_none());
    assert!(observer.key(&kept).unwrap().is_some());
    assert!(observer
        .alias(ACCOUNT, "us-east-1", "alias/doomed")
        .unwrap()
        .is_none());
    assert!(observer.list_grants(&doomed, None, 100).unwrap().is_empty());
    // And it stays gone after another restart.
    let n = n.restart();
    assert_eq!(
        n.ok(ADMIN, "ListKeys", json!({}))["Keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

// ----- acknowledged changes are on disk at once -----

#[test]
fn every_acknowledged_change_is_visible_to_another_connection_at_once() {
    let dir = TempDir::new().unwrap();
    let n = Node::new(&dir);

    let id = n.create_key(json!({"Description": "one"}));
    assert_eq!(n.stored(&id).unwrap().description, "one");
    let other = n.create_key(json!({}));
    assert!(n.stored(&other).is_some());

    n.ok(
        ADMIN,
        "UpdateKeyDescription",
        json!({"KeyId": id, "Description": "two"}),
    );
    assert_eq!(n.stored(&id).unwrap().description, "two");

    n.ok(ADMIN, "DisableKey", json!({"KeyId": id}));
    assert_eq!(n.stored(&id).unwrap().key_state, "Disabled");
    n.ok(ADMIN, "EnableKey", json!({"KeyId": id}));
    assert_eq!(n.stored(&id).unwrap().key_state, "Enabled");

    n.ok(
        ADMIN,
        "TagResource",
        json!({"KeyId": id, "Tags": [{"TagKey": "a", "TagValue": "1"}, {"TagKey": "b", "TagValue": "2"}]}),
    );
    let tags = n.stored(&id).unwrap().tags;
    assert_eq!(tags.get("a").map(String::as_str), Some("1"));
    assert_eq!(tags.len(), 2);
    n.ok(
        ADMIN,
        "UntagResource",
        json!({"KeyId": id, "TagKeys": ["a"]}),
    );
    assert_eq!(
        n.stored(&id).unwrap().tags.keys().collect::<Vec<_>>(),
        ["b"]
    );

    let alias = |n: &Node| {
        n.observer()
            .alias(ACCOUNT, "us-east-1", "alias/seen")
            .unwrap()
            .map(|a| a.key_id)
    };
    n.ok(
        ADMIN,
        "CreateAlias",
        json!({"AliasName": "alias/seen", "TargetKeyId": id}),
    );
    assert_eq!(alias(&n), Some(id.clone()));
    n.ok(
        ADMIN,
        "UpdateAlias",
        json!({"AliasName": "alias/seen", "TargetKeyId": other}),
    );
    assert_eq!(alias(&n), Some(other.clone()));
    n.ok(ADMIN, "DeleteAlias", json!({"AliasName": "alias/seen"}));
    assert_eq!(alias(&n), None);

    let grant_input = json!({"KeyId": id, "GranteePrincipal": format!("arn:aws:iam::{ACCOUNT}:{APP}"),
                             "RetiringPrincipal": format!("arn:aws:iam::{ACCOUNT}:{ADMIN}"),
                             "Operations": ["Encrypt"]});
    let first = n.ok(ADMIN, "CreateGrant", grant_input.clone())["GrantId"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored = n.observer().grant(&first).unwrap().unwrap();
    assert_eq!(stored.key_id, id);
    assert_eq!(stored.operations, ["Encrypt"]);
    n.ok(
        ADMIN,
        "RetireGrant",
        json!({"KeyId": key_arn(&id), "GrantId": first}),
    );
    assert!(n.observer().grant(&first).unwrap().is_none());
    let second = n.ok(ADMIN, "CreateGrant", grant_input)["GrantId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(n.observer().grant(&second).unwrap().is_some());
    n.ok(
        ADMIN,
        "RevokeGrant",
        json!({"KeyId": id, "GrantId": second}),
    );
    assert!(n.observer().grant(&second).unwrap().is_none());

    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "changed", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
         "Action": "kms:*", "Resource": "*"}]})
    .to_string();
    n.ok(
        ADMIN,
        "PutKeyPolicy",
        json!({"KeyId": id, "PolicyName": "default", "Policy": policy}),
    );
    assert_eq!(n.stored(&id).unwrap().policy, policy);

    n.ok(
        ADMIN,
        "EnableKeyRotation",
        json!({"KeyId": id, "RotationPeriodInDays": 100}),
    );
    let rotation = n.stored(&id).unwrap().rotation.unwrap();
    assert_eq!(rotation.period_days, 100);
    assert_eq!(rotation.next_rotation, START + 100 * DAY);
    n.ok(ADMIN, "RotateKeyOnDemand", json!({"KeyId": id}));
    let versions = n.stored(&id).unwrap().versions;
    assert_eq!(versions.len(), 2);
    assert!(versions[1].on_demand);
    n.ok(ADMIN, "DisableKeyRotation", json!({"KeyId": id}));
    assert!(n.stored(&id).unwrap().rotation.is_none());

    n.ok(
        ADMIN,
        "ScheduleKeyDeletion",
        json!({"KeyId": id, "PendingWindowInDays": 10}),
    );
    let stored = n.stored(&id).unwrap();
    assert_eq!(stored.key_state, "PendingDeletion");
    assert_eq!(stored.deletion_date, Some(START + 10 * DAY));
    n.ok(ADMIN, "CancelKeyDeletion", json!({"KeyId": id}));
    let stored = n.stored(&id).unwrap();
    assert_eq!(stored.key_state, "Disabled");
    assert_eq!(stored.deletion_date, None);

    let external = n.create_key(json!({"Origin": "EXTERNAL"}));
    assert!(n.stored(&external).unwrap().import.is_none());
    n.ok(
        ADMIN,
        "GetParametersForImport",
        json!({"KeyId": external, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"}),
    );
    assert!(n.stored(&external).unwrap().import.is_some());

    // A key that falls due is deleted on disk by the request that notices.
    n.ok(
        ADMIN,
        "ScheduleKeyDeletion",
        json!({"KeyId": other, "PendingWindowInDays": 7}),
    );
    n.clock.advance(7 * DAY);
    n.ok(ADMIN, "ListKeys", json!({}));
    assert!(n.stored(&other).is_none());
}

// ----- concurrency -----

#[test]
fn concurrent_encryption_with_rotation_and_state_changes_stays_consistent() {
    const WORKERS: usize = 8;
    const ROUNDS: usize = 12;
    let dir = TempDir::new().unwrap();
    let n = Node::new(&dir);
    let id = n.create_key(json!({}));
    let done = AtomicBool::new(false);
    // Blobs that Decrypt could not open because the key was disabled.
    let deferred: Mutex<Vec<(String, Value)>> = Mutex::new(Vec::new());
    let mut versions_seen = Vec::new();

    std::thread::scope(|s| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (n, id, done, deferred) = (&n, &id, &done, &deferred);
                s.spawn(move || {
                    let mut ok = 0usize;
                    let mut versions = Vec::new();
                    let mut i = 0usize;
                    while !done.load(Ordering::SeqCst) || ok < 5 {
                        i += 1;
                        let text = format!("worker {w} message {i}");
                        let context = json!({"worker": w.to_string(), "i": i.to_string()});
                        let encrypted = n.call(
                            ADMIN,
                            "Encrypt",
                            json!({"KeyId": id, "Plaintext": b64(text.as_bytes()), "EncryptionContext": context}),
                        );
                        let blob = match encrypted {
                            Ok(out) => out["CiphertextBlob"].clone(),
                            Err(e) => {
                                assert_eq!(e.kind, ErrorKind::DisabledException, "{e}");
                                continue;
                            }
                        };
                        versions.push(version_of(&blob));
                        let decrypted = n.call(
                            ADMIN,
                            "Decrypt",
                            json!({"CiphertextBlob": blob, "EncryptionContext": context}),
                        );
                        match decrypted {
                            Ok(out) => {
                                assert_eq!(unb64(&out["Plaintext"]), text.as_bytes());
                                ok += 1;
                            }
                            Err(e) => {
                                assert_eq!(e.kind, ErrorKind::DisabledException, "{e}");
                                deferred.lock().unwrap().push((
                                    text,
                                    json!({"CiphertextBlob": blob, "EncryptionContext": context}),
                                ));
                            }
                        }
                    }
                    versions
                })
            })
            .collect();

        let admin = s.spawn(|| {
            for round in 0..ROUNDS {
                n.ok(ADMIN, "RotateKeyOnDemand", json!({"KeyId": id}));
                n.ok(ADMIN, "DisableKey", json!({"KeyId": id}));
                n.ok(
                    ADMIN,
                    "TagResource",
                    json!({"KeyId": id, "Tags": [{"TagKey": format!("round-{round}"), "TagValue": round.to_string()}]}),
                );
                if round > 0 {
                    n.ok(
                        ADMIN,
                        "UntagResource",
                        json!({"KeyId": id, "TagKeys": [format!("round-{}", round - 1)]}),
                    );
                }
                n.ok(ADMIN, "EnableKey", json!({"KeyId": id}));
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            done.store(true, Ordering::SeqCst);
        });
        admin.join().unwrap();
        for w in workers {
            versions_seen.extend(w.join().unwrap());
        }
    });

    // Encryption used more than one version while rotations went on.
    versions_seen.sort_unstable();
    versions_seen.dedup();
    assert!(versions_seen.len() > 1, "{versions_seen:?}");
    assert!(versions_seen.iter().all(|v| (1..=13).contains(v)));

    // The key is enabled again: what could not be decrypted while it was
    // disabled decrypts now.
    for (text, input) in deferred.into_inner().unwrap() {
        let out = n.ok(ADMIN, "Decrypt", input);
        assert_eq!(unb64(&out["Plaintext"]), text.as_bytes());
    }

    let md = n.describe(&id);
    assert_eq!(md["KeyState"], "Enabled");
    let tags = n.ok(ADMIN, "ListResourceTags", json!({"KeyId": id}));
    assert_eq!(
        tags["Tags"],
        json!([{"TagKey": format!("round-{}", ROUNDS - 1), "TagValue": (ROUNDS - 1).to_string()}])
    );
    let rotations = n.ok(ADMIN, "ListKeyRotations", json!({"KeyId": id}));
    assert_eq!(rotations["Rotations"].as_array().unwrap().len(), ROUNDS);
    let stored = n.stored(&id).unwrap();
    assert_eq!(stored.versions.len(), ROUNDS + 1);
    assert_eq!(stored.key_state, "Enabled");

    let n = n.restart();
    assert_eq!(n.describe(&id), md);
    assert_eq!(n.ok(ADMIN, "ListResourceTags", json!({"KeyId": id})), tags);
    assert_eq!(
        n.ok(ADMIN, "ListKeyRotations", json!({"KeyId": id})),
        rotations
    );
    let blob = n.ok(
        ADMIN,
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(b"after")}),
    )["CiphertextBlob"]
        .clone();
    assert_eq!(version_of(&blob), u32::try_from(ROUNDS + 1).unwrap());
}

#[test]
fn racing_create_alias_on_one_name_succeeds_exactly_once() {
    let dir = TempDir::new().unwrap();
    let n = Node::new(&dir);
    let first = n.create_key(json!({}));
    let second = n.create_key(json!({}));
    for round in 0..20 {
        let name = format!("alias/race-{round}");
        let barrier = Barrier::new(2);
        let results: Vec<Result<Value, KmsError>> = std::thread::scope(|s| {
            let handles: Vec<_> = [&first, &second]
                .into_iter()
                .map(|key| {
                    let (n, name, barrier) = (&n, &name, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        n.call(
                            ADMIN,
                            "CreateAlias",
                            json!({"AliasName": name, "TargetKeyId": key}),
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let winners: Vec<usize> = (0..2).filter(|&i| results[i].is_ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert_eq!(loser.kind, ErrorKind::AlreadyExistsException, "{loser}");
        let winner = [&first, &second][winners[0]];
        let stored = n.observer().alias(ACCOUNT, "us-east-1", &name).unwrap();
        assert_eq!(stored.map(|a| a.key_id).as_ref(), Some(winner));
        let described = n.describe(&name);
        assert_eq!(&described["KeyId"], winner);
    }
    let listed = n.ok(ADMIN, "ListAliases", json!({"Limit": 100}));
    let n = n.restart();
    assert_eq!(n.ok(ADMIN, "ListAliases", json!({"Limit": 100})), listed);
    assert_eq!(
        n.observer()
            .list_aliases(ACCOUNT, "us-east-1", None, None, 100)
            .unwrap()
            .len(),
        20
    );
}
