//! Feeds arbitrary bytes to the SigV4 parsers and to `verify`: an
//! Authorization header, a presigned query string, and a whole request whose
//! parts are cut from the input. Nothing may panic.

#![no_main]

use kmsgov_sigv4::{
    verify, Authorization, Credentials, PresignedQuery, RequestParts, SecretKey, Timestamp,
    VerifyConfig,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = Authorization::parse(&text);
    let _ = PresignedQuery::parse(&text);
    let _ = Timestamp::parse_amz_date(&text);
    let _ = Timestamp::parse_http_date(&text);

    // Split the input into the pieces of a request at 0xff bytes.
    let mut pieces = text.split('\u{fffd}');
    let method = pieces.next().unwrap_or("POST");
    let path = pieces.next().unwrap_or("/");
    let query = pieces.next().unwrap_or("");
    let authorization = pieces.next().unwrap_or("");
    let date = pieces.next().unwrap_or("20150830T123600Z");
    let body = pieces.next().unwrap_or("").as_bytes();
    let headers = [
        ("host", "kms.us-east-1.amazonaws.com"),
        ("x-amz-date", date),
        ("authorization", authorization),
        ("x-amz-security-token", query),
    ];
    let request = RequestParts {
        method,
        path,
        query,
        headers: &headers,
        body,
    };
    let config = VerifyConfig::kms("us-east-1");
    let secret = |id: &str| {
        (id == "AKIDEXAMPLE").then(|| {
            Credentials::long_term(SecretKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"))
        })
    };
    let _ = verify(
        &request,
        &config,
        secret,
        Timestamp::from_unix_seconds(1_440_938_160),
    );
});
