//! Launchers: *where* children run, the axis beside *what* trains them (the
//! runners, chosen by `child.backend`). A launcher owns its slots — which
//! it finds, how many children run at once, what each is called — and
//! starts one worker per slot that takes jobs from the shared queue.
//!
//! `launcher.kind = "threads"` (the default): one thread per device slot in
//! this process, the slots from `[devices]` and NVML (CPU slots when there
//! is no GPU, or for synthetic children). `launcher.kind = "slurm"`
//! ([`super::slurm`]): one thread per parallel job step of the allocation,
//! each child run as a step (`srun … nas-actor child FILE`).
//!
//! A runner that starts a process per child asks the launcher how:
//! [`Launcher::wrap`] turns its argv into what to start, and
//! [`Launcher::runner_sets_cuda_visible_devices`] says whether the runner
//! pins a GPU slot's device itself.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Receiver;

use super::pool::{self, SlotWorker};
use super::slurm::{SlurmError, SlurmLauncher, StepRunner};
use super::{ChildRunner, CommandRunner, Runners};
use crate::config::{Backend, Config, LauncherKind};
use crate::devices::{self, DeviceError, Discovery, Slot};

/// Why a launcher cannot start (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum LauncherError {
    #[error(transparent)]
    Devices(#[from] DeviceError),
    #[error(transparent)]
    Slurm(#[from] SlurmError),
}

/// Where a run's children run.
#[derive(Debug, Clone)]
pub enum Launcher {
    /// One thread per slot in this process.
    Threads {
        slots: Vec<Slot>,
        /// How the slots were found (e.g. "no NVIDIA driver: CPU slots").
        notice: Option<String>,
    },
    /// One Slurm job step per child, inside the allocation the run is in.
    Slurm(Arc<SlurmLauncher>),
}

impl Launcher {
    /// The launcher `[launcher]` names, with its slots; a Slurm launcher
    /// first runs one step of the children's shape ([`SlurmLauncher::preflight`]).
    pub fn for_config(config: &Config) -> Result<Launcher, LauncherError> {
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
            LauncherKind::Slurm => {
                let slurm = SlurmLauncher::from_env(config)?;
                slurm.preflight()?;
                Ok(Launcher::Slurm(Arc::new(slurm)))
            }
        }
    }

    /// The runner of one slot: the backend's own in this process, or (Slurm)
    /// one that runs each built-in child as a job step.
    pub fn runner(&self, runners: &Runners) -> Box<dyn ChildRunner> {
        match self {
            Launcher::Threads { .. } => runners.for_slot(),
            Launcher::Slurm(s) => match runners.command() {
                Some(shared) => Box::new(CommandRunner::new(shared).in_steps_of(s.clone())),
                None => Box::new(StepRunner::new(s.clone())),
            },
        }
    }

    /// What a process runner starts for `argv` on `slot`: `argv` itself, or
    /// (Slurm) a job step running it (`srun --exact -N1 -n1 … -- argv`).
    pub fn wrap(&self, slot: &Slot, argv: Vec<String>) -> Vec<String> {
        match self {
            Launcher::Threads { .. } => argv,
            Launcher::Slurm(s) => s.wrap(slot, argv),
        }
    }

    /// Whether a process runner sets `CUDA_VISIBLE_DEVICES` for a GPU slot
    /// itself (threads), or leaves it to the launcher (Slurm sets it per step).
    pub fn runner_sets_cuda_visible_devices(&self) -> bool {
        matches!(self, Launcher::Threads { .. })
    }

    /// Child launches that failed for the launcher's reasons and were retried.
    pub fn launch_retries(&self) -> usize {
        match self {
            Launcher::Threads { .. } => 0,
            Launcher::Slurm(s) => s.launch_retries(),
        }
    }

    /// The slots children run on.
    pub fn slots(&self) -> &[Slot] {
        match self {
            Launcher::Threads { slots, .. } => slots,
            Launcher::Slurm(s) => s.slots(),
        }
    }

    /// A one-line notice about how the slots were found, if any.
    pub fn notice(&self) -> Option<String> {
        match self {
            Launcher::Threads { notice, .. } => notice.clone(),
            Launcher::Slurm(s) => Some(s.notice()),
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
            Launcher::Threads { .. } | Launcher::Slurm(_) => {
                pool::spawn(name, slot, runner, jobs, worker)
            }
        }
    }
}
