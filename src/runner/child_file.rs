//! [`ChildFile`]: one built-in child as a file, for `nas-actor child SPEC.json`
//! in another process (a Slurm job step): the [`ChildSpec`], the run's whole
//! resolved config (so the child trains exactly as the run says, whatever
//! happens to the config file) and the device to train on.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::child::ChildSpec;
use crate::config::Config;

/// The version of the file's layout; a reader refuses others.
pub const CHILD_FILE_FORMAT: u32 = 1;

/// Where `nas-actor child` trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ChildDevice {
    /// `cuda:0` when CUDA sees a GPU (in a Slurm step: the step's GPU), else the CPU.
    #[default]
    Auto,
    /// The CPU, whatever CUDA sees.
    Cpu,
}

/// One child to train in another process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChildFile {
    /// [`CHILD_FILE_FORMAT`].
    pub format: u32,
    pub spec: ChildSpec,
    /// The run's resolved config.
    pub config: Config,
    #[serde(default)]
    pub device: ChildDevice,
    /// Torch threads on a CPU; default: `SLURM_CPUS_PER_TASK`, else the machine's cores.
    #[serde(default)]
    pub threads: Option<usize>,
}

/// A child file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ChildFileError {
    pub path: String,
    pub message: String,
}

impl ChildFile {
    /// The file of `spec` under `config`.
    pub fn new(
        spec: ChildSpec,
        config: Config,
        device: ChildDevice,
        threads: Option<usize>,
    ) -> ChildFile {
        ChildFile {
            format: CHILD_FILE_FORMAT,
            spec,
            config,
            device,
            threads,
        }
    }

    /// Read and check a child file.
    pub fn read(path: &Path) -> Result<ChildFile, ChildFileError> {
        let err = |message: String| ChildFileError {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let file: ChildFile = serde_json::from_str(&text).map_err(|e| {
            err(format!(
                "not a child file ({e}); it is written by a run with launcher.kind = \"slurm\""
            ))
        })?;
        if file.format != CHILD_FILE_FORMAT {
            return Err(err(format!(
                "format {} is not {CHILD_FILE_FORMAT}; run the same nas-actor version as the run",
                file.format
            )));
        }
        Ok(file)
    }

    /// Write the file (plain write: it is read once, after it is complete).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text)
    }
}
