//! [`Kms`]: every KMS operation on a [`Store`], each authorized by the
//! engine of `kmsgov-authz` against the live state.
//!
//! # State
//!
//! The store is the durable truth. On open the service loads every key,
//! alias and grant into memory: an authorization [`World`] (the world file's
//! accounts and principals plus the live keys, aliases and grants) and the
//! unwrapped key material of every key version. Reads (Encrypt, Decrypt,
//! DescribeKey, …) decide and run against that memory under a read lock.
//! Changes are serialized by one writer lock: the change is decided, written
//! to the store (durably, with compare-and-swap on the key's revision) and
//! only then applied to memory, so an acknowledged change is on disk and a
//! failed write changes nothing.
//!
//! # Time
//!
//! A [`Clock`] tells the time. Before each request the service carries out
//! what has fallen due (scheduled deletions, automatic rotations, expired
//! imported material); [`Kms::tick`] does the same on demand.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use kmsgov_authz::{
    decide, decide_account_action, key_policy_options, AccessKey, AccountActionCall, Call,
    Decision, Environment, Grant, GrantConstraints, Key, KeyState, NamedPolicy, Operation, Outcome,
    Trace, World,
};
use kmsgov_policy::{Caller, Policy};
use rustc_hash::FxHashMap as HashMap;
use serde_json::{Map, Value};
use zeroize::Zeroize;

use crate::audit::api as audit_api;
use crate::audit::record::{Recorder, Subject, PRINCIPAL_KEY_LABEL};
use crate::audit::{AuditError, AuditLog, AuditOperation, AuditTicket};
use crate::clock::{iso8601, Clock};
use crate::crypto::{KeyMaterial, KeySpec};
use crate::error::{ErrorKind, KmsError};
use crate::ops;
use crate::root_key::RootKey;
use crate::store::{AliasRecord, GrantRecord, KeyRecord, Store};

mod follow;
pub mod governed;

use follow::Follower;
pub use follow::{LEASE, POLL_PERIOD, STALE_AFTER};

/// What a [`Kms`] is built from.
#[derive(Debug)]
pub struct Config {
    /// The Region this service answers for.
    pub region: String,
    /// Durable storage.
    pub store: Arc<dyn Store>,
    /// The root key that wraps all key material at rest.
    pub root_key: RootKey,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// Accounts, principals and VPC endpoints (from a world file); its keys,
    /// aliases and grants are ignored: those come from the store.
    pub directory: World,
}

/// One KMS API request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The authenticated caller.
    pub caller: &'a Caller,
    /// The operation.
    pub operation: Operation,
    /// The request body, as the KMS JSON API takes it.
    pub input: &'a Value,
    /// Facts from outside the body (`aws:SourceIp`, `aws:SourceVpce`, …);
    /// `aws:CurrentTime` and `aws:EpochTime` default to the service clock.
    pub env: &'a Environment<'a>,
}

/// What a request produced: the response body or the error, and the
/// authorization decision (with its path when asked for).
#[derive(Debug)]
pub struct Response {
    /// The response body or the error.
    pub result: Result<Output, KmsError>,
    /// The authorization decision; `None` when the request failed before it
    /// (an unreadable ciphertext blob, say).
    pub decision: Option<Decision>,
}

/// A response whose audit entry may not be durable yet.
#[derive(Debug)]
#[must_use = "the response is released by wait or finish"]
pub struct PendingResponse {
    response: Response,
    ticket: Option<AuditTicket>,
    minter: Option<Minter>,
}

/// What completes a use receipt once its decision is durable.
#[derive(Debug)]
struct Minter {
    governance: Arc<governed::Governed>,
    origin: String,
}

impl PendingResponse {
    /// Blocks until the audit entry is durable, then gives the response;
    /// when the entry could not be written, the result is an internal
    /// error instead (fail closed: the output's secrets are zeroized as it
    /// drops).
    pub fn wait(self) -> Response {
        let PendingResponse {
            response,
            ticket,
            minter,
        } = self;
        match ticket {
            Some(t) => release(response, t.wait(), minter.as_ref()),
            None => response,
        }
    }

    /// [`PendingResponse::wait`] for asynchronous callers.
    pub async fn finish(self) -> Response {
        let PendingResponse {
            response,
            ticket,
            minter,
        } = self;
        match ticket {
            Some(t) => {
                let outcome = t.await;
                release(response, outcome, minter.as_ref())
            }
            None => response,
        }
    }
}

/// Releases a response once its audit entry is written: fails it closed
/// when the entry could not be, and otherwise completes its use receipt
/// (if any) with the entry's position.
fn release(
    mut response: Response,
    audited: Result<u64, AuditError>,
    minter: Option<&Minter>,
) -> Response {
    let seq = match audited {
        Ok(seq) => seq,
        Err(e) => {
            response.result = Err(KmsError::internal(e.to_string()));
            return response;
        }
    };
    let (Some(minter), Ok(output)) = (minter, &mut response.result) else {
        return response;
    };
    let Some(mut draft) = output.1.as_mut().and_then(|u| u.receipt.take()) else {
        return response;
    };
    draft.claims.audit_origin.clone_from(&minter.origin);
    draft.claims.audit_index = seq;
    match minter.governance.issuer().issue(&draft.claims) {
        Ok(token) => {
            if let Value::Object(map) = &mut output.0 {
                map.insert("UseReceipt".into(), Value::String(token));
                map.insert(
                    "UseReceiptSalt".into(),
                    Value::String(base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        draft.salt,
                    )),
                );
            }
        }
        Err(e) => {
            // Plaintext leaves only with its receipt.
            response.result = Err(KmsError::internal(format!("use receipt: {e}")));
        }
    }
    response
}

/// A response body. Members that carry secrets (`Plaintext`,
/// `PrivateKeyPlaintext`, `SharedSecret`) are zeroized when it is dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct Output(Value, Option<Box<UseRecord>>);

/// What a data operation on a governed ciphertext adds to its audit leaf
/// and response: the ciphertext, the bound data-use policy, the governance
/// position decided on, and the receipt to mint once the leaf is durable.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UseRecord {
    pub(crate) ciphertext_hash: [u8; 32],
    pub(crate) policy_id: [u8; 32],
    pub(crate) key_version: u32,
    pub(crate) governance_size: u64,
    pub(crate) governance_root: [u8; 32],
    pub(crate) receipt: Option<ReceiptDraft>,
}

/// A use receipt waiting for the audit position of its decision, with the
/// salt of its plaintext commitment (returned as `UseReceiptSalt`).
#[derive(Clone, PartialEq)]
pub(crate) struct ReceiptDraft {
    pub(crate) claims: crate::receipt::ReceiptClaims,
    pub(crate) salt: [u8; 32],
}

impl fmt::Debug for ReceiptDraft {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiptDraft").finish_non_exhaustive()
    }
}

/// Response members whose values are secret.
const SECRET_MEMBERS: [&str; 3] = ["Plaintext", "PrivateKeyPlaintext", "SharedSecret"];

impl Output {
    /// Wraps a response body.
    #[must_use]
    pub fn new(value: Value) -> Output {
        Output(value, None)
    }

    pub(crate) fn use_record(&self) -> Option<&UseRecord> {
        self.1.as_deref()
    }

    /// The body.
    #[must_use]
    pub fn value(&self) -> &Value {
        &self.0
    }

    /// A member of the body.
    #[must_use]
    pub fn get(&self, member: &str) -> Option<&Value> {
        self.0.get(member)
    }

    /// The body as JSON text, in a buffer that is zeroized on drop.
    #[must_use]
    pub fn to_json(&self) -> zeroize::Zeroizing<Vec<u8>> {
        // Serializing a `Value` cannot fail: its keys are strings.
        zeroize::Zeroizing::new(serde_json::to_vec(&self.0).unwrap_or_default())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Value::Object(map) = &mut self.0 {
            for member in SECRET_MEMBERS {
                if let Some(Value::String(s)) = map.get_mut(member) {
                    s.zeroize();
                }
            }
        }
    }
}

/// A key as the service holds it in memory: its record and the unwrapped
/// material of every version (index `version - 1`).
pub(crate) struct LiveKey {
    pub(crate) record: KeyRecord,
    pub(crate) arn: String,
    pub(crate) material: Vec<Arc<KeyMaterial>>,
}

impl fmt::Debug for LiveKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveKey")
            .field("arn", &self.arn)
            .field("versions", &self.material.len())
            .finish_non_exhaustive()
    }
}

impl LiveKey {
    /// The key spec.
    pub(crate) fn spec(&self) -> Result<KeySpec, KmsError> {
        self.record
            .key_spec
            .parse::<KeySpec>()
            .map_err(KmsError::from)
    }

    /// The material of the current version.
    pub(crate) fn current(&self) -> Result<(&KeyMaterial, u32), KmsError> {
        let version = u32::try_from(self.material.len()).unwrap_or(u32::MAX);
        match self.material.last() {
            Some(m) => Ok((m, version)),
            None => Err(KmsError::new(
                ErrorKind::KMSInvalidStateException,
                format!("{} is pending import.", self.arn),
            )),
        }
    }

    /// The material of a version.
    pub(crate) fn version(&self, version: u32) -> Option<&KeyMaterial> {
        let i = usize::try_from(version).ok()?.checked_sub(1)?;
        self.material.get(i).map(Arc::as_ref)
    }
}

/// The in-memory state: the authorization world and the live keys by id.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) world: World,
    pub(crate) keys: HashMap<String, Arc<LiveKey>>,
}

/// The KMS service.
pub struct Kms {
    region: String,
    store: Arc<dyn Store>,
    root: RootKey,
    clock: Arc<dyn Clock>,
    state: RwLock<State>,
    writer: Mutex<()>,
    /// The earliest time anything falls due (deletion, rotation), Unix seconds.
    next_due: AtomicI64,
    /// The audit log every request is written to, when there is one.
    audit: Option<Audited>,
    /// Following the change feed of a shared store.
    follower: Option<Follower>,
    /// Governance records, data-use policies and the receipt key.
    governance: Option<Arc<governed::Governed>>,
}

/// The audit log and what builds its entries.
#[derive(Debug)]
struct Audited {
    log: AuditLog,
    recorder: Recorder,
}

impl fmt::Debug for Kms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kms")
            .field("region", &self.region)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Kms {
    /// Opens the service: loads keys, aliases and grants from the store.
    ///
    /// # Errors
    ///
    /// The store cannot be read, or holds a key whose material the root key
    /// does not unwrap (the wrong root key).
    pub fn open(config: Config) -> Result<Kms, KmsError> {
        let kms = Kms {
            region: config.region.clone(),
            store: config.store,
            root: config.root_key,
            clock: config.clock,
            state: RwLock::new(State {
                world: World::new(&config.region),
                keys: HashMap::default(),
            }),
            writer: Mutex::new(()),
            next_due: AtomicI64::new(i64::MAX),
            audit: None,
            follower: None,
            governance: None,
        };
        let kms = match kms.store.feed() {
            Some(_) => Kms {
                follower: Some(Follower::new(new_key_id()?)),
                ..kms
            },
            None => kms,
        };
        kms.load(config.directory)?;
        Ok(kms)
    }

    fn load(&self, directory: World) -> Result<(), KmsError> {
        let snapshot = self.store.load_all()?;
        let mut state = State {
            world: World::new(&self.region),
            keys: HashMap::default(),
        };
        state.world.replace_directory(directory);
        for record in snapshot.keys {
            let live = self.build_live(record, None)?;
            let key = authz_key(&live.record, &live.arn, Vec::new())?;
            state.world.upsert_key(key);
            state
                .keys
                .insert(live.record.key_id.clone(), Arc::new(live));
        }
        for alias in snapshot.aliases {
            add_alias(&mut state, &alias);
        }
        for grant in snapshot.grants {
            add_grant(&mut state, &grant);
        }
        let due = state
            .keys
            .values()
            .filter_map(|k| due_time(&k.record))
            .min()
            .unwrap_or(i64::MAX);
        *self.write_state() = state;
        self.next_due.store(due, Ordering::SeqCst);
        if let Some(f) = &self.follower {
            f.set_applied(snapshot.position);
        }
        Ok(())
    }

    /// Wipes every key, alias and grant (development mode's reset).
    ///
    /// # Errors
    ///
    /// The store cannot be written.
    pub fn reset(&self) -> Result<(), KmsError> {
        let _w = self.lock_writer();
        self.store.clear()?;
        let mut state = self.write_state();
        let directory = std::mem::take(&mut state.world);
        state.world = World::new(&self.region);
        state.world.replace_directory(directory);
        state.keys.clear();
        Ok(())
    }

    /// Replaces the accounts, principals and VPC endpoints (a reloaded world
    /// file); keys, aliases and grants stay.
    pub fn set_directory(&self, directory: World) {
        let _w = self.lock_writer();
        self.write_state().world.replace_directory(directory);
    }

    /// The Region this service answers for.
    #[must_use]
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The clock.
    #[must_use]
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// The principal that owns access key `access_key_id` in the directory,
    /// with the key (its secret and, for temporary credentials, its session
    /// token), for request authentication.
    #[must_use]
    pub fn credentials(&self, access_key_id: &str) -> Option<(String, AccessKey)> {
        let state = self.read_state();
        state.world.principals.values().find_map(|p| {
            p.access_keys
                .iter()
                .find(|k| k.id == access_key_id)
                .map(|k| (p.arn.clone(), k.clone()))
        })
    }

    /// Runs a request: authorization by the engine, then the operation.
    pub fn call(&self, request: &Request<'_>) -> Result<Output, KmsError> {
        self.execute(request, Trace::Off).result
    }

    /// Writes every request from now on to `log` before answering it; a
    /// request whose entry cannot be written is answered with an internal
    /// error instead of its result (fail closed).
    ///
    /// # Errors
    ///
    /// The audit key cannot be derived from the root key.
    pub fn with_audit(mut self, log: AuditLog) -> Result<Kms, KmsError> {
        let key = self
            .root
            .derive(PRINCIPAL_KEY_LABEL)
            .map_err(|e| KmsError::internal(format!("the audit key: {e}")))?;
        self.audit = Some(Audited {
            log,
            recorder: Recorder::new(&key),
        });
        Ok(self)
    }

    /// Adds governance: the record chain (data-use policies, key
    /// defaults) and the receipt key. Receipts are issued only when there
    /// is also an audit log, since a receipt names its decision's position
    /// in it.
    #[must_use]
    pub fn with_governance(mut self, governance: governed::Governed) -> Kms {
        self.governance = Some(Arc::new(governance));
        self
    }

    /// Governance, when this service keeps it.
    #[must_use]
    pub fn governance(&self) -> Option<&governed::Governed> {
        self.governance.as_deref()
    }

    /// The audit log, when requests are written to one.
    #[must_use]
    pub fn audit_log(&self) -> Option<&AuditLog> {
        self.audit.as_ref().map(|a| &a.log)
    }

    /// The keyed commitment an audit leaf holds for `arn` of `account`.
    #[must_use]
    pub fn principal_commitment(&self, account: &str, arn: &str) -> Option<[u8; 32]> {
        self.audit
            .as_ref()
            .map(|a| a.recorder.principal_commit(account, arn))
    }

    /// Whether running `operation` with `input` now may wait on the store
    /// (a write and its fsync): it changes state, something has fallen due
    /// (which the next request carries out), or it names an AWS managed key
    /// by alias, which may have to be created. Anything else is memory and
    /// CPU only, a few microseconds, and a server may run it in place.
    #[must_use]
    pub fn may_block(&self, operation: Operation, input: &Value) -> bool {
        if ops::mutates(operation) {
            return true;
        }
        if self.clock.now() >= self.next_due.load(Ordering::Relaxed) {
            return true;
        }
        ["KeyId", "DestinationKeyId", "TargetKeyId"]
            .iter()
            .any(|m| {
                input
                    .get(*m)
                    .and_then(Value::as_str)
                    .is_some_and(|id| id.contains("alias/aws/"))
            })
    }

    /// Runs a request and returns the decision with it (with its path when
    /// `trace` is [`Trace::Full`]).
    pub fn execute(&self, request: &Request<'_>, trace: Trace) -> Response {
        let mut request_id = [0u8; 16];
        if self.audit.is_some() {
            // Only an audit leaf carries the id; a zero id is still unique
            // by its position in the log.
            request_id = crate::crypto::unique_bytes().unwrap_or_default();
        }
        self.execute_as(request, trace, request_id)
    }

    /// [`Kms::execute`] with the caller's request id, which the audit leaf
    /// records.
    pub fn execute_as(
        &self,
        request: &Request<'_>,
        trace: Trace,
        request_id: [u8; 16],
    ) -> Response {
        self.execute_deferred(request, trace, request_id).wait()
    }

    /// Runs a request and hands its audit entry to the log without waiting
    /// for it to be durable: the response is released only through
    /// [`PendingResponse::wait`] or [`PendingResponse::finish`], which wait
    /// for the entry. A server awaits `finish`, so that no thread blocks
    /// while the log commits.
    pub fn execute_deferred(
        &self,
        request: &Request<'_>,
        trace: Trace,
        request_id: [u8; 16],
    ) -> PendingResponse {
        let response = self.run(request, trace);
        let ticket = self.audit.as_ref().map(|audit| {
            let entry =
                audit
                    .recorder
                    .entry(request, &response, self.clock.now_millis(), request_id);
            audit.log.submit(entry)
        });
        let minter = match (&self.governance, &self.audit) {
            (Some(governance), Some(_)) => Some(Minter {
                governance: Arc::clone(governance),
                origin: crate::audit::origin(&self.region),
            }),
            _ => None,
        };
        PendingResponse {
            response,
            ticket,
            minter,
        }
    }

    /// Runs one of kmsgov's own operations on the audit log
    /// ([`AuditOperation`]) for `caller`: authorized by the engine as the
    /// IAM action `kmsgov:<Name>` on `*`, answered from the log, and, like
    /// every request, written to the log before its response is released.
    pub fn execute_audit_operation(
        &self,
        caller: &Caller,
        operation: AuditOperation,
        input: &Value,
        env: &Environment<'_>,
        request_id: [u8; 16],
    ) -> PendingResponse {
        let audit = self.audit.as_ref();
        if operation.is_governance() && self.governance.is_none() {
            return PendingResponse {
                response: Response {
                    result: Err(KmsError::new(
                        ErrorKind::UnsupportedOperationException,
                        "This server keeps no governance records.",
                    )),
                    decision: None,
                },
                ticket: None,
                minter: None,
            };
        }
        if audit.is_none() && operation != AuditOperation::Evaluate && !operation.is_governance() {
            return PendingResponse {
                response: Response {
                    result: Err(KmsError::new(
                        ErrorKind::UnsupportedOperationException,
                        "This server keeps no audit log.",
                    )),
                    decision: None,
                },
                ticket: None,
                minter: None,
            };
        };
        let action = operation.action();
        let decision = {
            let state = self.read_state();
            decide_account_action(
                &state.world,
                &AccountActionCall {
                    caller,
                    action: &action,
                    env,
                },
                Trace::Off,
            )
        };
        let result = match decision.outcome {
            Outcome::Allow => match (operation, audit) {
                (AuditOperation::Evaluate, _) => self.evaluate(input).map(Output::new),
                (op, _) if op.is_governance() => {
                    governed::run_api(self, caller, op, input).map(Output::new)
                }
                (_, Some(audit)) => audit_api::run(&audit.log, operation, input).map(Output::new),
                (_, None) => Err(KmsError::new(
                    ErrorKind::UnsupportedOperationException,
                    "This server keeps no audit log.",
                )),
            },
            Outcome::Deny => Err(KmsError::new(
                ErrorKind::AccessDeniedException,
                decision.message.clone(),
            )),
            Outcome::Error(code) => {
                let mut e = KmsError::from(code);
                e.message.clone_from(&decision.message);
                Err(e)
            }
        };
        let response = Response {
            result,
            decision: Some(decision),
        };
        let ticket = audit.map(|audit| {
            let entry = audit.recorder.entry_for(
                &Subject {
                    op: operation.op_code(),
                    operation: operation.name(),
                    caller,
                    input,
                    env,
                },
                &response,
                self.clock.now_millis(),
                request_id,
            );
            audit.log.submit(entry)
        });
        PendingResponse {
            response,
            ticket,
            minter: None,
        }
    }

    /// The engine's decision, with its path, for the request a
    /// `KmsGov.Evaluate` body describes: `{"principal": ARN, "operation":
    /// "Decrypt", "input": {…}, "context": {…}}`, decided against the
    /// current state. Nothing is carried out.
    pub fn evaluate(&self, body: &Value) -> Result<Value, KmsError> {
        let invalid = |m: &str| KmsError::new(ErrorKind::ValidationException, m);
        let Value::Object(body) = body else {
            return Err(invalid("The request body must be a JSON object."));
        };
        let principal = body
            .get("principal")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("principal must be a principal ARN."))?;
        let caller = Caller::parse(principal)
            .map_err(|e| invalid(&format!("principal is not a principal ARN: {e}")))?;
        let operation = body
            .get("operation")
            .and_then(Value::as_str)
            .and_then(Operation::from_name)
            .ok_or_else(|| invalid("operation must name a KMS operation, such as Decrypt."))?;
        let empty = Value::Object(Map::new());
        let input = match body.get("input") {
            None | Some(Value::Null) => &empty,
            Some(v @ Value::Object(_)) => v,
            Some(_) => return Err(invalid("input must be a JSON object.")),
        };
        let env = kmsgov_authz::environment(body.get("context"), "/context")
            .map_err(|e| invalid(&format!("context: {e}")))?;
        let call = Call {
            caller: &caller,
            operation,
            input,
            env: &env,
            ciphertext_key: None,
        };
        let state = self.read_state();
        Ok(decide(&state.world, &call, Trace::Full).to_json())
    }

    fn run(&self, request: &Request<'_>, trace: Trace) -> Response {
        let now_ms = self.clock.now_millis();
        let now = now_ms.div_euclid(1000);
        if now >= self.next_due.load(Ordering::Relaxed) {
            if let Err(e) = self.tick() {
                return Response {
                    result: Err(e),
                    decision: None,
                };
            }
        }
        let op = request.operation;
        let input = match request.input {
            Value::Object(m) => m,
            Value::Null => &EMPTY,
            _ => {
                return Response {
                    result: Err(KmsError::new(
                        ErrorKind::ValidationException,
                        "The request body must be a JSON object.",
                    )),
                    decision: None,
                }
            }
        };
        let env_owned;
        let env = if request.env.get_one("aws:CurrentTime").is_none() {
            let mut e = request.env.clone();
            let (iso, epoch) = time_strings(now);
            e.insert("aws:CurrentTime", iso);
            e.insert("aws:EpochTime", epoch);
            env_owned = e;
            &env_owned
        } else {
            request.env
        };
        if let Err(e) = self.ensure_current() {
            return Response {
                result: Err(e),
                decision: None,
            };
        }
        let _writer = ops::mutates(op).then(|| self.lock_writer());
        if ops::mutates(op) {
            // A change is decided on the latest state of a shared store.
            if let Err(e) = self.catch_up() {
                return Response {
                    result: Err(e),
                    decision: None,
                };
            }
        }
        if let Err(e) = self.ensure_aws_managed_keys(request.caller, op, input, now) {
            return Response {
                result: Err(e),
                decision: None,
            };
        }
        let mut attempt = 1;
        loop {
            let applied = self.applied_position();
            let response = self.decide_and_run(request, input, env, now, now_ms, trace);
            let raced = matches!(&response.result, Err(e) if e.is_store_race());
            if raced && self.follower.is_some() && ops::mutates(op) && attempt < MAX_ATTEMPTS {
                // Another service changed what this one decided on: catch
                // up and decide again (nothing was changed by this attempt),
                // after a random pause that lets contending services part.
                follow::back_off(attempt);
                attempt += 1;
                if let Err(e) = self.catch_up() {
                    return Response {
                        result: Err(e),
                        decision: response.decision,
                    };
                }
                continue;
            }
            if attempt == 1 && !ops::mutates(op) && self.refused_on_old_state(&response, applied) {
                // A refusal that another service's change may have lifted (a
                // key or grant it made a moment ago): decided again, now.
                attempt += 1;
                continue;
            }
            if response.result.is_ok() && ops::mutates(op) {
                if let Err(e) = self.record_governance(request, input, &response, now) {
                    return Response {
                        result: Err(e),
                        decision: response.decision,
                    };
                }
                if let Err(e) = self.await_followers(op) {
                    tracing::warn!(
                        error = e.name(),
                        detail = e.detail.as_deref().unwrap_or(""),
                        "cannot confirm that the other services applied a change"
                    );
                }
            }
            return response;
        }
    }

    /// Decides a request and, when allowed, carries it out.
    fn decide_and_run(
        &self,
        request: &Request<'_>,
        input: &Map<String, Value>,
        env: &Environment<'_>,
        now: i64,
        now_ms: i64,
        trace: Trace,
    ) -> Response {
        let op = request.operation;
        let (ciphertext_key, ciphertext) = match ops::ciphertext_key_arn(self, op, input) {
            Ok(k) => k,
            Err(e) => {
                return Response {
                    result: Err(e),
                    decision: None,
                }
            }
        };
        let call = Call {
            caller: request.caller,
            operation: op,
            input: request.input,
            env,
            ciphertext_key: ciphertext_key.as_deref(),
        };
        let decision = {
            let state = self.read_state();
            decide(&state.world, &call, trace)
        };
        let result = match decision.outcome {
            Outcome::Allow => {
                let ctx = ops::Ctx {
                    kms: self,
                    caller: request.caller,
                    account: request.caller.account().unwrap_or(""),
                    input,
                    env,
                    now,
                    now_ms,
                    ciphertext,
                    governed: std::cell::RefCell::new(None),
                };
                ops::run(&ctx, op).map(|value| Output(value, ctx.governed.take().map(Box::new)))
            }
            Outcome::Deny => Err(KmsError::new(
                ErrorKind::AccessDeniedException,
                decision.message.clone(),
            )),
            Outcome::Error(code) => {
                let mut e = KmsError::from(code);
                e.message.clone_from(&decision.message);
                Err(e)
            }
        };
        Response {
            result,
            decision: Some(decision),
        }
    }

    /// Writes the governance records of what a successful change touched:
    /// its key's governed state, an alias's target, a grant.
    fn record_governance(
        &self,
        request: &Request<'_>,
        input: &Map<String, Value>,
        response: &Response,
        now: i64,
    ) -> Result<(), KmsError> {
        let Some(governance) = &self.governance else {
            return Ok(());
        };
        let Ok(output) = &response.result else {
            return Ok(());
        };
        let account = request.caller.account().unwrap_or("");
        let op = request.operation;
        let mut keys: Vec<&str> = Vec::new();
        for member in ["KeyId", "TargetKeyId"] {
            if let Some(id) = input.get(member).and_then(Value::as_str) {
                keys.push(id);
            }
        }
        if let Some(id) = output
            .get("KeyMetadata")
            .and_then(|m| m.get("Arn"))
            .and_then(Value::as_str)
        {
            keys.push(id);
        }
        for id in keys {
            if let Ok(key) = self.live_key(account, id) {
                self.record_key(&key.record.account, &key.record.key_id, now)?;
            }
        }
        use kmsgov_authz::Operation as O;
        if matches!(op, O::CreateAlias | O::UpdateAlias | O::DeleteAlias) {
            if let Some(name) = input.get("AliasName").and_then(Value::as_str) {
                let alias_arn = format!("arn:aws:kms:{}:{account}:{name}", self.region);
                let target = self
                    .store
                    .alias(account, &self.region, name)?
                    .map(|a| a.key_id);
                governance.record_alias(&alias_arn, target.as_deref(), now)?;
            }
        }
        if matches!(op, O::CreateGrant | O::RetireGrant | O::RevokeGrant) {
            let id = output
                .get("GrantId")
                .or_else(|| input.get("GrantId"))
                .and_then(Value::as_str);
            if let Some(id) = id {
                let grant = self.store.grant(id)?;
                governance.record_grant(id, grant.as_ref(), now)?;
            }
        }
        Ok(())
    }

    /// Carries out the change an approved governance record makes: for a
    /// key-policy binding, puts the published policy on the key.
    pub(crate) fn apply_approved(
        &self,
        record: &crate::governance::Record,
    ) -> Result<(), KmsError> {
        let Some(governance) = &self.governance else {
            return Ok(());
        };
        if record.record_type != crate::governance::RecordType::BindKeyPolicy {
            return Ok(());
        }
        let arn = String::from_utf8_lossy(&record.payload).into_owned();
        let Some(key_id) = arn.rsplit_once(":key/").map(|(_, id)| id.to_owned()) else {
            return Ok(());
        };
        let Some((_, text)) = governance.records().policy(&record.new_hash) else {
            return Err(KmsError::internal(
                "an approved key policy is not published",
            ));
        };
        let policy = String::from_utf8(text)
            .map_err(|_| KmsError::internal("an approved key policy is not UTF-8"))?;
        let _writer = self.lock_writer();
        self.catch_up()?;
        let Some(live) = self.live_key_by_id(&key_id) else {
            return Err(KmsError::new(
                ErrorKind::NotFoundException,
                format!("Key '{arn}' does not exist"),
            ));
        };
        if live.record.policy != policy {
            let mut updated = live.record.clone();
            updated.policy = policy;
            self.update_key(updated)?;
        }
        if let Err(e) = self.await_followers(Operation::PutKeyPolicy) {
            tracing::warn!(
                error = e.name(),
                "cannot confirm that the other services applied a change"
            );
        }
        Ok(())
    }

    /// Writes the governance records of a key's governed state as it now
    /// is (or of its deletion, when it is gone).
    fn record_key(&self, account: &str, key_id: &str, now: i64) -> Result<(), KmsError> {
        let Some(governance) = &self.governance else {
            return Ok(());
        };
        let arn = format!("arn:aws:kms:{}:{account}:key/{key_id}", self.region);
        let record = self.live_key_by_id(key_id).map(|k| k.record.clone());
        governance.record_key(&arn, record.as_ref(), now)
    }

    /// Carries out what has fallen due: deletes keys whose deletion date has
    /// come, rotates keys whose rotation date has come, and marks keys whose
    /// imported material expired.
    ///
    /// # Errors
    ///
    /// The store cannot be written; what was done before the failure stays
    /// done, and the rest is retried on the next call.
    pub fn tick(&self) -> Result<(), KmsError> {
        let _w = self.lock_writer();
        self.catch_up()?;
        let now = self.clock.now();
        let due: Vec<Arc<LiveKey>> = self
            .read_state()
            .keys
            .values()
            .filter(|k| due_time(&k.record).is_some_and(|t| t <= now))
            .cloned()
            .collect();
        for key in due {
            match ops::lifecycle::carry_out_due(self, &key, now) {
                // Another service on the shared store did it first.
                Err(e) if e.is_store_race() && self.follower.is_some() => self.catch_up()?,
                other => other?,
            }
            self.record_key(&key.record.account, &key.record.key_id, now)?;
        }
        let next = self
            .read_state()
            .keys
            .values()
            .filter_map(|k| due_time(&k.record))
            .min()
            .unwrap_or(i64::MAX);
        self.next_due.store(next, Ordering::SeqCst);
        Ok(())
    }

    // ----- helpers for the operations -----

    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub(crate) fn root_key(&self) -> &RootKey {
        &self.root
    }

    pub(crate) fn read_state(&self) -> RwLockReadGuard<'_, State> {
        // A poisoned lock means a thread panicked while holding it; the state
        // is still consistent (changes are applied after the store commits),
        // so go on with it.
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_writer(&self) -> MutexGuard<'_, ()> {
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The live key a key identifier names for a caller in `account`.
    pub(crate) fn live_key(&self, account: &str, id: &str) -> Result<Arc<LiveKey>, KmsError> {
        let state = self.read_state();
        state
            .world
            .resolve_key(account, id)
            .and_then(|k| state.keys.get(&k.id))
            .cloned()
            .ok_or_else(|| KmsError::not_found(format!("Key '{id}' does not exist")))
    }

    /// The live key with this key id.
    pub(crate) fn live_key_by_id(&self, key_id: &str) -> Option<Arc<LiveKey>> {
        self.read_state().keys.get(key_id).cloned()
    }

    /// Aliases of a key (`alias/…`).
    pub(crate) fn aliases_of(&self, arn: &str) -> Vec<String> {
        self.read_state()
            .world
            .key_by_arn(arn)
            .map(|k| k.aliases.clone())
            .unwrap_or_default()
    }

    /// Unwraps a record's material, reusing versions already unwrapped in `old`.
    fn build_live(&self, record: KeyRecord, old: Option<&LiveKey>) -> Result<LiveKey, KmsError> {
        let spec = record.key_spec.parse::<KeySpec>()?;
        let mut material = Vec::with_capacity(record.versions.len());
        for (i, v) in record.versions.iter().enumerate() {
            let reused = old
                .filter(|o| o.record.versions.get(i) == Some(v))
                .and_then(|o| o.material.get(i).cloned());
            let m = match reused {
                Some(m) => m,
                None => {
                    let bytes = self
                        .root
                        .unwrap(&record.key_id, v.version, &v.wrapped_material)
                        .map_err(|e| {
                            KmsError::internal(format!(
                                "key {} version {}: {e}",
                                record.key_id, v.version
                            ))
                        })?;
                    Arc::new(KeyMaterial::from_bytes(spec, &bytes)?)
                }
            };
            material.push(m);
        }
        let arn = key_arn(&record);
        Ok(LiveKey {
            record,
            arn,
            material,
        })
    }

    /// Wraps new key material for a key version.
    pub(crate) fn wrap(
        &self,
        key_id: &str,
        version: u32,
        material: &KeyMaterial,
    ) -> Result<Vec<u8>, KmsError> {
        self.root
            .wrap(key_id, version, material.expose_secret())
            .map_err(|e| KmsError::internal(format!("wrapping key material: {e}")))
    }

    /// Stores a new key and makes it live.
    pub(crate) fn insert_key(&self, record: KeyRecord) -> Result<Arc<LiveKey>, KmsError> {
        let live = self.build_live(record, None)?;
        let key = authz_key(&live.record, &live.arn, Vec::new())?;
        self.store.create_key(&live.record)?;
        let live = Arc::new(live);
        let mut state = self.write_state();
        state.world.upsert_key(key);
        state
            .keys
            .insert(live.record.key_id.clone(), Arc::clone(&live));
        drop(state);
        self.note_due(&live.record);
        Ok(live)
    }

    /// Stores a changed key (compare-and-swap on its revision) and makes it
    /// live. The caller holds the writer lock (every mutating operation does).
    pub(crate) fn update_key(&self, mut record: KeyRecord) -> Result<Arc<LiveKey>, KmsError> {
        let old = self.live_key_by_id(&record.key_id);
        let live = self.build_live(record.clone(), old.as_deref())?;
        let aliases = self.aliases_of(&live.arn);
        let key = authz_key(&live.record, &live.arn, aliases)?;
        record.revision = self.store.update_key(&record)?;
        let live = Arc::new(LiveKey { record, ..live });
        let mut state = self.write_state();
        state.world.upsert_key(key);
        state
            .keys
            .insert(live.record.key_id.clone(), Arc::clone(&live));
        drop(state);
        self.note_due(&live.record);
        Ok(live)
    }

    /// Deletes a key with its aliases and grants, in the store and in memory.
    pub(crate) fn remove_key(&self, key_id: &str) -> Result<(), KmsError> {
        self.store.delete_key(key_id)?;
        let mut state = self.write_state();
        if let Some(live) = state.keys.remove(key_id) {
            state.world.remove_key(&live.arn);
        }
        Ok(())
    }

    /// Applies a stored alias change to memory: `old` is removed, `new` added.
    pub(crate) fn apply_alias(&self, old: Option<&AliasRecord>, new: Option<&AliasRecord>) {
        let mut state = self.write_state();
        if let Some(a) = old {
            remove_alias(&mut state, a);
        }
        if let Some(a) = new {
            add_alias(&mut state, a);
        }
    }

    /// Applies a stored grant to memory.
    pub(crate) fn apply_grant_created(&self, grant: &GrantRecord) {
        add_grant(&mut self.write_state(), grant);
    }

    /// Applies a deleted grant to memory.
    pub(crate) fn apply_grant_deleted(&self, grant_id: &str) {
        self.write_state().world.remove_grant(grant_id);
    }

    fn note_due(&self, record: &KeyRecord) {
        if let Some(t) = due_time(record) {
            self.next_due.fetch_min(t, Ordering::SeqCst);
        }
    }

    /// Creates the AWS managed key behind `alias/aws/<service>` the first
    /// time a request names it.
    fn ensure_aws_managed_keys(
        &self,
        caller: &Caller,
        op: Operation,
        input: &Map<String, Value>,
        now: i64,
    ) -> Result<(), KmsError> {
        let account = caller.account().unwrap_or("");
        for member in ["KeyId", "DestinationKeyId", "TargetKeyId"] {
            let Some(id) = input.get(member).and_then(Value::as_str) else {
                continue;
            };
            let Some(service) = aws_managed_service(id, account, &self.region) else {
                continue;
            };
            if matches!(op, Operation::CreateAlias | Operation::UpdateAlias)
                && member == "TargetKeyId"
            {
                continue;
            }
            let exists = {
                let state = self.read_state();
                state.world.resolve_key(account, id).is_some()
            };
            if !exists {
                let _w = (!ops::mutates(op)).then(|| self.lock_writer());
                let exists = self.read_state().world.resolve_key(account, id).is_some();
                if !exists {
                    ops::keys::create_aws_managed_key(self, account, service, now)?;
                }
            }
        }
        Ok(())
    }
}

/// `aws:CurrentTime` and `aws:EpochTime` for `now`, formatted once per
/// second per thread.
fn time_strings(now: i64) -> (String, String) {
    thread_local! {
        static CACHE: std::cell::RefCell<(i64, String, String)> =
            const { std::cell::RefCell::new((i64::MIN, String::new(), String::new())) };
    }
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != now {
            *c = (now, iso8601(now), now.to_string());
        }
        (c.1.clone(), c.2.clone())
    })
}

/// How many times a change refused as conflicting by a shared store is
/// decided and tried.
const MAX_ATTEMPTS: u32 = 32;

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

/// `alias/aws/<service>` (or its ARN in `account` and `region`) → `<service>`.
fn aws_managed_service<'a>(id: &'a str, account: &str, region: &str) -> Option<&'a str> {
    let name = match id.strip_prefix("arn:") {
        Some(_) => {
            let prefix = format!("arn:aws:kms:{region}:{account}:");
            id.strip_prefix(prefix.as_str())?
        }
        None => id,
    };
    let service = name.strip_prefix("alias/aws/")?;
    // AWS service names (`s3`, `ebs`, `secretsmanager`, `elasticfilesystem`,
    // …): lowercase letters, digits and hyphens. Anything else names no
    // service, so no managed key is created for it (NotFoundException).
    let valid = (1..=64).contains(&service.len())
        && service
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    valid.then_some(service)
}

/// When something next falls due for a key.
fn due_time(record: &KeyRecord) -> Option<i64> {
    let deletion = record.deletion_date.filter(|_| {
        record.key_state == KeyState::PendingDeletion.name()
            || record.key_state == KeyState::PendingReplicaDeletion.name()
    });
    let rotation = record
        .rotation
        .as_ref()
        .map(|r| r.next_rotation)
        .filter(|_| record.key_state == KeyState::Enabled.name());
    let expiry = record
        .material_valid_to
        .filter(|_| record.key_state != KeyState::PendingImport.name());
    [deletion, rotation, expiry].into_iter().flatten().min()
}

/// `arn:aws:kms:REGION:ACCOUNT:key/ID`.
pub(crate) fn key_arn(record: &KeyRecord) -> String {
    format!(
        "arn:aws:kms:{}:{}:key/{}",
        record.region, record.account, record.key_id
    )
}

/// The authorization view of a key record.
pub(crate) fn authz_key(
    record: &KeyRecord,
    arn: &str,
    aliases: Vec<String>,
) -> Result<Key, KmsError> {
    let policy = Policy::parse(&record.policy, &key_policy_options())
        .map_err(|e| KmsError::internal(format!("stored key policy of {arn}: {e}")))?;
    Ok(Key {
        arn: arn.to_owned(),
        id: record.key_id.clone(),
        account: record.account.clone(),
        region: record.region.clone(),
        policy: NamedPolicy {
            name: format!("key policy of {arn}"),
            policy,
        },
        spec: record.key_spec.clone(),
        usage: record.key_usage.clone(),
        state: KeyState::from_name(&record.key_state).unwrap_or(KeyState::Unavailable),
        aws_managed: record.aws_managed,
        origin: record.origin.clone(),
        multi_region: record.multi_region,
        aliases,
        tags: record.tags.clone(),
    })
}

fn add_alias(state: &mut State, alias: &AliasRecord) {
    let Some(live) = state.keys.get(&alias.key_id) else {
        return;
    };
    let arn = live.arn.clone();
    if let Some(mut key) = state.world.key_by_arn(&arn).cloned() {
        if !key.aliases.contains(&alias.name) {
            key.aliases.push(alias.name.clone());
            key.aliases.sort();
        }
        state.world.upsert_key(key);
    }
}

fn remove_alias(state: &mut State, alias: &AliasRecord) {
    let Some(live) = state.keys.get(&alias.key_id) else {
        return;
    };
    let arn = live.arn.clone();
    if let Some(mut key) = state.world.key_by_arn(&arn).cloned() {
        key.aliases.retain(|a| a != &alias.name);
        state.world.upsert_key(key);
    }
}

fn add_grant(state: &mut State, grant: &GrantRecord) {
    let Some(live) = state.keys.get(&grant.key_id) else {
        return;
    };
    let Some(index) = state.world.key_index(&live.arn) else {
        return;
    };
    state.world.add_grant(Grant {
        key: index,
        id: grant.grant_id.clone(),
        name: grant.name.clone(),
        grantee: grant.grantee.clone(),
        retiring_principal: grant.retiring_principal.clone(),
        operations: grant.operations.clone(),
        constraints: GrantConstraints {
            equals: grant.encryption_context_equals.clone(),
            subset: grant.encryption_context_subset.clone(),
            source_arn: grant.source_arn.clone(),
        },
        issuing_account: grant.issuing_account.clone(),
    });
}

/// A new key id: a random UUID (version 4).
pub(crate) fn new_key_id() -> Result<String, KmsError> {
    let bytes = crate::crypto::random_bytes(16)?;
    let mut b = [0u8; 16];
    b.copy_from_slice(bytes.expose());
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = crate::crypto::hex(&b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        hex.get(0..8).unwrap_or_default(),
        hex.get(8..12).unwrap_or_default(),
        hex.get(12..16).unwrap_or_default(),
        hex.get(16..20).unwrap_or_default(),
        hex.get(20..32).unwrap_or_default()
    ))
}

/// A map of strings from a JSON object member (encryption contexts, tags).
pub(crate) fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}
