//! One module per subcommand.

pub(crate) mod audit;
pub(crate) mod bench;
pub(crate) mod eval;
pub(crate) mod explain;
pub(crate) mod governance;
pub(crate) mod mcp;
pub(crate) mod migrate;
pub(crate) mod policy;
pub(crate) mod reach;
pub(crate) mod receipt;
pub(crate) mod remote;
pub(crate) mod serve;
pub(crate) mod test;

use std::io::Write;
use std::path::Path;

use kmsgov_authz::World;

/// Writes to stdout; a closed pipe (`kmsgov … | head`) is not an error.
pub(crate) fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Writes a line to stderr.
pub(crate) fn err(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{text}");
}

/// Adds the guardrails of a directory to a world: every `*.rego` file (not
/// recursive, sorted by name), named by its file name without `.rego`
/// (docs/guardrails.md).
///
/// # Errors
///
/// The directory or a file cannot be read, or a module does not load (the
/// message names the file, the guardrail, and the line and column).
pub(crate) fn add_guardrail_dir(world: &mut World, dir: &Path) -> Result<(), String> {
    let shown = dir.display();
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{shown}: cannot read: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "rego"))
        .collect();
    files.sort();
    let mut sources = Vec::with_capacity(files.len());
    for file in &files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
        let name = file
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if world.guardrails.iter().any(|g| g.name() == name) {
            return Err(format!(
                "{}: guardrail `{name}` is already in the world",
                file.display()
            ));
        }
        sources.push((name, text));
    }
    world.add_guardrails(sources).map_err(|e| {
        let file = dir.join(format!("{}.rego", e.name));
        format!("{}: {e}", file.display())
    })
}
