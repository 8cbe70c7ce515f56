//! Governance records: every change to who may do what (policies, bindings,
//! guardrails, key lifecycle, signer sets) as a signed record in a
//! hash-chained log, applied only when it extends the head, names the value
//! it replaces (compare-and-swap) and carries enough signatures.
//!
//! - [`record`]: the binary record format ("GGOV", v1) and its strict parser.
//! - [`signer_set`]: who signs, with which thresholds, and the keys.
//! - [`chain`]: the pure state machine that applies records and keeps the
//!   bindings, the published policies and the current signer set.
//! - [`verify`]: offline verification of a whole chain against pinned keys.
//! - [`GovernanceSink`]: where records (and pending ones) are kept;
//!   [`MemoryGovernanceSink`] here, SQLite and PostgreSQL in their crates,
//!   all held to [`conformance::run`].
//! - [`Governance`]: the handle a service uses: submit changes, approve
//!   pending ones, read policies and bindings, and name the log's state as
//!   an RFC 6962 (size, root).
//!
//! The key design decision is that the chain is the only source of truth:
//! [`Governance::open`] re-verifies every stored record from genesis, and
//! every server sharing a sink catches up from it before each change, so a
//! change made by any server, or edited into the store behind the servers'
//! backs, is either a valid extension of the chain or refused. See
//! `docs/governance.md`.

pub mod chain;
pub mod conformance;
pub mod record;
pub mod signer_set;
pub mod verify;

use std::sync::{Arc, Mutex, MutexGuard};

use crate::store::StoreError;

pub use chain::{hex, policy_id, publish_payload, Chain, ChainError, PolicyKind, Quorum, Tally};
pub use record::{
    scope_id, Hash32, Record, RecordError, RecordType, Signature, ALG_ED25519, ALG_ED25519_APPROVAL,
};
pub use signer_set::{
    format_public_key, key_id, parse_public_key, GovernanceKey, SignerSet, SignerSetError,
};
pub use verify::{split_records, verify_chain, VerifyFailure, VerifyReport};

/// The label under which a server derives its governance key from the root
/// key ([`crate::root_key::RootKey::derive`]).
pub const SERVER_KEY_LABEL: &str = "kmsgov/governance/server-key";

/// How many times [`Governance::submit`] catches up and tries again when
/// another server appended first.
const MAX_RETRIES: usize = 32;

/// A random pause of up to `attempt` milliseconds after another server
/// appended first, so that contending servers part instead of colliding
/// again at once.
fn back_off(attempt: usize) {
    let mut byte = [0u8; 1];
    // Without randomness, a fixed pause still lets the other writer finish.
    let fraction = match aws_lc_rs::rand::fill(&mut byte) {
        Ok(()) => f64::from(byte[0]) / 255.0,
        Err(_) => 0.5,
    };
    let millis = fraction * f64::from(u32::try_from(attempt).unwrap_or(u32::MAX));
    std::thread::sleep(std::time::Duration::from_secs_f64(millis / 1000.0));
}

/// How many records one read from the sink takes.
const READ_BATCH: usize = 1024;

/// Where the governance chain and the pending records are kept.
///
/// Several servers may share one sink: [`GovernanceSink::append`] appends
/// only at the end, so of two servers appending at one position one gets
/// [`StoreError::Conflict`] and catches up.
pub trait GovernanceSink: Send + Sync + std::fmt::Debug {
    /// Appends the encoded record at position `seq`, durably.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when `seq` is not the number of stored
    /// records (one is stored at `seq` already, or `seq` would leave a
    /// gap); nothing is written then. Other errors when the write failed.
    fn append(&self, seq: u64, record: &[u8]) -> Result<(), StoreError>;

    /// Up to `limit` stored records from position `from` on, in order.
    ///
    /// # Errors
    ///
    /// The sink cannot be read.
    fn read(&self, from: u64, limit: usize) -> Result<Vec<Vec<u8>>, StoreError>;

    /// The number of stored records.
    ///
    /// # Errors
    ///
    /// The sink cannot be read.
    fn size(&self) -> Result<u64, StoreError>;

    /// Stores (or replaces) the pending record with hash `record_hash`.
    ///
    /// # Errors
    ///
    /// The write failed.
    fn put_pending(&self, record_hash: &Hash32, record: &[u8]) -> Result<(), StoreError>;

    /// Replaces the pending record with hash `record_hash` by `record` if
    /// it is still `expected` (`None`: there is none), in one step: when it
    /// is not, nothing is written and the answer is
    /// [`StoreError::Conflict`]. Two servers adding approvals to one
    /// pending record at once use it so that neither signature is lost.
    ///
    /// # Errors
    ///
    /// The pending record changed ([`StoreError::Conflict`]), or the write
    /// failed.
    fn swap_pending(
        &self,
        record_hash: &Hash32,
        expected: Option<&[u8]>,
        record: &[u8],
    ) -> Result<(), StoreError>;

    /// Every pending record with its hash, ordered by hash.
    ///
    /// # Errors
    ///
    /// The sink cannot be read.
    fn pending(&self) -> Result<Vec<(Hash32, Vec<u8>)>, StoreError>;

    /// Removes the pending record with hash `record_hash` (no error when
    /// there is none).
    ///
    /// # Errors
    ///
    /// The write failed.
    fn remove_pending(&self, record_hash: &Hash32) -> Result<(), StoreError>;
}

/// A governance sink in memory, for tests and in-process use.
#[derive(Debug, Default)]
pub struct MemoryGovernanceSink {
    inner: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    records: Vec<Vec<u8>>,
    pending: std::collections::BTreeMap<Hash32, Vec<u8>>,
}

impl MemoryGovernanceSink {
    /// An empty sink.
    #[must_use]
    pub fn new() -> MemoryGovernanceSink {
        MemoryGovernanceSink::default()
    }

    /// Replaces the stored record at `seq` (to test tamper detection).
    pub fn overwrite(&self, seq: u64, record: Vec<u8>) {
        let mut state = lock(&self.inner);
        if let Some(slot) = usize::try_from(seq)
            .ok()
            .and_then(|i| state.records.get_mut(i))
        {
            *slot = record;
        }
    }

    /// Drops the stored records from `size` on (to test truncation).
    pub fn truncate(&self, size: u64) {
        let mut state = lock(&self.inner);
        state
            .records
            .truncate(usize::try_from(size).unwrap_or(usize::MAX));
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change under these locks is one push, insert or assignment, so
    // a panic elsewhere cannot leave the state half changed.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl GovernanceSink for MemoryGovernanceSink {
    fn append(&self, seq: u64, record: &[u8]) -> Result<(), StoreError> {
        let mut state = lock(&self.inner);
        if seq != state.records.len() as u64 {
            return Err(StoreError::Conflict);
        }
        state.records.push(record.to_vec());
        Ok(())
    }

    fn read(&self, from: u64, limit: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let state = lock(&self.inner);
        let from = usize::try_from(from).unwrap_or(usize::MAX);
        Ok(state
            .records
            .iter()
            .skip(from)
            .take(limit)
            .cloned()
            .collect())
    }

    fn size(&self) -> Result<u64, StoreError> {
        Ok(lock(&self.inner).records.len() as u64)
    }

    fn put_pending(&self, record_hash: &Hash32, record: &[u8]) -> Result<(), StoreError> {
        lock(&self.inner)
            .pending
            .insert(*record_hash, record.to_vec());
        Ok(())
    }

    fn swap_pending(
        &self,
        record_hash: &Hash32,
        expected: Option<&[u8]>,
        record: &[u8],
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.inner);
        if state.pending.get(record_hash).map(Vec::as_slice) != expected {
            return Err(StoreError::Conflict);
        }
        state.pending.insert(*record_hash, record.to_vec());
        Ok(())
    }

    fn pending(&self) -> Result<Vec<(Hash32, Vec<u8>)>, StoreError> {
        Ok(lock(&self.inner)
            .pending
            .iter()
            .map(|(h, r)| (*h, r.clone()))
            .collect())
    }

    fn remove_pending(&self, record_hash: &Hash32) -> Result<(), StoreError> {
        lock(&self.inner).pending.remove(record_hash);
        Ok(())
    }
}

/// Reads every record of `sink`, in order.
///
/// # Errors
///
/// The sink cannot be read.
pub fn read_all(sink: &dyn GovernanceSink) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    loop {
        let batch = sink.read(out.len() as u64, READ_BATCH)?;
        if batch.is_empty() {
            return Ok(out);
        }
        out.extend(batch);
    }
}

/// Why a governance operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum GovError {
    /// The sink failed.
    Store(StoreError),
    /// A stored record does not verify: the chain was damaged or edited.
    Corrupt {
        /// The record's position.
        seq: u64,
        /// Why.
        reason: String,
    },
    /// The record breaks a rule of the chain.
    Rejected(ChainError),
    /// The record fitted an earlier head, not the current one (another
    /// change landed first): it can never be applied.
    Stale(ChainError),
    /// No pending record has this hash.
    NotPending(Hash32),
    /// Other servers appended first every time.
    Busy,
    /// The change is recorded but waits for more signatures.
    NeedsApproval {
        /// The pending record.
        record_hash: Hash32,
        /// Signatures counted.
        have: u8,
        /// Signatures needed.
        need: u8,
    },
    /// The key or the record could not be built.
    Invalid(String),
}

impl std::fmt::Display for GovError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GovError::Store(e) => write!(f, "the governance log: {e}"),
            GovError::Corrupt { seq, reason } => write!(
                f,
                "stored governance record {seq} does not verify: {reason}; run `kmsgov governance verify`"
            ),
            GovError::Rejected(e) => write!(f, "the change is refused: {e}"),
            GovError::Stale(e) => write!(
                f,
                "the change is stale (another change landed first): {e}"
            ),
            GovError::NotPending(h) => write!(f, "no pending record {}", hex(h)),
            GovError::Busy => write!(
                f,
                "other servers appended first {MAX_RETRIES} times in a row"
            ),
            GovError::NeedsApproval {
                record_hash,
                have,
                need,
            } => write!(
                f,
                "record {} waits for approval ({have} of {need} signatures)",
                hex(record_hash)
            ),
            GovError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for GovError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GovError::Store(e) => Some(e),
            GovError::Rejected(e) | GovError::Stale(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StoreError> for GovError {
    fn from(e: StoreError) -> GovError {
        GovError::Store(e)
    }
}

fn rule(e: ChainError) -> GovError {
    if e.is_stale() {
        GovError::Stale(e)
    } else {
        GovError::Rejected(e)
    }
}

/// A change to submit: the server fills in the chain fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The record type.
    pub kind: RecordType,
    /// What changes.
    pub subject: Hash32,
    /// The value it is bound to afterwards.
    pub new_hash: Hash32,
    /// The type-specific payload.
    pub payload: Vec<u8>,
    /// SHA-256 of the change ticket or approval document. All zeros: the
    /// server fills in a fresh random value, so that the same change can be
    /// proposed again later without its approvals being replayable.
    pub justification: Hash32,
}

/// What became of a submitted record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// It is in the chain at `seq`.
    Applied {
        /// Its position.
        seq: u64,
        /// Its hash.
        record_hash: Hash32,
    },
    /// It waits for more signatures ([`Governance::approve`]).
    Pending {
        /// Its record hash (administrators approve its proposal hash,
        /// [`PendingInfo::proposal_hash`], which survives rebasing).
        record_hash: Hash32,
        /// Signatures counted (see [`Tally::have_need`]).
        have: u8,
        /// Signatures needed.
        need: u8,
    },
}

/// A pending record as people see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingInfo {
    /// Its hash (what `alg` 1 signatures sign; it changes when the record
    /// is rebased).
    pub record_hash: Hash32,
    /// Its proposal hash (what approvals, `alg` 2, sign; it survives
    /// rebasing).
    pub proposal_hash: Hash32,
    /// The record, with the signatures it has.
    pub record: Record,
    /// Signatures counted (see [`Tally::have_need`]).
    pub have: u8,
    /// Signatures needed.
    pub need: u8,
    /// Each threshold it must meet.
    pub quorums: Vec<Quorum>,
    /// The distinct key ids with a valid signature.
    pub signed_by: Vec<u32>,
    /// Why it can no longer be applied, if it cannot.
    pub stale: Option<String>,
}

/// The service-facing handle on one scope's governance chain.
#[derive(Debug)]
pub struct Governance {
    sink: Arc<dyn GovernanceSink>,
    key: GovernanceKey,
    scope_id: Hash32,
    chain: Mutex<Chain>,
}

impl Governance {
    /// Opens the chain of `scope` kept in `sink`: loads and re-verifies
    /// every record from genesis, whose signer set must be signed by this
    /// server's key (derived from `server_seed`). An empty sink gets a
    /// genesis record: a signer set of the server's key alone, threshold 1
    /// for everything.
    ///
    /// # Errors
    ///
    /// The sink fails, a stored record does not verify, or the seed is
    /// refused.
    pub fn open(
        sink: Arc<dyn GovernanceSink>,
        server_seed: &[u8; 32],
        scope: &str,
        now_unix: u64,
    ) -> Result<Governance, GovError> {
        let key = GovernanceKey::from_seed(server_seed).map_err(GovError::Invalid)?;
        let scope_id = scope_id(scope);
        let gov = Governance {
            chain: Mutex::new(Chain::new(Some(scope_id), &[key.public_key()])),
            sink,
            key,
            scope_id,
        };
        {
            let mut chain = lock(&gov.chain);
            gov.catch_up(&mut chain)?;
            if chain.size() == 0 {
                let genesis = gov.genesis(now_unix)?;
                match gov.sink.append(0, &genesis) {
                    Ok(()) => {
                        chain.apply(&genesis).map_err(GovError::Rejected)?;
                    }
                    // Another server created it first.
                    Err(StoreError::Conflict) => gov.catch_up(&mut chain)?,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(gov)
    }

    fn genesis(&self, now: u64) -> Result<Vec<u8>, GovError> {
        let set = SignerSet::single(&self.key.public_key())
            .map_err(|e| GovError::Invalid(e.to_string()))?;
        let mut record = Record {
            record_type: RecordType::SignerSetChange,
            seq: 0,
            scope_id: self.scope_id,
            prev_hash: [0; 32],
            effective_at: now,
            subject: [0; 32],
            new_hash: set.id(),
            expected_old: [0; 32],
            justification: [0; 32],
            payload: set.encode(),
            signatures: Vec::new(),
        };
        let hash = record
            .hash()
            .map_err(|e| GovError::Invalid(e.to_string()))?;
        record.signatures.push(self.key.sign(&hash));
        record
            .encode()
            .map_err(|e| GovError::Invalid(e.to_string()))
    }

    /// The server's governance public key.
    #[must_use]
    pub fn server_public_key(&self) -> [u8; 32] {
        self.key.public_key()
    }

    /// The scope id of the chain.
    #[must_use]
    pub fn scope_id(&self) -> Hash32 {
        self.scope_id
    }

    /// Applies what other servers appended since this one last looked.
    fn catch_up(&self, chain: &mut Chain) -> Result<(), GovError> {
        loop {
            let from = chain.size();
            let batch = self.sink.read(from, READ_BATCH)?;
            if batch.is_empty() {
                return Ok(());
            }
            for (i, bytes) in batch.iter().enumerate() {
                chain.apply(bytes).map_err(|e| GovError::Corrupt {
                    seq: from + i as u64,
                    reason: e.to_string(),
                })?;
            }
        }
    }

    /// Builds the record of `change` on the current head, signed by the
    /// server when its key may sign it.
    fn build(&self, chain: &Chain, change: &Change, now: u64) -> Result<Record, GovError> {
        let mut record = Record {
            record_type: change.kind,
            seq: chain.size(),
            scope_id: self.scope_id,
            prev_hash: chain.head_hash(),
            effective_at: now.max(chain.last_effective()),
            subject: change.subject,
            new_hash: change.new_hash,
            expected_old: chain.bound(change.kind, &change.subject).unwrap_or([0; 32]),
            justification: change.justification,
            payload: change.payload.clone(),
            signatures: Vec::new(),
        };
        let hash = record
            .hash()
            .map_err(|e| GovError::Invalid(e.to_string()))?;
        let id = self.key.key_id();
        let member = chain.signer_set().is_some_and(|s| s.member(id).is_some())
            || (change.kind == RecordType::SignerSetChange
                && SignerSet::parse(&change.payload).is_ok_and(|s| s.member(id).is_some()));
        if member {
            record.signatures.push(self.key.sign(&hash));
        }
        Ok(record)
    }

    /// Submits a change: catches up with the sink, fills in seq, prev_hash,
    /// effective_at (`now`, or the previous record's if later) and
    /// expected_old (what the subject is bound to now), signs with the
    /// server key, and appends the record, or stores it pending when the
    /// signer set wants more signatures than the server's.
    ///
    /// # Errors
    ///
    /// The change breaks a rule, or the sink fails.
    pub fn submit(&self, change: Change, now: u64) -> Result<Submitted, GovError> {
        let mut chain = lock(&self.chain);
        self.submit_locked(&mut chain, &change, None, now)
    }

    /// As [`Governance::submit`], but only if `subject` is still bound to
    /// `expected_old` (zero: unbound): a caller that read the binding and
    /// decided from it does not overwrite a change made meanwhile.
    ///
    /// # Errors
    ///
    /// [`GovError::Stale`] when the binding changed; as `submit` otherwise.
    pub fn submit_expecting(
        &self,
        change: Change,
        expected_old: Hash32,
        now: u64,
    ) -> Result<Submitted, GovError> {
        let mut chain = lock(&self.chain);
        self.submit_locked(&mut chain, &change, Some(expected_old), now)
    }

    fn submit_locked(
        &self,
        chain: &mut Chain,
        change: &Change,
        expected_old: Option<Hash32>,
        now: u64,
    ) -> Result<Submitted, GovError> {
        let mut change = change.clone();
        if change.justification == [0; 32] {
            aws_lc_rs::rand::fill(&mut change.justification)
                .map_err(|_| GovError::Invalid("no random bytes for the justification".into()))?;
        }
        for attempt in 0..MAX_RETRIES {
            if attempt > 0 {
                back_off(attempt);
            }
            self.catch_up(chain)?;
            let record = self.build(chain, &change, now)?;
            if let Some(expected) = expected_old {
                if record.expected_old != expected {
                    return Err(GovError::Stale(ChainError::Cas {
                        current: record.expected_old,
                        expected_old: expected,
                    }));
                }
            }
            match self.offer(chain, &record)? {
                Some(done) => return Ok(done),
                None => continue,
            }
        }
        Err(GovError::Busy)
    }

    /// Appends `record` if it is complete, or stores it pending. `None`
    /// when another server appended at its seq first.
    fn offer(&self, chain: &mut Chain, record: &Record) -> Result<Option<Submitted>, GovError> {
        chain.check_fits(record).map_err(rule)?;
        let tally = chain.tally(record).map_err(GovError::Rejected)?;
        let hash = record
            .hash()
            .map_err(|e| GovError::Invalid(e.to_string()))?;
        let bytes = record
            .encode()
            .map_err(|e| GovError::Invalid(e.to_string()))?;
        if !tally.complete() {
            self.sink.put_pending(&hash, &bytes)?;
            let (have, need) = tally.have_need();
            return Ok(Some(Submitted::Pending {
                record_hash: hash,
                have,
                need,
            }));
        }
        match self.sink.append(record.seq, &bytes) {
            Ok(()) => {
                chain.apply(&bytes).map_err(|e| GovError::Corrupt {
                    seq: record.seq,
                    reason: e.to_string(),
                })?;
                Ok(Some(Submitted::Applied {
                    seq: record.seq,
                    record_hash: hash,
                }))
            }
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Submits a record built and signed elsewhere (say, a
    /// `SignerSetChange` signed by administrators offline): appended when
    /// its signatures meet the thresholds, stored pending when they do not
    /// yet.
    ///
    /// # Errors
    ///
    /// It does not parse, breaks a rule, carries a signature that does not
    /// verify, or no longer fits the head ([`GovError::Stale`]).
    pub fn submit_signed(&self, record_bytes: &[u8]) -> Result<Submitted, GovError> {
        let record =
            Record::parse(record_bytes).map_err(|e| GovError::Rejected(ChainError::Parse(e)))?;
        let mut chain = lock(&self.chain);
        self.catch_up(&mut chain)?;
        match self.offer(&mut chain, &record)? {
            Some(done) => Ok(done),
            None => {
                self.catch_up(&mut chain)?;
                Err(rule(chain.check_fits(&record).err().unwrap_or(
                    ChainError::Seq {
                        expected: chain.size(),
                        got: record.seq,
                    },
                )))
            }
        }
    }

    /// Adds the signature of `key_id` to the pending record named by `id`
    /// (its record hash or its proposal hash), after checking it; applies
    /// the record once it has enough. The signature is over the record hash
    /// (`alg` 1) or over the proposal hash (an approval, `alg` 2, which
    /// survives rebasing); which one is found by verifying it. A second
    /// signature by the same key changes nothing.
    ///
    /// A pending record that no longer fits the head only because of its
    /// position (another change landed first) but whose compare-and-swap
    /// still holds is rebased first (see [`Governance::pending`]).
    ///
    /// # Errors
    ///
    /// No such pending record, the key may not sign it, the signature does
    /// not verify, or the record can no longer be applied (its
    /// compare-and-swap fails or its proposal was carried out already:
    /// [`GovError::Stale`], and it is dropped from the pending records).
    pub fn approve(
        &self,
        id: &Hash32,
        key_id: u32,
        signature: &[u8],
    ) -> Result<Submitted, GovError> {
        for attempt in 0..MAX_RETRIES {
            if attempt > 0 {
                back_off(attempt);
            }
            if let Some(done) = self.approve_once(id, key_id, signature)? {
                return Ok(done);
            }
        }
        Err(GovError::Busy)
    }

    /// One try of [`Governance::approve`]: `None` when another server
    /// changed the pending record between reading and writing it (its
    /// approvals are then read again, so neither is lost).
    fn approve_once(
        &self,
        id: &Hash32,
        key_id: u32,
        signature: &[u8],
    ) -> Result<Option<Submitted>, GovError> {
        let mut chain = lock(&self.chain);
        self.catch_up(&mut chain)?;
        // With the bytes stored for it: what the write below must still find.
        let (record_hash, mut record, stored) = self
            .pending_stored(&chain)?
            .into_iter()
            .find(|(h, r, _)| h == id || r.proposal_hash().ok().as_ref() == Some(id))
            .ok_or(GovError::NotPending(*id))?;
        if record.signatures.iter().all(|s| s.key_id != key_id) {
            let with = |alg: u8| {
                let mut r = record.clone();
                r.signatures.push(Signature {
                    key_id,
                    alg,
                    sig: signature.to_vec(),
                });
                r.signatures.sort_by_key(|s| s.key_id);
                r
            };
            let over_record = with(record::ALG_ED25519);
            record = match chain.tally(&over_record) {
                Err(ChainError::BadSignature(bad)) if bad == key_id => {
                    with(record::ALG_ED25519_APPROVAL)
                }
                _ => over_record,
            };
        }
        self.seal(&mut record)?;
        // Checks the new signature (and every other) before anything is kept.
        let tally = chain.tally(&record).map_err(GovError::Rejected)?;
        if let Err(e) = chain.check_fits(&record) {
            if e.is_stale() {
                // It can never be applied: drop it.
                self.sink.remove_pending(&record_hash)?;
            }
            return Err(rule(e));
        }
        if !tally.complete() {
            let bytes = record
                .encode()
                .map_err(|e| GovError::Invalid(e.to_string()))?;
            match self.sink.swap_pending(&record_hash, Some(&stored), &bytes) {
                Ok(()) => {}
                Err(StoreError::Conflict) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
            let (have, need) = tally.have_need();
            return Ok(Some(Submitted::Pending {
                record_hash,
                have,
                need,
            }));
        }
        for attempt in 0..MAX_RETRIES {
            if attempt > 0 {
                back_off(attempt);
            }
            match self.offer(&mut chain, &record)? {
                Some(done) => {
                    let kept = matches!(done, Submitted::Pending { record_hash: h, .. } if h == record_hash);
                    if !kept {
                        self.sink.remove_pending(&record_hash)?;
                    }
                    return Ok(Some(done));
                }
                None => {
                    // Another server appended first: move it onto the new
                    // head if it still applies.
                    self.catch_up(&mut chain)?;
                    match self.rebase(&chain, &record) {
                        Some(moved) => record = moved,
                        None => {
                            let e = chain.check_fits(&record).err().unwrap_or(ChainError::Seq {
                                expected: chain.size(),
                                got: record.seq,
                            });
                            if e.is_stale() {
                                self.sink.remove_pending(&record_hash)?;
                            }
                            return Err(rule(e));
                        }
                    }
                }
            }
        }
        Err(GovError::Busy)
    }

    /// Signs the pending record named by `id` (its record hash or its
    /// proposal hash) with the server's key, over its current record hash,
    /// as [`Governance::approve`].
    ///
    /// # Errors
    ///
    /// As [`Governance::approve`].
    pub fn cosign(&self, id: &Hash32) -> Result<Submitted, GovError> {
        let record_hash = {
            let mut chain = lock(&self.chain);
            self.catch_up(&mut chain)?;
            self.pending_rebased(&chain)?
                .into_iter()
                .find(|(h, r)| h == id || r.proposal_hash().ok().as_ref() == Some(id))
                .map(|(h, _)| h)
                .ok_or(GovError::NotPending(*id))?
        };
        let signature = self.key.sign(&record_hash);
        self.approve(&record_hash, signature.key_id, &signature.sig)
    }

    /// Adds the server's signature over the record hash (`alg` 1) to a
    /// record that carries approvals but nothing that signs its position.
    fn seal(&self, record: &mut Record) -> Result<(), GovError> {
        if record.has_approvals()
            && record
                .signatures
                .iter()
                .all(|s| s.alg != record::ALG_ED25519)
        {
            let id = self.key.key_id();
            let hash = record
                .hash()
                .map_err(|e| GovError::Invalid(e.to_string()))?;
            record.signatures.retain(|s| s.key_id != id);
            record.signatures.push(self.key.sign(&hash));
            record.signatures.sort_by_key(|s| s.key_id);
        }
        Ok(())
    }

    /// `record` moved onto the head of `chain`, when it no longer fits only
    /// because of its position (seq, prev_hash, effective_at) and would fit
    /// there: the same change, at seq head+1 after the head's hash,
    /// effective when it was proposed or at the last record's time if that
    /// is later, with the approvals (`alg` 2) that still count and the
    /// server's signature (`alg` 1) when the server may sign it. `None`
    /// when it fits as it is or cannot be moved (its compare-and-swap
    /// fails, its proposal was carried out already, …).
    fn rebase(&self, chain: &Chain, record: &Record) -> Option<Record> {
        let err = chain.check_fits(record).err()?;
        if !err.is_position() {
            return None;
        }
        let mut moved = Record {
            seq: chain.size(),
            prev_hash: chain.head_hash(),
            effective_at: record.effective_at.max(chain.last_effective()),
            signatures: Vec::new(),
            ..record.clone()
        };
        if chain.check_fits(&moved).is_err() {
            return None;
        }
        for s in record
            .signatures
            .iter()
            .filter(|s| s.alg == record::ALG_ED25519_APPROVAL)
        {
            let alone = Record {
                signatures: vec![s.clone()],
                ..moved.clone()
            };
            if chain.tally(&alone).is_ok() && moved.signatures.iter().all(|m| m.key_id != s.key_id)
            {
                moved.signatures.push(s.clone());
            }
        }
        // The server signs the new position (counted when it is a member).
        let id = self.key.key_id();
        let hash = moved.hash().ok()?;
        moved.signatures.retain(|s| s.key_id != id);
        moved.signatures.push(self.key.sign(&hash));
        moved.signatures.sort_by_key(|s| s.key_id);
        // Checks that the proposal's approvals are not by now over the limit
        // of what a record can carry.
        moved.encode().ok()?;
        Some(moved)
    }

    /// The pending records with their hashes, each rebased onto the head of
    /// `chain` when it needs and allows it (the rebased record replaces the
    /// old one in the sink).
    fn pending_rebased(&self, chain: &Chain) -> Result<Vec<(Hash32, Record)>, GovError> {
        Ok(self
            .pending_stored(chain)?
            .into_iter()
            .map(|(hash, record, _)| (hash, record))
            .collect())
    }

    /// [`Governance::pending_rebased`], each with the bytes stored for it.
    fn pending_stored(&self, chain: &Chain) -> Result<Vec<(Hash32, Record, Vec<u8>)>, GovError> {
        let mut out = Vec::new();
        for (hash, bytes) in self.sink.pending()? {
            let Ok(record) = Record::parse(&bytes) else {
                continue;
            };
            match self.rebase(chain, &record) {
                Some(moved) => {
                    let new_hash = moved.hash().map_err(|e| GovError::Invalid(e.to_string()))?;
                    let encoded = moved
                        .encode()
                        .map_err(|e| GovError::Invalid(e.to_string()))?;
                    self.sink.put_pending(&new_hash, &encoded)?;
                    if new_hash != hash {
                        self.sink.remove_pending(&hash)?;
                    }
                    out.push((new_hash, moved, encoded));
                }
                None => out.push((hash, record, bytes)),
            }
        }
        Ok(out)
    }

    /// The pending records, each counted against the current head. A
    /// record that no longer fits only because other records landed first,
    /// and whose compare-and-swap still holds, is rebased onto the head
    /// (and stored so): it keeps its approvals over the proposal hash, and
    /// the server signs it again.
    ///
    /// # Errors
    ///
    /// The sink cannot be read or written.
    pub fn pending(&self) -> Result<Vec<PendingInfo>, GovError> {
        let mut chain = lock(&self.chain);
        self.catch_up(&mut chain)?;
        Ok(self
            .pending_rebased(&chain)?
            .into_iter()
            .map(|(hash, record)| pending_info(&chain, hash, record))
            .collect())
    }

    /// Publishes a policy document (the canonical bytes) of `kind`, once:
    /// its id. Publishing a published document again changes nothing.
    ///
    /// # Errors
    ///
    /// [`GovError::NeedsApproval`] when the signer set wants more than the
    /// server's signature (the record is pending); otherwise as
    /// [`Governance::submit`].
    pub fn publish(&self, kind: PolicyKind, document: &[u8], now: u64) -> Result<Hash32, GovError> {
        let id = policy_id(document);
        let mut chain = lock(&self.chain);
        self.catch_up(&mut chain)?;
        if chain.policy(&id).is_some() {
            return Ok(id);
        }
        for (hash, record) in self.pending_rebased(&chain)? {
            if record.record_type == RecordType::PolicyPublish
                && record.subject == id
                && chain.check_fits(&record).is_ok()
            {
                let info = pending_info(&chain, hash, record);
                return Err(GovError::NeedsApproval {
                    record_hash: hash,
                    have: info.have,
                    need: info.need,
                });
            }
        }
        let change = Change {
            kind: RecordType::PolicyPublish,
            subject: id,
            new_hash: id,
            payload: publish_payload(kind, document),
            justification: [0; 32],
        };
        match self.submit_locked(&mut chain, &change, None, now)? {
            Submitted::Applied { .. } => Ok(id),
            Submitted::Pending {
                record_hash,
                have,
                need,
            } => Err(GovError::NeedsApproval {
                record_hash,
                have,
                need,
            }),
        }
    }

    /// A published policy document: its kind and bytes.
    #[must_use]
    pub fn policy(&self, id: &Hash32) -> Option<(PolicyKind, Vec<u8>)> {
        lock(&self.chain).policy(id).map(|(k, d)| (k, d.to_vec()))
    }

    /// What `subject` is bound to in the namespace of `record_type`.
    #[must_use]
    pub fn bound(&self, record_type: RecordType, subject: &Hash32) -> Option<Hash32> {
        lock(&self.chain).bound(record_type, subject)
    }

    /// The number of records and the hash of the last.
    #[must_use]
    pub fn head(&self) -> (u64, Hash32) {
        let chain = lock(&self.chain);
        (chain.size(), chain.head_hash())
    }

    /// The governance log as a Merkle log: the number of records and the
    /// RFC 6962 root over their bytes, to name in ciphertexts and audit
    /// leaves.
    #[must_use]
    pub fn root(&self) -> (u64, Hash32) {
        let chain = lock(&self.chain);
        (chain.size(), chain.root())
    }

    /// Catches up with records other servers appended.
    ///
    /// # Errors
    ///
    /// The sink fails or a stored record does not verify.
    pub fn refresh(&self) -> Result<(u64, Hash32), GovError> {
        let mut chain = lock(&self.chain);
        self.catch_up(&mut chain)?;
        Ok((chain.size(), chain.head_hash()))
    }

    /// A copy of the chain's state.
    #[must_use]
    pub fn chain(&self) -> Chain {
        lock(&self.chain).clone()
    }
}

/// `record` (pending, with hash `hash`) counted against `chain`.
#[must_use]
pub fn pending_info(chain: &Chain, hash: Hash32, record: Record) -> PendingInfo {
    let stale = chain.check_fits(&record).err().map(|e| e.to_string());
    let (quorums, signed_by, stale) = match chain.tally(&record) {
        Ok(t) => (t.quorums, t.signed_by, stale),
        Err(e) => (Vec::new(), Vec::new(), Some(stale.unwrap_or(e.to_string()))),
    };
    let (have, need) = Tally {
        quorums: quorums.clone(),
        signed_by: Vec::new(),
        sealed: true,
    }
    .have_need();
    PendingInfo {
        record_hash: hash,
        proposal_hash: record.proposal_hash().unwrap_or([0; 32]),
        record,
        have,
        need,
        quorums,
        signed_by,
        stale,
    }
}
