//! Checks after authorization: alias existence, grant operations, the key
//! policy document and the lockout safety check (spec §2.6, §2.7).

use std::borrow::Cow;

use kmsgov_policy::Policy;
use serde_json::Value;

use super::{Check, GrantRule, Plan, Run, Target};
use crate::context::Facts;
use crate::decision::ErrorCode;
use crate::failure::Failure;
use crate::keypolicy;
use crate::keystate::grant_operation_valid;
use crate::operation::Operation;
use crate::world::{Key, NamedPolicy};

impl<'a> Run<'a> {
    /// Checks that run after authorization, key state and usage.
    pub(crate) fn after_authorization(
        &mut self,
        op: Operation,
        plan: &Plan<'a>,
    ) -> Result<(), Failure> {
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
                if !is_grant_id(id) {
                    let f = invalid_grant_id(id);
                    self.note("grant", "Fail", &f.message);
                    return Err(f);
                }
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
    pub(crate) fn lockout_check(
        &mut self,
        key: &Key,
        idx: usize,
        policy: Policy,
    ) -> Result<(), Failure> {
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
    pub(crate) fn authorize_local(&mut self, check: &Check<'_>) -> Result<(), Failure> {
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

/// Whether `id` has the form of a KMS grant id: 64 hexadecimal digits.
pub(crate) fn is_grant_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `InvalidGrantIdException` for a grant id of the wrong form.
pub(crate) fn invalid_grant_id(id: &str) -> Failure {
    Failure::error(
        ErrorCode::InvalidGrantIdException,
        format!("Invalid grant ID {id}"),
    )
}
