//! Custom key store operations: kmsgov has no CloudHSM clusters or external
//! key stores, and says so with the error AWS gives for an unsupported
//! feature rather than pretending.

use kmsgov_authz::Operation;
use serde_json::{json, Value};

use super::Ctx;
use crate::error::{ErrorKind, KmsError};

/// Every custom key store operation.
pub(crate) fn run(ctx: &Ctx<'_>, op: Operation) -> Result<Value, KmsError> {
    match op {
        // There are none to describe: an empty list unless one is named.
        Operation::DescribeCustomKeyStores
            if ctx.input.get("CustomKeyStoreId").is_none()
                && ctx.input.get("CustomKeyStoreName").is_none() =>
        {
            Ok(json!({"CustomKeyStores": [], "Truncated": false}))
        }
        Operation::CreateCustomKeyStore => Err(KmsError::new(
            ErrorKind::UnsupportedOperationException,
            "Custom key stores are not supported by this service.",
        )),
        _ => Err(KmsError::new(
            ErrorKind::CustomKeyStoreNotFoundException,
            "Custom key store not found.",
        )),
    }
}
