//! What the engine answers: the outcome, the AWS-shaped message, and the
//! decision path (one entry per layer that was looked at).

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

macro_rules! error_codes {
    ($($name:ident),* $(,)?) => {
        /// An AWS KMS error, named exactly as the `__type` of the wire protocol.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(missing_docs, reason = "the variants are the AWS error names")]
        pub enum ErrorCode { $($name),* }

        impl ErrorCode {
            /// The AWS error name.
            pub fn name(self) -> &'static str {
                match self { $(ErrorCode::$name => stringify!($name)),* }
            }

            /// Parses an AWS error name.
            pub fn from_name(s: &str) -> Option<ErrorCode> {
                match s { $(stringify!($name) => Some(ErrorCode::$name),)* _ => None }
            }
        }
    };
}

error_codes!(
    AccessDeniedException,
    AlreadyExistsException,
    ConflictException,
    DisabledException,
    DryRunOperationException,
    IncorrectKeyException,
    InvalidAliasNameException,
    InvalidArnException,
    InvalidCiphertextException,
    InvalidGrantIdException,
    InvalidGrantTokenException,
    InvalidKeyUsageException,
    InvalidMarkerException,
    KMSInvalidStateException,
    LimitExceededException,
    MalformedPolicyDocumentException,
    NotFoundException,
    TagException,
    UnsupportedOperationException,
    ValidationException,
);

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The outcome of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The request is authorized (and would be carried out).
    Allow,
    /// AWS answers `AccessDeniedException`.
    Deny,
    /// AWS answers with another error, before or instead of an access decision.
    Error(ErrorCode),
}

impl Outcome {
    /// `Allow`, `Deny`, or the error name.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Allow => "Allow",
            Outcome::Deny => "Deny",
            Outcome::Error(e) => e.name(),
        }
    }
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// `Allow`, `Deny` or an AWS error name.
    #[serde(rename = "decision", serialize_with = "outcome_name")]
    pub outcome: Outcome,
    /// The message AWS would send (empty for Allow).
    #[serde(rename = "reason")]
    pub message: String,
    /// Every layer looked at, in order (empty unless a path was asked for).
    pub path: Vec<PathEntry>,
}

fn outcome_name<S: serde::Serializer>(o: &Outcome, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(o.name())
}

/// One layer of the decision path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathEntry {
    /// The layer: `request`, `key`, `service control policy`, `resource control
    /// policy`, `VPC endpoint policy`, `key policy`, `identity-based policy`,
    /// `permissions boundary`, `session policy`, `grants`, `guardrail`,
    /// `key state`, …
    pub layer: Cow<'static, str>,
    /// The permission checked, e.g. `kms:Decrypt on arn:aws:kms:…:key/…`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub check: String,
    /// The policy or object evaluated.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub policy: String,
    /// `Allow`, `ExplicitDeny`, `NotApplicable`, `Pass`, `Fail`, `Skipped`,
    /// `Error` (a guardrail that failed to evaluate).
    pub verdict: Cow<'static, str>,
    /// Statements that matched, or nearly matched (all but conditions).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub statements: Vec<StatementEntry>,
    /// Why, in a sentence.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub note: Cow<'static, str>,
}

/// A statement in the decision path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementEntry {
    /// Index in its policy.
    pub index: usize,
    /// Its `Sid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// `Allow` or `Deny`.
    pub effect: Cow<'static, str>,
    /// Whether it matched.
    pub matched: bool,
    /// How the caller matched `Principal` (`Exact`, `Role`, `Account`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Whether this match counts for the decision, and why not if it does not.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub note: Cow<'static, str>,
    /// Conditions with their values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ConditionEntry>,
}

/// A condition in the decision path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConditionEntry {
    /// The operator as written.
    pub operator: String,
    /// The key as written.
    pub key: String,
    /// Policy values (variables resolved).
    pub policy_values: Vec<String>,
    /// Request values; absent when the key is not in the request.
    pub request_values: Option<Vec<String>>,
    /// Whether it held.
    pub result: bool,
    /// Why.
    pub reason: Cow<'static, str>,
}

impl Decision {
    /// The decision as JSON (`{"decision", "reason", "path"}`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The decision path for people.
    pub fn render_text(&self) -> String {
        use fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(out, "decision: {}", self.outcome.name());
        if !self.message.is_empty() {
            let _ = writeln!(out, "reason:   {}", self.message);
        }
        for (i, e) in self.path.iter().enumerate() {
            let _ = write!(out, "{:>2}. {} [{}]", i + 1, e.layer, e.verdict);
            if !e.policy.is_empty() {
                let _ = write!(out, " {}", e.policy);
            }
            out.push('\n');
            if !e.check.is_empty() {
                let _ = writeln!(out, "    check: {}", e.check);
            }
            if !e.note.is_empty() {
                let _ = writeln!(out, "    {}", e.note);
            }
            for s in &e.statements {
                let label = s.sid.clone().unwrap_or_else(|| format!("#{}", s.index));
                let mark = if s.matched { "matched" } else { "not matched" };
                let _ = write!(out, "    - {} {} ({mark}", s.effect, label);
                if let Some(p) = &s.principal {
                    let _ = write!(out, ", principal: {p}");
                }
                out.push(')');
                if !s.note.is_empty() {
                    let _ = write!(out, ": {}", s.note);
                }
                out.push('\n');
                for c in &s.conditions {
                    let req = match &c.request_values {
                        Some(v) => format!("{v:?}"),
                        None => "<absent>".to_owned(),
                    };
                    let _ = writeln!(
                        out,
                        "        {} {} {:?} vs {} -> {} ({})",
                        c.operator, c.key, c.policy_values, req, c.result, c.reason
                    );
                }
            }
        }
        out
    }
}
