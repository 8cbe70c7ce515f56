//! Full KMS decisions over the 1,000-request workload: without the decision
//! path, with it, and from request JSON text.
//!
//! `cargo bench -p kmsgov-authz --bench decide`; throughput is decisions/s.

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "benchmark setup: bad data must stop the run"
)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kmsgov_authz::Trace;

#[path = "support/workload.rs"]
#[allow(dead_code, unreachable_pub, reason = "shared with the tests")]
mod workload;

fn bench(c: &mut Criterion) {
    let w = workload::load();
    for r in &w.requests {
        assert_eq!(
            workload::classify(&w.decide(r, Trace::Off)),
            r.expected,
            "{}",
            r.text
        );
    }
    let mut group = c.benchmark_group("kms_decisions");
    group.throughput(Throughput::Elements(w.requests.len() as u64));
    group.bench_function("no_path_1000", |b| {
        b.iter(|| {
            w.requests
                .iter()
                .filter(|r| w.decide(r, Trace::Off).outcome == kmsgov_authz::Outcome::Allow)
                .count()
        })
    });
    group.bench_function("full_path_1000", |b| {
        b.iter(|| {
            w.requests
                .iter()
                .map(|r| w.decide(r, Trace::Full).path.len())
                .sum::<usize>()
        })
    });
    group.bench_function("json_text_1000", |b| {
        b.iter(|| {
            w.requests
                .iter()
                .filter(|r| {
                    w.decide_text(&r.text)
                        .is_some_and(|d| d.outcome == kmsgov_authz::Outcome::Allow)
                })
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
