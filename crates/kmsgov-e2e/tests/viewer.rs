//! The decision-path viewer in a real browser: `kmsgov explain --html`
//! writes the page, headless Chromium loads it from `file://` and prints
//! the DOM its script built, and the tests read the decision, the layers,
//! the deciding statements and the condition values back from that DOM.
//! Every page is also saved as a screenshot in
//! `<target>/viewer-screenshots/`.
//!
//! The browser is Debian's Chromium (`apt-get install chromium`), or the
//! one `KMSGOV_CHROMIUM` names. Without it these tests fail, unless
//! `KMSGOV_SKIP_BROWSER_TESTS=1` is set, in which case they say that they
//! skip.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice,
    reason = "test code"
)]

#[path = "support/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const HOSTILE: &str = "</script><img src=x onerror=alert(1)>";

/// One browser at a time: the machine is small and each one is heavy.
static BROWSER: Mutex<()> = Mutex::new(());

/// The browser, or `None` (with a line saying so) when browser tests are
/// skipped on purpose.
fn browser() -> Option<PathBuf> {
    if std::env::var("KMSGOV_SKIP_BROWSER_TESTS").as_deref() == Ok("1") {
        eprintln!("SKIPPED: KMSGOV_SKIP_BROWSER_TESTS=1, the viewer is not checked in a browser");
        return None;
    }
    let path = std::env::var_os("KMSGOV_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.is_file(),
        "no browser at {}: install Chromium (`apt-get install chromium` on Debian), \
         point KMSGOV_CHROMIUM at one, or set KMSGOV_SKIP_BROWSER_TESTS=1 to skip these tests",
        path.display()
    );
    Some(path)
}

/// Runs the browser headless on `page` (a file) with `extra` arguments, in
/// a fresh profile, and returns its stdout.
fn chromium(browser: &Path, page: &Path, extra: &[String]) -> String {
    chromium_url(browser, &format!("file://{}", page.display()), extra)
}

/// Runs the browser headless on `url` with `extra` arguments, in a fresh
/// profile, and returns its stdout.
fn chromium_url(browser: &Path, url: &str, extra: &[String]) -> String {
    let _one = BROWSER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut out).unwrap();
        out
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "the browser did not finish within 60 s on {url} (a script dialog such as \
                 alert() blocks headless Chromium: did the page run injected script?)"
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "the browser failed on {url}: {status}");
    reader.join().unwrap()
}

/// The DOM after the page's script ran, all of it.
fn dump_page(browser: &Path, page: &Path) -> String {
    let dom = chromium(browser, page, &["--dump-dom".to_owned()]);
    assert!(dom.contains("</html>"), "no DOM from the browser: {dom:?}");
    dom
}

/// The part of the DOM the page's script drew (`<main id="app">`), where
/// no style or script text is.
fn dump_dom(browser: &Path, page: &Path) -> String {
    drawn(&dump_page(browser, page)).to_owned()
}

/// `<target>/viewer-screenshots/`: from `CARGO_TARGET_DIR`, or the test
/// executable's place (`<target>/<profile>/deps/`).
fn screenshot_dir() -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_exe()
            .unwrap()
            .ancestors()
            .nth(3)
            .unwrap()
            .to_path_buf(),
    };
    let dir = target.join("viewer-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves a screenshot of `page` as `<name>.png` and checks that it is a
/// PNG of the asked size with more than a blank page in it.
fn screenshot(browser: &Path, page: &Path, name: &str) -> PathBuf {
    let path = screenshot_dir().join(format!("{name}.png"));
    let _ = std::fs::remove_file(&path);
    chromium(
        browser,
        page,
        &[
            format!("--screenshot={}", path.display()),
            "--window-size=1280,1600".to_owned(),
        ],
    );
    let png = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &png[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1280, 1600), "{}", path.display());
    // A blank page compresses to a few hundred bytes; a drawn one does not.
    assert!(
        png.len() > 20_000,
        "{} is nearly empty ({} bytes)",
        path.display(),
        png.len()
    );
    path
}

/// A scenario file of this crate's test data.
fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Runs `kmsgov explain … --format json --html OUT` and returns the explain
/// document it printed and the page it wrote.
fn explain(
    dir: &Path,
    world: &Path,
    principal: &str,
    operation: &str,
    input: &Value,
    context: Option<&Value>,
) -> (Value, PathBuf) {
    let page = dir.join(format!("{operation}.html"));
    let mut command = Command::new(server::binary());
    command
        .arg("explain")
        .arg(world)
        .args(["--principal", principal, "--operation", operation])
        .args(["--input", &input.to_string(), "--format", "json", "--html"])
        .arg(&page);
    if let Some(context) = context {
        command.args(["--context", &context.to_string()]);
    }
    let output = command.output().unwrap_or_else(|e| {
        panic!(
            "cannot run {} ({e}): build it first with `cargo build -p kmsgov-cli`",
            server::binary().display()
        )
    });
    assert!(
        output.status.success(),
        "kmsgov explain failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(document["kind"], "decision");
    assert!(page.is_file(), "no page at {}", page.display());
    (document, page)
}

// ---- reading the DOM the browser printed ----

/// Every start tag (`<name attr="…" …>`) in `dom`. A `>` inside a quoted
/// attribute value does not end the tag.
fn start_tags(dom: &str) -> Vec<&str> {
    let mut tags = Vec::new();
    let mut rest = dom;
    while let Some(open) = rest.find('<') {
        rest = &rest[open..];
        let mut quoted = false;
        let close = rest
            .char_indices()
            .find(|&(_, c)| {
                if c == '"' {
                    quoted = !quoted;
                }
                c == '>' && !quoted
            })
            .map(|(i, _)| i)
            .unwrap();
        let tag = &rest[..=close];
        if !tag.starts_with("</") && !tag.starts_with("<!") {
            tags.push(tag);
        }
        rest = &rest[close + 1..];
    }
    tags
}

/// The value of attribute `name` in a start tag, unescaped.
fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let len = tag[start..].find('"')?;
    Some(unescape(&tag[start..start + len]))
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The start tags that have attribute `name` with `value`.
fn tags_with<'d>(dom: &'d str, name: &str, value: &str) -> Vec<&'d str> {
    start_tags(dom)
        .into_iter()
        .filter(|t| attr(t, name).as_deref() == Some(value))
        .collect()
}

/// The text of the element with id `id`: everything between its start tag
/// and the next tag.
fn text_of(dom: &str, id: &str) -> String {
    let needle = format!(" id=\"{id}\"");
    let at = dom
        .find(&needle)
        .unwrap_or_else(|| panic!("no #{id} in the page"));
    let start = at + dom[at..].find('>').unwrap() + 1;
    let len = dom[start..].find('<').unwrap();
    unescape(&dom[start..start + len])
}

/// The part of the page the script draws: `<main id="app">…</main>`.
fn drawn(dom: &str) -> &str {
    let start = dom.find("<main").expect("no <main> in the page");
    let end = start + dom[start..].find("</main>").expect("no </main>");
    &dom[start..end]
}

/// All text `html` shows, tags removed, for "is this shown" checks.
fn all_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        out.push(' ');
        let close = start_tags(&rest[open..])
            .first()
            .map_or_else(|| rest[open..].find('>').unwrap(), |t| t.len() - 1);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    unescape(&out)
}

/// The page shows the decision, its message and every layer of the
/// document's path, in order, with its verdict.
fn assert_renders_decision(dom: &str, document: &Value) {
    let decision = &document["decision"];
    assert_eq!(
        text_of(dom, "decision"),
        decision["decision"].as_str().unwrap()
    );
    let reason = decision["reason"].as_str().unwrap();
    if !reason.is_empty() {
        assert_eq!(text_of(dom, "reason"), reason);
    }
    let shown: Vec<(String, String)> = start_tags(dom)
        .into_iter()
        .filter_map(|t| Some((attr(t, "data-layer")?, attr(t, "data-verdict")?)))
        .collect();
    let expected: Vec<(String, String)> = decision["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["layer"].as_str().unwrap().to_owned(),
                e["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(shown, expected);
    assert_eq!(
        text_of(dom, "request-principal"),
        document["request"]["principal"].as_str().unwrap()
    );
}

/// The statement with this `Sid` is shown, and marked deciding or not.
fn assert_statement(dom: &str, sid: &str, deciding: bool) {
    let tags = tags_with(dom, "data-sid", sid);
    assert!(!tags.is_empty(), "no statement {sid:?} in the page");
    let marks: Vec<String> = tags
        .iter()
        .map(|t| attr(t, "data-deciding").unwrap())
        .collect();
    let want = if deciding { "true" } else { "false" };
    assert!(
        marks.iter().any(|m| m == want),
        "statement {sid:?}: data-deciding {marks:?}, expected {want}"
    );
}

// ---- the tests ----

/// An Allow by the key policy: a statement naming the caller's role with a
/// condition on the encryption context.
#[test]
fn an_allow_by_the_key_policy_shows_the_deciding_statement_and_its_condition() {
    let Some(browser) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("world.json");
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "AllowAppDecryptForIT", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::111122223333:role/App"}, "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringEquals": {"kms:EncryptionContext:dept": "it-department"}}},
        {"Sid": "DenyOutsideTheOffice", "Effect": "Deny",
         "Principal": "*", "Action": "kms:*", "Resource": "*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]});
    let scenario = json!({"region": "us-east-1", "accounts": {"111122223333": {}},
        "principals": [{"arn": "arn:aws:iam::111122223333:role/App", "policies": []}],
        "keys": [{"arn": KEY, "policy": policy}], "tests": []});
    std::fs::write(&world, scenario.to_string()).unwrap();
    let (document, page) = explain(
        dir.path(),
        &world,
        "arn:aws:sts::111122223333:assumed-role/App/s1",
        "Decrypt",
        &json!({"KeyId": KEY, "CiphertextBlob": "AAAA", "EncryptionContext": {"dept": "it-department"}}),
        Some(&json!({"aws:SourceIp": "10.1.2.3"})),
    );
    assert_eq!(document["decision"]["decision"], "Allow");
    let dom = dump_dom(&browser, &page);
    assert_renders_decision(&dom, &document);
    assert!(!tags_with(&dom, "data-layer", "key policy").is_empty());
    assert_statement(&dom, "AllowAppDecryptForIT", true);
    // The deny's condition did not hold: shown, not deciding.
    assert_statement(&dom, "DenyOutsideTheOffice", false);
    // The condition, with the policy's and the request's values.
    let rows = tags_with(&dom, "data-key", "kms:EncryptionContext:dept");
    assert!(
        rows.iter()
            .any(|t| attr(t, "data-result").as_deref() == Some("true")),
        "{rows:?}"
    );
    let text = all_text(&dom);
    assert!(text.contains("StringEquals"), "{text}");
    // Policy values and request values, side by side in the condition's row.
    let row = &dom[dom.find("data-key=\"kms:EncryptionContext:dept\"").unwrap()..];
    let row = all_text(&row[..row.find("</tr>").unwrap()]);
    assert_eq!(row.matches("\"it-department\"").count(), 2, "{row}");
    assert!(text.contains("NotIpAddress"), "{text}");
    assert!(text.contains("\"10.1.2.3\""), "{text}");
    screenshot(&browser, &page, "allow-key-policy");
}

/// A Deny by an explicit deny in a service control policy (S21).
#[test]
fn an_explicit_deny_in_a_service_control_policy_is_shown_as_deciding() {
    let Some(browser) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (document, page) = explain(
        dir.path(),
        &data("s21-scp-explicit-deny.json"),
        "arn:aws:sts::111122223333:assumed-role/KeyAdmin/s1",
        "ScheduleKeyDeletion",
        &json!({"KeyId": KEY, "PendingWindowInDays": 7}),
        None,
    );
    let dom = dump_dom(&browser, &page);
    assert_renders_decision(&dom, &document);
    assert_eq!(text_of(&dom, "decision"), "Deny");
    assert!(text_of(&dom, "reason").ends_with("with an explicit deny in a service control policy"));
    let denying = tags_with(&dom, "data-verdict", "ExplicitDeny");
    assert_eq!(denying.len(), 1, "{denying:?}");
    assert_eq!(
        attr(denying[0], "data-layer").unwrap(),
        "service control policy"
    );
    assert_statement(&dom, "DenyKmsKeyDeletion", true);
    screenshot(&browser, &page, "deny-scp");
}

/// A Deny by an explicit deny in an identity-based policy (S05), although
/// the key policy names the caller.
#[test]
fn an_explicit_deny_in_an_identity_policy_is_shown() {
    let Some(browser) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (document, page) = explain(
        dir.path(),
        &data("s05-iam-explicit-deny-overrides-key-policy.json"),
        "arn:aws:iam::111122223333:user/alice",
        "Decrypt",
        &json!({"KeyId": KEY, "CiphertextBlob": "AAAA"}),
        None,
    );
    let dom = dump_dom(&browser, &page);
    assert_renders_decision(&dom, &document);
    assert_eq!(text_of(&dom, "decision"), "Deny");
    assert!(text_of(&dom, "reason").ends_with("with an explicit deny in an identity-based policy"));
    let denying = tags_with(&dom, "data-verdict", "ExplicitDeny");
    assert!(
        denying
            .iter()
            .any(|t| attr(t, "data-layer").as_deref() == Some("identity-based policy")),
        "{denying:?}"
    );
    assert!(
        tags_with(&dom, "data-deciding", "true")
            .iter()
            .any(|t| attr(t, "data-effect").as_deref() == Some("Deny")),
        "no deciding Deny statement"
    );
    screenshot(&browser, &page, "deny-identity-policy");
}

/// A Deny because nothing allows: the grant does not apply (an extra
/// encryption context pair) and the caller has no identity-based policy.
#[test]
fn a_deny_because_no_policy_allows_shows_the_message() {
    let Some(browser) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (document, page) = explain(
        dir.path(),
        &data("s13-grant-encryption-context-equals.json"),
        "arn:aws:sts::111122223333:assumed-role/App/s1",
        "Decrypt",
        &json!({"KeyId": KEY, "CiphertextBlob": "AAAA",
                "EncryptionContext": {"Department": "IT", "Purpose": "Test"}}),
        None,
    );
    let dom = dump_dom(&browser, &page);
    assert_renders_decision(&dom, &document);
    assert_eq!(text_of(&dom, "decision"), "Deny");
    assert!(text_of(&dom, "reason")
        .ends_with("because no identity-based policy allows the kms:Decrypt action"));
    assert!(tags_with(&dom, "data-verdict", "ExplicitDeny").is_empty());
    // The key policy's account statement matched (it delegates to IAM), but
    // no Deny statement decided anything.
    assert!(tags_with(&dom, "data-deciding", "true")
        .iter()
        .all(|t| attr(t, "data-effect").as_deref() == Some("Allow")));
    let grants = tags_with(&dom, "data-layer", "grants");
    assert_eq!(attr(grants[0], "data-verdict").unwrap(), "NotApplicable");
    screenshot(&browser, &page, "deny-no-policy-allows");
}

/// An Allow through a grant constrained by the encryption context (S13).
#[test]
fn an_allow_through_a_grant_shows_the_grant_and_the_context() {
    let Some(browser) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (document, page) = explain(
        dir.path(),
        &data("s13-grant-encryption-context-equals.json"),
        "arn:aws:sts::111122223333:assumed-role/App/s1",
        "Decrypt",
        &json!({"KeyId": KEY, "CiphertextBlob": "AAAA", "EncryptionContext": {"Department": "IT"}}),
        None,
    );
    let dom = dump_dom(&browser, &page);
    assert_renders_decision(&dom, &document);
    assert_eq!(text_of(&dom, "decision"), "Allow");
    let grants = tags_with(&dom, "data-layer", "grants");
    assert_eq!(attr(grants[0], "data-verdict").unwrap(), "Allow");
    let text = all_text(&dom);
    assert!(
        text.contains(
            "grant cc86b94e39379372bde3fd705b2f78ea02c01faec79961053bf3eb9d8ac1e2d0 applies"
        ),
        "{text}"
    );
    assert!(text.contains("\"Department\": \"IT\""), "{text}");
    screenshot(&browser, &page, "allow-grant");
}

/// Strings from policies and requests are text: a Sid and an encryption
/// context value that try to close the script element and add an image do
/// neither.
#[test]
fn hostile_strings_are_shown_as_text() {
    let Some(browser) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("world.json");
    let scenario = json!({"region": "us-east-1", "accounts": {"111122223333": {}},
        "principals": [{"arn": "arn:aws:iam::111122223333:role/App", "policies": []}],
        "keys": [{"arn": KEY, "policy": {"Version": "2012-10-17", "Statement": [
            {"Sid": HOSTILE, "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::111122223333:role/App"}, "Action": "kms:Decrypt", "Resource": "*",
             "Condition": {"StringEquals": {"kms:EncryptionContext:dept": HOSTILE}}}]}}],
        "tests": []});
    std::fs::write(&world, scenario.to_string()).unwrap();
    let (document, page) = explain(
        dir.path(),
        &world,
        "arn:aws:sts::111122223333:assumed-role/App/s1",
        "Decrypt",
        &json!({"KeyId": KEY, "CiphertextBlob": "AAAA", "EncryptionContext": {"dept": HOSTILE}}),
        Some(&json!({"aws:SourceIp": "10.0.0.1"})),
    );
    let written = std::fs::read_to_string(&page).unwrap();
    assert!(
        !written.contains(HOSTILE),
        "the page holds the string unescaped"
    );
    let whole = dump_page(&browser, &page);
    assert!(!whole.contains("<img"), "an img element was created");
    assert_eq!(whole.matches("<script").count(), 2, "{whole}");
    let dom = drawn(&whole).to_owned();
    assert_renders_decision(&dom, &document);
    // Shown, as text: the Sid, and the value on both sides of the condition
    // and in the request.
    assert_statement(&dom, HOSTILE, true);
    let text = all_text(&dom);
    assert!(text.matches(HOSTILE).count() >= 4, "{text}");
    screenshot(&browser, &page, "hostile-strings");
}

/// A who-can document: principals, roles and the key as a graph, and each
/// path as text with the conditions still required.
#[test]
fn a_who_can_document_is_drawn_as_a_graph() {
    let Some(browser) = browser() else { return };
    let alice = "arn:aws:iam::111122223333:user/alice";
    let bob = "arn:aws:iam::111122223333:user/bob";
    let reader = "arn:aws:iam::111122223333:role/Reader";
    let worker = "arn:aws:iam::111122223333:role/Worker";
    let document = json!({
        "kind": "who-can",
        "query": {"key": KEY, "action": "kms:Decrypt", "context": {}},
        "results": [
            {"principal": alice, "paths": [
                {"hops": [
                    {"kind": "assume-role", "from": alice, "to": reader, "action": "sts:AssumeRole",
                     "statements": [{"policy": "Reader trust policy", "index": 0, "sid": "TrustAlice"}]},
                    {"kind": "policy", "from": reader, "to": KEY, "action": "kms:Decrypt",
                     "statements": [{"policy": "key policy", "index": 1, "sid": "ReadersDecrypt"}]}],
                 "conditions": [{"key": "kms:EncryptionContext:dept", "values": ["it"]}]}]},
            {"principal": bob, "paths": [
                {"hops": [
                    {"kind": "pass-role", "from": bob, "to": worker, "action": "iam:PassRole",
                     "service": "lambda.amazonaws.com",
                     "statements": [{"policy": "bob-deploy", "index": 0}]},
                    {"kind": "grant", "from": worker, "to": KEY, "action": "kms:Decrypt",
                     "grant": "0123456789abcdef", "statements": []}],
                 "conditions": []},
                {"hops": [
                    {"kind": "policy", "from": bob, "to": KEY, "action": "kms:Decrypt",
                     "statements": [{"policy": "bob-kms", "index": 0, "sid": "Everything"}]}],
                 "conditions": [{"key": "aws:SourceIp", "values": ["10.0.0.0/8", "192.168.0.0/16"]}]}]}
        ]
    });
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("who-can.html");
    std::fs::write(&page, kmsgov_analysis::viewer::page(Some(&document))).unwrap();
    let dom = dump_dom(&browser, &page);
    assert!(!dom.contains("id=\"error\""), "{dom}");
    assert!(dom.contains("id=\"graph\""), "no graph");
    // One node per principal, role and key, each once.
    for arn in [alice, bob, reader, worker, KEY] {
        assert_eq!(tags_with(&dom, "data-node", arn).len(), 1, "node {arn}");
    }
    assert_eq!(
        start_tags(&dom)
            .iter()
            .filter(|t| attr(t, "data-node").is_some())
            .count(),
        5
    );
    // One edge per distinct hop, with its kind and ends.
    let edges: Vec<(String, String, String)> = start_tags(&dom)
        .into_iter()
        .filter(|t| t.starts_with("<g") && attr(t, "data-from").is_some())
        .map(|t| {
            (
                attr(t, "data-kind").unwrap(),
                attr(t, "data-from").unwrap(),
                attr(t, "data-to").unwrap(),
            )
        })
        .collect();
    let mut expected = vec![
        (
            "assume-role".to_owned(),
            alice.to_owned(),
            reader.to_owned(),
        ),
        ("policy".to_owned(), reader.to_owned(), KEY.to_owned()),
        ("pass-role".to_owned(), bob.to_owned(), worker.to_owned()),
        ("grant".to_owned(), worker.to_owned(), KEY.to_owned()),
        ("policy".to_owned(), bob.to_owned(), KEY.to_owned()),
    ];
    let mut shown = edges.clone();
    shown.sort();
    expected.sort();
    assert_eq!(shown, expected);
    let text = all_text(&dom);
    for shown in [
        "lambda.amazonaws.com",
        "sts:AssumeRole",
        "iam:PassRole",
        "Reader trust policy #0 (TrustAlice)",
        "kms:EncryptionContext:dept ∈ \"it\"",
        "aws:SourceIp ∈ \"10.0.0.0/8\", \"192.168.0.0/16\"",
    ] {
        assert!(text.contains(shown), "{shown:?} not in {text}");
    }
    assert_eq!(tags_with(&dom, "data-role", "condition").len(), 2);
    screenshot(&browser, &page, "who-can");

    // The other direction: what bob can reach, from the query's principal.
    let other = "arn:aws:kms:us-east-1:111122223333:key/0000aaaa-0000-0000-0000-000000000000";
    let document = json!({
        "kind": "can-reach",
        "query": {"principal": bob},
        "results": [
            {"key": KEY, "action": "kms:Decrypt", "paths": [
                {"hops": [{"kind": "policy", "from": bob, "to": KEY, "action": "kms:Decrypt",
                           "statements": [{"policy": "bob-kms", "index": 0}]}], "conditions": []}]},
            {"key": other, "action": "kms:Encrypt", "paths": [
                {"hops": [
                    {"kind": "assume-role", "from": bob, "to": reader, "action": "sts:AssumeRole", "statements": []},
                    {"kind": "policy", "from": reader, "to": other, "action": "kms:Encrypt", "statements": []}],
                 "conditions": []}]}]
    });
    std::fs::write(&page, kmsgov_analysis::viewer::page(Some(&document))).unwrap();
    let dom = dump_dom(&browser, &page);
    assert!(!dom.contains("id=\"error\""), "{dom}");
    for arn in [bob, reader, KEY, other] {
        assert_eq!(tags_with(&dom, "data-node", arn).len(), 1, "node {arn}");
    }
    assert_eq!(tags_with(&dom, "data-result", other).len(), 1);
    assert!(all_text(&dom).contains("kms:Encrypt"));
    screenshot(&browser, &page, "can-reach");
}

/// A document of no known shape is an error on the page, and the page
/// without a document offers to open one.
#[test]
fn unknown_documents_are_an_error_and_no_document_is_the_empty_state() {
    let Some(browser) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("unknown.html");
    let document = json!({"kind": "inventory", "items": []});
    std::fs::write(&page, kmsgov_analysis::viewer::page(Some(&document))).unwrap();
    let dom = dump_dom(&browser, &page);
    assert!(dom.contains("id=\"error\""), "{dom}");
    assert!(all_text(&dom).contains("kind \"inventory\" is not an explain"));
    assert!(!dom.contains("id=\"decision\""));

    let page = dir.path().join("empty.html");
    std::fs::write(&page, kmsgov_analysis::viewer::page(None)).unwrap();
    let dom = dump_dom(&browser, &page);
    assert!(!dom.contains("id=\"error\""), "{dom}");
    assert!(dom.contains("id=\"empty\""));
    assert!(dom.contains("<textarea"));
    assert!(dom.contains("type=\"file\""));
    screenshot(&browser, &page, "empty");
}

/// `kmsgov serve` serves the empty page at `/ui`, and its script and style
/// run under the content security policy it is served with: were a hash
/// wrong, the browser would block the script and draw nothing.
#[test]
fn the_served_page_runs_under_its_content_security_policy() {
    let Some(browser) = browser() else { return };
    let workspace = server::Workspace::new();
    let kms = workspace.serve();
    for path in ["/ui", "/ui/"] {
        let url = format!("{}{path}", kms.url());
        let whole = chromium_url(&browser, &url, &["--dump-dom".to_owned()]);
        let dom = drawn(&whole);
        assert!(
            dom.contains("id=\"empty\""),
            "the script did not run at {url}: {whole}"
        );
        assert!(dom.contains("<textarea"), "{dom}");
        assert!(!dom.contains("id=\"error\""), "{dom}");
    }
    let shot = screenshot_dir().join("served-ui.png");
    let _ = std::fs::remove_file(&shot);
    chromium_url(
        &browser,
        &format!("{}/ui", kms.url()),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,1600".to_owned(),
        ],
    );
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 20_000,
        "{}",
        shot.display()
    );
}

/// The empty page with a script added after its own that types `text` into
/// the paste box and presses Render, as a person would.
fn page_pasting(text: &str) -> String {
    let literal = serde_json::to_string(text).unwrap().replace('<', "\\u003c");
    let paste = format!(
        "<script>document.getElementById(\"paste\").value = {literal};\
         document.getElementById(\"render\").click();</script>"
    );
    kmsgov_analysis::viewer::page(None).replacen("</body>", &format!("{paste}</body>"), 1)
}

/// A document pasted into the empty page is drawn as an embedded one is;
/// pasted text that is not JSON is an error above the empty state.
#[test]
fn a_pasted_document_is_drawn() {
    let Some(browser) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (document, _) = explain(
        dir.path(),
        &data("s21-scp-explicit-deny.json"),
        "arn:aws:sts::111122223333:assumed-role/KeyAdmin/s1",
        "ScheduleKeyDeletion",
        &json!({"KeyId": KEY, "PendingWindowInDays": 7}),
        None,
    );
    let page = dir.path().join("pasted.html");
    std::fs::write(&page, page_pasting(&document.to_string())).unwrap();
    let dom = dump_dom(&browser, &page);
    assert!(!dom.contains("id=\"empty\""), "still empty: {dom}");
    assert_renders_decision(&dom, &document);
    assert_statement(&dom, "DenyKmsKeyDeletion", true);

    // The bare decision, as `kmsgov eval --format json` prints it.
    std::fs::write(&page, page_pasting(&document["decision"].to_string())).unwrap();
    let dom = dump_dom(&browser, &page);
    assert_eq!(text_of(&dom, "decision"), "Deny");
    assert_eq!(
        text_of(&dom, "reason"),
        document["decision"]["reason"].as_str().unwrap()
    );
    assert!(
        !dom.contains("id=\"request\""),
        "a bare decision has no request"
    );

    std::fs::write(&page, page_pasting("{\"decision\": ")).unwrap();
    let dom = dump_dom(&browser, &page);
    assert!(dom.contains("id=\"error\""), "{dom}");
    assert!(all_text(&dom).contains("This is not JSON"), "{dom}");
    assert!(dom.contains("id=\"empty\""), "{dom}");
}

/// The page drawn from a real `kmsgov who-can --html` report: a role chain,
/// a role passed to a service and a grant.
#[test]
fn a_who_can_report_from_the_command_line_is_drawn() {
    let Some(browser) = browser() else { return };
    let world = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../kmsgov-analysis/tests/data/reach-world.json");
    let key = "arn:aws:kms:us-east-1:111122223333:key/22222222-2222-2222-2222-222222222222";
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("who-can-report.html");
    let output = Command::new(server::binary())
        .arg("who-can")
        .arg(&world)
        .args(["--key", key, "--action", "kms:Decrypt", "--html"])
        .arg(&page)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dom = dump_dom(&browser, &page);
    assert!(!dom.contains("id=\"error\""), "{dom}");
    let a = "arn:aws:iam::111122223333:";
    for node in [
        format!("{a}user/carol"),
        format!("{a}role/Hop1"),
        format!("{a}role/Hop2"),
        format!("{a}user/dave"),
        format!("{a}role/LambdaRole"),
        format!("{a}user/erin"),
        key.to_owned(),
    ] {
        assert_eq!(tags_with(&dom, "data-node", &node).len(), 1, "node {node}");
    }
    let edges: Vec<(String, String, String)> = start_tags(&dom)
        .into_iter()
        .filter(|t| t.starts_with("<g") && attr(t, "data-from").is_some())
        .map(|t| {
            (
                attr(t, "data-kind").unwrap(),
                attr(t, "data-from").unwrap(),
                attr(t, "data-to").unwrap(),
            )
        })
        .collect();
    for edge in [
        (
            "assume-role",
            format!("{a}user/carol"),
            format!("{a}role/Hop1"),
        ),
        (
            "assume-role",
            format!("{a}role/Hop1"),
            format!("{a}role/Hop2"),
        ),
        (
            "pass-role",
            format!("{a}user/dave"),
            format!("{a}role/LambdaRole"),
        ),
        ("grant", format!("{a}user/erin"), key.to_owned()),
    ] {
        let edge = (edge.0.to_owned(), edge.1, edge.2);
        assert!(edges.contains(&edge), "{edge:?} not in {edges:?}");
    }
    assert!(all_text(&dom).contains("kms:EncryptionContext:project"));
    screenshot(&browser, &page, "who-can-report");
}
