//! `report` on synthetic searches of both spaces: every file written, PNGs
//! and SVGs valid, the choice shares sum to one, a torn last log line and
//! a run without any ok child tolerated; `export --format json`.

use std::io::Write;
use std::path::Path;

use nas_actor::actors::{run, RunOptions};
use nas_actor::config::Config;
use nas_actor::post::report::{report, ChoicePicture, RewardPicture};
use nas_actor::post::RunView;
use nas_actor::space::Architecture;

use super::{nas, text};
use crate::orchestrator::synthetic_config;

const FILES: [&str; 8] = [
    "rewards.png",
    "rewards.svg",
    "choices.png",
    "choices.svg",
    "best_arch.png",
    "best_arch.svg",
    "best_arch.dot",
    "report.md",
];

/// Every report file exists; images are a PNG (magic bytes, plausible size) and an SVG document.
fn check_files(dir: &Path) {
    for f in FILES {
        let bytes =
            std::fs::read(dir.join("report").join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        match f.rsplit('.').next() {
            Some("png") => {
                assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{f} is not a PNG");
                assert!(bytes.len() > 2000, "{f} is suspiciously small");
            }
            Some("svg") => {
                let s = String::from_utf8(bytes).expect("SVG is UTF-8");
                assert!(
                    s.contains("<svg") && s.trim_end().ends_with("</svg>"),
                    "{f}"
                );
                assert!(s.contains("<text"), "{f} has no text");
                assert_eq!(s.matches('<').count(), s.matches('>').count(), "{f}");
            }
            Some("dot") => {
                let s = String::from_utf8(bytes).expect("DOT is UTF-8");
                assert!(
                    s.starts_with("digraph") && s.trim_end().ends_with('}'),
                    "{f}"
                );
            }
            _ => assert!(!bytes.is_empty()),
        }
    }
}

fn cnn_synthetic_config(dir: &Path) -> Config {
    let text = format!(
        r#"
[experiment]
name = "synthetic-cnn"
output_dir = "{}"
seed = 2
budget = 40

[devices]
gpus = "none"
cpu_workers = 2

[search]
space = "cnn"
replicas = 2
children_per_replica = 4

[controller]
learning_rate = 0.05

[space.cnn]
layers = 5
predict_strides = true
predict_pooling = true

[child]
backend = "synthetic"

[data]
dataset = "cifar10"
dir = "data/cifar10"
"#,
        dir.display()
    );
    Config::from_toml(&text, Path::new("cnn.toml")).expect("cnn config")
}

#[test]
fn cell_search_report_writes_every_file_and_tolerates_a_torn_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    run(synthetic_config(&dir, 48, ""), &RunOptions::default()).expect("synthetic search");
    let o = nas(&["report", dir.to_str().expect("utf-8")]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("48 children recorded"), "{stdout}");
    check_files(&dir);
    let dot = std::fs::read_to_string(dir.join("report/best_arch.dot")).expect("dot");
    for mark in ["c_prev", "inject", "c_t", "h_t"] {
        assert!(dot.contains(mark), "{mark} missing in the cell drawing");
    }
    let md = std::fs::read_to_string(dir.join("report/report.md")).expect("md");
    assert!(md.contains("![reward per child](rewards.png)"));
    assert!(md.contains("| rank | child | reward |"));
    assert_eq!(md.matches("\n| ").count() - 1, 10, "a 10-row table:\n{md}");

    // A run still going: a last line cut short is dropped with a notice.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("children.jsonl"))
        .expect("open log");
    f.write_all(b"{\"id\": 48, \"replica\"").expect("torn line");
    let view = RunView::open(&dir).expect("open");
    assert_eq!(view.records.len(), 48);
    assert_eq!(view.notices.len(), 1, "{:?}", view.notices);
    let summary = report(&view).expect("report on a torn log");
    assert!(summary.lines.iter().any(|l| l.starts_with("note:")));

    // The choice shares of every head sum to one in every window.
    let choices = ChoicePicture::new(&view.records, &view.config);
    assert_eq!(choices.panels.len(), 6, "the six cell heads");
    for p in &choices.panels {
        for w in 0..choices.centres.len() {
            let sum: f64 = p.shares.iter().map(|s| s[w]).sum();
            assert!((sum - 1.0).abs() < 1e-9, "{} window {w}: {sum}", p.head);
        }
    }
    let rewards = RewardPicture::new(&view.records);
    let best = rewards.best_so_far();
    assert!(best.windows(2).all(|w| w[1].1 >= w[0].1));

    // export --format json: the best architecture, readable by `train --arch`.
    let out = tmp.path().join("best.json");
    let o = nas(&[
        "export",
        dir.to_str().expect("utf-8"),
        "--format",
        "json",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    let arch: Architecture =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("read")).expect("JSON");
    assert_eq!(arch, view.top(1)[0].spec.arch);
    let o = nas(&[
        "export",
        dir.to_str().expect("utf-8"),
        "--top",
        "999",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("ranked 999"), "{:?}", text(&o));
}

#[test]
fn cnn_search_report_draws_layers_and_skip_connections() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    run(cnn_synthetic_config(&dir), &RunOptions::default()).expect("synthetic search");
    let view = RunView::open(&dir).expect("open");
    let summary = report(&view).expect("report");
    assert_eq!(summary.files.len(), FILES.len());
    check_files(&dir);
    let dot = std::fs::read_to_string(dir.join("report/best_arch.dot")).expect("dot");
    let Architecture::Cnn(best) = &view.top(1)[0].spec.arch else {
        panic!("a CNN run");
    };
    for (i, l) in best.layers.iter().enumerate() {
        for j in &l.inputs {
            assert!(
                dot.contains(&format!("layer{j} -> layer{i}")),
                "edge {j}->{i}"
            );
        }
    }
    let choices = ChoicePicture::new(&view.records, &view.config);
    let heads: Vec<&str> = choices.panels.iter().map(|p| p.head.as_str()).collect();
    assert_eq!(
        heads,
        [
            "filter_height",
            "filter_width",
            "stride_height",
            "stride_width",
            "num_filters",
            "max_pool",
            "skip"
        ]
    );
}

#[test]
fn report_of_a_run_without_children_still_writes_pictures() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    let config = synthetic_config(&dir, 4, "");
    nas_actor::store::RunDir::create(&dir, &config).expect("create");
    let view = RunView::open(&dir).expect("open");
    let summary = report(&view).expect("report");
    let names: Vec<String> = summary
        .files
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    assert_eq!(
        names,
        [
            "rewards.png",
            "rewards.svg",
            "choices.png",
            "choices.svg",
            "report.md"
        ]
    );
    assert!(summary.lines.iter().any(|l| l.contains("no architecture")));
}

/// The reward axis fits the rewards, whatever their scale: PTB rewards of
/// order 1e-4 (80/ppl² at ppl ≈ 900) get an axis of that order, not ±1e-3.
#[test]
fn the_reward_axis_fits_tiny_rewards() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = synthetic_config(&tmp.path().join("run"), 12, "");
    let dir = super::hand_written_run(&config, 12);
    let view = RunView::open(&dir).expect("open");
    let mut records = view.records.clone();
    for (i, r) in records.iter_mut().enumerate() {
        r.reward = 1.0e-4 + 2.0e-6 * i as f64;
        r.status = nas_actor::child::ChildStatus::Ok;
    }
    let (lo, hi) = (1.0e-4, 1.0e-4 + 2.0e-6 * (records.len() - 1) as f64);
    let (y_lo, y_hi) = RewardPicture::new(&records).y_range();
    assert!(
        y_lo < lo && y_hi > hi,
        "({y_lo}, {y_hi}) must hold [{lo}, {hi}]"
    );
    assert!(y_lo > 0.0, "rewards all above 0, axis from {y_lo}");
    assert!(
        y_hi - y_lo < 1.5 * (hi - lo),
        "({y_lo}, {y_hi}) is far wider than the rewards [{lo}, {hi}]"
    );
    // A failed child's reward of 0 widens the axis to 0, with a margin below.
    records[0].reward = 0.0;
    let (y_lo, y_hi) = RewardPicture::new(&records).y_range();
    assert!(
        y_lo < 0.0 && y_lo > -0.1 * hi && y_hi > hi && y_hi < 1.1 * hi,
        "({y_lo}, {y_hi})"
    );
    // All equal: 5% of the value either side.
    records.iter_mut().for_each(|r| r.reward = 2.5e-4);
    let (y_lo, y_hi) = RewardPicture::new(&records).y_range();
    assert!((y_lo - 2.375e-4).abs() < 1e-12 && (y_hi - 2.625e-4).abs() < 1e-12);
}
