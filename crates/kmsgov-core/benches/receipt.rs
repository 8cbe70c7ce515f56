//! Use receipts: issuing (on the Decrypt path) and verifying (downstream),
//! and verifying an attenuated receipt.
//!
//! `cargo bench -p kmsgov-core --bench receipt`.

#![allow(
    clippy::expect_used,
    reason = "benchmark setup: a failure must stop the run"
)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use kmsgov_core::receipt::{
    attenuate, plaintext_commitment, verify, Narrowing, ReceiptClaims, ReceiptIssuer, UseCheck,
};

const SALT: [u8; 32] = [0x11; 32];
const PLAINTEXT: &[u8] = &[0x42; 4096];

fn claims() -> ReceiptClaims {
    ReceiptClaims {
        receipt_id: [0x01; 16],
        kms: "kmsgov/us-east-1".into(),
        ciphertext: [0x02; 32],
        key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        key_version: 3,
        data_policy: [0x03; 32],
        holder: [0x04; 32],
        plaintext_commit: plaintext_commitment(&SALT, PLAINTEXT),
        audit_origin: "kmsgov/audit/us-east-1/0".into(),
        audit_index: 1_234_567,
        governance_size: 42,
        governance_root: [0x05; 32],
        purposes: vec!["chargeback-review".into(), "fraud-scoring".into()],
        audiences: vec!["svc:archive".into(), "svc:scoring".into()],
        reshare_depth: 1,
        expires_unix: 1_780_315_200,
    }
}

fn bench(c: &mut Criterion) {
    let issuer = ReceiptIssuer::from_seed(&[0x5a; 32]).expect("an issuer");
    let root = issuer.public_key();
    let claims = claims();
    let token = issuer.issue(&claims).expect("a receipt");
    let check = UseCheck {
        now_unix: 1_780_314_600,
        purpose: "fraud-scoring".into(),
        audience: "svc:scoring".into(),
        hop: 0,
        plaintext: Some((SALT, PLAINTEXT)),
    };
    let narrowed = attenuate(
        &token,
        &root,
        &Narrowing {
            purposes: Some(vec!["fraud-scoring".into()]),
            audiences: Some(vec!["svc:scoring".into()]),
            expires_unix: Some(1_780_315_000),
        },
    )
    .expect("an attenuated receipt");
    verify(&narrowed, &root, &check).expect("the attenuated receipt verifies");

    let mut group = c.benchmark_group("receipt");
    group.bench_function("issue", |b| {
        b.iter(|| issuer.issue(black_box(&claims)).expect("a receipt"));
    });
    group.bench_function("verify", |b| {
        b.iter(|| verify(black_box(&token), &root, &check).expect("verifies"));
    });
    group.bench_function("verify_attenuated", |b| {
        b.iter(|| verify(black_box(&narrowed), &root, &check).expect("verifies"));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
