//! The rules that look at one policy document (or one grant) on its own.
//! They read the validated document as JSON, so every finding can point at
//! the element it is about.

use kmsgov_policy::{BaseOperator, Operator, SetOperator};
use serde_json::{Map, Value};

use super::{Finding, Role, Severity};

/// A rule: its id, severity and fix.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    pub(crate) id: &'static str,
    pub(crate) severity: Severity,
    pub(crate) fix: &'static str,
}

/// `Principal: "*"` in an Allow statement without a limiting condition.
pub(crate) const PUBLIC_PRINCIPAL: Rule = Rule {
    id: "KG001",
    severity: Severity::Error,
    fix: "name the principals, or add a condition on aws:PrincipalOrgID, aws:PrincipalAccount, kms:CallerAccount, aws:SourceVpce or kms:ViaService",
};
/// `kms:*` or `*` allowed to principals that are not administrators.
pub(crate) const FULL_ACCESS: Rule = Rule {
    id: "KG002",
    severity: Severity::Warning,
    fix: "list the KMS actions the principal needs",
};
/// No principal can change the key policy.
pub(crate) const LOCKOUT: Rule = Rule {
    id: "KG003",
    severity: Severity::Error,
    fix: "allow the account root (or a key administrator role) kms:PutKeyPolicy",
};
/// No root delegation statement.
pub(crate) const NO_ROOT_DELEGATION: Rule = Rule {
    id: "KG004",
    severity: Severity::Info,
    fix: "add a statement allowing arn:aws:iam::ACCOUNT:root kms:* on *, or grant access in the key policy itself",
};
/// `ForAllValues` on a multi-valued key without a `Null` check.
pub(crate) const FOR_ALL_VALUES_EMPTY: Rule = Rule {
    id: "KG005",
    severity: Severity::Warning,
    fix: "add \"Null\": {KEY: \"false\"} to the same statement",
};
/// `StringLike` with `*` alone.
pub(crate) const LIKE_STAR: Rule = Rule {
    id: "KG006",
    severity: Severity::Warning,
    fix: "use a specific value or pattern, or \"Null\": {KEY: \"false\"} if presence is what is meant",
};
/// A set operator on a single-valued key.
pub(crate) const SET_ON_SINGLE: Rule = Rule {
    id: "KG007",
    severity: Severity::Warning,
    fix: "drop the ForAllValues:/ForAnyValue: prefix",
};
/// `Resource: "*"` for KMS use actions in an identity policy.
pub(crate) const ANY_KEY: Rule = Rule {
    id: "KG008",
    severity: Severity::Warning,
    fix:
        "list the key ARNs, or limit with aws:ResourceTag/…, kms:ResourceAliases or kms:ViaService",
};
/// `NotPrincipal` in a statement (Allow is rejected by validation).
pub(crate) const NOT_PRINCIPAL: Rule = Rule {
    id: "KG009",
    severity: Severity::Warning,
    fix: "use Principal \"*\" with a condition on aws:PrincipalArn (ArnNotEquals) instead",
};
/// `NotAction` with Allow in a key policy.
pub(crate) const ALLOW_NOT_ACTION: Rule = Rule {
    id: "KG010",
    severity: Severity::Warning,
    fix: "list the allowed actions with Action",
};
/// A grant for encryption operations without an encryption context constraint.
pub(crate) const GRANT_UNCONSTRAINED: Rule = Rule {
    id: "KG011",
    severity: Severity::Warning,
    fix: "add an EncryptionContextSubset or EncryptionContextEquals constraint",
};
/// A grant that allows CreateGrant.
pub(crate) const GRANT_REDELEGATES: Rule = Rule {
    id: "KG012",
    severity: Severity::Warning,
    fix: "remove CreateGrant from the grant's operations unless the grantee must delegate",
};
/// An Allow statement covered by an unconditional Deny in the same policy.
pub(crate) const SHADOWED: Rule = Rule {
    id: "KG013",
    severity: Severity::Warning,
    fix: "remove the Allow statement, or narrow the Deny",
};
/// A statement identical to an earlier one.
pub(crate) const DUPLICATE: Rule = Rule {
    id: "KG014",
    severity: Severity::Warning,
    fix: "remove the duplicate statement",
};
/// An Allow statement in a key policy with no KMS action.
pub(crate) const NON_KMS_ACTION: Rule = Rule {
    id: "KG015",
    severity: Severity::Warning,
    fix: "use kms: actions in key policies; other services' actions never apply to a key",
};
/// A condition on a key no KMS request has.
pub(crate) const NEVER_PRESENT: Rule = Rule {
    id: "KG016",
    severity: Severity::Warning,
    fix: "use aws: or kms: condition keys in key policies, or add IfExists if absence is meant to pass",
};

/// `kms:*` for another account's root in a key policy (worlds only).
pub(crate) const FOREIGN_ADMIN: Rule = Rule {
    id: "KG017",
    severity: Severity::Warning,
    fix: "give the other account only the use actions it needs; keep administration in the key's account",
};
/// `kms:CreateGrant` in a key policy without a grant condition.
pub(crate) const CREATE_GRANT_UNLIMITED: Rule = Rule {
    id: "KG018",
    severity: Severity::Warning,
    fix: "add \"Bool\": {\"kms:GrantIsForAWSResource\": \"true\"} (or conditions on kms:GranteePrincipal / kms:GrantOperations)",
};

/// Every rule, in id order (for documentation and tests).
pub(crate) const ALL: &[Rule] = &[
    PUBLIC_PRINCIPAL,
    FULL_ACCESS,
    LOCKOUT,
    NO_ROOT_DELEGATION,
    FOR_ALL_VALUES_EMPTY,
    LIKE_STAR,
    SET_ON_SINGLE,
    ANY_KEY,
    NOT_PRINCIPAL,
    ALLOW_NOT_ACTION,
    GRANT_UNCONSTRAINED,
    GRANT_REDELEGATES,
    SHADOWED,
    DUPLICATE,
    NON_KMS_ACTION,
    NEVER_PRESENT,
    FOREIGN_ADMIN,
    CREATE_GRANT_UNLIMITED,
];

/// A finding before it is placed in a file.
#[derive(Debug, Clone)]
pub(crate) struct Raw {
    pub(crate) rule: Rule,
    pub(crate) severity: Severity,
    pub(crate) pointer: String,
    pub(crate) message: String,
}

impl Raw {
    pub(crate) fn new(rule: Rule, pointer: impl Into<String>, message: impl Into<String>) -> Raw {
        Raw {
            rule,
            severity: rule.severity,
            pointer: pointer.into(),
            message: message.into(),
        }
    }

    pub(crate) fn into_finding(self, file: &str, location: &str) -> Finding {
        Finding {
            id: self.rule.id,
            severity: self.severity,
            file: file.to_owned(),
            location: location.to_owned(),
            pointer: self.pointer,
            message: self.message,
            fix: self.rule.fix.to_owned(),
        }
    }
}

/// Condition keys whose positive test limits who (or from where) a request
/// comes: a `Principal: "*"` statement with one of them is not public.
pub(crate) const LIMITING_KEYS: &[&str] = &[
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:userid",
    "aws:sourcevpce",
    "aws:sourcevpc",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "kms:calleraccount",
    "kms:viaservice",
];

/// Multi-valued condition keys for which `ForAllValues` also matches an
/// empty (or absent) set.
const MULTI_VALUED_KEYS: &[&str] = &[
    "kms:encryptioncontextkeys",
    "aws:tagkeys",
    "kms:resourcealiases",
];

/// Prefixes of single-valued condition keys.
const SINGLE_VALUED_PREFIXES: &[&str] = &[
    "kms:encryptioncontext:",
    "aws:requesttag/",
    "aws:resourcetag/",
    "aws:principaltag/",
];

/// Single-valued condition keys.
const SINGLE_VALUED_KEYS: &[&str] = &[
    "kms:calleraccount",
    "kms:viaservice",
    "kms:keyspec",
    "kms:keyusage",
    "kms:keyorigin",
    "kms:encryptionalgorithm",
    "kms:signingalgorithm",
    "kms:macalgorithm",
    "kms:keyagreementalgorithm",
    "kms:grantisforawsresource",
    "kms:requestalias",
    "aws:principalarn",
    "aws:principalaccount",
    "aws:principalorgid",
    "aws:principaltype",
    "aws:sourcevpce",
    "aws:sourcevpc",
    "aws:sourceip",
    "aws:sourcearn",
    "aws:sourceaccount",
    "aws:securetransport",
    "aws:multifactorauthpresent",
    "aws:userid",
    "aws:username",
];

/// The KMS actions that use key material ("use" permissions).
pub(crate) const USE_ACTIONS: &[&str] = &[
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
    "kms:Sign",
    "kms:Verify",
    "kms:GenerateMac",
    "kms:VerifyMac",
    "kms:DeriveSharedSecret",
];

/// Grant operations that encrypt or decrypt and accept encryption context constraints.
const EC_GRANT_OPERATIONS: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
];

/// Escapes one JSON pointer segment (RFC 6901).
pub(crate) fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// A statement with its pointer.
pub(crate) struct Stmt<'d> {
    pub(crate) pointer: String,
    pub(crate) body: &'d Map<String, Value>,
}

impl<'d> Stmt<'d> {
    pub(crate) fn is_allow(&self) -> bool {
        self.body.get("Effect").and_then(Value::as_str) == Some("Allow")
    }

    /// The strings of an element written as one string or a list, with the
    /// pointer of each.
    pub(crate) fn list(&self, element: &str) -> Vec<(String, &'d str)> {
        let at = format!("{}/{element}", self.pointer);
        match self.body.get(element) {
            Some(Value::String(s)) => vec![(at, s.as_str())],
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.as_str().map(|s| (format!("{at}/{i}"), s)))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The `AWS` principal entries (`*` for `"Principal": "*"`), with pointers.
    pub(crate) fn aws_principals(&self, element: &str) -> Vec<(String, &'d str)> {
        let at = format!("{}/{element}", self.pointer);
        match self.body.get(element) {
            Some(Value::String(s)) => vec![(at, s.as_str())],
            Some(Value::Object(m)) => {
                let at = format!("{at}/AWS");
                match m.get("AWS") {
                    Some(Value::String(s)) => vec![(at, s.as_str())],
                    Some(Value::Array(items)) => items
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| v.as_str().map(|s| (format!("{at}/{i}"), s)))
                        .collect(),
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    /// Whether the statement names anyone: `"*"` or `{"AWS": "*"}`.
    pub(crate) fn is_public(&self) -> bool {
        self.aws_principals("Principal")
            .iter()
            .any(|(_, p)| *p == "*")
    }

    /// The conditions.
    pub(crate) fn conditions(&self) -> Vec<Cond<'d>> {
        let mut out = Vec::new();
        let Some(Value::Object(ops)) = self.body.get("Condition") else {
            return out;
        };
        for (op, keys) in ops {
            let Some(keys) = keys.as_object() else {
                continue;
            };
            for (key, values) in keys {
                let values = match values {
                    Value::Array(items) => items.iter().map(scalar_text).collect(),
                    other => vec![scalar_text(other)],
                };
                out.push(Cond {
                    pointer: format!("{}/Condition/{}/{}", self.pointer, escape(op), escape(key)),
                    operator_text: op,
                    operator: Operator::parse(op),
                    key,
                    key_lower: key.to_ascii_lowercase(),
                    values,
                });
            }
        }
        out
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One condition (operator, key) of a statement.
pub(crate) struct Cond<'d> {
    pub(crate) pointer: String,
    pub(crate) operator_text: &'d str,
    pub(crate) operator: Option<Operator>,
    pub(crate) key: &'d str,
    pub(crate) key_lower: String,
    pub(crate) values: Vec<String>,
}

impl Cond<'_> {
    /// Whether the condition only holds when the key is present with one of
    /// the policy's values (not negated, no `IfExists`, not `Null`, not
    /// `ForAllValues`, not a bare `*` pattern).
    fn requires_value(&self) -> bool {
        let Some(op) = self.operator else {
            return false;
        };
        let like = matches!(op.base(), BaseOperator::StringLike | BaseOperator::ArnLike);
        !op.base().is_negated()
            && !op.if_exists()
            && op.base() != BaseOperator::Null
            && op.set() != Some(SetOperator::ForAllValues)
            && !(like && self.values.iter().all(|v| v == "*"))
    }
}

/// The statements of a policy document, with pointers.
pub(crate) fn statements(doc: &Value) -> Vec<Stmt<'_>> {
    match doc.get("Statement") {
        Some(Value::Object(body)) => vec![Stmt {
            pointer: "/Statement".to_owned(),
            body,
        }],
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                v.as_object().map(|body| Stmt {
                    pointer: format!("/Statement/{i}"),
                    body,
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether an action pattern allows every KMS action (`kms:*` or `*`).
pub(crate) fn is_full_kms(pattern: &str) -> bool {
    pattern == "*" || pattern.eq_ignore_ascii_case("kms:*")
}

/// Whether an action pattern matches `action` (case-insensitive).
pub(crate) fn action_matches(pattern: &str, action: &str) -> bool {
    kmsgov_policy::wildcard_match(&pattern.to_ascii_lowercase(), &action.to_ascii_lowercase())
}

/// Whether the statement's Action (or NotAction) covers `action`.
pub(crate) fn statement_covers_action(stmt: &Stmt<'_>, action: &str) -> bool {
    if stmt.body.contains_key("NotAction") {
        !stmt
            .list("NotAction")
            .iter()
            .any(|(_, p)| action_matches(p, action))
    } else {
        stmt.list("Action")
            .iter()
            .any(|(_, p)| action_matches(p, action))
    }
}

/// `arn:aws:iam::A:root` or `A` (12 digits): the account, if the entry names one.
pub(crate) fn root_account(entry: &str) -> Option<&str> {
    let account = entry
        .strip_prefix("arn:aws:iam::")
        .and_then(|r| r.strip_suffix(":root"))
        .unwrap_or(entry);
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

/// Whether the statement has a positive condition on a limiting key.
fn has_limiting_condition(stmt: &Stmt<'_>) -> bool {
    stmt.conditions()
        .iter()
        .any(|c| c.requires_value() && LIMITING_KEYS.contains(&c.key_lower.as_str()))
}

/// Runs every single-document rule that applies to `role`.
pub(crate) fn lint_document(doc: &Value, role: Role, emit: &mut dyn FnMut(Raw)) {
    let stmts = statements(doc);
    for stmt in &stmts {
        public_principal(stmt, role, emit);
        full_access(stmt, role, emit);
        conditions(stmt, role, emit);
        any_key(stmt, role, emit);
        not_principal(stmt, emit);
        if role == Role::Key {
            allow_not_action(stmt, emit);
            non_kms_action(stmt, emit);
            create_grant_unlimited(stmt, emit);
        }
    }
    shadowed(&stmts, emit);
    duplicates(&stmts, emit);
}

fn public_principal(stmt: &Stmt<'_>, role: Role, emit: &mut dyn FnMut(Raw)) {
    if !matches!(role, Role::Key | Role::Trust) || !stmt.is_allow() {
        return;
    }
    if has_limiting_condition(stmt) {
        return;
    }
    if let Some((at, _)) = stmt
        .aws_principals("Principal")
        .into_iter()
        .find(|(_, p)| *p == "*")
    {
        let what = if role == Role::Key {
            "any AWS principal in any account"
        } else {
            "any AWS principal in any account can assume the role"
        };
        emit(Raw::new(
            PUBLIC_PRINCIPAL,
            at,
            format!("Allow with Principal \"*\" and no limiting condition: {what}"),
        ));
    }
}

fn full_access(stmt: &Stmt<'_>, role: Role, emit: &mut dyn FnMut(Raw)) {
    if !stmt.is_allow() {
        return;
    }
    let grants_all: Vec<(String, &str)> = stmt
        .list("Action")
        .into_iter()
        .filter(|(_, p)| is_full_kms(p))
        .collect();
    match role {
        Role::Key => {
            let principals = stmt.aws_principals("Principal");
            let admins_only = !principals.is_empty()
                && principals.iter().all(|(_, p)| root_account(p).is_some())
                && !has_non_aws_principal(stmt);
            if admins_only {
                return;
            }
            for (at, pattern) in grants_all {
                emit(Raw::new(
                    FULL_ACCESS,
                    at,
                    format!(
                        "`{pattern}` allowed to principals other than an account root: they can change the key policy and delete the key"
                    ),
                ));
            }
        }
        Role::Identity | Role::Session => {
            for (at, pattern) in grants_all {
                emit(Raw::new(
                    FULL_ACCESS,
                    at,
                    format!("`{pattern}` allows every KMS action, including key policy changes and key deletion"),
                ));
            }
        }
        _ => {}
    }
}

fn has_non_aws_principal(stmt: &Stmt<'_>) -> bool {
    match stmt.body.get("Principal") {
        Some(Value::Object(m)) => m.keys().any(|k| k != "AWS"),
        _ => false,
    }
}

fn conditions(stmt: &Stmt<'_>, role: Role, emit: &mut dyn FnMut(Raw)) {
    let conds = stmt.conditions();
    let allow = stmt.is_allow();
    for c in &conds {
        let Some(op) = c.operator else {
            continue;
        };
        if allow
            && op.set() == Some(SetOperator::ForAllValues)
            && MULTI_VALUED_KEYS.contains(&c.key_lower.as_str())
        {
            let null_checked = conds.iter().any(|n| {
                n.operator.is_some_and(|o| o.base() == BaseOperator::Null)
                    && n.key_lower == c.key_lower
                    && n.values.iter().all(|v| v.eq_ignore_ascii_case("false"))
            });
            if !null_checked {
                emit(Raw::new(
                    FOR_ALL_VALUES_EMPTY,
                    c.pointer.clone(),
                    format!(
                        "{} on {} also matches a request without {}: an empty set satisfies ForAllValues",
                        c.operator_text, c.key, c.key
                    ),
                ));
            }
        }
        if allow
            && op.base() == BaseOperator::StringLike
            && !c.values.is_empty()
            && c.values.iter().all(|v| v == "*")
        {
            emit(Raw::new(
                LIKE_STAR,
                c.pointer.clone(),
                format!(
                    "{} {} \"*\" matches any value: the condition only requires {} to be present",
                    c.operator_text, c.key, c.key
                ),
            ));
        }
        if allow && op.set().is_some() && is_single_valued(&c.key_lower) {
            let why = if op.set() == Some(SetOperator::ForAllValues) {
                "ForAllValues on it also matches requests without the key"
            } else {
                "a set operator on it is misleading"
            };
            emit(Raw::new(
                SET_ON_SINGLE,
                c.pointer.clone(),
                format!("{} is single-valued: {why}", c.key),
            ));
        }
        if role == Role::Key && never_present(c) {
            emit(Raw::new(
                NEVER_PRESENT,
                c.pointer.clone(),
                format!(
                    "{} is never in a KMS request: the {} statement never applies",
                    c.key,
                    if allow { "Allow" } else { "Deny" }
                ),
            ));
        }
    }
}

fn is_single_valued(key_lower: &str) -> bool {
    SINGLE_VALUED_KEYS.contains(&key_lower)
        || SINGLE_VALUED_PREFIXES
            .iter()
            .any(|p| key_lower.starts_with(p))
}

/// A condition key of another service (not `aws:` or `kms:`), tested so that
/// absence fails.
fn never_present(c: &Cond<'_>) -> bool {
    let Some((service, _)) = c.key_lower.split_once(':') else {
        return false;
    };
    if service == "aws" || service == "kms" {
        return false;
    }
    c.operator.is_some_and(|op| {
        op.base() != BaseOperator::Null && !op.if_exists() && !op.base().is_negated()
    })
}

fn any_key(stmt: &Stmt<'_>, role: Role, emit: &mut dyn FnMut(Raw)) {
    if role != Role::Identity || !stmt.is_allow() {
        return;
    }
    let Some((at, _)) = stmt.list("Resource").into_iter().find(|(_, r)| *r == "*") else {
        return;
    };
    let uses: Vec<&str> = USE_ACTIONS
        .iter()
        .copied()
        .filter(|a| statement_covers_action(stmt, a))
        .collect();
    if uses.is_empty() {
        return;
    }
    let limited = stmt.conditions().iter().any(|c| {
        c.requires_value()
            && (c.key_lower.starts_with("aws:resourcetag/")
                || c.key_lower == "kms:resourcealiases"
                || c.key_lower == "kms:requestalias"
                || c.key_lower == "kms:viaservice"
                || c.key_lower == "kms:keyarn")
    });
    if limited {
        return;
    }
    let shown = uses.iter().take(3).copied().collect::<Vec<_>>().join(", ");
    let more = if uses.len() > 3 { ", …" } else { "" };
    emit(Raw::new(
        ANY_KEY,
        at,
        format!("Resource \"*\" allows {shown}{more} on every key in every account that trusts this principal"),
    ));
}

fn not_principal(stmt: &Stmt<'_>, emit: &mut dyn FnMut(Raw)) {
    if stmt.body.contains_key("NotPrincipal") {
        emit(Raw::new(
            NOT_PRINCIPAL,
            format!("{}/NotPrincipal", stmt.pointer),
            format!(
                "NotPrincipal in a {} statement applies to every principal not listed, and role sessions must be listed by session ARN",
                if stmt.is_allow() { "Allow" } else { "Deny" }
            ),
        ));
    }
}

fn create_grant_unlimited(stmt: &Stmt<'_>, emit: &mut dyn FnMut(Raw)) {
    if !stmt.is_allow() {
        return;
    }
    let principals = stmt.aws_principals("Principal");
    if !principals.is_empty()
        && principals.iter().all(|(_, p)| root_account(p).is_some())
        && !has_non_aws_principal(stmt)
    {
        return;
    }
    // `kms:*` and `*` are KG002's.
    let Some((at, pattern)) = stmt
        .list("Action")
        .into_iter()
        .find(|(_, p)| !is_full_kms(p) && action_matches(p, "kms:CreateGrant"))
    else {
        return;
    };
    let limited = stmt.conditions().iter().any(|c| {
        matches!(
            c.key_lower.as_str(),
            "kms:grantisforawsresource" | "kms:granteeprincipal" | "kms:grantoperations"
        )
    });
    if !limited {
        emit(Raw::new(
            CREATE_GRANT_UNLIMITED,
            at,
            format!("`{pattern}` allows kms:CreateGrant without a grant condition: the principal can give anyone its access to the key"),
        ));
    }
}

fn allow_not_action(stmt: &Stmt<'_>, emit: &mut dyn FnMut(Raw)) {
    if stmt.is_allow() && stmt.body.contains_key("NotAction") {
        emit(Raw::new(
            ALLOW_NOT_ACTION,
            format!("{}/NotAction", stmt.pointer),
            "Allow with NotAction allows every KMS action not listed, including ones added later",
        ));
    }
}

fn non_kms_action(stmt: &Stmt<'_>, emit: &mut dyn FnMut(Raw)) {
    if !stmt.is_allow() || !stmt.body.contains_key("Action") {
        return;
    }
    let any_kms = crate::diff::KEY_ACTIONS
        .iter()
        .chain(["kms:CreateKey", "kms:ListKeys", "kms:ListAliases"].iter())
        .any(|a| statement_covers_action(stmt, a));
    if !any_kms {
        emit(Raw::new(
            NON_KMS_ACTION,
            format!("{}/Action", stmt.pointer),
            "the statement allows no KMS action: a key policy only ever authorizes KMS requests",
        ));
    }
}

/// Whether a Deny pattern matches every action an Allow pattern matches.
fn pattern_covers(deny: &str, allow: &str) -> bool {
    let (deny, allow) = (deny.to_ascii_lowercase(), allow.to_ascii_lowercase());
    let wild = |s: &str| s.contains(['*', '?']);
    if deny == "*" || deny == allow {
        return true;
    }
    if !wild(&allow) {
        return kmsgov_policy::wildcard_match(&deny, &allow);
    }
    match deny.strip_suffix('*') {
        Some(prefix) if !wild(prefix) => allow.starts_with(prefix),
        _ => false,
    }
}

fn shadowed(stmts: &[Stmt<'_>], emit: &mut dyn FnMut(Raw)) {
    let denies: Vec<&Stmt<'_>> = stmts
        .iter()
        .filter(|s| {
            !s.is_allow()
                && !s.body.contains_key("Condition")
                && !s.body.contains_key("NotAction")
                && !s.body.contains_key("NotResource")
                && !s.body.contains_key("NotPrincipal")
        })
        .collect();
    for allow in stmts.iter().filter(|s| s.is_allow()) {
        if allow.body.contains_key("NotAction") || allow.body.contains_key("NotResource") {
            continue;
        }
        let actions = allow.list("Action");
        let resources = allow.list("Resource");
        let covering = denies.iter().find(|deny| {
            let principal_ok = match (deny.body.get("Principal"), allow.body.get("Principal")) {
                (None, None) => true,
                (Some(d), Some(a)) => deny.is_public() || d == a,
                _ => false,
            };
            let deny_actions = deny.list("Action");
            let actions_ok = !actions.is_empty()
                && actions
                    .iter()
                    .all(|(_, a)| deny_actions.iter().any(|(_, d)| pattern_covers(d, a)));
            let deny_resources = deny.list("Resource");
            let resources_ok = deny_resources.iter().any(|(_, r)| *r == "*")
                || (!resources.is_empty()
                    && resources
                        .iter()
                        .all(|(_, a)| deny_resources.iter().any(|(_, d)| d == a)));
            principal_ok && actions_ok && resources_ok
        });
        if let Some(deny) = covering {
            emit(Raw::new(
                SHADOWED,
                allow.pointer.clone(),
                format!(
                    "every request this Allow statement matches is denied by the unconditional Deny at {}",
                    deny.pointer
                ),
            ));
        }
    }
}

fn duplicates(stmts: &[Stmt<'_>], emit: &mut dyn FnMut(Raw)) {
    let strip = |s: &Stmt<'_>| {
        let mut body = s.body.clone();
        body.remove("Sid");
        body
    };
    for (i, later) in stmts.iter().enumerate() {
        let body = strip(later);
        if let Some(earlier) = stmts.iter().take(i).find(|e| strip(e) == body) {
            emit(Raw::new(
                DUPLICATE,
                later.pointer.clone(),
                format!("the statement repeats {}", earlier.pointer),
            ));
        }
    }
}

/// Whether the key policy lets anyone change it: an Allow statement with a
/// principal that covers `kms:PutKeyPolicy`.
pub(crate) fn someone_may_put_policy(doc: &Value) -> bool {
    statements(doc).iter().any(|s| {
        s.is_allow()
            && s.body.contains_key("Principal")
            && statement_covers_action(s, "kms:PutKeyPolicy")
    })
}

/// Whether the key policy allows `kms:*` to the root of `account` (any
/// account root when `None`).
pub(crate) fn has_root_delegation(doc: &Value, account: Option<&str>) -> bool {
    statements(doc).iter().any(|s| {
        s.is_allow()
            && s.list("Action").iter().any(|(_, p)| is_full_kms(p))
            && s.aws_principals("Principal")
                .iter()
                .filter_map(|(_, p)| root_account(p))
                .any(|a| account.is_none_or(|want| want == a))
    })
}

/// The checks of a key policy that need its world, done statically for a
/// lone key policy file.
pub(crate) fn lone_key_checks(doc: &Value, emit: &mut dyn FnMut(Raw)) {
    if !someone_may_put_policy(doc) {
        emit(Raw::new(
            LOCKOUT,
            "/Statement",
            "no statement allows any principal kms:PutKeyPolicy: nobody can ever change this key policy",
        ));
    }
    if !has_root_delegation(doc, None) {
        emit(Raw::new(
            NO_ROOT_DELEGATION,
            "/Statement",
            "no statement allows an account root kms:*: IAM policies cannot grant access to this key",
        ));
    }
}

/// The rules for one grant (a world's `grants[i]` object).
pub(crate) fn lint_grant(grant: &Value, emit: &mut dyn FnMut(Raw)) {
    let ops: Vec<(usize, &str)> = grant
        .get("operations")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.as_str().map(|s| (i, s)))
                .collect()
        })
        .unwrap_or_default();
    let constrained = grant.get("constraints").is_some_and(|c| {
        c.get("EncryptionContextSubset").is_some() || c.get("EncryptionContextEquals").is_some()
    });
    let ec_ops: Vec<&str> = ops
        .iter()
        .map(|(_, o)| *o)
        .filter(|o| EC_GRANT_OPERATIONS.contains(o))
        .collect();
    if !constrained && !ec_ops.is_empty() {
        emit(Raw::new(
            GRANT_UNCONSTRAINED,
            "/operations",
            format!(
                "the grant allows {} with any encryption context",
                ec_ops.join(", ")
            ),
        ));
    }
    for (i, op) in &ops {
        if *op == "CreateGrant" {
            emit(Raw::new(
                GRANT_REDELEGATES,
                format!("/operations/{i}"),
                "the grant allows CreateGrant: the grantee can pass its permissions on to anyone",
            ));
        }
    }
}
