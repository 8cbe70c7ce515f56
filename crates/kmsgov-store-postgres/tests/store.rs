//! The PostgreSQL store passes the core conformance suite, keeps its
//! compare-and-swap and alias uniqueness across stores (processes) on one
//! database, migrates once when nodes start together, and refuses newer
//! schemas and corrupt records.
//!
//! Needs a server: `export KMSGOV_TEST_POSTGRES=$(scripts/postgres-test-server.sh)`
//! (or `KMSGOV_SKIP_POSTGRES_TESTS=1` to skip).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation should stop the test"
)]

use kmsgov_core::store::{conformance, AliasRecord, Store, StoreError};
use kmsgov_store_postgres::testing::TestDatabase;
use kmsgov_store_postgres::{schema_version, PostgresStore};
use postgres::NoTls;

/// A fresh database, or `None` when the tests are skipped.
fn database(test: &str) -> Option<TestDatabase> {
    TestDatabase::create(test).unwrap_or_else(|e| panic!("{e}"))
}

fn open(db: &TestDatabase) -> PostgresStore {
    PostgresStore::open_config(db.config().clone()).unwrap()
}

#[test]
fn passes_the_conformance_suite() {
    let Some(db) = database("passes_the_conformance_suite") else {
        return;
    };
    let store = open(&db);
    conformance::run(&store).unwrap();
}

#[test]
fn passes_the_conformance_suite_through_a_url() {
    let Some(db) = database("passes_the_conformance_suite_through_a_url") else {
        return;
    };
    let store = PostgresStore::open(&db.url()).unwrap();
    conformance::run(&store).unwrap();
}

#[test]
fn data_survives_reopening() {
    let Some(db) = database("data_survives_reopening") else {
        return;
    };
    {
        let store = open(&db);
        store
            .create_key(&conformance::sample_key("k-keep", "111122223333"))
            .unwrap();
    }
    let store = open(&db);
    let key = store.key("k-keep").unwrap().expect("the key survives");
    assert_eq!(key, conformance::sample_key("k-keep", "111122223333"));
}

#[test]
fn nodes_starting_together_migrate_once() {
    let Some(db) = database("nodes_starting_together_migrate_once") else {
        return;
    };
    let results: Vec<Result<PostgresStore, StoreError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| s.spawn(|| PostgresStore::open_config(db.config().clone())))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    let mut client = db.config().connect(NoTls).unwrap();
    let rows = client
        .query("SELECT version FROM kmsgov_schema", &[])
        .unwrap();
    assert_eq!(rows.len(), 1);
    let version: i32 = rows[0].get(0);
    assert_eq!(usize::try_from(version).unwrap(), schema_version());
}

#[test]
fn a_newer_schema_is_refused() {
    let Some(db) = database("a_newer_schema_is_refused") else {
        return;
    };
    drop(open(&db));
    assert!(
        PostgresStore::open_config(db.config().clone()).is_ok(),
        "reopening the same version works"
    );
    let mut client = db.config().connect(NoTls).unwrap();
    client
        .execute("UPDATE kmsgov_schema SET version = 99", &[])
        .unwrap();
    let err = PostgresStore::open_config(db.config().clone()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(m) if m.contains("schema version 99")),
        "{err}"
    );
}

#[test]
fn a_corrupt_record_is_reported_not_returned() {
    let Some(db) = database("a_corrupt_record_is_reported_not_returned") else {
        return;
    };
    let store = open(&db);
    store
        .create_key(&conformance::sample_key("k-bad", "111122223333"))
        .unwrap();
    let mut client = db.config().connect(NoTls).unwrap();
    client
        .execute(
            "UPDATE keys SET record = '\\x01007b'::bytea WHERE key_id = 'k-bad'",
            &[],
        )
        .unwrap();
    assert!(matches!(store.key("k-bad"), Err(StoreError::Corrupt(_))));
    assert!(matches!(store.load_all(), Err(StoreError::Corrupt(_))));
}

/// Two stores stand for two server processes: each has its own connections.
#[test]
fn compare_and_swap_holds_across_stores() {
    let Some(db) = database("compare_and_swap_holds_across_stores") else {
        return;
    };
    let stores = [open(&db), open(&db)];
    stores[0]
        .create_key(&conformance::sample_key("k-shared", "111122223333"))
        .unwrap();
    for round in 0..10u64 {
        let results: Vec<Result<u64, StoreError>> = std::thread::scope(|s| {
            let handles: Vec<_> = stores
                .iter()
                .enumerate()
                .map(|(i, store)| {
                    s.spawn(move || {
                        let mut k = conformance::sample_key("k-shared", "111122223333");
                        k.revision = round;
                        k.description = format!("writer {i} in round {round}");
                        store.update_key(&k)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let wins: Vec<u64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .copied()
            .collect();
        let conflicts = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Conflict)))
            .count();
        assert_eq!(
            (wins.as_slice(), conflicts),
            ([round + 1].as_slice(), 1),
            "{results:?}"
        );
        // Both stores read what the winner wrote.
        for store in &stores {
            assert_eq!(store.key("k-shared").unwrap().unwrap().revision, round + 1);
        }
    }
}

#[test]
fn create_alias_is_unique_across_stores() {
    let Some(db) = database("create_alias_is_unique_across_stores") else {
        return;
    };
    let stores = [open(&db), open(&db)];
    for round in 0..20 {
        let name = format!("alias/shared-{round}");
        let results: Vec<Result<(), StoreError>> = std::thread::scope(|s| {
            let handles: Vec<_> = stores
                .iter()
                .enumerate()
                .map(|(i, store)| {
                    let name = name.clone();
                    s.spawn(move || {
                        store.create_alias(&AliasRecord {
                            account: "111122223333".into(),
                            region: "us-east-1".into(),
                            name,
                            key_id: format!("k-{i}"),
                            creation_date: 1,
                            last_updated: 1,
                        })
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let wins = results.iter().filter(|r| r.is_ok()).count();
        let conflicts = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Conflict)))
            .count();
        assert_eq!((wins, conflicts), (1, 1), "{name}: {results:?}");
    }
}

#[test]
fn an_unreachable_server_is_unavailable() {
    // Port 1 on loopback: nothing listens there.
    let err =
        PostgresStore::open("postgres://kmsgov@127.0.0.1:1/kmsgov?connect_timeout=5").unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
}

#[test]
fn a_bad_connection_string_is_refused() {
    let err = PostgresStore::open("postgres://kmsgov@127.0.0.1:notaport/kmsgov").unwrap_err();
    assert!(err.to_string().contains("connection string"), "{err}");
}

#[test]
fn the_password_is_not_in_debug_output() {
    let Some(db) = database("the_password_is_not_in_debug_output") else {
        return;
    };
    let mut config = db.config().clone();
    config.password("s3cret-do-not-show");
    // The server trusts loopback, so the password is not checked.
    let store = PostgresStore::open_config(config).unwrap();
    let shown = format!("{store:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("PostgresStore"), "{shown}");
}

/// The server calls some store methods straight from its async worker
/// threads; the blocking client must not start its runtime inside theirs.
#[test]
fn calls_from_async_tasks_do_not_panic() {
    let Some(db) = database("calls_from_async_tasks_do_not_panic") else {
        return;
    };
    let store = std::sync::Arc::new(open(&db));
    store
        .create_key(&conformance::sample_key("k-async", "111122223333"))
        .unwrap();

    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let s = std::sync::Arc::clone(&store);
    let listed = multi
        .block_on(multi.spawn(async move { s.list_keys("111122223333", "us-east-1", None, 10) }))
        .unwrap()
        .unwrap();
    assert_eq!(listed.len(), 1);
    // Opening, and dropping a store with idle connections, on a worker.
    let config = db.config().clone();
    multi
        .block_on(multi.spawn(async move {
            let other = PostgresStore::open_config(config)?;
            other.key("k-async")?;
            drop(other);
            Ok::<(), StoreError>(())
        }))
        .unwrap()
        .unwrap();

    let single = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = single.block_on(async { store.key("k-async") }).unwrap();
    assert!(key.is_some());
    let s = std::sync::Arc::clone(&store);
    let updated = single
        .block_on(async move {
            tokio::task::spawn_blocking(move || {
                let mut k = conformance::sample_key("k-async", "111122223333");
                k.description = "from the blocking pool".into();
                s.update_key(&k)
            })
            .await
        })
        .unwrap()
        .unwrap();
    assert_eq!(updated, 1);
}
