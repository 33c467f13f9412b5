//! Every data endpoint on a finished synthetic run, its numbers against the
//! run's own files; and a run that grows while served.

use std::io::Write;
use std::time::{Duration, Instant};

use nas_actor::post::compare::best_so_far;
use nas_actor::post::report::ChoicePicture;
use nas_actor::serve::api::{failure_kind, status_name};
use nas_actor::store::{top_records, ChildRecord, SlotsFile};
use nas_actor::task::Metric;
use serde_json::Value;

use super::{finished_run, get, serve};
use crate::orchestrator::read_jsonl;

fn f(v: &Value) -> Option<f64> {
    v.as_f64()
}

#[test]
fn every_endpoint_matches_the_logs_of_a_synthetic_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    finished_run(&dir, 48);
    // A trial log for child 3, as a command trial writes it.
    std::fs::create_dir_all(dir.join("children/3")).expect("mkdir");
    std::fs::write(
        dir.join("children/3/trial.log"),
        "epoch 1\nepoch 2\nlast line\n",
    )
    .expect("log");
    let records: Vec<ChildRecord> = read_jsonl(&dir.join("children.jsonl"));
    let updates: Vec<Value> = read_jsonl(&dir.join("updates.jsonl"));
    let slots: SlotsFile =
        serde_json::from_slice(&std::fs::read(dir.join("slots.json")).expect("slots.json"))
            .expect("slots.json parses");
    assert_eq!(records.len(), 48);
    let (addr, token) = serve(std::slice::from_ref(&dir), "127.0.0.1");
    assert!(token.is_none(), "a loopback bind needs no token");

    let runs = get(addr, "/api/runs").json();
    assert_eq!(runs[0]["done"], 48);
    assert_eq!(runs[0]["name"], "synthetic");
    assert_eq!(runs[0]["budget"], 48);

    let o = get(addr, "/api/runs/0/overview").json();
    assert_eq!(o["done"], 48);
    assert_eq!(o["budget"], 48);
    assert_eq!(o["state"], "finished");
    assert_eq!(o["eta_seconds"], 0.0);
    assert_eq!(o["strategy"], "reinforce + early stop");
    let best = top_records(&records, 1)[0];
    assert_eq!(o["best"]["id"], best.spec.id);
    assert_eq!(f(&o["best"]["metric"]), best.metric);
    assert_eq!(o["best"]["arch"], best.spec.arch.describe());
    for (name, count) in o["statuses"].as_object().expect("statuses") {
        let n = records
            .iter()
            .filter(|r| status_name(r.status) == name)
            .count();
        assert_eq!(count.as_u64(), Some(n as u64), "status {name}");
    }
    let failed = records.iter().filter_map(failure_kind).count();
    assert!(failed > 0, "failure_rate 0.1 over 48 children failed none");
    let by_kind: u64 = o["failures"]
        .as_object()
        .expect("failures")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(by_kind, failed as u64);
    assert_eq!(o["updates"], updates.len());
    assert_eq!(o["baseline"], updates.last().expect("updates")["baseline"]);
    assert_eq!(o["slots"]["source"], "run");
    assert_eq!(o["slots"]["ended"], true);
    assert_eq!(o["slots"]["slots"].as_array().map(Vec::len), Some(2));
    assert_eq!(slots.slots.len(), 2);
    let stopped = records
        .iter()
        .filter(|r| status_name(r.status) == "stopped")
        .count();
    assert_eq!(o["compute"]["stopped"], stopped);

    // Children: all, then from an offset; every number as logged.
    let c = get(addr, "/api/runs/0/children").json();
    assert_eq!(c["total"], 48);
    let rows = c["children"].as_array().expect("rows");
    assert_eq!(rows.len(), 48);
    for (row, r) in rows.iter().zip(&records) {
        assert_eq!(row["id"], r.spec.id);
        assert_eq!(row["status"], status_name(r.status));
        assert_eq!(f(&row["metric"]), r.metric.filter(|m| m.is_finite()));
        assert_eq!(f(&row["reward"]), Some(r.reward).filter(|m| m.is_finite()));
        assert_eq!(row["slot"], r.device);
        assert_eq!(row["arch"], r.spec.arch.describe());
        let curve: Vec<f64> = r.epochs.iter().map(|e| e.val_metric).collect();
        let got: Vec<f64> = row["curve"]
            .as_array()
            .expect("curve")
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        assert_eq!(got, curve, "child {}", r.spec.id);
    }
    let tail = get(addr, "/api/runs/0/children?from=40").json();
    assert_eq!(tail["from"], 40);
    assert_eq!(tail["children"].as_array().map(Vec::len), Some(8));
    assert_eq!(tail["children"][0]["id"], records[40].spec.id);

    // One child: its record as logged, epochs, the tail of its trial.log.
    let r = records.iter().find(|r| r.spec.id == 3).expect("child 3");
    let one = get(addr, "/api/runs/0/children/3").json();
    assert_eq!(one["record"], serde_json::to_value(r).expect("record json"));
    assert_eq!(one["epochs"].as_array().map(Vec::len), Some(r.epochs.len()));
    assert_eq!(one["log"]["text"], "epoch 1\nepoch 2\nlast line\n");
    let other = records.iter().find(|r| r.spec.id != 3).expect("another");
    let no_log = get(addr, &format!("/api/runs/0/children/{}", other.spec.id)).json();
    assert!(no_log["log"].is_null());
    assert_eq!(get(addr, "/api/runs/0/children/99999").status, 404);
    let svg = get(addr, "/api/runs/0/children/3/arch.svg");
    assert_eq!(svg.status, 200);
    assert_eq!(svg.header("content-type"), Some("image/svg+xml"));
    assert!(svg.body.contains("<svg") && svg.body.contains("</svg>"));

    // Choices: the report's picture, shares of each window summing to one.
    let config = nas_actor::config::Config::load(&dir.join("config.toml")).expect("config");
    let picture = ChoicePicture::new(&records, &config);
    let ch = get(addr, "/api/runs/0/choices").json();
    assert_eq!(
        ch["panels"].as_array().map(Vec::len),
        Some(picture.panels.len())
    );
    assert_eq!(ch["panels"][0]["head"], picture.panels[0].head);
    let shares = ch["panels"][0]["shares"].as_array().expect("shares");
    let window0: f64 = shares.iter().filter_map(|s| s[0].as_f64()).sum();
    assert!((window0 - 1.0).abs() < 1e-9, "{window0}");

    // Compare: the best metric so far after each child, as `compare` computes it.
    let cmp = get(addr, "/api/compare").json();
    let expected = best_so_far(&records, &Metric::synthetic());
    let got: Vec<Option<f64>> = cmp["runs"][0]["best"]
        .as_array()
        .expect("best")
        .iter()
        .map(Value::as_f64)
        .collect();
    assert_eq!(got, expected);

    // The page and its embedded chart library.
    let page = get(addr, "/");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("uPlot.iife.min.js"));
    let lib = get(addr, "/assets/uPlot.iife.min.js");
    assert_eq!(lib.status, 200);
    assert!(lib.body.len() > 40_000);
}

#[test]
fn a_run_that_grows_while_served_shows_the_new_children() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let done = tmp.path().join("done");
    finished_run(&done, 24);
    let log = std::fs::read_to_string(done.join("children.jsonl")).expect("log");
    let lines: Vec<&str> = log.lines().collect();
    // A run directory that has only the config and 10 children so far.
    let dir = tmp.path().join("growing");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::copy(done.join("config.toml"), dir.join("config.toml")).expect("config");
    let mut file = std::fs::File::create(dir.join("children.jsonl")).expect("log");
    for l in &lines[..10] {
        writeln!(file, "{l}").expect("write");
    }
    file.flush().expect("flush");
    let (addr, _) = serve(std::slice::from_ref(&dir), "127.0.0.1");
    let total = |addr| get(addr, "/api/runs/0/children").json()["total"].clone();
    assert_eq!(total(addr), 10);
    let o = get(addr, "/api/runs/0/overview").json();
    assert_eq!(o["state"], "going");
    assert_eq!(o["slots"]["source"], "log");

    // Five more children and half a line (a write still going): the five show within 2 s.
    for l in &lines[10..15] {
        writeln!(file, "{l}").expect("write");
    }
    let (half, rest) = lines[15].split_at(lines[15].len() / 2);
    write!(file, "{half}").expect("write");
    file.flush().expect("flush");
    let t = Instant::now();
    while total(addr) != 15 {
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "new children not shown within 2 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let from = get(addr, "/api/runs/0/children?from=10").json();
    assert_eq!(from["children"].as_array().map(Vec::len), Some(5));
    writeln!(file, "{rest}").expect("write");
    file.flush().expect("flush");
    let t = Instant::now();
    while total(addr) != 16 {
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "the completed line not shown"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let r: ChildRecord = serde_json::from_str(lines[15]).expect("record");
    let last = get(addr, "/api/runs/0/children?from=15").json();
    assert_eq!(last["children"][0]["id"], r.spec.id);

    // The log replaced by a shorter one (a resume dropped a line): read again.
    let generation = get(addr, "/api/runs/0/overview").json()["generation"].clone();
    drop(file);
    std::fs::write(
        dir.join("children.jsonl"),
        format!("{}\n", lines[..12].join("\n")),
    )
    .expect("rewrite");
    let t = Instant::now();
    while total(addr) != 12 {
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "the shorter log not read again"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let now = get(addr, "/api/runs/0/overview").json()["generation"].clone();
    assert_ne!(now, generation);
}
