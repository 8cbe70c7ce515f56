//! CreateGrant, ListGrants, ListRetirableGrants, RetireGrant and RevokeGrant.
//!
//! AWS KMS API Reference:
//! <https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html>,
//! `API_ListGrants.html`, `API_ListRetirableGrants.html`,
//! `API_RetireGrant.html`, `API_RevokeGrant.html`.
//!
//! The engine has already decided who may create, retire or revoke a grant,
//! checked the key state, that each grant operation suits the key, and that
//! a grant named for RetireGrant or RevokeGrant exists. What is left here is
//! what the request body says beyond the engine's validation (the exclusive
//! principal members, service principals, constraint limits), the name-based
//! idempotency of CreateGrant, the grant limit, and the store.
//!
//! # Grant tokens
//!
//! A grant is live the moment CreateGrant returns: kmsgov has no eventual
//! consistency to bridge, so a grant token has nothing to carry but the
//! grant's identity. CreateGrant therefore returns the grant id as the
//! `GrantToken`, and the engine accepts a grant id wherever a grant token is
//! taken (`GrantTokens`, RetireGrant's `GrantToken`). AWS returns a fresh
//! token on every call; all tokens of a grant are interchangeable there too.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::params::{self, Page};
use super::Ctx;
use crate::error::{ErrorKind, KmsError};
use crate::service::{Kms, LiveKey};
use crate::store::{GrantRecord, StoreError};

/// The most grants one key may have (AWS quota "Grants per KMS key").
const MAX_GRANTS_PER_KEY: usize = 50_000;

/// The most encryption context pairs in one grant constraint.
const MAX_CONSTRAINT_PAIRS: usize = 8;

/// The longest encryption context value in a grant constraint.
const MAX_CONSTRAINT_VALUE_CHARS: usize = 384;

/// How many grant records a listing reads from the store at a time.
const BATCH: usize = 1000;

/// ListGrants and ListRetirableGrants accept a `Limit` of at most this
/// (AWS: 1–100) …
const MAX_LIST_LIMIT: i64 = 100;

/// … and return this many grants when the request sets none.
const DEFAULT_LIST_LIMIT: i64 = 50;

/// CreateGrant.
pub(crate) fn create_grant(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let key = ctx
        .kms
        .live_key(ctx.account, params::required(ctx.input, "KeyId")?)?;
    let request = GrantRequest::read(ctx.input, &key)?;
    if request.name.is_some() {
        if let Some(existing) = find_identical(ctx, &key, &request)? {
            return Ok(json!({ "GrantId": existing, "GrantToken": existing }));
        }
    }
    let count = {
        let state = ctx.kms.read_state();
        let index = state.world.key_index(&key.arn);
        state
            .world
            .grants
            .iter()
            .filter(|g| Some(g.key) == index)
            .count()
    };
    if count >= MAX_GRANTS_PER_KEY {
        return Err(KmsError::new(
            ErrorKind::LimitExceededException,
            format!(
                "The number of grants on {} exceeds the limit of {MAX_GRANTS_PER_KEY}.",
                key.arn
            ),
        ));
    }
    let grant_id = new_grant_id()?;
    let record = GrantRecord {
        grant_id: grant_id.clone(),
        key_id: key.record.key_id.clone(),
        name: request.name,
        creation_date: ctx.now,
        grantee: request.grantee,
        retiring_principal: request.retiring,
        issuing_account: ctx.account.to_owned(),
        operations: request.operations,
        encryption_context_equals: request.equals,
        encryption_context_subset: request.subset,
        source_arn: request.source_arn,
    };
    ctx.kms.store().create_grant(&record)?;
    ctx.kms.apply_grant_created(&record);
    Ok(json!({ "GrantId": grant_id, "GrantToken": grant_id }))
}

/// ListGrants: the grants of one key, optionally only the one with
/// `GrantId` or those for `GranteePrincipal`.
pub(crate) fn list_grants(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let key = ctx
        .kms
        .live_key(ctx.account, params::required(ctx.input, "KeyId")?)?;
    let page = Page::read_at_most(ctx.input, MAX_LIST_LIMIT, DEFAULT_LIST_LIMIT)?;
    let grant_id = params::string(ctx.input, "GrantId");
    if let Some(id) = grant_id {
        check_grant_id(id)?;
    }
    let grantee = params::string(ctx.input, "GranteePrincipal");
    let records = filtered_page(ctx.kms, &key.record.key_id, &page, |g| {
        grant_id.is_none_or(|id| g.grant_id == id) && grantee.is_none_or(|p| g.grantee == p)
    })?;
    let (records, extra) = page.finish(records, |g| g.grant_id.clone());
    let grants: Vec<Value> = records.iter().map(|g| grant_entry(g, &key.arn)).collect();
    let mut out = Map::new();
    out.insert("Grants".into(), Value::Array(grants));
    out.extend(extra);
    Ok(Value::Object(out))
}

/// ListRetirableGrants: grants whose retiring principal is
/// `RetiringPrincipal`.
///
/// For a principal of the caller's account these are its grants on keys of
/// any account (as in AWS); for a principal of another account, only its
/// grants on the caller's own keys, so no account learns of grants on keys
/// it neither owns nor may retire from.
pub(crate) fn list_retirable_grants(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let principal = params::required(ctx.input, "RetiringPrincipal")?;
    let principal_account = principal_account(principal).ok_or_else(|| {
        KmsError::new(
            ErrorKind::InvalidArnException,
            format!("Invalid arn {principal}"),
        )
    })?;
    let own_principal = principal_account == ctx.account;
    let page = Page::read_at_most(ctx.input, MAX_LIST_LIMIT, DEFAULT_LIST_LIMIT)?;
    let mut ids: Vec<(String, String)> = {
        let state = ctx.kms.read_state();
        state
            .world
            .grants
            .iter()
            .filter(|g| g.retiring_principal.as_deref() == Some(principal))
            .filter_map(|g| {
                let key = state.world.keys.get(g.key)?;
                (own_principal || key.account == ctx.account)
                    .then(|| (g.id.clone(), key.arn.clone()))
            })
            .filter(|(id, _)| page.after.as_deref().is_none_or(|a| id.as_str() > a))
            .collect()
    };
    ids.sort();
    ids.truncate(page.limit.saturating_add(1));
    let mut records = Vec::with_capacity(ids.len());
    for (id, arn) in ids {
        if let Some(record) = ctx.kms.store().grant(&id)? {
            records.push((record, arn));
        }
    }
    let (records, extra) = page.finish(records, |(g, _)| g.grant_id.clone());
    let grants: Vec<Value> = records.iter().map(|(g, arn)| grant_entry(g, arn)).collect();
    let mut out = Map::new();
    out.insert("Grants".into(), Value::Array(grants));
    out.extend(extra);
    Ok(Value::Object(out))
}

/// RetireGrant: by `GrantToken`, or by `KeyId` and `GrantId`. The engine has
/// found the grant and decided that the caller may retire it.
pub(crate) fn retire_grant(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let grant_id = match params::string(ctx.input, "GrantToken") {
        Some(token) => ctx
            .kms
            .read_state()
            .world
            .grant(token)
            .map(|g| g.id.clone())
            .ok_or_else(|| {
                KmsError::new(
                    ErrorKind::InvalidGrantTokenException,
                    "The grant token is not valid.",
                )
            })?,
        None => {
            let key = ctx
                .kms
                .live_key(ctx.account, params::required(ctx.input, "KeyId")?)?;
            let id = params::required(ctx.input, "GrantId")?;
            check_grant_id(id)?;
            grant_on_key(ctx.kms, &key, id)?;
            id.to_owned()
        }
    };
    delete_grant(ctx.kms, &grant_id)?;
    Ok(json!({}))
}

/// RevokeGrant.
pub(crate) fn revoke_grant(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let key = ctx
        .kms
        .live_key(ctx.account, params::required(ctx.input, "KeyId")?)?;
    let id = params::required(ctx.input, "GrantId")?;
    check_grant_id(id)?;
    grant_on_key(ctx.kms, &key, id)?;
    delete_grant(ctx.kms, id)?;
    Ok(json!({}))
}

/// Whether `id` has the form of a grant id this service issues: 64
/// hexadecimal digits.
fn is_grant_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

// ----- helpers -----

/// What a CreateGrant request asks for, read and checked.
#[derive(Debug)]
struct GrantRequest {
    grantee: String,
    retiring: Option<String>,
    operations: Vec<String>,
    equals: Option<BTreeMap<String, String>>,
    subset: Option<BTreeMap<String, String>>,
    source_arn: Option<String>,
    name: Option<String>,
}

impl GrantRequest {
    fn read(input: &Map<String, Value>, key: &LiveKey) -> Result<GrantRequest, KmsError> {
        let grantee = one_of(input, "GranteePrincipal", "GranteeServicePrincipal")?
            .ok_or_else(|| missing("granteePrincipal"))?;
        let retiring = one_of(input, "RetiringPrincipal", "RetiringServicePrincipal")?;
        let mut operations: Vec<String> = Vec::new();
        for op in input
            .get("Operations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !operations.iter().any(|o| o == op) {
                operations.push(op.to_owned());
            }
        }
        let constraints = input.get("Constraints").and_then(Value::as_object);
        let equals = constraint_map(constraints, "EncryptionContextEquals")?;
        let subset = constraint_map(constraints, "EncryptionContextSubset")?;
        let source_arn = match constraints.and_then(|c| c.get("SourceArn")) {
            None | Some(Value::Null) => None,
            Some(v) => {
                let arn = v.as_str().unwrap_or_default();
                if !is_source_arn(arn) {
                    return Err(KmsError::validation(format!(
                        "1 validation error detected: Value '{arn}' at 'constraints.sourceArn' failed to satisfy constraint: Member must satisfy regular expression pattern: ^arn:aws[a-z0-9-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{{12}}:.+$"
                    )));
                }
                Some(arn.to_owned())
            }
        };
        if (equals.is_some() || subset.is_some()) && key.record.key_spec != "SYMMETRIC_DEFAULT" {
            return Err(KmsError::validation(format!(
                "Encryption context grant constraints are not supported for {} keys: operations with {} do not take an encryption context.",
                key.record.key_spec, key.arn
            )));
        }
        if let Some(Grantee::Service(_)) = Grantee::of(Some(&grantee)) {
            if source_arn.is_none() {
                return Err(KmsError::validation(
                    "A grant for a GranteeServicePrincipal must have a SourceArn grant constraint.",
                ));
            }
            if retiring.is_none() {
                return Err(KmsError::validation(
                    "A grant for a GranteeServicePrincipal must have a RetiringPrincipal or a RetiringServicePrincipal.",
                ));
            }
        }
        Ok(GrantRequest {
            grantee,
            retiring,
            operations,
            equals,
            subset,
            source_arn,
            name: params::string(input, "Name").map(str::to_owned),
        })
    }

    /// Whether `g` is the grant this request would create (CreateGrant's
    /// idempotency by name).
    fn is_identical(&self, g: &GrantRecord, issuing_account: &str) -> bool {
        let set = |ops: &[String]| ops.iter().cloned().collect::<BTreeSet<String>>();
        g.name == self.name
            && g.grantee == self.grantee
            && g.retiring_principal == self.retiring
            && g.issuing_account == issuing_account
            && set(&g.operations) == set(&self.operations)
            && g.encryption_context_equals == self.equals
            && g.encryption_context_subset == self.subset
            && g.source_arn == self.source_arn
    }
}

/// A grant's principal: an IAM principal ARN or an AWS service principal.
enum Grantee<'a> {
    Arn(&'a str),
    Service(&'a str),
}

impl<'a> Grantee<'a> {
    /// Service principals are stored as they came (`rds.amazonaws.com`);
    /// every IAM principal is an ARN.
    fn of(principal: Option<&'a str>) -> Option<Grantee<'a>> {
        let p = principal?;
        Some(if p.starts_with("arn:") {
            Grantee::Arn(p)
        } else {
            Grantee::Service(p)
        })
    }
}

/// The value of `arn_member` or `service_member` (not both), checked against
/// the member's pattern.
fn one_of(
    input: &Map<String, Value>,
    arn_member: &str,
    service_member: &str,
) -> Result<Option<String>, KmsError> {
    match (
        params::string(input, arn_member),
        params::string(input, service_member),
    ) {
        (Some(_), Some(_)) => Err(KmsError::validation(format!(
            "You must specify either {arn_member} or {service_member}, but not both."
        ))),
        (Some(p), None) => {
            let ok = (1..=256).contains(&p.len())
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@:/-".contains(&b));
            if !ok {
                return Err(KmsError::validation(format!(
                    "1 validation error detected: Value '{p}' at '{}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[\\w+=,.@:/-]+$",
                    params::lower_first(arn_member)
                )));
            }
            Ok(Some(p.to_owned()))
        }
        (None, Some(p)) => {
            let ok = (1..=256).contains(&p.len())
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b))
                && !p.starts_with("arn:");
            if !ok {
                return Err(KmsError::validation(format!(
                    "1 validation error detected: Value '{p}' at '{}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9.-]+$",
                    params::lower_first(service_member)
                )));
            }
            Ok(Some(p.to_owned()))
        }
        (None, None) => Ok(None),
    }
}

/// An encryption context constraint, within AWS's limits.
fn constraint_map(
    constraints: Option<&Map<String, Value>>,
    member: &str,
) -> Result<Option<BTreeMap<String, String>>, KmsError> {
    let Some(map) = constraints
        .and_then(|c| c.get(member))
        .and_then(Value::as_object)
    else {
        return Ok(None);
    };
    if map.len() > MAX_CONSTRAINT_PAIRS {
        return Err(KmsError::validation(format!(
            "1 validation error detected: Value at 'constraints.{}' failed to satisfy constraint: Member must have at most {MAX_CONSTRAINT_PAIRS} encryption context pairs",
            params::lower_first(member)
        )));
    }
    let mut out = BTreeMap::new();
    for (k, v) in map {
        let v = v.as_str().unwrap_or_default();
        if v.chars().count() > MAX_CONSTRAINT_VALUE_CHARS {
            return Err(KmsError::validation(format!(
                "1 validation error detected: Value at 'constraints.{}' failed to satisfy constraint: Encryption context values must have length less than or equal to {MAX_CONSTRAINT_VALUE_CHARS}",
                params::lower_first(member)
            )));
        }
        out.insert(k.clone(), v.to_owned());
    }
    Ok(Some(out))
}

/// `^arn:aws[a-z0-9-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{12}:.+$`, 20–512 characters.
fn is_source_arn(arn: &str) -> bool {
    if !(20..=512).contains(&arn.chars().count()) {
        return false;
    }
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let lower = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    match parts.as_slice() {
        [arn_word, partition, service, region, account, resource] => {
            *arn_word == "arn"
                && partition.starts_with("aws")
                && lower(partition)
                && !service.is_empty()
                && lower(service)
                && lower(region)
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && !resource.is_empty()
        }
        _ => false,
    }
}

/// The account of an IAM principal ARN (`arn:aws:iam::ACCOUNT:…` or
/// `arn:aws:sts::ACCOUNT:…`).
fn principal_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(_service), Some(_region), Some(account), Some(rest)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let ok = partition.starts_with("aws")
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !rest.is_empty();
    ok.then_some(account)
}

/// A grant with the same name and parameters on the key, if there is one.
fn find_identical(
    ctx: &Ctx<'_>,
    key: &LiveKey,
    request: &GrantRequest,
) -> Result<Option<String>, KmsError> {
    let all = Page {
        limit: usize::MAX - 1,
        after: None,
    };
    let found = filtered_page(ctx.kms, &key.record.key_id, &all, |g| {
        request.is_identical(g, ctx.account)
    })?;
    Ok(found.into_iter().next().map(|g| g.grant_id))
}

/// The grants of a key after `page.after` that satisfy `keep`, in grant id
/// order, at most `page.limit + 1` of them (so the page can tell whether it
/// is truncated).
fn filtered_page(
    kms: &Kms,
    key_id: &str,
    page: &Page,
    keep: impl Fn(&GrantRecord) -> bool,
) -> Result<Vec<GrantRecord>, KmsError> {
    let want = page.limit.saturating_add(1);
    let mut out = Vec::new();
    let mut cursor = page.after.clone();
    loop {
        let batch = kms.store().list_grants(key_id, cursor.as_deref(), BATCH)?;
        let exhausted = batch.len() < BATCH;
        cursor = batch.last().map(|g| g.grant_id.clone());
        for g in batch {
            if keep(&g) {
                out.push(g);
                if out.len() >= want {
                    return Ok(out);
                }
            }
        }
        if exhausted || cursor.is_none() {
            return Ok(out);
        }
    }
}

/// A `GrantListEntry`.
fn grant_entry(g: &GrantRecord, key_arn: &str) -> Value {
    let mut m = Map::new();
    m.insert("KeyId".into(), json!(key_arn));
    m.insert("GrantId".into(), json!(g.grant_id));
    if let Some(name) = &g.name {
        m.insert("Name".into(), json!(name));
    }
    m.insert("CreationDate".into(), json!(g.creation_date));
    if let Some(Grantee::Service(p)) = Grantee::of(Some(&g.grantee)) {
        m.insert("GranteeServicePrincipal".into(), json!(p));
    } else {
        m.insert("GranteePrincipal".into(), json!(g.grantee));
    }
    match Grantee::of(g.retiring_principal.as_deref()) {
        Some(Grantee::Service(p)) => {
            m.insert("RetiringServicePrincipal".into(), json!(p));
        }
        Some(Grantee::Arn(p)) => {
            m.insert("RetiringPrincipal".into(), json!(p));
        }
        None => {}
    }
    m.insert(
        "IssuingAccount".into(),
        json!(format!("arn:aws:iam::{}:root", g.issuing_account)),
    );
    m.insert("Operations".into(), json!(g.operations));
    let mut c = Map::new();
    if let Some(eq) = &g.encryption_context_equals {
        c.insert("EncryptionContextEquals".into(), json!(eq));
    }
    if let Some(sub) = &g.encryption_context_subset {
        c.insert("EncryptionContextSubset".into(), json!(sub));
    }
    if let Some(arn) = &g.source_arn {
        c.insert("SourceArn".into(), json!(arn));
    }
    if !c.is_empty() {
        m.insert("Constraints".into(), Value::Object(c));
    }
    Value::Object(m)
}

/// `NotFoundException` unless grant `id` is on `key` (the engine checks this
/// too; the store is asked again under the writer lock).
fn grant_on_key(kms: &Kms, key: &LiveKey, id: &str) -> Result<(), KmsError> {
    match kms.store().grant(id)? {
        Some(g) if g.key_id == key.record.key_id => Ok(()),
        _ => Err(grant_not_found(id)),
    }
}

/// Deletes a grant in the store, then in memory.
fn delete_grant(kms: &Kms, id: &str) -> Result<(), KmsError> {
    match kms.store().delete_grant(id) {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(grant_not_found(id)),
        Err(e) => return Err(e.into()),
    }
    kms.apply_grant_deleted(id);
    Ok(())
}

fn grant_not_found(id: &str) -> KmsError {
    KmsError::not_found(format!("Grant ID {id} not found"))
}

/// `InvalidGrantIdException` for an id that is not of the form grant ids take.
fn check_grant_id(id: &str) -> Result<(), KmsError> {
    if is_grant_id(id) {
        Ok(())
    } else {
        Err(KmsError::new(
            ErrorKind::InvalidGrantIdException,
            format!("Invalid grant ID {id}"),
        ))
    }
}

fn missing(member: &str) -> KmsError {
    KmsError::validation(format!(
        "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
    ))
}

/// A new grant id: 32 random bytes as 64 lowercase hexadecimal digits.
fn new_grant_id() -> Result<String, KmsError> {
    let bytes = crate::crypto::random_bytes(32)?;
    Ok(crate::crypto::hex(bytes.expose()))
}
