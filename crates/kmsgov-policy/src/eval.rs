//! Evaluating a policy against a request.
//!
//! Implements the statement-level rules of the IAM User Guide's
//! "Policy evaluation logic" page: a statement applies when its principal,
//! action, resource and every condition match; a matching `Deny` wins over any
//! `Allow`; nothing matching is "not applicable" (an implicit deny when no
//! other policy allows). How several policies combine is the caller's
//! business (`kmsgov-authz` does it for KMS).
//!
//! Two entry points share the same code: [`Policy::decide`] for the hot path
//! (stops at the first failing element of each statement) and
//! [`Policy::evaluate`], which checks everything and returns a trace.

use crate::condition::ConditionTrace;
use crate::context::Context;
use crate::glob;
use crate::policy::{Effect, Policy, PrincipalElement, PrincipalValue, ResourceElement, Statement};
use crate::principal::{Caller, CallerKind, PrincipalId, PrincipalMatch, PrincipalType};

/// A request as the policy language sees it.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// Who is calling.
    pub caller: &'a Caller,
    /// The action, e.g. `kms:Decrypt` (case-insensitive).
    pub action: &'a str,
    /// The resource ARN, or `*` for actions without a resource.
    pub resource: &'a str,
    /// Condition keys.
    pub context: &'a dyn Context,
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("caller", &self.caller.arn())
            .field("action", &self.action)
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

/// The result of one policy for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// An Allow statement matched and no Deny statement did.
    Allow,
    /// A Deny statement matched.
    ExplicitDeny,
    /// No statement matched.
    NotApplicable,
}

impl Outcome {
    /// The name used in traces and tests.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "Allow",
            Outcome::ExplicitDeny => "ExplicitDeny",
            Outcome::NotApplicable => "NotApplicable",
        }
    }
}

/// A statement that matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched {
    /// Its index in the policy.
    pub index: usize,
    /// Its effect.
    pub effect: Effect,
    /// How the caller matched `Principal` (`None` without a principal
    /// element; a `NotPrincipal` that applies counts as `Wildcard`).
    pub principal: Option<PrincipalMatch>,
}

/// The fast result: the outcome and the statements that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The outcome.
    pub outcome: Outcome,
    /// Every matching statement, in document order.
    pub matched: Vec<Matched>,
}

/// How the caller fared against a statement's `Principal`/`NotPrincipal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalCheck {
    /// The statement has no principal element (identity-type policies).
    Absent,
    /// `Principal` matched, and how.
    Matched(PrincipalMatch),
    /// `Principal` did not name the caller.
    NotMatched,
    /// `NotPrincipal` does not list the caller, so the statement applies.
    NotPrincipalApplies,
    /// `NotPrincipal` lists the caller at every level, so it is exempt.
    NotPrincipalExempt,
}

impl PrincipalCheck {
    fn passes(self) -> bool {
        matches!(
            self,
            PrincipalCheck::Absent
                | PrincipalCheck::Matched(_)
                | PrincipalCheck::NotPrincipalApplies
        )
    }

    fn as_match(self) -> Option<PrincipalMatch> {
        match self {
            PrincipalCheck::Matched(m) => Some(m),
            PrincipalCheck::NotPrincipalApplies => Some(PrincipalMatch::Wildcard),
            _ => None,
        }
    }
}

/// What one statement did (borrowing from the policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementTrace<'p> {
    /// Index in the policy.
    pub index: usize,
    /// The `Sid`, if any.
    pub sid: Option<&'p str>,
    /// The effect.
    pub effect: Effect,
    /// Whether the statement matched as a whole.
    pub matched: bool,
    /// The principal check.
    pub principal: PrincipalCheck,
    /// Whether `Action`/`NotAction` matched (false if absent).
    pub action: bool,
    /// Whether `Resource`/`NotResource` matched (false if absent).
    pub resource: bool,
    /// Every condition, in document order, when the principal, action and
    /// resource matched (otherwise the conditions cannot matter and are not
    /// evaluated: the list is empty).
    pub conditions: Vec<ConditionTrace<'p>>,
}

/// The full result: the outcome and a trace of every statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation<'p> {
    /// The outcome.
    pub outcome: Outcome,
    /// One entry per statement, in document order.
    pub statements: Vec<StatementTrace<'p>>,
}

impl<'p> Evaluation<'p> {
    /// The statements that matched.
    pub fn matched(&self) -> impl Iterator<Item = &StatementTrace<'p>> {
        self.statements.iter().filter(|s| s.matched)
    }
}

/// The allocation-free result: the outcome and how the caller matched the
/// `Principal` of the Allow statements that matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// The outcome.
    pub outcome: Outcome,
    /// One bit per [`PrincipalMatch`] kind, plus one for statements without a
    /// principal element.
    allow_principals: u8,
}

impl Summary {
    /// Whether an Allow statement matched with this kind of principal match.
    pub fn allows_with(&self, kind: PrincipalMatch) -> bool {
        self.allow_principals & principal_bit(Some(kind)) != 0
    }

    /// Whether an Allow statement matched (any principal kind, or none).
    pub fn allows(&self) -> bool {
        self.allow_principals != 0
    }

    /// Whether a Deny statement matched.
    pub fn denies(&self) -> bool {
        self.outcome == Outcome::ExplicitDeny
    }
}

fn principal_bit(kind: Option<PrincipalMatch>) -> u8 {
    match kind {
        None => 1,
        Some(PrincipalMatch::Account) => 2,
        Some(PrincipalMatch::Role) => 4,
        Some(PrincipalMatch::Wildcard) => 8,
        Some(PrincipalMatch::Service) => 16,
        Some(PrincipalMatch::Exact) => 32,
    }
}

impl Policy {
    /// Calls `f` for each statement that matches, in document order.
    fn for_each_match(&self, request: &Request<'_>, mut f: impl FnMut(Matched)) {
        // Lower-case the action once, so patterns compare bytes directly.
        let mut buf = [0u8; 128];
        let lowered = lower_ascii(request.action, &mut buf);
        for (index, st) in self.statements.iter().enumerate() {
            let action_ok = match lowered {
                Some(a) => st.action_matches_lowered(a),
                None => st.action_matches(request.action),
            };
            if !action_ok {
                continue;
            }
            let principal = st.principal_check(request.caller);
            if !principal.passes() || !st.resource_matches(request) {
                continue;
            }
            if !st
                .conditions
                .iter()
                .all(|c| c.evaluate(request.context, None))
            {
                continue;
            }
            f(Matched {
                index,
                effect: st.effect,
                principal: principal.as_match(),
            });
        }
    }

    /// Whether some Allow statement matches the request's action, principal
    /// and resource, leaving its conditions aside: the statements that could
    /// allow the request in some request context. Analysis uses it to skip
    /// requests that no context can allow.
    pub fn may_allow(&self, request: &Request<'_>) -> bool {
        self.statements.iter().any(|st| {
            st.effect == Effect::Allow
                && st.action_matches(request.action)
                && st.principal_check(request.caller).passes()
                && st.resource_matches(request)
        })
    }

    /// Decides the request; records only which statements matched.
    pub fn decide(&self, request: &Request<'_>) -> Verdict {
        let mut matched = Vec::new();
        self.for_each_match(request, |m| matched.push(m));
        Verdict {
            outcome: outcome_of(matched.iter().map(|m| m.effect)),
            matched,
        }
    }

    /// Decides the request without allocating: the outcome and the kinds of
    /// principal match among the Allow statements that matched.
    pub fn decide_summary(&self, request: &Request<'_>) -> Summary {
        let mut deny = false;
        let mut allow_principals = 0u8;
        self.for_each_match(request, |m| match m.effect {
            Effect::Deny => deny = true,
            Effect::Allow => allow_principals |= principal_bit(m.principal),
        });
        let outcome = if deny {
            Outcome::ExplicitDeny
        } else if allow_principals != 0 {
            Outcome::Allow
        } else {
            Outcome::NotApplicable
        };
        Summary {
            outcome,
            allow_principals,
        }
    }

    /// Evaluates the request, checking every element of every statement.
    pub fn evaluate(&self, request: &Request<'_>) -> Evaluation<'_> {
        let statements: Vec<StatementTrace<'_>> = self
            .statements
            .iter()
            .enumerate()
            .map(|(index, st)| {
                let action = st.action_matches(request.action);
                let principal = st.principal_check(request.caller);
                let resource = st.resource_matches(request);
                // Conditions decide only when everything else matched; they
                // are evaluated (and traced) only then, as AWS does.
                let mut conditions = Vec::new();
                let mut all = true;
                if action && principal.passes() && resource {
                    conditions.reserve(st.conditions.len());
                    for c in &st.conditions {
                        all &= c.evaluate(request.context, Some(&mut conditions));
                    }
                }
                StatementTrace {
                    index,
                    sid: st.sid.as_deref(),
                    effect: st.effect,
                    matched: action && principal.passes() && resource && all,
                    principal,
                    action,
                    resource,
                    conditions,
                }
            })
            .collect();
        Evaluation {
            outcome: outcome_of(statements.iter().filter(|s| s.matched).map(|s| s.effect)),
            statements,
        }
    }
}

fn outcome_of(effects: impl Iterator<Item = Effect>) -> Outcome {
    let mut outcome = Outcome::NotApplicable;
    for e in effects {
        match e {
            Effect::Deny => return Outcome::ExplicitDeny,
            Effect::Allow => outcome = Outcome::Allow,
        }
    }
    outcome
}

/// `text` lower-cased into `buf`, if it is ASCII and fits.
fn lower_ascii<'b>(text: &str, buf: &'b mut [u8; 128]) -> Option<&'b [u8]> {
    let out = buf.get_mut(..text.len())?;
    if !text.is_ascii() {
        return None;
    }
    for (o, b) in out.iter_mut().zip(text.bytes()) {
        *o = b.to_ascii_lowercase();
    }
    Some(out)
}

impl Statement {
    /// `action` must already be ASCII lower case.
    fn action_matches_lowered(&self, action: &[u8]) -> bool {
        let Some(el) = &self.action else { return false };
        let any = el
            .list
            .items
            .iter()
            .any(|p| p.matcher.matches_bytes(action, false));
        any != el.negated
    }

    fn action_matches(&self, action: &str) -> bool {
        let Some(el) = &self.action else { return false };
        let any = el
            .list
            .items
            .iter()
            .any(|p| p.matcher.matches(action, true));
        any != el.negated
    }

    fn resource_matches(&self, request: &Request<'_>) -> bool {
        let Some(el) = &self.resource else {
            return self.implicit_resource;
        };
        resource_list_matches(el, request)
    }

    fn principal_check(&self, caller: &Caller) -> PrincipalCheck {
        match &self.principal {
            None => PrincipalCheck::Absent,
            Some(PrincipalElement {
                negated: false,
                value,
            }) => match best_match(value, caller) {
                Some(m) => PrincipalCheck::Matched(m),
                None => PrincipalCheck::NotMatched,
            },
            Some(PrincipalElement {
                negated: true,
                value,
            }) => {
                if not_principal_exempts(value, caller) {
                    PrincipalCheck::NotPrincipalExempt
                } else {
                    PrincipalCheck::NotPrincipalApplies
                }
            }
        }
    }
}

fn resource_list_matches(el: &ResourceElement, request: &Request<'_>) -> bool {
    let mut scratch = Vec::new();
    let any = el.list.items.iter().any(|p| {
        if p.any {
            return true;
        }
        let atoms: &[glob::Atom] = match &p.atoms {
            Some(a) => a,
            None => {
                scratch.clear();
                // A variable that cannot be resolved makes the resource match nothing.
                if p.template.pattern(request.context, &mut scratch).is_err() {
                    return false;
                }
                &scratch
            }
        };
        crate::condition::arn_like(atoms, request.resource)
    });
    any != el.negated
}

fn best_match(value: &PrincipalValue, caller: &Caller) -> Option<PrincipalMatch> {
    match value {
        PrincipalValue::Star => Some(PrincipalMatch::Wildcard),
        PrincipalValue::Map(map) => map
            .iter()
            .flat_map(|(_, list)| list.items.iter())
            .filter_map(|e| e.id.matches(caller))
            .max(),
    }
}

/// `NotPrincipal` exempts a caller only if it lists the caller at every level
/// AWS checks: the account, then the role, then the session (or the user).
/// A list that names only the session still applies the Deny to the caller.
///
/// A caller with a permissions boundary is never exempt: AWS applies a
/// `NotPrincipal` Deny to it whatever the list names.
fn not_principal_exempts(value: &PrincipalValue, caller: &Caller) -> bool {
    if caller.has_permissions_boundary() {
        return false;
    }
    let ids: Vec<&PrincipalId> = match value {
        PrincipalValue::Star => return true,
        PrincipalValue::Map(map) => map
            .iter()
            .filter(|(ty, _)| matches!(ty, PrincipalType::Aws | PrincipalType::Service))
            .flat_map(|(_, list)| list.items.iter().map(|e| &e.id))
            .collect(),
    };
    if ids
        .iter()
        .any(|id| **id == PrincipalId::Any && caller.kind() != CallerKind::Service)
    {
        return true;
    }
    let listed = |want: PrincipalMatch| ids.iter().any(|id| id.matches(caller) == Some(want));
    let account_listed = || {
        ids.iter()
            .any(|id| matches!(id, PrincipalId::Account(a) if Some(a.as_str()) == caller.account()))
    };
    match caller.kind() {
        CallerKind::Root => account_listed(),
        CallerKind::User | CallerKind::FederatedUser => {
            account_listed() && listed(PrincipalMatch::Exact)
        }
        CallerKind::Role => account_listed() && listed(PrincipalMatch::Role),
        CallerKind::AssumedRole => {
            let role_listed = ids
                .iter()
                .any(|id| matches!(id, PrincipalId::Role { .. }) && id.matches(caller).is_some());
            account_listed() && role_listed && listed(PrincipalMatch::Exact)
        }
        CallerKind::Service => listed(PrincipalMatch::Service),
        CallerKind::Anonymous => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MapContext, ParseOptions, PolicyKind};

    #[test]
    fn not_principal_never_exempts_a_caller_with_a_boundary() {
        let policy = Policy::parse(
            r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "NotPrincipal": {"AWS": [
                "arn:aws:iam::111122223333:root", "arn:aws:iam::111122223333:user/admin"]},
                "Action": "*", "Resource": "*"}]}"#,
            &ParseOptions::new(PolicyKind::Resource),
        )
        .unwrap();
        let ctx = MapContext::new();
        let admin = Caller::parse("arn:aws:iam::111122223333:user/admin").unwrap();
        let request = |caller: &Caller| {
            policy
                .decide(&Request {
                    caller,
                    action: "kms:Decrypt",
                    resource: "*",
                    context: &ctx,
                })
                .outcome
        };
        assert_eq!(request(&admin), Outcome::NotApplicable);
        let bounded = admin.clone().with_permissions_boundary(true);
        assert_eq!(request(&bounded), Outcome::ExplicitDeny);
    }
}
