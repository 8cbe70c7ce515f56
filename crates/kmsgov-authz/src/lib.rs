//! AWS KMS authorization, with a decision path.
//!
//! Given a [`World`] (accounts and their organization policies, principals and
//! their policies, keys, aliases, grants, VPC endpoints) and a KMS API
//! [`Call`], [`decide`] answers exactly what AWS KMS would: `Allow`,
//! `AccessDeniedException` with AWS's message, or the error AWS gives before or
//! instead of an access decision, together with the decision path: every
//! layer, statement and condition that mattered.
//!
//! The engine is pure: no I/O, no async, no panics on any input. The same
//! engine decides `kmsgov test`, `kmsgov eval` and (later) every request the
//! server receives.
//!
//! ```
//! use kmsgov_authz::{decide, Call, Environment, Operation, Scenario, Trace};
//! use kmsgov_policy::Caller;
//!
//! let scenario = Scenario::parse(r#"{
//!   "accounts": {"111122223333": {}},
//!   "principals": [{"arn": "arn:aws:iam::111122223333:user/alice", "policies": [
//!     {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}]}]}],
//!   "keys": [{"arn": "arn:aws:kms:us-east-1:111122223333:key/k1"}],
//!   "tests": []
//! }"#)?;
//! let alice = Caller::parse("arn:aws:iam::111122223333:user/alice")?;
//! let input = serde_json::json!({"KeyId": "k1", "Plaintext": "aGk="});
//! let env = Environment::new();
//! let call = Call { caller: &alice, operation: Operation::Encrypt, input: &input, env: &env, ciphertext_key: None };
//! let decision = decide(&scenario.world, &call, Trace::Full);
//! assert_eq!(decision.outcome.name(), "Allow");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The rules implemented, with their sources, are in the repository's
//! `docs/semantics.md`.
//!
//! A world may also hold [`Guardrail`]s: Rego modules that can deny, never
//! allow, a request every policy layer allowed (`docs/guardrails.md`). They
//! are compiled when the world is loaded and cost nothing when there are none.

#![warn(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod context;
mod decision;
mod engine;
mod failure;
mod guardrail;
mod keypolicy;
mod keystate;
mod operation;
mod request_json;
mod retire;
mod scenario;
mod validate;
mod world;

pub use context::{Environment, DEFAULT_CURRENT_TIME};
pub use decision::{ConditionEntry, Decision, ErrorCode, Outcome, PathEntry, StatementEntry};
pub use engine::{
    decide, decide_account_action, decide_action, decide_role_action, AccountActionCall,
    ActionCall, Call, RoleActionCall, Trace,
};
pub use guardrail::{
    compile_guardrails, Evaluation, Guardrail, GuardrailError, GUARDRAIL_TIME_LIMIT,
};
pub use keypolicy::{
    default_policy, default_policy_text, key_policy_options, MAX_KEY_POLICY_BYTES,
};
pub use operation::{Operation, GRANT_OPERATIONS};
pub use request_json::{decide_action_json, RequestError};
pub use scenario::{environment, parse_outcome, Scenario, ScenarioError, TestCase, TestResult};
pub use world::{
    AccessKey, Account, Grant, GrantConstraints, Key, KeyState, NamedPolicy, Principal, World,
};
