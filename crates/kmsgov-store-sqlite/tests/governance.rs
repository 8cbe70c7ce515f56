//! The governance chain on SQLite: the sink passes the conformance suite,
//! survives reopening, and two handles on one file (two servers) append
//! one chain that verifies.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;

use kmsgov_core::governance::{
    conformance, read_all, verify_chain, Change, Governance, GovernanceKey, GovernanceSink,
    RecordType, Submitted,
};
use kmsgov_store_sqlite::{SqliteGovernanceSink, GOVERNANCE_DB};

const SEED: [u8; 32] = [42; 32];

#[test]
fn sqlite_sink_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SqliteGovernanceSink::open(dir.path().join(GOVERNANCE_DB)).unwrap();
    conformance::run(&sink).unwrap();
}

#[test]
fn the_chain_survives_reopening_and_is_shared() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(GOVERNANCE_DB);
    let head = {
        let sink = Arc::new(SqliteGovernanceSink::open(&path).unwrap());
        let gov = Governance::open(sink, &SEED, "scope", 1_000).unwrap();
        let submitted = gov
            .submit(
                Change {
                    kind: RecordType::KeyCreate,
                    subject: [1; 32],
                    new_hash: [2; 32],
                    payload: vec![],
                    justification: [0; 32],
                },
                1_001,
            )
            .unwrap();
        assert!(matches!(submitted, Submitted::Applied { seq: 1, .. }));
        gov.head()
    };
    // Two servers on the file, appending at once.
    let servers: Vec<Arc<Governance>> = (0..2)
        .map(|_| {
            let sink = Arc::new(SqliteGovernanceSink::open(&path).unwrap());
            Arc::new(Governance::open(sink, &SEED, "scope", 2_000).unwrap())
        })
        .collect();
    assert_eq!(servers[0].head(), head);
    let threads: Vec<_> = servers
        .iter()
        .enumerate()
        .map(|(n, gov)| {
            let gov = gov.clone();
            std::thread::spawn(move || {
                for i in 0..10u8 {
                    let subject = [u8::try_from(n).unwrap() * 100 + i; 32];
                    gov.submit(
                        Change {
                            kind: RecordType::BindKeyPolicy,
                            subject,
                            new_hash: [i; 32],
                            payload: vec![],
                            justification: [0; 32],
                        },
                        2_000,
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let sink = SqliteGovernanceSink::open(&path).unwrap();
    assert_eq!(sink.size().unwrap(), 22);
    let records = read_all(&sink).unwrap();
    let pin = GovernanceKey::from_seed(&SEED).unwrap().public_key();
    let report = verify_chain(&records, &[pin], Some((head.0 - 1, head.1))).unwrap();
    assert_eq!(report.records, 22);
    assert_eq!(servers[1].refresh().unwrap(), (22, report.head));
}
