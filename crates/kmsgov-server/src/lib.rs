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
mod handler;
mod protocol;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kmsgov_core::Kms;
use kmsgov_policy::Caller;

pub use protocol::{CONTENT_TYPE, REQUEST_ID_HEADER, TARGET_PREFIX};

/// The largest request body accepted: 1 MiB. KMS requests are small (a
/// plaintext is at most 4 KiB, a key policy 32 KiB); a larger body is
/// answered `413` without being read further.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;

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
    max_body_bytes: usize,
}

impl Server {
    /// A server for `kms` that authenticates requests as `authentication`
    /// says.
    #[must_use]
    pub fn new(kms: Arc<Kms>, authentication: Authentication) -> Server {
        Server {
            kms,
            authentication,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// Limits request bodies to `bytes` (default [`DEFAULT_MAX_BODY_BYTES`]).
    #[must_use]
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Server {
        self.max_body_bytes = bytes;
        self
    }

    /// The service behind the server.
    #[must_use]
    pub fn kms(&self) -> &Arc<Kms> {
        &self.kms
    }

    /// The routes: `POST /` for KMS, `GET /health` (and `/_health`), and in
    /// development mode `POST /kmsgov/reset` (and `/moto-api/reset`).
    pub fn router(self) -> axum::Router {
        axum::Router::new()
            .fallback(handler::dispatch)
            .with_state(Arc::new(self))
    }

    /// Serves on `listener` until `shutdown` completes, then stops accepting
    /// connections and returns once the requests in flight are answered.
    ///
    /// # Errors
    ///
    /// The listener fails.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = self
            .router()
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
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
