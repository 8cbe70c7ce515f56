//! The governance chain on SQLite: its own database file
//! ([`GOVERNANCE_DB`], `governance.db` beside `kmsgov.db` and `audit.db`),
//! so that its schema and its write lock are its own. WAL mode with
//! `synchronous=FULL`: an append that returns `Ok` survives a crash or
//! power loss.
//!
//! Tables: `gov_records (seq INTEGER PRIMARY KEY, record BLOB)`, the chain
//! by position, and `gov_pending (hash BLOB PRIMARY KEY, record BLOB)`, the
//! records waiting for signatures. An append takes the write lock
//! (`BEGIN IMMEDIATE`), so of several processes appending at one position
//! one wins and the others get `Conflict`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use kmsgov_core::governance::{GovernanceSink, Hash32};
use kmsgov_core::store::StoreError;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::{connect_durable, map_err, open_durable, position};

/// The file name of the governance database in a data directory.
pub const GOVERNANCE_DB: &str = "governance.db";

const MIGRATIONS: &[&str] = &[
    // 1: the chain and the pending records.
    "CREATE TABLE gov_records (
         seq INTEGER PRIMARY KEY,
         record BLOB NOT NULL
     );
     CREATE TABLE gov_pending (
         hash BLOB PRIMARY KEY,
         record BLOB NOT NULL
     );",
];

/// [`GovernanceSink`] on a SQLite database file.
#[derive(Debug)]
pub struct SqliteGovernanceSink {
    path: PathBuf,
    writer: Mutex<Connection>,
}

impl SqliteGovernanceSink {
    /// Opens (creating if needed) the governance database at `path`.
    ///
    /// # Errors
    ///
    /// The file cannot be opened or migrated.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteGovernanceSink, StoreError> {
        let conn = open_durable(path.as_ref(), MIGRATIONS)?;
        Ok(SqliteGovernanceSink {
            path: path.as_ref().to_owned(),
            writer: Mutex::new(conn),
        })
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self
            .writer
            .lock()
            .map_err(|_| StoreError::Unavailable("the governance writer panicked".into()))?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        let value = f(&tx)?;
        tx.commit().map_err(map_err)?;
        Ok(value)
    }

    fn reader(&self) -> Result<Connection, StoreError> {
        connect_durable(&self.path)
    }
}

impl GovernanceSink for SqliteGovernanceSink {
    fn append(&self, seq: u64, record: &[u8]) -> Result<(), StoreError> {
        let at = position(seq)?;
        self.write(|tx| {
            let size: i64 = tx
                .query_row(
                    "SELECT COALESCE(MAX(seq) + 1, 0) FROM gov_records",
                    [],
                    |r| r.get(0),
                )
                .map_err(map_err)?;
            if size != at {
                return Err(StoreError::Conflict);
            }
            tx.execute(
                "INSERT INTO gov_records (seq, record) VALUES (?1, ?2)",
                params![at, record],
            )
            .map_err(map_err)?;
            Ok(())
        })
    }

    fn read(&self, from: u64, limit: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let conn = self.reader()?;
        let mut query = conn
            .prepare("SELECT record FROM gov_records WHERE seq >= ?1 ORDER BY seq LIMIT ?2")
            .map_err(map_err)?;
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = query
            .query_map(params![from, limit], |r| r.get::<_, Vec<u8>>(0))
            .map_err(map_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(map_err)
    }

    fn size(&self) -> Result<u64, StoreError> {
        let conn = self.reader()?;
        let n: i64 = conn
            .query_row(
                "SELECT COALESCE(MAX(seq) + 1, 0) FROM gov_records",
                [],
                |r| r.get(0),
            )
            .map_err(map_err)?;
        u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative size {n}")))
    }

    fn put_pending(&self, record_hash: &Hash32, record: &[u8]) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO gov_pending (hash, record) VALUES (?1, ?2)
                 ON CONFLICT (hash) DO UPDATE SET record = excluded.record",
                params![record_hash.as_slice(), record],
            )
            .map_err(map_err)?;
            Ok(())
        })
    }

    fn swap_pending(
        &self,
        record_hash: &Hash32,
        expected: Option<&[u8]>,
        record: &[u8],
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let stored: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT record FROM gov_pending WHERE hash = ?1",
                    params![record_hash.as_slice()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(map_err)?;
            if stored.as_deref() != expected {
                return Err(StoreError::Conflict);
            }
            tx.execute(
                "INSERT INTO gov_pending (hash, record) VALUES (?1, ?2)
                 ON CONFLICT (hash) DO UPDATE SET record = excluded.record",
                params![record_hash.as_slice(), record],
            )
            .map_err(map_err)?;
            Ok(())
        })
    }

    fn pending(&self) -> Result<Vec<(Hash32, Vec<u8>)>, StoreError> {
        let conn = self.reader()?;
        let mut query = conn
            .prepare("SELECT hash, record FROM gov_pending ORDER BY hash")
            .map_err(map_err)?;
        let rows = query
            .query_map([], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(map_err)?;
        let mut out = Vec::new();
        for row in rows {
            let (hash, record) = row.map_err(map_err)?;
            let hash = <Hash32>::try_from(hash.as_slice()).map_err(|_| {
                StoreError::Corrupt(format!("a pending record hash of {} bytes", hash.len()))
            })?;
            out.push((hash, record));
        }
        Ok(out)
    }

    fn remove_pending(&self, record_hash: &Hash32) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM gov_pending WHERE hash = ?1",
                params![record_hash.as_slice()],
            )
            .map_err(map_err)?;
            Ok(())
        })
    }
}
