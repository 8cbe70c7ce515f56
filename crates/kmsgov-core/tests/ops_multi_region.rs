//! ReplicateKey, UpdatePrimaryRegion and the `MultiRegionConfiguration` of
//! multi-Region keys, through a service for us-east-1.

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

fn arn_in(region: &str, key: &str) -> String {
    format!("arn:aws:kms:{region}:{ACCOUNT}:key/{key}")
}

fn multi_region_key(h: &Harness) -> String {
    h.create_key(json!({"MultiRegion": true, "Description": "primary"}))
}

fn replicate(h: &Harness, key: &str, region: &str) -> Value {
    h.ok(
        "admin",
        "ReplicateKey",
        json!({"KeyId": key, "ReplicaRegion": region}),
    )
}

fn regions(config: &Value) -> Vec<(String, String)> {
    config["ReplicaKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["Region"].as_str().unwrap().to_owned(),
                r["Arn"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_new_multi_region_key_is_a_primary_without_replicas() {
    let h = Harness::new();
    let key = multi_region_key(&h);
    assert!(key.starts_with("mrk-"), "{key}");
    let md = h.describe(&key);
    assert_eq!(md["MultiRegion"], true);
    let config = &md["MultiRegionConfiguration"];
    assert_eq!(config["MultiRegionKeyType"], "PRIMARY");
    assert_eq!(
        config["PrimaryKey"],
        json!({"Arn": arn_in("us-east-1", &key), "Region": "us-east-1"})
    );
    assert_eq!(config["ReplicaKeys"], json!([]));
    // Single-Region keys have no configuration.
    let single = h.symmetric_key();
    let md = h.describe(&single);
    assert_eq!(md["MultiRegion"], false);
    assert!(md.get("MultiRegionConfiguration").is_none());
}

#[test]
fn replicate_key_answers_with_the_replica_and_records_it() {
    let h = Harness::new();
    let key = multi_region_key(&h);
    h.clock.advance(60);
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
                       "Action": "kms:*", "Resource": "*"}]
    })
    .to_string();
    let out = h.ok(
        "admin",
        "ReplicateKey",
        json!({"KeyId": key, "ReplicaRegion": "eu-west-1", "Description": "in Ireland",
               "Policy": policy, "Tags": [{"TagKey": "team", "TagValue": "crypto"}]}),
    );
    let md = &out["ReplicaKeyMetadata"];
    assert_eq!(md["Arn"], arn_in("eu-west-1", &key));
    assert_eq!(md["KeyId"], key);
    assert_eq!(md["AWSAccountId"], ACCOUNT);
    assert_eq!(md["Description"], "in Ireland");
    assert_eq!(md["KeyState"], "Creating");
    assert_eq!(md["Enabled"], false);
    assert_eq!(md["CreationDate"], START + 60);
    assert_eq!(md["KeySpec"], "SYMMETRIC_DEFAULT");
    assert_eq!(md["KeyUsage"], "ENCRYPT_DECRYPT");
    assert_eq!(md["MultiRegion"], true);
    let config = &md["MultiRegionConfiguration"];
    assert_eq!(config["MultiRegionKeyType"], "REPLICA");
    assert_eq!(
        config["PrimaryKey"],
        json!({"Arn": arn_in("us-east-1", &key), "Region": "us-east-1"})
    );
    assert_eq!(
        regions(config),
        vec![("eu-west-1".to_owned(), arn_in("eu-west-1", &key))]
    );
    assert_eq!(out["ReplicaPolicy"], policy);
    assert_eq!(
        out["ReplicaTags"],
        json!([{"TagKey": "team", "TagValue": "crypto"}])
    );

    // The primary lists its replica, and keeps its own description.
    let primary = h.describe(&key);
    assert_eq!(primary["Description"], "primary");
    assert_eq!(primary["Arn"], arn_in("us-east-1", &key));
    assert_eq!(
        primary["MultiRegionConfiguration"]["MultiRegionKeyType"],
        "PRIMARY"
    );
    assert_eq!(
        regions(&primary["MultiRegionConfiguration"]),
        vec![("eu-west-1".to_owned(), arn_in("eu-west-1", &key))]
    );

    // A second replica joins the list, in the replica's view too.
    let out = replicate(&h, &key, "ap-southeast-2");
    let expected = vec![
        ("eu-west-1".to_owned(), arn_in("eu-west-1", &key)),
        ("ap-southeast-2".to_owned(), arn_in("ap-southeast-2", &key)),
    ];
    assert_eq!(
        regions(&out["ReplicaKeyMetadata"]["MultiRegionConfiguration"]),
        expected
    );
    // Defaults: the default key policy, no tags, no description.
    let default_policy: Value =
        serde_json::from_str(out["ReplicaPolicy"].as_str().unwrap()).unwrap();
    assert_eq!(
        default_policy["Statement"][0]["Principal"]["AWS"],
        format!("arn:aws:iam::{ACCOUNT}:root")
    );
    assert_eq!(out["ReplicaTags"], json!([]));
    assert_eq!(out["ReplicaKeyMetadata"]["Description"], "");

    // Recorded durably.
    let h = h.reopen();
    assert_eq!(
        regions(&h.describe(&key)["MultiRegionConfiguration"]),
        expected
    );
}

#[test]
fn replicate_key_rejects_what_aws_rejects() {
    let h = Harness::new();
    let key = multi_region_key(&h);
    replicate(&h, &key, "eu-west-1");
    let single = h.symmetric_key();
    let request = |extra: Value| {
        let mut v = json!({"KeyId": key, "ReplicaRegion": "eu-central-1"});
        for (k, x) in extra.as_object().unwrap() {
            if x.is_null() {
                v.as_object_mut().unwrap().remove(k);
            } else {
                v[k] = x.clone();
            }
        }
        v
    };
    for (extra, kind) in [
        (
            json!({"ReplicaRegion": "eu-west-1"}),
            ErrorKind::AlreadyExistsException,
        ),
        (
            json!({"ReplicaRegion": "us-east-1"}),
            ErrorKind::AlreadyExistsException,
        ),
        (
            json!({"ReplicaRegion": "Europe"}),
            ErrorKind::ValidationException,
        ),
        (
            json!({"ReplicaRegion": null}),
            ErrorKind::ValidationException,
        ),
        (
            json!({"KeyId": single}),
            ErrorKind::UnsupportedOperationException,
        ),
        (
            json!({"KeyId": "mrk-00000000000000000000000000000000"}),
            ErrorKind::NotFoundException,
        ),
        (
            json!({"Policy": "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\"}]}"}),
            ErrorKind::MalformedPolicyDocumentException,
        ),
        (
            json!({"Policy": "not json"}),
            ErrorKind::MalformedPolicyDocumentException,
        ),
        (
            json!({"Policy": format!("{{\"Statement\": [], \"Sid\": \"{}\"}}", "x".repeat(33_000))}),
            ErrorKind::LimitExceededException,
        ),
        (
            json!({"Tags": [{"TagKey": "aws:reserved", "TagValue": "x"}]}),
            ErrorKind::TagException,
        ),
        (
            json!({"Tags": [{"TagKey": "", "TagValue": "x"}]}),
            ErrorKind::TagException,
        ),
        (json!({"Tags": "team=crypto"}), ErrorKind::TagException),
    ] {
        let e = h
            .call("admin", "ReplicateKey", request(extra.clone()))
            .unwrap_err();
        assert_eq!(e.kind, kind, "{extra}: {e}");
    }
    h.err(
        "alice",
        "ReplicateKey",
        request(json!({})),
        ErrorKind::AccessDeniedException,
    );
    // Failed calls recorded nothing.
    assert_eq!(
        regions(&h.describe(&key)["MultiRegionConfiguration"]).len(),
        1
    );
    // The primary key must be enabled.
    let h = h.with_key_state(&key, "Disabled");
    h.err(
        "admin",
        "ReplicateKey",
        request(json!({})),
        ErrorKind::DisabledException,
    );
    let h = h.with_key_state(&key, "PendingDeletion");
    h.err(
        "admin",
        "ReplicateKey",
        request(json!({})),
        ErrorKind::KMSInvalidStateException,
    );
    let external = h.create_key(json!({"MultiRegion": true, "Origin": "EXTERNAL"}));
    h.err(
        "admin",
        "ReplicateKey",
        json!({"KeyId": external, "ReplicaRegion": "eu-west-1"}),
        ErrorKind::KMSInvalidStateException,
    );
}

#[test]
fn update_primary_region_makes_this_key_a_replica() {
    let h = Harness::new();
    let key = multi_region_key(&h);
    replicate(&h, &key, "eu-west-1");
    replicate(&h, &key, "ap-southeast-2");
    let ct = h.ok(
        "admin",
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"before")}),
    )["CiphertextBlob"]
        .clone();

    let out = h.ok(
        "admin",
        "UpdatePrimaryRegion",
        json!({"KeyId": key, "PrimaryRegion": "eu-west-1"}),
    );
    assert_eq!(out, json!({}));
    let config = h.describe(&key)["MultiRegionConfiguration"].clone();
    assert_eq!(config["MultiRegionKeyType"], "REPLICA");
    assert_eq!(
        config["PrimaryKey"],
        json!({"Arn": arn_in("eu-west-1", &key), "Region": "eu-west-1"})
    );
    // The replicas now include this Region's key, not the new primary.
    let mut replica_regions: Vec<String> = regions(&config).into_iter().map(|(r, _)| r).collect();
    replica_regions.sort();
    assert_eq!(replica_regions, ["ap-southeast-2", "us-east-1"]);

    // A replica key is a working key.
    let out = h.ok("admin", "Decrypt", json!({"CiphertextBlob": ct}));
    assert_eq!(unb64(&out["Plaintext"]), b"before");
    h.ok(
        "admin",
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"after")}),
    );

    // Only a primary key is replicated or hands over the primary role.
    h.err(
        "admin",
        "ReplicateKey",
        json!({"KeyId": key, "ReplicaRegion": "eu-central-1"}),
        ErrorKind::UnsupportedOperationException,
    );
    h.err(
        "admin",
        "UpdatePrimaryRegion",
        json!({"KeyId": key, "PrimaryRegion": "ap-southeast-2"}),
        ErrorKind::UnsupportedOperationException,
    );
    let h = h.reopen();
    assert_eq!(h.describe(&key)["MultiRegionConfiguration"], config);
}

#[test]
fn update_primary_region_rejects_what_aws_rejects() {
    let h = Harness::new();
    let key = multi_region_key(&h);
    replicate(&h, &key, "eu-west-1");
    let single = h.symmetric_key();
    for (input, kind) in [
        (
            json!({"KeyId": key, "PrimaryRegion": "eu-central-1"}),
            ErrorKind::NotFoundException,
        ),
        (
            json!({"KeyId": key, "PrimaryRegion": "us-east-1"}),
            ErrorKind::NotFoundException,
        ),
        (
            json!({"KeyId": key, "PrimaryRegion": "not a region"}),
            ErrorKind::ValidationException,
        ),
        (json!({"KeyId": key}), ErrorKind::ValidationException),
        (
            json!({"KeyId": single, "PrimaryRegion": "eu-west-1"}),
            ErrorKind::UnsupportedOperationException,
        ),
        (
            json!({"KeyId": "mrk-00000000000000000000000000000000", "PrimaryRegion": "eu-west-1"}),
            ErrorKind::NotFoundException,
        ),
    ] {
        let e = h
            .call("admin", "UpdatePrimaryRegion", input.clone())
            .unwrap_err();
        assert_eq!(e.kind, kind, "{input}: {e}");
    }
    let ok = json!({"KeyId": key, "PrimaryRegion": "eu-west-1"});
    h.err(
        "alice",
        "UpdatePrimaryRegion",
        ok.clone(),
        ErrorKind::AccessDeniedException,
    );
    let h = h.with_key_state(&key, "Disabled");
    h.err(
        "admin",
        "UpdatePrimaryRegion",
        ok.clone(),
        ErrorKind::DisabledException,
    );
    let h = h.with_key_state(&key, "PendingDeletion");
    h.err(
        "admin",
        "UpdatePrimaryRegion",
        ok.clone(),
        ErrorKind::KMSInvalidStateException,
    );
    // Nothing changed.
    let h = h.with_key_state(&key, "Enabled");
    assert_eq!(
        h.describe(&key)["MultiRegionConfiguration"]["MultiRegionKeyType"],
        "PRIMARY"
    );
    h.ok("admin", "UpdatePrimaryRegion", ok);
}
