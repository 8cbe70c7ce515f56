//! tags operations.

use serde_json::Value;

use super::crypto::not_yet;
use super::Ctx;
use crate::error::KmsError;

/// tag_resource.
pub(crate) fn tag_resource(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("tag_resource"))
}

/// untag_resource.
pub(crate) fn untag_resource(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("untag_resource"))
}

/// list_resource_tags.
pub(crate) fn list_resource_tags(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("list_resource_tags"))
}
