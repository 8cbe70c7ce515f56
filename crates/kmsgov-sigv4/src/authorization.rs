//! Parsing what a client sends to authenticate: the `Authorization` header
//! and the presigned query string.
//!
//! See <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-add-signature-to-request.html>.

use std::fmt;

use crate::encoding::{hex_decode, percent_decode};
use crate::error::{Component, SigV4Error};
use crate::time::Timestamp;

/// The only algorithm SigV4 (as opposed to SigV4a) defines.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The last element of every credential scope.
pub const TERMINATOR: &str = "aws4_request";

/// The longest validity of a presigned request: seven days, in seconds.
pub const MAX_EXPIRES_SECONDS: u32 = 604_800;

/// `date/region/service/aws4_request`: what a signing key is valid for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CredentialScope {
    date: String,
    region: String,
    service: String,
}

impl CredentialScope {
    /// The scope of a request signed at `time` for `region` and `service`.
    pub fn new(time: Timestamp, region: impl Into<String>, service: impl Into<String>) -> Self {
        Self {
            date: time.date_stamp(),
            region: region.into(),
            service: service.into(),
        }
    }

    /// The `YYYYMMDD` date.
    pub fn date_stamp(&self) -> &str {
        &self.date
    }

    /// The region, such as `us-east-1`.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The service's signing name, such as `kms`.
    pub fn service(&self) -> &str {
        &self.service
    }

    fn parse(date: &str, region: &str, service: &str) -> Result<Self, SigV4Error> {
        if Timestamp::parse_date_stamp(date).is_none() || region.is_empty() || service.is_empty() {
            return Err(SigV4Error::Malformed(Component::Credential));
        }
        Ok(Self {
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
        })
    }
}

impl fmt::Display for CredentialScope {
    /// Writes `date/region/service/aws4_request`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{TERMINATOR}",
            self.date, self.region, self.service
        )
    }
}

/// `AKID/date/region/service/aws4_request`: who signed, and for what scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Credential {
    access_key_id: String,
    scope: CredentialScope,
}

impl Credential {
    /// Parses `AKID/20150830/us-east-1/iam/aws4_request`.
    pub fn parse(text: &str) -> Result<Self, SigV4Error> {
        let mut parts = text.split('/');
        let (Some(access_key_id), Some(date), Some(region), Some(service), Some(terminator), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(SigV4Error::Malformed(Component::Credential));
        };
        if access_key_id.is_empty() {
            return Err(SigV4Error::Malformed(Component::Credential));
        }
        let scope = CredentialScope::parse(date, region, service)?;
        if terminator != TERMINATOR {
            return Err(SigV4Error::WrongTerminator);
        }
        Ok(Self {
            access_key_id: access_key_id.to_owned(),
            scope,
        })
    }

    /// The access key id, such as `AKIDEXAMPLE`.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The credential scope.
    pub fn scope(&self) -> &CredentialScope {
        &self.scope
    }
}

/// The signed header names: lower case, sorted, separated by `;`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignedHeaders(String);

impl SignedHeaders {
    /// Parses `host;x-amz-date`. Names must be lower-case header tokens in
    /// strictly ascending order, as every AWS SDK sends them.
    pub fn parse(text: &str) -> Result<Self, SigV4Error> {
        let mut previous: Option<&str> = None;
        for name in text.split(';') {
            let valid_name = !name.is_empty()
                && name.bytes().all(|byte| {
                    byte.is_ascii_lowercase()
                        || byte.is_ascii_digit()
                        || b"!#$%&'*+-.^_`|~".contains(&byte)
                });
            if !valid_name || previous.is_some_and(|previous| previous >= name) {
                return Err(SigV4Error::Malformed(Component::SignedHeaders));
            }
            previous = Some(name);
        }
        Ok(Self(text.to_owned()))
    }

    /// The signed headers of a request that signs every header it has
    /// (except `authorization`), as [`crate::sign`] does.
    pub(crate) fn from_request(headers: &[(&str, &str)]) -> Self {
        let mut names: Vec<String> = headers
            .iter()
            .map(|(name, _)| name.trim().to_ascii_lowercase())
            .filter(|name| name != "authorization")
            .collect();
        names.sort_unstable();
        names.dedup();
        Self(names.join(";"))
    }

    /// Whether `name` (lower case) is signed.
    pub fn contains(&self, name: &str) -> bool {
        self.names().any(|signed| signed == name)
    }

    /// The names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.split(';')
    }

    /// The list as it appears in the canonical request.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A parsed `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
/// Signature=…` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    credential: Credential,
    signed_headers: SignedHeaders,
    signature: [u8; 32],
}

impl Authorization {
    /// Parses the header value.
    ///
    /// Like AWS, this accepts the three components in any order, with or
    /// without spaces after the commas. Unknown or repeated components are
    /// refused.
    ///
    /// ```
    /// use kmsgov_sigv4::Authorization;
    ///
    /// let header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
    ///     SignedHeaders=content-type;host;x-amz-date, \
    ///     Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
    /// let authorization = Authorization::parse(header).unwrap();
    /// assert_eq!(authorization.credential().access_key_id(), "AKIDEXAMPLE");
    /// assert_eq!(authorization.credential().scope().service(), "iam");
    /// assert_eq!(authorization.signed_headers().as_str(), "content-type;host;x-amz-date");
    /// ```
    pub fn parse(header: &str) -> Result<Self, SigV4Error> {
        let header = header.trim_matches(|c: char| c.is_ascii_whitespace());
        let (algorithm, rest) = header
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((header, ""));
        if algorithm != ALGORITHM {
            return Err(SigV4Error::UnsupportedAlgorithm);
        }
        let mut credential = None;
        let mut signed_headers = None;
        let mut signature = None;
        for piece in rest.split(',') {
            let piece = piece.trim_matches(|c: char| c.is_ascii_whitespace());
            if piece.is_empty() {
                continue;
            }
            let (key, value) = piece.split_once('=').ok_or(SigV4Error::UnknownComponent)?;
            let value = value.trim_matches(|c: char| c.is_ascii_whitespace());
            let (slot, component) = match key.trim_end_matches(|c: char| c.is_ascii_whitespace()) {
                "Credential" => (&mut credential, Component::Credential),
                "SignedHeaders" => (&mut signed_headers, Component::SignedHeaders),
                "Signature" => (&mut signature, Component::Signature),
                _ => return Err(SigV4Error::UnknownComponent),
            };
            if slot.replace(value).is_some() {
                return Err(SigV4Error::Duplicate(component));
            }
        }
        let credential = credential.ok_or(SigV4Error::Missing(Component::Credential))?;
        let signed_headers = signed_headers.ok_or(SigV4Error::Missing(Component::SignedHeaders))?;
        let signature = signature.ok_or(SigV4Error::Missing(Component::Signature))?;
        Ok(Self {
            credential: Credential::parse(credential)?,
            signed_headers: SignedHeaders::parse(signed_headers)?,
            signature: parse_signature(signature)?,
        })
    }

    /// The credential: access key id and scope.
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// The signed header names.
    pub fn signed_headers(&self) -> &SignedHeaders {
        &self.signed_headers
    }

    /// The signature the client sent.
    pub fn signature(&self) -> &[u8; 32] {
        &self.signature
    }
}

/// The SigV4 parameters of a presigned URL's query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedQuery {
    credential: Credential,
    signed_headers: SignedHeaders,
    signature: [u8; 32],
    date: Timestamp,
    expires: u32,
    security_token: Option<String>,
}

impl PresignedQuery {
    /// Whether `query` carries any presigned-URL parameter
    /// (`X-Amz-Algorithm`, `X-Amz-Credential` or `X-Amz-Signature`).
    pub fn is_presigned(query: &str) -> bool {
        query_pairs(query).any(|(name, _)| {
            matches!(
                percent_decode(name).as_slice(),
                b"X-Amz-Algorithm" | b"X-Amz-Credential" | b"X-Amz-Signature"
            )
        })
    }

    /// Parses the SigV4 parameters of `query`, a raw (still percent-encoded)
    /// query string. Other parameters are ignored here; they are signed as
    /// part of the canonical query string.
    ///
    /// `X-Amz-Expires` above seven days is refused here, as AWS does.
    pub fn parse(query: &str) -> Result<Self, SigV4Error> {
        let mut algorithm = None;
        let mut credential = None;
        let mut date = None;
        let mut expires = None;
        let mut signed_headers = None;
        let mut signature = None;
        let mut security_token = None;
        for (name, value) in query_pairs(query) {
            let (slot, component) = match percent_decode(name).as_slice() {
                b"X-Amz-Algorithm" => (&mut algorithm, Component::Algorithm),
                b"X-Amz-Credential" => (&mut credential, Component::Credential),
                b"X-Amz-Date" => (&mut date, Component::Date),
                b"X-Amz-Expires" => (&mut expires, Component::Expires),
                b"X-Amz-SignedHeaders" => (&mut signed_headers, Component::SignedHeaders),
                b"X-Amz-Signature" => (&mut signature, Component::Signature),
                b"X-Amz-Security-Token" => (&mut security_token, Component::SecurityToken),
                _ => continue,
            };
            let value = String::from_utf8(percent_decode(value))
                .map_err(|_| SigV4Error::Malformed(component))?;
            if slot.replace(value).is_some() {
                return Err(SigV4Error::Duplicate(component));
            }
        }
        let algorithm = algorithm.ok_or(SigV4Error::Missing(Component::Algorithm))?;
        if algorithm != ALGORITHM {
            return Err(SigV4Error::UnsupportedAlgorithm);
        }
        let credential = credential.ok_or(SigV4Error::Missing(Component::Credential))?;
        let signed_headers = signed_headers.ok_or(SigV4Error::Missing(Component::SignedHeaders))?;
        let signature = signature.ok_or(SigV4Error::Missing(Component::Signature))?;
        let date = date.ok_or(SigV4Error::Missing(Component::Date))?;
        let expires = expires.ok_or(SigV4Error::Missing(Component::Expires))?;
        let credential = Credential::parse(&credential)?;
        let signed_headers = SignedHeaders::parse(&signed_headers)?;
        let signature = parse_signature(&signature)?;
        let date =
            Timestamp::parse_amz_date(&date).ok_or(SigV4Error::Malformed(Component::Date))?;
        let expires = parse_expires(&expires)?;
        Ok(Self {
            credential,
            signed_headers,
            signature,
            date,
            expires,
            security_token,
        })
    }

    /// The credential: access key id and scope.
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// The signed header names.
    pub fn signed_headers(&self) -> &SignedHeaders {
        &self.signed_headers
    }

    /// The signature the client sent.
    pub fn signature(&self) -> &[u8; 32] {
        &self.signature
    }

    /// `X-Amz-Date`: when the URL was signed.
    pub fn date(&self) -> Timestamp {
        self.date
    }

    /// `X-Amz-Expires`: seconds of validity after [`PresignedQuery::date`].
    pub fn expires(&self) -> u32 {
        self.expires
    }

    /// `X-Amz-Security-Token`, for temporary credentials.
    pub fn security_token(&self) -> Option<&str> {
        self.security_token.as_deref()
    }
}

/// The `name=value` pairs of a raw query string, still percent-encoded.
/// A pair without `=` has an empty value; empty pairs are skipped.
pub(crate) fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

fn parse_signature(text: &str) -> Result<[u8; 32], SigV4Error> {
    hex_decode::<32>(text).ok_or(SigV4Error::Malformed(Component::Signature))
}

fn parse_expires(text: &str) -> Result<u32, SigV4Error> {
    if text.is_empty() || text.len() > 10 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(SigV4Error::Malformed(Component::Expires));
    }
    let seconds: u64 = text
        .parse()
        .map_err(|_| SigV4Error::Malformed(Component::Expires))?;
    if seconds > u64::from(MAX_EXPIRES_SECONDS) {
        return Err(SigV4Error::ExpiresTooLarge);
    }
    u32::try_from(seconds).map_err(|_| SigV4Error::ExpiresTooLarge)
}

#[cfg(test)]
mod tests;
