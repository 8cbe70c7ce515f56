//! Signed checkpoints: the C2SP `tlog-checkpoint` body (origin, tree size,
//! base64 root hash) in a C2SP `signed-note` with an Ed25519 signature.
//!
//! ```text
//! kmsgov.local/audit/us-east-1
//! 1234
//! <base64 root>
//!
//! — kmsgov.local/audit/us-east-1 <base64(key id (4 bytes) || signature (64 bytes))>
//! ```
//!
//! The key id is the first four bytes of SHA-256(name || "\n" || 0x01 ||
//! public key); the verifier key is written `name+<key id hex>+<base64(0x01
//! || public key)>`, as the signed-note specification writes it.

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, ED25519};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::merkle::Hash;

/// The signature algorithm byte of Ed25519 in signed notes.
const ED25519_ALG: u8 = 0x01;

/// A checkpoint as read from its note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's name.
    pub origin: String,
    /// The number of leaves.
    pub size: u64,
    /// The tree head over them.
    pub root: Hash,
}

/// Why a note is not a valid checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointError {
    /// The text is not a note of the expected shape.
    Malformed(&'static str),
    /// No signature by the expected key.
    NoSignature,
    /// The signature by the expected key does not verify.
    BadSignature,
    /// The verifier key is not `name+hex+base64`.
    BadVerifierKey,
}

impl std::fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckpointError::Malformed(what) => write!(f, "malformed checkpoint: {what}"),
            CheckpointError::NoSignature => f.write_str("no signature by the log's key"),
            CheckpointError::BadSignature => f.write_str("the log's signature does not verify"),
            CheckpointError::BadVerifierKey => f.write_str("malformed verifier key"),
        }
    }
}

impl std::error::Error for CheckpointError {}

/// The body of a checkpoint note: origin, size and root, each on its line.
#[must_use]
pub fn body(origin: &str, size: u64, root: &Hash) -> String {
    format!("{origin}\n{size}\n{}\n", STANDARD.encode(root))
}

fn key_id(name: &str, public_key: &[u8]) -> [u8; 4] {
    let mut input = Vec::with_capacity(name.len() + 2 + public_key.len());
    input.extend_from_slice(name.as_bytes());
    input.push(b'\n');
    input.push(ED25519_ALG);
    input.extend_from_slice(public_key);
    let hash = digest(&SHA256, &input);
    let mut id = [0u8; 4];
    id.copy_from_slice(hash.as_ref().get(..4).unwrap_or(&[0; 4]));
    id
}

/// Signs checkpoints of one log.
pub struct Signer {
    name: String,
    key: Ed25519KeyPair,
    id: [u8; 4],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Signer {
    /// A signer named `name` (the log's origin) with the Ed25519 key whose
    /// seed is `seed`.
    ///
    /// # Errors
    ///
    /// The seed is refused by the library.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Signer, CheckpointError> {
        let key = Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|_| CheckpointError::BadVerifierKey)?;
        let id = key_id(name, key.public_key().as_ref());
        Ok(Signer {
            name: name.to_owned(),
            key,
            id,
        })
    }

    /// The log's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key to pin: `name+<key id hex>+<base64(0x01 || key)>`.
    #[must_use]
    pub fn verifier_key(&self) -> String {
        let mut key = vec![ED25519_ALG];
        key.extend_from_slice(self.key.public_key().as_ref());
        let hex = crate::crypto::hex(&self.id);
        format!("{}+{hex}+{}", self.name, STANDARD.encode(key))
    }

    /// The signed checkpoint note for a tree of `size` leaves with `root`.
    #[must_use]
    pub fn sign(&self, size: u64, root: &Hash) -> String {
        let text = body(&self.name, size, root);
        let signature = self.key.sign(text.as_bytes());
        let mut blob = self.id.to_vec();
        blob.extend_from_slice(signature.as_ref());
        format!("{text}\n\u{2014} {} {}\n", self.name, STANDARD.encode(blob))
    }
}

/// A pinned verifier key.
#[derive(Debug, Clone)]
pub struct Verifier {
    name: String,
    id: [u8; 4],
    public_key: Vec<u8>,
}

impl Verifier {
    /// Parses `name+<key id hex>+<base64(0x01 || key)>`.
    ///
    /// # Errors
    ///
    /// The text is not an Ed25519 verifier key whose id matches its key.
    pub fn parse(text: &str) -> Result<Verifier, CheckpointError> {
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(hex), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CheckpointError::BadVerifierKey);
        };
        let key = STANDARD
            .decode(key)
            .map_err(|_| CheckpointError::BadVerifierKey)?;
        let Some((&ED25519_ALG, public_key)) = key.split_first() else {
            return Err(CheckpointError::BadVerifierKey);
        };
        if public_key.len() != 32 || name.is_empty() {
            return Err(CheckpointError::BadVerifierKey);
        }
        let id = key_id(name, public_key);
        let hex_id = crate::crypto::hex(&id);
        if hex != hex_id {
            return Err(CheckpointError::BadVerifierKey);
        }
        Ok(Verifier {
            name: name.to_owned(),
            id,
            public_key: public_key.to_vec(),
        })
    }

    /// Verifies a checkpoint note signed by this key and returns what it
    /// says. Signatures by other keys are ignored, as the signed-note
    /// specification says.
    ///
    /// # Errors
    ///
    /// The note is malformed, carries no signature by this key, or that
    /// signature does not verify.
    pub fn verify(&self, note: &str) -> Result<Checkpoint, CheckpointError> {
        let (text, signatures) = note.split_once("\n\n").ok_or(CheckpointError::Malformed(
            "no blank line before the signatures",
        ))?;
        let text = format!("{text}\n");
        let mut lines = text.lines();
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or(CheckpointError::Malformed("no origin line"))?;
        let size = lines
            .next()
            .filter(|l| !l.starts_with('+') && !l.starts_with('0') || *l == "0")
            .and_then(|l| l.parse::<u64>().ok())
            .ok_or(CheckpointError::Malformed("no tree size line"))?;
        let root: Hash = lines
            .next()
            .and_then(|l| STANDARD.decode(l).ok())
            .and_then(|b| b.try_into().ok())
            .ok_or(CheckpointError::Malformed("no root hash line"))?;
        if lines.next().is_some() {
            return Err(CheckpointError::Malformed("extension lines"));
        }
        if !signatures.ends_with('\n') {
            return Err(CheckpointError::Malformed(
                "no newline after the signatures",
            ));
        }
        let mut found = false;
        for line in signatures.lines() {
            let rest = line
                .strip_prefix("\u{2014} ")
                .ok_or(CheckpointError::Malformed(
                    "a signature line without the dash",
                ))?;
            let (name, blob) = rest.split_once(' ').ok_or(CheckpointError::Malformed(
                "a signature line without a signature",
            ))?;
            let blob = STANDARD
                .decode(blob)
                .map_err(|_| CheckpointError::Malformed("a signature that is not base64"))?;
            let Some((id, signature)) = blob.split_first_chunk::<4>() else {
                return Err(CheckpointError::Malformed(
                    "a signature shorter than its key id",
                ));
            };
            if name != self.name || *id != self.id {
                continue;
            }
            found = true;
            UnparsedPublicKey::new(&ED25519, &self.public_key)
                .verify(text.as_bytes(), signature)
                .map_err(|_| CheckpointError::BadSignature)?;
        }
        if !found {
            return Err(CheckpointError::NoSignature);
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::from_seed("example.test/audit", &[9u8; 32]).unwrap()
    }

    #[test]
    fn a_signed_checkpoint_verifies_with_its_key() {
        let s = signer();
        let note = s.sign(42, &[3u8; 32]);
        let v = Verifier::parse(&s.verifier_key()).unwrap();
        let c = v.verify(&note).unwrap();
        assert_eq!(c.size, 42);
        assert_eq!(c.root, [3u8; 32]);
        assert_eq!(c.origin, "example.test/audit");
        assert!(note.starts_with("example.test/audit\n42\n"));
    }

    #[test]
    fn any_change_is_refused() {
        let s = signer();
        let v = Verifier::parse(&s.verifier_key()).unwrap();
        let note = s.sign(42, &[3u8; 32]);
        assert_eq!(
            v.verify(&note.replace("\n42\n", "\n43\n")),
            Err(CheckpointError::BadSignature)
        );
        let other = Signer::from_seed("example.test/audit", &[8u8; 32]).unwrap();
        assert_eq!(
            v.verify(&other.sign(42, &[3u8; 32])),
            Err(CheckpointError::NoSignature)
        );
        assert!(v.verify("nonsense").is_err());
        assert!(v.verify(&note.replace("\n42\n", "\n042\n")).is_err());
        let mut bytes = note.clone().into_bytes();
        for i in 0..bytes.len() {
            bytes[i] ^= 0x01;
            if let Ok(text) = std::str::from_utf8(&bytes) {
                assert!(v.verify(text).is_err(), "byte {i} flipped and accepted");
            }
            bytes[i] ^= 0x01;
        }
    }

    #[test]
    fn verifier_keys_are_checked() {
        let key = signer().verifier_key();
        assert!(Verifier::parse(&key).is_ok());
        assert!(Verifier::parse(&key.replacen('+', "+0", 1)).is_err());
        assert!(Verifier::parse("name+00000000+AQ==").is_err());
        assert!(Verifier::parse("").is_err());
    }
}
