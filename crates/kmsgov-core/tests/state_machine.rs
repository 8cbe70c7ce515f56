//! The key state machine, model-based: random sequences of EnableKey,
//! DisableKey, ScheduleKeyDeletion, CancelKeyDeletion, Encrypt, DescribeKey
//! and clock moves run against the service and against a small model of the
//! AWS rules (spec §2.10). After every step the outcome (success or error
//! name) and every key's state must agree, and a key whose deletion date has
//! passed must be gone.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/harness.rs"]
mod harness;

use harness::{b64, Harness, START};
use kmsgov_core::ErrorKind;
use proptest::prelude::*;
use serde_json::{json, Value};

const DAY: i64 = 86_400;

/// How many keys each run works on.
const KEYS: usize = 2;

/// A key's state in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Enabled,
    Disabled,
    /// Deleted once the clock reaches `at` (Unix seconds).
    PendingDeletion {
        at: i64,
    },
    Deleted,
}

#[derive(Debug, Clone)]
enum Step {
    Enable(usize),
    Disable(usize),
    /// `PendingWindowInDays`, absent or possibly out of range.
    Schedule(usize, Option<i64>),
    Cancel(usize),
    Encrypt(usize),
    Describe(usize),
    /// Seconds.
    Advance(i64),
    /// To `offset` seconds from key `k`'s deletion date, if it is pending
    /// deletion and that time is still ahead (otherwise the clock stays).
    AdvanceNear(usize, i64),
}

fn step() -> impl Strategy<Value = Step> {
    let key = 0..KEYS;
    let advance = prop_oneof![
        (0i64..=40).prop_map(|d| d * DAY),
        (0i64..=72).prop_map(|h| h * 3600),
        0i64..=5,
    ];
    prop_oneof![
        3 => key.clone().prop_map(Step::Enable),
        3 => key.clone().prop_map(Step::Disable),
        3 => (key.clone(), prop::option::of(5i64..=32)).prop_map(|(k, w)| Step::Schedule(k, w)),
        2 => key.clone().prop_map(Step::Cancel),
        3 => key.clone().prop_map(Step::Encrypt),
        1 => key.clone().prop_map(Step::Describe),
        3 => advance.prop_map(Step::Advance),
        2 => (key, -2i64..=2).prop_map(|(k, offset)| Step::AdvanceNear(k, offset)),
    ]
}

/// The model: key states and the clock.
#[derive(Debug)]
struct Model {
    now: i64,
    keys: [State; KEYS],
}

/// What the model expects of a step: success or the error name.
type Expected = Result<(), ErrorKind>;

impl Model {
    /// The step as a plain clock move, for steps that depend on the state.
    fn resolve(&self, step: Step) -> Step {
        match step {
            Step::AdvanceNear(k, offset) => match self.keys[k] {
                State::PendingDeletion { at } => Step::Advance((at + offset - self.now).max(0)),
                _ => Step::Advance(0),
            },
            other => other,
        }
    }

    /// Applies a step; returns the expected outcome.
    fn apply(&mut self, step: &Step) -> Expected {
        use ErrorKind as E;
        use State as S;
        if let Step::Advance(seconds) = step {
            self.now += seconds;
            for key in &mut self.keys {
                if let S::PendingDeletion { at } = *key {
                    if at <= self.now {
                        *key = S::Deleted;
                    }
                }
            }
            return Ok(());
        }
        // Request validation comes before the key is looked up.
        if let Step::Schedule(_, Some(days)) = step {
            if !(7..=30).contains(days) {
                return Err(E::ValidationException);
            }
        }
        let (Step::Enable(k)
        | Step::Disable(k)
        | Step::Schedule(k, _)
        | Step::Cancel(k)
        | Step::Encrypt(k)
        | Step::Describe(k)) = step
        else {
            // AdvanceNear is resolved to Advance before it gets here.
            unreachable!()
        };
        let state = &mut self.keys[*k];
        match (step, *state) {
            (_, S::Deleted) => Err(E::NotFoundException),
            (Step::Describe(_), _) => Ok(()),
            (Step::Enable(_), S::Enabled | S::Disabled) => {
                *state = S::Enabled;
                Ok(())
            }
            (Step::Disable(_), S::Enabled | S::Disabled) => {
                *state = S::Disabled;
                Ok(())
            }
            (Step::Enable(_) | Step::Disable(_), S::PendingDeletion { .. }) => {
                Err(E::KMSInvalidStateException)
            }
            (Step::Schedule(_, days), S::Enabled | S::Disabled) => {
                *state = S::PendingDeletion {
                    at: self.now + days.unwrap_or(30) * DAY,
                };
                Ok(())
            }
            (Step::Schedule(..), S::PendingDeletion { .. }) => Err(E::KMSInvalidStateException),
            (Step::Cancel(_), S::PendingDeletion { .. }) => {
                *state = S::Disabled;
                Ok(())
            }
            (Step::Cancel(_), S::Enabled | S::Disabled) => Err(E::KMSInvalidStateException),
            (Step::Encrypt(_), S::Enabled) => Ok(()),
            (Step::Encrypt(_), S::Disabled) => Err(E::DisabledException),
            (Step::Encrypt(_), S::PendingDeletion { .. }) => Err(E::KMSInvalidStateException),
            (Step::Advance(_) | Step::AdvanceNear(..), _) => unreachable!(),
        }
    }
}

/// Runs a step against the service; returns the outcome and the response.
fn run(h: &Harness, ids: &[String], step: &Step) -> Result<Value, ErrorKind> {
    let call = |op: &str, input: Value| h.call("admin", op, input).map_err(|e| e.kind);
    match step {
        Step::Advance(seconds) => {
            h.clock.advance(*seconds);
            Ok(Value::Null)
        }
        Step::Enable(k) => call("EnableKey", json!({"KeyId": ids[*k]})),
        Step::Disable(k) => call("DisableKey", json!({"KeyId": ids[*k]})),
        Step::Schedule(k, days) => {
            let mut input = json!({"KeyId": ids[*k]});
            if let Some(d) = days {
                input["PendingWindowInDays"] = json!(d);
            }
            call("ScheduleKeyDeletion", input)
        }
        Step::Cancel(k) => call("CancelKeyDeletion", json!({"KeyId": ids[*k]})),
        Step::Encrypt(k) => call(
            "Encrypt",
            json!({"KeyId": ids[*k], "Plaintext": b64(b"state machine")}),
        ),
        Step::Describe(k) => call("DescribeKey", json!({"KeyId": ids[*k]})),
        Step::AdvanceNear(..) => unreachable!("resolved by the model first"),
    }
}

/// Every key's state in the service agrees with the model.
fn check_states(h: &Harness, ids: &[String], model: &Model) -> Result<(), TestCaseError> {
    for (id, expected) in ids.iter().zip(model.keys) {
        let seen = h.call("admin", "DescribeKey", json!({"KeyId": id}));
        match (expected, seen) {
            (State::Deleted, Err(e)) => {
                prop_assert_eq!(e.kind, ErrorKind::NotFoundException);
                prop_assert!(h.store.key(id).unwrap().is_none(), "{} is still stored", id);
            }
            (State::Deleted, Ok(v)) => {
                return Err(TestCaseError::fail(format!("{id} should be deleted: {v}")))
            }
            (_, Err(e)) => return Err(TestCaseError::fail(format!("{id}: {e}"))),
            (expected, Ok(v)) => {
                let md = &v["KeyMetadata"];
                let (name, deletion) = match expected {
                    State::Enabled => ("Enabled", None),
                    State::Disabled => ("Disabled", None),
                    State::PendingDeletion { at } => ("PendingDeletion", Some(at)),
                    State::Deleted => unreachable!(),
                };
                prop_assert_eq!(&md["KeyState"], name, "{}", id);
                prop_assert_eq!(&md["Enabled"], &json!(expected == State::Enabled));
                prop_assert_eq!(md.get("DeletionDate").and_then(Value::as_i64), deletion);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn service_follows_the_key_state_machine(steps in prop::collection::vec(step(), 1..40)) {
        let h = Harness::new();
        let ids: Vec<String> = (0..KEYS).map(|_| h.symmetric_key()).collect();
        let mut model = Model { now: START, keys: [State::Enabled; KEYS] };
        for step in steps {
            let step = &model.resolve(step);
            let expected = model.apply(step);
            let outcome = run(&h, &ids, step);
            prop_assert_eq!(outcome.as_ref().map(|_| ()).map_err(|e| *e), expected, "{:?}", step);
            if let (Step::Schedule(..), Ok(out)) = (step, &outcome) {
                let k = match step { Step::Schedule(k, _) => *k, _ => unreachable!() };
                let State::PendingDeletion { at } = model.keys[k] else { unreachable!() };
                prop_assert_eq!(out["DeletionDate"].as_i64(), Some(at));
                prop_assert_eq!(&out["KeyState"], "PendingDeletion");
            }
            check_states(&h, &ids, &model)?;
        }
        // The states were stored, not only held in memory.
        check_states(&h.reopen(), &ids, &model)?;
    }
}
