//! Launchers: *where* children run, the axis beside *what* trains them (the
//! runners, chosen by `child.backend`). A launcher owns its slots — which
//! it finds, how many children run at once, what each is called — and
//! starts one worker per slot that takes jobs from the shared queue.
//!
//! `launcher.kind = "threads"` (the default, and today the only one): one
//! thread per device slot in this process, the slots from `[devices]` and
//! NVML (CPU slots when there is no GPU, or for synthetic children). Local
//! processes and Slurm job steps plug in here next.

use std::thread::JoinHandle;

use crossbeam_channel::Receiver;

use super::pool::{self, SlotWorker};
use super::ChildRunner;
use crate::config::{Backend, Config, LauncherKind};
use crate::devices::{self, DeviceError, Discovery, Slot};

/// Where a run's children run.
#[derive(Debug, Clone)]
pub enum Launcher {
    /// One thread per slot in this process.
    Threads {
        slots: Vec<Slot>,
        /// How the slots were found (e.g. "no NVIDIA driver: CPU slots").
        notice: Option<String>,
    },
}

impl Launcher {
    /// The launcher `[launcher]` names, with its slots.
    pub fn for_config(config: &Config) -> Result<Launcher, DeviceError> {
        match config.launcher.kind {
            LauncherKind::Threads => {
                let discovery = match config.child.backend {
                    Backend::Synthetic => Discovery::None("synthetic children: CPU slots".into()),
                    Backend::Tch | Backend::Command => devices::discover(),
                };
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                let (slots, notice) = devices::assign_slots(&config.devices, &discovery, cores)?;
                Ok(Launcher::Threads { slots, notice })
            }
        }
    }

    /// The slots children run on.
    pub fn slots(&self) -> &[Slot] {
        match self {
            Launcher::Threads { slots, .. } => slots,
        }
    }

    /// A one-line notice about how the slots were found, if any.
    pub fn notice(&self) -> Option<&str> {
        match self {
            Launcher::Threads { notice, .. } => notice.as_deref(),
        }
    }

    /// Start the worker of `slot`, serving `jobs` with `runner` (its thread
    /// is named `{name}-{label}`).
    pub fn start<R, J, W>(
        &self,
        name: &str,
        slot: Slot,
        runner: R,
        jobs: Receiver<J>,
        worker: W,
    ) -> std::io::Result<JoinHandle<()>>
    where
        R: ChildRunner + 'static,
        J: Send + 'static,
        W: SlotWorker<R, J> + Send + 'static,
    {
        match self {
            Launcher::Threads { .. } => pool::spawn(name, slot, runner, jobs, worker),
        }
    }
}
