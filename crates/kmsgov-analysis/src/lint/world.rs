//! Linting a world: every policy with its role, every grant, and the key
//! checks the engine decides.

use kmsgov_authz::{decide_action, ActionCall, Environment, Outcome, Scenario, Trace, World};
use kmsgov_policy::Caller;
use serde_json::Value;

use super::rules::{self, Raw};
use super::{sort, Finding, LintError, Role};

/// Lints a world (scenario file) given as JSON text. The world is loaded
/// (and so every policy in it validated) first; a world that does not load
/// is an error, not a finding.
pub fn lint_world(file: &str, text: &str) -> Result<Vec<Finding>, LintError> {
    let scenario = Scenario::parse(text).map_err(|e| LintError {
        pointer: e.pointer,
        message: e.message,
    })?;
    let doc: Value = serde_json::from_str(text).map_err(|e| LintError {
        pointer: String::new(),
        message: format!("invalid json: {e}"),
    })?;
    let mut findings = Vec::new();
    let mut push = |location: &str, raw: Raw| findings.push(raw.into_finding(file, location));
    let world = &scenario.world;

    let list = |field: &str| -> Vec<&Value> {
        doc.get(field)
            .and_then(Value::as_array)
            .map(|items| items.iter().collect())
            .unwrap_or_default()
    };

    for (i, key_doc) in list("keys").into_iter().enumerate() {
        let location = format!("keys[{i}].policy");
        let Some(key) = world.keys.get(i) else {
            continue;
        };
        let Some(policy) = key_doc.get("policy") else {
            // The default key policy: the root delegation alone.
            continue;
        };
        rules::lint_document(policy, Role::Key, &mut |r| push(&location, r));
        for stmt in rules::statements(policy) {
            if !stmt.is_allow()
                || !stmt
                    .list("Action")
                    .iter()
                    .any(|(_, p)| rules::is_full_kms(p))
            {
                continue;
            }
            for (at, entry) in stmt.aws_principals("Principal") {
                if let Some(other) = rules::root_account(entry).filter(|a| *a != key.account) {
                    push(
                        &location,
                        Raw::new(
                            rules::FOREIGN_ADMIN,
                            at,
                            format!(
                                "kms:* for account {other}, which does not own the key (account {}): principals there can change the key policy and delete the key",
                                key.account
                            ),
                        ),
                    );
                }
            }
        }
        if key.aws_managed {
            // AWS writes and administers the policies of AWS managed keys.
            continue;
        }
        if !anyone_administers(world, &key.arn, &key.account) {
            push(
                &location,
                Raw::new(
                    rules::LOCKOUT,
                    "/Statement",
                    format!(
                        "no principal of the world and no account root may call kms:PutKeyPolicy on {}: nobody can change this key policy",
                        key.arn
                    ),
                ),
            );
        }
        if !rules::has_root_delegation(policy, Some(&key.account)) {
            let relying = identity_grants_on_key(&doc, &key.arn, &key.account);
            if let Some(who) = relying.first() {
                let mut raw = Raw::new(
                    rules::NO_ROOT_DELEGATION,
                    "/Statement",
                    format!(
                        "the policy does not allow arn:aws:iam::{}:root kms:*, so the identity policies that grant KMS actions on this key ({who}{}) have no effect",
                        key.account,
                        if relying.len() > 1 { ", …" } else { "" }
                    ),
                );
                raw.severity = super::Severity::Warning;
                push(&location, raw);
            }
        }
    }

    for (i, p) in list("principals").into_iter().enumerate() {
        if let Some(policies) = p.get("policies").and_then(Value::as_array) {
            for (j, policy) in policies.iter().enumerate() {
                let location = format!("principals[{i}].policies[{j}]");
                rules::lint_document(policy, Role::Identity, &mut |r| push(&location, r));
            }
        }
        for (field, role) in [
            ("boundary", Role::Boundary),
            ("trust_policy", Role::Trust),
            ("session_policy", Role::Session),
        ] {
            if let Some(policy) = p.get(field) {
                let location = format!("principals[{i}].{field}");
                rules::lint_document(policy, role, &mut |r| push(&location, r));
            }
        }
    }

    if let Some(accounts) = doc.get("accounts").and_then(Value::as_object) {
        for (id, account) in accounts {
            for (field, role) in [("scps", Role::Scp), ("rcps", Role::Rcp)] {
                let levels = account
                    .get(field)
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                for (l, level) in levels.iter().enumerate() {
                    let docs = level.as_array().map(Vec::as_slice).unwrap_or_default();
                    for (j, policy) in docs.iter().enumerate() {
                        let location = format!("accounts.{id}.{field}[{l}][{j}]");
                        rules::lint_document(policy, role, &mut |r| push(&location, r));
                    }
                }
            }
        }
    }

    for (i, e) in list("vpc_endpoints").into_iter().enumerate() {
        if let Some(policy) = e.get("policy") {
            let location = format!("vpc_endpoints[{i}].policy");
            rules::lint_document(policy, Role::VpcEndpoint, &mut |r| push(&location, r));
        }
    }

    for (i, g) in list("grants").into_iter().enumerate() {
        let location = format!("grants[{i}]");
        rules::lint_grant(g, &mut |r| push(&location, r));
    }

    sort(&mut findings);
    Ok(findings)
}

/// Whether any principal of the world, or the root of any account in the
/// world or of the key's account, may call `kms:PutKeyPolicy` on the key, as
/// the engine decides it with no request context.
fn anyone_administers(world: &World, key_arn: &str, key_account: &str) -> bool {
    let env = Environment::new();
    let mut candidates: Vec<String> = world.principals.keys().cloned().collect();
    candidates.extend(
        world
            .accounts
            .keys()
            .map(|a| format!("arn:aws:iam::{a}:root")),
    );
    candidates.push(format!("arn:aws:iam::{key_account}:root"));
    candidates.sort();
    candidates.dedup();
    candidates.iter().any(|arn| {
        let Ok(caller) = Caller::parse(arn) else {
            return false;
        };
        let call = ActionCall {
            caller: &caller,
            action: "kms:PutKeyPolicy",
            key: key_arn,
            env: &env,
        };
        decide_action(world, &call, Trace::Off).outcome == Outcome::Allow
    })
}

/// The ARNs of principals in `account` whose identity policies allow a KMS
/// action on `key_arn`.
fn identity_grants_on_key(doc: &Value, key_arn: &str, account: &str) -> Vec<String> {
    let mut out = Vec::new();
    let principals = doc
        .get("principals")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for p in principals {
        let Some(arn) = p.get("arn").and_then(Value::as_str) else {
            continue;
        };
        let in_account = arn.split(':').nth(4).is_some_and(|a| a == account);
        if !in_account || rules::root_account(arn).is_some() {
            continue;
        }
        let policies = p
            .get("policies")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let grants = policies.iter().any(|policy| {
            rules::statements(policy).iter().any(|s| {
                s.is_allow()
                    && crate::diff::KEY_ACTIONS
                        .iter()
                        .any(|a| rules::statement_covers_action(s, a))
                    && resource_covers(s, key_arn)
            })
        });
        if grants {
            out.push(arn.to_owned());
        }
    }
    out.sort();
    out
}

fn resource_covers(stmt: &rules::Stmt<'_>, key_arn: &str) -> bool {
    if stmt.body.contains_key("NotResource") {
        return !stmt
            .list("NotResource")
            .iter()
            .any(|(_, r)| kmsgov_policy::arn_match(r, key_arn));
    }
    stmt.list("Resource")
        .iter()
        .any(|(_, r)| *r == "*" || kmsgov_policy::arn_match(r, key_arn))
}
