//! Encrypt 100 bytes through the service N times (for callgrind:
//! `valgrind --tool=callgrind target/release/examples/encrypt_loop 2000`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a measurement program: bad setup must stop it"
)]

use std::sync::Arc;

use kmsgov_authz::{Environment, Operation, Scenario};
use kmsgov_core::root_key::RootKey;
use kmsgov_core::store::MemoryStore;
use kmsgov_core::{Config, Kms, Request, SystemClock};
use kmsgov_policy::Caller;
use serde_json::json;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let op = std::env::args().nth(2).unwrap_or_else(|| "Encrypt".into());
    let world = r#"{"accounts": {"111122223333": {}}, "principals": [
        {"arn": "arn:aws:iam::111122223333:role/app", "policies": [
          {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}]}],
        "tests": []}"#;
    let kms = Kms::open(Config {
        region: "us-east-1".into(),
        store: Arc::new(MemoryStore::new()),
        root_key: RootKey::generate().unwrap(),
        clock: Arc::new(SystemClock),
        directory: Scenario::parse(world).unwrap().world,
    })
    .unwrap();
    let caller = Caller::parse("arn:aws:iam::111122223333:role/app").unwrap();
    let env = Environment::new();
    let call = |operation, input: &serde_json::Value| {
        kms.call(&Request {
            caller: &caller,
            operation,
            input,
            env: &env,
        })
        .unwrap()
        .value()
        .clone()
    };
    let key = call(Operation::CreateKey, &json!({}))["KeyMetadata"]["KeyId"].clone();
    let encrypt = json!({"KeyId": key, "Plaintext": "A".repeat(136), "EncryptionContext": {"purpose": "bench"}});
    let blob = call(Operation::Encrypt, &encrypt)["CiphertextBlob"].clone();
    let decrypt = json!({"CiphertextBlob": blob, "EncryptionContext": {"purpose": "bench"}});
    let (operation, input) = match op.as_str() {
        "Decrypt" => (Operation::Decrypt, &decrypt),
        _ => (Operation::Encrypt, &encrypt),
    };
    let start = std::time::Instant::now();
    let mut ok = 0usize;
    for _ in 0..n {
        ok += usize::from(
            kms.call(&Request {
                caller: &caller,
                operation,
                input,
                env: &env,
            })
            .is_ok(),
        );
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{op}: {ok}/{n} ok, {:.0} ops/s", n as f64 / secs);
}
