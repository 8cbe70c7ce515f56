//! The SQLite store passes the core conformance suite, survives reopening,
//! refuses newer schemas and corrupt files, and keeps what it acknowledged.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation should stop the test"
)]

use kmsgov_core::store::{conformance, Store, StoreError};
use kmsgov_store_sqlite::SqliteStore;

#[test]
fn passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("kmsgov.db")).unwrap();
    conformance::run(&store).unwrap();
}

#[test]
fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kmsgov.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .create_key(&conformance::sample_key("k-keep", "111122223333"))
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let key = store.key("k-keep").unwrap().expect("the key survives");
    assert_eq!(key, conformance::sample_key("k-keep", "111122223333"));
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kmsgov.db");
    drop(SqliteStore::open(&path).unwrap());
    assert!(
        SqliteStore::open(&path).is_ok(),
        "reopening the same version works"
    );
    bump_user_version(&path, 99);
    assert!(matches!(
        SqliteStore::open(&path),
        Err(StoreError::Corrupt(_))
    ));
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kmsgov.db");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    assert!(matches!(
        SqliteStore::open(&path),
        Err(StoreError::Corrupt(_))
    ));
}

#[test]
fn a_missing_directory_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let err = SqliteStore::open(dir.path().join("no/such/dir/kmsgov.db")).unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
}

/// Writes `PRAGMA user_version` directly into the database header (offset 60),
/// as a later release would leave it.
fn bump_user_version(path: &std::path::Path, v: u32) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(60)).unwrap();
    f.write_all(&v.to_be_bytes()).unwrap();
}
