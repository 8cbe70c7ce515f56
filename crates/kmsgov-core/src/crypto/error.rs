//! [`CryptoError`] and the KMS error each variant becomes.

use std::fmt;

use super::KeySpec;
use crate::ciphertext::CiphertextError;

/// Why a cryptographic operation failed.
///
/// Messages follow the project's rules (lower case, no final period, user
/// input in backticks) and are safe to send to a client: they never contain
/// key material, plaintext or derived keys.
/// [`CryptoError::code`] says which KMS error a variant becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// A key spec AWS defines but kmsgov does not implement (`SM2`,
    /// `ECC_NIST_EDWARDS25519`, `ML_DSA_*`).
    UnsupportedKeySpec(String),
    /// A string that names no KMS key spec.
    UnknownKeySpec(String),
    /// An algorithm or message type AWS defines but kmsgov does not implement
    /// (`SM2DSA`, `SM2PKE`, `ED25519_SHA_512`, `ML_DSA_SHAKE_256`,
    /// `EXTERNAL_MU`, …).
    UnsupportedAlgorithm(String),
    /// A string that names no KMS algorithm or message type.
    UnknownAlgorithm(String),
    /// The algorithm exists but this key spec cannot use it (for example
    /// `ECDSA_SHA_384` with an `ECC_NIST_P256` key).
    IncompatibleAlgorithm {
        /// The key's spec.
        spec: KeySpec,
        /// The AWS name of the algorithm asked for.
        algorithm: &'static str,
    },
    /// The key spec does not support the operation at all (for example
    /// signing with a `SYMMETRIC_DEFAULT` key).
    WrongKeyUsage {
        /// The key's spec.
        spec: KeySpec,
        /// The AWS name of the operation.
        operation: &'static str,
    },
    /// `GetPublicKey` on a key with no public key (symmetric and HMAC keys).
    NoPublicKey(KeySpec),
    /// A length outside the range KMS allows (message, plaintext, number of
    /// random bytes, encryption context entry).
    InvalidLength {
        /// What was too short or too long.
        what: &'static str,
        /// The smallest length allowed.
        min: usize,
        /// The largest length allowed.
        max: usize,
        /// The length given.
        actual: usize,
    },
    /// A `DIGEST` message whose length is not the algorithm's digest length.
    DigestLength {
        /// The digest length of the signing algorithm.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// The signature does not verify.
    InvalidSignature,
    /// The MAC does not verify.
    InvalidMac,
    /// An RSA ciphertext that does not decrypt, or a symmetric ciphertext blob
    /// that does not parse, verify or decrypt.
    InvalidCiphertext(CiphertextError),
    /// A public key that is not a DER SubjectPublicKeyInfo on the key's curve.
    InvalidPublicKey,
    /// Key material given to [`super::KeyMaterial::from_bytes`] that does not
    /// fit its key spec (wrong length, not PKCS#8, wrong curve or modulus
    /// size).
    InvalidKeyMaterial(KeySpec),
    /// An encryption context that cannot be encoded (an entry longer than
    /// 65,535 bytes, or more than 65,535 entries).
    InvalidEncryptionContext,
    /// A key id or key version that cannot go into a ciphertext header; a
    /// caller bug rather than a client error.
    InvalidKeyReference,
    /// A failure inside the crypto library; the reason is for logs only.
    Internal(&'static str),
}

/// The KMS error a [`CryptoError`] becomes, spelled as AWS spells the
/// `__type` without its namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `InvalidCiphertextException`.
    InvalidCiphertextException,
    /// `KMSInvalidSignatureException`.
    KMSInvalidSignatureException,
    /// `KMSInvalidMacException`.
    KMSInvalidMacException,
    /// `InvalidKeyUsageException`.
    InvalidKeyUsageException,
    /// `UnsupportedOperationException`.
    UnsupportedOperationException,
    /// `ValidationException`.
    ValidationException,
    /// `KMSInternalException`.
    KMSInternalException,
}

impl CryptoError {
    /// The KMS error this failure becomes.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::UnsupportedKeySpec(_) | Self::UnsupportedAlgorithm(_) | Self::NoPublicKey(_) => {
                ErrorCode::UnsupportedOperationException
            }
            Self::UnknownKeySpec(_)
            | Self::UnknownAlgorithm(_)
            | Self::InvalidLength { .. }
            | Self::DigestLength { .. }
            | Self::InvalidPublicKey
            | Self::InvalidKeyMaterial(_)
            | Self::InvalidEncryptionContext => ErrorCode::ValidationException,
            Self::IncompatibleAlgorithm { .. } | Self::WrongKeyUsage { .. } => {
                ErrorCode::InvalidKeyUsageException
            }
            Self::InvalidSignature => ErrorCode::KMSInvalidSignatureException,
            Self::InvalidMac => ErrorCode::KMSInvalidMacException,
            Self::InvalidCiphertext(_) => ErrorCode::InvalidCiphertextException,
            Self::InvalidKeyReference | Self::Internal(_) => ErrorCode::KMSInternalException,
        }
    }
}

impl ErrorCode {
    /// The AWS `__type` name, without the namespace.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidCiphertextException => "InvalidCiphertextException",
            Self::KMSInvalidSignatureException => "KMSInvalidSignatureException",
            Self::KMSInvalidMacException => "KMSInvalidMacException",
            Self::InvalidKeyUsageException => "InvalidKeyUsageException",
            Self::UnsupportedOperationException => "UnsupportedOperationException",
            Self::ValidationException => "ValidationException",
            Self::KMSInternalException => "KMSInternalException",
        }
    }
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedKeySpec(spec) => {
                write!(f, "key spec `{spec}` is not supported by kmsgov")
            }
            Self::UnknownKeySpec(spec) => write!(f, "`{spec}` is not a key spec"),
            Self::UnsupportedAlgorithm(name) => {
                write!(f, "`{name}` is not supported by kmsgov")
            }
            Self::UnknownAlgorithm(name) => write!(f, "`{name}` is not a known algorithm"),
            Self::IncompatibleAlgorithm { spec, algorithm } => write!(
                f,
                "algorithm {algorithm} is incompatible with key spec {}",
                spec.as_str()
            ),
            Self::WrongKeyUsage { spec, operation } => write!(
                f,
                "a key with key spec {} cannot be used for {operation}",
                spec.as_str()
            ),
            Self::NoPublicKey(spec) => write!(
                f,
                "key spec {} has no public key, so it is not valid for GetPublicKey",
                spec.as_str()
            ),
            Self::InvalidLength {
                what,
                min,
                max,
                actual,
            } => write!(
                f,
                "{what} has length {actual}, which is outside {min} to {max}"
            ),
            Self::DigestLength { expected, actual } => write!(
                f,
                "digest has length {actual} but the signing algorithm needs {expected}"
            ),
            Self::InvalidSignature => f.write_str("signature verification failed"),
            Self::InvalidMac => f.write_str("mac verification failed"),
            Self::InvalidCiphertext(reason) => write!(f, "invalid ciphertext: {reason}"),
            Self::InvalidPublicKey => {
                f.write_str("public key is not a DER SubjectPublicKeyInfo on the curve of the key")
            }
            Self::InvalidKeyMaterial(spec) => {
                write!(f, "key material does not fit key spec {}", spec.as_str())
            }
            Self::InvalidEncryptionContext => {
                f.write_str("encryption context is too large to encode")
            }
            Self::InvalidKeyReference => {
                f.write_str("key id or key version cannot be written into a ciphertext")
            }
            Self::Internal(reason) => write!(f, "internal cryptographic failure: {reason}"),
        }
    }
}

impl std::error::Error for CryptoError {}

impl From<CiphertextError> for CryptoError {
    fn from(error: CiphertextError) -> Self {
        Self::InvalidCiphertext(error)
    }
}
