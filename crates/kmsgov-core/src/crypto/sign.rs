//! `Sign` and `Verify`: RSASSA-PSS, RSASSA-PKCS1-v1_5 and ECDSA.

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, RsaEncoding, UnparsedPublicKey, VerificationAlgorithm};

use super::{CryptoError, KeyMaterial, KeySpec, MessageType, SigningAlgorithm, MAX_MESSAGE_LEN};

impl KeyMaterial {
    /// Signs `message` (`Sign`).
    ///
    /// With [`MessageType::Raw`] the message (at most [`MAX_MESSAGE_LEN`]
    /// bytes) is hashed with the algorithm's digest; with
    /// [`MessageType::Digest`] it is that digest, and its length must be the
    /// digest's.
    /// RSASSA-PSS uses MGF1 with the same digest and a salt as long as the
    /// digest; ECDSA signatures are DER-encoded (RFC 3279), as KMS returns
    /// them.
    ///
    /// # Errors
    ///
    /// [`CryptoError::WrongKeyUsage`] for keys that cannot sign,
    /// [`CryptoError::IncompatibleAlgorithm`] if the spec cannot use the
    /// algorithm, [`CryptoError::InvalidLength`] or
    /// [`CryptoError::DigestLength`] for a bad message.
    pub fn sign(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.check_signing_algorithm(algorithm, "Sign")?;
        let input = SignInput::new(algorithm, message_type, message)?;
        if self.spec().rsa_bits().is_some() {
            let pair = self.rsa_key_pair()?;
            let mut signature = vec![0; pair.public_modulus_len()];
            let encoding = rsa_encoding(algorithm);
            let signed = match input {
                SignInput::Raw(message) => {
                    pair.sign(encoding, &SystemRandom::new(), message, &mut signature)
                }
                SignInput::Digest(digest) => pair.sign_digest(encoding, &digest, &mut signature),
            };
            signed.map_err(|_| CryptoError::Internal("rsa signing failed"))?;
            Ok(signature)
        } else {
            let pair = self.ecdsa_key_pair()?;
            let signature = match input {
                SignInput::Raw(message) => pair.sign(&SystemRandom::new(), message),
                SignInput::Digest(digest) => pair.sign_digest(&digest),
            };
            signature
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| CryptoError::Internal("ecdsa signing failed"))
        }
    }

    /// Checks that `signature` is this key's signature of `message`
    /// (`Verify`), with the same message rules as [`KeyMaterial::sign`].
    ///
    /// # Errors
    ///
    /// [`CryptoError::InvalidSignature`] if it is not; otherwise as
    /// [`KeyMaterial::sign`].
    pub fn verify(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        self.check_signing_algorithm(algorithm, "Verify")?;
        let input = SignInput::new(algorithm, message_type, message)?;
        let public_key = self.public_key_der()?;
        let key =
            UnparsedPublicKey::new(verification_algorithm(self.spec(), algorithm), public_key);
        let verified = match input {
            SignInput::Raw(message) => key.verify(message, signature),
            SignInput::Digest(digest) => key.verify_digest(&digest, signature),
        };
        verified.map_err(|_| CryptoError::InvalidSignature)
    }

    fn check_signing_algorithm(
        &self,
        algorithm: SigningAlgorithm,
        operation: &'static str,
    ) -> Result<(), CryptoError> {
        let supported = SigningAlgorithm::for_spec(self.spec());
        if supported.is_empty() {
            return Err(self.wrong_usage(operation));
        }
        if !supported.contains(&algorithm) {
            return Err(CryptoError::IncompatibleAlgorithm {
                spec: self.spec(),
                algorithm: algorithm.as_str(),
            });
        }
        Ok(())
    }
}

/// A checked message: raw bytes to hash, or an imported digest.
enum SignInput<'a> {
    Raw(&'a [u8]),
    Digest(Digest),
}

impl<'a> SignInput<'a> {
    fn new(
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &'a [u8],
    ) -> Result<Self, CryptoError> {
        match message_type {
            MessageType::Raw => {
                if message.len() > MAX_MESSAGE_LEN {
                    return Err(CryptoError::InvalidLength {
                        what: "message",
                        min: 0,
                        max: MAX_MESSAGE_LEN,
                        actual: message.len(),
                    });
                }
                Ok(Self::Raw(message))
            }
            MessageType::Digest => {
                let expected = algorithm.digest_len();
                Digest::import_less_safe(message, digest_algorithm(algorithm))
                    .map(Self::Digest)
                    .map_err(|_| CryptoError::DigestLength {
                        expected,
                        actual: message.len(),
                    })
            }
        }
    }
}

fn digest_algorithm(algorithm: SigningAlgorithm) -> &'static digest::Algorithm {
    match algorithm.digest_len() {
        32 => &digest::SHA256,
        48 => &digest::SHA384,
        _ => &digest::SHA512,
    }
}

fn rsa_encoding(algorithm: SigningAlgorithm) -> &'static dyn RsaEncoding {
    match algorithm {
        SigningAlgorithm::RsassaPssSha256 => &signature::RSA_PSS_SHA256,
        SigningAlgorithm::RsassaPssSha384 => &signature::RSA_PSS_SHA384,
        SigningAlgorithm::RsassaPssSha512 => &signature::RSA_PSS_SHA512,
        SigningAlgorithm::RsassaPkcs1V15Sha256 => &signature::RSA_PKCS1_SHA256,
        SigningAlgorithm::RsassaPkcs1V15Sha384 => &signature::RSA_PKCS1_SHA384,
        // Only RSA algorithms reach here; `check_signing_algorithm` saw to it.
        SigningAlgorithm::RsassaPkcs1V15Sha512
        | SigningAlgorithm::EcdsaSha256
        | SigningAlgorithm::EcdsaSha384
        | SigningAlgorithm::EcdsaSha512 => &signature::RSA_PKCS1_SHA512,
    }
}

fn verification_algorithm(
    spec: KeySpec,
    algorithm: SigningAlgorithm,
) -> &'static dyn VerificationAlgorithm {
    match (spec, algorithm) {
        (_, SigningAlgorithm::RsassaPssSha256) => &signature::RSA_PSS_2048_8192_SHA256,
        (_, SigningAlgorithm::RsassaPssSha384) => &signature::RSA_PSS_2048_8192_SHA384,
        (_, SigningAlgorithm::RsassaPssSha512) => &signature::RSA_PSS_2048_8192_SHA512,
        (_, SigningAlgorithm::RsassaPkcs1V15Sha256) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (_, SigningAlgorithm::RsassaPkcs1V15Sha384) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (_, SigningAlgorithm::RsassaPkcs1V15Sha512) => &signature::RSA_PKCS1_2048_8192_SHA512,
        (KeySpec::EccSecgP256k1, _) => &signature::ECDSA_P256K1_SHA256_ASN1,
        (_, SigningAlgorithm::EcdsaSha256) => &signature::ECDSA_P256_SHA256_ASN1,
        (_, SigningAlgorithm::EcdsaSha384) => &signature::ECDSA_P384_SHA384_ASN1,
        (_, SigningAlgorithm::EcdsaSha512) => &signature::ECDSA_P521_SHA512_ASN1,
    }
}
