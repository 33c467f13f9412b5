//! The PyTorch example (`examples/trials/fashion_mnist_cnn.py`) searched
//! end to end on tiny settings: real Fashion-MNIST, the venv's torch.

use std::path::Path;

use nas_actor::child::ChildStatus;

use super::{assert_every_id_once, config, records, search};
use crate::common;

/// The shipped config `name` (running `script`), made tiny: 4 children of
/// 2 small layers, 2 epochs on 2,048 training images, its run in `dir`.
fn tiny_config(dir: &Path, name: &str, script: &str, python: &Path, data: &Path) -> String {
    let root = common::root();
    let text =
        std::fs::read_to_string(root.join("configs").join(name)).expect("the shipped config");
    let stem = name.trim_end_matches(".toml");
    let text = text
        .replace(&format!("output_dir = \"runs/{stem}\""), &format!("output_dir = \"{}\"", dir.join("run").display()))
        .replace("budget = 60", "budget = 4")
        .replace("repeat = 4", "repeat = 2")
        .replace("choices = [16, 32, 48]", "choices = [8, 16]")
        .replace("choices = [0.1, 0.05, 0.01, 0.003]", "choices = [0.05]")
        .replace("choices = [\"sgd\", \"adam\"]", "choices = [\"sgd\"]")
        .replace(
            &format!("argv = [\".venv/bin/python\", \"examples/trials/{script}\",\n        \"--train-limit\", \"10000\", \"--val-limit\", \"2000\"]"),
            &format!(
                "argv = [\"{}\", \"examples/trials/{script}\", \"--data\", \"{}\", \"--train-limit\", \"2048\", \"--val-limit\", \"512\"]",
                python.display(),
                data.display()
            ),
        )
        .replace("workdir = \".\"", &format!("workdir = \"{}\"", root.display()));
    assert!(
        text.contains("--train-limit\", \"2048\"")
            && text.contains(&dir.join("run").display().to_string()),
        "the config's argv and run directory were replaced:\n{text}"
    );
    text
}

/// The children of a tiny Fashion-MNIST search in `dir` trained as the
/// example trains them; returns the trained ones' ids.
fn assert_trained(dir: &Path) -> Vec<u64> {
    let recs = records(dir);
    assert_every_id_once(&recs, 4);
    let mut best = 0.0f64;
    let mut ids = Vec::new();
    for r in &recs {
        assert!(
            matches!(r.status, ChildStatus::Ok | ChildStatus::Cached),
            "{:?}: {:?}",
            r.status,
            r.message
        );
        if r.status == ChildStatus::Cached {
            continue;
        }
        ids.push(r.spec.id);
        let acc = r.metric.expect("accuracy");
        assert!((0.0..=1.0).contains(&acc));
        assert!((r.reward - acc.powi(3)).abs() < 1e-9, "reward = accuracy^3");
        assert_eq!(r.epochs.len(), 2, "one report per epoch");
        assert_eq!(
            acc,
            r.epochs.iter().map(|e| e.val_metric).fold(0.0, f64::max),
            "the best epoch"
        );
        assert!(r.params > 0, "the trial reports its size");
        assert!(
            dir.join(format!("run/children/{}/model.pt", r.spec.id))
                .exists(),
            "its weights are kept"
        );
        best = best.max(acc);
    }
    // Ten classes: chance is 10 %; two short epochs on 2,048 images reach well above it.
    assert!(best > 0.5, "best validation accuracy {best}");
    ids
}

#[test]
fn the_pytorch_fashion_mnist_trial_searches_end_to_end() {
    let (Some(python), Some(data)) = (common::require_python(), common::require_fashion_mnist())
    else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let text = tiny_config(
        dir,
        "fashion_mnist_torch.toml",
        "fashion_mnist_cnn.py",
        &python,
        &data,
    );
    let summary = search(config(dir, &text));
    assert_eq!(summary.children, 4);
    assert_trained(dir);
}

/// The same search with the persistent example: one process per slot
/// (each child's log names the pid that served it) loads the data once.
#[test]
fn the_persistent_pytorch_trial_serves_each_slot_from_one_process() {
    let (Some(python), Some(data)) = (common::require_python(), common::require_fashion_mnist())
    else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let text = tiny_config(
        dir,
        "fashion_mnist_torch_persistent.toml",
        "fashion_mnist_cnn_persistent.py",
        &python,
        &data,
    )
    .replace("cpu_workers = 2", "cpu_workers = 1");
    assert!(
        text.contains("persistent = true") && text.contains("cpu_workers = 1"),
        "{text}"
    );
    let summary = search(config(dir, &text));
    assert_eq!(summary.children, 4);
    let ids = assert_trained(dir);
    let pids: std::collections::BTreeSet<String> = ids
        .iter()
        .map(|id| {
            let log = std::fs::read_to_string(dir.join(format!("run/children/{id}/trial.log")))
                .expect("trial.log");
            let line = log
                .lines()
                .find(|l| l.starts_with(&format!("child {id} served by pid ")))
                .unwrap_or_else(|| panic!("child {id}'s log names its process:\n{log}"));
            line.rsplit(' ').next().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(pids.len(), 1, "one slot, one process: {pids:?}");
    // The first child served (two replicas share the slot: not always id 0).
    let logs: Vec<String> = ids
        .iter()
        .map(|id| {
            std::fs::read_to_string(dir.join(format!("run/children/{id}/trial.log")))
                .expect("trial.log")
        })
        .collect();
    let first = logs
        .iter()
        .find(|l| l.contains("request 1 to the persistent trial process"))
        .expect("a child served as the process's first request");
    assert!(
        first.contains("loaded in"),
        "the data was loaded before the first child:\n{first}"
    );
}

/// The helper's lines are the protocol's, NaN included, and it says what
/// is missing when run outside nas-actor.
#[test]
fn the_python_helper_speaks_the_protocol() {
    use nas_actor::runner::protocol::{parse, Final, Line};
    let Some(python) = common::require_python() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let arch = tmp.path().join("arch.json");
    std::fs::write(
        &arch,
        r#"{"layer": [{"kernel": 3, "inputs": []}], "lr": 0.1}"#,
    )
    .expect("write");
    let script = r#"
import nas_trial as trial
arch = trial.architecture()
print("training", arch["layer"][0]["kernel"], trial.child_id(), trial.seed(), trial.epochs(7))
trial.progress(1, 5, 10, loss=2.5)
trial.report(1, 0.5, train_loss=1.25)
trial.report(2, float("nan"))
trial.final(0.75, reward=0.5, params=123)
"#;
    let out = std::process::Command::new(&python)
        .args(["-c", script])
        .env("PYTHONPATH", common::root().join("python"))
        .env("NAS_ARCH_FILE", &arch)
        .env("NAS_CHILD_ID", "4")
        .env("NAS_SEED", "99")
        .env_remove("NAS_EPOCHS")
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Line> = stdout.lines().map(parse).collect();
    assert_eq!(lines[0], Line::Log, "{stdout}");
    assert!(stdout.starts_with("training 3 4 99 7\n"), "{stdout}");
    assert_eq!(
        lines[1],
        Line::Batch {
            epoch: 1,
            batch: 5,
            batches: 10,
            loss: 2.5
        }
    );
    match &lines[2] {
        Line::Epoch(m) => {
            assert_eq!((m.epoch, m.val_metric, m.train_loss), (1, 0.5, Some(1.25)));
            assert!(m.val_loss.is_none() && m.seconds.is_nan(), "not reported");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&lines[3], Line::Epoch(m) if m.epoch == 2 && m.val_metric.is_nan()),
        "{stdout}"
    );
    assert_eq!(
        lines[4],
        Line::Final(Final {
            metric: 0.75,
            reward: Some(0.5),
            params: Some(123),
            status: None,
            message: None
        })
    );
    // Outside nas-actor, without an architecture file: a clear error.
    let out = std::process::Command::new(&python)
        .args(["-c", "import nas_trial; nas_trial.architecture()"])
        .env("PYTHONPATH", common::root().join("python"))
        .env_remove("NAS_ARCH_FILE")
        .output()
        .expect("python");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NAS_ARCH_FILE is not set"));
}
