//! Durability: a server in a child process (this test binary, re-executed) takes events
//! with acks on disk, is killed with SIGKILL mid-stream, and a restarted server finds
//! every acknowledged event with EnSQL.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use ensign_proto::api::{self, publisher_reply::Embed};
use ensign_server::ServerConfig;
use prost::Message;

const CHILD_ENV: &str = "ENSIGN_KILL9_CHILD_DIR";

/// The child server process, killed (SIGKILL) and reaped however the test ends.
struct Child(std::process::Child);

impl Child {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

/// In the child: serve the directory and print the endpoint, until killed.
#[test]
fn child_server_entry() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let h = start(ServerConfig {
            data_dir: Some(dir.into()),
            ..Default::default()
        })
        .await;
        println!("ENDPOINT={}", h.endpoint());
        std::future::pending::<()>().await;
    });
}

#[tokio::test]
async fn acked_events_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Child(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_server_entry",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let endpoint = tokio::task::spawn_blocking(move || {
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            // libtest may print "test child_server_entry ... " on the same line.
            if let Some((_, e)) = line.split_once("ENDPOINT=") {
                return e.trim().to_string();
            }
        }
        panic!("child exited without an endpoint");
    });
    let endpoint = bounded(endpoint).await.unwrap();
    eprintln!("child listens on {endpoint}");
    let mut c = connect(&endpoint).await;
    let topic = create_topic(&mut c, "durable").await;
    let mut p = publish(&mut c, &[]).await;
    let tx = p.tx.clone();
    let t = topic.clone();
    let sender = tokio::spawn(async move {
        for i in 0..1_000_000u64 {
            if tx
                .send(event_req(wrapper(&t, i, &i.to_be_bytes())))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    p.half_close();
    let mut acked = HashSet::new();
    let target = 20_000;
    loop {
        match bounded(p.rx.message()).await {
            Ok(Some(api::PublisherReply {
                embed: Some(Embed::Ack(a)),
            })) => {
                acked.insert(u64::from_be_bytes(a.id[8..].try_into().unwrap()));
                if acked.len() == target {
                    child.kill(); // SIGKILL
                }
            }
            Ok(Some(other)) => panic!("unexpected reply {other:?}"),
            Ok(None) | Err(_) => break,
        }
    }
    sender.abort();
    eprintln!("{} acks before the kill", acked.len());
    assert!(acked.len() >= target, "{} acks", acked.len());

    let h = start(ServerConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    })
    .await;
    let mut c = connect(&h.endpoint()).await;
    let mut s = c
        .en_sql(api::Query {
            query: "SELECT * FROM durable".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut stored = HashSet::new();
    while let Some(e) = bounded(s.message()).await.unwrap() {
        let ev = api::Event::decode(e.event).unwrap();
        stored.insert(u64::from_be_bytes(ev.data[..].try_into().unwrap()));
    }
    let missing: Vec<_> = acked.difference(&stored).take(5).collect();
    assert!(missing.is_empty(), "acked but lost: {missing:?}");
    bounded(h.shutdown()).await;
}
