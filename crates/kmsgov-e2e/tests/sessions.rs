//! Temporary credentials: a role session signs with an access key, secret
//! and session token from the world file; the role's policies decide, and a
//! missing or wrong `X-Amz-Security-Token` is refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/server.rs"]
mod server;

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use server::Workspace;

const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/app/build-42";
const KEY_ID: &str = "ASIAE2ESESSION000001";
const SECRET: &str = "session/secret/e2e/0000000000000000000000";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLEsessionTOKENforE2Etests==";

/// The role `app` may create keys and encrypt; its session signs with
/// temporary credentials.
const WORLD: &str = r#"{
  "accounts": {"111122223333": {}},
  "principals": [
    {"arn": "arn:aws:iam::111122223333:role/app",
     "policies": [{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["kms:CreateKey", "kms:Encrypt"], "Resource": "*"}]}]},
    {"arn": "arn:aws:sts::111122223333:assumed-role/app/build-42",
     "access_keys": [{"id": "ASIAE2ESESSION000001",
                      "secret": "session/secret/e2e/0000000000000000000000",
                      "session_token": "IQoJb3JpZ2luX2VjEXAMPLEsessionTOKENforE2Etests=="}]}
  ]
}"#;

fn client(kms: &server::Kmsgov, token: Option<&str>) -> aws_sdk_kms::Client {
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            KEY_ID,
            SECRET,
            token.map(str::to_owned),
            None,
            "e2e-session",
        ))
        .endpoint_url(kms.url())
        .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_session_signs_with_its_session_token() {
    let ws = Workspace::with_world(WORLD);
    let kms = ws.serve();
    let session = client(&kms, Some(TOKEN));
    let key = session
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    session
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap();
    // The role's policy decides, and the denial names the session.
    let denied = session
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Some("AccessDeniedException"));
    assert!(denied
        .message()
        .unwrap()
        .starts_with(&format!("User: {SESSION} ")));

    for token in [None, Some("not-the-token")] {
        let refused = client(&kms, token).list_keys().send().await.unwrap_err();
        assert_eq!(
            refused.code(),
            Some("UnrecognizedClientException"),
            "{token:?}"
        );
    }
    assert!(kms.stop().success());

    // The audit log records the session as the caller.
    let shown = std::process::Command::new(server::binary())
        .args(["audit", "show", "--format", "json", "--data-dir"])
        .arg(ws.data_dir())
        .output()
        .unwrap();
    let text = String::from_utf8(shown.stdout).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.lines().all(|l| l.contains(SESSION)), "{text}");
}
