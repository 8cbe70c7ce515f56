//! Resident memory of the service: idle, then with 10,000 symmetric keys
//! (default key policy, one alias-free key each), on a durable SQLite store.
//!
//! `cargo run --release -p kmsgov-store-sqlite --example memory [KEYS]`
//! prints one JSON line: `{"idle_rss_kib":…,"keys":…,"rss_kib":…,"per_key_bytes":…}`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a measurement program: bad setup must stop it"
)]

use std::sync::Arc;

use kmsgov_authz::{Environment, Operation, Scenario};
use kmsgov_core::root_key::RootKey;
use kmsgov_core::{Config, Kms, Request, SystemClock};
use kmsgov_policy::Caller;
use kmsgov_store_sqlite::SqliteStore;
use serde_json::json;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let world = r#"{"accounts": {"111122223333": {}}, "principals": [
        {"arn": "arn:aws:iam::111122223333:user/admin", "policies": [
          {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}]}],
        "tests": []}"#;
    let open = || {
        Kms::open(Config {
            region: "us-east-1".into(),
            store: Arc::new(SqliteStore::open(dir.path().join("kmsgov.db")).unwrap()),
            root_key: RootKey::from_bytes(&[9u8; 32]).unwrap(),
            clock: Arc::new(SystemClock),
            directory: Scenario::parse(world).unwrap().world,
        })
        .unwrap()
    };
    let kms = open();
    let idle = rss_kib();
    let caller = Caller::parse("arn:aws:iam::111122223333:user/admin").unwrap();
    let env = Environment::new();
    let input = json!({});
    for _ in 0..n {
        kms.call(&Request {
            caller: &caller,
            operation: Operation::CreateKey,
            input: &input,
            env: &env,
        })
        .unwrap();
    }
    drop(kms);
    // Measure a fresh process state: the keys loaded from the store on open.
    let before_reopen = rss_kib();
    let kms = open();
    let loaded = rss_kib();
    let per_key = (loaded.saturating_sub(before_reopen.min(loaded)) * 1024) / n.max(1) as u64;
    println!(
        "{}",
        json!({"idle_rss_kib": idle, "keys": n, "rss_after_create_kib": before_reopen, "rss_after_reload_kib": loaded, "reload_delta_per_key_bytes": per_key})
    );
    drop(kms);
}
