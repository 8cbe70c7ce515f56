//! grants operations.

use serde_json::Value;

use super::crypto::not_yet;
use super::Ctx;
use crate::error::KmsError;

/// create_grant.
pub(crate) fn create_grant(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("create_grant"))
}

/// list_grants.
pub(crate) fn list_grants(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("list_grants"))
}

/// list_retirable_grants.
pub(crate) fn list_retirable_grants(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("list_retirable_grants"))
}

/// retire_grant.
pub(crate) fn retire_grant(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("retire_grant"))
}

/// revoke_grant.
pub(crate) fn revoke_grant(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("revoke_grant"))
}
