//! Scenario files: a world and tests (format: `docs/scenario-format.md`).
//!
//! Loading checks every field; an unknown field is an error unless its name
//! starts with `x-`, so typos are caught. Errors name the JSON pointer.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use kmsgov_policy::{Caller, ParseOptions, Policy, PolicyKind};
use serde_json::{Map, Value};

use crate::context::Environment;
use crate::decision::{ErrorCode, Outcome};
use crate::engine::{decide, Call, Trace};
use crate::guardrail::Guardrail;
use crate::operation::Operation;
use crate::world::{
    AccessKey, Account, Grant, GrantConstraints, Key, KeyState, NamedPolicy, Principal, World,
};

/// A problem with a scenario file, located by JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// Where in the file (`/tests/3/expect`).
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{at}: {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// A loaded scenario: its world and its tests.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// `name`.
    pub name: String,
    /// The world.
    pub world: World,
    /// The tests, in file order.
    pub tests: Vec<TestCase>,
}

/// One test of a scenario.
#[derive(Debug, Clone)]
pub struct TestCase {
    /// `name`.
    pub name: String,
    /// JSON pointer of the test in its file.
    pub pointer: String,
    /// The caller.
    pub principal: Caller,
    /// The operation.
    pub operation: Operation,
    /// The request body.
    pub input: Value,
    /// Request facts from `context`.
    pub env: Environment<'static>,
    /// The expected outcome.
    pub expect: Outcome,
    /// A substring the message must contain.
    pub reason: Option<String>,
}

/// The result of running one test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestResult {
    /// The engine agreed.
    Pass,
    /// The engine answered differently: (actual outcome, actual message).
    Fail {
        /// What the engine decided.
        actual: Outcome,
        /// The engine's message.
        message: String,
    },
}

impl Scenario {
    /// Parses a scenario from JSON text.
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ScenarioError {
            pointer: String::new(),
            message: format!("invalid json: {e}"),
        })?;
        Self::from_value(&value)
    }

    /// Parses a scenario from a JSON value.
    pub fn from_value(value: &Value) -> Result<Scenario, ScenarioError> {
        Loader.scenario(value)
    }

    /// Runs one test against the world.
    pub fn run(&self, test: &TestCase) -> Result<TestResult, ScenarioError> {
        if let Some(id) = test.env.get_one("aws:SourceVpce") {
            if !self.world.vpc_endpoints.contains_key(id) {
                return Err(err(
                    &format!("{}/context", test.pointer),
                    format!("VPC endpoint `{id}` is not in the world"),
                ));
            }
        }
        let call = Call {
            caller: &test.principal,
            operation: test.operation,
            input: &test.input,
            env: &test.env,
            ciphertext_key: None,
        };
        let decision = decide(&self.world, &call, Trace::Off);
        if decision.outcome == Outcome::Error(ErrorCode::NotFoundException)
            && test.expect != Outcome::Error(ErrorCode::NotFoundException)
        {
            return Err(err(
                &format!("{}/input", test.pointer),
                format!("the world lacks what the test names: {}", decision.message),
            ));
        }
        let reason_ok = test
            .reason
            .as_deref()
            .is_none_or(|r| decision.message.contains(r));
        if decision.outcome == test.expect && reason_ok {
            Ok(TestResult::Pass)
        } else {
            Ok(TestResult::Fail {
                actual: decision.outcome,
                message: decision.message,
            })
        }
    }
}

fn err(pointer: &str, message: impl Into<String>) -> ScenarioError {
    ScenarioError {
        pointer: pointer.to_owned(),
        message: message.into(),
    }
}

fn key_ptr(base: &str, k: &str) -> String {
    format!("{base}/{}", k.replace('~', "~0").replace('/', "~1"))
}

struct Loader;

type Obj = Map<String, Value>;

impl Loader {
    fn object<'v>(
        &self,
        v: &'v Value,
        at: &str,
        allowed: &[&str],
    ) -> Result<&'v Obj, ScenarioError> {
        let obj = v.as_object().ok_or_else(|| err(at, "expected an object"))?;
        for k in obj.keys() {
            if !allowed.contains(&k.as_str()) && !k.starts_with("x-") {
                return Err(err(&key_ptr(at, k), format!("unknown field `{k}`")));
            }
        }
        Ok(obj)
    }

    fn string<'v>(
        &self,
        obj: &'v Obj,
        at: &str,
        field: &str,
    ) -> Result<Option<&'v str>, ScenarioError> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(err(&key_ptr(at, field), "expected a string")),
        }
    }

    fn required<'v>(&self, obj: &'v Obj, at: &str, field: &str) -> Result<&'v str, ScenarioError> {
        self.string(obj, at, field)?
            .ok_or_else(|| err(at, format!("missing field `{field}`")))
    }

    fn array<'v>(&self, obj: &'v Obj, at: &str, field: &str) -> Result<&'v [Value], ScenarioError> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(err(&key_ptr(at, field), "expected an array")),
        }
    }

    fn string_map(
        &self,
        obj: &Obj,
        at: &str,
        field: &str,
    ) -> Result<BTreeMap<String, String>, ScenarioError> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(err(&key_ptr(&key_ptr(at, field), k), "expected a string")),
                })
                .collect(),
            Some(_) => Err(err(&key_ptr(at, field), "expected an object of strings")),
        }
    }

    fn policy(
        &self,
        v: &Value,
        at: &str,
        kind: PolicyKind,
        name: String,
    ) -> Result<NamedPolicy, ScenarioError> {
        if !v.is_object() {
            return Err(err(at, "a policy document must be a JSON object"));
        }
        let options = if kind == PolicyKind::Resource {
            crate::keypolicy::key_policy_options()
        } else {
            ParseOptions::new(kind)
        };
        let policy = Policy::from_json(v, &options).map_err(|errors| {
            let first = errors.first();
            err(
                &format!("{at}{}", first.map(|e| e.pointer()).unwrap_or("")),
                first
                    .map(|e| e.kind().to_string())
                    .unwrap_or_else(|| errors.to_string()),
            )
        })?;
        Ok(NamedPolicy { name, policy })
    }

    fn scenario(&self, v: &Value) -> Result<Scenario, ScenarioError> {
        let top = self.object(
            v,
            "",
            &[
                "name",
                "description",
                "region",
                "accounts",
                "principals",
                "keys",
                "grants",
                "vpc_endpoints",
                "guardrails",
                "tests",
            ],
        )?;
        let name = self.string(top, "", "name")?.unwrap_or("").to_owned();
        self.string(top, "", "description")?;
        let region = self.string(top, "", "region")?.unwrap_or("us-east-1");
        let mut world = World::new(region);

        if let Some(accounts) = top.get("accounts") {
            let accounts = accounts
                .as_object()
                .ok_or_else(|| err("/accounts", "expected an object"))?;
            for (id, a) in accounts {
                let at = key_ptr("/accounts", id);
                if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err(&at, format!("`{id}` is not a 12-digit account id")));
                }
                world.accounts.insert(id.clone(), self.account(a, &at, id)?);
            }
        }
        for (i, p) in self.array(top, "", "principals")?.iter().enumerate() {
            let at = format!("/principals/{i}");
            let principal = self.principal(p, &at)?;
            if world.principals.contains_key(&principal.arn) {
                return Err(err(
                    &at,
                    format!("principal `{}` is listed twice", principal.arn),
                ));
            }
            world.principals.insert(principal.arn.clone(), principal);
        }
        for (i, k) in self.array(top, "", "keys")?.iter().enumerate() {
            let at = format!("/keys/{i}");
            let key = self.key(k, &at)?;
            if world.keys.iter().any(|other| other.arn == key.arn) {
                return Err(err(&at, format!("key `{}` is listed twice", key.arn)));
            }
            world.keys.push(key);
        }
        world.reindex();
        let mut seen_aliases = std::collections::HashSet::new();
        for (i, k) in world.keys.iter().enumerate() {
            for (j, a) in k.aliases.iter().enumerate() {
                if !seen_aliases.insert((k.account.clone(), k.region.clone(), a.clone())) {
                    return Err(err(
                        &format!("/keys/{i}/aliases/{j}"),
                        format!("alias `{a}` is used twice"),
                    ));
                }
            }
        }
        for (i, g) in self.array(top, "", "grants")?.iter().enumerate() {
            let at = format!("/grants/{i}");
            let grant = self.grant(g, &at, &world)?;
            world.grants.push(grant);
        }
        for (i, e) in self.array(top, "", "vpc_endpoints")?.iter().enumerate() {
            let at = format!("/vpc_endpoints/{i}");
            let obj = self.object(e, &at, &["id", "policy"])?;
            let id = self.required(obj, &at, "id")?;
            let policy = match obj.get("policy") {
                Some(p) => self.policy(p, &format!("{at}/policy"), PolicyKind::VpcEndpoint, format!("{id} endpoint policy"))?,
                None => self.policy(
                    &serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}),
                    &at,
                    PolicyKind::VpcEndpoint,
                    format!("{id} default endpoint policy"),
                )?,
            };
            world.vpc_endpoints.insert(id.to_owned(), policy);
        }
        for (i, g) in self.array(top, "", "guardrails")?.iter().enumerate() {
            let at = format!("/guardrails/{i}");
            let obj = self.object(g, &at, &["name", "rego"])?;
            let name = self.required(obj, &at, "name")?;
            let rego = self.required(obj, &at, "rego")?;
            if world.guardrails.iter().any(|other| other.name() == name) {
                return Err(err(
                    &key_ptr(&at, "name"),
                    format!("guardrail `{name}` is listed twice"),
                ));
            }
            let guardrail = Guardrail::compile(name, rego)
                .map_err(|e| err(&key_ptr(&at, "rego"), e.to_string()))?;
            world.guardrails.push(guardrail);
        }
        let mut tests = Vec::new();
        for (i, t) in self.array(top, "", "tests")?.iter().enumerate() {
            tests.push(self.test(t, &format!("/tests/{i}"))?);
        }
        Ok(Scenario { name, world, tests })
    }

    fn levels(
        &self,
        v: &Value,
        at: &str,
        kind: PolicyKind,
        what: &str,
    ) -> Result<Vec<Vec<NamedPolicy>>, ScenarioError> {
        let levels = v
            .as_array()
            .ok_or_else(|| err(at, "expected an array of levels"))?;
        levels
            .iter()
            .enumerate()
            .map(|(i, level)| {
                let at = format!("{at}/{i}");
                let docs = level
                    .as_array()
                    .ok_or_else(|| err(&at, "expected an array of policies"))?;
                docs.iter()
                    .enumerate()
                    .map(|(j, d)| {
                        self.policy(
                            d,
                            &format!("{at}/{j}"),
                            kind,
                            format!("{what} level {i} policy {j}"),
                        )
                    })
                    .collect()
            })
            .collect()
    }

    fn account(&self, v: &Value, at: &str, id: &str) -> Result<Account, ScenarioError> {
        let obj = self.object(
            v,
            at,
            &[
                "organization_id",
                "org_paths",
                "management_account",
                "scps",
                "rcps",
            ],
        )?;
        let org_paths = self
            .array(obj, at, "org_paths")?
            .iter()
            .enumerate()
            .map(|(i, p)| {
                p.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| err(&format!("{at}/org_paths/{i}"), "expected a string"))
            })
            .collect::<Result<_, _>>()?;
        let management_account = match obj.get("management_account") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(err(
                    &key_ptr(at, "management_account"),
                    "expected a boolean",
                ))
            }
        };
        let scps = obj
            .get("scps")
            .map(|v| {
                self.levels(
                    v,
                    &key_ptr(at, "scps"),
                    PolicyKind::Scp,
                    &format!("{id} SCP"),
                )
            })
            .transpose()?;
        let rcps = obj
            .get("rcps")
            .map(|v| {
                self.levels(
                    v,
                    &key_ptr(at, "rcps"),
                    PolicyKind::Rcp,
                    &format!("{id} RCP"),
                )
            })
            .transpose()?;
        Ok(Account {
            organization_id: self.string(obj, at, "organization_id")?.map(str::to_owned),
            org_paths,
            management_account,
            scps,
            rcps,
        })
    }

    fn principal(&self, v: &Value, at: &str) -> Result<Principal, ScenarioError> {
        let obj = self.object(
            v,
            at,
            &[
                "arn",
                "policies",
                "boundary",
                "tags",
                "trust_policy",
                "access_keys",
                "session_policy",
                "session_tags",
            ],
        )?;
        let arn = self.required(obj, at, "arn")?;
        Caller::parse(arn).map_err(|e| err(&key_ptr(at, "arn"), e.to_string()))?;
        let policies = self
            .array(obj, at, "policies")?
            .iter()
            .enumerate()
            .map(|(i, p)| {
                self.policy(
                    p,
                    &format!("{at}/policies/{i}"),
                    PolicyKind::Identity,
                    format!("{arn} policy #{i}"),
                )
            })
            .collect::<Result<_, _>>()?;
        let one = |field: &str, kind: PolicyKind, label: &str| {
            obj.get(field)
                .map(|p| self.policy(p, &key_ptr(at, field), kind, format!("{arn} {label}")))
                .transpose()
        };
        let mut access_keys = Vec::new();
        for (i, k) in self.array(obj, at, "access_keys")?.iter().enumerate() {
            let kat = format!("{at}/access_keys/{i}");
            let ko = self.object(k, &kat, &["id", "secret", "session_token"])?;
            let session_token = match ko.get("session_token") {
                None => None,
                Some(_) => Some(self.required(ko, &kat, "session_token")?.to_owned()),
            };
            access_keys.push(AccessKey {
                id: self.required(ko, &kat, "id")?.to_owned(),
                secret: self.required(ko, &kat, "secret")?.to_owned(),
                session_token,
            });
        }
        Ok(Principal {
            arn: arn.to_owned(),
            policies,
            boundary: one("boundary", PolicyKind::Boundary, "permissions boundary")?,
            tags: self.string_map(obj, at, "tags")?,
            trust_policy: one("trust_policy", PolicyKind::Trust, "trust policy")?,
            access_keys,
            session_policy: one("session_policy", PolicyKind::Session, "session policy")?,
            session_tags: self.string_map(obj, at, "session_tags")?,
        })
    }

    fn key(&self, v: &Value, at: &str) -> Result<Key, ScenarioError> {
        let obj = self.object(
            v,
            at,
            &[
                "arn",
                "policy",
                "spec",
                "usage",
                "state",
                "manager",
                "origin",
                "multi_region",
                "aliases",
                "tags",
            ],
        )?;
        let arn = self.required(obj, at, "arn")?;
        let bad_arn = || {
            err(
                &key_ptr(at, "arn"),
                format!("`{arn}` is not a key arn (arn:aws:kms:REGION:ACCOUNT:key/ID)"),
            )
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let (region, account, id) = match parts.as_slice() {
            ["arn", _, "kms", region, account, resource]
                if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) =>
            {
                let id = resource
                    .strip_prefix("key/")
                    .filter(|id| !id.is_empty())
                    .ok_or_else(bad_arn)?;
                (region.to_string(), account.to_string(), id.to_owned())
            }
            _ => return Err(bad_arn()),
        };
        let policy = match obj.get("policy") {
            Some(p) => self.policy(
                p,
                &key_ptr(at, "policy"),
                PolicyKind::Resource,
                format!("key policy of {arn}"),
            )?,
            None => NamedPolicy {
                name: format!("default key policy of {arn}"),
                policy: crate::keypolicy::default_policy(&account),
            },
        };
        let state = match self.string(obj, at, "state")? {
            None => KeyState::Enabled,
            Some(s) => KeyState::from_name(s)
                .ok_or_else(|| err(&key_ptr(at, "state"), format!("unknown key state `{s}`")))?,
        };
        let aws_managed = match self.string(obj, at, "manager")? {
            None | Some("CUSTOMER") => false,
            Some("AWS") => true,
            Some(other) => {
                return Err(err(
                    &key_ptr(at, "manager"),
                    format!("`{other}` is not CUSTOMER or AWS"),
                ))
            }
        };
        let aliases = self
            .array(obj, at, "aliases")?
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let aat = format!("{at}/aliases/{i}");
                let name = a.as_str().ok_or_else(|| err(&aat, "expected a string"))?;
                if !name.starts_with("alias/") || name.len() <= 6 {
                    return Err(err(
                        &aat,
                        format!("`{name}` is not an alias name (alias/…)"),
                    ));
                }
                Ok(name.to_owned())
            })
            .collect::<Result<_, _>>()?;
        let multi_region = match obj.get("multi_region") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(err(&key_ptr(at, "multi_region"), "expected a boolean")),
        };
        let spec = self.string(obj, at, "spec")?.unwrap_or("SYMMETRIC_DEFAULT");
        let default_usage = if spec.starts_with("HMAC_") {
            "GENERATE_VERIFY_MAC"
        } else {
            "ENCRYPT_DECRYPT"
        };
        Ok(Key {
            arn: arn.to_owned(),
            id,
            account,
            region,
            policy,
            spec: spec.to_owned(),
            usage: self
                .string(obj, at, "usage")?
                .unwrap_or(default_usage)
                .to_owned(),
            state,
            aws_managed,
            origin: self
                .string(obj, at, "origin")?
                .unwrap_or("AWS_KMS")
                .to_owned(),
            multi_region,
            aliases,
            tags: self.string_map(obj, at, "tags")?,
        })
    }

    fn grant(&self, v: &Value, at: &str, world: &World) -> Result<Grant, ScenarioError> {
        let obj = self.object(
            v,
            at,
            &[
                "key",
                "id",
                "grantee",
                "retiring_principal",
                "operations",
                "constraints",
                "issuing_account",
                "name",
            ],
        )?;
        let key_arn = self.required(obj, at, "key")?;
        let key = *world.key_by_arn.get(key_arn).ok_or_else(|| {
            err(
                &key_ptr(at, "key"),
                format!("key `{key_arn}` is not in the world"),
            )
        })?;
        let id = self.required(obj, at, "id")?;
        if world.grants.iter().any(|g| g.id == id) {
            return Err(err(
                &key_ptr(at, "id"),
                format!("grant id `{id}` is used twice"),
            ));
        }
        let grantee = self.required(obj, at, "grantee")?;
        Caller::parse(grantee).map_err(|e| err(&key_ptr(at, "grantee"), e.to_string()))?;
        let retiring = self.string(obj, at, "retiring_principal")?;
        if let Some(r) = retiring {
            Caller::parse(r).map_err(|e| err(&key_ptr(at, "retiring_principal"), e.to_string()))?;
        }
        let operations = self
            .array(obj, at, "operations")?
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let oat = format!("{at}/operations/{i}");
                match o.as_str() {
                    Some(name) if crate::operation::GRANT_OPERATIONS.contains(&name) => {
                        Ok(name.to_owned())
                    }
                    _ => Err(err(&oat, format!("`{o}` is not a grant operation"))),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        if operations.is_empty() {
            return Err(err(
                &key_ptr(at, "operations"),
                "a grant needs at least one operation",
            ));
        }
        let constraints = match obj.get("constraints") {
            None | Some(Value::Null) => GrantConstraints::default(),
            Some(c) => {
                let cat = key_ptr(at, "constraints");
                let co = self.object(
                    c,
                    &cat,
                    &[
                        "EncryptionContextEquals",
                        "EncryptionContextSubset",
                        "SourceArn",
                    ],
                )?;
                GrantConstraints {
                    equals: co
                        .contains_key("EncryptionContextEquals")
                        .then(|| self.string_map(co, &cat, "EncryptionContextEquals"))
                        .transpose()?,
                    subset: co
                        .contains_key("EncryptionContextSubset")
                        .then(|| self.string_map(co, &cat, "EncryptionContextSubset"))
                        .transpose()?,
                    source_arn: self.string(co, &cat, "SourceArn")?.map(str::to_owned),
                }
            }
        };
        let issuing_account = match self.string(obj, at, "issuing_account")? {
            Some(a) => a.to_owned(),
            None => world
                .keys
                .get(key)
                .map(|k| k.account.clone())
                .unwrap_or_default(),
        };
        Ok(Grant {
            key,
            id: id.to_owned(),
            name: self.string(obj, at, "name")?.map(str::to_owned),
            grantee: grantee.to_owned(),
            retiring_principal: retiring.map(str::to_owned),
            operations,
            constraints,
            issuing_account,
        })
    }

    fn test(&self, v: &Value, at: &str) -> Result<TestCase, ScenarioError> {
        let obj = self.object(
            v,
            at,
            &[
                "name",
                "principal",
                "operation",
                "input",
                "context",
                "expect",
                "reason",
            ],
        )?;
        let principal = self.required(obj, at, "principal")?;
        let principal =
            Caller::parse(principal).map_err(|e| err(&key_ptr(at, "principal"), e.to_string()))?;
        let op = self.required(obj, at, "operation")?;
        let operation = Operation::from_name(op).ok_or_else(|| {
            err(
                &key_ptr(at, "operation"),
                format!("`{op}` is not a KMS operation"),
            )
        })?;
        let input = obj
            .get("input")
            .cloned()
            .unwrap_or(Value::Object(Map::new()));
        if !input.is_object() {
            return Err(err(&key_ptr(at, "input"), "expected an object"));
        }
        let env = environment(obj.get("context"), &key_ptr(at, "context"))?;
        let expect = self.required(obj, at, "expect")?;
        let expect = parse_outcome(expect).ok_or_else(|| {
            err(
                &key_ptr(at, "expect"),
                format!("`{expect}` is not Allow, Deny or a KMS error name"),
            )
        })?;
        Ok(TestCase {
            name: self.string(obj, at, "name")?.unwrap_or("").to_owned(),
            pointer: at.to_owned(),
            principal,
            operation,
            input,
            env,
            expect,
            reason: self.string(obj, at, "reason")?.map(str::to_owned),
        })
    }
}

/// `Allow`, `Deny`, `AccessDeniedException` (same as Deny) or an error name.
pub fn parse_outcome(s: &str) -> Option<Outcome> {
    match s {
        "Allow" => Some(Outcome::Allow),
        "Deny" | "AccessDeniedException" => Some(Outcome::Deny),
        other => ErrorCode::from_name(other).map(Outcome::Error),
    }
}

/// Request facts from a `context` object: strings or lists of strings.
pub fn environment(value: Option<&Value>, at: &str) -> Result<Environment<'static>, ScenarioError> {
    let mut env = Environment::new();
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                match v {
                    Value::String(s) => env.insert(k.clone(), s.clone()),
                    Value::Bool(b) => env.insert(k.clone(), b.to_string()),
                    Value::Number(n) => env.insert(k.clone(), n.to_string()),
                    Value::Array(items) => {
                        let values = items
                            .iter()
                            .map(|i| {
                                i.as_str()
                                    .map(|s| Cow::Owned(s.to_owned()))
                                    .ok_or_else(|| err(&key_ptr(at, k), "expected strings"))
                            })
                            .collect::<Result<_, _>>()?;
                        env.insert_many(k.clone(), values);
                    }
                    _ => {
                        return Err(err(
                            &key_ptr(at, k),
                            "expected a string or a list of strings",
                        ))
                    }
                }
            }
        }
        Some(_) => return Err(err(at, "expected an object")),
    }
    Ok(env)
}
