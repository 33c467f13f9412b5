//! `compare` on three tiny synthetic runs (two random-search seeds, one
//! evolution run): valid PNG and SVG files, and a table whose numbers are
//! the runs' logs' best-so-far values, computed here from children.jsonl;
//! bad input (not a run directory, an empty log, mixed metrics, an unknown
//! `--group-by` key) exits 2; 30 runs in 3 groups: the groups formed (by
//! default, by strategy, by config, by a key), the table against the logs,
//! and the legend's entry count.

use std::path::Path;

use nas_actor::actors::{run, RunOptions};
use nas_actor::config::Strategy;
use nas_actor::store::ChildRecord;

use super::{nas, text};
use crate::orchestrator::{read_jsonl, synthetic_config};

/// A finished synthetic run of 20 children with 4-epoch curves.
fn tiny_run(dir: &Path, strategy: Strategy, seed: u64) {
    let mut c = synthetic_config(dir, 20, "[child.synthetic]\nepochs = 4\n");
    c.search.strategy = strategy;
    c.experiment.seed = seed;
    c.devices.cpu_workers = 2;
    run(c, &RunOptions::default()).expect("run");
}

/// The best metric after the first `n` records of `dir`'s log.
fn best_after(dir: &Path, n: usize) -> f64 {
    let recs: Vec<ChildRecord> = read_jsonl(&dir.join("children.jsonl"));
    recs[..n]
        .iter()
        .filter_map(|r| r.metric)
        .fold(f64::NEG_INFINITY, f64::max)
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    if v.len() < 2 {
        return (m, 0.0);
    }
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
    (m, var.sqrt())
}

#[test]
fn compare_writes_pictures_and_a_table_that_matches_the_logs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (r1, r2, e1) = (
        tmp.path().join("random-1"),
        tmp.path().join("random-2"),
        tmp.path().join("evolution-1"),
    );
    tiny_run(&r1, Strategy::Random, 1);
    tiny_run(&r2, Strategy::Random, 2);
    tiny_run(&e1, Strategy::Evolution, 1);
    let out = tmp.path().join("cmp");
    let args: Vec<String> = std::iter::once("compare".to_string())
        .chain([&r1, &r2, &e1].iter().map(|p| p.display().to_string()))
        .chain(["--out".to_string(), out.display().to_string()])
        .collect();
    let o = nas(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    for f in [
        "compare_children.png",
        "compare_children.svg",
        "compare_compute.png",
        "compare_compute.svg",
    ] {
        let bytes = std::fs::read(out.join(f)).expect(f);
        if f.ends_with(".png") {
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{f} is not a PNG");
            assert!(bytes.len() > 5_000, "{f} is only {} bytes", bytes.len());
        } else {
            let s = String::from_utf8(bytes).expect("utf-8");
            assert!(
                s.contains("<svg") && s.trim_end().ends_with("</svg>"),
                "{f}"
            );
        }
    }
    let md = std::fs::read_to_string(out.join("compare.md")).expect("compare.md");
    // Expected cells from the logs: 25 % of 20 = 5 children, 50 % = 10, 100 % = 20.
    let cells = |dirs: &[&Path]| -> Vec<String> {
        [5, 10, 20]
            .iter()
            .map(|&n| {
                let v: Vec<f64> = dirs.iter().map(|d| best_after(d, n)).collect();
                let (m, sd) = mean_sd(&v);
                if v.len() < 2 {
                    format!("{m:.4} ± —")
                } else {
                    format!("{m:.4} ± {sd:.4}")
                }
            })
            .collect()
    };
    let row = |label: &str| -> Vec<String> {
        let line = md
            .lines()
            .find(|l| l.starts_with(&format!("| {label} |")))
            .unwrap_or_else(|| panic!("no row {label} in\n{md}"));
        line.split('|').map(|c| c.trim().to_string()).collect()
    };
    let random = row("random");
    assert_eq!(random[2], "2", "two random runs in one group");
    assert_eq!(random[4..7].to_vec(), cells(&[&r1, &r2]));
    let evolution = row("evolution");
    assert_eq!(evolution[2], "1");
    assert_eq!(evolution[4..7].to_vec(), cells(&[&e1]));
    // Compute: 4 epochs per trained child.
    let recs: Vec<ChildRecord> = read_jsonl(&e1.join("children.jsonl"));
    let epochs: usize = recs.iter().map(|r| r.epochs.len()).sum();
    assert_eq!(evolution[7], epochs.to_string());
    assert!(stdout.contains("| random |"), "{stdout}");
}

#[test]
fn compare_refuses_bad_input_with_exit_code_2() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("cmp").display().to_string();
    let not_a_run = tmp.path().display().to_string();
    let o = nas(&["compare", &not_a_run, "--out", &out]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("not a run directory"), "{}", text(&o).1);

    // A run whose log is empty: stopped before its first child.
    let empty = tmp.path().join("empty");
    let mut c = synthetic_config(&empty, 5, "");
    c.experiment.budget = 5;
    nas_actor::store::RunDir::create(&empty, &c).expect("run dir");
    let o = nas(&["compare", &empty.display().to_string(), "--out", &out]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("no recorded child"), "{}", text(&o).1);

    // A synthetic run beside a (fake) accuracy run: different metrics.
    let syn = tmp.path().join("syn");
    tiny_run(&syn, Strategy::Random, 3);
    let acc = tmp.path().join("acc");
    let text_cfg =
        std::fs::read_to_string(crate::common::root().join("configs/fashion_mnist.toml"))
            .expect("fashion config");
    let cfg = nas_actor::config::Config::from_toml(&text_cfg, Path::new("f.toml")).expect("cfg");
    nas_actor::store::RunDir::create(&acc, &cfg).expect("run dir");
    let o = nas(&[
        "compare",
        &syn.display().to_string(),
        &acc.display().to_string(),
        "--out",
        &out,
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o).1;
    assert!(
        err.contains("synthetic") && err.contains("accuracy"),
        "{err}"
    );
}

/// The best metric after each budget share of 12 children (3, 6, 12) over
/// `dirs`, as the table writes it.
fn cells_of(dirs: &[std::path::PathBuf]) -> Vec<String> {
    [3, 6, 12]
        .iter()
        .map(|&n| {
            let v: Vec<f64> = dirs.iter().map(|d| best_after(d, n)).collect();
            let (m, sd) = mean_sd(&v);
            if v.len() < 2 {
                format!("{m:.4} ± —")
            } else {
                format!("{m:.4} ± {sd:.4}")
            }
        })
        .collect()
}

#[test]
fn compare_groups_thirty_runs_into_three_and_its_legend_fits() {
    use nas_actor::post::compare::{compare, GroupBy, LEGEND_MAX};
    let tmp = tempfile::tempdir().expect("tempdir");
    let strategies = [Strategy::Random, Strategy::Evolution, Strategy::Tpe];
    let mut dirs: Vec<(Strategy, std::path::PathBuf)> = Vec::new();
    for seed in 1..=10u64 {
        for s in strategies {
            let dir = tmp.path().join(format!("{s:?}-{seed}"));
            // Runs differ in seed, name, output directory and a per-run path
            // in the trial's environment: none of these makes a group.
            let mut c = synthetic_config(&dir, 12, "");
            c.search.strategy = s;
            c.experiment.seed = seed;
            c.experiment.name = format!("{s:?}-{seed}");
            c.devices.cpu_workers = 1;
            c.child
                .command
                .env
                .insert("CACHE".into(), format!("/scratch/{s:?}/{seed}"));
            run(c, &RunOptions::default()).expect("run");
            dirs.push((s, dir));
        }
    }
    let all: Vec<std::path::PathBuf> = dirs.iter().map(|d| d.1.clone()).collect();
    let out = tmp.path().join("cmp");
    let summary = compare(&all, &out, &GroupBy::Default).expect("compare");
    assert!(
        summary.groups[0].starts_with("3 group(s) of 30 run(s)"),
        "{:?}",
        summary.groups
    );
    assert_eq!(
        summary.legend_entries,
        vec![3, 3],
        "one legend entry per group"
    );
    let md = std::fs::read_to_string(out.join("compare.md")).expect("compare.md");
    for (s, label) in strategies.iter().zip(["random", "evolution", "tpe"]) {
        let line = md
            .lines()
            .find(|l| l.starts_with(&format!("| {label} |")))
            .unwrap_or_else(|| panic!("no row {label} in\n{md}"));
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        assert_eq!(cols[2], "10", "{label}: 10 runs");
        let mine: Vec<std::path::PathBuf> = dirs
            .iter()
            .filter(|d| d.0 == *s)
            .map(|d| d.1.clone())
            .collect();
        assert_eq!(cols[4..7].to_vec(), cells_of(&mine), "{label}");
    }
    // By strategy: the same 3 groups.
    let by = compare(&all, &out, &GroupBy::Strategy).expect("by strategy");
    assert_eq!(by.legend_entries, vec![3, 3]);
    // By the whole config, per-run paths included: 30 groups of one run;
    // the legend keeps to what fits, the table lists all, "—" for the spread.
    let one = compare(&all, &out, &GroupBy::Config).expect("by config");
    assert!(one.groups[0].starts_with("30 group(s)"), "{:?}", one.groups);
    assert_eq!(one.legend_entries, vec![LEGEND_MAX, LEGEND_MAX]);
    let rows = one
        .table
        .lines()
        .filter(|l| l.starts_with("| random"))
        .count();
    assert_eq!(rows, 10);
    let first = one
        .table
        .lines()
        .find(|l| l.starts_with("| random"))
        .expect("a random row");
    let cols: Vec<&str> = first.split('|').map(str::trim).collect();
    assert!(cols[4].ends_with("± —"), "{first}");
    // Keys: by search.strategy; a key no config has is refused (exit 2).
    let keys = GroupBy::parse(&["search.strategy".to_string()]).expect("keys");
    let k = compare(&all, &out, &keys).expect("by key");
    assert_eq!(k.legend_entries, vec![3, 3]);
    let arg = |p: &std::path::Path| p.display().to_string();
    let o = nas(&[
        "compare",
        &arg(&all[0]),
        &arg(&all[1]),
        "--out",
        &arg(&out),
        "--group-by",
        "search.nothing",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).1.contains("--group-by search.nothing"),
        "{}",
        text(&o).1
    );
    // The groups formed are printed.
    let o = nas(&[
        "compare",
        &arg(&all[0]),
        &arg(&all[1]),
        &arg(&all[3]),
        "--out",
        &arg(&out),
    ]);
    let (stdout, _) = text(&o);
    assert!(stdout.contains("2 group(s) of 3 run(s)"), "{stdout}");
}

#[test]
fn the_y_axis_spans_where_the_curves_are_after_the_first_few_percent() {
    use nas_actor::post::compare::{Axis, ComparePicture, Curve, Group};
    // A first child at 0.37, then 99 children between 0.70 and 0.73.
    let best: Vec<Option<f64>> = std::iter::once(0.37)
        .chain((1..100).map(|k| 0.70 + 0.03 * k as f64 / 99.0))
        .map(Some)
        .collect();
    let curve = Curve {
        dir: "r".into(),
        budget: 100,
        epochs: vec![0.0; best.len()],
        seconds: vec![0.0; best.len()],
        best,
    };
    let groups = [Group {
        label: "random".into(),
        runs: vec![curve],
    }];
    let tmp = tempfile::tempdir().expect("tempdir");
    let metric = nas_actor::task::Metric::of(&synthetic_config(tmp.path(), 1, ""));
    let pic = ComparePicture::new(&groups, Axis::Children, &metric);
    let (lo, hi) = pic.y_axis();
    assert!(
        lo > 0.69 && lo < 0.71 && hi > 0.73 && hi < 0.74,
        "{lo}..{hi}"
    );
    assert_eq!(pic.legend_entries(), 1);
}
