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

#[path = "support/audit_log.rs"]
mod support;

use std::sync::Arc;

use kmsgov_core::audit::AuditSink;
use kmsgov_core::store::StoreError;
use kmsgov_store_sqlite::SqliteAuditSink;
use support::entry;

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
    support::reopens_where_it_left_off(&|| Arc::new(SqliteAuditSink::open(&path).unwrap()));
}
