//! lifecycle operations.

use serde_json::Value;

use super::crypto::not_yet;
use super::Ctx;
use crate::error::KmsError;

/// enable_key.
pub(crate) fn enable_key(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("enable_key"))
}

/// disable_key.
pub(crate) fn disable_key(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("disable_key"))
}

/// schedule_key_deletion.
pub(crate) fn schedule_key_deletion(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("schedule_key_deletion"))
}

/// cancel_key_deletion.
pub(crate) fn cancel_key_deletion(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("cancel_key_deletion"))
}

/// Carries out what has fallen due for a key (deletion, rotation, expiry of
/// imported material).
pub(crate) fn carry_out_due(
    kms: &crate::service::Kms,
    key: &crate::service::LiveKey,
    now: i64,
) -> Result<(), KmsError> {
    let _ = (kms, key, now);
    Ok(())
}
