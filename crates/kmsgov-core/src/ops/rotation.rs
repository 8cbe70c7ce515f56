//! rotation operations.

use serde_json::Value;

use super::crypto::not_yet;
use super::Ctx;
use crate::error::KmsError;

/// enable_key_rotation.
pub(crate) fn enable_key_rotation(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("enable_key_rotation"))
}

/// disable_key_rotation.
pub(crate) fn disable_key_rotation(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("disable_key_rotation"))
}

/// get_key_rotation_status.
pub(crate) fn get_key_rotation_status(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("get_key_rotation_status"))
}

/// rotate_key_on_demand.
pub(crate) fn rotate_key_on_demand(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("rotate_key_on_demand"))
}

/// list_key_rotations.
pub(crate) fn list_key_rotations(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("list_key_rotations"))
}
