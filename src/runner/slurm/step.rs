//! [`StepRunner`]: a built-in child as one Slurm job step
//! (`srun … nas-actor child FILE`): it writes the child file, starts the
//! step, turns the step's protocol lines into progress and an outcome, and
//! tells a child that failed (recorded) from a step that could not launch
//! or whose node failed (launched again, up to `launcher.slurm.retries`).
//!
//! The process handling ([`run_process`]) is generic over the argv: a trial
//! command wrapped by [`SlurmLauncher::wrap`] goes through it the same way.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::SlurmLauncher;
use crate::child::{ChildOutcome, ChildSpec, ChildStatus, EpochMetrics, Placement, Progress};
use crate::devices::{Slot, SlotDevice};
use crate::runner::child_file::{ChildDevice, ChildFile};
use crate::runner::protocol::{self, Line};
use crate::runner::ChildRunner;

/// Lines of a step's stderr kept for a failure's message.
const STDERR_TAIL: usize = 30;
/// After SIGTERM, srun gets this long to cancel its step before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(15);

/// What one step's process did.
#[derive(Debug, Default)]
pub struct StepRun {
    /// `{"node": …, "gpus": …}`: the step started on a node.
    pub placement: Option<Placement>,
    pub epochs: Vec<EpochMetrics>,
    pub last: Option<protocol::Final>,
    /// The exit status; `None` when it could not be started or waited for.
    pub status: Option<ExitStatus>,
    /// Why the process could not be started or waited for.
    pub error: Option<String>,
    /// The last lines of srun's stderr (the step's and Slurm's messages).
    pub stderr: Vec<String>,
    /// Stopped by us: the run stopped, or `child.timeout_s` passed.
    pub stopped: Option<String>,
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq)]
pub enum StepEnd {
    /// The child ran to its final line.
    Finished,
    /// The child failed: recorded with this reason.
    ChildFailed(String),
    /// The step could not launch, or its node failed: launch it again.
    Launch(String),
}

fn has(lines: &[String], needles: &[&str]) -> bool {
    lines.iter().any(|l| {
        needles
            .iter()
            .any(|n| l.to_ascii_lowercase().contains(&n.to_ascii_lowercase()))
    })
}

/// The last Slurm error line, for a message.
fn slurm_reason(lines: &[String]) -> Option<String> {
    lines
        .iter()
        .rev()
        .find(|l| l.contains("error:") || l.contains("***"))
        .map(|l| l.trim().to_string())
}

/// Tell a finished child, a failed child and a failed launch apart.
pub fn classify(run: &StepRun) -> StepEnd {
    if let Some(why) = &run.stopped {
        return StepEnd::ChildFailed(why.clone());
    }
    if let Some(e) = &run.error {
        return StepEnd::Launch(e.clone());
    }
    let err = &run.stderr;
    if has(err, &["DUE TO NODE FAILURE", "NODE_FAIL", "Node failure"]) {
        return StepEnd::Launch(format!(
            "node failure{}",
            run.placement
                .as_ref()
                .map(|p| format!(" on {}", p.node))
                .unwrap_or_default()
        ));
    }
    if run.placement.is_none() {
        let launch = [
            "Unable to create step",
            "Job step creation",
            "Unable to allocate",
            "Socket timed out",
            "Communication connection failure",
            "Zero Bytes were transmitted",
            "Unable to contact slurm controller",
            "Invalid job id",
        ];
        if has(err, &launch) || run.status.is_some_and(|s| !s.success()) {
            return StepEnd::Launch(
                slurm_reason(err).unwrap_or_else(|| "the step did not start".into()),
            );
        }
    }
    if has(err, &["DUE TO TIME LIMIT"]) {
        return StepEnd::ChildFailed("the step reached its time limit (Slurm cancelled it)".into());
    }
    if has(
        err,
        &[
            "oom-kill",
            "out-of-memory",
            "OUT_OF_MEMORY",
            "Exceeded step memory limit",
            "Exceeded job memory limit",
        ],
    ) {
        return StepEnd::ChildFailed(
            "out of memory: Slurm killed the step (raise launcher.slurm.mem_per_child)".into(),
        );
    }
    if has(err, &["CANCELLED AT"]) {
        return StepEnd::ChildFailed(format!(
            "the step was cancelled ({})",
            slurm_reason(err).unwrap_or_else(|| "scancel".into())
        ));
    }
    let Some(status) = run.status else {
        return StepEnd::ChildFailed("the step's exit status is unknown".into());
    };
    if run.last.is_some() {
        return StepEnd::Finished;
    }
    let how = match status.code() {
        Some(0) => "the step exited without a final result line".to_string(),
        Some(c) if c > 128 => format!("the step was killed by signal {}", c - 128),
        Some(c) => format!("the step exited with code {c}"),
        None => format!("srun ended by {status}"),
    };
    StepEnd::ChildFailed(match err.iter().rev().find(|l| !l.trim().is_empty()) {
        Some(l) => format!("{how}: {}", l.trim()),
        None => how,
    })
}

/// Run `argv` (a wrapped step), feeding its protocol lines to `progress`,
/// stopping it (SIGTERM, then SIGKILL) once `progress` is cancelled or
/// `timeout` passes.
pub fn run_process(
    argv: &[String],
    progress: &mut dyn Progress,
    timeout: Option<Duration>,
) -> StepRun {
    let mut run = StepRun::default();
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group: a Ctrl-C at the terminal reaches the
    // orchestrator, which cancels the step itself.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            run.error = Some(format!("cannot start {}: {e}", argv[0]));
            return run;
        }
    };
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let stderr_thread = child.stderr.take().map(|e| {
        let tail = tail.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(e).lines().map_while(Result::ok) {
                if let Ok(mut t) = tail.lock() {
                    if t.len() == STDERR_TAIL {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            }
        })
    });
    let (tx, rx) = crossbeam_channel::unbounded();
    let stdout_thread = child.stdout.take().map(|o| {
        std::thread::spawn(move || {
            for line in BufReader::new(o).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
    });
    let pid = child.id() as libc::pid_t;
    let started = Instant::now();
    let mut terminated: Option<Instant> = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => match protocol::parse(&line) {
                Line::Placement(p) => {
                    progress.on_placed(&p);
                    run.placement = Some(p);
                }
                Line::Batch {
                    epoch,
                    batch,
                    batches,
                    loss,
                } => progress.on_batch(epoch, batch, batches, loss),
                Line::Epoch(m) => {
                    progress.on_epoch(&m);
                    run.epochs.push(m);
                }
                Line::Final(f) => run.last = Some(f),
                Line::Log => {}
            },
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
        }
        if terminated.is_none() {
            let why = if progress.cancelled() {
                Some("cancelled: the run is stopping".to_string())
            } else {
                timeout
                    .filter(|t| started.elapsed() > *t)
                    .map(|t| format!("timed out after {:.0}s (child.timeout_s)", t.as_secs_f64()))
            };
            if let Some(why) = why {
                // srun cancels its step on SIGTERM.
                unsafe { libc::kill(pid, libc::SIGTERM) };
                run.stopped = Some(why);
                terminated = Some(Instant::now());
            }
        } else if terminated.is_some_and(|t| t.elapsed() > TERM_GRACE) {
            let _ = child.kill();
        }
    }
    match child.wait() {
        Ok(s) => run.status = Some(s),
        Err(e) => run.error = Some(format!("cannot wait for srun: {e}")),
    }
    for t in [stdout_thread, stderr_thread].into_iter().flatten() {
        let _ = t.join();
    }
    run.stderr = tail
        .lock()
        .map(|t| t.iter().cloned().collect())
        .unwrap_or_default();
    run
}

/// Runs built-in children as Slurm job steps.
pub struct StepRunner {
    launcher: Arc<SlurmLauncher>,
}

impl StepRunner {
    pub fn new(launcher: Arc<SlurmLauncher>) -> StepRunner {
        StepRunner { launcher }
    }

    /// The outcome of a step that ran to its final line.
    fn finished(&self, run: StepRun, started: Instant) -> ChildOutcome {
        let config = self.launcher.config();
        let f = run.last.unwrap_or(protocol::Final {
            metric: f64::NAN,
            reward: None,
            params: None,
            status: None,
            message: None,
        });
        let exited_ok = run.status.is_some_and(|s| s.success());
        let status = match f.status {
            Some(s) => s,
            None if f.metric.is_finite() && exited_ok => ChildStatus::Ok,
            None => ChildStatus::Failed,
        };
        let ok = status == ChildStatus::Ok && f.metric.is_finite();
        let reward = match (ok, f.reward) {
            (true, Some(r)) if r.is_finite() => r,
            (true, _) => crate::task::Metric::of(config).reward(f.metric, &config.reward),
            (false, _) => config.reward.failure,
        };
        ChildOutcome {
            status: if ok {
                ChildStatus::Ok
            } else if status == ChildStatus::Ok {
                ChildStatus::Failed
            } else {
                status
            },
            reward,
            metric: ok.then_some(f.metric),
            epochs: run.epochs,
            params: f.params.unwrap_or(0),
            seconds: started.elapsed().as_secs_f64(),
            message: if ok {
                None
            } else {
                Some(
                    f.message
                        .unwrap_or_else(|| "the child reported a non-finite metric".into()),
                )
            },
        }
    }
}

impl ChildRunner for StepRunner {
    fn run(&mut self, spec: &ChildSpec, slot: &Slot, progress: &mut dyn Progress) -> ChildOutcome {
        let launcher = &self.launcher;
        let config = launcher.config();
        let failure =
            |m: String| ChildOutcome::failure(ChildStatus::Failed, config.reward.failure, m);
        let dir = launcher.steps_dir();
        let path = dir.join(format!("child-{}.json", spec.id));
        let device = match slot.device {
            SlotDevice::Cpu => ChildDevice::Cpu,
            SlotDevice::Cuda(_) => ChildDevice::Auto,
        };
        let file = ChildFile::new(spec.clone(), config.clone(), device, Some(slot.threads));
        if let Err(e) = std::fs::create_dir_all(&dir).and_then(|_| file.write(&path)) {
            return failure(format!(
                "cannot write the child file {}: {e}",
                path.display()
            ));
        }
        let argv = launcher.wrap_named(
            &format!("nas-child-{}", spec.id),
            vec![
                launcher.binary().display().to_string(),
                "child".into(),
                path.display().to_string(),
            ],
        );
        // The child enforces child.timeout_s itself; this is the backstop.
        let timeout = config
            .child
            .timeout_s
            .map(|t| Duration::from_secs_f64(t) + Duration::from_secs(60));
        let started = Instant::now();
        let retries = config.launcher.slurm.retries;
        let mut launch_failures = Vec::new();
        let outcome = loop {
            let run = run_process(&argv, progress, timeout);
            match classify(&run) {
                StepEnd::Finished => break self.finished(run, started),
                StepEnd::ChildFailed(why) => {
                    let mut o = failure(why);
                    o.epochs = run.epochs;
                    o.seconds = started.elapsed().as_secs_f64();
                    break o;
                }
                StepEnd::Launch(why)
                    if launch_failures.len() < retries && !progress.cancelled() =>
                {
                    launcher.count_retry();
                    launch_failures.push(why);
                }
                StepEnd::Launch(why) => {
                    launch_failures.push(why);
                    break failure(format!(
                        "the step could not run ({} attempt(s)): {}",
                        launch_failures.len(),
                        launch_failures.join("; ")
                    ));
                }
            }
        };
        let _ = std::fs::remove_file(&path);
        outcome
    }
}
