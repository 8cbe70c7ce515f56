//! The audit leaf (`GAUD`, version 1): one fixed-size record per request,
//! allow, deny or error. The layout is the governance design's §6.5:
//!
//! ```text
//! off  len  field
//! 0    4    magic "GAUD"
//! 4    1    version = 1
//! 5    1    op (see `op_code`)
//! 6    1    decision: 0 Deny, 1 Allow, 2 Error
//! 7    1    reason (see `Reason`)
//! 8    8    time_ms          u64, big-endian
//! 16   16   request_id
//! 32   32   principal_commit HMAC-SHA-256(audit key, account || 0 || principal ARN)
//! 64   16   key_id           the key's 16 id bytes (zero if none)
//! 80   4    key_version      u32, big-endian (zero if none)
//! 84   32   ct_header_hash   zero until policy-bound ciphertext
//! 116  32   policy_hash      zero until data-use policies
//! 148  8    gov_size         zero until the governance log
//! 156  32   gov_root         zero until the governance log
//! 188  32   determining      SHA-256("kmsgov/determining" || decision message)
//! 220  32   context_commit   SHA-256("kmsgov/ctx" || salt || canonical request context)
//! 252  32   receipt_ref      zero until use receipts
//! 284  32   detail_ref       SHA-256 of the detail record
//! 316       end
//! ```

use kmsgov_authz::Operation;

/// The size of a leaf in bytes.
pub const LEAF_LEN: usize = 316;

const MAGIC: &[u8; 4] = b"GAUD";
const VERSION: u8 = 1;

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Denied by the authorization engine.
    Deny = 0,
    /// Allowed and carried out.
    Allow = 1,
    /// Answered with another error (validation, key state, ciphertext…).
    Error = 2,
}

/// Why (the design's reason codes, and 11 for any other error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Allowed and carried out.
    Ok = 0,
    /// An explicit deny statement.
    ExplicitDeny = 1,
    /// No statement allowed it.
    NoPermit = 2,
    /// The key is disabled, pending deletion or otherwise in the wrong state.
    KeyState = 7,
    /// The ciphertext or its encryption context did not match.
    ContextMismatch = 9,
    /// The audit log could not be written (a leaf that records this is
    /// written when the log is back).
    AuditUnavailable = 10,
    /// Any other error: validation, not found, limits, internal faults.
    OtherError = 11,
}

impl Reason {
    fn from_code(code: u8) -> Option<Reason> {
        Some(match code {
            0 => Reason::Ok,
            1 => Reason::ExplicitDeny,
            2 => Reason::NoPermit,
            7 => Reason::KeyState,
            9 => Reason::ContextMismatch,
            10 => Reason::AuditUnavailable,
            11 => Reason::OtherError,
            _ => return None,
        })
    }
}

/// The op byte: the design's codes for the data operations (1 Encrypt,
/// 2 Decrypt, 3 GenerateDataKey, 4 ReEncrypt, 5 Sign, 6 Verify; 7–10 are
/// kept for governance), and 32 plus the operation's position in
/// [`Operation::ALL`] for every other KMS operation.
#[must_use]
pub fn op_code(operation: Operation) -> u8 {
    match operation {
        Operation::Encrypt => 1,
        Operation::Decrypt => 2,
        Operation::GenerateDataKey => 3,
        Operation::ReEncrypt => 4,
        Operation::Sign => 5,
        Operation::Verify => 6,
        other => Operation::ALL
            .iter()
            .position(|o| *o == other)
            .and_then(|i| u8::try_from(i + 32).ok())
            .unwrap_or(u8::MAX),
    }
}

/// The operation an op byte names, when it names one.
#[must_use]
pub fn operation_of(code: u8) -> Option<Operation> {
    match code {
        1 => Some(Operation::Encrypt),
        2 => Some(Operation::Decrypt),
        3 => Some(Operation::GenerateDataKey),
        4 => Some(Operation::ReEncrypt),
        5 => Some(Operation::Sign),
        6 => Some(Operation::Verify),
        32.. => Operation::ALL.get(usize::from(code - 32)).copied(),
        _ => None,
    }
}

/// kmsgov's own operations, served beside the KMS API (target prefix
/// `KmsGov.`) and authorized as the IAM actions `kmsgov:<Name>` on `*`: the
/// audit log's, and the engine's decision for a described request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOperation {
    /// The latest signed checkpoint.
    GetCheckpoint,
    /// Evidence that one entry is in the log.
    GetInclusionProof,
    /// Proof that an earlier tree is a prefix of the current one.
    GetConsistencyProof,
    /// The engine's decision, with its path, for a request described in the
    /// body (`principal`, `operation`, `input`, `context`), decided against
    /// the service's current state and carried out on nothing.
    Evaluate,
    /// Publishes a data-use policy in the governance records.
    PublishPolicy,
    /// A published policy document, by id.
    GetPolicy,
    /// Binds (or clears) a key's default data-use policy.
    SetKeyDataPolicy,
    /// The governance records' size, Merkle root, head and keys.
    GetGovernanceHead,
    /// Governance records waiting for signatures.
    ListPendingChanges,
    /// Adds a signer's signature to a pending record.
    ApproveChange,
    /// Submits a record built and signed elsewhere (a signer-set change).
    SubmitRecord,
}

impl AuditOperation {
    /// Every audit operation.
    pub const ALL: [AuditOperation; 11] = [
        AuditOperation::GetCheckpoint,
        AuditOperation::GetInclusionProof,
        AuditOperation::GetConsistencyProof,
        AuditOperation::Evaluate,
        AuditOperation::PublishPolicy,
        AuditOperation::GetPolicy,
        AuditOperation::SetKeyDataPolicy,
        AuditOperation::GetGovernanceHead,
        AuditOperation::ListPendingChanges,
        AuditOperation::ApproveChange,
        AuditOperation::SubmitRecord,
    ];

    /// Whether it is one of the governance operations (answered from the
    /// governance records rather than the audit log).
    #[must_use]
    pub fn is_governance(self) -> bool {
        self.op_code() >= 20
    }

    /// The operation's name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            AuditOperation::GetCheckpoint => "GetCheckpoint",
            AuditOperation::GetInclusionProof => "GetInclusionProof",
            AuditOperation::GetConsistencyProof => "GetConsistencyProof",
            AuditOperation::Evaluate => "Evaluate",
            AuditOperation::PublishPolicy => "PublishPolicy",
            AuditOperation::GetPolicy => "GetPolicy",
            AuditOperation::SetKeyDataPolicy => "SetKeyDataPolicy",
            AuditOperation::GetGovernanceHead => "GetGovernanceHead",
            AuditOperation::ListPendingChanges => "ListPendingChanges",
            AuditOperation::ApproveChange => "ApproveChange",
            AuditOperation::SubmitRecord => "SubmitRecord",
        }
    }

    /// The operation named `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<AuditOperation> {
        AuditOperation::ALL.into_iter().find(|o| o.name() == name)
    }

    /// The IAM action that authorizes it.
    #[must_use]
    pub fn action(self) -> String {
        format!("kmsgov:{}", self.name())
    }

    /// Its op byte in leaves: 16 to 19 for the audit operations and
    /// Evaluate, 20 to 26 for the governance operations.
    #[must_use]
    pub fn op_code(self) -> u8 {
        match self {
            AuditOperation::GetCheckpoint => 16,
            AuditOperation::GetInclusionProof => 17,
            AuditOperation::GetConsistencyProof => 18,
            AuditOperation::Evaluate => 19,
            AuditOperation::PublishPolicy => 20,
            AuditOperation::GetPolicy => 21,
            AuditOperation::SetKeyDataPolicy => 22,
            AuditOperation::GetGovernanceHead => 23,
            AuditOperation::ListPendingChanges => 24,
            AuditOperation::ApproveChange => 25,
            AuditOperation::SubmitRecord => 26,
        }
    }
}

/// The name of the operation an op byte names, KMS's or kmsgov's own.
#[must_use]
pub fn op_name(code: u8) -> Option<&'static str> {
    operation_of(code).map(Operation::name).or_else(|| {
        AuditOperation::ALL
            .into_iter()
            .find(|o| o.op_code() == code)
            .map(AuditOperation::name)
    })
}

/// A decoded leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// The op byte.
    pub op: u8,
    /// What became of the request.
    pub verdict: Verdict,
    /// Why.
    pub reason: Reason,
    /// When, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The request id.
    pub request_id: [u8; 16],
    /// The keyed commitment to the caller.
    pub principal_commit: [u8; 32],
    /// The key's id bytes, zero when the request named none.
    pub key_id: [u8; 16],
    /// The key version, zero when unknown.
    pub key_version: u32,
    /// The ciphertext header hash (zero until policy-bound ciphertext).
    pub ct_header_hash: [u8; 32],
    /// The bound data-use policy (zero until data-use policies).
    pub policy_hash: [u8; 32],
    /// The governance log size the decision used (zero until that log).
    pub gov_size: u64,
    /// The governance log root the decision used (zero until that log).
    pub gov_root: [u8; 32],
    /// A digest of what decided.
    pub determining: [u8; 32],
    /// The salted commitment to the request context.
    pub context_commit: [u8; 32],
    /// The receipt's revocation id digest (zero until use receipts).
    pub receipt_ref: [u8; 32],
    /// SHA-256 of the detail record.
    pub detail_ref: [u8; 32],
}

/// Why bytes are not a leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeafError {
    /// Not 316 bytes.
    Length(usize),
    /// Not `GAUD`.
    Magic,
    /// A version this build does not read.
    Version(u8),
    /// A decision byte other than 0, 1 or 2.
    Decision(u8),
    /// An unknown reason code.
    Reason(u8),
}

impl std::fmt::Display for LeafError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeafError::Length(n) => write!(f, "a leaf is {LEAF_LEN} bytes, not {n}"),
            LeafError::Magic => f.write_str("no GAUD magic"),
            LeafError::Version(v) => write!(f, "unknown leaf version {v}"),
            LeafError::Decision(d) => write!(f, "unknown decision byte {d}"),
            LeafError::Reason(r) => write!(f, "unknown reason code {r}"),
        }
    }
}

impl std::error::Error for LeafError {}

impl Leaf {
    /// The 316 bytes of the leaf.
    #[must_use]
    pub fn encode(&self) -> [u8; LEAF_LEN] {
        let mut out = [0u8; LEAF_LEN];
        let mut w = Writer {
            out: &mut out,
            at: 0,
        };
        w.put(MAGIC);
        w.put(&[VERSION, self.op, self.verdict as u8, self.reason as u8]);
        w.put(&self.time_ms.to_be_bytes());
        w.put(&self.request_id);
        w.put(&self.principal_commit);
        w.put(&self.key_id);
        w.put(&self.key_version.to_be_bytes());
        w.put(&self.ct_header_hash);
        w.put(&self.policy_hash);
        w.put(&self.gov_size.to_be_bytes());
        w.put(&self.gov_root);
        w.put(&self.determining);
        w.put(&self.context_commit);
        w.put(&self.receipt_ref);
        w.put(&self.detail_ref);
        out
    }

    /// Parses a leaf.
    ///
    /// # Errors
    ///
    /// The bytes are not a version 1 leaf.
    pub fn decode(bytes: &[u8]) -> Result<Leaf, LeafError> {
        let bytes: &[u8; LEAF_LEN] = bytes
            .try_into()
            .map_err(|_| LeafError::Length(bytes.len()))?;
        let mut r = Reader { bytes, at: 0 };
        if r.take::<4>() != *MAGIC {
            return Err(LeafError::Magic);
        }
        let [version, op, decision, reason] = r.take::<4>();
        if version != VERSION {
            return Err(LeafError::Version(version));
        }
        let verdict = match decision {
            0 => Verdict::Deny,
            1 => Verdict::Allow,
            2 => Verdict::Error,
            d => return Err(LeafError::Decision(d)),
        };
        let reason = Reason::from_code(reason).ok_or(LeafError::Reason(reason))?;
        Ok(Leaf {
            op,
            verdict,
            reason,
            time_ms: u64::from_be_bytes(r.take()),
            request_id: r.take(),
            principal_commit: r.take(),
            key_id: r.take(),
            key_version: u32::from_be_bytes(r.take()),
            ct_header_hash: r.take(),
            policy_hash: r.take(),
            gov_size: u64::from_be_bytes(r.take()),
            gov_root: r.take(),
            determining: r.take(),
            context_commit: r.take(),
            receipt_ref: r.take(),
            detail_ref: r.take(),
        })
    }
}

struct Writer<'a> {
    out: &'a mut [u8; LEAF_LEN],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        if let Some(slot) = self.out.get_mut(self.at..self.at + bytes.len()) {
            slot.copy_from_slice(bytes);
        }
        self.at += bytes.len();
    }
}

struct Reader<'a> {
    bytes: &'a [u8; LEAF_LEN],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(slice) = self.bytes.get(self.at..self.at + N) {
            out.copy_from_slice(slice);
        }
        self.at += N;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_codes_name_every_operation_once() {
        let mut seen = std::collections::HashSet::new();
        for op in Operation::ALL {
            let code = op_code(*op);
            assert_ne!(code, u8::MAX, "{op:?}");
            assert!(seen.insert(code), "{op:?} shares code {code}");
            assert_eq!(operation_of(code), Some(*op));
        }
        assert_eq!(operation_of(0), None);
        assert_eq!(operation_of(7), None);
        for op in AuditOperation::ALL {
            assert!(seen.insert(op.op_code()), "{op:?}");
            assert_eq!(op_name(op.op_code()), Some(op.name()));
            assert_eq!(AuditOperation::from_name(op.name()), Some(op));
        }
    }
}
