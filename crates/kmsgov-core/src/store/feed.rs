//! The change feed of a shared store.
//!
//! A service keeps keys, aliases and grants in memory and decides requests
//! from there. When several processes share one store, each must learn of
//! the others' changes: the store records, in the same transaction as each
//! change, which key it touched, at the next position of a gap-free
//! sequence; a process reads the feed from the last position it applied,
//! reloads the keys named, and acknowledges the new position.

use std::time::Duration;

use super::StoreError;

/// One entry of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Its position: positions increase by one in the order the changes
    /// were committed.
    pub position: u64,
    /// The key whose record, aliases or grants changed; `None` when
    /// everything changed (the store was cleared).
    pub key_id: Option<String>,
}

/// The change feed of a store several processes share.
pub trait ChangeFeed: Send + Sync + std::fmt::Debug {
    /// Changes after `position`, oldest first, at most `limit`. Old entries
    /// may have been pruned: a caller whose first change is not at
    /// `position + 1` has missed some and must reload everything.
    ///
    /// # Errors
    ///
    /// The feed cannot be read.
    fn changes_since(&self, position: u64, limit: usize) -> Result<Vec<Change>, StoreError>;

    /// Blocks until a change may have been recorded since the last call, or
    /// until `timeout` has passed (a store that cannot be woken just sleeps).
    ///
    /// # Errors
    ///
    /// The store cannot be reached; the caller waits and tries again.
    fn wait_for_change(&self, timeout: Duration) -> Result<(), StoreError>;

    /// Records that the process `node` has applied every change up to
    /// `position`, now: its heartbeat.
    ///
    /// # Errors
    ///
    /// The store cannot be written.
    fn acknowledge(&self, node: &str, position: u64) -> Result<(), StoreError>;

    /// The processes other than `node` that acknowledged within `lease` but
    /// have not yet applied `position`.
    ///
    /// # Errors
    ///
    /// The store cannot be read.
    fn lagging(
        &self,
        node: &str,
        position: u64,
        lease: Duration,
    ) -> Result<Vec<String>, StoreError>;

    /// The latest position (0 when nothing was recorded).
    ///
    /// # Errors
    ///
    /// The store cannot be read.
    fn position(&self) -> Result<u64, StoreError>;
}
