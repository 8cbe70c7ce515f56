//! Durable state behind a `Store` trait: keys (with their wrapped key material),
//! aliases and grants.
//!
//! The core knows nothing of SQL: backends live in their own crates
//! (`kmsgov-store-sqlite`, later PostgreSQL) and all run the same
//! [`conformance`] suite. Key material reaches a store only wrapped under the
//! root key ([`crate::root_key`]), so no backend ever holds it in clear.
//!
//! Records are encoded as one version byte followed by JSON; decoding migrates
//! older versions forward, so a later release opens an older data directory.

pub mod conformance;
mod feed;
mod memory;
mod record;
mod seed;

use std::fmt;

pub use feed::{Change, ChangeFeed};
pub use memory::MemoryStore;
pub use seed::seed_world;

pub use record::{
    decode_alias, decode_grant, decode_key, encode_alias, encode_grant, encode_key, AliasRecord,
    GrantRecord, ImportRecord, KeyRecord, KeyVersionRecord, RotationRecord, RECORD_VERSION,
};

/// Why a store operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The record does not exist.
    NotFound,
    /// The record exists already, or changed since it was read.
    Conflict,
    /// The store cannot be reached or written (full disk, read-only, locked).
    Unavailable(String),
    /// Stored bytes do not decode: the data is corrupt.
    Corrupt(String),
    /// Anything else from the backend.
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound => f.write_str("not found"),
            StoreError::Conflict => f.write_str("conflicting change"),
            StoreError::Unavailable(m) => write!(f, "store unavailable: {m}"),
            StoreError::Corrupt(m) => write!(f, "stored data is corrupt: {m}"),
            StoreError::Other(e) => write!(f, "store error: {e}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Other(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

/// Durable storage of keys, aliases and grants.
///
/// Every method that returns `Ok` has made its change durable. Implementations
/// are safe to call from many threads at once.
pub trait Store: Send + Sync + fmt::Debug {
    /// Stores a new key; `Conflict` if its id exists.
    fn create_key(&self, key: &KeyRecord) -> Result<(), StoreError>;

    /// Replaces a key whose stored `revision` equals `key.revision`, storing it
    /// with `revision + 1` (returned). `Conflict` if the stored revision differs,
    /// `NotFound` if the key does not exist.
    fn update_key(&self, key: &KeyRecord) -> Result<u64, StoreError>;

    /// The key with this id.
    fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError>;

    /// Keys of an account and Region, ordered by key id, starting after `after`.
    fn list_keys(
        &self,
        account: &str,
        region: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<KeyRecord>, StoreError>;

    /// Deletes a key, its aliases and its grants (when its deletion date has come).
    fn delete_key(&self, key_id: &str) -> Result<(), StoreError>;

    /// Stores a new alias; `Conflict` if the name exists in the account and Region.
    fn create_alias(&self, alias: &AliasRecord) -> Result<(), StoreError>;

    /// Points an existing alias at another key; `NotFound` if it does not exist.
    fn update_alias(&self, alias: &AliasRecord) -> Result<(), StoreError>;

    /// Deletes an alias; `NotFound` if it does not exist.
    fn delete_alias(&self, account: &str, region: &str, name: &str) -> Result<(), StoreError>;

    /// The alias with this name.
    fn alias(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<Option<AliasRecord>, StoreError>;

    /// Aliases of an account and Region (optionally only those of one key),
    /// ordered by name, starting after `after`.
    fn list_aliases(
        &self,
        account: &str,
        region: &str,
        key_id: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AliasRecord>, StoreError>;

    /// Stores a new grant; `Conflict` if its id exists.
    fn create_grant(&self, grant: &GrantRecord) -> Result<(), StoreError>;

    /// The grant with this id.
    fn grant(&self, grant_id: &str) -> Result<Option<GrantRecord>, StoreError>;

    /// Grants of a key, ordered by grant id, starting after `after`.
    fn list_grants(
        &self,
        key_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GrantRecord>, StoreError>;

    /// Deletes a grant (retire or revoke); `NotFound` if it does not exist.
    fn delete_grant(&self, grant_id: &str) -> Result<(), StoreError>;

    /// Every key, alias and grant, read in one consistent snapshot (what a
    /// service loads on start).
    fn load_all(&self) -> Result<Snapshot, StoreError>;

    /// Deletes every key, alias and grant.
    fn clear(&self) -> Result<(), StoreError>;

    /// The change feed, for a store that several processes share: every
    /// change is recorded there in the transaction that makes it, so each
    /// process can bring its memory up to date ([`ChangeFeed`]). `None` (the
    /// default) for a store that only one process opens.
    fn feed(&self) -> Option<&dyn ChangeFeed> {
        None
    }
}

/// Everything a store holds, from [`Store::load_all`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every key, ordered by key id.
    pub keys: Vec<KeyRecord>,
    /// Every alias, ordered by account, Region and name.
    pub aliases: Vec<AliasRecord>,
    /// Every grant, ordered by grant id.
    pub grants: Vec<GrantRecord>,
    /// The position of the change feed the snapshot includes (0 without a
    /// feed): changes after it are newer than the snapshot.
    pub position: u64,
}
