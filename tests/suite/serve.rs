//! Tests of the dashboard (`serve`, `run --dashboard`): every data endpoint
//! on a synthetic run against its logs, a run growing while served, path
//! traversal refused, the token of a non-loopback bind, bad input through
//! the binary, and the page in headless Chromium on a running search.

mod browser;
mod endpoints;
mod security;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nas_actor::actors::{run, RunOptions};
use nas_actor::serve::{Dashboard, ServeOptions};

use crate::orchestrator::synthetic_config;

/// One HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        assert_eq!(self.status, 200, "{}", self.body);
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Send `request` (the whole request text) and read the answer.
pub fn raw(addr: SocketAddr, request: &str) -> Answer {
    let mut s = TcpStream::connect(addr).expect("connect to the dashboard");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(request.as_bytes()).expect("send");
    let mut bytes = Vec::new();
    let _ = s.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

/// `GET target` with `extra` header lines (each ending in `\r\n`).
pub fn get_with(addr: SocketAddr, target: &str, extra: &str) -> Answer {
    raw(
        addr,
        &format!(
            "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n{extra}\r\n",
            addr.port()
        ),
    )
}

pub fn get(addr: SocketAddr, target: &str) -> Answer {
    get_with(addr, target, "")
}

/// Serve `dirs` on `host`, a free port, from a thread; the address and token.
pub fn serve(dirs: &[PathBuf], host: &str) -> (SocketAddr, Option<String>) {
    let d = Dashboard::bind(&ServeOptions {
        dirs: dirs.to_vec(),
        host: host.into(),
        port: 0,
        allow_missing: false,
    })
    .expect("bind the dashboard");
    let token = d.token().map(str::to_string);
    let mut addr = d.addr();
    if addr.ip().is_unspecified() {
        addr.set_ip([127, 0, 0, 1].into());
    }
    d.spawn().expect("dashboard thread");
    (addr, token)
}

/// A finished synthetic search in `dir`: 4 epochs per child, early stopping
/// on, a tenth of the children failing, 2 slots, `budget` children.
pub fn finished_run(dir: &Path, budget: usize) {
    let mut cfg = synthetic_config(
        dir,
        budget,
        "[child.synthetic]\ndelay_ms = 1\nepochs = 4\nfailure_rate = 0.1\n\n[search.early_stop]\nenabled = true\ngrace_epochs = 1\nmin_children = 4\n",
    );
    cfg.devices.cpu_workers = 2;
    run(cfg, &RunOptions::default()).expect("the synthetic search");
}
