//! Deciding one KMS request: validation, key resolution, the permission
//! checks an operation needs, every policy layer, grants, key state and key
//! usage, in AWS's order (spec §2.10 "order of checks", §2.13, §2.14).

mod authorize;
pub(crate) mod finish;
mod grants;
mod guard;
mod plan;

pub(crate) use grants::Named;

use guard::Subject;

use std::borrow::Cow;

use kmsgov_policy::{Caller, CallerKind};
use serde_json::{Map, Value};

use crate::context::{CallerInfo, Environment, Facts};
use crate::decision::{Decision, ErrorCode, Outcome, PathEntry};
use crate::failure::Failure;
use crate::keystate::{state_error, usage_error};
use crate::operation::{Operation, StateRule, UsageNeed};
use crate::world::{GrantConstraints, Key, NamedPolicy, World};

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
    into_decision(result, run.path)
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
    let context = call.env.encryption_context();
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
            // Grant constraints compare with the encryption context the
            // environment states (`kms:EncryptionContext:<key>` entries).
            constrained_context: Some(&context),
        };
        run.authorize(&check)?;
        run.guardrails(&Subject {
            action: call.action,
            operation: name,
            check: Some(&check),
        })
    })();
    into_decision(result, run.path)
}

/// One action on no resource in particular (`*`), outside KMS's own API:
/// kmsgov's governance operations, such as `kmsgov:GetCheckpoint`. The
/// identity-based policies, permissions boundaries, session policies and
/// SCPs decide, as they decide `kms:CreateKey`; there is no key policy and
/// no grant.
#[derive(Debug, Clone, Copy)]
pub struct AccountActionCall<'a> {
    /// Who calls.
    pub caller: &'a Caller,
    /// The action, e.g. `kmsgov:GetCheckpoint`.
    pub action: &'a str,
    /// The request context (`aws:SourceIp`, …).
    pub env: &'a Environment<'a>,
}

/// Decides an action on `*`.
pub fn decide_account_action(
    world: &World,
    call: &AccountActionCall<'_>,
    trace: Trace,
) -> Decision {
    let empty = Map::new();
    let empty_value = Value::Object(Map::new());
    // The operation only shapes the run; nothing of CreateKey's own (its
    // request members, its key policy rules) is looked at here.
    let op_call = Call {
        caller: call.caller,
        operation: Operation::ListKeys,
        input: &empty_value,
        env: call.env,
        ciphertext_key: None,
    };
    let mut run = Run {
        world,
        call: &op_call,
        input: &empty,
        caller: CallerInfo::resolve(world, call.caller),
        trace: trace == Trace::Full,
        path: Vec::new(),
    };
    let check = Check {
        action: Cow::Borrowed(call.action),
        target: Target::Star,
        facts: Facts::default(),
        grants: GrantRule::None,
        constrained_context: None,
    };
    let result = run.authorize(&check).and_then(|()| {
        run.guardrails(&Subject {
            action: call.action,
            operation: action_name(call.action),
            check: Some(&check),
        })
    });
    into_decision(result, run.path)
}

/// `kmsgov:GetCheckpoint` → `GetCheckpoint`.
fn action_name(action: &str) -> &str {
    action.split_once(':').map_or(action, |(_, name)| name)
}

/// One IAM action on an IAM role: `sts:AssumeRole` (the role's trust policy
/// is the resource-based policy, and, as for key policies, it must allow the
/// caller or the caller's account explicitly) or `iam:PassRole` (identity-based
/// policies alone decide, within the caller's account). SCPs, RCPs of the
/// role's account (for `sts:AssumeRole`), permissions boundaries and session
/// policies apply as for any call.
#[derive(Debug, Clone, Copy)]
pub struct RoleActionCall<'a> {
    /// Who calls.
    pub caller: &'a Caller,
    /// The action, e.g. `sts:AssumeRole` or `iam:PassRole`.
    pub action: &'a str,
    /// The role's ARN.
    pub role: &'a str,
    /// The request context (`iam:PassedToService`, `sts:ExternalId`, …).
    pub env: &'a Environment<'a>,
}

/// Decides an action on a role. A role the world does not list has no trust
/// policy, so nobody can assume it.
pub fn decide_role_action(world: &World, call: &RoleActionCall<'_>, trace: Trace) -> Decision {
    let empty = Map::new();
    let empty_value = Value::Object(Map::new());
    let op_call = Call {
        caller: call.caller,
        operation: Operation::ListKeys,
        input: &empty_value,
        env: call.env,
        ciphertext_key: None,
    };
    let mut run = Run {
        world,
        call: &op_call,
        input: &empty,
        caller: CallerInfo::resolve(world, call.caller),
        trace: trace == Trace::Full,
        path: Vec::new(),
    };
    let account = call
        .role
        .strip_prefix("arn:")
        .and_then(|r| r.split(':').nth(3))
        .unwrap_or("");
    let assume = call.action.eq_ignore_ascii_case("sts:AssumeRole");
    let trust = world
        .principals
        .get(call.role)
        .and_then(|p| p.trust_policy.as_ref());
    if assume && trust.is_none() {
        let message = run.denied_message(call.action, call.role, false, "resource-based policy");
        run.note(
            "role trust policy",
            "NotApplicable",
            "the role has no trust policy in the world, so nobody can assume it",
        );
        return into_decision(Err(Failure::denied(message)), run.path);
    }
    let check = Check {
        action: Cow::Borrowed(call.action),
        target: Target::Role {
            arn: call.role,
            account,
            trust: trust.filter(|_| assume),
        },
        facts: Facts::default(),
        grants: GrantRule::None,
        constrained_context: None,
    };
    let result = run.authorize(&check).and_then(|()| {
        run.guardrails(&Subject {
            action: call.action,
            operation: action_name(call.action),
            check: Some(&check),
        })
    });
    into_decision(result, run.path)
}

fn into_decision(result: Result<(), Failure>, path: Vec<PathEntry>) -> Decision {
    let (outcome, message) = match result {
        Ok(()) => (Outcome::Allow, String::new()),
        Err(f) => (f.outcome, f.message),
    };
    Decision {
        outcome,
        message,
        path,
    }
}

/// The resource a permission is checked against.
#[derive(Debug, Clone)]
pub(crate) enum Target<'a> {
    Key(&'a Key, usize),
    Alias(String),
    Star,
    /// An IAM role; its trust policy is the resource-based policy of
    /// `sts:AssumeRole`, and no resource-based policy applies to other
    /// actions on it (`iam:PassRole`).
    Role {
        arn: &'a str,
        account: &'a str,
        trust: Option<&'a NamedPolicy>,
    },
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

pub(crate) struct Plan<'a> {
    pub(crate) checks: Vec<Check<'a>>,
    pub(crate) states: Vec<(&'a Key, StateRule)>,
    pub(crate) usage: Vec<(&'a Key, UsageNeed)>,
}

pub(crate) struct Run<'a> {
    pub(crate) world: &'a World,
    call: &'a Call<'a>,
    input: &'a Map<String, Value>,
    pub(crate) caller: CallerInfo<'a>,
    pub(crate) trace: bool,
    pub(crate) path: Vec<PathEntry>,
}

impl<'a> Run<'a> {
    pub(crate) fn run(&mut self) -> Result<(), Failure> {
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
            Operation::RetireGrant => {
                self.retire_grant()?;
                return self.operation_guardrails(op, None);
            }
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
        self.operation_guardrails(op, plan.checks.first())?;
        for (key, rule) in &plan.states {
            if let Some(f) = state_error(op, *rule, key) {
                self.note("key state", "Fail", &f.message);
                return Err(f);
            }
        }
        for &(key, need) in &plan.usage {
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

    /// The guardrail layer for an API operation (`kms:<Operation>`).
    fn operation_guardrails(
        &mut self,
        op: Operation,
        check: Option<&Check<'_>>,
    ) -> Result<(), Failure> {
        if self.world.guardrails.is_empty() {
            return Ok(());
        }
        let action = format!("kms:{}", op.name());
        self.guardrails(&Subject {
            action: &action,
            operation: op.name(),
            check,
        })
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

    pub(crate) fn deny(&mut self, check: &Check<'_>, explicit: bool, policy_type: &str) -> Failure {
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
}

pub(crate) fn target_arn<'t>(target: &'t Target<'_>) -> &'t str {
    match target {
        Target::Key(k, _) => &k.arn,
        Target::Alias(a) => a,
        Target::Star => "*",
        Target::Role { arn, .. } => arn,
    }
}

impl Failure {
    pub(crate) fn with_outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }
}
