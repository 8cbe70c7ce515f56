//! Compiled guardrails: the `deny` rules of a module, translated once, when
//! the module is loaded, from the syntax tree regorus parsed into a native
//! evaluator for a fragment of Rego (`docs/guardrails.md`, "Compiled
//! guardrails").
//!
//! The fragment, per `deny` body: statements in dependency order (every
//! local variable assigned before it is used), each one of
//!
//! - `<term>` (true unless `false` or undefined), `not <term>`, `x := <term>`,
//!   `[a, _, c] := <term>`;
//! - terms: literals; `input.a.b["c"]` and `x.a.b` with static keys; a
//!   constant rule of the module (`name := <literal>`); a helper rule
//!   (`name if { … }`, its bodies in the fragment); `==`, `!=`, `<`,
//!   `<=`, `>`, `>=`; `v in collection`; array, set and object literals;
//!   calls of the pure builtins of [`BUILTINS_COMPILED`], which run regorus's
//!   own implementation of the builtin.
//!
//! Each construct is evaluated exactly as regorus's interpreter does (the
//! same order of statements, the same undefined propagation, the same
//! comparison and builtin functions). A body is *complete* when all of its
//! statements are in the fragment; otherwise its longest leading run of
//! fragment statements is its *guard*: regorus evaluates those statements
//! first, so when the guard fails the body adds nothing, whatever follows.
//!
//! Evaluation decides only when it is certain: all bodies complete or
//! failing at their guard, no error, string messages. Anything else (a body
//! that needs the rest of its statements, a builtin error, a non-string
//! message) answers [`Outcome::Interpret`], and the guardrail is evaluated by
//! regorus as a whole, which gives the result and the error message.
//!
//! The syntax tree and the builtins come from regorus's `unstable` module,
//! so this translation follows the regorus version of `Cargo.lock`; the
//! differential tests (`compiled/tests.rs`, `tests/guardrails_compiled.rs`)
//! compare it with the interpreter.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use regorus::unstable::comparison::compare;
use regorus::unstable::{
    AssignOp, BoolOp, BuiltinFcn, Expr, Literal, LiteralStmt, Module, Ref, Rule, RuleHead, Span,
    BUILTINS,
};
use regorus::Value;

/// The builtins a compiled guardrail may call: deterministic functions of
/// their arguments, with no I/O and no unbounded work beyond their input.
pub(crate) const BUILTINS_COMPILED: &[&str] = &[
    "concat",
    "contains",
    "count",
    "endswith",
    "format_int",
    "indexof",
    "is_array",
    "is_boolean",
    "is_null",
    "is_number",
    "is_object",
    "is_set",
    "is_string",
    "json.is_valid",
    "lower",
    "object.get",
    "replace",
    "split",
    "sprintf",
    "startswith",
    "substring",
    "time.clock",
    "time.parse_rfc3339_ns",
    "time.weekday",
    "to_number",
    "trim",
    "trim_space",
    "upper",
];

/// The input document, as the compiled form reads it.
pub(crate) trait Input {
    /// The value at `path` (object keys from the root of the document), as
    /// regorus evaluates `input.<path>`: undefined when a member is missing
    /// or a value on the way is not an object.
    fn get(&self, path: &[Value]) -> Cow<'_, Value>;

    /// The string at `path`, when the input can tell it without building
    /// a value: `Some(s)` only if `get(path)` is the string `s`; `None`
    /// says nothing (the caller uses `get`).
    fn str_at(&self, path: &[Value]) -> Option<&str>;

    /// The whole document, for the interpreter.
    fn document(&self) -> &Value;
}

impl Input for Value {
    fn str_at(&self, path: &[Value]) -> Option<&str> {
        match walk(self, path) {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    fn get(&self, path: &[Value]) -> Cow<'_, Value> {
        Cow::Borrowed(walk(self, path))
    }

    fn document(&self) -> &Value {
        self
    }
}

/// `value[path[0]][path[1]]…`, as regorus indexes values.
pub(crate) fn walk<'v>(value: &'v Value, path: &[Value]) -> &'v Value {
    let mut v = value;
    for p in path {
        v = &v[p];
    }
    v
}

/// What the compiled form says about one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// `deny` is empty.
    Pass,
    /// `deny` holds these messages, sorted and without duplicates.
    Deny(Vec<String>),
    /// The interpreter must evaluate the module.
    Interpret,
}

/// How a guardrail is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evaluation {
    /// Every `deny` body is in the compiled fragment: regorus is used only
    /// when a builtin fails or a message is not a string.
    Compiled,
    /// Every `deny` body is in the fragment or starts with a compiled guard:
    /// regorus evaluates the module only for requests that pass a guard.
    Guarded,
    /// regorus evaluates the module for every request.
    Interpreted,
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Evaluation::Compiled => "compiled",
            Evaluation::Guarded => "guarded",
            Evaluation::Interpreted => "interpreted",
        })
    }
}

/// The compiled `deny` rules of one module.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    bodies: Vec<Body>,
}

#[derive(Debug, Clone)]
struct Body {
    /// The statements compiled, in evaluation order: all of them when
    /// `output` is set, else the guard.
    stmts: Vec<Stmt>,
    /// The message term, when the body is complete.
    output: Option<Term>,
}

#[derive(Debug, Clone)]
enum Stmt {
    Test(Term),
    Not(Term),
    Assign(usize, Term),
    /// `[a, _, c] := <term>`: the slots of the variables (`None` for `_`).
    Destructure(Vec<Option<usize>>, Term),
}

/// A rule `name if { … }` (one or more definitions, each a complete body):
/// `true` when a body holds, else undefined.
#[derive(Debug)]
struct Helper {
    bodies: Vec<Body>,
}

#[derive(Debug, Clone)]
enum Term {
    Const(Value),
    Rule(Arc<Helper>),
    Input(Vec<Value>),
    Local(usize, Vec<Value>),
    Compare(BoolOp, Box<Term>, Box<Term>),
    /// `input.<path> == "s"` (or `!=`, when `negated`), answered from the
    /// input's string when it has one, else as `generic`.
    StrEq {
        path: Vec<Value>,
        text: String,
        negated: bool,
        generic: Box<Term>,
    },
    Member(Box<Term>, Box<Term>),
    /// `input.<path> in <constant collection>`: the strings of the
    /// collection (its elements, or values for an object), answered from
    /// the input's string when it has one, else as `generic`.
    StrIn {
        path: Vec<Value>,
        strings: BTreeSet<String>,
        generic: Box<Term>,
    },
    Call(Box<Call>),
    Array(Vec<Term>),
    Set(Vec<Term>),
    Object(Vec<(Term, Term)>),
}

#[derive(Clone)]
struct Call {
    name: &'static str,
    fcn: BuiltinFcn,
    span: Span,
    params: Vec<Ref<Expr>>,
    args: Vec<Term>,
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("name", &self.name)
            .field("args", &self.args)
            .finish_non_exhaustive()
    }
}

/// An evaluation error, or a construct the compiled form leaves to the
/// interpreter.
#[derive(Debug)]
struct Defer;

type Eval<T> = Result<T, Defer>;

impl Plan {
    /// How the module is evaluated with this plan.
    pub(crate) fn evaluation(&self) -> Evaluation {
        if self.bodies.iter().all(|b| b.output.is_some()) {
            Evaluation::Compiled
        } else if self.bodies.iter().all(|b| !b.stmts.is_empty()) {
            Evaluation::Guarded
        } else {
            Evaluation::Interpreted
        }
    }

    /// Evaluates `deny` against `input`.
    pub(crate) fn evaluate<I: Input + ?Sized>(&self, input: &I) -> Outcome {
        match self.run(input) {
            Ok(messages) if messages.is_empty() => Outcome::Pass,
            Ok(messages) => Outcome::Deny(messages.into_iter().collect()),
            Err(Defer) => Outcome::Interpret,
        }
    }

    fn run<I: Input + ?Sized>(&self, input: &I) -> Eval<BTreeSet<String>> {
        let mut messages = BTreeSet::new();
        let mut locals: Vec<Value> = Vec::new();
        for body in &self.bodies {
            if !body.holds(input, &mut locals)? {
                continue;
            }
            match &body.output {
                None => return Err(Defer),
                Some(term) => match term.eval(input, &locals)?.as_ref() {
                    Value::String(s) => {
                        messages.insert(s.to_string());
                    }
                    _ => return Err(Defer),
                },
            }
        }
        Ok(messages)
    }
}

impl Body {
    /// Do the statements hold? `locals` is cleared, and then grows to hold
    /// the body's variables as they are assigned (no allocation for a body
    /// whose first statements fail).
    fn holds<I: Input + ?Sized>(&self, input: &I, locals: &mut Vec<Value>) -> Eval<bool> {
        locals.clear();
        for stmt in &self.stmts {
            if !stmt.eval(input, locals)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Sets a local variable, growing `locals` as needed.
fn bind(locals: &mut Vec<Value>, slot: usize, value: Value) {
    if locals.len() <= slot {
        locals.resize(slot.saturating_add(1), Value::Undefined);
    }
    if let Some(v) = locals.get_mut(slot) {
        *v = value;
    }
}

impl Helper {
    /// Every body is evaluated, so that an error in any of them defers to
    /// the interpreter whatever order it takes them in.
    fn eval<I: Input + ?Sized>(&self, input: &I) -> Eval<Value> {
        let mut locals = Vec::new();
        let mut holds = false;
        for body in &self.bodies {
            holds |= body.holds(input, &mut locals)?;
        }
        Ok(if holds {
            Value::Bool(true)
        } else {
            Value::Undefined
        })
    }
}

impl Stmt {
    fn eval<I: Input + ?Sized>(&self, input: &I, locals: &mut Vec<Value>) -> Eval<bool> {
        Ok(match self {
            Stmt::Test(t) => match t.eval(input, locals)?.as_ref() {
                Value::Bool(b) => *b,
                v => *v != Value::Undefined,
            },
            Stmt::Not(t) => matches!(
                t.eval(input, locals)?.as_ref(),
                Value::Bool(false) | Value::Undefined
            ),
            Stmt::Assign(slot, t) => {
                let v = t.eval(input, locals)?.into_owned();
                if v == Value::Undefined {
                    false
                } else {
                    bind(locals, *slot, v);
                    true
                }
            }
            Stmt::Destructure(slots, t) => match t.eval(input, locals)?.into_owned() {
                Value::Array(items) if items.len() == slots.len() => {
                    for (slot, item) in slots.iter().zip(items.iter()) {
                        if let Some(slot) = slot {
                            bind(locals, *slot, item.clone());
                        }
                    }
                    true
                }
                _ => false,
            },
        })
    }
}

impl Term {
    /// The term's value, borrowed from the plan, the locals or the input
    /// when it is there (no reference counting on the way).
    fn eval<'s, I: Input + ?Sized>(
        &'s self,
        input: &'s I,
        locals: &'s [Value],
    ) -> Eval<Cow<'s, Value>> {
        Ok(match self {
            Term::Const(v) => Cow::Borrowed(v),
            Term::Rule(helper) => Cow::Owned(helper.eval(input)?),
            Term::Input(path) => input.get(path),
            Term::Local(slot, path) => Cow::Borrowed(walk(locals.get(*slot).ok_or(Defer)?, path)),
            Term::Compare(op, lhs, rhs) => {
                let l = lhs.eval(input, locals)?;
                let r = rhs.eval(input, locals)?;
                Cow::Owned(if *l == Value::Undefined || *r == Value::Undefined {
                    Value::Undefined
                } else {
                    compare(op, &l, &r).map_err(|_| Defer)?
                })
            }
            Term::StrEq {
                path,
                text,
                negated,
                generic,
            } => match input.str_at(path) {
                Some(s) => Cow::Owned(Value::Bool((s == text) != *negated)),
                None => generic.eval(input, locals)?,
            },
            Term::StrIn {
                path,
                strings,
                generic,
            } => match input.str_at(path) {
                Some(s) => Cow::Owned(Value::Bool(strings.contains(s))),
                None => generic.eval(input, locals)?,
            },
            Term::Member(value, collection) => {
                let v = value.eval(input, locals)?;
                let c = collection.eval(input, locals)?;
                let v = v.as_ref();
                Cow::Owned(Value::Bool(match c.as_ref() {
                    Value::Array(a) => a.contains(v),
                    Value::Object(o) => o.values().any(|item| item == v),
                    Value::Set(s) => s.contains(v),
                    _ => false,
                }))
            }
            Term::Call(call) => {
                let mut args = Vec::with_capacity(call.args.len());
                for a in &call.args {
                    args.push(a.eval(input, locals)?.into_owned());
                }
                Cow::Owned(if args.contains(&Value::Undefined) {
                    Value::Undefined
                } else {
                    (call.fcn.0)(&call.span, &call.params, &args, true).map_err(|_| Defer)?
                })
            }
            Term::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    let v = i.eval(input, locals)?.into_owned();
                    if v == Value::Undefined {
                        return Ok(Cow::Owned(Value::Undefined));
                    }
                    out.push(v);
                }
                Cow::Owned(Value::from(out))
            }
            Term::Set(items) => {
                let mut out = BTreeSet::new();
                for i in items {
                    let v = i.eval(input, locals)?.into_owned();
                    if v == Value::Undefined {
                        return Ok(Cow::Owned(Value::Undefined));
                    }
                    out.insert(v);
                }
                Cow::Owned(Value::from(out))
            }
            Term::Object(fields) => {
                let mut out = BTreeMap::new();
                for (k, v) in fields {
                    let k = k.eval(input, locals)?.into_owned();
                    if k == Value::Undefined {
                        return Ok(Cow::Owned(Value::Undefined));
                    }
                    let v = v.eval(input, locals)?.into_owned();
                    if v == Value::Undefined {
                        return Ok(Cow::Owned(Value::Undefined));
                    }
                    out.insert(k, v);
                }
                Cow::Owned(Value::from(out))
            }
        })
    }
}

/// Compiles the `deny` rules of `module`; `None` when `deny` is not only
/// partial-set rules (`deny contains msg if …`, `deny[msg] { … }`) or the
/// module imports anything but the Rego keywords.
pub(crate) fn compile(module: &Module) -> Option<Plan> {
    for import in &module.imports {
        let path = ref_path(&import.refr)?;
        let keywords = path == ["rego", "v1"]
            || path.first().map(String::as_str) == Some("future")
                && path.get(1).map(String::as_str) == Some("keywords");
        if !keywords || import.r#as.is_some() {
            return None;
        }
    }
    // Every rule's name (the first component of its head).
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for rule in &module.policy {
        let name = rule_name(rule)?;
        *names.entry(name).or_default() += 1;
    }
    // Constant rules: `name := <literal>`, the only rule of that name.
    let mut constants: BTreeMap<String, Value> = BTreeMap::new();
    for rule in &module.policy {
        if let Rule::Spec {
            head:
                RuleHead::Compr {
                    refr,
                    assign: Some(assign),
                    ..
                },
            bodies,
            ..
        } = rule.as_ref()
        {
            if let Expr::Var { span, .. } = refr.as_ref() {
                let name = span.text().to_owned();
                if bodies.is_empty()
                    && matches!(assign.op, AssignOp::ColEq | AssignOp::Eq)
                    && names.get(&name) == Some(&1)
                {
                    if let Some(v) = literal(&assign.value) {
                        constants.insert(name, v);
                    }
                }
            }
        }
    }
    // Helper rules: `name if { … }`, every definition of the name of that
    // form and complete in the fragment (reading constants, not other
    // helpers).
    let mut candidates: BTreeMap<String, Vec<&Ref<Rule>>> = BTreeMap::new();
    for rule in &module.policy {
        if let Rule::Spec {
            head: RuleHead::Compr {
                refr, assign: None, ..
            },
            bodies,
            ..
        } = rule.as_ref()
        {
            if let Expr::Var { span, .. } = refr.as_ref() {
                if !bodies.is_empty() && bodies.iter().all(|b| b.assign.is_none() && !b.is_else) {
                    candidates
                        .entry(span.text().to_owned())
                        .or_default()
                        .push(rule);
                }
            }
        }
    }
    let no_helpers = BTreeMap::new();
    let mut helpers: BTreeMap<String, Arc<Helper>> = BTreeMap::new();
    'helper: for (name, rules) in candidates {
        if names.get(&name) != Some(&rules.len()) || name == "deny" {
            continue;
        }
        let mut bodies = Vec::new();
        for rule in rules {
            if let Rule::Spec {
                bodies: rule_bodies,
                ..
            } = rule.as_ref()
            {
                for body in rule_bodies {
                    let scope = Scope {
                        names: &names,
                        constants: &constants,
                        helpers: &no_helpers,
                    };
                    let compiled = compile_body(&scope, &body.query.stmts, None);
                    if compiled.output.is_none() {
                        continue 'helper;
                    }
                    bodies.push(compiled);
                }
            }
        }
        helpers.insert(name, Arc::new(Helper { bodies }));
    }
    let scope = Scope {
        names: &names,
        constants: &constants,
        helpers: &helpers,
    };
    let mut bodies = Vec::new();
    for rule in &module.policy {
        if rule_name(rule)?.as_str() != "deny" {
            continue;
        }
        let Rule::Spec {
            head:
                RuleHead::Set {
                    refr,
                    key: Some(key),
                    ..
                },
            bodies: rule_bodies,
            ..
        } = rule.as_ref()
        else {
            return None;
        };
        if !matches!(refr.as_ref(), Expr::Var { span, .. } if span.text() == "deny") {
            return None;
        }
        for body in rule_bodies {
            if body.assign.is_some() || body.is_else {
                return None;
            }
            bodies.push(compile_body(&scope, &body.query.stmts, Some(key)));
        }
    }
    Some(Plan { bodies })
}

/// The name a rule defines: the root variable of its head.
fn rule_name(rule: &Ref<Rule>) -> Option<String> {
    let refr = match rule.as_ref() {
        Rule::Spec { head, .. } => match head {
            RuleHead::Compr { refr, .. }
            | RuleHead::Set { refr, .. }
            | RuleHead::Func { refr, .. } => refr,
        },
        Rule::Default { refr, .. } => refr,
    };
    let mut e = refr;
    loop {
        match e.as_ref() {
            Expr::Var { span, .. } => return Some(span.text().to_owned()),
            Expr::RefDot { refr, .. } | Expr::RefBrack { refr, .. } => e = refr,
            _ => return None,
        }
    }
}

/// `a.b.c` as `["a", "b", "c"]`; `None` for anything but variables and
/// dotted fields.
fn ref_path(expr: &Ref<Expr>) -> Option<Vec<String>> {
    match expr.as_ref() {
        Expr::Var { span, .. } => Some(vec![span.text().to_owned()]),
        Expr::RefDot { refr, field, .. } => {
            let mut p = ref_path(refr)?;
            p.push(field.0.text().to_owned());
            Some(p)
        }
        _ => None,
    }
}

/// The value of a literal term (scalars, and arrays, sets and objects of
/// literals), as regorus evaluates it.
fn literal(expr: &Ref<Expr>) -> Option<Value> {
    match expr.as_ref() {
        Expr::String { value, .. }
        | Expr::RawString { value, .. }
        | Expr::Number { value, .. }
        | Expr::Bool { value, .. }
        | Expr::Null { value, .. } => Some(value.clone()),
        Expr::Array { items, .. } => Some(Value::from(
            items.iter().map(literal).collect::<Option<Vec<_>>>()?,
        )),
        Expr::Set { items, .. } => Some(Value::from(
            items.iter().map(literal).collect::<Option<BTreeSet<_>>>()?,
        )),
        Expr::Object { fields, .. } => Some(Value::from(
            fields
                .iter()
                .map(|(_, k, v)| Some((literal(k)?, literal(v)?)))
                .collect::<Option<BTreeMap<_, _>>>()?,
        )),
        _ => None,
    }
}

/// What a body can read besides `input` and its local variables.
struct Scope<'m> {
    /// Every rule name of the module, with its number of definitions.
    names: &'m BTreeMap<String, usize>,
    /// Constant rules.
    constants: &'m BTreeMap<String, Value>,
    /// Compiled helper rules.
    helpers: &'m BTreeMap<String, Arc<Helper>>,
}

struct BodyCompiler<'m> {
    scope: &'m Scope<'m>,
    /// Local variables assigned so far, and their slots.
    locals: BTreeMap<String, usize>,
    /// The text of the statements after the compiled run, and of the
    /// message: a rule they mention cannot be read in the run, as they could
    /// make its name a local variable.
    shadowed: Vec<&'m str>,
}

/// Compiles the statements of a body, in order, while they are in the
/// fragment; `key` is the message of a `deny` body (none for a helper rule,
/// whose value is `true`).
///
/// regorus orders the statements of a body by their variables: it first
/// takes, in source order, every statement whose variables are all assigned
/// by the statements taken before it (and `x := …` assigns `x`). A run of
/// fragment statements that each use only variables assigned by the
/// earlier ones is therefore evaluated first and in source order, whatever
/// the rest of the body.
fn compile_body<'m>(
    scope: &'m Scope<'m>,
    stmts: &'m [LiteralStmt],
    key: Option<&'m Ref<Expr>>,
) -> Body {
    let mut end = stmts.len();
    loop {
        let mut shadowed: Vec<&str> = stmts
            .get(end..)
            .unwrap_or_default()
            .iter()
            .map(|s| s.span.text())
            .collect();
        shadowed.extend(key.map(|k| k.span().text()));
        let mut compiler = BodyCompiler {
            scope,
            locals: BTreeMap::new(),
            shadowed,
        };
        let mut compiled = Vec::new();
        for stmt in stmts.iter().take(end) {
            match compiler.stmt(stmt) {
                Some(s) => compiled.push(s),
                None => break,
            }
        }
        // A shorter run leaves more statements that may shadow a rule:
        // compile again until the run is stable.
        if compiled.len() == end {
            let output = if end < stmts.len() {
                None
            } else {
                match key {
                    Some(key) => compiler.term(key),
                    None => Some(Term::Const(Value::Bool(true))),
                }
            };
            return Body {
                stmts: compiled,
                output,
            };
        }
        end = compiled.len();
    }
}

impl BodyCompiler<'_> {
    fn stmt(&mut self, stmt: &LiteralStmt) -> Option<Stmt> {
        if !stmt.with_mods.is_empty() {
            return None;
        }
        match &stmt.literal {
            Literal::Expr { expr, .. } => match expr.as_ref() {
                Expr::AssignExpr {
                    op: AssignOp::ColEq,
                    lhs,
                    rhs,
                    ..
                } => {
                    if let Expr::Array { items, .. } = lhs.as_ref() {
                        return self.destructure(items, rhs);
                    }
                    let Expr::Var { span, .. } = lhs.as_ref() else {
                        return None;
                    };
                    let name = span.text();
                    if matches!(name, "_" | "input" | "data")
                        || self.locals.contains_key(name)
                        || self.scope.names.contains_key(name)
                    {
                        return None;
                    }
                    let term = self.term(rhs)?;
                    let slot = self.locals.len();
                    self.locals.insert(name.to_owned(), slot);
                    Some(Stmt::Assign(slot, term))
                }
                Expr::AssignExpr { .. } => None,
                _ => Some(Stmt::Test(self.term(expr)?)),
            },
            Literal::NotExpr { expr, .. } => match expr.as_ref() {
                Expr::AssignExpr { .. } => None,
                _ => Some(Stmt::Not(self.term(expr)?)),
            },
            _ => None,
        }
    }

    /// `[a, _, c] := <term>`: variables (new ones) and `_` only.
    fn destructure(&mut self, items: &[Ref<Expr>], rhs: &Ref<Expr>) -> Option<Stmt> {
        let mut names = Vec::new();
        for item in items {
            let Expr::Var { span, .. } = item.as_ref() else {
                return None;
            };
            let name = span.text();
            if name == "_" {
                names.push(None);
            } else if matches!(name, "input" | "data")
                || self.locals.contains_key(name)
                || self.scope.names.contains_key(name)
                || names.contains(&Some(name))
            {
                return None;
            } else {
                names.push(Some(name));
            }
        }
        let term = self.term(rhs)?;
        let slots = names
            .into_iter()
            .map(|n| {
                n.map(|n| {
                    let slot = self.locals.len();
                    self.locals.insert(n.to_owned(), slot);
                    slot
                })
            })
            .collect();
        Some(Stmt::Destructure(slots, term))
    }

    fn term(&self, expr: &Ref<Expr>) -> Option<Term> {
        match expr.as_ref() {
            Expr::String { value, .. }
            | Expr::RawString { value, .. }
            | Expr::Number { value, .. }
            | Expr::Bool { value, .. }
            | Expr::Null { value, .. } => Some(Term::Const(value.clone())),
            Expr::Var { .. } | Expr::RefDot { .. } | Expr::RefBrack { .. } => self.reference(expr),
            Expr::BoolExpr { op, lhs, rhs, .. } => Some(specialize(Term::Compare(
                op.clone(),
                Box::new(self.term(lhs)?),
                Box::new(self.term(rhs)?),
            ))),
            Expr::Membership {
                key: None,
                value,
                collection,
                ..
            } => Some(specialize(Term::Member(
                Box::new(self.term(value)?),
                Box::new(self.term(collection)?),
            ))),
            Expr::Call {
                span, fcn, params, ..
            } => {
                let path = ref_path(fcn)?;
                let root = path.first()?;
                if self.scope.names.contains_key(root) || self.locals.contains_key(root) {
                    return None;
                }
                let name = path.join(".");
                let name = *BUILTINS_COMPILED.iter().find(|b| **b == name)?;
                let fcn = *BUILTINS.get(name)?;
                if usize::from(fcn.1) != params.len() {
                    return None;
                }
                let args = params
                    .iter()
                    .map(|p| self.term(p))
                    .collect::<Option<Vec<_>>>()?;
                Some(Term::Call(Box::new(Call {
                    name,
                    fcn,
                    span: span.clone(),
                    params: params.clone(),
                    args,
                })))
            }
            Expr::Array { items, .. } => {
                let items = items
                    .iter()
                    .map(|i| self.term(i))
                    .collect::<Option<Vec<_>>>()?;
                Some(fold(Term::Array(items)))
            }
            Expr::Set { items, .. } => {
                let items = items
                    .iter()
                    .map(|i| self.term(i))
                    .collect::<Option<Vec<_>>>()?;
                Some(fold(Term::Set(items)))
            }
            Expr::Object { fields, .. } => {
                let fields = fields
                    .iter()
                    .map(|(_, k, v)| Some((self.term(k)?, self.term(v)?)))
                    .collect::<Option<Vec<_>>>()?;
                Some(fold(Term::Object(fields)))
            }
            _ => None,
        }
    }

    /// `root.a["b"]…` with static string keys, rooted at `input`, a local
    /// variable or a constant rule.
    fn reference(&self, expr: &Ref<Expr>) -> Option<Term> {
        let mut path = Vec::new();
        let mut e = expr;
        let root = loop {
            match e.as_ref() {
                Expr::Var { span, .. } => break span.text(),
                Expr::RefDot { refr, field, .. } => {
                    path.push(Value::from(field.0.text()));
                    e = refr;
                }
                Expr::RefBrack { refr, index, .. } => match index.as_ref() {
                    Expr::String { value, .. } => {
                        path.push(value.clone());
                        e = refr;
                    }
                    _ => return None,
                },
                _ => return None,
            }
        };
        path.reverse();
        if root == "input" {
            return (!path.is_empty()).then_some(Term::Input(path));
        }
        if let Some(slot) = self.locals.get(root) {
            return Some(Term::Local(*slot, path));
        }
        if self.shadowed.iter().any(|text| mentions(text, root)) {
            return None;
        }
        if let Some(helper) = self.scope.helpers.get(root) {
            return path.is_empty().then(|| Term::Rule(Arc::clone(helper)));
        }
        let constant = self.scope.constants.get(root)?;
        Some(Term::Const(walk(constant, &path).clone()))
    }
}

/// Does `text` contain the identifier `name` (not as part of a longer one)?
fn mentions(text: &str, name: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(name).any(|(at, _)| {
        let before = text.get(..at).and_then(|s| s.chars().next_back());
        let after = text.get(at + name.len()..).and_then(|s| s.chars().next());
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

/// A comparison of an input string with a constant string, or its
/// membership in a constant collection: the same result, read from the
/// input's string when it has one (a string equals a value only if that
/// value is the same string).
fn specialize(term: Term) -> Term {
    match &term {
        Term::Compare(op @ (BoolOp::Eq | BoolOp::Ne), lhs, rhs) => {
            if let (Term::Input(path), Term::Const(Value::String(text))) =
                (lhs.as_ref(), rhs.as_ref())
            {
                return Term::StrEq {
                    path: path.clone(),
                    text: text.to_string(),
                    negated: *op == BoolOp::Ne,
                    generic: Box::new(term.clone()),
                };
            }
            term
        }
        Term::Member(value, collection) => {
            let (Term::Input(path), Term::Const(c)) = (value.as_ref(), collection.as_ref()) else {
                return term;
            };
            let items: Vec<&Value> = match c {
                Value::Array(a) => a.iter().collect(),
                Value::Set(s) => s.iter().collect(),
                Value::Object(o) => o.values().collect(),
                _ => return term,
            };
            let strings = items
                .into_iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.to_string()),
                    _ => None,
                })
                .collect();
            Term::StrIn {
                path: path.clone(),
                strings,
                generic: Box::new(term.clone()),
            }
        }
        _ => term,
    }
}

/// A composite of constants, evaluated now.
fn fold(term: Term) -> Term {
    let consts = |ts: &[Term]| {
        ts.iter()
            .map(|t| match t {
                Term::Const(v) if *v != Value::Undefined => Some(v.clone()),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
    };
    match &term {
        Term::Array(items) => consts(items).map_or(term, |v| Term::Const(Value::from(v))),
        Term::Set(items) => consts(items).map_or(term, |v| {
            Term::Const(Value::from(v.into_iter().collect::<BTreeSet<_>>()))
        }),
        _ => term,
    }
}

#[cfg(test)]
mod tests;
