//! `kmsgov eval SCENARIO --principal ARN --operation OP --input JSON`.

use std::path::{Path, PathBuf};

use kmsgov_authz::{decide, environment, Call, Decision, Operation, Scenario, Trace, World};
use kmsgov_policy::Caller;

use super::{add_guardrail_dir, err, out};

/// Arguments of `kmsgov eval`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    request: RequestArgs,
    /// `text` for people, `json` for machines.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

/// The world and the request to decide: the arguments `kmsgov eval` and
/// `kmsgov explain` share.
#[derive(Debug, clap::Args)]
pub(crate) struct RequestArgs {
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
    /// A directory of guardrails (`*.rego`), added to the world after its
    /// own (docs/guardrails.md).
    #[arg(long)]
    guardrails: Option<PathBuf>,
}

/// A request decided against a scenario's world.
#[derive(Debug)]
pub(crate) struct Decided {
    /// The caller's ARN, as given.
    pub(crate) principal: String,
    /// The operation's name.
    pub(crate) operation: &'static str,
    /// The request body.
    pub(crate) input: serde_json::Value,
    /// The request facts not in the body, if any were given.
    pub(crate) context: Option<serde_json::Value>,
    /// The engine's answer, with the full decision path.
    pub(crate) decision: Decision,
}

/// Exit codes: 0 decided (whatever the decision), 2 bad input.
pub(crate) fn run(args: &Args) -> u8 {
    let shown = decide_request(&args.request).and_then(|d| {
        if args.format == "json" {
            pretty_json(&d.decision.to_json())
        } else {
            Ok(d.decision.render_text())
        }
    });
    match shown {
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

/// Reads the scenario, parses the request and decides it with the full
/// decision path.
///
/// # Errors
///
/// A message naming the argument at fault: the scenario cannot be read or
/// parsed, the principal is not an ARN, the operation is unknown, or the
/// input or context is not valid JSON.
pub(crate) fn decide_request(args: &RequestArgs) -> Result<Decided, String> {
    let world = load_world(&args.scenario, args.guardrails.as_deref())?;
    let input: serde_json::Value =
        serde_json::from_str(&args.input).map_err(|e| format!("--input: invalid json: {e}"))?;
    let context = match &args.context {
        Some(c) => Some(
            serde_json::from_str::<serde_json::Value>(c)
                .map_err(|e| format!("--context: invalid json: {e}"))?,
        ),
        None => None,
    };
    decide_in(&world, &args.principal, &args.operation, input, context)
        .map_err(|e| format!("--{}: {}", e.argument, e.message))
}

/// Reads a scenario file's world and adds the guardrails of a directory to it.
///
/// # Errors
///
/// The file cannot be read or is not a valid scenario, or a guardrail does
/// not load.
pub(crate) fn load_world(scenario: &Path, guardrails: Option<&Path>) -> Result<World, String> {
    let shown = scenario.display();
    let text =
        std::fs::read_to_string(scenario).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    let mut scenario = Scenario::parse(&text).map_err(|e| format!("{shown}: {e}"))?;
    if let Some(dir) = guardrails {
        add_guardrail_dir(&mut scenario.world, dir)?;
    }
    Ok(scenario.world)
}

/// A request argument the engine cannot take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadArgument {
    /// The argument: `principal`, `operation` or `context`.
    pub(crate) argument: &'static str,
    /// What is wrong with it.
    pub(crate) message: String,
}

/// Decides one request in a world with the full decision path: what
/// `kmsgov eval`, `kmsgov explain` and the `evaluate` and `explain` tools of
/// `kmsgov mcp` answer.
///
/// # Errors
///
/// The principal is not an ARN, the operation is not a KMS operation, or the
/// context is not an object of request facts.
pub(crate) fn decide_in(
    world: &World,
    principal: &str,
    operation: &str,
    input: serde_json::Value,
    context: Option<serde_json::Value>,
) -> Result<Decided, BadArgument> {
    let bad = |argument, message| BadArgument { argument, message };
    let caller = Caller::parse(principal).map_err(|e| bad("principal", e.to_string()))?;
    let operation = Operation::from_name(operation)
        .ok_or_else(|| bad("operation", format!("`{operation}` is not a KMS operation")))?;
    let env = environment(context.as_ref(), "").map_err(|e| bad("context", e.to_string()))?;
    let call = Call {
        caller: &caller,
        operation,
        input: &input,
        env: &env,
        ciphertext_key: None,
    };
    let decision = decide(world, &call, Trace::Full);
    Ok(Decided {
        principal: principal.to_owned(),
        operation: operation.name(),
        input,
        context,
        decision,
    })
}

/// `value` as indented JSON with a final newline.
pub(crate) fn pretty_json(value: &serde_json::Value) -> Result<String, String> {
    let mut s = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    s.push('\n');
    Ok(s)
}
