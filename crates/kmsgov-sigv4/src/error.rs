//! Why a request failed authentication, and the AWS error code for it.

use std::fmt;

/// A piece of the signature, as named in the `Authorization` header or the
/// presigned query string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Component {
    /// `AWS4-HMAC-SHA256`, or `X-Amz-Algorithm`.
    Algorithm,
    /// `Credential=` or `X-Amz-Credential`.
    Credential,
    /// `SignedHeaders=` or `X-Amz-SignedHeaders`.
    SignedHeaders,
    /// `Signature=` or `X-Amz-Signature`.
    Signature,
    /// The `x-amz-date` / `date` header, or `X-Amz-Date`.
    Date,
    /// `X-Amz-Expires`.
    Expires,
    /// The `x-amz-security-token` header or `X-Amz-Security-Token`.
    SecurityToken,
    /// The `x-amz-content-sha256` header.
    ContentSha256,
}

impl Component {
    /// The name as it appears on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Component::Algorithm => "Algorithm",
            Component::Credential => "Credential",
            Component::SignedHeaders => "SignedHeaders",
            Component::Signature => "Signature",
            Component::Date => "X-Amz-Date",
            Component::Expires => "X-Amz-Expires",
            Component::SecurityToken => "X-Amz-Security-Token",
            Component::ContentSha256 => "X-Amz-Content-Sha256",
        }
    }
}

/// Why SigV4 verification refused a request.
///
/// [`SigV4Error::code`] gives the AWS error name the server must return and
/// `Display` a message that is safe to send to the client: it never contains
/// request input, the secret key or the expected signature.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SigV4Error {
    /// Neither an `Authorization` header nor a presigned query string.
    MissingAuthentication,
    /// Both an `Authorization` header and a presigned query string.
    ConflictingAuthentication,
    /// An algorithm other than `AWS4-HMAC-SHA256`.
    UnsupportedAlgorithm,
    /// A required component is absent.
    Missing(Component),
    /// A component is present but cannot be parsed.
    Malformed(Component),
    /// A component appears more than once.
    Duplicate(Component),
    /// The `Authorization` header has a component SigV4 does not define.
    UnknownComponent,
    /// `host` is not among the signed headers.
    HostNotSigned,
    /// Neither `x-amz-date` nor `date` is among the signed headers.
    DateNotSigned,
    /// A signed header is absent from the request.
    SignedHeaderAbsent,
    /// The credential scope's date is not the request's date.
    ScopeDateMismatch,
    /// The credential scope names another region.
    WrongRegion {
        /// The region this verifier serves.
        expected: String,
    },
    /// The credential scope names another service.
    WrongService {
        /// The signing name of this verifier's service.
        expected: String,
    },
    /// The credential scope does not end in `aws4_request`.
    WrongTerminator,
    /// The request's date is outside the allowed clock skew.
    RequestTimeTooSkewed,
    /// A presigned request used before its `X-Amz-Date`.
    NotYetValid,
    /// A presigned request used after `X-Amz-Date` + `X-Amz-Expires`.
    Expired,
    /// `X-Amz-Expires` above 604,800 seconds (seven days).
    ExpiresTooLarge,
    /// `UNSIGNED-PAYLOAD` in a request authenticated by header.
    UnsignedPayloadNotAllowed,
    /// `x-amz-content-sha256` is not the SHA-256 of the body.
    PayloadHashMismatch,
    /// No credentials for the access key id.
    UnknownAccessKey,
    /// Temporary credentials used without their session token.
    SecurityTokenMissing,
    /// A session token that does not belong to the access key.
    SecurityTokenInvalid,
    /// Temporary credentials past their expiry.
    TokenExpired,
    /// The signature does not match.
    SignatureMismatch,
}

impl SigV4Error {
    /// The AWS error name (`__type`) to return for this failure.
    pub fn code(&self) -> &'static str {
        match self {
            SigV4Error::MissingAuthentication => "MissingAuthenticationToken",
            SigV4Error::ConflictingAuthentication
            | SigV4Error::UnsupportedAlgorithm
            | SigV4Error::Missing(_)
            | SigV4Error::Malformed(_)
            | SigV4Error::Duplicate(_)
            | SigV4Error::UnknownComponent
            | SigV4Error::HostNotSigned
            | SigV4Error::DateNotSigned => "IncompleteSignature",
            SigV4Error::SignedHeaderAbsent
            | SigV4Error::ScopeDateMismatch
            | SigV4Error::WrongRegion { .. }
            | SigV4Error::WrongService { .. }
            | SigV4Error::WrongTerminator
            | SigV4Error::RequestTimeTooSkewed
            | SigV4Error::NotYetValid
            | SigV4Error::Expired
            | SigV4Error::ExpiresTooLarge
            | SigV4Error::UnsignedPayloadNotAllowed
            | SigV4Error::PayloadHashMismatch
            | SigV4Error::SignatureMismatch => "InvalidSignatureException",
            SigV4Error::UnknownAccessKey
            | SigV4Error::SecurityTokenMissing
            | SigV4Error::SecurityTokenInvalid => "UnrecognizedClientException",
            SigV4Error::TokenExpired => "ExpiredTokenException",
        }
    }
}

impl fmt::Display for SigV4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigV4Error::MissingAuthentication => f.write_str("request is missing authentication token"),
            SigV4Error::ConflictingAuthentication => f.write_str(
                "only one authentication mechanism is allowed: the authorization header or the presigned query string",
            ),
            SigV4Error::UnsupportedAlgorithm => {
                f.write_str("unsupported signing algorithm, expected `AWS4-HMAC-SHA256`")
            }
            SigV4Error::Missing(component) => {
                write!(f, "authorization requires the `{}` parameter", component.name())
            }
            SigV4Error::Malformed(component) => {
                write!(f, "the `{}` parameter is malformed", component.name())
            }
            SigV4Error::Duplicate(component) => {
                write!(f, "the `{}` parameter appears more than once", component.name())
            }
            SigV4Error::UnknownComponent => {
                f.write_str("the authorization header has an unknown parameter")
            }
            SigV4Error::HostNotSigned => f.write_str("`host` must be a signed header"),
            SigV4Error::DateNotSigned => {
                f.write_str("`x-amz-date` or `date` must be a signed header")
            }
            SigV4Error::SignedHeaderAbsent => {
                f.write_str("a header listed in the signed headers is missing from the request")
            }
            SigV4Error::ScopeDateMismatch => {
                f.write_str("date in credential scope does not match the date of the request")
            }
            SigV4Error::WrongRegion { expected } => {
                write!(f, "credential should be scoped to a valid region: `{expected}`")
            }
            SigV4Error::WrongService { expected } => {
                write!(f, "credential should be scoped to correct service: `{expected}`")
            }
            SigV4Error::WrongTerminator => {
                f.write_str("credential should be scoped with a valid terminator: `aws4_request`")
            }
            SigV4Error::RequestTimeTooSkewed => f.write_str(
                "signature expired: the request time is too far from the server time",
            ),
            SigV4Error::NotYetValid => f.write_str("the presigned request is not yet valid"),
            SigV4Error::Expired => f.write_str("the presigned request has expired"),
            SigV4Error::ExpiresTooLarge => f.write_str(
                "`X-Amz-Expires` must be less than a week (604800 seconds)",
            ),
            SigV4Error::UnsignedPayloadNotAllowed => f.write_str(
                "`UNSIGNED-PAYLOAD` is only allowed in presigned requests",
            ),
            SigV4Error::PayloadHashMismatch => f.write_str(
                "the provided `x-amz-content-sha256` header does not match what was computed",
            ),
            SigV4Error::UnknownAccessKey | SigV4Error::SecurityTokenInvalid => {
                f.write_str("the security token included in the request is invalid")
            }
            SigV4Error::SecurityTokenMissing => {
                f.write_str("the request must include the security token of temporary credentials")
            }
            SigV4Error::TokenExpired => {
                f.write_str("the security token included in the request is expired")
            }
            SigV4Error::SignatureMismatch => f.write_str(
                "the request signature we calculated does not match the signature you provided",
            ),
        }
    }
}

impl std::error::Error for SigV4Error {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes and messages are part of the contract: each is asserted exactly.
    #[test]
    fn codes_and_messages() {
        let cases = [
            (
                SigV4Error::MissingAuthentication,
                "MissingAuthenticationToken",
                "request is missing authentication token",
            ),
            (
                SigV4Error::ConflictingAuthentication,
                "IncompleteSignature",
                "only one authentication mechanism is allowed: the authorization header or the presigned query string",
            ),
            (
                SigV4Error::UnsupportedAlgorithm,
                "IncompleteSignature",
                "unsupported signing algorithm, expected `AWS4-HMAC-SHA256`",
            ),
            (
                SigV4Error::Missing(Component::Credential),
                "IncompleteSignature",
                "authorization requires the `Credential` parameter",
            ),
            (
                SigV4Error::Malformed(Component::Expires),
                "IncompleteSignature",
                "the `X-Amz-Expires` parameter is malformed",
            ),
            (
                SigV4Error::Duplicate(Component::Date),
                "IncompleteSignature",
                "the `X-Amz-Date` parameter appears more than once",
            ),
            (
                SigV4Error::UnknownComponent,
                "IncompleteSignature",
                "the authorization header has an unknown parameter",
            ),
            (
                SigV4Error::HostNotSigned,
                "IncompleteSignature",
                "`host` must be a signed header",
            ),
            (
                SigV4Error::DateNotSigned,
                "IncompleteSignature",
                "`x-amz-date` or `date` must be a signed header",
            ),
            (
                SigV4Error::SignedHeaderAbsent,
                "InvalidSignatureException",
                "a header listed in the signed headers is missing from the request",
            ),
            (
                SigV4Error::ScopeDateMismatch,
                "InvalidSignatureException",
                "date in credential scope does not match the date of the request",
            ),
            (
                SigV4Error::WrongRegion {
                    expected: "eu-west-1".to_owned(),
                },
                "InvalidSignatureException",
                "credential should be scoped to a valid region: `eu-west-1`",
            ),
            (
                SigV4Error::WrongService {
                    expected: "kms".to_owned(),
                },
                "InvalidSignatureException",
                "credential should be scoped to correct service: `kms`",
            ),
            (
                SigV4Error::WrongTerminator,
                "InvalidSignatureException",
                "credential should be scoped with a valid terminator: `aws4_request`",
            ),
            (
                SigV4Error::RequestTimeTooSkewed,
                "InvalidSignatureException",
                "signature expired: the request time is too far from the server time",
            ),
            (
                SigV4Error::NotYetValid,
                "InvalidSignatureException",
                "the presigned request is not yet valid",
            ),
            (
                SigV4Error::Expired,
                "InvalidSignatureException",
                "the presigned request has expired",
            ),
            (
                SigV4Error::ExpiresTooLarge,
                "InvalidSignatureException",
                "`X-Amz-Expires` must be less than a week (604800 seconds)",
            ),
            (
                SigV4Error::UnsignedPayloadNotAllowed,
                "InvalidSignatureException",
                "`UNSIGNED-PAYLOAD` is only allowed in presigned requests",
            ),
            (
                SigV4Error::PayloadHashMismatch,
                "InvalidSignatureException",
                "the provided `x-amz-content-sha256` header does not match what was computed",
            ),
            (
                SigV4Error::UnknownAccessKey,
                "UnrecognizedClientException",
                "the security token included in the request is invalid",
            ),
            (
                SigV4Error::SecurityTokenMissing,
                "UnrecognizedClientException",
                "the request must include the security token of temporary credentials",
            ),
            (
                SigV4Error::SecurityTokenInvalid,
                "UnrecognizedClientException",
                "the security token included in the request is invalid",
            ),
            (
                SigV4Error::TokenExpired,
                "ExpiredTokenException",
                "the security token included in the request is expired",
            ),
            (
                SigV4Error::SignatureMismatch,
                "InvalidSignatureException",
                "the request signature we calculated does not match the signature you provided",
            ),
        ];
        for (error, code, message) in cases {
            assert_eq!(error.code(), code, "{error:?}");
            assert_eq!(error.to_string(), message, "{error:?}");
        }
    }
}
