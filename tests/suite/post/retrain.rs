//! `retrain` on tiny real runs: the grid, the choice by validation metric,
//! one test evaluation, refusal without --force, forced evaluations recorded.

use std::sync::Mutex;

use nas_actor::child::final_eval::{TestSet, TrainedModel};
use nas_actor::config::{ChildModel, Config};
use nas_actor::data;
use nas_actor::post::retrain::{retrain, RetrainEvent, RetrainOptions};
use nas_actor::post::{FinalReport, PostError, FINAL_FILE};

use super::{hand_written_run, nas, text, tiny_image_config, tiny_text_config};

fn read_final(dir: &std::path::Path) -> FinalReport {
    FinalReport::read(&dir.join(FINAL_FILE))
        .expect("final.json parses")
        .expect("final.json exists")
}

/// A tiny image config over generated IDX files (`train` training and
/// `test` test images) in a fresh temporary directory, with `retrain` as its
/// `[retrain]` table.
fn image_setup(train: usize, test: usize, retrain: &str) -> (tempfile::TempDir, Config) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("idx");
    data::synthetic::write_idx(&data_dir, train, test, false, 2).expect("idx files");
    let config = tiny_image_config(&tmp.path().join("run"), &data_dir, retrain);
    (tmp, config)
}

#[test]
fn text_run_tests_once_refuses_without_force_and_records_forced() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("text");
    data::synthetic::write_text_corpus(&data_dir, 400, 60, 1).expect("corpus");
    let config = tiny_text_config(
        &tmp.path().join("run"),
        &data_dir,
        "top = 2\nlearning_rates = [0.5, 2.0]",
    );
    let dir = hand_written_run(&config, 3);
    let d = dir.to_str().expect("utf-8 path");

    let o = nas(&["retrain", d, "--device", "cpu"]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "retrain failed:\n{stdout}\n{stderr}");
    assert_eq!(stdout.matches("test set:").count(), 2, "{stdout}");
    let first = read_final(&dir);
    // 2 architectures × 2 learning rates, plus the LSTM baseline × 2.
    assert_eq!(first.grid_results.len(), 6);
    assert_eq!(first.test_evaluations.len(), 1);
    assert!(!first.test_evaluations[0].forced);
    let searched: Vec<_> = first
        .grid_results
        .iter()
        .filter(|r| r.model == ChildModel::Searched)
        .collect();
    assert_eq!(searched.len(), 4);
    let best = searched
        .iter()
        .filter_map(|r| r.validation)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(
        first.selected.validation, best,
        "chosen by lowest validation perplexity"
    );
    // The top 2 by reward are the last two ok children (ids 2 and 1).
    let ids: std::collections::BTreeSet<_> = searched.iter().filter_map(|r| r.child_id).collect();
    assert_eq!(ids.into_iter().collect::<Vec<_>>(), vec![1, 2]);
    let baseline = first
        .baseline
        .as_ref()
        .expect("PTB retrain has an LSTM baseline");
    assert_eq!(baseline.model, ChildModel::Lstm);
    let t = first.test.metric;
    assert!(t.is_finite() && t > 1.0 && t < 60.0, "test perplexity {t}");
    assert!(first.baseline_test.is_some());
    for f in ["final.safetensors", "final_lstm.safetensors"] {
        let len = std::fs::metadata(dir.join(f)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 100, "{f} missing or empty");
    }

    let before = std::fs::read(dir.join(FINAL_FILE)).expect("read final.json");
    let o = nas(&["retrain", d, "--device", "cpu"]);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("final.json") && stderr.contains("--force"),
        "{stderr}"
    );
    assert!(
        !stdout.contains("test set:"),
        "no test evaluation without --force"
    );
    assert_eq!(std::fs::read(dir.join(FINAL_FILE)).expect("read"), before);

    let o = nas(&["retrain", d, "--device", "cpu", "--force", "--top", "1"]);
    let (stdout, stderr) = text(&o);
    assert!(
        o.status.success(),
        "forced retrain failed:\n{stdout}\n{stderr}"
    );
    let second = read_final(&dir);
    assert_eq!(second.test_evaluations.len(), 2);
    assert_eq!(second.test_evaluations[0], first.test_evaluations[0]);
    assert!(second.test_evaluations[1].forced);
    assert_eq!(second.top, 1);
    assert_eq!(second.grid_results.len(), 4);

    // The report shows the final results beside the paper's.
    let o = nas(&["report", d]);
    assert!(o.status.success(), "{:?}", text(&o));
    let md = std::fs::read_to_string(dir.join("report/report.md")).expect("report.md");
    assert!(md.contains("## Final results"), "{md}");
    assert!(md.contains("this run: found cell"));
    assert!(md.contains("this run: LSTM baseline"));
    assert!(md.contains("67.9"), "paper row missing");
    assert!(
        md.contains("Test-set evaluations of this run: 2 (1 forced)"),
        "{md}"
    );
}

#[test]
fn image_run_chooses_by_validation_and_saves_loadable_weights() {
    let (_tmp, config) = image_setup(160, 48, "top = 1\nbn_eps = [1e-5, 1e-2]\nepochs = 2");
    let dir = hand_written_run(&config, 2);
    let events = Mutex::new(Vec::new());
    let record = |e: RetrainEvent| {
        if let Ok(mut v) = events.lock() {
            v.push(e);
        }
    };
    let options = RetrainOptions {
        device: Some(tch::Device::Cpu),
        ..Default::default()
    };
    let report = retrain(&dir, &options, &record).expect("retrain");
    let events = events.into_inner().expect("events");
    let tested = events
        .iter()
        .filter(|e| matches!(e, RetrainEvent::Tested { .. }))
        .count();
    assert_eq!(tested, 1, "one model tested (no baseline for images)");
    assert!(report.baseline.is_none());
    assert_eq!(report.grid_results.len(), 2);
    let eps: Vec<_> = report.grid_results.iter().map(|r| r.grid.bn_eps).collect();
    assert_eq!(eps, vec![Some(1e-5), Some(1e-2)]);
    assert!(report.grid_results.iter().all(|r| r.grid.epochs == 2));
    // Retraining does not repeat the search's own training: its seed is
    // not the child's search seed, and every grid point of it shares one.
    let run_records: Vec<nas_actor::store::ChildRecord> =
        std::fs::read_to_string(dir.join("children.jsonl"))
            .expect("children.jsonl")
            .lines()
            .map(|l| serde_json::from_str(l).expect("record"))
            .collect();
    for r in &report.grid_results {
        let id = r.child_id.expect("a searched child");
        let searched = run_records
            .iter()
            .find(|c| c.spec.id == id)
            .expect("its record");
        assert_eq!(r.seed, nas_actor::seed::retrain(config.experiment.seed, id));
        assert_ne!(r.seed, searched.spec.seed, "child {id}");
    }
    let best = report
        .grid_results
        .iter()
        .filter_map(|r| r.validation)
        .fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(
        report.selected.validation, best,
        "highest validation accuracy"
    );
    assert_eq!(report.test.count, 48, "every test image");
    assert!((0.0..=1.0).contains(&report.test.metric));

    // The saved weights rebuild the chosen model, which scores the same on the test set.
    let mut cfg = config.clone();
    cfg.child.cnn.bn_eps = report.selected.grid.bn_eps.expect("CNN grid has bn_eps");
    let task = data::load(&cfg.data, cfg.experiment.seed).expect("data");
    let model = TrainedModel::load(
        &report.selected.architecture,
        &cfg,
        &task,
        tch::Device::Cpu,
        &dir.join(&report.selected.weights),
    )
    .expect("weights load");
    let test = TestSet::Images(data::load_images_test(&cfg.data).expect("test images"));
    let again = model.evaluate_test(&cfg, &task, &test).expect("evaluate");
    assert!((again.metric - report.test.metric).abs() < 1e-9);
    assert!((again.loss - report.test.loss).abs() < 1e-5);

    // final.json and the exported module carry the training's standardisation.
    let data::TaskData::Images(images) = &task else {
        panic!("an image task");
    };
    let norm = report
        .normalisation
        .clone()
        .expect("normalisation recorded");
    assert_eq!((&norm.mean, &norm.std), (&images.mean, &images.std));
    assert_eq!(read_final(&dir).normalisation, Some(norm.clone()));
    let view = nas_actor::post::RunView::open(&dir).expect("open");
    let source =
        nas_actor::post::export::export(&view, 1, nas_actor::post::export::ExportFormat::Pytorch)
            .expect("export");
    assert!(
        source.contains(&format!("MEAN = [{:?}]", norm.mean[0]))
            && source.contains(&format!("STD = [{:?}]", norm.std[0])),
        "MEAN/STD missing in the exported module"
    );

    // A second evaluation needs force.
    let noop = |_: RetrainEvent| {};
    match retrain(&dir, &options, &noop) {
        Err(e @ PostError::AlreadyEvaluated { .. }) => {
            assert!(e.is_input());
            assert!(e.to_string().contains("--force"));
        }
        other => panic!("expected AlreadyEvaluated, got {other:?}"),
    }
}

#[test]
fn grid_settings_that_do_not_fit_the_space_are_refused_before_training() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("text");
    data::synthetic::write_text_corpus(&data_dir, 100, 20, 1).expect("corpus");
    let config = tiny_text_config(&tmp.path().join("run"), &data_dir, "bn_eps = [0.001]");
    let dir = hand_written_run(&config, 1);
    let noop = |_: RetrainEvent| {};
    let err = retrain(&dir, &RetrainOptions::default(), &noop).expect_err("bn_eps on a cell run");
    assert!(err.to_string().contains("retrain.bn_eps"), "{err}");
    assert!(!dir.join(FINAL_FILE).exists());

    let o = nas(&["retrain", tmp.path().to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("not a run directory"), "{:?}", text(&o));
}

/// The batches per epoch and training images one retraining of `config`'s
/// hand-written run reports.
fn retrained_batches(config: &nas_actor::config::Config) -> (Vec<usize>, Option<usize>) {
    let dir = hand_written_run(config, 1);
    let batches = Mutex::new(Vec::new());
    let record = |e: RetrainEvent| {
        if let (RetrainEvent::Batch { batches: n, .. }, Ok(mut v)) = (e, batches.lock()) {
            v.push(n);
        }
    };
    let options = RetrainOptions {
        device: Some(tch::Device::Cpu),
        ..Default::default()
    };
    let report = retrain(&dir, &options, &record).expect("retrain");
    let mut seen = batches.into_inner().expect("batches");
    seen.dedup();
    (seen, report.train_examples)
}

#[test]
fn retrain_data_full_trains_on_the_whole_split_and_search_on_the_search_slices() {
    // 160 training images: 40 for validation, 120 to train on (4 batches of 32).
    let (tmp, mut search) = image_setup(160, 48, "top = 1");
    search.data.train_limit = Some(64);
    search.child.train_batches = Some(1);
    let (batches, examples) = retrained_batches(&search);
    assert_eq!(batches, vec![1], "child.train_batches per epoch");
    assert_eq!(examples, Some(64), "data.train_limit images");

    let mut full = search.clone();
    full.experiment.output_dir = tmp.path().join("full");
    full.retrain.data = nas_actor::config::RetrainData::Full;
    full.retrain.lr_schedule = Some(nas_actor::config::LrSchedule::Cosine);
    let (batches, examples) = retrained_batches(&full);
    assert_eq!(batches, vec![4], "every batch of the whole split");
    assert_eq!(examples, Some(120), "the whole training split");
    let report = read_final(&full.experiment.output_dir);
    assert_eq!(report.data, nas_actor::config::RetrainData::Full);
}

#[test]
fn a_retrain_schedule_and_decay_epochs_together_are_refused() {
    let (_tmp, config) = image_setup(
        80,
        16,
        "top = 1\nlr_schedule = \"cosine\"\ndecay_epochs = [1]",
    );
    let dir = hand_written_run(&config, 1);
    let o = nas(&["retrain", dir.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
    let err = text(&o).1;
    assert!(
        err.contains("retrain.lr_schedule") && err.contains("decay_epochs"),
        "{err}"
    );
    assert!(!dir.join(FINAL_FILE).exists());
}

#[test]
fn fewer_trainings_than_cpu_slots_share_the_cores_instead_of_idling() {
    let (_tmp, mut config) = image_setup(80, 16, "top = 1");
    config.devices.threads_per_worker = None;
    assert_eq!(config.devices.cpu_workers, 2);
    let dir = hand_written_run(&config, 1);
    let planned = Mutex::new(Vec::new());
    let record = |e: RetrainEvent| {
        if let (RetrainEvent::Planned { slots, .. }, Ok(mut v)) = (e, planned.lock()) {
            v.push(slots);
        }
    };
    retrain(&dir, &RetrainOptions::default(), &record).expect("retrain");
    assert_eq!(
        planned.into_inner().expect("planned"),
        vec![vec!["cpu#0".to_string()]],
        "one training: one slot with every core, not two slots with one idle"
    );
}
