//! EnSQL parser: the real server's grammar and state machine (semantics §6.9), with its
//! error messages (`syntax error at position N near "X": ...`). One extension: the topic
//! after FROM is kept as its dotted path, so that a topic whose name contains dots can
//! be resolved against the project's names (`resolve`) before the rest is read as
//! `.schema[.version]`.
//!
//! Concurrency: pure functions.

use super::lexer::{tokenize, Kind, Token};

/// A parsed SELECT. The field list, aliases, schema, version and WHERE are checked but,
/// as in the real server, not used to filter or project.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Query {
    pub fields: Vec<String>,
    pub aliases: Vec<(String, String)>,
    /// FROM `a.b.c`: the segments as tokens, resolved by `resolve`.
    pub from: Vec<Token>,
    pub has_where: bool,
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

pub fn syntax(tok: &Token, msg: &str) -> String {
    format!(
        "syntax error at position {} near {:?}: {msg}",
        tok.pos, tok.text
    )
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
        where_clause(&mut p)?;
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

/// WHERE cond {AND|OR cond}, cond := ident op value | ( ... ). Checked, not evaluated.
fn where_clause(p: &mut Parser) -> Result<(), String> {
    let mut depth = 0usize;
    let first = p.peek();
    if !(first.is("(") || first.is_name()) {
        return Err(syntax(&first, "invalid where clause"));
    }
    loop {
        while p.peek().is("(") {
            p.pop();
            depth += 1;
        }
        let field = p.pop();
        if !field.is_name() {
            return Err(syntax(
                &field,
                "where clause predicates expressions must start with an identifier",
            ));
        }
        let op = p.peek();
        if op.kind != Kind::Operator {
            return Err(syntax(&op, "invalid where clause"));
        }
        if op.is("AND") || op.is("OR") {
            return Err(syntax(
                &op,
                "where clause expressions require comparison operators",
            ));
        }
        p.pop();
        let value = p.peek();
        if !matches!(value.kind, Kind::Quoted | Kind::Numeric | Kind::Boolean) {
            return Err(syntax(&value, "invalid where clause"));
        }
        p.pop();
        while p.peek().is(")") {
            let t = p.pop();
            depth = depth
                .checked_sub(1)
                .ok_or_else(|| syntax(&t, "cannot close expression parentheses"))?;
        }
        let next = p.peek();
        if next.is("AND") || next.is("OR") {
            p.pop();
            let after = p.peek();
            if !(after.is("(") || after.is_name()) {
                return Err(syntax(&after, "invalid where clause"));
            }
            continue;
        }
        if p.at_end() || next.is("OFFSET") || next.is("LIMIT") {
            return Ok(());
        }
        return Err(syntax(&next, "invalid where clause"));
    }
}

/// Splits FROM into topic and `.schema[.version]`, taking the longest dotted prefix
/// that `exists` says is a topic name. `Ok(None)` when no prefix is a topic.
pub fn resolve(from: &[Token], exists: impl Fn(&str) -> bool) -> Result<Option<From>, String> {
    for k in (1..=from.len()).rev() {
        let name: Vec<&str> = from[..k].iter().map(|t| t.text.as_str()).collect();
        let name = name.join(".");
        if !exists(&name) {
            continue;
        }
        let rest = &from[k..];
        let mut out = From {
            topic: name,
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
