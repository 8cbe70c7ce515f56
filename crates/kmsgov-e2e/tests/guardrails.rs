//! `kmsgov serve --guardrails DIR`: the server's decisions go through the
//! guardrails of the directory, which is read again on SIGHUP.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/server.rs"]
mod server;

use std::time::{Duration, Instant};

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use server::Workspace;

const PURPOSE: &str = "package kmsgov.guardrails.purpose\n\nimport rego.v1\n\ndeny contains \"encryption needs a `purpose` in its encryption context\" if {\n\tinput.operation == \"Encrypt\"\n\tnot input.encryption_context.purpose\n}\n";

#[tokio::test(flavor = "multi_thread")]
async fn the_server_applies_the_guardrails_and_reloads_them() {
    let ws = Workspace::new();
    let rego = ws.dir.path().join("guardrails");
    std::fs::create_dir(&rego).unwrap();
    std::fs::write(rego.join("purpose.rego"), PURPOSE).unwrap();
    let kms = ws.serve_with(&["--guardrails", rego.to_str().unwrap()]);
    let admin = kms.client("admin");
    let key = admin
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();

    admin
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .encryption_context("purpose", "backup")
        .send()
        .await
        .unwrap();
    let denied = admin
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Some("AccessDeniedException"), "{denied:?}");
    let message = denied.message().unwrap_or_default().to_owned();
    assert!(
        message.contains(
            "with an explicit deny in a guardrail policy (purpose): encryption needs a `purpose`"
        ),
        "{message}"
    );

    // Without the guardrail, after SIGHUP, the same request is allowed.
    std::fs::remove_file(rego.join("purpose.rego")).unwrap();
    kms.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = admin
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new("x"))
            .send()
            .await;
        match r {
            Ok(_) => break,
            Err(e) => {
                assert_eq!(e.code(), Some("AccessDeniedException"), "{e:?}");
                assert!(Instant::now() < deadline, "the guardrail was not reloaded");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    kms.stop();
}
