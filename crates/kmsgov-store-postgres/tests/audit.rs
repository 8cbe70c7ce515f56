//! The audit log on PostgreSQL: appends are all-or-nothing at the position
//! the log expects, whatever connection or process makes them; entries and
//! checkpoints read back in order; and several `AuditLog`s (servers) on one
//! database, appending at once, write one log that verifies.
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

use aws_lc_rs::digest::{digest, SHA256};
use kmsgov_core::audit::verify::verify;
use kmsgov_core::audit::{
    checkpoint_signer, AuditEntry, AuditLog, AuditSink, Leaf, Reason, Signer, Verdict, Verifier,
};
use kmsgov_core::root_key::RootKey;
use kmsgov_core::store::StoreError;
use kmsgov_store_postgres::testing::TestDatabase;
use kmsgov_store_postgres::{PostgresAuditSink, PostgresStore};

/// A fresh database, or `None` when the tests are skipped.
fn database(test: &str) -> Option<TestDatabase> {
    TestDatabase::create(test).unwrap_or_else(|e| panic!("{e}"))
}

fn open(db: &TestDatabase) -> PostgresAuditSink {
    PostgresAuditSink::open_config(db.config().clone()).unwrap()
}

fn signer() -> Signer {
    checkpoint_signer(&RootKey::from_bytes(&[7u8; 32]).unwrap(), "us-east-1").unwrap()
}

fn verifier() -> Verifier {
    Verifier::parse(&signer().verifier_key()).unwrap()
}

/// A well-formed entry numbered `n` (in its time and detail record).
fn entry(n: usize) -> AuditEntry {
    let detail = format!("{{\"n\":{n}}}").into_bytes();
    let leaf = Leaf {
        op: 2,
        verdict: Verdict::Allow,
        reason: Reason::Ok,
        time_ms: n as u64,
        request_id: [1; 16],
        principal_commit: [2; 32],
        key_id: [3; 16],
        key_version: 1,
        ct_header_hash: [0; 32],
        policy_hash: [0; 32],
        gov_size: 0,
        gov_root: [0; 32],
        determining: [4; 32],
        context_commit: [5; 32],
        receipt_ref: [0; 32],
        detail_ref: digest(&SHA256, &detail).as_ref().try_into().unwrap(),
    };
    AuditEntry {
        leaf: leaf.encode().to_vec(),
        detail,
    }
}

#[test]
fn appends_are_positional_and_read_back_in_order() {
    let Some(db) = database("audit_appends_are_positional") else {
        return;
    };
    {
        let sink = open(&db);
        assert_eq!(sink.size().unwrap(), 0);
        assert_eq!(sink.latest_checkpoint().unwrap(), None);
        assert!(sink.checkpoints().unwrap().is_empty());
        sink.append(0, &[entry(1), entry(2)], "note 2").unwrap();
        // Not at the end: refused, and nothing of it is kept.
        for first in [0, 1, 3, 9] {
            assert!(
                matches!(
                    sink.append(first, &[entry(9)], "note x"),
                    Err(StoreError::Conflict)
                ),
                "at {first}"
            );
        }
        sink.append(2, &[entry(3)], "note 3").unwrap();
    }
    // Another connection pool (another server) sees the same log.
    let sink = open(&db);
    assert_eq!(sink.size().unwrap(), 3);
    assert_eq!(
        sink.read(0, 10).unwrap(),
        vec![entry(1), entry(2), entry(3)]
    );
    assert_eq!(sink.read(1, 2).unwrap(), vec![entry(2)]);
    assert!(sink.read(3, 5).unwrap().is_empty());
    assert!(sink.read(2, 1).unwrap().is_empty());
    assert_eq!(
        sink.checkpoints().unwrap(),
        vec![(2, "note 2".to_owned()), (3, "note 3".to_owned())]
    );
    assert_eq!(
        sink.latest_checkpoint().unwrap(),
        Some((3, "note 3".to_owned()))
    );
    // A large batch is one append.
    let batch: Vec<AuditEntry> = (10..4106).map(entry).collect();
    sink.append(3, &batch, "note 4099").unwrap();
    assert_eq!(sink.size().unwrap(), 4099);
    assert_eq!(sink.read(3, 4099).unwrap(), batch);
    // Read-only opening finds the log; the store shares the database.
    let existing = PostgresAuditSink::open_existing(&db.url()).unwrap();
    assert_eq!(existing.size().unwrap(), 4099);
    let store = PostgresStore::open_config(db.config().clone()).unwrap();
    assert_eq!(existing.size().unwrap(), 4099);
    assert_eq!(PostgresAuditSink::beside(&store).size().unwrap(), 4099);
}

#[test]
fn a_database_without_a_log_is_not_opened_for_reading() {
    let Some(db) = database("audit_a_database_without_a_log") else {
        return;
    };
    assert!(matches!(
        PostgresAuditSink::open_existing(&db.url()),
        Err(StoreError::NotFound)
    ));
    // Opening it to write creates the log.
    open(&db);
    assert_eq!(
        PostgresAuditSink::open_existing(&db.url())
            .unwrap()
            .size()
            .unwrap(),
        0
    );
}

/// Of appenders racing for one position on separate connections, exactly
/// one wins.
#[test]
fn racing_appends_at_one_position_have_one_winner() {
    let Some(db) = database("audit_racing_appends") else {
        return;
    };
    let sinks: Vec<PostgresAuditSink> = (0..6).map(|_| open(&db)).collect();
    for round in 0..10u64 {
        let wins: usize = std::thread::scope(|s| {
            let handles: Vec<_> = sinks
                .iter()
                .enumerate()
                .map(|(i, sink)| {
                    s.spawn(
                        move || match sink.append(round, &[entry(i)], &format!("note {i}")) {
                            Ok(()) => 1,
                            Err(StoreError::Conflict) => 0,
                            Err(e) => panic!("{e}"),
                        },
                    )
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 1, "round {round}");
    }
    assert_eq!(sinks[0].size().unwrap(), 10);
    assert_eq!(sinks[0].checkpoints().unwrap().len(), 10);
}

/// Two servers' logs (two sinks, so two connection pools, on one database)
/// appended to from several threads each: one log, every entry once at the
/// position its caller got, and it verifies.
#[test]
fn two_logs_on_one_database_write_one_log_that_verifies() {
    let Some(db) = database("audit_two_logs_on_one_database") else {
        return;
    };
    let sinks: Vec<Arc<dyn AuditSink>> = (0..2)
        .map(|_| Arc::new(open(&db)) as Arc<dyn AuditSink>)
        .collect();
    let logs: Vec<Arc<AuditLog>> = sinks
        .iter()
        .map(|sink| Arc::new(AuditLog::open(Arc::clone(sink), signer()).unwrap()))
        .collect();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = Arc::clone(&logs[t % 2]);
            std::thread::spawn(move || {
                (0..60)
                    .map(|i| {
                        let n = t * 1000 + i;
                        (log.append(entry(n)).unwrap(), n)
                    })
                    .collect::<Vec<(u64, usize)>>()
            })
        })
        .collect();
    let mut appended: Vec<(u64, usize)> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    appended.sort_unstable();
    let seqs: Vec<u64> = appended.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (0..480).collect::<Vec<u64>>());
    let stored = sinks[1].read(0, 1000).unwrap();
    assert_eq!(stored.len(), 480);
    for (seq, n) in &appended {
        assert_eq!(stored[*seq as usize], entry(*n), "entry {seq}");
    }
    let report = verify(sinks[0].as_ref(), &verifier(), None).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.size, 480);
    assert_eq!(report.checkpoints, sinks[0].checkpoints().unwrap().len());

    // Each goes on at the end; a third server opened now starts there.
    assert_eq!(logs[0].append(entry(9000)).unwrap(), 480);
    assert_eq!(logs[1].append(entry(9001)).unwrap(), 481);
    let third = AuditLog::open(Arc::new(open(&db)), signer()).unwrap();
    assert_eq!(third.head().size, 482);
    assert_eq!(third.append(entry(9002)).unwrap(), 482);
    assert_eq!(logs[0].append(entry(9003)).unwrap(), 483);
    let report = verify(
        sinks[1].as_ref(),
        &verifier(),
        Some(&logs[1].head().checkpoint),
    )
    .unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.size, 484);
}
