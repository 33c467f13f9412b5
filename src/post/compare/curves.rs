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

/// The runs' curves, grouped by `by`; errors for an empty log, mixed
/// metrics or a key no run's config has.
pub fn groups(views: &[RunView], by: &GroupBy) -> Result<Vec<Group>, PostError> {
    let first = Metric::of(&views[0].config);
    let mut flat = Vec::with_capacity(views.len());
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
        flat.push(flatten(&v.config));
    }
    if let GroupBy::Keys(keys) = by {
        for k in keys {
            if !flat.iter().any(|f| f.contains_key(k)) {
                return Err(PostError::Compare(format!(
                    "--group-by {k}: no run's config has this key (keys are written as in the config, e.g. search.strategy, controller.preset, child.command.env.NAME)"
                )));
            }
        }
    }
    let mut keyed: Vec<(Vec<(String, String)>, Group)> = Vec::new();
    for (v, f) in views.iter().zip(&flat) {
        let c = curve(v, &first);
        if c.best.iter().all(Option::is_none) {
            return Err(PostError::Compare(format!(
                "{}: no recorded child has a validation metric yet (the child log is empty or every child failed)",
                v.dir.display()
            )));
        }
        let key: Vec<(String, String)> = match by {
            GroupBy::Strategy => vec![("strategy".into(), label(&v.config))],
            GroupBy::Config => blank(f, false),
            GroupBy::Default => blank(f, true),
            GroupBy::Keys(keys) => keys
                .iter()
                .map(|k| {
                    (
                        k.clone(),
                        f.get(k).cloned().unwrap_or_else(|| "(unset)".into()),
                    )
                })
                .collect(),
        };
        match keyed.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.runs.push(c),
            None => keyed.push((
                key,
                Group {
                    label: match by {
                        GroupBy::Keys(_) => String::new(),
                        _ => label(&v.config),
                    },
                    runs: vec![c],
                },
            )),
        }
    }
    if let GroupBy::Keys(_) = by {
        for (k, g) in &mut keyed {
            g.label = k
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect::<Vec<_>>()
                .join(", ");
        }
        return Ok(keyed.into_iter().map(|(_, g)| g).collect());
    }
    Ok(distinguish(keyed))
}

/// Groups with the same label (other configs) get the settings that tell
/// them apart (up to 3), or a number.
fn distinguish(keyed: Vec<(Vec<(String, String)>, Group)>) -> Vec<Group> {
    let labels: Vec<String> = keyed.iter().map(|(_, g)| g.label.clone()).collect();
    let mut out = Vec::with_capacity(keyed.len());
    for (i, (key, g)) in keyed.iter().enumerate() {
        let mut g = g.clone();
        let peers: Vec<&Vec<(String, String)>> = keyed
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i && labels[*j] == labels[i])
            .map(|(_, (k, _))| k)
            .collect();
        if !peers.is_empty() {
            let differing: Vec<String> = key
                .iter()
                .filter(|(k, v)| {
                    peers
                        .iter()
                        .any(|p| p.iter().find(|(pk, _)| pk == k).map(|(_, pv)| pv) != Some(v))
                })
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            // A preset sets many keys at once: name the preset alone.
            let differing = match differing
                .iter()
                .find(|d| d.starts_with("controller.preset="))
            {
                Some(p) => vec![p.clone()],
                None => differing,
            };
            let n = labels[..i].iter().filter(|l| **l == labels[i]).count();
            g.label = if differing.is_empty() || differing.len() > 3 {
                format!("{} [config {}]", g.label, n + 1)
            } else {
                format!("{} [{}]", g.label, differing.join(", "))
            };
        }
        out.push(g);
    }
    out
}

/// How `compare` forms groups (`--group-by`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum GroupBy {
    /// Runs whose configs are equal but for per-run values: the seed, the
    /// name, the output directory and environment variables of the trial
    /// that hold paths. The default.
    #[default]
    Default,
    /// Runs of one strategy (with its preset and early stopping), whatever else differs.
    Strategy,
    /// Runs whose configs are equal but for seed, name and output directory.
    Config,
    /// Runs with the same values of these config keys (`search.strategy`, …).
    Keys(Vec<String>),
}

impl GroupBy {
    /// From the words after `--group-by` (none: the default).
    pub fn parse(words: &[String]) -> Result<GroupBy, PostError> {
        match words {
            [] => Ok(GroupBy::Default),
            [w] if w == "strategy" => Ok(GroupBy::Strategy),
            [w] if w == "config" => Ok(GroupBy::Config),
            _ => {
                for w in words {
                    if w == "strategy" || w == "config" {
                        return Err(PostError::Compare(format!(
                            "--group-by {w} stands alone; to combine it with keys, name the keys (e.g. search.strategy)"
                        )));
                    }
                    if w.is_empty() || w.split('.').any(str::is_empty) {
                        return Err(PostError::Compare(format!(
                            "--group-by {w:?}: a key is written as in the config, e.g. search.strategy"
                        )));
                    }
                }
                Ok(GroupBy::Keys(words.to_vec()))
            }
        }
    }

    /// How it reads, for the terminal.
    pub fn describe(&self) -> String {
        match self {
            GroupBy::Default => "config, ignoring per-run values (seed, name, output directory, paths in child.command.env)".into(),
            GroupBy::Strategy => "strategy".into(),
            GroupBy::Config => "config, ignoring seed, name and output directory".into(),
            GroupBy::Keys(k) => k.join(", "),
        }
    }
}

/// The config as dotted keys and their values (TOML).
fn flatten(c: &Config) -> std::collections::BTreeMap<String, String> {
    fn walk(prefix: &str, v: &toml::Value, out: &mut std::collections::BTreeMap<String, String>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            other => {
                let s = match other {
                    toml::Value::String(s) => s.clone(),
                    _ => other.to_string(),
                };
                out.insert(prefix.to_string(), s);
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    if let Ok(v) = toml::Value::try_from(c) {
        walk("", &v, &mut out);
    }
    out
}

/// The flattened config without what differs between repeats of one
/// experiment (and, with `paths`, environment variables holding paths).
fn blank(flat: &std::collections::BTreeMap<String, String>, paths: bool) -> Vec<(String, String)> {
    flat.iter()
        .filter(|(k, v)| {
            !matches!(
                k.as_str(),
                "experiment.seed" | "experiment.name" | "experiment.output_dir"
            ) && !(paths
                && k.starts_with("child.command.env.")
                && (v.contains('/') || v.contains('\\')))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
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
