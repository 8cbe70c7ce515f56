//! Guardrails: Rego policies that can deny a request the policy layers
//! allowed, never allow one (`docs/guardrails.md`).
//!
//! A guardrail is one Rego module. Its rule `deny`, a set of strings, is
//! evaluated as `data.<package>.deny` against the input document the engine
//! builds for the request (`docs/guardrail-input.schema.json`); a non-empty
//! set denies with those messages. Modules are parsed and checked once, when
//! the world is loaded, and compiled when their `deny` rules are in the
//! fragment of Rego that `compiled` evaluates natively; each decision
//! evaluates the compiled form, and the prepared module when the compiled
//! form cannot decide.

mod compiled;

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use regorus::utils::limits::ExecutionTimerConfig;

pub use compiled::Evaluation;
pub(crate) use compiled::{walk, Input};
use compiled::{Outcome, Plan};

/// The wall-clock time one guardrail may take on one request. A guardrail
/// that takes longer stops with an error, and the request is denied.
pub const GUARDRAIL_TIME_LIMIT: Duration = Duration::from_millis(100);

/// A compiled guardrail.
#[derive(Debug, Clone)]
pub struct Guardrail {
    name: String,
    rule: String,
    engine: regorus::Engine,
    plan: Option<Plan>,
}

/// A guardrail that does not load: a Rego syntax error, or no `deny` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardrailError {
    /// The guardrail's name.
    pub name: String,
    /// 1-based line of the error in the Rego source, when the parser gives one.
    pub line: Option<u32>,
    /// 1-based column of the error, when the parser gives one.
    pub column: Option<u32>,
    /// What is wrong, as the Rego parser says it.
    pub message: String,
}

impl fmt::Display for GuardrailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "guardrail `{}`", self.name)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ", line {line}, column {column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for GuardrailError {}

/// What one guardrail says about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// `deny` is empty (or undefined).
    Pass,
    /// `deny` holds these messages (sorted, as Rego sets are).
    Deny(Vec<String>),
    /// Evaluation failed; the request is denied.
    Error(String),
}

impl Guardrail {
    /// Parses a Rego module and checks that it defines `deny`. Rego v1 syntax
    /// is tried first, then v0 (`deny[msg] { … }`). When neither parses, the
    /// error reported is the v1 parser's, unless it only says that a v1
    /// keyword is missing (the module is then v0, and the v0 error is the
    /// one that locates the mistake).
    pub fn compile(name: &str, source: &str) -> Result<Guardrail, GuardrailError> {
        let v1 = Self::compile_with(name, source, false);
        match v1 {
            Ok(g) => Ok(g),
            Err(e1) => Self::compile_with(name, source, true).map_err(|e0| {
                if e1.message.contains("keyword is required") {
                    e0
                } else {
                    e1
                }
            }),
        }
    }

    fn compile_with(name: &str, source: &str, v0: bool) -> Result<Guardrail, GuardrailError> {
        let mut engine = regorus::Engine::new();
        engine.set_rego_v0(v0);
        engine.set_execution_timer_config(ExecutionTimerConfig {
            limit: GUARDRAIL_TIME_LIMIT,
            check_interval: NonZeroU32::MIN.saturating_add(63),
        });
        let package = engine
            .add_policy(name.to_owned(), source.to_owned())
            .map_err(|e| load_error(name, &e.to_string()))?;
        let rule = format!("{package}.deny");
        // Compiling checks the rule exists and prepares the engine: clones
        // made for each request start from the prepared form.
        engine
            .compile_with_entrypoint(&rule.as_str().into())
            .map_err(|e| {
                let mut err = load_error(name, &e.to_string());
                err.message = format!("{package} has no rule `deny` ({})", err.message);
                err
            })?;
        // `print` output is kept in the engine (and dropped with each
        // request's clone), never written to stderr: the engine does no I/O.
        engine.set_gather_prints(true);
        let plan = engine
            .get_modules()
            .first()
            .and_then(|m| compiled::compile(m))
            .filter(|p| p.evaluation() != Evaluation::Interpreted);
        Ok(Guardrail {
            name: name.to_owned(),
            rule,
            engine,
            plan,
        })
    }

    /// The guardrail's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rule evaluated, `data.<package>.deny`.
    pub fn rule(&self) -> &str {
        &self.rule
    }

    /// How the guardrail is evaluated: compiled, guarded by a compiled
    /// test, or by the interpreter only (`docs/guardrails.md`).
    pub fn evaluation(&self) -> Evaluation {
        self.plan
            .as_ref()
            .map_or(Evaluation::Interpreted, Plan::evaluation)
    }

    /// Are all of the guardrail's `deny` rules compiled?
    pub fn compiled(&self) -> bool {
        self.evaluation() == Evaluation::Compiled
    }

    /// The same guardrail, always evaluated by the interpreter: the
    /// reference the compiled form is compared with.
    #[doc(hidden)]
    pub fn interpreted(&self) -> Guardrail {
        Guardrail {
            plan: None,
            ..self.clone()
        }
    }

    /// Evaluates `deny` against an input document: with the compiled form
    /// when it decides, else with the interpreter.
    pub(crate) fn evaluate<I: Input + ?Sized>(&self, input: &I) -> Verdict {
        if let Some(plan) = &self.plan {
            match plan.evaluate(input) {
                Outcome::Pass => return Verdict::Pass,
                Outcome::Deny(messages) => return Verdict::Deny(messages),
                Outcome::Interpret => {}
            }
        }
        self.interpret(input.document())
    }

    /// Evaluates `deny` with the interpreter.
    fn interpret(&self, input: &regorus::Value) -> Verdict {
        let mut engine = self.engine.clone();
        engine.set_input(input.clone());
        match engine.eval_rule(self.rule.clone()) {
            Err(e) => {
                let e = load_error(&self.name, &e.to_string());
                Verdict::Error(match (e.line, e.column) {
                    (Some(l), Some(c)) => format!("line {l}, column {c}: {}", e.message),
                    _ => e.message,
                })
            }
            Ok(regorus::Value::Undefined) => Verdict::Pass,
            Ok(value) => match value.as_set() {
                Ok(set) if set.is_empty() => Verdict::Pass,
                Ok(set) => Verdict::Deny(
                    set.iter()
                        .map(|m| match m.as_string() {
                            Ok(s) => s.to_string(),
                            Err(_) => m.to_json_str().unwrap_or_default(),
                        })
                        .collect(),
                ),
                Err(_) => Verdict::Error(format!(
                    "`deny` must be a set of strings, not {}",
                    value.to_json_str().unwrap_or_default()
                )),
            },
        }
    }
}

/// Compiles `(name, Rego source)` pairs, in order; the first that does not
/// load stops the rest.
pub fn compile_guardrails<N, S>(
    sources: impl IntoIterator<Item = (N, S)>,
) -> Result<Vec<Guardrail>, GuardrailError>
where
    N: AsRef<str>,
    S: AsRef<str>,
{
    sources
        .into_iter()
        .map(|(n, s)| Guardrail::compile(n.as_ref(), s.as_ref()))
        .collect()
}

/// A regorus error: the location line `--> NAME:LINE:COL` and the
/// `error: …` line.
fn load_error(name: &str, text: &str) -> GuardrailError {
    let mut line = None;
    let mut column = None;
    for l in text.lines() {
        if let Some(at) = l.trim_start().strip_prefix("-->") {
            let mut parts = at.trim().rsplitn(3, ':');
            let col = parts.next().and_then(|c| c.parse().ok());
            let ln = parts.next().and_then(|c| c.parse().ok());
            if let (Some(ln), Some(col)) = (ln, col) {
                line = Some(ln);
                column = Some(col);
                break;
            }
        }
    }
    GuardrailError {
        name: name.to_owned(),
        line,
        column,
        message: one_line(text),
    }
}

/// The `error: …` line of a regorus message, or the message on one line.
fn one_line(text: &str) -> String {
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error:"))
        .map(|m| m.trim().to_owned())
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}
