//! An early answer: an AWS error or an access denial, with its message.

use crate::decision::{ErrorCode, Outcome};

/// A request that stops before (or instead of) being allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) outcome: Outcome,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Failure {
            outcome: Outcome::Error(code),
            message: message.into(),
        }
    }

    pub(crate) fn denied(message: String) -> Self {
        Failure {
            outcome: Outcome::Deny,
            message,
        }
    }

    /// `ValidationException` in AWS's "1 validation error detected" form.
    pub(crate) fn validation(member: &str, constraint: &str) -> Self {
        Failure::error(
            ErrorCode::ValidationException,
            format!("1 validation error detected: Value at '{member}' failed to satisfy constraint: {constraint}"),
        )
    }

    pub(crate) fn missing(member: &str) -> Self {
        Failure::error(
            ErrorCode::ValidationException,
            format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                lower_first(member)
            ),
        )
    }
}

/// `KeyId` → `keyId`, as AWS names members in validation messages.
pub(crate) fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}
