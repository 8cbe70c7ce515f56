//! AWS Signature Version 4: parse, canonicalize, sign and verify.
//!
//! This crate answers one question for the kmsgov server: did the holder of
//! this access key sign this request, for this region and service, recently
//! enough? It implements
//! [SigV4](https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html)
//! for requests signed in the `Authorization` header and for presigned URLs.
//!
//! The key design decision is that everything here is a pure function of its
//! inputs. A request is plain data ([`RequestParts`]: method, path, raw
//! query, header pairs, body), the current time is a parameter
//! ([`Timestamp`]), and credentials come from a lookup closure. Nothing reads
//! the clock, the network or a store, nothing is async, and no input makes
//! it panic. That makes every step testable with the published AWS examples,
//! which the tests reproduce by name.
//!
//! Secrets are types: [`SecretKey`], [`SessionToken`] and [`SigningKey`] are
//! wiped on drop, print as `<redacted>`, and are read only through
//! `expose`-named methods. Signatures and session tokens are compared in
//! constant time. A [`SigV4Error`] maps to the AWS error name with
//! [`SigV4Error::code`], and its message never contains request input, the
//! secret or the expected signature.
//!
//! ```
//! use kmsgov_sigv4::{sign, verify, Credentials, RequestParts, SecretKey, SigningParams,
//!     Timestamp, VerifyConfig};
//!
//! let now = Timestamp::parse_amz_date("20260101T120000Z").unwrap();
//! let secret = SecretKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
//! let date = now.to_string();
//! let body = br#"{"KeyId":"alias/app","Plaintext":"aGk="}"#;
//! let unsigned = [
//!     ("Host", "kms.us-east-1.amazonaws.com"),
//!     ("X-Amz-Date", date.as_str()),
//!     ("X-Amz-Target", "TrentService.Encrypt"),
//!     ("Content-Type", "application/x-amz-json-1.1"),
//! ];
//! let request = RequestParts { method: "POST", path: "/", query: "", headers: &unsigned, body };
//! let authorization =
//!     sign(&request, &SigningParams::new("AKIDEXAMPLE", &secret, "us-east-1", "kms")).unwrap();
//!
//! let mut headers = unsigned.to_vec();
//! headers.push(("Authorization", authorization.as_str()));
//! let request = RequestParts { headers: &headers, ..request };
//! let lookup = |id: &str| (id == "AKIDEXAMPLE").then(|| Credentials::long_term(secret.clone()));
//! let identity = verify(&request, &VerifyConfig::kms("us-east-1"), lookup, now).unwrap();
//! assert_eq!(identity.access_key_id(), "AKIDEXAMPLE");
//!
//! // Any change to a signed part of the request breaks the signature.
//! let tampered = RequestParts { body: br#"{"KeyId":"alias/other","Plaintext":"aGk="}"#, ..request };
//! let error = verify(&tampered, &VerifyConfig::kms("us-east-1"), lookup, now).unwrap_err();
//! assert_eq!(error.code(), "InvalidSignatureException");
//! ```

#![warn(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod authorization;
mod canonical;
mod encoding;
mod error;
mod secret;
mod sign;
mod signing;
mod time;
mod verify;

pub use authorization::{
    Authorization, Credential, CredentialScope, PresignedQuery, SignedHeaders, ALGORITHM,
    MAX_EXPIRES_SECONDS, TERMINATOR,
};
pub use canonical::{
    canonical_headers, canonical_query_string, canonical_request, canonical_uri, sha256_hex,
    string_to_sign, PathStyle, UNSIGNED_PAYLOAD,
};
pub use error::{Component, SigV4Error};
pub use secret::{Credentials, SecretKey, SessionToken};
pub use sign::{presign, sign, SigningParams};
pub use signing::SigningKey;
pub use time::Timestamp;
pub use verify::{
    verify, AuthMethod, CredentialKind, RequestParts, VerifiedIdentity, VerifyConfig,
};
