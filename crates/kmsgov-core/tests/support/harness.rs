//! A service on a memory store with a manual clock and a small world, for
//! in-process operation tests.

#![allow(
    dead_code,
    unreachable_pub,
    missing_debug_implementations,
    reason = "each test file uses part of the harness"
)]

use std::sync::Arc;

use kmsgov_authz::{Environment, Operation, Scenario};
use kmsgov_core::root_key::RootKey;
use kmsgov_core::store::{MemoryStore, Store};
use kmsgov_core::{Clock, Config, ErrorKind, Kms, KmsError, ManualClock, Request};
use kmsgov_policy::Caller;
use serde_json::{json, Value};

/// The account most tests work in.
pub const ACCOUNT: &str = "111122223333";
/// Another account.
pub const OTHER: &str = "444455556666";
/// 2026-01-01T00:00:00Z.
pub const START: i64 = 1_767_225_600;

/// The world: an administrator with `kms:*` on everything, alice and the
/// role `app` with no IAM policies, and mallory in another account with
/// `kms:*` in her IAM policy.
pub const WORLD: &str = r#"{
  "accounts": {"111122223333": {}, "444455556666": {}},
  "principals": [
    {"arn": "arn:aws:iam::111122223333:user/admin", "policies": [
      {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["kms:*", "iam:PassRole"], "Resource": "*"}]}]},
    {"arn": "arn:aws:iam::111122223333:user/alice"},
    {"arn": "arn:aws:iam::111122223333:role/app"},
    {"arn": "arn:aws:iam::444455556666:user/mallory", "policies": [
      {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}]}
  ],
  "tests": []
}"#;

/// A service for tests.
pub struct Harness {
    pub kms: Kms,
    pub clock: Arc<ManualClock>,
    pub store: Arc<dyn Store>,
    pub root: [u8; 32],
}

/// `admin`, `alice`, `app` or `mallory` → the caller ARN.
pub fn arn(who: &str) -> String {
    match who {
        "app" => format!("arn:aws:iam::{ACCOUNT}:role/app"),
        "mallory" => format!("arn:aws:iam::{OTHER}:user/mallory"),
        "root" => format!("arn:aws:iam::{ACCOUNT}:root"),
        other => format!("arn:aws:iam::{ACCOUNT}:user/{other}"),
    }
}

impl Harness {
    /// A fresh service.
    pub fn new() -> Harness {
        Harness::on_store(Arc::new(MemoryStore::new()), RootKey::generate().unwrap())
    }

    /// A service on `store` (to reopen one).
    pub fn on_store(store: Arc<dyn Store>, root_key: RootKey) -> Harness {
        let clock = Arc::new(ManualClock::at(START));
        let root = *root_key.expose_bytes();
        let kms = Kms::open(Config {
            region: "us-east-1".into(),
            store: Arc::clone(&store),
            root_key,
            clock: clock.clone(),
            directory: Scenario::parse(WORLD).unwrap().world,
        })
        .unwrap();
        Harness {
            kms,
            clock,
            store,
            root,
        }
    }

    /// The same store and root key, opened again (as after a restart); the
    /// clock keeps its time.
    pub fn reopen(&self) -> Harness {
        let h = Harness::on_store(
            Arc::clone(&self.store),
            RootKey::from_bytes(&self.root).unwrap(),
        );
        h.clock.advance(self.clock.now() - h.clock.now());
        h
    }

    /// Calls `op` as `who`.
    pub fn call(&self, who: &str, op: &str, input: Value) -> Result<Value, KmsError> {
        let caller = Caller::parse(&arn(who)).unwrap();
        let operation = Operation::from_name(op).unwrap();
        let env = Environment::new();
        self.kms
            .call(&Request {
                caller: &caller,
                operation,
                input: &input,
                env: &env,
            })
            .map(|o| o.value().clone())
    }

    /// Calls `op` as `who` and expects success.
    #[track_caller]
    pub fn ok(&self, who: &str, op: &str, input: Value) -> Value {
        match self.call(who, op, input) {
            Ok(v) => v,
            Err(e) => panic!("{op} as {who} failed: {e}"),
        }
    }

    /// Calls `op` as `who` and expects the error `kind`.
    #[track_caller]
    pub fn err(&self, who: &str, op: &str, input: Value, kind: ErrorKind) -> KmsError {
        match self.call(who, op, input) {
            Ok(v) => panic!("{op} as {who} succeeded, expected {kind}: {v}"),
            Err(e) => {
                assert_eq!(e.kind, kind, "{op} as {who}: {e}");
                e
            }
        }
    }

    /// Creates a key as admin and returns its key id.
    pub fn create_key(&self, input: Value) -> String {
        let out = self.ok("admin", "CreateKey", input);
        out["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
    }

    /// Creates a symmetric key as admin.
    pub fn symmetric_key(&self) -> String {
        self.create_key(json!({}))
    }

    /// The key's metadata, as admin sees it.
    pub fn describe(&self, key_id: &str) -> Value {
        self.ok("admin", "DescribeKey", json!({"KeyId": key_id}))["KeyMetadata"].clone()
    }
}

/// Base64.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// From base64.
pub fn unb64(v: &Value) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

impl Harness {
    /// A fresh service whose accounts and principals come from `world` (a
    /// world file, like [`WORLD`]) instead of the standard world.
    pub fn with_world(world: &str) -> Harness {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let root_key = RootKey::generate().unwrap();
        let clock = Arc::new(ManualClock::at(START));
        let root = *root_key.expose_bytes();
        let kms = Kms::open(Config {
            region: "us-east-1".into(),
            store: Arc::clone(&store),
            root_key,
            clock: clock.clone(),
            directory: Scenario::parse(world).unwrap().world,
        })
        .unwrap();
        Harness {
            kms,
            clock,
            store,
            root,
        }
    }

    /// Calls `op` as `who` with request facts in the environment
    /// (`aws:SourceArn`, …).
    pub fn call_env(
        &self,
        who: &str,
        op: &str,
        input: Value,
        facts: &[(&str, &str)],
    ) -> Result<Value, KmsError> {
        let caller = Caller::parse(&arn(who)).unwrap();
        let operation = Operation::from_name(op).unwrap();
        let mut env = Environment::new();
        for (k, v) in facts {
            env.insert(*k, *v);
        }
        self.kms
            .call(&Request {
                caller: &caller,
                operation,
                input: &input,
                env: &env,
            })
            .map(|o| o.value().clone())
    }

    /// The service reopened after the key's stored state was set to
    /// `state` (for states no operation of the test reaches).
    pub fn with_key_state(&self, key_id: &str, state: &str) -> Harness {
        let mut record = self.store.key(key_id).unwrap().unwrap();
        state.clone_into(&mut record.key_state);
        if state == "PendingDeletion" {
            record.deletion_date = Some(self.clock.now() + 30 * 86_400);
            record.pending_window_days = Some(30);
        }
        self.store.update_key(&record).unwrap();
        self.reopen()
    }
}
