//! The post-search subcommands: `retrain`, `report`, `compare` and `export`
//! (the work is in [`crate::post`]; this file shows it to a person).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::device::parse_device;
use super::{CliError, ExportKind};
use crate::post::export::{export as export_arch, ExportFormat};
use crate::post::report::report as write_report;
use crate::post::retrain::{retrain as run_retrain, RetrainEvent, RetrainOptions};
use crate::post::{PostError, RunView, FINAL_FILE};
use crate::store::atomic_write;

fn cli_error(e: PostError) -> CliError {
    if e.is_input() {
        CliError::from_error(2, e)
    } else {
        CliError::from_error(1, e)
    }
}

fn out(line: &str) -> Result<(), CliError> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    writeln!(o, "{line}").map_err(|e| CliError::runtime(format!("cannot write to stdout: {e}")))
}

/// Bars on a terminal: the overall one and one line per slot.
struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    slots: HashMap<String, ProgressBar>,
}

/// Shows retraining events: bars on a terminal, plain lines otherwise.
struct RetrainView {
    terminal: bool,
    bars: Option<Bars>,
    jobs: usize,
    done: usize,
    /// Slot of each running job.
    job_slot: HashMap<usize, String>,
}

impl RetrainView {
    /// A line above the bars (or alone); a closed stdout only loses progress lines.
    fn line(&self, text: String) {
        match &self.bars {
            Some(b) => b.multi.suspend(|| {
                let _ = out(&text);
            }),
            None => {
                let _ = out(&text);
            }
        }
    }

    fn show(&mut self, event: RetrainEvent) {
        match event {
            RetrainEvent::Notice(n) => self.line(format!("note: {n}")),
            RetrainEvent::Planned {
                jobs,
                grid,
                slots,
                data,
            } => {
                self.jobs = jobs;
                self.line(format!(
                    "retraining: {jobs} trainings ({grid} grid point(s) each) on {} slot(s): {}; {data}",
                    slots.len(),
                    slots.join(", ")
                ));
                if self.terminal {
                    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
                    let overall = multi.add(ProgressBar::new(jobs as u64));
                    overall.set_style(
                        ProgressStyle::with_template(
                            "retrain [{bar:40.cyan/blue}] {pos}/{len} trainings  ETA {eta}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    let slots = slots
                        .into_iter()
                        .map(|s| {
                            let b = multi.add(ProgressBar::new_spinner());
                            b.set_message(format!("{s:>10}  idle"));
                            (s, b)
                        })
                        .collect();
                    self.bars = Some(Bars {
                        multi,
                        overall,
                        slots,
                    });
                }
            }
            RetrainEvent::Started { job, slot, label } => {
                match self.bars.as_ref().and_then(|b| b.slots.get(&slot)) {
                    Some(bar) => bar.set_message(format!("{slot:>10}  {label}")),
                    None => self.line(format!(
                        "training {}/{}: {label} on {slot}",
                        job + 1,
                        self.jobs
                    )),
                }
                self.job_slot.insert(job, slot);
            }
            RetrainEvent::Batch {
                job,
                epoch,
                batch,
                batches,
                loss,
            } => {
                let bar = self
                    .job_slot
                    .get(&job)
                    .and_then(|s| self.bars.as_ref().and_then(|b| b.slots.get(s)));
                if let (Some(bar), Some(slot)) = (bar, self.job_slot.get(&job)) {
                    bar.set_message(format!(
                        "{slot:>10}  training {}: epoch {epoch} batch {batch}/{batches} loss {loss:.4}",
                        job + 1
                    ));
                }
            }
            RetrainEvent::Epoch {
                job,
                epochs,
                metrics,
            } => {
                // Bars show batches; plain output gets one line per epoch.
                if self.bars.is_none() {
                    self.line(format!(
                        "training {}/{}: epoch {}/{epochs}: metric {:.4}{}, {:.1}s",
                        job + 1,
                        self.jobs,
                        metrics.epoch,
                        metrics.val_metric,
                        crate::format::losses(metrics.train_loss, metrics.val_loss),
                        metrics.seconds
                    ));
                }
            }
            RetrainEvent::Finished { job, result } => {
                self.done += 1;
                if let Some(b) = &self.bars {
                    b.overall.set_position(self.done as u64);
                }
                let slot = self.job_slot.remove(&job).unwrap_or_default();
                if let Some(bar) = self.bars.as_ref().and_then(|b| b.slots.get(&slot)) {
                    bar.set_message(format!("{slot:>10}  idle"));
                }
                let what = match result.validation {
                    Some(v) => format!("validation {v:.4}"),
                    None => format!(
                        "{:?}: {}",
                        result.status,
                        result.message.clone().unwrap_or_default()
                    ),
                };
                self.line(format!(
                    "done {}/{}: training {} ({}, grid point {}): {what}, {:.1}s",
                    self.done,
                    self.jobs,
                    job + 1,
                    if result.rank == 0 {
                        "LSTM baseline".to_string()
                    } else {
                        format!("rank {}", result.rank)
                    },
                    result.grid_index,
                    result.seconds
                ));
            }
            RetrainEvent::Tested { label, test } => {
                if let Some(b) = self.bars.take() {
                    b.overall.finish_and_clear();
                    for bar in b.slots.values() {
                        bar.finish_and_clear();
                    }
                }
                self.line(format!(
                    "test set: {label}: metric {:.4}, loss {:.4} over {}",
                    test.metric, test.loss, test.count
                ));
            }
        }
    }
}

/// `nas-actor retrain`.
pub fn retrain(
    run_dir: &Path,
    top: Option<usize>,
    config: Option<PathBuf>,
    force: bool,
    device: Option<&str>,
) -> Result<(), CliError> {
    let device = device.map(|d| parse_device(Some(d))).transpose()?;
    let options = RetrainOptions {
        top,
        config,
        force,
        device,
    };
    let terminal = std::io::stdout().is_terminal() && std::env::var_os("NAS_ACTOR_PLAIN").is_none();
    let view = Mutex::new(RetrainView {
        terminal,
        bars: None,
        jobs: 0,
        done: 0,
        job_slot: HashMap::new(),
    });
    let events = |e: RetrainEvent| {
        let mut v = match view.lock() {
            Ok(v) => v,
            Err(p) => p.into_inner(),
        };
        v.show(e);
    };
    let result = run_retrain(run_dir, &options, &events);
    if let Ok(mut v) = view.lock() {
        if let Some(b) = v.bars.take() {
            b.overall.finish_and_clear();
        }
    }
    let report = result.map_err(cli_error)?;
    let s = &report.selected;
    out(&format!(
        "chosen: rank {} (child {}) at grid point {}: validation {} {:.4}, test {} {:.4}, {} parameters: {}",
        s.rank,
        s.child_id.map_or("–".into(), |i| i.to_string()),
        s.grid_index,
        report.metric,
        s.validation,
        report.metric,
        report.test.metric,
        s.params,
        s.description
    ))?;
    if let (Some(b), Some(t)) = (&report.baseline, &report.baseline_test) {
        out(&format!(
            "LSTM baseline: validation {:.4}, test {} {:.4}, {} parameters",
            b.validation, report.metric, t.metric, b.params
        ))?;
    }
    out(&format!(
        "wrote {} and {}{}",
        run_dir.join(FINAL_FILE).display(),
        run_dir.join(&s.weights).display(),
        report
            .baseline
            .as_ref()
            .map(|b| format!(" and {}", run_dir.join(&b.weights).display()))
            .unwrap_or_default()
    ))
}

/// `nas-actor report`.
pub fn report(run_dir: &Path) -> Result<(), CliError> {
    let view = RunView::open(run_dir).map_err(cli_error)?;
    let summary = write_report(&view).map_err(cli_error)?;
    for line in &summary.lines {
        out(line)?;
    }
    Ok(())
}

/// `nas-actor compare`.
pub fn compare(run_dirs: &[PathBuf], out_dir: &Path, group_by: &[String]) -> Result<(), CliError> {
    let by = crate::post::compare::GroupBy::parse(group_by).map_err(cli_error)?;
    let summary = crate::post::compare::compare(run_dirs, out_dir, &by).map_err(cli_error)?;
    for line in &summary.groups {
        out(line)?;
    }
    for line in summary.table.lines() {
        out(line)?;
    }
    for f in &summary.files {
        out(&format!("wrote {}", f.display()))?;
    }
    Ok(())
}

/// `nas-actor export`.
pub fn export(
    run_dir: &Path,
    top: usize,
    format: ExportKind,
    out_file: Option<&Path>,
) -> Result<(), CliError> {
    let view = RunView::open(run_dir).map_err(cli_error)?;
    let format = match format {
        ExportKind::Json => ExportFormat::Json,
        ExportKind::Pytorch => ExportFormat::Pytorch,
    };
    let text = export_arch(&view, top, format).map_err(cli_error)?;
    match out_file {
        Some(path) => {
            atomic_write(path, text.as_bytes()).map_err(|e| CliError::from_error(1, e))?;
            eprintln!("wrote {}", path.display());
            Ok(())
        }
        None => {
            use std::io::Write;
            std::io::stdout()
                .lock()
                .write_all(text.as_bytes())
                .map_err(|e| CliError::runtime(format!("cannot write to stdout: {e}")))
        }
    }
}
