//! `report.md`: the run at a glance, the pictures, a table of the top
//! architectures and, when `nas-actor retrain` has run, the final results
//! beside the paper's headline results.

use std::fmt::Write;

use super::{status_counts, RunView, TABLE_ROWS};
use crate::config::Dataset;
use crate::format::reward;
use crate::post::final_json::FinalReport;

/// The paper's CIFAR-10 results (Zoph & Le 2017, Table 1): model, layers, parameters, test error %.
const PAPER_CIFAR: [(&str, &str, &str, &str); 4] = [
    ("NAS v1 (no stride or pooling)", "15", "4.2M", "5.50"),
    ("NAS v2 (predicting strides)", "20", "2.5M", "6.01"),
    ("NAS v3 (max pooling)", "39", "7.1M", "4.47"),
    ("NAS v3 + more filters", "39", "37.4M", "3.65"),
];

/// The paper's Penn Treebank results (Table 2): model, parameters, test perplexity.
const PAPER_PTB: [(&str, &str, &str); 5] = [
    ("LSTM medium (Zaremba 2014)", "20M", "82.7"),
    ("Variational LSTM medium (Gal 2015)", "20M", "79.7"),
    ("NAS cell, base 8", "32M", "67.9"),
    ("NAS cell, base 8, shared embeddings", "25M", "64.0"),
    ("NAS cell, base 8, shared embeddings", "54M", "62.4"),
];

/// `1234567` → `1.23M`.
fn params(n: usize) -> String {
    match n {
        n if n >= 1_000_000 => format!("{:.2}M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1}k", n as f64 / 1e3),
        n => n.to_string(),
    }
}

/// Markdown table cells must not contain `|`.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The whole `report.md`.
pub fn render(view: &RunView) -> String {
    let c = &view.config;
    let mut s = String::new();
    let _ = writeln!(s, "# Report: {}\n", c.experiment.name);
    let (ok, cached, failed, diverged) = status_counts(view);
    let _ = writeln!(
        s,
        "- run directory: `{}`\n- search: {:?} space, {:?} strategy, {} replica(s) × {} child(ren) per update, {} shard(s)\n- data: {}\n- children: {} of {} recorded — {ok} ok, {cached} cached, {failed} failed, {diverged} diverged\n- controller updates: {}",
        view.dir.display(),
        c.search.space,
        c.search.strategy,
        c.search.replicas,
        c.search.children_per_replica,
        c.search.shards,
        if c.data.is_unused() {
            "none (synthetic children)".to_string()
        } else {
            format!("{:?} in `{}`", c.data.dataset, c.data.dir.display())
        },
        view.records.len(),
        c.experiment.budget,
        view.updates.len()
    );
    let _ = writeln!(s, "{}", super::compute_line(view));
    for n in &view.notices {
        let _ = writeln!(s, "- note: {n}");
    }
    let _ = writeln!(
        s,
        "\n## Rewards\n\n![reward per child](rewards.png)\n\nPoints: one colour per controller replica (grey crosses: failed or diverged children); black: moving average; red: best so far. [SVG](rewards.svg)\n"
    );
    let _ = writeln!(
        s,
        "## Controller choices\n\n![choices over the run](choices.png)\n\nShare of each option among the decisions of each type, per window of children. [SVG](choices.svg)\n"
    );
    let top = view.top(TABLE_ROWS);
    let _ = writeln!(s, "## Best architecture\n");
    match top.first() {
        Some(b) => {
            let _ = writeln!(
                s,
                "Child {} (hash `{}`), reward {}: {}\n\n![best architecture](best_arch.png)\n\n[SVG](best_arch.svg), Graphviz: [best_arch.dot](best_arch.dot)\n",
                b.spec.id,
                b.spec.hash,
                reward(b.reward),
                b.spec.arch.describe()
            );
        }
        None => {
            let _ = writeln!(s, "No child with status ok yet.\n");
        }
    }
    let metric = format!("val. {}", crate::task::Metric::of(c).name);
    let _ = writeln!(
        s,
        "## Top architectures\n\n| rank | child | reward | {metric} | params | description |\n|---:|---:|---:|---:|---:|---|"
    );
    for (i, r) in top.iter().enumerate() {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            i + 1,
            r.spec.id,
            reward(r.reward),
            r.metric.map(|m| format!("{m:.4}")).unwrap_or("–".into()),
            params(r.params),
            cell(&r.spec.arch.describe())
        );
    }
    if let Some(f) = &view.final_report {
        final_section(&mut s, f);
    } else {
        let _ = writeln!(
            s,
            "\n## Final results\n\nNot yet: `nas-actor retrain {}` retrains the top architectures and evaluates the chosen one on the test set.",
            view.dir.display()
        );
    }
    s
}

fn final_section(s: &mut String, f: &FinalReport) {
    let g = &f.selected.grid;
    let _ = writeln!(
        s,
        "\n## Final results\n\nRetrained the top {} architecture(s) over a grid of {} point(s) ({} trainings); chosen by validation {}: rank {} (child {}), learning rate {}{}{}{}, {} epochs — validation {:.4}.\n",
        f.top,
        f.grid_results.iter().map(|r| r.grid_index).max().map_or(0, |m| m + 1),
        f.grid_results.len(),
        f.metric,
        f.selected.rank,
        f.selected.child_id.map_or("–".into(), |i| i.to_string()),
        g.learning_rate,
        g.weight_decay.map(|w| format!(", weight decay {w}")).unwrap_or_default(),
        g.bn_eps.map(|e| format!(", bn ε {e}")).unwrap_or_default(),
        g.decay_epoch.map(|d| format!(", decay from epoch {d}")).unwrap_or_default(),
        g.epochs,
        f.selected.validation,
    );
    let forced = f.test_evaluations.iter().filter(|e| e.forced).count();
    let _ = writeln!(
        s,
        "Test-set evaluations of this run: {} ({} forced).\n",
        f.test_evaluations.len(),
        forced
    );
    match f.dataset {
        Dataset::Ptb => {
            let _ = writeln!(s, "| model | params | test perplexity |\n|---|---:|---:|");
            let _ = writeln!(
                s,
                "| **this run: found cell** | {} | {:.2} |",
                params(f.selected.params),
                f.test.metric
            );
            if let (Some(b), Some(t)) = (&f.baseline, &f.baseline_test) {
                let _ = writeln!(
                    s,
                    "| **this run: LSTM baseline, same budget** | {} | {:.2} |",
                    params(b.params),
                    t.metric
                );
            }
            for (m, p, ppl) in PAPER_PTB {
                let _ = writeln!(s, "| paper: {m} | {p} | {ppl} |");
            }
        }
        Dataset::Cifar10 | Dataset::Idx => {
            let layers = match &f.selected.architecture {
                crate::space::Architecture::Cnn(a) => a.layers.len().to_string(),
                crate::space::Architecture::Cell(_) | crate::space::Architecture::Custom { .. } => {
                    "–".into()
                }
            };
            let _ = writeln!(
                s,
                "| model | layers | params | test error |\n|---|---:|---:|---:|"
            );
            let _ = writeln!(
                s,
                "| **this run ({:?})** | {layers} | {} | {:.2}% |",
                f.dataset,
                params(f.selected.params),
                100.0 * (1.0 - f.test.metric)
            );
            for (m, l, p, e) in PAPER_CIFAR {
                let _ = writeln!(s, "| paper, CIFAR-10: {m} | {l} | {p} | {e}% |");
            }
        }
    }
    let _ = writeln!(
        s,
        "\nThe paper's numbers come from full-size models trained far longer; a small run is not expected to reach them."
    );
}
