//! Reliability: `kill -9` at random moments and `--resume` lose and repeat
//! no child; a live run's directory is refused to a second run; failing
//! children (error, panic, NaN, CUDA out-of-memory, timeout) are recorded and
//! the search goes on; bad configs, data, architectures and hand-edited run
//! directories exit 2 and create or change nothing; a run that cannot write
//! stops with exit 1 and resumes. Each test writes its figures to
//! `$CARGO_TARGET_TMPDIR/reliability/<test>.txt` (and prints them).

mod bad_input;
mod disk;
mod failures;
mod inputs;
mod kill;
mod resumed;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nas_actor::config::{Backend, Config};
use nas_actor::search::Checkpoint;
use nas_actor::store::UpdateRecord;
use nas_actor::store::{ChildRecord, RunDir};

use crate::orchestrator::{read_jsonl, sampled_at, synthetic_config};

/// The real binary.
fn binary() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nas-actor"));
    c.env_remove("LD_LIBRARY_PATH");
    c
}

/// Exit code, stdout and stderr of a finished command.
fn outcome(o: &Output) -> (Option<i32>, String, String) {
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Write `config` to `<dir>/<name>.toml` and return the path.
fn write_config(dir: &Path, name: &str, config: &Config) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config.to_toml().expect("serialise config")).expect("write the config");
    path
}

/// A config with real, tiny tch language-model children (cell space, base 2)
/// on a generated Penn-Treebank-format corpus in `data`.
fn tiny_lm_config(out: &Path, data: &Path, budget: usize) -> Config {
    nas_actor::data::synthetic::write_text_corpus(data, 120, 20, 3).expect("write the corpus");
    let mut c = synthetic_config(out, budget, "");
    c.child.backend = Backend::Tch;
    c.data.dir = data.to_path_buf();
    c.devices.cpu_workers = 2;
    c.devices.threads_per_worker = Some(1);
    c.search.replicas = 2;
    c.search.children_per_replica = 2;
    c.child.train_batches = Some(3);
    c.child.val_batches = Some(2);
    let lm = &mut c.child.lm;
    (lm.epochs, lm.embedding_size, lm.hidden_size, lm.bptt) = (1, 12, 12, 6);
    (lm.batch_size, lm.dropout, lm.learning_rate, lm.init_range) = (4, 0.0, 0.5, 0.3);
    c
}

/// Record figures of a test: print them and write them to the target dir.
fn figures(test: &str, lines: &[String]) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("reliability");
    let text = lines.join("\n") + "\n";
    eprintln!("[{test}]\n{text}");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join(format!("{test}.txt")), text);
    }
}

/// What [`check_run`] verified.
struct RunFacts {
    records: Vec<ChildRecord>,
    updates: usize,
}

/// Every invariant of a finished run in `dir` with budget `budget` and `m`
/// children per update: the log parses fully, ids are exactly `0..budget`,
/// every update used recorded rewards of its own replica's children (each at
/// most once, exactly m but for one short update per replica at the budget's end), θ
/// versions count 1, 2, … without a gap or repeat, and the checkpoint reads
/// back at the last version.
fn check_run(dir: &Path, config: &Config, m: usize) -> RunFacts {
    crate::orchestrator::check_sampling_versions(&read_jsonl(&dir.join("updates.jsonl")));
    let budget = config.experiment.budget;
    let records: Vec<ChildRecord> = read_jsonl(&dir.join("children.jsonl"));
    let ids: BTreeSet<u64> = records.iter().map(|r| r.spec.id).collect();
    assert_eq!(ids.len(), records.len(), "a child id repeats");
    assert_eq!(
        ids,
        (0..budget as u64).collect::<BTreeSet<u64>>(),
        "ids must be exactly 0..{budget}"
    );
    let by_id: BTreeMap<u64, &ChildRecord> = records.iter().map(|r| (r.spec.id, r)).collect();
    let updates: Vec<UpdateRecord> = read_jsonl(&dir.join("updates.jsonl"));
    let mut used = HashSet::new();
    crate::orchestrator::check_short_updates(&updates, m);
    for (i, u) in updates.iter().enumerate() {
        assert_eq!(u.version, i as u64 + 1, "θ versions continue");
        assert_eq!(u.children.len(), u.rewards.len());
        for (i, (id, reward)) in u.children.iter().zip(&u.rewards).enumerate() {
            let r = by_id
                .get(id)
                .unwrap_or_else(|| panic!("update {} used unrecorded child {id}", u.version));
            assert_eq!(r.spec.replica, u.replica, "child {id} of another replica");
            assert_eq!(r.spec.version, sampled_at(u, i), "child {id}: other θ");
            assert_eq!(r.reward.to_bits(), reward.to_bits(), "child {id}: reward");
            assert!(used.insert(*id), "child {id} used twice");
        }
    }
    let run = RunDir::open_existing(dir, config).expect("the run directory opens");
    let ck: Checkpoint = run
        .read_checkpoint()
        .expect("the checkpoint reads")
        .expect("a checkpoint exists");
    assert_eq!(
        ck.version,
        updates.len() as u64,
        "checkpoint at the last update"
    );
    assert!(ck.weights.iter().all(|w| w.is_finite()));
    RunFacts {
        updates: updates.len(),
        records,
    }
}
