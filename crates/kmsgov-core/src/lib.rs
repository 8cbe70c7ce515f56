//! KMS keys, cryptography and operations.
//!
//! - [`service::Kms`]: every KMS operation on a [`store::Store`], each
//!   authorized by the `kmsgov-authz` engine against the live state.
//! - [`crypto`] and [`ciphertext`]: key material for every key spec and the
//!   symmetric ciphertext format.
//! - [`root_key`]: wrapping of key material at rest.
//! - [`clock`]: time, behind a trait so tests can advance it.
//! - [`governance`]: signed, hash-chained, compare-and-swap governance
//!   records.
//!
//! The crate does no file or network I/O of its own: storage is behind
//! [`store::Store`], time behind [`clock::Clock`].

#![warn(missing_docs)]

pub mod audit;
pub mod canonical;
pub mod ciphertext;
pub mod clock;
pub mod crypto;
pub mod data_use;
pub mod error;
pub mod governance;
pub mod merkle;
mod ops;
pub mod receipt;
pub mod root_key;
pub mod service;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{ErrorKind, KmsError};
pub use service::{
    Config, Kms, Output, PendingResponse, Request, Response, LEASE, POLL_PERIOD, STALE_AFTER,
};
