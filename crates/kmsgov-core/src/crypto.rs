//! The cryptography of kmsgov: key material for every supported KMS key spec
//! and the primitives KMS operations need.
//!
//! Everything here sits on aws-lc-rs, the project's one crypto stack
//! (`ARCHITECTURE.md`, "Cryptography").
//! The symmetric ciphertext format is in [`crate::ciphertext`]; this module
//! holds what it builds on and the asymmetric and HMAC operations:
//!
//! - [`KeyMaterial`]: the secret of one key version, for one [`KeySpec`]
//!   (a 256-bit AES key, an HMAC key, or an RSA or EC private key as PKCS#8
//!   DER), generated with aws-lc-rs's secure RNG.
//!   It zeroizes on drop and never shows its bytes in `Debug`.
//! - [`KeyMaterial::sign`] / [`KeyMaterial::verify`]: RSASSA-PSS and
//!   RSASSA-PKCS1-v1_5 with SHA-256/384/512, and ECDSA (DER signatures) on
//!   P-256, P-384, P-521 and secp256k1, for `RAW` and `DIGEST` messages.
//! - [`KeyMaterial::rsa_encrypt`] / [`KeyMaterial::rsa_decrypt`]: RSAES-OAEP
//!   with SHA-1 or SHA-256, with KMS's plaintext limits.
//! - [`KeyMaterial::generate_mac`] / [`KeyMaterial::verify_mac`]: HMAC with
//!   SHA-224/256/384/512, verified in constant time.
//! - [`KeyMaterial::derive_shared_secret`]: ECDH with a peer's DER
//!   SubjectPublicKeyInfo on the same curve.
//! - [`KeyMaterial::public_key_der`]: the DER SubjectPublicKeyInfo that
//!   `GetPublicKey` returns.
//! - [`random_bytes`] for `GenerateRandom`.
//!
//! Key specs AWS defines that kmsgov does not implement (`SM2`,
//! `ECC_NIST_EDWARDS25519`, `ML_DSA_*`) parse to
//! [`CryptoError::UnsupportedKeySpec`], which maps to
//! `UnsupportedOperationException`.
//! Every failure is a [`CryptoError`] whose message is safe to show a client;
//! [`CryptoError::code`] names the KMS error it becomes.
//!
//! Source: the AWS KMS Developer Guide, "Key spec reference"
//! (<https://docs.aws.amazon.com/kms/latest/developerguide/symm-asymm-choose-key-spec.html>).
//!
//! ```
//! use kmsgov_core::crypto::{KeyMaterial, KeySpec, MessageType, SigningAlgorithm};
//!
//! let key = KeyMaterial::generate(KeySpec::EccNistP256)?;
//! let signature = key.sign(SigningAlgorithm::EcdsaSha256, MessageType::Raw, b"hello")?;
//! key.verify(SigningAlgorithm::EcdsaSha256, MessageType::Raw, b"hello", &signature)?;
//! assert!(key.verify(SigningAlgorithm::EcdsaSha256, MessageType::Raw, b"hullo", &signature).is_err());
//! # Ok::<(), kmsgov_core::crypto::CryptoError>(())
//! ```

mod agreement;
mod error;
mod mac;
mod material;
mod rsa_encryption;
mod secret;
mod sign;
mod spec;

pub use error::{CryptoError, ErrorCode};
pub use material::KeyMaterial;
pub use secret::SecretBytes;
pub use spec::{EncryptionAlgorithm, KeySpec, MacAlgorithm, MessageType, SigningAlgorithm};

/// The largest `Message` KMS accepts in `Sign`, `Verify`, `GenerateMac` and
/// `VerifyMac`, in bytes.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// The largest `NumberOfBytes` of `GenerateRandom`.
pub const MAX_RANDOM_LEN: usize = 1024;

/// `n` bytes from aws-lc-rs's secure random generator (`GenerateRandom`).
///
/// `n` must be between 1 and [`MAX_RANDOM_LEN`], as in KMS.
/// The bytes may become key material, so they are returned as [`SecretBytes`].
///
/// # Errors
///
/// [`CryptoError::InvalidLength`] if `n` is out of range,
/// [`CryptoError::Internal`] if the generator fails.
pub fn random_bytes(n: usize) -> Result<SecretBytes, CryptoError> {
    if n == 0 || n > MAX_RANDOM_LEN {
        return Err(CryptoError::InvalidLength {
            what: "number of random bytes",
            min: 1,
            max: MAX_RANDOM_LEN,
            actual: n,
        });
    }
    let mut bytes = SecretBytes::zeroed(n);
    fill_random(bytes.expose_mut())?;
    Ok(bytes)
}

/// `N` unpredictable bytes for values that must be unique and unguessable
/// but are not key material: request ids, the salts of audit commitments and
/// receipts. They come from aws-lc-rs's secure generator like
/// [`random_bytes`], drawn a kilobyte at a time into a per-thread buffer
/// (each call to the generator costs about as much as a whole hash), and
/// each byte is handed out once. `None` when the generator fails.
#[must_use]
pub fn unique_bytes<const N: usize>() -> Option<[u8; N]> {
    /// How much one refill draws.
    const POOL: usize = 1024;
    struct Pool {
        bytes: [u8; POOL],
        used: usize,
    }
    impl Drop for Pool {
        fn drop(&mut self) {
            zeroize::Zeroize::zeroize(&mut self.bytes);
        }
    }
    thread_local! {
        static BUFFER: std::cell::RefCell<Pool> =
            const { std::cell::RefCell::new(Pool { bytes: [0; POOL], used: POOL }) };
    }
    if N > POOL {
        let mut out = [0u8; N];
        return fill_random(&mut out).ok().map(|()| out);
    }
    BUFFER.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.used + N > POOL {
            fill_random(&mut pool.bytes).ok()?;
            pool.used = 0;
        }
        let start = pool.used;
        let mut out = [0u8; N];
        let taken = pool.bytes.get_mut(start..start + N)?;
        out.copy_from_slice(taken);
        // Handed out once: the buffer keeps no copy.
        taken.fill(0);
        pool.used = start + N;
        Some(out)
    })
}

/// Lowercase hexadecimal of `bytes`.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

/// Lowercase hexadecimal of `bytes`, appended to `out`.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for byte in bytes {
        // Both nibbles are below 16, so `from_digit` always has a digit.
        out.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(byte & 0x0f), 16).unwrap_or('0'));
    }
}

/// Fills `out` from the secure random generator.
pub(crate) fn fill_random(out: &mut [u8]) -> Result<(), CryptoError> {
    aws_lc_rs::rand::fill(out).map_err(|_| CryptoError::Internal("random generator failure"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_bytes_do_not_repeat_across_refills() {
        // 200 draws of 16 bytes cross several 1 KiB refills.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let value: [u8; 16] = unique_bytes().unwrap();
            assert_ne!(value, [0; 16]);
            assert!(seen.insert(value), "a value was handed out twice");
        }
        // Sizes that do not divide the buffer, and one larger than it.
        let a: [u8; 24] = unique_bytes().unwrap();
        let b: [u8; 24] = unique_bytes().unwrap();
        assert_ne!(a, b);
        let big: [u8; 2048] = unique_bytes().unwrap();
        assert!(big.iter().any(|b| *b != 0));
    }

    #[test]
    fn hex_is_lowercase_and_two_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        assert_eq!(hex(&[]), "");
        let mut s = String::from("x");
        push_hex(&mut s, &[1, 0xab]);
        assert_eq!(s, "x01ab");
    }
}
