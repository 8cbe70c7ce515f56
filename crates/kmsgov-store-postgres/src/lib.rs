//! The shared store: [`kmsgov_core::store::Store`] on PostgreSQL.
//!
//! Several `kmsgov serve` processes can open one database. Records are stored
//! as the core's versioned encodings (key material only ever wrapped under the
//! root key) next to the columns that index them, as in the SQLite store.
//!
//! # Client
//!
//! The `Store` trait is synchronous, and the service calls it mostly where
//! blocking is allowed (start-up, `block_in_place`, the blocking pool). The
//! blocking [`postgres`] client fits that as is: each connection drives
//! `tokio-postgres` on a small runtime of its own, so no async code leaks into
//! the trait (`tokio-postgres` on a runtime of the store's own would need the
//! same care and more code).
//!
//! That client must not be used on a thread that runs async tasks (its own
//! runtime would be started inside another and panic), and a caller may not
//! know where it runs: the server, say, runs reads that it believes to be
//! memory-only (ListKeys, ListAliases, ListGrants read the store) straight on
//! its worker threads. So every call checks first: on a multi-threaded tokio
//! runtime it runs under `block_in_place`, on a current-thread runtime on a
//! thread of its own, outside any runtime as it is.
//!
//! # Connections
//!
//! A mutex-guarded free list of idle connections (at most
//! [`MAX_IDLE`]) serves concurrent callers: a caller takes an idle connection
//! or opens a new one, and gives it back afterwards unless it broke. A pool
//! crate would add a thread pool and more dependencies for what these few
//! lines do; the service serializes its writes anyway, so few connections are
//! open at once.
//!
//! # Consistency
//!
//! - `update_key` is one conditional `UPDATE … WHERE revision = $old`; under
//!   PostgreSQL's row locks a concurrent writer waits, then re-checks the
//!   condition against the committed row, so exactly one writer per revision
//!   wins, across connections and processes.
//! - Aliases have a primary key on (account, Region, name): of two concurrent
//!   `create_alias` calls of one name, the second waits for the first and then
//!   fails the unique constraint (`Conflict`).
//! - `load_all` reads in one `REPEATABLE READ` read-only transaction, so the
//!   three tables come from the same moment.
//! - Every connection sets `synchronous_commit = on`: a call that returns `Ok`
//!   was flushed to the server's write-ahead log.
//! - Text columns use the `"C"` collation, so orders and page markers compare
//!   bytes, as the other stores do, whatever the database's locale.
//!
//! # Schema
//!
//! The schema version is recorded in the table `kmsgov_schema`. Opening a
//! store runs the migrations the database lacks in one transaction that first
//! takes a transaction-scoped advisory lock (`pg_advisory_xact_lock`), so
//! nodes starting together migrate once; a database whose schema is newer
//! than this release is refused.
//!
//! # TLS
//!
//! Not yet: connections use `NoTls`, so the server must be reached over
//! loopback or a unix socket.

#![warn(missing_docs)]

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kmsgov_core::store::{
    decode_alias, decode_grant, decode_key, encode_alias, encode_grant, encode_key, AliasRecord,
    Change, ChangeFeed, GrantRecord, KeyRecord, Snapshot, Store, StoreError,
};
use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
pub use postgres::Config;
use postgres::{Client, IsolationLevel, NoTls, Row, Transaction};

/// The schema migrations, in order; `kmsgov_schema.version` records how many ran.
const MIGRATIONS: &[&str] = &[
    // 1: keys, aliases, grants.
    r#"CREATE TABLE keys (
         key_id TEXT COLLATE "C" PRIMARY KEY,
         account TEXT COLLATE "C" NOT NULL,
         region TEXT COLLATE "C" NOT NULL,
         revision BIGINT NOT NULL,
         record BYTEA NOT NULL
     );
     CREATE INDEX keys_by_account ON keys (account, region, key_id);
     CREATE TABLE aliases (
         account TEXT COLLATE "C" NOT NULL,
         region TEXT COLLATE "C" NOT NULL,
         name TEXT COLLATE "C" NOT NULL,
         key_id TEXT COLLATE "C" NOT NULL,
         record BYTEA NOT NULL,
         PRIMARY KEY (account, region, name)
     );
     CREATE INDEX aliases_by_key ON aliases (key_id);
     CREATE TABLE grants (
         grant_id TEXT COLLATE "C" PRIMARY KEY,
         key_id TEXT COLLATE "C" NOT NULL,
         record BYTEA NOT NULL
     );
     CREATE INDEX grants_by_key ON grants (key_id, grant_id);"#,
    // 2: the audit log (`audit.rs`).
    audit::MIGRATION,
    // 3: the change feed and the acknowledgements of the servers following it.
    r#"CREATE TABLE changes (
         position BIGINT PRIMARY KEY,
         key_id TEXT COLLATE "C",
         recorded TIMESTAMPTZ NOT NULL DEFAULT now()
     );
     CREATE TABLE followers (
         node TEXT COLLATE "C" PRIMARY KEY,
         applied BIGINT NOT NULL,
         seen TIMESTAMPTZ NOT NULL
     );"#,
    // 4: the governance chain (`governance.rs`).
    governance::MIGRATION,
];

/// The advisory lock that serializes schema migrations of one database
/// ("kmsgov" in ASCII).
pub const MIGRATION_LOCK: i64 = 0x0000_6b6d_7367_6f76;

/// The advisory lock every change takes first, so that changes are recorded
/// in the feed in the order they commit ("kmsgovfe" in ASCII).
pub const FEED_LOCK: i64 = 0x6b6d_7367_6f76_6665;

/// The channel of `NOTIFY` sent with every change.
pub const CHANNEL: &str = "kmsgov_changes";

/// Feed entries older than this (and applied by every server seen lately)
/// are pruned; a server that missed them reloads everything.
const KEEP_CHANGES: &str = "10 minutes";

/// How often a server prunes the feed.
const PRUNE_PERIOD: Duration = Duration::from_secs(60);

/// The schema version this release writes and reads.
#[must_use]
pub fn schema_version() -> usize {
    MIGRATIONS.len()
}

/// At most this many idle connections are kept for reuse.
pub const MAX_IDLE: usize = 8;

/// How long opening a connection may take when the connection string does not
/// say (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `Store` on a PostgreSQL database.
pub struct PostgresStore {
    config: Config,
    idle: Mutex<Vec<Client>>,
    /// The connection that `LISTEN`s for changes.
    listener: Mutex<Option<Client>>,
    /// When this store last pruned the feed.
    pruned: Mutex<Option<Instant>>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password.
        f.debug_struct("PostgresStore")
            .field("hosts", &self.config.get_hosts())
            .field("ports", &self.config.get_ports())
            .field("dbname", &self.config.get_dbname())
            .field("user", &self.config.get_user())
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Closing a connection blocks too: never on an async worker.
        let mut idle = std::mem::take(
            self.idle
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if let Some(listener) = self
            .listener
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            idle.push(listener);
        }
        if !idle.is_empty() {
            let _ = off_runtime(move || {
                drop(idle);
                Ok(())
            });
        }
    }
}

impl PostgresStore {
    /// Opens the database a connection string names (`postgres://…` URL or
    /// `key=value` pairs) and migrates its schema.
    ///
    /// # Errors
    ///
    /// `Other` when the connection string does not parse, `Unavailable` when
    /// the server cannot be reached, `Corrupt` when the database's schema is
    /// newer than this release or its version table is damaged.
    pub fn open(connection: &str) -> Result<PostgresStore, StoreError> {
        let config = connection
            .parse::<Config>()
            .map_err(|e| StoreError::Other(format!("the connection string: {e}").into()))?;
        PostgresStore::open_config(config)
    }

    /// Opens the database `config` names and migrates its schema.
    ///
    /// # Errors
    ///
    /// As [`PostgresStore::open`].
    pub fn open_config(config: Config) -> Result<PostgresStore, StoreError> {
        off_runtime(move || PostgresStore::open_blocking(config))
    }

    /// A store on the database a connection string names, whose schema is
    /// left as it is, for the tables `migration` made: for reading a log
    /// or chain with a user that may only read.
    ///
    /// # Errors
    ///
    /// `Other` when the connection string does not parse, `Unavailable`
    /// when the server cannot be reached, `NotFound` when the schema lacks
    /// `migration`, `Corrupt` when it is newer than this release.
    pub(crate) fn existing(connection: &str, migration: &str) -> Result<PostgresStore, StoreError> {
        let config = connection
            .parse::<Config>()
            .map_err(|e| StoreError::Other(format!("the connection string: {e}").into()))?;
        let store = PostgresStore::unmigrated(config);
        let version = store.with(|client| {
            // A query naming a missing table fails to parse: look first.
            let exists = client
                .query_one("SELECT to_regclass('kmsgov_schema') IS NOT NULL", &[])
                .map_err(map_err)?
                .try_get::<_, bool>(0)
                .map_err(corrupt)?;
            if !exists {
                return Ok(0);
            }
            client
                .query_one("SELECT COALESCE(MAX(version), 0) FROM kmsgov_schema", &[])
                .map_err(map_err)?
                .try_get::<_, i32>(0)
                .map_err(corrupt)
        })?;
        let version = usize::try_from(version)
            .map_err(|_| StoreError::Corrupt(format!("schema version {version}")))?;
        if version > MIGRATIONS.len() {
            return Err(StoreError::Corrupt(format!(
                "the database has schema version {version}, newer than this release ({})",
                MIGRATIONS.len()
            )));
        }
        let needed = MIGRATIONS
            .iter()
            .position(|m| *m == migration)
            .map_or(usize::MAX, |i| i + 1);
        if version < needed {
            return Err(StoreError::NotFound);
        }
        Ok(store)
    }

    /// A store on `config` with the defaults (connect timeout, application
    /// name), whose schema is left as it is.
    pub(crate) fn unmigrated(mut config: Config) -> PostgresStore {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("kmsgov");
        }
        PostgresStore {
            config,
            idle: Mutex::new(Vec::new()),
            listener: Mutex::new(None),
            pruned: Mutex::new(None),
        }
    }

    fn open_blocking(config: Config) -> Result<PostgresStore, StoreError> {
        let store = PostgresStore::unmigrated(config);
        let mut client = store.connect()?;
        migrate(&mut client, MIGRATIONS)?;
        store.release(client);
        Ok(store)
    }

    /// Where the store is, for logs and banners: hosts, ports, database
    /// and user, never the password.
    #[must_use]
    pub fn describe(&self) -> String {
        let c = &self.config;
        let hosts: Vec<String> = c
            .get_hosts()
            .iter()
            .map(|h| match h {
                postgres::config::Host::Tcp(h) => h.clone(),
                postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .collect();
        let ports: Vec<String> = c.get_ports().iter().map(u16::to_string).collect();
        format!(
            "PostgreSQL database {} on {} (port {}) as {}",
            c.get_dbname().unwrap_or("(the user's)"),
            if hosts.is_empty() {
                "localhost".to_owned()
            } else {
                hosts.join(",")
            },
            if ports.is_empty() {
                "5432".to_owned()
            } else {
                ports.join(",")
            },
            c.get_user().unwrap_or("(the system user)"),
        )
    }

    /// Whether the database holds any key (a server that would create a new
    /// root key checks this first: stored keys need the root key that
    /// wrapped them).
    ///
    /// # Errors
    ///
    /// The database cannot be read.
    pub fn holds_keys(&self) -> Result<bool, StoreError> {
        self.with(|client| {
            client
                .query_one("SELECT EXISTS (SELECT 1 FROM keys)", &[])
                .map_err(map_err)?
                .try_get::<_, bool>(0)
                .map_err(corrupt)
        })
    }

    fn connect(&self) -> Result<Client, StoreError> {
        let mut client = self
            .config
            .connect(NoTls)
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        client
            .batch_execute("SET synchronous_commit = on")
            .map_err(map_err)?;
        Ok(client)
    }

    fn take(&self) -> Result<Client, StoreError> {
        loop {
            let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
            match pooled {
                Some(c) if c.is_closed() => continue,
                Some(c) => return Ok(c),
                None => return self.connect(),
            }
        }
    }

    fn release(&self, client: Client) {
        if client.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(client);
            }
        }
    }

    /// Runs `f` on a pooled connection, where blocking is allowed.
    fn with<T: Send>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        off_runtime(|| {
            let mut client = self.take()?;
            let result = f(&mut client);
            self.release(client);
            result
        })
    }

    /// Runs a change `f` in a read-committed transaction, committed when `f`
    /// succeeds (rolled back when it fails or the transaction is dropped).
    ///
    /// The transaction first takes [`FEED_LOCK`], so changes commit one at a
    /// time and the feed positions they record ([`record_change`]) follow
    /// their commit order with no gaps; taking it before any row lock keeps
    /// the lock order the same everywhere (no deadlock).
    fn write<T: Send>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        self.with(|client| {
            let mut tx = client.transaction().map_err(map_err)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&FEED_LOCK])
                .map_err(map_err)?;
            let value = f(&mut tx)?;
            tx.commit().map_err(map_err)?;
            Ok(value)
        })
    }

    /// One change statement, with its feed entry for `key_id`; the number
    /// of rows it changed (no entry when none).
    fn execute(
        &self,
        key_id: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        self.write(|tx| {
            let n = tx.execute(sql, params).map_err(map_err)?;
            if n > 0 {
                record_change(tx, Some(key_id))?;
            }
            Ok(n)
        })
    }

    /// The listening connection, opened (and `LISTEN` sent) when needed.
    fn listening<'a>(&self, slot: &'a mut Option<Client>) -> Result<&'a mut Client, StoreError> {
        if slot.as_ref().is_some_and(Client::is_closed) {
            *slot = None;
        }
        match slot {
            Some(client) => Ok(client),
            None => {
                let mut client = self.connect()?;
                client
                    .batch_execute(&format!("LISTEN {CHANNEL}"))
                    .map_err(map_err)?;
                Ok(slot.insert(client))
            }
        }
    }

    /// Deletes feed entries every recent follower has applied and that are
    /// older than [`KEEP_CHANGES`] (always keeping the newest, so a server
    /// that missed pruned entries sees the gap), and followers not seen for
    /// a day; at most once per [`PRUNE_PERIOD`].
    fn prune(&self, client: &mut Client) -> Result<(), StoreError> {
        {
            let mut pruned = self
                .pruned
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if pruned.is_some_and(|t| t.elapsed() < PRUNE_PERIOD) {
                return Ok(());
            }
            *pruned = Some(Instant::now());
        }
        client
            .batch_execute(&format!(
                "DELETE FROM changes
                  WHERE position < (SELECT max(position) FROM changes)
                    AND position <= COALESCE((SELECT min(applied) FROM followers
                                               WHERE seen > now() - interval '1 hour'), 0)
                    AND recorded < now() - interval '{KEEP_CHANGES}';
                 DELETE FROM followers WHERE seen < now() - interval '1 day';"
            ))
            .map_err(map_err)
    }

    /// The `record` column of the row a query finds, if any.
    fn record(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|client| {
            client
                .query_opt(sql, params)
                .map_err(map_err)?
                .map(|row| bytes(&row))
                .transpose()
        })
    }

    /// The `record` columns of the rows a query finds.
    fn records(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        self.with(|client| {
            client
                .query(sql, params)
                .map_err(map_err)?
                .iter()
                .map(bytes)
                .collect()
        })
    }
}

/// Runs `f` where the blocking client may run: under `block_in_place` on a
/// multi-threaded tokio runtime, on a scoped thread of its own on any other
/// runtime (where blocking in place is impossible), directly outside one.
fn off_runtime<T: Send>(f: impl FnOnce() -> Result<T, StoreError> + Send) -> Result<T, StoreError> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Err(_) => f(),
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        Ok(_) => std::thread::scope(|s| {
            s.spawn(f).join().unwrap_or_else(|_| {
                Err(StoreError::Other(
                    "a PostgreSQL call panicked on its thread".into(),
                ))
            })
        }),
    }
}

/// Runs the `migrations` the database has not run yet, in one transaction
/// under the migration lock.
fn migrate(client: &mut Client, migrations: &[&str]) -> Result<(), StoreError> {
    let mut tx = client.transaction().map_err(map_err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(map_err)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS kmsgov_schema (
             singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
             version INTEGER NOT NULL
         )",
    )
    .map_err(map_err)?;
    let rows = tx
        .query("SELECT version FROM kmsgov_schema", &[])
        .map_err(map_err)?;
    let current: i32 = match rows.as_slice() {
        [] => 0,
        [row] => row.try_get(0).map_err(corrupt)?,
        _ => {
            return Err(StoreError::Corrupt(format!(
                "kmsgov_schema holds {} rows, not one",
                rows.len()
            )))
        }
    };
    let current = usize::try_from(current)
        .map_err(|_| StoreError::Corrupt(format!("schema version {current}")))?;
    if current > migrations.len() {
        return Err(StoreError::Corrupt(format!(
            "the database has schema version {current}, newer than this release ({})",
            migrations.len()
        )));
    }
    for (i, sql) in migrations.iter().enumerate().skip(current) {
        tx.batch_execute(sql).map_err(map_err)?;
        let version =
            i32::try_from(i + 1).map_err(|_| StoreError::Other("too many migrations".into()))?;
        tx.execute(
            "INSERT INTO kmsgov_schema (singleton, version) VALUES (TRUE, $1)
             ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version",
            &[&version],
        )
        .map_err(map_err)?;
    }
    tx.commit().map_err(map_err)
}

/// Records a change of `key_id` (`None`: everything) at the next feed
/// position, and wakes the followers when the transaction commits. The
/// transaction holds [`FEED_LOCK`].
fn record_change(tx: &mut Transaction<'_>, key_id: Option<&str>) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO changes (position, key_id)
         SELECT COALESCE(max(position), 0) + 1, $1 FROM changes",
        &[&key_id],
    )
    .map_err(map_err)?;
    tx.batch_execute(&format!("NOTIFY {CHANNEL}"))
        .map_err(map_err)
}

fn position(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("feed position {value}")))
}

/// The `record` column (the first) of a row.
fn bytes(row: &Row) -> Result<Vec<u8>, StoreError> {
    row.try_get::<_, Vec<u8>>(0).map_err(corrupt)
}

/// A column that does not hold what the schema says.
fn corrupt(e: postgres::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn map_err(e: postgres::Error) -> StoreError {
    if e.is_closed() {
        return StoreError::Unavailable(format!("the PostgreSQL connection closed: {e}"));
    }
    let Some(code) = e.code() else {
        // No SQLSTATE: an I/O or protocol error (values of the wrong type
        // are read with `corrupt`).
        return StoreError::Unavailable(e.to_string());
    };
    if *code == SqlState::UNIQUE_VIOLATION
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
    {
        return StoreError::Conflict;
    }
    let class = code.code().get(..2).unwrap_or("");
    match class {
        // Connection exceptions, insufficient resources, operator
        // intervention (shutdown), system errors (I/O).
        "08" | "53" | "57" | "58" => StoreError::Unavailable(e.to_string()),
        // Read-only transaction (a standby), privileges.
        _ if *code == SqlState::READ_ONLY_SQL_TRANSACTION
            || *code == SqlState::INSUFFICIENT_PRIVILEGE =>
        {
            StoreError::Unavailable(e.to_string())
        }
        // Internal errors: data corrupted, index corrupted.
        "XX" => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Other(Box::new(e)),
    }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn revision(r: u64) -> Result<i64, StoreError> {
    i64::try_from(r).map_err(|_| StoreError::Conflict)
}

fn changed_one(n: u64) -> Result<(), StoreError> {
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

fn created(n: u64) -> Result<(), StoreError> {
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict)
    }
}

impl Store for PostgresStore {
    fn create_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let bytes = encode_key(key)?;
        let rev = revision(key.revision)?;
        created(self.execute(
            &key.key_id,
            "INSERT INTO keys (key_id, account, region, revision, record) VALUES ($1, $2, $3, $4, $5)",
            &[&key.key_id, &key.account, &key.region, &rev, &bytes],
        )?)
    }

    fn update_key(&self, key: &KeyRecord) -> Result<u64, StoreError> {
        let mut next = key.clone();
        next.revision = key.revision.checked_add(1).ok_or(StoreError::Conflict)?;
        let bytes = encode_key(&next)?;
        let (old, new) = (revision(key.revision)?, revision(next.revision)?);
        self.write(|tx| {
            // A concurrent writer of the same row waits for this one, then
            // re-checks `revision = $4` against what was committed.
            let n = tx
                .execute(
                    "UPDATE keys SET revision = $1, record = $2 WHERE key_id = $3 AND revision = $4",
                    &[&new, &bytes, &key.key_id, &old],
                )
                .map_err(map_err)?;
            if n == 1 {
                record_change(tx, Some(&key.key_id))?;
                return Ok(next.revision);
            }
            let exists = tx
                .query_opt("SELECT 1 FROM keys WHERE key_id = $1", &[&key.key_id])
                .map_err(map_err)?
                .is_some();
            Err(if exists {
                StoreError::Conflict
            } else {
                StoreError::NotFound
            })
        })
    }

    fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.record("SELECT record FROM keys WHERE key_id = $1", &[&key_id])?
            .map(|b| decode_key(&b))
            .transpose()
    }

    fn list_keys(
        &self,
        account: &str,
        region: &str,
        after: Option<&str>,
        n: usize,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        self.records(
            "SELECT record FROM keys WHERE account = $1 AND region = $2 AND key_id > $3
             ORDER BY key_id LIMIT $4",
            &[&account, &region, &after.unwrap_or(""), &limit(n)],
        )?
        .iter()
        .map(|b| decode_key(b))
        .collect()
    }

    fn delete_key(&self, key_id: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            // The key's row first: its lock orders this against other
            // writers of the key.
            let n = tx
                .execute("DELETE FROM keys WHERE key_id = $1", &[&key_id])
                .map_err(map_err)?;
            changed_one(n)?;
            tx.execute("DELETE FROM aliases WHERE key_id = $1", &[&key_id])
                .map_err(map_err)?;
            tx.execute("DELETE FROM grants WHERE key_id = $1", &[&key_id])
                .map_err(map_err)?;
            record_change(tx, Some(key_id))
        })
    }

    fn create_alias(&self, a: &AliasRecord) -> Result<(), StoreError> {
        let bytes = encode_alias(a)?;
        created(self.execute(
            &a.key_id,
            "INSERT INTO aliases (account, region, name, key_id, record) VALUES ($1, $2, $3, $4, $5)",
            &[&a.account, &a.region, &a.name, &a.key_id, &bytes],
        )?)
    }

    fn update_alias(&self, a: &AliasRecord) -> Result<(), StoreError> {
        let bytes = encode_alias(a)?;
        self.write(|tx| {
            // Both keys change: the one the alias left and the one it names.
            let old = tx
                .query_opt(
                    "SELECT key_id FROM aliases WHERE account = $1 AND region = $2 AND name = $3
                     FOR UPDATE",
                    &[&a.account, &a.region, &a.name],
                )
                .map_err(map_err)?
                .ok_or(StoreError::NotFound)?
                .try_get::<_, String>(0)
                .map_err(corrupt)?;
            tx.execute(
                "UPDATE aliases SET key_id = $1, record = $2 WHERE account = $3 AND region = $4 AND name = $5",
                &[&a.key_id, &bytes, &a.account, &a.region, &a.name],
            )
            .map_err(map_err)?;
            record_change(tx, Some(&old))?;
            record_change(tx, Some(&a.key_id))
        })
    }

    fn delete_alias(&self, account: &str, region: &str, name: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            let old = tx
                .query_opt(
                    "DELETE FROM aliases WHERE account = $1 AND region = $2 AND name = $3
                     RETURNING key_id",
                    &[&account, &region, &name],
                )
                .map_err(map_err)?
                .ok_or(StoreError::NotFound)?
                .try_get::<_, String>(0)
                .map_err(corrupt)?;
            record_change(tx, Some(&old))
        })
    }

    fn alias(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<Option<AliasRecord>, StoreError> {
        self.record(
            "SELECT record FROM aliases WHERE account = $1 AND region = $2 AND name = $3",
            &[&account, &region, &name],
        )?
        .map(|b| decode_alias(&b))
        .transpose()
    }

    fn list_aliases(
        &self,
        account: &str,
        region: &str,
        key_id: Option<&str>,
        after: Option<&str>,
        n: usize,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        self.records(
            "SELECT record FROM aliases WHERE account = $1 AND region = $2
             AND ($3::TEXT IS NULL OR key_id = $3) AND name > $4 ORDER BY name LIMIT $5",
            &[&account, &region, &key_id, &after.unwrap_or(""), &limit(n)],
        )?
        .iter()
        .map(|b| decode_alias(b))
        .collect()
    }

    fn create_grant(&self, g: &GrantRecord) -> Result<(), StoreError> {
        let bytes = encode_grant(g)?;
        created(self.execute(
            &g.key_id,
            "INSERT INTO grants (grant_id, key_id, record) VALUES ($1, $2, $3)",
            &[&g.grant_id, &g.key_id, &bytes],
        )?)
    }

    fn grant(&self, grant_id: &str) -> Result<Option<GrantRecord>, StoreError> {
        self.record(
            "SELECT record FROM grants WHERE grant_id = $1",
            &[&grant_id],
        )?
        .map(|b| decode_grant(&b))
        .transpose()
    }

    fn list_grants(
        &self,
        key_id: &str,
        after: Option<&str>,
        n: usize,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        self.records(
            "SELECT record FROM grants WHERE key_id = $1 AND grant_id > $2 ORDER BY grant_id LIMIT $3",
            &[&key_id, &after.unwrap_or(""), &limit(n)],
        )?
        .iter()
        .map(|b| decode_grant(b))
        .collect()
    }

    fn delete_grant(&self, grant_id: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            let key_id = tx
                .query_opt(
                    "DELETE FROM grants WHERE grant_id = $1 RETURNING key_id",
                    &[&grant_id],
                )
                .map_err(map_err)?
                .ok_or(StoreError::NotFound)?
                .try_get::<_, String>(0)
                .map_err(corrupt)?;
            record_change(tx, Some(&key_id))
        })
    }

    fn load_all(&self) -> Result<Snapshot, StoreError> {
        self.with(|client| {
            // One snapshot for the three tables.
            let mut tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(map_err)?;
            let mut snapshot = Snapshot::default();
            for row in tx
                .query("SELECT record FROM keys ORDER BY key_id", &[])
                .map_err(map_err)?
            {
                snapshot.keys.push(decode_key(&bytes(&row)?)?);
            }
            for row in tx
                .query(
                    "SELECT record FROM aliases ORDER BY account, region, name",
                    &[],
                )
                .map_err(map_err)?
            {
                snapshot.aliases.push(decode_alias(&bytes(&row)?)?);
            }
            for row in tx
                .query("SELECT record FROM grants ORDER BY grant_id", &[])
                .map_err(map_err)?
            {
                snapshot.grants.push(decode_grant(&bytes(&row)?)?);
            }
            let at: i64 = tx
                .query_one("SELECT COALESCE(max(position), 0) FROM changes", &[])
                .map_err(map_err)?
                .try_get(0)
                .map_err(corrupt)?;
            snapshot.position = position(at)?;
            tx.commit().map_err(map_err)?;
            Ok(snapshot)
        })
    }

    fn clear(&self) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.batch_execute("DELETE FROM grants; DELETE FROM aliases; DELETE FROM keys;")
                .map_err(map_err)?;
            record_change(tx, None)
        })
    }

    fn feed(&self) -> Option<&dyn ChangeFeed> {
        Some(self)
    }
}

impl ChangeFeed for PostgresStore {
    fn changes_since(&self, after: u64, n: usize) -> Result<Vec<Change>, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.with(|client| {
            client
                .query(
                    "SELECT position, key_id FROM changes WHERE position > $1
                     ORDER BY position LIMIT $2",
                    &[&after, &limit(n)],
                )
                .map_err(map_err)?
                .iter()
                .map(|row| {
                    Ok(Change {
                        position: position(row.try_get(0).map_err(corrupt)?)?,
                        key_id: row.try_get(1).map_err(corrupt)?,
                    })
                })
                .collect()
        })
    }

    fn wait_for_change(&self, timeout: Duration) -> Result<(), StoreError> {
        off_runtime(|| {
            let mut slot = self
                .listener
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let outcome = {
                let client = self.listening(&mut slot)?;
                let mut notifications = client.notifications();
                let first = notifications.timeout_iter(timeout).next();
                if first.is_ok() {
                    // Take every other queued signal too: one catch-up covers them.
                    while let Ok(Some(_)) = notifications.iter().next() {}
                }
                first.map(|_| ())
            };
            outcome.map_err(|e| {
                *slot = None;
                map_err(e)
            })
        })
    }

    fn acknowledge(&self, node: &str, at: u64) -> Result<(), StoreError> {
        let at = i64::try_from(at).unwrap_or(i64::MAX);
        self.with(|client| {
            client
                .execute(
                    "INSERT INTO followers (node, applied, seen) VALUES ($1, $2, now())
                     ON CONFLICT (node) DO UPDATE SET applied = EXCLUDED.applied, seen = now()",
                    &[&node, &at],
                )
                .map_err(map_err)?;
            self.prune(client)
        })
    }

    fn lagging(&self, node: &str, at: u64, lease: Duration) -> Result<Vec<String>, StoreError> {
        let at = i64::try_from(at).unwrap_or(i64::MAX);
        let lease = lease.as_secs_f64();
        self.with(|client| {
            client
                .query(
                    "SELECT node FROM followers
                      WHERE node <> $1 AND applied < $2
                        AND seen > now() - make_interval(secs => $3)
                      ORDER BY node",
                    &[&node, &at, &lease],
                )
                .map_err(map_err)?
                .iter()
                .map(|row| row.try_get(0).map_err(corrupt))
                .collect()
        })
    }

    fn position(&self) -> Result<u64, StoreError> {
        self.with(|client| {
            let at: i64 = client
                .query_one("SELECT COALESCE(max(position), 0) FROM changes", &[])
                .map_err(map_err)?
                .try_get(0)
                .map_err(corrupt)?;
            position(at)
        })
    }
}

mod audit;
pub use audit::PostgresAuditSink;
mod governance;
pub use governance::PostgresGovernanceSink;

pub mod testing;
