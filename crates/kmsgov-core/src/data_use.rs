//! Data-use policies: what may be done with plaintext once it leaves.
//!
//! A data-use policy is a small JSON document of fixed shape:
//!
//! ```json
//! {
//!   "Version": "kmsgov-data-use/1",
//!   "Purposes": ["fraud-scoring", "chargeback-review"],
//!   "Audiences": ["svc:scoring", "svc:archive"],
//!   "MaxReceiptSeconds": 900,
//!   "ReshareDepth": 1
//! }
//! ```
//!
//! It is named by its policy id, the same content address as key policies
//! ([`crate::canonical::policy_id`] over its RFC 8785 form). Its `Version`
//! differs from every IAM policy's, so no data-use policy shares an id with
//! a key or identity policy. A ciphertext bound to it (through the key's
//! default or the reserved encryption-context entry [`CONTEXT_KEY`]) can be
//! decrypted only for one of its purposes and audiences, and the use receipt
//! that comes with the plaintext carries them.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::canonical;

/// The reserved encryption-context entry that binds a ciphertext to a
/// data-use policy, by its id (64 lowercase hexadecimal digits).
pub const CONTEXT_KEY: &str = "kmsgov:policy";

/// The `Version` every data-use policy states.
pub const VERSION: &str = "kmsgov-data-use/1";

/// At most this many purposes, and as many audiences.
pub const MAX_ENTRIES: usize = 64;

/// A purpose or audience is 1 to this many bytes.
pub const MAX_NAME_LEN: usize = 128;

/// The longest receipt lifetime a policy may allow: one day.
pub const MAX_RECEIPT_SECONDS: u64 = 86_400;

/// The deepest re-share chain a policy may allow.
pub const MAX_RESHARE_DEPTH: u32 = 16;

/// A validated data-use policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataUsePolicy {
    /// The purposes the plaintext may be used for (at least one).
    pub purposes: BTreeSet<String>,
    /// The services the plaintext may be given to (at least one).
    pub audiences: BTreeSet<String>,
    /// The longest lifetime of a use receipt, in seconds.
    pub max_receipt_seconds: u64,
    /// How many times a receipt holder may pass the plaintext on.
    pub reshare_depth: u32,
    id: String,
    canonical: String,
}

/// Why a document is not a data-use policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataUseError(pub String);

impl std::fmt::Display for DataUseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DataUseError {}

fn fail<T>(message: impl Into<String>) -> Result<T, DataUseError> {
    Err(DataUseError(message.into()))
}

impl DataUsePolicy {
    /// Parses and validates a data-use policy from its JSON text.
    ///
    /// # Errors
    ///
    /// The text is not JSON, or not of the fixed shape: an unknown or
    /// missing member, a wrong type, an empty, duplicated, over-long or
    /// non-printable name, or a limit out of range.
    pub fn parse(text: &str) -> Result<DataUsePolicy, DataUseError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| DataUseError(format!("the data-use policy is not JSON: {e}")))?;
        DataUsePolicy::from_value(&value)
    }

    /// [`DataUsePolicy::parse`] for a parsed document.
    ///
    /// # Errors
    ///
    /// As [`DataUsePolicy::parse`].
    pub fn from_value(value: &Value) -> Result<DataUsePolicy, DataUseError> {
        let Value::Object(map) = value else {
            return fail("a data-use policy is a JSON object");
        };
        for name in map.keys() {
            if !matches!(
                name.as_str(),
                "Version" | "Purposes" | "Audiences" | "MaxReceiptSeconds" | "ReshareDepth"
            ) {
                return fail(format!("unknown member {name:?} in the data-use policy"));
            }
        }
        match map.get("Version") {
            Some(Value::String(v)) if v == VERSION => {}
            _ => return fail(format!("the data-use policy's Version must be {VERSION:?}")),
        }
        let purposes = names(map, "Purposes")?;
        let audiences = names(map, "Audiences")?;
        let max_receipt_seconds = match map.get("MaxReceiptSeconds").and_then(Value::as_u64) {
            Some(n) if (1..=MAX_RECEIPT_SECONDS).contains(&n) => n,
            _ => {
                return fail(format!(
                    "MaxReceiptSeconds must be an integer from 1 to {MAX_RECEIPT_SECONDS}"
                ))
            }
        };
        let reshare_depth = match map.get("ReshareDepth") {
            None => 0,
            Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) if n <= MAX_RESHARE_DEPTH => n,
                _ => {
                    return fail(format!(
                        "ReshareDepth must be an integer from 0 to {MAX_RESHARE_DEPTH}"
                    ))
                }
            },
        };
        let canonical = canonical::canonicalize(value).map_err(|e| DataUseError(e.to_string()))?;
        let id = canonical::policy_id(value).map_err(|e| DataUseError(e.to_string()))?;
        Ok(DataUsePolicy {
            purposes,
            audiences,
            max_receipt_seconds,
            reshare_depth,
            id,
            canonical,
        })
    }

    /// The policy id: 64 lowercase hexadecimal digits.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The policy id as bytes, as ciphertext headers carry it.
    pub fn id_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        // The id is always 64 hex digits made by canonical::policy_id.
        if let Some(bytes) = parse_id(&self.id) {
            out = bytes;
        }
        out
    }

    /// The canonical (RFC 8785) text the id is computed from.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// Whether this policy allows no more than `other`: its purposes and
    /// audiences are among `other`'s, and its receipt lifetime and re-share
    /// depth are no greater.
    #[must_use]
    pub fn within(&self, other: &DataUsePolicy) -> bool {
        self.purposes.is_subset(&other.purposes)
            && self.audiences.is_subset(&other.audiences)
            && self.max_receipt_seconds <= other.max_receipt_seconds
            && self.reshare_depth <= other.reshare_depth
    }

    /// Checks a stated use against the policy: the purpose, when stated,
    /// must be one of its purposes, and the audience, when stated, one of
    /// its audiences.
    ///
    /// # Errors
    ///
    /// A message for the caller naming what the policy does not allow.
    pub fn check_use(&self, purpose: Option<&str>, audience: Option<&str>) -> Result<(), String> {
        if let Some(purpose) = purpose {
            if !self.purposes.contains(purpose) {
                return Err(format!(
                    "Data-use policy {} does not allow the purpose {purpose:?}.",
                    self.id
                ));
            }
        }
        if let Some(audience) = audience {
            if !self.audiences.contains(audience) {
                return Err(format!(
                    "Data-use policy {} does not allow the audience {audience:?}.",
                    self.id
                ));
            }
        }
        Ok(())
    }
}

fn names(map: &Map<String, Value>, member: &str) -> Result<BTreeSet<String>, DataUseError> {
    let Some(Value::Array(items)) = map.get(member) else {
        return fail(format!("{member} must be a list of strings"));
    };
    if items.is_empty() || items.len() > MAX_ENTRIES {
        return fail(format!("{member} must hold 1 to {MAX_ENTRIES} names"));
    }
    let mut out = BTreeSet::new();
    for item in items {
        let Some(name) = item.as_str() else {
            return fail(format!("{member} must be a list of strings"));
        };
        valid_name(member, name)?;
        if !out.insert(name.to_owned()) {
            return fail(format!("{member} names {name:?} twice"));
        }
    }
    Ok(out)
}

/// Checks a purpose or audience name: 1 to [`MAX_NAME_LEN`] bytes of
/// printable ASCII.
///
/// # Errors
///
/// The name is empty, too long, or has a character outside 0x20–0x7e.
pub fn valid_name(what: &str, name: &str) -> Result<(), DataUseError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return fail(format!("{what}: a name is 1 to {MAX_NAME_LEN} characters"));
    }
    if !name.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return fail(format!(
            "{what}: {name:?} has a character outside printable ASCII"
        ));
    }
    Ok(())
}

/// Reads a policy id written as 64 hexadecimal digits.
pub fn parse_id(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        let hi = char::from(*hi).to_digit(16)?;
        let lo = char::from(*lo).to_digit(16)?;
        *byte = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

/// Writes a policy id as 64 lowercase hexadecimal digits.
pub fn id_hex(id: &[u8; 32]) -> String {
    crate::crypto::hex(id)
}
