//! [`KmsError`]: an AWS KMS error name and message, as the API returns them.

use std::fmt;

use crate::crypto::CryptoError;
use crate::store::StoreError;

macro_rules! error_kinds {
    ($($name:ident),* $(,)?) => {
        /// The AWS error names KMS operations return.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(missing_docs, reason = "the variants are the AWS error names")]
        pub enum ErrorKind { $($name),* }

        impl ErrorKind {
            /// The AWS name (the `__type` of the JSON error).
            #[must_use]
            pub fn name(self) -> &'static str {
                match self { $(ErrorKind::$name => stringify!($name)),* }
            }

            /// Parses an AWS error name.
            #[must_use]
            pub fn from_name(s: &str) -> Option<ErrorKind> {
                match s { $(stringify!($name) => Some(ErrorKind::$name),)* _ => None }
            }
        }
    };
}

error_kinds!(
    AccessDeniedException,
    AlreadyExistsException,
    CloudHsmClusterInvalidConfigurationException,
    ConflictException,
    CustomKeyStoreInvalidStateException,
    CustomKeyStoreNotFoundException,
    DependencyTimeoutException,
    DisabledException,
    DryRunOperationException,
    ExpiredImportTokenException,
    IncorrectKeyException,
    IncorrectKeyMaterialException,
    InvalidAliasNameException,
    InvalidArnException,
    InvalidCiphertextException,
    InvalidGrantIdException,
    InvalidGrantTokenException,
    InvalidImportTokenException,
    InvalidKeyUsageException,
    InvalidMarkerException,
    KeyUnavailableException,
    KMSInternalException,
    KMSInvalidMacException,
    KMSInvalidSignatureException,
    KMSInvalidStateException,
    LimitExceededException,
    MalformedPolicyDocumentException,
    NotFoundException,
    TagException,
    UnsupportedOperationException,
    ValidationException,
);

impl ErrorKind {
    /// The HTTP status AWS KMS answers this error with.
    #[must_use]
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::KMSInternalException | ErrorKind::KeyUnavailableException => 500,
            ErrorKind::DependencyTimeoutException => 503,
            _ => 400,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error a KMS operation returns: the AWS error name and its message.
///
/// Messages are safe to send to clients: internal faults carry a generic
/// message, and the detail goes only to [`KmsError::detail`] for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsError {
    /// The AWS error name.
    pub kind: ErrorKind,
    /// The message for the client.
    pub message: String,
    /// For internal faults: what went wrong, for the operator's logs only.
    pub detail: Option<String>,
}

impl KmsError {
    /// An error with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> KmsError {
        KmsError {
            kind,
            message: message.into(),
            detail: None,
        }
    }

    /// A `ValidationException`.
    pub fn validation(message: impl Into<String>) -> KmsError {
        KmsError::new(ErrorKind::ValidationException, message)
    }

    /// A `NotFoundException`.
    pub fn not_found(message: impl Into<String>) -> KmsError {
        KmsError::new(ErrorKind::NotFoundException, message)
    }

    /// A `KMSInternalException` whose detail is kept out of the message.
    pub fn internal(detail: impl Into<String>) -> KmsError {
        KmsError {
            kind: ErrorKind::KMSInternalException,
            message: "An internal error occurred.".into(),
            detail: Some(detail.into()),
        }
    }

    /// Whether this is the store refusing a change because another writer
    /// got there first (a conflicting change, or the record is gone).
    pub(crate) fn is_store_race(&self) -> bool {
        self.kind == ErrorKind::KMSInternalException
            && self.detail.as_deref().is_some_and(|d| {
                d == StoreError::Conflict.to_string() || d == StoreError::NotFound.to_string()
            })
    }

    /// The AWS error name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }
}

impl fmt::Display for KmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for KmsError {}

impl From<StoreError> for KmsError {
    fn from(e: StoreError) -> KmsError {
        match e {
            StoreError::Unavailable(m) => KmsError {
                kind: ErrorKind::DependencyTimeoutException,
                message: "The system timed out while trying to fulfill the request. You can retry the request.".into(),
                detail: Some(m),
            },
            other => KmsError::internal(other.to_string()),
        }
    }
}

impl From<CryptoError> for KmsError {
    fn from(e: CryptoError) -> KmsError {
        use crate::crypto::ErrorCode as C;
        let kind = match e.code() {
            C::InvalidCiphertextException => ErrorKind::InvalidCiphertextException,
            C::KMSInvalidSignatureException => ErrorKind::KMSInvalidSignatureException,
            C::KMSInvalidMacException => ErrorKind::KMSInvalidMacException,
            C::InvalidKeyUsageException => ErrorKind::InvalidKeyUsageException,
            C::UnsupportedOperationException => ErrorKind::UnsupportedOperationException,
            C::ValidationException => ErrorKind::ValidationException,
            C::KMSInternalException => return KmsError::internal(e.to_string()),
        };
        let message = match kind {
            // AWS says no more than this about a ciphertext that does not open.
            ErrorKind::InvalidCiphertextException => String::new(),
            ErrorKind::KMSInvalidSignatureException => String::new(),
            ErrorKind::KMSInvalidMacException => String::new(),
            _ => e.to_string(),
        };
        KmsError::new(kind, message)
    }
}

impl From<kmsgov_authz::ErrorCode> for KmsError {
    fn from(code: kmsgov_authz::ErrorCode) -> KmsError {
        KmsError::new(
            ErrorKind::from_name(code.name()).unwrap_or(ErrorKind::ValidationException),
            String::new(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_authz_error_code_has_a_kind() {
        for name in [
            "AccessDeniedException",
            "DryRunOperationException",
            "KMSInvalidStateException",
            "ValidationException",
        ] {
            assert_eq!(ErrorKind::from_name(name).map(ErrorKind::name), Some(name));
        }
        assert_eq!(ErrorKind::KMSInternalException.http_status(), 500);
        assert_eq!(ErrorKind::AccessDeniedException.http_status(), 400);
    }

    #[test]
    fn internal_errors_keep_detail_out_of_the_message() {
        let e = KmsError::internal("disk /var/x is full");
        assert!(!e.message.contains("disk"));
        assert_eq!(e.detail.as_deref(), Some("disk /var/x is full"));
    }
}
