//! CreateGrant, ListGrants, ListRetirableGrants, RetireGrant and RevokeGrant
//! through the service: grants take effect at once and stop at once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/harness.rs"]
mod harness;

use std::collections::BTreeSet;

use harness::{arn, b64, unb64, Harness, ACCOUNT, OTHER, START};
use kmsgov_core::ErrorKind;
use serde_json::{json, Value};

/// A symmetric key and a ciphertext of `secret` under it with context
/// `{"dept": dept}`.
fn key_and_ciphertext(h: &Harness, dept: &str) -> (String, String) {
    let key = h.symmetric_key();
    let ct = encrypt(h, &key, dept);
    (key, ct)
}

fn encrypt(h: &Harness, key: &str, dept: &str) -> String {
    h.ok(
        "admin",
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"secret"), "EncryptionContext": {"dept": dept}}),
    )["CiphertextBlob"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn decrypt_as(
    h: &Harness,
    who: &str,
    ct: &str,
    dept: &str,
) -> Result<Value, kmsgov_core::KmsError> {
    h.call(
        who,
        "Decrypt",
        json!({"CiphertextBlob": ct, "EncryptionContext": {"dept": dept}}),
    )
}

fn create_grant(h: &Harness, input: Value) -> (String, String) {
    let out = h.ok("admin", "CreateGrant", input);
    (
        out["GrantId"].as_str().unwrap().to_owned(),
        out["GrantToken"].as_str().unwrap().to_owned(),
    )
}

fn list(h: &Harness, who: &str, input: Value) -> Vec<Value> {
    h.ok(who, "ListGrants", input)["Grants"]
        .as_array()
        .unwrap()
        .clone()
}

fn key_arn(key: &str) -> String {
    format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{key}")
}

#[test]
fn a_grant_allows_its_grantee_at_once_within_its_constraints() {
    let h = Harness::new();
    let (key, ct) = key_and_ciphertext(&h, "IT");
    let hr = encrypt(&h, &key, "HR");
    let e = decrypt_as(&h, "alice", &ct, "IT").unwrap_err();
    assert_eq!(e.kind, ErrorKind::AccessDeniedException);

    let (id, token) = create_grant(
        &h,
        json!({
            "KeyId": key,
            "GranteePrincipal": arn("alice"),
            "Operations": ["Decrypt"],
            "Constraints": {"EncryptionContextSubset": {"dept": "IT"}},
        }),
    );
    assert_eq!(id.len(), 64);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{id}"
    );
    assert_eq!(token, id, "the grant token is the grant id");

    let out = decrypt_as(&h, "alice", &ct, "IT").unwrap();
    assert_eq!(unb64(&out["Plaintext"]), b"secret");
    // The constraint holds: another context is not covered.
    h.err(
        "alice",
        "Decrypt",
        json!({"CiphertextBlob": hr, "EncryptionContext": {"dept": "HR"}}),
        ErrorKind::AccessDeniedException,
    );
    // Only the granted operation.
    h.err(
        "alice",
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"x"), "EncryptionContext": {"dept": "IT"}}),
        ErrorKind::AccessDeniedException,
    );
    // Only for the grantee.
    assert_eq!(
        decrypt_as(&h, "app", &ct, "IT").unwrap_err().kind,
        ErrorKind::AccessDeniedException
    );
}

#[test]
fn encryption_context_equals_needs_exactly_the_pairs() {
    let h = Harness::new();
    let key = h.symmetric_key();
    let exact = h.ok(
        "admin",
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"s"), "EncryptionContext": {"dept": "IT"}}),
    )["CiphertextBlob"]
        .clone();
    let more = h.ok(
        "admin",
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"s"), "EncryptionContext": {"dept": "IT", "x": "y"}}),
    )["CiphertextBlob"]
        .clone();
    create_grant(
        &h,
        json!({
            "KeyId": key,
            "GranteePrincipal": arn("alice"),
            "Operations": ["Decrypt"],
            "Constraints": {"EncryptionContextEquals": {"dept": "IT"}},
        }),
    );
    h.ok(
        "alice",
        "Decrypt",
        json!({"CiphertextBlob": exact, "EncryptionContext": {"dept": "IT"}}),
    );
    h.err(
        "alice",
        "Decrypt",
        json!({"CiphertextBlob": more, "EncryptionContext": {"dept": "IT", "x": "y"}}),
        ErrorKind::AccessDeniedException,
    );
}

#[test]
fn retiring_a_grant_takes_its_permission_away_by_token_or_by_id() {
    let h = Harness::new();
    let (key, ct) = key_and_ciphertext(&h, "IT");
    let grant = |retiring: &str| {
        create_grant(
            &h,
            json!({
                "KeyId": key,
                "GranteePrincipal": arn("alice"),
                "RetiringPrincipal": arn(retiring),
                "Operations": ["Decrypt"],
            }),
        )
    };
    let (first, token) = grant("app");
    let (second, _) = grant("app");
    decrypt_as(&h, "alice", &ct, "IT").unwrap();

    // alice is neither the retiring principal nor granted RetireGrant.
    h.err(
        "alice",
        "RetireGrant",
        json!({"GrantToken": token}),
        ErrorKind::AccessDeniedException,
    );
    h.err(
        "app",
        "RetireGrant",
        json!({"GrantToken": token, "DryRun": true}),
        ErrorKind::DryRunOperationException,
    );
    h.ok("app", "RetireGrant", json!({"GrantToken": token}));
    // The second grant still allows.
    decrypt_as(&h, "alice", &ct, "IT").unwrap();
    h.ok(
        "app",
        "RetireGrant",
        json!({"KeyId": key_arn(&key), "GrantId": second}),
    );
    assert_eq!(
        decrypt_as(&h, "alice", &ct, "IT").unwrap_err().kind,
        ErrorKind::AccessDeniedException
    );
    assert!(list(&h, "admin", json!({"KeyId": key})).is_empty());

    // Gone: the token and the id no longer name a grant.
    h.err(
        "app",
        "RetireGrant",
        json!({"GrantToken": token}),
        ErrorKind::InvalidGrantTokenException,
    );
    h.err(
        "app",
        "RetireGrant",
        json!({"KeyId": key_arn(&key), "GrantId": first}),
        ErrorKind::NotFoundException,
    );
    h.err(
        "app",
        "RetireGrant",
        json!({"KeyId": key_arn(&key), "GrantId": "not-a-grant-id"}),
        ErrorKind::InvalidGrantIdException,
    );
    h.err(
        "app",
        "RetireGrant",
        json!({"KeyId": key_arn(&key)}),
        ErrorKind::ValidationException,
    );
}

#[test]
fn the_grantee_retires_a_grant_that_includes_retire_grant() {
    let h = Harness::new();
    let (key, ct) = key_and_ciphertext(&h, "IT");
    let (id, _) = create_grant(
        &h,
        json!({"KeyId": key, "GranteePrincipal": arn("alice"), "Operations": ["Decrypt", "RetireGrant"]}),
    );
    h.ok(
        "alice",
        "RetireGrant",
        json!({"KeyId": key_arn(&key), "GrantId": id}),
    );
    assert_eq!(
        decrypt_as(&h, "alice", &ct, "IT").unwrap_err().kind,
        ErrorKind::AccessDeniedException
    );
}

#[test]
fn revoking_a_grant_takes_its_permission_away() {
    let h = Harness::new();
    let (key, ct) = key_and_ciphertext(&h, "IT");
    let (id, _) = create_grant(
        &h,
        json!({"KeyId": key, "GranteePrincipal": arn("alice"), "Operations": ["Decrypt"]}),
    );
    decrypt_as(&h, "alice", &ct, "IT").unwrap();
    // RevokeGrant is a key-policy permission the grantee does not have.
    h.err(
        "alice",
        "RevokeGrant",
        json!({"KeyId": key, "GrantId": id}),
        ErrorKind::AccessDeniedException,
    );
    h.err(
        "admin",
        "RevokeGrant",
        json!({"KeyId": key, "GrantId": id, "DryRun": true}),
        ErrorKind::DryRunOperationException,
    );
    decrypt_as(&h, "alice", &ct, "IT").unwrap();
    h.ok("admin", "RevokeGrant", json!({"KeyId": key, "GrantId": id}));
    assert_eq!(
        decrypt_as(&h, "alice", &ct, "IT").unwrap_err().kind,
        ErrorKind::AccessDeniedException
    );
    h.err(
        "admin",
        "RevokeGrant",
        json!({"KeyId": key, "GrantId": id}),
        ErrorKind::NotFoundException,
    );
    h.err(
        "admin",
        "RevokeGrant",
        json!({"KeyId": key, "GrantId": "grant-1"}),
        ErrorKind::InvalidGrantIdException,
    );
    h.err(
        "admin",
        "RevokeGrant",
        json!({"KeyId": key}),
        ErrorKind::ValidationException,
    );
    h.err(
        "admin",
        "RevokeGrant",
        json!({"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "GrantId": id}),
        ErrorKind::NotFoundException,
    );
    // A grant of another key is not found through this one.
    let other = h.symmetric_key();
    let (on_other, _) = create_grant(
        &h,
        json!({"KeyId": other, "GranteePrincipal": arn("alice"), "Operations": ["Decrypt"]}),
    );
    h.err(
        "admin",
        "RevokeGrant",
        json!({"KeyId": key, "GrantId": on_other}),
        ErrorKind::NotFoundException,
    );
}

#[test]
fn grant_tokens_are_accepted_and_checked() {
    let h = Harness::new();
    let (key, ct) = key_and_ciphertext(&h, "IT");
    let (_, token) = create_grant(
        &h,
        json!({"KeyId": key, "GranteePrincipal": arn("alice"), "RetiringPrincipal": arn("alice"), "Operations": ["Decrypt", "Encrypt"]}),
    );
    let out = h.ok(
        "alice",
        "Decrypt",
        json!({"CiphertextBlob": ct, "EncryptionContext": {"dept": "IT"}, "GrantTokens": [token]}),
    );
    assert_eq!(unb64(&out["Plaintext"]), b"secret");
    h.ok(
        "alice",
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"x"), "GrantTokens": [token]}),
    );
    h.err(
        "alice",
        "Decrypt",
        json!({"CiphertextBlob": ct, "EncryptionContext": {"dept": "IT"}, "GrantTokens": ["bm90IGEgdG9rZW4="]}),
        ErrorKind::InvalidGrantTokenException,
    );
    h.ok("alice", "RetireGrant", json!({"GrantToken": token}));
    h.err(
        "alice",
        "Decrypt",
        json!({"CiphertextBlob": ct, "EncryptionContext": {"dept": "IT"}, "GrantTokens": [token]}),
        ErrorKind::InvalidGrantTokenException,
    );
}

#[test]
fn a_grant_with_create_grant_lets_its_grantee_create_narrower_grants() {
    let h = Harness::new();
    let (key, ct) = key_and_ciphertext(&h, "IT");
    create_grant(
        &h,
        json!({
            "KeyId": key,
            "GranteePrincipal": arn("alice"),
            "Operations": ["Decrypt", "CreateGrant"],
            "Constraints": {"EncryptionContextSubset": {"dept": "IT"}},
        }),
    );
    // alice may not grant more than she has...
    h.err(
        "alice",
        "CreateGrant",
        json!({"KeyId": key, "GranteePrincipal": arn("app"), "Operations": ["Encrypt"], "Constraints": {"EncryptionContextSubset": {"dept": "IT"}}}),
        ErrorKind::AccessDeniedException,
    );
    h.err(
        "alice",
        "CreateGrant",
        json!({"KeyId": key, "GranteePrincipal": arn("app"), "Operations": ["Decrypt"]}),
        ErrorKind::AccessDeniedException,
    );
    // ...but may pass on what she has.
    let out = h.ok(
        "alice",
        "CreateGrant",
        json!({"KeyId": key, "GranteePrincipal": arn("app"), "Operations": ["Decrypt"], "Constraints": {"EncryptionContextSubset": {"dept": "IT"}}}),
    );
    decrypt_as(&h, "app", &ct, "IT").unwrap();
    let child = list(
        &h,
        "admin",
        json!({"KeyId": key, "GrantId": out["GrantId"]}),
    );
    assert_eq!(
        child[0]["IssuingAccount"],
        format!("arn:aws:iam::{ACCOUNT}:root")
    );
}

#[test]
fn create_grant_with_the_same_name_and_parameters_returns_the_same_grant() {
    let h = Harness::new();
    let key = h.symmetric_key();
    let input = json!({
        "KeyId": key,
        "GranteePrincipal": arn("alice"),
        "Operations": ["Decrypt", "Encrypt"],
        "Name": "daily-job",
    });
    let (first, _) = create_grant(&h, input.clone());
    let (again, _) = create_grant(&h, input.clone());
    assert_eq!(again, first);
    // The order of operations does not make a request different.
    let mut reordered = input.clone();
    reordered["Operations"] = json!(["Encrypt", "Decrypt"]);
    assert_eq!(create_grant(&h, reordered).0, first);
    // Other parameters make another grant.
    let mut other = input.clone();
    other["Operations"] = json!(["Decrypt"]);
    let (different, _) = create_grant(&h, other);
    assert_ne!(different, first);
    // Without a name, every call makes a grant.
    let mut unnamed = input.clone();
    unnamed.as_object_mut().unwrap().remove("Name");
    let (a, _) = create_grant(&h, unnamed.clone());
    let (b, _) = create_grant(&h, unnamed);
    assert_ne!(a, b);
    assert_eq!(list(&h, "admin", json!({"KeyId": key})).len(), 4);
}

#[test]
fn list_grants_shows_every_member_and_filters() {
    let h = Harness::new();
    let key = h.symmetric_key();
    let (named, _) = create_grant(
        &h,
        json!({
            "KeyId": key,
            "GranteePrincipal": arn("alice"),
            "RetiringPrincipal": arn("app"),
            "Operations": ["Decrypt", "DescribeKey"],
            "Constraints": {"EncryptionContextEquals": {"dept": "IT"}},
            "Name": "named-grant",
        }),
    );
    h.clock.advance(10);
    let (plain, _) = create_grant(
        &h,
        json!({"KeyId": key, "GranteePrincipal": arn("app"), "Operations": ["Encrypt"]}),
    );

    let grants = list(&h, "admin", json!({"KeyId": key}));
    assert_eq!(grants.len(), 2);
    let by_id = |id: &str| grants.iter().find(|g| g["GrantId"] == id).unwrap().clone();
    let g = by_id(&named);
    assert_eq!(g["KeyId"], key_arn(&key));
    assert_eq!(g["Name"], "named-grant");
    assert_eq!(g["CreationDate"], START);
    assert_eq!(g["GranteePrincipal"], arn("alice"));
    assert_eq!(g["RetiringPrincipal"], arn("app"));
    assert_eq!(g["IssuingAccount"], format!("arn:aws:iam::{ACCOUNT}:root"));
    assert_eq!(g["Operations"], json!(["Decrypt", "DescribeKey"]));
    assert_eq!(
        g["Constraints"],
        json!({"EncryptionContextEquals": {"dept": "IT"}})
    );
    let g = by_id(&plain);
    assert_eq!(g["CreationDate"], START + 10);
    assert!(g.get("Name").is_none());
    assert!(g.get("RetiringPrincipal").is_none());
    assert!(g.get("Constraints").is_none());

    let only = list(
        &h,
        "admin",
        json!({"KeyId": key_arn(&key), "GrantId": plain}),
    );
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["GrantId"], plain);
    let for_alice = list(
        &h,
        "admin",
        json!({"KeyId": key, "GranteePrincipal": arn("alice")}),
    );
    assert_eq!(for_alice.len(), 1);
    assert_eq!(for_alice[0]["GrantId"], named);
    let none = list(
        &h,
        "admin",
        json!({"KeyId": key, "GrantId": "0".repeat(64)}),
    );
    assert!(none.is_empty());

    // Errors.
    h.err(
        "admin",
        "ListGrants",
        json!({"KeyId": key, "GrantId": "short"}),
        ErrorKind::InvalidGrantIdException,
    );
    h.err(
        "admin",
        "ListGrants",
        json!({"KeyId": key, "Marker": "!!not a marker!!"}),
        ErrorKind::InvalidMarkerException,
    );
    h.err(
        "admin",
        "ListGrants",
        json!({"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
        ErrorKind::NotFoundException,
    );
    h.err(
        "admin",
        "ListGrants",
        json!({"KeyId": "arn:aws:kms:us-east-1"}),
        ErrorKind::InvalidArnException,
    );
    h.err(
        "admin",
        "ListGrants",
        json!({}),
        ErrorKind::ValidationException,
    );
    h.err(
        "alice",
        "ListGrants",
        json!({"KeyId": key}),
        ErrorKind::AccessDeniedException,
    );
}

#[test]
fn list_grants_pages_with_limit_and_marker() {
    let h = Harness::new();
    let key = h.symmetric_key();
    let mut created = BTreeSet::new();
    for _ in 0..5 {
        created.insert(
            create_grant(
                &h,
                json!({"KeyId": key, "GranteePrincipal": arn("alice"), "Operations": ["Decrypt"]}),
            )
            .0,
        );
    }
    // A grant for another grantee between them, filtered out of every page.
    create_grant(
        &h,
        json!({"KeyId": key, "GranteePrincipal": arn("app"), "Operations": ["Decrypt"]}),
    );
    let mut seen = Vec::new();
    let mut marker: Option<Value> = None;
    let mut pages = 0;
    loop {
        let mut input = json!({"KeyId": key, "Limit": 2, "GranteePrincipal": arn("alice")});
        if let Some(m) = &marker {
            input["Marker"] = m.clone();
        }
        let out = h.ok("admin", "ListGrants", input);
        let grants = out["Grants"].as_array().unwrap();
        assert!(grants.len() <= 2);
        seen.extend(
            grants
                .iter()
                .map(|g| g["GrantId"].as_str().unwrap().to_owned()),
        );
        pages += 1;
        if out["Truncated"] == true {
            marker = Some(out["NextMarker"].clone());
        } else {
            assert!(out.get("NextMarker").is_none());
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 5, "no grant is listed twice: {seen:?}");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), created);
}

#[test]
fn list_retirable_grants_finds_grants_across_keys() {
    let h = Harness::new();
    let k1 = h.symmetric_key();
    let k2 = h.symmetric_key();
    let mut expected = BTreeSet::new();
    for key in [&k1, &k2] {
        let (id, _) = create_grant(
            &h,
            json!({"KeyId": key, "GranteePrincipal": arn("alice"), "RetiringPrincipal": arn("app"), "Operations": ["Decrypt"]}),
        );
        expected.insert((id, key_arn(key)));
    }
    // Retired by someone else: not listed.
    create_grant(
        &h,
        json!({"KeyId": k1, "GranteePrincipal": arn("alice"), "RetiringPrincipal": arn("alice"), "Operations": ["Decrypt"]}),
    );
    let out = h.ok(
        "admin",
        "ListRetirableGrants",
        json!({"RetiringPrincipal": arn("app")}),
    );
    assert_eq!(out["Truncated"], false);
    let got: BTreeSet<(String, String)> = out["Grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            assert_eq!(g["RetiringPrincipal"], arn("app"));
            (
                g["GrantId"].as_str().unwrap().to_owned(),
                g["KeyId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, expected);

    // Paging.
    let first = h.ok(
        "admin",
        "ListRetirableGrants",
        json!({"RetiringPrincipal": arn("app"), "Limit": 1}),
    );
    assert_eq!(first["Grants"].as_array().unwrap().len(), 1);
    assert_eq!(first["Truncated"], true);
    let second = h.ok(
        "admin",
        "ListRetirableGrants",
        json!({"RetiringPrincipal": arn("app"), "Limit": 1, "Marker": first["NextMarker"]}),
    );
    assert_eq!(second["Truncated"], false);
    assert_ne!(
        second["Grants"][0]["GrantId"],
        first["Grants"][0]["GrantId"]
    );

    // Another account sees no grants on keys it does not own.
    let out = h.ok(
        "mallory",
        "ListRetirableGrants",
        json!({"RetiringPrincipal": arn("app")}),
    );
    assert_eq!(out["Grants"], json!([]));

    h.err(
        "admin",
        "ListRetirableGrants",
        json!({"RetiringPrincipal": "app"}),
        ErrorKind::InvalidArnException,
    );
    h.err(
        "admin",
        "ListRetirableGrants",
        json!({}),
        ErrorKind::ValidationException,
    );
    h.err(
        "admin",
        "ListRetirableGrants",
        json!({"RetiringPrincipal": arn("app"), "Marker": "%%%"}),
        ErrorKind::InvalidMarkerException,
    );
    // IAM only: alice has no IAM policy.
    h.err(
        "alice",
        "ListRetirableGrants",
        json!({"RetiringPrincipal": arn("app")}),
        ErrorKind::AccessDeniedException,
    );
}

#[test]
fn create_grant_rejects_what_aws_rejects() {
    let h = Harness::new();
    let key = h.symmetric_key();
    let base = json!({"KeyId": key, "GranteePrincipal": arn("alice"), "Operations": ["Decrypt"]});
    let with = |patch: Value| {
        let mut v = base.clone();
        for (k, x) in patch.as_object().unwrap() {
            if x.is_null() {
                v.as_object_mut().unwrap().remove(k);
            } else {
                v[k] = x.clone();
            }
        }
        v
    };
    let cases = [
        (
            json!({"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
            ErrorKind::NotFoundException,
        ),
        (json!({"KeyId": "alias/nope"}), ErrorKind::NotFoundException),
        (json!({"Operations": null}), ErrorKind::ValidationException),
        (json!({"Operations": []}), ErrorKind::ValidationException),
        (
            json!({"Operations": ["PutKeyPolicy"]}),
            ErrorKind::ValidationException,
        ),
        // An operation the key type does not support.
        (
            json!({"Operations": ["Sign"]}),
            ErrorKind::ValidationException,
        ),
        (
            json!({"GranteePrincipal": null}),
            ErrorKind::ValidationException,
        ),
        (
            json!({"GranteePrincipal": "not a principal!"}),
            ErrorKind::ValidationException,
        ),
        (
            json!({"GranteeServicePrincipal": "rds.amazonaws.com"}),
            ErrorKind::ValidationException,
        ),
        (
            json!({"RetiringPrincipal": arn("app"), "RetiringServicePrincipal": "rds.amazonaws.com"}),
            ErrorKind::ValidationException,
        ),
        (json!({"Name": "bad name"}), ErrorKind::ValidationException),
        (
            json!({"Constraints": {"EncryptionContextSubset": {"a":"1","b":"2","c":"3","d":"4","e":"5","f":"6","g":"7","h":"8","i":"9"}}}),
            ErrorKind::ValidationException,
        ),
        (
            json!({"Constraints": {"EncryptionContextEquals": {"a": "x".repeat(385)}}}),
            ErrorKind::ValidationException,
        ),
        (
            json!({"Constraints": {"SourceArn": "not-an-arn"}}),
            ErrorKind::ValidationException,
        ),
        (
            json!({"GrantTokens": ["bm8gc3VjaCB0b2tlbg=="]}),
            ErrorKind::InvalidGrantTokenException,
        ),
        (json!({"DryRun": true}), ErrorKind::DryRunOperationException),
    ];
    for (patch, kind) in cases {
        let input = with(patch.clone());
        let e = h.call("admin", "CreateGrant", input).unwrap_err();
        assert_eq!(e.kind, kind, "{patch}: {e}");
    }
    // GranteeServicePrincipal also needs a retiring principal.
    h.err(
        "admin",
        "CreateGrant",
        json!({"KeyId": key, "GranteeServicePrincipal": "rds.amazonaws.com", "Operations": ["Decrypt"],
               "Constraints": {"SourceArn": format!("arn:aws:rds:us-east-1:{ACCOUNT}:db:orders")}}),
        ErrorKind::ValidationException,
    );
    // Nothing was created by the failed and dry-run calls.
    assert!(list(&h, "admin", json!({"KeyId": key})).is_empty());
    // alice has no permission to create grants.
    h.err(
        "alice",
        "CreateGrant",
        base.clone(),
        ErrorKind::AccessDeniedException,
    );
    // Encryption context constraints are for symmetric keys only.
    let rsa = h.create_key(json!({"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}));
    h.err(
        "admin",
        "CreateGrant",
        json!({"KeyId": rsa, "GranteePrincipal": arn("alice"), "Operations": ["Decrypt"],
               "Constraints": {"EncryptionContextSubset": {"a": "b"}}}),
        ErrorKind::ValidationException,
    );
    h.ok(
        "admin",
        "CreateGrant",
        json!({"KeyId": rsa, "GranteePrincipal": arn("alice"), "Operations": ["Decrypt", "GetPublicKey"]}),
    );
    h.err(
        "admin",
        "CreateGrant",
        json!({"KeyId": rsa, "GranteePrincipal": arn("alice"), "Operations": ["GenerateDataKey"]}),
        ErrorKind::ValidationException,
    );
}

#[test]
fn create_grant_respects_the_key_state() {
    let h = Harness::new();
    let key = h.symmetric_key();
    let input = json!({"KeyId": key, "GranteePrincipal": arn("alice"), "Operations": ["Decrypt"]});
    let h = h.with_key_state(&key, "Disabled");
    h.err(
        "admin",
        "CreateGrant",
        input.clone(),
        ErrorKind::DisabledException,
    );
    let h = h.with_key_state(&key, "PendingDeletion");
    h.err(
        "admin",
        "CreateGrant",
        input.clone(),
        ErrorKind::KMSInvalidStateException,
    );
    let external = h.create_key(json!({"Origin": "EXTERNAL"}));
    h.err(
        "admin",
        "CreateGrant",
        json!({"KeyId": external, "GranteePrincipal": arn("alice"), "Operations": ["Decrypt"]}),
        ErrorKind::KMSInvalidStateException,
    );
    // Grants can still be listed and revoked on a key in any state.
    assert!(list(&h, "admin", json!({"KeyId": key})).is_empty());
}

#[test]
fn a_source_arn_constraint_limits_the_grant_to_that_resource() {
    let h = Harness::new();
    let (key, ct) = key_and_ciphertext(&h, "IT");
    let source = format!("arn:aws:rds:us-east-1:{ACCOUNT}:db:orders");
    create_grant(
        &h,
        json!({"KeyId": key, "GranteePrincipal": arn("alice"), "Operations": ["Decrypt"],
               "Constraints": {"SourceArn": source}}),
    );
    let input = json!({"CiphertextBlob": ct, "EncryptionContext": {"dept": "IT"}});
    let e = h.call("alice", "Decrypt", input.clone()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::AccessDeniedException);
    let e = h
        .call_env(
            "alice",
            "Decrypt",
            input.clone(),
            &[(
                "aws:SourceArn",
                "arn:aws:rds:us-east-1:111122223333:db:other",
            )],
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AccessDeniedException);
    h.call_env(
        "alice",
        "Decrypt",
        input.clone(),
        &[("aws:SourceArn", &source)],
    )
    .unwrap();
    // The constraint is stored: it holds after a restart and is listed.
    let h = h.reopen();
    let e = h.call("alice", "Decrypt", input.clone()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::AccessDeniedException);
    h.call_env("alice", "Decrypt", input, &[("aws:SourceArn", &source)])
        .unwrap();
    let grants = list(&h, "admin", json!({"KeyId": key}));
    assert_eq!(grants[0]["Constraints"], json!({"SourceArn": source}));
}

#[test]
fn grants_for_service_principals_are_listed_as_such() {
    let h = Harness::new();
    let key = h.symmetric_key();
    let source = format!("arn:aws:rds:us-east-1:{ACCOUNT}:db:orders");
    let (id, _) = create_grant(
        &h,
        json!({"KeyId": key, "GranteeServicePrincipal": "rds.amazonaws.com",
               "RetiringServicePrincipal": "rds.amazonaws.com", "Operations": ["Decrypt"],
               "Constraints": {"SourceArn": source}}),
    );
    let g = &list(&h, "admin", json!({"KeyId": key}))[0];
    assert_eq!(g["GrantId"], id);
    assert_eq!(g["GranteeServicePrincipal"], "rds.amazonaws.com");
    assert_eq!(g["RetiringServicePrincipal"], "rds.amazonaws.com");
    assert!(g.get("GranteePrincipal").is_none());
    assert!(g.get("RetiringPrincipal").is_none());
    // No IAM caller is the service.
    let ct = encrypt(&h, &key, "IT");
    let e = h
        .call_env(
            "alice",
            "Decrypt",
            json!({"CiphertextBlob": ct, "EncryptionContext": {"dept": "IT"}}),
            &[("aws:SourceArn", &source)],
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AccessDeniedException);
}

#[test]
fn grants_survive_reopening_the_service() {
    let h = Harness::new();
    let (key, ct) = key_and_ciphertext(&h, "IT");
    let (id, token) = create_grant(
        &h,
        json!({"KeyId": key, "GranteePrincipal": arn("alice"), "RetiringPrincipal": arn("alice"), "Operations": ["Decrypt"], "Name": "kept"}),
    );
    let h = h.reopen();
    decrypt_as(&h, "alice", &ct, "IT").unwrap();
    let grants = list(&h, "admin", json!({"KeyId": key}));
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0]["GrantId"], id);
    assert_eq!(grants[0]["Name"], "kept");
    h.ok("alice", "RetireGrant", json!({"GrantToken": token}));
    let h = h.reopen();
    assert_eq!(
        decrypt_as(&h, "alice", &ct, "IT").unwrap_err().kind,
        ErrorKind::AccessDeniedException
    );
}

#[test]
fn a_grant_made_by_another_account_is_issued_by_it() {
    let h = Harness::new();
    // The key policy lets account 444455556666 create grants.
    let key = h.create_key(json!({"Policy": json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{OTHER}:root")}, "Action": "kms:CreateGrant", "Resource": "*"}
        ]}).to_string()}));
    let ct = encrypt(&h, &key, "IT");
    // Cross-account calls must name the key by ARN.
    h.err(
        "mallory",
        "CreateGrant",
        json!({"KeyId": key, "GranteePrincipal": arn("mallory"), "Operations": ["Decrypt"]}),
        ErrorKind::NotFoundException,
    );
    let (id, _) = {
        let out = h.ok(
            "mallory",
            "CreateGrant",
            json!({"KeyId": key_arn(&key), "GranteePrincipal": arn("mallory"), "Operations": ["Decrypt"]}),
        );
        (out["GrantId"].as_str().unwrap().to_owned(), ())
    };
    let g = list(&h, "admin", json!({"KeyId": key, "GrantId": id}));
    assert_eq!(g[0]["IssuingAccount"], format!("arn:aws:iam::{OTHER}:root"));
    decrypt_as(&h, "mallory", &ct, "IT").unwrap();
}

#[test]
fn grant_listings_take_a_limit_of_at_most_100_and_return_50_by_default() {
    let h = Harness::new();
    let key = h.symmetric_key();
    for i in 0..51 {
        h.ok(
            "admin",
            "CreateGrant",
            json!({"KeyId": key, "GranteePrincipal": arn("app"), "RetiringPrincipal": arn("alice"),
                   "Operations": ["Decrypt"], "Name": format!("g{i}")}),
        );
    }
    let retiring = json!({"RetiringPrincipal": arn("alice")});
    for (op, input) in [
        ("ListGrants", json!({"KeyId": key})),
        ("ListRetirableGrants", retiring),
    ] {
        let page = h.ok("admin", op, input.clone());
        assert_eq!(page["Grants"].as_array().unwrap().len(), 50, "{op}");
        assert_eq!(page["Truncated"], true, "{op}");
        let mut all = input.clone();
        all["Limit"] = json!(100);
        let page = h.ok("admin", op, all);
        assert_eq!(page["Grants"].as_array().unwrap().len(), 51, "{op}");
        assert_eq!(page["Truncated"], false, "{op}");
        for limit in [0, 101, 1000] {
            let mut bad = input.clone();
            bad["Limit"] = json!(limit);
            h.err("admin", op, bad, ErrorKind::ValidationException);
        }
    }
}
