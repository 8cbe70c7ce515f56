//! `kmsgov policy …`: IAM policy documents.

use std::path::{Path, PathBuf};

use kmsgov_analysis::{diff, lint};
use kmsgov_authz::{environment, Scenario};
use kmsgov_policy::{ParseOptions, Policy, PolicyKind};

use super::{err, out};

/// Policy subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Check policy documents; print each problem with file and JSON pointer.
    Validate {
        /// The policy type: identity, resource, key (a KMS key policy), boundary,
        /// session, scp, rcp, vpc-endpoint, trust; `auto` picks resource when a
        /// statement names a principal, identity otherwise.
        #[arg(long, default_value = "auto")]
        kind: String,
        /// Policy files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print each document's content address: SHA-256 over a domain label
    /// and its RFC 8785 canonical JSON, so that the same policy has the
    /// same id however it is formatted.
    Id {
        /// JSON documents.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Find risky, broken or pointless policies (rules KG001… in docs/lint.md)
    /// in policy documents or in every policy and grant of world files.
    Lint {
        /// The role of lone policy documents: key (default), identity, boundary,
        /// session, trust, scp, rcp, vpc-endpoint. World files know each
        /// policy's role and ignore it.
        #[arg(long, default_value = "key")]
        kind: String,
        /// `text` for people, `json` for machines.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
        /// Policy documents or world (scenario) files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Show who gains or loses which action on a key when its key policy
    /// changes from OLD to NEW, as the engine decides it in a world.
    Diff {
        /// The current key policy.
        old: PathBuf,
        /// The proposed key policy.
        new: PathBuf,
        /// The world (scenario file) the key lives in.
        #[arg(long)]
        world: PathBuf,
        /// The key's ARN; optional when the world has one key.
        #[arg(long)]
        key: Option<String>,
        /// `text` for people, `json` for machines.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
        /// Request facts for every decision, as a JSON object (`{"kms:ViaService": "…"}`).
        #[arg(long)]
        context: Option<String>,
    },
}

/// Exit codes: 0 all valid, 1 a policy is invalid, 2 a file is unreadable.
pub(crate) fn run(cmd: &Command) -> u8 {
    let (kind, files) = match cmd {
        Command::Validate { kind, files } => (kind, files),
        Command::Id { files } => return run_id(files),
        Command::Lint {
            kind,
            format,
            files,
        } => return run_lint(kind, format, files),
        Command::Diff {
            old,
            new,
            world,
            key,
            format,
            context,
        } => {
            return run_diff(&DiffArgs {
                old,
                new,
                world,
                key: key.as_deref(),
                format,
                context: context.as_deref(),
            })
        }
    };
    let mut code = 0;
    for file in files {
        let shown = file.display();
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                err(&format!("{shown}: cannot read: {e}"));
                code = 2;
                continue;
            }
        };
        let Some(options) = options_for(kind, &text) else {
            err(&format!("--kind: unknown policy type `{kind}`"));
            return 2;
        };
        match Policy::parse(&text, &options) {
            Ok(_) => out(&format!(
                "{shown}: valid {}\n",
                options.kind().description()
            )),
            Err(errors) => {
                for e in &errors {
                    out(&format!("{shown}: {e}\n"));
                }
                if code == 0 {
                    code = 1;
                }
            }
        }
    }
    code
}

fn options_for(kind: &str, text: &str) -> Option<ParseOptions> {
    Some(match kind {
        "identity" => ParseOptions::new(PolicyKind::Identity),
        "resource" => ParseOptions::new(PolicyKind::Resource),
        "key" => kmsgov_authz::key_policy_options(),
        "boundary" => ParseOptions::new(PolicyKind::Boundary),
        "session" => ParseOptions::new(PolicyKind::Session),
        "scp" => ParseOptions::new(PolicyKind::Scp),
        "rcp" => ParseOptions::new(PolicyKind::Rcp),
        "vpc-endpoint" => ParseOptions::new(PolicyKind::VpcEndpoint),
        "trust" => ParseOptions::new(PolicyKind::Trust),
        "auto" => {
            let names_principal =
                text.contains("\"Principal\"") || text.contains("\"NotPrincipal\"");
            ParseOptions::new(if names_principal {
                PolicyKind::Resource
            } else {
                PolicyKind::Identity
            })
        }
        _ => return None,
    })
}

/// `kmsgov policy id`: `<id>  <file>` per document. Exit codes: 0 done,
/// 1 a document is not JSON or has no canonical form, 2 a file is
/// unreadable.
fn run_id(files: &[PathBuf]) -> u8 {
    let mut code = 0;
    for file in files {
        let shown = file.display();
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                err(&format!("{shown}: cannot read: {e}"));
                code = 2;
                continue;
            }
        };
        let id = serde_json::from_str::<serde_json::Value>(&text)
            .map_err(|e| format!("not JSON: {e}"))
            .and_then(|v| kmsgov_core::canonical::policy_id(&v).map_err(|e| e.to_string()));
        match id {
            Ok(id) => out(&format!("{id}  {shown}\n")),
            Err(e) => {
                err(&format!("{shown}: {e}"));
                code = code.max(1);
            }
        }
    }
    code
}

/// `kmsgov policy lint`. Exit codes: 0 no warning or error, 1 any warning or
/// error, 2 an input is unreadable or invalid (the other inputs are still
/// linted and reported).
fn run_lint(kind: &str, format: &str, files: &[PathBuf]) -> u8 {
    let Some(role) = lint::Role::from_name(kind) else {
        err(&format!("--kind: unknown policy type `{kind}`"));
        return 2;
    };
    let mut findings = Vec::new();
    let mut bad_input = false;
    for file in files {
        let shown = file.display().to_string();
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                err(&format!("{shown}: cannot read: {e}"));
                bad_input = true;
                continue;
            }
        };
        match lint_document(&shown, &text, role) {
            Ok(found) => findings.extend(found),
            Err(e) => {
                err(&e);
                bad_input = true;
            }
        }
    }
    lint::sort(&mut findings);
    if format == "json" {
        out(&format!("{:#}\n", lint::to_json(&findings)));
    } else {
        out(&lint::render_text(&findings));
    }
    if bad_input {
        2
    } else if lint::fails(&findings) {
        1
    } else {
        0
    }
}

/// Lints one document, `shown` by this name: a world (scenario) file, every
/// policy and grant in it, or a lone policy document in the given role.
///
/// # Errors
///
/// The text is not JSON, or not a valid world or policy (the message starts
/// with `shown`).
pub(crate) fn lint_document(
    shown: &str,
    text: &str,
    role: lint::Role,
) -> Result<Vec<lint::Finding>, String> {
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("{shown}: invalid json: {e}"))?;
    let result = if lint::is_world(&doc) {
        lint::lint_world(shown, text)
    } else {
        lint::lint_policy(shown, text, role)
    };
    result.map_err(|e| format!("{shown}: {e}"))
}

/// The arguments of `kmsgov policy diff`.
struct DiffArgs<'a> {
    old: &'a Path,
    new: &'a Path,
    world: &'a Path,
    key: Option<&'a str>,
    format: &'a str,
    context: Option<&'a str>,
}

/// `kmsgov policy diff`. Exit codes: 0 nothing changes, 1 access changes, 2 bad input.
fn run_diff(args: &DiffArgs<'_>) -> u8 {
    match diff_one(args) {
        Ok(result) => {
            if args.format == "json" {
                out(&format!("{:#}\n", result.to_json()));
            } else {
                out(&result.render_text());
            }
            u8::from(!result.changes.is_empty())
        }
        Err(e) => {
            err(&e);
            2
        }
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))
}

/// Reads and validates a key policy document.
fn key_policy(path: &Path) -> Result<(Policy, serde_json::Value), String> {
    key_policy_text(&path.display().to_string(), &read(path)?)
}

/// Validates a key policy document, `shown` by this name in messages.
fn key_policy_text(shown: &str, text: &str) -> Result<(Policy, serde_json::Value), String> {
    let policy = Policy::parse(text, &kmsgov_authz::key_policy_options()).map_err(|errors| {
        errors
            .iter()
            .map(|e| format!("{shown}: {e}"))
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    let doc = serde_json::from_str(text).map_err(|e| format!("{shown}: invalid json: {e}"))?;
    Ok((policy, doc))
}

fn diff_one(args: &DiffArgs<'_>) -> Result<diff::KeyDiff, String> {
    let old = key_policy(args.old)?;
    let new = key_policy(args.new)?;
    let shown = args.world.display();
    let scenario = Scenario::parse(&read(args.world)?).map_err(|e| format!("{shown}: {e}"))?;
    let context = match args.context {
        Some(c) => Some(
            serde_json::from_str::<serde_json::Value>(c)
                .map_err(|e| format!("--context: invalid json: {e}"))?,
        ),
        None => None,
    };
    diff_in(
        &scenario.world,
        &shown.to_string(),
        args.key,
        &old,
        &new,
        context.as_ref(),
    )
    .map_err(|e| match e {
        DiffError::Context(e) => format!("--context: {e}"),
        DiffError::Other(e) => e,
    })
}

/// Why two key policies could not be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DiffError {
    /// The request facts are not valid.
    Context(String),
    /// The key or the comparison failed.
    Other(String),
}

/// Who gains or loses which action on a key of `world` (named `shown` in
/// messages) when its key policy changes from `old` to `new` (each parsed,
/// with its JSON document).
fn diff_in(
    world: &kmsgov_authz::World,
    shown: &str,
    key: Option<&str>,
    old: &(Policy, serde_json::Value),
    new: &(Policy, serde_json::Value),
    context: Option<&serde_json::Value>,
) -> Result<diff::KeyDiff, DiffError> {
    let key =
        diff::choose_key(world, key).map_err(|e| DiffError::Other(format!("{shown}: {e}")))?;
    let env = environment(context, "").map_err(|e| DiffError::Context(e.to_string()))?;
    diff::diff(world, key, (&old.0, &old.1), (&new.0, &new.1), &env)
        .map_err(|e| DiffError::Other(e.to_string()))
}

/// `kmsgov policy diff` on documents rather than files: the old and new key
/// policies as JSON text, named `old` and `new` in messages.
///
/// # Errors
///
/// A policy is not a valid key policy, the key is not in the world (or the
/// world has several and none was named), or the context is invalid.
pub(crate) fn diff_documents(
    world: &kmsgov_authz::World,
    shown: &str,
    key: Option<&str>,
    old: &str,
    new: &str,
    context: Option<&serde_json::Value>,
) -> Result<diff::KeyDiff, DiffError> {
    let old = key_policy_text("old", old).map_err(DiffError::Other)?;
    let new = key_policy_text("new", new).map_err(DiffError::Other)?;
    diff_in(world, shown, key, &old, &new, context)
}
