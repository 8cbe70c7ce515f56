//! EnableKey, DisableKey, ScheduleKeyDeletion, CancelKeyDeletion, and what
//! falls due with time: scheduled deletion, automatic rotation and the expiry
//! of imported key material.
//!
//! The engine has already answered the key-state errors of these operations
//! (spec §2.10) and denied them on AWS managed keys, whose key policies do
//! not allow them; what is left here is the change itself.

use std::sync::Arc;

use kmsgov_authz::KeyState;
use serde_json::{json, Map, Value};

use super::params;
use super::rotation::add_version;
use super::Ctx;
use crate::error::KmsError;
use crate::service::{Kms, LiveKey};
use crate::store::KeyRecord;

/// Seconds in a day.
pub(crate) const DAY: i64 = 86_400;

/// The waiting period ScheduleKeyDeletion uses when the request names none.
const DEFAULT_PENDING_WINDOW_DAYS: i64 = 30;

/// EnableKey.
pub(crate) fn enable_key(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let live = named_key(ctx)?;
    let mut record = live.record.clone();
    if record.key_state == KeyState::Enabled.name() {
        return Ok(json!({}));
    }
    KeyState::Enabled.name().clone_into(&mut record.key_state);
    // A disabled key is not rotated. Re-enabled after its rotation date, it
    // rotates at once and every period from then on.
    if let Some(rotation) = record.rotation.as_mut() {
        rotation.next_rotation = rotation.next_rotation.max(ctx.now);
    }
    ctx.kms.update_key(record)?;
    Ok(json!({}))
}

/// DisableKey.
pub(crate) fn disable_key(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let live = named_key(ctx)?;
    let mut record = live.record.clone();
    if record.key_state == KeyState::Disabled.name() {
        return Ok(json!({}));
    }
    KeyState::Disabled.name().clone_into(&mut record.key_state);
    ctx.kms.update_key(record)?;
    Ok(json!({}))
}

/// ScheduleKeyDeletion: the key becomes `PendingDeletion` and is deleted
/// once `PendingWindowInDays` (7–30, default 30) have passed. A multi-Region
/// primary key with replicas becomes `PendingReplicaDeletion` instead, and
/// its waiting period starts only when its last replica is gone.
pub(crate) fn schedule_key_deletion(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let live = named_key(ctx)?;
    let days =
        params::integer(ctx.input, "PendingWindowInDays").unwrap_or(DEFAULT_PENDING_WINDOW_DAYS);
    let window = u32::try_from(days)
        .map_err(|_| KmsError::internal(format!("PendingWindowInDays {days} out of range")))?;
    let mut record = live.record.clone();
    record.pending_window_days = Some(window);
    let has_replicas = record.primary_region.is_none() && !record.replica_regions.is_empty();
    let state = if has_replicas {
        record.deletion_date = None;
        KeyState::PendingReplicaDeletion
    } else {
        record.deletion_date = Some(ctx.now.saturating_add(days.saturating_mul(DAY)));
        KeyState::PendingDeletion
    };
    state.name().clone_into(&mut record.key_state);
    let live = ctx.kms.update_key(record)?;
    let mut out = Map::new();
    out.insert("KeyId".into(), json!(live.arn));
    if let Some(date) = live.record.deletion_date {
        out.insert("DeletionDate".into(), json!(date));
    }
    out.insert("KeyState".into(), json!(state.name()));
    out.insert("PendingWindowInDays".into(), json!(window));
    Ok(Value::Object(out))
}

/// CancelKeyDeletion: the key becomes `Disabled`, or `PendingImport` when it
/// has no key material (an `EXTERNAL` key never imported into, or whose
/// imported material expired).
pub(crate) fn cancel_key_deletion(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let live = named_key(ctx)?;
    let mut record = live.record.clone();
    let state = if record.versions.is_empty() {
        KeyState::PendingImport
    } else {
        KeyState::Disabled
    };
    state.name().clone_into(&mut record.key_state);
    record.deletion_date = None;
    record.pending_window_days = None;
    let live = ctx.kms.update_key(record)?;
    Ok(json!({ "KeyId": live.arn }))
}

/// Carries out what has fallen due for a key at `now`: deletes it when its
/// deletion date has come; deletes imported key material whose `ValidTo`
/// has passed (the key goes to `PendingImport`, or stays pending deletion);
/// rotates an enabled key once for every rotation date that has come.
///
/// Runs under the service's writer lock.
pub(crate) fn carry_out_due(kms: &Kms, key: &LiveKey, now: i64) -> Result<(), KmsError> {
    let current = &key.record;
    if pending_deletion(current) && current.deletion_date.is_some_and(|d| d <= now) {
        return kms.remove_key(&current.key_id);
    }
    let mut record = current.clone();
    let mut changed = false;
    if record.material_valid_to.is_some_and(|t| t <= now)
        && record.key_state != KeyState::PendingImport.name()
    {
        record.versions.clear();
        record.material_valid_to = None;
        if !pending_deletion(&record) {
            KeyState::PendingImport
                .name()
                .clone_into(&mut record.key_state);
        }
        changed = true;
    }
    if record.key_state == KeyState::Enabled.name() && !record.versions.is_empty() {
        if let Some(mut rotation) = record.rotation.clone() {
            if rotation.next_rotation <= now {
                let period = i64::from(rotation.period_days.max(1)).saturating_mul(DAY);
                let due = now.saturating_sub(rotation.next_rotation) / period + 1;
                // After an absurdly long pause only the last rotations are
                // made: older versions would never have encrypted anything
                // that still exists here.
                let skipped = due.saturating_sub(MAX_CATCH_UP).max(0);
                rotation.next_rotation = rotation
                    .next_rotation
                    .saturating_add(skipped.saturating_mul(period));
                for _ in 0..due.min(MAX_CATCH_UP) {
                    add_version(kms, &mut record, rotation.next_rotation, false)?;
                    rotation.next_rotation = rotation.next_rotation.saturating_add(period);
                }
                record.rotation = Some(rotation);
                changed = true;
            }
        }
    }
    if changed {
        kms.update_key(record)?;
    }
    Ok(())
}

/// The most automatic rotations one tick makes for a key.
const MAX_CATCH_UP: i64 = 1000;

/// The key the request's `KeyId` names.
pub(crate) fn named_key(ctx: &Ctx<'_>) -> Result<Arc<LiveKey>, KmsError> {
    ctx.kms
        .live_key(ctx.account, params::required(ctx.input, "KeyId")?)
}

/// Whether the key waits for deletion.
pub(crate) fn pending_deletion(record: &KeyRecord) -> bool {
    record.key_state == KeyState::PendingDeletion.name()
        || record.key_state == KeyState::PendingReplicaDeletion.name()
}
