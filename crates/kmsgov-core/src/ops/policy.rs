//! GetKeyPolicy, PutKeyPolicy and ListKeyPolicies. A key has one key policy,
//! named `default`.
//!
//! The engine has already validated a new policy document (size, grammar,
//! principals) and run the lockout safety check; PutKeyPolicy stores the
//! text as sent and the authorization world takes it up at once, so the
//! next request is decided by the new policy.

use serde_json::{json, Value};

use super::lifecycle::named_key;
use super::params;
use super::Ctx;
use crate::error::{ErrorKind, KmsError};

/// The name of the only key policy a key has.
const POLICY_NAME: &str = "default";

/// GetKeyPolicy: the policy text exactly as it was stored.
pub(crate) fn get_key_policy(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let live = named_key(ctx)?;
    Ok(json!({
        "Policy": live.record.policy,
        "PolicyName": POLICY_NAME,
    }))
}

/// PutKeyPolicy.
pub(crate) fn put_key_policy(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let live = named_key(ctx)?;
    let policy = params::required(ctx.input, "Policy")?;
    if policy != live.record.policy {
        if let Some(governance) = ctx.kms.governance() {
            governance.propose_key_policy(&live.arn, policy, ctx.now)?;
        }
        let mut record = live.record.clone();
        policy.clone_into(&mut record.policy);
        ctx.kms.update_key(record)?;
    }
    Ok(json!({}))
}

/// ListKeyPolicies: always the one name, never truncated. A `Marker` can
/// only be one this service never issued.
pub(crate) fn list_key_policies(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    named_key(ctx)?;
    if params::string(ctx.input, "Marker").is_some() {
        return Err(KmsError::new(
            ErrorKind::InvalidMarkerException,
            "The marker that specifies where pagination should next begin is not valid.",
        ));
    }
    Ok(json!({
        "PolicyNames": [POLICY_NAME],
        "Truncated": false,
    }))
}
