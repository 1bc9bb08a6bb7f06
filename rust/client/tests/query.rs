//! EnSQL against the local server: pages of results in order, OFFSET/LIMIT, no rows,
//! invalid queries with the server's message, reserved-word-prefixed topic names,
//! Explain, and closing a cursor early. Every wait is bounded.

mod common;

use common::*;
use ensign_client::subscriber::Pop;
use ensign_client::{Client, Error, QueryCursor, Received, TopicId};
use ensign_proto::api;

fn q(sql: &str) -> api::Query {
    api::Query {
        query: sql.to_string(),
        ..Default::default()
    }
}

async fn seed(c: &Client, name: &str, n: usize) -> TopicId {
    let id: TopicId = c.create_topic(name).await.unwrap().id[..]
        .try_into()
        .unwrap();
    let p = c.publisher();
    let topic = p.resolve(name).await.unwrap();
    assert_eq!(topic, id);
    let payloads = Payloads::new(n, 30);
    let (count, sink) = counter();
    publish_all(p, &topic, &payloads.fields(), &sink).await;
    tokio::time::timeout(WAIT, count.wait_for(n as u64))
        .await
        .unwrap();
    id
}

async fn all(cur: &QueryCursor) -> Vec<Received> {
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, async {
        loop {
            let page = cur.next_batch(256).await.expect("results");
            if page.is_empty() {
                return;
            }
            assert!(page.len() <= 256);
            out.extend(page);
        }
    })
    .await
    .expect("the query ends");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_come_in_pages_in_order() {
    let srv = server().await;
    let c = client(&srv.endpoint());
    let id = seed(&c, "orders", 3_000).await;
    let cur = c.query(q("SELECT * FROM orders")).await.unwrap();
    let rows = all(&cur).await;
    assert_eq!(rows.len(), 3_000);
    let payloads = Payloads::new(3_000, 30);
    for (r, want) in rows.iter().zip(&payloads.data) {
        assert_eq!(&r.data[..], &want[..]);
        assert_eq!(r.id.len(), 10);
        assert_eq!(&r.topic_id[..], &id);
    }
    assert!(rows.windows(2).all(|w| w[0].id < w[1].id), "RLID order");
    let mut out = Vec::new();
    assert_eq!(cur.pop(10, &mut out).unwrap(), Pop::Ended, "sticky end");
    srv.shutdown().await;
}

#[tokio::test]
async fn offset_and_limit_apply() {
    let srv = server().await;
    let c = client(&srv.endpoint());
    seed(&c, "t", 20).await;
    let rows = all(&c
        .query(q("SELECT * FROM t OFFSET 5 LIMIT 4"))
        .await
        .unwrap())
    .await;
    let payloads = Payloads::new(20, 30);
    let got: Vec<&[u8]> = rows.iter().map(|r| &r.data[..]).collect();
    let want: Vec<&[u8]> = payloads.data[5..9].iter().map(|d| &d[..]).collect();
    assert_eq!(got, want);
    srv.shutdown().await;
}

#[tokio::test]
async fn no_rows_and_invalid_queries_are_errors() {
    let srv = server().await;
    let c = client(&srv.endpoint());
    seed(&c, "t", 3).await;
    c.create_topic("empty").await.unwrap();
    let err = c.query(q("SELECT * FROM empty")).await.unwrap_err();
    assert!(matches!(err, Error::NoRows), "{err}");
    let err = c.query(q("SELECT * FROM t OFFSET 10")).await.unwrap_err();
    assert!(matches!(err, Error::NoRows), "{err}");
    let err = c.query(q("SELECT * FROM missing")).await.unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::InvalidArgument));
    assert!(err.to_string().contains("unknown topic in query"), "{err}");
    let err = c.query(q("SELECT FROM t")).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("SELECT requires field projection or *"),
        "{err}"
    );
    assert!(matches!(
        c.query(q("  ")).await,
        Err(Error::InvalidArgument(_))
    ));
    srv.shutdown().await;
}

#[tokio::test]
async fn explain_is_not_implemented_by_the_server() {
    let srv = server().await;
    let c = client(&srv.endpoint());
    let err = c.explain(q("SELECT * FROM t")).await.unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::Unimplemented));
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_cursor_early_stops_the_query() {
    let srv = server().await;
    let c = client(&srv.endpoint());
    seed(&c, "t", 5_000).await;
    let cur = c.query(q("SELECT * FROM t")).await.unwrap();
    let first = tokio::time::timeout(WAIT, cur.next_batch(10))
        .await
        .unwrap()
        .unwrap();
    assert!((1..=10).contains(&first.len()));
    cur.close();
    let mut out = Vec::new();
    assert_eq!(cur.pop(10, &mut out).unwrap(), Pop::Ended);
    drop(cur);
    // The server and client are still fine afterwards.
    let rows = all(&c.query(q("SELECT * FROM t LIMIT 3")).await.unwrap()).await;
    assert_eq!(rows.len(), 3);
    srv.shutdown().await;
}
