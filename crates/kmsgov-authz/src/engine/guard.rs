//! The guardrail layer: after every policy layer allowed a request, each
//! guardrail of the world may still deny it (`docs/guardrails.md`). The
//! input document is built only when the world has guardrails.

use std::borrow::Cow;

use kmsgov_policy::{Context, ContextValue};
use serde_json::{Map, Value};

use super::{target_arn, Check, Run, Target};
use crate::context::{eq_lowered, Facts, KeyContext};
use crate::decision::PathEntry;
use crate::failure::Failure;
use crate::guardrail::Verdict;
use crate::world::Key;

/// Condition keys the engine states for every request, as AWS spells them;
/// looked up by their lower-cased names. Keys taken from the request body
/// that are not listed here keep the lower-cased name the engine uses.
const CONTEXT_KEYS: &[&str] = &[
    "aws:PrincipalArn",
    "aws:PrincipalAccount",
    "aws:PrincipalType",
    "aws:username",
    "aws:userid",
    "aws:PrincipalOrgID",
    "aws:PrincipalOrgPaths",
    "aws:PrincipalIsAWSService",
    "aws:PrincipalServiceName",
    "aws:ResourceAccount",
    "aws:ResourceOrgID",
    "aws:ResourceOrgPaths",
    "aws:RequestedRegion",
    "aws:CurrentTime",
    "aws:EpochTime",
    "aws:SecureTransport",
    "aws:ViaAWSService",
    "aws:TagKeys",
    "kms:CallerAccount",
    "kms:RequestAlias",
    "kms:ReEncryptOnSameKey",
    "kms:KeySpec",
    "kms:KeyUsage",
    "kms:KeyOrigin",
    "kms:MultiRegion",
    "kms:ResourceAliases",
    "kms:EncryptionContextKeys",
    "kms:CustomerMasterKeySpec",
    "kms:CustomerMasterKeyUsage",
    "kms:DataKeyPairSpec",
    "kms:EncryptionAlgorithm",
    "kms:ExpirationModel",
    "kms:GrantConstraintType",
    "kms:GrantIsForAWSResource",
    "kms:GrantOperations",
    "kms:GranteePrincipal",
    "kms:KeyAgreementAlgorithm",
    "kms:MacAlgorithm",
    "kms:MessageType",
    "kms:MultiRegionKeyType",
    "kms:PrimaryRegion",
    "kms:ReplicaRegion",
    "kms:RetiringPrincipal",
    "kms:RotationPeriodInDays",
    "kms:ScheduleKeyDeletionPendingWindowInDays",
    "kms:SigningAlgorithm",
    "kms:ValidTo",
    "kms:WrappingAlgorithm",
    "kms:WrappingKeySpec",
    "kms:BypassPolicyLockoutSafetyCheck",
];

/// What the guardrail layer is asked about.
pub(crate) struct Subject<'c, 'a> {
    /// The IAM action, e.g. `kms:Decrypt`.
    pub(crate) action: &'c str,
    /// The API operation, e.g. `Decrypt`.
    pub(crate) operation: &'c str,
    /// The first permission check of the request (its resource, key and
    /// condition facts), if any.
    pub(crate) check: Option<&'c Check<'a>>,
}

impl Run<'_> {
    /// Runs every guardrail of the world; the first that denies (or fails)
    /// denies the request. With a full trace every guardrail is evaluated
    /// and listed; otherwise evaluation stops at the first denial.
    pub(crate) fn guardrails(&mut self, subject: &Subject<'_, '_>) -> Result<(), Failure> {
        let world = self.world;
        if world.guardrails.is_empty() {
            return Ok(());
        }
        let resource = subject.check.map_or("*", |c| target_arn(&c.target));
        let input = regorus::Value::from(self.guardrail_input(subject, resource));
        let mut denial: Option<Failure> = None;
        for g in &world.guardrails {
            let verdict = g.evaluate(&input);
            let (label, note, reason) = match &verdict {
                Verdict::Pass => ("Pass", String::new(), None),
                Verdict::Deny(messages) => {
                    let joined = messages.join("; ");
                    ("ExplicitDeny", joined.clone(), Some(joined))
                }
                Verdict::Error(e) => (
                    "Error",
                    format!("evaluation failed, so the guardrail denies: {e}"),
                    Some(format!("evaluation failed: {e}")),
                ),
            };
            if self.trace {
                self.path.push(PathEntry {
                    layer: Cow::Borrowed("guardrail"),
                    check: format!("{} on {resource}", subject.action),
                    policy: g.name().to_owned(),
                    verdict: Cow::Borrowed(label),
                    statements: Vec::new(),
                    note: Cow::Owned(note),
                });
            }
            if let (Some(reason), None) = (reason, &denial) {
                let policy_type = format!("guardrail policy ({})", g.name());
                let mut message = self.denied_message(subject.action, resource, true, &policy_type);
                message.push_str(": ");
                message.push_str(&reason);
                denial = Some(Failure::denied(message));
                if !self.trace {
                    break;
                }
            }
        }
        match denial {
            Some(f) => {
                if self.trace {
                    self.path.push(PathEntry {
                        layer: "result".into(),
                        check: format!("{} on {resource}", subject.action),
                        policy: String::new(),
                        verdict: "Deny".into(),
                        statements: Vec::new(),
                        note: "explicit deny: guardrail policy".into(),
                    });
                }
                Err(f)
            }
            None => Ok(()),
        }
    }

    /// The input document (`docs/guardrail-input.schema.json`).
    fn guardrail_input(&self, subject: &Subject<'_, '_>, resource: &str) -> Value {
        let default_facts = Facts::default();
        let (key, facts) = match subject.check {
            Some(c) => (
                match c.target {
                    Target::Key(k, _) => Some(k),
                    _ => None,
                },
                &c.facts,
            ),
            None => (None, &default_facts),
        };
        let ctx = KeyContext {
            world: self.world,
            caller: &self.caller,
            key,
            facts,
            env: self.env(),
            for_key_policy: false,
        };
        let one = |name: &str| {
            let lower = name.to_ascii_lowercase();
            match ctx.get(&lower) {
                Some(v) => context_json(v),
                None => Value::Null,
            }
        };

        let caller = &self.caller.caller;
        let tags: Map<String, Value> = self
            .caller
            .all_tags()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect();
        let mut principal = Map::new();
        principal.insert("arn".into(), Value::String(caller.arn().to_owned()));
        principal.insert(
            "principal_arn".into(),
            Value::String(self.caller.principal_arn.to_string()),
        );
        principal.insert(
            "account".into(),
            caller
                .account()
                .map_or(Value::Null, |a| Value::String(a.to_owned())),
        );
        principal.insert("type".into(), one("aws:PrincipalType"));
        principal.insert("tags".into(), Value::Object(tags.clone()));
        principal.insert("org_id".into(), one("aws:PrincipalOrgID"));
        principal.insert(
            "org_paths".into(),
            match one("aws:PrincipalOrgPaths") {
                Value::Null => Value::Array(Vec::new()),
                v => v,
            },
        );

        let encryption_context = match facts.encryption_context {
            Some(ec) => ec.clone(),
            None => match self.input_map().get("EncryptionContext") {
                Some(Value::Object(ec)) => ec.clone(),
                _ => self.env().encryption_context(),
            },
        };

        let mut context = Map::new();
        for name in CONTEXT_KEYS {
            let v = one(name);
            if !v.is_null() {
                context.insert((*name).to_owned(), v);
            }
        }
        for (name, value) in &facts.params {
            if !CONTEXT_KEYS.iter().any(|k| eq_kms(k, name)) {
                context.insert(format!("kms:{name}"), Value::String(value.to_string()));
            }
        }
        for (name, values) in &facts.lists {
            if !CONTEXT_KEYS.iter().any(|k| eq_kms(k, name)) {
                context.insert(
                    format!("kms:{name}"),
                    Value::Array(
                        values
                            .iter()
                            .map(|v| Value::String(v.to_string()))
                            .collect(),
                    ),
                );
            }
        }
        for (k, v) in &tags {
            context.insert(format!("aws:PrincipalTag/{k}"), v.clone());
        }
        if let Some(key) = key {
            for (k, v) in &key.tags {
                context.insert(format!("aws:ResourceTag/{k}"), Value::String(v.clone()));
            }
        }
        for (k, v) in &facts.request_tags {
            context.insert(
                format!("aws:RequestTag/{k}"),
                Value::String((*v).to_owned()),
            );
        }
        for (k, v) in &encryption_context {
            if v.is_string() {
                context.insert(format!("kms:EncryptionContext:{k}"), v.clone());
            }
        }
        for (name, value) in self.env().json_entries() {
            // The environment overrides what the engine derives.
            context.retain(|k, _| !k.eq_ignore_ascii_case(name));
            context.insert(name.to_owned(), value);
        }

        let mut doc = Map::new();
        doc.insert("principal".into(), Value::Object(principal));
        doc.insert("action".into(), Value::String(subject.action.to_owned()));
        doc.insert(
            "operation".into(),
            Value::String(subject.operation.to_owned()),
        );
        doc.insert("resource".into(), Value::String(resource.to_owned()));
        if let Some(key) = key {
            doc.insert("key".into(), key_json(key));
        }
        doc.insert("request".into(), Value::Object(self.input_map().clone()));
        doc.insert(
            "encryption_context".into(),
            Value::Object(encryption_context),
        );
        doc.insert("context".into(), Value::Object(context));
        Value::Object(doc)
    }
}

/// Does the canonical `kms:Name` correspond to the lower-cased `name`?
fn eq_kms(canonical: &str, name: &str) -> bool {
    canonical
        .strip_prefix("kms:")
        .is_some_and(|c| eq_lowered(c, name))
}

fn context_json(v: ContextValue<'_>) -> Value {
    match v {
        ContextValue::One(s) => Value::String(s.into_owned()),
        ContextValue::Many(items) => Value::Array(
            items
                .into_iter()
                .map(|s| Value::String(s.into_owned()))
                .collect(),
        ),
    }
}

fn key_json(key: &Key) -> Value {
    let mut m = Map::new();
    m.insert("arn".into(), Value::String(key.arn.clone()));
    m.insert("id".into(), Value::String(key.id.clone()));
    m.insert("account".into(), Value::String(key.account.clone()));
    m.insert("region".into(), Value::String(key.region.clone()));
    m.insert("spec".into(), Value::String(key.spec.clone()));
    m.insert("usage".into(), Value::String(key.usage.clone()));
    m.insert("state".into(), Value::String(key.state.name().to_owned()));
    m.insert(
        "tags".into(),
        Value::Object(
            key.tags
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        ),
    );
    m.insert(
        "aliases".into(),
        Value::Array(
            key.aliases
                .iter()
                .map(|a| Value::String(a.clone()))
                .collect(),
        ),
    );
    m.insert("origin".into(), Value::String(key.origin.clone()));
    m.insert(
        "manager".into(),
        Value::String(if key.aws_managed { "AWS" } else { "CUSTOMER" }.to_owned()),
    );
    m.insert("multi_region".into(), Value::Bool(key.multi_region));
    Value::Object(m)
}
