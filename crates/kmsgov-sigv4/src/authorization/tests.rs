use super::*;

const SIGNATURE: &str = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";

fn header(credential: &str, signed: &str, signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}, Signature={signature}"
    )
}

#[test]
fn parses_the_aws_example() {
    let parsed = Authorization::parse(&header(
        "AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request",
        "content-type;host;x-amz-date",
        SIGNATURE,
    ))
    .unwrap();
    assert_eq!(parsed.credential().access_key_id(), "AKIDEXAMPLE");
    let scope = parsed.credential().scope();
    assert_eq!(scope.date_stamp(), "20150830");
    assert_eq!(scope.region(), "us-east-1");
    assert_eq!(scope.service(), "iam");
    assert_eq!(scope.to_string(), "20150830/us-east-1/iam/aws4_request");
    assert_eq!(
        parsed.signed_headers().as_str(),
        "content-type;host;x-amz-date"
    );
    assert_eq!(hex_encode_signature(parsed.signature()), SIGNATURE);
}

fn hex_encode_signature(bytes: &[u8; 32]) -> String {
    crate::encoding::hex_encode(bytes)
}

#[test]
fn tolerates_order_and_spacing() {
    let credential = "Credential=AKID/20150830/us-east-1/kms/aws4_request";
    let signed = "SignedHeaders=host;x-amz-date";
    let signature = format!("Signature={SIGNATURE}");
    for text in [
        format!("AWS4-HMAC-SHA256 {credential},{signed},{signature}"),
        format!("AWS4-HMAC-SHA256   {signature} , {credential},   {signed}"),
        format!("  AWS4-HMAC-SHA256\t{signed}, {signature}, {credential}, "),
    ] {
        let parsed = Authorization::parse(&text).unwrap();
        assert_eq!(parsed.credential().access_key_id(), "AKID", "{text}");
    }
}

#[test]
fn each_malformed_piece_has_its_error() {
    let good_credential = "AKID/20150830/us-east-1/kms/aws4_request";
    let cases = [
        (
            "AWS4-HMAC-SHA1 Credential=a".to_owned(),
            SigV4Error::UnsupportedAlgorithm,
        ),
        ("".to_owned(), SigV4Error::UnsupportedAlgorithm),
        (
            "AWS4-HMAC-SHA256".to_owned(),
            SigV4Error::Missing(Component::Credential),
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential={good_credential}, Signature={SIGNATURE}"),
            SigV4Error::Missing(Component::SignedHeaders),
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential={good_credential}, SignedHeaders=host"),
            SigV4Error::Missing(Component::Signature),
        ),
        (
            format!("AWS4-HMAC-SHA256 SignedHeaders=host, Signature={SIGNATURE}"),
            SigV4Error::Missing(Component::Credential),
        ),
        (
            format!(
                "{}, SignedHeaders=host",
                header(good_credential, "host", SIGNATURE)
            ),
            SigV4Error::Duplicate(Component::SignedHeaders),
        ),
        (
            format!("{}, Foo=bar", header(good_credential, "host", SIGNATURE)),
            SigV4Error::UnknownComponent,
        ),
        (
            format!("{}, junk", header(good_credential, "host", SIGNATURE)),
            SigV4Error::UnknownComponent,
        ),
        (
            header("AKID/20150830/us-east-1/kms", "host", SIGNATURE),
            SigV4Error::Malformed(Component::Credential),
        ),
        (
            header(
                "AKID/20150830/us-east-1/kms/aws4_request/x",
                "host",
                SIGNATURE,
            ),
            SigV4Error::Malformed(Component::Credential),
        ),
        (
            header("/20150830/us-east-1/kms/aws4_request", "host", SIGNATURE),
            SigV4Error::Malformed(Component::Credential),
        ),
        (
            header("AKID/2015083/us-east-1/kms/aws4_request", "host", SIGNATURE),
            SigV4Error::Malformed(Component::Credential),
        ),
        (
            header("AKID/20150830//kms/aws4_request", "host", SIGNATURE),
            SigV4Error::Malformed(Component::Credential),
        ),
        (
            header(
                "AKID/20150830/us-east-1/kms/aws5_request",
                "host",
                SIGNATURE,
            ),
            SigV4Error::WrongTerminator,
        ),
        (
            header(good_credential, "x-amz-date;host", SIGNATURE),
            SigV4Error::Malformed(Component::SignedHeaders),
        ),
        (
            header(good_credential, "Host", SIGNATURE),
            SigV4Error::Malformed(Component::SignedHeaders),
        ),
        (
            header(good_credential, "host;;x-amz-date", SIGNATURE),
            SigV4Error::Malformed(Component::SignedHeaders),
        ),
        (
            header(good_credential, "host;host", SIGNATURE),
            SigV4Error::Malformed(Component::SignedHeaders),
        ),
        (
            header(good_credential, "host", "abc"),
            SigV4Error::Malformed(Component::Signature),
        ),
        (
            header(good_credential, "host", &SIGNATURE.replace('5', "g")),
            SigV4Error::Malformed(Component::Signature),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(Authorization::parse(&text), Err(expected), "{text}");
    }
}

#[test]
fn parses_presigned_queries() {
    let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256\
        &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
        &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
        &X-Amz-Security-Token=a%2Bb%3D\
        &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
    assert!(PresignedQuery::is_presigned(query));
    let parsed = PresignedQuery::parse(query).unwrap();
    assert_eq!(parsed.credential().access_key_id(), "AKIAIOSFODNN7EXAMPLE");
    assert_eq!(parsed.credential().scope().service(), "s3");
    assert_eq!(parsed.date().to_string(), "20130524T000000Z");
    assert_eq!(parsed.expires(), 86_400);
    assert_eq!(parsed.signed_headers().as_str(), "host");
    assert_eq!(parsed.security_token(), Some("a+b="));
    assert!(!PresignedQuery::is_presigned(
        "Action=ListUsers&Version=2010-05-08"
    ));
}

#[test]
fn presigned_query_errors() {
    let base = [
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        "X-Amz-Credential=AKID%2F20130524%2Fus-east-1%2Fkms%2Faws4_request",
        "X-Amz-Date=20130524T000000Z",
        "X-Amz-Expires=60",
        "X-Amz-SignedHeaders=host",
        "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
    ];
    let with = |index: usize, replacement: &str| {
        let mut parts = base.to_vec();
        if let Some(slot) = parts.get_mut(index) {
            *slot = replacement;
        }
        parts.retain(|part| !part.is_empty());
        parts.join("&")
    };
    assert!(PresignedQuery::parse(&base.join("&")).is_ok());
    let cases = [
        (with(0, ""), SigV4Error::Missing(Component::Algorithm)),
        (
            with(0, "X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256"),
            SigV4Error::UnsupportedAlgorithm,
        ),
        (with(1, ""), SigV4Error::Missing(Component::Credential)),
        (with(2, ""), SigV4Error::Missing(Component::Date)),
        (
            with(2, "X-Amz-Date=2013-05-24"),
            SigV4Error::Malformed(Component::Date),
        ),
        (with(3, ""), SigV4Error::Missing(Component::Expires)),
        (
            with(3, "X-Amz-Expires=-1"),
            SigV4Error::Malformed(Component::Expires),
        ),
        (with(3, "X-Amz-Expires=604801"), SigV4Error::ExpiresTooLarge),
        (
            with(3, "X-Amz-Expires=99999999999"),
            SigV4Error::Malformed(Component::Expires),
        ),
        (with(4, ""), SigV4Error::Missing(Component::SignedHeaders)),
        (with(5, ""), SigV4Error::Missing(Component::Signature)),
        (
            with(5, "X-Amz-Signature=zz"),
            SigV4Error::Malformed(Component::Signature),
        ),
        (
            format!("{}&X-Amz-Date=20130524T000000Z", base.join("&")),
            SigV4Error::Duplicate(Component::Date),
        ),
        (
            format!("{}&X-Amz-Security-Token=%FF", base.join("&")),
            SigV4Error::Malformed(Component::SecurityToken),
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(PresignedQuery::parse(&query), Err(expected), "{query}");
    }
    assert_eq!(
        PresignedQuery::parse(&with(3, "X-Amz-Expires=604800")).map(|query| query.expires()),
        Ok(604_800)
    );
}
