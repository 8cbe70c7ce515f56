//! One permission check through every policy layer (spec §1.3–§1.5, §2.13),
//! recording the decision path when asked.

use std::borrow::Cow;

use kmsgov_policy::{
    CallerKind, Effect, Evaluation, Outcome as PolicyOutcome, PrincipalCheck, PrincipalMatch,
    Request,
};

use super::{target_arn, Check, Run, Target};
use crate::context::KeyContext;
use crate::decision::{ConditionEntry, PathEntry, StatementEntry};
use crate::failure::Failure;
use crate::operation::Operation;
use crate::world::{Key, NamedPolicy};

/// The result of one policy (or set of policies) for one check.
#[derive(Debug, Default)]
pub(crate) struct PolicySet {
    deny: bool,
    allow: bool,
    /// Which kinds of principal match the matching Allow statements had,
    /// one bit per kind.
    allow_kinds: u8,
}

impl PolicySet {
    fn allows_with(&self, kinds: &[PrincipalMatch]) -> bool {
        kinds.iter().any(|k| self.allow_kinds & kind_bit(*k) != 0)
    }
}

fn kind_bit(kind: PrincipalMatch) -> u8 {
    match kind {
        PrincipalMatch::Account => 1,
        PrincipalMatch::Role => 2,
        PrincipalMatch::Wildcard => 4,
        PrincipalMatch::Service => 8,
        PrincipalMatch::Exact => 16,
    }
}

impl<'a> Run<'a> {
    /// Operations that cannot use a key of another account (spec §2.9).
    pub(crate) fn cross_account(
        &mut self,
        op: Operation,
        key: &Key,
        action: &str,
    ) -> Result<(), Failure> {
        if key.account == self.caller_account() || op.spec().cross_account {
            return Ok(());
        }
        let message = self.denied_message(action, &key.arn, false, "resource-based policy");
        self.note(
            "cross-account",
            "Fail",
            &format!(
                "{} cannot be used on a key in another account ({})",
                op.name(),
                key.account
            ),
        );
        Err(Failure::denied(message))
    }

    /// Decides one permission check through every layer (spec §1.3, §2.13).
    pub(crate) fn authorize(&mut self, check: &Check<'a>) -> Result<(), Failure> {
        let world = self.world;
        let env = self.call.env;
        let key = match check.target {
            Target::Key(k, _) => Some(k),
            _ => None,
        };
        let resource = target_arn(&check.target);
        let caller_kind = self.caller.caller.kind();
        let label = if self.trace {
            format!("{} on {resource}", check.action)
        } else {
            String::new()
        };
        // The contexts borrow the caller; copy what the layers need first.
        let caller_info = self.caller.clone();
        let iam_ctx = KeyContext {
            world,
            caller: &caller_info,
            key,
            facts: &check.facts,
            env,
            for_key_policy: false,
        };
        let kp_ctx = KeyContext {
            world,
            caller: &caller_info,
            key,
            facts: &check.facts,
            env,
            for_key_policy: true,
        };
        let iam_req = Request {
            caller: &caller_info.caller,
            action: &check.action,
            resource,
            context: &iam_ctx,
        };
        let kp_req = Request {
            caller: &caller_info.caller,
            action: &check.action,
            resource,
            context: &kp_ctx,
        };

        // SCPs: principals of member accounts, not service-linked roles (spec §1.2).
        let mut scp_deny = false;
        let mut scp_allow = true;
        let scps = caller_info
            .account
            .filter(|a| !a.management_account)
            .and_then(|a| a.scps.as_ref())
            .filter(|_| caller_kind != CallerKind::Service && caller_kind != CallerKind::Anonymous)
            .filter(|_| !caller_info.service_linked());
        if let Some(levels) = scps {
            (scp_deny, scp_allow) =
                self.org_levels("service control policy", levels, &label, &iam_req);
        }
        // The resource-based policy: the key policy (not for alias resources),
        // or a role's trust policy for sts:AssumeRole.
        let resource_policy: Option<(&'static str, &'a NamedPolicy, &'a str, bool)> =
            match &check.target {
                Target::Key(k, _) => Some(("key policy", &k.policy, &k.account, k.aws_managed)),
                Target::Role {
                    account,
                    trust: Some(t),
                    ..
                } => Some(("role trust policy", *t, *account, false)),
                _ => None,
            };
        // RCPs: customer managed keys (and roles, for sts:AssumeRole) in member
        // accounts; not RetireGrant (spec §1.2).
        let mut rcp_deny = false;
        if let Some((_, _, res_account, aws_managed)) = resource_policy {
            let rcps = world
                .accounts
                .get(res_account)
                .filter(|a| !a.management_account && !aws_managed)
                .and_then(|a| a.rcps.as_ref())
                .filter(|_| !check.action.eq_ignore_ascii_case("kms:RetireGrant"))
                .filter(|_| !caller_info.service_linked());
            if let Some(levels) = rcps {
                // RCPs are deny-only: RCPFullAWSAccess allows at every level.
                (rcp_deny, _) = self.org_levels("resource control policy", levels, &label, &kp_req);
            }
        }
        // VPC endpoint policy, when the call came through an endpoint.
        let mut vpce = None;
        if let Some(id) = env.get_one("aws:sourcevpce") {
            if let Some(p) = world.vpc_endpoints.get(id) {
                vpce = Some(self.policy_set(
                    "VPC endpoint policy",
                    id,
                    &label,
                    std::slice::from_ref(p),
                    &iam_req,
                ));
            } else {
                self.note(
                    "VPC endpoint policy",
                    "Skipped",
                    &format!("endpoint {id} is not in the world: default policy allows all"),
                );
            }
        }
        // Key policy (or trust policy).
        let key_policy = resource_policy.map(|(layer, policy, _, _)| {
            self.policy_set(
                layer,
                resource,
                &label,
                std::slice::from_ref(policy),
                &kp_req,
            )
        });
        // Identity-based policies, boundary, session policy.
        let identity = if caller_info.has_iam() {
            Some(self.policy_set(
                "identity-based policy",
                caller_info.caller.arn(),
                &label,
                caller_info.identity_policies(),
                &iam_req,
            ))
        } else {
            None
        };
        let boundary = caller_info.boundary().map(|b| {
            self.policy_set(
                "permissions boundary",
                &b.name,
                &label,
                std::slice::from_ref(b),
                &iam_req,
            )
        });
        let session = caller_info.session_policy().map(|s| {
            self.policy_set(
                "session policy",
                &s.name,
                &label,
                std::slice::from_ref(s),
                &iam_req,
            )
        });

        // Explicit denies, reported in AWS's order (spec §8.3).
        let explicit = [
            ("service control policy", scp_deny),
            ("resource control policy", rcp_deny),
            ("VPC endpoint policy", vpce.as_ref().is_some_and(|v| v.deny)),
            (
                "permissions boundary",
                boundary.as_ref().is_some_and(|v| v.deny),
            ),
            ("session policy", session.as_ref().is_some_and(|v| v.deny)),
            (
                "identity-based policy",
                identity.as_ref().is_some_and(|v| v.deny),
            ),
            (
                "resource-based policy",
                key_policy.as_ref().is_some_and(|v| v.deny),
            ),
        ];
        if let Some((ty, _)) = explicit.iter().find(|(_, d)| *d) {
            return Err(self.deny(check, true, ty));
        }
        // An SCP that does not allow is reported as an explicit deny (spec §1.2).
        if !scp_allow {
            return Err(self.deny(check, true, "service control policy"));
        }
        if vpce.as_ref().is_some_and(|v| !v.allow) {
            return Err(self.deny(check, false, "VPC endpoint policy"));
        }

        let is_root = caller_kind == CallerKind::Root;
        let id_allow = is_root || identity.as_ref().is_some_and(|v| v.allow);
        let pb_ok = boundary.as_ref().is_none_or(|v| v.allow);
        let sp_ok = match &session {
            Some(s) => s.allow,
            None => caller_kind != CallerKind::FederatedUser,
        };
        let ceilings_ok = pb_ok && sp_ok;

        let Some((_, _, res_account, _)) = resource_policy else {
            // Identity-only permission (alias resources, iam:PassRole and
            // actions without a resource): identity policies decide within
            // the ceilings.
            let own_account = match &check.target {
                Target::Alias(arn) => arn.split(':').nth(4) == caller_info.caller.account(),
                Target::Role { account, .. } => Some(*account) == caller_info.caller.account(),
                _ => true,
            };
            if is_root && own_account {
                return self.allowed(
                    "the account root user has every identity-side permission in its account",
                );
            }
            let reason = if caller_kind == CallerKind::Service || !id_allow || !own_account {
                "identity-based policy"
            } else if !pb_ok {
                "permissions boundary"
            } else if !sp_ok {
                "session policy"
            } else {
                return self.allowed("an identity-based policy allows it");
            };
            return Err(self.deny(check, false, reason));
        };

        let kp = key_policy.unwrap_or_default();
        let best = |kinds: &[PrincipalMatch]| kp.allows_with(kinds);
        let direct = best(&[
            PrincipalMatch::Exact,
            PrincipalMatch::Wildcard,
            PrincipalMatch::Service,
        ]);
        let role = best(&[PrincipalMatch::Role]);
        let account = best(&[PrincipalMatch::Account]);
        let same_account = caller_info.caller.account() == Some(res_account);
        let grant = match key {
            Some(key) => self.find_grant(check, key, id_allow && ceilings_ok),
            None => false,
        };

        if caller_kind == CallerKind::Service {
            if direct || grant {
                return self.allowed(if key.is_some() {
                    "the key policy names the service principal"
                } else {
                    "the trust policy names the service principal"
                });
            }
            return Err(self.deny(check, false, "resource-based policy"));
        }
        if same_account {
            if direct {
                return self.allowed(if key.is_some() {
                    "the key policy names the caller directly, so implicit denies in identity-type policies do not apply"
                } else {
                    "the trust policy names the caller directly, so implicit denies in identity-type policies do not apply"
                });
            }
            if role && ceilings_ok {
                return self.allowed(if key.is_some() {
                    "the key policy names the caller's role; the permissions boundary and session policy allow it"
                } else {
                    "the trust policy names the caller's role; the permissions boundary and session policy allow it"
                });
            }
            if account && id_allow && ceilings_ok {
                return self.allowed(if key.is_some() {
                    "the key policy delegates to the account and an identity-based policy allows it"
                } else {
                    "the trust policy delegates to the account and an identity-based policy allows it"
                });
            }
            if grant {
                return self.allowed("a grant allows it");
            }
            let reason = if !(role || account) {
                "resource-based policy"
            } else if account && !id_allow && !role {
                "identity-based policy"
            } else if !pb_ok {
                "permissions boundary"
            } else if !sp_ok {
                "session policy"
            } else {
                "identity-based policy"
            };
            return Err(self.deny(check, false, reason));
        }
        // Cross-account: both the key's account and the caller's must allow (spec §1.4).
        let key_side = direct || role || account || grant;
        let caller_side = (id_allow && ceilings_ok) || grant;
        if key_side && caller_side {
            let why = if grant {
                "a grant allows it"
            } else {
                if key.is_some() {
                    "the key policy trusts the caller and the caller's identity-based policy allows it"
                } else {
                    "the trust policy trusts the caller and the caller's identity-based policy allows it"
                }
            };
            return self.allowed(why);
        }
        let reason = if !key_side {
            "resource-based policy"
        } else if !id_allow {
            "identity-based policy"
        } else if !pb_ok {
            "permissions boundary"
        } else {
            "session policy"
        };
        Err(self.deny(check, false, reason))
    }

    /// The name of an organization policy level in the path (only built when tracing).
    /// Organization policies by level (root, OUs, account): whether any denies,
    /// and whether every level allows.
    fn org_levels(
        &mut self,
        layer: &'static str,
        levels: &[Vec<NamedPolicy>],
        label: &str,
        request: &Request<'_>,
    ) -> (bool, bool) {
        let (mut deny, mut allow) = (false, true);
        for (i, level) in levels.iter().enumerate() {
            let set = self.policy_set(layer, &self.level_name(i), label, level, request);
            deny |= set.deny;
            allow &= set.allow;
        }
        (deny, allow)
    }

    pub(crate) fn level_name(&self, i: usize) -> String {
        if self.trace {
            format!("level {i}")
        } else {
            String::new()
        }
    }

    pub(crate) fn allowed(&mut self, why: &str) -> Result<(), Failure> {
        self.note("result", "Allow", why);
        Ok(())
    }

    /// Evaluates a set of policies of one type; records a path entry per policy.
    pub(crate) fn policy_set(
        &mut self,
        layer: &'static str,
        owner: &str,
        label: &str,
        policies: &[NamedPolicy],
        request: &Request<'_>,
    ) -> PolicySet {
        let mut set = PolicySet::default();
        if policies.is_empty() && self.trace {
            self.path.push(PathEntry {
                layer: Cow::Borrowed(layer),
                check: label.to_owned(),
                policy: format!("{owner}: none attached"),
                verdict: PolicyOutcome::NotApplicable.as_str().into(),
                statements: Vec::new(),
                note: Cow::Borrowed(""),
            });
        }
        const KINDS: [PrincipalMatch; 5] = [
            PrincipalMatch::Exact,
            PrincipalMatch::Service,
            PrincipalMatch::Wildcard,
            PrincipalMatch::Role,
            PrincipalMatch::Account,
        ];
        for p in policies {
            if self.trace {
                let eval = p.policy.evaluate(request);
                for st in eval.statements.iter().filter(|s| s.matched) {
                    match st.effect {
                        Effect::Deny => set.deny = true,
                        Effect::Allow => {
                            set.allow = true;
                            if let Some(k) = principal_of(st.principal) {
                                set.allow_kinds |= kind_bit(k);
                            }
                        }
                    }
                }
                self.record(layer, &p.name, label, &eval);
            } else {
                let summary = p.policy.decide_summary(request);
                set.deny |= summary.denies();
                set.allow |= summary.allows();
                for k in KINDS {
                    if summary.allows_with(k) {
                        set.allow_kinds |= kind_bit(k);
                    }
                }
            }
        }
        set
    }

    pub(crate) fn record(
        &mut self,
        layer: &'static str,
        name: &str,
        label: &str,
        eval: &Evaluation<'_>,
    ) {
        let statements = eval
            .statements
            .iter()
            .filter(|s| {
                let principal_passes =
                    principal_of(s.principal).is_some() || s.principal == PrincipalCheck::Absent;
                s.matched || (s.action && s.resource && principal_passes)
            })
            .map(|s| StatementEntry {
                index: s.index,
                sid: s.sid.map(str::to_owned),
                effect: s.effect.as_str().into(),
                matched: s.matched,
                principal: principal_of(s.principal).map(|p| p.as_str().to_owned()),
                note: statement_note(layer, s.matched, principal_of(s.principal), s.effect),
                conditions: s
                    .conditions
                    .iter()
                    .map(|c| ConditionEntry {
                        operator: c.operator.to_owned(),
                        key: c.key.to_owned(),
                        policy_values: c.policy_values.clone(),
                        request_values: c.request_values.clone(),
                        result: c.result,
                        reason: Cow::Borrowed(c.reason),
                    })
                    .collect(),
            })
            .collect();
        self.path.push(PathEntry {
            layer: Cow::Borrowed(layer),
            check: label.to_owned(),
            policy: name.to_owned(),
            verdict: Cow::Borrowed(eval.outcome.as_str()),
            statements,
            note: Cow::Borrowed(""),
        });
    }
}

pub(crate) fn principal_of(check: PrincipalCheck) -> Option<PrincipalMatch> {
    match check {
        PrincipalCheck::Matched(m) => Some(m),
        PrincipalCheck::NotPrincipalApplies => Some(PrincipalMatch::Wildcard),
        _ => None,
    }
}

fn statement_note(
    layer: &'static str,
    matched: bool,
    principal: Option<PrincipalMatch>,
    effect: Effect,
) -> Cow<'static, str> {
    if !matched {
        return "a condition did not hold".into();
    }
    if !matches!(layer, "key policy" | "role trust policy") || effect == Effect::Deny {
        return Cow::Borrowed("");
    }
    match principal {
        Some(PrincipalMatch::Account) => {
            "names the caller's account: allows only together with an identity-based policy".into()
        }
        Some(PrincipalMatch::Role) => {
            "names the caller's role: the permissions boundary and session policy still apply"
                .into()
        }
        Some(_) => "names the caller directly".into(),
        None => Cow::Borrowed(""),
    }
}
