//! Key-policy evaluation throughput over the 1,000-request workload.
//!
//! `cargo bench -p kmsgov-policy --bench key_policy`; the throughput line
//! reports elements (evaluations) per second.

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "benchmark setup: bad data must stop the run"
)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kmsgov_policy::Request;

#[path = "support/workload.rs"]
#[allow(
    dead_code,
    unreachable_pub,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "shared with the tests; bad data must stop the run"
)]
mod workload;

fn bench(c: &mut Criterion) {
    let w = workload::load();
    let bad = w.check();
    assert!(
        bad.is_empty(),
        "workload disagreements:\n{}",
        bad.join("\n")
    );
    let mut group = c.benchmark_group("key_policy");
    group.throughput(Throughput::Elements(w.cases.len() as u64));
    group.bench_function("decide_1000", |b| {
        b.iter(|| {
            let mut allowed = 0usize;
            for case in &w.cases {
                let request = Request {
                    caller: &case.caller,
                    action: &case.action,
                    resource: &case.resource,
                    context: &case.context,
                };
                if w.policy.decide(&request).outcome == kmsgov_policy::Outcome::Allow {
                    allowed += 1;
                }
            }
            allowed
        })
    });
    group.bench_function("evaluate_with_trace_1000", |b| {
        b.iter(|| {
            w.cases
                .iter()
                .map(|case| {
                    let request = Request {
                        caller: &case.caller,
                        action: &case.action,
                        resource: &case.resource,
                        context: &case.context,
                    };
                    w.policy.evaluate(&request).statements.len()
                })
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
