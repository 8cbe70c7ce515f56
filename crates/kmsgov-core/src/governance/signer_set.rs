//! Signer sets, the keys that sign governance records, and their
//! thresholds, with a fixed binary encoding (the payload of a
//! `SignerSetChange` record).
//!
//! ```text
//! off  len  field
//! 0    1    version = 1
//! 1    1    member count n (1..=64)
//! 2    33n  members, ascending by key id: alg u8 (1 = Ed25519) | public key (32)
//! ..   1    default threshold (1..=n)
//! ..   1    override count m
//! ..   2m   overrides, ascending by type: type u8 | threshold u8 (1..=n)
//! set id = SHA-256("kmsgov/signer-set/v1" || encoding)
//! ```
//!
//! A member's key id is the first four bytes of SHA-256 of its public key;
//! it is not stored, so it cannot disagree with the key.

use std::collections::BTreeMap;

use aws_lc_rs::digest::{digest, Context, SHA256};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, ED25519};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use zeroize::Zeroizing;

use super::record::{to_hash, Hash32, RecordType, Signature, ALG_ED25519, ALG_ED25519_APPROVAL};

/// The domain label of signer set ids.
const SIGNER_SET_LABEL: &[u8] = b"kmsgov/signer-set/v1";
/// The encoding version.
const SET_VERSION: u8 = 1;
/// The most members a set may have.
pub const MAX_MEMBERS: usize = 64;

/// The key id of an Ed25519 public key: the first four bytes of its SHA-256.
#[must_use]
pub fn key_id(public_key: &[u8; 32]) -> u32 {
    let hash = digest(&SHA256, public_key);
    let mut id = [0u8; 4];
    if let Some(src) = hash.as_ref().get(..4) {
        id.copy_from_slice(src);
    }
    u32::from_be_bytes(id)
}

/// An Ed25519 public key written `ed25519:<base64>`.
#[must_use]
pub fn format_public_key(public_key: &[u8; 32]) -> String {
    format!("ed25519:{}", STANDARD.encode(public_key))
}

/// Parses `ed25519:<base64>` (32 bytes).
///
/// # Errors
///
/// Another prefix, bad base64, or not 32 bytes.
pub fn parse_public_key(text: &str) -> Result<[u8; 32], String> {
    let Some(b64) = text.trim().strip_prefix("ed25519:") else {
        return Err(format!("`{text}`: expected `ed25519:<base64>`"));
    };
    let bytes = STANDARD
        .decode(b64)
        .map_err(|e| format!("`{text}`: bad base64: {e}"))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "`{text}`: an Ed25519 public key has 32 bytes, not {}",
            bytes.len()
        )
    })
}

/// Whether `sig` is a valid Ed25519 signature by `public_key` over `message`.
#[must_use]
pub fn verify_signature(public_key: &[u8; 32], message: &[u8], sig: &[u8]) -> bool {
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(message, sig)
        .is_ok()
}

/// A key that signs governance records. The seed is zeroized on drop and
/// never shown.
pub struct GovernanceKey {
    pair: Ed25519KeyPair,
    public_key: [u8; 32],
}

impl std::fmt::Debug for GovernanceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GovernanceKey")
            .field("key_id", &format_args!("{:08x}", self.key_id()))
            .field("seed", &"<redacted>")
            .finish()
    }
}

impl GovernanceKey {
    /// The key whose 32-byte seed is `seed`.
    ///
    /// # Errors
    ///
    /// The library refuses the seed.
    pub fn from_seed(seed: &[u8; 32]) -> Result<GovernanceKey, String> {
        let seed = Zeroizing::new(*seed);
        let pair = Ed25519KeyPair::from_seed_unchecked(seed.as_ref())
            .map_err(|_| "the Ed25519 seed is refused".to_owned())?;
        Ok(GovernanceKey::from_pair(pair))
    }

    /// The key in a PKCS#8 (v1 or v2) document.
    ///
    /// # Errors
    ///
    /// The document is not an Ed25519 private key.
    pub fn from_pkcs8(der: &[u8]) -> Result<GovernanceKey, String> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|e| format!("not an Ed25519 PKCS#8 private key: {e}"))?;
        Ok(GovernanceKey::from_pair(pair))
    }

    /// A new random key and its PKCS#8 v2 document.
    ///
    /// # Errors
    ///
    /// The system random generator failed.
    pub fn generate_pkcs8() -> Result<(GovernanceKey, Zeroizing<Vec<u8>>), String> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| "cannot generate an Ed25519 key".to_owned())?;
        let der = Zeroizing::new(doc.as_ref().to_vec());
        let key = GovernanceKey::from_pkcs8(&der)?;
        Ok((key, der))
    }

    fn from_pair(pair: Ed25519KeyPair) -> GovernanceKey {
        let public_key = to_hash(pair.public_key().as_ref());
        GovernanceKey { pair, public_key }
    }

    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// The key id.
    #[must_use]
    pub fn key_id(&self) -> u32 {
        key_id(&self.public_key)
    }

    /// The signature of a record with this hash.
    #[must_use]
    pub fn sign(&self, record_hash: &Hash32) -> Signature {
        Signature {
            key_id: self.key_id(),
            alg: ALG_ED25519,
            sig: self.pair.sign(record_hash).as_ref().to_vec(),
        }
    }

    /// An approval of the change with this proposal hash
    /// ([`super::record::Record::proposal_hash`]): a signature of `alg` 2,
    /// which stays valid when the record is rebased onto a newer head.
    #[must_use]
    pub fn approve(&self, proposal_hash: &Hash32) -> Signature {
        Signature {
            key_id: self.key_id(),
            alg: ALG_ED25519_APPROVAL,
            sig: self.pair.sign(proposal_hash).as_ref().to_vec(),
        }
    }
}

/// Who may sign governance records and how many must.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerSet {
    /// Key id → Ed25519 public key.
    members: BTreeMap<u32, [u8; 32]>,
    default_threshold: u8,
    overrides: BTreeMap<RecordType, u8>,
}

/// Why a signer set is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerSetError(pub String);

impl std::fmt::Display for SignerSetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid signer set: {}", self.0)
    }
}

impl std::error::Error for SignerSetError {}

fn bad(message: impl Into<String>) -> SignerSetError {
    SignerSetError(message.into())
}

impl SignerSet {
    /// A set of `members` needing `default_threshold` distinct signatures
    /// for every type except those in `overrides`.
    ///
    /// # Errors
    ///
    /// No members, more than [`MAX_MEMBERS`], two keys with one key id, or a
    /// threshold of zero or above the number of members.
    pub fn new(
        members: &[[u8; 32]],
        default_threshold: u8,
        overrides: &[(RecordType, u8)],
    ) -> Result<SignerSet, SignerSetError> {
        let mut map = BTreeMap::new();
        for pk in members {
            if map.insert(key_id(pk), *pk).is_some() {
                return Err(bad(format!("two members with key id {:08x}", key_id(pk))));
            }
        }
        let set = SignerSet {
            members: map,
            default_threshold,
            overrides: overrides.iter().copied().collect(),
        };
        if set.overrides.len() != overrides.len() {
            return Err(bad("a type has two thresholds"));
        }
        set.check()?;
        Ok(set)
    }

    /// One key, threshold 1 for everything (a chain's genesis).
    ///
    /// # Errors
    ///
    /// Never in practice (one member, threshold 1).
    pub fn single(public_key: &[u8; 32]) -> Result<SignerSet, SignerSetError> {
        SignerSet::new(&[*public_key], 1, &[])
    }

    fn check(&self) -> Result<(), SignerSetError> {
        let n = self.members.len();
        if n == 0 {
            return Err(bad("no members"));
        }
        if n > MAX_MEMBERS {
            return Err(bad(format!("{n} members, more than {MAX_MEMBERS}")));
        }
        for (t, k) in std::iter::once((None, self.default_threshold))
            .chain(self.overrides.iter().map(|(t, k)| (Some(*t), *k)))
        {
            if k == 0 || usize::from(k) > n {
                let what = t.map_or("the default threshold".to_owned(), |t| {
                    format!("the threshold of {t}")
                });
                return Err(bad(format!("{what} is {k}, not between 1 and {n}")));
            }
        }
        Ok(())
    }

    /// The members: key id and public key, by key id.
    pub fn members(&self) -> impl Iterator<Item = (u32, &[u8; 32])> {
        self.members.iter().map(|(id, pk)| (*id, pk))
    }

    /// The public key of member `key_id`.
    #[must_use]
    pub fn member(&self, key_id: u32) -> Option<&[u8; 32]> {
        self.members.get(&key_id)
    }

    /// How many distinct members must sign a record of type `t`.
    #[must_use]
    pub fn threshold(&self, t: RecordType) -> u8 {
        self.overrides
            .get(&t)
            .copied()
            .unwrap_or(self.default_threshold)
    }

    /// The default threshold.
    #[must_use]
    pub fn default_threshold(&self) -> u8 {
        self.default_threshold
    }

    /// The per-type thresholds that differ from the default.
    pub fn overrides(&self) -> impl Iterator<Item = (RecordType, u8)> + '_ {
        self.overrides.iter().map(|(t, k)| (*t, *k))
    }

    /// The fixed binary encoding.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![SET_VERSION];
        // At most MAX_MEMBERS (64) members and 16 overrides: both fit a byte.
        out.push(self.members.len().min(255) as u8);
        for pk in self.members.values() {
            out.push(ALG_ED25519);
            out.extend_from_slice(pk);
        }
        out.push(self.default_threshold);
        out.push(self.overrides.len().min(255) as u8);
        for (t, k) in &self.overrides {
            out.push(t.code());
            out.push(*k);
        }
        out
    }

    /// Parses the fixed binary encoding, strictly: members in ascending key
    /// id order, overrides in ascending type order, nothing after them.
    ///
    /// # Errors
    ///
    /// Not exactly one valid set.
    pub fn parse(bytes: &[u8]) -> Result<SignerSet, SignerSetError> {
        let mut it = bytes.iter().copied();
        let mut next = |what: &str| it.next().ok_or_else(|| bad(format!("truncated at {what}")));
        if next("the version")? != SET_VERSION {
            return Err(bad("unknown version"));
        }
        let n = usize::from(next("the member count")?);
        let mut members = BTreeMap::new();
        let mut last = None;
        for _ in 0..n {
            if next("a member")? != ALG_ED25519 {
                return Err(bad("a member key that is not Ed25519"));
            }
            let mut pk = [0u8; 32];
            for b in &mut pk {
                *b = next("a member key")?;
            }
            let id = key_id(&pk);
            if last.is_some_and(|l| id <= l) {
                return Err(bad("members not in ascending key id order"));
            }
            last = Some(id);
            members.insert(id, pk);
        }
        let default_threshold = next("the default threshold")?;
        let m = usize::from(next("the override count")?);
        let mut overrides = BTreeMap::new();
        let mut last = None;
        for _ in 0..m {
            let code = next("an override")?;
            let t = RecordType::from_code(code)
                .ok_or_else(|| bad(format!("an override for unknown type {code}")))?;
            if last.is_some_and(|l| code <= l) {
                return Err(bad("overrides not in ascending type order"));
            }
            last = Some(code);
            overrides.insert(t, next("an override threshold")?);
        }
        if it.next().is_some() {
            return Err(bad("bytes after the overrides"));
        }
        let set = SignerSet {
            members,
            default_threshold,
            overrides,
        };
        set.check()?;
        Ok(set)
    }

    /// The set id: SHA-256("kmsgov/signer-set/v1" || encoding).
    #[must_use]
    pub fn id(&self) -> Hash32 {
        set_id(&self.encode())
    }
}

/// The id of an encoded signer set.
#[must_use]
pub fn set_id(encoding: &[u8]) -> Hash32 {
    let mut context = Context::new(&SHA256);
    context.update(SIGNER_SET_LABEL);
    context.update(encoding);
    to_hash(context.finish().as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_and_is_strict() {
        let keys: Vec<[u8; 32]> = (1..=3u8)
            .map(|i| GovernanceKey::from_seed(&[i; 32]).unwrap().public_key())
            .collect();
        let set = SignerSet::new(&keys, 1, &[(RecordType::BindKeyPolicy, 2)]).unwrap();
        let bytes = set.encode();
        assert_eq!(bytes.len(), 2 + 3 * 33 + 2 + 2);
        assert_eq!(SignerSet::parse(&bytes).unwrap(), set);
        for n in 0..bytes.len() {
            assert!(SignerSet::parse(&bytes[..n]).is_err());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(SignerSet::parse(&longer).is_err());
        assert_eq!(set.threshold(RecordType::BindKeyPolicy), 2);
        assert_eq!(set.threshold(RecordType::KeyCreate), 1);
        assert!(SignerSet::new(&keys, 4, &[]).is_err());
        assert!(SignerSet::new(&keys, 0, &[]).is_err());
        assert!(SignerSet::new(&[], 1, &[]).is_err());
        assert!(SignerSet::new(&[keys[0], keys[0]], 1, &[]).is_err());
    }

    #[test]
    fn keys_sign_and_verify() {
        let key = GovernanceKey::from_seed(&[9; 32]).unwrap();
        let s = key.sign(&[1; 32]);
        assert!(verify_signature(&key.public_key(), &[1; 32], &s.sig));
        assert!(!verify_signature(&key.public_key(), &[2; 32], &s.sig));
        assert_eq!(
            parse_public_key(&format_public_key(&key.public_key())).unwrap(),
            key.public_key()
        );
        assert!(!format!("{key:?}").contains("9, 9"));
    }
}
