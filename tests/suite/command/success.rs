//! Trials that succeed: what is recorded, what is kept, what is reused.

use std::collections::HashMap;

use nas_actor::child::ChildStatus;
use nas_actor::space::declared::DeclaredArch;
use nas_actor::space::Architecture;

use super::{assert_every_id_once, config, config_text, records, script, search, with_status};

/// A trial whose accuracy (0.10–0.99) is a function of its architecture
/// file; it logs a line on stdout and one on stderr, counts its starts in
/// `RUN_DIR/starts`, reports two epochs and then `final` (a shell snippet
/// with `$m` in scope).
fn trial_body(final_line: &str) -> String {
    format!(
        r#"echo "child $NAS_CHILD_ID seed=$NAS_SEED slot=$NAS_SLOT starting"
echo "a warning on stderr" >&2
sum=$(cksum < "$NAS_ARCH_FILE" | cut -d' ' -f1)
m=$(( sum % 90 + 10 ))
echo "$NAS_CHILD_ID" >> "$NAS_RUN_DIR/starts"
echo "{{\"epoch\": 1, \"metric\": 0.0$((m / 10))}}"
echo "{{\"epoch\": 2, \"metric\": 0.$m, \"train_loss\": 1.5}}"
{final_line}"#
    )
}

#[test]
fn metrics_logs_architecture_files_and_the_cache() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    script(dir, "trial.sh", &trial_body(r#"echo "{\"metric\": 0.$m}""#));
    // 24 children of a 16-architecture space: some must repeat.
    let cfg = config(dir, &config_text(dir, 24, &["./trial.sh"], "epochs = 2\n"));
    let summary = search(cfg);
    assert_eq!(summary.children, 24);
    let recs = records(dir);
    assert_every_id_once(&recs, 24);
    let ok = with_status(&recs, ChildStatus::Ok);
    let cached = with_status(&recs, ChildStatus::Cached);
    assert_eq!(ok.len() + cached.len(), 24, "no failures");
    assert!(!cached.is_empty(), "24 draws of 16 architectures repeat");

    // The cache reuses a repeated architecture without starting a process.
    let starts = std::fs::read_to_string(dir.join("run/starts")).expect("starts");
    let mut started: Vec<u64> = starts.lines().map(|l| l.parse().expect("id")).collect();
    started.sort_unstable();
    let mut ok_ids: Vec<u64> = ok.iter().map(|r| r.spec.id).collect();
    ok_ids.sort_unstable();
    assert_eq!(
        started, ok_ids,
        "one process per trained child, none for cached ones"
    );
    let by_hash: HashMap<&str, f64> = ok
        .iter()
        .map(|r| (r.spec.hash.as_str(), r.reward))
        .collect();
    for c in &cached {
        assert_eq!(
            Some(&c.reward),
            by_hash.get(c.spec.hash.as_str()),
            "cached reward"
        );
    }

    for r in &ok {
        let child_dir = dir.join("run/children").join(r.spec.id.to_string());
        // The architecture file is the declared form of the record's architecture.
        let text = std::fs::read_to_string(child_dir.join("arch.json")).expect("arch.json");
        let file: DeclaredArch = serde_json::from_str(&text).expect("declared JSON");
        let Architecture::Custom { decisions } = &r.spec.arch else {
            panic!("declared space")
        };
        assert_eq!(&file, decisions);
        // Its metric, per epoch and final, as the trial computed it from that file.
        let sum = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "cksum < '{}' | cut -d' ' -f1",
                child_dir.join("arch.json").display()
            ))
            .output()
            .expect("cksum");
        let sum: u64 = String::from_utf8_lossy(&sum.stdout)
            .trim()
            .parse()
            .expect("sum");
        let m = (sum % 90 + 10) as f64 / 100.0;
        assert_eq!(r.metric, Some(m), "child {}", r.spec.id);
        assert_eq!(r.reward, m, "reward = metric by default when maximising");
        let epochs: Vec<(usize, f64)> = r.epochs.iter().map(|e| (e.epoch, e.val_metric)).collect();
        assert_eq!(epochs, [(1, ((sum % 90 + 10) / 10) as f64 / 100.0), (2, m)]);
        assert_eq!(r.epochs[1].train_loss, Some(1.5));
        assert_eq!(r.epochs[0].train_loss, None, "not reported");
        assert_eq!(r.epochs[1].val_loss, None, "not reported");
        // Everything that is not a report is in the child's log; reports are not.
        let log = std::fs::read_to_string(child_dir.join("trial.log")).expect("trial.log");
        assert!(
            log.contains(&format!(
                "child {} seed={} slot={} starting",
                r.spec.id, r.spec.seed, r.device
            )),
            "{log}"
        );
        assert!(log.contains("a warning on stderr"), "{log}");
        assert!(
            !log.contains("\"metric\""),
            "reports are not log lines: {log}"
        );
    }
    // The helper module is on the trials' PYTHONPATH.
    assert!(dir.join("run/python/nas_trial.py").exists());
    // Losses the trials did not report are absent, never "NaN".
    let log = std::fs::read_to_string(dir.join("run/children.jsonl")).expect("children.jsonl");
    assert!(!log.contains("NaN"), "{log}");
}

#[test]
fn rewards_from_the_rule_and_from_the_trial() {
    for (extra, final_line, expect) in [
        (
            "reward = \"accuracy_power\"\n",
            r#"echo "{\"metric\": 0.$m}""#,
            (|m: f64| m.powi(3)) as fn(f64) -> f64,
        ),
        (
            "",
            r#"echo "{\"metric\": 0.$m, \"reward\": 0.25}""#,
            (|_| 0.25) as fn(f64) -> f64,
        ),
        (
            "",
            r#"echo "{\"metric\": 0.$m}"; echo '{"reward": 0.75}'"#,
            (|_| 0.75) as fn(f64) -> f64,
        ),
    ] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        script(dir, "trial.sh", &trial_body(final_line));
        search(config(dir, &config_text(dir, 6, &["./trial.sh"], extra)));
        let recs = records(dir);
        assert_every_id_once(&recs, 6);
        for r in with_status(&recs, ChildStatus::Ok) {
            let m = r.metric.expect("metric");
            assert!(
                (r.reward - expect(m)).abs() < 1e-12,
                "{extra}{final_line}: {} vs {m}",
                r.reward
            );
        }
    }
}

/// A declared space whose trials report a loss (lower is better): best.json
/// and the report rank the lowest loss first.
#[test]
fn a_lower_is_better_metric_ranks_the_lowest_first() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    script(dir, "trial.sh", &trial_body(r#"echo "{\"metric\": 1.$m}""#));
    let text = config_text(dir, 16, &["./trial.sh"], "").replace(
        "metric = \"accuracy\"",
        "metric = \"loss\"\ngoal = \"minimize\"",
    );
    search(config(dir, &text));
    let recs = records(dir);
    let ok = with_status(&recs, ChildStatus::Ok);
    for r in &ok {
        let loss = r.metric.expect("loss");
        assert!(
            (r.reward - 1.0 / loss).abs() < 1e-12,
            "reward = 1 / loss by default"
        );
    }
    let best: Vec<nas_actor::store::ChildRecord> = serde_json::from_str(
        &std::fs::read_to_string(dir.join("run/best.json")).expect("best.json"),
    )
    .expect("best.json parses");
    let losses: Vec<f64> = best.iter().map(|r| r.metric.expect("metric")).collect();
    let lowest = ok
        .iter()
        .map(|r| r.metric.expect("metric"))
        .fold(f64::INFINITY, f64::min);
    assert_eq!(
        losses[0], lowest,
        "best.json starts with the lowest loss: {losses:?}"
    );
    assert!(
        losses.windows(2).all(|w| w[0] <= w[1]),
        "ascending: {losses:?}"
    );

    let out = std::process::Command::new(super::bin())
        .arg("report")
        .arg(dir.join("run"))
        .output()
        .expect("report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(dir.join("run/report/report.md")).expect("report.md");
    assert!(
        md.contains("val. loss"),
        "the report names the trial's metric:\n{md}"
    );
    let table: Vec<f64> = md
        .lines()
        .skip_while(|l| !l.starts_with("## Top architectures"))
        .filter(|l| l.starts_with("| ") && !l.starts_with("| rank"))
        .map(|l| {
            l.split('|')
                .nth(4)
                .expect("metric column")
                .trim()
                .parse()
                .expect("number")
        })
        .collect();
    assert!(!table.is_empty(), "{md}");
    assert_eq!(table[0], lowest, "{md}");
    assert!(table.windows(2).all(|w| w[0] <= w[1]), "{md}");
}
