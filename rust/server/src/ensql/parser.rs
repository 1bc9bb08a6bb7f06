//! EnSQL parser: the real server's grammar and state machine (semantics §6.9), with its
//! error messages (`syntax error at position N near "X": ...`). Extensions: the topic
//! after FROM is kept as its dotted path, so that a topic whose name contains dots can
//! be resolved against the project's names (`resolve`) before the rest is read as
//! `.schema[.version]`; and WHERE is built into an expression tree (`filter::Expr`)
//! that execution applies, with a few more checks (numbers that parse, LIKE patterns
//! that are strings, booleans compared with `=`/`!=`, balanced parentheses).
//!
//! Parsing is linear in the query's length and never recurses: parentheses are a
//! stack bounded by `filter::MAX_NESTING`. Callers bound the length (`MAX_QUERY_BYTES`).
//!
//! Concurrency: pure functions.

use super::filter::{Cond, Expr, Literal, Op, Term, MAX_NESTING, MAX_PATTERN_CHARS};
use super::lexer::{tokenize, Kind, Token};
use crate::topics::MAX_TOPIC_NAME_LEN;

/// A parsed SELECT. The field list and aliases are checked but, as in the real server,
/// not used to project; WHERE (`filter`) and the schema and version of FROM filter.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Query {
    pub fields: Vec<String>,
    pub aliases: Vec<(String, String)>,
    /// FROM `a.b.c`: the segments as tokens, resolved by `resolve`.
    pub from: Vec<Token>,
    pub has_where: bool,
    /// The WHERE expression.
    pub filter: Option<Expr>,
    pub offset: Option<u64>,
    pub limit: Option<u64>,
}

/// The FROM clause once the topic is known.
#[derive(Debug, PartialEq)]
pub struct From {
    pub topic: String,
    pub schema: Option<String>,
    pub version: Option<u32>,
}

/// Longest `near` text quoted in an error, in characters (a message is a header).
const NEAR_CHARS: usize = 40;

pub fn syntax(tok: &Token, msg: &str) -> String {
    let near = match tok.text.char_indices().nth(NEAR_CHARS) {
        Some((cut, _)) => &tok.text[..cut],
        None => &tok.text,
    };
    format!("syntax error at position {} near {near:?}: {msg}", tok.pos)
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Token {
        self.toks
            .get(self.i)
            .cloned()
            .unwrap_or_else(|| Token::empty(self.end))
    }
    fn pop(&mut self) -> Token {
        let t = self.peek();
        self.i += 1;
        t
    }
    fn at_end(&self) -> bool {
        let t = self.peek();
        t.kind == Kind::Empty || t.is(";")
    }
    fn number(&mut self, q: &mut Option<u64>, what: &str) -> Result<(), String> {
        self.pop();
        let n = self.peek();
        if n.kind != Kind::Numeric {
            return Err(syntax(&n, &format!("invalid {what}")));
        }
        if q.is_some() {
            return Err(syntax(&n, &format!("{what} has already been set")));
        }
        *q = Some(
            n.text
                .parse()
                .map_err(|_| syntax(&n, &format!("could not parse {what}")))?,
        );
        self.pop();
        Ok(())
    }
}

/// Parses a query string (trimmed first, as the real parser does).
pub fn parse(sql: &str) -> Result<Query, String> {
    let sql = sql.trim();
    if sql.is_empty() {
        return Err("empty query is invalid".into());
    }
    let toks = tokenize(sql).map_err(|(pos, near, msg)| {
        syntax(
            &Token {
                text: near,
                kind: Kind::Empty,
                pos,
            },
            msg,
        )
    })?;
    let mut p = Parser {
        toks,
        i: 0,
        end: sql.len(),
    };
    let mut q = Query::default();
    let first = p.pop();
    if !first.is("SELECT") {
        return Err(syntax(&first, "invalid query type"));
    }
    // Projection.
    loop {
        let field = p.peek();
        match field.kind {
            Kind::Ident | Kind::Boolean | Kind::Asterisk => {}
            Kind::Reserved => return Err("SELECT requires field projection or *".into()),
            _ => return Err(syntax(&field, "invalid field identifier")),
        }
        q.fields.push(field.text.clone());
        p.pop();
        let mut next = p.pop();
        if next.is("AS") {
            let alias = p.peek();
            if !alias.is_name() {
                return Err(syntax(&alias, "invalid alias identifier"));
            }
            if field.kind == Kind::Asterisk {
                return Err(syntax(&alias, "cannot alias *"));
            }
            q.aliases.push((field.text.clone(), alias.text));
            p.pop();
            next = p.pop();
        }
        if next.is(",") {
            continue;
        }
        if next.is("FROM") {
            break;
        }
        return Err(syntax(&next, "invalid select fields statement"));
    }
    // FROM topic[.segment]*
    let topic = p.peek();
    if !topic.is_name() {
        return Err(syntax(&topic, "invalid topic identifier"));
    }
    q.from.push(p.pop());
    while p.peek().is(".") {
        p.pop();
        let seg = p.peek();
        if !matches!(
            seg.kind,
            Kind::Ident | Kind::Asterisk | Kind::Numeric | Kind::Boolean
        ) {
            return Err(syntax(&seg, "invalid schema identifier"));
        }
        q.from.push(p.pop());
    }
    let next = p.peek();
    if next.is("WHERE") {
        p.pop();
        q.has_where = true;
        q.filter = Some(where_clause(&mut p)?);
    } else if !(p.at_end() || next.is("OFFSET") || next.is("LIMIT")) {
        return Err(syntax(&next, "invalid from clause"));
    }
    // [OFFSET n] [LIMIT n] in either order, each once.
    while !p.at_end() {
        let t = p.peek();
        if t.is("OFFSET") {
            p.number(&mut q.offset, "offset")?;
            let n = p.peek();
            if !(p.at_end() || n.is("LIMIT")) {
                return Err(syntax(&n, "invalid offset clause"));
            }
        } else if t.is("LIMIT") {
            p.number(&mut q.limit, "limit")?;
            let n = p.peek();
            if !(p.at_end() || n.is("OFFSET")) {
                return Err(syntax(&n, "invalid limit clause"));
            }
        } else {
            return Err(syntax(&t, "invalid query"));
        }
    }
    if p.peek().is(";") {
        p.pop();
    }
    let rest = p.peek();
    if rest.kind != Kind::Empty {
        return Err(syntax(&rest, "unexpected input after the end of the query"));
    }
    if q.fields.iter().any(|f| f == "*") && q.fields.len() != 1 {
        return Err("cannot select * and specify fields".into());
    }
    Ok(q)
}

/// The literal of a condition, checked against its operator.
fn literal(op_tok: &Token, op: Op, value: &Token) -> Result<Literal, String> {
    let lit = match value.kind {
        Kind::Quoted => Literal::Str(value.text.clone()),
        Kind::Numeric => match value.text.parse::<f64>() {
            Ok(n) if n.is_finite() => Literal::Num(n),
            _ => return Err(syntax(value, "could not parse numeric value")),
        },
        _ => Literal::Bool(matches!(
            value.text.as_str(),
            "t" | "T" | "True" | "true" | "TRUE"
        )),
    };
    match (&lit, op) {
        (Literal::Str(p), Op::Like | Op::ILike) if p.chars().count() > MAX_PATTERN_CHARS => {
            Err(syntax(value, "like pattern is too long"))
        }
        (Literal::Str(_), _) => Ok(lit),
        (_, Op::Like | Op::ILike) => Err(syntax(value, "like patterns must be quoted strings")),
        (Literal::Bool(_), Op::Eq | Op::Ne) => Ok(lit),
        (Literal::Bool(_), _) => Err(syntax(op_tok, "booleans can only be compared with = or !=")),
        _ => Ok(lit),
    }
}

/// WHERE cond {AND|OR cond}, cond := ident op value | ( ... ), built into an `Expr`
/// without recursion: an open parenthesis pushes the group being built.
fn where_clause(p: &mut Parser) -> Result<Expr, String> {
    // Groups still open, each with the token that opened it.
    let mut open: Vec<(Expr, Token)> = Vec::new();
    let mut cur = Expr {
        any: vec![Vec::new()],
    };
    let first = p.peek();
    if !(first.is("(") || first.is_name()) {
        return Err(syntax(&first, "invalid where clause"));
    }
    loop {
        while p.peek().is("(") {
            let t = p.pop();
            if open.len() >= MAX_NESTING {
                return Err(syntax(&t, "too many nested parentheses"));
            }
            let group = std::mem::replace(
                &mut cur,
                Expr {
                    any: vec![Vec::new()],
                },
            );
            open.push((group, t));
        }
        let field = p.pop();
        if !field.is_name() {
            return Err(syntax(
                &field,
                "where clause predicates expressions must start with an identifier",
            ));
        }
        let op_tok = p.peek();
        if op_tok.kind != Kind::Operator {
            return Err(syntax(&op_tok, "invalid where clause"));
        }
        if op_tok.is("AND") || op_tok.is("OR") {
            return Err(syntax(
                &op_tok,
                "where clause expressions require comparison operators",
            ));
        }
        let op = Op::parse(&op_tok.text).ok_or_else(|| syntax(&op_tok, "invalid where clause"))?;
        p.pop();
        let value = p.peek();
        if !matches!(value.kind, Kind::Quoted | Kind::Numeric | Kind::Boolean) {
            return Err(syntax(&value, "invalid where clause"));
        }
        let value_lit = literal(&op_tok, op, &value)?;
        p.pop();
        push(
            &mut cur,
            Term::Cond(Cond {
                field: field.text,
                op,
                value: value_lit,
            }),
        );
        while p.peek().is(")") {
            let t = p.pop();
            let (mut parent, _) = open
                .pop()
                .ok_or_else(|| syntax(&t, "cannot close expression parentheses"))?;
            let group = std::mem::take(&mut cur);
            push(&mut parent, Term::Group(group));
            cur = parent;
        }
        let next = p.peek();
        if next.is("AND") || next.is("OR") {
            p.pop();
            if next.is("OR") {
                cur.any.push(Vec::new());
            }
            let after = p.peek();
            if !(after.is("(") || after.is_name()) {
                return Err(syntax(&after, "invalid where clause"));
            }
            continue;
        }
        if p.at_end() || next.is("OFFSET") || next.is("LIMIT") {
            if let Some((_, t)) = open.last() {
                return Err(syntax(t, "expression parentheses are not closed"));
            }
            return Ok(cur);
        }
        return Err(syntax(&next, "invalid where clause"));
    }
}

/// Adds a term to the AND-group being built.
fn push(expr: &mut Expr, term: Term) {
    match expr.any.last_mut() {
        Some(all) => all.push(term),
        None => expr.any.push(vec![term]),
    }
}

/// Splits FROM into topic and `.schema[.version]`, taking the longest dotted prefix
/// that `exists` says is a topic name. `Ok(None)` when no prefix is a topic.
///
/// Linear in the length of FROM: only prefixes no longer than a topic name can be
/// one, so at most `MAX_TOPIC_NAME_LEN / 2 + 1` names of at most that many bytes are
/// looked up, however many segments follow.
pub fn resolve(from: &[Token], exists: impl Fn(&str) -> bool) -> Result<Option<From>, String> {
    let mut joined = String::new();
    let mut ends = Vec::new();
    for (i, t) in from.iter().enumerate() {
        if i > 0 {
            joined.push('.');
        }
        if joined.len() + t.text.len() > MAX_TOPIC_NAME_LEN {
            break;
        }
        joined.push_str(&t.text);
        ends.push(joined.len());
    }
    for k in (1..=ends.len()).rev() {
        let name = &joined[..ends[k - 1]];
        if !exists(name) {
            continue;
        }
        let rest = &from[k..];
        let mut out = From {
            topic: name.to_string(),
            schema: None,
            version: None,
        };
        if let Some(schema) = rest.first() {
            if !(schema.is_name() || schema.kind == Kind::Asterisk) {
                return Err(syntax(schema, "invalid schema identifier"));
            }
            out.schema = Some(schema.text.clone());
        }
        if let Some(version) = rest.get(1) {
            if rest[0].kind == Kind::Asterisk {
                return Err(syntax(version, "cannot specify version for * schema"));
            }
            if version.kind != Kind::Numeric {
                return Err(syntax(version, "invalid version identifier"));
            }
            out.version = Some(
                version
                    .text
                    .parse()
                    .map_err(|_| syntax(version, "could not parse schema version"))?,
            );
        }
        if let Some(extra) = rest.get(2) {
            return Err(syntax(extra, "invalid from clause"));
        }
        return Ok(Some(out));
    }
    Ok(None)
}
