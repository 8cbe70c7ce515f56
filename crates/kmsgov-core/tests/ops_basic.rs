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
