//! EnSQL: the query language of the EnSQL RPC. `lexer` and `parser` check the documented
//! grammar with the real server's messages; `exec` streams a topic's stored events with
//! OFFSET, LIMIT and `include_duplicates` applied, as the real executor does.
//!
//! Concurrency: parsing is pure; execution reads the topic index in chunks under its
//! read lock (see `exec`).

pub mod exec;
pub mod lexer;
pub mod parser;

pub use parser::{parse, resolve, From, Query};

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
