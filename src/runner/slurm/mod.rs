//! The Slurm launcher (`launcher.kind = "slurm"`): the orchestrator runs in
//! the batch step of one allocation, and each child is one job step placed
//! by Slurm (`srun --exact -N1 -n1 --gres=gpu:G -c C …`), on whatever node
//! and GPU Slurm gives it. Slurm sets `CUDA_VISIBLE_DEVICES` per step, so a
//! child trains on its `cuda:0`; nas-actor never assumes global GPU ids.
//!
//! - [`allocation`]: the `SLURM_*` environment → slots ([`Allocation::plan`]);
//! - [`SlurmLauncher::wrap`]: any child command as a job step (a built-in
//!   child is `nas-actor child FILE`, see [`crate::runner::child_file`]); the
//!   step first prints where it runs (`{"node": …, "gpus": …}`);
//! - [`step`]: the runner that runs a built-in child as a step, reads its
//!   protocol lines, tells child failures from launch failures (retried up
//!   to `launcher.slurm.retries` times) and cancels steps on stop.
//!
//! Before any child is sampled, [`SlurmLauncher::preflight`] refuses to go
//! outside an allocation, without `srun`, or when the allocation refuses one
//! step of the children's shape.

pub mod allocation;
pub mod step;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use allocation::{Allocation, Plan};
pub use step::StepRunner;

use crate::config::Config;
use crate::devices::{Slot, SlotDevice};

/// Why children cannot run as Slurm steps here (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error("launcher.kind = \"slurm\" runs inside a Slurm allocation, but SLURM_JOB_ID is not set: submit the search with sbatch (`nas-actor slurm-script CONFIG > search.sbatch && sbatch search.sbatch`) or start it inside `salloc`")]
    NotInAllocation,
    #[error("launcher.kind = \"slurm\" starts children with srun, which is not on the PATH: load Slurm's client tools (e.g. `module load slurm`) or install slurm-client")]
    NoSrun,
    #[error("launcher.slurm.gpus_per_child = {per_child} but allocation {job} holds {present} GPU(s): ask for GPUs (#SBATCH --gres=gpu:N), lower gpus_per_child, or set it to 0 for CPU children")]
    NoGpus {
        job: String,
        per_child: usize,
        present: usize,
    },
    #[error("allocation {job} refuses a child's step ({command}): {reason}; fix launcher.slurm (gpus_per_child, cpus_per_child, mem_per_child, srun_args) or the allocation")]
    Refused {
        job: String,
        command: String,
        reason: String,
    },
    #[error("cannot find the nas-actor binary to run in the steps: {0}")]
    NoBinary(String),
}

/// Where children run as Slurm job steps: the allocation, the step shape,
/// the slots, and the launch failures retried so far.
#[derive(Debug)]
pub struct SlurmLauncher {
    config: Config,
    allocation: Allocation,
    plan: Plan,
    srun: PathBuf,
    /// The nas-actor binary the steps run (this one; it must be on a
    /// filesystem every node sees).
    binary: PathBuf,
    slots: Vec<Slot>,
    retried: AtomicUsize,
    /// Kills the steps' srun processes if nas-actor dies (started on first use).
    reaper: std::sync::OnceLock<Option<crate::runner::reaper::Reaper>>,
}

/// A program on the PATH.
pub fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// The shell wrapper of every step: report where it runs, then become the child.
const PLACEMENT_WRAPPER: &str = r#"printf '{"node": "%s", "gpus": "%s"}\n' "${SLURMD_NODENAME:-$(hostname)}" "${CUDA_VISIBLE_DEVICES:-}"; exec "$@""#;

/// A step without GPUs sees none, not the allocation's GPUs it inherits
/// from the batch step's environment (they belong to other steps).
const NO_GPUS: &str = "CUDA_VISIBLE_DEVICES=; export CUDA_VISIBLE_DEVICES; ";

impl SlurmLauncher {
    /// The launcher of `config` in the allocation of this process's
    /// environment, without starting anything (`nas-actor devices`).
    pub fn from_env(config: &Config) -> Result<SlurmLauncher, SlurmError> {
        let allocation = Allocation::current().ok_or(SlurmError::NotInAllocation)?;
        let srun = on_path("srun").ok_or(SlurmError::NoSrun)?;
        let binary = std::env::var_os("NAS_ACTOR_BIN")
            .map(PathBuf::from)
            .map_or_else(std::env::current_exe, Ok)
            .map_err(|e| SlurmError::NoBinary(e.to_string()))?;
        SlurmLauncher::new(config, allocation, srun, binary)
    }

    /// The launcher of `config` in `allocation`, starting steps with `srun`
    /// and built-in children with `binary`.
    pub fn new(
        config: &Config,
        allocation: Allocation,
        srun: PathBuf,
        binary: PathBuf,
    ) -> Result<SlurmLauncher, SlurmError> {
        let plan = allocation.plan(&config.launcher.slurm)?;
        let slots = (0..plan.max_parallel)
            .map(|id| Slot {
                id,
                device: if plan.gpus_per_child > 0 {
                    // The step's first visible GPU: Slurm numbers them per step.
                    SlotDevice::Cuda(0)
                } else {
                    SlotDevice::Cpu
                },
                threads: plan.cpus_per_child,
                label: format!("slurm-{id}"),
            })
            .collect();
        Ok(SlurmLauncher {
            config: config.clone(),
            allocation,
            plan,
            srun,
            binary,
            slots,
            retried: AtomicUsize::new(0),
            reaper: std::sync::OnceLock::new(),
        })
    }

    /// The watchdog of this run's step processes (None if it cannot be started).
    pub fn reaper(&self) -> Option<&crate::runner::reaper::Reaper> {
        self.reaper
            .get_or_init(|| crate::runner::reaper::Reaper::start().ok())
            .as_ref()
    }

    pub fn allocation(&self) -> &Allocation {
        &self.allocation
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Where child files are written (in the run directory, which every node sees).
    pub fn steps_dir(&self) -> PathBuf {
        self.config.experiment.output_dir.join("steps")
    }

    /// A one-line description of the slots.
    pub fn notice(&self) -> String {
        let a = &self.allocation;
        format!(
            "Slurm job {} on {} node(s) {}: {} parallel step(s) of {} GPU(s) and {} CPU(s) each",
            a.job_id,
            a.nodes,
            a.node_list,
            self.plan.max_parallel,
            self.plan.gpus_per_child,
            self.plan.cpus_per_child
        )
    }

    /// Step launches that failed and were retried so far.
    pub fn launch_retries(&self) -> usize {
        self.retried.load(Ordering::SeqCst)
    }

    pub(crate) fn count_retry(&self) {
        self.retried.fetch_add(1, Ordering::SeqCst);
    }

    /// `srun` and its options for one child's step, named `name`.
    fn srun_options(&self, name: &str) -> Vec<String> {
        let s = &self.config.launcher.slurm;
        let mut argv = vec![
            self.srun.display().to_string(),
            "--exact".into(),
            "-N1".into(),
            "-n1".into(),
            match self.plan.gpus_per_child {
                0 => "--gres=none".into(),
                g => format!("--gres=gpu:{g}"),
            },
            format!("--cpus-per-task={}", self.plan.cpus_per_child),
            "--kill-on-bad-exit=1".into(),
            format!("--job-name={name}"),
        ];
        if let Some(m) = &s.mem_per_child {
            argv.push(format!("--mem={m}"));
        }
        argv.extend(s.srun_args.iter().cloned());
        argv
    }

    /// `argv` as the job step of one child on `slot`: `srun --exact -N1 -n1
    /// --gres=gpu:G -c C --kill-on-bad-exit … -- sh -c WRAPPER nas-step argv…`.
    /// The step prints `{"node": …, "gpus": …}` first, then runs `argv`.
    pub fn wrap(&self, slot: &Slot, argv: Vec<String>) -> Vec<String> {
        self.wrap_named(&format!("nas-{}", slot.label), argv)
    }

    /// [`SlurmLauncher::wrap`] with the step named `name` (as squeue shows it).
    pub fn wrap_named(&self, name: &str, argv: Vec<String>) -> Vec<String> {
        let mut out = self.srun_options(name);
        let wrapper = match self.plan.gpus_per_child {
            0 => format!("{NO_GPUS}{PLACEMENT_WRAPPER}"),
            _ => PLACEMENT_WRAPPER.to_string(),
        };
        out.extend([
            "--".into(),
            "/bin/sh".into(),
            "-c".into(),
            wrapper,
            "nas-step".into(),
        ]);
        out.extend(argv);
        out
    }

    /// Run one trivial step of the children's shape; a refusal is an error
    /// naming the step and Slurm's reason.
    pub fn preflight(&self) -> Result<(), SlurmError> {
        let argv = self.srun_options("nas-preflight");
        let command = format!("{} -- true", argv.join(" "));
        let refused = |reason: String| SlurmError::Refused {
            job: self.allocation.job_id.clone(),
            command: command.clone(),
            reason,
        };
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .args(["--", "true"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| refused(format!("cannot start srun: {e}")))?;
        let started = Instant::now();
        let limit = Duration::from_secs(120);
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if started.elapsed() < limit => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(refused(format!(
                        "the step did not start within {}s (the allocation has no room for it)",
                        limit.as_secs()
                    )));
                }
                Err(e) => return Err(refused(format!("cannot wait for srun: {e}"))),
            }
        };
        if status.success() {
            return Ok(());
        }
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        let reason = err
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        Err(refused(if reason.is_empty() {
            format!("srun exited with {status}")
        } else {
            reason
        }))
    }
}
