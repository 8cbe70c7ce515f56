//! Sends arbitrary request bodies to every KMS operation of an in-process
//! service (authorization on, a memory store, an administrator and an
//! unprivileged caller): whatever the bytes, the service answers with a
//! result or an AWS error, never a panic, and never an internal error.

#![no_main]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use kmsgov_authz::{Environment, Operation, Scenario, Trace};
use kmsgov_core::root_key::RootKey;
use kmsgov_core::store::MemoryStore;
use kmsgov_core::{Config, ErrorKind, Kms, ManualClock, Request};
use kmsgov_policy::Caller;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const WORLD: &str = r#"{
  "accounts": {"111122223333": {}},
  "principals": [
    {"arn": "arn:aws:iam::111122223333:user/admin", "policies": [
      {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}]},
    {"arn": "arn:aws:iam::111122223333:user/alice"}
  ]
}"#;

struct Fixture {
    kms: Kms,
    admin: Caller,
    alice: Caller,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let kms = Kms::open(Config {
            region: "us-east-1".into(),
            store: Arc::new(MemoryStore::new()),
            root_key: RootKey::from_bytes(&[1; 32]).expect("32 bytes"),
            clock: Arc::new(ManualClock::at(1_767_225_600)),
            directory: Scenario::parse(WORLD).expect("the fixture world").world,
        })
        .expect("a service on a memory store");
        Fixture {
            kms,
            admin: Caller::parse("arn:aws:iam::111122223333:user/admin").expect("an ARN"),
            alice: Caller::parse("arn:aws:iam::111122223333:user/alice").expect("an ARN"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let f = fixture();
    // Keep the state small: start again now and then.
    static CALLS: AtomicU32 = AtomicU32::new(0);
    if CALLS.fetch_add(1, Ordering::Relaxed) % 2000 == 1999 {
        f.kms.reset().expect("a memory store resets");
    }
    let operation = Operation::ALL[usize::from(selector) % Operation::ALL.len()];
    let caller = if selector & 0x80 == 0 {
        &f.admin
    } else {
        &f.alice
    };
    let Ok(input) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let env = Environment::new();
    let response = f.kms.execute(
        &Request {
            caller,
            operation,
            input: &input,
            env: &env,
        },
        Trace::Off,
    );
    if let Err(e) = &response.result {
        assert_ne!(
            e.kind,
            ErrorKind::KMSInternalException,
            "{operation:?} {input}: {e:?}"
        );
    }
});
