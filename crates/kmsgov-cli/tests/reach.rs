//! The `kmsgov` binary: `who-can` and `can-reach`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation should stop the test"
)]

use std::path::PathBuf;

use assert_cmd::Command;

const K2: &str = "arn:aws:kms:us-east-1:111122223333:key/22222222-2222-2222-2222-222222222222";

fn world() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../kmsgov-analysis/tests/data/reach-world.json")
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::cargo_bin("kmsgov")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn who_can_prints_paths_as_json_text_and_a_page() {
    let w = world();
    let w = w.to_str().unwrap();
    let (code, out, err) = run(&[
        "who-can",
        w,
        "--key",
        K2,
        "--action",
        "kms:Decrypt",
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "who-can");
    let carol = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["principal"] == "arn:aws:iam::111122223333:user/carol")
        .expect("carol reaches K2");
    let hops = carol["paths"][0]["hops"].as_array().unwrap();
    let kinds: Vec<&str> = hops.iter().map(|h| h["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["assume-role", "assume-role", "policy"]);

    let (code, text, _) = run(&["who-can", w, "--key", K2, "--action", "kms:Decrypt"]);
    assert_eq!(code, Some(0));
    assert!(
        text.contains("-[pass-role iam:PassRole to lambda.amazonaws.com]->"),
        "{text}"
    );
    assert!(
        text.contains("requires EncryptionContextSubset kms:EncryptionContext:project [\"x\"]"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("8 principal(s)"), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with("arn:aws:iam::111122223333:user/carol "))
        .expect("a table row for carol");
    let cells: Vec<&str> = row
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        cells,
        [
            "arn:aws:iam::111122223333:user/carol",
            "3",
            "assume-role > assume-role > policy"
        ]
    );

    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("who.html");
    let (code, _, err) = run(&[
        "who-can",
        w,
        "--key",
        K2,
        "--action",
        "kms:Decrypt",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("\"kind\":\"who-can\""),
        "the report is embedded"
    );
}

#[test]
fn can_reach_lists_keys_and_actions() {
    let w = world();
    let (code, out, err) = run(&[
        "can-reach",
        w.to_str().unwrap(),
        "--principal",
        "arn:aws:iam::111122223333:user/dave",
        "--action",
        "kms:Decrypt",
        "--action",
        "kms:Encrypt",
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{out}");
    assert_eq!(results[0]["key"], K2);
    assert_eq!(results[0]["action"], "kms:Decrypt");
    assert_eq!(results[0]["paths"][0]["hops"][0]["kind"], "pass-role");
}

#[test]
fn bad_input_exits_2() {
    let w = world();
    let w = w.to_str().unwrap();
    let (code, _, err) = run(&[
        "who-can",
        w,
        "--key",
        "alias/none",
        "--action",
        "kms:Decrypt",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not in the world"), "{err}");
    let (code, _, err) = run(&[
        "who-can",
        w,
        "--key",
        K2,
        "--action",
        "kms:Decrypt",
        "--context",
        "[1]",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--context"), "{err}");
    let (code, _, _) = run(&[
        "can-reach",
        "/nonexistent.json",
        "--principal",
        "arn:aws:iam::111122223333:root",
    ]);
    assert_eq!(code, Some(2));
}
