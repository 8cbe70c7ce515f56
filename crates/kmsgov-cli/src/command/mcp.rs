//! `kmsgov mcp`: the Model Context Protocol over stdio, for AI agents
//! (docs/mcp.md).
//!
//! Every tool is read-only: it takes JSON arguments, asks the engine (or a
//! running server's decision API) and answers with what the engine decided,
//! with the decision path. No tool takes a file name, writes a file or
//! changes the world: the world is read once, at start-up, from the file on
//! the command line.

use std::path::PathBuf;
use std::sync::Arc;

use kmsgov_analysis::lint;
use kmsgov_authz::World;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{schemars, tool, tool_handler, tool_router, ErrorData, ServerHandler, ServiceExt};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::err;
use super::eval::{decide_in, load_world, BadArgument};
use super::explain::{document, explain_document, render_text};
use super::policy::{diff_documents, lint_document, DiffError};
use super::reach::{can_reach_report, context_map, who_can_report};
use super::remote::Remote;

/// Arguments of `kmsgov mcp`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["world", "server"])))]
pub(crate) struct Args {
    /// The world (a scenario file; its tests are ignored), read once at
    /// start-up. Every tool answers against it.
    #[arg(long)]
    world: Option<PathBuf>,
    /// A directory of guardrails (`*.rego`) added to the world
    /// (docs/guardrails.md).
    #[arg(long, requires = "world")]
    guardrails: Option<PathBuf>,
    /// Ask a running `kmsgov serve` instead, through its decision API
    /// (`http://HOST:PORT`): only `evaluate` and `explain` are offered.
    #[arg(long, value_name = "URL", conflicts_with = "world")]
    server: Option<String>,
    /// With `--server`: a file whose first line is the decision API's bearer
    /// token. Without it, requests are signed with SigV4 from
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN).
    #[arg(long, requires = "server")]
    token_file: Option<PathBuf>,
    /// With `--server` and SigV4: the region requests are signed for.
    #[arg(long, default_value = "us-east-1", requires = "server")]
    region: String,
}

/// Exit codes: 0 the client closed the connection, 2 bad arguments or the
/// world does not load, 1 the protocol failed.
pub(crate) fn run(args: &Args) -> u8 {
    let backend = match backend(args) {
        Ok(b) => b,
        Err(e) => {
            err(&format!("kmsgov mcp: {e}"));
            return 2;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            err(&format!("kmsgov mcp: cannot start the runtime: {e}"));
            return 1;
        }
    };
    let served = runtime.block_on(async {
        let service = Tools::new(backend)
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| e.to_string())?;
        service.waiting().await.map_err(|e| e.to_string())?;
        Ok::<(), String>(())
    });
    // Stdin may still be read by a blocking thread: do not wait for it.
    runtime.shutdown_background();
    match served {
        Ok(()) => 0,
        Err(e) => {
            err(&format!("kmsgov mcp: {e}"));
            1
        }
    }
}

fn backend(args: &Args) -> Result<Backend, String> {
    if let Some(url) = &args.server {
        let remote = Remote::new(url, args.token_file.as_deref(), &args.region)?;
        return Ok(Backend::Server(Arc::new(remote)));
    }
    let Some(path) = &args.world else {
        return Err("--world FILE or --server URL is required".into());
    };
    let world = load_world(path, args.guardrails.as_deref())?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "world".to_owned());
    Ok(Backend::World(Arc::new(Loaded { world, text, name })))
}

/// Where the answers come from.
#[derive(Debug, Clone)]
enum Backend {
    /// The engine in this process, on a world read at start-up.
    World(Arc<Loaded>),
    /// A running server's decision API.
    Server(Arc<Remote>),
}

/// A world read at start-up.
#[derive(Debug)]
struct Loaded {
    world: World,
    /// The file's text, for linting the world.
    text: String,
    /// The file's name, as findings and messages show it.
    name: String,
}

/// A request to decide.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(crate = "rmcp::schemars")]
struct RequestParams {
    /// The caller's ARN, e.g. `arn:aws:iam::111122223333:user/alice` or
    /// `arn:aws:sts::111122223333:assumed-role/App/s1`.
    principal: String,
    /// The KMS API operation, e.g. `Decrypt`, `Encrypt`, `CreateGrant`.
    operation: String,
    /// The request body exactly as the KMS JSON API takes it, e.g.
    /// `{"KeyId": "arn:aws:kms:…", "EncryptionContext": {"dept": "it"}}`.
    /// For `Decrypt`, `KeyId` names the key of the ciphertext.
    #[serde(default)]
    input: Option<Map<String, Value>>,
    /// Request facts that are not in the body (`aws:SourceIp`,
    /// `kms:ViaService`, `aws:CurrentTime`, …): strings or lists of strings.
    #[serde(default)]
    context: Option<Map<String, Value>>,
}

/// A who-can question.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(crate = "rmcp::schemars")]
struct WhoCanParams {
    /// The key: its ARN, key id or alias name (`alias/…`).
    key: String,
    /// The action, e.g. `kms:Decrypt`.
    action: String,
    /// Request facts the analysis keeps fixed, e.g.
    /// `{"kms:EncryptionContext:dept": "it"}`.
    #[serde(default)]
    context: Option<Map<String, Value>>,
    /// At most this many hops per path (assume-role, pass-role, grant, then
    /// the action on the key); 4 when absent.
    #[serde(default)]
    max_hops: Option<usize>,
}

/// A can-reach question.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(crate = "rmcp::schemars")]
struct CanReachParams {
    /// The principal's ARN.
    principal: String,
    /// Only these actions (e.g. `["kms:Decrypt"]`); every key action when
    /// absent or empty.
    #[serde(default)]
    actions: Option<Vec<String>>,
    /// Request facts the analysis keeps fixed.
    #[serde(default)]
    context: Option<Map<String, Value>>,
    /// At most this many hops per path; 4 when absent.
    #[serde(default)]
    max_hops: Option<usize>,
}

/// What to lint.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(crate = "rmcp::schemars")]
struct LintParams {
    /// An IAM policy document (a JSON object). When absent, every policy
    /// and grant of the loaded world is linted.
    #[serde(default)]
    policy: Option<Map<String, Value>>,
    /// The policy's role: `key` (the default), `identity`, `boundary`,
    /// `session`, `trust`, `scp`, `rcp` or `vpc-endpoint`.
    #[serde(default)]
    kind: Option<String>,
}

/// Two key policies to compare.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(crate = "rmcp::schemars")]
struct DiffParams {
    /// The current key policy document.
    old: Map<String, Value>,
    /// The proposed key policy document.
    new: Map<String, Value>,
    /// The key's ARN; optional when the world has one key.
    #[serde(default)]
    key: Option<String>,
    /// Request facts for every decision, e.g. `{"kms:ViaService": "…"}`.
    #[serde(default)]
    context: Option<Map<String, Value>>,
}

/// The MCP server: its tools and where their answers come from.
#[derive(Debug, Clone)]
struct Tools {
    backend: Backend,
    tool_router: ToolRouter<Self>,
}

/// The tools that need a world: not offered against a server.
const WORLD_TOOLS: [&str; 4] = ["who_can", "can_reach", "lint_policy", "diff_policies"];

const INSTRUCTIONS_WORLD: &str = "kmsgov answers AWS KMS authorization questions with its \
policy engine, against one world (accounts, principals, keys, grants, organization policies). \
Every tool is read-only. Quote the decision and the decision path (`path`: each layer the engine \
evaluated, its verdict and the statements, by Sid, that decided it) instead of reasoning about \
policies yourself.";

const INSTRUCTIONS_SERVER: &str = "kmsgov answers AWS KMS authorization questions with its \
policy engine, through a running server's decision API (its current keys, key policies and \
grants). Only `evaluate` and `explain` are offered; both are read-only. Quote the decision and \
the decision path instead of reasoning about policies yourself.";

#[tool_router]
impl Tools {
    fn new(backend: Backend) -> Tools {
        let mut tool_router = Self::tool_router();
        if matches!(backend, Backend::Server(_)) {
            for name in WORLD_TOOLS {
                tool_router.remove_route(name);
            }
        }
        Tools {
            backend,
            tool_router,
        }
    }

    /// Decides one KMS API request as AWS would: Allow, Deny or the error
    /// AWS gives, the message AWS would send, and the decision path (the
    /// same JSON as `kmsgov eval --format json`).
    #[tool(annotations(
        title = "Evaluate a KMS request",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn evaluate(
        &self,
        Parameters(params): Parameters<RequestParams>,
    ) -> Result<CallToolResult, ErrorData> {
        let input = Value::Object(params.input.unwrap_or_default());
        let context = params.context.map(Value::Object);
        let decided = match &self.backend {
            Backend::World(loaded) => decide_in(
                &loaded.world,
                &params.principal,
                &params.operation,
                input,
                context,
            )
            .map(|d| d.decision.to_json())
            .map_err(bad_request),
            Backend::Server(remote) => {
                remote
                    .decide(
                        &params.principal,
                        &params.operation,
                        &input,
                        context.as_ref(),
                    )
                    .await
            }
        };
        Ok(answer(decided))
    }

    /// Decides one KMS API request as `evaluate` does and answers with the
    /// explain document (`{"kind": "decision", "request", "decision"}`, as
    /// `kmsgov explain --format json` prints it), then the same as text.
    #[tool(annotations(
        title = "Explain a KMS decision",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn explain(
        &self,
        Parameters(params): Parameters<RequestParams>,
    ) -> Result<CallToolResult, ErrorData> {
        let input = Value::Object(params.input.unwrap_or_default());
        let context = params.context.map(Value::Object);
        match &self.backend {
            Backend::World(loaded) => {
                match decide_in(
                    &loaded.world,
                    &params.principal,
                    &params.operation,
                    input,
                    context,
                ) {
                    Ok(decided) => {
                        let mut result = CallToolResult::structured(explain_document(&decided));
                        result
                            .content
                            .push(ContentBlock::text(render_text(&decided)));
                        Ok(result)
                    }
                    Err(e) => Ok(answer(Err(bad_request(e)))),
                }
            }
            Backend::Server(remote) => {
                let decided = remote
                    .decide(
                        &params.principal,
                        &params.operation,
                        &input,
                        context.as_ref(),
                    )
                    .await
                    .map(|decision| {
                        document(
                            &params.principal,
                            &params.operation,
                            &input,
                            context.as_ref(),
                            decision,
                        )
                    });
                Ok(answer(decided))
            }
        }
    }

    /// Every principal that can perform an action on a key: directly, through
    /// grants, or by assuming or passing roles; each path hop by hop, with
    /// the statements (from the engine's decision paths) that allowed it.
    #[tool(annotations(
        title = "Who can use a key",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn who_can(
        &self,
        Parameters(params): Parameters<WhoCanParams>,
    ) -> Result<CallToolResult, ErrorData> {
        let loaded = self.world()?;
        let context = analysis_context(params.context);
        let report = who_can_report(
            &loaded.world,
            &params.key,
            &params.action,
            &context,
            params
                .max_hops
                .unwrap_or(kmsgov_analysis::reach::DEFAULT_MAX_HOPS),
        );
        Ok(answer(report.and_then(|r| encode(&r))))
    }

    /// Every key and KMS action a principal can reach, directly or through
    /// roles and grants, with each path and the statements that allowed it.
    #[tool(annotations(
        title = "What a principal can reach",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn can_reach(
        &self,
        Parameters(params): Parameters<CanReachParams>,
    ) -> Result<CallToolResult, ErrorData> {
        let loaded = self.world()?;
        let context = analysis_context(params.context);
        let report = can_reach_report(
            &loaded.world,
            &params.principal,
            &params.actions.unwrap_or_default(),
            &context,
            params
                .max_hops
                .unwrap_or(kmsgov_analysis::reach::DEFAULT_MAX_HOPS),
        );
        Ok(answer(report.and_then(|r| encode(&r))))
    }

    /// Finds risky, broken or pointless policies (rules KG001… of
    /// docs/lint.md) in one policy document, or in every policy and grant of
    /// the world: each finding with its rule id, severity, JSON pointer and
    /// fix.
    #[tool(annotations(
        title = "Lint a policy",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn lint_policy(
        &self,
        Parameters(params): Parameters<LintParams>,
    ) -> Result<CallToolResult, ErrorData> {
        let loaded = self.world()?;
        let kind = params.kind.as_deref().unwrap_or("key");
        let Some(role) = lint::Role::from_name(kind) else {
            return Ok(answer(Err(format!("kind: unknown policy type `{kind}`"))));
        };
        let findings = match params.policy {
            Some(policy) => lint_document("policy", &Value::Object(policy).to_string(), role),
            None => lint_document(&loaded.name, &loaded.text, role),
        };
        Ok(answer(findings.map(|mut findings| {
            lint::sort(&mut findings);
            lint::to_json(&findings)
        })))
    }

    /// Who gains or loses which action on a key of the world when its key
    /// policy changes from `old` to `new`, as the engine decides each
    /// request before and after.
    #[tool(annotations(
        title = "Diff two key policies",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn diff_policies(
        &self,
        Parameters(params): Parameters<DiffParams>,
    ) -> Result<CallToolResult, ErrorData> {
        let loaded = self.world()?;
        let old = Value::Object(params.old).to_string();
        let new = Value::Object(params.new).to_string();
        let context = params.context.map(Value::Object);
        let diff = diff_documents(
            &loaded.world,
            &loaded.name,
            params.key.as_deref(),
            &old,
            &new,
            context.as_ref(),
        )
        .map(|d| d.to_json())
        .map_err(|e| match e {
            DiffError::Context(e) => format!("context: {e}"),
            DiffError::Other(e) => e,
        });
        Ok(answer(diff))
    }
}

impl Tools {
    /// The world, for the tools that need one.
    fn world(&self) -> Result<&Loaded, ErrorData> {
        match &self.backend {
            Backend::World(loaded) => Ok(loaded),
            Backend::Server(_) => Err(ErrorData::invalid_request(
                "this tool needs a world: start `kmsgov mcp --world FILE`",
                None,
            )),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        let instructions = match self.backend {
            Backend::World(_) => INSTRUCTIONS_WORLD,
            Backend::Server(_) => INSTRUCTIONS_SERVER,
        };
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("kmsgov", env!("CARGO_PKG_VERSION")))
            .with_instructions(instructions)
    }
}

/// Request facts for the analyses: an object (absent is empty).
fn analysis_context(context: Option<Map<String, Value>>) -> Map<String, Value> {
    context_map(context.map(Value::Object)).unwrap_or_default()
}

/// A tool's answer: the engine's JSON, or why it gave none as a tool error
/// (`isError`, with `{"error": MESSAGE}`), which the agent can read and
/// correct, as the protocol asks for arguments a tool cannot take.
fn answer(result: Result<Value, String>) -> CallToolResult {
    match result {
        Ok(value) => CallToolResult::structured(value),
        Err(message) => CallToolResult::structured_error(json!({ "error": message })),
    }
}

fn bad_request(e: BadArgument) -> String {
    format!("{}: {}", e.argument, e.message)
}

/// A report as JSON.
fn encode<R: serde::Serialize>(report: &R) -> Result<Value, String> {
    serde_json::to_value(report).map_err(|e| format!("cannot encode the report: {e}"))
}
