//! EnSQL never panics: property tests of the lexer, the parser, FROM resolution and
//! filter evaluation with random and adversarial strings (grammar tokens in random
//! order, unterminated quotes with multi-byte characters, huge numbers, deep nesting,
//! random mutations of valid queries). A fixed number of cases per property keeps the
//! budget fixed in CI (a few seconds in a debug build).

use bytes::Bytes;
use ensign_proto::api;
use ensign_server::ensql::{self, filter::Filter, lexer};
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // No files written next to the sources in CI; failures print the input.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Pieces queries are made of, including broken and multi-byte ones.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "SELECT", "select", "*", "FROM", "from", "WHERE", "AND", "OR", "LIKE", "ILIKE", "AS",
            "OFFSET", "LIMIT", "(", ")", ",", ".", ";", "=", "!=", "<>", "<=", ">=", "<", ">", "'",
            "\\'", "\\", "-", "--", "1", "-2.5", "1.2.3", "1-", "true", "f", "€", "😀", "é",
            "\u{0}", "\u{301}", "$p", " ", "\t", "\n",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z_][a-zA-Z0-9_-]{0,6}",
        "'[^']{0,6}'",
        "'[^']{0,4}",
        "[0-9]{1,30}",
        any::<char>().prop_map(String::from),
    ]
}

fn soup() -> impl Strategy<Value = String> {
    (prop::collection::vec(piece(), 0..48), any::<bool>())
        .prop_map(|(parts, spaced)| parts.join(if spaced { " " } else { "" }))
}

const VALID: &[&str] = &[
    "SELECT * FROM orders",
    "select a, b AS c from t.Sch.2 where (x = 'y' and z > 3) or w != true limit 1 offset 2",
    "SELECT * FROM t WHERE name ILIKE '%€_%' AND n <= -1.5;",
    "SELECT * FROM a.b.c WHERE ((a = 1) OR (b = 'x')) OFFSET 3",
];

/// A valid query with random characters inserted, replaced or removed.
fn mutated() -> impl Strategy<Value = String> {
    (
        prop::sample::select(VALID),
        prop::collection::vec((any::<prop::sample::Index>(), any::<char>(), 0u8..3), 1..6),
    )
        .prop_map(|(q, edits)| {
            let mut chars: Vec<char> = q.chars().collect();
            for (at, c, how) in edits {
                let i = at.index(chars.len() + 1);
                match how {
                    0 => chars.insert(i, c),
                    1 if i < chars.len() => chars[i] = c,
                    _ if i < chars.len() => {
                        chars.remove(i);
                    }
                    _ => chars.push(c),
                }
            }
            chars.into_iter().collect()
        })
}

fn events() -> Vec<api::Event> {
    let ev = |data: &str, meta: &[(&str, &str)]| api::Event {
        data: Bytes::copy_from_slice(data.as_bytes()),
        metadata: meta
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        r#type: Some(api::Type {
            name: "Sch".into(),
            major_version: 2,
            ..Default::default()
        }),
        ..Default::default()
    };
    vec![
        ev(
            r#"{"x": "y", "z": 4, "w": false, "a": 1, "name": "€uro"}"#,
            &[],
        ),
        ev("not json", &[("x", "y"), ("n", "-3")]),
        ev("{broken", &[]),
        ev("[1, 2]", &[("b", "x")]),
        api::Event::default(),
    ]
}

/// Everything a query goes through, none of which may panic.
fn run(sql: &str) {
    let _ = lexer::tokenize(sql);
    let Ok(q) = ensql::parse(sql) else {
        return;
    };
    let names = ["orders", "t", "a", "a.b", "t.Sch"];
    let all: [fn(&str) -> bool; 2] = [|_| true, |_| false];
    for exists in all {
        let _ = ensql::resolve(&q.from, exists);
    }
    if let Ok(Some(from)) = ensql::resolve(&q.from, |n| names.contains(&n)) {
        let filter = Filter {
            schema: from.schema.filter(|s| s != "*"),
            version: from.version,
            condition: q.filter.clone(),
        };
        for e in events() {
            let _ = filter.matches(&e);
        }
    }
}

proptest! {
    #![proptest_config(config(4000))]

    #[test]
    fn random_unicode_never_panics(s in any::<String>()) {
        run(&s);
    }

    #[test]
    fn grammar_soup_never_panics(s in soup()) {
        run(&s);
        run(&format!("SELECT * FROM t WHERE {s}"));
    }

    #[test]
    fn mutated_queries_never_panic(s in mutated()) {
        run(&s);
    }

    #[test]
    fn unterminated_strings_with_multibyte_characters(
        prefix in "[a-z =]{0,8}",
        body in "[a-zé€😀\u{301}]{0,8}",
    ) {
        let sql = format!("SELECT * FROM t WHERE {prefix}'{body}");
        run(&sql);
        let err = ensql::parse(&sql).unwrap_err();
        prop_assert!(!err.is_empty());
    }
}

#[test]
fn adversarial_shapes_never_panic() {
    for sql in [
        format!("SELECT * FROM a{}", ".a".repeat(20_000)),
        format!("SELECT * FROM t WHERE {}a = 1", "(".repeat(10_000)),
        format!("SELECT * FROM t WHERE a = 1{}", ")".repeat(10_000)),
        format!(
            "SELECT * FROM t WHERE {}",
            "a = 1 AND ".repeat(5_000) + "b = 2"
        ),
        format!("SELECT * FROM t LIMIT {}", "9".repeat(5_000)),
        format!("SELECT * FROM t WHERE a LIKE '{}'", "%_".repeat(500)),
        format!("SELECT {} FROM t", "a,".repeat(10_000) + "b"),
        "'".repeat(10_000),
        "€".repeat(10_000),
    ] {
        run(&sql);
    }
}
