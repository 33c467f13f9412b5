//! A trainer slot on its own, with fake peers in place of the Recorder and
//! the Reporter (the trainer is handed `Recipient`s): what it sends for a
//! child that trains, and how a slot that keeps failing retires and says
//! that the run cannot go on.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use nas_actor::actors::messages::{
    ChildFinished, ChildResult, Fatal, Notice, SlotEvent, TrainChild,
};
use nas_actor::actors::recorder::Job;
use nas_actor::actors::trainer::{self, TrainerPeers, TrainerShared};
use nas_actor::child::{ChildSpec, ChildStatus};
use nas_actor::runner::{Launcher, Runners};
use nas_actor::space::SearchSpace;

use crate::orchestrator::synthetic_config;

/// Everything the trainer sent, in order.
#[derive(Default)]
struct Seen {
    finished: Vec<(u64, ChildStatus)>,
    fatal: Vec<String>,
    events: Vec<String>,
    notices: Vec<String>,
}

/// Stands in for the Recorder, the Reporter and a replica.
struct Fake(Arc<Mutex<Seen>>);

impl Actor for Fake {
    type Context = Context<Self>;
}

impl Handler<ChildFinished> for Fake {
    type Result = ();
    fn handle(&mut self, m: ChildFinished, _: &mut Context<Self>) {
        if let Ok(mut s) = self.0.lock() {
            s.finished.push((m.record.spec.id, m.record.status));
        }
    }
}

impl Handler<Fatal> for Fake {
    type Result = ();
    fn handle(&mut self, m: Fatal, _: &mut Context<Self>) {
        if let Ok(mut s) = self.0.lock() {
            s.fatal.push(m.0.to_string());
        }
    }
}

impl Handler<SlotEvent> for Fake {
    type Result = ();
    fn handle(&mut self, m: SlotEvent, _: &mut Context<Self>) {
        if let Ok(mut s) = self.0.lock() {
            let e = format!("{m:?}");
            s.events
                .push(e.split([' ', '{']).next().unwrap_or_default().to_string());
        }
    }
}

impl Handler<Notice> for Fake {
    type Result = ();
    fn handle(&mut self, m: Notice, _: &mut Context<Self>) {
        if let Ok(mut s) = self.0.lock() {
            s.notices.push(m.0);
        }
    }
}

impl Handler<ChildResult> for Fake {
    type Result = ();
    fn handle(&mut self, _: ChildResult, _: &mut Context<Self>) {}
}

/// Run `children` synthetic children (failing at `failure_rate`) through
/// one trainer slot whose peers are fakes; what the fakes saw.
fn one_slot(children: u64, failure_rate: f64) -> Seen {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = synthetic_config(
        &tmp.path().join("run"),
        children as usize,
        &format!("[child.synthetic]\nfailure_rate = {failure_rate}\n"),
    );
    let space = Arc::new(SearchSpace::from_config(&config).expect("space"));
    let config = Arc::new(config);
    let runners = Runners::load(config.clone(), space.clone()).expect("runners");
    let launcher = Arc::new(Launcher::for_config(&config).expect("launcher"));
    let slot = launcher.slots()[0].clone();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let system = System::new();
    system.block_on(async {
        let fake = Fake(seen.clone()).start();
        let shared = TrainerShared {
            runners,
            launcher,
            peers: TrainerPeers {
                finished: fake.clone().recipient(),
                fatal: fake.clone().recipient(),
                events: fake.clone().recipient(),
                notices: fake.clone().recipient(),
            },
            stop: Arc::new(AtomicBool::new(false)),
            busy_ns: Arc::new(AtomicU64::new(0)),
            active: Arc::new(AtomicUsize::new(1)),
            early_stop: None,
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        for id in 0..children {
            let tokens = vec![(id % 2) as usize; space.schema(0).num_tokens()];
            let arch = space.decode(&tokens).expect("decode");
            let hash = arch.hash().expect("hash");
            let spec = ChildSpec::new(config.experiment.seed, id, 0, 0, tokens, arch, hash);
            let reply = fake.clone().recipient();
            tx.send(Job {
                child: TrainChild { spec, reply },
            })
            .expect("queue");
        }
        drop(tx);
        let handle = trainer::spawn(slot, rx, shared).expect("trainer thread");
        let t0 = Instant::now();
        while !handle.is_finished() && t0.elapsed() < Duration::from_secs(60) {
            actix::clock::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            handle.is_finished(),
            "the slot's thread ends with its queue"
        );
        // Let the fakes take what is still in their mailbox.
        actix::clock::sleep(Duration::from_millis(100)).await;
    });
    let mut seen = seen.lock().expect("the fakes' record");
    std::mem::take(&mut *seen)
}

#[test]
fn a_trainer_reports_each_child_to_its_peers() {
    let seen = one_slot(3, 0.0);
    let ids: Vec<u64> = seen.finished.iter().map(|f| f.0).collect();
    assert_eq!(ids, [0, 1, 2], "every child, in queue order");
    assert!(seen.finished.iter().all(|f| f.1 == ChildStatus::Ok));
    assert_eq!(
        seen.events.iter().filter(|e| *e == "Started").count(),
        3,
        "{:?}",
        seen.events
    );
    assert_eq!(
        seen.events.iter().filter(|e| *e == "Idle").count(),
        3,
        "{:?}",
        seen.events
    );
    assert!(seen.fatal.is_empty() && seen.notices.is_empty());
}

#[test]
fn a_slot_that_keeps_failing_retires_and_ends_the_run() {
    let seen = one_slot(8, 1.0);
    assert_eq!(
        seen.finished.len(),
        trainer::MAX_CONSECUTIVE_FAILURES,
        "it stops taking children after the last failure in a row"
    );
    assert!(seen.finished.iter().all(|f| f.1 == ChildStatus::Failed));
    assert!(
        seen.events.contains(&"Retired".to_string()),
        "{:?}",
        seen.events
    );
    assert!(
        seen.notices
            .iter()
            .any(|n| n.contains("retired after 5 failures in a row")),
        "{:?}",
        seen.notices
    );
    assert_eq!(
        seen.fatal,
        ["every trainer slot has retired after repeated failures"]
    );
}
