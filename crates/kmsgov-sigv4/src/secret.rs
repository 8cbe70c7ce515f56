//! Secrets as types: the secret access key, the session token and the
//! credentials a verifier looks up by access key id.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::time::Timestamp;

/// A secret access key (`wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY`).
///
/// The bytes are wiped when the value is dropped, `Debug` prints
/// `<redacted>`, and there is deliberately no `Display`: the only way to
/// read the key is [`SecretKey::expose`].
///
/// ```
/// use kmsgov_sigv4::SecretKey;
///
/// let key = SecretKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
/// assert_eq!(format!("{key:?}"), "SecretKey(<redacted>)");
/// assert_eq!(key.expose(), "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey(String);

impl SecretKey {
    /// Wraps a secret access key.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself. Every call site is a place where the secret leaves
    /// this type; keep them few.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// The session token of temporary credentials (`X-Amz-Security-Token`).
///
/// It is a bearer credential, so it is handled like a secret: wiped on
/// drop, redacted in `Debug`, compared in constant time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SessionToken(String);

impl SessionToken {
    /// Wraps a session token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

/// What a verifier knows about an access key id: its secret and, for
/// temporary credentials, the session token and expiry.
#[derive(Debug, Clone)]
pub struct Credentials {
    secret_key: SecretKey,
    session_token: Option<SessionToken>,
    expiration: Option<Timestamp>,
}

impl Credentials {
    /// Long-term credentials (an IAM user's access key).
    pub fn long_term(secret_key: SecretKey) -> Self {
        Self {
            secret_key,
            session_token: None,
            expiration: None,
        }
    }

    /// Temporary credentials: requests must carry `session_token`, and are
    /// refused with `ExpiredTokenException` after `expiration`.
    pub fn temporary(
        secret_key: SecretKey,
        session_token: SessionToken,
        expiration: Option<Timestamp>,
    ) -> Self {
        Self {
            secret_key,
            session_token: Some(session_token),
            expiration,
        }
    }

    /// The secret access key.
    pub fn secret_key(&self) -> &SecretKey {
        &self.secret_key
    }

    /// The session token, for temporary credentials.
    pub fn session_token(&self) -> Option<&SessionToken> {
        self.session_token.as_ref()
    }

    /// When temporary credentials stop being valid.
    pub fn expiration(&self) -> Option<Timestamp> {
        self.expiration
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let credentials = Credentials::temporary(
            SecretKey::new("very-secret"),
            SessionToken::new("token-value"),
            None,
        );
        let debug = format!("{credentials:?}");
        assert!(!debug.contains("very-secret"), "{debug}");
        assert!(!debug.contains("token-value"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }
}
