//! CreateAlias, UpdateAlias, DeleteAlias and ListAliases.
//!
//! The engine has already checked the alias name (and refused the reserved
//! `alias/aws/` prefix for CreateAlias), found the alias or found it taken,
//! resolved the target key, authorized the caller on the alias and on the
//! keys, refused keys of other accounts and AWS managed keys (their key
//! policies do not allow alias changes), and applied the key-state rules.
//! Every change is written to the store first and then to the authorization
//! world, so the next request resolves the alias as changed.

use serde_json::{json, Map, Value};

use super::params::{self, Page};
use super::Ctx;
use crate::error::{ErrorKind, KmsError};
use crate::service::LiveKey;
use crate::store::{AliasRecord, StoreError};

/// Aliases AWS allows per KMS key (its default quota).
pub(crate) const MAX_ALIASES_PER_KEY: usize = 50;

/// ListAliases returns this many aliases when the request sets no `Limit`.
const DEFAULT_LIST_LIMIT: i64 = 50;

/// The largest `Limit` ListAliases accepts.
const MAX_LIST_LIMIT: i64 = 100;

/// CreateAlias.
pub(crate) fn create_alias(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let name = params::required(ctx.input, "AliasName")?;
    let key = ctx
        .kms
        .live_key(ctx.account, params::required(ctx.input, "TargetKeyId")?)?;
    check_alias_quota(ctx, &key)?;
    let alias = AliasRecord {
        account: ctx.account.to_owned(),
        region: ctx.kms.region().to_owned(),
        name: name.to_owned(),
        key_id: key.record.key_id.clone(),
        creation_date: ctx.now,
        last_updated: ctx.now,
    };
    match ctx.kms.store().create_alias(&alias) {
        Ok(()) => {}
        // Taken meanwhile, by another service on the same store.
        Err(StoreError::Conflict) => {
            return Err(KmsError::new(
                ErrorKind::AlreadyExistsException,
                format!(
                    "An alias with the name {} already exists",
                    alias_arn(ctx, name)
                ),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    ctx.kms.apply_alias(None, Some(&alias));
    Ok(json!({}))
}

/// UpdateAlias: points an existing alias at another key of the same type
/// (symmetric, asymmetric or HMAC) and key usage.
pub(crate) fn update_alias(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let name = params::required(ctx.input, "AliasName")?;
    let old = stored_alias(ctx, name)?;
    let key = ctx
        .kms
        .live_key(ctx.account, params::required(ctx.input, "TargetKeyId")?)?;
    if super::lifecycle::pending_deletion(&key.record) {
        return Err(KmsError::new(
            ErrorKind::KMSInvalidStateException,
            format!("{} is pending deletion.", key.arn),
        ));
    }
    if let Some(current) = ctx.kms.live_key_by_id(&old.key_id) {
        let (from, to) = (&current.record, &key.record);
        if key_type(&from.key_spec) != key_type(&to.key_spec) || from.key_usage != to.key_usage {
            return Err(KmsError::validation(format!(
                "Alias {} cannot be moved from a {} key with key usage {} to a {} key with key usage {}: \
                 the current and new KMS key must be the same type and have the same key usage.",
                alias_arn(ctx, name),
                key_type(&from.key_spec),
                from.key_usage,
                key_type(&to.key_spec),
                to.key_usage,
            )));
        }
    }
    if key.record.key_id != old.key_id {
        check_alias_quota(ctx, &key)?;
    }
    let alias = AliasRecord {
        key_id: key.record.key_id.clone(),
        last_updated: ctx.now,
        ..old.clone()
    };
    ctx.kms
        .store()
        .update_alias(&alias)
        .map_err(|e| alias_error(ctx, name, e))?;
    ctx.kms.apply_alias(Some(&old), Some(&alias));
    Ok(json!({}))
}

/// DeleteAlias.
pub(crate) fn delete_alias(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let name = params::required(ctx.input, "AliasName")?;
    let old = stored_alias(ctx, name)?;
    ctx.kms
        .store()
        .delete_alias(ctx.account, ctx.kms.region(), name)
        .map_err(|e| alias_error(ctx, name, e))?;
    ctx.kms.apply_alias(Some(&old), None);
    Ok(json!({}))
}

/// ListAliases: the aliases of the caller's account in this Region, by name,
/// optionally only those of one key (`KeyId`: key id or key ARN); `Limit`
/// 1–100 (default 50) and `Marker` paginate.
pub(crate) fn list_aliases(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let limit = params::integer(ctx.input, "Limit").unwrap_or(DEFAULT_LIST_LIMIT);
    if limit > MAX_LIST_LIMIT {
        return Err(KmsError::validation(format!(
            "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: \
             Member must have value less than or equal to {MAX_LIST_LIMIT}"
        )));
    }
    let page = Page {
        limit: usize::try_from(limit).unwrap_or(1).max(1),
        ..Page::read(ctx.input)?
    };
    let key_id = match params::string(ctx.input, "KeyId") {
        Some(id) => Some(ctx.kms.live_key(ctx.account, id)?.record.key_id.clone()),
        None => None,
    };
    let records = ctx.kms.store().list_aliases(
        ctx.account,
        ctx.kms.region(),
        key_id.as_deref(),
        page.after.as_deref(),
        page.limit.saturating_add(1),
    )?;
    let (records, extra) = page.finish(records, |a| a.name.clone());
    let aliases: Vec<Value> = records
        .iter()
        .map(|a| {
            json!({
                "AliasName": a.name,
                "AliasArn": format!("arn:aws:kms:{}:{}:{}", a.region, a.account, a.name),
                "TargetKeyId": a.key_id,
                "CreationDate": a.creation_date,
                "LastUpdatedDate": a.last_updated,
            })
        })
        .collect();
    let mut out = Map::new();
    out.insert("Aliases".into(), Value::Array(aliases));
    out.extend(extra);
    Ok(Value::Object(out))
}

/// `LimitExceededException` when the key has as many aliases as it may.
fn check_alias_quota(ctx: &Ctx<'_>, key: &LiveKey) -> Result<(), KmsError> {
    if ctx.kms.aliases_of(&key.arn).len() >= MAX_ALIASES_PER_KEY {
        return Err(KmsError::new(
            ErrorKind::LimitExceededException,
            format!(
                "{} already has {MAX_ALIASES_PER_KEY} aliases, the most a KMS key may have.",
                key.arn
            ),
        ));
    }
    Ok(())
}

/// The stored alias `name` of the caller's account.
fn stored_alias(ctx: &Ctx<'_>, name: &str) -> Result<AliasRecord, KmsError> {
    ctx.kms
        .store()
        .alias(ctx.account, ctx.kms.region(), name)?
        .ok_or_else(|| alias_not_found(ctx, name))
}

fn alias_error(ctx: &Ctx<'_>, name: &str, e: StoreError) -> KmsError {
    match e {
        StoreError::NotFound => alias_not_found(ctx, name),
        other => other.into(),
    }
}

fn alias_not_found(ctx: &Ctx<'_>, name: &str) -> KmsError {
    KmsError::not_found(format!("Alias {} is not found.", alias_arn(ctx, name)))
}

fn alias_arn(ctx: &Ctx<'_>, name: &str) -> String {
    format!("arn:aws:kms:{}:{}:{name}", ctx.kms.region(), ctx.account)
}

/// The key type UpdateAlias compares: symmetric, HMAC or asymmetric.
fn key_type(spec: &str) -> &'static str {
    if spec == "SYMMETRIC_DEFAULT" {
        "symmetric"
    } else if spec.starts_with("HMAC_") {
        "HMAC"
    } else {
        "asymmetric"
    }
}
