//! Known-answer tests: the worked examples of the AWS documentation and the
//! cases of the AWS SigV4 test suite, each named after its source.
//!
//! Provenance. Only inputs and published outputs are reproduced here; the
//! suite's files are not copied.
//! - `aws_doc_iam_list_users` and `aws_doc_signing_key_*`: the IAM User
//!   Guide, "Create a signed AWS API request" and "Examples of how to derive
//!   a signing key" (formerly General Reference `sigv4-create-canonical-request`,
//!   `sigv4-calculate-signature` and `signature-v4-examples`).
//! - `aws_doc_s3_*`: the S3 API Reference, "Signature Calculations for the
//!   Authorization Header" (GET Object) and "Authenticating Requests: Using
//!   Query Parameters" (presigned GET Object).
//! - `aws_doc_get_*`, `aws_doc_post_*`: the "Signature Version 4 test suite"
//!   of the AWS General Reference (aws-sig-v4-test-suite, 2015-08-30
//!   vectors), as carried in awslabs/aws-c-auth
//!   `tests/aws-signing-test-suite/v4/<case>/` (Apache-2.0); the
//!   `*-normalized` / `*-unnormalized` names are that repository's.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use kmsgov_sigv4::{
    canonical_headers, canonical_query_string, canonical_request, canonical_uri, presign,
    sha256_hex, sign, string_to_sign, verify, AuthMethod, CredentialScope, Credentials, PathStyle,
    RequestParts, SecretKey, SessionToken, SignedHeaders, SigningKey, SigningParams, Timestamp,
    VerifyConfig,
};

const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SUITE_DATE: &str = "20150830T123600Z";
const SUITE_HOST: &str = "example.amazonaws.com";
const STS_TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

/// A test-suite request: `service` in `us-east-1`, signed by `AKIDEXAMPLE`
/// at 2015-08-30T12:36:00Z, with `Host` and `X-Amz-Date` first.
struct SuiteCase<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    extra_headers: &'a [(&'a str, &'a str)],
    body: &'a [u8],
    path_style: PathStyle,
}

impl<'a> SuiteCase<'a> {
    fn get(path: &'a str) -> Self {
        Self {
            method: "GET",
            path,
            query: "",
            extra_headers: &[],
            body: b"",
            path_style: PathStyle::Normalized,
        }
    }

    fn post(path: &'a str) -> Self {
        Self {
            method: "POST",
            ..Self::get(path)
        }
    }

    fn query(self, query: &'a str) -> Self {
        Self { query, ..self }
    }

    fn headers(self, extra_headers: &'a [(&'a str, &'a str)]) -> Self {
        Self {
            extra_headers,
            ..self
        }
    }

    fn body(self, body: &'a [u8]) -> Self {
        Self { body, ..self }
    }

    fn s3_paths(self) -> Self {
        Self {
            path_style: PathStyle::S3,
            ..self
        }
    }

    /// Signs the case with `sign`, checks the Authorization header against
    /// the published signature, then checks that `verify` accepts it.
    fn assert_signature(&self, signed_headers: &str, signature: &str) {
        let mut headers = vec![("Host", SUITE_HOST), ("X-Amz-Date", SUITE_DATE)];
        headers.extend_from_slice(self.extra_headers);
        let request = RequestParts {
            method: self.method,
            path: self.path,
            query: self.query,
            headers: &headers,
            body: self.body,
        };
        let secret = SecretKey::new(SUITE_SECRET);
        let params = SigningParams {
            path_style: self.path_style,
            ..SigningParams::new("AKIDEXAMPLE", &secret, "us-east-1", "service")
        };
        let authorization = sign(&request, &params).unwrap();
        assert_eq!(
            authorization,
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders={signed_headers}, Signature={signature}"
            )
        );

        let mut signed = headers.clone();
        signed.push(("Authorization", &authorization));
        let request = RequestParts {
            headers: &signed,
            ..request
        };
        let config = VerifyConfig::new("us-east-1", "service").with_path_style(self.path_style);
        let token = self
            .extra_headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("x-amz-security-token"))
            .map(|(_, value)| SessionToken::new(*value));
        let lookup = |id: &str| {
            (id == "AKIDEXAMPLE").then(|| match &token {
                Some(token) => Credentials::temporary(secret.clone(), token.clone(), None),
                None => Credentials::long_term(secret.clone()),
            })
        };
        let identity = verify(&request, &config, lookup, suite_time()).unwrap();
        assert_eq!(identity.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(identity.method(), AuthMethod::Header);
    }
}

fn suite_time() -> Timestamp {
    Timestamp::parse_amz_date(SUITE_DATE).unwrap()
}

#[test]
fn aws_doc_signing_key_derivation() {
    let secret = SecretKey::new(SUITE_SECRET);
    let time = Timestamp::parse_amz_date("20120215T000000Z").unwrap();
    let key = SigningKey::derive(&secret, &CredentialScope::new(time, "us-east-1", "iam"));
    assert_eq!(
        key.expose_hex(),
        "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    );
}

#[test]
fn aws_doc_signing_key_iam_list_users() {
    let secret = SecretKey::new(SUITE_SECRET);
    let key = SigningKey::derive(
        &secret,
        &CredentialScope::new(suite_time(), "us-east-1", "iam"),
    );
    assert_eq!(
        key.expose_hex(),
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    );
}

/// Every step of the IAM `ListUsers` example, from the canonical request to
/// the Authorization header.
#[test]
fn aws_doc_iam_list_users() {
    let headers = [
        (
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        ("Host", "iam.amazonaws.com"),
        ("X-Amz-Date", SUITE_DATE),
    ];
    let signed = SignedHeaders::parse("content-type;host;x-amz-date").unwrap();
    let canonical = canonical_request(
        "GET",
        &canonical_uri("/", PathStyle::Normalized),
        &canonical_query_string("Action=ListUsers&Version=2010-05-08"),
        &canonical_headers(&headers, &signed).unwrap(),
        &signed,
        &sha256_hex(b""),
    );
    assert_eq!(
        canonical,
        "GET\n/\nAction=ListUsers&Version=2010-05-08\n\
         content-type:application/x-www-form-urlencoded; charset=utf-8\n\
         host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
         content-type;host;x-amz-date\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        sha256_hex(canonical.as_bytes()),
        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    );
    let scope = CredentialScope::new(suite_time(), "us-east-1", "iam");
    let string_to_sign = string_to_sign(suite_time(), &scope, &canonical);
    assert_eq!(
        string_to_sign,
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n\
         f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    );
    let secret = SecretKey::new(SUITE_SECRET);
    let signature = SigningKey::derive(&secret, &scope).sign(&string_to_sign);
    let hex: String = signature.iter().map(|byte| format!("{byte:02x}")).collect();
    assert_eq!(
        hex,
        "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    );

    let request = RequestParts {
        method: "GET",
        path: "/",
        query: "Action=ListUsers&Version=2010-05-08",
        headers: &headers,
        body: b"",
    };
    let authorization = sign(
        &request,
        &SigningParams::new("AKIDEXAMPLE", &secret, "us-east-1", "iam"),
    )
    .unwrap();
    assert_eq!(
        authorization,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date, \
         Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    );
}

#[test]
fn aws_doc_s3_get_object() {
    let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let headers = vec![
        ("Host", "examplebucket.s3.amazonaws.com"),
        ("Range", "bytes=0-9"),
        ("x-amz-content-sha256", empty),
        ("x-amz-date", "20130524T000000Z"),
    ];
    let request = RequestParts {
        method: "GET",
        path: "/test.txt",
        query: "",
        headers: &headers,
        body: b"",
    };
    let secret = SecretKey::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    let authorization = sign(
        &request,
        &SigningParams::new("AKIAIOSFODNN7EXAMPLE", &secret, "us-east-1", "s3"),
    )
    .unwrap();
    assert_eq!(
        authorization,
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
         SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
         Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    );
    let mut signed = headers.clone();
    signed.push(("Authorization", &authorization));
    let request = RequestParts {
        headers: &signed,
        ..request
    };
    let now = Timestamp::parse_amz_date("20130524T000500Z").unwrap();
    let lookup = |_: &str| Some(Credentials::long_term(secret.clone()));
    verify(&request, &VerifyConfig::new("us-east-1", "s3"), lookup, now).unwrap();
}

#[test]
fn aws_doc_s3_presigned_get_object() {
    let headers = [("Host", "examplebucket.s3.amazonaws.com")];
    let request = RequestParts {
        method: "GET",
        path: "/test.txt",
        query: "",
        headers: &headers,
        body: b"",
    };
    let secret = SecretKey::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    let time = Timestamp::parse_amz_date("20130524T000000Z").unwrap();
    let query = presign(
        &request,
        &SigningParams::new("AKIAIOSFODNN7EXAMPLE", &secret, "us-east-1", "s3"),
        time,
        86_400,
    )
    .unwrap();
    assert_eq!(
        query,
        "X-Amz-Algorithm=AWS4-HMAC-SHA256\
         &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
         &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
         &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    );
    let request = RequestParts {
        query: &query,
        ..request
    };
    let lookup = |_: &str| Some(Credentials::long_term(secret.clone()));
    let config = VerifyConfig::new("us-east-1", "s3");
    let identity = verify(&request, &config, lookup, time.checked_add(86_400).unwrap()).unwrap();
    assert_eq!(identity.method(), AuthMethod::PresignedUrl);
}

#[test]
fn aws_doc_get_vanilla() {
    SuiteCase::get("/").assert_signature(
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
}

#[test]
fn aws_doc_get_vanilla_query_order_key_case() {
    SuiteCase::get("/")
        .query("Param2=value2&Param1=value1")
        .assert_signature(
            "host;x-amz-date",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        );
}

#[test]
fn aws_doc_get_vanilla_query_unreserved() {
    SuiteCase::get("/")
        .query(
            "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\
             =-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        )
        .assert_signature(
            "host;x-amz-date",
            "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
        );
}

#[test]
fn aws_doc_get_vanilla_utf8_query() {
    for query in ["ሴ=bar", "%E1%88%B4=bar"] {
        SuiteCase::get("/").query(query).assert_signature(
            "host;x-amz-date",
            "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
        );
    }
}

#[test]
fn aws_doc_get_vanilla_empty_query_key() {
    SuiteCase::get("/").query("Param1=value1").assert_signature(
        "host;x-amz-date",
        "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
    );
}

#[test]
fn aws_doc_get_unreserved() {
    SuiteCase::get("/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        .assert_signature(
            "host;x-amz-date",
            "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
        );
}

#[test]
fn aws_doc_get_utf8() {
    SuiteCase::get("/ሴ").assert_signature(
        "host;x-amz-date",
        "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
    );
}

#[test]
fn aws_doc_get_header_key_duplicate() {
    SuiteCase::get("/")
        .headers(&[
            ("My-Header1", "value2"),
            ("My-Header1", "value2"),
            ("My-Header1", "value1"),
        ])
        .assert_signature(
            "host;my-header1;x-amz-date",
            "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
        );
}

#[test]
fn aws_doc_get_header_value_order() {
    SuiteCase::get("/")
        .headers(&[
            ("My-Header1", "value4"),
            ("My-Header1", "value1"),
            ("My-Header1", "value3"),
            ("My-Header1", "value2"),
        ])
        .assert_signature(
            "host;my-header1;x-amz-date",
            "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
        );
}

#[test]
fn aws_doc_get_header_value_trim() {
    SuiteCase::get("/")
        .headers(&[("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")])
        .assert_signature(
            "host;my-header1;my-header2;x-amz-date",
            "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
        );
}

#[test]
fn aws_doc_get_relative_normalized() {
    SuiteCase::get("/example/..").assert_signature(
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
}

#[test]
fn aws_doc_get_relative_relative_normalized() {
    SuiteCase::get("/example1/example2/../..").assert_signature(
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
}

#[test]
fn aws_doc_get_slash_normalized() {
    SuiteCase::get("//").assert_signature(
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
}

#[test]
fn aws_doc_get_slash_dot_slash_normalized() {
    SuiteCase::get("/./").assert_signature(
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
}

#[test]
fn aws_doc_get_slash_pointless_dot_normalized() {
    SuiteCase::get("/./example").assert_signature(
        "host;x-amz-date",
        "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5",
    );
}

#[test]
fn aws_doc_get_slashes_normalized() {
    SuiteCase::get("//example//").assert_signature(
        "host;x-amz-date",
        "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
    );
}

#[test]
fn aws_doc_get_space_normalized() {
    SuiteCase::get("/example space/").assert_signature(
        "host;x-amz-date",
        "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
    );
}

#[test]
fn aws_doc_get_relative_unnormalized() {
    SuiteCase::get("/example/..").s3_paths().assert_signature(
        "host;x-amz-date",
        "eca7ead57bb5aa5c8e28007acd4ff04e1ff9a0ff3b237ec1554a184887ff9282",
    );
}

#[test]
fn aws_doc_get_slashes_unnormalized() {
    SuiteCase::get("//example//").s3_paths().assert_signature(
        "host;x-amz-date",
        "87cca117541a147f6df867677d98a7d80dff226d2bfca9e4ffa899665623c7e5",
    );
}

#[test]
fn aws_doc_post_vanilla() {
    SuiteCase::post("/").assert_signature(
        "host;x-amz-date",
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    );
}

#[test]
fn aws_doc_post_vanilla_query() {
    SuiteCase::post("/")
        .query("Param1=value1")
        .assert_signature(
            "host;x-amz-date",
            "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
        );
}

#[test]
fn aws_doc_post_header_key_sort() {
    SuiteCase::post("/")
        .headers(&[("My-Header1", "value1")])
        .assert_signature(
            "host;my-header1;x-amz-date",
            "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
        );
}

#[test]
fn aws_doc_post_header_value_case() {
    SuiteCase::post("/")
        .headers(&[("My-Header1", "VALUE1")])
        .assert_signature(
            "host;my-header1;x-amz-date",
            "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
        );
}

#[test]
fn aws_doc_post_x_www_form_urlencoded() {
    SuiteCase::post("/")
        .headers(&[("Content-Type", "application/x-www-form-urlencoded")])
        .body(b"Param1=value1")
        .assert_signature(
            "content-type;host;x-amz-date",
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
        );
}

#[test]
fn aws_doc_post_x_www_form_urlencoded_parameters() {
    SuiteCase::post("/")
        .headers(&[(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf8",
        )])
        .body(b"Param1=value1")
        .assert_signature(
            "content-type;host;x-amz-date",
            "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe",
        );
}

#[test]
fn aws_doc_post_sts_header_before() {
    SuiteCase::post("/")
        .headers(&[("X-Amz-Security-Token", STS_TOKEN)])
        .assert_signature(
            "host;x-amz-date;x-amz-security-token",
            "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
        );
}

/// The token is added after signing, so it is not a signed header; AWS still
/// accepts the request, and so do we.
#[test]
fn aws_doc_post_sts_header_after() {
    let authorization =
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders=host;x-amz-date, \
         Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b";
    let headers = [
        ("Host", SUITE_HOST),
        ("X-Amz-Date", SUITE_DATE),
        ("X-Amz-Security-Token", STS_TOKEN),
        ("Authorization", authorization),
    ];
    let request = RequestParts {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body: b"",
    };
    let lookup = |_: &str| {
        Some(Credentials::temporary(
            SecretKey::new(SUITE_SECRET),
            SessionToken::new(STS_TOKEN),
            None,
        ))
    };
    let config = VerifyConfig::new("us-east-1", "service");
    verify(&request, &config, lookup, suite_time()).unwrap();
}

#[test]
fn aws_doc_get_vanilla_with_session_token() {
    SuiteCase::get("/")
        .headers(&[(
            "X-Amz-Security-Token",
            "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
        )])
        .assert_signature(
            "host;x-amz-date;x-amz-security-token",
            "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
        );
}

/// Reserved and invalid characters in names and values: `%^` is not an
/// escape and stays a literal `%`, and `+` is not a space.
#[test]
fn aws_doc_post_vanilla_query_nonunreserved() {
    SuiteCase::post("/")
        .query("@#$%^=&+=/,?><`\";:\\|][{}")
        .assert_signature(
            "host;x-amz-date",
            "66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e",
        );
}
