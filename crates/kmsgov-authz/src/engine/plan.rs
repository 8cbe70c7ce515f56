//! Planning a request: key resolution and the permission checks an operation
//! needs, with the condition facts taken from its body (spec §2.14, §5, §6).

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::{Check, GrantRule, Plan, Run, Target};
use crate::context::Facts;
use crate::decision::ErrorCode;
use crate::failure::Failure;
use crate::operation::{Operation, UsageNeed};
use crate::world::{GrantConstraints, Key};

impl<'a> Run<'a> {
    pub(crate) fn str_param(&self, name: &str) -> Option<&'a str> {
        self.input.get(name).and_then(Value::as_str)
    }

    pub(crate) fn caller_account(&self) -> &str {
        self.caller.caller.account().unwrap_or("")
    }

    /// Resolves a key identifier (spec §2.14): key ARN, alias ARN, alias name
    /// or bare key id; the last two in the caller's account and Region.
    pub(crate) fn resolve_key(
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
    pub(crate) fn plan(&mut self) -> Result<Plan<'a>, Failure> {
        use Operation as O;
        let op = self.call.operation;
        let spec = op.spec();
        let input = self.input;
        let mut plan = Plan {
            checks: Vec::new(),
            states: Vec::new(),
            usage: Vec::new(),
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
                plan.usage.push((src, UsageNeed::EncryptDecrypt));
                plan.usage.push((dst, UsageNeed::ReEncryptDestination));
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
                    plan.usage.push((key, spec.usage));
                }
            }
        }
        Ok(plan)
    }

    pub(crate) fn ciphertext_key(&mut self) -> Result<(&'a Key, usize, Option<&'a str>), Failure> {
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

    pub(crate) fn check(
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
    pub(crate) fn crypto_facts(
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
    pub(crate) fn common_params(&self, facts: &mut Facts<'a>) {
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
}

/// Grant constraints from a CreateGrant request.
pub(crate) fn grant_constraints(value: Option<&Value>) -> GrantConstraints {
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
        source_arn: value
            .and_then(|c| c.get("SourceArn"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    }
}
