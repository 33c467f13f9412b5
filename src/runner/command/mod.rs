//! [`CommandRunner`]: children that are the user's own program, run once per
//! architecture (`child.backend = "command"`, `[child.command]`).
//!
//! Each child is one process in its own process group, started in
//! `workdir` with the architecture in a JSON file and these variables:
//!
//! | variable | value |
//! |----------|-------|
//! | `NAS_ARCH_FILE` | the architecture as JSON (a declared space's form, or a built-in space's) |
//! | `NAS_CHILD_ID`, `NAS_SEED` | the child's id and the seed it should train with |
//! | `NAS_RUN_DIR` | the run directory |
//! | `NAS_OUTPUT_DIR` | `RUN_DIR/children/ID/`, the child's own directory (its log is there too) |
//! | `NAS_SLOT` | the slot's label (`cuda:0#1`, `cpu#0`) |
//! | `NAS_EPOCHS` | `child.command.epochs`, when set |
//! | `CUDA_VISIBLE_DEVICES` | a GPU slot's device, so that the trial uses `cuda:0`; empty on a CPU slot |
//! | `OMP_NUM_THREADS`, `MKL_NUM_THREADS` | the slot's thread count |
//! | `PYTHONPATH` | starts with the directory of the helper module `nas_trial` |
//!
//! then the variables of `child.command.env` (which win). The trial reports
//! on stdout ([`super::protocol`]); every other line of stdout and stderr goes to
//! `RUN_DIR/children/ID/trial.log`. A trial that exits non-zero, dies by a
//! signal, reports no final metric, a non-finite one or an unreadable line,
//! or runs past `child.timeout_s` is a failed child, with the reason and
//! the last lines of its stderr; a timed-out or cancelled trial's whole
//! process group gets SIGTERM, then SIGKILL after `child.command.kill_grace_s`.
//! When a trial ends, whatever it left running in its group is killed; if
//! nas-actor itself dies, the [`Reaper`] kills every group still running
//! (the process handling is [`super::process`]). With the Slurm launcher
//! each trial is a job step instead ([`CommandRunner::in_steps_of`]), and
//! Slurm sets its `CUDA_VISIBLE_DEVICES`.
//!
//! With `child.command.persistent = true` a slot's children are served by
//! one long-lived trial process instead, a request per child on its stdin
//! ([`persistent`]).

mod persistent;

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use self::persistent::Persistent;
use super::process::{self, signal_name, ProcessRun, Stop, Watch};
use super::reaper::Reaper;
use super::slurm::step::{launched, slurm_end, LaunchFailed, StepEnd};
use super::slurm::SlurmLauncher;
use super::ChildRunner;
use crate::child::{ChildOutcome, ChildSpec, ChildStatus, Progress};
use crate::config::{CommandConfig, Config};
use crate::devices::{Slot, SlotDevice};
use crate::space::Architecture;
use crate::task::{Metric, RewardRule};

/// The helper module trials import as `nas_trial`.
pub const PYTHON_HELPER: &str = include_str!("../../../python/nas_trial.py");

/// Lines of a trial's stderr kept for its failure message.
const STDERR_TAIL: usize = 5;

/// A trial command that cannot start: the key to fix and why.
#[derive(Debug, thiserror::Error)]
#[error("`{key}`: {message}")]
pub struct PreflightError {
    pub key: &'static str,
    pub message: String,
}

/// Why a child's trial could not be started: its files could not be
/// written, or its persistent process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    #[error("cannot create {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot write the architecture as JSON: {0}")]
    ArchitectureJson(#[source] serde_json::Error),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot open {path}: {source}")]
    OpenLog { path: PathBuf, source: io::Error },
    /// The helper module `nas_trial.py` could not be written (shared by
    /// every child of the run, hence the `Arc`).
    #[error("cannot write {path}: {source}")]
    Helper {
        path: PathBuf,
        source: Arc<io::Error>,
    },
    #[error("cannot start {program}: {source}")]
    Start { program: String, source: io::Error },
    /// Every launch of the trial's Slurm step failed (as Slurm said).
    #[error("{0}")]
    Launch(#[from] LaunchFailed),
}

/// Why a program cannot be executed.
#[derive(Debug, thiserror::Error)]
enum NotExecutable {
    #[error("{0}")]
    Missing(#[source] io::Error),
    #[error("not a file")]
    NotAFile,
    #[error("not executable (chmod +x it, or run it through its interpreter, e.g. [\"python3\", \"train.py\"])")]
    NoExecuteBit,
}

/// Why a trial that ran failed, by the protocol's rules.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum Failure {
    /// It could not be started, followed or waited for, or (persistent
    /// process) it broke off serving the child.
    #[error("{0}")]
    Process(String),
    #[error("killed by signal {0} ({name})", name = signal_name(*.0))]
    Signal(i32),
    #[error("exited with code {0}")]
    Code(i32),
    #[error("ended with {0}")]
    Ended(ExitStatus),
    /// A report line that could not be read.
    #[error("{0}")]
    Invalid(String),
    #[error(
        "exited without a final report; a trial ends by printing {{\"metric\": VALUE}} on stdout"
    )]
    NoFinal,
    #[error("reported a non-finite final metric ({0})")]
    NonFinite(f64),
}

/// `[child.command]` checked against the file system: the program found,
/// the working directory absolute.
#[derive(Debug, Clone)]
pub struct TrialCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub workdir: PathBuf,
    pub env: Vec<(String, String)>,
}

impl TrialCommand {
    /// Check that `cmd` can start at all: its `workdir` is a directory and
    /// its program exists and is executable (a bare name on `PATH`, as the
    /// trial's environment sets it).
    pub fn preflight(cmd: &CommandConfig) -> Result<TrialCommand, PreflightError> {
        let workdir_err = |message: String| PreflightError {
            key: "child.command.workdir",
            message,
        };
        let here = std::env::current_dir()
            .map_err(|e| workdir_err(format!("cannot read the current directory: {e}")))?;
        let workdir = match &cmd.workdir {
            Some(w) => here.join(w),
            None => here,
        };
        match std::fs::metadata(&workdir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(workdir_err(format!(
                    "{} is not a directory",
                    workdir.display()
                )))
            }
            Err(e) => {
                return Err(workdir_err(format!(
                    "{}: {e}; create it or fix the path (relative paths are relative to where nas-actor runs)",
                    workdir.display()
                )))
            }
        }
        let workdir = workdir.canonicalize().unwrap_or(workdir);
        let argv_err = |message: String| PreflightError {
            key: "child.command.argv",
            message,
        };
        let Some(first) = cmd.argv.first() else {
            return Err(argv_err("is empty; give the program to run".into()));
        };
        let program = if first.contains('/') {
            let p: PathBuf = workdir.join(first).components().collect();
            check_executable(&p).map_err(|why| {
                argv_err(format!(
                    "{}: {why} (a relative program path is relative to child.command.workdir, {})",
                    p.display(),
                    workdir.display()
                ))
            })?;
            p
        } else {
            let path = cmd
                .env
                .get("PATH")
                .map(OsString::from)
                .or_else(|| std::env::var_os("PATH"))
                .unwrap_or_default();
            std::env::split_paths(&path)
                .map(|d| workdir.join(d).join(first))
                .find(|p| check_executable(p).is_ok())
                .ok_or_else(|| {
                    argv_err(format!(
                        "program {first:?} is not on PATH ({}); install it or give its full path",
                        path.to_string_lossy()
                    ))
                })?
        };
        Ok(TrialCommand {
            program,
            args: cmd.argv[1..].to_vec(),
            workdir,
            env: cmd
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }
}

/// Why `path` cannot be executed, if it cannot.
fn check_executable(path: &Path) -> Result<(), NotExecutable> {
    let meta = std::fs::metadata(path).map_err(NotExecutable::Missing)?;
    if !meta.is_file() {
        return Err(NotExecutable::NotAFile);
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(NotExecutable::NoExecuteBit);
    }
    Ok(())
}

/// What every slot's command runner shares.
#[derive(Debug)]
pub struct CommandShared {
    command: TrialCommand,
    config: Arc<Config>,
    metric: Metric,
    run_dir: PathBuf,
    reaper: Reaper,
    /// The directory holding `nas_trial.py`, written on the first child
    /// (or the directory and why it could not be written).
    helper: OnceLock<Result<PathBuf, (PathBuf, Arc<io::Error>)>>,
}

impl CommandShared {
    /// The trial command of `config`, checked, with the run's watchdog started.
    pub fn new(config: Arc<Config>) -> Result<CommandShared, PreflightError> {
        let command = TrialCommand::preflight(&config.child.command)?;
        let run_dir =
            std::path::absolute(&config.experiment.output_dir).map_err(|e| PreflightError {
                key: "experiment.output_dir",
                message: e.to_string(),
            })?;
        let reaper = Reaper::start().map_err(|e| PreflightError {
            key: "child.command",
            message: format!("cannot start the process watchdog: {e}"),
        })?;
        Ok(CommandShared {
            command,
            metric: Metric::of(&config),
            config,
            run_dir,
            reaper,
            helper: OnceLock::new(),
        })
    }

    fn helper_dir(&self) -> Result<&Path, TrialError> {
        self.helper
            .get_or_init(|| {
                let dir = self.run_dir.join("python");
                std::fs::create_dir_all(&dir)
                    .and_then(|()| std::fs::write(dir.join("nas_trial.py"), PYTHON_HELPER))
                    .map(|()| dir.clone())
                    .map_err(|e| (dir, Arc::new(e)))
            })
            .as_deref()
            .map_err(|(path, source)| TrialError::Helper {
                path: path.clone(),
                source: source.clone(),
            })
    }

    /// `PYTHONPATH` for a trial: the helper's directory first.
    fn python_path(&self) -> Result<OsString, TrialError> {
        let helper = self.helper_dir()?;
        Ok(match std::env::var_os("PYTHONPATH") {
            Some(p) if !p.is_empty() => {
                let mut v = helper.as_os_str().to_os_string();
                v.push(":");
                v.push(p);
                v
            }
            _ => helper.as_os_str().to_os_string(),
        })
    }

    /// `command` with what every trial of this run gets on `slot`: the
    /// run's and the slot's variables (GPU variables unless Slurm sets
    /// them), then `child.command.env`.
    fn slot_command(
        &self,
        command: &mut Command,
        slot: &Slot,
        in_step: bool,
    ) -> Result<(), TrialError> {
        command
            .current_dir(&self.command.workdir)
            .env("NAS_RUN_DIR", &self.run_dir)
            .env("NAS_SLOT", &slot.label)
            .env("PYTHONPATH", self.python_path()?);
        for (k, v) in slot_env(slot) {
            // A Slurm step gets its GPUs from Slurm.
            if !in_step || !k.starts_with("CUDA_") {
                command.env(k, v);
            }
        }
        if let Some(n) = self.config.child.command.epochs {
            command.env("NAS_EPOCHS", n.to_string());
        }
        command.envs(self.command.env.iter().map(|(k, v)| (k, v)));
        Ok(())
    }
}

/// A child's own directory, architecture file and log, written before its trial runs.
struct ChildFiles {
    dir: PathBuf,
    arch_file: PathBuf,
    log: BufWriter<File>,
}

impl ChildFiles {
    /// Create `RUN_DIR/children/ID/` with `arch.json` and open `trial.log`.
    fn create(shared: &CommandShared, spec: &ChildSpec) -> Result<ChildFiles, TrialError> {
        let dir = shared.run_dir.join("children").join(spec.id.to_string());
        std::fs::create_dir_all(&dir).map_err(|source| TrialError::CreateDir {
            path: dir.clone(),
            source,
        })?;
        let arch_file = dir.join("arch.json");
        let json = architecture_json(&spec.arch).map_err(TrialError::ArchitectureJson)?;
        std::fs::write(&arch_file, json).map_err(|source| TrialError::Write {
            path: arch_file.clone(),
            source,
        })?;
        let log_path = dir.join("trial.log");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|source| TrialError::OpenLog {
                path: log_path,
                source,
            })?;
        Ok(ChildFiles {
            dir,
            arch_file,
            log: BufWriter::new(log),
        })
    }
}

/// Runs each child as the user's trial command: in this process's
/// slots (a process per child, or one persistent process per slot), or
/// as a Slurm job step each.
pub struct CommandRunner {
    shared: Arc<CommandShared>,
    slurm: Option<Arc<SlurmLauncher>>,
    /// The slot's persistent trial process (`child.command.persistent`).
    persistent: Option<Persistent>,
}

impl CommandRunner {
    pub fn new(shared: Arc<CommandShared>) -> CommandRunner {
        let persistent = shared
            .config
            .child
            .command
            .persistent
            .then(Persistent::default);
        CommandRunner {
            shared,
            slurm: None,
            persistent,
        }
    }

    /// Each trial runs as a job step of `slurm` (`srun … -- ARGV`); steps
    /// that cannot launch are launched again up to `launcher.slurm.retries`
    /// times. (Persistent trials are refused with Slurm when the config is
    /// checked; a trial per step is what runs here.)
    pub fn in_steps_of(mut self, slurm: Arc<SlurmLauncher>) -> CommandRunner {
        self.slurm = Some(slurm);
        self.persistent = None;
        self
    }

    fn run_once(
        &mut self,
        spec: &ChildSpec,
        slot: &Slot,
        progress: &mut dyn Progress,
    ) -> ChildOutcome {
        let shared = &self.shared;
        let failure = shared.config.reward.failure;
        let ran = match (&self.slurm, &mut self.persistent) {
            (None, Some(p)) => p.serve(shared, spec, slot, progress),
            (None, None) => attempt(shared, spec, slot, None, progress),
            (Some(slurm), _) => launched(slurm, progress, |p| {
                attempt(shared, spec, slot, Some(slurm), p)
            }),
        };
        let run = match ran {
            Ok(run) => run,
            Err(why) => {
                return ChildOutcome::failure(ChildStatus::Failed, failure, why.to_string())
            }
        };
        // What Slurm says of a step it ended (scancel, time limit, out of memory).
        if let (Some(_), None, Some(StepEnd::ChildFailed(why))) =
            (&self.slurm, run.stopped, slurm_end(&run))
        {
            let mut o = ChildOutcome::failure(ChildStatus::Failed, failure, why);
            o.epochs = run.epochs;
            return o;
        }
        outcome(shared, run)
    }
}

impl Drop for CommandRunner {
    /// The slot is done: its persistent process (if any) is stopped.
    fn drop(&mut self) {
        if let Some(p) = &mut self.persistent {
            p.stop(&self.shared);
        }
    }
}

impl ChildRunner for CommandRunner {
    fn run(&mut self, spec: &ChildSpec, slot: &Slot, progress: &mut dyn Progress) -> ChildOutcome {
        let t0 = Instant::now();
        let mut outcome = self.run_once(spec, slot, progress);
        outcome.seconds = t0.elapsed().as_secs_f64();
        outcome
    }
}

/// The environment a trial gets from its slot.
pub fn slot_env(slot: &Slot) -> Vec<(&'static str, String)> {
    let threads = slot.threads.max(1).to_string();
    let mut env = vec![
        ("OMP_NUM_THREADS", threads.clone()),
        ("MKL_NUM_THREADS", threads),
    ];
    match slot.device {
        SlotDevice::Cpu => env.push(("CUDA_VISIBLE_DEVICES", String::new())),
        SlotDevice::Cuda(i) => {
            env.push(("CUDA_DEVICE_ORDER", "PCI_BUS_ID".into()));
            env.push(("CUDA_VISIBLE_DEVICES", physical_gpu(i)));
        }
    }
    env
}

/// The id to give `CUDA_VISIBLE_DEVICES` for CUDA device `i` of this
/// process: when this process itself sees only some GPUs, its `i`-th.
fn physical_gpu(i: usize) -> String {
    visible_gpu(i, std::env::var("CUDA_VISIBLE_DEVICES").ok().as_deref())
}

/// CUDA device `i` of a process whose own `CUDA_VISIBLE_DEVICES` is `visible`.
pub fn visible_gpu(i: usize, visible: Option<&str>) -> String {
    visible
        .and_then(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .nth(i)
                .map(str::to_string)
        })
        .unwrap_or_else(|| i.to_string())
}

/// The JSON a trial reads: a declared space's decisions, or a built-in
/// space's architecture.
pub fn architecture_json(arch: &Architecture) -> Result<String, serde_json::Error> {
    match arch {
        Architecture::Custom { decisions } => serde_json::to_string_pretty(decisions),
        other => serde_json::to_string_pretty(other),
    }
}

/// Why a child whose process ran to its end failed, by the protocol's
/// rules (a stop from outside is judged first: [`Stop::reason`]); None
/// when it succeeded.
fn failure_of(run: &ProcessRun) -> Option<Failure> {
    if let Some(e) = &run.error {
        return Some(Failure::Process(e.clone()));
    }
    if let Some(status) = run.status {
        if let Some(sig) = status.signal() {
            return Some(Failure::Signal(sig));
        }
        match status.code() {
            Some(0) => {}
            Some(c) => return Some(Failure::Code(c)),
            None => return Some(Failure::Ended(status)),
        }
    }
    if let Some(why) = &run.invalid {
        return Some(Failure::Invalid(why.clone()));
    }
    match &run.last {
        None => Some(Failure::NoFinal),
        Some(f) if !f.metric.is_finite() => Some(Failure::NonFinite(f.metric)),
        Some(_) => None,
    }
}

/// Run `spec` once as a trial: write its files, start it, follow it.
fn attempt(
    shared: &CommandShared,
    spec: &ChildSpec,
    slot: &Slot,
    slurm: Option<&SlurmLauncher>,
    progress: &mut dyn Progress,
) -> Result<ProcessRun, TrialError> {
    let ChildFiles {
        dir,
        arch_file,
        mut log,
    } = ChildFiles::create(shared, spec)?;
    let cmd = &shared.command;
    let mut argv = vec![cmd.program.display().to_string()];
    argv.extend(cmd.args.iter().cloned());
    if let Some(s) = slurm {
        argv = s.wrap_named(&format!("nas-child-{}", spec.id), argv);
    }
    let _ = writeln!(
        log,
        "# nas-actor: child {} on {} at unix time {:.0}: {}",
        spec.id,
        slot.label,
        crate::store::unix_now(),
        argv.join(" ")
    );
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]);
    shared.slot_command(&mut command, slot, slurm.is_some())?;
    command
        .env("NAS_ARCH_FILE", &arch_file)
        .env("NAS_CHILD_ID", spec.id.to_string())
        .env("NAS_SEED", spec.seed.to_string())
        .env("NAS_OUTPUT_DIR", &dir);
    let watch = Watch {
        timeout: shared.config.child.timeout_s.map(Duration::from_secs_f64),
        grace: Duration::from_secs_f64(shared.config.child.command.kill_grace_s),
        reaper: Some(&shared.reaper),
        log: Some(&mut log),
        stderr_tail: STDERR_TAIL,
    };
    Ok(process::run(&mut command, watch, progress))
}

/// The outcome of a trial that ran.
fn outcome(shared: &CommandShared, run: ProcessRun) -> ChildOutcome {
    let failure = shared.config.reward.failure;
    let failed = |why: String, run: ProcessRun| {
        let mut why = why;
        if !run.stderr.is_empty() && run.stopped != Some(Stop::Cancelled) {
            why.push_str("; stderr: ");
            why.push_str(&run.stderr.join(" | "));
        }
        let mut o = ChildOutcome::failure(ChildStatus::Failed, failure, why);
        o.epochs = run.epochs;
        o
    };
    if let Some(stop) = run.stopped {
        return failed(stop.reason(), run);
    }
    if let Some(why) = failure_of(&run) {
        return failed(why.to_string(), run);
    }
    let Some(f) = run.last.clone() else {
        return failed("exited without a final report".into(), run);
    };
    let reward = f.reward.or(run.reward);
    if reward.is_none() && shared.metric.rule == RewardRule::Inverse && f.metric <= 0.0 {
        return failed(
            format!(
                "reported metric {}, but reward = 1 / metric needs a positive one; set child.command.reward",
                f.metric
            ),
            run,
        );
    }
    let reward = reward.unwrap_or_else(|| shared.metric.reward(f.metric, &shared.config.reward));
    if !reward.is_finite() {
        return failed(format!("reported a non-finite reward ({reward})"), run);
    }
    ChildOutcome {
        status: ChildStatus::Ok,
        reward,
        metric: Some(f.metric),
        epochs: run.epochs,
        params: f.params.unwrap_or(0),
        seconds: 0.0,
        message: None,
    }
}
