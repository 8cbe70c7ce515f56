//! The AWS JSON 1.1 protocol: targets, content types, request ids and the
//! shape of errors.
//!
//! An error is `{"__type": "<Name>", "message": "…"}` with the AWS error
//! name unqualified (the SDKs strip a `namespace#` prefix when there is one)
//! and the member `message` left out when there is nothing to say, as KMS
//! does for `InvalidCiphertextException`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kmsgov_authz::Operation;
use kmsgov_core::audit::AuditOperation;
use kmsgov_core::KmsError;
use kmsgov_sigv4::SigV4Error;

/// The content type of KMS requests and responses.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The prefix of `X-Amz-Target` for KMS (`TrentService.Encrypt`).
pub const TARGET_PREFIX: &str = "TrentService.";

/// The `X-Amz-Target` prefix of kmsgov's own audit operations
/// (`KmsGov.GetCheckpoint`, `KmsGov.GetInclusionProof`,
/// `KmsGov.GetConsistencyProof`).
pub const AUDIT_TARGET_PREFIX: &str = "KmsGov.";

/// The response header that carries the request id.
pub const REQUEST_ID_HEADER: &str = "x-amzn-RequestId";

/// An error answer: the status, the AWS error name and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) name: String,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, name: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            name: name.to_owned(),
            message: message.into(),
        }
    }

    /// `UnknownOperationException`: no such target, path or method.
    pub(crate) fn unknown_operation(status: StatusCode) -> ApiError {
        ApiError::new(status, "UnknownOperationException", "")
    }

    /// `SerializationException`: the body is not a JSON object in the
    /// content type KMS speaks.
    pub(crate) fn serialization(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "SerializationException", message)
    }

    /// `413`: the body is over the limit.
    pub(crate) fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            format!("Request body is larger than the limit of {limit} bytes."),
        )
    }

    /// The body did not arrive within the request time limit.
    pub(crate) fn body_timeout(limit: std::time::Duration) -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeoutException",
            format!(
                "The request body was not received within {} seconds.",
                limit.as_secs()
            ),
        )
    }

    /// The error a KMS operation returned. Internal faults keep their
    /// generic message; the caller logs the detail.
    pub(crate) fn from_kms(error: &KmsError) -> ApiError {
        ApiError {
            status: StatusCode::from_u16(error.kind.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            name: error.name().to_owned(),
            message: error.message.clone(),
        }
    }

    /// A failed authentication. The Coral front end of KMS answers every
    /// authentication failure with `400` and the name ending in
    /// `Exception` (`MissingAuthenticationTokenException`,
    /// `IncompleteSignatureException`, `InvalidSignatureException`,
    /// `UnrecognizedClientException`, `ExpiredTokenException`).
    pub(crate) fn from_sigv4(error: &SigV4Error) -> ApiError {
        let code = error.code();
        let name = if code.ends_with("Exception") {
            code.to_owned()
        } else {
            format!("{code}Exception")
        };
        ApiError {
            status: StatusCode::BAD_REQUEST,
            name,
            message: error.to_string(),
        }
    }

    /// The response, with the body AWS gives.
    pub(crate) fn into_response(self, request_id: &str) -> Response {
        let mut body = serde_json::Map::new();
        body.insert("__type".into(), self.name.into());
        if !self.message.is_empty() {
            body.insert("message".into(), self.message.into());
        }
        json_response(
            self.status,
            serde_json::Value::Object(body).to_string().into_bytes(),
            request_id,
        )
    }
}

/// A response with a JSON body in the KMS content type.
pub(crate) fn json_response(status: StatusCode, body: Vec<u8>, request_id: &str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// The operation an `X-Amz-Target` names.
pub(crate) fn operation(target: Option<&str>) -> Result<Target, ApiError> {
    let target = target.unwrap_or("");
    let kms = target
        .strip_prefix(TARGET_PREFIX)
        .and_then(Operation::from_name)
        .map(Target::Kms);
    let audit = target
        .strip_prefix(AUDIT_TARGET_PREFIX)
        .and_then(AuditOperation::from_name)
        .map(Target::Audit);
    kms.or(audit)
        .ok_or_else(|| ApiError::unknown_operation(StatusCode::BAD_REQUEST))
}

/// What a request's `X-Amz-Target` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// A KMS operation (`TrentService.<Name>`).
    Kms(Operation),
    /// One of kmsgov's audit operations (`KmsGov.<Name>`).
    Audit(AuditOperation),
}

/// Checks the content type: `application/x-amz-json-1.1`, in any case, with
/// optional parameters (`; charset=utf-8`).
pub(crate) fn check_content_type(value: Option<&str>) -> Result<(), ApiError> {
    let essence = value
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    if essence.eq_ignore_ascii_case(CONTENT_TYPE) {
        Ok(())
    } else {
        Err(ApiError::serialization(format!(
            "Content-Type must be {CONTENT_TYPE}."
        )))
    }
}

/// Parses the body: a JSON object, or empty for an operation without
/// members.
pub(crate) fn parse_body(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Object(serde_json::Map::new()));
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v),
        Ok(_) => Err(ApiError::serialization(
            "Start of structure or map found where not expected.",
        )),
        Err(_) => Err(ApiError::serialization(
            "The request body is not valid JSON.",
        )),
    }
}

/// A new request id: a random UUID (version 4), as text and as its bytes.
pub(crate) fn new_request_id() -> (String, [u8; 16]) {
    let b = kmsgov_core::crypto::unique_bytes::<16>().unwrap_or_else(|| {
        // The system random generator failed: fall back to the time and
        // a counter, which are unique enough for log correlation.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut b = [0u8; 16];
        let (hi, lo) = b.split_at_mut(8);
        hi.copy_from_slice(&n.to_be_bytes());
        lo.copy_from_slice(&(t as u64).to_be_bytes());
        b
    });
    let mut b = b;
    if let Some(x) = b.get_mut(6) {
        *x = (*x & 0x0f) | 0x40;
    }
    if let Some(x) = b.get_mut(8) {
        *x = (*x & 0x3f) | 0x80;
    }
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        kmsgov_core::crypto::push_hex(&mut s, std::slice::from_ref(byte));
    }
    (s, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_version_4_uuids() {
        let (a, a_bytes) = new_request_id();
        let (b, _) = new_request_id();
        assert_ne!(a, b);
        let hex: String = a_bytes.iter().map(|x| format!("{x:02x}")).collect();
        assert_eq!(a.replace('-', ""), hex);
        assert_eq!(a.len(), 36);
        let groups: Vec<&str> = a.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('4'));
        assert!(matches!(
            groups[3].chars().next(),
            Some('8' | '9' | 'a' | 'b')
        ));
    }

    #[test]
    fn targets_name_kms_operations() {
        assert_eq!(
            operation(Some("TrentService.Encrypt")),
            Ok(Target::Kms(Operation::Encrypt))
        );
        assert_eq!(
            operation(Some("KmsGov.GetCheckpoint")),
            Ok(Target::Audit(AuditOperation::GetCheckpoint))
        );
        for bad in [
            Some("KmsGov.Encrypt"),
            Some("TrentService.GetCheckpoint"),
            None,
            Some(""),
            Some("Encrypt"),
            Some("TrentService.Nope"),
            Some("DynamoDB_20120810.Encrypt"),
            Some("trentservice.Encrypt"),
        ] {
            assert_eq!(
                operation(bad).map_err(|e| e.name),
                Err("UnknownOperationException".to_owned()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn content_type_allows_case_and_parameters() {
        assert!(check_content_type(Some("application/x-amz-json-1.1")).is_ok());
        assert!(check_content_type(Some("Application/X-Amz-Json-1.1; charset=UTF-8")).is_ok());
        for bad in [
            None,
            Some("application/json"),
            Some("application/x-amz-json-1.0"),
            Some(""),
        ] {
            assert_eq!(
                check_content_type(bad).map_err(|e| e.name),
                Err("SerializationException".to_owned()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bodies_are_json_objects_or_empty() {
        assert_eq!(parse_body(b"").unwrap(), serde_json::json!({}));
        assert_eq!(parse_body(b" \n").unwrap(), serde_json::json!({}));
        assert_eq!(
            parse_body(br#"{"a":1}"#).unwrap(),
            serde_json::json!({"a": 1})
        );
        for bad in [&b"{"[..], b"[]", b"\"x\"", b"null", b"{} {}"] {
            assert_eq!(
                parse_body(bad).map_err(|e| e.name),
                Err("SerializationException".to_owned())
            );
        }
    }

    #[test]
    fn sigv4_errors_are_named_as_coral_names_them() {
        let e = ApiError::from_sigv4(&SigV4Error::MissingAuthentication);
        assert_eq!(e.name, "MissingAuthenticationTokenException");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = ApiError::from_sigv4(&SigV4Error::SignatureMismatch);
        assert_eq!(e.name, "InvalidSignatureException");
        let e = ApiError::from_sigv4(&SigV4Error::UnknownAccessKey);
        assert_eq!(e.name, "UnrecognizedClientException");
        let e = ApiError::from_sigv4(&SigV4Error::HostNotSigned);
        assert_eq!(e.name, "IncompleteSignatureException");
    }

    #[test]
    fn internal_errors_do_not_leak_their_detail() {
        let e = ApiError::from_kms(&KmsError::internal("disk /var/lib/x is full"));
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.name, "KMSInternalException");
        assert!(!e.message.contains("disk"));
    }
}
