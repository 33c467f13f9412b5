//! The run directory: resolved config, append-only child log, atomic
//! checkpoints, best architectures, and the lock that keeps one writer.
//!
//! Layout of a run directory:
//!
//! | file | written | content |
//! |---|---|---|
//! | `config.toml` | first, atomically; rewritten on resume | the resolved [`Config`] |
//! | `run.lock` | by [`RunDir::lock`] | the pid of the process holding the `flock` |
//! | `children.jsonl` | appended and fsynced before a reward is used (one fsync per group of children) | one [`ChildRecord`] per line |
//! | `checkpoint/state.bin` | atomically, after controller updates | controller and optimizer state ([`checkpoint`] format) |
//! | `best.json` | atomically | a JSON array of the best [`ChildRecord`]s, best first |
//! | `slots.json` | atomically, every few seconds, by the reporter | where each trainer slot is ([`status`]) |
//! | other `*.json` | atomically, by [`RunDir::write_json`] | e.g. `summary.json` |
//!
//! Every write either completes or leaves the previous content intact, so a
//! run killed at any moment resumes from its directory.

mod atomic;
pub mod checkpoint;
pub mod jsonl;
mod lock;
mod log;
mod record;
mod resume;
pub mod status;
mod updates;

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::{Config, ConfigError};
pub use atomic::{atomic_write, atomic_write_with};
pub use jsonl::JsonlAppender;
pub use lock::RunLock;
pub use log::ChildLog;
pub use record::{top_records, ChildRecord};
pub use status::{SlotStatus, SlotsFile, SLOTS_FILE};
pub use updates::{UpdateRecord, UPDATES_FILE};

/// The resolved config of the run.
pub const CONFIG_FILE: &str = "config.toml";
/// The append-only child log.
pub const CHILDREN_FILE: &str = "children.jsonl";
/// The controller checkpoint, inside [`CHECKPOINT_DIR`].
pub const CHECKPOINT_FILE: &str = "state.bin";
/// The checkpoint directory.
pub const CHECKPOINT_DIR: &str = "checkpoint";
/// The best architectures.
pub const BEST_FILE: &str = "best.json";
/// The lock file.
pub const LOCK_FILE: &str = "run.lock";

/// Why the run directory could not be created, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or directory could not be written (permissions, full disk...).
    #[error("cannot write {}: {source}; the run stops, the last checkpoint is intact (free disk space or fix permissions, then resume with --resume)", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file or directory could not be read.
    #[error("cannot read {}: {source}; check that it exists and is readable", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `create` was pointed at a directory that already holds files.
    #[error("{} already exists and is not empty: use --resume to continue that run, or set another experiment.output_dir", path.display())]
    NotEmpty { path: PathBuf },
    /// `open_resume` was pointed at something that is not a run directory.
    #[error("{} is not a run directory (no {CONFIG_FILE} in it): check experiment.output_dir, or start a new run without --resume", path.display())]
    NotARun { path: PathBuf },
    /// The run's own config.toml does not parse or validate.
    #[error("the run's config does not load ({source}); restore {} from a backup or start a new run", path.display())]
    RunConfig {
        path: PathBuf,
        source: Box<ConfigError>,
    },
    /// The config given for resuming changes the search space or controller shape.
    #[error("cannot resume {}: the search space or controller shape differs from the run's: {}; resume with the run's settings, or set another experiment.output_dir for a new run", path.display(), differences.join("; "))]
    SpaceChanged {
        path: PathBuf,
        differences: Vec<String>,
    },
    /// Another process holds the run lock.
    #[error("{} is in use by another nas-actor process (pid {}): wait for it to finish or stop it", dir.display(), pid.map(|p| p.to_string()).unwrap_or_else(|| "unknown".into()))]
    Locked { dir: PathBuf, pid: Option<u32> },
    /// A line of the child log that is not the last does not parse.
    #[error("{}:{line}: not a child record ({message}); edited by hand? fix or delete that line, then resume", path.display())]
    CorruptLine {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// The child log ends in a torn line and must be repaired before appending.
    #[error("{} ends in a line cut short by a kill; call read_children and repair_tail before appending", path.display())]
    TornTail { path: PathBuf },
    /// The checkpoint is damaged or from another format.
    #[error("{} is corrupt: {source}; delete it to restart the controller from scratch (the child log is kept), or restore a backup", path.display())]
    CorruptCheckpoint {
        path: PathBuf,
        source: checkpoint::CheckpointFormatError,
    },
    /// A checkpoint could not be encoded.
    #[error("cannot encode the checkpoint for {}: {source}", path.display())]
    EncodeCheckpoint {
        path: PathBuf,
        source: checkpoint::CheckpointFormatError,
    },
    /// A value could not be encoded.
    #[error("cannot encode {}: {message}", path.display())]
    Encode { path: PathBuf, message: String },
}

impl StoreError {
    pub(crate) fn write(path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Write {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn read(path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Read {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// An open run directory.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    /// The child log, opened for appending on first use.
    log: Option<File>,
}

impl RunDir {
    /// Create a new run directory and write `config.toml` into it first.
    ///
    /// An existing empty directory is used; a non-empty one is refused.
    /// A directory that holds only what a `create` killed before it wrote
    /// `config.toml` leaves behind (temporary files, `run.lock`, an empty
    /// `checkpoint/`) counts as empty.
    pub fn create(path: &Path, config: &Config) -> Result<RunDir, StoreError> {
        match fs::read_dir(path) {
            Ok(_) => {
                if !RunDir::holds_no_run(path) {
                    return Err(StoreError::NotEmpty {
                        path: path.to_path_buf(),
                    });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(path).map_err(|e| StoreError::write(path, e))?;
            }
            Err(e) => return Err(StoreError::write(path, e)),
        }
        atomic::remove_stale_temps(path)?;
        let dir = RunDir {
            path: path.to_path_buf(),
            log: None,
        };
        dir.write_config(config)?;
        Ok(dir)
    }

    /// Open an existing run to resume it with `config`.
    ///
    /// The search space (`search.space`, `space.<kind>.*`) and the
    /// controller's shape (`controller.hidden_size`, `controller.layers`) must
    /// match the run's; anything else may change, and the new config is
    /// written as the run's `config.toml`.
    pub fn open_resume(path: &Path, config: &Config) -> Result<RunDir, StoreError> {
        let dir = RunDir::open_existing(path, config)?;
        dir.write_config(config)?;
        Ok(dir)
    }

    /// Open an existing run to resume it with `config`, checking it as
    /// [`RunDir::open_resume`] does but writing nothing (call
    /// [`RunDir::write_config`] once everything else is checked too).
    pub fn open_existing(path: &Path, config: &Config) -> Result<RunDir, StoreError> {
        let config_path = path.join(CONFIG_FILE);
        let text = match fs::read_to_string(&config_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotARun {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => return Err(StoreError::read(&config_path, e)),
        };
        let run = Config::from_toml(&text, &config_path).map_err(|e| StoreError::RunConfig {
            path: config_path.clone(),
            source: Box::new(e),
        })?;
        let differences =
            resume::space_differences(&run, config).map_err(|e| StoreError::Encode {
                path: config_path.clone(),
                message: e.to_string(),
            })?;
        if !differences.is_empty() {
            return Err(StoreError::SpaceChanged {
                path: path.to_path_buf(),
                differences,
            });
        }
        Ok(RunDir {
            path: path.to_path_buf(),
            log: None,
        })
    }

    /// Write `config` as the run's `config.toml` (atomically) and make sure `checkpoint/` exists.
    pub fn write_config(&self, config: &Config) -> Result<(), StoreError> {
        let path = self.file(CONFIG_FILE);
        let text = config.to_toml().map_err(|e| StoreError::Encode {
            path: path.clone(),
            message: e.to_string(),
        })?;
        atomic_write(&path, text.as_bytes())?;
        let ck = self.file(CHECKPOINT_DIR);
        fs::create_dir_all(&ck).map_err(|e| StoreError::write(&ck, e))
    }

    /// True when `path` is a directory without a run in it: empty, or holding
    /// only what a `create` killed before it wrote `config.toml` leaves
    /// (temporary files, `run.lock`, an empty `checkpoint/`).
    pub fn holds_no_run(path: &Path) -> bool {
        let Ok(entries) = fs::read_dir(path) else {
            return false;
        };
        entries.flatten().all(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let leftover_temp = name.starts_with('.') && name.ends_with(atomic::TEMP_SUFFIX);
            let empty_dir = || {
                fs::read_dir(e.path()).is_ok_and(|mut d| {
                    d.all(|f| {
                        f.is_ok_and(|f| {
                            let n = f.file_name();
                            let n = n.to_string_lossy();
                            n.starts_with('.') && n.ends_with(atomic::TEMP_SUFFIX)
                        })
                    })
                })
            };
            leftover_temp || name == LOCK_FILE || (name == CHECKPOINT_DIR && empty_dir())
        })
    }

    /// Take the run lock of `path` before opening it, when `path/run.lock`
    /// exists (a run directory that was used before): a live run holding it
    /// is refused with [`StoreError::Locked`] before anything is read or
    /// written. `None` when there is no lock file (nothing to protect yet).
    pub fn lock_existing(path: &Path) -> Result<Option<RunLock>, StoreError> {
        let lock_path = path.join(LOCK_FILE);
        if !lock_path.is_file() {
            return Ok(None);
        }
        let lock = RunLock::acquire(&lock_path, path)?;
        atomic::remove_stale_temps(path)?;
        atomic::remove_stale_temps(&path.join(CHECKPOINT_DIR))?;
        Ok(Some(lock))
    }

    /// Open an existing run directory only to read it (report, retrain,
    /// export): nothing is written. Fails when `path` has no `config.toml`.
    pub fn open_read_only(path: &Path) -> Result<RunDir, StoreError> {
        if !path.join(CONFIG_FILE).is_file() {
            return Err(StoreError::NotARun {
                path: path.to_path_buf(),
            });
        }
        Ok(RunDir {
            path: path.to_path_buf(),
            log: None,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Take the exclusive run lock (held while the [`RunLock`] lives), then
    /// remove temporary files a killed writer left behind.
    pub fn lock(&self) -> Result<RunLock, StoreError> {
        let lock = RunLock::acquire(&self.file(LOCK_FILE), &self.path)?;
        atomic::remove_stale_temps(&self.path)?;
        atomic::remove_stale_temps(&self.file(CHECKPOINT_DIR))?;
        Ok(lock)
    }

    /// Write `checkpoint/state.bin` atomically (see [`checkpoint`] for the format).
    pub fn write_checkpoint<T: Serialize>(&self, ck: &T) -> Result<(), StoreError> {
        write_checkpoint_at(&self.checkpoint_path(), ck)
    }

    /// Read the checkpoint; `None` when there is none yet.
    pub fn read_checkpoint<T: DeserializeOwned>(&self) -> Result<Option<T>, StoreError> {
        let path = self.checkpoint_path();
        let Some(bytes) = read_optional(&path)? else {
            return Ok(None);
        };
        checkpoint::decode(&bytes)
            .map(Some)
            .map_err(|source| StoreError::CorruptCheckpoint { path, source })
    }

    /// Write `best.json`: the `top` best distinct architectures (status ok or
    /// cached), highest reward first, as full records ([`top_records`]).
    pub fn write_best(&self, records: &[ChildRecord], top: usize) -> Result<(), StoreError> {
        self.write_json(BEST_FILE, &top_records(records, top))
    }

    /// Write `<dir>/<name>` as pretty JSON, atomically.
    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), StoreError> {
        let path = self.file(name);
        let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| StoreError::Encode {
            path: path.clone(),
            message: e.to_string(),
        })?;
        bytes.push(b'\n');
        atomic_write(&path, &bytes)
    }

    /// The checkpoint file.
    pub fn checkpoint_path(&self) -> PathBuf {
        self.file(CHECKPOINT_DIR).join(CHECKPOINT_FILE)
    }

    /// A file in the run directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// Write a checkpoint atomically to `path` (a run's [`RunDir::checkpoint_path`]),
/// without holding the [`RunDir`] (a background writer does this).
pub fn write_checkpoint_at<T: Serialize>(path: &Path, ck: &T) -> Result<(), StoreError> {
    let bytes = checkpoint::encode(ck).map_err(|source| StoreError::EncodeCheckpoint {
        path: path.to_path_buf(),
        source,
    })?;
    atomic_write(path, &bytes)
}

/// A file's bytes, or `None` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::read(path, e)),
    }
}

/// Seconds since the Unix epoch (the time stamps of the log).
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
