//! EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
//! RotateKeyOnDemand and ListKeyRotations.
//!
//! Rotation adds a version of key material; earlier versions stay, so every
//! ciphertext made under them still decrypts (it names its version). The
//! engine has already refused rotation on keys that do not support it
//! (asymmetric, HMAC, custom key stores, imported material) and answered the
//! key-state errors, except for ListKeyRotations, checked here.

use kmsgov_authz::KeyState;
use serde_json::{json, Map, Value};

use super::lifecycle::{named_key, pending_deletion, DAY};
use super::params::{self, Page};
use super::Ctx;
use crate::crypto::{KeyMaterial, KeySpec};
use crate::error::{ErrorKind, KmsError};
use crate::service::{Kms, LiveKey};
use crate::store::{KeyRecord, KeyVersionRecord, RotationRecord};

/// The rotation period EnableKeyRotation uses when the request names none.
const DEFAULT_ROTATION_PERIOD_DAYS: i64 = 365;

/// On-demand rotations AWS allows per key (a quota that cannot be raised).
pub(crate) const MAX_ON_DEMAND_ROTATIONS: usize = 25;

/// RotateKeyOnDemand is refused when an automatic rotation is due within
/// this many seconds.
const ON_DEMAND_CONFLICT_WINDOW: i64 = 20 * 60;

/// EnableKeyRotation: automatic rotation every `RotationPeriodInDays`
/// (90–2560, default 365). Enabling it anew schedules the first rotation one
/// period from now; changing the period of enabled rotation keeps the
/// schedule's starting point, so the next rotation moves by the difference.
pub(crate) fn enable_key_rotation(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let live = named_key(ctx)?;
    refuse_replica(&live)?;
    let days =
        params::integer(ctx.input, "RotationPeriodInDays").unwrap_or(DEFAULT_ROTATION_PERIOD_DAYS);
    let period_days = u32::try_from(days)
        .map_err(|_| KmsError::internal(format!("RotationPeriodInDays {days} out of range")))?;
    let period = days.saturating_mul(DAY);
    let mut record = live.record.clone();
    let next_rotation = match &record.rotation {
        Some(r) => {
            let start = r
                .next_rotation
                .saturating_sub(i64::from(r.period_days).saturating_mul(DAY));
            start.saturating_add(period)
        }
        None => ctx.now.saturating_add(period),
    };
    record.rotation = Some(RotationRecord {
        period_days,
        next_rotation,
    });
    ctx.kms.update_key(record)?;
    Ok(json!({}))
}

/// DisableKeyRotation.
pub(crate) fn disable_key_rotation(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let live = named_key(ctx)?;
    refuse_replica(&live)?;
    let mut record = live.record.clone();
    if record.rotation.take().is_some() {
        ctx.kms.update_key(record)?;
    }
    Ok(json!({}))
}

/// GetKeyRotationStatus. A key pending deletion reports rotation off (it is
/// not rotated); cancelling the deletion brings the setting back.
pub(crate) fn get_key_rotation_status(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let live = named_key(ctx)?;
    let rotation = live
        .record
        .rotation
        .as_ref()
        .filter(|_| !pending_deletion(&live.record));
    let mut out = Map::new();
    out.insert("KeyRotationEnabled".into(), json!(rotation.is_some()));
    out.insert("KeyId".into(), json!(live.arn));
    if let Some(r) = rotation {
        out.insert("RotationPeriodInDays".into(), json!(r.period_days));
        out.insert("NextRotationDate".into(), json!(r.next_rotation));
    }
    Ok(Value::Object(out))
}

/// RotateKeyOnDemand: a new version of key material now, whether or not
/// automatic rotation is enabled; the automatic schedule does not move.
pub(crate) fn rotate_key_on_demand(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let live = named_key(ctx)?;
    if live.record.origin == "EXTERNAL" {
        // On-demand rotation of imported keys needs new key material imported
        // first, which this service does not support.
        return Err(KmsError::new(
            ErrorKind::UnsupportedOperationException,
            format!(
                "{} origin is EXTERNAL which is not valid for this operation.",
                live.arn
            ),
        ));
    }
    refuse_replica(&live)?;
    let done = live.record.versions.iter().filter(|v| v.on_demand).count();
    if done >= MAX_ON_DEMAND_ROTATIONS {
        return Err(KmsError::new(
            ErrorKind::LimitExceededException,
            format!(
                "{} has reached the limit of {MAX_ON_DEMAND_ROTATIONS} on-demand rotations.",
                live.arn
            ),
        ));
    }
    if let Some(r) = &live.record.rotation {
        if r.next_rotation.saturating_sub(ctx.now) <= ON_DEMAND_CONFLICT_WINDOW {
            return Err(KmsError::new(
                ErrorKind::ConflictException,
                format!(
                    "An automatic rotation of {} is in progress or scheduled to begin within the next 20 minutes.",
                    live.arn
                ),
            ));
        }
    }
    let mut record = live.record.clone();
    add_version(ctx.kms, &mut record, ctx.now, true)?;
    let live = ctx.kms.update_key(record)?;
    Ok(json!({ "KeyId": live.arn }))
}

/// ListKeyRotations: one entry per rotation (every version after the first),
/// oldest first, paginated by `Limit` (1–1000, default 100) and `Marker`.
pub(crate) fn list_key_rotations(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let live = named_key(ctx)?;
    list_state_error(&live)?;
    let page = Page::read(ctx.input)?;
    let after = match page.after.as_deref() {
        None => 0,
        Some(m) => m.parse::<u32>().map_err(|_| invalid_marker())?,
    };
    let entries: Vec<&KeyVersionRecord> = live
        .record
        .versions
        .iter()
        .skip(1)
        .filter(|v| v.version > after)
        .take(page.limit.saturating_add(1))
        .collect();
    let (entries, extra) = page.finish(entries, |v| v.version.to_string());
    let rotations: Vec<Value> = entries
        .iter()
        .map(|v| {
            json!({
                "KeyId": live.record.key_id,
                "RotationDate": v.created,
                "RotationType": if v.on_demand { "ON_DEMAND" } else { "AUTOMATIC" },
            })
        })
        .collect();
    let mut out = Map::new();
    out.insert("Rotations".into(), Value::Array(rotations));
    out.extend(extra);
    Ok(Value::Object(out))
}

/// Adds a version of fresh key material to `record`, created at `created`.
pub(crate) fn add_version(
    kms: &Kms,
    record: &mut KeyRecord,
    created: i64,
    on_demand: bool,
) -> Result<(), KmsError> {
    let spec = record.key_spec.parse::<KeySpec>()?;
    let version = match record.versions.last() {
        Some(v) => v
            .version
            .checked_add(1)
            .ok_or_else(|| KmsError::internal("key version number overflow"))?,
        None => 1,
    };
    let material = KeyMaterial::generate(spec)?;
    let wrapped_material = kms.wrap(&record.key_id, version, &material)?;
    record.versions.push(KeyVersionRecord {
        version,
        created,
        on_demand,
        wrapped_material,
    });
    Ok(())
}

/// A multi-Region replica key shares its primary's material: rotation is
/// managed on the primary key only.
fn refuse_replica(live: &LiveKey) -> Result<(), KmsError> {
    if live.record.multi_region && live.record.primary_region.is_some() {
        return Err(KmsError::new(
            ErrorKind::UnsupportedOperationException,
            format!(
                "{} is a multi-Region replica key; rotation is managed on its primary key.",
                live.arn
            ),
        ));
    }
    Ok(())
}

/// The state and spec errors of ListKeyRotations: the same as those of
/// GetKeyRotationStatus.
fn list_state_error(live: &LiveKey) -> Result<(), KmsError> {
    let state = live.record.key_state.as_str();
    if state == KeyState::PendingImport.name() || state == KeyState::Unavailable.name() {
        let what = if state == KeyState::PendingImport.name() {
            "pending import"
        } else {
            "unavailable"
        };
        return Err(KmsError::new(
            ErrorKind::KMSInvalidStateException,
            format!("{} is {what}.", live.arn),
        ));
    }
    let rotatable = live.record.key_spec == KeySpec::SymmetricDefault.as_str()
        && live.record.origin != "AWS_CLOUDHSM"
        && live.record.origin != "EXTERNAL_KEY_STORE";
    if !rotatable {
        return Err(KmsError::new(
            ErrorKind::UnsupportedOperationException,
            format!("{} does not support automatic key rotation.", live.arn),
        ));
    }
    Ok(())
}

fn invalid_marker() -> KmsError {
    KmsError::new(
        ErrorKind::InvalidMarkerException,
        "The marker that specifies where pagination should next begin is not valid.",
    )
}
