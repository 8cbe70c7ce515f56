//! asymmetric operations.

use serde_json::Value;

use super::crypto::not_yet;
use super::Ctx;
use crate::error::KmsError;

/// sign.
pub(crate) fn sign(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("sign"))
}

/// verify.
pub(crate) fn verify(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("verify"))
}

/// generate_mac.
pub(crate) fn generate_mac(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("generate_mac"))
}

/// verify_mac.
pub(crate) fn verify_mac(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("verify_mac"))
}

/// get_public_key.
pub(crate) fn get_public_key(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("get_public_key"))
}

/// derive_shared_secret.
pub(crate) fn derive_shared_secret(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("derive_shared_secret"))
}
