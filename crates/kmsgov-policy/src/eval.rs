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

/// What one statement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementTrace {
    /// Index in the policy.
    pub index: usize,
    /// The `Sid`, if any.
    pub sid: Option<String>,
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
    /// Every condition, in document order.
    pub conditions: Vec<ConditionTrace>,
}

/// The full result: the outcome and a trace of every statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The outcome.
    pub outcome: Outcome,
    /// One entry per statement, in document order.
    pub statements: Vec<StatementTrace>,
}

impl Evaluation {
    /// The statements that matched.
    pub fn matched(&self) -> impl Iterator<Item = &StatementTrace> {
        self.statements.iter().filter(|s| s.matched)
    }
}

impl Policy {
    /// Decides the request; records only which statements matched.
    pub fn decide(&self, request: &Request<'_>) -> Verdict {
        let mut matched = Vec::new();
        for (index, st) in self.statements.iter().enumerate() {
            if !st.action_matches(request.action) {
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
            matched.push(Matched {
                index,
                effect: st.effect,
                principal: principal.as_match(),
            });
        }
        Verdict {
            outcome: outcome_of(matched.iter().map(|m| m.effect)),
            matched,
        }
    }

    /// Evaluates the request, checking every element of every statement.
    pub fn evaluate(&self, request: &Request<'_>) -> Evaluation {
        let statements: Vec<StatementTrace> = self
            .statements
            .iter()
            .enumerate()
            .map(|(index, st)| {
                let action = st.action_matches(request.action);
                let principal = st.principal_check(request.caller);
                let resource = st.resource_matches(request);
                let mut conditions = Vec::with_capacity(st.conditions.len());
                let mut all = true;
                for c in &st.conditions {
                    all &= c.evaluate(request.context, Some(&mut conditions));
                }
                StatementTrace {
                    index,
                    sid: st.sid.clone(),
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

impl Statement {
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
            return false;
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
fn not_principal_exempts(value: &PrincipalValue, caller: &Caller) -> bool {
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
