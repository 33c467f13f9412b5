//! `nas-actor child SPEC.json`: train one built-in child (tch or synthetic)
//! from a [`ChildFile`] and speak the trial protocol on stdout
//! ([`crate::runner::protocol`]): a device line, batch progress, one line per
//! epoch, and a final line with metric, reward, params and status.
//!
//! Exit codes: 0 the child trained; 1 it failed or diverged (the final line
//! says why); 2 the file, its config or the data cannot be used.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::CliError;
use crate::child::{ChildStatus, EpochMetrics, Progress};
use crate::runner::child_file::{ChildDevice, ChildFile};
use crate::runner::protocol;
use crate::space::SearchSpace;

/// Batch lines are written at most this often.
const BATCH_LINE_EVERY: Duration = Duration::from_millis(500);

/// Protocol lines on stdout, flushed one by one.
struct LineProgress {
    last_batch: Option<Instant>,
    epochs_written: usize,
    broken: bool,
}

impl LineProgress {
    fn write(&mut self, line: &str) {
        let mut o = std::io::stdout().lock();
        if writeln!(o, "{line}").and_then(|_| o.flush()).is_err() {
            // The reader is gone (the step was cancelled): stop training.
            self.broken = true;
        }
    }
}

impl Progress for LineProgress {
    fn on_batch(&mut self, epoch: usize, batch: usize, batches: usize, loss: f64) {
        if self
            .last_batch
            .is_none_or(|t| t.elapsed() >= BATCH_LINE_EVERY)
        {
            self.last_batch = Some(Instant::now());
            self.write(&protocol::batch_line(epoch, batch, batches, loss));
        }
    }

    fn on_epoch(&mut self, m: &EpochMetrics) {
        self.epochs_written = self.epochs_written.max(m.epoch);
        self.write(&protocol::epoch_line(m));
    }

    fn cancelled(&self) -> bool {
        self.broken
    }
}

/// The device of a child file: `cuda:0` when asked for and CUDA sees a GPU.
fn device_of(file: &ChildFile) -> (tch::Device, usize) {
    let threads = file
        .threads
        .or_else(|| {
            std::env::var("SLURM_CPUS_PER_TASK")
                .ok()
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    match file.device {
        ChildDevice::Auto if tch::Cuda::is_available() => (tch::Device::Cuda(0), threads),
        _ => (tch::Device::Cpu, threads),
    }
}

/// Train the child of the file at `path`, writing protocol lines.
pub fn child(path: &Path) -> Result<(), CliError> {
    let file = ChildFile::read(path).map_err(|e| CliError::from_error(2, e))?;
    let config = Arc::new(file.config.clone());
    let space = SearchSpace::from_config(&config)
        .map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
    space.check(&file.spec.arch).map_err(|e| {
        CliError::input(format!(
            "{}: the architecture does not fit the config's space: {e}",
            path.display()
        ))
    })?;
    let (device, threads) = device_of(&file);
    let mut info = Map::new();
    info.insert("child".into(), Value::from(file.spec.id));
    info.insert(
        "device".into(),
        Value::from(format!("{device:?}").to_lowercase()),
    );
    info.insert("threads".into(), Value::from(threads));
    let mut progress = LineProgress {
        last_batch: None,
        epochs_written: 0,
        broken: false,
    };
    progress.write(&protocol::info_line(info));
    let runners = crate::runner::Runners::load(config, Arc::new(space))
        .map_err(|e| CliError::from_error(2, e))?;
    let slot = crate::runner::single_slot(device, threads);
    let mut runner = runners.for_slot();
    runner.start(&slot);
    let outcome = runner.run(&file.spec, &slot, &mut progress);
    // Runners that report no epochs while going (synthetic) report them here.
    let written = progress.epochs_written;
    for m in outcome.epochs.iter().filter(|m| m.epoch > written) {
        progress.write(&protocol::epoch_line(m));
    }
    progress.write(&protocol::final_line(&outcome));
    if progress.broken {
        return Err(CliError::runtime(
            "stdout closed: the child's reader is gone",
        ));
    }
    match outcome.status {
        ChildStatus::Ok | ChildStatus::Cached | ChildStatus::Stopped => Ok(()),
        ChildStatus::Diverged | ChildStatus::Failed => Err(CliError::runtime(format!(
            "child {} {}: {}",
            file.spec.id,
            if outcome.status == ChildStatus::Diverged {
                "diverged"
            } else {
                "failed"
            },
            outcome.message.as_deref().unwrap_or("no message")
        ))),
    }
}
