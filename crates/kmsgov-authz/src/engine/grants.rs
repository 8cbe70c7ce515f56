//! Grants: which grant allows a check, grant tokens, and child grants
//! (spec §3).

use kmsgov_policy::CallerKind;
use serde_json::{Map, Value};

use super::{Check, GrantRule, Run, Target};
use crate::decision::{ErrorCode, PathEntry};
use crate::failure::Failure;
use crate::world::{Grant, GrantConstraints, Key};

impl<'a> Run<'a> {
    /// Every grant token must name a grant (spec §3.6).
    pub(crate) fn grant_tokens(&mut self) -> Result<(), Failure> {
        if !self.call.operation.spec().grant_tokens {
            return Ok(());
        }
        let Some(tokens) = self.input.get("GrantTokens").and_then(Value::as_array) else {
            return Ok(());
        };
        for t in tokens.iter().filter_map(Value::as_str) {
            if self.world.grant(t).is_none() {
                let f = Failure::error(
                    ErrorCode::InvalidGrantTokenException,
                    "The grant token is not valid.",
                );
                self.note(
                    "grant tokens",
                    "Fail",
                    &format!("grant token `{t}` names no grant"),
                );
                return Err(f);
            }
        }
        Ok(())
    }

    /// Is there a grant that allows the check (spec §3.2, §3.4)?
    pub(crate) fn find_grant(
        &mut self,
        check: &Check<'a>,
        key: &Key,
        account_delegation_ok: bool,
    ) -> bool {
        let Target::Key(_, key_idx) = check.target else {
            return false;
        };
        if matches!(check.grants, GrantRule::None) {
            return false;
        }
        let world = self.world;
        let mut notes: Vec<String> = Vec::new();
        let mut found = false;
        for g in world.grants.iter().filter(|g| g.key == key_idx) {
            let why_not = self.grant_rejects(g, check, account_delegation_ok);
            match why_not {
                None => {
                    notes.push(format!("grant {} applies", g.id));
                    found = true;
                    break;
                }
                Some(why) => notes.push(format!("grant {}: {why}", g.id)),
            }
        }
        if self.trace && !notes.is_empty() {
            self.path.push(PathEntry {
                layer: "grants".into(),
                check: format!("{} on {}", check.action, key.arn),
                policy: String::new(),
                verdict: if found {
                    "Allow".into()
                } else {
                    "NotApplicable".into()
                },
                statements: Vec::new(),
                note: notes.join("; ").into(),
            });
        }
        found
    }

    pub(crate) fn grant_rejects(
        &self,
        g: &Grant,
        check: &Check<'a>,
        account_delegation_ok: bool,
    ) -> Option<String> {
        match self.names_caller(&g.grantee) {
            Named::Exact | Named::Role => {}
            Named::Account if account_delegation_ok => {}
            Named::Account => return Some("the grantee is the caller's account, and no identity-based policy allows the action".into()),
            Named::No => return Some(format!("grantee {} is not the caller", g.grantee)),
        }
        match &check.grants {
            GrantRule::None => Some("grants cannot allow this operation".into()),
            GrantRule::Op(op) => {
                if !g.operations.iter().any(|o| o == op) {
                    return Some(format!("its operations do not include {op}"));
                }
                let op_has_context = self.call.operation.spec().encryption_context.is_some();
                if op_has_context && !constraints_hold(&g.constraints, check.constrained_context) {
                    return Some("the encryption context does not satisfy its constraints".into());
                }
                // A SourceArn constraint applies to every operation but RetireGrant.
                if let Some(arn) = &g.constraints.source_arn {
                    if *op != "RetireGrant"
                        && self.env().get_one("aws:sourcearn") != Some(arn.as_str())
                    {
                        return Some(format!(
                            "the request is not made on behalf of {arn} (SourceArn constraint)"
                        ));
                    }
                }
                None
            }
            GrantRule::CreateGrant {
                operations,
                constraints,
            } => {
                if !g.operations.iter().any(|o| o == "CreateGrant") {
                    return Some("its operations do not include CreateGrant".into());
                }
                if let Some(op) = operations
                    .iter()
                    .find(|o| !g.operations.iter().any(|p| p == *o))
                {
                    return Some(format!(
                        "a grant it allows cannot add {op}, which it does not have"
                    ));
                }
                if !child_constraints_ok(&g.constraints, constraints) {
                    return Some(
                        "the new grant's constraints are less strict than this grant's".into(),
                    );
                }
                None
            }
        }
    }

    /// How an ARN in a grant names the caller.
    pub(crate) fn names_caller(&self, arn: &str) -> Named {
        let caller = &self.caller.caller;
        if arn == caller.arn() {
            return Named::Exact;
        }
        let Some(account) = caller.account() else {
            return Named::No;
        };
        if arn == format!("arn:aws:iam::{account}:root") {
            return if caller.kind() == CallerKind::Root {
                Named::Exact
            } else {
                Named::Account
            };
        }
        if let (Some(role), Some(rest)) = (
            caller.role_name(),
            arn.strip_prefix(&format!("arn:aws:iam::{account}:role/")),
        ) {
            if rest.rsplit('/').next() == Some(role) {
                return Named::Role;
            }
        }
        Named::No
    }
}

/// How a grant's principal ARN names the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Named {
    Exact,
    Role,
    Account,
    No,
}

/// Grant constraints against a request's encryption context (spec §3.3):
/// keys compare case-insensitively, values exactly.
pub(crate) fn constraints_hold(c: &GrantConstraints, ec: Option<&Map<String, Value>>) -> bool {
    let find = |ec: &Map<String, Value>, k: &str| {
        let k = k.to_lowercase();
        ec.iter()
            .find(|(rk, _)| rk.to_lowercase() == k)
            .and_then(|(_, v)| v.as_str().map(str::to_owned))
    };
    if let Some(eq) = &c.equals {
        let Some(ec) = ec.filter(|e| !e.is_empty()) else {
            return eq.is_empty();
        };
        if ec.len() != eq.len()
            || !eq
                .iter()
                .all(|(k, v)| find(ec, k).as_deref() == Some(v.as_str()))
        {
            return false;
        }
    }
    if let Some(sub) = &c.subset {
        let empty = Map::new();
        let ec = ec.unwrap_or(&empty);
        if !sub
            .iter()
            .all(|(k, v)| find(ec, k).as_deref() == Some(v.as_str()))
        {
            return false;
        }
    }
    true
}

/// A child grant's constraints must be at least as strict as its parent's (spec §3.4).
fn child_constraints_ok(parent: &GrantConstraints, child: &GrantConstraints) -> bool {
    // A child may not drop or change the parent's SourceArn.
    if parent.source_arn.is_some() && child.source_arn != parent.source_arn {
        return false;
    }
    let contains = |outer: &std::collections::BTreeMap<String, String>,
                    inner: &std::collections::BTreeMap<String, String>| {
        inner.iter().all(|(k, v)| outer.get(k) == Some(v))
    };
    match (&parent.equals, &parent.subset) {
        (Some(p), _) => child.equals.as_ref() == Some(p),
        (None, Some(p)) => match (&child.equals, &child.subset) {
            (Some(c), _) => contains(c, p),
            (None, Some(c)) => contains(c, p),
            (None, None) => false,
        },
        (None, None) => true,
    }
}
