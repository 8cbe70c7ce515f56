//! The OPA-compatible decision API: `POST /v1/data/kmsgov/decision` with
//! `{"input": {"principal", "operation", "input", "context"}}` answers
//! `{"result": {"decision", "reason", "path"}, "decision_id": …}`, the shape
//! of OPA's Data API, so clients that already ask OPA can ask kmsgov.
//!
//! The call is authenticated (SigV4, or a configured bearer token that acts
//! as one principal), authorized by the engine as `kmsgov:Evaluate` on `*`,
//! decided against the service's current state, and audited like every
//! request. Errors have OPA's shape: `{"code", "message"}`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request};
use axum::http::{header, StatusCode};
use axum::response::Response;
use kmsgov_authz::Environment;
use kmsgov_core::audit::AuditOperation;
use kmsgov_core::ErrorKind;
use kmsgov_policy::Caller;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::auth::{authenticate, Signed};
use crate::handler::read_body;
use crate::protocol::json_response;
use crate::Server;

/// The path of the decision.
pub(crate) const PATH: &str = "/v1/data/kmsgov/decision";

/// A bearer token and the principal it acts as.
#[derive(Clone)]
pub(crate) struct BearerToken {
    pub(crate) token: Zeroizing<Vec<u8>>,
    pub(crate) principal: Caller,
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerToken")
            .field("token", &"<redacted>")
            .field("principal", &self.principal.arn())
            .finish()
    }
}

fn error(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response {
    let body = json!({"code": code, "message": message});
    json_response(status, body.to_string().into_bytes(), request_id)
}

/// `POST /v1/data/kmsgov/decision`.
pub(crate) async fn decide(
    server: &Server,
    request: Request,
    request_id: &str,
    request_id_bytes: [u8; 16],
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical());
    let (parts, body) = request.into_parts();
    let limits = &server.limits;
    let body = match tokio::time::timeout(
        limits.body_read_timeout,
        read_body(&parts.headers, body, limits.max_body_bytes),
    )
    .await
    {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => return error(e.status, "invalid_parameter", &e.message, request_id),
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                "invalid_parameter",
                "the request body did not arrive in time",
                request_id,
            )
        }
    };
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let caller = match bearer {
        Some(token) => match server
            .bearer_tokens
            .iter()
            .find(|t| constant_time_eq(&t.token, token.trim().as_bytes()))
        {
            Some(t) => t.principal.clone(),
            None => {
                return error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "the bearer token is not valid",
                    request_id,
                )
            }
        },
        None => match authenticate(
            &server.kms,
            &server.authentication,
            &Signed {
                method: &parts.method,
                path: parts.uri.path(),
                query: parts.uri.query().unwrap_or(""),
                headers: &parts.headers,
                body: &body,
            },
        ) {
            Ok(caller) => caller,
            // OPA answers every failed authentication with 401.
            Err(e) => {
                return error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    &e.message,
                    request_id,
                )
            }
        },
    };
    let query = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(mut m)) => match m.remove("input") {
            Some(input @ Value::Object(_)) => input,
            Some(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_parameter",
                    "input must be a JSON object",
                    request_id,
                )
            }
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_parameter",
                    "the body has no input: {\"input\": {\"principal\", \"operation\", \"input\", \"context\"}}",
                    request_id,
                )
            }
        },
        Ok(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                "the body must be a JSON object",
                request_id,
            )
        }
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                &format!("the body is not valid JSON: {e}"),
                request_id,
            )
        }
    };
    let mut env = Environment::new();
    if let Some(ip) = peer {
        env.insert("aws:SourceIp", ip.to_string());
    }
    env.insert("aws:SecureTransport", "false");
    let kms = Arc::clone(&server.kms);
    let principal = caller.arn().to_owned();
    let pending = tokio::task::spawn_blocking(move || {
        kms.execute_audit_operation(
            &caller,
            AuditOperation::Evaluate,
            &query,
            &env,
            request_id_bytes,
        )
    })
    .await;
    let result = match pending {
        Ok(pending) => pending.finish().await.result,
        Err(e) => {
            tracing::error!(request_id, detail = %e, "the decision task failed");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "the decision could not be made",
                request_id,
            );
        }
    };
    let response = match result {
        Ok(output) => {
            let body = json!({"result": output.value(), "decision_id": request_id});
            json_response(StatusCode::OK, body.to_string().into_bytes(), request_id)
        }
        Err(e) => match e.kind {
            ErrorKind::AccessDeniedException => error(
                StatusCode::FORBIDDEN,
                "unauthorized",
                &e.message,
                request_id,
            ),
            ErrorKind::ValidationException => error(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                &e.message,
                request_id,
            ),
            _ => {
                if let Some(detail) = &e.detail {
                    tracing::error!(request_id, error = e.name(), detail, "internal error");
                }
                error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    &e.message,
                    request_id,
                )
            }
        },
    };
    tracing::info!(
        request_id,
        operation = "Evaluate",
        principal,
        status = response.status().as_u16(),
        "decision request"
    );
    response
}

/// Compares in time that depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}
