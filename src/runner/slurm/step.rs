//! [`StepRunner`]: a built-in child as one Slurm job step
//! (`srun … nas-actor child FILE`): it writes the child file, starts the
//! step, turns the step's protocol lines into progress and an outcome, and
//! tells a child that failed (recorded) from a step that could not launch
//! or whose node failed (launched again, up to `launcher.slurm.retries`).
//!
//! The process handling ([`run_process`]) is generic over the argv: a trial
//! command wrapped by [`SlurmLauncher::wrap`] goes through it the same way.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::SlurmLauncher;
use crate::child::{ChildOutcome, ChildSpec, ChildStatus, Progress};
use crate::devices::{Slot, SlotDevice};
use crate::runner::child_file::{ChildDevice, ChildFile};
use crate::runner::process::{self, ProcessRun, Watch};
use crate::runner::protocol;
use crate::runner::reaper::Reaper;
use crate::runner::ChildRunner;

/// Lines of a step's stderr kept for a failure's message.
const STDERR_TAIL: usize = 30;
/// After SIGTERM, srun gets this long to cancel its step before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(15);

/// What one step's process did.
pub type StepRun = ProcessRun;

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
        return StepEnd::ChildFailed(why.reason());
    }
    if let Some(end) = slurm_end(run) {
        return end;
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
    StepEnd::ChildFailed(
        match run.stderr.iter().rev().find(|l| !l.trim().is_empty()) {
            Some(l) => format!("{how}: {}", l.trim()),
            None => how,
        },
    )
}

/// What Slurm says about a step that was not stopped by the run: it could
/// not launch or its node failed (launch again), or Slurm ended it (time
/// limit, out of memory, `scancel`); None when the step's own exit tells.
pub fn slurm_end(run: &StepRun) -> Option<StepEnd> {
    if let Some(e) = &run.error {
        return Some(StepEnd::Launch(e.clone()));
    }
    let err = &run.stderr;
    if has(err, &["DUE TO NODE FAILURE", "NODE_FAIL", "Node failure"]) {
        return Some(StepEnd::Launch(format!(
            "node failure{}",
            run.placement
                .as_ref()
                .map(|p| format!(" on {}", p.node))
                .unwrap_or_default()
        )));
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
            return Some(StepEnd::Launch(
                slurm_reason(err).unwrap_or_else(|| "the step did not start".into()),
            ));
        }
    }
    if has(err, &["DUE TO TIME LIMIT"]) {
        return Some(StepEnd::ChildFailed(
            "the step reached its time limit (Slurm cancelled it)".into(),
        ));
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
        return Some(StepEnd::ChildFailed(
            "out of memory: Slurm killed the step (raise launcher.slurm.mem_per_child)".into(),
        ));
    }
    // slurmstepd's "*** STEP … CANCELLED AT … ***" can be lost when srun is
    // killed first (a loaded node); srun's own line for a step Slurm
    // terminates says the same.
    if has(err, &["CANCELLED AT", "_step_signal: Terminating StepId"]) {
        return Some(StepEnd::ChildFailed(format!(
            "the step was cancelled ({})",
            slurm_reason(err).unwrap_or_else(|| "scancel".into())
        )));
    }
    None
}

/// Run `argv` (a wrapped step), feeding its protocol lines to `progress`,
/// stopping it (SIGTERM, which makes srun cancel its step, then SIGKILL)
/// once `progress` is cancelled or `timeout` passes.
pub fn run_process(
    argv: &[String],
    progress: &mut dyn Progress,
    timeout: Option<Duration>,
    reaper: Option<&Reaper>,
) -> StepRun {
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]);
    let watch = Watch {
        timeout,
        grace: TERM_GRACE,
        reaper,
        log: None,
        stderr_tail: STDERR_TAIL,
    };
    process::run(&mut command, watch, progress)
}

/// Every launch of a step failed: it could not launch or its node failed,
/// each time (or the run stopped between two launches). The reasons are
/// what Slurm said of each launch, in order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the step could not run ({} attempt(s)): {}", .reasons.len(), .reasons.join("; "))]
pub struct LaunchFailed {
    pub reasons: Vec<String>,
}

/// Run a step with `attempt` until it launches: a step that could not
/// launch or whose node failed is launched again, up to
/// `launcher.slurm.retries` times (each counted), unless the run is
/// stopping. The step that launched (or was stopped) is the caller's to
/// judge; Err when `attempt` could not start one (its own error), or when
/// every launch failed ([`LaunchFailed`], converted into the caller's error).
pub fn launched<E: From<LaunchFailed>>(
    launcher: &SlurmLauncher,
    progress: &mut dyn Progress,
    mut attempt: impl FnMut(&mut dyn Progress) -> Result<StepRun, E>,
) -> Result<StepRun, E> {
    let retries = launcher.config().launcher.slurm.retries;
    let mut reasons = Vec::new();
    loop {
        let run = attempt(progress)?;
        match (run.stopped, slurm_end(&run)) {
            (None, Some(StepEnd::Launch(why))) => reasons.push(why),
            _ => return Ok(run),
        }
        if reasons.len() > retries || progress.cancelled() {
            return Err(LaunchFailed { reasons }.into());
        }
        launcher.count_retry();
    }
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
        let attempt = |p: &mut dyn Progress| {
            Ok::<_, LaunchFailed>(run_process(&argv, p, timeout, launcher.reaper()))
        };
        let outcome = match launched(launcher, progress, attempt) {
            Err(e) => failure(e.to_string()),
            Ok(run) => match classify(&run) {
                StepEnd::Finished => self.finished(run, started),
                StepEnd::ChildFailed(why) | StepEnd::Launch(why) => {
                    let mut o = failure(why);
                    o.epochs = run.epochs;
                    o.seconds = started.elapsed().as_secs_f64();
                    o
                }
            },
        };
        let _ = std::fs::remove_file(&path);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::LaunchFailed;

    #[test]
    fn a_launch_failure_lists_slurm_reasons_in_order() {
        let e = LaunchFailed {
            reasons: vec![
                "srun: error: Unable to create step".into(),
                "node failure on n3".into(),
            ],
        };
        let text = "the step could not run (2 attempt(s)): srun: error: Unable to create step; node failure on n3";
        assert_eq!(e.to_string(), text);
    }
}
