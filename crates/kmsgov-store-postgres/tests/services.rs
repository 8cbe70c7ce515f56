//! Services (as `kmsgov serve` runs them) on one PostgreSQL database: each
//! follows the others' changes through the change feed and its `NOTIFY`
//! signal, and the database holds key material only wrapped under the root
//! key.
//!
//! Needs a server: `export KMSGOV_TEST_POSTGRES=$(scripts/postgres-test-server.sh)`
//! (or `KMSGOV_SKIP_POSTGRES_TESTS=1` to skip).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation should stop the test"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use kmsgov_authz::{Environment, Operation, Scenario};
use kmsgov_core::root_key::RootKey;
use kmsgov_core::store::Store;
use kmsgov_core::{Config, Kms, Request, SystemClock, STALE_AFTER};
use kmsgov_policy::Caller;
use kmsgov_store_postgres::testing::TestDatabase;
use kmsgov_store_postgres::PostgresStore;
use postgres::NoTls;
use serde_json::{json, Value};

const ROOT: [u8; 32] = [0x2a; 32];
const ADMIN: &str = "arn:aws:iam::111122223333:user/admin";
const WORLD: &str = r#"{
  "accounts": {"111122223333": {}},
  "principals": [
    {"arn": "arn:aws:iam::111122223333:user/admin", "policies": [
      {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}]}
  ]
}"#;

fn service(db: &TestDatabase) -> Arc<Kms> {
    let store = PostgresStore::open_config(db.config().clone()).unwrap();
    Arc::new(
        Kms::open(Config {
            region: "us-east-1".into(),
            store: Arc::new(store),
            root_key: RootKey::from_bytes(&ROOT).unwrap(),
            clock: Arc::new(SystemClock),
            directory: Scenario::parse(WORLD).unwrap().world,
        })
        .unwrap(),
    )
}

fn call(kms: &Kms, op: Operation, input: Value) -> Value {
    let caller = Caller::parse(ADMIN).unwrap();
    let env = Environment::new();
    kms.call(&Request {
        caller: &caller,
        operation: op,
        input: &input,
        env: &env,
    })
    .map(|o| o.value().clone())
    .unwrap_or_else(|e| panic!("{op:?}: {e} ({:?})", e.detail))
}

/// A change that nothing refuses (a new description) reaches the other
/// service through the signal, well within the staleness bound, with no
/// request to prompt it.
#[test]
fn a_following_service_applies_changes_when_signalled() {
    let Some(db) = TestDatabase::create("follows_when_signalled").unwrap_or_else(|e| panic!("{e}"))
    else {
        return;
    };
    let (a, b) = (service(&db), service(&db));
    let _follower = Kms::follow(&b).unwrap();
    let key = call(&a, Operation::CreateKey, json!({}))["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    for round in 0..5 {
        let description = format!("round {round}");
        call(
            &a,
            Operation::UpdateKeyDescription,
            json!({"KeyId": key, "Description": description}),
        );
        let target = a.change_feed().unwrap().position().unwrap();
        let started = Instant::now();
        while b.applied_position() < target {
            assert!(
                started.elapsed() < STALE_AFTER,
                "b has not applied position {target} after {:?}",
                started.elapsed()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let seen = call(&b, Operation::DescribeKey, json!({"KeyId": key}));
        assert_eq!(seen["KeyMetadata"]["Description"], json!(description));
    }
}

/// Every row of the database, as PostgreSQL prints it (`bytea` as `\\x`
/// and hex).
fn dump(db: &TestDatabase) -> String {
    let mut client = db.config().connect(NoTls).unwrap();
    let mut all = String::new();
    for table in ["keys", "aliases", "grants", "changes", "followers"] {
        for row in client
            .query(&format!("SELECT t::text FROM {table} t"), &[])
            .unwrap()
        {
            all.push_str(&row.get::<_, String>(0));
            all.push('\n');
        }
    }
    all
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The forms `bytes` could take in a dump: raw in a `bytea`, or as
/// base64 or hex text inside a record or a text column.
fn forms(bytes: &[u8]) -> [String; 5] {
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    [
        hex(bytes),
        hex(b64.as_bytes()),
        hex(hex(bytes).as_bytes()),
        b64,
        hex(format!("{bytes:?}").replace(' ', "").as_bytes()),
    ]
}

/// The database sees key material only wrapped: neither the material nor
/// the root key appears in any table, in any encoding, while the wrapped
/// material does (so the search would find it).
#[test]
fn the_database_never_holds_key_material_or_the_root_key() {
    let Some(db) = TestDatabase::create("never_holds_material").unwrap_or_else(|e| panic!("{e}"))
    else {
        return;
    };
    let kms = service(&db);
    let key = call(&kms, Operation::CreateKey, json!({}))["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    call(&kms, Operation::RotateKeyOnDemand, json!({"KeyId": key}));
    let store = PostgresStore::open_config(db.config().clone()).unwrap();
    let record = store.key(&key).unwrap().unwrap();
    assert_eq!(record.versions.len(), 2);
    let everything = dump(&db);
    let root = RootKey::from_bytes(&ROOT).unwrap();
    for v in &record.versions {
        let material = root.unwrap(&key, v.version, &v.wrapped_material).unwrap();
        assert_eq!(material.len(), 32);
        for form in forms(&material) {
            assert!(
                !everything.contains(&form),
                "key material found in the database"
            );
        }
        assert!(
            forms(&v.wrapped_material)
                .iter()
                .any(|f| everything.contains(f.as_str())),
            "the wrapped material is not found either: the search is blind"
        );
    }
    for form in forms(&ROOT) {
        assert!(
            !everything.contains(&form),
            "the root key found in the database"
        );
    }
}
