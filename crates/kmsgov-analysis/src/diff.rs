//! Key policy diff: who gains or loses which action on a key when its key
//! policy changes from one document to another, as the engine decides it in
//! a world.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use kmsgov_authz::{decide_action, ActionCall, Environment, NamedPolicy, Trace, World};
use kmsgov_policy::{Caller, Policy};
use serde_json::Value;

/// The IAM actions of KMS whose resource is a key, in alphabetical order:
/// every KMS operation that names a key (ReEncrypt as its two actions,
/// `kms:ReEncryptFrom` and `kms:ReEncryptTo`), without the operations that
/// are authorized on `*` (CreateKey, ListKeys, …) or on an alias alone
/// (DeleteAlias).
pub const KEY_ACTIONS: &[&str] = &[
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DeleteImportedKeyMaterial",
    "kms:DeriveSharedSecret",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateMac",
    "kms:GetKeyLastUsage",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:GetParametersForImport",
    "kms:GetPublicKey",
    "kms:ImportKeyMaterial",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:ReplicateKey",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:Sign",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
    "kms:UpdatePrimaryRegion",
    "kms:Verify",
    "kms:VerifyMac",
];

/// One (principal, action) whose decision changes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// The caller's ARN.
    pub principal: String,
    /// The action, e.g. `kms:Decrypt`.
    pub action: String,
    /// The decision under the old key policy (`Allow`, `Deny` or an error name).
    pub before: String,
    /// The decision under the new key policy.
    pub after: String,
    /// The engine's message for the new decision (empty for Allow).
    pub reason_after: String,
}

/// The result of a key policy diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDiff {
    /// The key's ARN.
    pub key: String,
    /// The changes, sorted by principal, then action.
    pub changes: Vec<Change>,
}

/// Why a diff could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffError(pub String);

impl std::fmt::Display for DiffError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DiffError {}

/// Picks the key: `requested` if given (it must be in the world), or the
/// world's only key.
pub fn choose_key<'w>(world: &'w World, requested: Option<&str>) -> Result<&'w str, DiffError> {
    match requested {
        Some(arn) => world
            .key_by_arn(arn)
            .map(|k| k.arn.as_str())
            .ok_or_else(|| DiffError(format!("key `{arn}` is not in the world"))),
        None => match world.keys.as_slice() {
            [only] => Ok(only.arn.as_str()),
            [] => Err(DiffError("the world has no key".to_owned())),
            _ => Err(DiffError(
                "the world has several keys: name one with --key".to_owned(),
            )),
        },
    }
}

/// The principals a diff decides for: every principal of the world, the
/// root of every account in the world, of the key's account and of every
/// account either policy names, and every principal ARN either policy names
/// in `Principal` (wildcards aside). Sorted, without duplicates.
pub fn candidates(world: &World, key_account: &str, docs: &[&Value]) -> Vec<String> {
    let mut out: BTreeSet<String> = world.principals.keys().cloned().collect();
    let root = |a: &str| format!("arn:aws:iam::{a}:root");
    out.extend(world.accounts.keys().map(|a| root(a)));
    out.insert(root(key_account));
    for doc in docs {
        for entry in principal_entries(doc) {
            if entry.contains(['*', '?']) {
                continue;
            }
            if entry.len() == 12 && entry.bytes().all(|b| b.is_ascii_digit()) {
                out.insert(root(&entry));
                continue;
            }
            if let Some(account) = entry
                .strip_prefix("arn:aws:")
                .and_then(|r| r.split(':').nth(2))
                .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
            {
                out.insert(root(account));
            }
            out.insert(entry);
        }
    }
    out.into_iter()
        .filter(|arn| Caller::parse(arn).is_ok())
        .collect()
}

/// The strings of every `Principal` element (all principal types).
fn principal_entries(doc: &Value) -> Vec<String> {
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for s in statements {
        match s.get("Principal") {
            Some(Value::Object(m)) => {
                for v in m.values() {
                    match v {
                        Value::String(x) => out.push(x.clone()),
                        Value::Array(items) => {
                            out.extend(items.iter().filter_map(Value::as_str).map(str::to_owned))
                        }
                        _ => {}
                    }
                }
            }
            Some(Value::String(x)) => out.push(x.clone()),
            _ => {}
        }
    }
    out
}

/// A copy of `world` with the key `key_arn`'s policy replaced by `policy`.
fn with_policy(world: &World, key_arn: &str, policy: &Policy, label: &str) -> Option<World> {
    let mut world = world.clone();
    let mut key = world.key_by_arn(key_arn)?.clone();
    key.policy = NamedPolicy {
        name: format!("{label} key policy of {key_arn}"),
        policy: policy.clone(),
    };
    world.upsert_key(key);
    Some(world)
}

/// Decides every candidate principal × [`KEY_ACTIONS`] on the key with the
/// key policy `old`, then `new` (documents already validated as key
/// policies; `old_doc` and `new_doc` are the same documents as JSON, for the
/// principals they name), and returns the decisions that change.
pub fn diff(
    world: &World,
    key_arn: &str,
    old: (&Policy, &Value),
    new: (&Policy, &Value),
    env: &Environment<'_>,
) -> Result<KeyDiff, DiffError> {
    let missing = || DiffError(format!("key `{key_arn}` is not in the world"));
    let key = world.key_by_arn(key_arn).ok_or_else(missing)?;
    let before_world = with_policy(world, key_arn, old.0, "old").ok_or_else(missing)?;
    let after_world = with_policy(world, key_arn, new.0, "new").ok_or_else(missing)?;
    let mut changes = Vec::new();
    for arn in candidates(world, &key.account, &[old.1, new.1]) {
        let Ok(caller) = Caller::parse(&arn) else {
            continue;
        };
        for action in KEY_ACTIONS {
            let call = ActionCall {
                caller: &caller,
                action,
                key: key_arn,
                env,
            };
            let before = decide_action(&before_world, &call, Trace::Off);
            let after = decide_action(&after_world, &call, Trace::Off);
            if before.outcome != after.outcome {
                changes.push(Change {
                    principal: arn.clone(),
                    action: (*action).to_owned(),
                    before: before.outcome.name().to_owned(),
                    after: after.outcome.name().to_owned(),
                    reason_after: after.message,
                });
            }
        }
    }
    changes.sort();
    Ok(KeyDiff {
        key: key_arn.to_owned(),
        changes,
    })
}

impl KeyDiff {
    /// The diff as JSON: `{"key", "changes": [{"principal", "action",
    /// "before", "after", "reason_after"}]}`.
    pub fn to_json(&self) -> Value {
        let changes = self
            .changes
            .iter()
            .map(|c| {
                serde_json::json!({
                    "principal": c.principal,
                    "action": c.action,
                    "before": c.before,
                    "after": c.after,
                    "reason_after": c.reason_after,
                })
            })
            .collect::<Vec<_>>();
        serde_json::json!({"key": self.key, "changes": changes})
    }

    /// The diff for people: a table `PRINCIPAL  ACTION  BEFORE -> AFTER`,
    /// then a summary line.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "key: {}", self.key);
        if !self.changes.is_empty() {
            let pw = self
                .changes
                .iter()
                .map(|c| c.principal.len())
                .chain(["PRINCIPAL".len()])
                .max()
                .unwrap_or(0);
            let aw = self
                .changes
                .iter()
                .map(|c| c.action.len())
                .chain(["ACTION".len()])
                .max()
                .unwrap_or(0);
            let _ = writeln!(
                out,
                "{:pw$}  {:aw$}  BEFORE -> AFTER",
                "PRINCIPAL", "ACTION"
            );
            for c in &self.changes {
                let _ = writeln!(
                    out,
                    "{:pw$}  {:aw$}  {} -> {}",
                    c.principal, c.action, c.before, c.after
                );
            }
        }
        out.push_str(&self.summary());
        out.push('\n');
        out
    }

    /// `N changes: G granted, R revoked, O other`, or `no access changes`.
    pub fn summary(&self) -> String {
        if self.changes.is_empty() {
            return "no access changes".to_owned();
        }
        let granted = self.changes.iter().filter(|c| c.after == "Allow").count();
        let revoked = self.changes.iter().filter(|c| c.before == "Allow").count();
        let other = self.changes.len() - granted - revoked;
        let principals = self
            .changes
            .iter()
            .map(|c| c.principal.as_str())
            .collect::<BTreeSet<_>>()
            .len();
        format!(
            "{} change{} for {principals} principal{}: {granted} newly allowed, {revoked} no longer allowed, {other} other",
            self.changes.len(),
            if self.changes.len() == 1 { "" } else { "s" },
            if principals == 1 { "" } else { "s" },
        )
    }
}

#[cfg(test)]
mod tests;
