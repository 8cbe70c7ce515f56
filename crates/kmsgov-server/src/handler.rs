//! Routing and the KMS request handler.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse as _, Response};
use kmsgov_authz::{Environment, Operation, Trace};
use kmsgov_core::{Kms, KmsError, Output};
use kmsgov_policy::Caller;
use serde_json::Value;

use crate::auth::{authenticate, Signed};
use crate::protocol::{self, json_response, ApiError};
use crate::{Authentication, Server};

/// Every request comes here: the server routes by path and method itself,
/// so that every answer, even to a wrong path or method, has the AWS shape
/// and a request id.
pub(crate) async fn dispatch(State(server): State<Arc<Server>>, request: Request) -> Response {
    let (request_id, request_id_bytes) = protocol::new_request_id();
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let development = matches!(server.authentication, Authentication::Development { .. });
    match (path.as_str(), &method) {
        ("/", &Method::POST) => kms_request(&server, request, &request_id, request_id_bytes).await,
        ("/", _) => {
            let mut response = ApiError::unknown_operation(StatusCode::METHOD_NOT_ALLOWED)
                .into_response(&request_id);
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            log_other(&request_id, &method, &path, response.status());
            response
        }
        ("/health" | "/_health", &Method::GET | &Method::HEAD) => {
            json_response(StatusCode::OK, br#"{"status":"ok"}"#.to_vec(), &request_id)
        }
        ("/ui" | "/ui/", &Method::GET | &Method::HEAD) => viewer_page(&request_id),
        (crate::decision_api::PATH, &Method::POST) => {
            crate::decision_api::decide(&server, request, &request_id, request_id_bytes).await
        }
        ("/kmsgov/reset" | "/moto-api/reset", &Method::POST) if development => {
            reset(&server, &request_id).await
        }
        _ => {
            let response =
                ApiError::unknown_operation(StatusCode::NOT_FOUND).into_response(&request_id);
            log_other(&request_id, &method, &path, response.status());
            response
        }
    }
}

/// `POST /`: a KMS API call.
async fn kms_request(
    server: &Server,
    request: Request,
    request_id: &str,
    request_id_bytes: [u8; 16],
) -> Response {
    let started = Instant::now();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        // An IPv4 client of a dual-stack listener shows as `::ffff:a.b.c.d`;
        // policies name it as IPv4.
        .map(|c| c.0.ip().to_canonical());
    let (parts, body) = request.into_parts();
    let operation_name = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| {
            t.strip_prefix(protocol::TARGET_PREFIX)
                .or_else(|| t.strip_prefix(protocol::AUDIT_TARGET_PREFIX))
        })
        .unwrap_or("-")
        .to_owned();
    let mut principal = String::from("-");

    let result = async {
        let limits = &server.limits;
        let body = tokio::time::timeout(
            limits.body_read_timeout,
            read_body(&parts.headers, body, limits.max_body_bytes),
        )
        .await
        .map_err(|_| ApiError::body_timeout(limits.body_read_timeout))??;
        let caller = authenticate(
            &server.kms,
            &server.authentication,
            &Signed {
                method: &parts.method,
                path: parts.uri.path(),
                query: parts.uri.query().unwrap_or(""),
                headers: &parts.headers,
                body: &body,
            },
        )?;
        principal = caller.arn().to_owned();
        let operation = protocol::operation(header_str(&parts.headers, "x-amz-target"))?;
        protocol::check_content_type(header_str(&parts.headers, "content-type"))?;
        let input = with_use_headers(protocol::parse_body(&body)?, &parts.headers);
        drop(body);
        let mut env = Environment::new();
        if let Some(ip) = peer {
            env.insert("aws:SourceIp", ip.to_string());
        }
        env.insert("aws:SecureTransport", "false");
        let outcome = match operation {
            protocol::Target::Kms(operation) => {
                execute(
                    Arc::clone(&server.kms),
                    caller,
                    operation,
                    input,
                    env,
                    request_id_bytes,
                )
                .await
            }
            protocol::Target::Audit(operation) => {
                // Reads of the log: memory and the log's database, never
                // the key store's writer.
                let kms = Arc::clone(&server.kms);
                let pending = tokio::task::spawn_blocking(move || {
                    kms.execute_audit_operation(&caller, operation, &input, &env, request_id_bytes)
                })
                .await;
                match pending {
                    Ok(pending) => pending.finish().await.result,
                    Err(e) => Err(KmsError::internal(format!("the request task failed: {e}"))),
                }
            }
        };
        outcome.map_err(|e| {
            if let Some(detail) = &e.detail {
                tracing::error!(request_id, error = e.name(), detail, "internal error");
            }
            ApiError::from_kms(&e)
        })
    }
    .await;

    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    match result {
        Ok(output) => {
            tracing::info!(
                request_id,
                operation = operation_name,
                principal,
                outcome = "ok",
                status = 200,
                latency_us,
                "kms request"
            );
            let body = output.to_json();
            json_response(StatusCode::OK, body.to_vec(), request_id)
        }
        Err(error) => {
            tracing::info!(
                request_id,
                operation = operation_name,
                principal,
                outcome = error.name.as_str(),
                status = error.status.as_u16(),
                latency_us,
                "kms request"
            );
            error.into_response(request_id)
        }
    }
}

/// Runs the call: in place when it is memory and CPU only, else where
/// blocking is allowed (see the crate documentation): `block_in_place` on a
/// multi-threaded runtime, the blocking pool on a current-thread one.
async fn execute(
    kms: Arc<Kms>,
    caller: Caller,
    operation: Operation,
    input: Value,
    env: Environment<'static>,
    request_id: [u8; 16],
) -> Result<Output, KmsError> {
    let may_block = kms.may_block(operation, &input);
    let run = move || {
        let request = kmsgov_core::Request {
            caller: &caller,
            operation,
            input: &input,
            env: &env,
        };
        kms.execute_deferred(&request, Trace::Off, request_id)
    };
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let pending = if !may_block {
        // Memory and CPU only: no hand-off at all.
        run()
    } else if multi_thread {
        tokio::task::block_in_place(run)
    } else {
        match tokio::task::spawn_blocking(run).await {
            Ok(pending) => pending,
            Err(e) => {
                return Err(KmsError::internal(format!("the request task failed: {e}")));
            }
        }
    };
    // The audit entry is committed by the log's writer; waiting for it here
    // holds no thread.
    pending.finish().await.result
}

/// Reads the body, refusing one over `limit` bytes (by its declared length
/// first, so that a large upload is not read at all).
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let declared = header_str(headers, header::CONTENT_LENGTH.as_str())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return Err(ApiError::too_large(limit));
    }
    // The only ways reading fails are going over the limit and the client
    // going away; the answer to the second is never seen.
    axum::body::to_bytes(body, limit)
        .await
        .map(|b| b.to_vec())
        .map_err(|_| ApiError::too_large(limit))
}

/// Development mode: wipes every key, alias and grant.
async fn reset(server: &Server, request_id: &str) -> Response {
    let kms = Arc::clone(&server.kms);
    let result = tokio::task::spawn_blocking(move || kms.reset())
        .await
        .unwrap_or_else(|e| Err(KmsError::internal(format!("the reset task failed: {e}"))));
    match result {
        Ok(()) => {
            tracing::warn!(
                request_id,
                "development mode: all keys, aliases and grants wiped"
            );
            json_response(StatusCode::OK, br#"{"status":"ok"}"#.to_vec(), request_id)
        }
        Err(e) => {
            tracing::error!(
                request_id,
                error = e.name(),
                detail = e.detail.as_deref().unwrap_or(""),
                "reset failed"
            );
            ApiError::from_kms(&e).into_response(request_id)
        }
    }
}

/// `GET /ui`: the decision-path viewer, empty (a document is pasted or
/// opened in the page), under a content security policy that lets it load
/// nothing and run only its own inline script and style, named by their
/// SHA-256.
fn viewer_page(request_id: &str) -> Response {
    static PAGE: std::sync::LazyLock<(String, String)> = std::sync::LazyLock::new(|| {
        use kmsgov_analysis::viewer;
        (
            viewer::page(None),
            viewer::content_security_policy(
                &sha256_base64(viewer::inline_script()),
                &sha256_base64(viewer::inline_style()),
            ),
        )
    });
    let (page, policy) = &*PAGE;
    let mut response = (StatusCode::OK, page.as_str()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(protocol::REQUEST_ID_HEADER, value);
    }
    response
}

/// The base64 SHA-256 of `text`, as a CSP hash source names it.
fn sha256_base64(text: &str) -> String {
    use base64::Engine as _;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn log_other(request_id: &str, method: &Method, path: &str, status: StatusCode) {
    tracing::info!(
        request_id,
        method = method.as_str(),
        path,
        status = status.as_u16(),
        "not a kms request"
    );
}

/// The headers that state the intended use of the plaintext, for clients
/// (the AWS SDKs) that cannot add members to a KMS request body; a member
/// in the body wins over its header.
const USE_HEADERS: [(&str, &str); 2] = [
    ("x-kmsgov-purpose", "Purpose"),
    ("x-kmsgov-audience", "Audience"),
];

fn with_use_headers(mut input: Value, headers: &HeaderMap) -> Value {
    if let Value::Object(map) = &mut input {
        for (header, member) in USE_HEADERS {
            if let Some(value) = headers.get(header).and_then(|v| v.to_str().ok()) {
                map.entry(member)
                    .or_insert_with(|| Value::String(value.to_owned()));
            }
        }
    }
    input
}
