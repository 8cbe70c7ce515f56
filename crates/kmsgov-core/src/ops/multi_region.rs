//! multi_region operations.

use serde_json::Value;

use super::crypto::not_yet;
use super::Ctx;
use crate::error::KmsError;

/// replicate_key.
pub(crate) fn replicate_key(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("replicate_key"))
}

/// update_primary_region.
pub(crate) fn update_primary_region(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("update_primary_region"))
}

/// `MultiRegionConfiguration` of a multi-Region key's metadata.
pub(crate) fn metadata(
    _kms: &crate::service::Kms,
    live: &crate::service::LiveKey,
    m: &mut serde_json::Map<String, Value>,
) {
    let region = live.record.region.clone();
    m.insert(
        "MultiRegionConfiguration".into(),
        serde_json::json!({
            "MultiRegionKeyType": "PRIMARY",
            "PrimaryKey": {"Arn": live.arn, "Region": region},
            "ReplicaKeys": [],
        }),
    );
}
