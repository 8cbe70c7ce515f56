//! One behavioural suite that every [`Store`] backend must pass.
//!
//! Backends call [`run`] from their own tests with a fresh, empty store.
//! Failures come back as a message naming the check, so the suite needs no
//! test framework and never panics.

use std::collections::BTreeMap;

use super::{AliasRecord, GrantRecord, KeyRecord, KeyVersionRecord, Store, StoreError};

/// A failed conformance check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(Failure(format!($($msg)+)));
        }
    };
}

fn ok<T>(r: Result<T, StoreError>, what: &str) -> Result<T, Failure> {
    r.map_err(|e| Failure(format!("{what}: unexpected error: {e}")))
}

/// A key record for tests.
pub fn sample_key(key_id: &str, account: &str) -> KeyRecord {
    KeyRecord {
        key_id: key_id.to_owned(),
        account: account.to_owned(),
        region: "us-east-1".to_owned(),
        revision: 0,
        creation_date: 1_767_225_600,
        description: String::new(),
        key_spec: "SYMMETRIC_DEFAULT".to_owned(),
        key_usage: "ENCRYPT_DECRYPT".to_owned(),
        origin: "AWS_KMS".to_owned(),
        key_state: "Enabled".to_owned(),
        deletion_date: None,
        pending_window_days: None,
        multi_region: false,
        aws_managed: false,
        policy: r#"{"Version":"2012-10-17","Statement":[]}"#.to_owned(),
        tags: BTreeMap::new(),
        rotation: None,
        versions: vec![KeyVersionRecord {
            version: 1,
            created: 1_767_225_600,
            on_demand: false,
            wrapped_material: vec![7; 60],
        }],
        ..KeyRecord::default()
    }
}

fn sample_alias(name: &str, key_id: &str) -> AliasRecord {
    AliasRecord {
        account: "111122223333".to_owned(),
        region: "us-east-1".to_owned(),
        name: name.to_owned(),
        key_id: key_id.to_owned(),
        creation_date: 1,
        last_updated: 1,
    }
}

fn sample_grant(grant_id: &str, key_id: &str) -> GrantRecord {
    GrantRecord {
        grant_id: grant_id.to_owned(),
        key_id: key_id.to_owned(),
        name: None,
        creation_date: 1,
        grantee: "arn:aws:iam::111122223333:role/App".to_owned(),
        retiring_principal: None,
        issuing_account: "111122223333".to_owned(),
        operations: vec!["Decrypt".to_owned()],
        encryption_context_equals: None,
        encryption_context_subset: Some(BTreeMap::from([("dept".to_owned(), "IT".to_owned())])),
        source_arn: None,
    }
}

/// Runs every check against an empty store.
pub fn run(store: &dyn Store) -> Result<(), Failure> {
    keys(store)?;
    compare_and_swap(store)?;
    aliases(store)?;
    grants(store)?;
    delete_key_cascades(store)?;
    concurrent_create_alias(store)?;
    concurrent_updates(store)?;
    snapshot_and_clear(store)?;
    change_feed(store)?;
    Ok(())
}

/// A store with a change feed records each change, in order, with the key
/// it touched; failed changes record nothing.
fn change_feed(store: &dyn Store) -> Result<(), Failure> {
    let Some(feed) = store.feed() else {
        return Ok(());
    };
    let start = ok(feed.position(), "feed position")?;
    let step = |expected: &[Option<&str>], what: &str, from: u64| -> Result<u64, Failure> {
        let changes = ok(feed.changes_since(from, 100), "changes_since")?;
        let got: Vec<(u64, Option<&str>)> = changes
            .iter()
            .map(|c| (c.position, c.key_id.as_deref()))
            .collect();
        let want: Vec<(u64, Option<&str>)> = expected
            .iter()
            .enumerate()
            .map(|(i, k)| (from + 1 + i as u64, *k))
            .collect();
        check!(
            got == want,
            "{what}: the feed holds {got:?}, expected {want:?}"
        );
        Ok(from + expected.len() as u64)
    };
    let mut at = start;
    let key = sample_key("k-feed", "111122223333");
    ok(store.create_key(&key), "create_key")?;
    at = step(&[Some("k-feed")], "create_key", at)?;
    check!(
        matches!(store.create_key(&key), Err(StoreError::Conflict)),
        "create_key of an existing id must conflict"
    );
    at = step(&[], "a refused create_key", at)?;
    let revision = ok(store.update_key(&key), "update_key")?;
    at = step(&[Some("k-feed")], "update_key", at)?;
    check!(
        matches!(store.update_key(&key), Err(StoreError::Conflict)),
        "update_key of an old revision must conflict"
    );
    at = step(&[], "a refused update_key", at)?;
    ok(
        store.create_key(&sample_key("k-feed-2", "111122223333")),
        "create_key",
    )?;
    at = step(&[Some("k-feed-2")], "create_key", at)?;
    ok(
        store.create_alias(&sample_alias("alias/feed", "k-feed")),
        "create_alias",
    )?;
    at = step(&[Some("k-feed")], "create_alias", at)?;
    ok(
        store.update_alias(&sample_alias("alias/feed", "k-feed-2")),
        "update_alias",
    )?;
    at = step(&[Some("k-feed"), Some("k-feed-2")], "update_alias", at)?;
    ok(
        store.delete_alias("111122223333", "us-east-1", "alias/feed"),
        "delete_alias",
    )?;
    at = step(&[Some("k-feed-2")], "delete_alias", at)?;
    check!(
        matches!(
            store.delete_alias("111122223333", "us-east-1", "alias/feed"),
            Err(StoreError::NotFound)
        ),
        "delete_alias of a missing alias must say NotFound"
    );
    ok(
        store.create_grant(&sample_grant("g-feed", "k-feed")),
        "create_grant",
    )?;
    at = step(&[Some("k-feed")], "create_grant", at)?;
    ok(store.delete_grant("g-feed"), "delete_grant")?;
    at = step(&[Some("k-feed")], "delete_grant", at)?;
    check!(
        matches!(store.delete_grant("g-feed"), Err(StoreError::NotFound)),
        "delete_grant of a missing grant must say NotFound"
    );
    ok(store.delete_key("k-feed-2"), "delete_key")?;
    at = step(&[Some("k-feed-2")], "delete_key", at)?;
    let snapshot = ok(store.load_all(), "load_all")?;
    check!(
        snapshot.position == at,
        "load_all says position {}, the feed is at {at}",
        snapshot.position
    );
    check!(
        snapshot
            .keys
            .iter()
            .any(|k| k.key_id == "k-feed" && k.revision == revision),
        "the snapshot lacks the updated key"
    );
    ok(store.clear(), "clear")?;
    at = step(&[None], "clear", at)?;
    check!(
        ok(feed.position(), "feed position")? == at,
        "position() disagrees with the feed"
    );
    // A limit and a later start.
    let first = ok(feed.changes_since(start, 2), "changes_since")?;
    check!(
        first.len() == 2 && first.first().map(|c| c.position) == Some(start + 1),
        "changes_since with a limit of 2 gave {first:?}"
    );
    // Acknowledgements.
    ok(feed.acknowledge("node-a", at - 1), "acknowledge")?;
    ok(feed.acknowledge("node-b", at), "acknowledge")?;
    let lease = std::time::Duration::from_secs(60);
    let lagging = ok(feed.lagging("node-c", at, lease), "lagging")?;
    check!(
        lagging == ["node-a".to_owned()],
        "lagging behind {at}: {lagging:?}, expected node-a only"
    );
    let lagging = ok(feed.lagging("node-a", at, lease), "lagging")?;
    check!(lagging.is_empty(), "a node never lags itself: {lagging:?}");
    ok(feed.acknowledge("node-a", at), "acknowledge")?;
    let lagging = ok(feed.lagging("node-c", at, lease), "lagging")?;
    check!(lagging.is_empty(), "after catching up: {lagging:?}");
    ok(
        feed.wait_for_change(std::time::Duration::from_millis(10)),
        "wait_for_change",
    )?;
    Ok(())
}

fn snapshot_and_clear(store: &dyn Store) -> Result<(), Failure> {
    let mut key = sample_key("k-snap", "444455556666");
    key.material_valid_to = Some(5);
    key.replica_regions = vec!["eu-west-1".into()];
    ok(store.create_key(&key), "create_key")?;
    ok(
        store.create_alias(&AliasRecord {
            account: "444455556666".into(),
            ..sample_alias("alias/snap", "k-snap")
        }),
        "create_alias",
    )?;
    ok(
        store.create_grant(&sample_grant("g-snap", "k-snap")),
        "create_grant",
    )?;
    let snap = ok(store.load_all(), "load_all")?;
    check!(
        snap.keys.contains(&key),
        "load_all must return every key as stored"
    );
    check!(
        snap.keys
            .windows(2)
            .all(|w| matches!(w, [a, b] if a.key_id < b.key_id)),
        "load_all must order keys by id"
    );
    check!(
        snap.aliases
            .iter()
            .any(|a| a.name == "alias/snap" && a.account == "444455556666"),
        "load_all must return every alias"
    );
    check!(
        snap.grants.iter().any(|g| g.grant_id == "g-snap"),
        "load_all must return every grant"
    );
    ok(store.clear(), "clear")?;
    let empty = ok(store.load_all(), "load_all after clear")?;
    check!(
        empty.keys.is_empty() && empty.aliases.is_empty() && empty.grants.is_empty(),
        "clear must delete everything: {empty:?}"
    );
    ok(store.create_key(&key), "create_key after clear")?;
    check!(
        ok(store.key("k-snap"), "key")?.as_ref() == Some(&key),
        "a store must work after clear"
    );
    Ok(())
}

fn keys(store: &dyn Store) -> Result<(), Failure> {
    check!(
        ok(store.key("k-1"), "key")?.is_none(),
        "a missing key must be None"
    );
    let key = sample_key("k-1", "111122223333");
    ok(store.create_key(&key), "create_key")?;
    check!(
        matches!(store.create_key(&key), Err(StoreError::Conflict)),
        "creating a key twice must be Conflict"
    );
    let read = ok(store.key("k-1"), "key")?;
    check!(
        read.as_ref() == Some(&key),
        "a key must read back exactly as written: {read:?}"
    );
    for id in ["k-3", "k-2"] {
        ok(
            store.create_key(&sample_key(id, "111122223333")),
            "create_key",
        )?;
    }
    ok(
        store.create_key(&sample_key("k-0", "444455556666")),
        "create_key",
    )?;
    let listed: Vec<String> = ok(
        store.list_keys("111122223333", "us-east-1", None, 10),
        "list_keys",
    )?
    .into_iter()
    .map(|k| k.key_id)
    .collect();
    check!(
        listed == ["k-1", "k-2", "k-3"],
        "list_keys must give the account's keys by id: {listed:?}"
    );
    let page: Vec<String> = ok(
        store.list_keys("111122223333", "us-east-1", Some("k-1"), 1),
        "list_keys",
    )?
    .into_iter()
    .map(|k| k.key_id)
    .collect();
    check!(
        page == ["k-2"],
        "list_keys must page after the marker: {page:?}"
    );
    check!(
        ok(
            store.list_keys("111122223333", "eu-west-1", None, 10),
            "list_keys"
        )?
        .is_empty(),
        "keys are per Region"
    );
    Ok(())
}

fn compare_and_swap(store: &dyn Store) -> Result<(), Failure> {
    let mut key = ok(store.key("k-1"), "key")?.ok_or_else(|| Failure("k-1 vanished".into()))?;
    let before = key.revision;
    key.description = "changed".to_owned();
    let rev = ok(store.update_key(&key), "update_key")?;
    check!(
        rev == before + 1,
        "update_key must return the next revision ({rev} after {before})"
    );
    let read = ok(store.key("k-1"), "key")?.ok_or_else(|| Failure("k-1 vanished".into()))?;
    check!(
        read.revision == rev && read.description == "changed",
        "update_key must store the change and revision"
    );
    // A writer holding the old revision loses.
    key.description = "stale".to_owned();
    check!(
        matches!(store.update_key(&key), Err(StoreError::Conflict)),
        "a stale revision must be Conflict"
    );
    let mut ghost = sample_key("nope", "111122223333");
    ghost.revision = 0;
    check!(
        matches!(store.update_key(&ghost), Err(StoreError::NotFound)),
        "updating a missing key must be NotFound"
    );
    Ok(())
}

fn aliases(store: &dyn Store) -> Result<(), Failure> {
    let a = sample_alias("alias/app", "k-1");
    ok(store.create_alias(&a), "create_alias")?;
    check!(
        matches!(store.create_alias(&a), Err(StoreError::Conflict)),
        "an alias name is unique per account and Region"
    );
    let mut other_region = a.clone();
    other_region.region = "eu-west-1".to_owned();
    ok(
        store.create_alias(&other_region),
        "create_alias in another Region",
    )?;
    ok(
        store.create_alias(&sample_alias("alias/batch", "k-2")),
        "create_alias",
    )?;
    let got = ok(
        store.alias("111122223333", "us-east-1", "alias/app"),
        "alias",
    )?;
    check!(
        got.as_ref() == Some(&a),
        "an alias must read back exactly: {got:?}"
    );
    let mut moved = a.clone();
    moved.key_id = "k-2".to_owned();
    moved.last_updated = 2;
    ok(store.update_alias(&moved), "update_alias")?;
    let got = ok(
        store.alias("111122223333", "us-east-1", "alias/app"),
        "alias",
    )?;
    check!(
        got.map(|g| g.key_id) == Some("k-2".to_owned()),
        "update_alias must retarget the alias"
    );
    check!(
        matches!(
            store.update_alias(&sample_alias("alias/none", "k-1")),
            Err(StoreError::NotFound)
        ),
        "updating a missing alias must be NotFound"
    );
    let names: Vec<String> = ok(
        store.list_aliases("111122223333", "us-east-1", None, None, 10),
        "list_aliases",
    )?
    .into_iter()
    .map(|a| a.name)
    .collect();
    check!(
        names == ["alias/app", "alias/batch"],
        "list_aliases must give names in order: {names:?}"
    );
    let of_k2 = ok(
        store.list_aliases("111122223333", "us-east-1", Some("k-2"), None, 10),
        "list_aliases",
    )?;
    check!(
        of_k2.len() == 2,
        "list_aliases filtered by key must find both aliases of k-2"
    );
    ok(
        store.delete_alias("111122223333", "us-east-1", "alias/batch"),
        "delete_alias",
    )?;
    check!(
        matches!(
            store.delete_alias("111122223333", "us-east-1", "alias/batch"),
            Err(StoreError::NotFound)
        ),
        "deleting a missing alias must be NotFound"
    );
    Ok(())
}

fn grants(store: &dyn Store) -> Result<(), Failure> {
    let g = sample_grant("g-1", "k-1");
    ok(store.create_grant(&g), "create_grant")?;
    check!(
        matches!(store.create_grant(&g), Err(StoreError::Conflict)),
        "a grant id is unique"
    );
    ok(
        store.create_grant(&sample_grant("g-0", "k-1")),
        "create_grant",
    )?;
    ok(
        store.create_grant(&sample_grant("g-9", "k-2")),
        "create_grant",
    )?;
    check!(
        ok(store.grant("g-1"), "grant")?.as_ref() == Some(&g),
        "a grant must read back exactly"
    );
    let ids: Vec<String> = ok(store.list_grants("k-1", None, 10), "list_grants")?
        .into_iter()
        .map(|g| g.grant_id)
        .collect();
    check!(
        ids == ["g-0", "g-1"],
        "list_grants must give the key's grants in order: {ids:?}"
    );
    let page: Vec<String> = ok(store.list_grants("k-1", Some("g-0"), 10), "list_grants")?
        .into_iter()
        .map(|g| g.grant_id)
        .collect();
    check!(
        page == ["g-1"],
        "list_grants must page after the marker: {page:?}"
    );
    ok(store.delete_grant("g-0"), "delete_grant")?;
    check!(
        matches!(store.delete_grant("g-0"), Err(StoreError::NotFound)),
        "deleting a missing grant must be NotFound"
    );
    Ok(())
}

fn delete_key_cascades(store: &dyn Store) -> Result<(), Failure> {
    ok(
        store.create_key(&sample_key("k-gone", "111122223333")),
        "create_key",
    )?;
    ok(
        store.create_alias(&sample_alias("alias/gone", "k-gone")),
        "create_alias",
    )?;
    ok(
        store.create_grant(&sample_grant("g-gone", "k-gone")),
        "create_grant",
    )?;
    ok(store.delete_key("k-gone"), "delete_key")?;
    check!(
        ok(store.key("k-gone"), "key")?.is_none(),
        "a deleted key must be gone"
    );
    check!(
        ok(
            store.alias("111122223333", "us-east-1", "alias/gone"),
            "alias"
        )?
        .is_none(),
        "its aliases must go with it"
    );
    check!(
        ok(store.grant("g-gone"), "grant")?.is_none(),
        "its grants must go with it"
    );
    check!(
        matches!(store.delete_key("k-gone"), Err(StoreError::NotFound)),
        "deleting a missing key must be NotFound"
    );
    Ok(())
}

fn concurrent_create_alias(store: &dyn Store) -> Result<(), Failure> {
    for round in 0..20 {
        let name = format!("alias/race-{round}");
        let results: Vec<Result<(), StoreError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|i| {
                    let name = name.clone();
                    s.spawn(move || {
                        store.create_alias(&sample_alias(&name, if i == 0 { "k-1" } else { "k-2" }))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or(Err(StoreError::Unavailable("thread panicked".into())))
                })
                .collect()
        });
        let wins = results.iter().filter(|r| r.is_ok()).count();
        let conflicts = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Conflict)))
            .count();
        check!(
            wins == 1 && conflicts == 1,
            "two concurrent create_alias of {name}: {wins} succeeded, {conflicts} conflicted"
        );
    }
    Ok(())
}

fn concurrent_updates(store: &dyn Store) -> Result<(), Failure> {
    ok(
        store.create_key(&sample_key("k-race", "111122223333")),
        "create_key",
    )?;
    let (wins, conflicts) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                s.spawn(move || {
                    let mut k = sample_key("k-race", "111122223333");
                    k.description = format!("writer {i}");
                    store.update_key(&k)
                })
            })
            .collect();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or(Err(StoreError::Unavailable("thread panicked".into())))
            })
            .collect();
        (
            results.iter().filter(|r| r.is_ok()).count(),
            results
                .iter()
                .filter(|r| matches!(r, Err(StoreError::Conflict)))
                .count(),
        )
    });
    check!(
        wins == 1 && conflicts == 3,
        "four writers from revision 0: {wins} won, {conflicts} conflicted"
    );
    Ok(())
}
