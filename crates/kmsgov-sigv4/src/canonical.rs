//! The canonical request and the string to sign.
//!
//! See <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html>.

use aws_lc_rs::digest;

use crate::authorization::{query_pairs, CredentialScope, SignedHeaders, ALGORITHM};
use crate::encoding::{hex_encode, percent_decode, uri_encode, uri_encode_into};
use crate::error::SigV4Error;
use crate::time::Timestamp;

/// The payload hash of presigned requests that do not sign the body.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// How the request path becomes the canonical URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PathStyle {
    /// Every service but S3, KMS included: remove `.` and `..` segments and
    /// empty segments, then URI-encode each segment of the path as received,
    /// so that an already encoded path is encoded twice (`%20` → `%2520`).
    #[default]
    Normalized,
    /// S3: keep the path as it is and URI-encode each segment once (escapes
    /// in the received path are decoded first).
    S3,
}

/// The canonical URI of `path`, the path of the request as received (still
/// percent-encoded, without the query string).
///
/// ```
/// use kmsgov_sigv4::{canonical_uri, PathStyle};
///
/// assert_eq!(canonical_uri("/a/./b/../c//d/", PathStyle::Normalized), "/a/c/d/");
/// assert_eq!(canonical_uri("/key%20name", PathStyle::Normalized), "/key%2520name");
/// assert_eq!(canonical_uri("/key%20name", PathStyle::S3), "/key%20name");
/// assert_eq!(canonical_uri("", PathStyle::Normalized), "/");
/// ```
pub fn canonical_uri(path: &str, style: PathStyle) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    match style {
        PathStyle::Normalized => {
            let mut segments: Vec<&str> = Vec::new();
            for segment in path.split('/') {
                match segment {
                    "" | "." => {}
                    ".." => {
                        segments.pop();
                    }
                    _ => segments.push(segment),
                }
            }
            for segment in &segments {
                out.push('/');
                uri_encode_into(&mut out, segment.as_bytes(), false);
            }
            if segments.is_empty() || path.ends_with('/') {
                out.push('/');
            }
        }
        PathStyle::S3 => {
            if !path.starts_with('/') {
                out.push('/');
            }
            for (index, segment) in path.split('/').enumerate() {
                if index > 0 {
                    out.push('/');
                }
                uri_encode_into(&mut out, &percent_decode(segment), false);
            }
        }
    }
    out
}

/// The canonical query string of `query`, a raw (still percent-encoded)
/// query string: every parameter decoded, re-encoded the SigV4 way, and
/// sorted by encoded name, then encoded value.
///
/// `X-Amz-Signature` is left out, since a presigned URL cannot sign its own
/// signature.
///
/// ```
/// use kmsgov_sigv4::canonical_query_string;
///
/// assert_eq!(canonical_query_string("b=2&a=%7e&a=1&c"), "a=1&a=~&b=2&c=");
/// ```
pub fn canonical_query_string(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query_pairs(query)
        .map(|(name, value)| {
            (
                uri_encode(&percent_decode(name)),
                uri_encode(&percent_decode(value)),
            )
        })
        .filter(|(name, _)| name != "X-Amz-Signature")
        .collect();
    pairs.sort_unstable();
    let mut out = String::with_capacity(query.len());
    for (index, (name, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// The canonical headers: for each signed name, every value of that header
/// (names compare case-insensitively), trimmed, with runs of spaces
/// collapsed, joined with commas, each line ending in `\n`.
///
/// Fails if a signed header is absent from the request.
pub fn canonical_headers(
    headers: &[(&str, &str)],
    signed_headers: &SignedHeaders,
) -> Result<String, SigV4Error> {
    let mut out = String::new();
    for name in signed_headers.names() {
        out.push_str(name);
        out.push(':');
        let mut found = false;
        for (_, value) in headers
            .iter()
            .filter(|(header, _)| header.trim().eq_ignore_ascii_case(name))
        {
            if found {
                out.push(',');
            }
            found = true;
            push_trimmed(&mut out, value);
        }
        if !found {
            return Err(SigV4Error::SignedHeaderAbsent);
        }
        out.push('\n');
    }
    Ok(out)
}

/// The canonical request, from its already canonical parts.
pub fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query_string: &str,
    canonical_headers: &str,
    signed_headers: &SignedHeaders,
    payload_hash: &str,
) -> String {
    format!(
        "{method}\n{canonical_uri}\n{canonical_query_string}\n{canonical_headers}\n{}\n{payload_hash}",
        signed_headers.as_str()
    )
}

/// The string to sign: algorithm, request time, scope and the hash of the
/// canonical request.
pub fn string_to_sign(time: Timestamp, scope: &CredentialScope, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{time}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex_encode(digest::digest(&digest::SHA256, bytes).as_ref())
}

fn push_trimmed(out: &mut String, value: &str) {
    let mut pending_space = false;
    let mut started = false;
    for c in value.chars() {
        if c.is_ascii_whitespace() {
            pending_space = started;
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
            started = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_paths() {
        let cases = [
            ("/", "/"),
            ("", "/"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("/./", "/"),
            ("/./example", "/example"),
            ("//example//", "/example/"),
            ("/..", "/"),
            ("/a/b/../../../c", "/c"),
            ("/example space/", "/example%20space/"),
            ("/ሴ", "/%E1%88%B4"),
            ("/%41", "/%2541"),
        ];
        for (path, expected) in cases {
            assert_eq!(
                canonical_uri(path, PathStyle::Normalized),
                expected,
                "{path}"
            );
        }
    }

    #[test]
    fn s3_paths_are_kept() {
        let cases = [
            ("/", "/"),
            ("", "/"),
            ("//example//", "//example//"),
            ("/example/..", "/example/.."),
            ("/test$file.text", "/test%24file.text"),
            ("/a%20b/c%2Fd", "/a%20b/c%2Fd"),
            ("/a b", "/a%20b"),
        ];
        for (path, expected) in cases {
            assert_eq!(canonical_uri(path, PathStyle::S3), expected, "{path}");
        }
    }

    #[test]
    fn query_strings() {
        assert_eq!(canonical_query_string(""), "");
        assert_eq!(
            canonical_query_string("Param2=value2&Param1=value1"),
            "Param1=value1&Param2=value2"
        );
        assert_eq!(canonical_query_string("a=2&a=1&B=3"), "B=3&a=1&a=2");
        assert_eq!(canonical_query_string("k=a+b%20c"), "k=a%2Bb%20c");
        assert_eq!(
            canonical_query_string("X-Amz-Signature=abc&X-Amz-Date=1"),
            "X-Amz-Date=1"
        );
    }

    #[test]
    fn header_values_are_trimmed_and_joined() {
        let signed = SignedHeaders::parse("host;my-header1;my-header2").unwrap();
        let headers = [
            ("Host", "example.amazonaws.com"),
            ("My-Header1", "  value1  "),
            ("my-header2", "\"a   b   c\""),
            ("MY-HEADER1", "value2"),
            ("x-unsigned", "ignored"),
        ];
        assert_eq!(
            canonical_headers(&headers, &signed).unwrap(),
            "host:example.amazonaws.com\nmy-header1:value1,value2\nmy-header2:\"a b c\"\n"
        );
        let missing = SignedHeaders::parse("host;x-amz-date").unwrap();
        assert_eq!(
            canonical_headers(&headers, &missing),
            Err(SigV4Error::SignedHeaderAbsent)
        );
    }
}
