//! [`KeyMaterial`]: the secret of one key version, generated, checked and
//! turned into aws-lc-rs key objects.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa;
use aws_lc_rs::signature::{self, EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair};

use super::{fill_random, CryptoError, KeySpec, SecretBytes};

/// The length of `SYMMETRIC_DEFAULT` key material: an AES-256 key.
pub(crate) const SYMMETRIC_KEY_LEN: usize = 32;

/// The reason given when material that [`KeyMaterial::from_bytes`] or
/// [`KeyMaterial::generate`] checked no longer parses: a bug or corruption,
/// never the client's fault.
pub(crate) const STORED_MATERIAL_UNREADABLE: &str = "key material does not parse";

/// The longest HMAC key accepted by [`KeyMaterial::from_bytes`].
const MAX_HMAC_KEY_LEN: usize = 64;

/// The secret material of one key version.
///
/// | spec | bytes |
/// | --- | --- |
/// | `SYMMETRIC_DEFAULT` | 32 random bytes (AES-256) |
/// | `HMAC_224/256/384/512` | 28/32/48/64 random bytes (imported keys may be longer, up to 64) |
/// | `RSA_*`, `ECC_*` | the private key as unencrypted PKCS#8 (RFC 5208) DER |
///
/// The bytes are zeroized on drop and never appear in `Debug`.
/// They are read only through [`KeyMaterial::expose_secret`], for storage.
#[derive(Clone)]
pub struct KeyMaterial {
    spec: KeySpec,
    secret: SecretBytes,
    /// For `SYMMETRIC_DEFAULT`: the HMAC-SHA-512 key of the ciphertext key
    /// derivation, keyed once and reused by every message (aws-lc cleanses
    /// it on drop).
    kdf: std::sync::OnceLock<aws_lc_rs::hmac::Key>,
}

impl PartialEq for KeyMaterial {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec && self.secret == other.secret
    }
}

impl Eq for KeyMaterial {}

impl KeyMaterial {
    /// Generates new material for `spec` with aws-lc-rs's secure RNG.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Internal`] if generation fails.
    pub fn generate(spec: KeySpec) -> Result<Self, CryptoError> {
        let secret = match spec {
            KeySpec::SymmetricDefault => random_secret(SYMMETRIC_KEY_LEN)?,
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
                random_secret(hmac_key_len(spec))?
            }
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                let size = match spec {
                    KeySpec::Rsa2048 => rsa::KeySize::Rsa2048,
                    KeySpec::Rsa3072 => rsa::KeySize::Rsa3072,
                    _ => rsa::KeySize::Rsa4096,
                };
                let pair = rsa::KeyPair::generate(size)
                    .map_err(|_| CryptoError::Internal("rsa key generation failed"))?;
                let der = pair
                    .as_der()
                    .map_err(|_| CryptoError::Internal("rsa key serialization failed"))?;
                SecretBytes::copy_from(der.as_ref())
            }
            KeySpec::EccNistP256
            | KeySpec::EccNistP384
            | KeySpec::EccNistP521
            | KeySpec::EccSecgP256k1 => {
                let document =
                    EcdsaKeyPair::generate_pkcs8(ecdsa_algorithm(spec)?, &SystemRandom::new())
                        .map_err(|_| CryptoError::Internal("ec key generation failed"))?;
                SecretBytes::copy_from(document.as_ref())
            }
        };
        Ok(Self {
            spec,
            secret,
            kdf: std::sync::OnceLock::new(),
        })
    }

    /// Material for `spec` from stored or imported bytes (see the table on
    /// [`KeyMaterial`]), checked against the spec: the length of symmetric
    /// and HMAC keys, and for key pairs that the PKCS#8 parses, is on the
    /// spec's curve or has the spec's modulus size.
    ///
    /// # Errors
    ///
    /// [`CryptoError::InvalidKeyMaterial`] if the bytes do not fit the spec.
    pub fn from_bytes(spec: KeySpec, bytes: &[u8]) -> Result<Self, CryptoError> {
        let fits = match spec {
            KeySpec::SymmetricDefault => bytes.len() == SYMMETRIC_KEY_LEN,
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
                (hmac_key_len(spec)..=MAX_HMAC_KEY_LEN).contains(&bytes.len())
            }
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                rsa::KeyPair::from_pkcs8(bytes)
                    .is_ok_and(|pair| Some(pair.public_modulus_len() * 8) == spec.rsa_bits())
            }
            KeySpec::EccNistP256
            | KeySpec::EccNistP384
            | KeySpec::EccNistP521
            | KeySpec::EccSecgP256k1 => {
                EcdsaKeyPair::from_pkcs8(ecdsa_algorithm(spec)?, bytes).is_ok()
            }
        };
        if !fits {
            return Err(CryptoError::InvalidKeyMaterial(spec));
        }
        Ok(Self {
            spec,
            secret: SecretBytes::copy_from(bytes),
            kdf: std::sync::OnceLock::new(),
        })
    }

    /// The key spec.
    #[must_use]
    pub fn spec(&self) -> KeySpec {
        self.spec
    }

    /// The secret bytes, for storage (see the table on [`KeyMaterial`]).
    /// Never log them.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8] {
        self.secret.expose()
    }

    /// The public key as DER SubjectPublicKeyInfo (RFC 5280), as
    /// `GetPublicKey` returns it.
    ///
    /// # Errors
    ///
    /// [`CryptoError::NoPublicKey`] for symmetric and HMAC keys
    /// (`UnsupportedOperationException`, as in KMS).
    pub fn public_key_der(&self) -> Result<Vec<u8>, CryptoError> {
        let der = if self.spec.rsa_bits().is_some() {
            self.rsa_key_pair()?
                .public_key()
                .as_der()
                .map(|der| der.as_ref().to_vec())
        } else if self.spec.is_ecc() {
            self.ecdsa_key_pair()?
                .public_key()
                .as_der()
                .map(|der| der.as_ref().to_vec())
        } else {
            return Err(CryptoError::NoPublicKey(self.spec));
        };
        der.map_err(|_| CryptoError::Internal("public key serialization failed"))
    }

    pub(crate) fn secret(&self) -> &SecretBytes {
        &self.secret
    }

    /// The material as an HMAC-SHA-512 key (HKDF-Expand's PRK), keyed on
    /// first use.
    pub(crate) fn kdf_key(&self) -> &aws_lc_rs::hmac::Key {
        self.kdf.get_or_init(|| {
            aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA512, self.secret.expose())
        })
    }

    pub(crate) fn wrong_usage(&self, operation: &'static str) -> CryptoError {
        CryptoError::WrongKeyUsage {
            spec: self.spec,
            operation,
        }
    }

    pub(crate) fn rsa_key_pair(&self) -> Result<rsa::KeyPair, CryptoError> {
        rsa::KeyPair::from_pkcs8(self.secret.expose())
            .map_err(|_| CryptoError::Internal(STORED_MATERIAL_UNREADABLE))
    }

    pub(crate) fn ecdsa_key_pair(&self) -> Result<EcdsaKeyPair, CryptoError> {
        EcdsaKeyPair::from_pkcs8(ecdsa_algorithm(self.spec)?, self.secret.expose())
            .map_err(|_| CryptoError::Internal(STORED_MATERIAL_UNREADABLE))
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("spec", &self.spec)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The ECDSA signing algorithm of an EC spec; its curve is the spec's curve.
pub(crate) fn ecdsa_algorithm(
    spec: KeySpec,
) -> Result<&'static EcdsaSigningAlgorithm, CryptoError> {
    match spec {
        KeySpec::EccNistP256 => Ok(&signature::ECDSA_P256_SHA256_ASN1_SIGNING),
        KeySpec::EccNistP384 => Ok(&signature::ECDSA_P384_SHA384_ASN1_SIGNING),
        KeySpec::EccNistP521 => Ok(&signature::ECDSA_P521_SHA512_ASN1_SIGNING),
        KeySpec::EccSecgP256k1 => Ok(&signature::ECDSA_P256K1_SHA256_ASN1_SIGNING),
        _ => Err(CryptoError::Internal("not an elliptic-curve key spec")),
    }
}

fn hmac_key_len(spec: KeySpec) -> usize {
    spec.mac_algorithm()
        .map_or(0, |algorithm| algorithm.mac_len())
}

fn random_secret(len: usize) -> Result<SecretBytes, CryptoError> {
    let mut secret = SecretBytes::zeroed(len);
    fill_random(secret.expose_mut())?;
    Ok(secret)
}
