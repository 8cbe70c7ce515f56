//! Condition keys for a KMS request (spec §4, §5), computed on demand from
//! the caller, the key, the request body and the request's environment.
//!
//! Nothing is materialized into a map: `kmsgov-policy` asks for a key by its
//! lower-cased name and [`KeyContext`] answers from borrowed data.

use std::borrow::Cow;
use std::collections::BTreeMap;

use kmsgov_policy::{Caller, CallerKind, Context, ContextValue};

use crate::world::{Account, Key, NamedPolicy, Principal, World};

/// The default `aws:CurrentTime`, so that decisions are deterministic.
pub const DEFAULT_CURRENT_TIME: &str = "2026-01-01T00:00:00Z";

/// Values from the request's environment (not in the body): `aws:SourceIp`,
/// `kms:ViaService`, `aws:CurrentTime`, … Names are case-insensitive. These
/// override anything the engine derives. Keys and values may be borrowed from
/// the request, so building an environment from request JSON copies nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment<'a> {
    /// (name, whether the name is ASCII, value).
    entries: Vec<(Cow<'a, str>, bool, EnvValue<'a>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum EnvValue<'a> {
    One(Cow<'a, str>),
    Many(Vec<Cow<'a, str>>),
}

impl<'a> Environment<'a> {
    /// An empty environment.
    pub fn new() -> Self {
        Environment {
            entries: Vec::new(),
        }
    }

    fn set(&mut self, key: Cow<'a, str>, value: EnvValue<'a>) {
        let ascii = key.is_ascii();
        match self
            .entries
            .iter_mut()
            .find(|(k, a, _)| same_key(k, *a, &key, ascii))
        {
            Some(slot) => slot.2 = value,
            None => self.entries.push((key, ascii, value)),
        }
    }

    /// Sets a single-valued key.
    pub fn insert(&mut self, key: impl Into<Cow<'a, str>>, value: impl Into<Cow<'a, str>>) {
        self.set(key.into(), EnvValue::One(value.into()));
    }

    /// Sets a multi-valued key.
    pub fn insert_many(&mut self, key: impl Into<Cow<'a, str>>, values: Vec<Cow<'a, str>>) {
        self.set(key.into(), EnvValue::Many(values));
    }

    /// A single value, if set (the name is case-insensitive).
    pub fn get_one(&self, key: &str) -> Option<&str> {
        match self.find(key) {
            Some(EnvValue::One(s)) => Some(s),
            _ => None,
        }
    }

    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The encryption context the environment states through
    /// `kms:EncryptionContext:<key>` entries (single-valued), keys as written.
    pub(crate) fn encryption_context(&self) -> serde_json::Map<String, serde_json::Value> {
        const PREFIX: &str = "kms:encryptioncontext:";
        self.entries
            .iter()
            .filter_map(|(k, _, v)| {
                let head = k.get(..PREFIX.len())?;
                if !head.eq_ignore_ascii_case(PREFIX) {
                    return None;
                }
                let name = k.get(PREFIX.len()..)?;
                match v {
                    EnvValue::One(value) => Some((
                        name.to_owned(),
                        serde_json::Value::String(value.to_string()),
                    )),
                    EnvValue::Many(_) => None,
                }
            })
            .collect()
    }

    fn find(&self, key: &str) -> Option<&EnvValue<'a>> {
        let ascii = key.is_ascii();
        self.entries
            .iter()
            .find(|(k, a, _)| same_key(k, *a, key, ascii))
            .map(|(_, _, v)| v)
    }

    fn get(&self, key_lower: &str) -> Option<ContextValue<'_>> {
        self.find(key_lower).map(|v| match v {
            EnvValue::One(s) => ContextValue::One(Cow::Borrowed(s)),
            EnvValue::Many(v) => {
                ContextValue::Many(v.iter().map(|s| Cow::Borrowed(s.as_ref())).collect())
            }
        })
    }
}

/// Case-insensitive key comparison without allocating; the callers know
/// whether each side is ASCII.
fn same_key(a: &str, a_ascii: bool, b: &str, b_ascii: bool) -> bool {
    if a_ascii && b_ascii {
        a.len() == b.len() && a.eq_ignore_ascii_case(b)
    } else {
        a.chars()
            .flat_map(char::to_lowercase)
            .eq(b.chars().flat_map(char::to_lowercase))
    }
}

/// The caller, resolved against the world.
#[derive(Debug, Clone)]
pub(crate) struct CallerInfo<'w> {
    /// The caller; a copy marked with its permissions boundary when one is
    /// attached (a `NotPrincipal` Deny then always applies).
    pub(crate) caller: Cow<'w, Caller>,
    /// The world's entry for the caller's own ARN (a user, or a session entry).
    pub(crate) entry: Option<&'w Principal>,
    /// For role sessions: the role's entry.
    pub(crate) role: Option<&'w Principal>,
    /// `aws:PrincipalArn`.
    pub(crate) principal_arn: Cow<'w, str>,
    pub(crate) account: Option<&'w Account>,
}

impl<'w> CallerInfo<'w> {
    pub(crate) fn resolve(world: &'w World, caller: &'w Caller) -> Self {
        let entry = world.principals.get(caller.arn());
        let account = caller.account().and_then(|a| world.accounts.get(a));
        let (role, role_arn) = match (caller.kind(), caller.account(), caller.role_name()) {
            (CallerKind::AssumedRole | CallerKind::Role, Some(acct), Some(name)) => {
                match world.role_arn(acct, name) {
                    Some(arn) => (world.principals.get(arn), Some(Cow::Borrowed(arn))),
                    None => (
                        None,
                        Some(Cow::Owned(format!(
                            "arn:{}:iam::{acct}:role/{name}",
                            caller.partition()
                        ))),
                    ),
                }
            }
            _ => (None, None),
        };
        let role = if caller.kind() == CallerKind::Role {
            role.or(entry)
        } else {
            role
        };
        let principal_arn = match role_arn {
            Some(arn) => arn,
            None => Cow::Owned(caller.arn().to_owned()),
        };
        let has_boundary = match caller.kind() {
            CallerKind::AssumedRole | CallerKind::Role => {
                role.is_some_and(|r| r.boundary.is_some())
            }
            CallerKind::User | CallerKind::FederatedUser => {
                entry.is_some_and(|e| e.boundary.is_some())
            }
            _ => false,
        };
        let caller = if has_boundary {
            Cow::Owned(caller.clone().with_permissions_boundary(true))
        } else {
            Cow::Borrowed(caller)
        };
        CallerInfo {
            caller,
            entry,
            role,
            principal_arn,
            account,
        }
    }

    /// Whether the caller is a service-linked role (or a session of one): a
    /// role whose path starts with `/aws-service-role/`. SCPs and RCPs do not
    /// apply to it.
    pub(crate) fn service_linked(&self) -> bool {
        // Role paths have no colons: the resource part follows the last one.
        self.principal_arn
            .rsplit_once(':')
            .is_some_and(|(_, resource)| resource.starts_with("role/aws-service-role/"))
    }

    /// The entity whose identity policies and boundary apply.
    fn identity_entity(&self) -> Option<&'w Principal> {
        match self.caller.kind() {
            CallerKind::AssumedRole | CallerKind::Role => self.role,
            CallerKind::User | CallerKind::FederatedUser => self.entry,
            _ => None,
        }
    }

    pub(crate) fn identity_policies(&self) -> &'w [NamedPolicy] {
        self.identity_entity()
            .map_or(&[], |p| p.policies.as_slice())
    }

    pub(crate) fn boundary(&self) -> Option<&'w NamedPolicy> {
        self.identity_entity().and_then(|p| p.boundary.as_ref())
    }

    pub(crate) fn session_policy(&self) -> Option<&'w NamedPolicy> {
        match self.caller.kind() {
            CallerKind::AssumedRole | CallerKind::FederatedUser => {
                self.entry.and_then(|p| p.session_policy.as_ref())
            }
            _ => None,
        }
    }

    /// Whether identity-type policies govern this caller at all.
    pub(crate) fn has_iam(&self) -> bool {
        matches!(
            self.caller.kind(),
            CallerKind::User
                | CallerKind::Role
                | CallerKind::AssumedRole
                | CallerKind::FederatedUser
        )
    }

    fn tag(&self, key_lower: &str) -> Option<&'w str> {
        let find = |tags: &'w BTreeMap<String, String>| {
            tags.iter()
                .find(|(k, _)| k.to_lowercase() == key_lower)
                .map(|(_, v)| v.as_str())
        };
        let session = match self.caller.kind() {
            CallerKind::AssumedRole | CallerKind::FederatedUser => {
                self.entry.and_then(|e| find(&e.session_tags))
            }
            _ => None,
        };
        session.or_else(|| self.identity_entity().and_then(|p| find(&p.tags)))
    }
}

/// Does `name`, lower-cased, equal `lowered`? (No allocation.)
pub(crate) fn eq_lowered(name: &str, lowered: &str) -> bool {
    if name.is_ascii() {
        name.len() == lowered.len()
            && name
                .bytes()
                .zip(lowered.bytes())
                .all(|(a, b)| a.to_ascii_lowercase() == b)
    } else {
        name.chars()
            .flat_map(char::to_lowercase)
            .eq(lowered.chars())
    }
}

/// Facts taken from the request body for one permission check.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts<'a> {
    pub(crate) encryption_context: Option<&'a serde_json::Map<String, serde_json::Value>>,
    pub(crate) request_alias: Option<&'a str>,
    pub(crate) reencrypt_same_key: Option<bool>,
    /// Request parameters that become `kms:` keys: (lower-cased key, value).
    pub(crate) params: Vec<(&'static str, Cow<'a, str>)>,
    /// Multi-valued request keys: (lower-cased key, values).
    pub(crate) lists: Vec<(&'static str, Vec<Cow<'a, str>>)>,
    /// `aws:RequestTag/…` pairs.
    pub(crate) request_tags: Vec<(&'a str, &'a str)>,
}

/// The condition-key view of one permission check.
pub(crate) struct KeyContext<'a> {
    pub(crate) world: &'a World,
    pub(crate) caller: &'a CallerInfo<'a>,
    pub(crate) key: Option<&'a Key>,
    pub(crate) facts: &'a Facts<'a>,
    pub(crate) env: &'a Environment<'a>,
    /// Keys that KMS supports only in IAM policies (`aws:ResourceTag/…`,
    /// `kms:ResourceAliases`) are absent when the key policy is evaluated.
    pub(crate) for_key_policy: bool,
}

fn one(s: &str) -> Option<ContextValue<'_>> {
    Some(ContextValue::One(Cow::Borrowed(s)))
}

fn owned<'x>(s: String) -> Option<ContextValue<'x>> {
    Some(ContextValue::One(Cow::Owned(s)))
}

fn boolean<'x>(b: bool) -> Option<ContextValue<'x>> {
    Some(ContextValue::One(Cow::Borrowed(if b {
        "true"
    } else {
        "false"
    })))
}

impl Context for KeyContext<'_> {
    fn get(&self, key: &str) -> Option<ContextValue<'_>> {
        if let Some(v) = self.env.get(key) {
            return Some(v);
        }
        if let Some(rest) = key.strip_prefix("kms:") {
            return self.kms_key(rest);
        }
        if let Some(rest) = key.strip_prefix("aws:") {
            return self.aws_key(rest);
        }
        None
    }
}

impl KeyContext<'_> {
    fn kms_key(&self, k: &str) -> Option<ContextValue<'_>> {
        if let Some(ec_key) = k.strip_prefix("encryptioncontext:") {
            let ec = self.facts.encryption_context?;
            return ec
                .iter()
                .find(|(name, _)| eq_lowered(name, ec_key))
                .and_then(|(_, v)| v.as_str())
                .and_then(one);
        }
        if let Some((_, v)) = self.facts.params.iter().find(|(name, _)| *name == k) {
            return Some(ContextValue::One(Cow::Borrowed(v.as_ref())));
        }
        if let Some((_, v)) = self.facts.lists.iter().find(|(name, _)| *name == k) {
            return Some(ContextValue::Many(
                v.iter().map(|s| Cow::Borrowed(s.as_ref())).collect(),
            ));
        }
        match k {
            "encryptioncontextkeys" => {
                let ec = self.facts.encryption_context?;
                if ec.is_empty() {
                    return None;
                }
                Some(ContextValue::Many(
                    ec.keys().map(|s| Cow::Borrowed(s.as_str())).collect(),
                ))
            }
            "calleraccount" => self.caller.caller.account().and_then(one),
            "requestalias" => self.facts.request_alias.and_then(one),
            "reencryptonsamekey" => self.facts.reencrypt_same_key.and_then(boolean),
            "keyspec" | "customermasterkeyspec" => self.key.and_then(|key| one(&key.spec)),
            "keyusage" | "customermasterkeyusage" => self.key.and_then(|key| one(&key.usage)),
            "keyorigin" => self.key.and_then(|key| one(&key.origin)),
            "multiregion" => self.key.and_then(|key| boolean(key.multi_region)),
            "resourcealiases" if !self.for_key_policy => {
                let key = self.key?;
                if key.aliases.is_empty() {
                    return None;
                }
                Some(ContextValue::Many(
                    key.aliases
                        .iter()
                        .map(|a| Cow::Borrowed(a.as_str()))
                        .collect(),
                ))
            }
            _ => None,
        }
    }

    fn aws_key(&self, k: &str) -> Option<ContextValue<'_>> {
        let caller = &self.caller.caller;
        if let Some(tag) = k.strip_prefix("principaltag/") {
            return self.caller.tag(tag).and_then(one);
        }
        if let Some(tag) = k.strip_prefix("resourcetag/") {
            if self.for_key_policy {
                return None;
            }
            let key = self.key?;
            return key
                .tags
                .iter()
                .find(|(t, _)| eq_lowered(t, tag))
                .and_then(|(_, v)| one(v));
        }
        if let Some(tag) = k.strip_prefix("requesttag/") {
            return self
                .facts
                .request_tags
                .iter()
                .find(|(t, _)| eq_lowered(t, tag))
                .and_then(|(_, v)| one(v));
        }
        match k {
            "principalarn" => one(&self.caller.principal_arn),
            "principalaccount" => match caller.kind() {
                CallerKind::Anonymous => one("anonymous"),
                _ => caller.account().and_then(one),
            },
            "principaltype" => one(match caller.kind() {
                CallerKind::Root => "Account",
                CallerKind::User => "User",
                CallerKind::FederatedUser => "FederatedUser",
                CallerKind::Role | CallerKind::AssumedRole => "AssumedRole",
                CallerKind::Anonymous => "Anonymous",
                CallerKind::Service => return None,
            }),
            "username" if caller.kind() == CallerKind::User => {
                caller.arn().rsplit('/').next().and_then(one)
            }
            "userid" => match caller.kind() {
                CallerKind::Root => caller.account().and_then(one),
                CallerKind::Anonymous => one("anonymous"),
                CallerKind::AssumedRole => {
                    let session = caller.arn().rsplit('/').next()?;
                    owned(format!("{}:{session}", caller.role_name()?))
                }
                CallerKind::FederatedUser => owned(format!(
                    "{}:{}",
                    caller.account()?,
                    caller.arn().rsplit('/').next()?
                )),
                _ => None,
            },
            "principalorgid" => self
                .caller
                .account?
                .organization_id
                .as_deref()
                .and_then(one),
            "principalorgpaths" => {
                let paths = &self.caller.account?.org_paths;
                (!paths.is_empty()).then(|| {
                    ContextValue::Many(paths.iter().map(|p| Cow::Borrowed(p.as_str())).collect())
                })
            }
            "principalisawsservice" => boolean(caller.kind() == CallerKind::Service),
            "principalservicename" if caller.kind() == CallerKind::Service => one(caller.arn()),
            "resourceaccount" => self.key.and_then(|key| one(&key.account)),
            "resourceorgid" => {
                let acct = self.world.accounts.get(&self.key?.account)?;
                acct.organization_id.as_deref().and_then(one)
            }
            "resourceorgpaths" => {
                let acct = self.world.accounts.get(&self.key?.account)?;
                (!acct.org_paths.is_empty()).then(|| {
                    ContextValue::Many(
                        acct.org_paths
                            .iter()
                            .map(|p| Cow::Borrowed(p.as_str()))
                            .collect(),
                    )
                })
            }
            "requestedregion" => one(&self.world.region),
            "currenttime" => one(DEFAULT_CURRENT_TIME),
            "epochtime" => {
                let now = self
                    .env
                    .get_one("aws:CurrentTime")
                    .unwrap_or(DEFAULT_CURRENT_TIME);
                let millis = kmsgov_policy::parse_date_millis(now)?;
                owned((millis.div_euclid(1000)).to_string())
            }
            "securetransport" => one("true"),
            "viaawsservice" => boolean(self.env.get_one("kms:viaservice").is_some()),
            "tagkeys" => self
                .facts
                .lists
                .iter()
                .find(|(n, _)| *n == "aws:tagkeys")
                .map(|(_, v)| {
                    ContextValue::Many(v.iter().map(|s| Cow::Borrowed(s.as_ref())).collect())
                }),
            _ => None,
        }
    }
}

impl<'a> Environment<'a> {
    /// Every entry as JSON: a string, or a list of strings for multi-valued keys.
    pub(crate) fn json_entries(&self) -> impl Iterator<Item = (&str, serde_json::Value)> + '_ {
        self.entries.iter().map(|(k, _, v)| {
            let value = match v {
                EnvValue::One(s) => serde_json::Value::String(s.to_string()),
                EnvValue::Many(items) => serde_json::Value::Array(
                    items
                        .iter()
                        .map(|s| serde_json::Value::String(s.to_string()))
                        .collect(),
                ),
            };
            (k.as_ref(), value)
        })
    }
}

impl<'w> CallerInfo<'w> {
    /// The caller's tags as `aws:PrincipalTag/…` sees them: session tags over
    /// the identity's tags.
    pub(crate) fn all_tags(&self) -> BTreeMap<&'w str, &'w str> {
        let mut tags: BTreeMap<&'w str, &'w str> = BTreeMap::new();
        if let Some(p) = self.identity_entity() {
            for (k, v) in &p.tags {
                tags.insert(k, v);
            }
        }
        if matches!(
            self.caller.kind(),
            CallerKind::AssumedRole | CallerKind::FederatedUser
        ) {
            if let Some(e) = self.entry {
                for (k, v) in &e.session_tags {
                    tags.retain(|t, _| !t.eq_ignore_ascii_case(k));
                    tags.insert(k, v);
                }
            }
        }
        tags
    }
}
