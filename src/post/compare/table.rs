//! The markdown table of `compare`: per group, the best metric so far at 25,
//! 50 and 100 % of the budget (children), mean ± sample standard deviation
//! over its runs, and the compute its runs spent.

use std::fmt::Write;

use super::curves::{mean_sd, Group};
use super::FRACTIONS;
use crate::task::Metric;

/// The children of a `budget` that `fraction` of it is (at least 1).
pub fn children_at(budget: usize, fraction: f64) -> usize {
    ((budget as f64 * fraction).ceil() as usize).max(1)
}

/// The table (see the module doc).
pub fn render(groups: &[Group], metric: &Metric) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| group | runs | budget | {} | child-epochs | child seconds |",
        FRACTIONS
            .iter()
            .map(|f| format!("{} at {:.0} %", metric.name, f * 100.0))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(
        s,
        "|---|---:|---:|{}---:|---:|",
        "---:|".repeat(FRACTIONS.len())
    );
    for g in groups {
        let budget = g.runs.iter().map(|r| r.budget).max().unwrap_or(0);
        let cells: Vec<String> = FRACTIONS
            .iter()
            .map(|&f| {
                let values: Vec<f64> = g
                    .runs
                    .iter()
                    .filter_map(|r| r.at_children(children_at(r.budget, f)))
                    .collect();
                if values.len() < g.runs.len() {
                    // A run has not reached this share of its budget yet.
                    return "—".to_string();
                }
                let (mean, sd) = mean_sd(&values);
                if values.len() < 2 {
                    // One run: no spread to speak of.
                    format!("{mean:.4} ± —")
                } else {
                    format!("{mean:.4} ± {sd:.4}")
                }
            })
            .collect();
        let last = |v: &Vec<f64>| v.last().copied().unwrap_or(0.0);
        let (epochs, _) = mean_sd(&g.runs.iter().map(|r| last(&r.epochs)).collect::<Vec<_>>());
        let (secs, _) = mean_sd(&g.runs.iter().map(|r| last(&r.seconds)).collect::<Vec<_>>());
        let _ = writeln!(
            s,
            "| {} | {} | {budget} | {} | {epochs:.0} | {secs:.1} |",
            g.label.replace('|', "\\|"),
            g.runs.len(),
            cells.join(" | ")
        );
    }
    let _ = writeln!(
        s,
        "\nCells: the best validation {} so far after 25, 50 and 100 % of each run's budget of children, mean ± sample standard deviation over the group's runs (— where a run has not got that far, and for the deviation of a group of one run). Child-epochs and seconds: the mean over the runs of what their children trained. The plots draw each group's mean with a band from its runs' minimum to maximum.",
        metric.name
    );
    s
}
