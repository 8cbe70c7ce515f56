//! The root key: key material is wrapped under it before it reaches a store.
//!
//! AES-256-GCM with a random 96-bit nonce per wrap, and the key id and version
//! as associated data, so wrapped material cannot be moved to another key or
//! version. Where the root key lives (a 0600 file, or supplied by the
//! operator) is the business of the binary; this module only uses it.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// Length of a root key in bytes.
pub const ROOT_KEY_LEN: usize = 32;

/// Format byte of wrapped material.
const WRAP_VERSION: u8 = 1;

/// Why wrapping or unwrapping failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootKeyError {
    /// The root key bytes are not 32 bytes.
    BadLength(usize),
    /// The system random generator failed.
    Random,
    /// Wrapped material is malformed, was made under another root key, or
    /// belongs to another key or version.
    Unwrap,
    /// Deriving a key from the root key failed.
    Derive,
}

impl std::fmt::Display for RootKeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RootKeyError::BadLength(n) => write!(f, "a root key is {ROOT_KEY_LEN} bytes, not {n}"),
            RootKeyError::Random => f.write_str("the random generator failed"),
            RootKeyError::Unwrap => f.write_str("key material does not unwrap under this root key"),
            RootKeyError::Derive => f.write_str("deriving a key from the root key failed"),
        }
    }
}

impl std::error::Error for RootKeyError {}

/// The root key. Zeroized on drop; never printed.
pub struct RootKey {
    bytes: Zeroizing<[u8; ROOT_KEY_LEN]>,
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

impl RootKey {
    /// A new random root key.
    pub fn generate() -> Result<RootKey, RootKeyError> {
        let mut bytes = Zeroizing::new([0u8; ROOT_KEY_LEN]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| RootKeyError::Random)?;
        Ok(RootKey { bytes })
    }

    /// A root key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<RootKey, RootKeyError> {
        let array: [u8; ROOT_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| RootKeyError::BadLength(bytes.len()))?;
        Ok(RootKey {
            bytes: Zeroizing::new(array),
        })
    }

    /// The key bytes, for writing to the operator's key file. Handle with care.
    pub fn expose_bytes(&self) -> &[u8; ROOT_KEY_LEN] {
        &self.bytes
    }

    /// A 32-byte key for another purpose, derived from the root key with
    /// HKDF-SHA-256 under `label` (each purpose its own label), so that the
    /// root key alone is the secret to keep.
    pub fn derive(&self, label: &str) -> Result<Zeroizing<[u8; 32]>, RootKeyError> {
        use aws_lc_rs::hkdf::{Salt, HKDF_SHA256};
        struct Len32;
        impl aws_lc_rs::hkdf::KeyType for Len32 {
            fn len(&self) -> usize {
                32
            }
        }
        let mut out = Zeroizing::new([0u8; 32]);
        let info = [label.as_bytes()];
        Salt::new(HKDF_SHA256, b"kmsgov/root-key/derive/v1")
            .extract(self.bytes.as_ref())
            .expand(&info, Len32)
            .and_then(|okm| okm.fill(out.as_mut()))
            .map_err(|_| RootKeyError::Derive)?;
        Ok(out)
    }

    fn cipher(&self) -> Result<LessSafeKey, RootKeyError> {
        UnboundKey::new(&AES_256_GCM, self.bytes.as_ref())
            .map(LessSafeKey::new)
            .map_err(|_| RootKeyError::BadLength(ROOT_KEY_LEN))
    }

    /// Wraps `material` of key `key_id` version `version`.
    pub fn wrap(
        &self,
        key_id: &str,
        version: u32,
        material: &[u8],
    ) -> Result<Vec<u8>, RootKeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| RootKeyError::Random)?;
        let mut sealed = material.to_vec();
        self.cipher()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(key_id, version)),
                &mut sealed,
            )
            .map_err(|_| RootKeyError::Unwrap)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(WRAP_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Unwraps material wrapped for key `key_id` version `version`.
    pub fn unwrap(
        &self,
        key_id: &str,
        version: u32,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, RootKeyError> {
        let (&format, rest) = wrapped.split_first().ok_or(RootKeyError::Unwrap)?;
        if format != WRAP_VERSION || rest.len() < NONCE_LEN {
            return Err(RootKeyError::Unwrap);
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| RootKeyError::Unwrap)?;
        let mut buf = Zeroizing::new(sealed.to_vec());
        let plain_len = self
            .cipher()?
            .open_in_place(nonce, Aad::from(aad(key_id, version)), buf.as_mut_slice())
            .map_err(|_| RootKeyError::Unwrap)?
            .len();
        buf.truncate(plain_len);
        Ok(buf)
    }
}

/// Associated data: a domain label, the key id (length-prefixed) and the version.
fn aad(key_id: &str, version: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(32 + key_id.len());
    aad.extend_from_slice(b"kmsgov/root-wrap/v1");
    aad.extend_from_slice(&(key_id.len() as u64).to_be_bytes());
    aad.extend_from_slice(key_id.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_round_trips_and_binds_key_and_version() {
        let root = RootKey::generate().unwrap();
        let material = [42u8; 32];
        let wrapped = root.wrap("k1", 1, &material).unwrap();
        assert_ne!(&wrapped[1 + NONCE_LEN..1 + NONCE_LEN + 32], &material[..]);
        assert_eq!(
            root.unwrap("k1", 1, &wrapped).unwrap().as_slice(),
            &material[..]
        );
        assert_eq!(root.unwrap("k2", 1, &wrapped), Err(RootKeyError::Unwrap));
        assert_eq!(root.unwrap("k1", 2, &wrapped), Err(RootKeyError::Unwrap));
        let other = RootKey::generate().unwrap();
        assert_eq!(other.unwrap("k1", 1, &wrapped), Err(RootKeyError::Unwrap));
        for i in 0..wrapped.len() {
            let mut bad = wrapped.clone();
            bad[i] ^= 1;
            assert!(
                root.unwrap("k1", 1, &bad).is_err(),
                "flipping byte {i} must be detected"
            );
        }
        assert!(root.unwrap("k1", 1, &wrapped[..wrapped.len() - 1]).is_err());
        assert!(root.unwrap("k1", 1, &[]).is_err());
        // Two wraps of the same material differ (random nonce).
        assert_ne!(root.wrap("k1", 1, &material).unwrap(), wrapped);
    }

    #[test]
    fn from_bytes_checks_length_and_debug_redacts() {
        assert_eq!(
            RootKey::from_bytes(&[0; 31]).unwrap_err(),
            RootKeyError::BadLength(31)
        );
        let k = RootKey::from_bytes(&[9; 32]).unwrap();
        assert_eq!(format!("{k:?}"), "RootKey(<redacted>)");
    }
}
