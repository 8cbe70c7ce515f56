//! RetireGrant: decided by the grant itself, not by the key policy (spec §3.5).

use std::borrow::Cow;

use kmsgov_policy::{CallerKind, Effect, Request};
use serde_json::Value;

use crate::context::{Facts, KeyContext};
use crate::decision::ErrorCode;
use crate::engine::{Named, Run};
use crate::failure::Failure;

impl Run<'_> {
    /// Who may retire a grant: its retiring principal, its grantee when the
    /// grant includes RetireGrant, and the issuing account (its root user, or
    /// principals to which its IAM policies delegate `kms:RetireGrant`).
    /// Explicit denies in SCPs and identity-type policies still apply; the key
    /// policy is not consulted.
    pub(crate) fn retire_grant(&mut self) -> Result<(), Failure> {
        let world = self.world;
        let input = self.input_map();
        let token = input.get("GrantToken").and_then(Value::as_str);
        let grant_id = input.get("GrantId").and_then(Value::as_str);
        let grant = match (token, grant_id) {
            (Some(t), _) => world.grant(t).ok_or_else(|| {
                Failure::error(
                    ErrorCode::InvalidGrantTokenException,
                    "The grant token is not valid.",
                )
            }),
            (None, Some(id)) if !crate::engine::finish::is_grant_id(id) => {
                Err(crate::engine::finish::invalid_grant_id(id))
            }
            (None, Some(id)) => {
                let key_id = input
                    .get("KeyId")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let key = world.key_by_arn(key_id).or_else(|| {
                    let arn = format!(
                        "arn:aws:kms:{}:{}:key/{key_id}",
                        world.region,
                        self.caller.caller.account().unwrap_or("")
                    );
                    world.key_by_arn(&arn)
                });
                match key {
                    None => Err(Failure::error(
                        ErrorCode::NotFoundException,
                        format!("Key '{key_id}' does not exist"),
                    )),
                    Some(k) => world
                        .grants
                        .iter()
                        .find(|g| {
                            g.id == id && world.keys.get(g.key).is_some_and(|gk| gk.arn == k.arn)
                        })
                        .ok_or_else(|| {
                            Failure::error(
                                ErrorCode::NotFoundException,
                                format!("Grant ID {id} not found"),
                            )
                        }),
                }
            }
            (None, None) => Err(Failure::missing("GrantToken")),
        };
        let grant = grant.inspect_err(|f| self.note("grant", "Fail", &f.message))?;
        let Some(key) = world.keys.get(grant.key) else {
            return Err(Failure::error(
                ErrorCode::NotFoundException,
                "The grant's key does not exist.",
            ));
        };
        let action = "kms:RetireGrant";
        let caller_info = self.caller.clone();
        let facts = Facts::default();
        let ctx = KeyContext {
            world,
            caller: &caller_info,
            key: Some(key),
            facts: &facts,
            env: self.env(),
            for_key_policy: false,
        };
        let request = Request {
            caller: &caller_info.caller,
            action,
            resource: &key.arn,
            context: &ctx,
        };
        let label = format!("{action} on {}", key.arn);

        let deny_in = |policies: &[&kmsgov_policy::Policy]| {
            policies.iter().any(|p| {
                p.decide(&request)
                    .matched
                    .iter()
                    .any(|m| m.effect == Effect::Deny)
            })
        };
        let scp_deny = caller_info
            .account
            .filter(|a| !a.management_account && !caller_info.service_linked())
            .and_then(|a| a.scps.as_ref())
            .is_some_and(|levels| {
                levels
                    .iter()
                    .any(|l| deny_in(&l.iter().map(|p| &p.policy).collect::<Vec<_>>()))
            });
        let identity: Vec<&kmsgov_policy::Policy> = caller_info
            .identity_policies()
            .iter()
            .map(|p| &p.policy)
            .collect();
        let boundary: Vec<&kmsgov_policy::Policy> = caller_info
            .boundary()
            .map(|b| &b.policy)
            .into_iter()
            .collect();
        let session: Vec<&kmsgov_policy::Policy> = caller_info
            .session_policy()
            .map(|s| &s.policy)
            .into_iter()
            .collect();
        let explicit = [
            ("service control policy", scp_deny),
            ("permissions boundary", deny_in(&boundary)),
            ("session policy", deny_in(&session)),
            ("identity-based policy", deny_in(&identity)),
        ];
        if let Some((ty, _)) = explicit.iter().find(|(_, d)| *d) {
            let message = self.denied_message(action, &key.arn, true, ty);
            self.note("result", "Deny", &format!("explicit deny: {ty}"));
            return Err(Failure::denied(message));
        }
        let allows = |policies: &[&kmsgov_policy::Policy]| {
            policies.iter().any(|p| {
                p.decide(&request)
                    .matched
                    .iter()
                    .any(|m| m.effect == Effect::Allow)
            })
        };
        let retiring = grant
            .retiring_principal
            .as_deref()
            .map(|r| self.names_caller(r));
        let grantee = self.names_caller(&grant.grantee);
        let issuing_root = format!("arn:aws:iam::{}:root", grant.issuing_account);
        let in_issuing_account =
            caller_info.caller.account() == Some(grant.issuing_account.as_str());
        let delegated = in_issuing_account
            && caller_info.has_iam()
            && allows(&identity)
            && (boundary.is_empty() || allows(&boundary))
            && (session.is_empty() || allows(&session));
        let why: Option<Cow<'static, str>> = if matches!(retiring, Some(Named::Exact | Named::Role))
        {
            Some("the caller is the grant's retiring principal".into())
        } else if matches!(grantee, Named::Exact | Named::Role)
            && grant.operations.iter().any(|o| o == "RetireGrant")
        {
            Some("the caller is the grantee and the grant includes RetireGrant".into())
        } else if caller_info.caller.kind() == CallerKind::Root
            && caller_info.caller.arn() == issuing_root
        {
            Some("the caller is the root user of the issuing account".into())
        } else if delegated {
            Some("the issuing account's identity-based policy delegates kms:RetireGrant".into())
        } else {
            None
        };
        if self.trace {
            self.path.push(crate::decision::PathEntry {
                layer: "grant".into(),
                check: label,
                policy: grant.id.clone(),
                verdict: if why.is_some() {
                    "Allow".into()
                } else {
                    "NotApplicable".into()
                },
                statements: Vec::new(),
                note: format!(
                    "retiring principal {}, grantee {} (operations {:?}), issuing account {}",
                    grant.retiring_principal.as_deref().unwrap_or("none"),
                    grant.grantee,
                    grant.operations,
                    grant.issuing_account
                )
                .into(),
            });
        }
        match why {
            Some(why) => {
                self.note("result", "Allow", &why);
                if input.get("DryRun").and_then(Value::as_bool) == Some(true) {
                    self.note(
                        "dry run",
                        "Pass",
                        "every check passed; DryRun stops the request here",
                    );
                    return Err(Failure::error(
                        ErrorCode::DryRunOperationException,
                        "The request would have succeeded, but the DryRun option is set.",
                    ));
                }
                Ok(())
            }
            None => {
                let message = self.denied_message(action, &key.arn, false, "resource-based policy");
                self.note("result", "Deny", "the caller may not retire this grant");
                Err(Failure::denied(message))
            }
        }
    }
}
