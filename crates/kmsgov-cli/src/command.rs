//! One module per subcommand.

pub(crate) mod audit;
pub(crate) mod bench;
pub(crate) mod eval;
pub(crate) mod explain;
pub(crate) mod policy;
pub(crate) mod reach;
pub(crate) mod serve;
pub(crate) mod test;

use std::io::Write;

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
