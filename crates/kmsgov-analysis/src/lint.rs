//! Policy lint: findings about policies that are valid but risky, broken in
//! practice, or pointless. The rules and their ids are documented in the
//! repository's `docs/lint.md`; ids never change meaning.
//!
//! A lone policy document is linted with the role it is given
//! ([`lint_policy`]); a world (a scenario file) is linted with the role of
//! every policy known ([`lint_world`]), its grants too, and the checks that
//! need the whole world (who can administer a key, whether identity policies
//! depend on the key policy's root delegation) are decided by the engine.

mod rules;
mod world;

use std::cmp::Ordering;
use std::fmt::Write as _;

use kmsgov_policy::{ParseOptions, Policy, PolicyKind};
use serde_json::Value;

pub use world::lint_world;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing; does not fail `kmsgov policy lint`.
    Info,
    /// Probably wrong or too permissive.
    Warning,
    /// Almost certainly wrong: grants far more than meant, or locks people out.
    Error,
}

impl Severity {
    /// `info`, `warning` or `error`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One lint finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule id, `KG001`….
    pub id: &'static str,
    /// The rule's severity.
    pub severity: Severity,
    /// The file the policy came from, as the caller named it.
    pub file: String,
    /// For worlds, which policy or grant (`keys[0].policy`); empty for a lone policy.
    pub location: String,
    /// JSON pointer into the policy document (or grant), e.g. `/Statement/2/Principal`.
    pub pointer: String,
    /// What is wrong, in one line.
    pub message: String,
    /// How to fix it, in one line.
    pub fix: String,
}

/// The role a policy plays, which decides the rules that apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A KMS key policy.
    Key,
    /// An identity-based policy.
    Identity,
    /// A permissions boundary.
    Boundary,
    /// A session policy.
    Session,
    /// A role trust policy.
    Trust,
    /// A service control policy.
    Scp,
    /// A resource control policy.
    Rcp,
    /// A VPC endpoint policy.
    VpcEndpoint,
}

impl Role {
    /// Every role, with the name `--kind` takes.
    pub const NAMES: &'static [(&'static str, Role)] = &[
        ("key", Role::Key),
        ("identity", Role::Identity),
        ("boundary", Role::Boundary),
        ("session", Role::Session),
        ("trust", Role::Trust),
        ("scp", Role::Scp),
        ("rcp", Role::Rcp),
        ("vpc-endpoint", Role::VpcEndpoint),
    ];

    /// Parses a `--kind` name.
    pub fn from_name(name: &str) -> Option<Role> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, role)| *role)
    }

    /// The options that validate a policy in this role (as a world file does).
    pub fn parse_options(self) -> ParseOptions {
        match self {
            Role::Key => kmsgov_authz::key_policy_options(),
            Role::Identity => ParseOptions::new(PolicyKind::Identity),
            Role::Boundary => ParseOptions::new(PolicyKind::Boundary),
            Role::Session => ParseOptions::new(PolicyKind::Session),
            Role::Trust => ParseOptions::new(PolicyKind::Trust),
            Role::Scp => ParseOptions::new(PolicyKind::Scp),
            Role::Rcp => ParseOptions::new(PolicyKind::Rcp),
            Role::VpcEndpoint => ParseOptions::new(PolicyKind::VpcEndpoint),
        }
    }
}

/// Why a document could not be linted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintError {
    /// Where (JSON pointer; empty for the whole document).
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for LintError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.pointer.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.pointer, self.message)
        }
    }
}

impl std::error::Error for LintError {}

/// Whether a JSON document is a world (scenario file) rather than a policy:
/// an object with `keys`, `principals`, `accounts` or `tests`.
pub fn is_world(doc: &Value) -> bool {
    doc.as_object().is_some_and(|o| {
        ["keys", "principals", "accounts", "tests"]
            .iter()
            .any(|k| o.contains_key(*k))
    })
}

/// Validates `text` as a policy in `role`; the errors are the validator's.
pub fn validate(text: &str, role: Role) -> Result<Policy, LintError> {
    Policy::parse(text, &role.parse_options()).map_err(|errors| {
        let first = errors.first();
        LintError {
            pointer: first.map(|e| e.pointer().to_owned()).unwrap_or_default(),
            message: first
                .map(|e| e.kind().to_string())
                .unwrap_or_else(|| errors.to_string()),
        }
    })
}

/// Lints one policy document (JSON text) in `role`. The document is validated
/// first; an invalid one is an error, not a finding.
pub fn lint_policy(file: &str, text: &str, role: Role) -> Result<Vec<Finding>, LintError> {
    validate(text, role)?;
    let doc: Value = serde_json::from_str(text).map_err(|e| LintError {
        pointer: String::new(),
        message: format!("invalid json: {e}"),
    })?;
    let mut findings = Vec::new();
    rules::lint_document(&doc, role, &mut |raw: rules::Raw| {
        findings.push(raw.into_finding(file, ""));
    });
    if role == Role::Key {
        rules::lone_key_checks(&doc, &mut |raw: rules::Raw| {
            findings.push(raw.into_finding(file, ""));
        });
    }
    sort(&mut findings);
    Ok(findings)
}

/// Sorts findings: file, location, pointer (numeric segments as numbers), id, message.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        a.file
            .cmp(&b.file)
            .then_with(|| natural(&a.location, &b.location))
            .then_with(|| natural(&a.pointer, &b.pointer))
            .then_with(|| a.id.cmp(b.id))
            .then_with(|| a.message.cmp(&b.message))
    });
}

/// Compares strings with runs of digits compared as numbers.
fn natural(a: &str, b: &str) -> Ordering {
    let chunks = |s: &str| -> Vec<(bool, String)> {
        let mut out: Vec<(bool, String)> = Vec::new();
        for c in s.chars() {
            let digit = c.is_ascii_digit();
            match out.last_mut() {
                Some((d, run)) if *d == digit => run.push(c),
                _ => out.push((digit, c.to_string())),
            }
        }
        out
    };
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(cb.iter()) {
        let ord = match (x, y) {
            ((true, m), (true, n)) => {
                let (m, n) = (m.trim_start_matches('0'), n.trim_start_matches('0'));
                m.len().cmp(&n.len()).then_with(|| m.cmp(n))
            }
            ((_, m), (_, n)) => m.cmp(n),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    ca.len().cmp(&cb.len()).then_with(|| a.cmp(b))
}

/// Every rule: its id and severity (KG004 is raised to a warning when a
/// world shows that the missing root delegation matters).
pub fn rules() -> Vec<(&'static str, Severity)> {
    rules::ALL.iter().map(|r| (r.id, r.severity)).collect()
}

/// Whether any finding is a warning or an error (`kmsgov policy lint` exits 1).
pub fn fails(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity >= Severity::Warning)
}

/// The findings for people: `FILE:LOCATION/POINTER: severity[ID] message (fix: …)`
/// one per line, then a summary line.
pub fn render_text(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let _ = writeln!(
            out,
            "{}:{}{}: {}[{}] {} (fix: {})",
            f.file,
            f.location,
            f.pointer,
            f.severity.name(),
            f.id,
            f.message,
            f.fix
        );
    }
    out.push_str(&summary(findings));
    out.push('\n');
    out
}

/// `3 findings: 1 error, 1 warning, 1 info`, or `no findings`.
pub fn summary(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "no findings".to_owned();
    }
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let plural = |n: usize, word: &str| {
        if n == 1 {
            format!("{n} {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    format!(
        "{}: {}, {}, {}",
        plural(findings.len(), "finding"),
        plural(count(Severity::Error), "error"),
        plural(count(Severity::Warning), "warning"),
        plural(count(Severity::Info), "info")
    )
}

/// The findings as JSON: `{"findings": [{"id", "severity", "file", "location",
/// "pointer", "message", "fix"}]}`.
pub fn to_json(findings: &[Finding]) -> Value {
    let items = findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "id": f.id,
                "severity": f.severity.name(),
                "file": f.file,
                "location": f.location,
                "pointer": f.pointer,
                "message": f.message,
                "fix": f.fix,
            })
        })
        .collect::<Vec<_>>();
    serde_json::json!({ "findings": items })
}

#[cfg(test)]
mod tests;
