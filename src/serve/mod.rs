//! `nas-actor serve RUN_DIR…` and `nas-actor run CONFIG --dashboard`: a
//! live dashboard in the browser. It reads run directories as any other
//! reader does (the durable interface: `children.jsonl`, `updates.jsonl`,
//! `summary.json`, `slots.json`, `config.toml`, child logs), incrementally
//! as they grow, and never writes into them nor talks to a running search;
//! so it works on a run that is going, a finished one, a Slurm run seen over
//! a shared filesystem, and several runs at once.
//!
//! Security: it binds 127.0.0.1 by default and then answers only requests
//! whose `Host` is this machine's loopback. Binding any other address
//! needs the access token generated at start (printed once, in the address
//! to open); without it the answer is 401. Only GET is served, without
//! bodies, and no path names a file: see [`http`] and [`guard`].

pub mod api;
mod assets;
pub mod guard;
pub mod http;
pub mod runs;
mod tail;
pub mod tally;

use std::net::{IpAddr, SocketAddr, TcpListener, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use rand::Rng;

pub use runs::Run;

use crate::store::CONFIG_FILE;

/// The port `serve` and `run --dashboard` use unless told.
pub const DEFAULT_PORT: u16 = 8080;
/// The address `serve` binds unless told.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// Server threads (the search keeps the cores).
const WORKERS: usize = 2;
/// Open connections per worker at most.
const MAX_CONNECTIONS: usize = 256;

/// Why the dashboard could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A run directory that does not exist.
    #[error("{} does not exist: give the run directory of a search (its experiment.output_dir)", path.display())]
    NoDir { path: PathBuf },
    /// A directory that is not a run directory.
    #[error("{} is not a run directory (no {CONFIG_FILE} in it): give the experiment.output_dir of a search", path.display())]
    NotARun { path: PathBuf },
    /// `--host` names no address of this machine.
    #[error("--host {host}: {why}; give an IP address of this machine, e.g. 127.0.0.1 (the default) or 0.0.0.0")]
    BadHost { host: String, why: String },
    /// The address could not be bound (port in use, no permission).
    #[error("cannot listen on {addr}: {source}; {hint}")]
    Bind {
        addr: String,
        hint: &'static str,
        source: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("the dashboard server failed: {0}")]
    Server(#[source] std::io::Error),
}

/// Where and what to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub dirs: Vec<PathBuf>,
    pub host: String,
    /// 0 picks a free port (the address printed says which).
    pub port: u16,
    /// For `run --dashboard`: the run directory may not exist yet.
    pub allow_missing: bool,
}

/// A bound dashboard, not yet serving.
pub struct Dashboard {
    listener: TcpListener,
    addr: SocketAddr,
    token: Option<String>,
    runs: Vec<Run>,
}

/// The real path of `dir`; for a directory not there yet, its parent's
/// real path joined with its name (what it will be once created).
fn real_path(dir: &Path) -> Option<PathBuf> {
    if let Ok(p) = dir.canonicalize() {
        return Some(p);
    }
    let name = dir.file_name()?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Some(real_path(&parent)?.join(name))
}

/// A fresh access token: 32 hex digits from the operating system's
/// randomness (never from the run's seed: it must not be guessable).
pub fn new_token() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Dashboard {
    /// Check the run directories and bind the address (nothing is served yet).
    pub fn bind(options: &ServeOptions) -> Result<Dashboard, ServeError> {
        let mut runs = Vec::new();
        for dir in &options.dirs {
            if !options.allow_missing {
                if !dir.is_dir() {
                    return Err(ServeError::NoDir { path: dir.clone() });
                }
                if !dir.join(CONFIG_FILE).is_file() {
                    return Err(ServeError::NotARun { path: dir.clone() });
                }
            }
            let root = real_path(dir).ok_or_else(|| ServeError::NoDir { path: dir.clone() })?;
            runs.push(Run::new(dir, &root));
        }
        let addrs: Vec<SocketAddr> = match options.host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, options.port)],
            Err(_) => (options.host.as_str(), options.port)
                .to_socket_addrs()
                .map_err(|e| ServeError::BadHost {
                    host: options.host.clone(),
                    why: e.to_string(),
                })?
                .collect(),
        };
        let Some(first) = addrs.first().copied() else {
            return Err(ServeError::BadHost {
                host: options.host.clone(),
                why: "it resolves to no address".into(),
            });
        };
        let listener = TcpListener::bind(first).map_err(|source| ServeError::Bind {
            addr: first.to_string(),
            hint: match source.kind() {
                std::io::ErrorKind::AddrInUse => {
                    "the port is in use: choose another with --port (or --dashboard=PORT)"
                }
                std::io::ErrorKind::PermissionDenied => {
                    "ports below 1024 need privileges: choose a port above 1024"
                }
                std::io::ErrorKind::AddrNotAvailable => {
                    "no interface of this machine has that address: check --host"
                }
                _ => "check --host and --port",
            },
            source,
        })?;
        let addr = listener.local_addr().unwrap_or(first);
        let token = (!addr.ip().is_loopback()).then(new_token);
        Ok(Dashboard {
            listener,
            addr,
            token,
            runs,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The access token, when the address is not a loopback one.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The address to open in a browser (with the token when there is one).
    pub fn url(&self) -> String {
        let host = if self.addr.ip().is_unspecified() {
            "HOSTNAME".to_string()
        } else {
            match self.addr.ip() {
                IpAddr::V6(ip) => format!("[{ip}]"),
                IpAddr::V4(ip) => ip.to_string(),
            }
        };
        let port = self.addr.port();
        match &self.token {
            Some(t) => format!("http://{host}:{port}/?token={t}"),
            None => format!("http://{host}:{port}/"),
        }
    }

    /// What to tell the person who started it (the token appears here only).
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!("dashboard: {}", self.url())];
        if self.token.is_some() {
            lines.push(
                "dashboard: the access token above is shown once; without it the server answers 401"
                    .into(),
            );
        } else {
            lines.push(format!(
                "dashboard: from another machine: ssh -L {p}:127.0.0.1:{p} THIS_HOST, then open http://localhost:{p}/",
                p = self.addr.port()
            ));
        }
        lines
    }

    /// Serve until the process ends (or the server fails).
    pub fn run(self) -> Result<(), ServeError> {
        let shared = web::Data::new(http::Shared {
            runs: self.runs.into_iter().map(Mutex::new).collect(),
            token: self.token,
        });
        let listener = self.listener;
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || {
                App::new()
                    .app_data(shared.clone())
                    .default_service(web::to(http::handle))
            })
            .workers(WORKERS)
            .max_connections(MAX_CONNECTIONS)
            .client_request_timeout(Duration::from_secs(10))
            .client_disconnect_timeout(Duration::from_secs(2))
            .disable_signals()
            .listen(listener)
            .map_err(ServeError::Server)?
            .run()
            .await
            .map_err(ServeError::Server)
        })
    }

    /// Serve on a thread of its own (for `run --dashboard`): the process's
    /// end ends it.
    pub fn spawn(self) -> std::io::Result<std::thread::JoinHandle<Result<(), ServeError>>> {
        std::thread::Builder::new()
            .name("dashboard".into())
            .spawn(move || self.run())
    }
}
