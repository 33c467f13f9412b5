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
//! on stdout ([`protocol`]); every other line of stdout and stderr goes to
//! `RUN_DIR/children/ID/trial.log`. A trial that exits non-zero, dies by a
//! signal, reports no final metric, a non-finite one or an unreadable line,
//! or runs past `child.timeout_s` is a failed child, with the reason and
//! the last lines of its stderr; a timed-out or cancelled trial's whole
//! process group gets SIGTERM, then SIGKILL after `child.command.kill_grace_s`.
//! When a trial ends, whatever it left running in its group is killed; if
//! nas-actor itself dies, the [`Reaper`] kills every group still running.

pub mod protocol;
mod reaper;

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub use reaper::Reaper;

use self::protocol::{Line, Report};
use super::ChildRunner;
use crate::child::{ChildOutcome, ChildSpec, ChildStatus, EpochMetrics, Progress};
use crate::config::{CommandConfig, Config};
use crate::devices::{Slot, SlotDevice};
use crate::space::Architecture;
use crate::task::{Metric, RewardRule};

/// The helper module trials import as `nas_trial`.
pub const PYTHON_HELPER: &str = include_str!("../../../python/nas_trial.py");

/// Lines of a trial's stderr kept for its failure message.
const STDERR_TAIL: usize = 5;

/// How long a trial's pipes may stay open after its main process exited
/// (something it started still holds them) before its group is killed.
const LINGER: Duration = Duration::from_secs(1);

/// How often a running trial's stop flag and time limit are checked.
const TICK: Duration = Duration::from_millis(50);

/// A trial command that cannot start: the key to fix and why.
#[derive(Debug, thiserror::Error)]
#[error("`{key}`: {message}")]
pub struct PreflightError {
    pub key: &'static str,
    pub message: String,
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
fn check_executable(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a file".into());
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err("not executable (chmod +x it, or run it through its interpreter, e.g. [\"python3\", \"train.py\"])".into());
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
    /// The directory holding `nas_trial.py`, written on the first child.
    helper: OnceLock<Result<PathBuf, String>>,
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

    fn helper_dir(&self) -> Result<&Path, String> {
        self.helper
            .get_or_init(|| {
                let dir = self.run_dir.join("python");
                std::fs::create_dir_all(&dir)
                    .and_then(|()| std::fs::write(dir.join("nas_trial.py"), PYTHON_HELPER))
                    .map(|()| dir.clone())
                    .map_err(|e| format!("cannot write {}: {e}", dir.display()))
            })
            .as_deref()
            .map_err(Clone::clone)
    }
}

/// Runs each child as the user's trial command.
pub struct CommandRunner {
    shared: Arc<CommandShared>,
}

impl CommandRunner {
    pub fn new(shared: Arc<CommandShared>) -> CommandRunner {
        CommandRunner { shared }
    }
}

impl ChildRunner for CommandRunner {
    fn run(&mut self, spec: &ChildSpec, slot: &Slot, progress: &mut dyn Progress) -> ChildOutcome {
        let t0 = Instant::now();
        let failure = self.shared.config.reward.failure;
        let mut outcome = match Trial::start(&self.shared, spec, slot) {
            Ok(trial) => trial.follow(&self.shared, progress),
            Err(why) => ChildOutcome::failure(ChildStatus::Failed, failure, why),
        };
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

/// Why a trial was stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stop {
    Cancelled,
    TimedOut(f64),
}

/// One of a trial's output pipes.
struct Pipe<R> {
    reader: Option<R>,
    partial: Vec<u8>,
}

impl<R: Read + AsRawFd> Pipe<R> {
    fn new(reader: Option<R>) -> Pipe<R> {
        if let Some(r) = &reader {
            // SAFETY: fcntl on a descriptor we own.
            unsafe {
                let fd = r.as_raw_fd();
                let flags = libc::fcntl(fd, libc::F_GETFL);
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
        }
        Pipe {
            reader,
            partial: Vec::new(),
        }
    }

    fn fd(&self) -> Option<libc::c_int> {
        self.reader.as_ref().map(|r| r.as_raw_fd())
    }

    /// Read what is there; each whole line goes to `line`. At end of file
    /// the last partial line goes too and the pipe closes.
    fn drain(&mut self, mut line: impl FnMut(&str)) {
        let Some(r) = &mut self.reader else { return };
        let mut buf = [0u8; 16 * 1024];
        let eof = loop {
            match r.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => self.partial.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break true,
            }
        };
        let mut start = 0;
        while let Some(end) = self.partial[start..].iter().position(|&b| b == b'\n') {
            line(&String::from_utf8_lossy(&self.partial[start..start + end]));
            start += end + 1;
        }
        self.partial.drain(..start);
        if eof {
            if !self.partial.is_empty() {
                line(&String::from_utf8_lossy(&self.partial));
                self.partial.clear();
            }
            self.reader = None;
        }
    }
}

/// A started trial.
struct Trial {
    child: Child,
    pgid: u32,
    log: BufWriter<File>,
    timeout: Option<Duration>,
    started: Instant,
}

/// What a trial reported while it ran.
#[derive(Default)]
struct Reports {
    epochs: Vec<EpochMetrics>,
    last_epoch_at: Option<Instant>,
    final_metric: Option<(f64, Option<f64>, Option<usize>)>,
    reward: Option<f64>,
    invalid: Option<String>,
    stdout_lines: usize,
    stderr_tail: VecDeque<String>,
}

impl Trial {
    fn start(shared: &CommandShared, spec: &ChildSpec, slot: &Slot) -> Result<Trial, String> {
        let dir = shared.run_dir.join("children").join(spec.id.to_string());
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let arch_file = dir.join("arch.json");
        let json = architecture_json(&spec.arch)
            .map_err(|e| format!("cannot write the architecture as JSON: {e}"))?;
        std::fs::write(&arch_file, json)
            .map_err(|e| format!("cannot write {}: {e}", arch_file.display()))?;
        let log_path = dir.join("trial.log");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
        let mut log = BufWriter::new(log);
        let cmd = &shared.command;
        let _ = writeln!(
            log,
            "# nas-actor: child {} on {} at unix time {:.0}: {} {}",
            spec.id,
            slot.label,
            crate::actors::recorder::unix_now(),
            cmd.program.display(),
            cmd.args.join(" ")
        );
        let helper = shared.helper_dir()?;
        let python_path = match std::env::var_os("PYTHONPATH") {
            Some(p) if !p.is_empty() => {
                let mut v = helper.as_os_str().to_os_string();
                v.push(":");
                v.push(p);
                v
            }
            _ => helper.as_os_str().to_os_string(),
        };
        let mut command = Command::new(&cmd.program);
        command
            .args(&cmd.args)
            .current_dir(&cmd.workdir)
            .env("NAS_ARCH_FILE", &arch_file)
            .env("NAS_CHILD_ID", spec.id.to_string())
            .env("NAS_SEED", spec.seed.to_string())
            .env("NAS_RUN_DIR", &shared.run_dir)
            .env("NAS_OUTPUT_DIR", &dir)
            .env("NAS_SLOT", &slot.label)
            .env("PYTHONPATH", python_path)
            .envs(slot_env(slot))
            .envs(cmd.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        if let Some(n) = shared.config.child.command.epochs {
            command.env("NAS_EPOCHS", n.to_string());
        }
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", cmd.program.display()))?;
        let pgid = child.id();
        shared.reaper.track(pgid);
        Ok(Trial {
            child,
            pgid,
            log,
            timeout: shared.config.child.timeout_s.map(Duration::from_secs_f64),
            started: Instant::now(),
        })
    }

    /// Signal the trial's whole process group.
    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our trial's process group; its leader is not
        // reaped yet, so the group id cannot have been reused.
        unsafe { libc::kill(-(self.pgid as libc::pid_t), sig) };
    }

    /// Whether the trial's main process has exited, without reaping it
    /// (its process group id stays reserved until it is reaped).
    fn exited(&self) -> bool {
        // SAFETY: waitid with WNOWAIT only inspects our own child.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(
                libc::P_PID,
                self.pgid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            ) == 0
                && info.si_pid() != 0
        }
    }

    /// Follow the trial to its end and turn what it did into an outcome.
    fn follow(mut self, shared: &CommandShared, progress: &mut dyn Progress) -> ChildOutcome {
        let grace = Duration::from_secs_f64(shared.config.child.command.kill_grace_s);
        let mut out = Pipe::new(self.child.stdout.take());
        let mut err = Pipe::new(self.child.stderr.take());
        let mut reports = Reports::default();
        let mut stop: Option<(Stop, Instant)> = None;
        let mut killed = false;
        let mut exited_at: Option<Instant> = None;
        let mut wait = Duration::from_micros(100);
        loop {
            let mut fds: Vec<libc::pollfd> = [out.fd(), err.fd()]
                .into_iter()
                .flatten()
                .map(|fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            if fds.is_empty() {
                // Both pipes closed: the process is exiting; wait for it
                // in short, growing steps (it is usually a matter of µs).
                std::thread::sleep(wait);
                wait = (wait * 2).min(TICK);
            } else {
                // SAFETY: poll on descriptors we own, for at most TICK.
                unsafe {
                    libc::poll(
                        fds.as_mut_ptr(),
                        fds.len() as libc::nfds_t,
                        TICK.as_millis() as libc::c_int,
                    )
                };
            }
            let log = &mut self.log;
            out.drain(|l| reports.stdout(l, log, progress));
            err.drain(|l| reports.stderr(l, log));
            if exited_at.is_none() && self.exited() {
                exited_at = Some(Instant::now());
            }
            if let Some(at) = exited_at {
                let closed = out.fd().is_none() && err.fd().is_none();
                if closed || at.elapsed() >= LINGER {
                    break;
                }
            }
            match stop {
                None => {
                    if progress.cancelled() {
                        stop = Some((Stop::Cancelled, Instant::now()));
                        self.signal(libc::SIGTERM);
                    } else if let Some(t) = self.timeout {
                        if self.started.elapsed() >= t {
                            stop = Some((Stop::TimedOut(t.as_secs_f64()), Instant::now()));
                            self.signal(libc::SIGTERM);
                        }
                    }
                }
                Some((_, at)) if !killed && at.elapsed() >= grace => {
                    self.signal(libc::SIGKILL);
                    killed = true;
                }
                Some(_) => {}
            }
        }
        // Nothing the trial started outlives it.
        self.signal(libc::SIGKILL);
        let status = self.child.wait();
        shared.reaper.release(self.pgid);
        out.drain(|_| {});
        err.drain(|_| {});
        let _ = self.log.flush();
        reports.outcome(shared, stop.map(|(s, _)| s), status)
    }
}

impl Reports {
    fn stdout(&mut self, line: &str, log: &mut impl Write, progress: &mut dyn Progress) {
        self.stdout_lines += 1;
        match protocol::parse(line) {
            Line::Report(Report::Epoch {
                epoch,
                metric,
                train_loss,
                val_loss,
                seconds,
            }) => {
                let now = Instant::now();
                let since = self.last_epoch_at.replace(now);
                let m = EpochMetrics {
                    epoch,
                    train_loss: train_loss.unwrap_or(f64::NAN),
                    val_loss: val_loss.unwrap_or(f64::NAN),
                    val_metric: metric,
                    seconds: seconds
                        .or_else(|| since.map(|s| (now - s).as_secs_f64()))
                        .unwrap_or(0.0),
                };
                progress.on_epoch(&m);
                self.epochs.push(m);
            }
            Line::Report(Report::Batch {
                epoch,
                batch,
                batches,
                loss,
            }) => progress.on_batch(epoch, batch, batches, loss.unwrap_or(f64::NAN)),
            Line::Report(Report::Final {
                metric,
                reward,
                params,
            }) => self.final_metric = Some((metric, reward, params)),
            Line::Report(Report::Reward(r)) => self.reward = Some(r),
            Line::Invalid(why) => {
                let _ = writeln!(log, "{line}");
                self.invalid.get_or_insert_with(|| {
                    format!(
                        "stdout line {} is not a valid report ({why}): {}",
                        self.stdout_lines,
                        clip(line)
                    )
                });
            }
            Line::Other => {
                let _ = writeln!(log, "{line}");
            }
        }
    }

    fn stderr(&mut self, line: &str, log: &mut impl Write) {
        let _ = writeln!(log, "{line}");
        if !line.trim().is_empty() {
            if self.stderr_tail.len() == STDERR_TAIL {
                self.stderr_tail.pop_front();
            }
            self.stderr_tail.push_back(clip(line));
        }
    }

    fn outcome(
        self,
        shared: &CommandShared,
        stop: Option<Stop>,
        status: std::io::Result<ExitStatus>,
    ) -> ChildOutcome {
        let failed = |why: String| {
            let mut why = why;
            if !self.stderr_tail.is_empty() {
                why.push_str("; stderr: ");
                why.push_str(&Vec::from(self.stderr_tail.clone()).join(" | "));
            }
            let mut o =
                ChildOutcome::failure(ChildStatus::Failed, shared.config.reward.failure, why);
            o.epochs = self.epochs.clone();
            o
        };
        match stop {
            Some(Stop::Cancelled) => {
                let mut o = failed("cancelled".into());
                o.message = Some("cancelled".into());
                return o;
            }
            Some(Stop::TimedOut(t)) => {
                return failed(format!(
                    "timed out after {t} s (child.timeout_s); its process group was killed"
                ))
            }
            None => {}
        }
        let status = match status {
            Ok(s) => s,
            Err(e) => return failed(format!("cannot wait for the trial: {e}")),
        };
        if let Some(sig) = status.signal() {
            return failed(format!("killed by signal {sig} ({})", signal_name(sig)));
        }
        match status.code() {
            Some(0) => {}
            Some(c) => return failed(format!("exited with code {c}")),
            None => return failed(format!("ended with {status}")),
        }
        if let Some(why) = &self.invalid {
            return failed(why.clone());
        }
        let Some((metric, reward, params)) = self.final_metric else {
            return failed(
                "exited without a final report; a trial ends by printing {\"metric\": VALUE} on stdout"
                    .into(),
            );
        };
        if !metric.is_finite() {
            return failed(format!("reported a non-finite final metric ({metric})"));
        }
        let reward = reward.or(self.reward);
        if reward.is_none() && shared.metric.rule == RewardRule::Inverse && metric <= 0.0 {
            return failed(format!(
                "reported metric {metric}, but reward = 1 / metric needs a positive one; set child.command.reward"
            ));
        }
        let reward = reward.unwrap_or_else(|| shared.metric.reward(metric, &shared.config.reward));
        if !reward.is_finite() {
            return failed(format!("reported a non-finite reward ({reward})"));
        }
        ChildOutcome {
            status: ChildStatus::Ok,
            reward,
            metric: Some(metric),
            epochs: self.epochs,
            params: params.unwrap_or(0),
            seconds: 0.0,
            message: None,
        }
    }
}

/// A line cut to a readable length.
fn clip(line: &str) -> String {
    const MAX: usize = 200;
    match line.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL (out of memory, or killed)",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}
