//! The audit log on SQLite: appends are all-or-nothing at the position the
//! log expects, survive reopening, and read back in order with their
//! checkpoints; an `AuditLog` on it reopens where it left off.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;

use kmsgov_core::audit::verify::verify;
use kmsgov_core::audit::{checkpoint_signer, AuditEntry, AuditLog, AuditSink, Verifier};
use kmsgov_core::root_key::RootKey;
use kmsgov_core::store::StoreError;
use kmsgov_store_sqlite::SqliteAuditSink;

fn entry(n: u8) -> AuditEntry {
    AuditEntry {
        leaf: vec![n; 316],
        detail: format!("{{\"n\":{n}}}").into_bytes(),
    }
}

#[test]
fn appends_are_positional_durable_and_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    {
        let sink = SqliteAuditSink::open(&path).unwrap();
        assert_eq!(sink.size().unwrap(), 0);
        sink.append(0, &[entry(1), entry(2)], "note 2").unwrap();
        // Not at the end: refused, and nothing of it is kept.
        assert!(matches!(
            sink.append(1, &[entry(9)], "note x"),
            Err(StoreError::Conflict)
        ));
        assert!(matches!(
            sink.append(5, &[entry(9)], "note x"),
            Err(StoreError::Conflict)
        ));
        sink.append(2, &[entry(3)], "note 3").unwrap();
    }
    let sink = SqliteAuditSink::open(&path).unwrap();
    assert_eq!(sink.size().unwrap(), 3);
    let all = sink.read(0, 10).unwrap();
    assert_eq!(all, vec![entry(1), entry(2), entry(3)]);
    assert_eq!(sink.read(1, 2).unwrap(), vec![entry(2)]);
    assert!(sink.read(3, 5).unwrap().is_empty());
    assert_eq!(
        sink.checkpoints().unwrap(),
        vec![(2, "note 2".to_owned()), (3, "note 3".to_owned())]
    );
}

#[test]
fn a_log_on_sqlite_reopens_where_it_left_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let root = RootKey::from_bytes(&[6u8; 32]).unwrap();
    let head = {
        let sink: Arc<dyn AuditSink> = Arc::new(SqliteAuditSink::open(&path).unwrap());
        let log = AuditLog::open(sink, checkpoint_signer(&root, "us-east-1").unwrap()).unwrap();
        for n in 0..50 {
            assert_eq!(log.append(entry(n)).unwrap(), u64::from(n));
        }
        log.head()
    };
    let sink: Arc<dyn AuditSink> = Arc::new(SqliteAuditSink::open(&path).unwrap());
    let log = AuditLog::open(
        Arc::clone(&sink),
        checkpoint_signer(&root, "us-east-1").unwrap(),
    )
    .unwrap();
    assert_eq!((log.head().size, log.head().root), (head.size, head.root));
    assert_eq!(log.append(entry(50)).unwrap(), 50);
    let verifier = Verifier::parse(&log.verifier_key()).unwrap();
    drop(log);
    // The test leaves are not GAUD leaves, so each is reported; the tree
    // and every checkpoint match.
    let report = verify(sink.as_ref(), &verifier, Some(&head.checkpoint)).unwrap();
    assert_eq!(report.size, 51);
    assert!(report
        .problems
        .iter()
        .all(|p| p.starts_with("entry ") && p.contains("magic")));
}
