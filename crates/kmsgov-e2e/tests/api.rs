//! The KMS API through the AWS SDK for Rust against a spawned `kmsgov serve`.
//!
//! Each test starts its own server on a fresh data directory.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/server.rs"]
mod server;

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    DataKeyPairSpec, DataKeySpec, GrantOperation, KeySpec, KeyState, KeyUsageType,
    MacAlgorithmSpec, SigningAlgorithmSpec, Tag,
};
use aws_sdk_kms::Client;
use server::{user, Workspace, ACCOUNT};

/// The AWS error name of a failed call.
fn code<E: ProvideErrorMetadata>(error: &E) -> String {
    error.code().unwrap_or("<no code>").to_owned()
}

/// A new symmetric key of `client`'s; its key id.
async fn symmetric_key(client: &Client) -> String {
    client
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned()
}

async fn key_state(client: &Client, key_id: &str) -> KeyState {
    client
        .describe_key()
        .key_id(key_id)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_state()
        .unwrap()
        .clone()
}

async fn encrypt(client: &Client, key_id: &str, plaintext: &[u8]) -> Result<Blob, String> {
    client
        .encrypt()
        .key_id(key_id)
        .plaintext(Blob::new(plaintext))
        .send()
        .await
        .map(|o| o.ciphertext_blob().unwrap().clone())
        .map_err(|e| code(&e))
}

#[tokio::test(flavor = "multi_thread")]
async fn create_describe_and_list_keys() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let created = admin
        .create_key()
        .description("orders")
        .send()
        .await
        .unwrap();
    let metadata = created.key_metadata().unwrap();
    let key_id = metadata.key_id().to_owned();
    assert_eq!(metadata.description(), Some("orders"));
    assert_eq!(metadata.aws_account_id(), Some(ACCOUNT));
    assert_eq!(
        metadata.arn(),
        Some(format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}").as_str())
    );
    assert_eq!(metadata.key_state(), Some(&KeyState::Enabled));
    assert_eq!(metadata.key_usage(), Some(&KeyUsageType::EncryptDecrypt));
    assert_eq!(metadata.key_spec(), Some(&KeySpec::SymmetricDefault));

    let described = admin.describe_key().key_id(&key_id).send().await.unwrap();
    assert_eq!(described.key_metadata(), Some(metadata));

    let second = symmetric_key(&admin).await;
    let listed = admin.list_keys().send().await.unwrap();
    let mut ids: Vec<&str> = listed.keys().iter().filter_map(|k| k.key_id()).collect();
    ids.sort_unstable();
    let mut expected = vec![key_id.as_str(), second.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);

    let missing = admin
        .describe_key()
        .key_id("11111111-2222-3333-4444-555555555555")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(missing.is_not_found_exception(), "{missing:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn encrypt_and_decrypt_with_an_encryption_context() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let key_id = symmetric_key(&admin).await;
    let encrypted = admin
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"attack at dawn"))
        .encryption_context("order", "42")
        .send()
        .await
        .unwrap();
    assert!(encrypted.key_id().unwrap().ends_with(&key_id));
    let blob = encrypted.ciphertext_blob().unwrap().clone();
    assert_ne!(blob.as_ref(), b"attack at dawn");

    let decrypted = admin
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("order", "42")
        .send()
        .await
        .unwrap();
    assert_eq!(decrypted.plaintext().unwrap().as_ref(), b"attack at dawn");
    assert!(decrypted.key_id().unwrap().ends_with(&key_id));

    for context in [None, Some(("order", "43")), Some(("other", "42"))] {
        let mut call = admin.decrypt().ciphertext_blob(blob.clone());
        if let Some((k, v)) = context {
            call = call.encryption_context(k, v);
        }
        let error = call.send().await.unwrap_err().into_service_error();
        assert!(
            error.is_invalid_ciphertext_exception(),
            "{context:?}: {error:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn generate_data_keys_with_and_without_plaintext() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let key_id = symmetric_key(&admin).await;

    let data_key = admin
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .encryption_context("purpose", "backup")
        .send()
        .await
        .unwrap();
    let plaintext = data_key.plaintext().unwrap().as_ref().to_vec();
    assert_eq!(plaintext.len(), 32);
    let opened = admin
        .decrypt()
        .ciphertext_blob(data_key.ciphertext_blob().unwrap().clone())
        .encryption_context("purpose", "backup")
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref(), plaintext.as_slice());

    let sized = admin
        .generate_data_key()
        .key_id(&key_id)
        .number_of_bytes(16)
        .send()
        .await
        .unwrap();
    assert_eq!(sized.plaintext().unwrap().as_ref().len(), 16);

    let without = admin
        .generate_data_key_without_plaintext()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes128)
        .send()
        .await
        .unwrap();
    let opened = admin
        .decrypt()
        .ciphertext_blob(without.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref().len(), 16);
}

#[tokio::test(flavor = "multi_thread")]
async fn generate_random() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let a = admin
        .generate_random()
        .number_of_bytes(32)
        .send()
        .await
        .unwrap();
    let b = admin
        .generate_random()
        .number_of_bytes(32)
        .send()
        .await
        .unwrap();
    assert_eq!(a.plaintext().unwrap().as_ref().len(), 32);
    assert_ne!(a.plaintext(), b.plaintext());
    let error = admin
        .generate_random()
        .number_of_bytes(1025)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "ValidationException");
}

#[tokio::test(flavor = "multi_thread")]
async fn principals_are_allowed_and_denied_by_their_policies() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let alice = kms.client("alice");
    let bob = kms.client("bob");
    let carol = kms.client("carol");
    let key_id = symmetric_key(&admin).await;

    // alice's IAM policy allows cryptography but not creating keys.
    let blob = encrypt(&alice, &key_id, b"from alice").await.unwrap();
    let opened = alice
        .decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref(), b"from alice");
    let denied = alice.create_key().send().await.unwrap_err();
    assert_eq!(code(&denied), "AccessDeniedException");
    let message = denied.message().unwrap().to_owned();
    assert!(
        message.contains(&format!(
            "{} is not authorized to perform: kms:CreateKey",
            user("alice").2
        )),
        "{message}"
    );

    // bob has no IAM policy, and the default key policy delegates to IAM.
    let denied = bob.describe_key().key_id(&key_id).send().await.unwrap_err();
    assert_eq!(code(&denied), "AccessDeniedException");
    assert_eq!(
        encrypt(&bob, &key_id, b"x").await,
        Err("AccessDeniedException".to_owned())
    );

    // carol may do anything but decrypt: the explicit deny wins.
    encrypt(&carol, &key_id, b"from carol").await.unwrap();
    let denied = carol
        .decrypt()
        .ciphertext_blob(blob)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&denied), "AccessDeniedException");
    assert!(
        denied.message().unwrap().contains("with an explicit deny"),
        "{:?}",
        denied.message()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn re_encrypt_moves_a_ciphertext_to_another_key() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let first = symmetric_key(&admin).await;
    let second = symmetric_key(&admin).await;
    let blob = admin
        .encrypt()
        .key_id(&first)
        .plaintext(Blob::new(b"moving"))
        .encryption_context("stage", "one")
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    let moved = admin
        .re_encrypt()
        .ciphertext_blob(blob)
        .source_encryption_context("stage", "one")
        .destination_key_id(&second)
        .destination_encryption_context("stage", "two")
        .send()
        .await
        .unwrap();
    assert!(moved.source_key_id().unwrap().ends_with(&first));
    assert!(moved.key_id().unwrap().ends_with(&second));
    let opened = admin
        .decrypt()
        .ciphertext_blob(moved.ciphertext_blob().unwrap().clone())
        .encryption_context("stage", "two")
        .send()
        .await
        .unwrap();
    assert!(opened.key_id().unwrap().ends_with(&second));
    assert_eq!(opened.plaintext().unwrap().as_ref(), b"moving");
}

#[tokio::test(flavor = "multi_thread")]
async fn aliases_are_created_listed_updated_and_deleted() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let first = symmetric_key(&admin).await;
    let second = symmetric_key(&admin).await;
    admin
        .create_alias()
        .alias_name("alias/orders")
        .target_key_id(&first)
        .send()
        .await
        .unwrap();
    // The alias names the key in cryptographic operations.
    let blob = encrypt(&admin, "alias/orders", b"via alias").await.unwrap();
    let opened = admin.decrypt().ciphertext_blob(blob).send().await.unwrap();
    assert!(opened.key_id().unwrap().ends_with(&first));

    let listed = admin.list_aliases().key_id(&first).send().await.unwrap();
    let names: Vec<&str> = listed
        .aliases()
        .iter()
        .filter_map(|a| a.alias_name())
        .collect();
    assert_eq!(names, ["alias/orders"]);
    let entry = &listed.aliases()[0];
    assert_eq!(entry.target_key_id(), Some(first.as_str()));
    assert_eq!(
        entry.alias_arn(),
        Some(format!("arn:aws:kms:us-east-1:{ACCOUNT}:alias/orders").as_str())
    );

    let duplicate = admin
        .create_alias()
        .alias_name("alias/orders")
        .target_key_id(&second)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(duplicate.is_already_exists_exception(), "{duplicate:?}");

    admin
        .update_alias()
        .alias_name("alias/orders")
        .target_key_id(&second)
        .send()
        .await
        .unwrap();
    let described = admin
        .describe_key()
        .key_id("alias/orders")
        .send()
        .await
        .unwrap();
    assert_eq!(described.key_metadata().unwrap().key_id(), second);

    admin
        .delete_alias()
        .alias_name("alias/orders")
        .send()
        .await
        .unwrap();
    let all = admin.list_aliases().send().await.unwrap();
    assert!(all
        .aliases()
        .iter()
        .all(|a| a.alias_name() != Some("alias/orders")));
    let gone = admin
        .describe_key()
        .key_id("alias/orders")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&gone), "NotFoundException");
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_are_added_listed_and_removed() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let key_id = symmetric_key(&admin).await;
    let tag = |k: &str, v: &str| Tag::builder().tag_key(k).tag_value(v).build().unwrap();
    admin
        .tag_resource()
        .key_id(&key_id)
        .tags(tag("team", "payments"))
        .tags(tag("env", "test"))
        .send()
        .await
        .unwrap();
    let listed = admin
        .list_resource_tags()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let mut tags: Vec<(&str, &str)> = listed
        .tags()
        .iter()
        .map(|t| (t.tag_key(), t.tag_value()))
        .collect();
    tags.sort_unstable();
    assert_eq!(tags, [("env", "test"), ("team", "payments")]);

    admin
        .untag_resource()
        .key_id(&key_id)
        .tag_keys("env")
        .send()
        .await
        .unwrap();
    let listed = admin
        .list_resource_tags()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let tags: Vec<(&str, &str)> = listed
        .tags()
        .iter()
        .map(|t| (t.tag_key(), t.tag_value()))
        .collect();
    assert_eq!(tags, [("team", "payments")]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_policy_change_takes_effect_on_the_next_call() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let alice = kms.client("alice");
    let key_id = symmetric_key(&admin).await;
    encrypt(&alice, &key_id, b"before").await.unwrap();

    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
             "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "No encryption for alice", "Effect": "Deny",
             "Principal": {"AWS": user("alice").2},
             "Action": "kms:Encrypt", "Resource": "*"}
        ]
    });
    admin
        .put_key_policy()
        .key_id(&key_id)
        .policy_name("default")
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
    let denied = encrypt(&alice, &key_id, b"after").await;
    assert_eq!(denied, Err("AccessDeniedException".to_owned()));

    let stored = admin
        .get_key_policy()
        .key_id(&key_id)
        .policy_name("default")
        .send()
        .await
        .unwrap();
    let stored: serde_json::Value = serde_json::from_str(stored.policy().unwrap()).unwrap();
    assert_eq!(stored, policy);
}

#[tokio::test(flavor = "multi_thread")]
async fn grants_are_created_listed_retired_and_revoked() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let bob = kms.client("bob");
    let key_id = symmetric_key(&admin).await;
    assert_eq!(
        encrypt(&bob, &key_id, b"x").await,
        Err("AccessDeniedException".to_owned())
    );

    let granted = admin
        .create_grant()
        .key_id(&key_id)
        .grantee_principal(user("bob").2)
        .retiring_principal(user("admin").2)
        .operations(GrantOperation::Encrypt)
        .operations(GrantOperation::Decrypt)
        .name("bob-encrypts")
        .send()
        .await
        .unwrap();
    let grant_id = granted.grant_id().unwrap().to_owned();
    assert!(granted.grant_token().is_some());
    let blob = encrypt(&bob, &key_id, b"granted").await.unwrap();
    bob.decrypt().ciphertext_blob(blob).send().await.unwrap();

    let listed = admin.list_grants().key_id(&key_id).send().await.unwrap();
    assert_eq!(listed.grants().len(), 1);
    let grant = &listed.grants()[0];
    assert_eq!(grant.grant_id(), Some(grant_id.as_str()));
    assert_eq!(grant.grantee_principal(), Some(user("bob").2.as_str()));
    assert_eq!(grant.name(), Some("bob-encrypts"));
    let mut operations: Vec<&str> = grant
        .operations()
        .iter()
        .map(GrantOperation::as_str)
        .collect();
    operations.sort_unstable();
    assert_eq!(operations, ["Decrypt", "Encrypt"]);

    admin
        .retire_grant()
        .key_id(&key_id)
        .grant_id(&grant_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        encrypt(&bob, &key_id, b"x").await,
        Err("AccessDeniedException".to_owned())
    );
    let listed = admin.list_grants().key_id(&key_id).send().await.unwrap();
    assert!(listed.grants().is_empty());

    let second = admin
        .create_grant()
        .key_id(&key_id)
        .grantee_principal(user("bob").2)
        .operations(GrantOperation::Encrypt)
        .send()
        .await
        .unwrap();
    encrypt(&bob, &key_id, b"again").await.unwrap();
    admin
        .revoke_grant()
        .key_id(&key_id)
        .grant_id(second.grant_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        encrypt(&bob, &key_id, b"x").await,
        Err("AccessDeniedException".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn key_rotation_is_enabled_and_done_on_demand() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let key_id = symmetric_key(&admin).await;
    let before = encrypt(&admin, &key_id, b"old material").await.unwrap();

    let status = admin
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert!(!status.key_rotation_enabled());
    admin
        .enable_key_rotation()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let status = admin
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert!(status.key_rotation_enabled());
    assert!(status.next_rotation_date().is_some());

    admin
        .rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let rotations = admin
        .list_key_rotations()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert_eq!(rotations.rotations().len(), 1);
    assert_eq!(
        rotations.rotations()[0].rotation_type().map(|t| t.as_str()),
        Some("ON_DEMAND")
    );

    // Ciphertexts from before the rotation still open.
    let opened = admin
        .decrypt()
        .ciphertext_blob(before)
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref(), b"old material");
}

#[tokio::test(flavor = "multi_thread")]
async fn disabled_keys_refuse_cryptography_until_enabled() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let key_id = symmetric_key(&admin).await;
    admin.disable_key().key_id(&key_id).send().await.unwrap();
    assert_eq!(key_state(&admin, &key_id).await, KeyState::Disabled);
    let error = admin
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"x"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(error.is_disabled_exception(), "{error:?}");
    admin.enable_key().key_id(&key_id).send().await.unwrap();
    assert_eq!(key_state(&admin, &key_id).await, KeyState::Enabled);
    encrypt(&admin, &key_id, b"x").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn key_deletion_is_scheduled_and_cancelled() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let key_id = symmetric_key(&admin).await;
    let scheduled = admin
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(scheduled.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(scheduled.pending_window_in_days(), Some(7));
    let deletion = scheduled.deletion_date().unwrap().secs();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let in_seven_days = i64::try_from(now).unwrap() + 7 * 86_400;
    assert!(
        (deletion - in_seven_days).abs() < 86_400,
        "{deletion} vs {in_seven_days}"
    );

    let error = admin
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"x"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(error.is_kms_invalid_state_exception(), "{error:?}");

    admin
        .cancel_key_deletion()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    // A cancelled deletion leaves the key disabled, as in KMS.
    assert_eq!(key_state(&admin, &key_id).await, KeyState::Disabled);
    admin.enable_key().key_id(&key_id).send().await.unwrap();
    encrypt(&admin, &key_id, b"x").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn asymmetric_keys_sign_and_verify() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let alice = kms.client("alice");
    let key_id = admin
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let signed = alice
        .sign()
        .key_id(&key_id)
        .message(Blob::new(b"the contract"))
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .unwrap();
    let signature = signed.signature().unwrap().clone();
    let verified = alice
        .verify()
        .key_id(&key_id)
        .message(Blob::new(b"the contract"))
        .signature(signature.clone())
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .unwrap();
    assert!(verified.signature_valid());
    let forged = alice
        .verify()
        .key_id(&key_id)
        .message(Blob::new(b"another contract"))
        .signature(signature)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(forged.is_kms_invalid_signature_exception(), "{forged:?}");

    let public = alice.get_public_key().key_id(&key_id).send().await.unwrap();
    assert_eq!(public.key_spec(), Some(&KeySpec::EccNistP256));
    // A DER SubjectPublicKeyInfo: a SEQUENCE.
    assert_eq!(public.public_key().unwrap().as_ref().first(), Some(&0x30));
    assert_eq!(
        public.signing_algorithms(),
        [SigningAlgorithmSpec::EcdsaSha256]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hmac_keys_generate_and_verify_macs() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let key_id = admin
        .create_key()
        .key_spec(KeySpec::Hmac256)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let mac = admin
        .generate_mac()
        .key_id(&key_id)
        .message(Blob::new(b"payload"))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap()
        .mac()
        .unwrap()
        .clone();
    assert_eq!(mac.as_ref().len(), 32);
    let valid = admin
        .verify_mac()
        .key_id(&key_id)
        .message(Blob::new(b"payload"))
        .mac(mac.clone())
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap();
    assert!(valid.mac_valid());
    let invalid = admin
        .verify_mac()
        .key_id(&key_id)
        .message(Blob::new(b"tampered"))
        .mac(mac)
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(invalid.is_kms_invalid_mac_exception(), "{invalid:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn generate_data_key_pair() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let key_id = symmetric_key(&admin).await;
    let pair = admin
        .generate_data_key_pair()
        .key_id(&key_id)
        .key_pair_spec(DataKeyPairSpec::EccNistP256)
        .send()
        .await
        .unwrap();
    let private = pair.private_key_plaintext().unwrap().as_ref().to_vec();
    assert_eq!(pair.public_key().unwrap().as_ref().first(), Some(&0x30));
    assert_eq!(pair.key_pair_spec(), Some(&DataKeyPairSpec::EccNistP256));
    // The encrypted private key opens to the plaintext one.
    let opened = admin
        .decrypt()
        .ciphertext_blob(pair.private_key_ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref(), private.as_slice());
}
