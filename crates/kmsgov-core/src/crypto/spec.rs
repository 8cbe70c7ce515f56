//! Key specs, algorithms and message types, with their AWS names.

use std::fmt;
use std::str::FromStr;

use super::CryptoError;

/// A KMS `KeySpec` that kmsgov implements.
///
/// Parse AWS names with [`str::parse`]: specs AWS defines but kmsgov does not
/// implement give [`CryptoError::UnsupportedKeySpec`], anything else
/// [`CryptoError::UnknownKeySpec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeySpec {
    /// `SYMMETRIC_DEFAULT`: a 256-bit AES-GCM key.
    SymmetricDefault,
    /// `RSA_2048`.
    Rsa2048,
    /// `RSA_3072`.
    Rsa3072,
    /// `RSA_4096`.
    Rsa4096,
    /// `ECC_NIST_P256` (secp256r1).
    EccNistP256,
    /// `ECC_NIST_P384` (secp384r1).
    EccNistP384,
    /// `ECC_NIST_P521` (secp521r1).
    EccNistP521,
    /// `ECC_SECG_P256K1` (secp256k1).
    EccSecgP256k1,
    /// `HMAC_224`: a 224-bit HMAC-SHA-224 key.
    Hmac224,
    /// `HMAC_256`: a 256-bit HMAC-SHA-256 key.
    Hmac256,
    /// `HMAC_384`: a 384-bit HMAC-SHA-384 key.
    Hmac384,
    /// `HMAC_512`: a 512-bit HMAC-SHA-512 key.
    Hmac512,
}

impl KeySpec {
    /// Every key spec kmsgov implements.
    pub const ALL: [KeySpec; 12] = [
        Self::SymmetricDefault,
        Self::Rsa2048,
        Self::Rsa3072,
        Self::Rsa4096,
        Self::EccNistP256,
        Self::EccNistP384,
        Self::EccNistP521,
        Self::EccSecgP256k1,
        Self::Hmac224,
        Self::Hmac256,
        Self::Hmac384,
        Self::Hmac512,
    ];

    /// The AWS name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SymmetricDefault => "SYMMETRIC_DEFAULT",
            Self::Rsa2048 => "RSA_2048",
            Self::Rsa3072 => "RSA_3072",
            Self::Rsa4096 => "RSA_4096",
            Self::EccNistP256 => "ECC_NIST_P256",
            Self::EccNistP384 => "ECC_NIST_P384",
            Self::EccNistP521 => "ECC_NIST_P521",
            Self::EccSecgP256k1 => "ECC_SECG_P256K1",
            Self::Hmac224 => "HMAC_224",
            Self::Hmac256 => "HMAC_256",
            Self::Hmac384 => "HMAC_384",
            Self::Hmac512 => "HMAC_512",
        }
    }

    /// The RSA modulus size in bits, for RSA specs.
    #[must_use]
    pub fn rsa_bits(self) -> Option<usize> {
        match self {
            Self::Rsa2048 => Some(2048),
            Self::Rsa3072 => Some(3072),
            Self::Rsa4096 => Some(4096),
            _ => None,
        }
    }

    /// The HMAC algorithm of an HMAC spec.
    #[must_use]
    pub fn mac_algorithm(self) -> Option<MacAlgorithm> {
        match self {
            Self::Hmac224 => Some(MacAlgorithm::HmacSha224),
            Self::Hmac256 => Some(MacAlgorithm::HmacSha256),
            Self::Hmac384 => Some(MacAlgorithm::HmacSha384),
            Self::Hmac512 => Some(MacAlgorithm::HmacSha512),
            _ => None,
        }
    }

    /// Whether the spec is an RSA or elliptic-curve key pair.
    #[must_use]
    pub fn is_asymmetric(self) -> bool {
        self.rsa_bits().is_some() || self.is_ecc()
    }

    /// Whether the spec is an elliptic-curve key pair.
    #[must_use]
    pub fn is_ecc(self) -> bool {
        matches!(
            self,
            Self::EccNistP256 | Self::EccNistP384 | Self::EccNistP521 | Self::EccSecgP256k1
        )
    }
}

impl FromStr for KeySpec {
    type Err = CryptoError;

    fn from_str(name: &str) -> Result<Self, CryptoError> {
        if let Some(spec) = Self::ALL.into_iter().find(|spec| spec.as_str() == name) {
            return Ok(spec);
        }
        match name {
            "SM2" | "ECC_NIST_EDWARDS25519" | "ML_DSA_44" | "ML_DSA_65" | "ML_DSA_87" => {
                Err(CryptoError::UnsupportedKeySpec(name.to_owned()))
            }
            _ => Err(CryptoError::UnknownKeySpec(name.to_owned())),
        }
    }
}

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A KMS `SigningAlgorithmSpec` that kmsgov implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    /// `RSASSA_PSS_SHA_256` (salt length 32).
    RsassaPssSha256,
    /// `RSASSA_PSS_SHA_384` (salt length 48).
    RsassaPssSha384,
    /// `RSASSA_PSS_SHA_512` (salt length 64).
    RsassaPssSha512,
    /// `RSASSA_PKCS1_V1_5_SHA_256`.
    RsassaPkcs1V15Sha256,
    /// `RSASSA_PKCS1_V1_5_SHA_384`.
    RsassaPkcs1V15Sha384,
    /// `RSASSA_PKCS1_V1_5_SHA_512`.
    RsassaPkcs1V15Sha512,
    /// `ECDSA_SHA_256` (P-256 or secp256k1).
    EcdsaSha256,
    /// `ECDSA_SHA_384` (P-384).
    EcdsaSha384,
    /// `ECDSA_SHA_512` (P-521).
    EcdsaSha512,
}

impl SigningAlgorithm {
    /// Every signing algorithm kmsgov implements.
    pub const ALL: [SigningAlgorithm; 9] = [
        Self::RsassaPssSha256,
        Self::RsassaPssSha384,
        Self::RsassaPssSha512,
        Self::RsassaPkcs1V15Sha256,
        Self::RsassaPkcs1V15Sha384,
        Self::RsassaPkcs1V15Sha512,
        Self::EcdsaSha256,
        Self::EcdsaSha384,
        Self::EcdsaSha512,
    ];

    /// The AWS name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RsassaPssSha256 => "RSASSA_PSS_SHA_256",
            Self::RsassaPssSha384 => "RSASSA_PSS_SHA_384",
            Self::RsassaPssSha512 => "RSASSA_PSS_SHA_512",
            Self::RsassaPkcs1V15Sha256 => "RSASSA_PKCS1_V1_5_SHA_256",
            Self::RsassaPkcs1V15Sha384 => "RSASSA_PKCS1_V1_5_SHA_384",
            Self::RsassaPkcs1V15Sha512 => "RSASSA_PKCS1_V1_5_SHA_512",
            Self::EcdsaSha256 => "ECDSA_SHA_256",
            Self::EcdsaSha384 => "ECDSA_SHA_384",
            Self::EcdsaSha512 => "ECDSA_SHA_512",
        }
    }

    /// The length of the algorithm's digest in bytes: what a `DIGEST`
    /// message must be.
    #[must_use]
    pub fn digest_len(self) -> usize {
        match self {
            Self::RsassaPssSha256 | Self::RsassaPkcs1V15Sha256 | Self::EcdsaSha256 => 32,
            Self::RsassaPssSha384 | Self::RsassaPkcs1V15Sha384 | Self::EcdsaSha384 => 48,
            Self::RsassaPssSha512 | Self::RsassaPkcs1V15Sha512 | Self::EcdsaSha512 => 64,
        }
    }

    /// The signing algorithms a key spec supports, as `DescribeKey` lists them.
    #[must_use]
    pub fn for_spec(spec: KeySpec) -> &'static [SigningAlgorithm] {
        match spec {
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                const RSA: [SigningAlgorithm; 6] = [
                    SigningAlgorithm::RsassaPssSha256,
                    SigningAlgorithm::RsassaPssSha384,
                    SigningAlgorithm::RsassaPssSha512,
                    SigningAlgorithm::RsassaPkcs1V15Sha256,
                    SigningAlgorithm::RsassaPkcs1V15Sha384,
                    SigningAlgorithm::RsassaPkcs1V15Sha512,
                ];
                &RSA
            }
            KeySpec::EccNistP256 | KeySpec::EccSecgP256k1 => &[SigningAlgorithm::EcdsaSha256],
            KeySpec::EccNistP384 => &[SigningAlgorithm::EcdsaSha384],
            KeySpec::EccNistP521 => &[SigningAlgorithm::EcdsaSha512],
            KeySpec::SymmetricDefault
            | KeySpec::Hmac224
            | KeySpec::Hmac256
            | KeySpec::Hmac384
            | KeySpec::Hmac512 => &[],
        }
    }
}

impl FromStr for SigningAlgorithm {
    type Err = CryptoError;

    fn from_str(name: &str) -> Result<Self, CryptoError> {
        if let Some(algorithm) = Self::ALL.into_iter().find(|a| a.as_str() == name) {
            return Ok(algorithm);
        }
        match name {
            "SM2DSA" | "ED25519_SHA_512" | "ED25519_PH_SHA_512" | "ML_DSA_SHAKE_256" => {
                Err(CryptoError::UnsupportedAlgorithm(name.to_owned()))
            }
            _ => Err(CryptoError::UnknownAlgorithm(name.to_owned())),
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A KMS `EncryptionAlgorithmSpec` that kmsgov implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncryptionAlgorithm {
    /// `SYMMETRIC_DEFAULT`: the ciphertext format of [`crate::ciphertext`].
    SymmetricDefault,
    /// `RSAES_OAEP_SHA_1` (SHA-1 for the hash and MGF1).
    RsaesOaepSha1,
    /// `RSAES_OAEP_SHA_256` (SHA-256 for the hash and MGF1).
    RsaesOaepSha256,
}

impl EncryptionAlgorithm {
    /// Every encryption algorithm kmsgov implements.
    pub const ALL: [EncryptionAlgorithm; 3] = [
        Self::SymmetricDefault,
        Self::RsaesOaepSha1,
        Self::RsaesOaepSha256,
    ];

    /// The AWS name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SymmetricDefault => "SYMMETRIC_DEFAULT",
            Self::RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
            Self::RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
        }
    }

    /// The largest plaintext this algorithm encrypts under a key of `spec`,
    /// as KMS documents it (`k/8 − 2·h/8 − 2` for RSA-OAEP, 4,096 bytes for
    /// `SYMMETRIC_DEFAULT`), or `None` if the spec cannot use the algorithm.
    #[must_use]
    pub fn max_plaintext_len(self, spec: KeySpec) -> Option<usize> {
        match (self, spec) {
            (Self::SymmetricDefault, KeySpec::SymmetricDefault) => {
                Some(crate::ciphertext::MAX_PLAINTEXT_LEN)
            }
            (Self::RsaesOaepSha1 | Self::RsaesOaepSha256, _) => {
                let bits = spec.rsa_bits()?;
                let hash_len = if self == Self::RsaesOaepSha1 { 20 } else { 32 };
                Some(bits / 8 - 2 * hash_len - 2)
            }
            _ => None,
        }
    }
}

impl FromStr for EncryptionAlgorithm {
    type Err = CryptoError;

    fn from_str(name: &str) -> Result<Self, CryptoError> {
        if let Some(algorithm) = Self::ALL.into_iter().find(|a| a.as_str() == name) {
            return Ok(algorithm);
        }
        match name {
            "SM2PKE" => Err(CryptoError::UnsupportedAlgorithm(name.to_owned())),
            _ => Err(CryptoError::UnknownAlgorithm(name.to_owned())),
        }
    }
}

impl fmt::Display for EncryptionAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A KMS `MacAlgorithmSpec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MacAlgorithm {
    /// `HMAC_SHA_224`.
    HmacSha224,
    /// `HMAC_SHA_256`.
    HmacSha256,
    /// `HMAC_SHA_384`.
    HmacSha384,
    /// `HMAC_SHA_512`.
    HmacSha512,
}

impl MacAlgorithm {
    /// Every MAC algorithm.
    pub const ALL: [MacAlgorithm; 4] = [
        Self::HmacSha224,
        Self::HmacSha256,
        Self::HmacSha384,
        Self::HmacSha512,
    ];

    /// The AWS name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HmacSha224 => "HMAC_SHA_224",
            Self::HmacSha256 => "HMAC_SHA_256",
            Self::HmacSha384 => "HMAC_SHA_384",
            Self::HmacSha512 => "HMAC_SHA_512",
        }
    }

    /// The length of a MAC in bytes.
    #[must_use]
    pub fn mac_len(self) -> usize {
        match self {
            Self::HmacSha224 => 28,
            Self::HmacSha256 => 32,
            Self::HmacSha384 => 48,
            Self::HmacSha512 => 64,
        }
    }
}

impl FromStr for MacAlgorithm {
    type Err = CryptoError;

    fn from_str(name: &str) -> Result<Self, CryptoError> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == name)
            .ok_or_else(|| CryptoError::UnknownAlgorithm(name.to_owned()))
    }
}

impl fmt::Display for MacAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A KMS `MessageType` for `Sign` and `Verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// `RAW`: the message is hashed with the algorithm's digest.
    Raw,
    /// `DIGEST`: the message is already a digest of the algorithm's length.
    Digest,
}

impl MessageType {
    /// The AWS name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raw => "RAW",
            Self::Digest => "DIGEST",
        }
    }
}

impl FromStr for MessageType {
    type Err = CryptoError;

    fn from_str(name: &str) -> Result<Self, CryptoError> {
        match name {
            "RAW" => Ok(Self::Raw),
            "DIGEST" => Ok(Self::Digest),
            "EXTERNAL_MU" => Err(CryptoError::UnsupportedAlgorithm(name.to_owned())),
            _ => Err(CryptoError::UnknownAlgorithm(name.to_owned())),
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
