//! aliases operations.

use serde_json::Value;

use super::crypto::not_yet;
use super::Ctx;
use crate::error::KmsError;

/// create_alias.
pub(crate) fn create_alias(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("create_alias"))
}

/// update_alias.
pub(crate) fn update_alias(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("update_alias"))
}

/// delete_alias.
pub(crate) fn delete_alias(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("delete_alias"))
}

/// list_aliases.
pub(crate) fn list_aliases(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("list_aliases"))
}
