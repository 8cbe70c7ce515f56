//! Stored records and their versioned encoding.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::StoreError;

/// The encoding version written today.
pub const RECORD_VERSION: u8 = 1;

/// A KMS key as stored. Key material appears only wrapped under the root key.
///
/// Members added after the first release carry `#[serde(default)]`, so
/// records written before them still decode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Key id (UUID form).
    pub key_id: String,
    /// Owning account.
    pub account: String,
    /// Region.
    pub region: String,
    /// Incremented by every update (compare-and-swap).
    pub revision: u64,
    /// Creation time, Unix seconds.
    pub creation_date: i64,
    /// `Description`.
    pub description: String,
    /// `KeySpec`.
    pub key_spec: String,
    /// `KeyUsage`.
    pub key_usage: String,
    /// `Origin`.
    pub origin: String,
    /// `KeyState` name.
    pub key_state: String,
    /// When a key pending deletion is deleted, Unix seconds.
    pub deletion_date: Option<i64>,
    /// `PendingWindowInDays` of the scheduled deletion.
    pub pending_window_days: Option<u32>,
    /// Multi-Region key.
    pub multi_region: bool,
    /// AWS managed key.
    pub aws_managed: bool,
    /// The key policy document, as the caller sent it.
    pub policy: String,
    /// Resource tags.
    pub tags: BTreeMap<String, String>,
    /// Automatic rotation settings.
    pub rotation: Option<RotationRecord>,
    /// Every version of the key material; the last is current.
    pub versions: Vec<KeyVersionRecord>,
    /// Imported key material expires at this time (Unix seconds).
    #[serde(default)]
    pub material_valid_to: Option<i64>,
    /// Outstanding import parameters (GetParametersForImport).
    #[serde(default)]
    pub import: Option<ImportRecord>,
    /// Multi-Region keys: the primary key's Region (`None` for the primary).
    #[serde(default)]
    pub primary_region: Option<String>,
    /// Multi-Region keys: the Regions of the replica keys of the key's
    /// multi-Region family.
    #[serde(default)]
    pub replica_regions: Vec<String>,
    /// Keys with imported material: a keyed fingerprint (hex) of the material
    /// first imported, kept when the material is deleted or expires so that
    /// a reimport can be checked to be the same material.
    #[serde(default)]
    pub imported_material_fingerprint: Option<String>,
}

/// Import parameters handed out by GetParametersForImport: the wrapping key
/// pair (its private key wrapped under the root key) and the import token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRecord {
    /// The import token (random, base64).
    pub token: String,
    /// `WrappingAlgorithm`.
    pub wrapping_algorithm: String,
    /// `WrappingKeySpec`.
    pub wrapping_key_spec: String,
    /// The wrapping private key, wrapped under the root key (PKCS#8 inside).
    #[serde(with = "b64")]
    pub wrapped_private_key: Vec<u8>,
    /// The token and key expire at this time (Unix seconds).
    pub valid_to: i64,
}

impl std::fmt::Debug for ImportRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportRecord")
            .field("wrapping_algorithm", &self.wrapping_algorithm)
            .field("wrapping_key_spec", &self.wrapping_key_spec)
            .field("valid_to", &self.valid_to)
            .finish_non_exhaustive()
    }
}

/// Automatic rotation settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationRecord {
    /// Rotation period in days (90–2560).
    pub period_days: u32,
    /// Next automatic rotation, Unix seconds.
    pub next_rotation: i64,
}

/// One version of a key's material.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyVersionRecord {
    /// Version number, from 1.
    pub version: u32,
    /// When it was created, Unix seconds.
    pub created: i64,
    /// Whether it came from on-demand rotation.
    pub on_demand: bool,
    /// The material, wrapped under the root key (base64 in the encoding).
    #[serde(with = "b64")]
    pub wrapped_material: Vec<u8>,
}

impl std::fmt::Debug for KeyVersionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVersionRecord")
            .field("version", &self.version)
            .field("created", &self.created)
            .field("on_demand", &self.on_demand)
            .field(
                "wrapped_material",
                &format_args!("<{} bytes>", self.wrapped_material.len()),
            )
            .finish()
    }
}

/// An alias as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    /// Account.
    pub account: String,
    /// Region.
    pub region: String,
    /// `alias/…`.
    pub name: String,
    /// The target key id.
    pub key_id: String,
    /// Creation time, Unix seconds.
    pub creation_date: i64,
    /// Last update, Unix seconds.
    pub last_updated: i64,
}

/// A grant as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// Grant id.
    pub grant_id: String,
    /// The key id.
    pub key_id: String,
    /// Optional name (idempotency).
    pub name: Option<String>,
    /// Creation time, Unix seconds.
    pub creation_date: i64,
    /// Grantee principal.
    pub grantee: String,
    /// Retiring principal.
    pub retiring_principal: Option<String>,
    /// The account that created the grant.
    pub issuing_account: String,
    /// Grant operations.
    pub operations: Vec<String>,
    /// `EncryptionContextEquals`.
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
    /// `EncryptionContextSubset`.
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
    /// `SourceArn`: the grant applies only to requests made on behalf of
    /// this AWS resource.
    #[serde(default)]
    pub source_arn: Option<String>,
}

mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![RECORD_VERSION];
    serde_json::to_writer(&mut out, record).map_err(|e| StoreError::Other(Box::new(e)))?;
    Ok(out)
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    match bytes.split_first() {
        // Version 1 is today's encoding; a later version adds a migration arm here.
        Some((1, json)) => {
            serde_json::from_slice(json).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
        }
        Some((v, _)) => Err(StoreError::Corrupt(format!(
            "{what}: unknown record version {v}"
        ))),
        None => Err(StoreError::Corrupt(format!("{what}: empty record"))),
    }
}

/// Encodes a key record.
pub fn encode_key(r: &KeyRecord) -> Result<Vec<u8>, StoreError> {
    encode(r)
}

/// Decodes a key record (any supported version).
pub fn decode_key(bytes: &[u8]) -> Result<KeyRecord, StoreError> {
    decode(bytes, "key record")
}

/// Encodes an alias record.
pub fn encode_alias(r: &AliasRecord) -> Result<Vec<u8>, StoreError> {
    encode(r)
}

/// Decodes an alias record.
pub fn decode_alias(bytes: &[u8]) -> Result<AliasRecord, StoreError> {
    decode(bytes, "alias record")
}

/// Encodes a grant record.
pub fn encode_grant(r: &GrantRecord) -> Result<Vec<u8>, StoreError> {
    encode(r)
}

/// Decodes a grant record.
pub fn decode_grant(bytes: &[u8]) -> Result<GrantRecord, StoreError> {
    decode(bytes, "grant record")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_reject_unknown_versions() {
        let key = KeyRecord {
            key_id: "k".into(),
            account: "111122223333".into(),
            region: "us-east-1".into(),
            revision: 3,
            creation_date: 1,
            description: "d".into(),
            key_spec: "SYMMETRIC_DEFAULT".into(),
            key_usage: "ENCRYPT_DECRYPT".into(),
            origin: "AWS_KMS".into(),
            key_state: "Enabled".into(),
            deletion_date: None,
            pending_window_days: None,
            multi_region: false,
            aws_managed: false,
            policy: "{}".into(),
            tags: BTreeMap::from([("a".into(), "b".into())]),
            rotation: None,
            versions: vec![KeyVersionRecord {
                version: 1,
                created: 1,
                on_demand: false,
                wrapped_material: vec![1, 2, 3],
            }],
            ..KeyRecord::default()
        };
        let bytes = encode_key(&key).unwrap();
        assert_eq!(bytes[0], RECORD_VERSION);
        assert_eq!(decode_key(&bytes).unwrap(), key);
        let mut future = bytes.clone();
        future[0] = 9;
        assert!(matches!(decode_key(&future), Err(StoreError::Corrupt(_))));
        assert!(matches!(decode_key(&[]), Err(StoreError::Corrupt(_))));
        assert!(matches!(
            decode_key(&bytes[..bytes.len() - 2]),
            Err(StoreError::Corrupt(_))
        ));
        assert!(!format!("{key:?}").contains("[1, 2, 3]"));
    }
}
