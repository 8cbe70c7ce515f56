//! The AWS IAM policy language: parse, validate and evaluate.
//!
//! `kmsgov-policy` turns policy JSON into a validated [`Policy`] once ("parse,
//! don't validate"), then evaluates it against requests as often as needed.
//! It knows nothing of KMS: service-specific condition keys are plain context
//! values supplied by the caller through the [`Context`] trait. It does no I/O,
//! is synchronous, and never panics on any input.
//!
//! Evaluation never fails: [`Policy::decide`] returns a [`Verdict`] for the hot
//! path, and [`Policy::evaluate`] returns an [`Evaluation`] that records, for
//! every statement, what matched and why (the trace behind kmsgov's decision
//! paths).
//!
//! ```
//! use kmsgov_policy::{Caller, MapContext, Outcome, ParseOptions, Policy, PolicyKind, Request};
//!
//! let policy = Policy::parse(
//!     r#"{"Version": "2012-10-17", "Statement": [{
//!         "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
//!         "Condition": {"StringEquals": {"kms:EncryptionContext:team": "${aws:PrincipalTag/team}"}}
//!     }]}"#,
//!     &ParseOptions::new(PolicyKind::Identity),
//! )?;
//! let caller = Caller::parse("arn:aws:iam::111122223333:user/alice")?;
//! let mut context = MapContext::new();
//! context.insert("aws:PrincipalTag/team", "blue");
//! context.insert("kms:EncryptionContext:Team", "blue");
//! let request = Request { caller: &caller, action: "kms:Decrypt", resource: "*", context: &context };
//! assert_eq!(policy.decide(&request).outcome, Outcome::Allow);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Semantics follow the IAM User Guide pages "Policy evaluation logic",
//! "IAM JSON policy elements" and "Condition operators"; the choices made where
//! they are silent or disagree are listed in the repository's `docs/semantics.md`.

#![warn(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod condition;
mod context;
mod date;
mod error;
mod eval;
mod glob;
mod json;
mod parse;
mod policy;
mod principal;
mod print;
mod template;

pub use condition::{BaseOperator, Condition, ConditionTrace, Operator, Scalar, SetOperator};
pub use context::{Context, ContextValue, Layered, MapContext};
pub use error::{PolicyError, PolicyErrorKind, PolicyErrors};
pub use eval::{
    Evaluation, Matched, Outcome, PrincipalCheck, Request, StatementTrace, Summary, Verdict,
};
pub use parse::{ParseOptions, PolicyKind, SizeCount};
pub use policy::{Effect, Policy, PrincipalName, Statement, Version};
pub use principal::{BadCaller, Caller, CallerKind, PrincipalMatch, PrincipalType};

/// Parses a date as the `Date…` condition operators do (ISO 8601 or epoch
/// seconds) into milliseconds since the Unix epoch.
pub fn parse_date_millis(text: &str) -> Option<i64> {
    date::parse_millis(text)
}

/// Matches `text` against an IAM wildcard pattern (`*`, `?`), case-sensitively.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let mut atoms = Vec::new();
    glob::compile(pattern, &mut atoms);
    glob::matches(&atoms, text, false)
}

/// Matches `value` against an ARN pattern the way `ArnLike` and `Resource` do.
pub fn arn_match(pattern: &str, value: &str) -> bool {
    let mut atoms = Vec::new();
    glob::compile(pattern, &mut atoms);
    condition::arn_like(&atoms, value)
}
