//! Laws that hold for every input: what `sign` signs, `verify` accepts;
//! arbitrary text in any field never panics; error messages never contain
//! the secret.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use kmsgov_sigv4::{
    canonical_query_string, canonical_uri, presign, sign, verify, Authorization, Credentials,
    PathStyle, PresignedQuery, RequestParts, SecretKey, SigningParams, Timestamp, VerifyConfig,
};
use proptest::prelude::*;

/// 2001-09-09 to 2033-05-18: whole seconds, far from any overflow.
fn timestamps() -> impl Strategy<Value = Timestamp> {
    (1_000_000_000_i64..2_000_000_000).prop_map(Timestamp::from_unix_seconds)
}

fn secrets() -> impl Strategy<Value = String> {
    "[A-Za-z0-9/+]{24,40}"
}

/// Header names that are neither the ones SigV4 treats specially nor
/// `host`, in any case.
fn extra_header_names() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9-]{0,12}".prop_filter("reserved header", |name| {
        let lower = name.to_ascii_lowercase();
        !matches!(
            lower.as_str(),
            "host"
                | "authorization"
                | "date"
                | "x-amz-date"
                | "x-amz-content-sha256"
                | "x-amz-security-token"
        )
    })
}

#[derive(Debug, Clone)]
struct Case {
    method: String,
    path: String,
    query: String,
    host: String,
    extra_headers: Vec<(String, String)>,
    body: Vec<u8>,
    time: Timestamp,
    region: String,
    service: String,
    access_key_id: String,
    secret: String,
}

fn cases() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"]),
        "(/[a-zA-Z0-9._~%ሴ +!$-]{0,8}){0,5}/?",
        "([a-zA-Z0-9_.~%+ሴ-]{1,6}(=[a-zA-Z0-9_.~%+=ሴ /-]{0,8})?&?){0,4}",
        "[a-z0-9.-]{1,30}(:[0-9]{1,5})?",
        prop::collection::vec((extra_header_names(), "\\PC{0,20}"), 0..5),
        prop::collection::vec(any::<u8>(), 0..200),
        timestamps(),
        "[a-z]{2}-[a-z]{4,9}-[1-9]",
        "[a-z0-9-]{2,12}",
        "[A-Z0-9]{16,20}",
        secrets(),
    )
        .prop_map(
            |(
                method,
                path,
                query,
                host,
                extra_headers,
                body,
                time,
                region,
                service,
                access_key_id,
                secret,
            )| {
                Case {
                    method: method.to_owned(),
                    path,
                    query,
                    host,
                    extra_headers,
                    body,
                    time,
                    region,
                    service,
                    access_key_id,
                    secret,
                }
            },
        )
}

impl Case {
    fn headers(&self) -> Vec<(String, String)> {
        let mut headers = vec![
            ("Host".to_owned(), self.host.clone()),
            ("X-Amz-Date".to_owned(), self.time.to_string()),
        ];
        headers.extend(self.extra_headers.iter().cloned());
        headers
    }

    fn check(
        &self,
        headers: &[(String, String)],
        query: &str,
        now: Timestamp,
    ) -> Result<(), String> {
        let borrowed: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let request = RequestParts {
            method: &self.method,
            path: &self.path,
            query,
            headers: &borrowed,
            body: &self.body,
        };
        let config = VerifyConfig::new(self.region.clone(), self.service.clone());
        let lookup = |id: &str| {
            (id == self.access_key_id)
                .then(|| Credentials::long_term(SecretKey::new(self.secret.clone())))
        };
        verify(&request, &config, lookup, now)
            .map(|_| ())
            .map_err(|error| error.to_string())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn verify_accepts_what_sign_signs(case in cases(), skew in -900_i64..=900) {
        let secret = SecretKey::new(case.secret.clone());
        let params = SigningParams::new(&case.access_key_id, &secret, &case.region, &case.service);
        let mut headers = case.headers();
        let authorization = {
            let borrowed: Vec<(&str, &str)> =
                headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
            let request = RequestParts {
                method: &case.method,
                path: &case.path,
                query: &case.query,
                headers: &borrowed,
                body: &case.body,
            };
            sign(&request, &params).unwrap()
        };
        headers.push(("Authorization".to_owned(), authorization));
        let now = case.time.checked_add(skew).unwrap();
        prop_assert_eq!(case.check(&headers, &case.query, now), Ok(()));
    }

    #[test]
    fn verify_accepts_what_presign_signs(case in cases(), expires in 1_u32..=604_800, elapsed in 0_u32..=604_800) {
        prop_assume!(!PresignedQuery::is_presigned(&case.query));
        let secret = SecretKey::new(case.secret.clone());
        let params = SigningParams::new(&case.access_key_id, &secret, &case.region, &case.service);
        let headers = case.headers();
        let query = {
            let borrowed: Vec<(&str, &str)> =
                headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
            let request = RequestParts {
                method: &case.method,
                path: &case.path,
                query: &case.query,
                headers: &borrowed,
                body: &case.body,
            };
            presign(&request, &params, case.time, expires).unwrap()
        };
        let now = case.time.checked_add(i64::from(elapsed)).unwrap();
        let result = case.check(&headers, &query, now);
        if elapsed <= expires {
            prop_assert_eq!(result, Ok(()));
        } else {
            prop_assert!(result.is_err());
        }
    }

    #[test]
    fn any_authorization_header_is_handled(case in cases(), authorization in "\\PC{0,200}") {
        let mut headers = case.headers();
        headers.push(("Authorization".to_owned(), authorization.clone()));
        let result = case.check(&headers, "", case.time);
        prop_assert!(result.is_err());
        let _ = Authorization::parse(&authorization);
    }

    #[test]
    fn almost_valid_authorization_headers_are_handled(
        case in cases(),
        credential in "[A-Za-z0-9/_-]{0,60}",
        signed in "[a-z;-]{0,30}",
        signature in "[0-9a-fA-Fg]{0,70}",
        separator in prop::sample::select(vec![", ", ",", " , ", ",,"]),
    ) {
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={credential}{separator}SignedHeaders={signed}{separator}Signature={signature}"
        );
        let mut headers = case.headers();
        headers.push(("Authorization".to_owned(), authorization));
        prop_assert!(case.check(&headers, "", case.time).is_err());
    }

    #[test]
    fn any_query_string_is_handled(case in cases(), query in "\\PC{0,200}", now in timestamps()) {
        let _ = case.check(&case.headers(), &query, now);
        let _ = PresignedQuery::parse(&query);
        let _ = canonical_query_string(&query);
    }

    #[test]
    fn almost_valid_presigned_queries_are_handled(
        case in cases(),
        pieces in prop::collection::vec(
            (
                prop::sample::select(vec![
                    "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                    "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token", "Other",
                ]),
                "[A-Za-z0-9%/_;-]{0,40}",
            ),
            0..9,
        ),
        now in timestamps(),
    ) {
        let query = pieces
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&");
        let _ = case.check(&case.headers(), &query, now);
    }

    #[test]
    fn any_header_values_are_handled(
        case in cases(),
        values in prop::collection::vec("\\PC{0,60}", 6),
        now in timestamps(),
    ) {
        let names = ["Authorization", "X-Amz-Date", "Date", "X-Amz-Content-Sha256", "X-Amz-Security-Token", "Host"];
        let headers: Vec<(String, String)> = names
            .iter()
            .zip(&values)
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect();
        let _ = case.check(&headers, "", now);
    }

    #[test]
    fn any_header_names_are_handled(
        case in cases(),
        headers in prop::collection::vec(("\\PC{0,20}", "\\PC{0,40}"), 0..8),
        now in timestamps(),
    ) {
        let secret = SecretKey::new(case.secret.clone());
        let params = SigningParams::new(&case.access_key_id, &secret, &case.region, &case.service);
        let mut all = case.headers();
        all.extend(headers);
        let borrowed: Vec<(&str, &str)> =
            all.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
        let request = RequestParts {
            method: &case.method,
            path: &case.path,
            query: &case.query,
            headers: &borrowed,
            body: &case.body,
        };
        if let Ok(authorization) = sign(&request, &params) {
            all.push(("Authorization".to_owned(), authorization));
        }
        let _ = case.check(&all, &case.query, now);
    }

    #[test]
    fn any_path_is_handled(path in "\\PC{0,100}") {
        for style in [PathStyle::Normalized, PathStyle::S3] {
            let canonical = canonical_uri(&path, style);
            prop_assert!(canonical.starts_with('/'));
            prop_assert!(canonical.is_ascii());
        }
    }

    #[test]
    fn any_date_text_is_handled(text in "\\PC{0,40}", digits in "[0-9]{8}T[0-9]{6}Z") {
        for candidate in [&text, &digits] {
            if let Some(time) = Timestamp::parse_amz_date(candidate) {
                prop_assert_eq!(&time.to_string(), candidate);
            }
            let _ = Timestamp::parse_http_date(candidate);
        }
    }

    #[test]
    fn error_messages_never_contain_the_secret(case in cases(), field in 0_usize..6, noise in "\\PC{0,30}") {
        let secret = SecretKey::new(case.secret.clone());
        let params = SigningParams::new(&case.access_key_id, &secret, &case.region, &case.service);
        let mut headers = case.headers();
        let authorization = {
            let borrowed: Vec<(&str, &str)> =
                headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
            let request = RequestParts {
                method: &case.method,
                path: &case.path,
                query: &case.query,
                headers: &borrowed,
                body: &case.body,
            };
            sign(&request, &params).unwrap()
        };
        // Put the secret itself, and noise, where a careless message would echo it.
        let poisoned = format!("{}{noise}", case.secret);
        let mut query = case.query.clone();
        match field {
            0 => headers.push(("Authorization".to_owned(), authorization.replace("Signature=", &format!("Signature={poisoned}")))),
            1 => headers.push(("Authorization".to_owned(), authorization.replace(&case.region, &poisoned))),
            2 => headers.push(("Authorization".to_owned(), authorization.replace(&case.access_key_id, &poisoned))),
            3 => {
                headers.push(("Authorization".to_owned(), authorization));
                headers.push(("X-Amz-Security-Token".to_owned(), poisoned));
            }
            4 => {
                headers.push(("Authorization".to_owned(), authorization));
                headers.push(("X-Amz-Content-Sha256".to_owned(), poisoned));
            }
            _ => {
                query = format!("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={poisoned}");
            }
        }
        if let Err(message) = case.check(&headers, &query, case.time) {
            prop_assert!(!message.contains(&case.secret), "{}", message);
        }
    }
}
