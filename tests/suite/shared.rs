//! Shared weights (`search.weights = "shared"`, ENAS): a cell under ω is a
//! standalone cell with ω's weights; ω learns on real PTB; the controller
//! learns on shared weights on a toy text; `kill -9` during ω steps and
//! during controller steps, then `--resume`, repeats and loses nothing
//! (the run ends exactly as an uninterrupted one); `best.json` of a shared
//! search retrains through `retrain`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nas_actor::actors::{self, RunOptions};
use nas_actor::child::cell::CellError;
use nas_actor::child::lm::LmError;
use nas_actor::child::supernet::CellSupernet;
use nas_actor::child::{ChildError, WordLm};
use nas_actor::config::{Config, LmChildConfig, SharedConfig};
use nas_actor::data::load_ptb;
use nas_actor::space::{Architecture, CellArch, SearchSpace};
use nas_actor::store::ChildRecord;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Tensor};

use crate::common;

mod cnn;

/// A toy language: 16 words, the next word a fixed permutation of the
/// current one 9 times in 10, else a word of a small LCG. Written as
/// `ptb.{train,valid,test}.txt` in `dir`.
fn toy_text(dir: &Path, train_words: usize) {
    std::fs::create_dir_all(dir).expect("data dir");
    let words: Vec<String> = (0..16).map(|i| format!("w{i}")).collect();
    let mut state: u64 = 12345;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let mut write = |name: &str, n: usize| {
        let mut cur = 0usize;
        let mut text = String::new();
        for i in 0..n {
            cur = if next() % 10 < 9 {
                (cur * 5 + 3) % 16
            } else {
                next() % 16
            };
            text += &words[cur];
            text += if i % 20 == 19 { "\n" } else { " " };
        }
        std::fs::write(dir.join(name), text).expect("write text");
    };
    write("ptb.train.txt", train_words);
    write("ptb.valid.txt", train_words / 4);
    write("ptb.test.txt", train_words / 4);
}

/// A shared-weights config on `data` writing to `out`; `extra` is appended.
fn config(out: &Path, data: &Path, budget: usize, extra: &str) -> Config {
    let text = format!(
        r#"
[experiment]
name = "shared-test"
output_dir = "{out}"
seed = 3
budget = {budget}

[devices]
gpus = "none"
cpu_workers = 1
threads_per_worker = 1

[search]
space = "cell"
weights = "shared"
children_per_replica = 4

[search.shared]
preset = "cpu"
learning_rate = 1.0
omega_steps = 20
controller_samples = 8
reward_batches = 1
final_samples = 3
checkpoint_every = 5

[space.cell]
base = 2

[child.lm]
embedding_size = 16
hidden_size = 16
bptt = 8
batch_size = 8
dropout = 0.0

[data]
dataset = "ptb"
dir = "{data}"

[retrain]
top = 1
epochs = 1
{extra}
"#,
        out = out.display(),
        data = data.display()
    );
    Config::from_toml(&text, Path::new("shared-test.toml")).expect("config")
}

fn write_config(dir: &Path, name: &str, config: &Config) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config.to_toml().expect("toml")).expect("write config");
    path
}

fn records(dir: &Path) -> Vec<ChildRecord> {
    std::fs::read_to_string(dir.join("children.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a child record"))
        .collect()
}

fn cell(json: &str) -> CellArch {
    match serde_json::from_str::<Architecture>(json).expect("an architecture") {
        Architecture::Cell(c) => c,
        other => panic!("not a cell: {other:?}"),
    }
}

fn bench_cell(name: &str) -> CellArch {
    cell(
        &std::fs::read_to_string(common::root().join("bench/cells").join(name))
            .expect("bench cell"),
    )
}

#[test]
fn a_cell_under_omega_equals_a_standalone_cell_with_the_same_weights() {
    let tmp = tempfile::tempdir().expect("tempdir");
    toy_text(tmp.path(), 4000);
    let corpus = load_ptb(tmp.path(), None, None).expect("toy corpus");
    let lm = LmChildConfig {
        embedding_size: 12,
        hidden_size: 12,
        layers: 2,
        bptt: 6,
        batch_size: 4,
        dropout: 0.0,
        ..Default::default()
    };
    let a = bench_cell("b2-gated-sum-tanh.json");
    let b = bench_cell("b2-forget-sum.json");
    let mut net = CellSupernet::new(&a, &corpus, &lm, &SharedConfig::default(), Device::Cpu, 7)
        .expect("supernet");
    // ω trains a few steps with both cells, so the weights are not the init.
    for k in 0..4 {
        net.train_step(if k % 2 == 0 { &a } else { &b })
            .expect("ω step");
    }
    let tokens = Tensor::from_slice(&[1i64, 4, 2, 9, 3, 3, 0, 5, 7, 1, 2, 8]).view([3, 4]);
    for arch in [&a, &b] {
        net.set_arch(arch).expect("same base");
        let state = net.model().zero_state(4);
        let (shared, _) = net
            .model()
            .forward_t(&tokens, &state, false)
            .expect("forward");
        let mut vs = tch::nn::VarStore::new(Device::Cpu);
        let standalone =
            WordLm::cell(&vs.root(), arch, corpus.vocab.words.len(), &lm).expect("standalone");
        vs.copy(net.var_store())
            .expect("same variables, same shapes");
        let (alone, _) = standalone
            .forward_t(&tokens, &standalone.zero_state(4), false)
            .expect("forward");
        let diff = (&shared - &alone).abs().max().double_value(&[]);
        assert_eq!(
            diff, 0.0,
            "the cell under ω differs from the standalone cell"
        );
    }
    // The score of a cell is its loss under ω from a zero state.
    let first = net.score(&a, 0, 1).expect("score");
    assert!(first.is_finite() && first > 0.0);
    // A cell of another base cannot take ω's weights, and says which bases.
    let b4 = bench_cell("b4-lstm-linear-output.json");
    let err = net.set_arch(&b4).expect_err("another base");
    assert!(
        matches!(
            err,
            ChildError::Model(LmError::Cell(CellError::OtherBase {
                base: 4,
                weights: 2
            }))
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "a base-4 cell cannot take the weights of a base-2 cell"
    );
}

#[test]
fn omega_training_loss_falls_on_real_ptb() {
    let Some(ptb) = common::require_ptb() else {
        return;
    };
    let corpus = load_ptb(&ptb, Some(60_000), Some(4_000)).expect("ptb");
    let lm = LmChildConfig {
        embedding_size: 32,
        hidden_size: 32,
        layers: 1,
        bptt: 8,
        batch_size: 8,
        dropout: 0.0,
        ..Default::default()
    };
    // ENAS's ω optimizer: SGD with learning rate 20, gradient norm clipped at 0.25.
    let shared = SharedConfig::default();
    let space =
        SearchSpace::from_config(&config(Path::new("/unused"), Path::new("/unused"), 1, ""))
            .expect("space");
    let schema = space.schema(0);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let probe = bench_cell("b2-gated-sum-tanh.json");
    let mut net =
        CellSupernet::new(&probe, &corpus, &lm, &shared, Device::Cpu, 1).expect("supernet");
    let before = net.score(&probe, 0, 10).expect("score");
    let mut losses = Vec::new();
    for _ in 0..120 {
        let tokens = nas_actor::space::sample_uniform(&schema, &mut rng);
        let Ok(Architecture::Cell(arch)) = space.decode(&tokens) else {
            panic!("a cell");
        };
        losses.push(net.train_step(&arch).expect("ω step"));
    }
    let after = net.score(&probe, 0, 10).expect("score");
    let median = |xs: &[f64]| {
        let mut v: Vec<f64> = xs
            .iter()
            .map(|x| if x.is_finite() { *x } else { f64::MAX })
            .collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (early, late) = (median(&losses[..20]), median(&losses[80..]));
    let line = format!(
        "ω on PTB (60k tokens, 32 units, base 2, uniform cells): median training loss {early:.3} (steps 1-20) → {late:.3} (steps 81-120); probe cell validation loss {before:.3} → {after:.3}"
    );
    eprintln!("{line}");
    assert!(late < early - 0.5, "{line}");
    assert!(after < before - 1.0, "{line}");
}

#[test]
fn the_controller_learns_on_shared_weights() {
    // The landscape: the leaves' combination (add or elem_mult) of a base-2
    // cell on a toy text predictable from the current word. Which is better
    // under ω is measured on the first children (drawn near uniformly), and
    // must be clearly better; the controller must then draw it far more often.
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    toy_text(&data, 30_000);
    let out = tmp.path().join("run");
    let mut cfg = config(
        &out,
        &data,
        240,
        "[controller]\nlearning_rate = 0.02\nentropy_weight = 0.0\n",
    );
    cfg.search.shared.learning_rate = 20.0;
    cfg.search.shared.grad_clip = 0.25;
    cfg.search.shared.omega_steps = 40;
    cfg.search.shared.controller_samples = 40;
    cfg.search.shared.reward_batches = 2;
    actors::run(cfg, &RunOptions::default()).expect("shared search");
    let recs = records(&out);
    assert_eq!(recs.len(), 240);
    let adding = |r: &ChildRecord| match &r.spec.arch {
        Architecture::Cell(c) => c.nodes[..2]
            .iter()
            .all(|n| n.combination == nas_actor::config::Combination::Add),
        _ => false,
    };
    let mean = |rs: Vec<f64>| rs.iter().sum::<f64>() / rs.len().max(1) as f64;
    let early = &recs[..40];
    let add_reward = mean(
        early
            .iter()
            .filter(|r| adding(r))
            .map(|r| r.reward)
            .collect(),
    );
    let other_reward = mean(
        early
            .iter()
            .filter(|r| !adding(r))
            .map(|r| r.reward)
            .collect(),
    );
    let better_is_add = add_reward > other_reward;
    let share = |rs: &[ChildRecord]| {
        rs.iter().filter(|r| adding(r) == better_is_add).count() as f64 / rs.len() as f64
    };
    let (first, last) = (share(early), share(&recs[200..]));
    let line = format!(
        "mean reward of the first 40 children: both leaves adding {add_reward:.4}, not {other_reward:.4}; share of the better choice {first:.2} (children 1-40) → {last:.2} (children 201-240)"
    );
    eprintln!("{line}");
    let gap = (add_reward - other_reward).abs() / add_reward.max(other_reward);
    assert!(gap > 0.03, "no choice is clearly better: {line}");
    assert!(last > first + 0.2 && last >= 0.8, "{line}");
}

fn binary() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nas-actor"));
    c.env_remove("LD_LIBRARY_PATH").env("NAS_ACTOR_PLAIN", "1");
    c
}

fn start(config: &Path, resume: bool, stderr: &Path) -> Child {
    let mut cmd = binary();
    cmd.arg("run").arg(config);
    if resume {
        cmd.arg("--resume");
    }
    cmd.stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).expect("stderr file"))
        .spawn()
        .expect("start nas-actor")
}

/// Wait until `ready` or 60 s; then SIGKILL. False when the run had already ended.
fn kill_when(child: &mut Child, ready: impl Fn() -> bool) -> bool {
    let t0 = Instant::now();
    while !ready() && t0.elapsed() < Duration::from_secs(60) {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    true
}

fn checkpoint_counters(dir: &Path) -> Option<nas_actor::actors::shared::checkpoint::Counters> {
    let run = nas_actor::store::RunDir::open_read_only(dir).ok()?;
    let ck: nas_actor::actors::shared::checkpoint::SharedCheckpoint =
        run.read_checkpoint().ok()??;
    Some(ck.progress)
}

#[test]
fn kill_9_during_omega_and_controller_steps_then_resume_repeats_and_loses_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    toy_text(&data, 8000);
    kill_three_times_and_resume(tmp.path(), 32, |out, budget| config(out, &data, budget, ""));
}

/// Run `make(out, budget)` once through, and once killed with SIGKILL three
/// times (round 1's ω phase, its controller phase, round 2's ω phase) and
/// resumed: the two end with the same children, rewards, updates, θ, ω and
/// best.json, and every resume finds ω's probe loss equal to the checkpoint's.
fn kill_three_times_and_resume(dir: &Path, budget: usize, make: impl Fn(&Path, usize) -> Config) {
    let tmp = dir;
    let plain = tmp.join("plain");
    let killed = tmp.join("killed");
    let path_a = write_config(tmp, "a", &make(&plain, budget));
    let path_b = write_config(tmp, "b", &make(&killed, budget));
    let o = binary().arg("run").arg(&path_a).output().expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Kill 1: in round 1's ω phase, after its first checkpoint.
    let err = |k: usize| tmp.join(format!("stderr-{k}.txt"));
    let mut child = start(&path_b, false, &err(0));
    let omega_started = || checkpoint_counters(&killed).is_some_and(|c| c.omega_in_round >= 5);
    assert!(
        kill_when(&mut child, omega_started),
        "the run ended before kill 1"
    );
    let c = checkpoint_counters(&killed).expect("a checkpoint");
    assert_eq!(c.children, 0, "kill 1 landed in the ω phase");
    // Kill 2: in the controller phase, some children recorded.
    let mut child = start(&path_b, true, &err(1));
    assert!(
        kill_when(&mut child, || records(&killed).len() >= 6),
        "ended before kill 2"
    );
    // Kill 3: in round 2's ω phase.
    let mut child = start(&path_b, true, &err(2));
    let round_two =
        || checkpoint_counters(&killed).is_some_and(|c| c.round >= 1 && c.omega_in_round >= 5);
    assert!(kill_when(&mut child, round_two), "ended before kill 3");
    let o = binary()
        .args(["run", "--resume"])
        .arg(&path_b)
        .output()
        .expect("resume");
    let last_err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{last_err}");

    // ω resumes from its checkpoint: the probe's loss is the checkpoint's.
    let mut probes = 0;
    for text in (1..=2)
        .map(|k| std::fs::read_to_string(err(k)).unwrap_or_default())
        .chain([last_err])
    {
        for line in text.lines().filter(|l| l.contains("probe loss")) {
            let nums: Vec<&str> = line
                .split(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
                .filter(|s| s.contains('.'))
                .collect();
            let (again, saved) = (nums[nums.len() - 2], nums[nums.len() - 1]);
            assert_eq!(again, saved, "{line}");
            probes += 1;
        }
    }
    assert_eq!(probes, 3, "every resume reports ω's probe loss");

    // The same children, rewards, updates and final θ and ω as without kills.
    let (a, b) = (records(&plain), records(&killed));
    assert_eq!(b.len(), budget, "each child once");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.spec.id, y.spec.id);
        assert_eq!(x.spec.tokens, y.spec.tokens, "child {}", x.spec.id);
        assert_eq!(x.reward, y.reward, "child {}", x.spec.id);
    }
    let read = |d: &Path, f: &str| std::fs::read_to_string(d.join(f)).expect("file");
    assert_eq!(
        read(&plain, "updates.jsonl"),
        read(&killed, "updates.jsonl")
    );
    let ca = checkpoint_counters(&plain).expect("checkpoint");
    let cb = checkpoint_counters(&killed).expect("checkpoint");
    assert_eq!(ca, cb);
    let omega = |d: &Path| {
        std::fs::read(d.join(format!("checkpoint/omega-{}.bin", ca.omega_steps))).expect("ω file")
    };
    assert!(omega(&plain) == omega(&killed), "ω differs after the kills");
    let ranked = |d: &Path| {
        let list: Vec<ChildRecord> =
            serde_json::from_str(&read(d, "best.json")).expect("best.json");
        list.into_iter()
            .map(|r| (r.spec.id, r.spec.tokens, r.reward))
            .collect::<Vec<_>>()
    };
    assert_eq!(ranked(&plain), ranked(&killed));
}

/// `best.json` of the finished shared run `out` (1 to 3 records, ranked)
/// retrained through `retrain` on the CPU, which picks its first; then
/// `report` reads the run as any other. The retraining's report.
fn retrain_best_and_report(out: &Path) -> nas_actor::post::FinalReport {
    let best: Vec<ChildRecord> =
        serde_json::from_str(&std::fs::read_to_string(out.join("best.json")).expect("best.json"))
            .expect("records");
    assert!(!best.is_empty() && best.len() <= 3);
    assert!(
        best.windows(2).all(|w| w[0].reward >= w[1].reward),
        "ranked"
    );
    let options = nas_actor::post::retrain::RetrainOptions {
        device: Some(Device::Cpu),
        ..Default::default()
    };
    let report = nas_actor::post::retrain::retrain(out, &options, &|_| {}).expect("retrain");
    assert_eq!(report.selected.child_id, Some(best[0].spec.id));
    let o = binary().arg("report").arg(out).output().expect("report");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    report
}

#[test]
fn best_json_of_a_shared_search_retrains_through_retrain() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    toy_text(&data, 6000);
    let out = tmp.path().join("run");
    actors::run(config(&out, &data, 8, ""), &RunOptions::default()).expect("shared search");
    let report = retrain_best_and_report(&out);
    assert!(report.baseline.is_some(), "the LSTM beside it");
    assert!(report.test.metric.is_finite() && report.test.metric > 1.0);
    assert!(out.join("report/report.md").is_file());
}

#[test]
fn bad_shared_settings_are_refused_naming_the_key() {
    let base = config(Path::new("/tmp/unused"), Path::new("/tmp/unused"), 4, "")
        .to_toml()
        .expect("toml");
    for (from, to, key) in [
        (
            "omega_steps = 20",
            "omega_steps = 0",
            "search.shared.omega_steps",
        ),
        (
            "learning_rate = 1.0",
            "learning_rate = -1.0",
            "search.shared.learning_rate",
        ),
        ("replicas = 1", "replicas = 2", "search.replicas"),
        (
            "strategy = \"reinforce\"",
            "strategy = \"tpe\"",
            "search.strategy",
        ),
        ("model = \"searched\"", "model = \"lstm\"", "child.model"),
    ] {
        assert!(base.contains(from), "{from} not in the config");
        let text = base.replacen(from, to, 1);
        let err = Config::from_toml(&text, Path::new("x.toml")).expect_err(to);
        assert!(err.message.contains(key), "{to}: {}", err.message);
    }
    let err = Config::from_toml(
        &base.replacen("[search.shared]", "[search.shared]\nomega_stepz = 3", 1),
        Path::new("x.toml"),
    )
    .expect_err("unknown key");
    assert!(err.message.contains("omega_stepz"), "{}", err.message);
}

#[test]
fn the_shared_configs_load_with_their_presets() {
    let q = Config::load(&common::root().join("configs/quickstart_shared.toml"))
        .expect("quickstart_shared");
    assert_eq!(q.search.weights, nas_actor::config::Weights::Shared);
    assert_eq!(
        (q.search.shared.learning_rate, q.search.shared.grad_clip),
        (20.0, 0.25)
    );
    let p = Config::load(&common::root().join("configs/ptb_shared.toml")).expect("ptb_shared");
    let (s, c) = (&p.search.shared, &p.controller);
    assert_eq!(
        (
            s.learning_rate,
            s.grad_clip,
            s.omega_steps,
            s.controller_samples
        ),
        (20.0, 0.25, 400, 2000)
    );
    assert_eq!(c.learning_rate, Some(3.5e-4));
    assert_eq!(
        (c.tanh_constant, c.temperature, c.entropy_weight),
        (Some(2.5), Some(5.0), 1e-4)
    );
}
