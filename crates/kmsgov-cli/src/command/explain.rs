//! `kmsgov explain SCENARIO --principal ARN --operation OP --input JSON
//! [--html OUT.html]`: the decision of `kmsgov eval` with its request, as
//! an explain document, and the viewer page that draws it.

use std::path::PathBuf;

use serde_json::json;

use super::eval::{decide_request, pretty_json, Decided, RequestArgs};
use super::{err, out};

/// Arguments of `kmsgov explain`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    request: RequestArgs,
    /// `text` for people, `json` for the explain document
    /// (`{"kind": "decision", "request", "decision"}`).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
    /// Also write the viewer page, with the explain document embedded, to
    /// this file (a self-contained HTML page that works offline).
    #[arg(long, value_name = "OUT.html")]
    html: Option<PathBuf>,
}

/// Exit codes: 0 decided (whatever the decision), 1 the page could not be
/// written, 2 bad input.
pub(crate) fn run(args: &Args) -> u8 {
    let decided = match decide_request(&args.request) {
        Ok(d) => d,
        Err(e) => {
            err(&e);
            return 2;
        }
    };
    let document = explain_document(&decided);
    let shown = if args.format == "json" {
        pretty_json(&document)
    } else {
        Ok(render_text(&decided))
    };
    let text = match shown {
        Ok(text) => text,
        Err(e) => {
            err(&e);
            return 1;
        }
    };
    if let Some(path) = &args.html {
        let page = kmsgov_analysis::viewer::page(Some(&document));
        if let Err(e) = std::fs::write(path, page) {
            err(&format!("{}: cannot write: {e}", path.display()));
            return 1;
        }
    }
    out(&text);
    0
}

/// `{"kind": "decision", "request": {…}, "decision": D}`, where `D` is what
/// `kmsgov eval --format json` prints.
pub(crate) fn explain_document(d: &Decided) -> serde_json::Value {
    document(
        &d.principal,
        d.operation,
        &d.input,
        d.context.as_ref(),
        d.decision.to_json(),
    )
}

/// The explain document of a request and its decision (`{"decision",
/// "reason", "path"}`, from the engine here or from a server's decision API).
pub(crate) fn document(
    principal: &str,
    operation: &str,
    input: &serde_json::Value,
    context: Option<&serde_json::Value>,
    decision: serde_json::Value,
) -> serde_json::Value {
    let mut request = json!({
        "principal": principal,
        "operation": operation,
        "input": input,
    });
    if let (Some(context), Some(object)) = (context, request.as_object_mut()) {
        object.insert("context".to_owned(), context.clone());
    }
    json!({
        "kind": "decision",
        "request": request,
        "decision": decision,
    })
}

/// The request, then the decision path as `kmsgov eval` prints it.
pub(crate) fn render_text(d: &Decided) -> String {
    let mut text = format!(
        "principal: {}\noperation: {}\ninput:     {}\n",
        d.principal, d.operation, d.input
    );
    if let Some(context) = &d.context {
        text.push_str(&format!("context:   {context}\n"));
    }
    text.push_str(&d.decision.render_text());
    text
}
