//! CreateKey, DescribeKey, Encrypt, Decrypt and GenerateDataKey through the
//! service, with authorization on.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/harness.rs"]
mod harness;

use harness::{b64, unb64, Harness, ACCOUNT};
use kmsgov_core::ErrorKind;
use serde_json::json;

#[test]
fn create_describe_encrypt_decrypt() {
    let h = Harness::new();
    let out = h.ok("admin", "CreateKey", json!({"Description": "test key"}));
    let md = &out["KeyMetadata"];
    let id = md["KeyId"].as_str().unwrap();
    assert_eq!(md["AWSAccountId"], ACCOUNT);
    assert_eq!(
        md["Arn"],
        format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{id}")
    );
    assert_eq!(md["KeyState"], "Enabled");
    assert_eq!(md["Enabled"], true);
    assert_eq!(md["KeySpec"], "SYMMETRIC_DEFAULT");
    assert_eq!(md["KeyUsage"], "ENCRYPT_DECRYPT");
    assert_eq!(md["KeyManager"], "CUSTOMER");
    assert_eq!(md["EncryptionAlgorithms"], json!(["SYMMETRIC_DEFAULT"]));
    assert_eq!(md["Description"], "test key");
    assert_eq!(h.describe(id)["KeyId"], id);

    let ct = h.ok(
        "admin",
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(b"hello"), "EncryptionContext": {"a": "bc"}}),
    );
    assert_eq!(ct["KeyId"], md["Arn"]);
    let blob = ct["CiphertextBlob"].as_str().unwrap();
    let pt = h.ok(
        "admin",
        "Decrypt",
        json!({"CiphertextBlob": blob, "EncryptionContext": {"a": "bc"}}),
    );
    assert_eq!(unb64(&pt["Plaintext"]), b"hello");
    assert_eq!(pt["KeyId"], md["Arn"]);
    // The context is bound unambiguously.
    h.err(
        "admin",
        "Decrypt",
        json!({"CiphertextBlob": blob, "EncryptionContext": {"ab": "c"}}),
        ErrorKind::InvalidCiphertextException,
    );
    h.err(
        "admin",
        "Decrypt",
        json!({"CiphertextBlob": blob}),
        ErrorKind::InvalidCiphertextException,
    );
}

#[test]
fn authorization_applies_to_every_call() {
    let h = Harness::new();
    let id = h.symmetric_key();
    // alice has no IAM policy and the default key policy delegates to IAM.
    let e = h.err(
        "alice",
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(b"x")}),
        ErrorKind::AccessDeniedException,
    );
    assert!(e.message.contains("alice"), "{}", e.message);
    // mallory's account is not trusted by the key policy.
    h.err(
        "mallory",
        "DescribeKey",
        json!({"KeyId": format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{id}")}),
        ErrorKind::AccessDeniedException,
    );
    // A key policy that names alice lets her in.
    let key = h.create_key(json!({"Policy": json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/alice")}, "Action": "kms:Encrypt", "Resource": "*"}
        ]}).to_string()}));
    h.ok(
        "alice",
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"x")}),
    );
}

#[test]
fn generate_data_key_round_trips() {
    let h = Harness::new();
    let id = h.symmetric_key();
    let out = h.ok(
        "admin",
        "GenerateDataKey",
        json!({"KeyId": id, "KeySpec": "AES_256", "EncryptionContext": {"k": "v"}}),
    );
    let plain = unb64(&out["Plaintext"]);
    assert_eq!(plain.len(), 32);
    let back = h.ok(
        "admin",
        "Decrypt",
        json!({"CiphertextBlob": out["CiphertextBlob"], "EncryptionContext": {"k": "v"}}),
    );
    assert_eq!(unb64(&back["Plaintext"]), plain);
    let out = h.ok(
        "admin",
        "GenerateDataKeyWithoutPlaintext",
        json!({"KeyId": id, "NumberOfBytes": 7}),
    );
    assert!(out.get("Plaintext").is_none());
    let back = h.ok(
        "admin",
        "Decrypt",
        json!({"CiphertextBlob": out["CiphertextBlob"]}),
    );
    assert_eq!(unb64(&back["Plaintext"]).len(), 7);
}

#[test]
fn keys_survive_reopening_the_service() {
    let h = Harness::new();
    let id = h.symmetric_key();
    let ct = h.ok(
        "admin",
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(b"keep")}),
    );
    let reopened = h.reopen();
    let pt = reopened.ok(
        "admin",
        "Decrypt",
        json!({"CiphertextBlob": ct["CiphertextBlob"]}),
    );
    assert_eq!(unb64(&pt["Plaintext"]), b"keep");
}

#[test]
fn aws_managed_keys_appear_on_first_use() {
    let h = Harness::new();
    // Direct use is denied: the key policy allows use only through the service.
    h.err(
        "admin",
        "Encrypt",
        json!({"KeyId": "alias/aws/s3", "Plaintext": b64(b"x")}),
        ErrorKind::AccessDeniedException,
    );
    let md = h.describe("alias/aws/s3");
    assert_eq!(md["KeyManager"], "AWS");
    assert_eq!(
        md["Description"],
        "Default key that protects my s3 data when no other key is defined"
    );
    // The same key the second time.
    assert_eq!(h.describe("alias/aws/s3")["KeyId"], md["KeyId"]);
}

#[test]
fn plaintext_and_ciphertext_lengths_are_checked() {
    let h = Harness::new();
    let id = h.symmetric_key();
    // Plaintext: 1 to 4096 bytes.
    let ct = h.ok(
        "admin",
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(&[7; 4096])}),
    );
    let pt = h.ok(
        "admin",
        "Decrypt",
        json!({"CiphertextBlob": ct["CiphertextBlob"]}),
    );
    assert_eq!(unb64(&pt["Plaintext"]), [7; 4096]);
    for plaintext in [b64(&[7; 4097]), String::new()] {
        h.err(
            "admin",
            "Encrypt",
            json!({"KeyId": id, "Plaintext": plaintext}),
            ErrorKind::ValidationException,
        );
    }
    // CiphertextBlob: 1 to 6144 bytes; within that, a blob that is not a
    // ciphertext is InvalidCiphertextException.
    for blob in [b64(&[1; 6145]), String::new()] {
        h.err(
            "admin",
            "Decrypt",
            json!({"CiphertextBlob": blob}),
            ErrorKind::ValidationException,
        );
    }
    h.err(
        "admin",
        "Decrypt",
        json!({"CiphertextBlob": b64(&[1; 6144])}),
        ErrorKind::InvalidCiphertextException,
    );
    // Decrypt names the wrong key: IncorrectKeyException.
    let other = h.symmetric_key();
    h.err(
        "admin",
        "Decrypt",
        json!({"CiphertextBlob": ct["CiphertextBlob"], "KeyId": other}),
        ErrorKind::IncorrectKeyException,
    );
    // The encryption context is a map of strings; empty values are allowed
    // and bound like any other.
    h.err(
        "admin",
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(b"x"), "EncryptionContext": {"n": 1}}),
        ErrorKind::ValidationException,
    );
    let ct = h.ok(
        "admin",
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(b"x"), "EncryptionContext": {"empty": ""}}),
    );
    h.ok(
        "admin",
        "Decrypt",
        json!({"CiphertextBlob": ct["CiphertextBlob"], "EncryptionContext": {"empty": ""}}),
    );
    h.err(
        "admin",
        "Decrypt",
        json!({"CiphertextBlob": ct["CiphertextBlob"]}),
        ErrorKind::InvalidCiphertextException,
    );
}

#[test]
fn list_keys_pages_with_limit_and_marker() {
    let h = Harness::new();
    let mut ids: Vec<String> = (0..3).map(|_| h.symmetric_key()).collect();
    ids.sort();
    let mut seen = Vec::new();
    let mut input = json!({"Limit": 2});
    loop {
        let page = h.ok("admin", "ListKeys", input.clone());
        let keys = page["Keys"].as_array().unwrap();
        assert!(keys.len() <= 2);
        for k in keys {
            let id = k["KeyId"].as_str().unwrap().to_owned();
            assert_eq!(
                k["KeyArn"],
                format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{id}")
            );
            seen.push(id);
        }
        if page["Truncated"] == true {
            input["Marker"] = page["NextMarker"].clone();
        } else {
            assert!(page.get("NextMarker").is_none());
            break;
        }
    }
    assert_eq!(seen, ids);
    h.err(
        "admin",
        "ListKeys",
        json!({"Marker": "not a marker!"}),
        ErrorKind::InvalidMarkerException,
    );
    for limit in [0, 1001] {
        h.err(
            "admin",
            "ListKeys",
            json!({"Limit": limit}),
            ErrorKind::ValidationException,
        );
    }
    h.ok("admin", "ListKeys", json!({"Limit": 1000}));
}

#[test]
fn descriptions_are_at_most_8192_characters() {
    let h = Harness::new();
    let long = "d".repeat(8192);
    let id = h.create_key(json!({"Description": long}));
    assert_eq!(h.describe(&id)["Description"], long);
    h.err(
        "admin",
        "CreateKey",
        json!({"Description": "d".repeat(8193)}),
        ErrorKind::ValidationException,
    );
    h.ok(
        "admin",
        "UpdateKeyDescription",
        json!({"KeyId": id, "Description": ""}),
    );
    assert_eq!(h.describe(&id)["Description"], "");
    h.err(
        "admin",
        "UpdateKeyDescription",
        json!({"KeyId": id, "Description": "d".repeat(8193)}),
        ErrorKind::ValidationException,
    );
    h.err(
        "admin",
        "UpdateKeyDescription",
        json!({"KeyId": id}),
        ErrorKind::ValidationException,
    );
    assert_eq!(h.describe(&id)["Description"], "");
}

#[test]
fn create_key_checks_tags_as_tag_resource_does() {
    let h = Harness::new();
    let count = |h: &Harness| {
        h.ok("admin", "ListKeys", json!({}))["Keys"]
            .as_array()
            .unwrap()
            .len()
    };
    let tags = |n: usize| -> Vec<serde_json::Value> {
        (0..n)
            .map(|i| json!({"TagKey": format!("k{i}"), "TagValue": "v"}))
            .collect()
    };
    for key in ["aws:owner", "AWS:owner"] {
        h.err(
            "admin",
            "CreateKey",
            json!({"Tags": [{"TagKey": key, "TagValue": "x"}]}),
            ErrorKind::TagException,
        );
    }
    h.err(
        "admin",
        "CreateKey",
        json!({"Tags": [{"TagKey": "k".repeat(129), "TagValue": "x"}]}),
        ErrorKind::TagException,
    );
    h.err(
        "admin",
        "CreateKey",
        json!({"Tags": tags(51)}),
        ErrorKind::LimitExceededException,
    );
    // Nothing was created by the refused requests.
    assert_eq!(count(&h), 0);
    let id = h.create_key(json!({"Tags": tags(50)}));
    assert_eq!(count(&h), 1);
    let listed = h.ok("admin", "ListResourceTags", json!({"KeyId": id}));
    assert_eq!(listed["Tags"].as_array().unwrap().len(), 50);
}

#[test]
fn generate_random_returns_the_bytes_asked_for() {
    let h = Harness::new();
    let a = unb64(&h.ok("admin", "GenerateRandom", json!({"NumberOfBytes": 1024}))["Plaintext"]);
    let b = unb64(&h.ok("admin", "GenerateRandom", json!({"NumberOfBytes": 1024}))["Plaintext"]);
    assert_eq!(a.len(), 1024);
    assert_ne!(a, b);
    let one = h.ok("admin", "GenerateRandom", json!({"NumberOfBytes": 1}));
    assert_eq!(unb64(&one["Plaintext"]).len(), 1);
    for n in [0, 1025] {
        h.err(
            "admin",
            "GenerateRandom",
            json!({"NumberOfBytes": n}),
            ErrorKind::ValidationException,
        );
    }
    h.err(
        "admin",
        "GenerateRandom",
        json!({"NumberOfBytes": 4, "CustomKeyStoreId": "cks-1234567890abcdef0"}),
        ErrorKind::CustomKeyStoreNotFoundException,
    );
    // GenerateRandom needs kms:GenerateRandom in an IAM policy.
    h.err(
        "alice",
        "GenerateRandom",
        json!({"NumberOfBytes": 4}),
        ErrorKind::AccessDeniedException,
    );
}

#[test]
fn custom_key_stores_are_not_supported() {
    let h = Harness::new();
    let out = h.ok("admin", "DescribeCustomKeyStores", json!({}));
    assert_eq!(out, json!({"CustomKeyStores": [], "Truncated": false}));
    h.err(
        "admin",
        "CreateCustomKeyStore",
        json!({"CustomKeyStoreName": "store", "CloudHsmClusterId": "cluster-1a23b4cdefg",
               "TrustAnchorCertificate": "cert", "KeyStorePassword": "password"}),
        ErrorKind::UnsupportedOperationException,
    );
    let id = "cks-1234567890abcdef0";
    for (op, input) in [
        ("DescribeCustomKeyStores", json!({"CustomKeyStoreId": id})),
        (
            "DescribeCustomKeyStores",
            json!({"CustomKeyStoreName": "store"}),
        ),
        ("DeleteCustomKeyStore", json!({"CustomKeyStoreId": id})),
        ("ConnectCustomKeyStore", json!({"CustomKeyStoreId": id})),
        ("DisconnectCustomKeyStore", json!({"CustomKeyStoreId": id})),
        (
            "UpdateCustomKeyStore",
            json!({"CustomKeyStoreId": id, "NewCustomKeyStoreName": "other"}),
        ),
    ] {
        h.err(
            "admin",
            op,
            input,
            ErrorKind::CustomKeyStoreNotFoundException,
        );
    }
    h.err(
        "admin",
        "CreateKey",
        json!({"CustomKeyStoreId": id, "Origin": "AWS_CLOUDHSM"}),
        ErrorKind::CustomKeyStoreNotFoundException,
    );
    h.err(
        "admin",
        "CreateKey",
        json!({"Origin": "AWS_CLOUDHSM"}),
        ErrorKind::UnsupportedOperationException,
    );
}
