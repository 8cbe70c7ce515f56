//! Hostile input over HTTP: a corpus of bad requests, each of which must
//! get a client error (4xx; AWS-shaped wherever the request reaches the KMS
//! handler), never a 5xx or a dropped connection, with the server healthy
//! and serving good requests after every one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/wire.rs"]
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kmsgov_authz::Scenario;
use kmsgov_core::root_key::RootKey;
use kmsgov_core::store::MemoryStore;
use kmsgov_core::{Config, Kms, ManualClock};
use kmsgov_server::{Authentication, Server};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use wire::{headers, raw_request, Reply};

const NOW: i64 = 1_767_225_600;
const KEY: &str = "AKIAHOSTILE000000001";
const SECRET: &str = "hostile/secret/000000000000000000000000";
const WORLD: &str = r#"{
  "accounts": {"111122223333": {}},
  "principals": [
    {"arn": "arn:aws:iam::111122223333:user/admin",
     "policies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}],
     "access_keys": [{"id": "AKIAHOSTILE000000001", "secret": "hostile/secret/000000000000000000000000"}]}
  ]
}"#;

async fn start() -> SocketAddr {
    let kms = Kms::open(Config {
        region: "us-east-1".into(),
        store: Arc::new(MemoryStore::new()),
        root_key: RootKey::generate().unwrap(),
        clock: Arc::new(ManualClock::at(NOW)),
        directory: Scenario::parse(WORLD).unwrap().world,
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        Server::new(Arc::new(kms), Authentication::SigV4).serve(listener, std::future::pending()),
    );
    address
}

/// Sends raw bytes and reads the answer, if one comes within five seconds.
async fn send(address: SocketAddr, raw: &[u8]) -> Option<Reply> {
    let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
    // The request asks for `Connection: close`; the write side stays open
    // (a half-closed connection reads as a client that went away).
    let _ = stream.write_all(raw).await;
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut bytes))
        .await
        .ok()?
        .ok()?;
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..split]).ok()?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let headers = head
        .split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Some(Reply {
        status,
        headers,
        body: bytes[split + 4..].to_vec(),
    })
}

/// A signed KMS request with `body` and extra or replaced headers.
fn signed(address: SocketAddr, operation: &str, body: &[u8], time: i64) -> Vec<(String, String)> {
    let mut h = headers(
        address,
        Some(operation),
        Some("application/x-amz-json-1.1"),
        body,
        Some((KEY, SECRET)),
        time,
    );
    h.push(("Content-Length".into(), body.len().to_string()));
    h
}

fn request(headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    raw_request("POST", "/", headers, body)
}

struct Case {
    name: String,
    raw: Vec<u8>,
    /// Whether the answer must be a KMS JSON error (`__type`).
    aws_shaped: bool,
}

fn case(name: impl Into<String>, raw: Vec<u8>) -> Case {
    Case {
        name: name.into(),
        raw,
        aws_shaped: true,
    }
}

/// A signed call of `operation` whose body is `body`.
fn body_case(address: SocketAddr, name: &str, operation: &str, body: &[u8]) -> Case {
    case(name, request(&signed(address, operation, body, NOW), body))
}

async fn healthy(address: SocketAddr) {
    let body = b"{}";
    let reply = send(
        address,
        &request(&signed(address, "ListKeys", body, NOW), body),
    )
    .await
    .expect("the server answers after a bad request");
    assert_eq!(
        reply.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_client_errors_and_the_server_stays_healthy() {
    let address = start().await;
    let created = wire::signed_call(address, "CreateKey", b"{}", (KEY, SECRET), NOW).await;
    let key = created.json()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut cases = Vec::new();

    // Malformed and truncated JSON, and bodies that are not objects.
    for (name, body) in [
        ("truncated object", &b"{\"KeyId\": "[..]),
        ("open brace", b"{"),
        ("array", b"[1, 2, 3]"),
        ("string", b"\"text\""),
        ("number", b"42"),
        ("null", b"null"),
        ("two objects", b"{}{}"),
        ("trailing comma", b"{\"KeyId\": \"x\",}"),
        ("invalid UTF-8", b"{\"KeyId\": \"\xff\xfe\"}"),
        ("byte order mark", b"\xef\xbb\xbf{}"),
        ("NUL bytes", b"{\"KeyId\": \"a\x00b\"}"),
        ("lone surrogate escape", b"{\"KeyId\": \"\\ud800\"}"),
    ] {
        cases.push(body_case(address, name, "DescribeKey", body));
    }
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    cases.push(body_case(
        address,
        "deeply nested arrays",
        "Encrypt",
        nested.as_bytes(),
    ));
    let nested = format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000));
    cases.push(body_case(
        address,
        "deeply nested objects",
        "Encrypt",
        nested.as_bytes(),
    ));

    // Wrong types, out-of-range numbers, unknown members.
    let k = key.as_str();
    for (name, op, body) in [
        ("KeyId a number", "DescribeKey", json!({"KeyId": 5})),
        ("KeyId an object", "DescribeKey", json!({"KeyId": {"a": 1}})),
        ("KeyId empty", "DescribeKey", json!({"KeyId": ""})),
        (
            "KeyId 10 KB",
            "DescribeKey",
            json!({"KeyId": "k".repeat(10_000)}),
        ),
        (
            "Plaintext a number",
            "Encrypt",
            json!({"KeyId": k, "Plaintext": 5}),
        ),
        (
            "Plaintext not base64",
            "Encrypt",
            json!({"KeyId": k, "Plaintext": "%%%"}),
        ),
        (
            "Plaintext over 4096 bytes",
            "Encrypt",
            json!({"KeyId": k, "Plaintext": "A".repeat(5464)}),
        ),
        (
            "Plaintext empty",
            "Encrypt",
            json!({"KeyId": k, "Plaintext": ""}),
        ),
        (
            "context a string",
            "Encrypt",
            json!({"KeyId": k, "Plaintext": "AA==", "EncryptionContext": "x"}),
        ),
        (
            "context value a number",
            "Encrypt",
            json!({"KeyId": k, "Plaintext": "AA==", "EncryptionContext": {"a": 1}}),
        ),
        (
            "NumberOfBytes a string",
            "GenerateRandom",
            json!({"NumberOfBytes": "10"}),
        ),
        (
            "NumberOfBytes negative",
            "GenerateRandom",
            json!({"NumberOfBytes": -1}),
        ),
        (
            "NumberOfBytes huge",
            "GenerateRandom",
            json!({"NumberOfBytes": 1e308}),
        ),
        (
            "NumberOfBytes fractional",
            "GenerateRandom",
            json!({"NumberOfBytes": 1.5}),
        ),
        (
            "NumberOfBytes too large",
            "GenerateRandom",
            json!({"NumberOfBytes": 1025}),
        ),
        ("Limit zero", "ListKeys", json!({"Limit": 0})),
        (
            "Marker garbage",
            "ListKeys",
            json!({"Marker": "\u{0}garbage"}),
        ),
        (
            "CiphertextBlob not base64",
            "Decrypt",
            json!({"CiphertextBlob": "not base64!"}),
        ),
        (
            "CiphertextBlob random",
            "Decrypt",
            json!({"CiphertextBlob": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
        ),
        (
            "GrantTokens a string",
            "Encrypt",
            json!({"KeyId": k, "Plaintext": "AA==", "GrantTokens": "x"}),
        ),
        (
            "Tags of numbers",
            "TagResource",
            json!({"KeyId": k, "Tags": [1, 2]}),
        ),
        (
            "policy not JSON",
            "PutKeyPolicy",
            json!({"KeyId": k, "Policy": "{not json"}),
        ),
        (
            "policy 100 KB",
            "PutKeyPolicy",
            json!({"KeyId": k, "Policy": format!("{{\"a\":\"{}\"}}", "x".repeat(100_000))}),
        ),
        ("KeySpec unknown", "CreateKey", json!({"KeySpec": "RSA_1"})),
    ] {
        cases.push(body_case(address, name, op, body.to_string().as_bytes()));
    }

    // Headers: missing, duplicated, wrong, very long.
    let body = br#"{"KeyId": "alias/none"}"#;
    let base = signed(address, "DescribeKey", body, NOW);
    let without = |name: &str| -> Vec<(String, String)> {
        base.iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
            .cloned()
            .collect()
    };
    let with = |extra: (&str, &str)| -> Vec<(String, String)> {
        let mut h = base.clone();
        h.push((extra.0.into(), extra.1.into()));
        h
    };
    cases.push(case("no target", request(&without("X-Amz-Target"), body)));
    cases.push(case(
        "no authorization",
        request(&without("Authorization"), body),
    ));
    cases.push(case("no date", request(&without("X-Amz-Date"), body)));
    cases.push(case(
        "no content type",
        request(&without("Content-Type"), body),
    ));
    cases.push(case(
        "two targets",
        request(&with(("X-Amz-Target", "TrentService.ListKeys")), body),
    ));
    cases.push(case(
        "two authorizations",
        request(
            &with(("Authorization", "AWS4-HMAC-SHA256 Credential=x")),
            body,
        ),
    ));
    cases.push(case(
        "two dates",
        request(&with(("X-Amz-Date", "20260101T000000Z")), body),
    ));
    cases.push(case(
        "unknown target",
        request(&signed(address, "DestroyEverything", body, NOW), body),
    ));
    cases.push(case(
        "a 6 KB header value",
        request(&with(("X-Padding", &"p".repeat(6_000))), body),
    ));
    cases.push(Case {
        name: "a 200 KB header value".into(),
        raw: request(&with(("X-Padding", &"p".repeat(200_000))), body),
        // Refused by the HTTP layer before any KMS handling.
        aws_shaped: false,
    });
    let mut bad_token = base.clone();
    bad_token.push(("X-Amz-Security-Token".into(), "t".repeat(10_000)));
    cases.push(case(
        "an unsigned security token",
        request(&bad_token, body),
    ));

    // Signatures: wrong, replayed over another body, expired, from the future.
    let mut wrong = base.clone();
    for (n, v) in &mut wrong {
        if n == "Authorization" {
            let last = v.pop().unwrap();
            v.push(if last == '0' { '1' } else { '0' });
        }
    }
    cases.push(case("a wrong signature", request(&wrong, body)));
    cases.push(case(
        "a signature replayed over another body",
        request(&base, br#"{"KeyId": "alias/other"}"#),
    ));
    cases.push(case(
        "signed 20 minutes ago",
        request(&signed(address, "DescribeKey", body, NOW - 1200), body),
    ));
    cases.push(case(
        "signed 20 minutes ahead",
        request(&signed(address, "DescribeKey", body, NOW + 1200), body),
    ));
    cases.push(case(
        "a garbage authorization",
        request(
            &with(("Authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l")),
            body,
        ),
    ));
    // Framing.
    let big = vec![b'a'; 2 << 20];
    cases.push(body_case(address, "a 2 MiB body", "Encrypt", &big));
    cases.push(Case {
        name: "not HTTP at all".into(),
        raw: b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello TLS?\r\n\r\n".to_vec(),
        aws_shaped: false,
    });
    cases.push(case(
        "GET with a body",
        raw_request("GET", "/", &base, body),
    ));
    cases.push(case(
        "POST to another path",
        raw_request("POST", "/v2/keys", &base, body),
    ));

    // Accepted, not bad: unknown members are ignored (as AWS JSON services
    // ignore them), and an encryption context has no limit of its own
    // below the body limit.
    for (op, body) in [
        (
            "DescribeKey",
            json!({"KeyId": k, "Bogus": {"deep": [1, 2]}, "KeyIdd": 1}),
        ),
        (
            "Encrypt",
            json!({"KeyId": k, "Plaintext": "AA==", "EncryptionContext":
            (0..10_000).map(|i| (format!("k{i}"), Value::from("v"))).collect::<serde_json::Map<_, _>>()}),
        ),
    ] {
        let body = body.to_string();
        let reply = send(
            address,
            &request(&signed(address, op, body.as_bytes(), NOW), body.as_bytes()),
        )
        .await
        .unwrap();
        assert_eq!(reply.status, 200, "{op}");
    }

    let total = cases.len();
    let mut failures = Vec::new();
    for c in cases {
        match send(address, &c.raw).await {
            None => failures.push(format!("{}: no answer", c.name)),
            Some(reply) => {
                let shaped = serde_json::from_slice::<Value>(&reply.body)
                    .ok()
                    .and_then(|v| v.get("__type").and_then(Value::as_str).map(str::to_owned));
                if !(400..500).contains(&reply.status) {
                    failures.push(format!(
                        "{}: status {} {:?}",
                        c.name,
                        reply.status,
                        String::from_utf8_lossy(&reply.body)
                    ));
                } else if c.aws_shaped && shaped.is_none() {
                    failures.push(format!(
                        "{}: {} without an AWS error body: {:?}",
                        c.name,
                        reply.status,
                        String::from_utf8_lossy(&reply.body)
                    ));
                }
            }
        }
        healthy(address).await;
    }
    assert!(
        failures.is_empty(),
        "{} of {total} bad requests:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "hostile input: {total} bad requests, each answered 4xx, the server healthy after each"
    );
}

/// Clients that connect and then send nothing, or a request byte by byte,
/// do not keep others from being served.
#[tokio::test(flavor = "multi_thread")]
async fn slow_clients_do_not_block_others() {
    let address = start().await;
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(tokio::net::TcpStream::connect(address).await.unwrap());
    }
    let body = b"{}";
    let raw = request(&signed(address, "ListKeys", body, NOW), body);
    let trickle = {
        let raw = raw.clone();
        tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            for byte in raw {
                stream.write_all(&[byte]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let mut bytes = Vec::new();
            stream.read_to_end(&mut bytes).await.unwrap();
            String::from_utf8_lossy(&bytes).starts_with("HTTP/1.1 200")
        })
    };
    for _ in 0..20 {
        healthy(address).await;
    }
    assert!(trickle.await.unwrap(), "the slow client was answered");
    drop(idle);
}
