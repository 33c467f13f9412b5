//! Tests of the end of a run: the state machine `actors::end::EndOfRun` with
//! its events delivered in every order that matters, and a stress test of
//! whole synthetic searches (in this process and as separate processes) that
//! must each end.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use nas_actor::actors::end::{EndOfRun, RunEnd, RunFailure, Step};
use nas_actor::actors::CheckpointWriteError;
use nas_actor::actors::{run, RunOptions};
use nas_actor::config::Config;
use nas_actor::store::{ChildRecord, StoreError};

const GRACE: Duration = Duration::from_secs(10);
const FLUSH: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
enum Event {
    /// One child of replica r recorded.
    Recorded,
    ReplicaDone(usize),
}

fn begins(step: &Option<Step>) -> Option<RunEnd> {
    match step {
        Some(Step::Begin { end, forced }) => {
            assert!(forced.is_none(), "a normal end was forced: {forced:?}");
            Some(end.clone())
        }
        Some(Step::Stop { .. }) => panic!("stopped without a flush"),
        None => None,
    }
}

/// Every order of interleaving 2 replicas' ends with the last 2 results
/// (each replica's result before its own end, as a replica finishes only
/// after its batch): exactly one Begin, at the last event that completes
/// both conditions, then exactly one Stop after the flush.
#[test]
fn end_begins_once_whatever_the_order_of_last_results_and_replica_ends() {
    // Sequences of 4 events: R (a result) ×2, D0, D1, with D_i after the i-th R.
    let orders: Vec<Vec<Event>> = vec![
        vec![
            Event::Recorded,
            Event::Recorded,
            Event::ReplicaDone(0),
            Event::ReplicaDone(1),
        ],
        vec![
            Event::Recorded,
            Event::ReplicaDone(0),
            Event::Recorded,
            Event::ReplicaDone(1),
        ],
        vec![
            Event::Recorded,
            Event::Recorded,
            Event::ReplicaDone(1),
            Event::ReplicaDone(0),
        ],
        vec![
            Event::Recorded,
            Event::ReplicaDone(1),
            Event::Recorded,
            Event::ReplicaDone(0),
        ],
    ];
    for order in orders {
        let now = Instant::now();
        let mut m = EndOfRun::new(2, 10, 8, GRACE, FLUSH);
        m.dispatched(now);
        m.dispatched(now);
        let mut begun = Vec::new();
        for (i, e) in order.iter().enumerate() {
            let step = match e {
                Event::Recorded => {
                    m.recorded(1, 0, now);
                    None
                }
                Event::ReplicaDone(r) => m.replica_done(*r, false),
            };
            if let Some(end) = begins(&step) {
                begun.push((i, end));
            }
        }
        assert_eq!(begun, vec![(3, RunEnd::Finished)], "order {order:?}");
        assert!(m.ending() && !m.stopped());
        // Late events change nothing.
        assert_eq!(m.replica_done(0, false), None);
        assert_eq!(m.interrupt(), None);
        assert_eq!(m.fatal(RunFailure::SlotsStopped), None);
        assert_eq!(
            m.flushed(Ok(())),
            Some(Step::Stop {
                end: RunEnd::Finished,
                forced: None
            })
        );
        assert!(m.stopped());
        assert_eq!(m.flushed(Ok(())), None, "stops exactly once");
        assert_eq!(m.tick(now + FLUSH * 10), None);
    }
}

#[test]
fn a_replica_done_twice_does_not_end_the_run_early() {
    let mut m = EndOfRun::new(3, 6, 6, GRACE, FLUSH);
    assert_eq!(m.replica_done(0, false), None);
    assert_eq!(m.replica_done(0, false), None);
    assert_eq!(m.replica_done(1, false), None);
    assert_eq!(begins(&m.replica_done(2, false)), Some(RunEnd::Finished));
}

#[test]
fn interrupt_and_fatal_begin_the_end_at_once_and_only_once() {
    let mut m = EndOfRun::new(2, 100, 0, GRACE, FLUSH);
    assert_eq!(begins(&m.interrupt()), Some(RunEnd::Interrupted));
    assert_eq!(m.replica_done(0, false), None);
    assert_eq!(m.replica_done(1, false), None);
    assert_eq!(
        m.flushed(Ok(())),
        Some(Step::Stop {
            end: RunEnd::Interrupted,
            forced: None
        })
    );

    let mut m = EndOfRun::new(2, 100, 0, GRACE, FLUSH);
    assert_eq!(
        begins(&m.fatal(RunFailure::SlotsRetired)),
        Some(RunEnd::failed(RunFailure::SlotsRetired))
    );
    assert_eq!(m.interrupt(), None);
    // A failed run stays failed, for its first cause, even when the
    // checkpoint is written or its flush fails too.
    assert_eq!(
        m.flushed(Err(disk_full())),
        Some(Step::Stop {
            end: RunEnd::failed(RunFailure::SlotsRetired),
            forced: None
        })
    );
}

/// The checkpoint's write failing for a full disk.
fn disk_full() -> RunFailure {
    RunFailure::Checkpoint(CheckpointWriteError {
        source: Arc::new(StoreError::Write {
            path: PathBuf::from("run/checkpoint/state.bin"),
            source: io::Error::from(io::ErrorKind::StorageFull),
        }),
    })
}

#[test]
fn a_slow_flush_is_waited_for_and_a_failing_one_fails_the_run() {
    let now = Instant::now();
    let mut m = EndOfRun::new(1, 1, 1, GRACE, FLUSH);
    assert!(begins(&m.replica_done(0, false)).is_some());
    // Slow: ticks within the timeout change nothing.
    for s in [1, 10, 59] {
        assert_eq!(m.tick(now + Duration::from_secs(s)), None);
    }
    match m.flushed(Err(disk_full())) {
        Some(Step::Stop {
            end: RunEnd::Failed(f),
            forced: None,
        }) => {
            assert!(
                f.to_string()
                    .starts_with("cannot write run/checkpoint/state.bin"),
                "{f}"
            );
            // The cause is kept under the message: the checkpoint's, the
            // store's, then the I/O error at the bottom of the chain.
            let mut chain = std::iter::successors(std::error::Error::source(&*f), |e| e.source());
            let io = chain
                .find_map(|e| e.downcast_ref::<io::Error>())
                .expect("an io::Error among the causes");
            assert_eq!(io.kind(), io::ErrorKind::StorageFull);
        }
        other => panic!("expected a failed stop, got {other:?}"),
    }
    assert_eq!(m.tick(now + FLUSH * 2), None);
}

#[test]
fn a_flush_that_never_answers_stops_the_run_after_its_timeout_and_says_so() {
    let now = Instant::now();
    let mut m = EndOfRun::new(1, 1, 1, GRACE, FLUSH);
    assert!(begins(&m.replica_done(0, false)).is_some());
    match m.tick(now + FLUSH + Duration::from_secs(1)) {
        Some(Step::Stop {
            end: RunEnd::Failed(failure),
            forced: Some(f),
        }) => {
            assert!(
                matches!(*failure, RunFailure::FlushTimedOut(d) if d == FLUSH),
                "{failure:?}"
            );
            let msg = failure.to_string();
            assert!(msg.contains("not written within 60 s"), "{msg}");
            assert!(f.contains("bug"), "{f}");
        }
        other => panic!("expected a forced stop, got {other:?}"),
    }
    assert!(m.stopped());
    // The flush's late answer changes nothing.
    assert_eq!(m.flushed(Ok(())), None);
}

#[test]
fn a_spent_idle_budget_ends_after_the_grace_period_even_if_a_replica_never_reports() {
    let t0 = Instant::now();
    let mut m = EndOfRun::new(3, 4, 0, GRACE, FLUSH);
    for _ in 0..4 {
        m.dispatched(t0);
    }
    // In flight: no forced end, however long.
    assert_eq!(m.tick(t0 + GRACE * 5), None);
    m.recorded(4, 0, t0);
    assert_eq!(m.replica_done(0, false), None);
    assert_eq!(m.replica_done(1, false), None);
    assert_eq!(m.tick(t0 + GRACE - Duration::from_millis(1)), None);
    match m.tick(t0 + GRACE) {
        Some(Step::Begin {
            end: RunEnd::Finished,
            forced: Some(f),
        }) => assert!(f.contains("1 of 3 replicas never finished"), "{f}"),
        other => panic!("expected a forced begin, got {other:?}"),
    }
    // The missing replica's late report changes nothing.
    assert_eq!(m.replica_done(2, false), None);
    assert!(matches!(
        m.flushed(Ok(())),
        Some(Step::Stop {
            end: RunEnd::Finished,
            ..
        })
    ));
}

#[test]
fn a_budget_not_spent_never_ends_by_the_safety_net() {
    let t0 = Instant::now();
    let mut m = EndOfRun::new(2, 10, 0, GRACE, FLUSH);
    m.dispatched(t0);
    m.recorded(1, 0, t0);
    assert_eq!(m.tick(t0 + GRACE * 100), None);
    // A child left out by `stop_after` no longer counts as in flight.
    let mut m = EndOfRun::new(1, 2, 0, GRACE, FLUSH);
    m.dispatched(t0);
    m.dispatched(t0);
    m.recorded(1, 1, t0);
    assert_eq!(m.tick(t0 + GRACE * 100), None, "budget not recorded");
}

#[test]
fn a_lost_replica_ends_the_run_and_says_so() {
    let mut m = EndOfRun::new(2, 4, 4, GRACE, FLUSH);
    assert_eq!(m.replica_done(0, false), None);
    match m.replica_done(1, true) {
        Some(Step::Begin {
            end: RunEnd::Finished,
            forced: Some(f),
        }) => assert!(f.contains("replica 1"), "{f}"),
        other => panic!("expected a forced begin, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Stress: whole searches that must end.

/// Generous: a search here takes a few seconds.
const RUN_LIMIT: Duration = Duration::from_secs(120);

fn stress_config_text(dir: &Path, strategy: &str, budget: usize, seed: u64) -> String {
    format!(
        r#"
[experiment]
name = "end-stress"
output_dir = "{}"
seed = {seed}
budget = {budget}

[devices]
gpus = "none"
cpu_workers = 800

[search]
space = "cnn"
strategy = "{strategy}"
replicas = 100
children_per_replica = 8
shards = 20

[space.cnn]
layers = 6

[child]
backend = "synthetic"

[child.synthetic]
delay_ms = 400

[data]
dataset = "cifar10"
dir = "data/cifar10"
"#,
        dir.display()
    )
}

/// The searches of the stress test: both strategies, 800 slots for 100
/// replicas, budgets that are and are not multiples of m = 8.
fn stress_plan() -> Vec<(&'static str, usize)> {
    let mut plan = Vec::new();
    for i in 0..10 {
        let strategy = if i % 4 == 3 { "reinforce" } else { "random" };
        let budget = if i % 2 == 0 { 6400 } else { 6397 };
        plan.push((strategy, budget));
    }
    plan
}

fn check_children(dir: &Path, budget: usize, what: &str) {
    let text = std::fs::read_to_string(dir.join("children.jsonl")).expect("children.jsonl");
    let mut ids: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<ChildRecord>(l)
                .expect("a child record")
                .spec
                .id
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        (0..budget as u64).collect::<Vec<_>>(),
        "{what}: every child id exactly once"
    );
}

#[test]
fn many_searches_in_one_process_each_end() {
    for (i, (strategy, budget)) in stress_plan().into_iter().enumerate() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("run");
        let text = stress_config_text(&dir, strategy, budget, i as u64 + 1);
        let config = Config::from_toml(&text, Path::new("stress.toml")).expect("config");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(run(config, &RunOptions::default()).map_err(|e| e.to_string()));
        });
        let what = format!("search {i} ({strategy}, budget {budget})");
        let summary = match rx.recv_timeout(RUN_LIMIT) {
            Ok(r) => r.unwrap_or_else(|e| panic!("{what} failed: {e}")),
            Err(_) => panic!("{what} did not end within {RUN_LIMIT:?}"),
        };
        assert_eq!(summary.children, budget, "{what}");
        assert_eq!(summary.forced_end, None, "{what}: the end had to be forced");
        check_children(&dir, budget, &what);
        assert!(dir.join("summary.json").exists(), "{what}: summary.json");
    }
}

#[test]
fn many_searches_as_separate_processes_each_end() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (i, (strategy, budget)) in stress_plan().into_iter().take(4).enumerate() {
        let dir = tmp.path().join(format!("run{i}"));
        let cfg = tmp.path().join(format!("stress{i}.toml"));
        std::fs::write(
            &cfg,
            stress_config_text(&dir, strategy, budget, 100 + i as u64),
        )
        .expect("config");
        let err_path = tmp.path().join(format!("stderr{i}.txt"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_nas-actor"))
            .arg("run")
            .arg(&cfg)
            .env("NAS_ACTOR_PLAIN", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err_path).expect("stderr file"))
            .spawn()
            .expect("start nas-actor");
        let what = format!("process {i} ({strategy}, budget {budget})");
        let started = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            if started.elapsed() > RUN_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not end within {RUN_LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let err = std::fs::read_to_string(&err_path).unwrap_or_default();
        assert!(status.success(), "{what}: {status}\n{err}");
        assert!(
            !err.contains("bug"),
            "{what}: the end had to be forced:\n{err}"
        );
        check_children(&dir, budget, &what);
    }
}
