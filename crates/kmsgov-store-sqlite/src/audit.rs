//! The audit log on SQLite: its own database file (`audit.db` beside
//! `kmsgov.db`), so that appends never wait for key changes or the reverse.
//! WAL mode with `synchronous=FULL`: an append that returns `Ok` survives a
//! crash or power loss. The log's group-commit writer is the only appender.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use kmsgov_core::audit::{AuditEntry, AuditSink};
use kmsgov_core::store::StoreError;
use rusqlite::{params, Connection, TransactionBehavior};

use crate::{connect_durable, map_err, open_durable, position};

/// The file name of the SQLite audit log in a data directory.
pub const AUDIT_DB: &str = "audit.db";

const MIGRATIONS: &[&str] = &[
    // 1: entries and the checkpoint of every commit.
    "CREATE TABLE audit_entries (
         seq INTEGER PRIMARY KEY,
         leaf BLOB NOT NULL,
         detail BLOB NOT NULL
     );
     CREATE TABLE audit_checkpoints (
         size INTEGER PRIMARY KEY,
         note TEXT NOT NULL
     );",
];

/// [`AuditSink`] on a SQLite database file.
#[derive(Debug)]
pub struct SqliteAuditSink {
    path: PathBuf,
    writer: Mutex<Connection>,
}

fn count(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative position {value}")))
}

impl SqliteAuditSink {
    /// Opens (creating if needed) the audit database at `path`.
    ///
    /// # Errors
    ///
    /// The file cannot be opened or migrated.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteAuditSink, StoreError> {
        let conn = open_durable(path.as_ref(), MIGRATIONS)?;
        Ok(SqliteAuditSink {
            path: path.as_ref().to_owned(),
            writer: Mutex::new(conn),
        })
    }

    fn reader(&self) -> Result<Connection, StoreError> {
        connect_durable(&self.path)
    }
}

impl AuditSink for SqliteAuditSink {
    fn append(
        &self,
        first: u64,
        entries: &[AuditEntry],
        checkpoint: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self
            .writer
            .lock()
            .map_err(|_| StoreError::Unavailable("the audit writer panicked".into()))?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        let size: i64 = tx
            .prepare_cached("SELECT COALESCE(MAX(seq) + 1, 0) FROM audit_entries")
            .and_then(|mut q| q.query_row([], |r| r.get(0)))
            .map_err(map_err)?;
        if count(size)? != first {
            return Err(StoreError::Conflict);
        }
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO audit_entries (seq, leaf, detail) VALUES (?1, ?2, ?3)")
                .map_err(map_err)?;
            for (i, entry) in entries.iter().enumerate() {
                let seq = position(first + i as u64)?;
                insert
                    .execute(params![seq, entry.leaf, entry.detail])
                    .map_err(map_err)?;
            }
        }
        let new_size = position(first + entries.len() as u64)?;
        tx.prepare_cached("INSERT INTO audit_checkpoints (size, note) VALUES (?1, ?2)")
            .and_then(|mut q| q.execute(params![new_size, checkpoint]))
            .map_err(map_err)?;
        tx.commit().map_err(map_err)
    }

    fn size(&self) -> Result<u64, StoreError> {
        let conn = self.reader()?;
        let n: i64 = conn
            .query_row(
                "SELECT COALESCE(MAX(seq) + 1, 0) FROM audit_entries",
                [],
                |r| r.get(0),
            )
            .map_err(map_err)?;
        count(n)
    }

    fn read(&self, from: u64, to: u64) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.reader()?;
        let mut query = conn
            .prepare(
                "SELECT leaf, detail FROM audit_entries WHERE seq >= ?1 AND seq < ?2 ORDER BY seq",
            )
            .map_err(map_err)?;
        let to = i64::try_from(to).unwrap_or(i64::MAX);
        let rows = query
            .query_map(params![position(from)?, to], |r| {
                Ok(AuditEntry {
                    leaf: r.get(0)?,
                    detail: r.get(1)?,
                })
            })
            .map_err(map_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(map_err)
    }

    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        let conn = self.reader()?;
        let mut query = conn
            .prepare("SELECT size, note FROM audit_checkpoints ORDER BY size")
            .map_err(map_err)?;
        let rows = query
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .map_err(map_err)?;
        let mut out = Vec::new();
        for row in rows {
            let (size, note) = row.map_err(map_err)?;
            out.push((count(size)?, note));
        }
        Ok(out)
    }
}
