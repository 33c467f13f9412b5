//! Tests of `store`: run-directory creation and resume, the append-only
//! child log (torn and corrupt lines), atomic checkpoints, the run lock,
//! best.json, and write errors that name their path.

mod checkpoint;
mod errors;
mod log;

use std::fs;
use std::path::Path;

use nas_actor::child::{ChildSpec, ChildStatus, EpochMetrics};
use nas_actor::config::Config;
use nas_actor::space::{Architecture, CnnArch, CnnLayer};
use nas_actor::store::{atomic_write, ChildRecord, RunDir, StoreError};
use serde::{Deserialize, Serialize};

pub(crate) fn config_with(extra: &str) -> Config {
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

pub(crate) fn config() -> Config {
    config_with("")
}

pub(crate) fn record(id: u64, reward: f64, status: ChildStatus, filters: usize) -> ChildRecord {
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
        spec: ChildSpec {
            id,
            replica: (id % 3) as usize,
            version: id / 2,
            tokens: vec![1, 1, filters % 4],
            hash: arch.hash().expect("hash"),
            arch,
            seed: 0,
        },
        status,
        reward,
        metric: Some(reward.cbrt()),
        epochs: vec![EpochMetrics {
            epoch: 1,
            train_loss: Some(1.5),
            val_loss: Some(1.25),
            val_metric: 0.5,
            seconds: 0.125,
        }],
        params: 1000 + id as usize,
        device: "cpu#0".into(),
        started: 1_700_000_000.5,
        seconds: 2.0,
        message: None,
        placement: None,
    }
}

pub(crate) fn ok<T>(r: Result<T, StoreError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("unexpected store error: {e}"),
    }
}

pub(crate) fn new_run() -> (tempfile::TempDir, RunDir) {
    let tmp = ok(tempfile::tempdir().map_err(|e| StoreError::Read {
        path: "tempdir".into(),
        source: e,
    }));
    let run = ok(RunDir::create(&tmp.path().join("run"), &config()));
    (tmp, run)
}

/// A stand-in for the controller checkpoint: ~50k parameters plus Adam moments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FakeCheckpoint {
    version: u64,
    weights: Vec<f32>,
    adam_m: Vec<f32>,
    adam_v: Vec<f32>,
    baseline: Option<f64>,
    name: String,
}

pub(crate) fn fake_checkpoint(n: usize) -> FakeCheckpoint {
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
    assert!(
        msg.contains("--resume") && msg.contains("experiment.output_dir"),
        "{msg}"
    );
    assert!(msg.contains(&run.path().display().to_string()), "{msg}");

    // An existing empty directory is fine.
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    ok(RunDir::create(&empty, &config()));
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
    let msg = RunDir::open_resume(run.path(), &cell)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("search.space: \"cnn\" in the run, \"cell\" in the new config"),
        "{msg}"
    );

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
    let ids: Vec<u64> = best.iter().map(|r| r.spec.id).collect();
    assert_eq!(ids, [2, 4]);
    ok(run.write_best(&recs, 10));
    let best: Vec<ChildRecord> =
        serde_json::from_str(&fs::read_to_string(run.path().join("best.json")).unwrap()).unwrap();
    let ids: Vec<u64> = best.iter().map(|r| r.spec.id).collect();
    assert_eq!(ids, [2, 4, 0]);

    ok(run.write_json("summary.json", &serde_json::json!({"children": 6})));
    let v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(run.path().join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(v["children"], 6);
}

#[test]
fn atomic_write_replaces_the_whole_file() {
    let (_tmp, run) = new_run();
    let path = run.path().join("x.json");
    ok(atomic_write(&path, b"a long first version of the file"));
    ok(atomic_write(&path, b"short"));
    assert_eq!(fs::read(&path).unwrap(), b"short");
}

#[test]
fn a_record_line_is_flat_keeps_its_keys_and_reads_without_a_seed() {
    let mut rec = record(7, f64::NAN, ChildStatus::Diverged, 24);
    rec.spec.seed = u64::MAX - 3;
    let line = serde_json::to_string(&rec).expect("serialise");
    let value: serde_json::Value = serde_json::from_str(&line).expect("json");
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    let mut want = vec![
        "id", "replica", "version", "tokens", "arch", "hash", "seed", "status", "reward", "metric",
        "epochs", "params", "device", "started", "seconds", "message",
    ];
    want.sort_unstable();
    assert_eq!(keys, want, "{line}");
    assert_eq!(value["reward"], "NaN", "{line}");
    let back: ChildRecord = serde_json::from_str(&line).expect("read back");
    assert_eq!(back.spec, rec.spec);
    assert!(back.reward.is_nan());

    // A line written before the seed was recorded still reads (seed 0).
    let mut old = value.clone();
    old.as_object_mut().expect("an object").remove("seed");
    let old: ChildRecord = serde_json::from_value(old).expect("an old line reads");
    assert_eq!(old.spec.seed, 0);
    assert_eq!(old.spec.id, 7);
}
