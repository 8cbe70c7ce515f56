//! Signing keys and signatures.
//!
//! See <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html#derive-signing-key>.

use std::fmt;

use aws_lc_rs::hmac;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::authorization::{CredentialScope, TERMINATOR};
use crate::encoding::hex_encode;
use crate::secret::SecretKey;

/// `kSigning`: the key derived from a secret key for one credential scope.
///
/// Wiped on drop and redacted in `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SigningKey([u8; 32]);

impl SigningKey {
    /// Derives `kSigning` = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date),
    /// region), service), "aws4_request").
    ///
    /// ```
    /// use kmsgov_sigv4::{CredentialScope, SecretKey, SigningKey, Timestamp};
    ///
    /// let secret = SecretKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    /// let time = Timestamp::parse_amz_date("20150830T123600Z").unwrap();
    /// let key = SigningKey::derive(&secret, &CredentialScope::new(time, "us-east-1", "iam"));
    /// assert_eq!(
    ///     key.expose_hex(),
    ///     "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    /// );
    /// ```
    pub fn derive(secret: &SecretKey, scope: &CredentialScope) -> Self {
        let mut k_secret = Zeroizing::new(Vec::with_capacity(4 + secret.expose().len()));
        k_secret.extend_from_slice(b"AWS4");
        k_secret.extend_from_slice(secret.expose().as_bytes());
        let k_date = Zeroizing::new(hmac_sha256(&k_secret, scope.date_stamp().as_bytes()));
        let k_region = Zeroizing::new(hmac_sha256(k_date.as_ref(), scope.region().as_bytes()));
        let k_service = Zeroizing::new(hmac_sha256(k_region.as_ref(), scope.service().as_bytes()));
        Self(hmac_sha256(k_service.as_ref(), TERMINATOR.as_bytes()))
    }

    /// The signature of `string_to_sign`: HMAC-SHA256 with this key.
    pub fn sign(&self, string_to_sign: &str) -> [u8; 32] {
        hmac_sha256(&self.0, string_to_sign.as_bytes())
    }

    /// The key in lower-case hex, for known-answer tests.
    pub fn expose_hex(&self) -> String {
        hex_encode(&self.0)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(&key, data);
    let mut out = [0_u8; 32];
    for (slot, byte) in out.iter_mut().zip(tag.as_ref()) {
        *slot = *byte;
    }
    out
}
