//! who-can and can-reach on a generated world of 5,000 roles, 500 users and
//! 1,000 keys: role chains three deep, roles passed to a service, grants,
//! encryption-context conditions, and an account whose roles trust the
//! account root.
//!
//! `cargo bench -p kmsgov-analysis --bench reach`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "benchmark setup: a broken generator should stop the run"
)]

use criterion::{criterion_group, criterion_main, Criterion};
use kmsgov_analysis::reach::{can_reach, who_can, Options};
use kmsgov_authz::Scenario;
use serde_json::{json, Map, Value};

const ACCOUNT: &str = "111122223333";
const ROLES: usize = 5_000;
const USERS: usize = 500;
const KEYS: usize = 1_000;

fn key_arn(i: usize) -> String {
    format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{i:08}-0000-0000-0000-000000000000")
}

fn role_arn(i: usize) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/team{}/r{i}", i % 50)
}

/// The world as scenario JSON.
fn world() -> Value {
    let mut principals = Vec::new();
    for i in 0..ROLES {
        // Every third role is the end of a chain of three: r(3n) -> r(3n+1)
        // -> r(3n+2), and r(3n+2) decrypts one key under a condition.
        let mut statements = Vec::new();
        match i % 3 {
            0 | 1 => statements.push(json!({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn(i + 1)})),
            _ => statements.push(json!({"Effect": "Allow", "Action": ["kms:Decrypt", "kms:Encrypt"], "Resource": key_arn(i % KEYS),
                "Condition": {"StringEquals": {"kms:EncryptionContext:team": format!("team{}", i % 50)}}})),
        }
        let trust = if i % 3 == 0 {
            if i % 30 == 0 {
                json!({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})
            } else {
                json!({"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/u{}", i % USERS)}, "Action": "sts:AssumeRole"})
            }
        } else {
            json!({"Effect": "Allow", "Principal": {"AWS": role_arn(i - 1)}, "Action": "sts:AssumeRole"})
        };
        principals.push(json!({
            "arn": role_arn(i),
            "policies": [{"Version": "2012-10-17", "Statement": statements}],
            "trust_policy": {"Version": "2012-10-17", "Statement": [trust]}
        }));
    }
    for u in 0..USERS {
        principals.push(json!({
            "arn": format!("arn:aws:iam::{ACCOUNT}:user/u{u}"),
            "policies": [{"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": format!("arn:aws:iam::{ACCOUNT}:role/*")},
                {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
                 "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}}
            ]}]
        }));
    }
    let keys: Vec<Value> = (0..KEYS)
        .map(|k| {
            json!({
                "arn": key_arn(k),
                "policy": {"Version": "2012-10-17", "Statement": [
                    {"Sid": "EnableIAM", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"},
                    {"Sid": "Auditors", "Effect": "Allow", "Principal": {"AWS": role_arn((k * 7) % ROLES)}, "Action": "kms:DescribeKey", "Resource": "*"}
                ]}
            })
        })
        .collect();
    let grants: Vec<Value> = (0..KEYS / 10)
        .map(|g| {
            json!({"key": key_arn(g * 10), "id": format!("grant-{g}"),
                   "grantee": format!("arn:aws:iam::{ACCOUNT}:user/u{}", g % USERS),
                   "operations": ["Decrypt"], "constraints": {"EncryptionContextSubset": {"app": "billing"}}})
        })
        .collect();
    json!({"accounts": {ACCOUNT: {}}, "principals": principals, "keys": keys, "grants": grants, "tests": []})
}

fn bench(c: &mut Criterion) {
    let text = serde_json::to_string(&world()).unwrap();
    let world = Scenario::parse(&text).unwrap().world;
    let ctx = Map::new();
    // A sanity check that the benchmark measures real work: the chain's
    // users reach the key.
    let report = who_can(&world, &key_arn(2), "kms:Decrypt", &ctx, Options::default()).unwrap();
    assert!(report.results.len() > 3, "{}", report.results.len());
    eprintln!(
        "who-can kms:Decrypt on one key: {} principals, {} paths",
        report.results.len(),
        report.results.iter().map(|r| r.paths.len()).sum::<usize>()
    );
    let mut group = c.benchmark_group("reach");
    group.sample_size(10);
    group.bench_function("who-can 5000 roles 1000 keys", |b| {
        b.iter(|| who_can(&world, &key_arn(2), "kms:Decrypt", &ctx, Options::default()).unwrap())
    });
    let user = format!("arn:aws:iam::{ACCOUNT}:user/u0");
    group.bench_function("can-reach kms:Decrypt 5000 roles 1000 keys", |b| {
        b.iter(|| can_reach(&world, &user, &["kms:Decrypt"], &ctx, Options::default()).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
