//! Full KMS decisions over the 1,000-request workload: without the decision
//! path, with it, and from request JSON text.
//!
//! `cargo bench -p kmsgov-authz --bench decide`; throughput is decisions/s.
//! The `guardrails` group decides the workload with no guardrail and with the
//! three worked examples of `scenarios/guardrails/` loaded, in the same run.

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

    // The same decisions with the three example guardrails loaded: only
    // requests the policy layers allow reach them.
    let mut guarded = w.scenario.world.clone();
    for file in [
        "g01-change-window.json",
        "g02-tenant-context.json",
        "g03-no-public-key-policy.json",
    ] {
        let path = format!(
            "{}/../../scenarios/guardrails/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).expect("read guardrail scenario");
        let example = kmsgov_authz::Scenario::parse(&text).expect("guardrail scenario");
        guarded.guardrails.extend(example.world.guardrails);
    }
    assert_eq!(guarded.guardrails.len(), 3);
    let decide_in = |world: &kmsgov_authz::World, r: &workload::Request| {
        let call = kmsgov_authz::ActionCall {
            caller: &r.caller,
            action: &r.action,
            key: &r.key,
            env: &r.env,
        };
        kmsgov_authz::decide_action(world, &call, Trace::Off)
    };
    let allowed = |world: &kmsgov_authz::World| {
        w.requests
            .iter()
            .filter(|r| decide_in(world, r).outcome == kmsgov_authz::Outcome::Allow)
            .count()
    };
    eprintln!(
        "guardrails: {} of {} requests allowed without them, {} with them",
        allowed(&w.scenario.world),
        w.requests.len(),
        allowed(&guarded)
    );
    let mut group = c.benchmark_group("guardrails");
    group.throughput(Throughput::Elements(w.requests.len() as u64));
    group.bench_function("none_1000", |b| b.iter(|| allowed(&w.scenario.world)));
    group.bench_function("three_1000", |b| b.iter(|| allowed(&guarded)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
