//! EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
//! RotateKeyOnDemand and ListKeyRotations through the service, and automatic
//! rotation as the clock moves.

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

/// Encrypts `text` and returns the blob with the key version it names.
fn encrypt(h: &Harness, id: &str, text: &str) -> (Value, u32) {
    let blob = h.ok(
        "admin",
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(text.as_bytes()), "EncryptionContext": {"n": text}}),
    )["CiphertextBlob"]
        .clone();
    let header = kmsgov_core::ciphertext::parse(&unb64(&blob)).unwrap();
    assert_eq!(header.key_id(), id);
    (blob, header.key_version())
}

fn status(h: &Harness, id: &str) -> Value {
    h.ok("admin", "GetKeyRotationStatus", json!({"KeyId": id}))
}

/// Every rotation of a key, following NextMarker.
fn all_rotations(h: &Harness, id: &str, limit: u32) -> Vec<Value> {
    let mut out = Vec::new();
    let mut marker: Option<Value> = None;
    loop {
        let mut input = json!({"KeyId": id, "Limit": limit});
        if let Some(m) = &marker {
            input["Marker"] = m.clone();
        }
        let page = h.ok("admin", "ListKeyRotations", input);
        let items = page["Rotations"].as_array().unwrap();
        assert!(items.len() <= limit as usize);
        out.extend(items.iter().cloned());
        if page["Truncated"] == json!(true) {
            marker = Some(page["NextMarker"].clone());
        } else {
            assert!(page.get("NextMarker").is_none(), "{page}");
            return out;
        }
    }
}

#[test]
fn rotation_status_follows_enable_and_disable() {
    let h = Harness::new();
    let id = h.symmetric_key();
    assert_eq!(
        status(&h, &id),
        json!({"KeyRotationEnabled": false, "KeyId": key_arn(&id)})
    );
    assert_eq!(
        h.ok("admin", "EnableKeyRotation", json!({"KeyId": id})),
        json!({})
    );
    assert_eq!(
        status(&h, &id),
        json!({
            "KeyRotationEnabled": true,
            "KeyId": key_arn(&id),
            "RotationPeriodInDays": 365,
            "NextRotationDate": START + 365 * DAY,
        })
    );
    // A new period keeps the schedule's starting point.
    h.clock.advance_days(10);
    h.ok(
        "admin",
        "EnableKeyRotation",
        json!({"KeyId": id, "RotationPeriodInDays": 180}),
    );
    let s = status(&h, &id);
    assert_eq!(s["RotationPeriodInDays"], 180);
    assert_eq!(s["NextRotationDate"], START + 180 * DAY);
    assert_eq!(
        h.ok("admin", "DisableKeyRotation", json!({"KeyId": id})),
        json!({})
    );
    assert_eq!(status(&h, &id)["KeyRotationEnabled"], false);
    // Enabled again, the first rotation is a period from now.
    h.ok(
        "admin",
        "EnableKeyRotation",
        json!({"KeyId": id, "RotationPeriodInDays": 90}),
    );
    assert_eq!(
        status(&h, &id)["NextRotationDate"],
        START + 10 * DAY + 90 * DAY
    );
    // Disabling twice is not an error.
    h.ok("admin", "DisableKeyRotation", json!({"KeyId": id}));
    h.ok("admin", "DisableKeyRotation", json!({"KeyId": id}));
}

#[test]
fn rotation_period_bounds() {
    let h = Harness::new();
    let id = h.symmetric_key();
    for days in [89, 2561, 0] {
        h.err(
            "admin",
            "EnableKeyRotation",
            json!({"KeyId": id, "RotationPeriodInDays": days}),
            ErrorKind::ValidationException,
        );
    }
    assert_eq!(status(&h, &id)["KeyRotationEnabled"], false);
    for days in [90, 2560] {
        h.ok(
            "admin",
            "EnableKeyRotation",
            json!({"KeyId": id, "RotationPeriodInDays": days}),
        );
        assert_eq!(status(&h, &id)["RotationPeriodInDays"], days);
    }
}

#[test]
fn rotation_needs_a_symmetric_key_with_kms_material() {
    let h = Harness::new();
    let rsa = h.create_key(json!({"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}));
    let hmac = h.create_key(json!({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}));
    for id in [&rsa, &hmac] {
        for op in [
            "EnableKeyRotation",
            "DisableKeyRotation",
            "RotateKeyOnDemand",
            "GetKeyRotationStatus",
            "ListKeyRotations",
        ] {
            let e = h.err(
                "admin",
                op,
                json!({"KeyId": id}),
                ErrorKind::UnsupportedOperationException,
            );
            assert!(e.message.starts_with(&key_arn(id)), "{op}: {}", e.message);
        }
    }
    // A key for imported material, before the import.
    let external = h.create_key(json!({"Origin": "EXTERNAL"}));
    for op in ["EnableKeyRotation", "DisableKeyRotation"] {
        let e = h.err(
            "admin",
            op,
            json!({"KeyId": external}),
            ErrorKind::UnsupportedOperationException,
        );
        assert_eq!(
            e.message,
            format!(
                "{} origin is EXTERNAL which is not valid for this operation.",
                key_arn(&external)
            )
        );
    }
    for op in [
        "RotateKeyOnDemand",
        "GetKeyRotationStatus",
        "ListKeyRotations",
    ] {
        h.err(
            "admin",
            op,
            json!({"KeyId": external}),
            ErrorKind::KMSInvalidStateException,
        );
    }
    // With imported material the key is enabled, but still not rotated here.
    let imported = h.symmetric_key();
    let mut record = h.store.key(&imported).unwrap().unwrap();
    record.origin = "EXTERNAL".into();
    h.store.update_key(&record).unwrap();
    let h = h.reopen();
    for op in ["EnableKeyRotation", "RotateKeyOnDemand"] {
        h.err(
            "admin",
            op,
            json!({"KeyId": imported}),
            ErrorKind::UnsupportedOperationException,
        );
    }
    assert_eq!(status(&h, &imported)["KeyRotationEnabled"], false);
    assert_eq!(all_rotations(&h, &imported, 10), Vec::<Value>::new());
}

#[test]
fn rotation_errors_by_key_state_and_caller() {
    let h = Harness::new();
    let id = h.symmetric_key();
    h.ok("admin", "DisableKey", json!({"KeyId": id}));
    for op in [
        "EnableKeyRotation",
        "DisableKeyRotation",
        "RotateKeyOnDemand",
    ] {
        let e = h.err(
            "admin",
            op,
            json!({"KeyId": id}),
            ErrorKind::DisabledException,
        );
        assert_eq!(e.message, format!("{} is disabled.", key_arn(&id)));
    }
    // Reading works on a disabled key.
    status(&h, &id);
    all_rotations(&h, &id, 5);
    h.ok("admin", "ScheduleKeyDeletion", json!({"KeyId": id}));
    for op in [
        "EnableKeyRotation",
        "DisableKeyRotation",
        "RotateKeyOnDemand",
    ] {
        h.err(
            "admin",
            op,
            json!({"KeyId": id}),
            ErrorKind::KMSInvalidStateException,
        );
    }
    let other = h.symmetric_key();
    for op in [
        "EnableKeyRotation",
        "DisableKeyRotation",
        "RotateKeyOnDemand",
        "GetKeyRotationStatus",
        "ListKeyRotations",
    ] {
        h.err(
            "admin",
            op,
            json!({"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
            ErrorKind::NotFoundException,
        );
        h.err(
            "alice",
            op,
            json!({"KeyId": other}),
            ErrorKind::AccessDeniedException,
        );
        h.err("admin", op, json!({}), ErrorKind::ValidationException);
    }
}

#[test]
fn every_version_decrypts_after_rotations() {
    let h = Harness::new();
    let id = h.symmetric_key();
    let mut blobs = vec![encrypt(&h, &id, "v1")];

    let out = h.ok("admin", "RotateKeyOnDemand", json!({"KeyId": id}));
    assert_eq!(out, json!({"KeyId": key_arn(&id)}));
    blobs.push(encrypt(&h, &id, "after one on-demand rotation"));

    h.ok(
        "admin",
        "EnableKeyRotation",
        json!({"KeyId": id, "RotationPeriodInDays": 90}),
    );
    h.clock.advance_days(90);
    blobs.push(encrypt(&h, &id, "after the first automatic rotation"));

    h.clock.advance_days(1);
    h.ok("admin", "RotateKeyOnDemand", json!({"KeyId": id}));
    blobs.push(encrypt(&h, &id, "after a second on-demand rotation"));

    // 200 more days: automatic rotations at day 180 and day 270.
    h.clock.advance_days(199);
    blobs.push(encrypt(&h, &id, "after two more automatic rotations"));

    let versions: Vec<u32> = blobs.iter().map(|(_, v)| *v).collect();
    assert_eq!(versions, [1, 2, 3, 4, 6]);

    // Each blob is bound to its own encryption context.
    for (blob, _) in &blobs {
        h.err(
            "admin",
            "Decrypt",
            json!({"CiphertextBlob": blob}),
            ErrorKind::InvalidCiphertextException,
        );
    }
    let texts = [
        "v1",
        "after one on-demand rotation",
        "after the first automatic rotation",
        "after a second on-demand rotation",
        "after two more automatic rotations",
    ];
    let decrypt_all = |h: &Harness| {
        for ((blob, _), text) in blobs.iter().zip(texts) {
            let pt = h.ok(
                "admin",
                "Decrypt",
                json!({"CiphertextBlob": blob, "EncryptionContext": {"n": text}}),
            );
            assert_eq!(unb64(&pt["Plaintext"]), text.as_bytes());
            assert_eq!(pt["KeyId"], key_arn(&id));
        }
    };
    decrypt_all(&h);
    // And after a restart, from the stored (wrapped) versions.
    decrypt_all(&h.reopen());

    let rotations = all_rotations(&h, &id, 2);
    let expected: Vec<Value> = [
        (START, "ON_DEMAND"),
        (START + 90 * DAY, "AUTOMATIC"),
        (START + 91 * DAY, "ON_DEMAND"),
        (START + 180 * DAY, "AUTOMATIC"),
        (START + 270 * DAY, "AUTOMATIC"),
    ]
    .iter()
    .map(|(date, kind)| json!({"KeyId": id, "RotationDate": date, "RotationType": kind}))
    .collect();
    assert_eq!(rotations, expected);
    assert_eq!(all_rotations(&h, &id, 1000), expected);
    assert_eq!(status(&h, &id)["NextRotationDate"], START + 360 * DAY);
}

#[test]
fn list_key_rotations_pages_and_markers() {
    let h = Harness::new();
    let id = h.symmetric_key();
    let page = h.ok("admin", "ListKeyRotations", json!({"KeyId": id}));
    assert_eq!(page, json!({"Rotations": [], "Truncated": false}));
    for _ in 0..3 {
        h.ok("admin", "RotateKeyOnDemand", json!({"KeyId": id}));
    }
    let first = h.ok(
        "admin",
        "ListKeyRotations",
        json!({"KeyId": id, "Limit": 2}),
    );
    assert_eq!(first["Rotations"].as_array().unwrap().len(), 2);
    assert_eq!(first["Truncated"], true);
    let rest = h.ok(
        "admin",
        "ListKeyRotations",
        json!({"KeyId": id, "Limit": 2, "Marker": first["NextMarker"]}),
    );
    assert_eq!(rest["Rotations"].as_array().unwrap().len(), 1);
    assert_eq!(rest["Truncated"], false);
    // Exactly a page: not truncated.
    let all = h.ok(
        "admin",
        "ListKeyRotations",
        json!({"KeyId": id, "Limit": 3}),
    );
    assert_eq!(all["Truncated"], false);
    assert_eq!(all["Rotations"].as_array().unwrap().len(), 3);

    for marker in ["not a marker!", "Zm9v"] {
        h.err(
            "admin",
            "ListKeyRotations",
            json!({"KeyId": id, "Marker": marker}),
            ErrorKind::InvalidMarkerException,
        );
    }
    for limit in [0, 1001] {
        h.err(
            "admin",
            "ListKeyRotations",
            json!({"KeyId": id, "Limit": limit}),
            ErrorKind::ValidationException,
        );
    }
}

#[test]
fn on_demand_rotation_keeps_the_automatic_schedule() {
    let h = Harness::new();
    let id = h.symmetric_key();
    h.ok(
        "admin",
        "EnableKeyRotation",
        json!({"KeyId": id, "RotationPeriodInDays": 90}),
    );
    h.clock.advance_days(30);
    h.ok("admin", "RotateKeyOnDemand", json!({"KeyId": id}));
    assert_eq!(status(&h, &id)["NextRotationDate"], START + 90 * DAY);
    // Within 20 minutes of an automatic rotation, on-demand rotation waits.
    h.clock.advance(60 * DAY - 20 * 60);
    h.err(
        "admin",
        "RotateKeyOnDemand",
        json!({"KeyId": id}),
        ErrorKind::ConflictException,
    );
    h.clock.advance(20 * 60);
    h.ok("admin", "RotateKeyOnDemand", json!({"KeyId": id}));
    let kinds: Vec<Value> = all_rotations(&h, &id, 10)
        .iter()
        .map(|r| r["RotationType"].clone())
        .collect();
    assert_eq!(
        kinds,
        [json!("ON_DEMAND"), json!("AUTOMATIC"), json!("ON_DEMAND")]
    );
}

#[test]
fn on_demand_rotations_are_limited_per_key() {
    let h = Harness::new();
    let id = h.symmetric_key();
    for _ in 0..25 {
        h.ok("admin", "RotateKeyOnDemand", json!({"KeyId": id}));
    }
    let e = h.err(
        "admin",
        "RotateKeyOnDemand",
        json!({"KeyId": id}),
        ErrorKind::LimitExceededException,
    );
    assert!(e.message.contains(&key_arn(&id)), "{}", e.message);
    assert_eq!(all_rotations(&h, &id, 1000).len(), 25);
    // Automatic rotations do not count against the quota, nor are limited.
    h.ok(
        "admin",
        "EnableKeyRotation",
        json!({"KeyId": id, "RotationPeriodInDays": 90}),
    );
    h.clock.advance_days(90);
    assert_eq!(all_rotations(&h, &id, 1000).len(), 26);
    // Another key has its own quota.
    let other = h.symmetric_key();
    h.ok("admin", "RotateKeyOnDemand", json!({"KeyId": other}));
}

#[test]
fn disabled_keys_are_not_rotated() {
    let h = Harness::new();
    let id = h.symmetric_key();
    h.ok(
        "admin",
        "EnableKeyRotation",
        json!({"KeyId": id, "RotationPeriodInDays": 90}),
    );
    h.ok("admin", "DisableKey", json!({"KeyId": id}));
    h.clock.advance_days(200);
    assert!(all_rotations(&h, &id, 10).is_empty());
    // The setting stays while the key is disabled.
    assert_eq!(status(&h, &id)["KeyRotationEnabled"], true);
    // Re-enabled after its rotation date, the key rotates at once, then
    // every period from then on.
    h.ok("admin", "EnableKey", json!({"KeyId": id}));
    let now = START + 200 * DAY;
    assert_eq!(
        all_rotations(&h, &id, 10),
        [json!({"KeyId": id, "RotationDate": now, "RotationType": "AUTOMATIC"})]
    );
    assert_eq!(status(&h, &id)["NextRotationDate"], now + 90 * DAY);
}

#[test]
fn keys_pending_deletion_report_rotation_off_until_cancelled() {
    let h = Harness::new();
    let id = h.symmetric_key();
    h.ok(
        "admin",
        "EnableKeyRotation",
        json!({"KeyId": id, "RotationPeriodInDays": 90}),
    );
    h.ok("admin", "ScheduleKeyDeletion", json!({"KeyId": id}));
    assert_eq!(
        status(&h, &id),
        json!({"KeyRotationEnabled": false, "KeyId": key_arn(&id)})
    );
    h.ok("admin", "CancelKeyDeletion", json!({"KeyId": id}));
    let s = status(&h, &id);
    assert_eq!(s["KeyRotationEnabled"], true);
    assert_eq!(s["RotationPeriodInDays"], 90);
}

#[test]
fn rotation_catches_up_after_a_long_pause() {
    let h = Harness::new();
    let id = h.symmetric_key();
    h.ok(
        "admin",
        "EnableKeyRotation",
        json!({"KeyId": id, "RotationPeriodInDays": 90}),
    );
    // 1,100 periods pass unobserved: the service makes the last 1,000.
    h.clock.advance_days(1100 * 90);
    let page = h.ok(
        "admin",
        "ListKeyRotations",
        json!({"KeyId": id, "Limit": 1000}),
    );
    let rotations = page["Rotations"].as_array().unwrap();
    assert_eq!(rotations.len(), 1000);
    assert_eq!(page["Truncated"], false);
    assert_eq!(rotations[0]["RotationDate"], START + 101 * 90 * DAY);
    assert_eq!(rotations[999]["RotationDate"], START + 1100 * 90 * DAY);
    assert_eq!(status(&h, &id)["NextRotationDate"], START + 1101 * 90 * DAY);
}

#[test]
fn get_key_rotation_status_works_across_accounts() {
    let h = Harness::new();
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
             "Action": ["kms:GetKeyRotationStatus", "kms:ListKeyRotations"], "Resource": "*"}
        ]
    });
    let id = h.create_key(json!({"Policy": policy.to_string()}));
    h.ok("admin", "EnableKeyRotation", json!({"KeyId": id}));
    let s = h.ok(
        "mallory",
        "GetKeyRotationStatus",
        json!({"KeyId": key_arn(&id)}),
    );
    assert_eq!(s["KeyRotationEnabled"], true);
    // ListKeyRotations is not a cross-account operation.
    h.err(
        "mallory",
        "ListKeyRotations",
        json!({"KeyId": key_arn(&id)}),
        ErrorKind::AccessDeniedException,
    );
}
