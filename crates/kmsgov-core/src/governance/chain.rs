//! The chain state machine: applies records in order, checking each one
//! against the state the records before it built, and keeps that state.
//!
//! Pure and in memory: no I/O, no clock. [`Chain::apply`] accepts a record
//! only when
//!
//! - it parses, and its scope is the chain's;
//! - `seq` is the head's plus one and `prev_hash` the head's hash (seq 0
//!   with a zero `prev_hash` at genesis, which must be a `SignerSetChange`);
//! - `effective_at` is not before the previous record's;
//! - `expected_old` is what `subject` is bound to in the record type's
//!   namespace (zero when unbound): compare-and-swap;
//! - its payload is valid for its type (a signer set for
//!   `SignerSetChange`, whose id is `new_hash`; a kind byte and a policy
//!   document whose id is `new_hash` for `PolicyPublish`);
//! - if it carries approvals (signatures over the proposal hash), no
//!   applied record had that proposal hash (no replay);
//! - a record carrying approvals also carries a signature over its record
//!   hash (by a member or a pinned key), so that its position is signed;
//! - every signature on it verifies (over the record hash, or over the
//!   proposal hash for an approval), by a key allowed to sign it, and the
//!   distinct signers meet the threshold of the current signer set for its
//!   type (for a `SignerSetChange`, the old set's *and* the new set's
//!   `SignerSetChange` threshold; at genesis, the new set's, from pinned
//!   keys when the chain has pins).

use std::collections::{BTreeMap, BTreeSet};

use super::record::{Hash32, Record, RecordError, RecordType, ALG_ED25519_APPROVAL};
use super::signer_set::{key_id, verify_signature, SignerSet};
use crate::merkle::{self, CompactRange};

/// The domain label of policy ids (as [`crate::canonical::policy_id`]).
const POLICY_ID_LABEL: &[u8] = b"kmsgov/policy/v1\0";

/// What a published policy document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum PolicyKind {
    /// A key policy (canonical JSON).
    KeyPolicy = 1,
    /// An identity policy (canonical JSON).
    IdentityPolicy = 2,
    /// A guardrail (canonical JSON).
    Guardrail = 3,
    /// A data-use policy.
    DataUsePolicy = 4,
    /// A signer set.
    SignerSet = 5,
}

impl PolicyKind {
    /// The kind with this code byte.
    #[must_use]
    pub fn from_code(code: u8) -> Option<PolicyKind> {
        [
            PolicyKind::KeyPolicy,
            PolicyKind::IdentityPolicy,
            PolicyKind::Guardrail,
            PolicyKind::DataUsePolicy,
            PolicyKind::SignerSet,
        ]
        .into_iter()
        .find(|k| *k as u8 == code)
    }

    /// The code byte.
    #[must_use]
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Whether documents of this kind must be canonical JSON (RFC 8785).
    #[must_use]
    pub fn is_json(self) -> bool {
        matches!(
            self,
            PolicyKind::KeyPolicy | PolicyKind::IdentityPolicy | PolicyKind::Guardrail
        )
    }
}

/// The id of a policy document: SHA-256 over `kmsgov/policy/v1`, a zero
/// byte and the document (for JSON documents, the same bytes as
/// [`crate::canonical::policy_id`] writes in hex).
#[must_use]
pub fn policy_id(document: &[u8]) -> Hash32 {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    context.update(POLICY_ID_LABEL);
    context.update(document);
    super::record::to_hash(context.finish().as_ref())
}

/// The payload of a `PolicyPublish` record: the kind byte, then the document.
#[must_use]
pub fn publish_payload(kind: PolicyKind, document: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(1 + document.len());
    payload.push(kind.code());
    payload.extend_from_slice(document);
    payload
}

/// Why a record does not fit the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChainError {
    /// The bytes are not a record.
    Parse(RecordError),
    /// The record is for another scope.
    WrongScope,
    /// `seq` is not the next position.
    Seq {
        /// The next position.
        expected: u64,
        /// The record's.
        got: u64,
    },
    /// `prev_hash` is not the head's hash.
    PrevHash,
    /// `effective_at` is before the previous record's.
    Backdated {
        /// The previous record's.
        previous: u64,
        /// The record's.
        got: u64,
    },
    /// `expected_old` is not what the subject is bound to (compare-and-swap).
    Cas {
        /// What the subject is bound to (zero when unbound).
        current: Hash32,
        /// The record's `expected_old`.
        expected_old: Hash32,
    },
    /// The first record is not a `SignerSetChange`.
    GenesisNotSignerSet,
    /// The payload or `new_hash` is not valid for the record's type.
    Payload(String),
    /// A signature by a key that may not sign this record.
    UnknownSigner(u32),
    /// A signature that does not verify.
    BadSignature(u32),
    /// The record carries approvals over a proposal hash that an applied
    /// record already carried out (a replay).
    Replayed(Hash32),
    /// The record carries approvals (over the proposal hash, which does not
    /// cover its position) but no signature over its record hash.
    Unsealed,
    /// Too few distinct signers.
    Quorum {
        /// Whose threshold (`the current signer set`, `the new signer set`).
        set: &'static str,
        /// Distinct valid signers from that set.
        have: u8,
        /// Its threshold.
        need: u8,
    },
}

impl ChainError {
    /// Whether the record was valid for an earlier state of the chain but no
    /// longer fits it (its seq, previous hash or expected old value is out
    /// of date, or its proposal was carried out already): it can never be
    /// applied as it is.
    #[must_use]
    pub fn is_stale(&self) -> bool {
        matches!(
            self,
            ChainError::Seq { .. }
                | ChainError::PrevHash
                | ChainError::Cas { .. }
                | ChainError::Replayed(_)
        )
    }

    /// Whether the record breaks only a rule about its position in the
    /// chain (seq, prev_hash, effective_at), which rebasing it mends.
    #[must_use]
    pub fn is_position(&self) -> bool {
        matches!(
            self,
            ChainError::Seq { .. } | ChainError::PrevHash | ChainError::Backdated { .. }
        )
    }
}

impl std::fmt::Display for ChainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainError::Parse(e) => write!(f, "unreadable record: {e}"),
            ChainError::WrongScope => f.write_str("the record is for another scope"),
            ChainError::Seq { expected, got } => {
                write!(f, "seq {got}, but the next record is seq {expected}")
            }
            ChainError::PrevHash => f.write_str("prev_hash is not the hash of the record before"),
            ChainError::Backdated { previous, got } => write!(
                f,
                "effective_at {got} is before the previous record's {previous}"
            ),
            ChainError::Cas {
                current,
                expected_old,
            } => write!(
                f,
                "compare-and-swap failed: the subject is bound to {}, the record expects {}",
                hex(current),
                hex(expected_old)
            ),
            ChainError::GenesisNotSignerSet => {
                f.write_str("the first record is not a SignerSetChange")
            }
            ChainError::Payload(m) => write!(f, "invalid payload: {m}"),
            ChainError::UnknownSigner(id) => {
                write!(f, "signature by key {id:08x}, which may not sign it")
            }
            ChainError::BadSignature(id) => {
                write!(f, "the signature by key {id:08x} does not verify")
            }
            ChainError::Replayed(p) => write!(
                f,
                "the approvals are over proposal {}, which an earlier record already carried out",
                hex(p)
            ),
            ChainError::Unsealed => {
                f.write_str("the record carries approvals but no signature over its record hash")
            }
            ChainError::Quorum { set, have, need } => {
                write!(f, "{have} of the {need} signatures {set} requires")
            }
        }
    }
}

impl std::error::Error for ChainError {}

/// Lowercase hex of bytes.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    crate::crypto::hex(bytes)
}

/// One threshold a record must meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quorum {
    /// Whose (`the current signer set`, `the new signer set`).
    pub set: &'static str,
    /// Distinct valid signers from that set.
    pub have: u8,
    /// The threshold.
    pub need: u8,
}

/// The signatures of a record counted against the thresholds it must meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Each threshold (two for a `SignerSetChange` after genesis).
    pub quorums: Vec<Quorum>,
    /// The distinct key ids of signer set members with a valid signature.
    pub signed_by: Vec<u32>,
    /// Whether the record's position is signed: it carries no approvals
    /// (`alg` 2), or also a valid signature over its record hash (`alg` 1,
    /// by a member or a pinned key).
    pub sealed: bool,
}

impl Tally {
    /// Whether every threshold is met and the position is signed.
    #[must_use]
    pub fn complete(&self) -> bool {
        self.sealed && self.quorums.iter().all(|q| q.have >= q.need)
    }

    /// The signatures counted, summed over the thresholds (each capped at
    /// its threshold), and the signatures needed in all.
    #[must_use]
    pub fn have_need(&self) -> (u8, u8) {
        self.quorums.iter().fold((0u8, 0u8), |(h, n), q| {
            (
                h.saturating_add(q.have.min(q.need)),
                n.saturating_add(q.need),
            )
        })
    }

    fn first_short(&self) -> Option<ChainError> {
        if !self.sealed {
            return Some(ChainError::Unsealed);
        }
        self.quorums
            .iter()
            .find(|q| q.have < q.need)
            .map(|q| ChainError::Quorum {
                set: q.set,
                have: q.have,
                need: q.need,
            })
    }
}

/// The state the records of one chain built.
#[derive(Debug, Clone)]
pub struct Chain {
    /// The scope; `None` until genesis when not given.
    scope_id: Option<Hash32>,
    /// Keys trusted to sign genesis (empty: any genesis).
    pins: Vec<[u8; 32]>,
    size: u64,
    head_hash: Hash32,
    last_effective: u64,
    signer_set: Option<SignerSet>,
    bindings: BTreeMap<(RecordType, Hash32), Hash32>,
    policies: BTreeMap<Hash32, (PolicyKind, Vec<u8>)>,
    /// The proposal hashes of the applied records.
    proposals: BTreeSet<Hash32>,
    merkle: CompactRange,
}

impl Chain {
    /// An empty chain of scope `scope_id` (`None`: whatever genesis says)
    /// whose genesis must be signed by `pins` (empty: by anyone, as long as
    /// it meets its own threshold).
    #[must_use]
    pub fn new(scope_id: Option<Hash32>, pins: &[[u8; 32]]) -> Chain {
        Chain {
            scope_id,
            pins: pins.to_vec(),
            size: 0,
            head_hash: [0; 32],
            last_effective: 0,
            signer_set: None,
            bindings: BTreeMap::new(),
            policies: BTreeMap::new(),
            proposals: BTreeSet::new(),
            merkle: CompactRange::new(),
        }
    }

    /// The number of records applied.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The hash of the last record (zero when empty).
    #[must_use]
    pub fn head_hash(&self) -> Hash32 {
        self.head_hash
    }

    /// The scope, once known.
    #[must_use]
    pub fn scope_id(&self) -> Option<Hash32> {
        self.scope_id
    }

    /// The `effective_at` of the last record.
    #[must_use]
    pub fn last_effective(&self) -> u64 {
        self.last_effective
    }

    /// The current signer set (none before genesis).
    #[must_use]
    pub fn signer_set(&self) -> Option<&SignerSet> {
        self.signer_set.as_ref()
    }

    /// The RFC 6962 root over the records' bytes as leaves.
    #[must_use]
    pub fn root(&self) -> Hash32 {
        self.merkle.root()
    }

    /// A published policy document: its kind and bytes.
    #[must_use]
    pub fn policy(&self, id: &Hash32) -> Option<(PolicyKind, &[u8])> {
        self.policies.get(id).map(|(k, d)| (*k, d.as_slice()))
    }

    /// What `subject` is bound to in the namespace of `record_type`.
    #[must_use]
    pub fn bound(&self, record_type: RecordType, subject: &Hash32) -> Option<Hash32> {
        self.bindings.get(&(record_type, *subject)).copied()
    }

    /// Whether an applied record had this proposal hash.
    #[must_use]
    pub fn proposal_applied(&self, proposal_hash: &Hash32) -> bool {
        self.proposals.contains(proposal_hash)
    }

    /// Every binding: (type, subject) → value.
    pub fn bindings(&self) -> impl Iterator<Item = (RecordType, &Hash32, &Hash32)> {
        self.bindings.iter().map(|((t, s), v)| (*t, s, v))
    }

    /// Checks that `record` fits the head of the chain: everything but the
    /// signatures.
    ///
    /// # Errors
    ///
    /// The first rule it breaks.
    pub fn check_fits(&self, record: &Record) -> Result<(), ChainError> {
        if let Some(scope) = self.scope_id {
            if record.scope_id != scope {
                return Err(ChainError::WrongScope);
            }
        }
        if record.seq != self.size {
            return Err(ChainError::Seq {
                expected: self.size,
                got: record.seq,
            });
        }
        if record.prev_hash != self.head_hash {
            return Err(ChainError::PrevHash);
        }
        if record.effective_at < self.last_effective {
            return Err(ChainError::Backdated {
                previous: self.last_effective,
                got: record.effective_at,
            });
        }
        if self.size == 0 && record.record_type != RecordType::SignerSetChange {
            return Err(ChainError::GenesisNotSignerSet);
        }
        let current = self
            .bound(record.record_type, &record.subject)
            .unwrap_or([0; 32]);
        if record.expected_old != current {
            return Err(ChainError::Cas {
                current,
                expected_old: record.expected_old,
            });
        }
        check_payload(record)?;
        if record.has_approvals() {
            let proposal = record.proposal_hash().map_err(ChainError::Parse)?;
            if self.proposals.contains(&proposal) {
                return Err(ChainError::Replayed(proposal));
            }
        }
        Ok(())
    }

    /// Counts the signatures of `record` against the thresholds it must
    /// meet. Every signature must verify and be by a key allowed to sign.
    ///
    /// # Errors
    ///
    /// A signature does not verify or is by a key that may not sign, or the
    /// payload of a `SignerSetChange` is not a signer set.
    pub fn tally(&self, record: &Record) -> Result<Tally, ChainError> {
        let hash = record.hash().map_err(ChainError::Parse)?;
        let proposal = record.proposal_hash().map_err(ChainError::Parse)?;
        let new_set = if record.record_type == RecordType::SignerSetChange {
            Some(
                SignerSet::parse(&record.payload)
                    .map_err(|e| ChainError::Payload(e.to_string()))?,
            )
        } else {
            None
        };
        let mut signed_by = Vec::new();
        let mut sealed = !record.has_approvals();
        for s in &record.signatures {
            let member = self
                .signer_set
                .as_ref()
                .and_then(|set| set.member(s.key_id))
                .or_else(|| new_set.as_ref().and_then(|set| set.member(s.key_id)));
            // A pinned key (the server's) that is not a member may still
            // sign a record's position: it seals it, but does not count.
            let pinned = || {
                (s.alg != ALG_ED25519_APPROVAL)
                    .then(|| self.pins.iter().find(|p| key_id(p) == s.key_id))
                    .flatten()
            };
            let key = member
                .or_else(pinned)
                .ok_or(ChainError::UnknownSigner(s.key_id))?;
            let message = if s.alg == ALG_ED25519_APPROVAL {
                &proposal
            } else {
                &hash
            };
            if !verify_signature(key, message, &s.sig) {
                return Err(ChainError::BadSignature(s.key_id));
            }
            if s.alg != ALG_ED25519_APPROVAL {
                sealed = true;
            }
            if member.is_some() {
                signed_by.push(s.key_id);
            }
        }
        signed_by.sort_unstable();
        signed_by.dedup();
        let count = |set: &SignerSet, only_pinned: bool| -> u8 {
            let n = signed_by
                .iter()
                .filter(|id| set.member(**id).is_some())
                .filter(|id| !only_pinned || self.pins.iter().any(|p| key_id(p) == **id))
                .count();
            u8::try_from(n).unwrap_or(u8::MAX)
        };
        let mut quorums = Vec::new();
        if let Some(current) = &self.signer_set {
            quorums.push(Quorum {
                set: "the current signer set",
                have: count(current, false),
                need: current.threshold(record.record_type),
            });
        }
        if let Some(new_set) = &new_set {
            let genesis = self.signer_set.is_none();
            quorums.push(Quorum {
                set: if genesis && !self.pins.is_empty() {
                    "the genesis signer set (from pinned keys)"
                } else {
                    "the new signer set"
                },
                have: count(new_set, genesis && !self.pins.is_empty()),
                need: new_set.threshold(RecordType::SignerSetChange),
            });
        }
        Ok(Tally {
            quorums,
            signed_by,
            sealed,
        })
    }

    /// Applies the encoded record `bytes`: its hash.
    ///
    /// # Errors
    ///
    /// It does not parse or breaks a rule; the chain is unchanged.
    pub fn apply(&mut self, bytes: &[u8]) -> Result<Hash32, ChainError> {
        let record = Record::parse(bytes).map_err(ChainError::Parse)?;
        self.apply_record(&record, bytes)
    }

    /// Applies a parsed record whose encoding is `bytes`.
    fn apply_record(&mut self, record: &Record, bytes: &[u8]) -> Result<Hash32, ChainError> {
        self.check_fits(record)?;
        let tally = self.tally(record)?;
        if let Some(short) = tally.first_short() {
            return Err(short);
        }
        let hash = record.hash().map_err(ChainError::Parse)?;
        let proposal = record.proposal_hash().map_err(ChainError::Parse)?;
        match record.record_type {
            RecordType::SignerSetChange => {
                let set = SignerSet::parse(&record.payload)
                    .map_err(|e| ChainError::Payload(e.to_string()))?;
                self.signer_set = Some(set);
            }
            RecordType::PolicyPublish => {
                let (kind, document) = split_publish(&record.payload)?;
                self.policies
                    .insert(record.new_hash, (kind, document.to_vec()));
            }
            _ => {}
        }
        self.bindings
            .insert((record.record_type, record.subject), record.new_hash);
        if self.scope_id.is_none() {
            self.scope_id = Some(record.scope_id);
        }
        self.proposals.insert(proposal);
        self.size += 1;
        self.head_hash = hash;
        self.last_effective = record.effective_at;
        self.merkle.push(merkle::leaf_hash(bytes));
        Ok(hash)
    }
}

/// The kind and document of a `PolicyPublish` payload.
fn split_publish(payload: &[u8]) -> Result<(PolicyKind, &[u8]), ChainError> {
    let (code, document) = payload
        .split_first()
        .ok_or_else(|| ChainError::Payload("a PolicyPublish payload with no kind byte".into()))?;
    let kind = PolicyKind::from_code(*code)
        .ok_or_else(|| ChainError::Payload(format!("unknown policy kind {code}")))?;
    Ok((kind, document))
}

/// Checks the payload and `new_hash` of the types whose payload the chain
/// reads.
fn check_payload(record: &Record) -> Result<(), ChainError> {
    match record.record_type {
        RecordType::SignerSetChange => {
            let set = SignerSet::parse(&record.payload)
                .map_err(|e| ChainError::Payload(e.to_string()))?;
            if record.subject != [0; 32] {
                return Err(ChainError::Payload(
                    "a SignerSetChange's subject must be zero".into(),
                ));
            }
            if record.new_hash != set.id() {
                return Err(ChainError::Payload(
                    "new_hash is not the id of the signer set in the payload".into(),
                ));
            }
        }
        RecordType::PolicyPublish => {
            let (kind, document) = split_publish(&record.payload)?;
            let id = policy_id(document);
            if record.new_hash != id || record.subject != id {
                return Err(ChainError::Payload(
                    "a PolicyPublish's subject and new_hash must be the document's policy id"
                        .into(),
                ));
            }
            if kind.is_json() && !is_canonical_json(document) {
                return Err(ChainError::Payload(
                    "the document is not canonical JSON (RFC 8785)".into(),
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

fn is_canonical_json(document: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(document)
        .ok()
        .and_then(|v| crate::canonical::canonicalize(&v).ok())
        .is_some_and(|c| c.as_bytes() == document)
}
