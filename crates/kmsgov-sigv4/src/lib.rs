//! AWS Signature Version 4.
//!
//! Work in progress: pure functions to parse the `Authorization` header and
//! presigned query strings, build the canonical request and string to sign,
//! derive signing keys and verify signatures in constant time.

#![warn(missing_docs)]
