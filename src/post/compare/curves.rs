//! The curves `compare` draws and tabulates: per run, the best metric so far
//! after each recorded child (in log order, the order the results were
//! known) with the compute spent up to it; runs grouped by strategy and
//! config.

use super::PostError;
use crate::child::ChildStatus;
use crate::config::Config;
use crate::post::RunView;
use crate::store::ChildRecord;
use crate::task::Metric;

/// What the horizontal axis counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Children recorded.
    Children,
    /// Child-epochs trained (cached children cost none).
    ChildEpochs,
    /// Child training seconds.
    ChildSeconds,
}

impl Axis {
    /// The axis label.
    pub fn label(self) -> &'static str {
        match self {
            Axis::Children => "children recorded",
            Axis::ChildEpochs => "child-epochs trained",
            Axis::ChildSeconds => "child training seconds",
        }
    }
}

/// One run's curve.
#[derive(Debug, Clone)]
pub struct Curve {
    pub dir: std::path::PathBuf,
    pub budget: usize,
    /// After child k (index k − 1): the best metric so far (None before the first).
    pub best: Vec<Option<f64>>,
    /// After child k: child-epochs and child seconds spent so far.
    pub epochs: Vec<f64>,
    pub seconds: Vec<f64>,
}

impl Curve {
    /// The best metric after the first `n` children (None when none had a metric, or fewer ran).
    pub fn at_children(&self, n: usize) -> Option<f64> {
        if n == 0 || n > self.best.len() {
            return None;
        }
        self.best[n - 1]
    }

    /// The compute spent after each child, on `axis`.
    pub fn spent(&self, axis: Axis) -> Vec<f64> {
        match axis {
            Axis::Children => (1..=self.best.len()).map(|k| k as f64).collect(),
            Axis::ChildEpochs => self.epochs.clone(),
            Axis::ChildSeconds => self.seconds.clone(),
        }
    }

    /// The best metric once `x` of `axis` is spent (the last child within it).
    pub fn at(&self, axis: Axis, x: f64) -> Option<f64> {
        let spent = self.spent(axis);
        let k = spent.iter().take_while(|&&s| s <= x + 1e-9).count();
        self.at_children(k)
    }
}

/// The best metric so far after each of `records` (in their order): a record
/// counts when it has a finite metric (ok, stopped and cached children).
pub fn best_so_far(records: &[ChildRecord], metric: &Metric) -> Vec<Option<f64>> {
    let mut best: Option<f64> = None;
    records
        .iter()
        .map(|r| {
            if let Some(m) = r.metric.filter(|m| m.is_finite()) {
                if best.is_none_or(|b| metric.better(m, b)) {
                    best = Some(m);
                }
            }
            best
        })
        .collect()
}

fn curve(view: &RunView, metric: &Metric) -> Curve {
    let (mut e, mut s) = (0.0, 0.0);
    let (mut epochs, mut seconds) = (Vec::new(), Vec::new());
    for r in &view.records {
        if r.status != ChildStatus::Cached {
            e += r.epochs.len() as f64;
            s += if r.seconds.is_finite() {
                r.seconds
            } else {
                0.0
            };
        }
        epochs.push(e);
        seconds.push(s);
    }
    Curve {
        dir: view.dir.clone(),
        budget: view.config.experiment.budget,
        best: best_so_far(&view.records, metric),
        epochs,
        seconds,
    }
}

/// Runs of one strategy and config.
#[derive(Debug, Clone)]
pub struct Group {
    /// e.g. `evolution + early stop`.
    pub label: String,
    pub runs: Vec<Curve>,
}

/// The config with what differs between repeats of one experiment blanked.
fn fingerprint(c: &Config) -> String {
    let mut c = c.clone();
    c.experiment.seed = 0;
    c.experiment.name = String::new();
    c.experiment.output_dir = Default::default();
    c.to_toml().unwrap_or_default()
}

/// The strategy of a config as the plots name it, e.g. `evolution + early stop`.
pub fn label(c: &Config) -> String {
    let strategy = format!("{:?}", c.search.strategy).to_lowercase();
    let preset = c
        .controller
        .preset
        .filter(|_| c.search.strategy == crate::config::Strategy::Reinforce)
        .map(|p| {
            format!(
                " ({})",
                serde_json::to_string(&p)
                    .unwrap_or_default()
                    .trim_matches('"')
            )
        })
        .unwrap_or_default();
    let stop = if c.search.early_stop.enabled {
        " + early stop"
    } else {
        ""
    };
    format!("{strategy}{preset}{stop}")
}

/// The runs' curves, grouped; errors for an empty log or mixed metrics.
pub fn groups(views: &[RunView]) -> Result<Vec<Group>, PostError> {
    let first = Metric::of(&views[0].config);
    let mut keyed: Vec<(String, Group)> = Vec::new();
    for v in views {
        let m = Metric::of(&v.config);
        if m != first {
            return Err(PostError::Compare(format!(
                "{} measures {} but {} measures {}: compare runs of one task",
                v.dir.display(),
                m.name,
                views[0].dir.display(),
                first.name
            )));
        }
        let c = curve(v, &m);
        if c.best.iter().all(Option::is_none) {
            return Err(PostError::Compare(format!(
                "{}: no recorded child has a validation metric yet (the child log is empty or every child failed)",
                v.dir.display()
            )));
        }
        let key = fingerprint(&v.config);
        match keyed.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.runs.push(c),
            None => keyed.push((
                key,
                Group {
                    label: label(&v.config),
                    runs: vec![c],
                },
            )),
        }
    }
    // Groups with the same label (other configs) are numbered.
    let mut out: Vec<Group> = keyed.into_iter().map(|(_, g)| g).collect();
    for i in 0..out.len() {
        let same = out.iter().filter(|g| g.label == out[i].label).count();
        if same > 1 {
            let n = out[..i]
                .iter()
                .filter(|g| g.label.starts_with(&out[i].label))
                .count();
            out[i].label = format!("{} [config {}]", out[i].label, n + 1);
        }
    }
    Ok(out)
}

/// Child-epochs when every run's children report epochs, else child seconds.
pub fn compute_axis(views: &[RunView]) -> Axis {
    if views.iter().all(|v| v.config.child_epochs().is_some()) {
        Axis::ChildEpochs
    } else {
        Axis::ChildSeconds
    }
}

/// Mean and sample standard deviation (0 for one value).
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n.max(1.0);
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}
