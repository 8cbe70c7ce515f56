//! Verifying a request: every check AWS makes before it trusts a SigV4
//! signature, in one pure function.

use aws_lc_rs::constant_time::verify_slices_are_equal;

use crate::authorization::{
    Authorization, Credential, CredentialScope, PresignedQuery, SignedHeaders,
};
use crate::canonical::{
    canonical_headers, canonical_query_string, canonical_request, canonical_uri, sha256_hex,
    string_to_sign, PathStyle, UNSIGNED_PAYLOAD,
};
use crate::error::{Component, SigV4Error};
use crate::secret::Credentials;
use crate::signing::SigningKey;
use crate::time::Timestamp;

/// An HTTP request as plain data: what SigV4 needs to know of it.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// The method, such as `POST`.
    pub method: &'a str,
    /// The path as received, still percent-encoded, without the query.
    pub path: &'a str,
    /// The raw query string, still percent-encoded, without the `?`.
    pub query: &'a str,
    /// Every header as a (name, value) pair, in the order received;
    /// a name may appear more than once. Over HTTP/2, pass the
    /// `:authority` pseudo-header as `host`.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
}

/// What a verifier accepts: its region and service, and how much clock skew
/// it tolerates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyConfig {
    region: String,
    service: String,
    path_style: PathStyle,
    max_skew_seconds: u32,
}

impl VerifyConfig {
    /// AWS's tolerance for the clock of a client: 15 minutes either way.
    pub const DEFAULT_MAX_SKEW_SECONDS: u32 = 900;

    /// A verifier for `service` in `region`. The path style follows the
    /// service: [`PathStyle::S3`] for `s3`, [`PathStyle::Normalized`]
    /// otherwise.
    pub fn new(region: impl Into<String>, service: impl Into<String>) -> Self {
        let service = service.into();
        let path_style = if service == "s3" {
            PathStyle::S3
        } else {
            PathStyle::Normalized
        };
        Self {
            region: region.into(),
            service,
            path_style,
            max_skew_seconds: Self::DEFAULT_MAX_SKEW_SECONDS,
        }
    }

    /// A verifier for KMS (signing name `kms`) in `region`.
    pub fn kms(region: impl Into<String>) -> Self {
        Self::new(region, "kms")
    }

    /// Tolerates `seconds` of clock skew for requests signed in a header.
    #[must_use]
    pub fn with_max_skew_seconds(mut self, seconds: u32) -> Self {
        self.max_skew_seconds = seconds;
        self
    }

    /// Uses `path_style` for canonical URIs.
    #[must_use]
    pub fn with_path_style(mut self, path_style: PathStyle) -> Self {
        self.path_style = path_style;
        self
    }

    /// The region requests must be scoped to.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The signing name requests must be scoped to.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// How paths are canonicalized.
    pub fn path_style(&self) -> PathStyle {
        self.path_style
    }

    /// The tolerated clock skew, in seconds.
    pub fn max_skew_seconds(&self) -> u32 {
        self.max_skew_seconds
    }
}

/// How a request carried its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// The `Authorization` header.
    Header,
    /// The query string of a presigned URL.
    PresignedUrl,
}

/// Whether the signer used long-term or temporary credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// An access key without a session token.
    LongTerm,
    /// Temporary credentials, whose session token the request carried.
    Temporary,
}

/// Who signed a request that passed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    access_key_id: String,
    scope: CredentialScope,
    signed_at: Timestamp,
    method: AuthMethod,
    credential_kind: CredentialKind,
}

impl VerifiedIdentity {
    /// The access key id that signed.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The credential scope of the signature.
    pub fn scope(&self) -> &CredentialScope {
        &self.scope
    }

    /// The request time the signature covers.
    pub fn signed_at(&self) -> Timestamp {
        self.signed_at
    }

    /// Header or presigned URL.
    pub fn method(&self) -> AuthMethod {
        self.method
    }

    /// Long-term or temporary credentials.
    pub fn credential_kind(&self) -> CredentialKind {
        self.credential_kind
    }
}

/// Verifies the SigV4 signature of `request` at time `now`.
///
/// `secret_for` looks up the credentials of an access key id; it is called
/// once, after every check that needs no secret has passed.
///
/// The checks, in order: one authentication mechanism (header or presigned
/// query) and its syntax; `host` and the date header are signed; the
/// credential scope (date, region, service, `aws4_request`); the request
/// time (within the clock skew for headers, within `X-Amz-Expires` for
/// presigned URLs); the payload hash (`x-amz-content-sha256` must be the
/// body's SHA-256, `UNSIGNED-PAYLOAD` only when presigned); the access key;
/// the signature, compared in constant time; the session token of temporary
/// credentials, compared in constant time, and their expiry.
///
/// ```
/// use kmsgov_sigv4::{sign, verify, Credentials, RequestParts, SecretKey, SigningParams,
///     Timestamp, VerifyConfig};
///
/// let now = Timestamp::parse_amz_date("20260101T120000Z").unwrap();
/// let secret = SecretKey::new("secret");
/// let date = now.to_string();
/// let unsigned = [("Host", "kms.us-east-1.amazonaws.com"), ("X-Amz-Date", date.as_str())];
/// let request = RequestParts { method: "POST", path: "/", query: "", headers: &unsigned, body: b"{}" };
/// let params = SigningParams::new("AKIDEXAMPLE", &secret, "us-east-1", "kms");
/// let authorization = sign(&request, &params).unwrap();
///
/// let headers = [unsigned[0], unsigned[1], ("Authorization", authorization.as_str())];
/// let request = RequestParts { headers: &headers, ..request };
/// let identity = verify(
///     &request,
///     &VerifyConfig::kms("us-east-1"),
///     |id| (id == "AKIDEXAMPLE").then(|| Credentials::long_term(secret.clone())),
///     now,
/// )
/// .unwrap();
/// assert_eq!(identity.access_key_id(), "AKIDEXAMPLE");
/// ```
pub fn verify(
    request: &RequestParts<'_>,
    config: &VerifyConfig,
    secret_for: impl Fn(&str) -> Option<Credentials>,
    now: Timestamp,
) -> Result<VerifiedIdentity, SigV4Error> {
    let authorization = single_header(request.headers, "authorization")
        .map_err(|_| SigV4Error::ConflictingAuthentication)?;
    let presigned = PresignedQuery::is_presigned(request.query);
    let claim = match (authorization, presigned) {
        (Some(_), true) => return Err(SigV4Error::ConflictingAuthentication),
        (None, false) => return Err(SigV4Error::MissingAuthentication),
        (Some(header), false) => header_claim(request, header, config, now)?,
        (None, true) => presigned_claim(request, config, now)?,
    };
    let payload_hash = verified_payload_hash(request, claim.method, config.path_style)?;
    let credentials =
        secret_for(claim.credential.access_key_id()).ok_or(SigV4Error::UnknownAccessKey)?;

    let canonical = canonical_request_of(
        request,
        config.path_style,
        &claim.signed_headers,
        &payload_hash,
    )?;
    let scope = claim.credential.scope();
    let string_to_sign = string_to_sign(claim.time, scope, &canonical);
    let expected = SigningKey::derive(credentials.secret_key(), scope).sign(&string_to_sign);
    verify_slices_are_equal(&expected, &claim.signature)
        .map_err(|_| SigV4Error::SignatureMismatch)?;

    let credential_kind = match (credentials.session_token(), claim.security_token) {
        (None, None) => CredentialKind::LongTerm,
        (None, Some(_)) => return Err(SigV4Error::SecurityTokenInvalid),
        (Some(_), None) => return Err(SigV4Error::SecurityTokenMissing),
        (Some(expected), Some(provided)) => {
            verify_slices_are_equal(expected.expose().as_bytes(), provided.as_bytes())
                .map_err(|_| SigV4Error::SecurityTokenInvalid)?;
            if credentials
                .expiration()
                .is_some_and(|expiration| now >= expiration)
            {
                return Err(SigV4Error::TokenExpired);
            }
            CredentialKind::Temporary
        }
    };

    Ok(VerifiedIdentity {
        access_key_id: claim.credential.access_key_id().to_owned(),
        scope: scope.clone(),
        signed_at: claim.time,
        method: claim.method,
        credential_kind,
    })
}

/// What the request claims, once parsed and checked without the secret.
struct Claim {
    credential: Credential,
    signed_headers: SignedHeaders,
    signature: [u8; 32],
    time: Timestamp,
    security_token: Option<String>,
    method: AuthMethod,
}

fn header_claim(
    request: &RequestParts<'_>,
    header: &str,
    config: &VerifyConfig,
    now: Timestamp,
) -> Result<Claim, SigV4Error> {
    let authorization = Authorization::parse(header)?;
    let (time, date_header) = request_time(request.headers)?;
    let signed_headers = authorization.signed_headers();
    if !signed_headers.contains("host") {
        return Err(SigV4Error::HostNotSigned);
    }
    if !signed_headers.contains(date_header) {
        return Err(SigV4Error::DateNotSigned);
    }
    check_scope(authorization.credential().scope(), time, config)?;
    if now.unix_seconds().abs_diff(time.unix_seconds()) > u64::from(config.max_skew_seconds) {
        return Err(SigV4Error::RequestTimeTooSkewed);
    }
    let security_token = single_header(request.headers, "x-amz-security-token")
        .map_err(|_| SigV4Error::Duplicate(Component::SecurityToken))?
        .map(|token| trim(token).to_owned());
    Ok(Claim {
        credential: authorization.credential().clone(),
        signed_headers: signed_headers.clone(),
        signature: *authorization.signature(),
        time,
        security_token,
        method: AuthMethod::Header,
    })
}

fn presigned_claim(
    request: &RequestParts<'_>,
    config: &VerifyConfig,
    now: Timestamp,
) -> Result<Claim, SigV4Error> {
    let query = PresignedQuery::parse(request.query)?;
    if !query.signed_headers().contains("host") {
        return Err(SigV4Error::HostNotSigned);
    }
    check_scope(query.credential().scope(), query.date(), config)?;
    if now < query.date() {
        return Err(SigV4Error::NotYetValid);
    }
    let expiry = query
        .date()
        .checked_add(i64::from(query.expires()))
        .ok_or(SigV4Error::Expired)?;
    if now > expiry {
        return Err(SigV4Error::Expired);
    }
    let security_token = query.security_token().map(str::to_owned);
    Ok(Claim {
        credential: query.credential().clone(),
        signed_headers: query.signed_headers().clone(),
        signature: *query.signature(),
        time: query.date(),
        security_token,
        method: AuthMethod::PresignedUrl,
    })
}

fn check_scope(
    scope: &CredentialScope,
    time: Timestamp,
    config: &VerifyConfig,
) -> Result<(), SigV4Error> {
    if scope.date_stamp() != time.date_stamp() {
        return Err(SigV4Error::ScopeDateMismatch);
    }
    if scope.region() != config.region {
        return Err(SigV4Error::WrongRegion {
            expected: config.region.clone(),
        });
    }
    if scope.service() != config.service {
        return Err(SigV4Error::WrongService {
            expected: config.service.clone(),
        });
    }
    Ok(())
}

/// The request time from `x-amz-date`, or else from `date`, with the name
/// of the header it came from.
pub(crate) fn request_time(
    headers: &[(&str, &str)],
) -> Result<(Timestamp, &'static str), SigV4Error> {
    let duplicate = |_| SigV4Error::Duplicate(Component::Date);
    if let Some(value) = single_header(headers, "x-amz-date").map_err(duplicate)? {
        let time =
            Timestamp::parse_amz_date(trim(value)).ok_or(SigV4Error::Malformed(Component::Date))?;
        return Ok((time, "x-amz-date"));
    }
    if let Some(value) = single_header(headers, "date").map_err(duplicate)? {
        let time = Timestamp::parse_http_date(trim(value))
            .ok_or(SigV4Error::Malformed(Component::Date))?;
        return Ok((time, "date"));
    }
    Err(SigV4Error::Missing(Component::Date))
}

fn verified_payload_hash(
    request: &RequestParts<'_>,
    method: AuthMethod,
    path_style: PathStyle,
) -> Result<String, SigV4Error> {
    let declared = single_header(request.headers, "x-amz-content-sha256")
        .map_err(|_| SigV4Error::Duplicate(Component::ContentSha256))?
        .map(trim);
    match (declared, method) {
        (Some(UNSIGNED_PAYLOAD), AuthMethod::PresignedUrl) => Ok(UNSIGNED_PAYLOAD.to_owned()),
        (Some(UNSIGNED_PAYLOAD), AuthMethod::Header) => Err(SigV4Error::UnsignedPayloadNotAllowed),
        (Some(declared), _) => {
            let actual = sha256_hex(request.body);
            if declared == actual {
                Ok(actual)
            } else {
                Err(SigV4Error::PayloadHashMismatch)
            }
        }
        (None, _) => Ok(default_payload_hash(request.body, method, path_style)),
    }
}

/// The payload hash when no `x-amz-content-sha256` header says otherwise:
/// presigned S3 URLs do not sign the body; everything else does.
pub(crate) fn default_payload_hash(
    body: &[u8],
    method: AuthMethod,
    path_style: PathStyle,
) -> String {
    if method == AuthMethod::PresignedUrl && path_style == PathStyle::S3 {
        UNSIGNED_PAYLOAD.to_owned()
    } else {
        sha256_hex(body)
    }
}

/// The canonical request of `request` for the given signed headers and
/// payload hash.
pub(crate) fn canonical_request_of(
    request: &RequestParts<'_>,
    path_style: PathStyle,
    signed_headers: &SignedHeaders,
    payload_hash: &str,
) -> Result<String, SigV4Error> {
    let headers = canonical_headers(request.headers, signed_headers)?;
    Ok(canonical_request(
        request.method,
        &canonical_uri(request.path, path_style),
        &canonical_query_string(request.query),
        &headers,
        signed_headers,
        payload_hash,
    ))
}

/// The value of the header `name` (lower case), if it appears exactly
/// once; `Err(())` if it appears more than once.
pub(crate) fn single_header<'a>(
    headers: &[(&str, &'a str)],
    name: &str,
) -> Result<Option<&'a str>, ()> {
    let mut found = None;
    for (header, value) in headers {
        if header.trim().eq_ignore_ascii_case(name) && found.replace(*value).is_some() {
            return Err(());
        }
    }
    Ok(found)
}

fn trim(value: &str) -> &str {
    value.trim_matches(|c: char| c.is_ascii_whitespace())
}
