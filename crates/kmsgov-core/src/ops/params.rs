//! Reading request members. The engine has validated types and lengths
//! already, so these only convert.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::KmsError;

/// A string member.
pub(crate) fn string<'a>(input: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    input.get(name).and_then(Value::as_str)
}

/// A required string member.
pub(crate) fn required<'a>(input: &'a Map<String, Value>, name: &str) -> Result<&'a str, KmsError> {
    string(input, name).ok_or_else(|| {
        KmsError::validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(name)
        ))
    })
}

/// A base64 blob member, decoded.
pub(crate) fn blob(input: &Map<String, Value>, name: &str) -> Result<Option<Vec<u8>>, KmsError> {
    match string(input, name) {
        None => Ok(None),
        Some(s) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(Some)
            .map_err(|_| KmsError::validation(format!("Invalid base64 in {name}"))),
    }
}

/// A required base64 blob member, decoded.
pub(crate) fn required_blob(input: &Map<String, Value>, name: &str) -> Result<Vec<u8>, KmsError> {
    required(input, name)?;
    blob(input, name)?.ok_or_else(|| KmsError::validation(format!("Missing {name}")))
}

/// An integer member.
pub(crate) fn integer(input: &Map<String, Value>, name: &str) -> Option<i64> {
    input.get(name).and_then(Value::as_i64)
}

/// A boolean member.
pub(crate) fn boolean(input: &Map<String, Value>, name: &str) -> Option<bool> {
    input.get(name).and_then(Value::as_bool)
}

/// An encryption context member (absent is empty).
pub(crate) fn context(input: &Map<String, Value>, name: &str) -> BTreeMap<String, String> {
    crate::service::string_map(input.get(name))
}

/// Base64 of bytes, for responses.
pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `KeyId` → `keyId`, as AWS names members in validation messages.
pub(crate) fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Pagination over an ordered list: `Limit` (default 100, 1–1000) and
/// `Marker` (an opaque token this service issued: the last item's sort key).
#[derive(Debug, Clone)]
pub(crate) struct Page {
    pub(crate) limit: usize,
    pub(crate) after: Option<String>,
}

impl Page {
    /// Reads `Limit` and `Marker`.
    pub(crate) fn read(input: &Map<String, Value>) -> Result<Page, KmsError> {
        let limit = integer(input, "Limit")
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(100)
            .clamp(1, 1000);
        let after = match string(input, "Marker") {
            None => None,
            Some(m) => Some(decode_marker(m)?),
        };
        Ok(Page { limit, after })
    }

    /// Reads `Limit` and `Marker` for an operation whose `Limit` is at most
    /// `max` (ValidationException above it) and defaults to `default`.
    pub(crate) fn read_at_most(
        input: &Map<String, Value>,
        max: i64,
        default: i64,
    ) -> Result<Page, KmsError> {
        let limit = integer(input, "Limit").unwrap_or(default);
        if limit > max {
            return Err(KmsError::validation(format!(
                "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: \
                 Member must have value less than or equal to {max}"
            )));
        }
        Ok(Page {
            limit: usize::try_from(limit).unwrap_or(1).max(1),
            ..Page::read(input)?
        })
    }

    /// Finishes a page of `items` fetched with `limit + 1`: the response
    /// members `Truncated` and (when truncated) `NextMarker`, given each
    /// item's sort key.
    pub(crate) fn finish<T>(
        &self,
        mut items: Vec<T>,
        sort_key: impl Fn(&T) -> String,
    ) -> (Vec<T>, Map<String, Value>) {
        let mut extra = Map::new();
        let truncated = items.len() > self.limit;
        items.truncate(self.limit);
        extra.insert("Truncated".into(), Value::Bool(truncated));
        if truncated {
            if let Some(last) = items.last() {
                extra.insert(
                    "NextMarker".into(),
                    Value::String(encode_marker(&sort_key(last))),
                );
            }
        }
        (items, extra)
    }
}

fn encode_marker(key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_bytes())
}

fn decode_marker(marker: &str) -> Result<String, KmsError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(marker)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            KmsError::new(
                crate::error::ErrorKind::InvalidMarkerException,
                "The marker that specifies where pagination should next begin is not valid.",
            )
        })
}
