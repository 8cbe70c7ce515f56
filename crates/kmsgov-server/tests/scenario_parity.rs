//! The server decides as `kmsgov eval` does: every test of every scenario
//! file, sent as a SigV4-signed HTTP request to a server whose store holds
//! the scenario's keys, aliases and grants, is authorized as
//! `kmsgov_authz::decide` authorizes it on the same world, caller and
//! request context, with the same message for a denial.
//!
//! What the server answers after authorizing depends on more than the
//! decision (scenario ciphertexts are placeholders that do not decrypt), so
//! each request also runs through an in-process service on the same state:
//! the server must answer exactly as the service does (outcome and
//! message), and the service's decision must be the engine's.
//!
//! The server knows a caller only by the access key it signs with, so every
//! caller of the scenario's tests gets one in the world (a caller the world
//! does not list gets an entry with no policies). The request context is
//! the server's: the peer's address as `aws:SourceIp`, `aws:SecureTransport`
//! false, and the time from the server's clock; the engine is asked with the
//! same context.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/wire.rs"]
mod wire;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kmsgov_authz::{
    decide, AccessKey, Call, Environment, Outcome, Principal, Scenario, Trace, World,
};
use kmsgov_core::crypto::KeySpec;
use kmsgov_core::root_key::RootKey;
use kmsgov_core::store::{seed_world, MemoryStore};
use kmsgov_core::{Config, Kms, ManualClock, Request};
use kmsgov_policy::Caller;
use kmsgov_server::{Authentication, Server};

/// The server's clock, also the time the engine assumes.
const NOW: i64 = 1_767_225_600;

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

/// Gives every caller of the scenario's tests an access key: the world the
/// server and the engine both use, and the credentials by caller ARN.
fn with_access_keys(scenario: &Scenario) -> (World, BTreeMap<String, (String, String)>) {
    let mut world = scenario.world.clone();
    let mut credentials = BTreeMap::new();
    for test in &scenario.tests {
        let arn = test.principal.arn().to_owned();
        if credentials.contains_key(&arn) {
            continue;
        }
        let id = format!("AKIAPARITY{:010}", credentials.len());
        let secret = format!("parity/secret/{}", credentials.len());
        let principal = world
            .principals
            .entry(arn.clone())
            .or_insert_with(|| Principal {
                arn: arn.clone(),
                ..Principal::default()
            });
        principal.access_keys.push(AccessKey {
            id: id.clone(),
            secret: secret.clone(),
            session_token: None,
        });
        credentials.insert(arn, (id, secret));
    }
    world.reindex();
    (world, credentials)
}

/// A service holding the world's keys, aliases and grants.
fn service(world: &World) -> Kms {
    let root = RootKey::from_bytes(&[7u8; 32]).unwrap();
    let store = MemoryStore::new();
    seed_world(&store, world, &root, NOW).unwrap();
    Kms::open(Config {
        region: world.region.clone(),
        store: Arc::new(store),
        root_key: root,
        clock: Arc::new(ManualClock::at(NOW)),
        directory: world.clone(),
    })
    .unwrap()
}

/// A server in front of a fresh service, and a second fresh service on the
/// same state to compare it with.
async fn serve(world: &World) -> (SocketAddr, Kms) {
    let kms = service(world);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        Server::new(Arc::new(kms), Authentication::SigV4).serve(listener, std::future::pending()),
    );
    (address, service(world))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_decides_every_scenario_test_as_the_engine_does() {
    let root_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files = Vec::new();
    scenario_files(&root_dir, &mut files);
    files.sort();
    assert!(
        files.len() > 50,
        "scenario files not found under {root_dir:?}"
    );

    let mut env = Environment::new();
    env.insert("aws:SourceIp", "127.0.0.1");
    env.insert("aws:SecureTransport", "false");
    let (mut compared, mut skipped_files, mut mismatches) = (0usize, Vec::new(), Vec::new());
    let mut outcomes = BTreeMap::<String, usize>::new();
    for file in &files {
        let scenario = Scenario::parse(&std::fs::read_to_string(file).unwrap()).unwrap();
        if scenario
            .world
            .keys
            .iter()
            .any(|k| k.spec.parse::<KeySpec>().is_err())
        {
            skipped_files.push(file.display().to_string());
            continue;
        }
        let (world, credentials) = with_access_keys(&scenario);
        let (mut address, mut local) = serve(&world).await;
        for test in &scenario.tests {
            let caller = Caller::parse(test.principal.arn()).unwrap();
            let engine = decide(
                &world,
                &Call {
                    caller: &caller,
                    operation: test.operation,
                    input: &test.input,
                    env: &env,
                    ciphertext_key: None,
                },
                Trace::Off,
            );
            let response = local.execute(
                &Request {
                    caller: &caller,
                    operation: test.operation,
                    input: &test.input,
                    env: &env,
                },
                Trace::Off,
            );
            let (id, secret) = &credentials[test.principal.arn()];
            let body = test.input.to_string();
            let reply = wire::signed_call(
                address,
                test.operation.name(),
                body.as_bytes(),
                (id, secret),
                NOW,
            )
            .await;
            let served = if reply.status == 200 {
                ("Allow".to_owned(), String::new())
            } else {
                let message = reply.json()["message"].as_str().unwrap_or("").to_owned();
                (reply.error(), message)
            };
            let local_result = match &response.result {
                Ok(_) => ("Allow".to_owned(), String::new()),
                Err(e) => (e.name().to_owned(), e.message.clone()),
            };
            let engine_outcome = match engine.outcome {
                Outcome::Allow => "Allow".to_owned(),
                Outcome::Deny => "AccessDeniedException".to_owned(),
                Outcome::Error(code) => code.name().to_owned(),
            };
            // The service's decision, or, for a request it answered before
            // deciding (a ciphertext that names no key it has), its error.
            let decided = match &response.decision {
                Some(d) => match d.outcome {
                    Outcome::Allow => "Allow".to_owned(),
                    Outcome::Deny => "AccessDeniedException".to_owned(),
                    Outcome::Error(code) => code.name().to_owned(),
                },
                None => local_result.0.clone(),
            };
            let denial_differs = engine.outcome == Outcome::Deny
                && response.decision.as_ref().map(|d| &d.message) != Some(&engine.message);
            if served != local_result || decided != engine_outcome || denial_differs {
                mismatches.push(format!(
                    "{} {}: engine {engine_outcome} ({}), service {decided} then {local_result:?}, server {served:?}",
                    file.display(),
                    test.pointer,
                    engine.message
                ));
            }
            *outcomes.entry(served.0).or_default() += 1;
            compared += 1;
            // A change made by a successful request (even a read may create
            // an AWS managed key) must not leak into the next test: start
            // again from the scenario's state.
            if reply.status == 200 {
                (address, local) = serve(&world).await;
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
    // The comparison saw allows, denials and other errors.
    assert!(
        outcomes.get("Allow").copied().unwrap_or(0) > 50,
        "{outcomes:?}"
    );
    assert!(
        outcomes.get("AccessDeniedException").copied().unwrap_or(0) > 50,
        "{outcomes:?}"
    );
    assert!(outcomes.len() > 3, "{outcomes:?}");
}
