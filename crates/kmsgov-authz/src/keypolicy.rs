//! Key policy documents as PutKeyPolicy and CreateKey accept them (spec §2.5,
//! §2.7, §4.3).

use kmsgov_policy::{ParseOptions, Policy, PolicyErrorKind, PolicyKind, SizeCount};

use crate::decision::ErrorCode;
use crate::failure::Failure;

/// The documented maximum size of a key policy, in bytes.
pub const MAX_KEY_POLICY_BYTES: usize = 32_768;

/// Parse options for key policies: resource-policy rules, the size limit, and
/// KMS's rejection of `ForAllValues` on single-valued keys.
pub fn key_policy_options() -> ParseOptions {
    ParseOptions::new(PolicyKind::Resource)
        .with_size_limit(MAX_KEY_POLICY_BYTES, SizeCount::Bytes)
        .with_single_valued_prefixes(["kms:EncryptionContext:", "aws:RequestTag/"])
}

/// The key policy CreateKey gives a key when the request has none (spec §2.5).
pub fn default_policy_text(account: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Id":"key-default-1","Statement":[{{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    )
}

/// The default key policy, parsed.
pub fn default_policy(account: &str) -> Policy {
    // The default policy is well-formed for any 12-digit account; for anything
    // else fall back to a policy that names no one.
    Policy::parse(&default_policy_text(account), &ParseOptions::new(PolicyKind::Resource)).unwrap_or_else(|_| {
        Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}]}"#,
            &ParseOptions::new(PolicyKind::Resource),
        )
        .unwrap_or_else(|_| unreachable_policy())
    })
}

#[allow(
    clippy::panic,
    reason = "INVARIANT: the literal policy above always parses"
)]
fn unreachable_policy() -> Policy {
    panic!("built-in policy text failed to parse")
}

/// Validates a key policy document; the errors are those KMS returns.
pub(crate) fn validate(text: &str, _key_arn: &str) -> Result<Policy, Failure> {
    if text.len() > MAX_KEY_POLICY_BYTES {
        return Err(Failure::error(
            ErrorCode::LimitExceededException,
            format!(
                "The key policy is {} bytes; the maximum is {MAX_KEY_POLICY_BYTES}.",
                text.len()
            ),
        ));
    }
    if let Some(c) = text
        .chars()
        .find(|c| !matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FF}'))
    {
        return Err(Failure::error(
            ErrorCode::MalformedPolicyDocumentException,
            format!(
                "The key policy contains an illegal character: U+{:04X}.",
                c as u32
            ),
        ));
    }
    Policy::parse(text, &key_policy_options()).map_err(|errors| {
        let first = errors.first();
        let message = match first.map(|e| e.kind()) {
            Some(PolicyErrorKind::OverlyPermissiveCondition { key }) if key.to_lowercase().starts_with("aws:requesttag/") => {
                "OverlyPermissiveCondition:RequestTag: Using the ForAllValues set operator with a single-valued condition key matches requests without the specified tag or with an unspecified tag. To fix, remove ForAllValues.".to_owned()
            }
            Some(PolicyErrorKind::OverlyPermissiveCondition { .. }) => {
                "OverlyPermissiveCondition:EncryptionContext: Using the ForAllValues set operator with a single-valued condition key matches requests without the specified encryption context or with an unspecified encryption context. To fix, remove ForAllValues.".to_owned()
            }
            Some(PolicyErrorKind::TooLarge { .. }) => {
                return Failure::error(ErrorCode::LimitExceededException, "The key policy exceeds the maximum size.")
            }
            Some(PolicyErrorKind::BadPrincipal(_)) => "Policy contains a statement with one or more invalid principals.".to_owned(),
            Some(PolicyErrorKind::MissingElement("Principal")) => {
                "Policy contains a statement with no principal: each statement must contain one or more principals.".to_owned()
            }
            _ => format!("The key policy is not valid: {errors}"),
        };
        Failure::error(ErrorCode::MalformedPolicyDocumentException, message)
    })
}
