//! A client of a running server's decision API (`POST
//! /v1/data/kmsgov/decision`, docs/decision-api.md), for `kmsgov mcp
//! --server`: a bearer token or a SigV4 signature, one connection per call.

use std::path::Path;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use zeroize::Zeroizing;

/// The decision API's path.
const DECISION_PATH: &str = "/v1/data/kmsgov/decision";

/// How long one call may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A server's decision API and how to authenticate to it.
pub(crate) struct Remote {
    /// `host:port`, for connecting and for the `Host` header.
    authority: String,
    auth: Auth,
    region: String,
}

enum Auth {
    /// `Authorization: Bearer TOKEN`.
    Bearer(Zeroizing<String>),
    /// SigV4 (service `kms`) with these credentials.
    SigV4(Identity),
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match self.auth {
            Auth::Bearer(_) => "bearer token",
            Auth::SigV4(_) => "SigV4",
        };
        f.debug_struct("Remote")
            .field("authority", &self.authority)
            .field("auth", &auth)
            .field("region", &self.region)
            .finish()
    }
}

impl Remote {
    /// A client of the server at `url` (`http://HOST:PORT`), with the bearer
    /// token of `token_file` (its first line) or, without one, SigV4
    /// credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
    /// AWS_SESSION_TOKEN.
    ///
    /// # Errors
    ///
    /// The URL is not an `http://` URL with a host, the token file cannot be
    /// read or has no token, or there are no credentials.
    pub(crate) fn new(
        url: &str,
        token_file: Option<&Path>,
        region: &str,
    ) -> Result<Remote, String> {
        let uri: http::Uri = url.parse().map_err(|e| format!("--server {url}: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("--server {url}: only http:// URLs are supported"));
        }
        let host = uri
            .host()
            .ok_or_else(|| format!("--server {url}: no host"))?;
        let authority = format!("{host}:{}", uri.port_u16().unwrap_or(80));
        let auth = match token_file {
            Some(path) => {
                let text = Zeroizing::new(
                    std::fs::read_to_string(path)
                        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?,
                );
                let token = text.lines().next().unwrap_or_default().trim();
                if token.is_empty() {
                    return Err(format!("{}: no token on the first line", path.display()));
                }
                Auth::Bearer(Zeroizing::new(token.to_owned()))
            }
            None => {
                let var = |name: &str| {
                    std::env::var(name)
                        .map_err(|_| format!("no credentials: pass --token-file or set {name}"))
                };
                let credentials = Credentials::new(
                    var("AWS_ACCESS_KEY_ID")?,
                    var("AWS_SECRET_ACCESS_KEY")?,
                    std::env::var("AWS_SESSION_TOKEN").ok(),
                    None,
                    "kmsgov-mcp",
                );
                Auth::SigV4(credentials.into())
            }
        };
        Ok(Remote {
            authority,
            auth,
            region: region.to_owned(),
        })
    }

    /// Asks the server to decide a request: its `result` (`{"decision",
    /// "reason", "path"}`).
    ///
    /// # Errors
    ///
    /// The server cannot be reached, refuses the request as invalid (the
    /// message is the server's) or refuses the caller.
    pub(crate) async fn decide(
        &self,
        principal: &str,
        operation: &str,
        input: &Value,
        context: Option<&Value>,
    ) -> Result<Value, String> {
        let mut inner = json!({"principal": principal, "operation": operation, "input": input});
        if let (Some(context), Some(object)) = (context, inner.as_object_mut()) {
            object.insert("context".to_owned(), context.clone());
        }
        let body = json!({ "input": inner }).to_string();
        let failed = |e: String| format!("the server at {}: {e}", self.authority);
        let request = self.request(body.as_bytes()).map_err(failed)?;
        let (status, bytes) = tokio::time::timeout(TIMEOUT, self.send(request))
            .await
            .map_err(|_| failed(format!("no answer in {} s", TIMEOUT.as_secs())))?
            .map_err(failed)?;
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        match (status, answer.get("result")) {
            (200, Some(result)) => Ok(result.clone()),
            _ => Err(failed(message(&answer, status))),
        }
    }

    /// A `POST` of `body` to the decision API, authenticated.
    fn request(&self, body: &[u8]) -> Result<http::Request<Full<Bytes>>, String> {
        let headers = [
            ("host", self.authority.as_str()),
            ("content-type", "application/json"),
        ];
        let mut builder = http::Request::builder().method("POST").uri(DECISION_PATH);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        if let Auth::Bearer(token) = &self.auth {
            builder = builder.header("authorization", format!("Bearer {}", token.as_str()));
        }
        let mut request = builder
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| format!("building a request: {e}"))?;
        if let Auth::SigV4(identity) = &self.auth {
            let url = format!("http://{}{DECISION_PATH}", self.authority);
            let params = v4::SigningParams::builder()
                .identity(identity)
                .region(&self.region)
                .name("kms")
                .time(SystemTime::now())
                .settings(SigningSettings::default())
                .build()
                .map_err(|e| format!("signing: {e}"))?
                .into();
            let signable = SignableRequest::new(
                "POST",
                url.as_str(),
                headers.iter().copied(),
                SignableBody::Bytes(body),
            )
            .map_err(|e| format!("signing: {e}"))?;
            let (instructions, _signature) = sign(signable, &params)
                .map_err(|e| format!("signing: {e}"))?
                .into_parts();
            instructions.apply_to_request_http1x(&mut request);
        }
        Ok(request)
    }

    /// Sends a request on a connection of its own: the status and the body.
    async fn send(&self, request: http::Request<Full<Bytes>>) -> Result<(u16, Bytes), String> {
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|e| format!("connecting to {}: {e}", self.authority))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {}: {e}", self.authority))?;
        tokio::spawn(connection);
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("response body: {e}"))?
            .to_bytes();
        Ok((status, body))
    }
}

/// The server's error message (`{"code", "message"}`), or the status.
fn message(answer: &Value, status: u16) -> String {
    match (answer.get("code"), answer.get("message")) {
        (Some(code), Some(message)) => format!(
            "{} ({status}): {}",
            code.as_str().unwrap_or_default(),
            message.as_str().unwrap_or_default()
        ),
        _ => format!("answered {status}"),
    }
}
