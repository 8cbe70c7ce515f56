//! Following a shared store: several services (server processes) on one
//! database behave as one.
//!
//! Each service decides requests from memory, so it must learn of the
//! changes the others make. The store's [`ChangeFeed`] names the key each
//! change touched, in commit order; a service applies the feed by reloading
//! those keys (record, aliases, grants) from the store. It does so
//!
//! - when the store signals a change (PostgreSQL's `LISTEN`/`NOTIFY`), from
//!   a thread of its own ([`Kms::follow`]), and at least every
//!   [`POLL_PERIOD`] without a signal;
//! - under the writer lock before every change it makes, so that a change
//!   is decided on the latest state, and again, with the request decided
//!   anew, when the store refuses a change as conflicting;
//! - before any request, when the last successful catch-up is older than
//!   [`STALE_AFTER`]: a service that cannot reach the store for that long
//!   answers `DependencyTimeoutException` rather than decide on old state.
//!
//! Each catch-up ends by acknowledging the applied position in the store,
//! with the store's clock. A change that takes access away (a grant
//! retired or revoked, a key disabled or scheduled for deletion, a key
//! policy replaced, imported material deleted) is answered only when every
//! other service that acknowledged within [`LEASE`] has applied it; a
//! service that did not acknowledge within the lease has, by its own
//! [`STALE_AFTER`] check, stopped serving. So once such a call returns, no
//! service allows what it took away.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kmsgov_authz::Operation;

use super::{add_grant, authz_key, Kms, LiveKey};
use crate::error::KmsError;
use crate::store::{AliasRecord, ChangeFeed, GrantRecord, StoreError};

/// How often a follower catches up when no change is signalled.
pub const POLL_PERIOD: Duration = Duration::from_millis(250);

/// A service whose last successful catch-up is older than this refuses
/// requests until it catches up again.
pub const STALE_AFTER: Duration = Duration::from_secs(1);

/// How recently another service must have acknowledged to be waited for
/// (twice [`STALE_AFTER`], so that one that did not is surely fenced).
pub const LEASE: Duration = Duration::from_secs(2);

/// At most this many feed entries are read at once.
const BATCH: usize = 1000;

/// A catch-up acknowledges at least this often.
const ACK_PERIOD: Duration = Duration::from_millis(100);

/// What a service following a shared store keeps.
#[derive(Debug)]
pub(crate) struct Follower {
    /// This service's name in the feed's acknowledgements.
    node: String,
    /// The last feed position applied to memory.
    applied: AtomicU64,
    /// When the last acknowledged catch-up began, in milliseconds after
    /// `base` (+1, so that 0 means never).
    synced: AtomicU64,
    /// When the last acknowledgement was written (same scale).
    acked: AtomicU64,
    /// The position it acknowledged.
    acked_position: AtomicU64,
    base: Instant,
}

impl Follower {
    pub(crate) fn new(node: String) -> Follower {
        Follower {
            node,
            applied: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            acked_position: AtomicU64::new(0),
            base: Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    pub(crate) fn set_applied(&self, position: u64) {
        self.applied.store(position, Ordering::SeqCst);
    }

    fn stale(&self) -> bool {
        let synced = self.synced.load(Ordering::SeqCst);
        synced == 0 || self.now().saturating_sub(synced) > millis(STALE_AFTER)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Operations that take access away: answered only once every live
/// service enforces them.
fn revokes(op: Operation) -> bool {
    matches!(
        op,
        Operation::RevokeGrant
            | Operation::RetireGrant
            | Operation::DisableKey
            | Operation::ScheduleKeyDeletion
            | Operation::PutKeyPolicy
            | Operation::DeleteImportedKeyMaterial
    )
}

/// Sleeps a random time of up to `attempt` milliseconds.
pub(super) fn back_off(attempt: u32) {
    let mut byte = [0u8; 1];
    // Without randomness, a fixed pause still lets the other writer finish.
    let fraction = match aws_lc_rs::rand::fill(&mut byte) {
        Ok(()) => f64::from(byte[0]) / 255.0,
        Err(_) => 0.5,
    };
    std::thread::sleep(Duration::from_secs_f64(
        fraction * f64::from(attempt) / 1000.0,
    ));
}

/// A key as reloaded from the store: `None` when it is gone.
type Fresh = (
    String,
    Option<(LiveKey, kmsgov_authz::Key, Vec<GrantRecord>)>,
);

impl Kms {
    /// Starts the thread that keeps this service current with a shared
    /// store: it waits for the store's change signal (or [`POLL_PERIOD`])
    /// and catches up. `None` when the store is not shared. The thread ends
    /// when the service is dropped.
    pub fn follow(kms: &Arc<Kms>) -> Option<JoinHandle<()>> {
        kms.follower.as_ref()?;
        let weak: Weak<Kms> = Arc::downgrade(kms);
        let store = Arc::clone(&kms.store);
        std::thread::Builder::new()
            .name("kmsgov-follow".into())
            .spawn(move || loop {
                let Some(feed) = store.feed() else { return };
                let waited = feed.wait_for_change(POLL_PERIOD);
                let Some(kms) = weak.upgrade() else { return };
                if let Err(e) = waited {
                    tracing::warn!(error = %e, "waiting for changes of the shared store failed");
                    drop(kms);
                    std::thread::sleep(POLL_PERIOD);
                    continue;
                }
                let _w = kms.lock_writer();
                if let Err(e) = kms.catch_up() {
                    tracing::warn!(
                        error = e.name(),
                        detail = e.detail.as_deref().unwrap_or(""),
                        "catching up with the shared store failed"
                    );
                }
            })
            .ok()
    }

    /// Catches up with the shared store now (no-op without one).
    ///
    /// # Errors
    ///
    /// The store cannot be read, or holds a key the root key cannot unwrap.
    pub fn sync(&self) -> Result<(), KmsError> {
        let _w = self.lock_writer();
        self.catch_up()
    }

    /// Before a request: a service whose last catch-up is too old catches
    /// up first, and fails the request when it cannot.
    pub(super) fn ensure_current(&self) -> Result<(), KmsError> {
        match &self.follower {
            Some(f) if f.stale() => {
                let _w = self.lock_writer();
                if f.stale() {
                    self.catch_up()?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Applies the feed after the applied position. The caller holds the
    /// writer lock, so no change of this service interleaves.
    pub(super) fn catch_up(&self) -> Result<(), KmsError> {
        let (Some(feed), Some(f)) = (self.store.feed(), &self.follower) else {
            return Ok(());
        };
        let started = f.now();
        loop {
            let from = f.applied.load(Ordering::SeqCst);
            let changes = feed.changes_since(from, BATCH)?;
            let Some(first) = changes.first() else { break };
            if first.position != from + 1 || changes.iter().any(|c| c.key_id.is_none()) {
                // Entries were pruned, or the store was cleared: start over.
                let directory = self.read_state().world.clone();
                self.load(directory)?;
                continue;
            }
            let ids: BTreeSet<&str> = changes.iter().filter_map(|c| c.key_id.as_deref()).collect();
            self.refresh(&ids)?;
            let last = changes.last().map_or(from, |c| c.position);
            f.set_applied(last);
            if changes.len() < BATCH {
                break;
            }
        }
        // Acknowledge a new position at once, the same one at least every
        // ACK_PERIOD: the others judge this service by its acknowledgements
        // (LEASE), while it judges itself by its catch-ups (STALE_AFTER),
        // and LEASE exceeds STALE_AFTER by more than ACK_PERIOD.
        let applied = f.applied.load(Ordering::SeqCst);
        let acked = f.acked.load(Ordering::SeqCst);
        if acked == 0
            || applied != f.acked_position.load(Ordering::SeqCst)
            || started.saturating_sub(acked) >= millis(ACK_PERIOD)
        {
            feed.acknowledge(&f.node, applied)?;
            f.acked.store(started, Ordering::SeqCst);
            f.acked_position.store(applied, Ordering::SeqCst);
        }
        if let Some(governance) = &self.governance {
            // Bindings other services made (a key's default data-use
            // policy) are read within the same bound as the keys.
            governance
                .records()
                .refresh()
                .map_err(|e| KmsError::internal(format!("governance records: {e}")))?;
        }
        f.synced.store(started, Ordering::SeqCst);
        Ok(())
    }

    /// Reloads keys from the store into memory.
    fn refresh(&self, ids: &BTreeSet<&str>) -> Result<(), KmsError> {
        let mut fresh: Vec<Fresh> = Vec::with_capacity(ids.len());
        for &id in ids {
            let Some(record) = self.store.key(id)? else {
                fresh.push((id.to_owned(), None));
                continue;
            };
            let aliases = self.all_aliases(&record.account, &record.region, id)?;
            let grants = self.all_grants(id)?;
            let old = self.live_key_by_id(id);
            let live = self.build_live(record, old.as_deref())?;
            let mut names: Vec<String> = aliases.into_iter().map(|a| a.name).collect();
            names.sort();
            let key = authz_key(&live.record, &live.arn, names)?;
            fresh.push((id.to_owned(), Some((live, key, grants))));
        }
        let mut state = self.write_state();
        for (id, new) in fresh {
            if let Some(old) = state.keys.remove(&id) {
                state.world.remove_key(&old.arn);
            }
            if let Some((live, key, grants)) = new {
                let live = Arc::new(live);
                self.note_due(&live.record);
                state.world.upsert_key(key);
                state.keys.insert(id, live);
                for grant in &grants {
                    add_grant(&mut state, grant);
                }
            }
        }
        Ok(())
    }

    fn all_aliases(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        let mut all = Vec::new();
        loop {
            let after = all.last().map(|a: &AliasRecord| a.name.clone());
            let page =
                self.store
                    .list_aliases(account, region, Some(key_id), after.as_deref(), BATCH)?;
            let done = page.len() < BATCH;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    fn all_grants(&self, key_id: &str) -> Result<Vec<GrantRecord>, StoreError> {
        let mut all = Vec::new();
        loop {
            let after = all.last().map(|g: &GrantRecord| g.grant_id.clone());
            let page = self.store.list_grants(key_id, after.as_deref(), BATCH)?;
            let done = page.len() < BATCH;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    /// Whether `response` refuses a request (the key is unknown, access
    /// denied, the key disabled or in the wrong state) while the shared
    /// store has changes newer than `applied`, the position the request
    /// was decided on; if so, they are applied (when another thread has not
    /// already). A reading request (the caller holds no writer lock).
    pub(super) fn refused_on_old_state(&self, response: &super::Response, applied: u64) -> bool {
        use crate::error::ErrorKind as K;
        let (Some(feed), Some(f)) = (self.store.feed(), &self.follower) else {
            return false;
        };
        let refused = matches!(
            &response.result,
            Err(e) if matches!(
                e.kind,
                K::NotFoundException
                    | K::AccessDeniedException
                    | K::DisabledException
                    | K::KMSInvalidStateException
            )
        );
        if !refused {
            return false;
        }
        match feed.position() {
            Ok(latest) if latest > applied => {
                let _w = self.lock_writer();
                f.applied.load(Ordering::SeqCst) >= latest || self.catch_up().is_ok()
            }
            _ => false,
        }
    }

    /// After a change that takes access away: waits until every other live
    /// service has applied it (at most [`LEASE`], after which any service
    /// that has not has fenced itself).
    pub(super) fn await_followers(&self, op: Operation) -> Result<(), KmsError> {
        let (Some(feed), Some(f)) = (self.store.feed(), &self.follower) else {
            return Ok(());
        };
        if !revokes(op) {
            return Ok(());
        }
        let position = feed.position()?;
        let deadline = Instant::now() + LEASE;
        let mut pause = Duration::from_millis(1);
        loop {
            let lagging = feed.lagging(&f.node, position, LEASE)?;
            if lagging.is_empty() || Instant::now() >= deadline {
                return Ok(());
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// The feed of the shared store, when there is one (for tests and tools).
    #[must_use]
    pub fn change_feed(&self) -> Option<&dyn ChangeFeed> {
        self.follower.as_ref().and(self.store.feed())
    }

    /// The feed position this service has applied (0 without a shared store).
    #[must_use]
    pub fn applied_position(&self) -> u64 {
        self.follower
            .as_ref()
            .map_or(0, |f| f.applied.load(Ordering::SeqCst))
    }
}
