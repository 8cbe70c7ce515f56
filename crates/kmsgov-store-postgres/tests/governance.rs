//! The governance chain on PostgreSQL: the sink passes the conformance
//! suite, and two servers on one database append one chain that verifies.
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

use kmsgov_core::governance::{
    conformance, read_all, verify_chain, Change, Governance, GovernanceKey, GovernanceSink,
    RecordType,
};
use kmsgov_core::store::StoreError;
use kmsgov_store_postgres::testing::TestDatabase;
use kmsgov_store_postgres::PostgresGovernanceSink;

const SEED: [u8; 32] = [42; 32];

/// A fresh database, or `None` when the tests are skipped.
fn database(test: &str) -> Option<TestDatabase> {
    TestDatabase::create(test).unwrap_or_else(|e| panic!("{e}"))
}

fn open(db: &TestDatabase) -> PostgresGovernanceSink {
    PostgresGovernanceSink::open_config(db.config().clone()).unwrap()
}

#[test]
fn postgres_sink_conforms() {
    let Some(db) = database("postgres_sink_conforms") else {
        return;
    };
    conformance::run(&open(&db)).unwrap();
}

#[test]
fn two_servers_append_one_chain() {
    let Some(db) = database("two_servers_append_one_chain") else {
        return;
    };
    let servers: Vec<Arc<Governance>> = (0..2)
        .map(|_| Arc::new(Governance::open(Arc::new(open(&db)), &SEED, "scope", 1_000).unwrap()))
        .collect();
    assert_eq!(servers[0].head(), servers[1].head());
    let threads: Vec<_> = servers
        .iter()
        .enumerate()
        .map(|(n, gov)| {
            let gov = gov.clone();
            std::thread::spawn(move || {
                for i in 0..10u8 {
                    gov.submit(
                        Change {
                            kind: RecordType::BindKeyPolicy,
                            subject: [u8::try_from(n).unwrap() * 100 + i; 32],
                            new_hash: [i; 32],
                            payload: vec![],
                            justification: [0; 32],
                        },
                        1_000,
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let sink = open(&db);
    assert_eq!(sink.size().unwrap(), 21);
    let records = read_all(&sink).unwrap();
    let pin = GovernanceKey::from_seed(&SEED).unwrap().public_key();
    let report = verify_chain(&records, &[pin], None).unwrap();
    assert_eq!(servers[0].refresh().unwrap(), (21, report.head));
    // Appending at a taken position is refused.
    assert!(matches!(
        sink.append(3, &records[3]),
        Err(StoreError::Conflict)
    ));
}

#[test]
fn open_existing_needs_a_chain() {
    let Some(db) = database("open_existing_needs_a_chain") else {
        return;
    };
    let url = db.url();
    assert!(matches!(
        PostgresGovernanceSink::open_existing(&url),
        Err(StoreError::NotFound)
    ));
    drop(open(&db));
    PostgresGovernanceSink::open_existing(&url).unwrap();
}
