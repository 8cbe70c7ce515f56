//! Audit log appends, durable: in the append-only file (the default) and on
//! SQLite (`synchronous=FULL`), 64 threads appending at once, so that the
//! group-commit writer puts many entries under one sync, against the
//! baseline of the same run, one thread appending alone to SQLite (one
//! fsync per entry; one thread into the file is measured too). Also the in-memory log, to show what the disk costs.
//!
//! `cargo bench -p kmsgov-store-sqlite --bench audit`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "benchmark setup: bad data must stop the run"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kmsgov_core::audit::{
    checkpoint_signer, AuditEntry, AuditLog, AuditSink, Leaf, MemoryAuditSink, Reason, Verdict,
};
use kmsgov_core::root_key::RootKey;
use kmsgov_store_sqlite::{FileAuditSink, SqliteAuditSink};

/// A realistic entry: a leaf and a detail record of about 250 bytes.
fn entry() -> AuditEntry {
    let detail = br#"{"salt":"00112233445566778899aabbccddeeff","operation":"Decrypt","principal":"arn:aws:iam::111122223333:role/app","account":"111122223333","context":{"aws:SourceIp":"127.0.0.1"},"error":null,"message":""}"#.to_vec();
    let leaf = Leaf {
        op: 2,
        verdict: Verdict::Allow,
        reason: Reason::Ok,
        time_ms: 1_767_225_600_000,
        request_id: [7; 16],
        principal_commit: [1; 32],
        key_id: [2; 16],
        key_version: 1,
        ct_header_hash: [0; 32],
        policy_hash: [0; 32],
        gov_size: 0,
        gov_root: [0; 32],
        determining: [3; 32],
        context_commit: [4; 32],
        receipt_ref: [0; 32],
        detail_ref: [5; 32],
    };
    AuditEntry {
        leaf: leaf.encode().to_vec(),
        detail,
    }
}

fn open(sink: Arc<dyn AuditSink>) -> Arc<AuditLog> {
    let root = RootKey::generate().unwrap();
    Arc::new(AuditLog::open(sink, checkpoint_signer(&root, "us-east-1").unwrap()).unwrap())
}

/// `iters` appends spread over `threads` threads: the wall time.
fn appends(log: &Arc<AuditLog>, threads: u64, iters: u64) -> Duration {
    let per_thread = iters.div_ceil(threads);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let log = Arc::clone(log);
            std::thread::spawn(move || {
                for _ in 0..per_thread {
                    log.append(entry()).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = open(Arc::new(
        SqliteAuditSink::open(dir.path().join("audit.db")).unwrap(),
    ));
    let file = open(Arc::new(
        FileAuditSink::open(dir.path().join("audit.log")).unwrap(),
    ));
    let memory = open(Arc::new(MemoryAuditSink::new()));

    let mut group = c.benchmark_group("audit_append");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("baseline_sqlite_one_thread", |b| {
        b.iter_custom(|iters| appends(&sqlite, 1, iters));
    });
    group.bench_function("sqlite_group_commit_64_threads", |b| {
        b.iter_custom(|iters| appends(&sqlite, 64, iters));
    });
    group.bench_function("file_one_thread", |b| {
        b.iter_custom(|iters| appends(&file, 1, iters));
    });
    group.bench_function("file_group_commit_64_threads", |b| {
        b.iter_custom(|iters| appends(&file, 64, iters));
    });
    group.bench_function("memory_group_commit_64_threads", |b| {
        b.iter_custom(|iters| appends(&memory, 64, iters));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
