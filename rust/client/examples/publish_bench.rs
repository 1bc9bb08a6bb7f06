//! The pure-Rust publish benchmark client: the ceiling that the Python SDKs are compared
//! against in `benches/publish_compare.py`. Prints one JSON line.
//!
//!     cargo run --release -p ensign-client --example publish_bench -- \
//!         --endpoint 127.0.0.1:5356 [--auth-url URL --client-id ID --client-secret S] \
//!         [--topic bench] [--events 1000000] [--size 100] [--batch 1000] [--rate 0]
//!
//! `--rate 0` publishes as fast as the window allows, in batches of `--batch`; `--rate R`
//! publishes one event every 1/R s and reports publish→ack latency percentiles.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ensign_client::publisher::{encode_type, Counter};
use ensign_client::{
    Admit, Client, ClientConfig, Credentials, EventFields, Outcome, OutcomeSink, Secret,
};
use parking_lot::Mutex;

struct Args {
    endpoint: String,
    auth: Option<Credentials>,
    topic: String,
    events: usize,
    size: usize,
    batch: usize,
    rate: f64,
}

fn parse() -> Args {
    let mut a = Args {
        endpoint: "127.0.0.1:5356".into(),
        auth: None,
        topic: "bench".into(),
        events: 1_000_000,
        size: 100,
        batch: 1000,
        rate: 0.0,
    };
    let (mut url, mut id, mut secret) = (None, String::new(), String::new());
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--endpoint" => a.endpoint = v,
            "--auth-url" => url = Some(v),
            "--client-id" => id = v,
            "--client-secret" => secret = v,
            "--topic" => a.topic = v,
            "--events" => a.events = v.parse().expect("--events"),
            "--size" => a.size = v.parse().expect("--size"),
            "--batch" => a.batch = v.parse().expect("--batch"),
            "--rate" => a.rate = v.parse().expect("--rate"),
            _ => panic!("unknown argument {k}"),
        }
    }
    a.auth = url.map(|auth_url| Credentials {
        auth_url,
        client_id: id,
        client_secret: Secret::new(secret),
    });
    a
}

/// Records the ack time of each event (rate mode).
struct Latency {
    sent: Mutex<Vec<Option<Instant>>>,
    lat: Mutex<Vec<Duration>>,
    count: Counter,
}

impl OutcomeSink for Latency {
    fn outcome(&self, index: u32, id: &[u8; 16], o: Outcome<'_>) {
        if let Some(t) = self.sent.lock()[index as usize] {
            self.lat.lock().push(t.elapsed());
        }
        self.count.outcome(index, id, o);
    }
}

/// CPU time (user + system) of this process so far, all threads included.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let a = parse();
    let mut cfg = ClientConfig::local(&a.endpoint);
    cfg.credentials = a.auth.clone();
    let client = Client::new(cfg).expect("client");
    let _ = client.create_topic(&a.topic).await;
    let p = client.publisher().clone();
    let topic = p.resolve(&a.topic).await.expect("resolve topic");
    let data: Vec<u8> = vec![b'x'; a.size];
    let ty = encode_type("Bench", 1, 0, 0);
    let fields: Vec<EventFields<'_>> = (0..a.events)
        .map(|_| EventFields {
            data: &data,
            mimetype: 50,
            type_pb: &ty,
            meta: &[],
            created: (1_700_000_000, 0),
        })
        .collect();
    let sink = Arc::new(Latency {
        sent: Mutex::new(vec![None; a.events]),
        lat: Mutex::new(Vec::with_capacity(if a.rate > 0.0 { a.events } else { 0 })),
        count: Counter::default(),
    });
    let dyn_sink: Arc<dyn OutcomeSink> = sink.clone();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut done = 0;
    while done < a.events {
        let end = if a.rate > 0.0 {
            let due = t0 + Duration::from_secs_f64(done as f64 / a.rate);
            tokio::time::sleep_until(due.into()).await;
            sink.sent.lock()[done] = Some(Instant::now());
            done + 1
        } else {
            (done + a.batch).min(a.events)
        };
        while done < end {
            match p
                .try_publish(&topic, &fields[done..end], &dyn_sink, done as u32)
                .expect("publish")
            {
                Admit::Accepted(n) => done += n,
                Admit::UnknownTopic => panic!("unknown topic"),
            }
            if done < end {
                p.wait_for_room().await.expect("room");
            }
        }
    }
    sink.count.wait_for(a.events as u64).await;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let mut lat = sink.lat.lock().clone();
    lat.sort();
    let pct = |q: f64| {
        lat.get(((lat.len() as f64 * q) as usize).min(lat.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1e6)
    };
    println!(
        "{{\"sdk\": \"rust\", \"mode\": \"{}\", \"size\": {}, \"events\": {}, \"batch\": {}, \"seconds\": {:.4}, \"events_per_s\": {:.1}, \"cpu_per_event_us\": {:.3}, \"acked\": {}, \"nacked\": {}, \"p50_us\": {}, \"p99_us\": {}}}",
        if a.rate > 0.0 { "rate" } else { "batch" },
        a.size,
        a.events,
        a.batch,
        secs,
        a.events as f64 / secs,
        cpu / a.events as f64 * 1e6,
        sink.count.acked(),
        sink.count.nacked(),
        pct(0.5).map_or("null".into(), |v| format!("{v:.1}")),
        pct(0.99).map_or("null".into(), |v| format!("{v:.1}")),
    );
    let _ = p.close(Duration::from_secs(10)).await;
}
