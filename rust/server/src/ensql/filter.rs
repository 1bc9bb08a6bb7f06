//! What an EnSQL query keeps: the `WHERE` expression tree built by the parser, the
//! schema and version of `FROM topic.Schema.N`, and their evaluation against a stored
//! event. The real server parses these and ignores them; this server applies them, so
//! a query never returns unfiltered rows as if they were filtered.
//!
//! Field names in `WHERE` name a field of the event: a top-level field of its payload
//! when the payload is a JSON object, else a metadata key. A condition on a field the
//! event does not have is false (as SQL's NULL), whatever the operator. Quoted values
//! compare with text fields; numbers with numeric fields or text that parses as a
//! number; booleans (`=`/`!=` only) with JSON booleans or "true"/"false" text. `LIKE`
//! patterns match the whole text, `%` any run of characters, `_` one character, `\`
//! escapes; `ILIKE` ignores case.
//!
//! Concurrency: pure data and functions; queries evaluate them on the blocking pool.

use ensign_proto::api;
use serde_json::{Map, Value as Json};

/// Deepest nesting of parentheses accepted (keeps evaluation and drop shallow).
pub const MAX_NESTING: usize = 32;
/// Longest `LIKE`/`ILIKE` pattern, in characters.
// NOTE: matching costs up to (text length × pattern length) on adversarial text; 1024
// keeps a 1 MiB field under a second in the worst case, and real patterns are short.
pub const MAX_PATTERN_CHARS: usize = 1024;

/// A literal on the right of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Str(String),
    Num(f64),
    Bool(bool),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    ILike,
}

impl Op {
    /// The operator of a (canonical, upper-cased) operator token.
    pub fn parse(text: &str) -> Option<Op> {
        Some(match text {
            "=" => Op::Eq,
            "!=" | "<>" => Op::Ne,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "LIKE" => Op::Like,
            "ILIKE" => Op::ILike,
            _ => return None,
        })
    }

    fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Op::Eq => ord == Equal,
            Op::Ne => ord != Equal,
            Op::Lt => ord == Less,
            Op::Le => ord != Greater,
            Op::Gt => ord == Greater,
            Op::Ge => ord != Less,
            Op::Like | Op::ILike => false,
        }
    }
}

/// `field op literal`.
#[derive(Clone, Debug, PartialEq)]
pub struct Cond {
    pub field: String,
    pub op: Op,
    pub value: Literal,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Term {
    Cond(Cond),
    Group(Expr),
}

/// A `WHERE` expression: OR of ANDs (AND binds tighter), parentheses as groups.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Expr {
    pub any: Vec<Vec<Term>>,
}

/// Everything a query filters on.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// `FROM topic.Schema`: the event type's name (`None` for `*` or no schema).
    pub schema: Option<String>,
    /// `FROM topic.Schema.N`: the event type's major version.
    pub version: Option<u32>,
    pub condition: Option<Expr>,
}

/// One field's value in an event.
enum Field<'a> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
    /// null, arrays, objects: match nothing.
    Other,
}

/// The event as conditions read it: its metadata and its payload's JSON fields (parsed
/// only when a condition needs a field).
struct Fields<'a> {
    event: &'a api::Event,
    json: Option<Option<Map<String, Json>>>,
}

impl<'a> Fields<'a> {
    fn get(&mut self, name: &str) -> Option<Field<'_>> {
        let event = self.event;
        let json = self.json.get_or_insert_with(|| {
            let data = event.data.trim_ascii_start();
            if data.first() != Some(&b'{') {
                return None;
            }
            match serde_json::from_slice::<Json>(data) {
                Ok(Json::Object(m)) => Some(m),
                _ => None,
            }
        });
        if let Some(v) = json.as_ref().and_then(|m| m.get(name)) {
            return Some(match v {
                Json::String(s) => Field::Str(s),
                Json::Number(n) => n.as_f64().map_or(Field::Other, Field::Num),
                Json::Bool(b) => Field::Bool(*b),
                _ => Field::Other,
            });
        }
        self.event.metadata.get(name).map(|s| Field::Str(s))
    }
}

impl Filter {
    /// True when there is nothing to check (every stored event is a result).
    pub fn is_empty(&self) -> bool {
        self.schema.is_none() && self.version.is_none() && self.condition.is_none()
    }

    pub fn matches(&self, event: &api::Event) -> bool {
        if self.schema.is_some() || self.version.is_some() {
            let Some(ty) = &event.r#type else {
                return false;
            };
            if self.schema.as_ref().is_some_and(|s| *s != ty.name)
                || self.version.is_some_and(|v| v != ty.major_version)
            {
                return false;
            }
        }
        match &self.condition {
            None => true,
            Some(expr) => expr.eval(&mut Fields { event, json: None }),
        }
    }
}

impl Expr {
    fn eval(&self, fields: &mut Fields<'_>) -> bool {
        self.any.iter().any(|all| {
            all.iter().all(|term| match term {
                Term::Cond(c) => c.eval(fields),
                Term::Group(e) => e.eval(fields),
            })
        })
    }
}

impl Cond {
    fn eval(&self, fields: &mut Fields<'_>) -> bool {
        let Some(field) = fields.get(&self.field) else {
            return false;
        };
        match (&self.value, field) {
            (Literal::Num(n), Field::Num(x)) => cmp_num(self.op, x, *n),
            (Literal::Num(n), Field::Str(s)) => s
                .trim()
                .parse::<f64>()
                .is_ok_and(|x| cmp_num(self.op, x, *n)),
            (Literal::Str(p), Field::Str(s)) => match self.op {
                Op::Like => like(s, p),
                Op::ILike => like(&s.to_lowercase(), &p.to_lowercase()),
                op => op.holds(s.cmp(p.as_str())),
            },
            (Literal::Bool(b), Field::Bool(x)) => self.op.holds(x.cmp(b)),
            (Literal::Bool(b), Field::Str(s)) => match s.to_ascii_lowercase().as_str() {
                "true" => self.op.holds(true.cmp(b)),
                "false" => self.op.holds(false.cmp(b)),
                _ => false,
            },
            _ => false,
        }
    }
}

fn cmp_num(op: Op, x: f64, n: f64) -> bool {
    x.partial_cmp(&n).is_some_and(|o| op.holds(o))
}

/// One piece of a `LIKE` pattern between `%`s: characters, `None` for `_`.
type Segment = Vec<Option<char>>;

fn segments(pattern: &str) -> Vec<Segment> {
    let mut out = vec![Vec::new()];
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => out.push(Vec::new()),
            '_' => out.last_mut().expect("non-empty").push(None),
            '\\' => {
                let lit = chars.next().unwrap_or('\\');
                out.last_mut().expect("non-empty").push(Some(lit));
            }
            c => out.last_mut().expect("non-empty").push(Some(c)),
        }
    }
    out
}

/// If `seg` matches at the start of `text`, the rest of `text` after it.
fn match_at<'t>(text: &'t str, seg: &Segment) -> Option<&'t str> {
    let mut chars = text.char_indices();
    for want in seg {
        let (_, c) = chars.next()?;
        if want.is_some_and(|w| w != c) {
            return None;
        }
    }
    Some(chars.as_str())
}

/// SQL `LIKE`: the first segment anchors at the start, the last at the end, the ones
/// between are matched leftmost-first (which is enough: `%` absorbs any gap).
pub fn like(text: &str, pattern: &str) -> bool {
    let segs = segments(pattern);
    if segs.len() == 1 {
        return match_at(text, &segs[0]).is_some_and(str::is_empty);
    }
    let Some(mut rest) = match_at(text, &segs[0]) else {
        return false;
    };
    let last = &segs[segs.len() - 1];
    for seg in &segs[1..segs.len() - 1] {
        let mut found = None;
        let mut from = rest;
        loop {
            if let Some(after) = match_at(from, seg) {
                found = Some(after);
                break;
            }
            let mut it = from.chars();
            if it.next().is_none() {
                break;
            }
            from = it.as_str();
        }
        match found {
            Some(after) => rest = after,
            None => return false,
        }
    }
    // The last segment must end the text: try it at the only place it can start.
    let n = last.len();
    let count = rest.chars().count();
    if count < n {
        return false;
    }
    let start = rest
        .char_indices()
        .nth(count - n)
        .map_or(rest.len(), |(i, _)| i);
    match_at(&rest[start..], last).is_some_and(str::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        assert!(like("hello", "hello"));
        assert!(!like("hello", "hell"));
        assert!(like("hello", "h%"));
        assert!(like("hello", "%llo"));
        assert!(like("hello", "%ell%"));
        assert!(like("hello", "h_llo"));
        assert!(like("hello", "%"));
        assert!(like("", "%"));
        assert!(!like("", "_"));
        assert!(like("a%b", "a\\%b"));
        assert!(!like("axb", "a\\%b"));
        assert!(like("abcabc", "a%c%c"));
        assert!(!like("abcab", "a%c%c"));
        assert!(like("€uro", "_uro"));
        assert!(like("aaa", "a%a"));
        assert!(!like("a", "a%a"));
    }

    fn event(data: &str, meta: &[(&str, &str)]) -> api::Event {
        api::Event {
            data: data.as_bytes().to_vec().into(),
            metadata: meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            r#type: Some(api::Type {
                name: "Reading".into(),
                major_version: 2,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn cond(field: &str, op: Op, value: Literal) -> Filter {
        Filter {
            condition: Some(Expr {
                any: vec![vec![Term::Cond(Cond {
                    field: field.into(),
                    op,
                    value,
                })]],
            }),
            ..Default::default()
        }
    }

    #[test]
    fn fields_from_json_then_metadata() {
        let e = event(
            r#"{"a": 3, "s": "x", "b": true}"#,
            &[("m", "7"), ("a", "9")],
        );
        assert!(cond("a", Op::Eq, Literal::Num(3.0)).matches(&e));
        assert!(cond("m", Op::Gt, Literal::Num(6.5)).matches(&e));
        assert!(cond("s", Op::Eq, Literal::Str("x".into())).matches(&e));
        assert!(cond("b", Op::Ne, Literal::Bool(false)).matches(&e));
        assert!(!cond("missing", Op::Ne, Literal::Num(1.0)).matches(&e));
        assert!(!cond("a", Op::Eq, Literal::Str("3".into())).matches(&e));
        let plain = event("not json", &[("k", "v")]);
        assert!(cond("k", Op::Like, Literal::Str("_".into())).matches(&plain));
        assert!(!cond("a", Op::Eq, Literal::Num(3.0)).matches(&plain));
    }

    #[test]
    fn schema_and_version() {
        let e = event("{}", &[]);
        let f = |schema: Option<&str>, version| Filter {
            schema: schema.map(str::to_string),
            version,
            condition: None,
        };
        assert!(f(Some("Reading"), Some(2)).matches(&e));
        assert!(f(None, None).matches(&e));
        assert!(!f(Some("Other"), None).matches(&e));
        assert!(!f(Some("Reading"), Some(1)).matches(&e));
    }
}
