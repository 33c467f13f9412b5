//! Tests of `store`: run-directory creation and resume, the append-only
//! child log (torn and corrupt lines), atomic checkpoints, the run lock,
//! best.json, and write errors that name their path.

use std::fs;
use std::io::Write;
use std::path::Path;

use nas_actor::child::{ChildStatus, EpochMetrics};
use nas_actor::config::Config;
use nas_actor::space::{Architecture, CnnArch, CnnLayer};
use nas_actor::store::{atomic_write, ChildRecord, RunDir, StoreError};
use serde::{Deserialize, Serialize};

fn config_with(extra: &str) -> Config {
    let text = format!(
        r#"
[experiment]
name = "store-test"
output_dir = "runs/store-test"
budget = 10

[search]
space = "cnn"

[data]
dataset = "cifar10"
dir = "data/cifar"
{extra}
"#
    );
    match Config::from_toml(&text, Path::new("test.toml")) {
        Ok(c) => c,
        Err(e) => panic!("test config does not parse: {e}"),
    }
}

fn config() -> Config {
    config_with("")
}

fn record(id: u64, reward: f64, status: ChildStatus, filters: usize) -> ChildRecord {
    let arch = Architecture::Cnn(CnnArch {
        layers: vec![CnnLayer {
            filter_height: 3,
            filter_width: 3,
            stride_height: 1,
            stride_width: 1,
            num_filters: filters,
            max_pool: false,
            inputs: vec![],
        }],
    });
    ChildRecord {
        id,
        replica: (id % 3) as usize,
        version: id / 2,
        tokens: vec![1, 1, filters % 4],
        hash: arch.hash(),
        arch,
        status,
        reward,
        metric: Some(reward.cbrt()),
        epochs: vec![EpochMetrics {
            epoch: 1,
            train_loss: 1.5,
            val_loss: 1.25,
            val_metric: 0.5,
            seconds: 0.125,
        }],
        params: 1000 + id as usize,
        device: "cpu#0".into(),
        started: 1_700_000_000.5,
        seconds: 2.0,
        message: None,
    }
}

fn ok<T>(r: Result<T, StoreError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("unexpected store error: {e}"),
    }
}

fn new_run() -> (tempfile::TempDir, RunDir) {
    let tmp = ok(tempfile::tempdir().map_err(|e| StoreError::Read {
        path: "tempdir".into(),
        source: e,
    }));
    let run = ok(RunDir::create(&tmp.path().join("run"), &config()));
    (tmp, run)
}

#[test]
fn create_writes_config_that_parses_back_and_refuses_non_empty_dir() {
    let (tmp, run) = new_run();
    let path = run.path().join("config.toml");
    let text = fs::read_to_string(&path).unwrap();
    let back = Config::from_toml(&text, &path).unwrap();
    assert_eq!(back, config());
    // Only config.toml and the (empty) checkpoint dir exist after create.
    let mut names: Vec<String> = fs::read_dir(run.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["checkpoint", "config.toml"]);

    let err = RunDir::create(run.path(), &config()).unwrap_err();
    assert!(matches!(err, StoreError::NotEmpty { .. }));
    let msg = err.to_string();
    assert!(msg.contains("--resume") && msg.contains("experiment.output_dir"), "{msg}");
    assert!(msg.contains(&run.path().display().to_string()), "{msg}");

    // An existing empty directory is fine.
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    ok(RunDir::create(&empty, &config()));
}

#[test]
fn append_and_read_round_trip_including_nan_losses() {
    let (_tmp, mut run) = new_run();
    assert!(ok(run.read_children()).records.is_empty());
    let mut recs: Vec<ChildRecord> = (0..5)
        .map(|i| record(i, i as f64 * 0.1, ChildStatus::Ok, 24))
        .collect();
    let mut diverged = record(5, 0.0, ChildStatus::Diverged, 36);
    diverged.epochs[0].train_loss = f64::NAN;
    diverged.epochs[0].val_loss = f64::INFINITY;
    diverged.metric = None;
    diverged.message = Some("loss is NaN at epoch 1 batch 3".into());
    recs.push(diverged);
    for r in &recs {
        ok(run.append_child(r));
    }
    let log = ok(run.read_children());
    assert_eq!(log.dropped_tail, None);
    assert_eq!(log.records.len(), 6);
    assert_eq!(log.records[..5], recs[..5]);
    let d = &log.records[5];
    assert!(d.epochs[0].train_loss.is_nan());
    assert_eq!(d.epochs[0].val_loss, f64::INFINITY);
    assert_eq!(d.message, recs[5].message);
    // One line per record.
    let text = fs::read_to_string(run.path().join("children.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 6);
    assert!(text.ends_with('\n'));
}

#[test]
fn torn_last_line_is_dropped_repaired_and_appends_continue() {
    let (_tmp, mut run) = new_run();
    ok(run.append_child(&record(0, 0.5, ChildStatus::Ok, 24)));
    ok(run.append_child(&record(1, 0.6, ChildStatus::Ok, 36)));
    let path = run.path().join("children.jsonl");
    let full = serde_json::to_string(&record(2, 0.7, ChildStatus::Ok, 48)).unwrap();
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&full.as_bytes()[..full.len() / 2]).unwrap();
    drop(f);

    let log = ok(run.read_children());
    assert_eq!(log.records.len(), 2);
    let notice = log.dropped_tail.expect("a torn tail is reported");
    assert!(notice.contains("children.jsonl") && notice.contains("line 3"), "{notice}");

    // A fresh handle refuses to append onto a torn line.
    let mut other = ok(RunDir::open_resume(run.path(), &config()));
    let err = other.append_child(&record(9, 0.1, ChildStatus::Ok, 24)).unwrap_err();
    assert!(matches!(err, StoreError::TornTail { .. }), "{err}");

    let repaired = ok(other.repair_tail());
    assert!(repaired.is_some());
    assert_eq!(ok(other.repair_tail()), None, "a second repair has nothing to do");
    ok(other.append_child(&record(2, 0.7, ChildStatus::Ok, 48)));
    let log = ok(other.read_children());
    assert_eq!(log.dropped_tail, None);
    let ids: Vec<u64> = log.records.iter().map(|r| r.id).collect();
    assert_eq!(ids, [0, 1, 2]);
}

#[test]
fn unparsable_last_line_with_newline_is_dropped_too() {
    let (_tmp, mut run) = new_run();
    ok(run.append_child(&record(0, 0.5, ChildStatus::Ok, 24)));
    let path = run.path().join("children.jsonl");
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"{\"id\": 1, \"repl\n").unwrap();
    drop(f);
    let log = ok(run.read_children());
    assert_eq!(log.records.len(), 1);
    assert!(log.dropped_tail.unwrap().contains("does not parse"));
    assert!(ok(run.repair_tail()).is_some());
    let len = fs::metadata(&path).unwrap().len();
    let first = serde_json::to_string(&record(0, 0.5, ChildStatus::Ok, 24)).unwrap();
    assert_eq!(len as usize, first.len() + 1);
}

#[test]
fn corrupt_middle_line_is_an_error_with_its_line_number() {
    let (_tmp, mut run) = new_run();
    for i in 0..3 {
        ok(run.append_child(&record(i, 0.5, ChildStatus::Ok, 24)));
    }
    let path = run.path().join("children.jsonl");
    let text = fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1] = "{\"id\": 1, \"reward\": oops}";
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    let err = run.read_children().unwrap_err();
    assert!(matches!(err, StoreError::CorruptLine { line: 2, .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("children.jsonl:2") && msg.contains("edited by hand"), "{msg}");
    // repair_tail does not paper over it.
    assert!(run.repair_tail().is_err());
}

/// A stand-in for the controller checkpoint: ~50k parameters plus Adam moments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FakeCheckpoint {
    version: u64,
    weights: Vec<f32>,
    adam_m: Vec<f32>,
    adam_v: Vec<f32>,
    baseline: Option<f64>,
    name: String,
}

fn fake_checkpoint(n: usize) -> FakeCheckpoint {
    FakeCheckpoint {
        version: 42,
        weights: (0..n).map(|i| (i as f32 * 0.37).sin()).collect(),
        adam_m: (0..n).map(|i| i as f32 * 1e-6).collect(),
        adam_v: vec![f32::MIN_POSITIVE; n],
        baseline: Some(0.125),
        name: "controller".into(),
    }
}

#[test]
fn checkpoint_round_trip_is_compact_and_fast() {
    let (_tmp, run) = new_run();
    assert_eq!(ok(run.read_checkpoint::<FakeCheckpoint>()), None);
    let ck = fake_checkpoint(50_000);
    let start = std::time::Instant::now();
    let rounds = 20;
    for _ in 0..rounds {
        ok(run.write_checkpoint(&ck));
    }
    let per_write = start.elapsed() / rounds;
    eprintln!("checkpoint of 150k f32: {per_write:?} per write (incl. 2 fsyncs)");
    let back: Option<FakeCheckpoint> = ok(run.read_checkpoint());
    assert_eq!(back.as_ref(), Some(&ck));
    let size = fs::metadata(run.checkpoint_path()).unwrap().len();
    // 3 × 50k × 4 bytes plus small change: binary, not JSON.
    assert!(size < 600_200, "checkpoint is {size} bytes");
    // No temporary files are left behind.
    let names: Vec<_> = fs::read_dir(run.path().join("checkpoint"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["state.bin"]);
}

#[test]
fn damaged_checkpoint_is_detected_and_named() {
    let (_tmp, run) = new_run();
    let ck = fake_checkpoint(1000);
    ok(run.write_checkpoint(&ck));
    let path = run.checkpoint_path();
    let good = fs::read(&path).unwrap();
    // Flip one bit anywhere (header or body), or cut the file short.
    for at in [0, 9, 14, 21, 30, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        fs::write(&path, &bad).unwrap();
        let err = run.read_checkpoint::<FakeCheckpoint>().unwrap_err();
        assert!(matches!(err, StoreError::CorruptCheckpoint { .. }), "byte {at}: {err}");
        assert!(err.to_string().contains("state.bin"), "{err}");
    }
    fs::write(&path, &good[..good.len() - 7]).unwrap();
    let err = run.read_checkpoint::<FakeCheckpoint>().unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn torn_temp_file_does_not_affect_reading_and_is_cleaned_under_the_lock() {
    let (_tmp, run) = new_run();
    let ck = fake_checkpoint(100);
    ok(run.write_checkpoint(&ck));
    let temp = run.path().join("checkpoint/.state.bin.999.0.tmp");
    fs::write(&temp, b"NASACKPT half a checkpoint").unwrap();
    assert_eq!(ok(run.read_checkpoint::<FakeCheckpoint>()), Some(ck.clone()));
    ok(run.write_checkpoint(&ck));
    let lock = ok(run.lock());
    assert!(!temp.exists(), "a stale temp file is removed once the lock is held");
    drop(lock);
    assert_eq!(ok(run.read_checkpoint::<FakeCheckpoint>()), Some(ck));
}

#[test]
fn lock_is_exclusive_until_dropped() {
    let (_tmp, run) = new_run();
    let first = ok(run.lock());
    let pid = fs::read_to_string(run.path().join("run.lock")).unwrap();
    assert_eq!(pid.trim(), std::process::id().to_string());
    let again = ok(RunDir::open_resume(run.path(), &config()));
    let err = again.lock().unwrap_err();
    match &err {
        StoreError::Locked { pid, .. } => assert_eq!(*pid, Some(std::process::id())),
        other => panic!("expected Locked, got {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&run.path().display().to_string()), "{msg}");
    assert!(msg.contains(&std::process::id().to_string()), "{msg}");

    // Another process sees the lock too (util-linux `flock`, when installed).
    let lock_file = run.path().join("run.lock");
    let other = std::process::Command::new("flock")
        .args(["-n", "-E", "75"])
        .arg(&lock_file)
        .arg("true")
        .status();
    match other {
        Ok(status) => assert_eq!(status.code(), Some(75), "flock(1) got the lock"),
        Err(e) => eprintln!("skipping the cross-process check: no flock(1): {e}"),
    }

    drop(first);
    let second = ok(again.lock());
    drop(second);
    if let Ok(status) = std::process::Command::new("flock")
        .arg("-n")
        .arg(&lock_file)
        .arg("true")
        .status()
    {
        assert!(status.success(), "the lock is free after drop");
    }
}

#[test]
fn resume_refuses_a_changed_space_naming_each_key() {
    let (_tmp, run) = new_run();
    let changed = config_with(
        "[space.cnn]\nlayers = 12\nnum_filters = [24, 36]\n[controller]\nhidden_size = 64\n",
    );
    let err = RunDir::open_resume(run.path(), &changed).unwrap_err();
    assert!(matches!(err, StoreError::SpaceChanged { .. }));
    let msg = err.to_string();
    for key in [
        "space.cnn.layers: 15 in the run, 12 in the new config",
        "space.cnn.num_filters: [24, 36, 48, 64] in the run, [24, 36] in the new config",
        "controller.hidden_size: 35 in the run, 64 in the new config",
    ] {
        assert!(msg.contains(key), "missing `{key}` in: {msg}");
    }
    let mut cell = config();
    cell.search.space = nas_actor::config::SpaceKind::Cell;
    let msg = RunDir::open_resume(run.path(), &cell).unwrap_err().to_string();
    assert!(msg.contains("search.space: \"cnn\" in the run, \"cell\" in the new config"), "{msg}");

    // A bigger budget and other devices are fine, and the new config is saved.
    let mut more = config_with("[devices]\ngpus = \"none\"\ncpu_workers = 2\n");
    more.experiment.budget = 99;
    ok(RunDir::open_resume(run.path(), &more));
    let path = run.path().join("config.toml");
    let saved = Config::from_toml(&fs::read_to_string(&path).unwrap(), &path).unwrap();
    assert_eq!(saved, more);

    let nowhere = run.path().join("nothing-here");
    let err = RunDir::open_resume(&nowhere, &config()).unwrap_err();
    assert!(matches!(err, StoreError::NotARun { .. }), "{err}");
}

#[test]
fn best_json_lists_top_distinct_good_children_by_reward() {
    let (_tmp, run) = new_run();
    let recs = vec![
        record(0, 0.30, ChildStatus::Ok, 24),
        record(1, 0.90, ChildStatus::Failed, 36), // failures never count
        record(2, 0.70, ChildStatus::Ok, 48),
        record(3, 0.70, ChildStatus::Cached, 48), // same architecture as 2
        record(4, 0.50, ChildStatus::Cached, 64),
        record(5, 0.10, ChildStatus::Diverged, 36),
    ];
    ok(run.write_best(&recs, 2));
    let text = fs::read_to_string(run.path().join("best.json")).unwrap();
    let best: Vec<ChildRecord> = serde_json::from_str(&text).unwrap();
    let ids: Vec<u64> = best.iter().map(|r| r.id).collect();
    assert_eq!(ids, [2, 4]);
    ok(run.write_best(&recs, 10));
    let best: Vec<ChildRecord> =
        serde_json::from_str(&fs::read_to_string(run.path().join("best.json")).unwrap()).unwrap();
    let ids: Vec<u64> = best.iter().map(|r| r.id).collect();
    assert_eq!(ids, [2, 4, 0]);

    ok(run.write_json("summary.json", &serde_json::json!({"children": 6})));
    let v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(run.path().join("summary.json")).unwrap()).unwrap();
    assert_eq!(v["children"], 6);
}

#[test]
fn write_errors_name_the_path() {
    let (_tmp, mut run) = new_run();
    // children.jsonl as a directory: opening it for appending fails (also as root).
    fs::create_dir(run.path().join("children.jsonl")).unwrap();
    let err = run.append_child(&record(0, 0.5, ChildStatus::Ok, 24)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("cannot write") && msg.contains("children.jsonl"), "{msg}");
    assert!(msg.contains("last checkpoint is intact"), "{msg}");
    // checkpoint/ as a file: the checkpoint cannot be written.
    fs::remove_dir(run.path().join("checkpoint")).unwrap();
    fs::write(run.path().join("checkpoint"), b"not a dir").unwrap();
    let msg = run.write_checkpoint(&fake_checkpoint(10)).unwrap_err().to_string();
    assert!(msg.contains("checkpoint/.state.bin"), "{msg}");
}

#[test]
fn full_disk_on_append_names_the_file() {
    if !Path::new("/dev/full").exists() {
        eprintln!("skipping: no /dev/full");
        return;
    }
    let (_tmp, mut run) = new_run();
    std::os::unix::fs::symlink("/dev/full", run.path().join("children.jsonl")).unwrap();
    let msg = run
        .append_child(&record(0, 0.5, ChildStatus::Ok, 24))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("children.jsonl") && msg.contains("No space left"), "{msg}");
}

#[test]
fn read_only_directory_errors_name_the_path() {
    use std::os::unix::fs::PermissionsExt;
    let (_tmp, mut run) = new_run();
    let ck_dir = run.path().join("checkpoint");
    ok(run.write_checkpoint(&fake_checkpoint(10)));
    for d in [run.path(), ck_dir.as_path()] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o555)).unwrap();
    }
    let restore = |run: &RunDir| {
        for d in [run.path().to_path_buf(), ck_dir.clone()] {
            fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        }
    };
    if fs::write(run.path().join("probe"), b"x").is_ok() {
        restore(&run);
        eprintln!("skipping the read-only check: running as root, chmod does not stop writes");
        return;
    }
    let append = run.append_child(&record(0, 0.5, ChildStatus::Ok, 24));
    let ck = run.write_checkpoint(&fake_checkpoint(10));
    restore(&run);
    let msg = append.unwrap_err().to_string();
    assert!(msg.contains("children.jsonl") && msg.contains("Permission denied"), "{msg}");
    let msg = ck.unwrap_err().to_string();
    assert!(msg.contains("checkpoint") && msg.contains("Permission denied"), "{msg}");
    // The earlier checkpoint is intact.
    assert_eq!(
        ok(run.read_checkpoint::<FakeCheckpoint>()),
        Some(fake_checkpoint(10))
    );
}

#[test]
fn atomic_write_replaces_the_whole_file() {
    let (_tmp, run) = new_run();
    let path = run.path().join("x.json");
    ok(atomic_write(&path, b"a long first version of the file"));
    ok(atomic_write(&path, b"short"));
    assert_eq!(fs::read(&path).unwrap(), b"short");
}
