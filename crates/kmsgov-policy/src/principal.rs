//! Principals: the caller of a request, the identifiers a policy's `Principal`
//! names, and how the two match.
//!
//! How the caller matched matters beyond yes/no: AWS treats a resource policy
//! that names a role session directly differently from one that names the role
//! or only the account (IAM User Guide, "Policy evaluation logic", table of
//! principal types). [`PrincipalMatch`] records which it was.

use std::fmt;

/// The caller of a request.
///
/// Held as one string with the positions of its parts, so parsing allocates
/// once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    arn: String,
    kind: CallerKind,
    account: Option<std::ops::Range<usize>>,
    partition: std::ops::Range<usize>,
    /// For role sessions and roles: the role name.
    role_name: Option<std::ops::Range<usize>>,
    /// Whether a permissions boundary is attached to the caller's identity.
    has_boundary: bool,
}

/// What kind of principal the caller is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallerKind {
    /// The account root user, `arn:aws:iam::A:root`.
    Root,
    /// An IAM user.
    User,
    /// An IAM role (a caller given as the role itself acts as a session of it).
    Role,
    /// A role session, `arn:aws:sts::A:assumed-role/R/S`.
    AssumedRole,
    /// A federated user session, `arn:aws:sts::A:federated-user/N`.
    FederatedUser,
    /// An AWS service principal, `svc.amazonaws.com`.
    Service,
    /// An unauthenticated caller.
    Anonymous,
}

/// A caller string that is not a principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadCaller(pub String);

impl fmt::Display for BadCaller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a principal arn, service principal or `anonymous`",
            self.0
        )
    }
}

impl std::error::Error for BadCaller {}

/// The byte range of `part` inside `whole` (`part` must be a sub-slice).
fn range_of(whole: &str, part: &str) -> std::ops::Range<usize> {
    let start = (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize);
    start..start + part.len()
}

impl Caller {
    /// Parses an IAM/STS principal ARN, a service principal (`svc.amazonaws.com`)
    /// or `anonymous`.
    pub fn parse(text: &str) -> Result<Caller, BadCaller> {
        if text == "anonymous" || text == "*" {
            return Ok(Caller {
                arn: "anonymous".into(),
                kind: CallerKind::Anonymous,
                account: None,
                partition: 0..0,
                role_name: None,
                has_boundary: false,
            });
        }
        if is_service_principal(text) {
            return Ok(Caller {
                arn: text.to_owned(),
                kind: CallerKind::Service,
                account: None,
                partition: 0..0,
                role_name: None,
                has_boundary: false,
            });
        }
        let arn = IamArn::parse(text).ok_or_else(|| BadCaller(text.to_owned()))?;
        let (kind, role_name) = match arn.resource {
            IamResource::Root => (CallerKind::Root, None),
            IamResource::User => (CallerKind::User, None),
            IamResource::Role { name } => (CallerKind::Role, Some(range_of(text, name))),
            IamResource::AssumedRole { role } => {
                (CallerKind::AssumedRole, Some(range_of(text, role)))
            }
            IamResource::FederatedUser => (CallerKind::FederatedUser, None),
        };
        Ok(Caller {
            account: Some(range_of(text, arn.account)),
            partition: range_of(text, arn.partition),
            arn: text.to_owned(),
            kind,
            role_name,
            has_boundary: false,
        })
    }

    /// The caller's ARN (the session ARN for role sessions).
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// What kind of principal this is.
    pub fn kind(&self) -> CallerKind {
        self.kind
    }

    /// The caller's account, if it has one.
    pub fn account(&self) -> Option<&str> {
        self.account.clone().and_then(|r| self.arn.get(r))
    }

    /// The ARN partition (`aws`, `aws-cn`, `aws-us-gov`).
    pub fn partition(&self) -> &str {
        self.arn
            .get(self.partition.clone())
            .filter(|p| !p.is_empty())
            .unwrap_or("aws")
    }

    /// The role name for roles and role sessions.
    pub fn role_name(&self) -> Option<&str> {
        self.role_name.clone().and_then(|r| self.arn.get(r))
    }

    /// Records whether a permissions boundary is attached to the caller's
    /// identity: a `NotPrincipal` Deny then applies whatever it lists (IAM
    /// User Guide, "NotPrincipal").
    #[must_use]
    pub fn with_permissions_boundary(mut self, attached: bool) -> Self {
        self.has_boundary = attached;
        self
    }

    /// Whether a permissions boundary is attached.
    pub fn has_permissions_boundary(&self) -> bool {
        self.has_boundary
    }
}

/// How a caller matched a `Principal` element.
///
/// Ordered from weakest to strongest: when several entries match, the
/// strongest is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PrincipalMatch {
    /// The policy names the caller's account (`arn:aws:iam::A:root` or `A`): this
    /// delegates to the account's identity policies.
    Account,
    /// The policy names the role whose session the caller is.
    Role,
    /// The policy names `*`.
    Wildcard,
    /// The policy names the service principal that is calling.
    Service,
    /// The policy names the caller's exact ARN (user, session, federated user,
    /// or the root user through its account).
    Exact,
}

impl PrincipalMatch {
    /// The name used in traces and tests.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalMatch::Account => "Account",
            PrincipalMatch::Role => "Role",
            PrincipalMatch::Wildcard => "Wildcard",
            PrincipalMatch::Service => "Service",
            PrincipalMatch::Exact => "Exact",
        }
    }
}

/// A principal type key of a `Principal` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalType {
    /// `AWS`: accounts, users, roles, sessions.
    Aws,
    /// `Service`: AWS service principals.
    Service,
    /// `Federated`: identity providers.
    Federated,
    /// `CanonicalUser`: S3 canonical user ids.
    CanonicalUser,
}

impl PrincipalType {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "AWS" => PrincipalType::Aws,
            "Service" => PrincipalType::Service,
            "Federated" => PrincipalType::Federated,
            "CanonicalUser" => PrincipalType::CanonicalUser,
            _ => return None,
        })
    }

    /// The element name.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::Aws => "AWS",
            PrincipalType::Service => "Service",
            PrincipalType::Federated => "Federated",
            PrincipalType::CanonicalUser => "CanonicalUser",
        }
    }
}

/// One identifier in a `Principal` element, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PrincipalId {
    /// `*` inside a type (`{"AWS": "*"}`).
    Any,
    /// An account: `A` or `arn:aws:iam::A:root`.
    Account(String),
    /// An exact user, session or federated-user ARN.
    Exact(String),
    /// A role: account and name (path ignored for session matching).
    Role {
        arn: String,
        account: String,
        name: String,
    },
    /// A service principal.
    Service(String),
    /// Anything else valid that never matches a KMS caller (identity
    /// providers, canonical users, unique ids of deleted principals).
    Other,
}

impl PrincipalId {
    /// Parses an identifier of the given type; `None` if invalid.
    pub(crate) fn parse(ty: PrincipalType, text: &str) -> Option<PrincipalId> {
        match ty {
            PrincipalType::Aws => {
                if text == "*" {
                    return Some(PrincipalId::Any);
                }
                if text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) {
                    return Some(PrincipalId::Account(text.to_owned()));
                }
                if is_unique_id(text) {
                    return Some(PrincipalId::Other);
                }
                let arn = IamArn::parse(text)?;
                Some(match arn.resource {
                    IamResource::Root => PrincipalId::Account(arn.account.to_owned()),
                    IamResource::Role { name } => PrincipalId::Role {
                        arn: text.to_owned(),
                        account: arn.account.to_owned(),
                        name: name.to_owned(),
                    },
                    IamResource::User
                    | IamResource::AssumedRole { .. }
                    | IamResource::FederatedUser => PrincipalId::Exact(text.to_owned()),
                })
            }
            PrincipalType::Service => {
                if text == "*" {
                    Some(PrincipalId::Any)
                } else if is_service_principal(text) {
                    Some(PrincipalId::Service(text.to_owned()))
                } else {
                    None
                }
            }
            PrincipalType::Federated => {
                let ok = text == "*"
                    || (text.contains('.') && !text.contains('*') && !text.contains(' '))
                    || (text.starts_with("arn:")
                        && (text.contains(":saml-provider/") || text.contains(":oidc-provider/")));
                ok.then_some(PrincipalId::Other)
            }
            PrincipalType::CanonicalUser => {
                let ok = text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit());
                ok.then_some(PrincipalId::Other)
            }
        }
    }

    /// How `caller` matches this identifier, if at all.
    pub(crate) fn matches(&self, caller: &Caller) -> Option<PrincipalMatch> {
        match self {
            PrincipalId::Any => match caller.kind {
                CallerKind::Service => None,
                _ => Some(PrincipalMatch::Wildcard),
            },
            PrincipalId::Account(a) => {
                if caller.account() != Some(a.as_str()) {
                    None
                } else if caller.kind == CallerKind::Root {
                    Some(PrincipalMatch::Exact)
                } else {
                    Some(PrincipalMatch::Account)
                }
            }
            PrincipalId::Exact(arn) => (caller.arn == *arn).then_some(PrincipalMatch::Exact),
            PrincipalId::Role { account, name, .. } => {
                let role_caller = matches!(caller.kind, CallerKind::Role | CallerKind::AssumedRole);
                (role_caller
                    && caller.account() == Some(account.as_str())
                    && caller.role_name() == Some(name.as_str()))
                .then_some(PrincipalMatch::Role)
            }
            PrincipalId::Service(s) => (caller.kind == CallerKind::Service && caller.arn == *s)
                .then_some(PrincipalMatch::Service),
            PrincipalId::Other => None,
        }
    }
}

/// The parts of an IAM or STS principal ARN.
struct IamArn<'a> {
    partition: &'a str,
    account: &'a str,
    resource: IamResource<'a>,
}

enum IamResource<'a> {
    Root,
    User,
    Role { name: &'a str },
    AssumedRole { role: &'a str },
    FederatedUser,
}

impl<'a> IamArn<'a> {
    fn parse(text: &'a str) -> Option<IamArn<'a>> {
        let [arn, partition, service, region, account, resource] = crate::glob::arn_parts(text)?;
        let partition_ok = matches!(
            partition,
            "aws" | "aws-cn" | "aws-us-gov" | "aws-iso" | "aws-iso-b"
        );
        if arn != "arn" || !partition_ok || !region.is_empty() || !is_account(account) {
            return None;
        }
        if resource.contains('*') || resource.contains('?') {
            return None;
        }
        let resource = match service {
            "iam" => {
                if resource == "root" {
                    IamResource::Root
                } else if let Some(rest) = resource.strip_prefix("user/") {
                    name_after_path(rest)?;
                    IamResource::User
                } else if let Some(rest) = resource.strip_prefix("role/") {
                    IamResource::Role {
                        name: name_after_path(rest)?,
                    }
                } else {
                    return None;
                }
            }
            "sts" => {
                if let Some(rest) = resource.strip_prefix("assumed-role/") {
                    let (role, session) = rest.split_once('/')?;
                    if !valid_name(role) || session.is_empty() || session.contains('/') {
                        return None;
                    }
                    IamResource::AssumedRole { role }
                } else if let Some(name) = resource.strip_prefix("federated-user/") {
                    if !valid_name(name) {
                        return None;
                    }
                    IamResource::FederatedUser
                } else {
                    return None;
                }
            }
            _ => return None,
        };
        Some(IamArn {
            partition,
            account,
            resource,
        })
    }
}

/// The last segment of `path/…/name`, checked.
fn name_after_path(rest: &str) -> Option<&str> {
    let name = rest.rsplit('/').next()?;
    valid_name(name).then_some(name)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-:".contains(c))
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// IAM unique ids (`AIDA…`, `AROA…`) appear in policies whose principal was deleted.
fn is_unique_id(s: &str) -> bool {
    (s.starts_with("AIDA") || s.starts_with("AROA") || s.starts_with("AIPA"))
        && s.len() >= 16
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// `name.amazonaws.com` and friends (`…amazonaws.com.cn`).
pub(crate) fn is_service_principal(s: &str) -> bool {
    let known_suffix = s.ends_with(".amazonaws.com") || s.ends_with(".amazonaws.com.cn");
    known_suffix
        && s.len() <= 256
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(s: &str) -> Caller {
        Caller::parse(s).unwrap()
    }

    #[test]
    fn callers() {
        let c = caller("arn:aws:sts::111122223333:assumed-role/App/s1");
        assert_eq!(c.kind(), CallerKind::AssumedRole);
        assert_eq!(c.role_name(), Some("App"));
        assert_eq!(c.account(), Some("111122223333"));
        assert_eq!(
            caller("arn:aws:iam::111122223333:root").kind(),
            CallerKind::Root
        );
        assert_eq!(caller("logs.amazonaws.com").kind(), CallerKind::Service);
        assert!(Caller::parse("arn:aws:iam::12:user/x").is_err());
        assert!(Caller::parse("arn:aws:s3:::bucket").is_err());
    }

    #[test]
    fn role_matches_sessions_ignoring_path() {
        let id = PrincipalId::parse(
            PrincipalType::Aws,
            "arn:aws:iam::111122223333:role/team/App",
        )
        .unwrap();
        assert_eq!(
            id.matches(&caller("arn:aws:sts::111122223333:assumed-role/App/s1")),
            Some(PrincipalMatch::Role)
        );
        assert_eq!(
            id.matches(&caller("arn:aws:sts::444455556666:assumed-role/App/s1")),
            None
        );
    }

    #[test]
    fn account_matches_root_exactly() {
        let id = PrincipalId::parse(PrincipalType::Aws, "111122223333").unwrap();
        assert_eq!(
            id.matches(&caller("arn:aws:iam::111122223333:root")),
            Some(PrincipalMatch::Exact)
        );
        assert_eq!(
            id.matches(&caller("arn:aws:iam::111122223333:user/a")),
            Some(PrincipalMatch::Account)
        );
    }

    #[test]
    fn invalid_principals() {
        assert!(
            PrincipalId::parse(PrincipalType::Aws, "arn:aws:iam::111122223333:role/*").is_none()
        );
        assert!(
            PrincipalId::parse(PrincipalType::Aws, "arn:aws:iam::111122223333:group/g").is_none()
        );
        assert!(PrincipalId::parse(PrincipalType::Service, "not a service").is_none());
    }
}
