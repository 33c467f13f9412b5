//! Clients of the dashboard for the benchmarks: each asks what the page
//! asks every second (the overview, then the children it has not seen yet)
//! until stopped, and counts its requests and their latency.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the clients measured.
#[derive(Debug, Clone, Default)]
pub struct Polled {
    pub requests: usize,
    pub failures: usize,
    /// Mean and worst latency, milliseconds.
    pub mean_ms: f64,
    pub max_ms: f64,
    /// Children the last client had received when stopped.
    pub children_seen: usize,
}

/// `GET target` over a fresh connection; the body, or None on any failure.
fn get(addr: SocketAddr, target: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let req = format!(
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
        addr.port()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    if !text.starts_with("HTTP/1.1 200") {
        return None;
    }
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

/// `clients` threads polling the dashboard at `addr` every `every`.
pub struct Pollers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<(Vec<f64>, usize, usize)>>,
}

impl Pollers {
    pub fn start(addr: SocketAddr, clients: usize, every: Duration) -> Pollers {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..clients)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let (mut lat, mut failures, mut seen) = (Vec::new(), 0usize, 0usize);
                    while !stop.load(Ordering::Relaxed) {
                        let tick = Instant::now();
                        for target in [
                            "/api/runs/0/overview".to_string(),
                            format!("/api/runs/0/children?from={seen}"),
                        ] {
                            let t = Instant::now();
                            match get(addr, &target) {
                                Some(body) => {
                                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                                    if target.contains("children") {
                                        if let Ok(v) =
                                            serde_json::from_str::<serde_json::Value>(&body)
                                        {
                                            let from = v["from"].as_u64().unwrap_or(0) as usize;
                                            let n = v["children"].as_array().map_or(0, Vec::len);
                                            seen = from + n;
                                        }
                                    }
                                }
                                None => failures += 1,
                            }
                        }
                        std::thread::sleep(every.saturating_sub(tick.elapsed()));
                    }
                    (lat, failures, seen)
                })
            })
            .collect();
        Pollers { stop, threads }
    }

    pub fn stop(self) -> Polled {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        let mut out = Polled::default();
        for t in self.threads {
            if let Ok((lat, failures, seen)) = t.join() {
                all.extend(lat);
                out.failures += failures;
                out.children_seen = seen;
            }
        }
        out.requests = all.len();
        out.mean_ms = all.iter().sum::<f64>() / all.len().max(1) as f64;
        out.max_ms = all.iter().copied().fold(0.0, f64::max);
        out
    }
}
