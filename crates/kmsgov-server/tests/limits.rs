//! The connection and request limits: headers and bodies that take too
//! long, and more connections than the server serves at once.

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
use std::time::{Duration, Instant};

use kmsgov_authz::Scenario;
use kmsgov_core::root_key::RootKey;
use kmsgov_core::store::MemoryStore;
use kmsgov_core::{Config, Kms, ManualClock};
use kmsgov_server::{Authentication, Limits, Server};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const NOW: i64 = 1_767_225_600;
const KEY: &str = "AKIALIMITS0000000001";
const SECRET: &str = "limits/secret/00000000000000000000000000";
const WORLD: &str = r#"{
  "accounts": {"111122223333": {}},
  "principals": [
    {"arn": "arn:aws:iam::111122223333:user/admin",
     "policies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}],
     "access_keys": [{"id": "AKIALIMITS0000000001", "secret": "limits/secret/00000000000000000000000000"}]}
  ]
}"#;

async fn start(limits: Limits) -> SocketAddr {
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
        Server::new(Arc::new(kms), Authentication::SigV4)
            .with_limits(limits)
            .serve(listener, std::future::pending()),
    );
    address
}

/// A signed `ListKeys`, as raw bytes.
fn list_keys(address: SocketAddr) -> Vec<u8> {
    let body = b"{}";
    let mut headers = wire::headers(
        address,
        Some("ListKeys"),
        Some("application/x-amz-json-1.1"),
        body,
        Some((KEY, SECRET)),
        NOW,
    );
    headers.push(("Content-Length".into(), body.len().to_string()));
    wire::raw_request("POST", "/", &headers, body)
}

/// Reads until the server closes, within `limit`: the bytes.
async fn read_all(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    tokio::time::timeout(limit, stream.read_to_end(&mut bytes))
        .await
        .ok()?
        .ok()?;
    Some(bytes)
}

#[tokio::test(flavor = "multi_thread")]
async fn headers_that_take_too_long_close_the_connection() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let address = start(limits).await;
    let mut slow = TcpStream::connect(address).await.unwrap();
    slow.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let answer = read_all(&mut slow, Duration::from_secs(5)).await;
    assert!(answer.is_some(), "the connection stayed open");
    assert!(started.elapsed() < Duration::from_secs(4));
    // A connection that sends nothing at all is closed too.
    let mut idle = TcpStream::connect(address).await.unwrap();
    assert!(read_all(&mut idle, Duration::from_secs(5)).await.is_some());
    // Others are served.
    let mut good = TcpStream::connect(address).await.unwrap();
    good.write_all(&list_keys(address)).await.unwrap();
    let reply = read_all(&mut good, Duration::from_secs(5)).await.unwrap();
    assert!(
        reply.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_takes_too_long_is_a_request_timeout() {
    let limits = Limits {
        body_read_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let address = start(limits).await;
    let mut request = list_keys(address);
    // Declare 100 more bytes than are sent.
    let text = String::from_utf8(request.clone()).unwrap();
    let text = text.replace("Content-Length: 2\r\n", "Content-Length: 102\r\n");
    request = text.into_bytes();
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let reply = read_all(&mut stream, Duration::from_secs(5)).await.unwrap();
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        text.contains("\"__type\":\"RequestTimeoutException\""),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let limits = Limits {
        max_connections: 2,
        header_read_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let address = start(limits).await;
    let first = TcpStream::connect(address).await.unwrap();
    let second = TcpStream::connect(address).await.unwrap();
    // Let the server take both.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = TcpStream::connect(address).await.unwrap();
    third.write_all(&list_keys(address)).await.unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(700), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a third connection was served beyond the limit"
    );
    drop(first);
    let reply = read_all(&mut third, Duration::from_secs(5)).await.unwrap();
    assert!(
        reply.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    drop(second);
}
