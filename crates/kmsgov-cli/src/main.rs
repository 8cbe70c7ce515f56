//! `kmsgov`: the command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod command;

/// kmsgov: AWS KMS authorization you can see, test and prove.
#[derive(Debug, Parser)]
#[command(name = "kmsgov", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the tests in scenario files (directories are searched for *.json).
    Test(command::test::Args),
    /// Decide one request against a scenario's world and show the decision path.
    Eval(command::eval::Args),
    /// Decide one request as `eval` does and print it with its request as an
    /// explain document; `--html` also writes the page that draws it.
    Explain(command::explain::Args),
    /// Every principal that can perform an action on a key, directly, through
    /// grants, or by assuming or passing roles, with each path.
    WhoCan(command::reach::WhoCanArgs),
    /// Every key and KMS action a principal can reach, directly or through roles.
    CanReach(command::reach::CanReachArgs),
    /// Answer an AI agent's questions over the Model Context Protocol (stdio):
    /// read-only tools that evaluate, explain, who-can, can-reach, lint and
    /// diff, each answering with the engine's decision (docs/mcp.md).
    Mcp(command::mcp::Args),
    /// Work with IAM policy documents.
    #[command(subcommand)]
    Policy(command::policy::Command),
    /// Run the KMS-compatible server (AWS JSON 1.1 with SigV4) on a SQLite store.
    Serve(command::serve::Args),
    /// Drives a KMS endpoint with signed requests from concurrent clients
    /// and prints requests/s, latency percentiles and errors as one JSON line.
    Bench(command::bench::Args),
    /// Moves a data directory's SQLite store and audit log into a
    /// PostgreSQL database, then checks both arrived whole.
    Migrate(command::migrate::Args),
    /// The audit log of a data directory: verify it, save its checkpoint,
    /// list its decisions.
    #[command(subcommand)]
    Audit(command::audit::Command),
    /// The governance chain: make and use administrator keys, verify the
    /// chain against pinned keys, list its records.
    #[command(subcommand)]
    Governance(command::governance::Command),
    /// Use receipts: verify one for a use, narrow it, inspect it, or print
    /// the key that signs them.
    #[command(subcommand)]
    Receipt(command::receipt::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Test(args) => command::test::run(&args),
        Command::Eval(args) => command::eval::run(&args),
        Command::Explain(args) => command::explain::run(&args),
        Command::WhoCan(args) => command::reach::who_can(&args),
        Command::CanReach(args) => command::reach::can_reach(&args),
        Command::Mcp(args) => command::mcp::run(&args),
        Command::Policy(cmd) => command::policy::run(&cmd),
        Command::Serve(args) => command::serve::run(&args),
        Command::Bench(args) => command::bench::run(&args),
        Command::Migrate(args) => command::migrate::run(&args),
        Command::Audit(cmd) => command::audit::run(&cmd),
        Command::Governance(cmd) => command::governance::run(&cmd),
        Command::Receipt(cmd) => command::receipt::run(&cmd),
    };
    ExitCode::from(code)
}
