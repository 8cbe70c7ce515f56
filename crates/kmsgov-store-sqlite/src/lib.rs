//! The embedded default store: [`kmsgov_core::store::Store`] on SQLite.
//!
//! One database file in WAL mode with `synchronous=FULL`, so every change that
//! returns `Ok` survives a crash or power loss. Records are stored as the
//! core's versioned encodings next to the columns that index them; schema
//! versions are tracked with `PRAGMA user_version` and migrated forward on
//! open, so a later release opens an older data directory.
//!
//! Each call opens its own connection from a small pool, so concurrent callers
//! proceed in parallel where SQLite allows it; writers take the write lock at
//! the start of their transaction (`BEGIN IMMEDIATE`) and wait for it (busy
//! timeout) rather than failing.

#![warn(missing_docs)]

mod audit;
mod audit_file;
mod governance;

pub use audit::{SqliteAuditSink, AUDIT_DB};
pub use audit_file::{FileAuditSink, AUDIT_LOG};
pub use governance::{SqliteGovernanceSink, GOVERNANCE_DB};

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use kmsgov_core::audit::AuditSink;
use kmsgov_core::store::{
    decode_alias, decode_grant, decode_key, encode_alias, encode_grant, encode_key, AliasRecord,
    GrantRecord, KeyRecord, Snapshot, Store, StoreError,
};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};

/// The schema migrations, in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    // 1: keys, aliases, grants.
    "CREATE TABLE keys (
         key_id TEXT PRIMARY KEY,
         account TEXT NOT NULL,
         region TEXT NOT NULL,
         revision INTEGER NOT NULL,
         record BLOB NOT NULL
     );
     CREATE INDEX keys_by_account ON keys (account, region, key_id);
     CREATE TABLE aliases (
         account TEXT NOT NULL,
         region TEXT NOT NULL,
         name TEXT NOT NULL,
         key_id TEXT NOT NULL,
         record BLOB NOT NULL,
         PRIMARY KEY (account, region, name)
     );
     CREATE INDEX aliases_by_key ON aliases (key_id);
     CREATE TABLE grants (
         grant_id TEXT PRIMARY KEY,
         key_id TEXT NOT NULL,
         record BLOB NOT NULL
     );
     CREATE INDEX grants_by_key ON grants (key_id, grant_id);",
];

/// `Store` on a SQLite database file.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates its schema.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let store = SqliteStore {
            path: path.as_ref().to_owned(),
            idle: Mutex::new(Vec::new()),
        };
        let mut conn = store.connect()?;
        migrate(&mut conn, MIGRATIONS)?;
        store.release(conn);
        Ok(store)
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open(&self.path).map_err(map_err)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(map_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(map_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(map_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(map_err)?;
        Ok(conn)
    }

    fn take(&self) -> Result<Connection, StoreError> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match pooled {
            Some(c) => Ok(c),
            None => self.connect(),
        }
    }

    fn release(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < 8 {
                idle.push(conn);
            }
        }
    }

    /// Runs `f` on a pooled connection.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.take()?;
        let result = f(&mut conn);
        self.release(conn);
        result
    }

    /// Runs `f` in a write transaction that holds the write lock from its start.
    fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let value = f(&tx)?;
            tx.commit().map_err(map_err)?;
            Ok(value)
        })
    }
}

/// Runs the `migrations` the database has not run yet, in one transaction.
fn migrate(conn: &mut Connection, migrations: &[&str]) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    let current: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(map_err)?;
    let current = usize::try_from(current)
        .map_err(|_| StoreError::Corrupt(format!("schema version {current}")))?;
    if current > migrations.len() {
        return Err(StoreError::Corrupt(format!(
            "the database has schema version {current}, newer than this release ({})",
            migrations.len()
        )));
    }
    for (i, sql) in migrations.iter().enumerate().skip(current) {
        tx.execute_batch(sql).map_err(map_err)?;
        tx.pragma_update(None, "user_version", i + 1)
            .map_err(map_err)?;
    }
    tx.commit().map_err(map_err)
}

/// A connection to a log database (the audit log, the governance chain):
/// WAL, and `synchronous=FULL`, so a commit is on disk when it returns.
fn connect_durable(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(map_err)?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(map_err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(map_err)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(map_err)?;
    Ok(conn)
}

/// Opens (creating if needed) the log database at `path` and brings its
/// schema to `migrations`: the connection that writes it.
fn open_durable(path: &Path, migrations: &[&str]) -> Result<Connection, StoreError> {
    let mut conn = connect_durable(path)?;
    migrate(&mut conn, migrations)?;
    Ok(conn)
}

/// A log position as SQLite stores it.
fn position(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Corrupt(format!("position {value} too large")))
}

fn map_err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::ConstraintViolation => StoreError::Conflict,
            ErrorCode::DiskFull
            | ErrorCode::ReadOnly
            | ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::PermissionDenied
            | ErrorCode::SystemIoFailure => StoreError::Unavailable(e.to_string()),
            ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => {
                StoreError::Corrupt(e.to_string())
            }
            _ => StoreError::Other(Box::new(e)),
        },
        _ => StoreError::Other(Box::new(e)),
    }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn revision(key: &KeyRecord) -> Result<i64, StoreError> {
    i64::try_from(key.revision).map_err(|_| StoreError::Conflict)
}

fn changed_one(n: usize) -> Result<(), StoreError> {
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

impl Store for SqliteStore {
    fn create_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let bytes = encode_key(key)?;
        let rev = revision(key)?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO keys (key_id, account, region, revision, record) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key.key_id, key.account, key.region, rev, bytes],
            )
            .map_err(map_err)
            .map(|_| ())
        })
    }

    fn update_key(&self, key: &KeyRecord) -> Result<u64, StoreError> {
        let mut next = key.clone();
        next.revision = key.revision.checked_add(1).ok_or(StoreError::Conflict)?;
        let bytes = encode_key(&next)?;
        let (old, new) = (revision(key)?, revision(&next)?);
        self.write(|tx| {
            let stored: Option<i64> = tx
                .query_row("SELECT revision FROM keys WHERE key_id = ?1", params![key.key_id], |r| r.get(0))
                .optional()
                .map_err(map_err)?;
            match stored {
                None => Err(StoreError::NotFound),
                Some(r) if r != old => Err(StoreError::Conflict),
                Some(_) => {
                    tx.execute(
                        "UPDATE keys SET revision = ?1, record = ?2 WHERE key_id = ?3 AND revision = ?4",
                        params![new, bytes, key.key_id, old],
                    )
                    .map_err(map_err)?;
                    Ok(next.revision)
                }
            }
        })
    }

    fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.with(|conn| {
            let bytes: Option<Vec<u8>> = conn
                .query_row(
                    "SELECT record FROM keys WHERE key_id = ?1",
                    params![key_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(map_err)?;
            bytes.map(|b| decode_key(&b)).transpose()
        })
    }

    fn list_keys(
        &self,
        account: &str,
        region: &str,
        after: Option<&str>,
        n: usize,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT record FROM keys WHERE account = ?1 AND region = ?2 AND key_id > ?3 ORDER BY key_id LIMIT ?4",
                )
                .map_err(map_err)?;
            let rows = stmt
                .query_map(params![account, region, after.unwrap_or(""), limit(n)], |r| r.get::<_, Vec<u8>>(0))
                .map_err(map_err)?;
            rows.map(|b| decode_key(&b.map_err(map_err)?)).collect()
        })
    }

    fn delete_key(&self, key_id: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute("DELETE FROM aliases WHERE key_id = ?1", params![key_id])
                .map_err(map_err)?;
            tx.execute("DELETE FROM grants WHERE key_id = ?1", params![key_id])
                .map_err(map_err)?;
            changed_one(
                tx.execute("DELETE FROM keys WHERE key_id = ?1", params![key_id])
                    .map_err(map_err)?,
            )
        })
    }

    fn create_alias(&self, a: &AliasRecord) -> Result<(), StoreError> {
        let bytes = encode_alias(a)?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO aliases (account, region, name, key_id, record) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![a.account, a.region, a.name, a.key_id, bytes],
            )
            .map_err(map_err)
            .map(|_| ())
        })
    }

    fn update_alias(&self, a: &AliasRecord) -> Result<(), StoreError> {
        let bytes = encode_alias(a)?;
        self.write(|tx| {
            changed_one(
                tx.execute(
                    "UPDATE aliases SET key_id = ?1, record = ?2 WHERE account = ?3 AND region = ?4 AND name = ?5",
                    params![a.key_id, bytes, a.account, a.region, a.name],
                )
                .map_err(map_err)?,
            )
        })
    }

    fn delete_alias(&self, account: &str, region: &str, name: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            changed_one(
                tx.execute(
                    "DELETE FROM aliases WHERE account = ?1 AND region = ?2 AND name = ?3",
                    params![account, region, name],
                )
                .map_err(map_err)?,
            )
        })
    }

    fn alias(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<Option<AliasRecord>, StoreError> {
        self.with(|conn| {
            let bytes: Option<Vec<u8>> = conn
                .query_row(
                    "SELECT record FROM aliases WHERE account = ?1 AND region = ?2 AND name = ?3",
                    params![account, region, name],
                    |r| r.get(0),
                )
                .optional()
                .map_err(map_err)?;
            bytes.map(|b| decode_alias(&b)).transpose()
        })
    }

    fn list_aliases(
        &self,
        account: &str,
        region: &str,
        key_id: Option<&str>,
        after: Option<&str>,
        n: usize,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT record FROM aliases WHERE account = ?1 AND region = ?2 AND (?3 IS NULL OR key_id = ?3)
                     AND name > ?4 ORDER BY name LIMIT ?5",
                )
                .map_err(map_err)?;
            let rows = stmt
                .query_map(params![account, region, key_id, after.unwrap_or(""), limit(n)], |r| r.get::<_, Vec<u8>>(0))
                .map_err(map_err)?;
            rows.map(|b| decode_alias(&b.map_err(map_err)?)).collect()
        })
    }

    fn create_grant(&self, g: &GrantRecord) -> Result<(), StoreError> {
        let bytes = encode_grant(g)?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO grants (grant_id, key_id, record) VALUES (?1, ?2, ?3)",
                params![g.grant_id, g.key_id, bytes],
            )
            .map_err(map_err)
            .map(|_| ())
        })
    }

    fn grant(&self, grant_id: &str) -> Result<Option<GrantRecord>, StoreError> {
        self.with(|conn| {
            let bytes: Option<Vec<u8>> = conn
                .query_row(
                    "SELECT record FROM grants WHERE grant_id = ?1",
                    params![grant_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(map_err)?;
            bytes.map(|b| decode_grant(&b)).transpose()
        })
    }

    fn list_grants(
        &self,
        key_id: &str,
        after: Option<&str>,
        n: usize,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT record FROM grants WHERE key_id = ?1 AND grant_id > ?2 ORDER BY grant_id LIMIT ?3")
                .map_err(map_err)?;
            let rows = stmt
                .query_map(params![key_id, after.unwrap_or(""), limit(n)], |r| r.get::<_, Vec<u8>>(0))
                .map_err(map_err)?;
            rows.map(|b| decode_grant(&b.map_err(map_err)?)).collect()
        })
    }

    fn delete_grant(&self, grant_id: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            changed_one(
                tx.execute("DELETE FROM grants WHERE grant_id = ?1", params![grant_id])
                    .map_err(map_err)?,
            )
        })
    }

    fn load_all(&self) -> Result<Snapshot, StoreError> {
        self.with(|conn| {
            // One read transaction: the three tables from the same moment.
            let tx = conn.transaction().map_err(map_err)?;
            let mut snapshot = Snapshot::default();
            {
                let mut stmt = tx
                    .prepare("SELECT record FROM keys ORDER BY key_id")
                    .map_err(map_err)?;
                let rows = stmt
                    .query_map([], |r| r.get::<_, Vec<u8>>(0))
                    .map_err(map_err)?;
                for b in rows {
                    snapshot.keys.push(decode_key(&b.map_err(map_err)?)?);
                }
                let mut stmt = tx
                    .prepare("SELECT record FROM aliases ORDER BY account, region, name")
                    .map_err(map_err)?;
                let rows = stmt
                    .query_map([], |r| r.get::<_, Vec<u8>>(0))
                    .map_err(map_err)?;
                for b in rows {
                    snapshot.aliases.push(decode_alias(&b.map_err(map_err)?)?);
                }
                let mut stmt = tx
                    .prepare("SELECT record FROM grants ORDER BY grant_id")
                    .map_err(map_err)?;
                let rows = stmt
                    .query_map([], |r| r.get::<_, Vec<u8>>(0))
                    .map_err(map_err)?;
                for b in rows {
                    snapshot.grants.push(decode_grant(&b.map_err(map_err)?)?);
                }
            }
            tx.commit().map_err(map_err)?;
            Ok(snapshot)
        })
    }

    fn clear(&self) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute_batch("DELETE FROM grants; DELETE FROM aliases; DELETE FROM keys;")
                .map_err(map_err)
        })
    }
}

/// An audit log opened in a data directory, and the path of its file.
pub type DataDirAuditLog = (Box<dyn AuditSink>, PathBuf);

/// The `audit.db` of a data directory made before the audit log moved to
/// a file, when it has one and no `audit.log`: kept, so that its chain of
/// checkpoints continues.
fn legacy_audit_db(dir: &Path) -> Option<PathBuf> {
    let db = dir.join(AUDIT_DB);
    (!dir.join(AUDIT_LOG).exists() && db.exists()).then_some(db)
}

/// The audit log of the data directory `dir`, opened to append: its
/// `audit.log` (made when missing), or the `audit.db` of an older data
/// directory.
///
/// # Errors
///
/// The log cannot be opened (see [`FileAuditSink::open`]).
pub fn open_audit_log(dir: &Path) -> Result<DataDirAuditLog, StoreError> {
    if let Some(db) = legacy_audit_db(dir) {
        return Ok((Box::new(SqliteAuditSink::open(&db)?), db));
    }
    let file = dir.join(AUDIT_LOG);
    Ok((Box::new(FileAuditSink::open(&file)?), file))
}

/// The audit log of the data directory `dir`, opened to read (no lock, so
/// also while a server appends), as [`open_audit_log`] would pick it;
/// `None` when the directory has none.
///
/// # Errors
///
/// The log cannot be opened (see [`FileAuditSink::open_read_only`]).
pub fn read_audit_log(dir: &Path) -> Result<Option<DataDirAuditLog>, StoreError> {
    if let Some(db) = legacy_audit_db(dir) {
        return Ok(Some((Box::new(SqliteAuditSink::open(&db)?), db)));
    }
    let file = dir.join(AUDIT_LOG);
    if !file.exists() {
        return Ok(None);
    }
    Ok(Some((
        Box::new(FileAuditSink::open_read_only(&file)?),
        file,
    )))
}
