//! The server as a process: authentication seen by the SDK, restarts on the
//! same data directory, world reloads on SIGHUP, and the same outcome as the
//! engine decides directly.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/server.rs"]
mod server;

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use kmsgov_authz::{
    decide, key_policy_options, Call, Environment, Key, KeyState, NamedPolicy, Operation, Outcome,
    Scenario, Trace,
};
use kmsgov_policy::{Caller, Policy};
use serde_json::{json, Value};
use server::{user, Workspace, ACCOUNT, WORLD};

#[tokio::test(flavor = "multi_thread")]
async fn the_sdk_sees_authentication_failures_by_name() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let (id, _, _) = user("admin");
    let wrong_secret = kms.client_with(id, "not-the-secret");
    let error = wrong_secret.list_keys().send().await.unwrap_err();
    assert_eq!(error.code(), Some("InvalidSignatureException"));
    let stranger = kms.client_with("AKIANOBODY0000000000", "whatever");
    let error = stranger.list_keys().send().await.unwrap_err();
    assert_eq!(error.code(), Some("UnrecognizedClientException"));
    kms.client("admin").list_keys().send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_and_ciphertexts_survive_a_restart() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let key_id = admin
        .create_key()
        .description("durable")
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let blob = admin
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"kept across restarts"))
        .encryption_context("app", "e2e")
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    let status = kms.stop();
    assert!(status.success(), "{status:?}");

    // The root key was created readable by its owner only.
    let root_key = ws.data_dir().join("root.key");
    let metadata = std::fs::metadata(&root_key).unwrap();
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    assert_eq!(metadata.len(), 32);

    // Another root key cannot open the stored keys: the server does not start.
    let original = std::fs::read(&root_key).unwrap();
    std::fs::write(&root_key, [0x5a; 32]).unwrap();
    let refused = std::process::Command::new(server::binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(ws.data_dir())
        .arg("--world")
        .arg(ws.world())
        .env_remove("KMSGOV_ROOT_KEY")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("is this the right root key?"), "{stderr}");
    std::fs::write(&root_key, original).unwrap();

    let kms = ws.serve();
    let admin = kms.client("admin");
    let described = admin.describe_key().key_id(&key_id).send().await.unwrap();
    assert_eq!(
        described.key_metadata().unwrap().description(),
        Some("durable")
    );
    let listed = admin.list_keys().send().await.unwrap();
    assert_eq!(listed.keys().len(), 1);
    let opened = admin
        .decrypt()
        .ciphertext_blob(blob)
        .encryption_context("app", "e2e")
        .send()
        .await
        .unwrap();
    assert_eq!(
        opened.plaintext().unwrap().as_ref(),
        b"kept across restarts"
    );
    assert!(kms.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn aliases_survive_a_restart() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let key_id = admin
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    admin
        .create_alias()
        .alias_name("alias/durable")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();
    let blob = admin
        .encrypt()
        .key_id("alias/durable")
        .plaintext(Blob::new(b"by alias"))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    assert!(kms.stop().success());

    let kms = ws.serve();
    let admin = kms.client("admin");
    let described = admin
        .describe_key()
        .key_id("alias/durable")
        .send()
        .await
        .unwrap();
    assert_eq!(described.key_metadata().unwrap().key_id(), key_id);
    let aliases = admin.list_aliases().key_id(&key_id).send().await.unwrap();
    let names: Vec<&str> = aliases
        .aliases()
        .iter()
        .filter_map(|a| a.alias_name())
        .collect();
    assert_eq!(names, ["alias/durable"]);
    let opened = admin.decrypt().ciphertext_blob(blob).send().await.unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref(), b"by alias");
}

/// Grants, rotations and key policies are in the store too: after a
/// restart bob's grant still lets him decrypt, a ciphertext from before an
/// on-demand rotation still opens, and the key policy is the one last put.
#[tokio::test(flavor = "multi_thread")]
async fn grants_rotations_and_policies_survive_a_restart() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let key_id = admin
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let before_rotation = admin
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"version one"))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    admin
        .rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let grant = admin
        .create_grant()
        .key_id(&key_id)
        .grantee_principal(user("bob").2)
        .operations(aws_sdk_kms::types::GrantOperation::Decrypt)
        .send()
        .await
        .unwrap();
    let policy = key_policy().to_string();
    admin
        .put_key_policy()
        .key_id(&key_id)
        .policy(&policy)
        .send()
        .await
        .unwrap();
    assert!(kms.stop().success());

    let kms = ws.serve();
    let admin = kms.client("admin");
    let grants = admin.list_grants().key_id(&key_id).send().await.unwrap();
    let ids: Vec<&str> = grants
        .grants()
        .iter()
        .filter_map(|g| g.grant_id())
        .collect();
    assert_eq!(ids, [grant.grant_id().unwrap()]);
    let opened = kms
        .client("bob")
        .decrypt()
        .ciphertext_blob(before_rotation)
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref(), b"version one");
    let rotations = admin
        .list_key_rotations()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert_eq!(rotations.rotations().len(), 1);
    let stored = admin.get_key_policy().key_id(&key_id).send().await.unwrap();
    let stored: Value = serde_json::from_str(stored.policy().unwrap()).unwrap();
    assert_eq!(stored, key_policy());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_world_reload_on_sighup_takes_effect_and_a_bad_file_is_ignored() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let bob = kms.client("bob");
    let key_id = admin
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let bob_describes = || bob.describe_key().key_id(&key_id).send();
    assert_eq!(
        bob_describes().await.unwrap_err().code(),
        Some("AccessDeniedException")
    );

    // A broken world file is logged and the old world kept.
    std::fs::write(ws.world(), "{ not json").unwrap();
    kms.signal("HUP");
    wait_for(|| kms.log().contains("world file not reloaded"));
    admin.list_keys().send().await.unwrap();

    // bob gains an IAM policy.
    let world = WORLD.replace(
        r#"{"arn": "arn:aws:iam::111122223333:user/bob","#,
        r#"{"arn": "arn:aws:iam::111122223333:user/bob",
            "policies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}]}],"#,
    );
    assert_ne!(world, WORLD);
    std::fs::write(ws.world(), world).unwrap();
    kms.signal("HUP");
    wait_for(|| kms.log().contains("world file reloaded"));
    let described = bob_describes().await.unwrap();
    assert_eq!(described.key_metadata().unwrap().key_id(), key_id);
}

fn wait_for(condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A key policy with a condition, so that the server and the engine have
/// something to disagree on if they were to.
fn key_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
             "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "Billing may encrypt for billing", "Effect": "Allow",
             "Principal": {"AWS": user("bob").2},
             "Action": ["kms:Encrypt", "kms:GenerateDataKey"], "Resource": "*",
             "Condition": {"StringEquals": {"kms:EncryptionContext:dept": "billing"}}},
            {"Sid": "Loopback only for carol", "Effect": "Deny",
             "Principal": {"AWS": user("carol").2},
             "Action": "kms:*", "Resource": "*",
             "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}
        ]
    })
}

/// The same calls through the server and straight through the engine give
/// the same outcome, and for denials the same message.
#[tokio::test(flavor = "multi_thread")]
async fn the_server_decides_as_the_engine_does() {
    let ws = Workspace::new();
    let kms = ws.serve();
    let admin = kms.client("admin");
    let policy = key_policy();
    let metadata = admin
        .create_key()
        .policy(policy.to_string())
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .clone();
    let arn = metadata.arn().unwrap().to_owned();

    // The engine's world: the world file plus the key as the server holds it.
    let mut world = Scenario::parse(WORLD).unwrap().world;
    world.upsert_key(Key {
        arn: arn.clone(),
        id: metadata.key_id().to_owned(),
        account: ACCOUNT.to_owned(),
        region: "us-east-1".to_owned(),
        policy: NamedPolicy {
            name: format!("key policy of {arn}"),
            policy: Policy::parse(&policy.to_string(), &key_policy_options()).unwrap(),
        },
        spec: "SYMMETRIC_DEFAULT".to_owned(),
        usage: "ENCRYPT_DECRYPT".to_owned(),
        state: KeyState::Enabled,
        aws_managed: false,
        origin: "AWS_KMS".to_owned(),
        multi_region: false,
        aliases: Vec::new(),
        tags: Default::default(),
    });
    let mut env = Environment::new();
    env.insert("aws:SourceIp", "127.0.0.1");
    env.insert("aws:SecureTransport", "false");

    let plaintext = "c2VjcmV0";
    let cases: Vec<(&str, Operation, Value)> = vec![
        (
            "bob",
            Operation::Encrypt,
            json!({"KeyId": arn, "Plaintext": plaintext, "EncryptionContext": {"dept": "billing"}}),
        ),
        (
            "bob",
            Operation::Encrypt,
            json!({"KeyId": arn, "Plaintext": plaintext, "EncryptionContext": {"dept": "hr"}}),
        ),
        (
            "bob",
            Operation::Encrypt,
            json!({"KeyId": arn, "Plaintext": plaintext}),
        ),
        (
            "bob",
            Operation::GenerateDataKey,
            json!({"KeyId": arn, "KeySpec": "AES_256", "EncryptionContext": {"dept": "billing"}}),
        ),
        ("bob", Operation::DescribeKey, json!({"KeyId": arn})),
        (
            "alice",
            Operation::Encrypt,
            json!({"KeyId": arn, "Plaintext": plaintext}),
        ),
        ("alice", Operation::DescribeKey, json!({"KeyId": arn})),
        ("alice", Operation::CreateKey, json!({})),
        (
            "carol",
            Operation::Encrypt,
            json!({"KeyId": arn, "Plaintext": plaintext}),
        ),
        ("admin", Operation::Encrypt, json!({"KeyId": arn})),
        (
            "admin",
            Operation::GenerateDataKey,
            json!({"KeyId": arn, "KeySpec": "AES_256", "NumberOfBytes": 32}),
        ),
    ];
    let mut outcomes = Vec::new();
    for (who, operation, input) in &cases {
        let caller = Caller::parse(&user(who).2).unwrap();
        let decision = decide(
            &world,
            &Call {
                caller: &caller,
                operation: *operation,
                input,
                env: &env,
                ciphertext_key: None,
            },
            Trace::Off,
        );
        let engine = match decision.outcome {
            Outcome::Allow => ("Allow".to_owned(), String::new()),
            Outcome::Deny => ("AccessDeniedException".to_owned(), decision.message.clone()),
            Outcome::Error(code) => (code.name().to_owned(), String::new()),
        };
        let served = raw_call(&kms, who, operation.name(), input).await;
        assert_eq!(served.0, engine.0, "{who} {operation:?} {input}");
        if engine.0 == "AccessDeniedException" {
            assert_eq!(served.1, engine.1, "{who} {operation:?} {input}");
        }
        outcomes.push(engine.0);
    }
    // The cases cover allows, denials and a validation error.
    assert!(outcomes.iter().any(|o| o == "Allow"));
    assert!(outcomes.iter().any(|o| o == "AccessDeniedException"));
    assert!(outcomes.iter().any(|o| o == "ValidationException"));
}

/// Sends a call with the SDK's signing but a JSON body of the test's: the
/// outcome (`Allow` or the error name) and the message.
async fn raw_call(
    kms: &server::Kmsgov,
    who: &str,
    operation: &str,
    input: &Value,
) -> (String, String) {
    use aws_sdk_kms::types::DataKeySpec;
    let client = kms.client(who);
    let member = |name: &str| input.get(name).and_then(Value::as_str).map(str::to_owned);
    let context = input
        .get("EncryptionContext")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect::<std::collections::HashMap<_, _>>()
        });
    let blob = |b64: Option<String>| {
        b64.map(|s| {
            use base64::Engine as _;
            Blob::new(base64::engine::general_purpose::STANDARD.decode(s).unwrap())
        })
    };
    let result: Result<(), (String, String)> = match operation {
        "Encrypt" => client
            .encrypt()
            .set_key_id(member("KeyId"))
            .set_plaintext(blob(member("Plaintext")))
            .set_encryption_context(context)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                (
                    e.code().unwrap_or("").to_owned(),
                    e.message().unwrap_or("").to_owned(),
                )
            }),
        "GenerateDataKey" => client
            .generate_data_key()
            .set_key_id(member("KeyId"))
            .set_key_spec(member("KeySpec").map(|s| DataKeySpec::from(s.as_str())))
            .set_number_of_bytes(
                input
                    .get("NumberOfBytes")
                    .and_then(Value::as_i64)
                    .map(|n| i32::try_from(n).unwrap()),
            )
            .set_encryption_context(context)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                (
                    e.code().unwrap_or("").to_owned(),
                    e.message().unwrap_or("").to_owned(),
                )
            }),
        "DescribeKey" => client
            .describe_key()
            .set_key_id(member("KeyId"))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                (
                    e.code().unwrap_or("").to_owned(),
                    e.message().unwrap_or("").to_owned(),
                )
            }),
        "CreateKey" => client.create_key().send().await.map(|_| ()).map_err(|e| {
            (
                e.code().unwrap_or("").to_owned(),
                e.message().unwrap_or("").to_owned(),
            )
        }),
        other => panic!("no SDK call for {other} in this test"),
    };
    match result {
        Ok(()) => ("Allow".to_owned(), String::new()),
        Err(e) => e,
    }
}
