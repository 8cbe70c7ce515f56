//! The guardrail layer: after every policy layer allowed a request, each
//! guardrail of the world may still deny it (`docs/guardrails.md`). The
//! input document is built only when the world has guardrails, and only the
//! members the guardrails read.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::BTreeMap;

use kmsgov_policy::{Context, ContextValue};
use serde_json::{Map, Value};

use super::{target_arn, Check, Run, Target};
use crate::context::{eq_lowered, Facts, KeyContext};
use crate::decision::PathEntry;
use crate::failure::Failure;
use crate::guardrail::{walk, Input, Verdict};
use crate::world::Key;

/// Condition keys the engine states for every request: (as AWS spells them,
/// the lower-cased name they are looked up by). Keys taken from the request body
/// that are not listed here keep the lower-cased name the engine uses.
const CONTEXT_KEYS: &[(&str, &str)] = &[
    ("aws:PrincipalArn", "aws:principalarn"),
    ("aws:PrincipalAccount", "aws:principalaccount"),
    ("aws:PrincipalType", "aws:principaltype"),
    ("aws:username", "aws:username"),
    ("aws:userid", "aws:userid"),
    ("aws:PrincipalOrgID", "aws:principalorgid"),
    ("aws:PrincipalOrgPaths", "aws:principalorgpaths"),
    ("aws:PrincipalIsAWSService", "aws:principalisawsservice"),
    ("aws:PrincipalServiceName", "aws:principalservicename"),
    ("aws:ResourceAccount", "aws:resourceaccount"),
    ("aws:ResourceOrgID", "aws:resourceorgid"),
    ("aws:ResourceOrgPaths", "aws:resourceorgpaths"),
    ("aws:RequestedRegion", "aws:requestedregion"),
    ("aws:CurrentTime", "aws:currenttime"),
    ("aws:EpochTime", "aws:epochtime"),
    ("aws:SecureTransport", "aws:securetransport"),
    ("aws:ViaAWSService", "aws:viaawsservice"),
    ("aws:TagKeys", "aws:tagkeys"),
    ("kms:CallerAccount", "kms:calleraccount"),
    ("kms:RequestAlias", "kms:requestalias"),
    ("kms:ReEncryptOnSameKey", "kms:reencryptonsamekey"),
    ("kms:KeySpec", "kms:keyspec"),
    ("kms:KeyUsage", "kms:keyusage"),
    ("kms:KeyOrigin", "kms:keyorigin"),
    ("kms:MultiRegion", "kms:multiregion"),
    ("kms:ResourceAliases", "kms:resourcealiases"),
    ("kms:EncryptionContextKeys", "kms:encryptioncontextkeys"),
    ("kms:CustomerMasterKeySpec", "kms:customermasterkeyspec"),
    ("kms:CustomerMasterKeyUsage", "kms:customermasterkeyusage"),
    (
        "kms:ScheduleKeyDeletionPendingWindowInDays",
        "kms:schedulekeydeletionpendingwindowindays",
    ),
    (
        "kms:BypassPolicyLockoutSafetyCheck",
        "kms:bypasspolicylockoutsafetycheck",
    ),
];

/// Request-parameter keys (from the body of the request), as AWS spells
/// them; the engine derives them under their lower-cased names without the
/// `kms:` prefix.
const PARAM_KEYS: &[(&str, &str)] = &[
    ("kms:DataKeyPairSpec", "datakeypairspec"),
    ("kms:EncryptionAlgorithm", "encryptionalgorithm"),
    ("kms:ExpirationModel", "expirationmodel"),
    ("kms:GrantConstraintType", "grantconstrainttype"),
    ("kms:GrantConstraintSourceArn", "grantconstraintsourcearn"),
    ("kms:GrantIsForAWSResource", "grantisforawsresource"),
    ("kms:GrantOperations", "grantoperations"),
    ("kms:GranteePrincipal", "granteeprincipal"),
    ("kms:KeyAgreementAlgorithm", "keyagreementalgorithm"),
    ("kms:MacAlgorithm", "macalgorithm"),
    ("kms:MessageType", "messagetype"),
    ("kms:MultiRegionKeyType", "multiregionkeytype"),
    ("kms:PrimaryRegion", "primaryregion"),
    ("kms:ReplicaRegion", "replicaregion"),
    ("kms:RetiringPrincipal", "retiringprincipal"),
    ("kms:RotationPeriodInDays", "rotationperiodindays"),
    (
        "kms:ScheduleKeyDeletionPendingWindowInDays",
        "schedulekeydeletionpendingwindowindays",
    ),
    ("kms:SigningAlgorithm", "signingalgorithm"),
    ("kms:ValidTo", "validto"),
    ("kms:WrappingAlgorithm", "wrappingalgorithm"),
    ("kms:WrappingKeySpec", "wrappingkeyspec"),
    (
        "kms:BypassPolicyLockoutSafetyCheck",
        "bypasspolicylockoutsafetycheck",
    ),
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
        // Evaluated first (the input borrows the run), reported after.
        // Without a trace only denials are kept (no allocation when every
        // guardrail passes).
        let verdicts: Vec<(usize, Verdict)> = {
            let input = LazyInput::new(self, subject, resource);
            let mut verdicts = Vec::new();
            for (i, g) in world.guardrails.iter().enumerate() {
                let verdict = g.evaluate(&input);
                if verdict != Verdict::Pass {
                    verdicts.push((i, verdict));
                    if !self.trace {
                        break;
                    }
                } else if self.trace {
                    verdicts.push((i, verdict));
                }
            }
            verdicts
        };
        let mut denial: Option<Failure> = None;
        for (i, verdict) in verdicts {
            let Some(g) = world.guardrails.get(i) else {
                continue;
            };
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

    /// The facts of the subject's first check and its key.
    fn guardrail_view<R>(
        &self,
        subject: &Subject<'_, '_>,
        f: impl FnOnce(Option<&Key>, &Facts<'_>) -> R,
    ) -> R {
        match subject.check {
            Some(c) => f(
                match c.target {
                    Target::Key(k, _) => Some(k),
                    _ => None,
                },
                &c.facts,
            ),
            None => f(None, &Facts::default()),
        }
    }

    /// `principal.tags`.
    fn guardrail_principal_tags(&self) -> Rv {
        Rv::from(
            self.caller
                .all_tags()
                .into_iter()
                .map(|(k, v)| (text(k), text(v)))
                .collect::<Obj>(),
        )
    }

    /// `encryption_context`: the first check's, else the request's, else
    /// the one the environment states.
    fn guardrail_encryption_context<'m>(
        &'m self,
        facts: &Facts<'m>,
    ) -> Cow<'m, Map<String, Value>> {
        match facts.encryption_context {
            Some(ec) => Cow::Borrowed(ec),
            None => match self.input_map().get("EncryptionContext") {
                Some(Value::Object(ec)) => Cow::Borrowed(ec),
                _ => Cow::Owned(self.env().encryption_context()),
            },
        }
    }

    /// One member of the input document (`docs/guardrail-input.schema.json`),
    /// built directly as a Rego value; undefined when the document has no
    /// such member.
    fn guardrail_member(&self, subject: &Subject<'_, '_>, resource: &str, member: Member) -> Rv {
        match member {
            Member::Action => text(subject.action),
            Member::Operation => text(subject.operation),
            Member::Resource => text(resource),
            Member::Request => json_object(self.input_map()),
            Member::Key => {
                self.guardrail_view(subject, |key, _| key.map_or(Rv::Undefined, key_value))
            }
            Member::EncryptionContext => self.guardrail_view(subject, |_, facts| {
                json_object(&self.guardrail_encryption_context(facts))
            }),
            Member::Principal => self.guardrail_view(subject, |key, facts| {
                let ctx = KeyContext {
                    world: self.world,
                    caller: &self.caller,
                    key,
                    facts,
                    env: self.env(),
                    for_key_policy: false,
                };
                let one = |lower: &str| ctx.get(lower).map_or(Rv::Null, context_value);
                let caller = &self.caller.caller;
                let mut principal = Obj::new();
                put(&mut principal, "arn", text(caller.arn()));
                put(
                    &mut principal,
                    "principal_arn",
                    text(&self.caller.principal_arn),
                );
                put(
                    &mut principal,
                    "account",
                    caller.account().map_or(Rv::Null, text),
                );
                put(&mut principal, "type", one("aws:principaltype"));
                put(&mut principal, "tags", self.guardrail_principal_tags());
                put(&mut principal, "org_id", one("aws:principalorgid"));
                put(
                    &mut principal,
                    "org_paths",
                    match one("aws:principalorgpaths") {
                        Rv::Null => Rv::from(Vec::new()),
                        v => v,
                    },
                );
                Rv::from(principal)
            }),
            Member::Context => self.guardrail_view(subject, |key, facts| {
                self.guardrail_context(key, facts, None)
            }),
        }
    }

    /// `context`: every condition key the engine can state; with `only`,
    /// the same object restricted to that member (the entries of other
    /// names are not computed).
    fn guardrail_context(&self, key: Option<&Key>, facts: &Facts<'_>, only: Option<&str>) -> Rv {
        let wanted = |name: &str| only.is_none_or(|n| n == name);
        let env = self.env();
        let ctx = KeyContext {
            world: self.world,
            caller: &self.caller,
            key,
            facts,
            env,
            for_key_policy: false,
        };
        let one = |lower: &str| ctx.get(lower).map_or(Rv::Null, context_value);
        let tags: Vec<(&str, &str)> = self.caller.all_tags().into_iter().collect();
        let encryption_context = self.guardrail_encryption_context(facts);

        // The environment's entries, as written, override what the engine
        // derives under the same (case-insensitive) name.
        let env_entries: Vec<(&str, Value)> = env.json_entries().collect();
        let in_env = |name: &str| {
            env_entries
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        let mut context = Obj::new();
        let add = |context: &mut Obj, name: String, value: Rv| {
            if wanted(&name) && !in_env(&name) {
                context.insert(Rv::from(name), value);
            }
        };
        for (name, lower) in CONTEXT_KEYS {
            if !wanted(name) {
                continue;
            }
            let v = one(lower);
            if v != Rv::Null {
                add(&mut context, (*name).to_owned(), v);
            }
        }
        for (name, value) in &facts.params {
            if !CONTEXT_KEYS.iter().any(|(_, k)| eq_kms(k, name)) {
                add(&mut context, param_name(name), text(value));
            }
        }
        for (name, values) in &facts.lists {
            if !CONTEXT_KEYS.iter().any(|(_, k)| eq_kms(k, name)) {
                let list = values.iter().map(|v| text(v)).collect::<Vec<_>>();
                add(&mut context, param_name(name), Rv::from(list));
            }
        }
        for (k, v) in &tags {
            add(&mut context, format!("aws:PrincipalTag/{k}"), text(v));
        }
        if let Some(key) = key {
            for (k, v) in &key.tags {
                add(&mut context, format!("aws:ResourceTag/{k}"), text(v));
            }
        }
        for (k, v) in &facts.request_tags {
            add(&mut context, format!("aws:RequestTag/{k}"), text(v));
        }
        for (k, v) in encryption_context.iter() {
            if let Value::String(v) = v {
                add(&mut context, format!("kms:EncryptionContext:{k}"), text(v));
            }
        }
        for (name, value) in &env_entries {
            if wanted(name) {
                context.insert(text(name), json_value(value));
            }
        }
        Rv::from(context)
    }
}

/// The members of the input document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    Principal,
    Action,
    Operation,
    Resource,
    Key,
    Request,
    EncryptionContext,
    Context,
}

/// Every member, with its name, in the order of `docs/guardrail-input.schema.json`.
const MEMBERS: [(Member, &str); 8] = [
    (Member::Principal, "principal"),
    (Member::Action, "action"),
    (Member::Operation, "operation"),
    (Member::Resource, "resource"),
    (Member::Key, "key"),
    (Member::Request, "request"),
    (Member::EncryptionContext, "encryption_context"),
    (Member::Context, "context"),
];

/// The input document of one decision, built member by member as the
/// guardrails read it: a compiled guardrail that reads `input.operation`
/// builds no other member; the whole document is built (once) only for a
/// guardrail the interpreter evaluates.
struct LazyInput<'r, 'w, 's, 'c, 'a> {
    run: &'r Run<'w>,
    subject: &'s Subject<'c, 'a>,
    resource: &'s str,
    members: [OnceCell<Rv>; 8],
    tags: OnceCell<Rv>,
    tag_map: OnceCell<BTreeMap<&'w str, &'w str>>,
    document: OnceCell<Rv>,
}

impl<'r, 'w, 's, 'c, 'a> LazyInput<'r, 'w, 's, 'c, 'a> {
    fn new(run: &'r Run<'w>, subject: &'s Subject<'c, 'a>, resource: &'s str) -> Self {
        LazyInput {
            run,
            subject,
            resource,
            members: Default::default(),
            tags: OnceCell::new(),
            tag_map: OnceCell::new(),
            document: OnceCell::new(),
        }
    }

    fn built(&self, member: Member) -> Option<&Rv> {
        let index = MEMBERS.iter().position(|(m, _)| *m == member)?;
        self.members.get(index)?.get()
    }

    fn context_built(&self) -> Option<&Rv> {
        self.built(Member::Context)
    }

    fn encryption_context_built(&self) -> Option<&Rv> {
        self.built(Member::EncryptionContext)
    }

    fn member(&self, index: usize) -> &Rv {
        match (self.members.get(index), MEMBERS.get(index)) {
            (Some(cell), Some((member, _))) => cell.get_or_init(|| {
                self.run
                    .guardrail_member(self.subject, self.resource, *member)
            }),
            _ => &Rv::Undefined,
        }
    }
}

impl Input for LazyInput<'_, '_, '_, '_, '_> {
    fn str_at(&self, path: &[Rv]) -> Option<&str> {
        let [member] = path else {
            return None;
        };
        match member.as_string().ok()?.as_ref() {
            "action" => Some(self.subject.action),
            "operation" => Some(self.subject.operation),
            "resource" => Some(self.resource),
            _ => None,
        }
    }

    fn get(&self, path: &[Rv]) -> Cow<'_, Rv> {
        let Some((first, rest)) = path.split_first() else {
            return Cow::Borrowed(self.document());
        };
        let Ok(name) = first.as_string() else {
            return Cow::Owned(Rv::Undefined);
        };
        // One entry of `principal.tags`, `context` or `encryption_context`
        // without the rest of the member (while the member is not built):
        // the same code builds it, restricted to that entry.
        match (name.as_ref(), rest.split_first()) {
            ("principal", Some((second, rest)))
                if second.as_string().is_ok_and(|s| s.as_ref() == "tags") =>
            {
                if let Some(tags) = self.tags.get() {
                    return Cow::Borrowed(walk(tags, rest));
                }
                let Some((tag, rest)) = rest.split_first() else {
                    let tags = self
                        .tags
                        .get_or_init(|| self.run.guardrail_principal_tags());
                    return Cow::Borrowed(tags);
                };
                let Ok(tag) = tag.as_string() else {
                    return Cow::Owned(Rv::Undefined);
                };
                let tags = self.tag_map.get_or_init(|| self.run.caller.all_tags());
                return Cow::Owned(match tags.get(tag.as_ref()) {
                    Some(v) => walk(&text(v), rest).clone(),
                    None => Rv::Undefined,
                });
            }
            ("context", Some((entry, rest))) if self.context_built().is_none() => {
                let Ok(entry) = entry.as_string() else {
                    return Cow::Owned(Rv::Undefined);
                };
                let one = self.run.guardrail_view(self.subject, |key, facts| {
                    self.run.guardrail_context(key, facts, Some(entry.as_ref()))
                });
                return Cow::Owned(walk(&one[&text(entry)], rest).clone());
            }
            ("encryption_context", Some((entry, rest)))
                if self.encryption_context_built().is_none() =>
            {
                let Ok(entry) = entry.as_string() else {
                    return Cow::Owned(Rv::Undefined);
                };
                let value = self.run.guardrail_view(self.subject, |_, facts| {
                    self.run
                        .guardrail_encryption_context(facts)
                        .get(entry.as_ref())
                        .map_or(Rv::Undefined, json_value)
                });
                return Cow::Owned(walk(&value, rest).clone());
            }
            _ => {}
        }
        match MEMBERS.iter().position(|(_, n)| *n == name.as_ref()) {
            Some(index) => Cow::Borrowed(walk(self.member(index), rest)),
            None => Cow::Owned(Rv::Undefined),
        }
    }

    fn document(&self) -> &Rv {
        self.document.get_or_init(|| {
            let mut doc = Obj::new();
            for (index, (_, name)) in MEMBERS.iter().enumerate() {
                let v = self.member(index);
                if *v != Rv::Undefined {
                    put(&mut doc, name, v.clone());
                }
            }
            Rv::from(doc)
        })
    }
}

/// A Rego value.
type Rv = regorus::Value;
/// A Rego object.
type Obj = BTreeMap<Rv, Rv>;

fn text(s: &str) -> Rv {
    Rv::from(s)
}

fn put(obj: &mut Obj, name: &str, value: Rv) {
    obj.insert(text(name), value);
}

/// A JSON value as a Rego value.
fn json_value(v: &Value) -> Rv {
    match v {
        Value::Null => Rv::Null,
        Value::Bool(b) => Rv::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Rv::from(i)
            } else if let Some(u) = n.as_u64() {
                Rv::from(u)
            } else {
                // Floats and numbers beyond 64 bits: regorus parses them
                // with its own precision.
                Rv::from(Value::Number(n.clone()))
            }
        }
        Value::String(s) => text(s),
        Value::Array(items) => Rv::from(items.iter().map(json_value).collect::<Vec<_>>()),
        Value::Object(m) => json_object(m),
    }
}

fn json_object(m: &Map<String, Value>) -> Rv {
    Rv::from(
        m.iter()
            .map(|(k, v)| (text(k), json_value(v)))
            .collect::<Obj>(),
    )
}

/// `kms:` and the AWS spelling of a request-parameter key the engine derives
/// (lower-cased, without prefix).
fn param_name(name: &str) -> String {
    PARAM_KEYS
        .iter()
        .find(|(_, lower)| *lower == name)
        .map_or_else(|| format!("kms:{name}"), |(aws, _)| (*aws).to_owned())
}

/// Does the canonical `kms:Name` correspond to the lower-cased `name`?
fn eq_kms(canonical: &str, name: &str) -> bool {
    canonical
        .strip_prefix("kms:")
        .is_some_and(|c| eq_lowered(c, name))
}

fn context_value(v: ContextValue<'_>) -> Rv {
    match v {
        ContextValue::One(s) => text(&s),
        ContextValue::Many(items) => Rv::from(items.iter().map(|s| text(s)).collect::<Vec<_>>()),
    }
}

fn key_value(key: &Key) -> Rv {
    let mut m = Obj::new();
    put(&mut m, "arn", text(&key.arn));
    put(&mut m, "id", text(&key.id));
    put(&mut m, "account", text(&key.account));
    put(&mut m, "region", text(&key.region));
    put(&mut m, "spec", text(&key.spec));
    put(&mut m, "usage", text(&key.usage));
    put(&mut m, "state", text(key.state.name()));
    put(
        &mut m,
        "tags",
        Rv::from(
            key.tags
                .iter()
                .map(|(k, v)| (text(k), text(v)))
                .collect::<Obj>(),
        ),
    );
    put(
        &mut m,
        "aliases",
        Rv::from(key.aliases.iter().map(|a| text(a)).collect::<Vec<_>>()),
    );
    put(&mut m, "origin", text(&key.origin));
    put(
        &mut m,
        "manager",
        text(if key.aws_managed { "AWS" } else { "CUSTOMER" }),
    );
    put(&mut m, "multi_region", Rv::Bool(key.multi_region));
    Rv::from(m)
}
