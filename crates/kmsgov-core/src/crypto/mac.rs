//! `GenerateMac` and `VerifyMac`: HMAC with SHA-224/256/384/512.

use aws_lc_rs::hmac;

use super::{CryptoError, KeyMaterial, MacAlgorithm, MAX_MESSAGE_LEN};

impl KeyMaterial {
    /// The HMAC of `message` (`GenerateMac`); at most [`MAX_MESSAGE_LEN`]
    /// bytes.
    ///
    /// # Errors
    ///
    /// [`CryptoError::WrongKeyUsage`] for keys that are not HMAC keys,
    /// [`CryptoError::IncompatibleAlgorithm`] if the algorithm is not the
    /// spec's, [`CryptoError::InvalidLength`] for a long message.
    pub fn generate_mac(
        &self,
        algorithm: MacAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let key = self.hmac_key(algorithm, "GenerateMac", message)?;
        Ok(hmac::sign(&key, message).as_ref().to_vec())
    }

    /// Checks `mac` against the HMAC of `message` in constant time
    /// (`VerifyMac`).
    ///
    /// # Errors
    ///
    /// [`CryptoError::InvalidMac`] if it does not match; otherwise as
    /// [`KeyMaterial::generate_mac`].
    pub fn verify_mac(
        &self,
        algorithm: MacAlgorithm,
        message: &[u8],
        mac: &[u8],
    ) -> Result<(), CryptoError> {
        let key = self.hmac_key(algorithm, "VerifyMac", message)?;
        hmac::verify(&key, message, mac).map_err(|_| CryptoError::InvalidMac)
    }

    fn hmac_key(
        &self,
        algorithm: MacAlgorithm,
        operation: &'static str,
        message: &[u8],
    ) -> Result<hmac::Key, CryptoError> {
        let Some(spec_algorithm) = self.spec().mac_algorithm() else {
            return Err(self.wrong_usage(operation));
        };
        if spec_algorithm != algorithm {
            return Err(CryptoError::IncompatibleAlgorithm {
                spec: self.spec(),
                algorithm: algorithm.as_str(),
            });
        }
        if message.len() > MAX_MESSAGE_LEN {
            return Err(CryptoError::InvalidLength {
                what: "message",
                min: 0,
                max: MAX_MESSAGE_LEN,
                actual: message.len(),
            });
        }
        let hmac_algorithm = match algorithm {
            MacAlgorithm::HmacSha224 => hmac::HMAC_SHA224,
            MacAlgorithm::HmacSha256 => hmac::HMAC_SHA256,
            MacAlgorithm::HmacSha384 => hmac::HMAC_SHA384,
            MacAlgorithm::HmacSha512 => hmac::HMAC_SHA512,
        };
        Ok(hmac::Key::new(hmac_algorithm, self.secret().expose()))
    }
}
