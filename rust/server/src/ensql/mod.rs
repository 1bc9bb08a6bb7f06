//! EnSQL: the query language of the EnSQL RPC. `lexer` and `parser` check the documented
//! grammar with the real server's messages and build the WHERE expression; `filter`
//! evaluates it (and FROM's schema and version) against events; `exec` streams a
//! topic's stored events with OFFSET, LIMIT, `include_duplicates` and the filter
//! applied.
//!
//! Hardening: no input panics (property-tested in `tests/ensql_fuzz.rs`), parsing is
//! linear and bounded by `MAX_QUERY_BYTES` (checked by the RPC before parsing).
//!
//! Concurrency: parsing is pure; execution runs on the blocking pool (see `exec`).

pub mod exec;
pub mod filter;
pub mod lexer;
pub mod parser;

pub use parser::{parse, resolve, From, Query};

/// Default limit on the length of a query (`ServerConfig::max_query_bytes`).
// NOTE: 64 KiB holds thousands of conditions; it bounds the tokens a query can make
// (~1 MiB of memory at most) where the 8 MiB message limit alone allowed ~450 MiB.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn err(q: &str) -> String {
        parse(q).unwrap_err()
    }

    #[test]
    fn accepts_the_grammar() {
        let q = parse("SELECT * FROM orders OFFSET 5 LIMIT 10;").unwrap();
        assert_eq!(q.fields, ["*"]);
        assert_eq!((q.offset, q.limit), (Some(5), Some(10)));
        let q = parse(
            "select a as b, c from t.Sch.2 where (x = 'y' and z > 3) or w != true limit 1 offset 2",
        )
        .unwrap();
        assert_eq!(q.aliases, [("a".to_string(), "b".to_string())]);
        assert!(q.has_where);
        assert_eq!(q.filter.as_ref().unwrap().any.len(), 2);
        assert_eq!(q.from.len(), 3);
        assert_eq!((q.offset, q.limit), (Some(2), Some(1)));
    }

    #[test]
    fn real_error_messages() {
        assert_eq!(err("   "), "empty query is invalid");
        assert_eq!(
            err("SELECT FROM t"),
            "SELECT requires field projection or *"
        );
        assert_eq!(
            err("SELECT *, a FROM t"),
            "cannot select * and specify fields"
        );
        assert_eq!(
            err("UPDATE t"),
            "syntax error at position 0 near \"UPDATE\": invalid query type"
        );
        assert_eq!(
            err("SELECT * FROM"),
            "syntax error at position 13 near \"\": invalid topic identifier"
        );
        assert_eq!(
            err("SELECT * FROM t LIMIT x"),
            "syntax error at position 22 near \"x\": invalid limit"
        );
        assert_eq!(
            err("SELECT * FROM t LIMIT 1 LIMIT 2"),
            "syntax error at position 24 near \"LIMIT\": invalid limit clause"
        );
        assert_eq!(
            err("SELECT * FROM t LIMIT 1 OFFSET 2 LIMIT 3"),
            "syntax error at position 39 near \"3\": limit has already been set"
        );
        assert_eq!(
            err("SELECT * AS x FROM t"),
            "syntax error at position 12 near \"x\": cannot alias *"
        );
        assert_eq!(err("SELECT * FROM t WHERE a AND b"), "syntax error at position 24 near \"AND\": where clause expressions require comparison operators");
        assert_eq!(
            err("SELECT * FROM t WHERE x = 'a"),
            "syntax error at position 26 near \"'a\": quoted string missing closing quote"
        );
    }

    #[test]
    fn where_builds_an_or_of_ands() {
        use filter::{Literal, Op, Term};
        let q =
            parse("SELECT * FROM t WHERE a = 1 AND (b = 'x' OR c != true) OR d < -2.5").unwrap();
        let e = q.filter.unwrap();
        assert_eq!(e.any.len(), 2);
        assert_eq!(e.any[0].len(), 2);
        let Term::Group(g) = &e.any[0][1] else {
            panic!("a group")
        };
        assert_eq!(g.any.len(), 2);
        let Term::Cond(d) = &e.any[1][0] else {
            panic!("a condition")
        };
        assert_eq!(
            (d.field.as_str(), d.op, &d.value),
            ("d", Op::Lt, &Literal::Num(-2.5))
        );
    }

    #[test]
    fn where_checks_what_it_cannot_evaluate() {
        for (q, msg) in [
            (
                "SELECT * FROM t WHERE (a = 1",
                "expression parentheses are not closed",
            ),
            (
                "SELECT * FROM t WHERE a = 1)",
                "cannot close expression parentheses",
            ),
            (
                "SELECT * FROM t WHERE a = 1-2",
                "could not parse numeric value",
            ),
            (
                "SELECT * FROM t WHERE a LIKE 3",
                "like patterns must be quoted strings",
            ),
            (
                "SELECT * FROM t WHERE a > true",
                "booleans can only be compared with = or !=",
            ),
        ] {
            let e = err(q);
            assert!(e.ends_with(msg), "{q}: {e}");
        }
        let deep = format!(
            "SELECT * FROM t WHERE {}a = 1{}",
            "(".repeat(40),
            ")".repeat(40)
        );
        assert!(err(&deep).ends_with("too many nested parentheses"));
        let long = format!("SELECT * FROM t WHERE a LIKE '{}'", "%".repeat(2000));
        assert!(err(&long).ends_with("like pattern is too long"));
        let near = err(&format!("SELECT * FROM t WHERE {} AND b", "x".repeat(1000)));
        assert!(
            near.len() < 200,
            "error messages quote a bounded part: {near}"
        );
    }

    #[test]
    fn resolving_a_long_from_is_linear() {
        // `FROM a.a.a…` with 30k segments: the names looked up are bounded by the
        // longest topic name, not by the query (this was quadratic).
        let sql = format!("SELECT * FROM a{}", ".a".repeat(30_000));
        let q = parse(&sql).unwrap();
        let looked_up = std::cell::Cell::new(0usize);
        let res = resolve(&q.from, |n| {
            looked_up.set(looked_up.get() + n.len());
            false
        });
        assert_eq!(res, Ok(None));
        assert!(looked_up.get() <= 256 * 512, "{} bytes", looked_up.get());
        let res = resolve(&q.from, |n| n == "a").unwrap_err();
        assert!(res.contains("invalid version identifier"), "{res}");
    }

    #[test]
    fn resolves_dotted_topic_names() {
        let names = ["testing.topics.topica", "orders"];
        let exists = |n: &str| names.contains(&n);
        let q = parse("SELECT * FROM testing.topics.topica.Order.2").unwrap();
        let f = resolve(&q.from, exists).unwrap().unwrap();
        assert_eq!(f.topic, "testing.topics.topica");
        assert_eq!(f.schema.as_deref(), Some("Order"));
        assert_eq!(f.version, Some(2));
        let q = parse("SELECT * FROM orders.*.1").unwrap();
        assert!(resolve(&q.from, exists)
            .unwrap_err()
            .contains("cannot specify version for * schema"));
        let q = parse("SELECT * FROM nope").unwrap();
        assert_eq!(resolve(&q.from, exists).unwrap(), None);
    }
}
