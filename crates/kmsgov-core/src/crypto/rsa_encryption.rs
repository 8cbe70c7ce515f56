//! `Encrypt` and `Decrypt` with RSA keys: RSAES-OAEP with SHA-1 or SHA-256.

use aws_lc_rs::rsa::{
    OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
};

use super::material::STORED_MATERIAL_UNREADABLE;
use super::{CryptoError, EncryptionAlgorithm, KeyMaterial, SecretBytes};
use crate::ciphertext::CiphertextError;

impl KeyMaterial {
    /// Encrypts `plaintext` with RSAES-OAEP under the public key (`Encrypt`
    /// with an RSA key).
    /// The hash and MGF1 use the same digest; there is no label.
    ///
    /// # Errors
    ///
    /// [`CryptoError::WrongKeyUsage`] for keys that are not RSA,
    /// [`CryptoError::IncompatibleAlgorithm`] for `SYMMETRIC_DEFAULT`,
    /// [`CryptoError::InvalidLength`] if the plaintext is longer than
    /// [`EncryptionAlgorithm::max_plaintext_len`].
    pub fn rsa_encrypt(
        &self,
        algorithm: EncryptionAlgorithm,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let (key, oaep) = self.oaep_key(algorithm, "Encrypt")?;
        let max = algorithm.max_plaintext_len(self.spec()).unwrap_or(0);
        if plaintext.is_empty() || plaintext.len() > max {
            return Err(CryptoError::InvalidLength {
                what: "plaintext",
                min: 1,
                max,
                actual: plaintext.len(),
            });
        }
        let public_key = OaepPublicEncryptingKey::new(key.public_key())
            .map_err(|_| CryptoError::Internal("rsa public key failed"))?;
        let mut ciphertext = vec![0; public_key.ciphertext_size()];
        let len = public_key
            .encrypt(oaep, plaintext, &mut ciphertext, None)
            .map_err(|_| CryptoError::Internal("rsa encryption failed"))?
            .len();
        ciphertext.truncate(len);
        Ok(ciphertext)
    }

    /// Decrypts an RSAES-OAEP `ciphertext` (`Decrypt` with an RSA key).
    ///
    /// # Errors
    ///
    /// [`CryptoError::InvalidCiphertext`] if it does not decrypt under this
    /// key and algorithm; otherwise as [`KeyMaterial::rsa_encrypt`].
    pub fn rsa_decrypt(
        &self,
        algorithm: EncryptionAlgorithm,
        ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        let (key, oaep) = self.oaep_key(algorithm, "Decrypt")?;
        if ciphertext.len() != key.key_size_bytes() {
            return Err(CiphertextError::Truncated.into());
        }
        let private_key = OaepPrivateDecryptingKey::new(key)
            .map_err(|_| CryptoError::Internal("rsa private key failed"))?;
        let mut plaintext = SecretBytes::zeroed(private_key.min_output_size());
        let len = private_key
            .decrypt(oaep, ciphertext, plaintext.expose_mut(), None)
            .map_err(|_| CiphertextError::AuthenticationFailed)?
            .len();
        plaintext.truncate(len);
        Ok(plaintext)
    }

    fn oaep_key(
        &self,
        algorithm: EncryptionAlgorithm,
        operation: &'static str,
    ) -> Result<(PrivateDecryptingKey, &'static OaepAlgorithm), CryptoError> {
        if self.spec().rsa_bits().is_none() {
            return Err(self.wrong_usage(operation));
        }
        let oaep = match algorithm {
            EncryptionAlgorithm::RsaesOaepSha1 => &OAEP_SHA1_MGF1SHA1,
            EncryptionAlgorithm::RsaesOaepSha256 => &OAEP_SHA256_MGF1SHA256,
            EncryptionAlgorithm::SymmetricDefault => {
                return Err(CryptoError::IncompatibleAlgorithm {
                    spec: self.spec(),
                    algorithm: algorithm.as_str(),
                })
            }
        };
        let key = PrivateDecryptingKey::from_pkcs8(self.secret().expose())
            .map_err(|_| CryptoError::Internal(STORED_MATERIAL_UNREADABLE))?;
        Ok((key, oaep))
    }
}
