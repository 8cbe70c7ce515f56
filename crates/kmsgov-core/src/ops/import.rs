//! import operations.

use serde_json::Value;

use super::crypto::not_yet;
use super::Ctx;
use crate::error::KmsError;

/// get_parameters_for_import.
pub(crate) fn get_parameters_for_import(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("get_parameters_for_import"))
}

/// import_key_material.
pub(crate) fn import_key_material(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("import_key_material"))
}

/// delete_imported_key_material.
pub(crate) fn delete_imported_key_material(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("delete_imported_key_material"))
}
