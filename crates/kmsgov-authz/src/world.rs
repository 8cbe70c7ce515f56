//! The world a request is decided in: accounts and their organization
//! policies, principals and their policies, keys, aliases, grants and VPC
//! endpoints. Every policy in it has already been parsed and validated.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;

use kmsgov_policy::Policy;

use crate::guardrail::{compile_guardrails, Guardrail, GuardrailError};

/// A policy with a name for decision paths.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedPolicy {
    /// How the decision path refers to it, e.g. `arn:aws:iam::A:user/alice policy #1`.
    pub name: String,
    /// The validated policy.
    pub policy: Policy,
}

/// An AWS account.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Account {
    /// `o-…` when the account belongs to an organization.
    pub organization_id: Option<String>,
    /// OU paths (`o-x/r-y/ou-z/`).
    pub org_paths: Vec<String>,
    /// The organization's management account: SCPs and RCPs do not apply to it.
    pub management_account: bool,
    /// SCPs by level, root first; `None` when no SCPs apply.
    pub scps: Option<Vec<Vec<NamedPolicy>>>,
    /// RCPs by level, root first; `None` when no RCPs apply.
    pub rcps: Option<Vec<Vec<NamedPolicy>>>,
}

/// Credentials that sign as a principal (used by the server).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AccessKey {
    /// The access key id.
    pub id: String,
    /// The secret access key.
    pub secret: String,
    /// For temporary credentials (a role session's), the session token
    /// every request must carry in `X-Amz-Security-Token`.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// A principal and what is attached to it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Principal {
    /// Its ARN (or service principal name).
    pub arn: String,
    /// Identity-based policies.
    pub policies: Vec<NamedPolicy>,
    /// Permissions boundary.
    pub boundary: Option<NamedPolicy>,
    /// Principal tags.
    pub tags: BTreeMap<String, String>,
    /// Role trust policy.
    pub trust_policy: Option<NamedPolicy>,
    /// Credentials for the server.
    pub access_keys: Vec<AccessKey>,
    /// Session policy (role and federated sessions).
    pub session_policy: Option<NamedPolicy>,
    /// Session tags; they override principal tags of the same key.
    pub session_tags: BTreeMap<String, String>,
}

/// KMS key states (`KeyState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs, reason = "the variants are the AWS state names")]
pub enum KeyState {
    Creating,
    Enabled,
    Disabled,
    PendingDeletion,
    PendingImport,
    PendingReplicaDeletion,
    Unavailable,
    Updating,
}

impl KeyState {
    /// Parses an AWS key state name.
    pub fn from_name(s: &str) -> Option<KeyState> {
        Some(match s {
            "Creating" => KeyState::Creating,
            "Enabled" => KeyState::Enabled,
            "Disabled" => KeyState::Disabled,
            "PendingDeletion" => KeyState::PendingDeletion,
            "PendingImport" => KeyState::PendingImport,
            "PendingReplicaDeletion" => KeyState::PendingReplicaDeletion,
            "Unavailable" => KeyState::Unavailable,
            "Updating" => KeyState::Updating,
            _ => return None,
        })
    }

    /// The AWS name.
    pub fn name(self) -> &'static str {
        match self {
            KeyState::Creating => "Creating",
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
            KeyState::PendingImport => "PendingImport",
            KeyState::PendingReplicaDeletion => "PendingReplicaDeletion",
            KeyState::Unavailable => "Unavailable",
            KeyState::Updating => "Updating",
        }
    }
}

/// A KMS key as authorization sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// `arn:aws:kms:REGION:ACCOUNT:key/ID`.
    pub arn: String,
    /// The key id (the part after `key/`).
    pub id: String,
    /// The owning account.
    pub account: String,
    /// The key's Region.
    pub region: String,
    /// The key policy.
    pub policy: NamedPolicy,
    /// `KeySpec`.
    pub spec: String,
    /// `KeyUsage`.
    pub usage: String,
    /// `KeyState`.
    pub state: KeyState,
    /// `true` for AWS managed keys.
    pub aws_managed: bool,
    /// `Origin`.
    pub origin: String,
    /// Multi-Region key.
    pub multi_region: bool,
    /// Alias names (`alias/…`).
    pub aliases: Vec<String>,
    /// Resource tags.
    pub tags: BTreeMap<String, String>,
}

/// Grant constraints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantConstraints {
    /// `EncryptionContextEquals`.
    pub equals: Option<BTreeMap<String, String>>,
    /// `EncryptionContextSubset`.
    pub subset: Option<BTreeMap<String, String>>,
    /// `SourceArn`: the grant applies only to requests made on behalf of this
    /// AWS resource (`aws:SourceArn`).
    pub source_arn: Option<String>,
}

/// A grant on a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Index of the key in [`World::keys`].
    pub key: usize,
    /// Grant id (also accepted as a grant token).
    pub id: String,
    /// Optional name.
    pub name: Option<String>,
    /// Grantee principal ARN.
    pub grantee: String,
    /// Retiring principal ARN.
    pub retiring_principal: Option<String>,
    /// Grant operations (`Decrypt`, `CreateGrant`, …).
    pub operations: Vec<String>,
    /// Constraints.
    pub constraints: GrantConstraints,
    /// The account that created the grant.
    pub issuing_account: String,
}

/// Everything a decision can look at.
#[derive(Debug, Clone, Default)]
pub struct World {
    /// The Region requests are made in.
    pub region: String,
    /// Accounts by id.
    pub accounts: BTreeMap<String, Account>,
    /// Principals by ARN.
    pub principals: HashMap<String, Principal>,
    /// Keys.
    pub keys: Vec<Key>,
    /// Grants.
    pub grants: Vec<Grant>,
    /// VPC endpoint policies by endpoint id.
    pub vpc_endpoints: BTreeMap<String, NamedPolicy>,
    /// Guardrails, evaluated in order on every request the policy layers
    /// allow (`docs/guardrails.md`); empty costs nothing.
    pub guardrails: Vec<Guardrail>,
    pub(crate) key_by_arn: HashMap<String, usize>,
    pub(crate) alias_to_key: HashMap<String, usize>,
    /// Role ARNs by account, then role name.
    pub(crate) role_by_name: HashMap<String, HashMap<String, String>>,
}

impl World {
    /// An empty world in `region`.
    pub fn new(region: &str) -> Self {
        World {
            region: region.to_owned(),
            ..World::default()
        }
    }

    /// Rebuilds the lookup indexes; call after changing keys, aliases or principals.
    pub fn reindex(&mut self) {
        self.key_by_arn = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.arn.clone(), i))
            .collect();
        self.alias_to_key = self
            .keys
            .iter()
            .enumerate()
            .flat_map(|(i, k)| k.aliases.iter().map(move |a| (alias_arn(k, a), i)))
            .collect();
        self.role_by_name = HashMap::default();
        for arn in self.principals.keys() {
            let role = (|| {
                let rest = arn.strip_prefix("arn:aws:iam::")?;
                let (account, resource) = rest.split_once(':')?;
                let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
                Some((account, name))
            })();
            if let Some((account, name)) = role {
                self.role_by_name
                    .entry(account.to_owned())
                    .or_default()
                    .insert(name.to_owned(), arn.clone());
            }
        }
    }

    /// The key with this ARN.
    pub fn key_by_arn(&self, arn: &str) -> Option<&Key> {
        self.key_by_arn.get(arn).and_then(|&i| self.keys.get(i))
    }

    /// The key an alias ARN points to.
    pub fn key_by_alias_arn(&self, alias_arn: &str) -> Option<&Key> {
        self.alias_to_key
            .get(alias_arn)
            .and_then(|&i| self.keys.get(i))
    }

    /// The ARN of the role named `name` in `account`, if the world lists it.
    pub fn role_arn(&self, account: &str, name: &str) -> Option<&str> {
        self.role_by_name
            .get(account)?
            .get(name)
            .map(String::as_str)
    }

    /// The grant with this id.
    pub fn grant(&self, id: &str) -> Option<&Grant> {
        self.grants.iter().find(|g| g.id == id)
    }

    /// The index in [`World::keys`] of the key with this ARN.
    pub fn key_index(&self, arn: &str) -> Option<usize> {
        self.key_by_arn.get(arn).copied()
    }

    /// Resolves a key identifier as KMS does for a caller in `account`: key
    /// ARN, alias ARN, alias name or bare key id (the last two in `account`
    /// and this world's Region).
    pub fn resolve_key(&self, account: &str, id: &str) -> Option<&Key> {
        if id.starts_with("arn:") {
            if id.contains(":alias/") {
                self.key_by_alias_arn(id)
            } else {
                self.key_by_arn(id)
            }
        } else if id.starts_with("alias/") {
            self.key_by_alias_arn(&format!("arn:aws:kms:{}:{account}:{id}", self.region))
        } else {
            self.key_by_arn(&format!("arn:aws:kms:{}:{account}:key/{id}", self.region))
        }
    }

    /// Adds a key, or replaces the key with the same ARN (its grants stay),
    /// keeping the indexes current. Returns its index in [`World::keys`].
    pub fn upsert_key(&mut self, key: Key) -> usize {
        let index = match self.key_by_arn.get(&key.arn) {
            Some(&i) => {
                if let Some(old) = self.keys.get(i) {
                    for a in &old.aliases {
                        self.alias_to_key.remove(&alias_arn(old, a));
                    }
                }
                if let Some(slot) = self.keys.get_mut(i) {
                    *slot = key;
                }
                i
            }
            None => {
                self.key_by_arn.insert(key.arn.clone(), self.keys.len());
                self.keys.push(key);
                self.keys.len() - 1
            }
        };
        if let Some(k) = self.keys.get(index) {
            for a in &k.aliases {
                self.alias_to_key.insert(alias_arn(k, a), index);
            }
        }
        index
    }

    /// Removes a key, its aliases and its grants, keeping the indexes current.
    pub fn remove_key(&mut self, arn: &str) -> Option<Key> {
        let index = self.key_by_arn.remove(arn)?;
        if index >= self.keys.len() {
            return None;
        }
        let last = self.keys.len() - 1;
        let removed = self.keys.swap_remove(index);
        for a in &removed.aliases {
            self.alias_to_key.remove(&alias_arn(&removed, a));
        }
        self.grants.retain(|g| g.key != index);
        if index != last {
            // The last key moved into `index`.
            if let Some(moved) = self.keys.get(index) {
                self.key_by_arn.insert(moved.arn.clone(), index);
                for a in &moved.aliases {
                    self.alias_to_key.insert(alias_arn(moved, a), index);
                }
            }
            for g in &mut self.grants {
                if g.key == last {
                    g.key = index;
                }
            }
        }
        Some(removed)
    }

    /// Adds a grant (its `key` must index [`World::keys`]).
    pub fn add_grant(&mut self, grant: Grant) {
        self.grants.push(grant);
    }

    /// Removes the grant with this id.
    pub fn remove_grant(&mut self, id: &str) -> Option<Grant> {
        let i = self.grants.iter().position(|g| g.id == id)?;
        Some(self.grants.remove(i))
    }

    /// Compiles `(name, Rego source)` pairs and adds them to the world's
    /// guardrails, after those it has. Nothing is added when one does not
    /// load.
    pub fn add_guardrails<N, S>(
        &mut self,
        sources: impl IntoIterator<Item = (N, S)>,
    ) -> Result<(), GuardrailError>
    where
        N: AsRef<str>,
        S: AsRef<str>,
    {
        let compiled = compile_guardrails(sources)?;
        self.guardrails.extend(compiled);
        Ok(())
    }

    /// Takes the accounts, principals and VPC endpoints of `directory` (a world
    /// file reloaded), keeping this world's keys, aliases and grants.
    pub fn replace_directory(&mut self, directory: World) {
        self.accounts = directory.accounts;
        self.principals = directory.principals;
        self.vpc_endpoints = directory.vpc_endpoints;
        self.guardrails = directory.guardrails;
        self.reindex();
    }
}

fn alias_arn(key: &Key, alias: &str) -> String {
    format!("arn:aws:kms:{}:{}:{alias}", key.region, key.account)
}

#[cfg(test)]
mod tests {
    use super::AccessKey;

    #[test]
    fn access_keys_print_no_secret_and_no_token() {
        let key = AccessKey {
            id: "ASIAEXAMPLE".into(),
            secret: "the-secret-value".into(),
            session_token: Some("the-session-token".into()),
        };
        let debug = format!("{key:?}");
        assert!(debug.contains("ASIAEXAMPLE"), "{debug}");
        assert!(!debug.contains("the-secret-value"), "{debug}");
        assert!(!debug.contains("the-session-token"), "{debug}");
    }
}
