//! A minimal HTTP/1.1 client for the server tests, so that every byte on
//! the wire is the test's: raw requests, SigV4-signed KMS headers, and
//! responses parsed off the socket.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test support code; each test file uses part of it"
)]

use std::net::SocketAddr;

use kmsgov_sigv4::{sign, RequestParts, SecretKey, SigningParams, Timestamp};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A response as read off the wire.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The `__type` of an error body.
    pub fn error(&self) -> String {
        self.json()["__type"].as_str().unwrap_or("").to_owned()
    }
}

/// Sends raw request bytes and reads the whole response (the request asks
/// for `Connection: close`).
pub async fn exchange(address: SocketAddr, raw: &[u8]) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    // The server may answer (and close) before the whole body is written.
    let _ = stream.write_all(raw).await;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.unwrap();
    parse_reply(&bytes)
}

fn parse_reply(bytes: &[u8]) -> Reply {
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = std::str::from_utf8(&bytes[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let rest = &bytes[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let end = bytes.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&bytes[..end]).unwrap().trim(), 16).unwrap();
        bytes = &bytes[end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&bytes[..size]);
        bytes = &bytes[size + 2..];
    }
}

/// An HTTP/1.1 request from its parts.
pub fn raw_request(method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut raw = format!("{method} {path} HTTP/1.1\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("Connection: close\r\n\r\n");
    let mut raw = raw.into_bytes();
    raw.extend_from_slice(body);
    raw
}

/// The headers of a KMS request to `address`: `Host`, `X-Amz-Date` (at
/// `time`), the target and content type when given, and a SigV4
/// `Authorization` over them and `body` when `credentials` are given.
pub fn headers(
    address: SocketAddr,
    target: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
    credentials: Option<(&str, &str)>,
    time: i64,
) -> Vec<(String, String)> {
    headers_at(address, "/", target, content_type, body, credentials, time)
}

/// As [`headers`], for a request to `path`.
pub fn headers_at(
    address: SocketAddr,
    path: &str,
    target: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
    credentials: Option<(&str, &str)>,
    time: i64,
) -> Vec<(String, String)> {
    let date = Timestamp::from_unix_seconds(time).to_string();
    let mut headers = vec![
        ("Host".to_owned(), address.to_string()),
        ("X-Amz-Date".to_owned(), date),
    ];
    if let Some(t) = target {
        // A bare operation name is KMS's; `KmsGov.X` is given whole.
        let target = if t.contains('.') {
            t.to_owned()
        } else {
            format!("TrentService.{t}")
        };
        headers.push(("X-Amz-Target".to_owned(), target));
    }
    if let Some(c) = content_type {
        headers.push(("Content-Type".to_owned(), c.to_owned()));
    }
    if let Some((id, secret)) = credentials {
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let request = RequestParts {
            method: "POST",
            path,
            query: "",
            headers: &pairs,
            body,
        };
        let secret = SecretKey::new(secret);
        let authorization = sign(
            &request,
            &SigningParams::new(id, &secret, "us-east-1", "kms"),
        )
        .unwrap();
        headers.push(("Authorization".to_owned(), authorization));
    }
    headers
}

/// A signed KMS call: `operation` with `body`, as `credentials`, at `time`.
pub async fn signed_call(
    address: SocketAddr,
    operation: &str,
    body: &[u8],
    credentials: (&str, &str),
    time: i64,
) -> Reply {
    let mut headers = headers(
        address,
        Some(operation),
        Some("application/x-amz-json-1.1"),
        body,
        Some(credentials),
        time,
    );
    headers.push(("Content-Length".to_owned(), body.len().to_string()));
    exchange(address, &raw_request("POST", "/", &headers, body)).await
}
