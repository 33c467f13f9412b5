//! Reporter: the terminal. On a terminal, indicatif bars: the overall bar
//! (children done / budget, rate, ETA), one line per trainer slot (device,
//! child, epoch/batch, loss) and a status line (controller updates, baseline,
//! best reward with its metric, failed, diverged and cached children, GPU
//! utilisation and memory from NVML). When stdout is not a terminal, plain
//! log lines at a steady pace, each with where every slot is (child, epoch,
//! batch). A resumed run's reporter starts from the resumed state
//! ([`Reporter::resumed`]), so its first line already shows it.
//!
//! Once a slot's first batches give a training rate, the reporter says once
//! what a child and the rest of the budget will take on these slots
//! ([`Pace`](crate::child::pace)); when the budget needs more than an hour, it
//! suggests the quick start or a machine with GPUs.
//!
//! Given a run directory, it also rewrites `slots.json` there at every tick
//! (and once at the end), so that readers of the directory (the dashboard)
//! see where each slot is.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use actix::prelude::*;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::messages::{ChildRecorded, Notice, SlotEvent, Tally, UpdateApplied};
use crate::child::pace::Pace;
use crate::devices::{GpuMonitor, Slot};
use crate::format::reward;
use crate::store::{atomic_write, SlotStatus, SlotsFile};
use crate::task::Metric;

/// Slot lines drawn at most (the rest are summarised).
const MAX_SLOT_LINES: usize = 16;

struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    status: ProgressBar,
    slots: Vec<ProgressBar>,
}

/// The reporter actor.
pub struct Reporter {
    name: String,
    budget: usize,
    slots: Vec<Slot>,
    metric: Metric,
    /// Epochs of each child, when known.
    child_epochs: Option<usize>,
    bars: Option<Bars>,
    gpus: Option<GpuMonitor>,
    interval: Duration,
    started: Instant,
    start_done: usize,
    done: usize,
    updates: u64,
    baseline: f64,
    /// Counts and best reward of the recorded children.
    tally: Tally,
    gpu_line: String,
    /// Where each slot is, e.g. `child 3 epoch 2 batch 40/1327`.
    slot_text: Vec<String>,
    /// Where each slot's current child runs (Slurm steps), once it said.
    slot_place: Vec<String>,
    pace: Pace,
    /// Where to write `slots.json`, when the run has a directory.
    status_path: Option<PathBuf>,
    /// Each slot's state for `slots.json`.
    slot_state: Vec<SlotStatus>,
    /// Whether writing `slots.json` failed once (said once, then left alone).
    status_failed: bool,
}

impl Reporter {
    /// A reporter for a run of `budget` children, `done` of them already recorded.
    pub fn new(
        name: &str,
        budget: usize,
        done: usize,
        slots: Vec<Slot>,
        metric: Metric,
    ) -> Reporter {
        let slots_len = slots.len();
        let labels = slots.iter().map(|s| s.label.clone()).collect();
        let terminal =
            std::io::stdout().is_terminal() && std::env::var_os("NAS_ACTOR_PLAIN").is_none();
        let bars = terminal.then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
            let overall = multi.add(ProgressBar::new(budget as u64));
            overall.set_style(
                ProgressStyle::with_template(
                    "{prefix:.bold} [{bar:40.cyan/blue}] {pos}/{len} children  {per_sec}  ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            overall.set_prefix(name.to_string());
            overall.set_position(done as u64);
            let status = multi.add(ProgressBar::new_spinner());
            status.enable_steady_tick(Duration::from_millis(250));
            let slot_bars = slots
                .iter()
                .take(MAX_SLOT_LINES)
                .map(|s| {
                    let b = multi.add(ProgressBar::new_spinner());
                    b.set_message(format!("{:>10}  idle", s.label));
                    b
                })
                .collect();
            Bars {
                multi,
                overall,
                status,
                slots: slot_bars,
            }
        });
        Reporter {
            name: name.to_string(),
            budget,
            metric,
            bars,
            gpus: GpuMonitor::new(),
            interval: Duration::from_secs(2),
            started: Instant::now(),
            start_done: done,
            done,
            updates: 0,
            baseline: 0.0,
            tally: Tally {
                done,
                ..Tally::default()
            },
            child_epochs: None,
            gpu_line: String::new(),
            slot_text: vec!["idle".to_string(); slots_len],
            slot_place: vec![String::new(); slots_len],
            slot_state: slots
                .iter()
                .map(|s| SlotStatus {
                    label: s.label.clone(),
                    state: "idle".into(),
                    child: None,
                    epoch: None,
                    text: "idle".into(),
                })
                .collect(),
            slots,
            pace: Pace::new(labels, None),
            status_path: None,
            status_failed: false,
        }
    }

    /// The epochs each child trains, for the estimate of what the budget takes
    /// (without it, the estimate counts one epoch per child, a lower bound).
    pub fn with_child_epochs(mut self, epochs: usize) -> Reporter {
        self.pace.set_epochs(epochs);
        self.child_epochs = Some(epochs);
        self
    }

    /// Start from a resumed run's state: its children's counts and best
    /// reward, the controller updates applied (θ's version) and the baseline
    /// of the last one, so that the first status line shows them.
    pub fn resumed(mut self, tally: Tally, updates: u64, baseline: f64) -> Reporter {
        self.tally = tally;
        self.done = tally.done;
        self.start_done = tally.done;
        self.updates = updates;
        self.baseline = baseline;
        if let Some(b) = &self.bars {
            b.overall.set_position(tally.done as u64);
        }
        self
    }

    /// Rewrite `path` (a run directory's `slots.json`) at every tick.
    pub fn with_status_file(mut self, path: PathBuf) -> Reporter {
        self.status_path = Some(path);
        self
    }

    /// Write `slots.json`; a failure is said once (the run goes on without it).
    fn write_status(&mut self, ended: bool) {
        let Some(path) = &self.status_path else {
            return;
        };
        let file = SlotsFile {
            written: crate::store::unix_now(),
            done: self.done,
            budget: self.budget,
            child_epochs: self.child_epochs,
            ended,
            slots: self.slot_state.clone(),
        };
        let written = serde_json::to_vec_pretty(&file)
            .map_err(|e| e.to_string())
            .and_then(|bytes| atomic_write(path, &bytes).map_err(|e| e.to_string()));
        if let Err(e) = written {
            if !self.status_failed {
                self.status_failed = true;
                self.notice(&format!(
                    "warning: cannot write {} ({e}); the dashboard will not show the slots",
                    path.display()
                ));
            }
        }
    }

    /// Say `line` once: above the bars, or on stderr.
    fn notice(&self, line: &str) {
        match &self.bars {
            Some(b) => {
                let _ = b.multi.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    /// `cpu#0 child 3 epoch 2 batch 40/1327 | cpu#1 idle`, the first slots.
    fn slots_text(&self) -> String {
        let mut parts: Vec<String> = self
            .slots
            .iter()
            .zip(&self.slot_text)
            .take(MAX_SLOT_LINES)
            .map(|(s, t)| format!("{} {t}", s.label))
            .collect();
        if self.slots.len() > MAX_SLOT_LINES {
            parts.push(format!("+{} slots", self.slots.len() - MAX_SLOT_LINES));
        }
        parts.join(", ")
    }

    fn metric_text(&self) -> String {
        self.tally
            .best_metric
            .and_then(|m| self.metric.show(m))
            .map_or_else(String::new, |m| format!(" ({m})"))
    }

    /// `updates 42 | baseline 0.81 | best reward 0.93 (accuracy 93.00%) | 1 failed, 3 diverged, 5 cached`.
    pub fn status_text(&self) -> String {
        let t = &self.tally;
        let mut s = format!(
            "updates {} | baseline {} | best reward {}{} | {} failed, {} diverged, {} cached",
            self.updates,
            reward(self.baseline),
            reward(t.best_reward),
            self.metric_text(),
            t.failures,
            t.diverged,
            t.cached
        );
        if self.slots.len() > MAX_SLOT_LINES {
            s += &format!(" | {} slots ({} shown)", self.slots.len(), MAX_SLOT_LINES);
        }
        if !self.gpu_line.is_empty() {
            s += " | ";
            s += &self.gpu_line;
        }
        s
    }

    fn plain_line(&self) {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = (self.done - self.start_done) as f64 / secs.max(1e-9);
        let left = self.budget.saturating_sub(self.done);
        let eta = if rate > 0.0 {
            format!("{:.0}s", left as f64 / rate)
        } else {
            "?".into()
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "[{}] {:>7.1}s children {}/{} ({:.2}/s, ETA {}) | {} | slots: {}",
            self.name,
            secs,
            self.done,
            self.budget,
            rate,
            eta,
            self.status_text(),
            self.slots_text()
        );
        let _ = out.flush();
    }

    fn refresh_gpus(&mut self) {
        if let Some(m) = &self.gpus {
            self.gpu_line = m
                .sample()
                .iter()
                .map(|g| {
                    format!(
                        "gpu{} {}% {:.1}/{:.1} GiB",
                        g.index,
                        g.utilization,
                        g.memory_used as f64 / 1073741824.0,
                        g.memory_total as f64 / 1073741824.0
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
        }
    }

    /// Print the last state (called when the run ends).
    pub fn finish(&mut self) {
        for s in &mut self.slot_state {
            if s.state == "running" {
                s.state = "idle".into();
                s.text = "idle".into();
                s.child = None;
                s.epoch = None;
            }
        }
        self.write_status(true);
        match &self.bars {
            Some(b) => {
                b.status.set_message(self.status_text());
                b.overall.abandon();
                b.status.abandon();
                for s in &b.slots {
                    s.finish_and_clear();
                }
            }
            None => self.plain_line(),
        }
    }
}

impl Actor for Reporter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.bars.is_none() {
            self.plain_line();
        }
        ctx.run_interval(self.interval, |act, _| {
            act.refresh_gpus();
            act.write_status(false);
            match &act.bars {
                Some(b) => b.status.set_message(act.status_text()),
                None => act.plain_line(),
            }
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.finish();
    }
}

impl Handler<SlotEvent> for Reporter {
    type Result = ();
    /// Show where a slot is (started, batch progress, idle, retired).
    fn handle(&mut self, msg: SlotEvent, _: &mut Context<Self>) {
        let place = |r: &Reporter, slot: usize| match r.slot_place.get(slot) {
            Some(p) if !p.is_empty() => format!("  on {p}"),
            _ => String::new(),
        };
        // (slot, text, state, child, epoch) for the bars and `slots.json`.
        let (slot, text, state, child, epoch) = match msg {
            SlotEvent::Started { slot, child } => {
                if let Some(p) = self.slot_place.get_mut(slot) {
                    p.clear();
                }
                let text = format!("child {child} starting");
                (slot, text, "running", Some(child), None)
            }
            SlotEvent::Placed { slot, child, at } => {
                if let Some(p) = self.slot_place.get_mut(slot) {
                    p.clone_from(&at);
                }
                let text = format!("child {child} running on {at}");
                (slot, text, "running", Some(child), None)
            }
            SlotEvent::Batch {
                slot,
                child,
                epoch,
                batch,
                batches,
                loss,
            } => {
                let left = self.budget.saturating_sub(self.done);
                let at = (epoch, batch, batches);
                if let Some(e) = self.pace.batch(slot, child, at, left, Instant::now()) {
                    self.notice(&e.line());
                }
                // A progress line without a loss (a trial command's) shows none.
                let loss = if loss.is_nan() {
                    String::new()
                } else {
                    format!("  loss {loss:.4}")
                };
                let text = format!(
                    "child {child}  epoch {epoch}  batch {batch}/{batches}{loss}{}",
                    place(self, slot)
                );
                (slot, text, "running", Some(child), Some(epoch))
            }
            SlotEvent::Epoch {
                slot,
                child,
                epoch,
                metric,
            } => {
                let total = self
                    .child_epochs
                    .map(|n| format!("/{n}"))
                    .unwrap_or_default();
                let value = self
                    .metric
                    .show(metric)
                    .unwrap_or_else(|| format!("{} {metric:.4}", self.metric.name));
                let text = format!("child {child}  epoch {epoch}{total}  {value}");
                (slot, text, "running", Some(child), Some(epoch))
            }
            SlotEvent::Idle { slot } => (slot, "idle".to_string(), "idle", None, None),
            SlotEvent::Retired { slot, reason } => {
                (slot, format!("retired ({reason})"), "retired", None, None)
            }
        };
        if let Some(t) = self.slot_text.get_mut(slot) {
            t.clone_from(&text);
        }
        if let Some(s) = self.slot_state.get_mut(slot) {
            s.state = state.into();
            s.child = child;
            if epoch.is_some() || child.is_none() {
                s.epoch = epoch;
            }
            s.text.clone_from(&text);
        }
        let Some(b) = &self.bars else { return };
        if let (Some(bar), Some(s)) = (b.slots.get(slot), self.slots.get(slot)) {
            bar.set_message(format!("{:>10}  {text}", s.label));
        }
    }
}

impl Handler<ChildRecorded> for Reporter {
    type Result = ();
    /// Advance the children bar and the status line.
    fn handle(&mut self, msg: ChildRecorded, _: &mut Context<Self>) {
        self.done = msg.tally.done;
        self.tally = msg.tally;
        if let Some(b) = &self.bars {
            b.overall.set_position(msg.tally.done as u64);
            b.status.set_message(self.status_text());
        }
    }
}

impl Handler<UpdateApplied> for Reporter {
    type Result = ();
    /// Keep the update count and baseline for the status line.
    fn handle(&mut self, msg: UpdateApplied, _: &mut Context<Self>) {
        self.updates = msg.updates;
        self.baseline = msg.baseline;
    }
}

impl Handler<Notice> for Reporter {
    type Result = ();
    /// Print a one-line notice above the bars (stderr without a terminal).
    fn handle(&mut self, msg: Notice, _: &mut Context<Self>) {
        self.notice(&msg.0);
    }
}
