//! The KMS service in process, with authorization on: Encrypt and Decrypt of
//! 100 bytes and GenerateDataKey with keys cached in memory, and CreateKey
//! with a durable SQLite commit. Each group also runs its baseline in the
//! same run: the bare cryptography (no request handling, no authorization),
//! so results read as ratios.
//!
//! `cargo bench -p kmsgov-store-sqlite --bench service`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "benchmark setup: bad data must stop the run"
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kmsgov_authz::{Environment, Operation, Scenario};
use kmsgov_core::crypto::{KeyMaterial, KeySpec};
use kmsgov_core::root_key::RootKey;
use kmsgov_core::store::{MemoryStore, Store};
use kmsgov_core::{ciphertext, Config, Kms, Request, SystemClock};
use kmsgov_policy::Caller;
use kmsgov_store_sqlite::SqliteStore;
use serde_json::{json, Value};

const WORLD: &str = r#"{
  "accounts": {"111122223333": {}},
  "principals": [
    {"arn": "arn:aws:iam::111122223333:role/app", "policies": [
      {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*", "kms:CreateKey", "kms:DescribeKey"], "Resource": "*",
         "Condition": {"StringEquals": {"aws:PrincipalAccount": "111122223333"}}}]}]}
  ],
  "tests": []
}"#;

fn service(store: Arc<dyn Store>) -> Kms {
    Kms::open(Config {
        region: "us-east-1".into(),
        store,
        root_key: RootKey::generate().unwrap(),
        clock: Arc::new(SystemClock),
        directory: Scenario::parse(WORLD).unwrap().world,
    })
    .unwrap()
}

fn call(kms: &Kms, caller: &Caller, op: Operation, input: &Value) -> Value {
    let env = Environment::new();
    kms.call(&Request {
        caller,
        operation: op,
        input,
        env: &env,
    })
    .unwrap()
    .value()
    .clone()
}

fn bench(c: &mut Criterion) {
    let caller = Caller::parse("arn:aws:iam::111122223333:role/app").unwrap();
    let kms = service(Arc::new(MemoryStore::new()));
    let created = call(&kms, &caller, Operation::CreateKey, &json!({}));
    let key_id = created["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let plaintext = [7u8; 100];
    let encrypt = json!({
        "KeyId": key_id,
        "Plaintext": base64::engine::general_purpose::STANDARD.encode(plaintext),
        "EncryptionContext": {"purpose": "bench"}
    });
    let blob = call(&kms, &caller, Operation::Encrypt, &encrypt)["CiphertextBlob"].clone();
    let decrypt = json!({"CiphertextBlob": blob, "EncryptionContext": {"purpose": "bench"}});
    let gdk = json!({"KeyId": key_id, "KeySpec": "AES_256"});
    let env = Environment::new();
    let run = |op, input: &Value| {
        kms.call(&Request {
            caller: &caller,
            operation: op,
            input,
            env: &env,
        })
        .is_ok()
    };
    assert!(run(Operation::Decrypt, &decrypt));

    let material = KeyMaterial::generate(KeySpec::SymmetricDefault).unwrap();
    let context = BTreeMap::from([("purpose".to_owned(), "bench".to_owned())]);
    let raw_blob = ciphertext::encrypt(&material, &key_id, 1, &plaintext, &context, None).unwrap();
    let header = ciphertext::parse(&raw_blob).unwrap();

    let mut group = c.benchmark_group("service_100_bytes");
    group.throughput(Throughput::Elements(1));
    group.bench_function("baseline_ciphertext_encrypt", |b| {
        b.iter(|| ciphertext::encrypt(&material, &key_id, 1, &plaintext, &context, None).is_ok())
    });
    group.bench_function("encrypt", |b| b.iter(|| run(Operation::Encrypt, &encrypt)));
    group.bench_function("baseline_ciphertext_decrypt", |b| {
        b.iter(|| ciphertext::decrypt(&material, &header, &raw_blob, &context).is_ok())
    });
    group.bench_function("decrypt", |b| b.iter(|| run(Operation::Decrypt, &decrypt)));
    group.bench_function("generate_data_key", |b| {
        b.iter(|| run(Operation::GenerateDataKey, &gdk))
    });
    group.finish();

    let dir = tempfile::tempdir().unwrap();
    let durable = service(Arc::new(
        SqliteStore::open(dir.path().join("kmsgov.db")).unwrap(),
    ));
    let mut group = c.benchmark_group("create_key_durable");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.bench_function("create_key_sqlite", |b| {
        b.iter(|| {
            durable
                .call(&Request {
                    caller: &caller,
                    operation: Operation::CreateKey,
                    input: &json!({}),
                    env: &env,
                })
                .is_ok()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
