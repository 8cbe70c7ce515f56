//! policy operations.

use serde_json::Value;

use super::crypto::not_yet;
use super::Ctx;
use crate::error::KmsError;

/// get_key_policy.
pub(crate) fn get_key_policy(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("get_key_policy"))
}

/// put_key_policy.
pub(crate) fn put_key_policy(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("put_key_policy"))
}

/// list_key_policies.
pub(crate) fn list_key_policies(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("list_key_policies"))
}
