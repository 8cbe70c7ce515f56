//! The governance chain on PostgreSQL: [`PostgresGovernanceSink`], one chain
//! shared by every server on the database.
//!
//! # Tables
//!
//! - `gov_records (seq BIGINT PRIMARY KEY, record BYTEA)`: the chain, by
//!   position;
//! - `gov_pending (hash BYTEA PRIMARY KEY, record BYTEA)`: the records
//!   waiting for signatures.
//!
//! # Appending
//!
//! An append is one `INSERT … SELECT … WHERE` the number of committed
//! records is `seq`: a position past the end inserts nothing, and of two
//! servers inserting at one position the second waits on the primary key
//! and then fails it; both are answered [`StoreError::Conflict`], and the
//! server catches up and tries again. Every connection sets
//! `synchronous_commit = on`.

use kmsgov_core::governance::{GovernanceSink, Hash32};
use kmsgov_core::store::StoreError;
use postgres::Config;

use crate::{corrupt, map_err, PostgresStore};

/// The schema of the governance chain (a migration of the store's schema).
pub(crate) const MIGRATION: &str = "CREATE TABLE gov_records (
         seq BIGINT PRIMARY KEY CHECK (seq >= 0),
         record BYTEA NOT NULL
     );
     CREATE TABLE gov_pending (
         hash BYTEA PRIMARY KEY CHECK (octet_length(hash) = 32),
         record BYTEA NOT NULL
     );";

/// [`GovernanceSink`] on a PostgreSQL database: one chain for every server
/// on it.
#[derive(Debug)]
pub struct PostgresGovernanceSink {
    store: PostgresStore,
}

fn position(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Corrupt(format!("position {value} too large")))
}

impl PostgresGovernanceSink {
    /// Opens the chain in the database a connection string names, migrating
    /// the schema as [`PostgresStore::open`] does.
    ///
    /// # Errors
    ///
    /// As [`PostgresStore::open`].
    pub fn open(connection: &str) -> Result<PostgresGovernanceSink, StoreError> {
        Ok(PostgresGovernanceSink {
            store: PostgresStore::open(connection)?,
        })
    }

    /// Opens the chain in the database `config` names, migrating its schema.
    ///
    /// # Errors
    ///
    /// As [`PostgresStore::open`].
    pub fn open_config(config: Config) -> Result<PostgresGovernanceSink, StoreError> {
        Ok(PostgresGovernanceSink {
            store: PostgresStore::open_config(config)?,
        })
    }

    /// The chain in the database of `store`, which opening it migrated, on
    /// connections of its own.
    #[must_use]
    pub fn beside(store: &PostgresStore) -> PostgresGovernanceSink {
        PostgresGovernanceSink {
            store: PostgresStore::unmigrated(store.config.clone()),
        }
    }

    /// Opens the chain of a database that already has one, changing nothing
    /// (for checking it with a user that may only read).
    ///
    /// # Errors
    ///
    /// `Other` when the connection string does not parse, `Unavailable`
    /// when the server cannot be reached, `NotFound` when the database
    /// holds no governance chain, `Corrupt` when its schema is newer than
    /// this release.
    pub fn open_existing(connection: &str) -> Result<PostgresGovernanceSink, StoreError> {
        Ok(PostgresGovernanceSink {
            store: PostgresStore::existing(connection, MIGRATION)?,
        })
    }

    /// Where the chain is, for logs and banners (never the password).
    #[must_use]
    pub fn describe(&self) -> String {
        self.store.describe()
    }
}

impl GovernanceSink for PostgresGovernanceSink {
    fn append(&self, seq: u64, record: &[u8]) -> Result<(), StoreError> {
        let at = position(seq)?;
        let inserted = self.store.with(|client| {
            client
                .execute(
                    "INSERT INTO gov_records (seq, record)
                     SELECT $1::BIGINT, $2::BYTEA
                     WHERE (SELECT COALESCE(MAX(seq) + 1, 0) FROM gov_records) = $1::BIGINT",
                    &[&at, &record],
                )
                .map_err(map_err)
        })?;
        if inserted == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }

    fn read(&self, from: u64, limit: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.store.with(|client| {
            client
                .query(
                    "SELECT record FROM gov_records WHERE seq >= $1 ORDER BY seq LIMIT $2",
                    &[&from, &limit],
                )
                .map_err(map_err)?
                .iter()
                .map(|row| row.try_get::<_, Vec<u8>>(0).map_err(corrupt))
                .collect()
        })
    }

    fn size(&self) -> Result<u64, StoreError> {
        let n = self.store.with(|client| {
            client
                .query_one("SELECT COALESCE(MAX(seq) + 1, 0) FROM gov_records", &[])
                .map_err(map_err)?
                .try_get::<_, i64>(0)
                .map_err(corrupt)
        })?;
        u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative size {n}")))
    }

    fn put_pending(&self, record_hash: &Hash32, record: &[u8]) -> Result<(), StoreError> {
        let hash = record_hash.as_slice();
        self.store.with(|client| {
            client
                .execute(
                    "INSERT INTO gov_pending (hash, record) VALUES ($1, $2)
                     ON CONFLICT (hash) DO UPDATE SET record = excluded.record",
                    &[&hash, &record],
                )
                .map_err(map_err)
                .map(|_| ())
        })
    }

    fn swap_pending(
        &self,
        record_hash: &Hash32,
        expected: Option<&[u8]>,
        record: &[u8],
    ) -> Result<(), StoreError> {
        let hash = record_hash.as_slice();
        self.store.with(|client| {
            // One statement each way, so the check and the write are one
            // step: an update only of the expected bytes, or an insert only
            // where there is no row.
            let written = match expected {
                Some(expected) => client.execute(
                    "UPDATE gov_pending SET record = $3 WHERE hash = $1 AND record = $2",
                    &[&hash, &expected, &record],
                ),
                None => client.execute(
                    "INSERT INTO gov_pending (hash, record) VALUES ($1, $2)
                     ON CONFLICT (hash) DO NOTHING",
                    &[&hash, &record],
                ),
            }
            .map_err(map_err)?;
            if written == 1 {
                Ok(())
            } else {
                Err(StoreError::Conflict)
            }
        })
    }

    fn pending(&self) -> Result<Vec<(Hash32, Vec<u8>)>, StoreError> {
        let rows = self.store.with(|client| {
            client
                .query("SELECT hash, record FROM gov_pending ORDER BY hash", &[])
                .map_err(map_err)?
                .iter()
                .map(|row| {
                    Ok((
                        row.try_get::<_, Vec<u8>>(0).map_err(corrupt)?,
                        row.try_get::<_, Vec<u8>>(1).map_err(corrupt)?,
                    ))
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })?;
        rows.into_iter()
            .map(|(hash, record)| {
                let hash = <Hash32>::try_from(hash.as_slice()).map_err(|_| {
                    StoreError::Corrupt(format!("a pending record hash of {} bytes", hash.len()))
                })?;
                Ok((hash, record))
            })
            .collect()
    }

    fn remove_pending(&self, record_hash: &Hash32) -> Result<(), StoreError> {
        let hash = record_hash.as_slice();
        self.store.with(|client| {
            client
                .execute("DELETE FROM gov_pending WHERE hash = $1", &[&hash])
                .map_err(map_err)
                .map(|_| ())
        })
    }
}
