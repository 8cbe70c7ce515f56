//! The validated policy model. Only [`crate::parse`] builds it, so every value
//! here has been checked: the evaluator never sees an invalid policy.

use crate::condition::Condition;
use crate::glob::{Atom, Matcher};
use crate::principal::{PrincipalId, PrincipalType};
use crate::template::Template;

/// The policy language version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `2008-10-17`: policy variables are literal text.
    V2008_10_17,
    /// `2012-10-17`: policy variables are substituted.
    V2012_10_17,
}

impl Version {
    /// The version string.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2008_10_17 => "2008-10-17",
            Version::V2012_10_17 => "2012-10-17",
        }
    }
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// The statement allows.
    Allow,
    /// The statement denies; a matching Deny always wins.
    Deny,
}

impl Effect {
    /// `Allow` or `Deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// A validated policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub(crate) version: Option<Version>,
    pub(crate) id: Option<String>,
    pub(crate) statement_is_array: bool,
    pub(crate) statements: Vec<Statement>,
}

impl Policy {
    /// The `Version` element, if present.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// The `Id` element, if present.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The statements in document order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }
}

/// One validated statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    pub(crate) principal: Option<PrincipalElement>,
    pub(crate) action: Option<ActionElement>,
    pub(crate) resource: Option<ResourceElement>,
    /// A role trust policy names no resource: its statements apply to the
    /// role they are attached to, as if `Resource` were `*`.
    pub(crate) implicit_resource: bool,
    pub(crate) conditions: Vec<Condition>,
}

impl Statement {
    /// The `Sid`, if present.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// The effect.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// Whether the statement uses `NotPrincipal`.
    pub fn has_not_principal(&self) -> bool {
        self.principal.as_ref().is_some_and(|p| p.negated)
    }

    /// Whether the statement has a `Principal` or `NotPrincipal` element.
    pub fn has_principal(&self) -> bool {
        self.principal.is_some()
    }

    /// Whether the statement can never match (a resource policy statement
    /// without `Action` or `Resource`, which AWS accepts but never applies).
    pub fn is_inert(&self) -> bool {
        self.action.is_none() || (self.resource.is_none() && !self.implicit_resource)
    }

    /// Who its `Principal` element can match, as index keys for analysis:
    /// `None` when it can match anyone (`"*"`, `{"AWS": "*"}`, or any
    /// `NotPrincipal`), otherwise the accounts, roles, exact ARNs and
    /// services it names. Statements without a principal element name
    /// nobody (`Some` of an empty list).
    pub fn principal_names(&self) -> Option<Vec<PrincipalName<'_>>> {
        use crate::principal::PrincipalId;
        let Some(el) = &self.principal else {
            return Some(Vec::new());
        };
        if el.negated {
            return None;
        }
        let PrincipalValue::Map(entries) = &el.value else {
            return None;
        };
        let mut names = Vec::new();
        for (_, list) in entries {
            for e in &list.items {
                names.push(match &e.id {
                    PrincipalId::Any => return None,
                    PrincipalId::Account(a) => PrincipalName::Account(a),
                    PrincipalId::Exact(arn) => PrincipalName::Exact(arn),
                    PrincipalId::Role { account, name, .. } => {
                        PrincipalName::Role { account, name }
                    }
                    PrincipalId::Service(s) => PrincipalName::Service(s),
                    PrincipalId::Other => continue,
                });
            }
        }
        Some(names)
    }

    /// The service principals its `Principal` element names
    /// (`{"Service": "lambda.amazonaws.com"}`), in document order; empty for
    /// `NotPrincipal` and statements without a principal element.
    pub fn service_principals(&self) -> Vec<&str> {
        match &self.principal {
            Some(PrincipalElement {
                negated: false,
                value: PrincipalValue::Map(entries),
            }) => entries
                .iter()
                .filter(|(t, _)| *t == crate::principal::PrincipalType::Service)
                .flat_map(|(_, list)| list.items.iter().map(|e| e.text.as_str()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The conditions, flattened (operator, key) in document order.
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// A label for people: the `Sid`, or `#index`.
    pub fn label(&self, index: usize) -> String {
        match &self.sid {
            Some(s) => s.clone(),
            None => format!("#{index}"),
        }
    }
}

/// One principal a `Principal` element names (see [`Statement::principal_names`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PrincipalName<'a> {
    /// Every principal of this account (`A` or `arn:aws:iam::A:root`).
    Account(&'a str),
    /// A role, and its sessions.
    Role {
        /// The role's account.
        account: &'a str,
        /// The role's name (its path is not part of a session ARN).
        name: &'a str,
    },
    /// An exact user, session or federated-user ARN.
    Exact(&'a str),
    /// A service principal.
    Service(&'a str),
}

/// A list written either as one value or as an array.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct List<T> {
    pub(crate) items: Vec<T>,
    pub(crate) single: bool,
}

/// `Principal` or `NotPrincipal`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PrincipalElement {
    pub(crate) negated: bool,
    pub(crate) value: PrincipalValue,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PrincipalValue {
    /// `"Principal": "*"`.
    Star,
    /// `{"AWS": …, "Service": …}`.
    Map(Vec<(PrincipalType, List<PrincipalEntry>)>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PrincipalEntry {
    pub(crate) text: String,
    pub(crate) id: PrincipalId,
}

/// `Action` or `NotAction`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ActionElement {
    pub(crate) negated: bool,
    pub(crate) list: List<ActionPattern>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ActionPattern {
    pub(crate) text: String,
    /// Lower-cased pattern, matched case-insensitively.
    pub(crate) matcher: Matcher,
}

/// `Resource` or `NotResource`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResourceElement {
    pub(crate) negated: bool,
    pub(crate) list: List<ResourcePattern>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResourcePattern {
    pub(crate) text: String,
    pub(crate) any: bool,
    pub(crate) template: Template,
    pub(crate) atoms: Option<Vec<Atom>>,
}
