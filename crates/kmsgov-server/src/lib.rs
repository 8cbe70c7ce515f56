//! The KMS-compatible HTTP server: the AWS JSON 1.1 protocol in front of a
//! [`Kms`] service.
//!
//! A KMS request is `POST /` with `X-Amz-Target: TrentService.<Operation>`,
//! `Content-Type: application/x-amz-json-1.1`, a JSON body and a SigV4
//! signature. The server checks, in this order: the method and path, the
//! body size, the signature (`kmsgov-sigv4`, with the secrets of the world
//! file's access keys), the target, the content type and the JSON; then it
//! hands the request to [`Kms::execute`], where the authorization engine and
//! the operation run. Every answer is `200` with the response body, or the
//! error as AWS shapes it: `{"__type": "<Name>", "message": "…"}` with the
//! status AWS uses. Every response carries an `x-amzn-RequestId`.
//!
//! The key design decision is that authentication cannot be left out:
//! [`Server::new`] takes an [`Authentication`], and the only way to skip
//! signature checks is the explicit, loudly named
//! [`Authentication::Development`] mode of `kmsgov serve --dev`.
//!
//! The service is synchronous. Most calls (Encrypt, Decrypt, DescribeKey,
//! …) touch only memory and take microseconds, and run in place on the
//! worker. A call that may wait on the store ([`Kms::may_block`]: a change
//! and its fsync, a deletion that has fallen due, an AWS managed key to
//! create) runs under [`tokio::task::block_in_place`], which hands the
//! worker's other tasks to another thread while it runs (on a
//! current-thread runtime, where that is impossible, it goes to the
//! blocking pool). Handing every call off was measured on the project's
//! 2-core machine: Encrypt at 16 clients went from about 22,000 to 36,000
//! requests per second when the hot calls stopped being handed off, and a
//! minute at 64 clients no longer grew the process to hundreds of threads.
//! The wait for a call's audit entry is an `await`, holding no thread.
//!
//! ```no_run
//! use std::sync::Arc;
//! use kmsgov_core::{Config, Kms, SystemClock, root_key::RootKey, store::MemoryStore};
//! use kmsgov_server::{Authentication, Server};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let world = kmsgov_authz::Scenario::parse(r#"{"accounts": {"111122223333": {}}}"#)?.world;
//! let kms = Arc::new(Kms::open(Config {
//!     region: "us-east-1".into(),
//!     store: Arc::new(MemoryStore::new()),
//!     root_key: RootKey::generate()?,
//!     clock: Arc::new(SystemClock),
//!     directory: world,
//! })?);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4599").await?;
//! Server::new(kms, Authentication::SigV4)
//!     .serve(listener, async { let _ = tokio::signal::ctrl_c().await; })
//!     .await?;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod auth;
mod decision_api;
mod handler;
mod protocol;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kmsgov_core::Kms;
use kmsgov_policy::Caller;

pub use protocol::{AUDIT_TARGET_PREFIX, CONTENT_TYPE, REQUEST_ID_HEADER, TARGET_PREFIX};

/// The largest request body accepted: 1 MiB. KMS requests are small (a
/// plaintext is at most 4 KiB, a key policy 32 KiB); a larger body is
/// answered `413` without being read further.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;

/// Limits on connections and requests; see [`Limits::default`] for the
/// values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest request body; a larger one is answered `413` without
    /// being read.
    pub max_body_bytes: usize,
    /// The most bytes of request line and headers; a request with more is
    /// answered `431` by the HTTP layer.
    pub max_header_bytes: usize,
    /// Connections served at once; more wait in the listen backlog until
    /// one closes.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, counted
    /// from when the connection is ready for the request (so it also
    /// closes idle connections); then the connection is closed.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's body once its
    /// headers are in; then it is answered `408 RequestTimeoutException`.
    pub body_read_timeout: Duration,
}

impl Default for Limits {
    /// 1 MiB bodies, 64 KiB of headers, 1,024 connections, 30 s for
    /// headers (also how long an idle kept-alive connection stays open),
    /// 30 s for a body.
    fn default() -> Limits {
        Limits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_header_bytes: 64 << 10,
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum Authentication {
    /// SigV4 signatures, verified with the secrets of the access keys in the
    /// service's directory; the caller is the principal owning the key.
    SigV4,
    /// Development mode: any well-formed SigV4 `Authorization` header (or
    /// presigned query) is accepted without checking the signature, and
    /// every request is made by `administrator`. Never for real keys.
    Development {
        /// The caller of every request.
        administrator: Caller,
    },
}

/// The HTTP server for a [`Kms`] service.
#[derive(Debug, Clone)]
pub struct Server {
    kms: Arc<Kms>,
    authentication: Authentication,
    limits: Limits,
    bearer_tokens: Vec<decision_api::BearerToken>,
}

impl Server {
    /// A server for `kms` that authenticates requests as `authentication`
    /// says.
    #[must_use]
    pub fn new(kms: Arc<Kms>, authentication: Authentication) -> Server {
        Server {
            kms,
            authentication,
            limits: Limits::default(),
            bearer_tokens: Vec::new(),
        }
    }

    /// Accepts `Authorization: Bearer <token>` on the decision API
    /// (`POST /v1/data/kmsgov/decision`), as calls by `principal`; every
    /// other route still needs SigV4. Tokens are compared in constant time.
    #[must_use]
    pub fn with_bearer_token(mut self, token: &str, principal: Caller) -> Server {
        self.bearer_tokens.push(decision_api::BearerToken {
            token: zeroize::Zeroizing::new(token.as_bytes().to_vec()),
            principal,
        });
        self
    }

    /// Limits request bodies to `bytes` (default [`DEFAULT_MAX_BODY_BYTES`]).
    #[must_use]
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Server {
        self.limits.max_body_bytes = bytes;
        self
    }

    /// Sets every limit (default [`Limits::default`]).
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Server {
        self.limits = limits;
        self
    }

    /// The service behind the server.
    #[must_use]
    pub fn kms(&self) -> &Arc<Kms> {
        &self.kms
    }

    /// The routes: `POST /` for KMS, `POST /v1/data/kmsgov/decision` for the
    /// OPA-compatible decision API, `GET /health` (and `/_health`), `GET
    /// /ui` (and `/ui/`) for the decision-path viewer page, and in
    /// development mode `POST /kmsgov/reset` (and `/moto-api/reset`).
    pub fn router(self) -> axum::Router {
        axum::Router::new()
            .fallback(handler::dispatch)
            .with_state(Arc::new(self))
    }

    /// Serves on `listener` until `shutdown` completes, then stops accepting
    /// connections and returns once the requests in flight are answered.
    ///
    /// Each connection is served by hyper's HTTP/1.1 server with the
    /// [`Limits`]: at most `max_connections` at once (the next is accepted
    /// when one closes), headers within `header_read_timeout` and
    /// `max_header_bytes`.
    ///
    /// # Errors
    ///
    /// The listener fails.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        use hyper_util::rt::{TokioIo, TokioTimer};
        use tower_service::Service as _;

        let limits = self.limits;
        let app = self.router();
        let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            // hyper's buffer holds the request head; it has a floor of 8 KiB.
            .max_buf_size(limits.max_header_bytes.max(8192));
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = async {
                    // Wait for a free slot before taking the next connection.
                    let permit = Arc::clone(&permits).acquire_owned().await;
                    (permit, listener.accept().await)
                } => accepted,
            };
            let (permit, connection) = accepted;
            let Ok(permit) = permit else { break };
            let (stream, peer) = match connection {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait, go on.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let app = app.clone();
            let service = hyper::service::service_fn(
                move |mut request: hyper::Request<hyper::body::Incoming>| {
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    let mut app = app.clone();
                    // A `Router` is always ready.
                    async move { app.call(request).await }
                },
            );
            let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                // A client that goes away or sends garbage ends its own
                // connection only.
                let _ = connection.await;
                drop(permit);
            });
        }
        drop(listener);
        graceful.shutdown().await;
        Ok(())
    }
}

/// Calls [`Kms::tick`] every `period`, so that scheduled deletions and
/// rotations are carried out even when no request comes. Failures are
/// logged and retried on the next tick.
pub fn spawn_ticker(kms: Arc<Kms>, period: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let kms = Arc::clone(&kms);
            match tokio::task::spawn_blocking(move || kms.tick()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(
                    error = e.name(),
                    detail = e.detail.as_deref().unwrap_or(""),
                    "carrying out due deletions and rotations failed"
                ),
                Err(e) => tracing::error!(error = %e, "the tick task failed"),
            }
        }
    })
}
