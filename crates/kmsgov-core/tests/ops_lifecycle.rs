//! EnableKey, DisableKey, ScheduleKeyDeletion and CancelKeyDeletion through
//! the service; deletion when the date comes, expiry of imported key
//! material, and AWS managed keys.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/harness.rs"]
mod harness;

use harness::{b64, unb64, Harness, ACCOUNT, START};
use kmsgov_core::ErrorKind;
use serde_json::{json, Value};

const DAY: i64 = 86_400;

fn key_arn(id: &str) -> String {
    format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{id}")
}

fn encrypt(h: &Harness, id: &str, text: &[u8]) -> Value {
    h.ok(
        "admin",
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(text)}),
    )["CiphertextBlob"]
        .clone()
}

#[test]
fn disable_and_enable_switch_the_key_off_and_on() {
    let h = Harness::new();
    let id = h.symmetric_key();
    assert_eq!(h.ok("admin", "DisableKey", json!({"KeyId": id})), json!({}));
    let md = h.describe(&id);
    assert_eq!(md["KeyState"], "Disabled");
    assert_eq!(md["Enabled"], false);
    let e = h.err(
        "admin",
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(b"x")}),
        ErrorKind::DisabledException,
    );
    assert_eq!(e.message, format!("{} is disabled.", key_arn(&id)));
    // Disabling a disabled key is not an error.
    h.ok("admin", "DisableKey", json!({"KeyId": id}));
    assert_eq!(
        h.ok("admin", "EnableKey", json!({"KeyId": key_arn(&id)})),
        json!({})
    );
    let md = h.describe(&id);
    assert_eq!(md["KeyState"], "Enabled");
    assert_eq!(md["Enabled"], true);
    h.ok("admin", "EnableKey", json!({"KeyId": id}));
    encrypt(&h, &id, b"x");
}

#[test]
fn enable_and_disable_errors() {
    let h = Harness::new();
    let id = h.symmetric_key();
    for op in ["EnableKey", "DisableKey"] {
        h.err(
            "admin",
            op,
            json!({"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
            ErrorKind::NotFoundException,
        );
        h.err("admin", op, json!({}), ErrorKind::ValidationException);
        h.err(
            "alice",
            op,
            json!({"KeyId": id}),
            ErrorKind::AccessDeniedException,
        );
        h.err(
            "mallory",
            op,
            json!({"KeyId": key_arn(&id)}),
            ErrorKind::AccessDeniedException,
        );
    }
    // An EXTERNAL key without material is pending import.
    let external = h.create_key(json!({"Origin": "EXTERNAL"}));
    let e = h.err(
        "admin",
        "EnableKey",
        json!({"KeyId": external}),
        ErrorKind::KMSInvalidStateException,
    );
    assert_eq!(
        e.message,
        format!("{} is pending import.", key_arn(&external))
    );
    // A key pending deletion can be neither enabled nor disabled.
    h.ok("admin", "ScheduleKeyDeletion", json!({"KeyId": id}));
    for op in ["EnableKey", "DisableKey"] {
        let e = h.err(
            "admin",
            op,
            json!({"KeyId": id}),
            ErrorKind::KMSInvalidStateException,
        );
        assert_eq!(e.message, format!("{} is pending deletion.", key_arn(&id)));
    }
    // Nothing changed the key.
    assert_eq!(h.describe(&id)["KeyState"], "PendingDeletion");
}

#[test]
fn schedule_key_deletion_answers_as_aws_does() {
    let h = Harness::new();
    let id = h.symmetric_key();
    let out = h.ok("admin", "ScheduleKeyDeletion", json!({"KeyId": id}));
    assert_eq!(
        out,
        json!({
            "KeyId": key_arn(&id),
            "DeletionDate": START + 30 * DAY,
            "KeyState": "PendingDeletion",
            "PendingWindowInDays": 30,
        })
    );
    let md = h.describe(&id);
    assert_eq!(md["KeyState"], "PendingDeletion");
    assert_eq!(md["Enabled"], false);
    assert_eq!(md["DeletionDate"], START + 30 * DAY);
    assert_eq!(md["PendingDeletionWindowInDays"], 30);
    let e = h.err(
        "admin",
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(b"x")}),
        ErrorKind::KMSInvalidStateException,
    );
    assert_eq!(e.message, format!("{} is pending deletion.", key_arn(&id)));
    h.err(
        "admin",
        "ScheduleKeyDeletion",
        json!({"KeyId": id}),
        ErrorKind::KMSInvalidStateException,
    );

    // The shortest window, on a disabled key.
    let short = h.symmetric_key();
    h.ok("admin", "DisableKey", json!({"KeyId": short}));
    h.clock.advance(5);
    let out = h.ok(
        "admin",
        "ScheduleKeyDeletion",
        json!({"KeyId": short, "PendingWindowInDays": 7}),
    );
    assert_eq!(out["DeletionDate"], START + 5 + 7 * DAY);
    assert_eq!(out["PendingWindowInDays"], 7);

    // A key pending import can be scheduled for deletion too.
    let external = h.create_key(json!({"Origin": "EXTERNAL"}));
    let out = h.ok(
        "admin",
        "ScheduleKeyDeletion",
        json!({"KeyId": external, "PendingWindowInDays": 30}),
    );
    assert_eq!(out["KeyState"], "PendingDeletion");
}

#[test]
fn schedule_key_deletion_errors() {
    let h = Harness::new();
    let id = h.symmetric_key();
    for days in [6, 31, 0, -1] {
        h.err(
            "admin",
            "ScheduleKeyDeletion",
            json!({"KeyId": id, "PendingWindowInDays": days}),
            ErrorKind::ValidationException,
        );
    }
    h.err(
        "admin",
        "ScheduleKeyDeletion",
        json!({"KeyId": id, "PendingWindowInDays": "7"}),
        ErrorKind::ValidationException,
    );
    h.err(
        "admin",
        "ScheduleKeyDeletion",
        json!({"KeyId": "alias/none"}),
        ErrorKind::NotFoundException,
    );
    h.err(
        "alice",
        "ScheduleKeyDeletion",
        json!({"KeyId": id}),
        ErrorKind::AccessDeniedException,
    );
    // None of the failures touched the key.
    assert_eq!(h.describe(&id)["KeyState"], "Enabled");
}

#[test]
fn cancel_key_deletion_leaves_the_key_disabled() {
    let h = Harness::new();
    let id = h.symmetric_key();
    let e = h.err(
        "admin",
        "CancelKeyDeletion",
        json!({"KeyId": id}),
        ErrorKind::KMSInvalidStateException,
    );
    assert_eq!(
        e.message,
        format!("{} is not pending deletion.", key_arn(&id))
    );
    let ct = encrypt(&h, &id, b"still here");
    h.ok(
        "admin",
        "ScheduleKeyDeletion",
        json!({"KeyId": id, "PendingWindowInDays": 7}),
    );
    let out = h.ok("admin", "CancelKeyDeletion", json!({"KeyId": id}));
    assert_eq!(out, json!({"KeyId": key_arn(&id)}));
    let md = h.describe(&id);
    assert_eq!(md["KeyState"], "Disabled");
    assert!(md.get("DeletionDate").is_none(), "{md}");
    assert!(md.get("PendingDeletionWindowInDays").is_none(), "{md}");
    h.err(
        "admin",
        "Decrypt",
        json!({"CiphertextBlob": ct}),
        ErrorKind::DisabledException,
    );
    h.err(
        "admin",
        "CancelKeyDeletion",
        json!({"KeyId": id}),
        ErrorKind::KMSInvalidStateException,
    );
    // The old deletion date passes without effect.
    h.clock.advance_days(8);
    h.ok("admin", "EnableKey", json!({"KeyId": id}));
    let pt = h.ok("admin", "Decrypt", json!({"CiphertextBlob": ct}));
    assert_eq!(unb64(&pt["Plaintext"]), b"still here");

    // A key without key material goes back to pending import.
    let external = h.create_key(json!({"Origin": "EXTERNAL"}));
    h.ok("admin", "ScheduleKeyDeletion", json!({"KeyId": external}));
    h.ok("admin", "CancelKeyDeletion", json!({"KeyId": external}));
    assert_eq!(h.describe(&external)["KeyState"], "PendingImport");

    h.err(
        "alice",
        "CancelKeyDeletion",
        json!({"KeyId": external}),
        ErrorKind::AccessDeniedException,
    );
    h.err(
        "admin",
        "CancelKeyDeletion",
        json!({"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
        ErrorKind::NotFoundException,
    );
}

#[test]
fn a_key_disappears_when_its_deletion_date_passes() {
    let h = Harness::new();
    let id = h.symmetric_key();
    let keep = h.symmetric_key();
    h.ok(
        "admin",
        "CreateAlias",
        json!({"AliasName": "alias/doomed", "TargetKeyId": id}),
    );
    let ct = encrypt(&h, &id, b"gone");
    h.ok(
        "admin",
        "ScheduleKeyDeletion",
        json!({"KeyId": id, "PendingWindowInDays": 7}),
    );
    h.clock.advance(7 * DAY - 1);
    assert_eq!(h.describe(&id)["KeyState"], "PendingDeletion");
    h.clock.advance(1);
    let e = h.err(
        "admin",
        "DescribeKey",
        json!({"KeyId": id}),
        ErrorKind::NotFoundException,
    );
    assert!(e.message.contains(&id), "{}", e.message);
    h.err(
        "admin",
        "DescribeKey",
        json!({"KeyId": "alias/doomed"}),
        ErrorKind::NotFoundException,
    );
    assert!(h
        .call("admin", "Decrypt", json!({"CiphertextBlob": ct}))
        .is_err());
    let aliases = h.ok("admin", "ListAliases", json!({}));
    assert_eq!(aliases["Aliases"], json!([]));
    let keys = h.ok("admin", "ListKeys", json!({}));
    assert_eq!(
        keys["Keys"],
        json!([{"KeyId": keep, "KeyArn": key_arn(&keep)}])
    );
    // Gone from the store too: a restarted service does not know it.
    assert!(h.store.key(&id).unwrap().is_none());
    let reopened = h.reopen();
    reopened.err(
        "admin",
        "DescribeKey",
        json!({"KeyId": id}),
        ErrorKind::NotFoundException,
    );
    // The alias name is free again.
    reopened.ok(
        "admin",
        "CreateAlias",
        json!({"AliasName": "alias/doomed", "TargetKeyId": keep}),
    );
}

#[test]
fn deletion_falls_due_while_the_service_is_down() {
    let h = Harness::new();
    let id = h.symmetric_key();
    h.ok(
        "admin",
        "ScheduleKeyDeletion",
        json!({"KeyId": id, "PendingWindowInDays": 7}),
    );
    h.clock.advance_days(10);
    let reopened = h.reopen();
    reopened.kms.tick().unwrap();
    assert!(reopened.store.key(&id).unwrap().is_none());
    reopened.err(
        "admin",
        "DescribeKey",
        json!({"KeyId": id}),
        ErrorKind::NotFoundException,
    );
}

/// Turns a stored key into one with imported material valid until `valid_to`
/// (as ImportKeyMaterial would leave it) and reopens the service on it.
fn with_imported_material(h: &Harness, id: &str, valid_to: Option<i64>) -> Harness {
    let mut record = h.store.key(id).unwrap().unwrap();
    record.origin = "EXTERNAL".into();
    record.material_valid_to = valid_to;
    h.store.update_key(&record).unwrap();
    h.reopen()
}

#[test]
fn expired_imported_material_is_deleted() {
    let h = Harness::new();
    let id = h.symmetric_key();
    let ct = encrypt(&h, &id, b"imported");
    let h = with_imported_material(&h, &id, Some(START + DAY));
    let md = h.describe(&id);
    assert_eq!(md["KeyState"], "Enabled");
    assert_eq!(md["ValidTo"], START + DAY);
    assert_eq!(md["ExpirationModel"], "KEY_MATERIAL_EXPIRES");
    let pt = h.ok("admin", "Decrypt", json!({"CiphertextBlob": ct}));
    assert_eq!(unb64(&pt["Plaintext"]), b"imported");

    h.clock.advance(DAY);
    let md = h.describe(&id);
    assert_eq!(md["KeyState"], "PendingImport");
    assert_eq!(md["Enabled"], false);
    let e = h.err(
        "admin",
        "Decrypt",
        json!({"CiphertextBlob": ct}),
        ErrorKind::KMSInvalidStateException,
    );
    assert_eq!(e.message, format!("{} is pending import.", key_arn(&id)));
    h.err(
        "admin",
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(b"x")}),
        ErrorKind::KMSInvalidStateException,
    );
    // The material is gone from the store, not only from memory.
    let stored = h.store.key(&id).unwrap().unwrap();
    assert!(stored.versions.is_empty());
    assert_eq!(stored.key_state, "PendingImport");
}

#[test]
fn imported_material_expiring_during_the_waiting_period() {
    let h = Harness::new();
    let id = h.symmetric_key();
    let h = with_imported_material(&h, &id, Some(START + 2 * DAY));
    h.ok(
        "admin",
        "ScheduleKeyDeletion",
        json!({"KeyId": id, "PendingWindowInDays": 7}),
    );
    h.clock.advance_days(3);
    // Still pending deletion, now without material.
    assert_eq!(h.describe(&id)["KeyState"], "PendingDeletion");
    assert!(h.store.key(&id).unwrap().unwrap().versions.is_empty());
    h.ok("admin", "CancelKeyDeletion", json!({"KeyId": id}));
    assert_eq!(h.describe(&id)["KeyState"], "PendingImport");
}

#[test]
fn imported_material_without_expiry_stays() {
    let h = Harness::new();
    let id = h.symmetric_key();
    let h = with_imported_material(&h, &id, None);
    h.clock.advance_days(4000);
    let md = h.describe(&id);
    assert_eq!(md["KeyState"], "Enabled");
    assert_eq!(md["ExpirationModel"], "KEY_MATERIAL_DOES_NOT_EXPIRE");
    encrypt(&h, &id, b"x");
}

#[test]
fn aws_managed_keys_refuse_customer_changes() {
    let h = Harness::new();
    let md = h.describe("alias/aws/s3");
    let id = md["KeyId"].as_str().unwrap().to_owned();
    let policy = h.ok("admin", "GetKeyPolicy", json!({"KeyId": id}))["Policy"].clone();
    let changes = [
        ("EnableKey", json!({"KeyId": id})),
        ("DisableKey", json!({"KeyId": id})),
        ("ScheduleKeyDeletion", json!({"KeyId": id})),
        ("CancelKeyDeletion", json!({"KeyId": id})),
        ("EnableKeyRotation", json!({"KeyId": id})),
        ("DisableKeyRotation", json!({"KeyId": id})),
        ("RotateKeyOnDemand", json!({"KeyId": id})),
        ("PutKeyPolicy", json!({"KeyId": id, "Policy": policy})),
        (
            "TagResource",
            json!({"KeyId": id, "Tags": [{"TagKey": "a", "TagValue": "b"}]}),
        ),
        ("UntagResource", json!({"KeyId": id, "TagKeys": ["a"]})),
        (
            "UpdateKeyDescription",
            json!({"KeyId": id, "Description": "mine"}),
        ),
        (
            "CreateAlias",
            json!({"AliasName": "alias/my-s3", "TargetKeyId": id}),
        ),
    ];
    for (op, input) in changes {
        h.err("admin", op, input, ErrorKind::AccessDeniedException);
    }
    // Nothing changed.
    assert_eq!(h.describe(&id), md);
    // Reading is allowed: AWS rotates its managed keys every year.
    let status = h.ok("admin", "GetKeyRotationStatus", json!({"KeyId": id}));
    assert_eq!(status["KeyRotationEnabled"], true);
    assert_eq!(status["RotationPeriodInDays"], 365);
    assert_eq!(status["NextRotationDate"], START + 365 * DAY);
    // Nor can an alias under the reserved prefix be created.
    let other = h.symmetric_key();
    h.err(
        "admin",
        "CreateAlias",
        json!({"AliasName": "alias/aws/mine", "TargetKeyId": other}),
        ErrorKind::InvalidAliasNameException,
    );
}

#[test]
fn aws_managed_keys_rotate_every_year() {
    let h = Harness::new();
    let id = h.describe("alias/aws/ebs")["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    h.clock.advance_days(365);
    let rotations = h.ok("admin", "ListKeyRotations", json!({"KeyId": id}));
    assert_eq!(
        rotations["Rotations"],
        json!([{"KeyId": id, "RotationDate": START + 365 * DAY, "RotationType": "AUTOMATIC"}])
    );
}
