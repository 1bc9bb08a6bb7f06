//! EnSQL WHERE and FROM schema/version filter the results (the real server ignores
//! them: we never return unfiltered rows as if filtered), and hostile queries get a
//! clean `INVALID_ARGUMENT` without panicking or stalling other calls.

mod common;

use bytes::Bytes;
use common::*;
use ensign_proto::api;
use prost::Message;
use tonic::Code;

fn json_event(
    topic: &Bytes,
    i: u64,
    json: &str,
    meta: &[(&str, &str)],
    ty: &str,
) -> api::EventWrapper {
    let event = api::Event {
        data: Bytes::copy_from_slice(json.as_bytes()),
        mimetype: 4,
        metadata: meta
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        r#type: Some(api::Type {
            name: ty.into(),
            major_version: if i.is_multiple_of(2) { 1 } else { 2 },
            ..Default::default()
        }),
        ..Default::default()
    };
    api::EventWrapper {
        topic_id: topic.clone(),
        local_id: local_id(i),
        event: event.encode_to_vec().into(),
        ..Default::default()
    }
}

fn ns(events: &[api::EventWrapper]) -> Vec<i64> {
    events
        .iter()
        .map(|e| {
            let v: serde_json::Value = serde_json::from_slice(&data(e)).unwrap();
            v["n"].as_i64().unwrap()
        })
        .collect()
}

#[tokio::test]
async fn where_filters_on_payload_fields_and_metadata() {
    let (_h, mut c) = memory_server().await;
    let t = create_topic(&mut c, "readings").await;
    let events = (0..10u64)
        .map(|i| {
            let json = format!(
                r#"{{"n": {i}, "sensor": "s{}", "ok": {}}}"#,
                i % 3,
                i % 2 == 0
            );
            let region = if i < 5 { "east" } else { "west" };
            let ty = if i < 8 { "Reading" } else { "Alarm" };
            json_event(&t, i, &json, &[("region", region)], ty)
        })
        .collect();
    publish_all(&mut c, events).await;
    for (q, want) in [
        ("SELECT * FROM readings WHERE n > 6", vec![7, 8, 9]),
        ("SELECT * FROM readings WHERE n >= 2 AND n < 4", vec![2, 3]),
        (
            "SELECT * FROM readings WHERE sensor = 's1' OR n = 0",
            vec![0, 1, 4, 7],
        ),
        (
            "SELECT * FROM readings WHERE (sensor = 's1' OR n = 0) AND region = 'west'",
            vec![7],
        ),
        (
            "SELECT * FROM readings WHERE ok = true AND n > 4",
            vec![6, 8],
        ),
        (
            "SELECT * FROM readings WHERE sensor LIKE 's_' AND n < 2",
            vec![0, 1],
        ),
        (
            "SELECT * FROM readings WHERE region ILIKE 'WE%' LIMIT 2",
            vec![5, 6],
        ),
        (
            "SELECT * FROM readings WHERE region != 'east' OFFSET 8",
            vec![8, 9],
        ),
        ("SELECT * FROM readings WHERE missing = 1", vec![]),
        ("SELECT * FROM readings.Alarm", vec![8, 9]),
        (
            "SELECT * FROM readings.Reading.2 WHERE n > 2",
            vec![3, 5, 7],
        ),
        ("SELECT * FROM readings.* WHERE n = 9", vec![9]),
    ] {
        let got = query(&mut c, q, false).await.unwrap();
        assert_eq!(ns(&got), want, "{q}");
    }
}

#[tokio::test]
async fn hostile_queries_get_invalid_argument() {
    let (_h, mut c) = memory_server().await;
    let t = create_topic(&mut c, "t").await;
    publish_all(&mut c, vec![wrapper(&t, 0, b"x")]).await;
    let too_long = format!("SELECT * FROM t WHERE a = '{}'", "x".repeat(70_000));
    let deep = format!(
        "SELECT * FROM t WHERE {}a = 1{}",
        "(".repeat(100),
        ")".repeat(100)
    );
    for (q, msg) in [
        // An unterminated string with a multi-byte character panicked the handler.
        (
            "SELECT * FROM t WHERE a = 'ab€",
            "syntax error at position 26 near \"'ab\": quoted string missing closing quote",
        ),
        (
            "SELECT * FROM t WHERE a = '😀",
            "syntax error at position 26 near \"'😀\": quoted string missing closing quote",
        ),
        (
            too_long.as_str(),
            "query is too long: 70028 bytes, the limit is 65536 bytes",
        ),
        (
            deep.as_str(),
            "syntax error at position 54 near \"(\": too many nested parentheses",
        ),
        (
            "SELECT * FROM t WHERE a > false",
            "syntax error at position 24 near \">\": booleans can only be compared with = or !=",
        ),
    ] {
        let err = query(&mut c, q, false).await.unwrap_err();
        assert_eq!((err.code(), err.message()), (Code::InvalidArgument, msg));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_huge_queries_do_not_stall_status() {
    let (h, mut c) = memory_server().await;
    let t = create_topic(&mut c, "a").await;
    publish_all(&mut c, (0..2000).map(|i| wrapper(&t, i, b"x")).collect()).await;
    // The worst shapes: a FROM of ~32k segments (quadratic before), just under the
    // size limit, and 1 MiB queries (refused by size). Each on its own connection.
    let from = format!("SELECT * FROM a{}", ".a".repeat(32_000));
    let big = format!("SELECT * FROM a{}", ".a".repeat(500_000));
    let scan = "SELECT * FROM a WHERE x = 1".to_string();
    let mut tasks = Vec::new();
    for q in [&from, &big, &from, &big, &scan, &scan] {
        let (endpoint, q) = (h.endpoint(), q.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = connect(&endpoint).await;
            query(&mut c, &q, false).await
        }));
    }
    // Status answers while they run (before: stalled for seconds per query).
    for _ in 0..20 {
        let s = bounded(c.status(api::HealthCheck::default()))
            .await
            .unwrap();
        assert_eq!(s.into_inner().status, 1);
    }
    for task in tasks {
        match bounded(task).await.unwrap() {
            Ok(rows) => assert!(rows.is_empty()),
            Err(e) => assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message()),
        }
    }
}
