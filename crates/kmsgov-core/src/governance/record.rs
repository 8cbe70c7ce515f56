//! The governance record (v1, "GGOV"): a fixed-width, big-endian binary
//! encoding with one encoding per record, so that its hash names it.
//!
//! ```text
//! off    len  field
//! 0      4    magic "GGOV"
//! 4      1    version = 1
//! 5      1    type (RecordType)
//! 6      8    seq            u64
//! 14     32   scope_id
//! 46     32   prev_hash
//! 78     8    effective_at   u64 unix seconds
//! 86     32   subject
//! 118    32   new_hash
//! 150    32   expected_old
//! 182    32   justification
//! 214    4    payload_len    u32 (at most 65536)
//! 218    p    payload
//! 218+p  1    sig_count
//! ...         sig_count × [ key_id u32 | alg u8 | sig_len u16 | sig ]
//! record_hash = SHA-256("kmsgov/gov/v1" || bytes[0 .. 218+p])
//! proposal_hash = SHA-256("kmsgov/gov/proposal/v1" || type u8 || scope_id
//!                 || subject || new_hash || expected_old || justification
//!                 || payload_len u32 || payload)
//! ```
//!
//! A signature of `alg` 1 ("Ed25519") signs the record hash; one of `alg` 2
//! ("Ed25519 approval") signs the proposal hash, which names what the record
//! changes but not where it sits in the chain (no seq, prev_hash or
//! effective_at), so an approval survives the record being rebased.

use aws_lc_rs::digest::{Context, SHA256};

/// The record magic.
pub const MAGIC: &[u8; 4] = b"GGOV";
/// The only record version.
pub const VERSION: u8 = 1;
/// The length of the fixed header, up to the payload.
pub const HEADER_LEN: usize = 218;
/// The largest payload.
pub const MAX_PAYLOAD: usize = 64 * 1024;
/// The signature algorithm byte of Ed25519.
pub const ALG_ED25519: u8 = 1;
/// The signature algorithm byte of an Ed25519 approval: a signature over
/// the proposal hash rather than the record hash.
pub const ALG_ED25519_APPROVAL: u8 = 2;
/// The length of an Ed25519 signature.
pub const ED25519_SIG_LEN: usize = 64;
/// The domain label of record hashes.
const RECORD_HASH_LABEL: &[u8] = b"kmsgov/gov/v1";
/// The domain label of proposal hashes.
const PROPOSAL_HASH_LABEL: &[u8] = b"kmsgov/gov/proposal/v1";
/// The domain label of scope ids.
const SCOPE_LABEL: &[u8] = b"kmsgov/scope";

/// A 32-byte hash or identifier.
pub type Hash32 = [u8; 32];

/// What a record changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum RecordType {
    /// Publishes a policy document (payload: kind byte and the document).
    PolicyPublish = 1,
    /// Binds a key to a key policy.
    BindKeyPolicy = 2,
    /// Binds a principal to an identity policy.
    BindIdentityPolicy = 3,
    /// Sets a guardrail slot.
    SetGuardrail = 4,
    /// Creates a key.
    KeyCreate = 5,
    /// Rotates a key.
    KeyRotate = 6,
    /// Changes a key's state.
    KeyStateChange = 7,
    /// Replaces the signer set (payload: the new set).
    SignerSetChange = 8,
    /// Rotates the receipt signing key.
    ReceiptKeyRotate = 9,
    /// Updates a revocation list.
    RevocationListUpdate = 10,
    /// Changes the witness set.
    WitnessSetChange = 11,
    /// Rotates a log key.
    LogKeyRotate = 12,
    /// Creates or retires a grant (kmsgov addition).
    GrantChange = 13,
    /// Creates, moves or deletes an alias (kmsgov addition).
    AliasChange = 14,
    /// Changes a key's tags (kmsgov addition).
    TagChange = 15,
    /// Binds a data-use policy (kmsgov addition).
    BindDataPolicy = 16,
}

impl RecordType {
    /// Every type, in code order.
    pub const ALL: [RecordType; 16] = [
        RecordType::PolicyPublish,
        RecordType::BindKeyPolicy,
        RecordType::BindIdentityPolicy,
        RecordType::SetGuardrail,
        RecordType::KeyCreate,
        RecordType::KeyRotate,
        RecordType::KeyStateChange,
        RecordType::SignerSetChange,
        RecordType::ReceiptKeyRotate,
        RecordType::RevocationListUpdate,
        RecordType::WitnessSetChange,
        RecordType::LogKeyRotate,
        RecordType::GrantChange,
        RecordType::AliasChange,
        RecordType::TagChange,
        RecordType::BindDataPolicy,
    ];

    /// The type with this code.
    #[must_use]
    pub fn from_code(code: u8) -> Option<RecordType> {
        RecordType::ALL.into_iter().find(|t| t.code() == code)
    }

    /// The type's code byte.
    #[must_use]
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The type's name, as in the design (`PolicyPublish`, …).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            RecordType::PolicyPublish => "PolicyPublish",
            RecordType::BindKeyPolicy => "BindKeyPolicy",
            RecordType::BindIdentityPolicy => "BindIdentityPolicy",
            RecordType::SetGuardrail => "SetGuardrail",
            RecordType::KeyCreate => "KeyCreate",
            RecordType::KeyRotate => "KeyRotate",
            RecordType::KeyStateChange => "KeyStateChange",
            RecordType::SignerSetChange => "SignerSetChange",
            RecordType::ReceiptKeyRotate => "ReceiptKeyRotate",
            RecordType::RevocationListUpdate => "RevocationListUpdate",
            RecordType::WitnessSetChange => "WitnessSetChange",
            RecordType::LogKeyRotate => "LogKeyRotate",
            RecordType::GrantChange => "GrantChange",
            RecordType::AliasChange => "AliasChange",
            RecordType::TagChange => "TagChange",
            RecordType::BindDataPolicy => "BindDataPolicy",
        }
    }
}

impl std::fmt::Display for RecordType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One signature of a record: by the key `key_id`, over the record hash
/// (`alg` 1) or the proposal hash (`alg` 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The signer's key id (first four bytes of SHA-256 of its public key).
    pub key_id: u32,
    /// The algorithm: [`ALG_ED25519`] over the record hash, or
    /// [`ALG_ED25519_APPROVAL`] over the proposal hash.
    pub alg: u8,
    /// The signature bytes.
    pub sig: Vec<u8>,
}

/// A governance record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// What it changes.
    pub record_type: RecordType,
    /// Its position in the chain (0 for genesis).
    pub seq: u64,
    /// The scope (tenant) of the chain.
    pub scope_id: Hash32,
    /// The hash of the record before it (zero at genesis).
    pub prev_hash: Hash32,
    /// When it takes effect, unix seconds.
    pub effective_at: u64,
    /// What it changes: a key id, a principal commitment, a slot.
    pub subject: Hash32,
    /// The value the subject is bound to afterwards.
    pub new_hash: Hash32,
    /// The value the subject was bound to before (zero if unbound).
    pub expected_old: Hash32,
    /// SHA-256 of the change ticket or approval document.
    pub justification: Hash32,
    /// Type-specific fields.
    pub payload: Vec<u8>,
    /// The signatures over [`Record::hash`].
    pub signatures: Vec<Signature>,
}

/// Why bytes are not a record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// Fewer bytes than the field at `offset` needs.
    Truncated {
        /// Where the missing field starts.
        offset: usize,
    },
    /// The first four bytes are not `GGOV`.
    BadMagic,
    /// A version other than 1.
    UnknownVersion(u8),
    /// A type code no [`RecordType`] has.
    UnknownType(u8),
    /// A payload longer than [`MAX_PAYLOAD`].
    PayloadTooLong(u32),
    /// A signature algorithm other than Ed25519 (1) or Ed25519 approval (2).
    UnknownAlgorithm(u8),
    /// A signature of the wrong length for its algorithm.
    BadSignatureLength(u16),
    /// Bytes after the last signature.
    TrailingBytes(usize),
    /// More than 255 signatures (cannot be encoded).
    TooManySignatures,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::Truncated { offset } => write!(f, "truncated at byte {offset}"),
            RecordError::BadMagic => f.write_str("not a governance record (magic is not `GGOV`)"),
            RecordError::UnknownVersion(v) => write!(f, "unknown record version {v}"),
            RecordError::UnknownType(t) => write!(f, "unknown record type {t}"),
            RecordError::PayloadTooLong(n) => {
                write!(f, "payload of {n} bytes, more than {MAX_PAYLOAD}")
            }
            RecordError::UnknownAlgorithm(a) => write!(f, "unknown signature algorithm {a}"),
            RecordError::BadSignatureLength(n) => {
                write!(
                    f,
                    "an Ed25519 signature of {n} bytes, not {ED25519_SIG_LEN}"
                )
            }
            RecordError::TrailingBytes(n) => write!(f, "{n} bytes after the last signature"),
            RecordError::TooManySignatures => f.write_str("more than 255 signatures"),
        }
    }
}

impl std::error::Error for RecordError {}

/// The scope id of a scope name: SHA-256("kmsgov/scope" || name).
#[must_use]
pub fn scope_id(scope: &str) -> Hash32 {
    let mut context = Context::new(&SHA256);
    context.update(SCOPE_LABEL);
    context.update(scope.as_bytes());
    to_hash(context.finish().as_ref())
}

/// Copies a 32-byte digest into an array (zeros if it is not 32 bytes,
/// which SHA-256 output always is).
pub(crate) fn to_hash(bytes: &[u8]) -> Hash32 {
    let mut out = [0u8; 32];
    if let Some(src) = bytes.get(..32) {
        out.copy_from_slice(src);
    }
    out
}

/// A reader over a byte slice that never panics.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        let end = self
            .at
            .checked_add(n)
            .ok_or(RecordError::Truncated { offset: self.at })?;
        let out = self
            .bytes
            .get(self.at..end)
            .ok_or(RecordError::Truncated { offset: self.at })?;
        self.at = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }

    fn u16(&mut self) -> Result<u16, RecordError> {
        let mut b = [0u8; 2];
        b.copy_from_slice(self.take(2)?);
        Ok(u16::from_be_bytes(b))
    }

    fn u32(&mut self) -> Result<u32, RecordError> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, RecordError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(b))
    }

    fn hash(&mut self) -> Result<Hash32, RecordError> {
        Ok(to_hash(self.take(32)?))
    }
}

impl Record {
    /// Parses exactly one record: no bytes may follow it.
    ///
    /// # Errors
    ///
    /// The bytes are not one well-formed v1 record.
    pub fn parse(bytes: &[u8]) -> Result<Record, RecordError> {
        let (record, used) = Record::parse_prefix(bytes)?;
        match bytes.len() - used.min(bytes.len()) {
            0 => Ok(record),
            n => Err(RecordError::TrailingBytes(n)),
        }
    }

    /// Parses the record at the start of `bytes`: the record and how many
    /// bytes it took (records are self-delimiting, so a file can hold
    /// several one after another).
    ///
    /// # Errors
    ///
    /// The bytes do not start with a well-formed v1 record.
    pub fn parse_prefix(bytes: &[u8]) -> Result<(Record, usize), RecordError> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(4)? != MAGIC {
            return Err(RecordError::BadMagic);
        }
        let version = r.u8()?;
        if version != VERSION {
            return Err(RecordError::UnknownVersion(version));
        }
        let code = r.u8()?;
        let record_type = RecordType::from_code(code).ok_or(RecordError::UnknownType(code))?;
        let seq = r.u64()?;
        let scope_id = r.hash()?;
        let prev_hash = r.hash()?;
        let effective_at = r.u64()?;
        let subject = r.hash()?;
        let new_hash = r.hash()?;
        let expected_old = r.hash()?;
        let justification = r.hash()?;
        let payload_len = r.u32()?;
        if payload_len as usize > MAX_PAYLOAD {
            return Err(RecordError::PayloadTooLong(payload_len));
        }
        let payload = r.take(payload_len as usize)?.to_vec();
        let count = r.u8()?;
        let mut signatures = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let key_id = r.u32()?;
            let alg = r.u8()?;
            if !is_known_alg(alg) {
                return Err(RecordError::UnknownAlgorithm(alg));
            }
            let len = r.u16()?;
            if usize::from(len) != ED25519_SIG_LEN {
                return Err(RecordError::BadSignatureLength(len));
            }
            let sig = r.take(usize::from(len))?.to_vec();
            signatures.push(Signature { key_id, alg, sig });
        }
        let record = Record {
            record_type,
            seq,
            scope_id,
            prev_hash,
            effective_at,
            subject,
            new_hash,
            expected_old,
            justification,
            payload,
            signatures,
        };
        Ok((record, r.at))
    }

    /// The signed part: the header and the payload.
    ///
    /// # Errors
    ///
    /// The payload is longer than [`MAX_PAYLOAD`].
    pub fn signed_bytes(&self) -> Result<Vec<u8>, RecordError> {
        if self.payload.len() > MAX_PAYLOAD {
            return Err(RecordError::PayloadTooLong(
                u32::try_from(self.payload.len()).unwrap_or(u32::MAX),
            ));
        }
        let mut out = Vec::with_capacity(HEADER_LEN + self.payload.len() + 1);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(self.record_type.code());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.scope_id);
        out.extend_from_slice(&self.prev_hash);
        out.extend_from_slice(&self.effective_at.to_be_bytes());
        out.extend_from_slice(&self.subject);
        out.extend_from_slice(&self.new_hash);
        out.extend_from_slice(&self.expected_old);
        out.extend_from_slice(&self.justification);
        // At most MAX_PAYLOAD, checked above.
        out.extend_from_slice(&(self.payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.payload);
        Ok(out)
    }

    /// The full encoding, signatures included.
    ///
    /// # Errors
    ///
    /// The payload is too long, there are more than 255 signatures, or a
    /// signature is not a 64-byte Ed25519 one.
    pub fn encode(&self) -> Result<Vec<u8>, RecordError> {
        let mut out = self.signed_bytes()?;
        let count =
            u8::try_from(self.signatures.len()).map_err(|_| RecordError::TooManySignatures)?;
        out.push(count);
        for s in &self.signatures {
            if !is_known_alg(s.alg) {
                return Err(RecordError::UnknownAlgorithm(s.alg));
            }
            if s.sig.len() != ED25519_SIG_LEN {
                return Err(RecordError::BadSignatureLength(
                    u16::try_from(s.sig.len()).unwrap_or(u16::MAX),
                ));
            }
            out.extend_from_slice(&s.key_id.to_be_bytes());
            out.push(s.alg);
            out.extend_from_slice(&(ED25519_SIG_LEN as u16).to_be_bytes());
            out.extend_from_slice(&s.sig);
        }
        Ok(out)
    }

    /// `record_hash`: SHA-256 over "kmsgov/gov/v1" and the signed part.
    ///
    /// # Errors
    ///
    /// The payload is longer than [`MAX_PAYLOAD`].
    pub fn hash(&self) -> Result<Hash32, RecordError> {
        let signed = self.signed_bytes()?;
        Ok(record_hash(&signed))
    }

    /// `proposal_hash`: SHA-256 over "kmsgov/gov/proposal/v1" and the
    /// fields that say what the record changes (type, scope, subject,
    /// new_hash, expected_old, justification, payload), not where it sits in
    /// the chain. What an approval (`alg` 2) signs.
    ///
    /// # Errors
    ///
    /// The payload is longer than [`MAX_PAYLOAD`].
    pub fn proposal_hash(&self) -> Result<Hash32, RecordError> {
        if self.payload.len() > MAX_PAYLOAD {
            return Err(RecordError::PayloadTooLong(
                u32::try_from(self.payload.len()).unwrap_or(u32::MAX),
            ));
        }
        let mut context = Context::new(&SHA256);
        context.update(PROPOSAL_HASH_LABEL);
        context.update(&[self.record_type.code()]);
        context.update(&self.scope_id);
        context.update(&self.subject);
        context.update(&self.new_hash);
        context.update(&self.expected_old);
        context.update(&self.justification);
        // At most MAX_PAYLOAD, checked above.
        context.update(&(self.payload.len() as u32).to_be_bytes());
        context.update(&self.payload);
        Ok(to_hash(context.finish().as_ref()))
    }

    /// Whether any signature is an approval over the proposal hash.
    #[must_use]
    pub fn has_approvals(&self) -> bool {
        self.signatures
            .iter()
            .any(|s| s.alg == ALG_ED25519_APPROVAL)
    }

    /// The key ids that signed, each once, in order.
    #[must_use]
    pub fn signer_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.signatures.iter().map(|s| s.key_id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Whether `alg` is a signature algorithm byte records may carry.
fn is_known_alg(alg: u8) -> bool {
    alg == ALG_ED25519 || alg == ALG_ED25519_APPROVAL
}

/// SHA-256 over "kmsgov/gov/v1" and `signed` (a record's header and payload).
#[must_use]
pub fn record_hash(signed: &[u8]) -> Hash32 {
    let mut context = Context::new(&SHA256);
    context.update(RECORD_HASH_LABEL);
    context.update(signed);
    to_hash(context.finish().as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            record_type: RecordType::BindKeyPolicy,
            seq: 7,
            scope_id: [1; 32],
            prev_hash: [2; 32],
            effective_at: 1_700_000_000,
            subject: [3; 32],
            new_hash: [4; 32],
            expected_old: [5; 32],
            justification: [6; 32],
            payload: b"payload".to_vec(),
            signatures: vec![Signature {
                key_id: 0xdead_beef,
                alg: ALG_ED25519,
                sig: vec![9; 64],
            }],
        }
    }

    #[test]
    fn round_trip() {
        let record = sample();
        let bytes = record.encode().unwrap();
        assert_eq!(bytes.len(), HEADER_LEN + 7 + 1 + 7 + 64);
        assert_eq!(Record::parse(&bytes).unwrap(), record);
        for t in RecordType::ALL {
            let r = Record {
                record_type: t,
                signatures: vec![],
                payload: vec![],
                ..sample()
            };
            assert_eq!(Record::parse(&r.encode().unwrap()).unwrap(), r);
        }
    }

    #[test]
    fn offsets_follow_the_layout() {
        let bytes = sample().encode().unwrap();
        assert_eq!(&bytes[0..4], b"GGOV");
        assert_eq!(bytes[4], 1);
        assert_eq!(bytes[5], 2);
        assert_eq!(&bytes[6..14], &7u64.to_be_bytes());
        assert_eq!(&bytes[14..46], &[1; 32]);
        assert_eq!(&bytes[78..86], &1_700_000_000u64.to_be_bytes());
        assert_eq!(&bytes[182..214], &[6; 32]);
        assert_eq!(&bytes[214..218], &7u32.to_be_bytes());
        assert_eq!(bytes[225], 1);
        let hash = sample().hash().unwrap();
        assert_eq!(hash, record_hash(&bytes[..225]));
    }

    #[test]
    fn rejects_malformed() {
        let bytes = sample().encode().unwrap();
        for n in 0..bytes.len() {
            assert!(Record::parse(&bytes[..n]).is_err(), "prefix of {n} bytes");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Record::parse(&longer), Err(RecordError::TrailingBytes(1)));
        let mut b = bytes.clone();
        b[4] = 2;
        assert_eq!(Record::parse(&b), Err(RecordError::UnknownVersion(2)));
        let mut b = bytes.clone();
        b[5] = 17;
        assert_eq!(Record::parse(&b), Err(RecordError::UnknownType(17)));
        let mut b = bytes.clone();
        b[5] = 0;
        assert_eq!(Record::parse(&b), Err(RecordError::UnknownType(0)));
        let mut b = bytes.clone();
        b[214..218].copy_from_slice(&(65_537u32).to_be_bytes());
        assert_eq!(Record::parse(&b), Err(RecordError::PayloadTooLong(65_537)));
        let mut b = bytes.clone();
        b[230] = 3;
        assert_eq!(Record::parse(&b), Err(RecordError::UnknownAlgorithm(3)));
        let mut b = bytes.clone();
        b[230] = 2;
        assert!(Record::parse(&b).is_ok());
        let mut b = bytes.clone();
        b[232] = 63;
        assert_eq!(Record::parse(&b), Err(RecordError::BadSignatureLength(63)));
        let mut b = bytes;
        b[0] = b'X';
        assert_eq!(Record::parse(&b), Err(RecordError::BadMagic));
    }

    #[test]
    fn payload_at_the_cap() {
        let record = Record {
            payload: vec![0; MAX_PAYLOAD],
            ..sample()
        };
        let bytes = record.encode().unwrap();
        assert_eq!(Record::parse(&bytes).unwrap(), record);
        let too_long = Record {
            payload: vec![0; MAX_PAYLOAD + 1],
            ..sample()
        };
        assert!(too_long.encode().is_err());
    }
}
