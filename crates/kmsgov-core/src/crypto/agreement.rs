//! `DeriveSharedSecret`: ECDH on the NIST curves.

use aws_lc_rs::agreement::{
    self, ParsedPublicKey, ParsedPublicKeyFormat, PrivateKey, UnparsedPublicKey,
};

use super::material::STORED_MATERIAL_UNREADABLE;
use super::{CryptoError, KeyMaterial, KeySpec, SecretBytes};

impl KeyMaterial {
    /// The ECDH shared secret (the x coordinate of the shared point, as KMS
    /// returns it) between this key and `peer_public_key`, a DER
    /// SubjectPublicKeyInfo on the same curve (`DeriveSharedSecret`).
    ///
    /// # Errors
    ///
    /// [`CryptoError::WrongKeyUsage`] for keys that cannot do key agreement
    /// (everything but `ECC_NIST_P256/384/521`), [`CryptoError::InvalidPublicKey`]
    /// if the peer key is not a SubjectPublicKeyInfo on this curve.
    pub fn derive_shared_secret(&self, peer_public_key: &[u8]) -> Result<SecretBytes, CryptoError> {
        let algorithm = match self.spec() {
            KeySpec::EccNistP256 => &agreement::ECDH_P256,
            KeySpec::EccNistP384 => &agreement::ECDH_P384,
            KeySpec::EccNistP521 => &agreement::ECDH_P521,
            _ => return Err(self.wrong_usage("DeriveSharedSecret")),
        };
        let private_key = PrivateKey::from_private_key_der(algorithm, self.secret().expose())
            .map_err(|_| CryptoError::Internal(STORED_MATERIAL_UNREADABLE))?;
        let peer = ParsedPublicKey::try_from(&UnparsedPublicKey::new(algorithm, peer_public_key))
            .map_err(|_| CryptoError::InvalidPublicKey)?;
        // aws-lc-rs also takes bare SEC1 points; KMS takes only SubjectPublicKeyInfo.
        if !matches!(peer.format(), ParsedPublicKeyFormat::X509) {
            return Err(CryptoError::InvalidPublicKey);
        }
        agreement::agree(
            &private_key,
            peer,
            CryptoError::InvalidPublicKey,
            |secret| Ok(SecretBytes::copy_from(secret)),
        )
    }
}
