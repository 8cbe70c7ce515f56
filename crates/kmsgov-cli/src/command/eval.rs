//! `kmsgov eval SCENARIO --principal ARN --operation OP --input JSON`.

use std::path::PathBuf;

use kmsgov_authz::{decide, environment, Call, Operation, Scenario, Trace};
use kmsgov_policy::Caller;

use super::{err, out};

/// Arguments of `kmsgov eval`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The scenario file whose world is used (its tests are ignored).
    scenario: PathBuf,
    /// The caller's ARN.
    #[arg(long)]
    principal: String,
    /// The KMS operation, e.g. `Decrypt`.
    #[arg(long)]
    operation: String,
    /// The request body as JSON.
    #[arg(long, default_value = "{}")]
    input: String,
    /// Request facts not in the body, as a JSON object (`{"aws:SourceIp": "…"}`).
    #[arg(long)]
    context: Option<String>,
    /// `text` for people, `json` for machines.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

/// Exit codes: 0 decided (whatever the decision), 2 bad input.
pub(crate) fn run(args: &Args) -> u8 {
    match decide_one(args) {
        Ok(text) => {
            out(&text);
            0
        }
        Err(e) => {
            err(&e);
            2
        }
    }
}

fn decide_one(args: &Args) -> Result<String, String> {
    let shown = args.scenario.display();
    let text = std::fs::read_to_string(&args.scenario)
        .map_err(|e| format!("{shown}: cannot read: {e}"))?;
    let scenario = Scenario::parse(&text).map_err(|e| format!("{shown}: {e}"))?;
    let caller = Caller::parse(&args.principal).map_err(|e| format!("--principal: {e}"))?;
    let operation = Operation::from_name(&args.operation)
        .ok_or_else(|| format!("--operation: `{}` is not a KMS operation", args.operation))?;
    let input: serde_json::Value =
        serde_json::from_str(&args.input).map_err(|e| format!("--input: invalid json: {e}"))?;
    let context = match &args.context {
        Some(c) => Some(
            serde_json::from_str::<serde_json::Value>(c)
                .map_err(|e| format!("--context: invalid json: {e}"))?,
        ),
        None => None,
    };
    let env = environment(context.as_ref(), "").map_err(|e| format!("--context: {e}"))?;
    let call = Call {
        caller: &caller,
        operation,
        input: &input,
        env: &env,
        ciphertext_key: None,
    };
    let decision = decide(&scenario.world, &call, Trace::Full);
    Ok(if args.format == "json" {
        let mut s = serde_json::to_string_pretty(&decision.to_json()).map_err(|e| e.to_string())?;
        s.push('\n');
        s
    } else {
        decision.render_text()
    })
}
