//! `kmsgov policy …`: IAM policy documents.

use std::path::PathBuf;

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
}

/// Exit codes: 0 all valid, 1 a policy is invalid, 2 a file is unreadable.
pub(crate) fn run(cmd: &Command) -> u8 {
    let (kind, files) = match cmd {
        Command::Validate { kind, files } => (kind, files),
        Command::Id { files } => return run_id(files),
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
