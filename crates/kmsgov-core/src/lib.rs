//! KMS keys, cryptography and operations.
//!
//! Work in progress: this crate grows into the domain layer of the
//! KMS-compatible server (keys, the ciphertext format, every KMS operation on
//! a `Store` trait). See `ARCHITECTURE.md`.

#![warn(missing_docs)]

pub mod ciphertext;
pub mod crypto;
pub mod root_key;
pub mod store;
