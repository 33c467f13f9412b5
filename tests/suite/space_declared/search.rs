//! A declared space (`search.space = "custom"`) end to end through the
//! binary and the library: a synthetic search that records every child once
//! and learns, `sample`, `report` (choice shares and the drawing of the best
//! architecture) and `export --format json`; config errors that name the key.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Output};

use nas_actor::actors::{run, RunOptions};
use nas_actor::config::Config;
use nas_actor::space::Architecture;
use nas_actor::store::ChildRecord;

/// A declared layer-wise space: a global optimizer and 3 layers of kernel,
/// width and skip inputs, searched by REINFORCE (the small-budget preset)
/// with synthetic children.
fn config_text(dir: &Path, budget: usize) -> String {
    format!(
        r#"
[experiment]
name = "declared"
output_dir = "{}"
seed = 11
budget = {budget}

[devices]
gpus = "none"
cpu_workers = 4

[search]
space = "custom"
replicas = 3
children_per_replica = 4

[controller]
preset = "small-budget"

[[space.custom.decision]]
name = "optimizer"
choices = ["sgd", "adam", "rmsprop"]

[[space.custom.group]]
name = "layer"
repeat = 3

[[space.custom.group.decision]]
name = "kernel"
choices = [1, 3, 5]

[[space.custom.group.decision]]
name = "width"
choices = [16, 32, 64]

[[space.custom.group.decision]]
name = "inputs"
kind = "inputs"

[child]
backend = "synthetic"
"#,
        dir.display()
    )
}

fn nas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nas-actor"))
        .args(args)
        .env("NAS_ACTOR_PLAIN", "1")
        .output()
        .expect("run nas-actor")
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

#[test]
fn a_declared_space_is_searched_end_to_end_and_the_controller_learns() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    let config = Config::from_toml(&config_text(&dir, 720), Path::new("declared.toml"))
        .expect("a declared-space config");
    let summary = run(config, &RunOptions::default()).expect("run");
    assert_eq!(summary.children, 720);
    let records: Vec<ChildRecord> = crate::orchestrator::read_jsonl(&dir.join("children.jsonl"));
    let ids: HashSet<u64> = records.iter().map(|r| r.spec.id).collect();
    assert_eq!(
        ids,
        (0..720).collect::<HashSet<u64>>(),
        "every child exactly once"
    );
    for r in &records {
        let Architecture::Custom { decisions } = &r.spec.arch else {
            panic!("child {} is not a declared architecture", r.spec.id);
        };
        assert!(decisions.value("optimizer").is_some());
        assert_eq!(decisions.repeats("layer").map(<[_]>::len), Some(3));
    }
    // The cache answers repeated architectures; the controller moves toward the landscape's optimum.
    let rewards: Vec<f64> = {
        let mut r: Vec<&ChildRecord> = records.iter().collect();
        r.sort_by_key(|r| r.spec.id);
        r.iter().map(|r| r.reward).collect()
    };
    let (first, last) = (mean(&rewards[..180]), mean(&rewards[540..]));
    assert!(
        last > first + 0.05,
        "mean reward of the last quarter {last:.3} is not above the first quarter's {first:.3}"
    );
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("best.json")).expect("best.json"))
            .expect("best.json parses");
    assert!(best.to_string().contains("\"space\":\"custom\""), "{best}");

    // report: choice shares per declared decision, and the best architecture drawn.
    let o = nas(&["report", dir.to_str().expect("utf-8 path")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "choices.png",
        "choices.svg",
        "best_arch.png",
        "best_arch.svg",
        "best_arch.dot",
    ] {
        let p = dir.join("report").join(f);
        assert!(
            p.metadata().map_or(0, |m| m.len()) > 0,
            "{} missing",
            p.display()
        );
    }
    let dot = std::fs::read_to_string(dir.join("report/best_arch.dot")).expect("dot");
    assert!(
        dot.contains("layer_2") && dot.contains("optimizer"),
        "{dot}"
    );
    // export --format json: the form a trial reads, the record's `arch.decisions`.
    let o = nas(&[
        "export",
        dir.to_str().expect("utf-8 path"),
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let exported: serde_json::Value =
        serde_json::from_slice(&o.stdout).expect("export prints JSON");
    assert!(exported.to_string().contains("\"layer\""), "{exported}");
    let log = std::fs::read_to_string(dir.join("children.jsonl")).expect("children.jsonl");
    let recorded: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("a record"))
        .collect();
    assert!(
        recorded
            .iter()
            .any(|r| r["arch"]["space"] == "custom" && r["arch"]["decisions"] == exported),
        "the export is a record's arch.decisions: {exported}"
    );
    // --format pytorch is refused with the fix.
    let o = nas(&[
        "export",
        dir.to_str().expect("utf-8 path"),
        "--format",
        "pytorch",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("--format json"));
}

#[test]
fn sample_prints_declared_architectures() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = tmp.path().join("declared.toml");
    std::fs::write(&cfg, config_text(&tmp.path().join("run"), 10)).expect("config");
    let o = nas(&["sample", cfg.to_str().expect("utf-8 path"), "-n", "3"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 3);
    for l in &lines {
        let text = l.to_string();
        assert!(
            text.contains("optimizer") && text.contains("layer"),
            "{text}"
        );
    }
}

#[test]
fn declared_space_config_errors_name_the_key_and_exit_2() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let good = config_text(&tmp.path().join("run"), 10);
    let cases = [
        (
            good.replace("choices = [1, 3, 5]", "choices = []"),
            "space.custom.group[0].decision[0].choices",
        ),
        (
            good.replace("repeat = 3", "repeat = 0"),
            "space.custom.group[0].repeat",
        ),
        (
            good.replace("backend = \"synthetic\"", "backend = \"tch\""),
            "child.backend",
        ),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let cfg = tmp.path().join(format!("bad{i}.toml"));
        std::fs::write(&cfg, text).expect("config");
        let o = nas(&["run", cfg.to_str().expect("utf-8 path")]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "case {i}: {err}");
        assert!(
            err.contains(key),
            "case {i}: the message names `{key}`: {err}"
        );
        // The line of the bad key in the file.
        let line = text
            .lines()
            .position(|l| {
                l.contains("choices = []") || l.contains("repeat = 0") || l.contains("\"tch\"")
            })
            .map(|n| n + 1)
            .expect("the bad line");
        assert!(
            err.contains(&format!(".toml:{line}:")),
            "case {i}: line {line} in {err}"
        );
        assert!(
            !tmp.path().join("run").exists(),
            "case {i}: nothing created"
        );
    }
}
