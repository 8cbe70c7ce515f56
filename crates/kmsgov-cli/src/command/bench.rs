//! `kmsgov bench`: load on a KMS endpoint, one JSON line of results.
//!
//! The endpoint may be kmsgov or any server that speaks the KMS JSON 1.1
//! protocol (moto's, say), so the same client measures both. Each client is
//! one task on one kept-alive HTTP/1.1 connection that sends its next
//! request when the previous answer has arrived (a closed loop), so
//! `--clients` is the concurrency. Every request is signed afresh with SigV4
//! by the `aws-sigv4` crate, as the AWS SDKs sign.
//!
//! Before the timed run the command creates a symmetric key (unless
//! `--key-id` names one) and, for Decrypt, one ciphertext that every request
//! then decrypts. A warm-up period runs first and is not counted. Requests
//! answered with an error count as errors, by `__type`; transport failures
//! count as errors too, and the client reconnects.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use super::{err, out};

/// The operations `kmsgov bench` can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BenchOp {
    /// Encrypt `--plaintext-bytes` random bytes.
    #[value(name = "Encrypt")]
    Encrypt,
    /// Decrypt one ciphertext of `--plaintext-bytes` bytes.
    #[value(name = "Decrypt")]
    Decrypt,
    /// GenerateDataKey with KeySpec AES_256.
    #[value(name = "GenerateDataKey")]
    GenerateDataKey,
    /// CreateKey: a new symmetric key per request.
    #[value(name = "CreateKey")]
    CreateKey,
}

impl BenchOp {
    fn name(self) -> &'static str {
        match self {
            BenchOp::Encrypt => "Encrypt",
            BenchOp::Decrypt => "Decrypt",
            BenchOp::GenerateDataKey => "GenerateDataKey",
            BenchOp::CreateKey => "CreateKey",
        }
    }
}

/// Arguments of `kmsgov bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The endpoint, `http://host:port` (plain HTTP). Repeat it to spread
    /// the clients over several servers (client `i` uses endpoint `i` modulo
    /// their number); the key is made through the first.
    #[arg(long, required = true)]
    endpoint: Vec<String>,
    /// The operation to send.
    #[arg(long, value_enum, ignore_case = true, default_value = "Encrypt")]
    op: BenchOp,
    /// Concurrent clients, each on its own connection.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Seconds to measure.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds to run before measuring.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Plaintext size for Encrypt and Decrypt.
    #[arg(long, default_value_t = 100)]
    plaintext_bytes: usize,
    /// The key to use; without it a new symmetric key is created.
    #[arg(long)]
    key_id: Option<String>,
    /// The Region in the signature's scope.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// The access key id [default: $AWS_ACCESS_KEY_ID].
    #[arg(long)]
    access_key_id: Option<String>,
    /// The secret access key [default: $AWS_SECRET_ACCESS_KEY].
    #[arg(long)]
    secret_access_key: Option<String>,
    /// A name for this run, copied into the output.
    #[arg(long)]
    label: Option<String>,
    /// A data-use policy (JSON file) to publish and bind every ciphertext
    /// to (through the `kmsgov:policy` encryption-context entry); Decrypt
    /// and GenerateDataKey then state its first purpose, so each answer
    /// carries a use receipt.
    #[arg(long)]
    data_policy: Option<std::path::PathBuf>,
    /// A server to compare with, in the same run: the same operation is
    /// measured there first (without `--data-policy`), then on
    /// `--endpoint`, and the report gives both and their ratio. Repeat it
    /// as `--endpoint`.
    #[arg(long)]
    baseline_endpoint: Vec<String>,
}

/// The longest `--duration` or `--warmup` (a day).
const MAX_SECONDS: u64 = 86_400;

/// Exit codes: 0 when the run completed with at least one success (errors
/// are in the output), 1 when setup failed or nothing succeeded, 2 for bad
/// arguments.
pub(crate) fn run(args: &Args) -> u8 {
    let targets = match args
        .endpoint
        .iter()
        .map(|e| Target::new(args, e))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(t) => t,
        Err(e) => {
            err(&format!("kmsgov bench: {e}"));
            return 2;
        }
    };
    let seconds = |s: f64| {
        Duration::try_from_secs_f64(s)
            .ok()
            .filter(|d| d.as_secs() < MAX_SECONDS)
    };
    let (Some(duration), Some(warmup)) = (seconds(args.duration), seconds(args.warmup)) else {
        err(&format!(
            "kmsgov bench: --duration and --warmup must be seconds from 0 to {MAX_SECONDS}"
        ));
        return 2;
    };
    if args.clients == 0 || duration.is_zero() {
        err("kmsgov bench: --clients and --duration must be positive");
        return 2;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            err(&format!("kmsgov bench: cannot start the runtime: {e}"));
            return 1;
        }
    };
    let baseline = match args
        .baseline_endpoint
        .iter()
        .map(|e| Target::new(args, e))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(t) => t,
        Err(e) => {
            err(&format!("kmsgov bench: {e}"));
            return 2;
        }
    };
    let policy = match &args.data_policy {
        None => None,
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) => {
                err(&format!("kmsgov bench: {}: {e}", path.display()));
                return 2;
            }
        },
    };
    let run = async {
        if baseline.is_empty() {
            return bench(args, &targets, policy.as_deref(), warmup, duration).await;
        }
        let base = bench(args, &baseline, None, warmup, duration).await?;
        let main = bench(args, &targets, policy.as_deref(), warmup, duration).await?;
        let rate = |r: &Value| {
            r.get("requests_per_s")
                .and_then(Value::as_f64)
                .unwrap_or(0.0)
        };
        let ratio = if rate(&base) > 0.0 {
            round(rate(&main) / rate(&base), 3)
        } else {
            0.0
        };
        let requests = main.get("requests").cloned().unwrap_or(Value::Null);
        Ok(json!({
            "op": args.op.name(),
            "clients": args.clients,
            "baseline": base,
            "measured": main,
            "ratio": ratio,
            "requests": requests,
        }))
    };
    match runtime.block_on(run) {
        Ok(report) => {
            let succeeded = report.get("requests").and_then(Value::as_u64).unwrap_or(0);
            out(&format!("{report}\n"));
            if succeeded == 0 {
                err("kmsgov bench: no request succeeded");
                1
            } else {
                0
            }
        }
        Err(e) => {
            err(&format!("kmsgov bench: {e}"));
            1
        }
    }
}

/// Where requests go and how they are signed.
#[derive(Debug, Clone)]
struct Target {
    /// `host:port`, for connecting and for the `Host` header.
    authority: String,
    /// The endpoint URL as signed.
    url: String,
    region: String,
    identity: Identity,
}

impl Target {
    fn new(args: &Args, endpoint: &str) -> Result<Target, String> {
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|e| format!("--endpoint {endpoint}: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!(
                "--endpoint {endpoint}: only http:// endpoints are supported"
            ));
        }
        let host = uri
            .host()
            .ok_or_else(|| format!("--endpoint {endpoint}: no host"))?;
        let authority = format!("{host}:{}", uri.port_u16().unwrap_or(80));
        let from_env = |value: &Option<String>, var: &str| {
            value
                .clone()
                .or_else(|| std::env::var(var).ok())
                .ok_or_else(|| format!("no credentials: pass them or set {var}"))
        };
        let access_key_id = from_env(&args.access_key_id, "AWS_ACCESS_KEY_ID")?;
        let secret = from_env(&args.secret_access_key, "AWS_SECRET_ACCESS_KEY")?;
        let session_token = std::env::var("AWS_SESSION_TOKEN").ok();
        let credentials = Credentials::new(access_key_id, secret, session_token, None, "bench");
        Ok(Target {
            url: format!("http://{authority}/"),
            authority,
            region: args.region.clone(),
            identity: credentials.into(),
        })
    }

    /// A signed `POST /` for `operation` with `body`.
    fn request(&self, operation: &str, body: &[u8]) -> Result<http::Request<Full<Bytes>>, String> {
        // kmsgov's own operations carry their prefix (`KmsGov.Name`).
        let target = if operation.contains('.') {
            operation.to_owned()
        } else {
            format!("TrentService.{operation}")
        };
        let headers = [
            ("host", self.authority.as_str()),
            ("content-type", kmsgov_server::CONTENT_TYPE),
            ("x-amz-target", target.as_str()),
        ];
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("kms")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("signing: {e}"))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            self.url.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| format!("signing: {e}"))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| format!("signing: {e}"))?
            .into_parts();
        let mut builder = http::Request::builder().method("POST").uri("/");
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let mut request = builder
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| format!("building a request: {e}"))?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }
}

/// One connection, kept alive while the server allows.
struct Connection {
    sender: SendRequest<Full<Bytes>>,
}

impl Connection {
    async fn open(target: &Target) -> Result<Connection, String> {
        let stream = tokio::net::TcpStream::connect(&target.authority)
            .await
            .map_err(|e| format!("connecting to {}: {e}", target.authority))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("setting TCP_NODELAY: {e}"))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {}: {e}", target.authority))?;
        tokio::spawn(connection);
        Ok(Connection { sender })
    }

    /// Sends a request: the status, the body, and whether the server keeps
    /// the connection open for another request (an HTTP/1.0 server, or one
    /// that answers `Connection: close`, does not).
    async fn call(
        &mut self,
        request: http::Request<Full<Bytes>>,
    ) -> Result<(u16, Bytes, bool), String> {
        self.sender
            .ready()
            .await
            .map_err(|e| format!("connection: {e}"))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = response.status().as_u16();
        let keep_alive = response.version() == http::Version::HTTP_11
            && !response
                .headers()
                .get_all(http::header::CONNECTION)
                .iter()
                .any(|v| v.to_str().is_ok_and(|v| v.eq_ignore_ascii_case("close")));
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("response body: {e}"))?
            .to_bytes();
        Ok((status, body, keep_alive))
    }
}

/// A call on a connection of its own whose answer must be a success: its
/// JSON body.
async fn call_ok(target: &Target, operation: &str, body: &Value) -> Result<Value, String> {
    let mut connection = Connection::open(target).await?;
    let request = target.request(operation, body.to_string().as_bytes())?;
    let (status, bytes, _) = connection.call(request).await?;
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status == 200 {
        Ok(value)
    } else {
        Err(format!(
            "{operation} answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        ))
    }
}

/// Publishes `policy` and returns the encryption context that binds it and
/// the purpose to state.
async fn publish(target: &Target, policy: &str) -> Result<(Value, String), String> {
    let document: Value =
        serde_json::from_str(policy).map_err(|e| format!("--data-policy: {e}"))?;
    let purpose = document
        .pointer("/Purposes/0")
        .and_then(Value::as_str)
        .ok_or("--data-policy: no Purposes")?
        .to_owned();
    let published = call_ok(target, "KmsGov.PublishPolicy", &json!({"Policy": policy})).await?;
    let id = published
        .get("PolicyId")
        .and_then(Value::as_str)
        .ok_or("PublishPolicy answered without PolicyId")?;
    Ok((json!({"kmsgov:policy": id}), purpose))
}

/// Creates what the run needs and returns the body every request sends.
async fn prepare(args: &Args, target: &Target, policy: Option<&str>) -> Result<Value, String> {
    let (context, purpose) = match policy {
        Some(policy) => {
            let (context, purpose) = publish(target, policy).await?;
            (Some(context), Some(purpose))
        }
        None => (None, None),
    };
    let body = prepare_plain(args, target, context.as_ref()).await?;
    Ok(match (body, purpose) {
        (Value::Object(mut map), Some(purpose))
            if matches!(args.op, BenchOp::Decrypt | BenchOp::GenerateDataKey) =>
        {
            map.insert("Purpose".into(), Value::String(purpose));
            Value::Object(map)
        }
        (body, _) => body,
    })
}

async fn prepare_plain(
    args: &Args,
    target: &Target,
    context: Option<&Value>,
) -> Result<Value, String> {
    if args.op == BenchOp::CreateKey {
        return Ok(json!({"Description": "kmsgov bench"}));
    }
    let key_id = match &args.key_id {
        Some(id) => id.clone(),
        None => {
            let created =
                call_ok(target, "CreateKey", &json!({"Description": "kmsgov bench"})).await?;
            created
                .pointer("/KeyMetadata/KeyId")
                .and_then(Value::as_str)
                .ok_or("CreateKey answered without KeyMetadata.KeyId")?
                .to_owned()
        }
    };
    let plaintext =
        base64::engine::general_purpose::STANDARD.encode(random_bytes(args.plaintext_bytes)?);
    let context = context.cloned().unwrap_or_else(|| json!({}));
    Ok(match args.op {
        BenchOp::Encrypt => {
            json!({"KeyId": key_id, "Plaintext": plaintext, "EncryptionContext": context})
        }
        BenchOp::GenerateDataKey => {
            json!({"KeyId": key_id, "KeySpec": "AES_256", "EncryptionContext": context})
        }
        BenchOp::CreateKey => json!({"Description": "kmsgov bench"}),
        BenchOp::Decrypt => {
            let encrypted = call_ok(
                target,
                "Encrypt",
                &json!({"KeyId": key_id, "Plaintext": plaintext, "EncryptionContext": context}),
            )
            .await?;
            let blob = encrypted
                .get("CiphertextBlob")
                .and_then(Value::as_str)
                .ok_or("Encrypt answered without CiphertextBlob")?;
            json!({"KeyId": key_id, "CiphertextBlob": blob, "EncryptionContext": context})
        }
    })
}

fn random_bytes(n: usize) -> Result<Vec<u8>, String> {
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| "no randomness".to_owned())?;
    Ok(bytes)
}

/// What one client saw in the measured period.
#[derive(Debug, Default)]
struct Tally {
    /// Latency of each successful request, in microseconds.
    latencies_us: Vec<u64>,
    errors: BTreeMap<String, u64>,
}

impl Tally {
    fn error(&mut self, kind: String) {
        *self.errors.entry(kind).or_insert(0) += 1;
    }
}

async fn client(
    target: Target,
    operation: &'static str,
    body: Vec<u8>,
    measure_from: Instant,
    end: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut connection: Option<Connection> = None;
    loop {
        let started = Instant::now();
        if started >= end {
            return tally;
        }
        let counted = started >= measure_from;
        // A connection the server closed after its last answer is opened
        // again; the time that takes is part of the request's latency.
        let reusable = connection.as_ref().is_some_and(|c| !c.sender.is_closed());
        if !reusable {
            connection = None;
        }
        let conn = match connection.as_mut() {
            Some(c) => c,
            None => match Connection::open(&target).await {
                Ok(c) => connection.insert(c),
                Err(_) => {
                    if counted {
                        tally.error("ConnectError".to_owned());
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let outcome = match target.request(operation, &body) {
            Ok(request) => conn.call(request).await,
            Err(e) => Err(e),
        };
        let elapsed = started.elapsed();
        match outcome {
            Ok((status, body, keep_alive)) => {
                if !keep_alive {
                    connection = None;
                }
                if !counted {
                    continue;
                }
                if status == 200 {
                    tally
                        .latencies_us
                        .push(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
                } else {
                    tally.error(error_type(status, &body));
                }
            }
            Err(_) => {
                connection = None;
                if counted {
                    tally.error("TransportError".to_owned());
                }
            }
        }
    }
}

/// The `__type` of an error answer (its last `#`-separated part, as some
/// servers send `com.amazonaws.kms#Name`), else the status.
fn error_type(status: u16, body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("__type").and_then(Value::as_str).map(str::to_owned))
        .map(|t| t.rsplit('#').next().unwrap_or(&t).to_owned())
        .unwrap_or_else(|| format!("HTTP {status}"))
}

async fn bench(
    args: &Args,
    targets: &[Target],
    policy: Option<&str>,
    warmup: Duration,
    duration: Duration,
) -> Result<Value, String> {
    let first = targets.first().ok_or("no --endpoint")?;
    let body = prepare(args, first, policy).await?.to_string().into_bytes();
    let measure_from = Instant::now() + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::with_capacity(args.clients);
    for (_, target) in (0..args.clients).zip(targets.iter().cycle()) {
        tasks.push(tokio::spawn(client(
            target.clone(),
            args.op.name(),
            body.clone(),
            measure_from,
            end,
        )));
    }
    let mut latencies = Vec::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for task in tasks {
        let tally = task.await.map_err(|e| format!("a client failed: {e}"))?;
        latencies.extend(tally.latencies_us);
        for (kind, n) in tally.errors {
            *errors.entry(kind).or_insert(0) += n;
        }
    }
    // Requests in flight at `end` finish after it; the period is what the
    // clients really took.
    let measured = measure_from.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let requests = latencies.len();
    let error_count: u64 = errors.values().sum();
    let ms = |us: u64| (us as f64) / 1000.0;
    let endpoints: Vec<String> = targets
        .iter()
        .map(|t| format!("http://{}", t.authority))
        .collect();
    let endpoint = match endpoints.as_slice() {
        [one] => Value::from(one.as_str()),
        many => Value::from(many.to_vec()),
    };
    let mut report = json!({
        "endpoint": endpoint,
        "op": args.op.name(),
        "clients": args.clients,
        "plaintext_bytes": args.plaintext_bytes,
        "duration_s": round(measured, 3),
        "requests": requests,
        "errors": error_count,
        "requests_per_s": round(requests as f64 / measured, 1),
        "p50_ms": round(ms(percentile(&latencies, 0.50)), 3),
        "p99_ms": round(ms(percentile(&latencies, 0.99)), 3),
        "max_ms": round(ms(latencies.last().copied().unwrap_or(0)), 3),
        "error_types": errors,
        "data_policy": policy.is_some(),
    });
    if let (Some(label), Some(object)) = (&args.label, report.as_object_mut()) {
        object.insert("label".to_owned(), Value::from(label.as_str()));
    }
    Ok(report)
}

/// The nearest-rank percentile of sorted values (0 when there are none).
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len() - 1))
        .copied()
        .unwrap_or(0)
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 0.50), 50);
        assert_eq!(percentile(&values, 0.99), 99);
        assert_eq!(percentile(&values, 1.0), 100);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn error_types_are_named_without_a_namespace() {
        assert_eq!(
            error_type(400, br#"{"__type":"com.amazonaws.kms#NotFoundException"}"#),
            "NotFoundException"
        );
        assert_eq!(
            error_type(400, br#"{"__type":"AccessDeniedException","message":"x"}"#),
            "AccessDeniedException"
        );
        assert_eq!(error_type(502, b"bad gateway"), "HTTP 502");
    }
}
