//! Signing requests: the client side, for tests and the `kmsgov bench`
//! client.

use crate::authorization::{CredentialScope, SignedHeaders, ALGORITHM};
use crate::canonical::{string_to_sign, PathStyle};
use crate::encoding::{hex_encode, uri_encode};
use crate::error::SigV4Error;
use crate::secret::{SecretKey, SessionToken};
use crate::signing::SigningKey;
use crate::time::Timestamp;
use crate::verify::{
    canonical_request_of, default_payload_hash, request_time, single_header, AuthMethod,
    RequestParts,
};

/// Who signs, and for which region and service.
#[derive(Debug, Clone, Copy)]
pub struct SigningParams<'a> {
    /// The access key id.
    pub access_key_id: &'a str,
    /// The secret access key.
    pub secret_key: &'a SecretKey,
    /// The session token of temporary credentials. [`presign`] adds it to
    /// the query string; with [`sign`], send it as an `x-amz-security-token`
    /// header, which is then signed like the others.
    pub session_token: Option<&'a SessionToken>,
    /// The region, such as `us-east-1`.
    pub region: &'a str,
    /// The service's signing name, such as `kms`.
    pub service: &'a str,
    /// How the path becomes the canonical URI.
    pub path_style: PathStyle,
}

impl<'a> SigningParams<'a> {
    /// Long-term credentials, with the path style of `service`
    /// ([`PathStyle::S3`] for `s3`, [`PathStyle::Normalized`] otherwise).
    pub fn new(
        access_key_id: &'a str,
        secret_key: &'a SecretKey,
        region: &'a str,
        service: &'a str,
    ) -> Self {
        Self {
            access_key_id,
            secret_key,
            session_token: None,
            region,
            service,
            path_style: if service == "s3" {
                PathStyle::S3
            } else {
                PathStyle::Normalized
            },
        }
    }
}

/// Signs `request` and returns the value of its `Authorization` header.
///
/// Every header of the request is signed (except `authorization`). The
/// request must have a `host` header and an `x-amz-date` (or `date`) header
/// giving the signing time. The payload hash is the `x-amz-content-sha256`
/// header if there is one, otherwise the SHA-256 of the body.
pub fn sign(request: &RequestParts<'_>, params: &SigningParams<'_>) -> Result<String, SigV4Error> {
    let (time, _) = request_time(request.headers)?;
    if single_header(request.headers, "host")
        .ok()
        .flatten()
        .is_none()
    {
        return Err(SigV4Error::HostNotSigned);
    }
    let signed_headers =
        SignedHeaders::parse(SignedHeaders::from_request(request.headers).as_str())?;
    let payload_hash = match single_header(request.headers, "x-amz-content-sha256") {
        Ok(Some(declared)) => declared.trim().to_owned(),
        _ => default_payload_hash(request.body, AuthMethod::Header, params.path_style),
    };
    let scope = CredentialScope::new(time, params.region, params.service);
    let signature = signature_of(
        request,
        params,
        &scope,
        time,
        &signed_headers,
        &payload_hash,
    )?;
    Ok(format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
        params.access_key_id,
        signed_headers.as_str()
    ))
}

/// Presigns `request` at `time` for `expires_seconds` and returns the query
/// string to send: the request's own query followed by the `X-Amz-*`
/// parameters, `X-Amz-Signature` last.
///
/// Every header of the request is signed; it must have a `host` header.
/// S3 presigned URLs sign `UNSIGNED-PAYLOAD`; other services sign the body
/// (unless an `x-amz-content-sha256` header says otherwise).
pub fn presign(
    request: &RequestParts<'_>,
    params: &SigningParams<'_>,
    time: Timestamp,
    expires_seconds: u32,
) -> Result<String, SigV4Error> {
    if single_header(request.headers, "host")
        .ok()
        .flatten()
        .is_none()
    {
        return Err(SigV4Error::HostNotSigned);
    }
    let signed_headers =
        SignedHeaders::parse(SignedHeaders::from_request(request.headers).as_str())?;
    let scope = CredentialScope::new(time, params.region, params.service);
    let mut query = request.query.to_owned();
    let mut add = |name: &str, value: &str| {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(name);
        query.push('=');
        query.push_str(&uri_encode(value.as_bytes()));
    };
    add("X-Amz-Algorithm", ALGORITHM);
    add(
        "X-Amz-Credential",
        &format!("{}/{scope}", params.access_key_id),
    );
    add("X-Amz-Date", &time.to_string());
    add("X-Amz-Expires", &expires_seconds.to_string());
    add("X-Amz-SignedHeaders", signed_headers.as_str());
    if let Some(token) = params.session_token {
        add("X-Amz-Security-Token", token.expose());
    }
    let payload_hash = match single_header(request.headers, "x-amz-content-sha256") {
        Ok(Some(declared)) => declared.trim().to_owned(),
        _ => default_payload_hash(request.body, AuthMethod::PresignedUrl, params.path_style),
    };
    let presigned = RequestParts {
        query: &query,
        ..*request
    };
    let signature = signature_of(
        &presigned,
        params,
        &scope,
        time,
        &signed_headers,
        &payload_hash,
    )?;
    query.push_str("&X-Amz-Signature=");
    query.push_str(&signature);
    Ok(query)
}

fn signature_of(
    request: &RequestParts<'_>,
    params: &SigningParams<'_>,
    scope: &CredentialScope,
    time: Timestamp,
    signed_headers: &SignedHeaders,
    payload_hash: &str,
) -> Result<String, SigV4Error> {
    let canonical = canonical_request_of(request, params.path_style, signed_headers, payload_hash)?;
    let string_to_sign = string_to_sign(time, scope, &canonical);
    let key = SigningKey::derive(params.secret_key, scope);
    Ok(hex_encode(&key.sign(&string_to_sign)))
}
