//! `kmsgov test PATH…`: run scenario tests (contract: docs/scenario-format.md).

use std::path::{Path, PathBuf};

use kmsgov_authz::{Scenario, TestResult};

use super::{add_guardrail_dir, err, out};

/// Arguments of `kmsgov test`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Scenario files or directories.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// A directory of guardrails (`*.rego`), added to every scenario's world
    /// after its own (docs/guardrails.md).
    #[arg(long)]
    guardrails: Option<PathBuf>,
}

/// Exit codes: 0 all pass, 1 a test failed, 2 a file is unreadable or invalid.
pub(crate) fn run(args: &Args) -> u8 {
    let mut files = Vec::new();
    let mut bad_files = 0usize;
    for p in &args.paths {
        if let Err(e) = collect(p, &mut files) {
            err(&format!("{}: {e}", p.display()));
            bad_files += 1;
        }
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in &files {
        let shown = file.display();
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                err(&format!("{shown}: cannot read: {e}"));
                bad_files += 1;
                continue;
            }
        };
        let mut scenario = match Scenario::parse(&text) {
            Ok(s) => s,
            Err(e) => {
                err(&format!("{shown}: {e}"));
                bad_files += 1;
                continue;
            }
        };
        if let Some(dir) = &args.guardrails {
            if let Err(e) = add_guardrail_dir(&mut scenario.world, dir) {
                err(&e);
                bad_files += 1;
                continue;
            }
        }
        if !scenario.world.guardrails.is_empty() {
            // How each guardrail is evaluated (docs/guardrails.md).
            let list: Vec<String> = scenario
                .world
                .guardrails
                .iter()
                .map(|g| format!("{} ({})", g.name(), g.evaluation()))
                .collect();
            out(&format!("{shown}: guardrails {}\n", list.join(", ")));
        }
        for test in &scenario.tests {
            match scenario.run(test) {
                Ok(TestResult::Pass) => passed += 1,
                Ok(TestResult::Fail { actual, message }) => {
                    failed += 1;
                    let reason = test
                        .reason
                        .as_deref()
                        .map(|r| format!(", reason containing {r:?}"))
                        .unwrap_or_default();
                    out(&format!(
                        "FAIL {shown}: {}: expected {}{reason}, got {}: {message}\n",
                        test.name,
                        test.expect.name(),
                        actual.name()
                    ));
                }
                Err(e) => {
                    err(&format!("{shown}: {e}"));
                    bad_files += 1;
                }
            }
        }
    }
    out(&format!("{passed} passed, {failed} failed\n"));
    if bad_files > 0 {
        2
    } else if failed > 0 {
        1
    } else {
        0
    }
}

/// Files named directly, and `*.json` below directories, in sorted order.
fn collect(path: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            if e.is_dir() {
                collect(&e, files)?;
            } else if e.extension().is_some_and(|x| x == "json") {
                files.push(e);
            }
        }
        Ok(())
    } else if path.exists() {
        files.push(path.to_owned());
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such file or directory",
        ))
    }
}
