//! CreateAlias, UpdateAlias, DeleteAlias and ListAliases through the
//! service: the aliases resolve in the very next request, and concurrent
//! creation of one name succeeds once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/harness.rs"]
mod harness;

use harness::{b64, Harness, ACCOUNT, START};
use kmsgov_core::store::AliasRecord;
use kmsgov_core::ErrorKind;
use serde_json::{json, Value};

fn key_arn(id: &str) -> String {
    format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{id}")
}

fn alias_arn(name: &str) -> String {
    format!("arn:aws:kms:us-east-1:{ACCOUNT}:{name}")
}

fn create_alias(h: &Harness, name: &str, target: &str) {
    let out = h.ok(
        "admin",
        "CreateAlias",
        json!({"AliasName": name, "TargetKeyId": target}),
    );
    assert_eq!(out, json!({}));
}

/// The key an alias leads to, as DescribeKey resolves it.
fn target(h: &Harness, name: &str) -> String {
    h.describe(name)["KeyId"].as_str().unwrap().to_owned()
}

fn names(list: &Value) -> Vec<String> {
    list["Aliases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["AliasName"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn an_alias_names_its_key_at_once() {
    let h = Harness::new();
    let id = h.symmetric_key();
    create_alias(&h, "alias/app", &id);
    assert_eq!(target(&h, "alias/app"), id);
    assert_eq!(target(&h, &alias_arn("alias/app")), id);
    let out = h.ok(
        "admin",
        "Encrypt",
        json!({"KeyId": "alias/app", "Plaintext": b64(b"x")}),
    );
    assert_eq!(out["KeyId"], key_arn(&id));
    // By key ARN as the target, too.
    create_alias(&h, "alias/by-arn", &key_arn(&id));
    assert_eq!(target(&h, "alias/by-arn"), id);
    // It survives a restart.
    assert_eq!(target(&h.reopen(), "alias/app"), id);
}

#[test]
fn create_alias_errors() {
    let h = Harness::new();
    let id = h.symmetric_key();
    create_alias(&h, "alias/taken", &id);
    let e = h.err(
        "admin",
        "CreateAlias",
        json!({"AliasName": "alias/taken", "TargetKeyId": h.symmetric_key()}),
        ErrorKind::AlreadyExistsException,
    );
    assert_eq!(
        e.message,
        format!(
            "An alias with the name {} already exists",
            alias_arn("alias/taken")
        )
    );
    assert_eq!(target(&h, "alias/taken"), id);

    h.err(
        "admin",
        "CreateAlias",
        json!({"AliasName": "alias/aws/mine", "TargetKeyId": id}),
        ErrorKind::InvalidAliasNameException,
    );
    for name in ["app", "alias/", "alias/with space", "alias/ü"] {
        h.err(
            "admin",
            "CreateAlias",
            json!({"AliasName": name, "TargetKeyId": id}),
            ErrorKind::ValidationException,
        );
    }
    h.err(
        "admin",
        "CreateAlias",
        json!({"AliasName": "alias/x"}),
        ErrorKind::ValidationException,
    );
    h.err(
        "admin",
        "CreateAlias",
        json!({"AliasName": "alias/x", "TargetKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
        ErrorKind::NotFoundException,
    );
    // The target must be a key, not another alias.
    h.err(
        "admin",
        "CreateAlias",
        json!({"AliasName": "alias/x", "TargetKeyId": "alias/taken"}),
        ErrorKind::NotFoundException,
    );
    h.err(
        "alice",
        "CreateAlias",
        json!({"AliasName": "alias/x", "TargetKeyId": id}),
        ErrorKind::AccessDeniedException,
    );
    // A key pending deletion takes no new alias.
    let doomed = h.symmetric_key();
    h.ok("admin", "ScheduleKeyDeletion", json!({"KeyId": doomed}));
    let e = h.err(
        "admin",
        "CreateAlias",
        json!({"AliasName": "alias/x", "TargetKeyId": doomed}),
        ErrorKind::KMSInvalidStateException,
    );
    assert_eq!(
        e.message,
        format!("{} is pending deletion.", key_arn(&doomed))
    );
    // None of those created anything.
    assert_eq!(
        names(&h.ok("admin", "ListAliases", json!({}))),
        ["alias/taken"]
    );
}

#[test]
fn aliases_belong_to_the_account_of_their_key() {
    let h = Harness::new();
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "kms:*", "Resource": "*"}
        ]
    });
    let id = h.create_key(json!({"Policy": policy.to_string()}));
    // Even trusted by the key policy, another account cannot alias the key.
    h.err(
        "mallory",
        "CreateAlias",
        json!({"AliasName": "alias/theirs", "TargetKeyId": key_arn(&id)}),
        ErrorKind::AccessDeniedException,
    );
    // Names are per account: the same name in another account is free.
    create_alias(&h, "alias/shared-name", &id);
    let list = h.ok("mallory", "ListAliases", json!({}));
    assert_eq!(list["Aliases"], json!([]));
}

#[test]
fn a_key_has_at_most_fifty_aliases() {
    let h = Harness::new();
    let id = h.symmetric_key();
    for i in 0..50 {
        create_alias(&h, &format!("alias/a{i:02}"), &id);
    }
    let e = h.err(
        "admin",
        "CreateAlias",
        json!({"AliasName": "alias/one-too-many", "TargetKeyId": id}),
        ErrorKind::LimitExceededException,
    );
    assert!(e.message.contains(&key_arn(&id)), "{}", e.message);
    // Nor can UpdateAlias move a 51st alias onto it.
    let other = h.symmetric_key();
    create_alias(&h, "alias/elsewhere", &other);
    h.err(
        "admin",
        "UpdateAlias",
        json!({"AliasName": "alias/elsewhere", "TargetKeyId": id}),
        ErrorKind::LimitExceededException,
    );
    assert_eq!(target(&h, "alias/elsewhere"), other);
    // Deleting one makes room.
    h.ok("admin", "DeleteAlias", json!({"AliasName": "alias/a00"}));
    create_alias(&h, "alias/one-too-many", &id);
}

#[test]
fn update_alias_moves_it_to_another_key() {
    let h = Harness::new();
    let first = h.symmetric_key();
    let second = h.symmetric_key();
    create_alias(&h, "alias/current", &first);
    h.clock.advance(100);
    let out = h.ok(
        "admin",
        "UpdateAlias",
        json!({"AliasName": "alias/current", "TargetKeyId": second}),
    );
    assert_eq!(out, json!({}));
    assert_eq!(target(&h, "alias/current"), second);
    let list = h.ok("admin", "ListAliases", json!({}));
    assert_eq!(
        list["Aliases"],
        json!([{
            "AliasName": "alias/current",
            "AliasArn": alias_arn("alias/current"),
            "TargetKeyId": second,
            "CreationDate": START,
            "LastUpdatedDate": START + 100,
        }])
    );
    // Filtering by key follows the move.
    let of_first = h.ok("admin", "ListAliases", json!({"KeyId": first}));
    assert_eq!(of_first["Aliases"], json!([]));
    let of_second = h.ok("admin", "ListAliases", json!({"KeyId": key_arn(&second)}));
    assert_eq!(names(&of_second), ["alias/current"]);
    assert_eq!(target(&h.reopen(), "alias/current"), second);
}

#[test]
fn update_alias_errors() {
    let h = Harness::new();
    let symmetric = h.symmetric_key();
    let other_symmetric = h.symmetric_key();
    create_alias(&h, "alias/sym", &symmetric);
    let e = h.err(
        "admin",
        "UpdateAlias",
        json!({"AliasName": "alias/missing", "TargetKeyId": symmetric}),
        ErrorKind::NotFoundException,
    );
    assert_eq!(
        e.message,
        format!("Alias {} is not found.", alias_arn("alias/missing"))
    );
    // Another key type or usage is refused.
    let rsa_encrypt = h.create_key(json!({"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}));
    let rsa_sign = h.create_key(json!({"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}));
    let ecc_sign = h.create_key(json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}));
    let hmac = h.create_key(json!({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}));
    for other in [&rsa_encrypt, &hmac] {
        h.err(
            "admin",
            "UpdateAlias",
            json!({"AliasName": "alias/sym", "TargetKeyId": other}),
            ErrorKind::ValidationException,
        );
    }
    assert_eq!(target(&h, "alias/sym"), symmetric);
    create_alias(&h, "alias/signer", &rsa_sign);
    h.err(
        "admin",
        "UpdateAlias",
        json!({"AliasName": "alias/signer", "TargetKeyId": rsa_encrypt}),
        ErrorKind::ValidationException,
    );
    // Asymmetric keys of another spec with the same usage are fine.
    h.ok(
        "admin",
        "UpdateAlias",
        json!({"AliasName": "alias/signer", "TargetKeyId": ecc_sign}),
    );
    assert_eq!(target(&h, "alias/signer"), ecc_sign);

    // The new key must not be pending deletion; the current one may be.
    h.ok(
        "admin",
        "ScheduleKeyDeletion",
        json!({"KeyId": other_symmetric}),
    );
    let e = h.err(
        "admin",
        "UpdateAlias",
        json!({"AliasName": "alias/sym", "TargetKeyId": other_symmetric}),
        ErrorKind::KMSInvalidStateException,
    );
    assert_eq!(
        e.message,
        format!("{} is pending deletion.", key_arn(&other_symmetric))
    );
    h.ok("admin", "ScheduleKeyDeletion", json!({"KeyId": symmetric}));
    let fresh = h.symmetric_key();
    h.ok(
        "admin",
        "UpdateAlias",
        json!({"AliasName": "alias/sym", "TargetKeyId": fresh}),
    );
    assert_eq!(target(&h, "alias/sym"), fresh);

    h.err(
        "alice",
        "UpdateAlias",
        json!({"AliasName": "alias/sym", "TargetKeyId": fresh}),
        ErrorKind::AccessDeniedException,
    );
    h.err(
        "admin",
        "UpdateAlias",
        json!({"AliasName": "alias/sym", "TargetKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
        ErrorKind::NotFoundException,
    );
    h.err(
        "admin",
        "UpdateAlias",
        json!({"AliasName": "alias/sym"}),
        ErrorKind::ValidationException,
    );
}

#[test]
fn delete_alias_frees_the_name() {
    let h = Harness::new();
    let id = h.symmetric_key();
    create_alias(&h, "alias/temp", &id);
    assert_eq!(
        h.ok("admin", "DeleteAlias", json!({"AliasName": "alias/temp"})),
        json!({})
    );
    h.err(
        "admin",
        "DescribeKey",
        json!({"KeyId": "alias/temp"}),
        ErrorKind::NotFoundException,
    );
    let e = h.err(
        "admin",
        "DeleteAlias",
        json!({"AliasName": "alias/temp"}),
        ErrorKind::NotFoundException,
    );
    assert_eq!(
        e.message,
        format!("Alias {} is not found.", alias_arn("alias/temp"))
    );
    // The key itself is untouched, and the name can be used again.
    assert_eq!(h.describe(&id)["KeyState"], "Enabled");
    create_alias(&h, "alias/temp", &id);
    // Deleting an alias of a key pending deletion is allowed.
    h.ok("admin", "ScheduleKeyDeletion", json!({"KeyId": id}));
    h.ok("admin", "DeleteAlias", json!({"AliasName": "alias/temp"}));

    let kept = h.symmetric_key();
    create_alias(&h, "alias/kept", &kept);
    h.err(
        "alice",
        "DeleteAlias",
        json!({"AliasName": "alias/kept"}),
        ErrorKind::AccessDeniedException,
    );
    h.err(
        "admin",
        "DeleteAlias",
        json!({}),
        ErrorKind::ValidationException,
    );
    h.err(
        "admin",
        "DeleteAlias",
        json!({"AliasName": "kept"}),
        ErrorKind::ValidationException,
    );
    assert_eq!(target(&h.reopen(), "alias/kept"), kept);
}

#[test]
fn list_aliases_pages_in_name_order() {
    let h = Harness::new();
    let a = h.symmetric_key();
    let b = h.symmetric_key();
    let mut expected = Vec::new();
    for i in 0..7 {
        let name = format!("alias/k{i}");
        create_alias(&h, &name, if i % 2 == 0 { &a } else { &b });
        expected.push(name);
    }
    // Created out of order, listed by name.
    create_alias(&h, "alias/a-first", &b);
    expected.insert(0, "alias/a-first".into());

    let mut seen = Vec::new();
    let mut marker: Option<Value> = None;
    loop {
        let mut input = json!({"Limit": 3});
        if let Some(m) = &marker {
            input["Marker"] = m.clone();
        }
        let page = h.ok("admin", "ListAliases", input);
        let got = names(&page);
        assert!(got.len() <= 3);
        seen.extend(got);
        if page["Truncated"] == json!(true) {
            marker = Some(page["NextMarker"].clone());
        } else {
            assert!(page.get("NextMarker").is_none());
            break;
        }
    }
    assert_eq!(seen, expected);
    // Default page size is 50: everything here fits.
    let all = h.ok("admin", "ListAliases", json!({}));
    assert_eq!(names(&all), expected);
    assert_eq!(all["Truncated"], false);
    let of_a = h.ok("admin", "ListAliases", json!({"KeyId": a}));
    assert_eq!(
        names(&of_a),
        ["alias/k0", "alias/k2", "alias/k4", "alias/k6"]
    );
    for entry in of_a["Aliases"].as_array().unwrap() {
        assert_eq!(entry["TargetKeyId"], a);
    }
}

#[test]
fn list_aliases_errors() {
    let h = Harness::new();
    h.err(
        "admin",
        "ListAliases",
        json!({"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
        ErrorKind::NotFoundException,
    );
    h.err(
        "admin",
        "ListAliases",
        json!({"Marker": "%%%"}),
        ErrorKind::InvalidMarkerException,
    );
    for limit in [0, 101] {
        h.err(
            "admin",
            "ListAliases",
            json!({"Limit": limit}),
            ErrorKind::ValidationException,
        );
    }
    h.ok("admin", "ListAliases", json!({"Limit": 100}));
    // An IAM permission: alice has none.
    h.err(
        "alice",
        "ListAliases",
        json!({}),
        ErrorKind::AccessDeniedException,
    );
}

#[test]
fn aws_managed_aliases_are_listed() {
    let h = Harness::new();
    let id = h.describe("alias/aws/s3")["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = h.ok("admin", "ListAliases", json!({}));
    assert_eq!(names(&list), ["alias/aws/s3"]);
    assert_eq!(list["Aliases"][0]["TargetKeyId"], id);
    // Customers cannot move or delete them.
    let mine = h.symmetric_key();
    h.err(
        "admin",
        "UpdateAlias",
        json!({"AliasName": "alias/aws/s3", "TargetKeyId": mine}),
        ErrorKind::AccessDeniedException,
    );
    h.err(
        "admin",
        "DeleteAlias",
        json!({"AliasName": "alias/aws/s3"}),
        ErrorKind::AccessDeniedException,
    );
    assert_eq!(target(&h, "alias/aws/s3"), id);
}

/// Only names of AWS services make AWS managed keys: anything else under
/// `alias/aws/` names no key (found by fuzzing: such a name used to make a
/// key policy with an invalid statement id).
#[test]
fn aws_managed_keys_exist_only_for_service_names() {
    let h = Harness::new();
    for name in [
        "alias/aws/not a service",
        "alias/aws/S3",
        "alias/aws/s3/extra",
        "alias/aws/ses:iam::111122223333:user/alice",
        "alias/aws/",
    ] {
        let e = h.call(
            "admin",
            "Encrypt",
            json!({"KeyId": name, "Plaintext": "aGk="}),
        );
        let kind = e.err().map(|e| e.kind);
        assert!(
            matches!(
                kind,
                Some(ErrorKind::NotFoundException | ErrorKind::ValidationException)
            ),
            "{name}: {kind:?}"
        );
    }
    let list = h.ok("admin", "ListAliases", json!({}));
    assert_eq!(names(&list), Vec::<String>::new());
    // A real service name makes its key on first use.
    assert_eq!(h.describe("alias/aws/secretsmanager")["KeyManager"], "AWS");
}

#[test]
fn concurrent_create_alias_succeeds_once() {
    for round in 0..20 {
        let h = Harness::new();
        let first = h.symmetric_key();
        let second = h.symmetric_key();
        let name = format!("alias/race-{round}");
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = [&first, &second]
                .into_iter()
                .map(|key| {
                    let (h, name) = (&h, &name);
                    s.spawn(move || {
                        h.call(
                            "admin",
                            "CreateAlias",
                            json!({"AliasName": name, "TargetKeyId": key}),
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let winners: Vec<usize> = (0..2).filter(|&i| results[i].is_ok()).collect();
        assert_eq!(winners.len(), 1, "{results:?}");
        let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert_eq!(loser.kind, ErrorKind::AlreadyExistsException);
        let winner_key = [&first, &second][winners[0]];
        assert_eq!(&target(&h, &name), winner_key);
        let stored = h.store.alias(ACCOUNT, "us-east-1", &name).unwrap().unwrap();
        assert_eq!(&stored.key_id, winner_key);
    }
}

#[test]
fn an_alias_created_by_another_node_is_already_taken() {
    let h = Harness::new();
    let id = h.symmetric_key();
    // Another service on the same store wrote it; this one has not seen it.
    h.store
        .create_alias(&AliasRecord {
            account: ACCOUNT.into(),
            region: "us-east-1".into(),
            name: "alias/elsewhere".into(),
            key_id: id.clone(),
            creation_date: START,
            last_updated: START,
        })
        .unwrap();
    let e = h.err(
        "admin",
        "CreateAlias",
        json!({"AliasName": "alias/elsewhere", "TargetKeyId": id}),
        ErrorKind::AlreadyExistsException,
    );
    assert_eq!(
        e.message,
        format!(
            "An alias with the name {} already exists",
            alias_arn("alias/elsewhere")
        )
    );
}

#[test]
fn alias_names_at_the_length_limit_and_pattern() {
    let h = Harness::new();
    let id = h.symmetric_key();
    let longest = format!("alias/{}", "a".repeat(250));
    for name in [longest.as_str(), "alias/a:b_c-d/e", "alias/aws"] {
        create_alias(&h, name, &id);
        assert_eq!(target(&h, name), id);
    }
    for name in [
        format!("alias/{}", "a".repeat(251)),
        "alias/a.b".to_owned(),
        "Alias/upper".to_owned(),
    ] {
        h.err(
            "admin",
            "CreateAlias",
            json!({"AliasName": name, "TargetKeyId": id}),
            ErrorKind::ValidationException,
        );
    }
    h.err(
        "admin",
        "DeleteAlias",
        json!({"AliasName": "alias/never-created"}),
        ErrorKind::NotFoundException,
    );
    h.err(
        "admin",
        "ListAliases",
        json!({"Limit": 101}),
        ErrorKind::ValidationException,
    );
}
