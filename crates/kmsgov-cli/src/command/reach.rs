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
        let report = reach::who_can(
            &world,
            &args.key,
            &args.action,
            &context,
            options(&args.common),
        )
        .map_err(|e| e.to_string())?;
        let text = reach::render_who_can(&report);
        Ok((report, text))
    };
    finish(&args.common, run())
}

/// Exit codes as for `who-can`.
pub(crate) fn can_reach(args: &CanReachArgs) -> u8 {
    let run = || -> Result<(reach::CanReach, String), String> {
        let (world, context) = load(&args.common)?;
        let actions: Vec<&str> = args.actions.iter().map(String::as_str).collect();
        let report = reach::can_reach(
            &world,
            &args.principal,
            &actions,
            &context,
            options(&args.common),
        )
        .map_err(|e| e.to_string())?;
        let text = reach::render_can_reach(&report);
        Ok((report, text))
    };
    finish(&args.common, run())
}

fn options(common: &Common) -> Options {
    Options {
        max_hops: common.max_hops.max(1),
    }
}

fn load(common: &Common) -> Result<(World, Map<String, Value>), String> {
    let shown = common.world.display();
    let text =
        std::fs::read_to_string(&common.world).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    let scenario = Scenario::parse(&text).map_err(|e| format!("{shown}: {e}"))?;
    let context = match &common.context {
        None => Map::new(),
        Some(c) => match serde_json::from_str::<Value>(c) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err("--context: expected a JSON object".into()),
            Err(e) => return Err(format!("--context: invalid json: {e}")),
        },
    };
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
