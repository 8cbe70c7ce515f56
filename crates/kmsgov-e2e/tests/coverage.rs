//! The operations the other end-to-end tests do not reach, and a check
//! that every operation of the KMS API is called through the SDK by some
//! end-to-end test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/server.rs"]
mod server;

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, ECDH_P256};
use aws_lc_rs::encoding::{AsDer as _, PublicKeyX509Der};
use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    AlgorithmSpec, DataKeyPairSpec, ExpirationModelType, KeyAgreementAlgorithmSpec, KeySpec,
    KeyState, KeyUsageType, OriginType, WrappingKeySpec,
};
use aws_sdk_kms::Client;
use kmsgov_authz::Operation;
use server::{user, Workspace, ACCOUNT};

fn code<E: ProvideErrorMetadata>(error: &E) -> String {
    error.code().unwrap_or("<no code>").to_owned()
}

async fn new_key(client: &Client) -> String {
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

#[tokio::test(flavor = "multi_thread")]
async fn descriptions_rotation_policies_and_retirable_grants() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let key = new_key(&admin).await;

    admin
        .update_key_description()
        .key_id(&key)
        .description("payroll")
        .send()
        .await
        .unwrap();
    let described = admin.describe_key().key_id(&key).send().await.unwrap();
    assert_eq!(
        described.key_metadata().unwrap().description(),
        Some("payroll")
    );
    // alice may not change descriptions (her IAM policy is cryptography only).
    let denied = kms
        .client("alice")
        .update_key_description()
        .key_id(&key)
        .description("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&denied), "AccessDeniedException");

    admin
        .enable_key_rotation()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    admin
        .disable_key_rotation()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    let status = admin
        .get_key_rotation_status()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    assert!(!status.key_rotation_enabled());

    let policies = admin.list_key_policies().key_id(&key).send().await.unwrap();
    assert_eq!(policies.policy_names(), ["default"]);
    assert!(!policies.truncated());

    // A grant whose retiring principal is alice is retirable by her.
    let alice_arn = user("alice").2;
    let grant = admin
        .create_grant()
        .key_id(&key)
        .grantee_principal(user("bob").2)
        .retiring_principal(&alice_arn)
        .operations(aws_sdk_kms::types::GrantOperation::Decrypt)
        .send()
        .await
        .unwrap();
    let retirable = admin
        .list_retirable_grants()
        .retiring_principal(&alice_arn)
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = retirable
        .grants()
        .iter()
        .filter_map(|g| g.grant_id())
        .collect();
    assert_eq!(ids, [grant.grant_id().unwrap()]);
    let none = admin
        .list_retirable_grants()
        .retiring_principal(user("carol").2)
        .send()
        .await
        .unwrap();
    assert!(none.grants().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn data_key_pairs_without_plaintext() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let key = new_key(&admin).await;
    let pair = kms
        .client("alice")
        .generate_data_key_pair_without_plaintext()
        .key_id(&key)
        .key_pair_spec(DataKeyPairSpec::EccNistP256)
        .send()
        .await
        .unwrap();
    assert_eq!(pair.key_pair_spec(), Some(&DataKeyPairSpec::EccNistP256));
    let public = pair.public_key().unwrap().as_ref();
    let private = kms
        .client("alice")
        .decrypt()
        .ciphertext_blob(pair.private_key_ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    // The private key decrypts to PKCS#8 whose public half is the one given.
    let signer = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        private.plaintext().unwrap().as_ref(),
    )
    .unwrap();
    let derived: PublicKeyX509Der<'_> = aws_lc_rs::signature::KeyPair::public_key(&signer)
        .as_der()
        .unwrap();
    assert_eq!(derived.as_ref(), public);
}

#[tokio::test(flavor = "multi_thread")]
async fn shared_secrets_match_a_local_ecdh() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let key = admin
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::KeyAgreement)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let theirs = admin.get_public_key().key_id(&key).send().await.unwrap();
    let ours = PrivateKey::generate(&ECDH_P256).unwrap();
    let our_public: PublicKeyX509Der<'_> = ours.compute_public_key().unwrap().as_der().unwrap();
    let derived = admin
        .derive_shared_secret()
        .key_id(&key)
        .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
        .public_key(Blob::new(our_public.as_ref()))
        .send()
        .await
        .unwrap();
    let expected = agreement::agree(
        &ours,
        UnparsedPublicKey::new(&ECDH_P256, theirs.public_key().unwrap().as_ref()),
        aws_lc_rs::error::Unspecified,
        |secret| Ok(secret.to_vec()),
    )
    .unwrap();
    assert_eq!(derived.shared_secret().unwrap().as_ref(), expected);
    // alice's IAM policy does not include kms:DeriveSharedSecret.
    let denied = kms
        .client("alice")
        .derive_shared_secret()
        .key_id(&key)
        .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
        .public_key(Blob::new(our_public.as_ref()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&denied), "AccessDeniedException");
}

#[tokio::test(flavor = "multi_thread")]
async fn imported_key_material_is_used_and_deleted() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let key = admin
        .create_key()
        .origin(OriginType::External)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let params = admin
        .get_parameters_for_import()
        .key_id(&key)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .unwrap();
    let wrapping = OaepPublicEncryptingKey::new(
        PublicEncryptingKey::from_der(params.public_key().unwrap().as_ref()).unwrap(),
    )
    .unwrap();
    let mut material = [0u8; 32];
    aws_lc_rs::rand::fill(&mut material).unwrap();
    let mut wrapped = vec![0u8; wrapping.ciphertext_size()];
    let n = wrapping
        .encrypt(&OAEP_SHA256_MGF1SHA256, &material, &mut wrapped, None)
        .unwrap()
        .len();
    wrapped.truncate(n);
    admin
        .import_key_material()
        .key_id(&key)
        .import_token(params.import_token().unwrap().clone())
        .encrypted_key_material(Blob::new(wrapped))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .unwrap();
    let blob = admin
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("imported"))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    let plain = admin
        .decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"imported");

    admin
        .delete_imported_key_material()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    let state = admin
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_state()
        .cloned();
    assert_eq!(state, Some(KeyState::PendingImport));
    let refused = admin
        .decrypt()
        .ciphertext_blob(blob)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&refused), "KMSInvalidStateException");
}

#[tokio::test(flavor = "multi_thread")]
async fn multi_region_keys_are_replicated_and_change_primary() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let key = admin
        .create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    assert!(key.starts_with("mrk-"), "{key}");
    let replica = admin
        .replicate_key()
        .key_id(&key)
        .replica_region("eu-west-1")
        .send()
        .await
        .unwrap();
    let metadata = replica.replica_key_metadata().unwrap();
    assert_eq!(
        metadata.arn(),
        Some(format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{key}").as_str())
    );
    let again = admin
        .replicate_key()
        .key_id(&key)
        .replica_region("eu-west-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&again), "AlreadyExistsException");
    admin
        .update_primary_region()
        .key_id(&key)
        .primary_region("eu-west-1")
        .send()
        .await
        .unwrap();
    // This Region's key is now a replica: it cannot be replicated again.
    let described = admin.describe_key().key_id(&key).send().await.unwrap();
    let configuration = described
        .key_metadata()
        .unwrap()
        .multi_region_configuration()
        .unwrap();
    assert_eq!(
        configuration.primary_key().unwrap().region(),
        Some("eu-west-1")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unsupported_features_answer_with_the_aws_error() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let key = new_key(&admin).await;

    let stores = admin.describe_custom_key_stores().send().await.unwrap();
    assert!(stores.custom_key_stores().is_empty());
    let created = admin
        .create_custom_key_store()
        .custom_key_store_name("hsm")
        .cloud_hsm_cluster_id("cluster-1234567890a")
        .trust_anchor_certificate("cert")
        .key_store_password("password")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&created), "UnsupportedOperationException");
    let store = "cks-1234567890abcdef0";
    let errors = [
        code(
            &admin
                .connect_custom_key_store()
                .custom_key_store_id(store)
                .send()
                .await
                .unwrap_err(),
        ),
        code(
            &admin
                .disconnect_custom_key_store()
                .custom_key_store_id(store)
                .send()
                .await
                .unwrap_err(),
        ),
        code(
            &admin
                .update_custom_key_store()
                .custom_key_store_id(store)
                .new_custom_key_store_name("other")
                .send()
                .await
                .unwrap_err(),
        ),
        code(
            &admin
                .delete_custom_key_store()
                .custom_key_store_id(store)
                .send()
                .await
                .unwrap_err(),
        ),
        code(
            &admin
                .describe_custom_key_stores()
                .custom_key_store_id(store)
                .send()
                .await
                .unwrap_err(),
        ),
    ];
    assert!(
        errors
            .iter()
            .all(|e| e == "CustomKeyStoreNotFoundException"),
        "{errors:?}"
    );
    let usage = admin
        .get_key_last_usage()
        .key_id(&key)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&usage), "UnsupportedOperationException");
}

/// Every operation kmsgov knows is called through the SDK somewhere in
/// this crate's tests (`.operation_name()` on a client).
#[test]
fn every_operation_is_called_through_the_sdk() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut source = String::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            source.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    let missing: Vec<&str> = Operation::ALL
        .iter()
        .map(|op| op.name())
        .filter(|name| !source.contains(&format!(".{}()", snake_case(name))))
        .collect();
    assert!(
        missing.is_empty(),
        "operations no end-to-end test calls: {missing:?}"
    );
    assert!(Operation::ALL.len() >= 50, "{}", Operation::ALL.len());
}

fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
