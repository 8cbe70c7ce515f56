//! The decision-path viewer: one self-contained HTML page (inline style and
//! script, no external resources) that draws the documents the engine
//! produces.
//!
//! The page decides nothing. It renders
//!
//! - an *explain document*, `{"kind": "decision", "request": {…},
//!   "decision": D}`, or a bare decision `D` as `kmsgov eval --format json`
//!   prints it: a pipeline from the caller through every layer of the
//!   decision path to the decision and its AWS message;
//! - a *who-can* or *can-reach* document: the paths as a graph of
//!   principals, roles and keys, and as text with the conditions still
//!   required.
//!
//! [`page`] embeds a document in the page; without one the page shows an
//! empty state where a document can be pasted or opened. All data reaches
//! the DOM through `textContent` and attributes, never as markup.

use serde_json::Value;

/// The page's source; the document goes where [`DOCUMENT_MARKER`] is.
const TEMPLATE: &str = include_str!("../assets/viewer.html");

/// Where the embedded document goes: the body of
/// `<script type="application/json" id="kmsgov-document">`.
const DOCUMENT_MARKER: &str = "{{KMSGOV_DOCUMENT}}";

/// The page's one inline script, exactly as the page holds it (the text
/// between `<script>` and `</script>`): what a `Content-Security-Policy`
/// `'sha256-…'` source for it is computed over. The embedded document is a
/// data block (`type="application/json"`), not a script, and needs none.
#[must_use]
pub fn inline_script() -> &'static str {
    between(TEMPLATE, "<script>", "</script>")
}

/// The page's one inline style sheet, exactly as the page holds it (the
/// text between `<style>` and `</style>`).
#[must_use]
pub fn inline_style() -> &'static str {
    between(TEMPLATE, "<style>", "</style>")
}

/// The `Content-Security-Policy` to serve the page under, given the
/// base64 SHA-256 of [`inline_script`] and of [`inline_style`]: nothing may
/// be loaded, no script or style runs but the page's own, images may only be
/// `data:` URLs, and the page may not be framed or submit forms.
#[must_use]
pub fn content_security_policy(script_sha256: &str, style_sha256: &str) -> String {
    format!(
        "default-src 'none'; script-src 'sha256-{script_sha256}'; \
         style-src 'sha256-{style_sha256}'; img-src data:; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    )
}

/// The text between the first `open` and the `close` after it (empty when
/// either is missing).
fn between(text: &'static str, open: &str, close: &str) -> &'static str {
    text.split_once(open)
        .and_then(|(_, rest)| rest.split_once(close))
        .map_or("", |(inner, _)| inner)
}

/// The viewer page, with `document` embedded (or the empty state for
/// `None`).
///
/// The document is serialized as JSON with `<`, `>` and `&` written as
/// `\u003c`, `\u003e` and `\u0026`, so that no string in it can close the
/// `<script>` element it sits in or open a comment: the embedded text holds
/// none of those characters, and `JSON.parse` reads back the same value.
#[must_use]
pub fn page(document: Option<&Value>) -> String {
    let embedded = document.map(embed).unwrap_or_default();
    TEMPLATE.replacen(DOCUMENT_MARKER, &embedded, 1)
}

/// `value` as JSON that is safe inside a `<script>` element.
fn embed(value: &Value) -> String {
    let json = value.to_string();
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            // Valid in JSON, but line terminators in older script parsers.
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::string_slice,
        reason = "test code"
    )]

    use serde_json::json;

    use super::*;

    const OPEN: &str = r#"<script type="application/json" id="kmsgov-document">"#;

    /// The text between the document element's tags.
    fn embedded(page: &str) -> &str {
        let start = page.find(OPEN).unwrap() + OPEN.len();
        let len = page[start..].find("</script>").unwrap();
        &page[start..start + len]
    }

    #[test]
    fn the_template_has_one_marker_and_no_external_resources() {
        assert_eq!(TEMPLATE.matches(DOCUMENT_MARKER).count(), 1);
        assert_eq!(TEMPLATE.matches(OPEN).count(), 1);
        for external in [
            "src=\"http",
            "href=\"http",
            "@import",
            "url(http",
            "src=\"//",
        ] {
            assert!(!TEMPLATE.contains(external), "{external}");
        }
        // The only way data reaches the DOM is textContent.
        assert!(!TEMPLATE.contains("innerHTML"));
        assert!(!TEMPLATE.contains("outerHTML"));
        assert!(!TEMPLATE.contains("insertAdjacentHTML"));
        assert!(!TEMPLATE.contains("document.write"));
    }

    #[test]
    fn the_inline_script_and_style_are_the_whole_elements() {
        let script = inline_script();
        assert!(script.contains("\"use strict\""));
        assert!(script.trim_end().ends_with("}());"));
        assert!(TEMPLATE.contains(&format!("<script>{script}</script>")));
        let style = inline_style();
        assert!(style.contains(":root {"));
        assert!(TEMPLATE.contains(&format!("<style>{style}</style>")));
        // One of each: a second one would run without a hash.
        assert_eq!(TEMPLATE.matches("<script>").count(), 1);
        assert_eq!(TEMPLATE.matches("<style>").count(), 1);
        // No inline style attributes or event handlers, which hashes do
        // not allow.
        assert!(!TEMPLATE.contains(" style=\""));
        assert!(!script.contains("style:"));
        assert!(!script.contains(".style"));
        assert!(!TEMPLATE.contains(" onclick="));
        let page = page(Some(
            &json!({"decision": "Allow", "reason": "", "path": []}),
        ));
        assert!(page.contains(&format!("<script>{script}</script>")));
    }

    #[test]
    fn the_policy_names_the_hashes_and_nothing_else() {
        let csp = content_security_policy("c2NyaXB0", "c3R5bGU=");
        let directives: Vec<&str> = csp.split("; ").collect();
        assert_eq!(
            directives,
            [
                "default-src 'none'",
                "script-src 'sha256-c2NyaXB0'",
                "style-src 'sha256-c3R5bGU='",
                "img-src data:",
                "base-uri 'none'",
                "form-action 'none'",
                "frame-ancestors 'none'"
            ]
        );
    }

    #[test]
    fn without_a_document_the_page_embeds_nothing() {
        let page = page(None);
        assert_eq!(embedded(&page), "");
        assert!(!page.contains(DOCUMENT_MARKER));
        assert!(page.starts_with("<!DOCTYPE html>"));
    }

    #[test]
    fn the_document_round_trips() {
        let doc = json!({"kind": "decision", "decision": {"decision": "Allow", "reason": "", "path": []},
                         "request": {"principal": "arn:aws:iam::111122223333:user/a & b", "context": {"x": "\u{2028}"}}});
        let page = page(Some(&doc));
        let back: Value = serde_json::from_str(embedded(&page)).unwrap();
        assert_eq!(back, doc);
    }

    #[test]
    fn hostile_strings_cannot_leave_the_script_element() {
        let hostile = "</script><img src=x onerror=alert(1)><!-- <script>";
        let doc = json!({"decision": "Deny", "reason": hostile, "path": [
            {"layer": "key policy", "verdict": "Allow", "statements": [
                {"index": 0, "sid": hostile, "effect": "Allow", "matched": true}]}]});
        let page = page(Some(&doc));
        let inside = embedded(&page);
        assert!(!inside.contains('<'), "{inside}");
        assert!(!inside.contains('>'), "{inside}");
        // The page has exactly the template's script elements: the two it
        // had, no more.
        assert_eq!(
            page.matches("</script>").count(),
            TEMPLATE.matches("</script>").count()
        );
        assert!(!page.contains("<img"));
        let back: Value = serde_json::from_str(inside).unwrap();
        assert_eq!(back["reason"], hostile);
        assert_eq!(back["path"][0]["statements"][0]["sid"], hostile);
    }
}
