//! Deciding one KMS request: validation, key resolution, the permission
//! checks an operation needs, every policy layer, grants, key state and key
//! usage, in AWS's order (spec §2.10 "order of checks", §2.13, §2.14).

use std::borrow::Cow;

use kmsgov_policy::{
    Caller, CallerKind, Effect, Evaluation, Outcome as PolicyOutcome, Policy, PrincipalCheck,
    PrincipalMatch, Request,
};
use serde_json::{Map, Value};

use crate::context::{CallerInfo, Environment, Facts, KeyContext};
use crate::decision::{ConditionEntry, Decision, ErrorCode, Outcome, PathEntry, StatementEntry};
use crate::failure::Failure;
use crate::keypolicy;
use crate::keystate::{grant_operation_valid, state_error, usage_error};
use crate::operation::{Operation, StateRule, UsageNeed};
use crate::world::{Grant, GrantConstraints, Key, NamedPolicy, World};

/// One KMS API call to decide.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// Who calls.
    pub caller: &'a Caller,
    /// The operation.
    pub operation: Operation,
    /// The request body, exactly as the KMS JSON API takes it.
    pub input: &'a Value,
    /// Request facts that are not in the body (`aws:SourceIp`, `kms:ViaService`, …).
    pub env: &'a Environment<'a>,
    /// For Decrypt and ReEncrypt: the key ARN recorded in the ciphertext, used
    /// when the request names no key.
    pub ciphertext_key: Option<&'a str>,
}

/// Whether to record the decision path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trace {
    /// Only the outcome and message (fastest).
    Off,
    /// The outcome, message and full decision path.
    Full,
}

/// Decides a call against the world.
pub fn decide(world: &World, call: &Call<'_>, trace: Trace) -> Decision {
    let empty = Map::new();
    let input = match call.input {
        Value::Object(m) => m,
        Value::Null => &empty,
        _ => {
            return Decision {
                outcome: Outcome::Error(ErrorCode::ValidationException),
                message: "The request body must be a JSON object.".into(),
                path: Vec::new(),
            }
        }
    };
    let caller = CallerInfo::resolve(world, call.caller);
    let mut run = Run {
        world,
        call,
        input,
        caller,
        trace: trace == Trace::Full,
        path: Vec::new(),
    };
    let result = run.run();
    let (outcome, message) = match result {
        Ok(()) => (Outcome::Allow, String::new()),
        Err(f) => (f.outcome, f.message),
    };
    Decision {
        outcome,
        message,
        path: run.path,
    }
}

/// One IAM action on one key, without an API request around it: "may this
/// principal perform `kms:Decrypt` on this key?". Every policy layer, grants
/// and the cross-account rule apply; request validation, key state and key
/// usage do not (they belong to operations).
#[derive(Debug, Clone, Copy)]
pub struct ActionCall<'a> {
    /// Who calls.
    pub caller: &'a Caller,
    /// The action, e.g. `kms:Decrypt`.
    pub action: &'a str,
    /// The key ARN.
    pub key: &'a str,
    /// Condition keys that are not derived from the world (`kms:ViaService`,
    /// `kms:EncryptionContext:…`, …).
    pub env: &'a Environment<'a>,
}

/// Decides one action on one key.
pub fn decide_action(world: &World, call: &ActionCall<'_>, trace: Trace) -> Decision {
    let name = call.action.strip_prefix("kms:").unwrap_or(call.action);
    let operation = match name {
        "ReEncryptFrom" | "ReEncryptTo" => Operation::ReEncrypt,
        other => Operation::from_name(other).unwrap_or(Operation::DescribeKey),
    };
    let empty = Value::Object(Map::new());
    let op_call = Call {
        caller: call.caller,
        operation,
        input: &empty,
        env: call.env,
        ciphertext_key: None,
    };
    let input = match &empty {
        Value::Object(m) => m,
        _ => {
            return Decision {
                outcome: Outcome::Allow,
                message: String::new(),
                path: Vec::new(),
            }
        }
    };
    let mut run = Run {
        world,
        call: &op_call,
        input,
        caller: CallerInfo::resolve(world, call.caller),
        trace: trace == Trace::Full,
        path: Vec::new(),
    };
    let result = (|| {
        let idx = *world.key_by_arn.get(call.key).ok_or_else(|| {
            Failure::error(
                ErrorCode::NotFoundException,
                format!("Key '{}' does not exist", call.key),
            )
        })?;
        let key = world
            .keys
            .get(idx)
            .ok_or_else(|| Failure::error(ErrorCode::NotFoundException, "no such key"))?;
        run.cross_account(operation, key, call.action)?;
        let grant_op = crate::operation::GRANT_OPERATIONS
            .iter()
            .find(|g| **g == name)
            .copied();
        let check = Check {
            action: Cow::Borrowed(call.action),
            target: Target::Key(key, idx),
            facts: Facts::default(),
            grants: grant_op.map_or(GrantRule::None, GrantRule::Op),
            constrained_context: None,
        };
        run.authorize(&check)
    })();
    let (outcome, message) = match result {
        Ok(()) => (Outcome::Allow, String::new()),
        Err(f) => (f.outcome, f.message),
    };
    Decision {
        outcome,
        message,
        path: run.path,
    }
}

/// The resource a permission is checked against.
#[derive(Debug, Clone)]
pub(crate) enum Target<'a> {
    Key(&'a Key, usize),
    Alias(String),
    Star,
}

/// How grants can allow a check.
#[derive(Debug, Clone)]
pub(crate) enum GrantRule<'a> {
    None,
    /// A grant listing this operation.
    Op(&'static str),
    /// CreateGrant through a grant: the child must be within the parent.
    CreateGrant {
        operations: Vec<&'a str>,
        constraints: GrantConstraints,
    },
}

/// One permission check: an action on a resource, with its condition facts.
#[derive(Debug)]
pub(crate) struct Check<'a> {
    pub(crate) action: Cow<'a, str>,
    pub(crate) target: Target<'a>,
    pub(crate) facts: Facts<'a>,
    pub(crate) grants: GrantRule<'a>,
    /// Encryption context the grant constraints are compared with.
    pub(crate) constrained_context: Option<&'a Map<String, Value>>,
}

struct Plan<'a> {
    checks: Vec<Check<'a>>,
    states: Vec<(&'a Key, StateRule)>,
    usage: Option<(&'a Key, UsageNeed)>,
}

pub(crate) struct Run<'a> {
    pub(crate) world: &'a World,
    call: &'a Call<'a>,
    input: &'a Map<String, Value>,
    pub(crate) caller: CallerInfo<'a>,
    pub(crate) trace: bool,
    pub(crate) path: Vec<PathEntry>,
}

/// The result of one policy (or set of policies) for one check.
#[derive(Debug, Default)]
struct PolicySet {
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
    fn run(&mut self) -> Result<(), Failure> {
        let op = self.call.operation;
        if let Err(f) = crate::validate::validate(op, self.input) {
            self.note("request", "Fail", &f.message);
            return Err(f);
        }
        if self.caller.caller.kind() == CallerKind::Anonymous {
            let f = Failure::error(
                ErrorCode::AccessDeniedException,
                "Anonymous requests are not allowed.",
            )
            .with_outcome(Outcome::Deny);
            self.note("request", "Fail", "KMS does not accept unsigned requests");
            return Err(f);
        }
        let plan = match op {
            Operation::RetireGrant => return self.retire_grant(),
            _ => self.plan()?,
        };
        for check in &plan.checks {
            if let Target::Key(key, _) = check.target {
                self.cross_account(op, key, &check.action)?;
            }
        }
        self.grant_tokens()?;
        for check in &plan.checks {
            self.authorize(check)?;
        }
        for (key, rule) in &plan.states {
            if let Some(f) = state_error(op, *rule, key) {
                self.note("key state", "Fail", &f.message);
                return Err(f);
            }
        }
        if let Some((key, need)) = plan.usage {
            if let Some(f) = usage_error(op, need, key, self.input) {
                self.note("key usage", "Fail", &f.message);
                return Err(f);
            }
        }
        self.after_authorization(op, &plan)?;
        if self.input.get("DryRun").and_then(Value::as_bool) == Some(true) && op.spec().dry_run {
            let f = Failure::error(
                ErrorCode::DryRunOperationException,
                "The request would have succeeded, but the DryRun option is set.",
            );
            self.note(
                "dry run",
                "Pass",
                "every check passed; DryRun stops the request here",
            );
            return Err(f);
        }
        Ok(())
    }

    pub(crate) fn input_map(&self) -> &'a Map<String, Value> {
        self.input
    }

    pub(crate) fn env(&self) -> &'a Environment<'a> {
        self.call.env
    }

    pub(crate) fn note(&mut self, layer: &'static str, verdict: &'static str, note: &str) {
        if self.trace {
            self.path.push(PathEntry {
                layer: Cow::Borrowed(layer),
                check: String::new(),
                policy: String::new(),
                verdict: Cow::Borrowed(verdict),
                statements: Vec::new(),
                note: Cow::Owned(note.to_owned()),
            });
        }
    }

    fn str_param(&self, name: &str) -> Option<&'a str> {
        self.input.get(name).and_then(Value::as_str)
    }

    fn caller_account(&self) -> &'a str {
        self.caller.caller.account().unwrap_or("")
    }

    /// Resolves a key identifier (spec §2.14): key ARN, alias ARN, alias name
    /// or bare key id; the last two in the caller's account and Region.
    fn resolve_key(
        &mut self,
        member: &str,
        id: &'a str,
        accepts_alias: bool,
    ) -> Result<(&'a Key, usize, Option<&'a str>), Failure> {
        let world = self.world;
        let region = &world.region;
        let account = self.caller_account();
        let not_found = |msg: String| Failure::error(ErrorCode::NotFoundException, msg);
        let result = if let Some(rest) = id.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            match parts.as_slice() {
                [_, "kms", _, _, resource] if resource.starts_with("key/") => world
                    .key_by_arn
                    .get(id)
                    .map(|&i| (i, None))
                    .ok_or_else(|| not_found(format!("Key '{id}' does not exist"))),
                [_, "kms", _, _, resource] if resource.starts_with("alias/") => {
                    if !accepts_alias {
                        Err(not_found(format!("Invalid keyId '{id}'")))
                    } else {
                        let alias_name = id.get(id.len() - resource.len()..);
                        world
                            .alias_to_key
                            .get(id)
                            .map(|&i| (i, alias_name))
                            .ok_or_else(|| not_found(format!("Alias {id} is not found.")))
                    }
                }
                _ => Err(Failure::error(
                    ErrorCode::InvalidArnException,
                    format!("Invalid arn {id}"),
                )),
            }
        } else if id.starts_with("alias/") {
            if !accepts_alias {
                Err(not_found(format!("Invalid keyId '{id}'")))
            } else {
                let arn = format!("arn:aws:kms:{region}:{account}:{id}");
                world
                    .alias_to_key
                    .get(&arn)
                    .map(|&i| (i, Some(id)))
                    .ok_or_else(|| not_found(format!("Alias {arn} is not found.")))
            }
        } else {
            let arn = format!("arn:aws:kms:{region}:{account}:key/{id}");
            world
                .key_by_arn
                .get(&arn)
                .map(|&i| (i, None))
                .ok_or_else(|| not_found(format!("Key '{arn}' does not exist")))
        };
        match result {
            Ok((i, alias)) => match world.keys.get(i) {
                Some(key) => {
                    if self.trace {
                        let via = alias.map(|a| format!(" through {a}")).unwrap_or_default();
                        self.note(
                            "key",
                            "Pass",
                            &format!("{member} `{id}` is {}{via}", key.arn),
                        );
                    }
                    Ok((key, i, alias))
                }
                None => Err(not_found(format!("Key '{id}' does not exist"))),
            },
            Err(f) => {
                self.note("key", "Fail", &f.message);
                Err(f)
            }
        }
    }

    /// The permission checks of the operation (spec §6), plus the state and
    /// usage rules to apply to its keys.
    fn plan(&mut self) -> Result<Plan<'a>, Failure> {
        use Operation as O;
        let op = self.call.operation;
        let spec = op.spec();
        let input = self.input;
        let mut plan = Plan {
            checks: Vec::new(),
            states: Vec::new(),
            usage: None,
        };
        match op {
            O::CreateAlias | O::UpdateAlias | O::DeleteAlias => {
                let alias_name = self.str_param("AliasName").unwrap_or_default();
                let alias_arn = format!(
                    "arn:aws:kms:{}:{}:{alias_name}",
                    self.world.region,
                    self.caller_account()
                );
                let current = self
                    .world
                    .alias_to_key
                    .get(&alias_arn)
                    .and_then(|&i| self.world.keys.get(i).map(|k| (k, i)));
                plan.checks.push(self.check(
                    "kms",
                    op,
                    Target::Alias(alias_arn.clone()),
                    Facts::default(),
                ));
                if op != O::CreateAlias {
                    let Some((key, idx)) = current else {
                        let f = Failure::error(
                            ErrorCode::NotFoundException,
                            format!("Alias {alias_arn} is not found."),
                        );
                        self.note("key", "Fail", &f.message);
                        return Err(f);
                    };
                    plan.checks.push(self.check(
                        "kms",
                        op,
                        Target::Key(key, idx),
                        Facts::default(),
                    ));
                }
                if op != O::DeleteAlias {
                    let id = self.str_param("TargetKeyId").unwrap_or_default();
                    let (key, idx, _) = self.resolve_key("TargetKeyId", id, false)?;
                    plan.checks.push(self.check(
                        "kms",
                        op,
                        Target::Key(key, idx),
                        Facts::default(),
                    ));
                    plan.states.push((key, spec.state));
                }
            }
            O::ReEncrypt => {
                let (src, src_idx, src_alias) = match self.str_param("SourceKeyId") {
                    Some(id) => self.resolve_key("SourceKeyId", id, true)?,
                    None => self.ciphertext_key()?,
                };
                let dst_id = self.str_param("DestinationKeyId").unwrap_or_default();
                let (dst, dst_idx, dst_alias) =
                    self.resolve_key("DestinationKeyId", dst_id, true)?;
                let same = src.arn == dst.arn;
                let source_ec = input
                    .get("SourceEncryptionContext")
                    .and_then(Value::as_object);
                let dest_ec = input
                    .get("DestinationEncryptionContext")
                    .and_then(Value::as_object);
                let mut from = self.crypto_facts(source_ec, src_alias, "SourceEncryptionAlgorithm");
                from.reencrypt_same_key = Some(same);
                let mut to =
                    self.crypto_facts(dest_ec, dst_alias, "DestinationEncryptionAlgorithm");
                to.reencrypt_same_key = Some(same);
                plan.checks.push(Check {
                    action: Cow::Borrowed("kms:ReEncryptFrom"),
                    target: Target::Key(src, src_idx),
                    facts: from,
                    grants: GrantRule::Op("ReEncryptFrom"),
                    constrained_context: source_ec,
                });
                plan.checks.push(Check {
                    action: Cow::Borrowed("kms:ReEncryptTo"),
                    target: Target::Key(dst, dst_idx),
                    facts: to,
                    grants: GrantRule::Op("ReEncryptTo"),
                    constrained_context: dest_ec,
                });
                plan.states.push((src, spec.state));
                plan.states.push((dst, spec.state));
                plan.usage = Some((src, UsageNeed::EncryptDecrypt));
                if let Some(f) = usage_error(op, UsageNeed::EncryptDecrypt, dst, &Map::new()) {
                    // The destination must be an encryption key too; its algorithm is checked below.
                    if dst.usage != "ENCRYPT_DECRYPT" {
                        return self.fail_later(f);
                    }
                }
            }
            O::CreateGrant => {
                let id = self.str_param("KeyId").unwrap_or_default();
                let (key, idx, _) = self.resolve_key("KeyId", id, false)?;
                let operations: Vec<&'a str> = input
                    .get("Operations")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let constraints = grant_constraints(input.get("Constraints"));
                let mut facts = Facts::default();
                let c = input.get("Constraints").and_then(Value::as_object);
                let ec = c.and_then(|c| {
                    c.get("EncryptionContextEquals")
                        .or_else(|| c.get("EncryptionContextSubset"))
                });
                facts.encryption_context = ec.and_then(Value::as_object);
                if let Some(c) = c {
                    if let Some(t) = ["EncryptionContextEquals", "EncryptionContextSubset"]
                        .into_iter()
                        .find(|t| c.contains_key(*t))
                    {
                        facts.params.push(("grantconstrainttype", Cow::Borrowed(t)));
                    }
                    if let Some(arn) = c.get("SourceArn").and_then(Value::as_str) {
                        facts
                            .params
                            .push(("grantconstraintsourcearn", Cow::Borrowed(arn)));
                    }
                }
                for (member, key) in [
                    ("GranteePrincipal", "granteeprincipal"),
                    ("RetiringPrincipal", "retiringprincipal"),
                    ("GranteeServicePrincipal", "granteeserviceprincipal"),
                    ("RetiringServicePrincipal", "retiringserviceprincipal"),
                ] {
                    if let Some(v) = self.str_param(member) {
                        facts.params.push((key, Cow::Borrowed(v)));
                    }
                }
                facts.lists.push((
                    "grantoperations",
                    operations.iter().map(|s| Cow::Borrowed(*s)).collect(),
                ));
                plan.checks.push(Check {
                    action: Cow::Borrowed("kms:CreateGrant"),
                    target: Target::Key(key, idx),
                    facts,
                    grants: GrantRule::CreateGrant {
                        operations,
                        constraints,
                    },
                    constrained_context: None,
                });
                plan.states.push((key, spec.state));
            }
            O::CreateKey => {
                let mut facts = Facts::default();
                let spec_value = self
                    .str_param("KeySpec")
                    .or_else(|| self.str_param("CustomerMasterKeySpec"))
                    .unwrap_or("SYMMETRIC_DEFAULT");
                let default_usage = if spec_value.starts_with("HMAC_") {
                    "GENERATE_VERIFY_MAC"
                } else {
                    "ENCRYPT_DECRYPT"
                };
                let usage = self.str_param("KeyUsage").unwrap_or(default_usage);
                let multi = input
                    .get("MultiRegion")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                for (k, v) in [
                    ("keyspec", spec_value),
                    ("customermasterkeyspec", spec_value),
                    ("keyusage", usage),
                    ("customermasterkeyusage", usage),
                    ("keyorigin", self.str_param("Origin").unwrap_or("AWS_KMS")),
                    ("multiregion", if multi { "true" } else { "false" }),
                ] {
                    facts.params.push((k, Cow::Borrowed(v)));
                }
                if multi {
                    facts
                        .params
                        .push(("multiregionkeytype", Cow::Borrowed("PRIMARY")));
                }
                self.common_params(&mut facts);
                let tagged = input.contains_key("Tags");
                plan.checks.push(Check {
                    action: Cow::Borrowed("kms:CreateKey"),
                    target: Target::Star,
                    facts,
                    grants: GrantRule::None,
                    constrained_context: None,
                });
                if tagged {
                    let mut facts = Facts::default();
                    self.common_params(&mut facts);
                    plan.checks.push(Check {
                        action: Cow::Borrowed("kms:TagResource"),
                        target: Target::Star,
                        facts,
                        grants: GrantRule::None,
                        constrained_context: None,
                    });
                }
            }
            _ if spec.iam_only => {
                plan.checks
                    .push(self.check("kms", op, Target::Star, Facts::default()));
            }
            _ => {
                let member = spec.key_param.unwrap_or("KeyId");
                let (key, idx, alias) = match self.str_param(member) {
                    Some(id) => self.resolve_key(member, id, spec.accepts_alias)?,
                    None if matches!(op, O::Decrypt) => self.ciphertext_key()?,
                    None => return Err(Failure::missing(member)),
                };
                if let (O::Decrypt, Some(ct)) = (op, self.call.ciphertext_key) {
                    if ct != key.arn {
                        let f = Failure::error(
                            ErrorCode::IncorrectKeyException,
                            "The key ID in the request does not identify a KMS key that can perform this operation.",
                        );
                        self.note("key", "Fail", &f.message);
                        return Err(f);
                    }
                }
                let ec = spec
                    .encryption_context
                    .and_then(|m| input.get(m))
                    .and_then(Value::as_object);
                let facts = if spec.encryption_context.is_some() || spec.accepts_alias {
                    self.crypto_facts(ec, alias, "EncryptionAlgorithm")
                } else {
                    let mut f = Facts::default();
                    self.common_params(&mut f);
                    f
                };
                let grants = match spec.grant_operation {
                    Some(g) => GrantRule::Op(g),
                    None => GrantRule::None,
                };
                plan.checks.push(Check {
                    action: Cow::Owned(op.action()),
                    target: Target::Key(key, idx),
                    facts,
                    grants,
                    constrained_context: ec,
                });
                plan.states.push((key, spec.state));
                if spec.usage != UsageNeed::None {
                    plan.usage = Some((key, spec.usage));
                }
            }
        }
        Ok(plan)
    }

    fn fail_later(&mut self, f: Failure) -> Result<Plan<'a>, Failure> {
        self.note("key usage", "Fail", &f.message);
        Err(f)
    }

    fn ciphertext_key(&mut self) -> Result<(&'a Key, usize, Option<&'a str>), Failure> {
        match self.call.ciphertext_key {
            Some(arn) => self.resolve_key("CiphertextBlob", arn, false),
            None => {
                let f = Failure::error(
                    ErrorCode::InvalidCiphertextException,
                    "The ciphertext does not name a KMS key and the request has no KeyId.",
                );
                self.note("key", "Fail", &f.message);
                Err(f)
            }
        }
    }

    fn check(
        &self,
        _service: &str,
        op: Operation,
        target: Target<'a>,
        mut facts: Facts<'a>,
    ) -> Check<'a> {
        self.common_params(&mut facts);
        Check {
            action: Cow::Owned(op.action()),
            target,
            facts,
            grants: GrantRule::None,
            constrained_context: None,
        }
    }

    /// Facts of a cryptographic operation: encryption context, alias used,
    /// algorithms (spec §5.1: defaulted when omitted).
    fn crypto_facts(
        &self,
        ec: Option<&'a Map<String, Value>>,
        alias: Option<&'a str>,
        alg_member: &str,
    ) -> Facts<'a> {
        let mut facts = Facts {
            encryption_context: ec,
            request_alias: alias,
            ..Facts::default()
        };
        let op = self.call.operation;
        if op.spec().encryption_context.is_some() {
            let alg = self.str_param(alg_member).unwrap_or("SYMMETRIC_DEFAULT");
            facts
                .params
                .push(("encryptionalgorithm", Cow::Borrowed(alg)));
        }
        self.common_params(&mut facts);
        facts
    }

    /// Request parameters that become condition keys (spec §5.1).
    fn common_params(&self, facts: &mut Facts<'a>) {
        let op = self.call.operation;
        let input = self.input;
        let mut put = |key: &'static str, v: Option<&'a str>, default: Option<&'static str>| {
            if let Some(v) = v.or(default) {
                facts.params.push((key, Cow::Borrowed(v)));
            }
        };
        match op {
            Operation::Sign | Operation::Verify => {
                put("signingalgorithm", self.str_param("SigningAlgorithm"), None);
                put("messagetype", self.str_param("MessageType"), Some("RAW"));
            }
            Operation::GenerateMac | Operation::VerifyMac => {
                put("macalgorithm", self.str_param("MacAlgorithm"), None)
            }
            Operation::GenerateDataKeyPair | Operation::GenerateDataKeyPairWithoutPlaintext => {
                put("datakeypairspec", self.str_param("KeyPairSpec"), None)
            }
            Operation::DeriveSharedSecret => put(
                "keyagreementalgorithm",
                self.str_param("KeyAgreementAlgorithm"),
                None,
            ),
            Operation::ReplicateKey => put("replicaregion", self.str_param("ReplicaRegion"), None),
            Operation::UpdatePrimaryRegion => {
                put("primaryregion", self.str_param("PrimaryRegion"), None)
            }
            Operation::ImportKeyMaterial => {
                put("expirationmodel", self.str_param("ExpirationModel"), None)
            }
            Operation::GetParametersForImport => {
                put(
                    "wrappingalgorithm",
                    self.str_param("WrappingAlgorithm"),
                    None,
                );
                put("wrappingkeyspec", self.str_param("WrappingKeySpec"), None);
            }
            _ => {}
        }
        let number = |member: &str| {
            input
                .get(member)
                .filter(|v| v.is_number())
                .map(|v| Cow::Owned(v.to_string()))
        };
        match op {
            Operation::ScheduleKeyDeletion => facts.params.push((
                "schedulekeydeletionpendingwindowindays",
                number("PendingWindowInDays").unwrap_or(Cow::Borrowed("30")),
            )),
            Operation::EnableKeyRotation => facts.params.push((
                "rotationperiodindays",
                number("RotationPeriodInDays").unwrap_or(Cow::Borrowed("365")),
            )),
            Operation::ImportKeyMaterial => {
                if let Some(v) = number("ValidTo") {
                    facts.params.push(("validto", v));
                }
            }
            _ => {}
        }
        if let Some(b) = input
            .get("BypassPolicyLockoutSafetyCheck")
            .and_then(Value::as_bool)
        {
            facts.params.push((
                "bypasspolicylockoutsafetycheck",
                Cow::Borrowed(if b { "true" } else { "false" }),
            ));
        }
        if let Some(tags) = input.get("Tags").and_then(Value::as_array) {
            let pairs: Vec<(&'a str, &'a str)> = tags
                .iter()
                .filter_map(|t| Some((t.get("TagKey")?.as_str()?, t.get("TagValue")?.as_str()?)))
                .collect();
            facts.lists.push((
                "aws:tagkeys",
                pairs.iter().map(|(k, _)| Cow::Borrowed(*k)).collect(),
            ));
            facts.request_tags = pairs;
        }
        if let Some(keys) = input.get("TagKeys").and_then(Value::as_array) {
            facts.lists.push((
                "aws:tagkeys",
                keys.iter()
                    .filter_map(Value::as_str)
                    .map(Cow::Borrowed)
                    .collect(),
            ));
        }
    }

    /// Operations that cannot use a key of another account (spec §2.9).
    fn cross_account(&mut self, op: Operation, key: &Key, action: &str) -> Result<(), Failure> {
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

    /// Every grant token must name a grant (spec §3.6).
    fn grant_tokens(&mut self) -> Result<(), Failure> {
        if !self.call.operation.spec().grant_tokens {
            return Ok(());
        }
        let Some(tokens) = self.input.get("GrantTokens").and_then(Value::as_array) else {
            return Ok(());
        };
        for t in tokens.iter().filter_map(Value::as_str) {
            if self.world.grant(t).is_none() {
                let f = Failure::error(
                    ErrorCode::InvalidGrantTokenException,
                    "The grant token is not valid.",
                );
                self.note(
                    "grant tokens",
                    "Fail",
                    &format!("grant token `{t}` names no grant"),
                );
                return Err(f);
            }
        }
        Ok(())
    }

    pub(crate) fn denied_message(
        &self,
        action: &str,
        resource: &str,
        explicit: bool,
        policy_type: &str,
    ) -> String {
        // Built by hand: this runs for every denial, and `format!` costs more.
        let caller = self.caller.caller.arn();
        let mut m = String::with_capacity(120 + caller.len() + resource.len() + 2 * action.len());
        m.push_str("User: ");
        m.push_str(caller);
        m.push_str(" is not authorized to perform: ");
        m.push_str(action);
        if resource != "*" {
            m.push_str(" on resource: ");
            m.push_str(resource);
        }
        if explicit {
            let article = if policy_type.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            m.push_str(" with an explicit deny in ");
            m.push_str(article);
            m.push(' ');
            m.push_str(policy_type);
        } else {
            m.push_str(" because no ");
            m.push_str(policy_type);
            m.push_str(" allows the ");
            m.push_str(action);
            m.push_str(" action");
        }
        m
    }

    fn deny(&mut self, check: &Check<'_>, explicit: bool, policy_type: &str) -> Failure {
        let resource = target_arn(&check.target);
        let message = self.denied_message(&check.action, resource, explicit, policy_type);
        if self.trace {
            let how = if explicit {
                "explicit deny"
            } else {
                "implicit deny"
            };
            self.path.push(PathEntry {
                layer: "result".into(),
                check: format!("{} on {resource}", check.action),
                policy: String::new(),
                verdict: "Deny".into(),
                statements: Vec::new(),
                note: format!("{how}: {policy_type}").into(),
            });
        }
        Failure::denied(message)
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
            caller: self.caller.caller,
            action: &check.action,
            resource,
            context: &iam_ctx,
        };
        let kp_req = Request {
            caller: self.caller.caller,
            action: &check.action,
            resource,
            context: &kp_ctx,
        };

        // SCPs: principals of member accounts, not service-linked roles (spec §1.2).
        let mut scp_deny = false;
        let mut scp_allow = true;
        let scps = caller_info
            .account
            .filter(|a| !a.management_account && !caller_info.service_linked)
            .filter(|_| caller_kind != CallerKind::Service && caller_kind != CallerKind::Anonymous)
            .and_then(|a| a.scps.as_ref());
        if let Some(levels) = scps {
            for (i, level) in levels.iter().enumerate() {
                let set = self.policy_set(
                    "service control policy",
                    &self.level_name(i),
                    &label,
                    level,
                    &iam_req,
                );
                scp_deny |= set.deny;
                scp_allow &= set.allow;
            }
        }
        // RCPs: customer managed keys in member accounts; not RetireGrant (spec §1.2).
        let mut rcp_deny = false;
        if let Some(k) = key {
            let rcps = world
                .accounts
                .get(&k.account)
                .filter(|a| !a.management_account && !k.aws_managed && !caller_info.service_linked)
                .filter(|_| !check.action.eq_ignore_ascii_case("kms:RetireGrant"))
                .and_then(|a| a.rcps.as_ref());
            if let Some(levels) = rcps {
                for (i, level) in levels.iter().enumerate() {
                    let set = self.policy_set(
                        "resource control policy",
                        &self.level_name(i),
                        &label,
                        level,
                        &kp_req,
                    );
                    rcp_deny |= set.deny;
                }
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
        // Key policy.
        let key_policy = match key {
            Some(k) if !matches!(check.target, Target::Alias(_)) => Some(self.policy_set(
                "key policy",
                &k.arn,
                &label,
                std::slice::from_ref(&k.policy),
                &kp_req,
            )),
            _ => None,
        };
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

        let Some(key) = key.filter(|_| !matches!(check.target, Target::Alias(_))) else {
            // Identity-only permission (alias resources and actions without a
            // resource): identity policies decide within the ceilings.
            let own_account = match &check.target {
                Target::Alias(arn) => arn.split(':').nth(4) == caller_info.caller.account(),
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
        let same_account = caller_info.caller.account() == Some(key.account.as_str());
        let grant = self.find_grant(check, key, id_allow && ceilings_ok);

        if caller_kind == CallerKind::Service {
            if direct || grant {
                return self.allowed("the key policy names the service principal");
            }
            return Err(self.deny(check, false, "resource-based policy"));
        }
        if same_account {
            if direct {
                return self.allowed("the key policy names the caller directly, so implicit denies in identity-type policies do not apply");
            }
            if role && ceilings_ok {
                return self.allowed("the key policy names the caller's role; the permissions boundary and session policy allow it");
            }
            if account && id_allow && ceilings_ok {
                return self.allowed("the key policy delegates to the account and an identity-based policy allows it");
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
                "the key policy trusts the caller and the caller's identity-based policy allows it"
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
    fn level_name(&self, i: usize) -> String {
        if self.trace {
            format!("level {i}")
        } else {
            String::new()
        }
    }

    fn allowed(&mut self, why: &str) -> Result<(), Failure> {
        self.note("result", "Allow", why);
        Ok(())
    }

    /// Evaluates a set of policies of one type; records a path entry per policy.
    fn policy_set(
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

    fn record(&mut self, layer: &'static str, name: &str, label: &str, eval: &Evaluation<'_>) {
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

    /// Is there a grant that allows the check (spec §3.2, §3.4)?
    fn find_grant(&mut self, check: &Check<'a>, key: &Key, account_delegation_ok: bool) -> bool {
        let Target::Key(_, key_idx) = check.target else {
            return false;
        };
        if matches!(check.grants, GrantRule::None) {
            return false;
        }
        let world = self.world;
        let mut notes: Vec<String> = Vec::new();
        let mut found = false;
        for g in world.grants.iter().filter(|g| g.key == key_idx) {
            let why_not = self.grant_rejects(g, check, account_delegation_ok);
            match why_not {
                None => {
                    notes.push(format!("grant {} applies", g.id));
                    found = true;
                    break;
                }
                Some(why) => notes.push(format!("grant {}: {why}", g.id)),
            }
        }
        if self.trace && !notes.is_empty() {
            self.path.push(PathEntry {
                layer: "grants".into(),
                check: format!("{} on {}", check.action, key.arn),
                policy: String::new(),
                verdict: if found {
                    "Allow".into()
                } else {
                    "NotApplicable".into()
                },
                statements: Vec::new(),
                note: notes.join("; ").into(),
            });
        }
        found
    }

    fn grant_rejects(
        &self,
        g: &Grant,
        check: &Check<'a>,
        account_delegation_ok: bool,
    ) -> Option<String> {
        match self.names_caller(&g.grantee) {
            Named::Exact | Named::Role => {}
            Named::Account if account_delegation_ok => {}
            Named::Account => return Some("the grantee is the caller's account, and no identity-based policy allows the action".into()),
            Named::No => return Some(format!("grantee {} is not the caller", g.grantee)),
        }
        match &check.grants {
            GrantRule::None => Some("grants cannot allow this operation".into()),
            GrantRule::Op(op) => {
                if !g.operations.iter().any(|o| o == op) {
                    return Some(format!("its operations do not include {op}"));
                }
                let op_has_context = self.call.operation.spec().encryption_context.is_some();
                if op_has_context && !constraints_hold(&g.constraints, check.constrained_context) {
                    return Some("the encryption context does not satisfy its constraints".into());
                }
                None
            }
            GrantRule::CreateGrant {
                operations,
                constraints,
            } => {
                if !g.operations.iter().any(|o| o == "CreateGrant") {
                    return Some("its operations do not include CreateGrant".into());
                }
                if let Some(op) = operations
                    .iter()
                    .find(|o| !g.operations.iter().any(|p| p == *o))
                {
                    return Some(format!(
                        "a grant it allows cannot add {op}, which it does not have"
                    ));
                }
                if !child_constraints_ok(&g.constraints, constraints) {
                    return Some(
                        "the new grant's constraints are less strict than this grant's".into(),
                    );
                }
                None
            }
        }
    }

    /// How an ARN in a grant names the caller.
    pub(crate) fn names_caller(&self, arn: &str) -> Named {
        let caller = self.caller.caller;
        if arn == caller.arn() {
            return Named::Exact;
        }
        let Some(account) = caller.account() else {
            return Named::No;
        };
        if arn == format!("arn:aws:iam::{account}:root") {
            return if caller.kind() == CallerKind::Root {
                Named::Exact
            } else {
                Named::Account
            };
        }
        if let (Some(role), Some(rest)) = (
            caller.role_name(),
            arn.strip_prefix(&format!("arn:aws:iam::{account}:role/")),
        ) {
            if rest.rsplit('/').next() == Some(role) {
                return Named::Role;
            }
        }
        Named::No
    }

    /// Checks that run after authorization, key state and usage.
    fn after_authorization(&mut self, op: Operation, plan: &Plan<'a>) -> Result<(), Failure> {
        match op {
            Operation::CreateAlias => {
                let name = self.str_param("AliasName").unwrap_or_default();
                let arn = format!(
                    "arn:aws:kms:{}:{}:{name}",
                    self.world.region,
                    self.caller_account()
                );
                if self.world.alias_to_key.contains_key(&arn) {
                    let f = Failure::error(
                        ErrorCode::AlreadyExistsException,
                        format!("An alias with the name {arn} already exists"),
                    );
                    self.note("alias", "Fail", &f.message);
                    return Err(f);
                }
            }
            Operation::CreateGrant => {
                if let Some(Check {
                    target: Target::Key(key, _),
                    grants: GrantRule::CreateGrant { operations, .. },
                    ..
                }) = plan.checks.first()
                {
                    if let Some(bad) = operations.iter().find(|o| !grant_operation_valid(key, o)) {
                        let f = Failure::error(
                            ErrorCode::ValidationException,
                            format!("Grant operation {bad} is not valid for a {} key with key usage {}.", key.spec, key.usage),
                        );
                        self.note("grant operations", "Fail", &f.message);
                        return Err(f);
                    }
                }
            }
            Operation::RevokeGrant => {
                let id = self.str_param("GrantId").unwrap_or_default();
                let on_key = plan.checks.first().and_then(|c| match c.target {
                    Target::Key(_, i) => Some(i),
                    _ => None,
                });
                if !self
                    .world
                    .grants
                    .iter()
                    .any(|g| g.id == id && Some(g.key) == on_key)
                {
                    let f = Failure::error(
                        ErrorCode::NotFoundException,
                        format!("Grant ID {id} not found"),
                    );
                    self.note("grant", "Fail", &f.message);
                    return Err(f);
                }
            }
            Operation::PutKeyPolicy => {
                if let Some(Check {
                    target: Target::Key(key, idx),
                    ..
                }) = plan.checks.first()
                {
                    let text = self.str_param("Policy").unwrap_or_default();
                    let policy = keypolicy::validate(text, &key.arn)
                        .inspect_err(|f| self.note("key policy document", "Fail", &f.message))?;
                    self.lockout_check(key, *idx, policy)?;
                }
            }
            Operation::CreateKey => {
                if let Some(text) = self.str_param("Policy") {
                    let arn = format!(
                        "arn:aws:kms:{}:{}:key/new-key",
                        self.world.region,
                        self.caller_account()
                    );
                    let policy = keypolicy::validate(text, &arn)
                        .inspect_err(|f| self.note("key policy document", "Fail", &f.message))?;
                    let key = Key {
                        arn,
                        id: "new-key".into(),
                        account: self.caller_account().to_owned(),
                        region: self.world.region.clone(),
                        policy: NamedPolicy {
                            name: "new key policy".into(),
                            policy: keypolicy::default_policy(self.caller_account()),
                        },
                        spec: self
                            .str_param("KeySpec")
                            .unwrap_or("SYMMETRIC_DEFAULT")
                            .to_owned(),
                        usage: self
                            .str_param("KeyUsage")
                            .unwrap_or("ENCRYPT_DECRYPT")
                            .to_owned(),
                        state: crate::world::KeyState::Enabled,
                        aws_managed: false,
                        origin: self.str_param("Origin").unwrap_or("AWS_KMS").to_owned(),
                        multi_region: false,
                        aliases: Vec::new(),
                        tags: Default::default(),
                    };
                    self.lockout_check(&key, usize::MAX, policy)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The new key policy must still let the caller call PutKeyPolicy (spec §2.6).
    fn lockout_check(&mut self, key: &Key, idx: usize, policy: Policy) -> Result<(), Failure> {
        if self
            .input
            .get("BypassPolicyLockoutSafetyCheck")
            .and_then(Value::as_bool)
            == Some(true)
        {
            self.note(
                "lockout safety check",
                "Skipped",
                "BypassPolicyLockoutSafetyCheck is true",
            );
            return Ok(());
        }
        let mut candidate = key.clone();
        candidate.policy = NamedPolicy {
            name: "new key policy".into(),
            policy,
        };
        let mut facts = Facts::default();
        self.common_params(&mut facts);
        let check = Check {
            action: Cow::Borrowed("kms:PutKeyPolicy"),
            target: Target::Key(&candidate, idx),
            facts,
            grants: GrantRule::None,
            constrained_context: None,
        };
        let trace = std::mem::replace(&mut self.trace, false);
        let allowed = self.authorize_local(&check).is_ok();
        self.trace = trace;
        if allowed {
            self.note(
                "lockout safety check",
                "Pass",
                "the new policy still lets the caller call PutKeyPolicy",
            );
            Ok(())
        } else {
            let f = Failure::error(
                ErrorCode::MalformedPolicyDocumentException,
                "The new key policy will not allow you to update the key policy in the future.",
            );
            self.note("lockout safety check", "Fail", &f.message);
            Err(f)
        }
    }

    /// `authorize` for a check that borrows locals (the lockout candidate):
    /// a run with a shorter lifetime decides it through the same layers.
    fn authorize_local(&mut self, check: &Check<'_>) -> Result<(), Failure> {
        let mut inner = Run {
            world: self.world,
            call: self.call,
            input: self.input,
            caller: self.caller.clone(),
            trace: false,
            path: Vec::new(),
        };
        inner.authorize(check)
    }
}

/// How a grant's principal ARN names the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Named {
    Exact,
    Role,
    Account,
    No,
}

fn principal_of(check: PrincipalCheck) -> Option<PrincipalMatch> {
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
    if layer != "key policy" || effect == Effect::Deny {
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

pub(crate) fn target_arn<'t>(target: &'t Target<'_>) -> &'t str {
    match target {
        Target::Key(k, _) => &k.arn,
        Target::Alias(a) => a,
        Target::Star => "*",
    }
}

/// Grant constraints from a CreateGrant request.
fn grant_constraints(value: Option<&Value>) -> GrantConstraints {
    let map = |m: Option<&Value>| {
        m.and_then(Value::as_object).map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
    };
    GrantConstraints {
        equals: map(value.and_then(|c| c.get("EncryptionContextEquals"))),
        subset: map(value.and_then(|c| c.get("EncryptionContextSubset"))),
    }
}

/// Grant constraints against a request's encryption context (spec §3.3):
/// keys compare case-insensitively, values exactly.
pub(crate) fn constraints_hold(c: &GrantConstraints, ec: Option<&Map<String, Value>>) -> bool {
    let find = |ec: &Map<String, Value>, k: &str| {
        let k = k.to_lowercase();
        ec.iter()
            .find(|(rk, _)| rk.to_lowercase() == k)
            .and_then(|(_, v)| v.as_str().map(str::to_owned))
    };
    if let Some(eq) = &c.equals {
        let Some(ec) = ec.filter(|e| !e.is_empty()) else {
            return eq.is_empty();
        };
        if ec.len() != eq.len()
            || !eq
                .iter()
                .all(|(k, v)| find(ec, k).as_deref() == Some(v.as_str()))
        {
            return false;
        }
    }
    if let Some(sub) = &c.subset {
        let empty = Map::new();
        let ec = ec.unwrap_or(&empty);
        if !sub
            .iter()
            .all(|(k, v)| find(ec, k).as_deref() == Some(v.as_str()))
        {
            return false;
        }
    }
    true
}

/// A child grant's constraints must be at least as strict as its parent's (spec §3.4).
fn child_constraints_ok(parent: &GrantConstraints, child: &GrantConstraints) -> bool {
    let contains = |outer: &std::collections::BTreeMap<String, String>,
                    inner: &std::collections::BTreeMap<String, String>| {
        inner.iter().all(|(k, v)| outer.get(k) == Some(v))
    };
    match (&parent.equals, &parent.subset) {
        (Some(p), _) => child.equals.as_ref() == Some(p),
        (None, Some(p)) => match (&child.equals, &child.subset) {
            (Some(c), _) => contains(c, p),
            (None, Some(c)) => contains(c, p),
            (None, None) => false,
        },
        (None, None) => true,
    }
}

impl Failure {
    pub(crate) fn with_outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }
}
