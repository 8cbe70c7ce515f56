//! `verify` against requests made by `sign` and `presign`: a KMS call that
//! passes, every single-field tampering that must fail (with its AWS error
//! name), clock skew, presigned URL expiry and session credentials.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use kmsgov_sigv4::{
    presign, sign, verify, AuthMethod, Component, CredentialKind, Credentials, RequestParts,
    SecretKey, SessionToken, SigV4Error, SigningParams, Timestamp, VerifiedIdentity, VerifyConfig,
};

const ACCESS_KEY_ID: &str = "AKIAKMSGOVEXAMPLE001";
const OTHER_ACCESS_KEY_ID: &str = "AKIAKMSGOVEXAMPLE002";
const TEMPORARY_ACCESS_KEY_ID: &str = "ASIAKMSGOVEXAMPLE003";
const SECRET: &str = "kmsgovSecretKeyThatMustNeverLeak/0123456789";
const OTHER_SECRET: &str = "anotherSecretKeyThatMustNeverLeak+987654321";
const SESSION_TOKEN: &str = "FwoGZXIvYXdzEXAMPLEsessionTOKEN+/=0123456789";
const DATE: &str = "20260115T093000Z";
const REGION: &str = "eu-west-1";
const BODY: &[u8] =
    br#"{"KeyId":"alias/payments","Plaintext":"aGVsbG8=","EncryptionContext":{"app":"billing"}}"#;

/// An owned request, easy to tamper with.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// A KMS `Encrypt` call, unsigned.
    fn kms_encrypt() -> Self {
        Self {
            method: "POST".to_owned(),
            path: "/".to_owned(),
            query: String::new(),
            headers: vec![
                ("Host".to_owned(), "kms.eu-west-1.amazonaws.com".to_owned()),
                ("X-Amz-Date".to_owned(), DATE.to_owned()),
                ("X-Amz-Target".to_owned(), "TrentService.Encrypt".to_owned()),
                (
                    "Content-Type".to_owned(),
                    "application/x-amz-json-1.1".to_owned(),
                ),
            ],
            body: BODY.to_vec(),
        }
    }

    fn with_parts<T>(&self, f: impl FnOnce(&RequestParts<'_>) -> T) -> T {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        f(&RequestParts {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &headers,
            body: &self.body,
        })
    }

    fn signed_by(mut self, params: &SigningParams<'_>) -> Self {
        let authorization = self.with_parts(|parts| sign(parts, params)).unwrap();
        self.headers
            .push(("Authorization".to_owned(), authorization));
        self
    }

    fn signed(self) -> Self {
        let secret = SecretKey::new(SECRET);
        self.signed_by(&SigningParams::new(ACCESS_KEY_ID, &secret, REGION, "kms"))
    }

    fn presigned(mut self, time: Timestamp, expires: u32) -> Self {
        let secret = SecretKey::new(SECRET);
        let params = SigningParams::new(ACCESS_KEY_ID, &secret, REGION, "kms");
        self.query = self
            .with_parts(|parts| presign(parts, &params, time, expires))
            .unwrap();
        self
    }

    fn verify_at(&self, now: Timestamp) -> Result<VerifiedIdentity, SigV4Error> {
        self.with_parts(|parts| verify(parts, &VerifyConfig::kms(REGION), lookup, now))
    }

    fn verify(&self) -> Result<VerifiedIdentity, SigV4Error> {
        self.verify_at(date())
    }

    fn header_mut(&mut self, name: &str) -> &mut String {
        &mut self
            .headers
            .iter_mut()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .unwrap()
            .1
    }

    fn remove_header(&mut self, name: &str) {
        self.headers
            .retain(|(header, _)| !header.eq_ignore_ascii_case(name));
    }

    fn add_header(&mut self, name: &str, value: &str) {
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    fn authorization_mut(&mut self) -> &mut String {
        self.header_mut("authorization")
    }
}

fn lookup(access_key_id: &str) -> Option<Credentials> {
    match access_key_id {
        ACCESS_KEY_ID => Some(Credentials::long_term(SecretKey::new(SECRET))),
        OTHER_ACCESS_KEY_ID => Some(Credentials::long_term(SecretKey::new(OTHER_SECRET))),
        TEMPORARY_ACCESS_KEY_ID => Some(Credentials::temporary(
            SecretKey::new(SECRET),
            SessionToken::new(SESSION_TOKEN),
            Some(date().checked_add(3_600).unwrap()),
        )),
        _ => None,
    }
}

fn date() -> Timestamp {
    Timestamp::parse_amz_date(DATE).unwrap()
}

fn assert_rejected(request: &Request, expected: &SigV4Error, code: &str) {
    let error = request.verify().unwrap_err();
    assert_eq!(&error, expected, "{request:?}");
    assert_eq!(error.code(), code);
    assert_safe_message(&error);
}

fn assert_safe_message(error: &SigV4Error) {
    let message = error.to_string();
    for secret in [SECRET, OTHER_SECRET, SESSION_TOKEN] {
        assert!(!message.contains(secret), "{message}");
    }
    assert!(!message.is_empty());
    assert!(!message.ends_with('.'), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn signed_kms_call_is_verified() {
    let identity = Request::kms_encrypt().signed().verify().unwrap();
    assert_eq!(identity.access_key_id(), ACCESS_KEY_ID);
    assert_eq!(identity.scope().region(), REGION);
    assert_eq!(identity.scope().service(), "kms");
    assert_eq!(identity.signed_at(), date());
    assert_eq!(identity.method(), AuthMethod::Header);
    assert_eq!(identity.credential_kind(), CredentialKind::LongTerm);
}

#[test]
fn tampered_method_is_rejected() {
    let mut request = Request::kms_encrypt().signed();
    request.method = "PUT".to_owned();
    assert_rejected(
        &request,
        &SigV4Error::SignatureMismatch,
        "InvalidSignatureException",
    );
}

#[test]
fn tampered_path_is_rejected() {
    let mut request = Request::kms_encrypt().signed();
    request.path = "/admin".to_owned();
    assert_rejected(
        &request,
        &SigV4Error::SignatureMismatch,
        "InvalidSignatureException",
    );
}

#[test]
fn tampered_query_is_rejected() {
    let mut request = Request::kms_encrypt().signed();
    request.query = "Action=Decrypt".to_owned();
    assert_rejected(
        &request,
        &SigV4Error::SignatureMismatch,
        "InvalidSignatureException",
    );
}

#[test]
fn tampered_signed_header_values_are_rejected() {
    for (name, value) in [
        ("X-Amz-Target", "TrentService.Decrypt"),
        ("Content-Type", "application/json"),
        ("Host", "kms.eu-west-1.amazonaws.com.evil.example"),
    ] {
        let mut request = Request::kms_encrypt().signed();
        *request.header_mut(name) = value.to_owned();
        assert_rejected(
            &request,
            &SigV4Error::SignatureMismatch,
            "InvalidSignatureException",
        );
    }
}

#[test]
fn repeated_signed_header_is_rejected() {
    let mut request = Request::kms_encrypt().signed();
    request.add_header("x-amz-target", "TrentService.Decrypt");
    assert_rejected(
        &request,
        &SigV4Error::SignatureMismatch,
        "InvalidSignatureException",
    );
}

#[test]
fn tampered_body_byte_is_rejected() {
    for index in [0, BODY.len() / 2, BODY.len() - 1] {
        let mut request = Request::kms_encrypt().signed();
        request.body[index] ^= 0x01;
        assert_rejected(
            &request,
            &SigV4Error::SignatureMismatch,
            "InvalidSignatureException",
        );
    }
    let mut request = Request::kms_encrypt().signed();
    request.body.push(b' ');
    assert_rejected(
        &request,
        &SigV4Error::SignatureMismatch,
        "InvalidSignatureException",
    );
}

#[test]
fn tampered_body_with_signed_content_sha256_is_a_payload_mismatch() {
    let mut request = Request::kms_encrypt();
    let hash = kmsgov_sigv4::sha256_hex(BODY);
    request.add_header("X-Amz-Content-Sha256", &hash);
    let mut request = request.signed();
    request.verify().unwrap();
    request.body[3] ^= 0x20;
    assert_rejected(
        &request,
        &SigV4Error::PayloadHashMismatch,
        "InvalidSignatureException",
    );
}

#[test]
fn tampered_date_is_rejected() {
    let mut request = Request::kms_encrypt().signed();
    *request.header_mut("x-amz-date") = "20260115T093001Z".to_owned();
    assert_rejected(
        &request,
        &SigV4Error::SignatureMismatch,
        "InvalidSignatureException",
    );

    let mut request = Request::kms_encrypt().signed();
    *request.header_mut("x-amz-date") = "20260116T000500Z".to_owned();
    assert_rejected(
        &request,
        &SigV4Error::ScopeDateMismatch,
        "InvalidSignatureException",
    );

    let mut request = Request::kms_encrypt().signed();
    *request.header_mut("x-amz-date") = "2026-01-15T09:30:00Z".to_owned();
    assert_rejected(
        &request,
        &SigV4Error::Malformed(Component::Date),
        "IncompleteSignature",
    );
}

#[test]
fn tampered_scope_date_is_rejected() {
    let mut request = Request::kms_encrypt().signed();
    let authorization = request.authorization_mut();
    *authorization = authorization.replace("/20260115/", "/20260114/");
    assert_rejected(
        &request,
        &SigV4Error::ScopeDateMismatch,
        "InvalidSignatureException",
    );
}

#[test]
fn tampered_region_is_rejected() {
    let mut request = Request::kms_encrypt().signed();
    let authorization = request.authorization_mut();
    *authorization = authorization.replace("/eu-west-1/", "/us-east-1/");
    assert_rejected(
        &request,
        &SigV4Error::WrongRegion {
            expected: REGION.to_owned(),
        },
        "InvalidSignatureException",
    );
}

#[test]
fn signature_for_another_region_is_rejected() {
    let secret = SecretKey::new(SECRET);
    let request = Request::kms_encrypt().signed_by(&SigningParams::new(
        ACCESS_KEY_ID,
        &secret,
        "us-east-1",
        "kms",
    ));
    assert_rejected(
        &request,
        &SigV4Error::WrongRegion {
            expected: REGION.to_owned(),
        },
        "InvalidSignatureException",
    );
}

#[test]
fn tampered_service_is_rejected() {
    let mut request = Request::kms_encrypt().signed();
    let authorization = request.authorization_mut();
    *authorization = authorization.replace("/kms/", "/iam/");
    assert_rejected(
        &request,
        &SigV4Error::WrongService {
            expected: "kms".to_owned(),
        },
        "InvalidSignatureException",
    );
}

#[test]
fn tampered_access_key_is_rejected() {
    let mut request = Request::kms_encrypt().signed();
    let authorization = request.authorization_mut();
    *authorization = authorization.replace(ACCESS_KEY_ID, OTHER_ACCESS_KEY_ID);
    assert_rejected(
        &request,
        &SigV4Error::SignatureMismatch,
        "InvalidSignatureException",
    );

    let mut request = Request::kms_encrypt().signed();
    let authorization = request.authorization_mut();
    *authorization = authorization.replace(ACCESS_KEY_ID, "AKIAUNKNOWN");
    assert_rejected(
        &request,
        &SigV4Error::UnknownAccessKey,
        "UnrecognizedClientException",
    );
}

#[test]
fn wrong_secret_is_rejected() {
    let secret = SecretKey::new(OTHER_SECRET);
    let request = Request::kms_encrypt().signed_by(&SigningParams::new(
        ACCESS_KEY_ID,
        &secret,
        REGION,
        "kms",
    ));
    assert_rejected(
        &request,
        &SigV4Error::SignatureMismatch,
        "InvalidSignatureException",
    );
}

#[test]
fn tampered_signature_hex_is_rejected() {
    let request = Request::kms_encrypt().signed();
    let authorization = request.clone().authorization_mut().clone();
    let (prefix, signature) = authorization.split_once("Signature=").unwrap();
    for index in [0, 31, 63] {
        let mut tampered: Vec<u8> = signature.bytes().collect();
        tampered[index] = if tampered[index] == b'0' { b'1' } else { b'0' };
        let mut request = request.clone();
        *request.authorization_mut() =
            format!("{prefix}Signature={}", String::from_utf8(tampered).unwrap());
        assert_rejected(
            &request,
            &SigV4Error::SignatureMismatch,
            "InvalidSignatureException",
        );
    }
    let mut truncated = request.clone();
    *truncated.authorization_mut() =
        authorization.trim_end_matches(|c| c != '=').to_owned() + "abcd";
    assert_rejected(
        &truncated,
        &SigV4Error::Malformed(Component::Signature),
        "IncompleteSignature",
    );
    let mut upper = request;
    *upper.authorization_mut() = format!("{prefix}Signature={}", signature.to_ascii_uppercase());
    upper.verify().unwrap();
}

#[test]
fn tampered_signed_headers_list_is_rejected() {
    let mut request = Request::kms_encrypt().signed();
    let authorization = request.authorization_mut();
    *authorization = authorization.replace("content-type;", "");
    assert_rejected(
        &request,
        &SigV4Error::SignatureMismatch,
        "InvalidSignatureException",
    );

    let mut request = Request::kms_encrypt().signed();
    let authorization = request.authorization_mut();
    *authorization = authorization.replace(";host;", ";");
    assert_rejected(&request, &SigV4Error::HostNotSigned, "IncompleteSignature");

    let mut request = Request::kms_encrypt().signed();
    let authorization = request.authorization_mut();
    *authorization = authorization.replace(";x-amz-date", "");
    assert_rejected(&request, &SigV4Error::DateNotSigned, "IncompleteSignature");

    let mut request = Request::kms_encrypt().signed();
    let authorization = request.authorization_mut();
    *authorization = authorization.replace(";x-amz-target", ";x-amz-target;zz-missing");
    assert_rejected(
        &request,
        &SigV4Error::SignedHeaderAbsent,
        "InvalidSignatureException",
    );
}

#[test]
fn unsigned_extra_headers_are_allowed() {
    let mut request = Request::kms_encrypt().signed();
    request.add_header("User-Agent", "aws-sdk-rust/1.0");
    request.add_header(
        "X-Amzn-Trace-Id",
        "Root=1-5759e988-bd862e3fe1be46a994272793",
    );
    request.add_header("Content-Length", &BODY.len().to_string());
    request.verify().unwrap();
}

#[test]
fn clock_skew_window_is_fifteen_minutes() {
    let request = Request::kms_encrypt().signed();
    for offset in [-900, -1, 0, 1, 900] {
        request
            .verify_at(date().checked_add(offset).unwrap())
            .unwrap();
    }
    for offset in [-901, 901, -86_400, 86_400] {
        let error = request
            .verify_at(date().checked_add(offset).unwrap())
            .unwrap_err();
        assert_eq!(error, SigV4Error::RequestTimeTooSkewed);
        assert_eq!(error.code(), "InvalidSignatureException");
    }
}

#[test]
fn date_header_can_replace_x_amz_date() {
    let mut request = Request::kms_encrypt();
    request.remove_header("x-amz-date");
    request.add_header("Date", "Thu, 15 Jan 2026 09:30:00 GMT");
    let request = request.signed();
    assert_eq!(request.verify().unwrap().signed_at(), date());
}

#[test]
fn missing_date_is_rejected() {
    let mut request = Request::kms_encrypt().signed();
    request.remove_header("x-amz-date");
    assert_rejected(
        &request,
        &SigV4Error::Missing(Component::Date),
        "IncompleteSignature",
    );
}

#[test]
fn missing_authentication_is_rejected() {
    let request = Request::kms_encrypt();
    assert_rejected(
        &request,
        &SigV4Error::MissingAuthentication,
        "MissingAuthenticationToken",
    );
}

#[test]
fn two_mechanisms_are_rejected() {
    let mut request = Request::kms_encrypt().presigned(date(), 60).signed();
    assert_rejected(
        &request,
        &SigV4Error::ConflictingAuthentication,
        "IncompleteSignature",
    );
    request.query.clear();
    request.add_header("Authorization", "AWS4-HMAC-SHA256 x");
    assert_rejected(
        &request,
        &SigV4Error::ConflictingAuthentication,
        "IncompleteSignature",
    );
}

#[test]
fn unsigned_payload_needs_a_presigned_url() {
    let mut request = Request::kms_encrypt();
    request.add_header("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    let request = request.signed();
    assert_rejected(
        &request,
        &SigV4Error::UnsignedPayloadNotAllowed,
        "InvalidSignatureException",
    );

    let mut request = Request::kms_encrypt();
    request.add_header("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    let mut request = request.presigned(date(), 60);
    request.body = b"anything".to_vec();
    request.verify().unwrap();
}

#[test]
fn session_credentials_need_their_token() {
    let secret = SecretKey::new(SECRET);
    let params = SigningParams::new(TEMPORARY_ACCESS_KEY_ID, &secret, REGION, "kms");

    let mut request = Request::kms_encrypt();
    request.add_header("X-Amz-Security-Token", SESSION_TOKEN);
    let request = request.signed_by(&params);
    let identity = request.verify().unwrap();
    assert_eq!(identity.credential_kind(), CredentialKind::Temporary);
    let error = request
        .verify_at(date().checked_add(3_600).unwrap())
        .unwrap_err();
    assert_eq!(error, SigV4Error::RequestTimeTooSkewed);

    let request = Request::kms_encrypt().signed_by(&params);
    assert_rejected(
        &request,
        &SigV4Error::SecurityTokenMissing,
        "UnrecognizedClientException",
    );

    let mut request = Request::kms_encrypt();
    request.add_header("X-Amz-Security-Token", "not-the-token");
    let request = request.signed_by(&params);
    assert_rejected(
        &request,
        &SigV4Error::SecurityTokenInvalid,
        "UnrecognizedClientException",
    );

    let mut request = Request::kms_encrypt();
    request.add_header("X-Amz-Security-Token", SESSION_TOKEN);
    let request = request.signed();
    assert_rejected(
        &request,
        &SigV4Error::SecurityTokenInvalid,
        "UnrecognizedClientException",
    );
}

#[test]
fn expired_session_credentials_are_rejected() {
    let secret = SecretKey::new(SECRET);
    let params = SigningParams::new(TEMPORARY_ACCESS_KEY_ID, &secret, REGION, "kms");
    let late = date().checked_add(3_600).unwrap();
    let mut request = Request::kms_encrypt();
    *request.header_mut("x-amz-date") = late.to_string();
    request.add_header("X-Amz-Security-Token", SESSION_TOKEN);
    let request = request.signed_by(&params);
    let error = request.verify_at(late).unwrap_err();
    assert_eq!(error, SigV4Error::TokenExpired);
    assert_eq!(error.code(), "ExpiredTokenException");
    assert_safe_message(&error);
}

#[test]
fn presigned_url_is_valid_until_it_expires() {
    let request = Request::kms_encrypt().presigned(date(), 300);
    let identity = request.verify().unwrap();
    assert_eq!(identity.method(), AuthMethod::PresignedUrl);
    request.verify_at(date().checked_add(300).unwrap()).unwrap();

    let error = request
        .verify_at(date().checked_add(301).unwrap())
        .unwrap_err();
    assert_eq!(error, SigV4Error::Expired);
    assert_eq!(error.code(), "InvalidSignatureException");

    let error = request
        .verify_at(date().checked_add(-1).unwrap())
        .unwrap_err();
    assert_eq!(error, SigV4Error::NotYetValid);
}

#[test]
fn presigned_url_expiry_is_at_most_seven_days() {
    let request = Request::kms_encrypt().presigned(date(), 604_800);
    request
        .verify_at(date().checked_add(604_800).unwrap())
        .unwrap();
    let request = Request::kms_encrypt().presigned(date(), 604_801);
    assert_rejected(
        &request,
        &SigV4Error::ExpiresTooLarge,
        "InvalidSignatureException",
    );
}

#[test]
fn tampered_presigned_url_is_rejected() {
    let request = Request::kms_encrypt().presigned(date(), 300);
    for (from, to) in [
        ("X-Amz-Expires=300", "X-Amz-Expires=600"),
        ("X-Amz-Date=20260115T093000Z", "X-Amz-Date=20260115T092959Z"),
        ("&X-Amz-Signature=", "&Extra=1&X-Amz-Signature="),
    ] {
        let mut tampered = request.clone();
        tampered.query = tampered.query.replace(from, to);
        if tampered.query == request.query {
            continue;
        }
        assert_rejected(
            &tampered,
            &SigV4Error::SignatureMismatch,
            "InvalidSignatureException",
        );
    }
    let mut tampered = request.clone();
    tampered.body.pop();
    assert_rejected(
        &tampered,
        &SigV4Error::SignatureMismatch,
        "InvalidSignatureException",
    );
    let mut tampered = request;
    *tampered.header_mut("x-amz-target") = "TrentService.Decrypt".to_owned();
    assert_rejected(
        &tampered,
        &SigV4Error::SignatureMismatch,
        "InvalidSignatureException",
    );
}

#[test]
fn presigned_url_with_session_token() {
    let secret = SecretKey::new(SECRET);
    let token = SessionToken::new(SESSION_TOKEN);
    let params = SigningParams {
        session_token: Some(&token),
        ..SigningParams::new(TEMPORARY_ACCESS_KEY_ID, &secret, REGION, "kms")
    };
    let mut request = Request::kms_encrypt();
    request.query = request
        .with_parts(|parts| presign(parts, &params, date(), 60))
        .unwrap();
    assert!(request.query.contains("X-Amz-Security-Token="));
    let identity = request.verify().unwrap();
    assert_eq!(identity.credential_kind(), CredentialKind::Temporary);

    let without_token = SigningParams {
        session_token: None,
        ..params
    };
    let mut request = Request::kms_encrypt();
    request.query = request
        .with_parts(|parts| presign(parts, &without_token, date(), 60))
        .unwrap();
    assert_rejected(
        &request,
        &SigV4Error::SecurityTokenMissing,
        "UnrecognizedClientException",
    );
}

#[test]
fn sign_needs_host_and_date() {
    let secret = SecretKey::new(SECRET);
    let params = SigningParams::new(ACCESS_KEY_ID, &secret, REGION, "kms");
    let mut request = Request::kms_encrypt();
    request.remove_header("host");
    assert_eq!(
        request.with_parts(|parts| sign(parts, &params)),
        Err(SigV4Error::HostNotSigned)
    );
    let mut request = Request::kms_encrypt();
    request.remove_header("x-amz-date");
    assert_eq!(
        request.with_parts(|parts| sign(parts, &params)),
        Err(SigV4Error::Missing(Component::Date))
    );
    let mut request = Request::kms_encrypt();
    request.add_header("bad name", "x");
    assert_eq!(
        request.with_parts(|parts| sign(parts, &params)),
        Err(SigV4Error::Malformed(Component::SignedHeaders))
    );
}

#[test]
fn kms_paths_are_double_encoded() {
    let mut request = Request::kms_encrypt();
    request.path = "/a%20b/./c".to_owned();
    let request = request.signed();
    request.verify().unwrap();
    let mut equivalent = request.clone();
    equivalent.path = "/a%20b/c".to_owned();
    equivalent.verify().unwrap();
    let mut decoded = request;
    decoded.path = "/a b/c".to_owned();
    assert_rejected(
        &decoded,
        &SigV4Error::SignatureMismatch,
        "InvalidSignatureException",
    );
}
