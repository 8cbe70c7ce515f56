//! Who is calling: SigV4 verification against the directory's access keys,
//! or development mode's well-formedness check.

use std::cell::OnceCell;

use axum::http::{HeaderMap, Method};
use kmsgov_core::{Kms, KmsError};
use kmsgov_policy::Caller;
use kmsgov_sigv4::{
    verify, Authorization, Credentials, PresignedQuery, RequestParts, SecretKey, SessionToken,
    SigV4Error, Timestamp, VerifyConfig,
};

use crate::protocol::ApiError;
use crate::Authentication;

/// The parts of the HTTP request a signature covers.
#[derive(Debug)]
pub(crate) struct Signed<'a> {
    pub(crate) method: &'a Method,
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
}

/// Authenticates a request: the caller, or the error to answer with.
pub(crate) fn authenticate(
    kms: &Kms,
    authentication: &Authentication,
    request: &Signed<'_>,
) -> Result<Caller, ApiError> {
    match authentication {
        Authentication::SigV4 => verify_signature(kms, request),
        Authentication::Development { administrator } => {
            check_well_formed(request).map_err(|e| ApiError::from_sigv4(&e))?;
            Ok(administrator.clone())
        }
    }
}

fn verify_signature(kms: &Kms, request: &Signed<'_>) -> Result<Caller, ApiError> {
    // Header values that are not visible ASCII cannot have been signed by a
    // SigV4 client; leaving them out makes a signature over them fail.
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .filter_map(|(name, value)| value.to_str().ok().map(|v| (name.as_str(), v)))
        .collect();
    let parts = RequestParts {
        method: request.method.as_str(),
        path: request.path,
        query: request.query,
        headers: &headers,
        body: request.body,
    };
    let owner: OnceCell<String> = OnceCell::new();
    let lookup = |access_key_id: &str| {
        kms.credentials(access_key_id).map(|(arn, key)| {
            let _ = owner.set(arn);
            match key.session_token {
                Some(token) => Credentials::temporary(
                    SecretKey::new(key.secret),
                    SessionToken::new(token),
                    None,
                ),
                None => Credentials::long_term(SecretKey::new(key.secret)),
            }
        })
    };
    let now = Timestamp::from_unix_seconds(kms.clock().now());
    verify(&parts, &VerifyConfig::kms(kms.region()), lookup, now)
        .map_err(|e| ApiError::from_sigv4(&e))?;
    let arn = owner.get().ok_or_else(|| {
        ApiError::from_kms(&KmsError::internal("verified a signature without an owner"))
    })?;
    Caller::parse(arn).map_err(|e| {
        ApiError::from_kms(&KmsError::internal(format!(
            "the owner of an access key is not a valid principal: {e}"
        )))
    })
}

/// Development mode: the request must carry SigV4 credentials that parse,
/// whatever their signature.
fn check_well_formed(request: &Signed<'_>) -> Result<(), SigV4Error> {
    let mut authorization = request.headers.get_all("authorization").iter();
    let header = authorization.next();
    if authorization.next().is_some() {
        return Err(SigV4Error::ConflictingAuthentication);
    }
    let presigned = PresignedQuery::is_presigned(request.query);
    match (header, presigned) {
        (Some(_), true) => Err(SigV4Error::ConflictingAuthentication),
        (None, false) => Err(SigV4Error::MissingAuthentication),
        (Some(value), false) => {
            let text = value
                .to_str()
                .map_err(|_| SigV4Error::Malformed(kmsgov_sigv4::Component::Credential))?;
            Authorization::parse(text).map(|_| ())
        }
        (None, true) => PresignedQuery::parse(request.query).map(|_| ()),
    }
}
