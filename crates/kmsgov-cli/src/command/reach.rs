//! `kmsgov who-can` and `kmsgov can-reach`: who can use a key, and what a
//! principal can reach, directly or through roles and grants.

use std::path::{Path, PathBuf};

use kmsgov_analysis::reach::{self, Options};
use kmsgov_authz::{Scenario, World};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{err, out};

/// Arguments shared by both commands.
#[derive(Debug, clap::Args)]
pub(crate) struct Common {
    /// The world (a scenario file; its tests are ignored).
    world: PathBuf,
    /// Request facts, as a JSON object (`{"kms:EncryptionContext:dept": "it"}`);
    /// what they fix is never varied by the analysis.
    #[arg(long)]
    context: Option<String>,
    /// At most this many hops per path.
    #[arg(long, default_value_t = reach::DEFAULT_MAX_HOPS)]
    max_hops: usize,
    /// `text` for people, `json` for machines.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
    /// Also write the report as a page that draws it as a graph.
    #[arg(long, value_name = "OUT.html")]
    html: Option<PathBuf>,
}

/// Arguments of `kmsgov who-can`.
#[derive(Debug, clap::Args)]
pub(crate) struct WhoCanArgs {
    #[command(flatten)]
    common: Common,
    /// The key: ARN, key id or alias name.
    #[arg(long)]
    key: String,
    /// The action, e.g. `kms:Decrypt`.
    #[arg(long)]
    action: String,
}

/// Arguments of `kmsgov can-reach`.
#[derive(Debug, clap::Args)]
pub(crate) struct CanReachArgs {
    #[command(flatten)]
    common: Common,
    /// The principal's ARN.
    #[arg(long)]
    principal: String,
    /// Only these actions (repeatable); every key action when absent.
    #[arg(long = "action")]
    actions: Vec<String>,
}

/// Exit codes: 0 answered, 2 bad input, 1 the page could not be written.
pub(crate) fn who_can(args: &WhoCanArgs) -> u8 {
    let run = || -> Result<(reach::WhoCan, String), String> {
        let (world, context) = load(&args.common)?;
        let report = who_can_report(
            &world,
            &args.key,
            &args.action,
            &context,
            args.common.max_hops,
        )?;
        let text = reach::render_who_can(&report);
        Ok((report, text))
    };
    finish(&args.common, run())
}

/// Exit codes as for `who-can`.
pub(crate) fn can_reach(args: &CanReachArgs) -> u8 {
    let run = || -> Result<(reach::CanReach, String), String> {
        let (world, context) = load(&args.common)?;
        let report = can_reach_report(
            &world,
            &args.principal,
            &args.actions,
            &context,
            args.common.max_hops,
        )?;
        let text = reach::render_can_reach(&report);
        Ok((report, text))
    };
    finish(&args.common, run())
}

/// Who can perform `action` on `key` (ARN, key id or alias name), in paths
/// of at most `max_hops` hops (at least one).
///
/// # Errors
///
/// The key, the action or the context is not one the analysis can take.
pub(crate) fn who_can_report(
    world: &World,
    key: &str,
    action: &str,
    context: &Map<String, Value>,
    max_hops: usize,
) -> Result<reach::WhoCan, String> {
    reach::who_can(world, key, action, context, options(max_hops)).map_err(|e| e.to_string())
}

/// Every key and action (all key actions when `actions` is empty) that
/// `principal` can reach, in paths of at most `max_hops` hops.
///
/// # Errors
///
/// The principal, an action or the context is not one the analysis can take.
pub(crate) fn can_reach_report(
    world: &World,
    principal: &str,
    actions: &[String],
    context: &Map<String, Value>,
    max_hops: usize,
) -> Result<reach::CanReach, String> {
    let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
    reach::can_reach(world, principal, &actions, context, options(max_hops))
        .map_err(|e| e.to_string())
}

fn options(max_hops: usize) -> Options {
    Options {
        max_hops: max_hops.max(1),
    }
}

/// Request facts for an analysis: a JSON object, or none.
///
/// # Errors
///
/// The value is not an object.
pub(crate) fn context_map(value: Option<Value>) -> Result<Map<String, Value>, String> {
    match value {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err("expected a JSON object".into()),
    }
}

fn load(common: &Common) -> Result<(World, Map<String, Value>), String> {
    let shown = common.world.display();
    let text =
        std::fs::read_to_string(&common.world).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    let scenario = Scenario::parse(&text).map_err(|e| format!("{shown}: {e}"))?;
    let context = match &common.context {
        None => None,
        Some(c) => Some(
            serde_json::from_str::<Value>(c)
                .map_err(|e| format!("--context: invalid json: {e}"))?,
        ),
    };
    let context = context_map(context).map_err(|e| format!("--context: {e}"))?;
    Ok((scenario.world, context))
}

fn finish<R: Serialize>(common: &Common, result: Result<(R, String), String>) -> u8 {
    let (report, text) = match result {
        Ok(r) => r,
        Err(e) => {
            err(&e);
            return 2;
        }
    };
    let json = match serde_json::to_value(&report) {
        Ok(v) => v,
        Err(e) => {
            err(&format!("cannot encode the report: {e}"));
            return 1;
        }
    };
    if common.format == "json" {
        let mut s = serde_json::to_string_pretty(&json).unwrap_or_default();
        s.push('\n');
        out(&s);
    } else {
        out(&text);
    }
    if let Some(path) = &common.html {
        if let Err(e) = write_page(path, &json) {
            err(&e);
            return 1;
        }
    }
    0
}

fn write_page(path: &Path, document: &Value) -> Result<(), String> {
    std::fs::write(path, kmsgov_analysis::viewer::page(Some(document)))
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))
}
