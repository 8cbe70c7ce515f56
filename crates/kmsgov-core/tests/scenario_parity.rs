//! The service decides as the engine does: every test of every scenario
//! file, run through `Kms::execute` on a store that holds the scenario's
//! keys, aliases and grants, gets the same outcome and message as
//! `kmsgov_authz::decide` on the scenario's world (what `kmsgov eval` and
//! `kmsgov test` answer).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kmsgov_authz::{decide, Call, Outcome, Scenario, Trace};
use kmsgov_core::crypto::KeySpec;
use kmsgov_core::root_key::RootKey;
use kmsgov_core::store::{seed_world, MemoryStore, Store};
use kmsgov_core::{Config, Kms, ManualClock, Request};

/// `aws:CurrentTime` the engine assumes when a test sets none.
const ENGINE_TIME: i64 = 1_767_225_600;

fn scenario_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            scenario_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// The scenario's keys, aliases and grants in a store, or `None` when a key
/// has a spec kmsgov cannot hold material for.
fn records(scenario: &Scenario, root: &RootKey) -> Option<MemoryStore> {
    let world = &scenario.world;
    if world
        .keys
        .iter()
        .any(|k| k.spec.parse::<KeySpec>().is_err())
    {
        return None;
    }
    let store = MemoryStore::new();
    seed_world(&store, world, root, ENGINE_TIME).unwrap();
    Some(store)
}

fn copy_store(from: &MemoryStore) -> Arc<dyn Store> {
    let to = MemoryStore::new();
    let snapshot = from.load_all().unwrap();
    for k in &snapshot.keys {
        to.create_key(k).unwrap();
    }
    for a in &snapshot.aliases {
        to.create_alias(a).unwrap();
    }
    for g in &snapshot.grants {
        to.create_grant(g).unwrap();
    }
    Arc::new(to)
}

#[test]
fn the_service_decides_every_scenario_test_as_the_engine_does() {
    let root_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files = Vec::new();
    scenario_files(&root_dir, &mut files);
    files.sort();
    assert!(
        files.len() > 50,
        "scenario files not found under {root_dir:?}"
    );
    let root = RootKey::from_bytes(&[5u8; 32]).unwrap();
    let (mut compared, mut skipped_files) = (0usize, Vec::new());
    let mut mismatches = Vec::new();
    for file in &files {
        let scenario = Scenario::parse(&std::fs::read_to_string(file).unwrap()).unwrap();
        let Some(template) = records(&scenario, &root) else {
            skipped_files.push(file.display().to_string());
            continue;
        };
        let open = || {
            Kms::open(Config {
                region: scenario.world.region.clone(),
                store: copy_store(&template),
                root_key: RootKey::from_bytes(&[5u8; 32]).unwrap(),
                clock: Arc::new(ManualClock::at(ENGINE_TIME)),
                directory: scenario.world.clone(),
            })
            .unwrap()
        };
        let mut kms = open();
        for test in &scenario.tests {
            let engine = decide(
                &scenario.world,
                &Call {
                    caller: &test.principal,
                    operation: test.operation,
                    input: &test.input,
                    env: &test.env,
                    ciphertext_key: None,
                },
                Trace::Off,
            );
            let response = kms.execute(
                &Request {
                    caller: &test.principal,
                    operation: test.operation,
                    input: &test.input,
                    env: &test.env,
                },
                Trace::Off,
            );
            let (outcome, message) = match (&response.decision, &response.result) {
                (Some(d), _) => (d.outcome.name().to_owned(), d.message.clone()),
                (None, Err(e)) => (e.name().to_owned(), e.message.clone()),
                (None, Ok(_)) => unreachable!("a result without a decision"),
            };
            // The service answers requests the engine cannot see the key of
            // from the blob itself; those end before a decision.
            let comparable = response.decision.is_some();
            if (comparable && (outcome != engine.outcome.name() || message != engine.message))
                || (!comparable && outcome != engine.outcome.name())
            {
                mismatches.push(format!(
                    "{} {}: engine {} ({}), service {outcome} ({message})",
                    file.display(),
                    test.pointer,
                    engine.outcome.name(),
                    engine.message
                ));
            }
            compared += 1;
            // A change made by an allowed mutating request must not leak
            // into the next test: start again from the scenario's state.
            if response.result.is_ok() && engine.outcome == Outcome::Allow {
                kms = open();
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {compared} tests differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(compared > 400, "only {compared} tests compared");
    assert!(
        skipped_files.len() * 10 < files.len(),
        "too many scenario files skipped: {skipped_files:?}"
    );
}
