//! At the open-file limit the accept loop backs off instead of spinning, and the server
//! serves again once connections go away.
//!
//! The server runs in a child process (this test binary again, running the ignored
//! `fd_limit_child` test) whose RLIMIT_NOFILE is lowered, so that the limit applies to
//! it alone. The parent fills it with TCP connections, reads its CPU time from
//! `/proc/PID/stat` over one second of saturation, then closes them and calls Status.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use ensign_proto::api;
use ensign_server::{ConnectionLimits, ServerConfig};

const CHILD_ENV: &str = "ENSIGN_FD_LIMIT_CHILD";
/// Low enough to reach with a few dozen connections, high enough for the runtime.
const FD_LIMIT: u64 = 64;
const CONNECTIONS: usize = 120;

/// Lines the child prints, read on a thread so that every wait has a timeout.
struct ChildLines {
    rx: mpsc::Receiver<String>,
}

impl ChildLines {
    fn expect(&self, prefix: &str) -> String {
        loop {
            let line = self
                .rx
                .recv_timeout(WAIT)
                .unwrap_or_else(|_| panic!("child did not print {prefix:?} in time"));
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.trim().to_string();
            }
        }
    }
}

fn ask(stdin: &mut ChildStdin, lines: &ChildLines, cmd: &str) -> Vec<u64> {
    writeln!(stdin, "{cmd}").unwrap();
    stdin.flush().unwrap();
    lines
        .expect(&format!("{cmd} "))
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start at field 3.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks as f64 / hz
}

fn spawn_child() -> (Child, ChildStdin, ChildLines) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["fd_limit_child", "--exact", "--ignored", "--nocapture"])
        .env(CHILD_ENV, FD_LIMIT.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (child, stdin, ChildLines { rx })
}

#[test]
fn accept_backs_off_at_the_open_file_limit_and_recovers() {
    let (mut child, mut stdin, lines) = spawn_child();
    let port = lines.expect("PORT ");
    let addr = format!("127.0.0.1:{port}");
    // More connections than the child has descriptors: the rest wait in its backlog.
    let conns: Vec<std::net::TcpStream> = (0..CONNECTIONS)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    lines.expect("SATURATED");
    let errors_before = ask(&mut stdin, &lines, "stats")[2];
    let cpu_before = cpu_seconds(child.id());
    // A measurement window, not a synchronisation: a spinning accept loop burns this
    // whole second on one core; a backing-off one sleeps through it.
    std::thread::sleep(Duration::from_secs(1));
    let cpu = cpu_seconds(child.id()) - cpu_before;
    let errors = ask(&mut stdin, &lines, "stats")[2] - errors_before;
    eprintln!("saturated for 1 s: {cpu:.3} s of CPU, {errors} accept errors");
    assert!(cpu < 0.1, "saturated server used {cpu:.2} s of CPU in 1 s");
    assert!(
        errors <= 20,
        "{errors} accept errors in 1 s: the back-off does not hold"
    );

    drop(conns);
    writeln!(stdin, "status").unwrap();
    stdin.flush().unwrap();
    lines.expect("STATUS OK");
    let stats = ask(&mut stdin, &lines, "stats");
    assert!(stats[0] > FD_LIMIT / 2, "accepted {stats:?}");
    drop(stdin);
    let out = child.wait().unwrap();
    assert!(out.success(), "child failed: {out:?}");
}

/// The server side of the test above; does nothing unless run by it.
#[test]
#[ignore = "child process of accept_backs_off_at_the_open_file_limit_and_recovers"]
fn fd_limit_child() {
    let Ok(limit) = std::env::var(CHILD_ENV) else {
        return;
    };
    let limit: u64 = limit.parse().unwrap();
    let lim = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: a plain system call on a valid struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let h = start(ServerConfig {
            connections: ConnectionLimits {
                // Connections that never handshake must keep their descriptors for the
                // whole test, and the limit must be the kernel's, not ours.
                handshake_timeout: Duration::from_secs(120),
                max_connections: 10_000,
                ..Default::default()
            },
            ..Default::default()
        })
        .await;
        println!("PORT {}", h.local_addr().port());
        // Saturated: (almost) every descriptor is taken, so `accept` fails from now on.
        let saturated = async {
            while std::fs::read_dir("/proc/self/fd")
                .map(|d| d.count() as u64 + 4 < limit)
                .unwrap_or(false)
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        bounded(saturated).await;
        println!("SATURATED");
        let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(4);
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                if tx.blocking_send(line).is_err() {
                    return;
                }
            }
        });
        while let Some(cmd) = rx.recv().await {
            match cmd.as_str() {
                "stats" => {
                    let s = h.grpc_listener_stats();
                    println!("stats {} {} {}", s.accepted, s.refused, s.accept_errors);
                }
                "status" => {
                    // Descriptors come back as the server closes the connections the
                    // parent dropped (and accepts and drops those still queued in its
                    // backlog); until then even this process's own `connect` can fail
                    // with EMFILE. So: retry until Status answers, within the bound.
                    let endpoint = format!("http://{}", h.endpoint());
                    let status = async {
                        loop {
                            let ch = tonic::transport::Endpoint::from_shared(endpoint.clone())
                                .unwrap()
                                .connect()
                                .await;
                            if let Ok(ch) = ch {
                                let mut c = api::ensign_client::EnsignClient::new(ch);
                                if c.status(api::HealthCheck::default()).await.is_ok() {
                                    return;
                                }
                            }
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    };
                    bounded(status).await;
                    println!("STATUS OK");
                }
                other => panic!("unknown command {other:?}"),
            }
        }
        h.shutdown().await;
    });
}
