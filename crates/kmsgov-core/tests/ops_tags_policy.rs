//! TagResource, UntagResource, ListResourceTags, GetKeyPolicy, PutKeyPolicy
//! and ListKeyPolicies through the service: tag and policy changes decide
//! the very next request.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/harness.rs"]
mod harness;

use harness::{b64, Harness, ACCOUNT};
use kmsgov_core::ErrorKind;
use serde_json::{json, Value};

fn key_arn(id: &str) -> String {
    format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{id}")
}

fn tags(h: &Harness, id: &str) -> Value {
    h.ok("admin", "ListResourceTags", json!({"KeyId": id}))["Tags"].clone()
}

fn tag(h: &Harness, id: &str, pairs: &[(&str, &str)]) -> Value {
    let list: Vec<Value> = pairs
        .iter()
        .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
        .collect();
    h.ok("admin", "TagResource", json!({"KeyId": id, "Tags": list}))
}

fn root_statement() -> Value {
    json!({"Sid": "root", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"})
}

fn alice_may_encrypt(h: &Harness, id: &str) -> bool {
    match h.call(
        "alice",
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(b"x")}),
    ) {
        Ok(_) => true,
        Err(e) => {
            assert_eq!(e.kind, ErrorKind::AccessDeniedException, "{e}");
            false
        }
    }
}

#[test]
fn tags_are_added_replaced_removed_and_listed_in_order() {
    let h = Harness::new();
    let id = h.create_key(json!({"Tags": [{"TagKey": "team", "TagValue": "blue"}]}));
    assert_eq!(
        tags(&h, &id),
        json!([{"TagKey": "team", "TagValue": "blue"}])
    );
    assert_eq!(
        tag(
            &h,
            &id,
            &[("project", "alpha"), ("team", "red"), ("Cost", "")]
        ),
        json!({})
    );
    assert_eq!(
        tags(&h, &id),
        json!([
            {"TagKey": "Cost", "TagValue": ""},
            {"TagKey": "project", "TagValue": "alpha"},
            {"TagKey": "team", "TagValue": "red"},
        ])
    );
    let out = h.ok(
        "admin",
        "UntagResource",
        json!({"KeyId": key_arn(&id), "TagKeys": ["team", "not-there"]}),
    );
    assert_eq!(out, json!({}));
    assert_eq!(
        tags(&h, &id),
        json!([
            {"TagKey": "Cost", "TagValue": ""},
            {"TagKey": "project", "TagValue": "alpha"},
        ])
    );
    // Tags are kept across a restart.
    assert_eq!(tags(&h.reopen(), &id), tags(&h, &id));
    // A disabled key can be tagged.
    h.ok("admin", "DisableKey", json!({"KeyId": id}));
    tag(&h, &id, &[("state", "off")]);
    assert_eq!(tags(&h, &id).as_array().unwrap().len(), 3);
}

#[test]
fn tag_resource_errors() {
    let h = Harness::new();
    let id = h.symmetric_key();
    for key in ["aws:owner", "AWS:owner", "Aws:x"] {
        let e = h.err(
            "admin",
            "TagResource",
            json!({"KeyId": id, "Tags": [{"TagKey": "ok", "TagValue": "1"}, {"TagKey": key, "TagValue": "x"}]}),
            ErrorKind::TagException,
        );
        assert!(e.message.contains(key), "{}", e.message);
        h.err(
            "admin",
            "UntagResource",
            json!({"KeyId": id, "TagKeys": [key]}),
            ErrorKind::TagException,
        );
    }
    // Nothing from a refused request is kept.
    assert_eq!(tags(&h, &id), json!([]));
    // "aws" without the colon is an ordinary key.
    tag(&h, &id, &[("awsome", "yes")]);
    for bad in [
        json!({"KeyId": id, "Tags": [{"TagKey": "", "TagValue": "x"}]}),
        json!({"KeyId": id, "Tags": [{"TagKey": "k"}]}),
        json!({"KeyId": id, "Tags": [{"TagKey": "k".repeat(129), "TagValue": "x"}]}),
        json!({"KeyId": id, "Tags": [{"TagKey": "k", "TagValue": "v".repeat(257)}]}),
        json!({"KeyId": id, "Tags": "k=v"}),
    ] {
        h.err("admin", "TagResource", bad, ErrorKind::TagException);
    }
    h.err(
        "admin",
        "TagResource",
        json!({"KeyId": id}),
        ErrorKind::ValidationException,
    );
    h.err(
        "admin",
        "UntagResource",
        json!({"KeyId": id, "TagKeys": []}),
        ErrorKind::ValidationException,
    );
    for op in ["TagResource", "UntagResource", "ListResourceTags"] {
        let input =
            json!({"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "Tags": [], "TagKeys": ["a"]});
        h.err("admin", op, input, ErrorKind::NotFoundException);
    }
    h.err(
        "alice",
        "TagResource",
        json!({"KeyId": id, "Tags": [{"TagKey": "a", "TagValue": "b"}]}),
        ErrorKind::AccessDeniedException,
    );
    // Keys pending deletion cannot be tagged or untagged, but can be listed.
    h.ok("admin", "ScheduleKeyDeletion", json!({"KeyId": id}));
    h.err(
        "admin",
        "TagResource",
        json!({"KeyId": id, "Tags": [{"TagKey": "a", "TagValue": "b"}]}),
        ErrorKind::KMSInvalidStateException,
    );
    h.err(
        "admin",
        "UntagResource",
        json!({"KeyId": id, "TagKeys": ["awsome"]}),
        ErrorKind::KMSInvalidStateException,
    );
    assert_eq!(
        tags(&h, &id),
        json!([{"TagKey": "awsome", "TagValue": "yes"}])
    );
}

#[test]
fn a_key_has_at_most_fifty_tags() {
    let h = Harness::new();
    let id = h.symmetric_key();
    let fifty: Vec<(String, String)> = (0..50)
        .map(|i| (format!("t{i:02}"), i.to_string()))
        .collect();
    let pairs: Vec<(&str, &str)> = fifty
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    tag(&h, &id, &pairs);
    // Replacing a value is not a new tag.
    tag(&h, &id, &[("t00", "changed")]);
    let e = h.err(
        "admin",
        "TagResource",
        json!({"KeyId": id, "Tags": [{"TagKey": "t50", "TagValue": "x"}]}),
        ErrorKind::LimitExceededException,
    );
    assert!(e.message.contains(&key_arn(&id)), "{}", e.message);
    assert_eq!(tags(&h, &id).as_array().unwrap().len(), 50);
    h.ok(
        "admin",
        "UntagResource",
        json!({"KeyId": id, "TagKeys": ["t01"]}),
    );
    tag(&h, &id, &[("t50", "x")]);
}

#[test]
fn list_resource_tags_pages() {
    let h = Harness::new();
    let id = h.symmetric_key();
    let names: Vec<String> = (0..7).map(|i| format!("key-{i}")).collect();
    let pairs: Vec<(&str, &str)> = names.iter().map(|k| (k.as_str(), "v")).collect();
    tag(&h, &id, &pairs);
    let mut seen = Vec::new();
    let mut marker: Option<Value> = None;
    loop {
        let mut input = json!({"KeyId": id, "Limit": 3});
        if let Some(m) = &marker {
            input["Marker"] = m.clone();
        }
        let page = h.ok("admin", "ListResourceTags", input);
        let got = page["Tags"].as_array().unwrap();
        assert!(got.len() <= 3);
        seen.extend(got.iter().map(|t| t["TagKey"].as_str().unwrap().to_owned()));
        if page["Truncated"] == json!(true) {
            marker = Some(page["NextMarker"].clone());
        } else {
            assert!(page.get("NextMarker").is_none());
            break;
        }
    }
    assert_eq!(seen, names);
    let page = h.ok("admin", "ListResourceTags", json!({"KeyId": id}));
    assert_eq!(page["Truncated"], false);
    for limit in [0, 51] {
        h.err(
            "admin",
            "ListResourceTags",
            json!({"KeyId": id, "Limit": limit}),
            ErrorKind::ValidationException,
        );
    }
    h.err(
        "admin",
        "ListResourceTags",
        json!({"KeyId": id, "Marker": "@@"}),
        ErrorKind::InvalidMarkerException,
    );
    h.err(
        "alice",
        "ListResourceTags",
        json!({"KeyId": id}),
        ErrorKind::AccessDeniedException,
    );
}

/// The standard world, plus bob, whose IAM policy lets him encrypt with keys
/// tagged `team=blue`.
fn world_with_bob() -> String {
    let mut world: Value = serde_json::from_str(harness::WORLD).unwrap();
    world["principals"].as_array_mut().unwrap().push(json!({
        "arn": format!("arn:aws:iam::{ACCOUNT}:user/bob"),
        "policies": [{"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*",
            "Condition": {"StringEquals": {"aws:ResourceTag/team": "blue"}}
        }]}]
    }));
    world.to_string()
}

fn may_encrypt(h: &Harness, who: &str, id: &str) -> bool {
    match h.call(who, "Encrypt", json!({"KeyId": id, "Plaintext": b64(b"x")})) {
        Ok(_) => true,
        Err(e) => {
            assert_eq!(e.kind, ErrorKind::AccessDeniedException, "{e}");
            false
        }
    }
}

#[test]
fn resource_tag_conditions_follow_tag_changes_at_once() {
    let h = Harness::with_world(&world_with_bob());
    // The default key policy lets IAM policies decide.
    let id = h.symmetric_key();
    assert!(!may_encrypt(&h, "bob", &id));
    tag(&h, &id, &[("team", "blue")]);
    assert!(may_encrypt(&h, "bob", &id));
    tag(&h, &id, &[("team", "red")]);
    assert!(!may_encrypt(&h, "bob", &id));
    tag(&h, &id, &[("team", "blue")]);
    assert!(may_encrypt(&h, "bob", &id));
    h.ok(
        "admin",
        "UntagResource",
        json!({"KeyId": id, "TagKeys": ["team"]}),
    );
    assert!(!may_encrypt(&h, "bob", &id));
    // Tags given at creation count as well.
    let born_blue = h.create_key(json!({"Tags": [{"TagKey": "team", "TagValue": "blue"}]}));
    assert!(may_encrypt(&h, "bob", &born_blue));
}

#[test]
fn key_policies_cannot_condition_on_resource_tags() {
    // KMS supports aws:ResourceTag in IAM policies only: in a key policy the
    // key is absent, so this statement never matches, tagged or not.
    let h = Harness::new();
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            root_statement(),
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/alice")},
             "Action": "kms:Encrypt", "Resource": "*",
             "Condition": {"StringEquals": {"aws:ResourceTag/team": "blue"}}}
        ]
    });
    let id = h.create_key(json!({"Policy": policy.to_string()}));
    assert!(!alice_may_encrypt(&h, &id));
    tag(&h, &id, &[("team", "blue")]);
    assert!(!alice_may_encrypt(&h, &id));
}

#[test]
fn get_key_policy_returns_the_text_as_stored() {
    let h = Harness::new();
    let id = h.symmetric_key();
    let out = h.ok("admin", "GetKeyPolicy", json!({"KeyId": id}));
    assert_eq!(out["PolicyName"], "default");
    let policy: Value = serde_json::from_str(out["Policy"].as_str().unwrap()).unwrap();
    assert_eq!(
        policy["Statement"][0]["Principal"]["AWS"],
        format!("arn:aws:iam::{ACCOUNT}:root")
    );
    // Whitespace and member order are kept exactly.
    let text = format!(
        "{{\n  \"Version\" : \"2012-10-17\",\n  \"Statement\" : [ {} ]\n}}",
        root_statement()
    );
    let id = h.create_key(json!({"Policy": text}));
    let out = h.ok(
        "admin",
        "GetKeyPolicy",
        json!({"KeyId": id, "PolicyName": "default"}),
    );
    assert_eq!(out["Policy"], text);
    h.err(
        "admin",
        "GetKeyPolicy",
        json!({"KeyId": id, "PolicyName": "other"}),
        ErrorKind::NotFoundException,
    );
    h.err(
        "admin",
        "GetKeyPolicy",
        json!({"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
        ErrorKind::NotFoundException,
    );
    h.err(
        "alice",
        "GetKeyPolicy",
        json!({"KeyId": id}),
        ErrorKind::AccessDeniedException,
    );
    // Reading works in any key state.
    h.ok("admin", "ScheduleKeyDeletion", json!({"KeyId": id}));
    assert_eq!(
        h.ok("admin", "GetKeyPolicy", json!({"KeyId": id}))["Policy"],
        text
    );
}

#[test]
fn put_key_policy_decides_the_next_call() {
    let h = Harness::new();
    let id = h.symmetric_key();
    assert!(!alice_may_encrypt(&h, &id));
    let allowing = json!({
        "Version": "2012-10-17",
        "Statement": [
            root_statement(),
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/alice")},
             "Action": "kms:Encrypt", "Resource": "*"}
        ]
    })
    .to_string();
    let out = h.ok(
        "admin",
        "PutKeyPolicy",
        json!({"KeyId": id, "Policy": allowing, "PolicyName": "default"}),
    );
    assert_eq!(out, json!({}));
    assert!(alice_may_encrypt(&h, &id));
    assert_eq!(
        h.ok("admin", "GetKeyPolicy", json!({"KeyId": id}))["Policy"],
        allowing
    );
    // A denying statement takes effect just as fast.
    let denying = json!({
        "Version": "2012-10-17",
        "Statement": [
            root_statement(),
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/alice")},
             "Action": "kms:Encrypt", "Resource": "*"},
            {"Effect": "Deny", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/alice")},
             "Action": "kms:Encrypt", "Resource": "*"}
        ]
    })
    .to_string();
    h.ok(
        "admin",
        "PutKeyPolicy",
        json!({"KeyId": id, "Policy": denying}),
    );
    assert!(!alice_may_encrypt(&h, &id));
    // Stored: a restarted service decides the same.
    assert!(!alice_may_encrypt(&h.reopen(), &id));
    // A key pending deletion still takes a new policy.
    h.ok("admin", "ScheduleKeyDeletion", json!({"KeyId": id}));
    h.ok(
        "admin",
        "PutKeyPolicy",
        json!({"KeyId": id, "Policy": allowing}),
    );
}

#[test]
fn put_key_policy_errors() {
    let h = Harness::new();
    let id = h.symmetric_key();
    let before = h.ok("admin", "GetKeyPolicy", json!({"KeyId": id}))["Policy"].clone();
    // A policy that would lock the caller out is refused…
    let lockout = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/alice")},
                       "Action": "kms:*", "Resource": "*"}]
    })
    .to_string();
    h.err(
        "admin",
        "PutKeyPolicy",
        json!({"KeyId": id, "Policy": lockout}),
        ErrorKind::MalformedPolicyDocumentException,
    );
    h.err(
        "admin",
        "PutKeyPolicy",
        json!({"KeyId": id, "Policy": "{not json"}),
        ErrorKind::MalformedPolicyDocumentException,
    );
    h.err(
        "admin",
        "PutKeyPolicy",
        json!({"KeyId": id, "Policy": format!("{{\"Version\":\"2012-10-17\",\"Statement\":[{}],\"Id\":\"{}\"}}", root_statement(), "x".repeat(33_000))}),
        ErrorKind::LimitExceededException,
    );
    h.err(
        "admin",
        "PutKeyPolicy",
        json!({"KeyId": id}),
        ErrorKind::ValidationException,
    );
    h.err(
        "admin",
        "PutKeyPolicy",
        json!({"KeyId": id, "Policy": before, "PolicyName": "other"}),
        ErrorKind::ValidationException,
    );
    h.err(
        "alice",
        "PutKeyPolicy",
        json!({"KeyId": id, "Policy": before}),
        ErrorKind::AccessDeniedException,
    );
    h.err(
        "admin",
        "PutKeyPolicy",
        json!({"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "Policy": before}),
        ErrorKind::NotFoundException,
    );
    // None of the refused calls changed the policy.
    assert_eq!(
        h.ok("admin", "GetKeyPolicy", json!({"KeyId": id}))["Policy"],
        before
    );
    // …unless the caller bypasses the check on purpose.
    h.ok(
        "admin",
        "PutKeyPolicy",
        json!({"KeyId": id, "Policy": lockout, "BypassPolicyLockoutSafetyCheck": true}),
    );
    h.err(
        "admin",
        "GetKeyPolicy",
        json!({"KeyId": id}),
        ErrorKind::AccessDeniedException,
    );
    assert!(h
        .call("alice", "GetKeyPolicy", json!({"KeyId": id}))
        .is_ok());
}

#[test]
fn list_key_policies_names_the_one_policy() {
    let h = Harness::new();
    let id = h.symmetric_key();
    let out = h.ok("admin", "ListKeyPolicies", json!({"KeyId": id}));
    assert_eq!(out, json!({"PolicyNames": ["default"], "Truncated": false}));
    let out = h.ok("admin", "ListKeyPolicies", json!({"KeyId": id, "Limit": 1}));
    assert_eq!(out["Truncated"], false);
    h.err(
        "admin",
        "ListKeyPolicies",
        json!({"KeyId": id, "Marker": "bWFya2Vy"}),
        ErrorKind::InvalidMarkerException,
    );
    h.err(
        "admin",
        "ListKeyPolicies",
        json!({"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
        ErrorKind::NotFoundException,
    );
    h.err(
        "alice",
        "ListKeyPolicies",
        json!({"KeyId": id}),
        ErrorKind::AccessDeniedException,
    );
    h.err(
        "admin",
        "ListKeyPolicies",
        json!({"KeyId": id, "Limit": 0}),
        ErrorKind::ValidationException,
    );
}

#[test]
fn tag_keys_and_values_at_their_length_limits() {
    let h = Harness::new();
    let id = h.symmetric_key();
    let key = "k".repeat(128);
    let value = "v".repeat(256);
    tag(&h, &id, &[(key.as_str(), value.as_str()), ("empty", "")]);
    assert_eq!(
        tags(&h, &id),
        json!([{"TagKey": "empty", "TagValue": ""}, {"TagKey": key, "TagValue": value}])
    );
    // UntagResource checks the length of tag keys too.
    h.err(
        "admin",
        "UntagResource",
        json!({"KeyId": id, "TagKeys": ["k".repeat(129)]}),
        ErrorKind::TagException,
    );
    h.err(
        "admin",
        "UntagResource",
        json!({"KeyId": id, "TagKeys": [""]}),
        ErrorKind::TagException,
    );
    h.ok(
        "admin",
        "UntagResource",
        json!({"KeyId": id, "TagKeys": [key]}),
    );
    assert_eq!(tags(&h, &id), json!([{"TagKey": "empty", "TagValue": ""}]));
    h.err(
        "admin",
        "ListResourceTags",
        json!({"KeyId": id, "Limit": 51}),
        ErrorKind::ValidationException,
    );
}
