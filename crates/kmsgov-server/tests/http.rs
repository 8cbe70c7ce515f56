//! The server over a real socket: framing, authentication and errors, with a
//! minimal HTTP/1.1 client so that every byte on the wire is the test's.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use kmsgov_authz::Scenario;
use kmsgov_core::audit::{checkpoint_signer, AuditLog, AuditSink, Leaf, MemoryAuditSink};
use kmsgov_core::root_key::RootKey;
use kmsgov_core::store::MemoryStore;
use kmsgov_core::{Config, Kms, ManualClock};
use kmsgov_policy::Caller;
use kmsgov_server::{Authentication, Server};
use serde_json::{json, Value};
use wire::{exchange, raw_request, Reply};

#[path = "support/wire.rs"]
mod wire;

/// 2026-01-01T00:00:00Z, the server's clock.
const NOW: i64 = 1_767_225_600;

const ADMIN_KEY: &str = "AKIAADMIN00000000001";
const ADMIN_SECRET: &str = "admin/secret/0000000000000000000000000000";
const ALICE_KEY: &str = "AKIAALICE00000000001";
const ALICE_SECRET: &str = "alice/secret/0000000000000000000000000000";
const LOCAL_KEY: &str = "AKIALOCAL00000000001";
const REMOTE_KEY: &str = "AKIAREMOTE0000000001";
const OTHER_SECRET: &str = "other/secret/0000000000000000000000000000";

/// admin may do anything; alice has no IAM policy; `local` may create keys
/// from the loopback network only, `remote` only from 10.0.0.0/8.
const WORLD: &str = r#"{
  "accounts": {"111122223333": {}},
  "principals": [
    {"arn": "arn:aws:iam::111122223333:user/admin",
     "policies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}],
     "access_keys": [{"id": "AKIAADMIN00000000001", "secret": "admin/secret/0000000000000000000000000000"}]},
    {"arn": "arn:aws:iam::111122223333:user/alice",
     "access_keys": [{"id": "AKIAALICE00000000001", "secret": "alice/secret/0000000000000000000000000000"}]},
    {"arn": "arn:aws:iam::111122223333:user/auditor",
     "policies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kmsgov:Get*", "Resource": "*"}]}],
     "access_keys": [{"id": "AKIAAUDITOR000000001", "secret": "auditor/secret/00000000000000000000000000"}]},
    {"arn": "arn:aws:iam::111122223333:user/evaluator",
     "policies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kmsgov:Evaluate", "Resource": "*"}]}],
     "access_keys": [{"id": "AKIAEVALUATOR0000001", "secret": "evaluator/secret/000000000000000000000000"}]},
    {"arn": "arn:aws:iam::111122223333:user/local",
     "policies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:CreateKey", "Resource": "*",
        "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}, "Bool": {"aws:SecureTransport": "false"}}}]}],
     "access_keys": [{"id": "AKIALOCAL00000000001", "secret": "other/secret/0000000000000000000000000000"}]},
    {"arn": "arn:aws:iam::111122223333:user/remote",
     "policies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:CreateKey", "Resource": "*",
        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}],
     "access_keys": [{"id": "AKIAREMOTE0000000001", "secret": "other/secret/0000000000000000000000000000"}]}
  ],
  "tests": []
}"#;

struct TestServer {
    address: SocketAddr,
    kms: Arc<Kms>,
}

async fn start(authentication: Authentication, max_body: Option<usize>) -> TestServer {
    start_on("127.0.0.1:0", authentication, max_body).await
}

async fn start_on(
    listen: &str,
    authentication: Authentication,
    max_body: Option<usize>,
) -> TestServer {
    let kms = Arc::new(
        Kms::open(Config {
            region: "us-east-1".into(),
            store: Arc::new(MemoryStore::new()),
            root_key: RootKey::generate().unwrap(),
            clock: Arc::new(ManualClock::at(NOW)),
            directory: Scenario::parse(WORLD).unwrap().world,
        })
        .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind(listen).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut server = Server::new(Arc::clone(&kms), authentication);
    if let Some(n) = max_body {
        server = server.with_max_body_bytes(n);
    }
    tokio::spawn(server.serve(listener, std::future::pending()));
    TestServer { address, kms }
}

async fn sigv4_server() -> TestServer {
    start(Authentication::SigV4, None).await
}

/// How to build a KMS request.
struct Call<'a> {
    target: Option<&'a str>,
    content_type: Option<&'a str>,
    body: &'a [u8],
    /// Signing credentials; `None` sends no Authorization header.
    credentials: Option<(&'a str, &'a str)>,
    /// When the request says it was signed.
    time: i64,
}

impl<'a> Call<'a> {
    fn new(operation: &'a str, body: &'a [u8]) -> Call<'a> {
        Call {
            target: Some(operation),
            content_type: Some("application/x-amz-json-1.1"),
            body,
            credentials: Some((ADMIN_KEY, ADMIN_SECRET)),
            time: NOW,
        }
    }

    /// The headers, signed over `self.body`.
    fn headers(&self, address: SocketAddr) -> Vec<(String, String)> {
        wire::headers(
            address,
            self.target,
            self.content_type,
            self.body,
            self.credentials,
            self.time,
        )
    }

    async fn send(&self, address: SocketAddr) -> Reply {
        let mut headers = self.headers(address);
        headers.push(("Content-Length".to_owned(), self.body.len().to_string()));
        exchange(address, &raw_request("POST", "/", &headers, self.body)).await
    }
}

async fn call(address: SocketAddr, operation: &str, body: Value) -> Reply {
    let body = body.to_string();
    Call::new(operation, body.as_bytes()).send(address).await
}

fn assert_error(reply: &Reply, status: u16, name: &str) {
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (status, name),
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(
        reply.header("content-type"),
        Some("application/x-amz-json-1.1")
    );
    assert!(reply.header("x-amzn-requestid").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_calls_run_against_the_service() {
    let server = sigv4_server().await;
    let created = call(server.address, "CreateKey", json!({"Description": "first"})).await;
    assert_eq!(
        created.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&created.body)
    );
    assert_eq!(
        created.header("content-type"),
        Some("application/x-amz-json-1.1")
    );
    let metadata = &created.json()["KeyMetadata"];
    assert_eq!(metadata["Description"], "first");
    assert_eq!(metadata["AWSAccountId"], "111122223333");
    let key_id = metadata["KeyId"].as_str().unwrap().to_owned();

    let encrypted = call(
        server.address,
        "Encrypt",
        json!({"KeyId": key_id, "Plaintext": "aGVsbG8=", "EncryptionContext": {"purpose": "test"}}),
    )
    .await;
    assert_eq!(encrypted.status, 200);
    let blob = encrypted.json()["CiphertextBlob"]
        .as_str()
        .unwrap()
        .to_owned();
    let decrypted = call(
        server.address,
        "Decrypt",
        json!({"CiphertextBlob": blob, "EncryptionContext": {"purpose": "test"}}),
    )
    .await;
    assert_eq!(decrypted.status, 200);
    assert_eq!(decrypted.json()["Plaintext"], "aGVsbG8=");

    let wrong_context = call(
        server.address,
        "Decrypt",
        json!({"CiphertextBlob": blob, "EncryptionContext": {"purpose": "other"}}),
    )
    .await;
    assert_error(&wrong_context, 400, "InvalidCiphertextException");

    // The key is in the service the server was given.
    let admin = Caller::parse("arn:aws:iam::111122223333:user/admin").unwrap();
    let env = kmsgov_authz::Environment::new();
    let described = server
        .kms
        .call(&kmsgov_core::Request {
            caller: &admin,
            operation: kmsgov_authz::Operation::DescribeKey,
            input: &json!({"KeyId": key_id}),
            env: &env,
        })
        .unwrap();
    assert_eq!(described.value()["KeyMetadata"]["Description"], "first");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_response_has_its_own_request_id() {
    let server = sigv4_server().await;
    let ok = call(server.address, "CreateKey", json!({})).await;
    let denied = Call {
        credentials: Some((ALICE_KEY, ALICE_SECRET)),
        ..Call::new("CreateKey", b"{}")
    }
    .send(server.address)
    .await;
    let unauthenticated = Call {
        credentials: None,
        ..Call::new("CreateKey", b"{}")
    }
    .send(server.address)
    .await;
    let health = exchange(server.address, &raw_request("GET", "/health", &[], b"")).await;
    let ids: Vec<&str> = [&ok, &denied, &unauthenticated, &health]
        .iter()
        .map(|r| r.header("x-amzn-requestid").unwrap())
        .collect();
    for id in &ids {
        assert_eq!(id.len(), 36, "{id}");
    }
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_answers_without_authentication() {
    let server = sigv4_server().await;
    for path in ["/health", "/_health"] {
        let reply = exchange(server.address, &raw_request("GET", path, &[], b"")).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json(), json!({"status": "ok"}));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_viewer_page_is_served_empty_under_a_strict_policy() {
    let server = sigv4_server().await;
    for path in ["/ui", "/ui/"] {
        let reply = exchange(server.address, &raw_request("GET", path, &[], b"")).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(
            reply.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        let csp = reply.header("content-security-policy").unwrap();
        let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
        assert!(directives.contains(&"default-src 'none'"), "{csp}");
        // Nothing may be fetched from anywhere, and nothing inline runs but
        // what the hashes name.
        for directive in &directives {
            assert!(!directive.contains("http"), "{csp}");
            assert!(!directive.contains('*'), "{csp}");
            assert!(!directive.contains("unsafe"), "{csp}");
        }
        let page = String::from_utf8(reply.body.clone()).unwrap();
        // The hashes are those of the script and style the page holds.
        for (directive, open, close) in [
            ("script-src", "<script>", "</script>"),
            ("style-src", "<style>", "</style>"),
        ] {
            let inline = page
                .split_once(open)
                .unwrap()
                .1
                .split_once(close)
                .unwrap()
                .0;
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, inline.as_bytes());
            let expected = format!(
                "{directive} 'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
            );
            assert!(
                directives.contains(&expected.as_str()),
                "{expected} not in {csp}"
            );
        }
        assert_eq!(page, kmsgov_analysis::viewer::page(None));
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(
            page.contains(r#"<script type="application/json" id="kmsgov-document"></script>"#),
            "the served page embeds no document"
        );
        assert!(reply.header("x-amzn-requestid").is_some());
    }
    // Only GET and HEAD: the page is not a KMS endpoint.
    let reply = exchange(server.address, &raw_request("POST", "/ui", &[], b"")).await;
    assert_eq!(reply.status, 404);
    // The KMS protocol at `/` is untouched.
    let reply = Call::new("ListKeys", b"{}").send(server.address).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_target_is_unknown_operation() {
    let server = sigv4_server().await;
    let reply = Call::new("MakeCoffee", b"{}").send(server.address).await;
    assert_error(&reply, 400, "UnknownOperationException");
    let reply = Call {
        target: None,
        ..Call::new("", b"{}")
    }
    .send(server.address)
    .await;
    assert_error(&reply, 400, "UnknownOperationException");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_or_missing_content_type_is_a_serialization_error() {
    let server = sigv4_server().await;
    for content_type in [Some("application/json"), Some("text/plain"), None] {
        let reply = Call {
            content_type,
            ..Call::new("CreateKey", b"{}")
        }
        .send(server.address)
        .await;
        assert_error(&reply, 400, "SerializationException");
    }
    // Parameters and case do not matter.
    let reply = Call {
        content_type: Some("Application/X-Amz-Json-1.1; charset=utf-8"),
        ..Call::new("CreateKey", b"{}")
    }
    .send(server.address)
    .await;
    assert_eq!(reply.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_json_is_a_serialization_error() {
    let server = sigv4_server().await;
    for body in [
        &b"{\"Description\": "[..],
        b"[1, 2]",
        b"\"text\"",
        b"\xff\xfe",
        b"{}{}",
    ] {
        let reply = Call::new("CreateKey", body).send(server.address).await;
        assert_error(&reply, 400, "SerializationException");
    }
    // A well-formed body with a member of the wrong type reaches the engine's
    // validation.
    let reply = call(server.address, "CreateKey", json!({"Description": 7})).await;
    assert_error(&reply, 400, "ValidationException");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_body_is_an_empty_request() {
    let server = sigv4_server().await;
    let reply = Call::new("ListKeys", b"").send(server.address).await;
    assert_eq!(
        reply.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    assert!(reply.json()["Keys"].is_array());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_body_is_refused_with_413() {
    let server = start(Authentication::SigV4, Some(1024)).await;
    let description = "x".repeat(2000);
    let body = json!({"Description": description}).to_string();

    // Declared by Content-Length: refused before reading.
    let reply = Call::new("CreateKey", body.as_bytes())
        .send(server.address)
        .await;
    assert_error(&reply, 413, "RequestEntityTooLargeException");

    // Chunked, with no declared length: refused while reading.
    let mut headers = Call::new("CreateKey", body.as_bytes()).headers(server.address);
    headers.push(("Transfer-Encoding".to_owned(), "chunked".to_owned()));
    let mut chunked = Vec::new();
    for piece in body.as_bytes().chunks(500) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let reply = exchange(
        server.address,
        &raw_request("POST", "/", &headers, &chunked),
    )
    .await;
    assert_error(&reply, 413, "RequestEntityTooLargeException");

    // Under the limit is fine.
    let reply = call(server.address, "CreateKey", json!({"Description": "small"})).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_authentication_is_refused() {
    let server = sigv4_server().await;
    let reply = Call {
        credentials: None,
        ..Call::new("CreateKey", b"{}")
    }
    .send(server.address)
    .await;
    assert_error(&reply, 400, "MissingAuthenticationTokenException");
    assert!(server.kms.credentials(ADMIN_KEY).is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_access_key_is_unrecognized() {
    let server = sigv4_server().await;
    let reply = Call {
        credentials: Some(("AKIANOBODY0000000000", ADMIN_SECRET)),
        ..Call::new("CreateKey", b"{}")
    }
    .send(server.address)
    .await;
    assert_error(&reply, 400, "UnrecognizedClientException");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_signature_is_refused() {
    let server = sigv4_server().await;
    // Signed with the wrong secret.
    let reply = Call {
        credentials: Some((ADMIN_KEY, ALICE_SECRET)),
        ..Call::new("CreateKey", b"{}")
    }
    .send(server.address)
    .await;
    assert_error(&reply, 400, "InvalidSignatureException");

    // Signed over one body, sent with another.
    let signed = Call::new("CreateKey", br#"{"Description":"a"}"#);
    let mut headers = signed.headers(server.address);
    let tampered = br#"{"Description":"b"}"#;
    headers.push(("Content-Length".to_owned(), tampered.len().to_string()));
    let reply = exchange(
        server.address,
        &raw_request("POST", "/", &headers, tampered),
    )
    .await;
    assert_error(&reply, 400, "InvalidSignatureException");

    // Signed for one operation, sent to another.
    let mut headers = Call::new("CreateKey", b"{}").headers(server.address);
    for (name, value) in &mut headers {
        if name == "X-Amz-Target" {
            *value = "TrentService.ListKeys".to_owned();
        }
    }
    headers.push(("Content-Length".to_owned(), "2".to_owned()));
    let reply = exchange(server.address, &raw_request("POST", "/", &headers, b"{}")).await;
    assert_error(&reply, 400, "InvalidSignatureException");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_date_is_refused() {
    let server = sigv4_server().await;
    // Twenty minutes before the server's clock: beyond the 15 minutes of skew.
    let reply = Call {
        time: NOW - 20 * 60,
        ..Call::new("CreateKey", b"{}")
    }
    .send(server.address)
    .await;
    assert_error(&reply, 400, "InvalidSignatureException");
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .contains("signature expired"),
        "{:?}",
        reply.json()
    );
    // Ten minutes is within the skew.
    let reply = Call {
        time: NOW - 10 * 60,
        ..Call::new("CreateKey", b"{}")
    }
    .send(server.address)
    .await;
    assert_eq!(reply.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn get_instead_of_post_is_refused() {
    let server = sigv4_server().await;
    let headers = Call::new("ListKeys", b"").headers(server.address);
    let reply = exchange(server.address, &raw_request("GET", "/", &headers, b"")).await;
    assert_error(&reply, 405, "UnknownOperationException");
    assert_eq!(reply.header("allow"), Some("POST"));

    let reply = exchange(
        server.address,
        &raw_request("POST", "/elsewhere", &headers, b""),
    )
    .await;
    assert_error(&reply, 404, "UnknownOperationException");
}

#[tokio::test(flavor = "multi_thread")]
async fn access_denied_comes_from_the_engine() {
    let server = sigv4_server().await;
    let reply = Call {
        credentials: Some((ALICE_KEY, ALICE_SECRET)),
        ..Call::new("CreateKey", b"{}")
    }
    .send(server.address)
    .await;
    assert_error(&reply, 400, "AccessDeniedException");
    let message = reply.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains(
            "arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:CreateKey"
        ),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_source_ip_is_the_peer_address() {
    let server = sigv4_server().await;
    let local = Call {
        credentials: Some((LOCAL_KEY, OTHER_SECRET)),
        ..Call::new("CreateKey", b"{}")
    }
    .send(server.address)
    .await;
    assert_eq!(
        local.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&local.body)
    );
    let remote = Call {
        credentials: Some((REMOTE_KEY, OTHER_SECRET)),
        ..Call::new("CreateKey", b"{}")
    }
    .send(server.address)
    .await;
    assert_error(&remote, 400, "AccessDeniedException");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ipv4_peer_of_a_dual_stack_listener_is_an_ipv4_source() {
    // Listening on every IPv6 address, an IPv4 client is `::ffff:127.0.0.1`
    // to the socket; the policy's 127.0.0.0/8 must still match it.
    let server = start_on("[::]:0", Authentication::SigV4, None).await;
    let local = Call {
        credentials: Some((LOCAL_KEY, OTHER_SECRET)),
        ..Call::new("CreateKey", b"{}")
    }
    .send(server.address)
    .await;
    assert_eq!(
        local.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&local.body)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reloaded_directory_takes_effect_on_the_next_call() {
    let server = sigv4_server().await;
    let alice = || Call {
        credentials: Some((ALICE_KEY, ALICE_SECRET)),
        ..Call::new("CreateKey", b"{}")
    };
    assert_error(
        &alice().send(server.address).await,
        400,
        "AccessDeniedException",
    );
    let world = WORLD.replace(
        r#"{"arn": "arn:aws:iam::111122223333:user/alice","#,
        r#"{"arn": "arn:aws:iam::111122223333:user/alice",
            "policies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:CreateKey", "Resource": "*"}]}],"#,
    );
    assert_ne!(world, WORLD);
    server
        .kms
        .set_directory(Scenario::parse(&world).unwrap().world);
    assert_eq!(alice().send(server.address).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn development_mode_accepts_any_credentials_as_the_administrator() {
    let root = Caller::parse("arn:aws:iam::111122223333:root").unwrap();
    let server = start(
        Authentication::Development {
            administrator: root,
        },
        None,
    )
    .await;

    // Credentials nobody has, signed with a made-up secret.
    let reply = Call {
        credentials: Some(("AKIAWHOEVER000000000", "anything")),
        ..Call::new("CreateKey", b"{}")
    }
    .send(server.address)
    .await;
    assert_eq!(
        reply.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.json()["KeyMetadata"]["AWSAccountId"], "111122223333");

    // Still no request without credentials.
    let reply = Call {
        credentials: None,
        ..Call::new("CreateKey", b"{}")
    }
    .send(server.address)
    .await;
    assert_error(&reply, 400, "MissingAuthenticationTokenException");

    // Credentials that do not parse.
    let mut headers = Call {
        credentials: None,
        ..Call::new("CreateKey", b"{}")
    }
    .headers(server.address);
    headers.push(("Authorization".to_owned(), "Basic dXNlcjpwYXNz".to_owned()));
    headers.push(("Content-Length".to_owned(), "2".to_owned()));
    let reply = exchange(server.address, &raw_request("POST", "/", &headers, b"{}")).await;
    assert_error(&reply, 400, "IncompleteSignatureException");

    // Reset wipes every key, under both paths.
    for path in ["/kmsgov/reset", "/moto-api/reset"] {
        call(server.address, "CreateKey", json!({})).await;
        let listed = call(server.address, "ListKeys", json!({})).await;
        assert!(!listed.json()["Keys"].as_array().unwrap().is_empty());
        let reset = exchange(
            server.address,
            &raw_request("POST", path, &[("Content-Length".into(), "0".into())], b""),
        )
        .await;
        assert_eq!(reset.status, 200);
        let listed = call(server.address, "ListKeys", json!({})).await;
        assert_eq!(listed.json()["Keys"], json!([]), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_exists_only_in_development_mode() {
    let server = sigv4_server().await;
    call(server.address, "CreateKey", json!({})).await;
    let reply = exchange(
        server.address,
        &raw_request(
            "POST",
            "/kmsgov/reset",
            &[("Content-Length".into(), "0".into())],
            b"",
        ),
    )
    .await;
    assert_error(&reply, 404, "UnknownOperationException");
    let listed = call(server.address, "ListKeys", json!({})).await;
    assert_eq!(listed.json()["Keys"].as_array().unwrap().len(), 1);
}

/// On a current-thread runtime calls cannot block in place; they go to the
/// blocking pool instead.
#[tokio::test(flavor = "current_thread")]
async fn calls_also_run_on_a_current_thread_runtime() {
    let server = sigv4_server().await;
    let created = call(server.address, "CreateKey", json!({})).await;
    assert_eq!(created.status, 200);
    let listed = call(server.address, "ListKeys", json!({})).await;
    assert_eq!(listed.json()["Keys"].as_array().unwrap().len(), 1);
}

/// A server whose service writes an audit log that a test can break.
async fn audited_server() -> (SocketAddr, Arc<MemoryAuditSink>, Arc<Kms>) {
    let root = RootKey::from_bytes(&[3u8; 32]).unwrap();
    let sink = Arc::new(MemoryAuditSink::new());
    let log = AuditLog::open(
        sink.clone() as Arc<dyn AuditSink>,
        checkpoint_signer(&root, "us-east-1").unwrap(),
    )
    .unwrap();
    let kms = Arc::new(
        Kms::open(Config {
            region: "us-east-1".into(),
            store: Arc::new(MemoryStore::new()),
            root_key: root,
            clock: Arc::new(ManualClock::at(NOW)),
            directory: Scenario::parse(WORLD).unwrap().world,
        })
        .unwrap()
        .with_audit(log)
        .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        Server::new(Arc::clone(&kms), Authentication::SigV4)
            .serve(listener, std::future::pending()),
    );
    (address, sink, kms)
}

/// Every answered call is in the audit log before its answer; when the log
/// cannot be written, the call fails closed with a 500 and no plaintext.
#[tokio::test(flavor = "multi_thread")]
async fn calls_are_audited_before_they_are_answered() {
    let (address, sink, kms) = audited_server().await;
    let created = call(address, "CreateKey", json!({})).await;
    assert_eq!(created.status, 200);
    let key = created.json()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let encrypted = call(
        address,
        "Encrypt",
        json!({"KeyId": key, "Plaintext": "c2VjcmV0"}),
    )
    .await;
    let blob = encrypted.json()["CiphertextBlob"].clone();
    assert_eq!(sink.size().unwrap(), 2);
    // The leaf carries the request id the client got.
    let request_id = encrypted
        .header("x-amzn-requestid")
        .unwrap()
        .replace('-', "");
    let leaf = Leaf::decode(&sink.read(1, 2).unwrap()[0].leaf).unwrap();
    let leaf_id: String = leaf.request_id.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(leaf_id, request_id);

    sink.set_broken(true);
    let refused = call(address, "Decrypt", json!({"CiphertextBlob": blob})).await;
    assert_error(&refused, 500, "KMSInternalException");
    assert!(!String::from_utf8_lossy(&refused.body).contains("c2VjcmV0"));
    assert_eq!(sink.size().unwrap(), 2);
    sink.set_broken(false);
    let decrypted = call(address, "Decrypt", json!({"CiphertextBlob": blob})).await;
    assert_eq!(decrypted.json()["Plaintext"], "c2VjcmV0");
    assert_eq!(sink.size().unwrap(), 3);
    assert_eq!(kms.audit_log().unwrap().head().size, 3);
}

/// kmsgov's audit operations (`KmsGov.*`): signed and authorized like any
/// call (`kmsgov:<Name>` in an identity policy), answered from the log, and
/// themselves written to it.
#[tokio::test(flavor = "multi_thread")]
async fn audit_operations_are_served_authorized_and_audited() {
    use kmsgov_core::audit::verify::{check_evidence, Evidence};
    use kmsgov_core::audit::{Verdict, Verifier};
    use kmsgov_core::merkle::{leaf_hash, root, verify_consistency};

    let (address, sink, _kms) = audited_server().await;
    let auditor = (
        "AKIAAUDITOR000000001",
        "auditor/secret/00000000000000000000000000",
    );
    let as_auditor = |operation: &'static str, body: Value| {
        let body = body.to_string();
        async move {
            let mut call = Call::new(operation, body.as_bytes());
            call.credentials = Some(auditor);
            call.send(address).await
        }
    };
    let created = call(address, "CreateKey", json!({})).await;
    let key = created.json()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let encrypted = call(
        address,
        "Encrypt",
        json!({"KeyId": key, "Plaintext": "aGk="}),
    )
    .await;
    let encrypt_id = encrypted.header("x-amzn-requestid").unwrap().to_owned();

    // kms:* does not reach kmsgov's operations.
    let denied = call(address, "KmsGov.GetCheckpoint", json!({})).await;
    assert_error(&denied, 400, "AccessDeniedException");

    let checkpoint = as_auditor("KmsGov.GetCheckpoint", json!({})).await;
    assert_eq!(
        checkpoint.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&checkpoint.body)
    );
    let body = checkpoint.json();
    let verifier = Verifier::parse(body["VerifierKey"].as_str().unwrap()).unwrap();
    let signed = verifier
        .verify(body["Checkpoint"].as_str().unwrap())
        .unwrap();
    assert_eq!(signed.size, body["TreeSize"].as_u64().unwrap());
    assert!(signed.size >= 3);

    let proof = as_auditor("KmsGov.GetInclusionProof", json!({"RequestId": encrypt_id})).await;
    assert_eq!(
        proof.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&proof.body)
    );
    let evidence: Evidence = serde_json::from_value(proof.json()["Evidence"].clone()).unwrap();
    let (leaf, _) = check_evidence(&evidence, &verifier).unwrap();
    assert_eq!(leaf.op, 1); // Encrypt
    assert_eq!(evidence.seq, 1);

    let consistency = as_auditor("KmsGov.GetConsistencyProof", json!({"FirstSize": 1})).await;
    let body = consistency.json();
    let second = verifier
        .verify(body["Checkpoint"].as_str().unwrap())
        .unwrap();
    assert_eq!(body["SecondSize"].as_u64(), Some(second.size));
    let path: Vec<[u8; 32]> = body["Proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            base64::engine::general_purpose::STANDARD
                .decode(h.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect();
    let first_root = root(&[leaf_hash(&sink.read(0, 1).unwrap()[0].leaf)]);
    assert!(verify_consistency(
        1,
        second.size,
        &first_root,
        &second.root,
        &path
    ));

    // Bad requests get the modelled errors.
    let cases = [
        (
            "KmsGov.GetInclusionProof",
            json!({}),
            400,
            "ValidationException",
        ),
        (
            "KmsGov.GetInclusionProof",
            json!({"RequestId": "nope"}),
            400,
            "ValidationException",
        ),
        (
            "KmsGov.GetInclusionProof",
            json!({"RequestId": "00000000-0000-4000-8000-000000000000"}),
            400,
            "NotFoundException",
        ),
        (
            "KmsGov.GetConsistencyProof",
            json!({"FirstSize": 1_000_000}),
            400,
            "ValidationException",
        ),
        (
            "KmsGov.GetEverything",
            json!({}),
            400,
            "UnknownOperationException",
        ),
    ];
    for (operation, body, status, error) in cases {
        let reply = as_auditor(operation, body).await;
        assert_error(&reply, status, error);
    }

    // Every one of these calls is in the log too: op bytes 16 to 18.
    let leaves: Vec<Leaf> = sink
        .read(0, sink.size().unwrap())
        .unwrap()
        .iter()
        .map(|e| Leaf::decode(&e.leaf).unwrap())
        .collect();
    let audit_calls: Vec<(u8, Verdict)> = leaves
        .iter()
        .filter(|l| (16..=18).contains(&l.op))
        .map(|l| (l.op, l.verdict))
        .collect();
    assert_eq!(audit_calls[0], (16, Verdict::Deny));
    assert_eq!(audit_calls[1], (16, Verdict::Allow));
    assert_eq!(audit_calls[2], (17, Verdict::Allow));
    assert_eq!(audit_calls[3], (18, Verdict::Allow));
    assert_eq!(audit_calls.len(), 8, "{audit_calls:?}");
}

const EVALUATOR_KEY: &str = "AKIAEVALUATOR0000001";
const EVALUATOR_SECRET: &str = "evaluator/secret/000000000000000000000000";
const DECISION_PATH: &str = "/v1/data/kmsgov/decision";
const TOKEN: &str = "a-long-decision-token-0123456789";

/// A POST to the decision API, signed by `credentials` or carrying `bearer`.
async fn decision(
    address: SocketAddr,
    body: &[u8],
    credentials: Option<(&str, &str)>,
    bearer: Option<&str>,
) -> Reply {
    let mut headers = wire::headers_at(
        address,
        DECISION_PATH,
        None,
        Some("application/json"),
        body,
        credentials,
        NOW,
    );
    if let Some(token) = bearer {
        headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
    }
    headers.push(("Content-Length".to_owned(), body.len().to_string()));
    exchange(address, &raw_request("POST", DECISION_PATH, &headers, body)).await
}

async fn decision_server() -> TestServer {
    let kms = Arc::new(
        Kms::open(Config {
            region: "us-east-1".into(),
            store: Arc::new(MemoryStore::new()),
            root_key: RootKey::generate().unwrap(),
            clock: Arc::new(ManualClock::at(NOW)),
            directory: Scenario::parse(WORLD).unwrap().world,
        })
        .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let evaluator = Caller::parse("arn:aws:iam::111122223333:user/evaluator").unwrap();
    let admin = Caller::parse("arn:aws:iam::111122223333:user/admin").unwrap();
    let server = Server::new(Arc::clone(&kms), Authentication::SigV4)
        .with_bearer_token(TOKEN, evaluator)
        .with_bearer_token("an-admin-token-without-evaluate-0000", admin);
    tokio::spawn(server.serve(listener, std::future::pending()));
    TestServer { address, kms }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_decision_api_answers_in_opas_shape_with_the_engines_decision() {
    let server = decision_server().await;
    let created = call(server.address, "CreateKey", json!({})).await;
    assert_eq!(created.status, 200);
    let key = created.json()["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap()
        .to_owned();
    let query = |principal: &str| {
        json!({"input": {
            "principal": principal,
            "operation": "Encrypt",
            "input": {"KeyId": key, "Plaintext": "aGk="},
            "context": {"aws:SourceIp": "192.0.2.1"}
        }})
        .to_string()
    };
    // Signed with SigV4 by a principal allowed kmsgov:Evaluate.
    let admin = "arn:aws:iam::111122223333:user/admin";
    let reply = decision(
        server.address,
        query(admin).as_bytes(),
        Some((EVALUATOR_KEY, EVALUATOR_SECRET)),
        None,
    )
    .await;
    assert_eq!(
        reply.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    let body = reply.json();
    assert_eq!(body["result"]["decision"], "Allow");
    assert!(body["result"]["path"]
        .as_array()
        .is_some_and(|p| !p.is_empty()));
    assert!(body["decision_id"].as_str().is_some());
    // The same question through KmsGov.Evaluate and in process.
    let inner = serde_json::from_str::<Value>(&query(admin)).unwrap()["input"].clone();
    let direct = server.kms.evaluate(&inner).unwrap();
    assert_eq!(body["result"], direct);
    let via_target = wire::signed_call(
        server.address,
        "KmsGov.Evaluate",
        inner.to_string().as_bytes(),
        (EVALUATOR_KEY, EVALUATOR_SECRET),
        NOW,
    )
    .await;
    assert_eq!(via_target.status, 200);
    assert_eq!(via_target.json(), direct);

    // alice has no policy: the engine's denial, with AWS's message.
    let alice = "arn:aws:iam::111122223333:user/alice";
    let reply = decision(server.address, query(alice).as_bytes(), None, Some(TOKEN)).await;
    assert_eq!(reply.status, 200);
    let result = &reply.json()["result"];
    assert_eq!(result["decision"], "Deny");
    assert!(result["reason"]
        .as_str()
        .unwrap()
        .contains("is not authorized to perform: kms:Encrypt"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_decision_api_authenticates_and_authorizes_every_call() {
    let server = decision_server().await;
    let body = json!({"input": {"principal": "arn:aws:iam::111122223333:user/alice", "operation": "ListKeys"}}).to_string();
    let code = |r: &Reply| (r.status, r.json()["code"].as_str().unwrap_or("").to_owned());
    // No credentials, a wrong token, a bad signature.
    let reply = decision(server.address, body.as_bytes(), None, None).await;
    assert_eq!(
        code(&reply),
        (401, "unauthorized".to_owned()),
        "{:?}",
        reply.json()
    );
    let reply = decision(server.address, body.as_bytes(), None, Some("not-the-token")).await;
    assert_eq!(code(&reply), (401, "unauthorized".to_owned()));
    let reply = decision(
        server.address,
        body.as_bytes(),
        Some((EVALUATOR_KEY, "wrong/secret/0000000000000000000000000000")),
        None,
    )
    .await;
    assert_eq!(
        code(&reply),
        (401, "unauthorized".to_owned()),
        "{:?}",
        reply.json()
    );
    // Authenticated, but not allowed kmsgov:Evaluate (kms:* does not cover it).
    let reply = decision(
        server.address,
        body.as_bytes(),
        Some((ADMIN_KEY, ADMIN_SECRET)),
        None,
    )
    .await;
    assert_eq!(code(&reply), (403, "unauthorized".to_owned()));
    assert!(reply.json()["message"]
        .as_str()
        .unwrap()
        .contains("kmsgov:Evaluate"));
    let reply = decision(
        server.address,
        body.as_bytes(),
        None,
        Some("an-admin-token-without-evaluate-0000"),
    )
    .await;
    assert_eq!(reply.status, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_decision_requests_are_invalid_parameters() {
    let server = decision_server().await;
    for body in [
        "not json".to_owned(),
        "[1]".to_owned(),
        json!({"no": "input"}).to_string(),
        json!({"input": 3}).to_string(),
        json!({"input": {"operation": "Decrypt"}}).to_string(),
        json!({"input": {"principal": "nobody", "operation": "Decrypt"}}).to_string(),
        json!({"input": {"principal": "arn:aws:iam::111122223333:user/alice", "operation": "Frobnicate"}}).to_string(),
        json!({"input": {"principal": "arn:aws:iam::111122223333:user/alice", "operation": "Decrypt", "context": {"aws:SourceIp": {"x": 1}}}}).to_string(),
    ] {
        let reply = decision(server.address, body.as_bytes(), None, Some(TOKEN)).await;
        assert_eq!(reply.status, 400, "{body}: {:?}", String::from_utf8_lossy(&reply.body));
        assert_eq!(reply.json()["code"], "invalid_parameter", "{body}");
    }
    // The server is still healthy.
    let reply = call(server.address, "ListKeys", json!({})).await;
    assert_eq!(reply.status, 200);
}
