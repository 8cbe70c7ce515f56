//! ReplicateKey and UpdatePrimaryRegion, and the `MultiRegionConfiguration`
//! of multi-Region keys.
//!
//! AWS KMS API Reference:
//! <https://docs.aws.amazon.com/kms/latest/APIReference/API_ReplicateKey.html>,
//! `API_UpdatePrimaryRegion.html`; Developer Guide, "Multi-Region keys in
//! AWS KMS" (<https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html>).
//!
//! # The model
//!
//! A kmsgov service answers for one Region, so it holds only the members of
//! a multi-Region key family that live in its Region. The rest of the family
//! is recorded as Region names on the key's record:
//!
//! - `primary_region`: `None` when the key here is the primary key, the
//!   primary key's Region when it is a replica;
//! - `replica_regions`: the Regions of the family's replica keys (for a
//!   replica, its own Region among them).
//!
//! ReplicateKey adds a Region to `replica_regions` and answers with the new
//! replica's metadata as it would be seen in that Region. The replica's own
//! key policy, description and tags are checked and echoed in the response
//! but not kept: no kmsgov service serves that Region's key. The policy is
//! checked as a document (MalformedPolicyDocumentException,
//! LimitExceededException), not by the lockout safety check, which would
//! need the replica Region's IAM. The replica is reported in the transient
//! `Creating` state AWS reports.
//!
//! UpdatePrimaryRegion makes a replica Region the primary: the key here
//! becomes a replica (`primary_region` is set, and this Region joins
//! `replica_regions` in place of the new primary's). AWS passes both keys
//! through a transient `Updating` state; here the change is complete when
//! the call returns. Both operations need the key Enabled (the engine checks
//! the state) and a multi-Region primary key.

use kmsgov_authz::{default_policy_text, key_policy_options, MAX_KEY_POLICY_BYTES};
use kmsgov_policy::Policy;
use serde_json::{json, Map, Value};

use super::params;
use super::Ctx;
use crate::error::{ErrorKind, KmsError};
use crate::service::{Kms, LiveKey};

/// ReplicateKey.
pub(crate) fn replicate_key(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let input = ctx.input;
    let key = ctx
        .kms
        .live_key(ctx.account, params::required(input, "KeyId")?)?;
    require_primary(&key)?;
    let region = params::required(input, "ReplicaRegion")?;
    check_region(region, "replicaRegion")?;
    if region == key.record.region || key.record.replica_regions.iter().any(|r| r == region) {
        return Err(KmsError::new(
            ErrorKind::AlreadyExistsException,
            format!(
                "The multi-Region key {} already has a related multi-Region key in {region}.",
                key.arn
            ),
        ));
    }
    let policy = match params::string(input, "Policy") {
        Some(text) => {
            check_policy(text)?;
            text.to_owned()
        }
        None => default_policy_text(&key.record.account),
    };
    let description = params::string(input, "Description").unwrap_or_default();
    if description.chars().count() > 8192 {
        return Err(KmsError::validation(
            "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192",
        ));
    }
    let tags = read_tags(input)?;

    let mut record = key.record.clone();
    record.replica_regions.push(region.to_owned());
    let live = ctx.kms.update_key(record)?;

    let mut metadata = super::keys::key_metadata(ctx.kms, &live);
    if let Value::Object(m) = &mut metadata {
        m.insert("Arn".into(), json!(arn_in(&live, region)));
        m.insert("CreationDate".into(), json!(ctx.now));
        m.insert("Description".into(), json!(description));
        m.insert("KeyState".into(), json!("Creating"));
        m.insert("Enabled".into(), json!(false));
        // The replica has no imported material of its own yet.
        m.remove("ValidTo");
        m.remove("ExpirationModel");
        m.remove("DeletionDate");
        m.remove("PendingDeletionWindowInDays");
        m.insert(
            "MultiRegionConfiguration".into(),
            configuration(&live, "REPLICA", &live.record.region),
        );
    }
    let tags: Vec<Value> = tags
        .iter()
        .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
        .collect();
    Ok(json!({
        "ReplicaKeyMetadata": metadata,
        "ReplicaPolicy": policy,
        "ReplicaTags": tags,
    }))
}

/// UpdatePrimaryRegion.
pub(crate) fn update_primary_region(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let key = ctx
        .kms
        .live_key(ctx.account, params::required(ctx.input, "KeyId")?)?;
    require_primary(&key)?;
    let region = params::required(ctx.input, "PrimaryRegion")?;
    check_region(region, "primaryRegion")?;
    if !key.record.replica_regions.iter().any(|r| r == region) {
        return Err(KmsError::not_found(format!(
            "The multi-Region key {} has no replica key in {region}.",
            key.arn
        )));
    }
    let mut record = key.record.clone();
    record.primary_region = Some(region.to_owned());
    let here = record.region.clone();
    record.replica_regions.retain(|r| r != region);
    record.replica_regions.push(here);
    ctx.kms.update_key(record)?;
    Ok(json!({}))
}

/// `MultiRegionConfiguration` of a multi-Region key's metadata.
pub(crate) fn metadata(_kms: &Kms, live: &LiveKey, m: &mut Map<String, Value>) {
    let r = &live.record;
    let (kind, primary) = match &r.primary_region {
        None => ("PRIMARY", r.region.as_str()),
        Some(p) => ("REPLICA", p.as_str()),
    };
    m.insert(
        "MultiRegionConfiguration".into(),
        configuration(live, kind, primary),
    );
}

// ----- helpers -----

/// The configuration of the family as seen from a key of type `kind`.
fn configuration(live: &LiveKey, kind: &str, primary_region: &str) -> Value {
    let replicas: Vec<Value> = live
        .record
        .replica_regions
        .iter()
        .map(|region| json!({"Arn": arn_in(live, region), "Region": region}))
        .collect();
    json!({
        "MultiRegionKeyType": kind,
        "PrimaryKey": {"Arn": arn_in(live, primary_region), "Region": primary_region},
        "ReplicaKeys": replicas,
    })
}

/// The ARN of the family's key in `region`.
fn arn_in(live: &LiveKey, region: &str) -> String {
    format!(
        "arn:aws:kms:{region}:{}:key/{}",
        live.record.account, live.record.key_id
    )
}

/// UnsupportedOperationException unless the key is a multi-Region primary key.
fn require_primary(key: &LiveKey) -> Result<(), KmsError> {
    if !key.record.multi_region {
        return Err(KmsError::new(
            ErrorKind::UnsupportedOperationException,
            format!("{} is not a multi-Region key.", key.arn),
        ));
    }
    if key.record.primary_region.is_some() {
        return Err(KmsError::new(
            ErrorKind::UnsupportedOperationException,
            format!("{} is not a multi-Region primary key.", key.arn),
        ));
    }
    Ok(())
}

/// A Region id: `^([a-z]+-){2,3}\d+$`, at most 32 characters.
fn check_region(region: &str, member: &str) -> Result<(), KmsError> {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = region.len() <= 32
        && (3..=4).contains(&parts.len())
        && parts.split_last().is_some_and(|(last, words)| {
            !last.is_empty()
                && last.bytes().all(|b| b.is_ascii_digit())
                && words
                    .iter()
                    .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        });
    if ok {
        Ok(())
    } else {
        Err(KmsError::validation(format!(
            "1 validation error detected: Value '{region}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([a-z]+-){{2,3}}\\d+$"
        )))
    }
}

/// A key policy document for the replica, with the errors PutKeyPolicy gives.
fn check_policy(text: &str) -> Result<(), KmsError> {
    if text.len() > MAX_KEY_POLICY_BYTES {
        return Err(KmsError::new(
            ErrorKind::LimitExceededException,
            format!(
                "The key policy is {} bytes; the maximum is {MAX_KEY_POLICY_BYTES}.",
                text.len()
            ),
        ));
    }
    Policy::parse(text, &key_policy_options()).map_err(|errors| {
        KmsError::new(
            ErrorKind::MalformedPolicyDocumentException,
            format!("The key policy is not valid: {errors}"),
        )
    })?;
    Ok(())
}

/// `Tags`, as TagResource takes them.
fn read_tags(input: &Map<String, Value>) -> Result<Vec<(String, String)>, KmsError> {
    let Some(value) = input.get("Tags").filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let bad = || {
        KmsError::new(
            ErrorKind::TagException,
            "Tags must be a list of {TagKey, TagValue} pairs",
        )
    };
    let mut tags: Vec<(String, String)> = Vec::new();
    for t in value.as_array().ok_or_else(bad)? {
        let key = t.get("TagKey").and_then(Value::as_str).ok_or_else(bad)?;
        let value = t.get("TagValue").and_then(Value::as_str).ok_or_else(bad)?;
        if key.is_empty() || key.chars().count() > 128 || value.chars().count() > 256 {
            return Err(bad());
        }
        if key.starts_with("aws:") {
            return Err(KmsError::new(
                ErrorKind::TagException,
                "Tag keys beginning with aws: are reserved for AWS use.",
            ));
        }
        match tags.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => value.clone_into(&mut slot.1),
            None => tags.push((key.to_owned(), value.to_owned())),
        }
    }
    Ok(tags)
}
