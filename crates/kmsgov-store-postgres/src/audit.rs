//! The audit log on PostgreSQL: [`PostgresAuditSink`], one log shared by
//! every server on the database.
//!
//! # Tables
//!
//! - `audit_entries (seq BIGINT PRIMARY KEY, leaf BYTEA, detail BYTEA)`:
//!   the entries, by position;
//! - `audit_checkpoints (size BIGINT PRIMARY KEY, note TEXT)`: the signed
//!   checkpoint of every append;
//! - `audit_head (singleton BOOLEAN PRIMARY KEY, size BIGINT)`: one row,
//!   the number of entries.
//!
//! # Appending
//!
//! An append is one statement (so one round trip and one commit): it moves
//! the head from `first` to the new size with `UPDATE audit_head … WHERE
//! size = first`, and, only when that changed the row, inserts the entries
//! (one `INSERT … SELECT FROM UNNEST` of arrays, however many there are)
//! and the checkpoint. The head's row lock serializes appenders across
//! connections and processes: a concurrent appender waits for the row,
//! then re-checks `size = first` against the committed row, finds it moved
//! and changes nothing, which this sink answers with
//! [`StoreError::Conflict`]; the log's writer then catches up and tries
//! again at the new end. The primary key on `seq` backs this: a position
//! is never written twice.
//!
//! Every connection sets `synchronous_commit = on`, so an append that
//! returns `Ok` is in the server's write-ahead log.

use kmsgov_core::audit::{AuditEntry, AuditSink, SignAtEnd};
use kmsgov_core::store::StoreError;
use postgres::{Config, GenericClient, Row};

use crate::{corrupt, map_err, PostgresStore};

/// The schema of the audit log (a migration of the store's schema).
pub(crate) const MIGRATION: &str = "CREATE TABLE audit_entries (
         seq BIGINT PRIMARY KEY,
         leaf BYTEA NOT NULL,
         detail BYTEA NOT NULL
     );
     CREATE TABLE audit_checkpoints (
         size BIGINT PRIMARY KEY,
         note TEXT NOT NULL
     );
     CREATE TABLE audit_head (
         singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
         size BIGINT NOT NULL CHECK (size >= 0)
     );
     INSERT INTO audit_head (singleton, size) VALUES (TRUE, 0);";

/// Moves the head from `$1` to `$1` plus the number of entries and, when it
/// moved, stores the entries (`$2` leaves, `$3` detail records) from
/// position `$1` and the checkpoint `$4`. One row when it moved, none when
/// the head was elsewhere.
const APPEND: &str = "WITH head AS (
         UPDATE audit_head SET size = $1::BIGINT + cardinality($2::BYTEA[])
         WHERE singleton AND size = $1::BIGINT
         RETURNING size
     ), entries AS (
         INSERT INTO audit_entries (seq, leaf, detail)
         SELECT $1::BIGINT + t.i - 1, t.leaf, t.detail
         FROM head, UNNEST($2::BYTEA[], $3::BYTEA[]) WITH ORDINALITY AS t (leaf, detail, i)
     ), noted AS (
         INSERT INTO audit_checkpoints (size, note) SELECT size, $4::TEXT FROM head
     )
     SELECT size FROM head";

/// [`AuditSink`] on a PostgreSQL database: one log for every server on it.
#[derive(Debug)]
pub struct PostgresAuditSink {
    store: PostgresStore,
}

fn position(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Corrupt(format!("position {value} too large")))
}

fn count(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative position {value}")))
}

/// A store on `config` with the defaults [`PostgresStore::open`] sets, whose
/// schema is left as it is.
fn unmigrated(config: Config) -> PostgresStore {
    PostgresStore::unmigrated(config)
}

impl PostgresAuditSink {
    /// Opens the log in the database a connection string names, migrating
    /// the schema as [`PostgresStore::open`] does (so a server can start on
    /// an empty database).
    ///
    /// # Errors
    ///
    /// As [`PostgresStore::open`].
    pub fn open(connection: &str) -> Result<PostgresAuditSink, StoreError> {
        Ok(PostgresAuditSink {
            store: PostgresStore::open(connection)?,
        })
    }

    /// Opens the log in the database `config` names, migrating its schema.
    ///
    /// # Errors
    ///
    /// As [`PostgresStore::open`].
    pub fn open_config(config: Config) -> Result<PostgresAuditSink, StoreError> {
        Ok(PostgresAuditSink {
            store: PostgresStore::open_config(config)?,
        })
    }

    /// The log in the database of `store`, which opening it migrated, on
    /// connections of its own (so appends never wait for a free store
    /// connection, or the reverse).
    #[must_use]
    pub fn beside(store: &PostgresStore) -> PostgresAuditSink {
        PostgresAuditSink {
            store: unmigrated(store.config.clone()),
        }
    }

    /// Opens the log of a database that already has one, changing nothing
    /// (for checking a log with a user that may only read).
    ///
    /// # Errors
    ///
    /// `Other` when the connection string does not parse, `Unavailable`
    /// when the server cannot be reached, `NotFound` when the database
    /// holds no audit log, `Corrupt` when its schema is newer than this
    /// release.
    pub fn open_existing(connection: &str) -> Result<PostgresAuditSink, StoreError> {
        Ok(PostgresAuditSink {
            store: PostgresStore::existing(connection, MIGRATION)?,
        })
    }

    /// Where the log is, for logs and banners (never the password).
    #[must_use]
    pub fn describe(&self) -> String {
        self.store.describe()
    }
}

impl AuditSink for PostgresAuditSink {
    fn append(
        &self,
        first: u64,
        entries: &[AuditEntry],
        checkpoint: &str,
    ) -> Result<(), StoreError> {
        let at = position(first)?;
        if entries.is_empty() {
            // Nothing to store, and no new size to sign for.
            return if self.size()? == first {
                Ok(())
            } else {
                Err(StoreError::Conflict)
            };
        }
        position(first + entries.len() as u64)?;
        let leaves: Vec<&[u8]> = entries.iter().map(|e| e.leaf.as_slice()).collect();
        let details: Vec<&[u8]> = entries.iter().map(|e| e.detail.as_slice()).collect();
        let moved = self.store.with(|client| {
            client
                .query_opt(APPEND, &[&at, &leaves, &details, &checkpoint])
                .map_err(map_err)
        })?;
        match moved {
            Some(_) => Ok(()),
            None => Err(StoreError::Conflict),
        }
    }

    fn append_at_end(
        &self,
        from: u64,
        entries: &[AuditEntry],
        sign: &mut SignAtEnd<'_>,
    ) -> Result<u64, StoreError> {
        let from_at = position(from)?;
        let leaves: Vec<&[u8]> = entries.iter().map(|e| e.leaf.as_slice()).collect();
        let details: Vec<&[u8]> = entries.iter().map(|e| e.detail.as_slice()).collect();
        self.store.write(|tx| {
            // The head's row lock holds off every other appender until
            // this transaction ends.
            let end = tx
                .query_one(
                    "SELECT size FROM audit_head WHERE singleton FOR UPDATE",
                    &[],
                )
                .map_err(map_err)?
                .try_get::<_, i64>(0)
                .map_err(corrupt)?;
            if end < from_at {
                return Err(StoreError::Corrupt(format!(
                    "the audit log has {end} entries, fewer than the {from} written"
                )));
            }
            let behind = read(tx, from_at, end)?;
            let latest = latest_checkpoint(tx)?;
            let note = sign(&behind, latest.as_ref().map(|(at, n)| (*at, n.as_str())))?;
            let new_size = position(count(end)? + entries.len() as u64)?;
            tx.execute(
                "UPDATE audit_head SET size = $1 WHERE singleton",
                &[&new_size],
            )
            .map_err(map_err)?;
            tx.execute(
                "INSERT INTO audit_entries (seq, leaf, detail)
                 SELECT $1::BIGINT + t.i - 1, t.leaf, t.detail
                 FROM UNNEST($2::BYTEA[], $3::BYTEA[]) WITH ORDINALITY AS t (leaf, detail, i)",
                &[&end, &leaves, &details],
            )
            .map_err(map_err)?;
            tx.execute(
                "INSERT INTO audit_checkpoints (size, note) VALUES ($1, $2)",
                &[&new_size, &note],
            )
            .map_err(map_err)?;
            count(end)
        })
    }

    fn size(&self) -> Result<u64, StoreError> {
        let size = self.store.with(|client| {
            client
                .query_one("SELECT size FROM audit_head WHERE singleton", &[])
                .map_err(map_err)?
                .try_get::<_, i64>(0)
                .map_err(corrupt)
        })?;
        count(size)
    }

    fn read(&self, from: u64, to: u64) -> Result<Vec<AuditEntry>, StoreError> {
        let from = position(from)?;
        let to = i64::try_from(to).unwrap_or(i64::MAX);
        self.store.with(|client| read(client, from, to))
    }

    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        let rows = self.store.with(|client| {
            client
                .query(
                    "SELECT size, note FROM audit_checkpoints ORDER BY size",
                    &[],
                )
                .map_err(map_err)?
                .iter()
                .map(checkpoint)
                .collect::<Result<Vec<_>, StoreError>>()
        })?;
        Ok(rows)
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError> {
        self.store.with(latest_checkpoint)
    }
}

/// The entries at positions `from..to`.
fn read(
    client: &mut impl GenericClient,
    from: i64,
    to: i64,
) -> Result<Vec<AuditEntry>, StoreError> {
    client
        .query(
            "SELECT leaf, detail FROM audit_entries WHERE seq >= $1 AND seq < $2 ORDER BY seq",
            &[&from, &to],
        )
        .map_err(map_err)?
        .iter()
        .map(|row| {
            Ok(AuditEntry {
                leaf: row.try_get(0).map_err(corrupt)?,
                detail: row.try_get(1).map_err(corrupt)?,
            })
        })
        .collect()
}

/// A row of `audit_checkpoints`.
fn checkpoint(row: &Row) -> Result<(u64, String), StoreError> {
    Ok((
        count(row.try_get::<_, i64>(0).map_err(corrupt)?)?,
        row.try_get::<_, String>(1).map_err(corrupt)?,
    ))
}

/// The newest stored checkpoint.
fn latest_checkpoint(client: &mut impl GenericClient) -> Result<Option<(u64, String)>, StoreError> {
    client
        .query_opt(
            "SELECT size, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1",
            &[],
        )
        .map_err(map_err)?
        .as_ref()
        .map(checkpoint)
        .transpose()
}
