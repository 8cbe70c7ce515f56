//! Typed validation errors, each located by a JSON pointer.

use std::fmt;

/// One problem found while parsing a policy document.
///
/// The message is lower case with user input in backticks; [`PolicyError::pointer`]
/// names the offending element (`/Statement/2/Condition/StringLike`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pointer: String,
    kind: PolicyErrorKind,
}

/// What is wrong with a policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyErrorKind {
    /// The text is not JSON (or nests too deeply).
    Syntax(String),
    /// The document is larger than the limit for its policy type.
    TooLarge {
        /// Size counted as the policy type counts it.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The document contains a character the policy type does not allow.
    IllegalCharacter(char),
    /// A JSON value of the wrong type.
    WrongType {
        /// What was expected, e.g. `a string`.
        expected: &'static str,
        /// What was found.
        found: &'static str,
    },
    /// An element name IAM does not know.
    UnknownElement(String),
    /// The same element twice in one object.
    DuplicateElement(String),
    /// A required element is missing.
    MissingElement(&'static str),
    /// An element that this policy type does not allow.
    ElementNotAllowed {
        /// The element.
        element: &'static str,
        /// The policy type, e.g. `identity-based policy`.
        policy_type: &'static str,
    },
    /// Two elements that exclude each other, e.g. `Action` and `NotAction`.
    Conflict(&'static str, &'static str),
    /// An empty list or object where at least one entry is required.
    Empty(&'static str),
    /// `Version` is not `2008-10-17` or `2012-10-17`.
    BadVersion(String),
    /// `Effect` is not `Allow` or `Deny`.
    BadEffect(String),
    /// `Sid` contains characters the policy type does not allow.
    BadSid(String),
    /// `NotPrincipal` with `Allow`, which AWS no longer supports.
    NotPrincipalWithAllow,
    /// A principal type other than `AWS`, `Service`, `Federated`, `CanonicalUser`.
    UnknownPrincipalType(String),
    /// A principal value that is not a valid identifier for its type.
    BadPrincipal(String),
    /// An action that is not `*` or `service:name`.
    BadAction(String),
    /// A resource that is not `*` or an ARN.
    BadResource(String),
    /// A condition operator IAM does not know.
    UnknownOperator(String),
    /// A condition value the operator cannot use.
    BadConditionValue {
        /// The operator.
        operator: String,
        /// The value as written.
        value: String,
        /// Why it is rejected.
        why: &'static str,
    },
    /// A policy variable with bad syntax.
    BadVariable(String),
    /// `ForAllValues` on a single-valued key in an Allow statement matches
    /// requests that do not have the key at all.
    OverlyPermissiveCondition {
        /// The condition key.
        key: String,
    },
}

impl PolicyError {
    pub(crate) fn new(pointer: &str, kind: PolicyErrorKind) -> Self {
        PolicyError {
            pointer: pointer.to_owned(),
            kind,
        }
    }

    /// The JSON pointer of the offending element (empty for the whole document).
    pub fn pointer(&self) -> &str {
        &self.pointer
    }

    /// What is wrong.
    pub fn kind(&self) -> &PolicyErrorKind {
        &self.kind
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{at}: {}", self.kind)
    }
}

impl fmt::Display for PolicyErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use PolicyErrorKind as K;
        match self {
            K::Syntax(m) => write!(f, "invalid json: {m}"),
            K::TooLarge { size, limit } => {
                write!(f, "policy size {size} exceeds the limit of {limit}")
            }
            K::IllegalCharacter(c) => write!(f, "illegal character `{}`", c.escape_default()),
            K::WrongType { expected, found } => write!(f, "expected {expected}, found {found}"),
            K::UnknownElement(e) => write!(f, "unknown element `{e}`"),
            K::DuplicateElement(e) => write!(f, "duplicate element `{e}`"),
            K::MissingElement(e) => write!(f, "missing required element `{e}`"),
            K::ElementNotAllowed {
                element,
                policy_type,
            } => write!(f, "element `{element}` is not allowed in a {policy_type}"),
            K::Conflict(a, b) => write!(f, "`{a}` and `{b}` cannot both be present"),
            K::Empty(e) => write!(f, "`{e}` must not be empty"),
            K::BadVersion(v) => write!(
                f,
                "unsupported version `{v}`: use `2012-10-17` or `2008-10-17`"
            ),
            K::BadEffect(e) => write!(f, "invalid effect `{e}`: must be `Allow` or `Deny`"),
            K::BadSid(s) => write!(f, "invalid sid `{s}`"),
            K::NotPrincipalWithAllow => {
                write!(f, "`NotPrincipal` can only be used with effect `Deny`")
            }
            K::UnknownPrincipalType(t) => write!(f, "unknown principal type `{t}`"),
            K::BadPrincipal(p) => write!(f, "invalid principal `{p}`"),
            K::BadAction(a) => write!(f, "invalid action `{a}`: expected `service:action`"),
            K::BadResource(r) => write!(f, "invalid resource `{r}`: expected `*` or an arn"),
            K::UnknownOperator(o) => write!(f, "unknown condition operator `{o}`"),
            K::BadConditionValue {
                operator,
                value,
                why,
            } => write!(
                f,
                "invalid value `{value}` for operator `{operator}`: {why}"
            ),
            K::BadVariable(v) => write!(f, "invalid policy variable `{v}`"),
            K::OverlyPermissiveCondition { key } => write!(
                f,
                "overly permissive condition: `ForAllValues` with the single-valued key `{key}` \
                 matches requests without that key"
            ),
        }
    }
}

impl std::error::Error for PolicyError {}

/// All problems found in one document (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors(pub(crate) Vec<PolicyError>);

impl PolicyErrors {
    /// The problems in document order.
    pub fn iter(&self) -> std::slice::Iter<'_, PolicyError> {
        self.0.iter()
    }

    /// The first problem.
    pub fn first(&self) -> Option<&PolicyError> {
        self.0.first()
    }

    /// How many problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a `PolicyErrors` holds at least one problem.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a PolicyErrors {
    type Item = &'a PolicyError;
    type IntoIter = std::slice::Iter<'a, PolicyError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}
