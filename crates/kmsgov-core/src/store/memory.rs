//! [`MemoryStore`]: a [`Store`] in memory, for tests and throwaway
//! development servers. Nothing survives the process.
//!
//! [`MemoryStore::shared`] gives one with a change feed, so that several
//! services in one process can share it as servers share a database.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::{AliasRecord, Change, ChangeFeed, GrantRecord, KeyRecord, Snapshot, Store, StoreError};

/// A store in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    /// Woken by each recorded change (with a feed).
    changed: Condvar,
    shared: bool,
}

#[derive(Debug, Default)]
struct Inner {
    keys: BTreeMap<String, KeyRecord>,
    /// By (account, region, name).
    aliases: BTreeMap<(String, String, String), AliasRecord>,
    grants: BTreeMap<String, GrantRecord>,
    /// The change feed (with [`MemoryStore::shared`]): entry `i` is at
    /// position `i + 1`.
    changes: Vec<Option<String>>,
    /// Acknowledged positions and when, by node.
    acks: BTreeMap<String, (u64, Instant)>,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// An empty store with a change feed.
    #[must_use]
    pub fn shared() -> MemoryStore {
        MemoryStore {
            shared: true,
            ..MemoryStore::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a change of `key_id` (`None`: everything) when there is a feed.
    fn record(&self, inner: &mut Inner, key_id: Option<&str>) {
        if self.shared {
            inner.changes.push(key_id.map(str::to_owned));
            self.changed.notify_all();
        }
    }
}

impl ChangeFeed for MemoryStore {
    fn changes_since(&self, position: u64, limit: usize) -> Result<Vec<Change>, StoreError> {
        let inner = self.lock();
        let from = usize::try_from(position).unwrap_or(usize::MAX);
        Ok(inner
            .changes
            .iter()
            .enumerate()
            .skip(from)
            .take(limit)
            .map(|(i, key_id)| Change {
                position: i as u64 + 1,
                key_id: key_id.clone(),
            })
            .collect())
    }

    fn wait_for_change(&self, timeout: Duration) -> Result<(), StoreError> {
        let inner = self.lock();
        let seen = inner.changes.len();
        let _ = self
            .changed
            .wait_timeout_while(inner, timeout, |i| i.changes.len() == seen)
            .unwrap_or_else(PoisonError::into_inner);
        Ok(())
    }

    fn acknowledge(&self, node: &str, position: u64) -> Result<(), StoreError> {
        self.lock()
            .acks
            .insert(node.to_owned(), (position, Instant::now()));
        Ok(())
    }

    fn lagging(
        &self,
        node: &str,
        position: u64,
        lease: Duration,
    ) -> Result<Vec<String>, StoreError> {
        Ok(self
            .lock()
            .acks
            .iter()
            .filter(|(n, (applied, at))| {
                n.as_str() != node && *applied < position && at.elapsed() <= lease
            })
            .map(|(n, _)| n.clone())
            .collect())
    }

    fn position(&self) -> Result<u64, StoreError> {
        Ok(self.lock().changes.len() as u64)
    }
}

fn alias_key(account: &str, region: &str, name: &str) -> (String, String, String) {
    (account.to_owned(), region.to_owned(), name.to_owned())
}

impl Store for MemoryStore {
    fn create_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.keys.contains_key(&key.key_id) {
            return Err(StoreError::Conflict);
        }
        inner.keys.insert(key.key_id.clone(), key.clone());
        self.record(&mut inner, Some(&key.key_id));
        Ok(())
    }

    fn update_key(&self, key: &KeyRecord) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let stored = inner
            .keys
            .get_mut(&key.key_id)
            .ok_or(StoreError::NotFound)?;
        if stored.revision != key.revision {
            return Err(StoreError::Conflict);
        }
        let revision = key.revision.checked_add(1).ok_or(StoreError::Conflict)?;
        *stored = KeyRecord {
            revision,
            ..key.clone()
        };
        self.record(&mut inner, Some(&key.key_id));
        Ok(revision)
    }

    fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.lock().keys.get(key_id).cloned())
    }

    fn list_keys(
        &self,
        account: &str,
        region: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        Ok(self
            .lock()
            .keys
            .values()
            .filter(|k| k.account == account && k.region == region)
            .filter(|k| after.is_none_or(|a| k.key_id.as_str() > a))
            .take(limit)
            .cloned()
            .collect())
    }

    fn delete_key(&self, key_id: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.keys.remove(key_id).ok_or(StoreError::NotFound)?;
        inner.aliases.retain(|_, a| a.key_id != key_id);
        inner.grants.retain(|_, g| g.key_id != key_id);
        self.record(&mut inner, Some(key_id));
        Ok(())
    }

    fn create_alias(&self, alias: &AliasRecord) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let k = alias_key(&alias.account, &alias.region, &alias.name);
        if inner.aliases.contains_key(&k) {
            return Err(StoreError::Conflict);
        }
        inner.aliases.insert(k, alias.clone());
        self.record(&mut inner, Some(&alias.key_id));
        Ok(())
    }

    fn update_alias(&self, alias: &AliasRecord) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let k = alias_key(&alias.account, &alias.region, &alias.name);
        let slot = inner.aliases.get_mut(&k).ok_or(StoreError::NotFound)?;
        let old = std::mem::replace(slot, alias.clone());
        self.record(&mut inner, Some(&old.key_id));
        self.record(&mut inner, Some(&alias.key_id));
        Ok(())
    }

    fn delete_alias(&self, account: &str, region: &str, name: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let old = inner
            .aliases
            .remove(&alias_key(account, region, name))
            .ok_or(StoreError::NotFound)?;
        self.record(&mut inner, Some(&old.key_id));
        Ok(())
    }

    fn alias(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<Option<AliasRecord>, StoreError> {
        Ok(self
            .lock()
            .aliases
            .get(&alias_key(account, region, name))
            .cloned())
    }

    fn list_aliases(
        &self,
        account: &str,
        region: &str,
        key_id: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        Ok(self
            .lock()
            .aliases
            .values()
            .filter(|a| a.account == account && a.region == region)
            .filter(|a| key_id.is_none_or(|k| a.key_id == k))
            .filter(|a| after.is_none_or(|x| a.name.as_str() > x))
            .take(limit)
            .cloned()
            .collect())
    }

    fn create_grant(&self, grant: &GrantRecord) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.grants.contains_key(&grant.grant_id) {
            return Err(StoreError::Conflict);
        }
        inner.grants.insert(grant.grant_id.clone(), grant.clone());
        self.record(&mut inner, Some(&grant.key_id));
        Ok(())
    }

    fn grant(&self, grant_id: &str) -> Result<Option<GrantRecord>, StoreError> {
        Ok(self.lock().grants.get(grant_id).cloned())
    }

    fn list_grants(
        &self,
        key_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        Ok(self
            .lock()
            .grants
            .values()
            .filter(|g| g.key_id == key_id)
            .filter(|g| after.is_none_or(|a| g.grant_id.as_str() > a))
            .take(limit)
            .cloned()
            .collect())
    }

    fn delete_grant(&self, grant_id: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let old = inner.grants.remove(grant_id).ok_or(StoreError::NotFound)?;
        self.record(&mut inner, Some(&old.key_id));
        Ok(())
    }

    fn load_all(&self) -> Result<Snapshot, StoreError> {
        let inner = self.lock();
        Ok(Snapshot {
            keys: inner.keys.values().cloned().collect(),
            aliases: inner.aliases.values().cloned().collect(),
            grants: inner.grants.values().cloned().collect(),
            position: inner.changes.len() as u64,
        })
    }

    fn clear(&self) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.keys.clear();
        inner.aliases.clear();
        inner.grants.clear();
        self.record(&mut inner, None);
        Ok(())
    }

    fn feed(&self) -> Option<&dyn ChangeFeed> {
        self.shared.then_some(self as &dyn ChangeFeed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_passes_conformance() {
        let store = MemoryStore::new();
        if let Err(f) = crate::store::conformance::run(&store) {
            panic!("{f}");
        }
    }

    #[test]
    fn shared_memory_store_passes_conformance_with_its_feed() {
        let store = MemoryStore::shared();
        assert!(store.feed().is_some());
        if let Err(f) = crate::store::conformance::run(&store) {
            panic!("{f}");
        }
    }
}
