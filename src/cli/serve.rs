//! `nas-actor serve` and `run --dashboard`: bind, say where, serve.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::CliError;
use crate::serve::{Dashboard, ServeError, ServeOptions, DEFAULT_HOST};

fn start_error(e: ServeError) -> CliError {
    match e {
        ServeError::Server(_) => CliError::from_error(1, e),
        _ => CliError::from_error(2, e),
    }
}

fn say(lines: &[String]) {
    let mut o = std::io::stdout().lock();
    for l in lines {
        let _ = writeln!(o, "{l}");
    }
    let _ = o.flush();
}

/// `nas-actor serve RUN_DIR… --host --port`: serve until stopped (Ctrl-C).
pub fn serve(dirs: Vec<PathBuf>, host: String, port: u16) -> Result<(), CliError> {
    let options = ServeOptions {
        dirs,
        host,
        port,
        allow_missing: false,
    };
    let dashboard = Dashboard::bind(&options).map_err(start_error)?;
    say(&dashboard.lines());
    dashboard.run().map_err(start_error)
}

/// `run --dashboard=PORT`: serve the run's directory on 127.0.0.1 from a
/// thread while the search goes (the directory may not exist yet).
pub fn dashboard(dir: &Path, port: u16) -> Result<(), CliError> {
    let options = ServeOptions {
        dirs: vec![dir.to_path_buf()],
        host: DEFAULT_HOST.into(),
        port,
        allow_missing: true,
    };
    let dashboard = Dashboard::bind(&options).map_err(start_error)?;
    say(&dashboard.lines());
    std::thread::Builder::new()
        .name("dashboard".into())
        .spawn(move || {
            if let Err(e) = dashboard.run() {
                eprintln!("warning: the dashboard stopped ({e}); the search goes on");
            }
        })
        .map_err(|e| CliError::runtime(format!("cannot start the dashboard thread: {e}")))?;
    Ok(())
}
