//! End-to-end tests of kmsgov, and nothing else: the tests in `tests/` start
//! the real `kmsgov serve` binary on a loopback port and drive it with the
//! AWS SDK for Rust (`aws-sdk-kms`), the oracle for the wire format and
//! SigV4. The library is empty; it exists so that the crate has a target.
