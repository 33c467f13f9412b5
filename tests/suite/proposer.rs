//! Tests of the proposer seam and of refill sampling: the pure REINFORCE
//! proposer in a simulated clock (refill keeps every slot busy while budget
//! remains, batch mode does not; every update has exactly m rewards with
//! the versions that sampled them), the proposer actor driven by fake peers
//! (a fake parameter store and a fake recorder), and which sampling mode
//! the shipped configs resolve to.

use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use nas_actor::actors::messages::{
    ChildResult, Fatal, Params, PullParams, PushGradient, Pushed, ReplicaDone, ReplicaLost,
    TrainChild,
};
use nas_actor::actors::proposer::{Budget, ProposerActor, ProposerPeers, ProposerShared};
use nas_actor::child::ChildStatus;
use nas_actor::config::{Config, Sampling};
use nas_actor::controller::Controller;
use nas_actor::search::{build, BuildContext, Proposer};
use nas_actor::space::SearchSpace;

use crate::orchestrator::synthetic_config;

/// K = 2 replicas of m = 4 on the synthetic cell space, in `sampling` mode.
fn config(sampling: Sampling, budget: usize) -> Config {
    let mut c = synthetic_config(Path::new("unused"), budget, "");
    c.search.replicas = 2;
    c.search.sampling = sampling;
    c
}

/// A child's simulated duration (1 to 10 time units) and reward, from its tokens.
fn duration(tokens: &[usize]) -> u64 {
    1 + tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (i + 1) * t)
        .sum::<usize>() as u64
        % 10
}

fn reward(tokens: &[usize]) -> f64 {
    tokens.iter().filter(|&&t| t == 0).count() as f64 / tokens.len().max(1) as f64
}

/// What a simulated search did.
struct Simulated {
    /// Slot-time units idle while budget remained.
    idle_with_budget: u64,
    /// (replica, children, versions) of each update, in order.
    updates: Vec<(usize, Vec<u64>, Vec<u64>)>,
    /// The θ version each child was proposed at.
    proposed_at: HashMap<u64, u64>,
    children: usize,
}

/// Run the proposers of `config` against a simulated clock with K·m slots:
/// each child takes `duration(tokens)` units; an update is applied at once
/// (θ moves by a small SGD step, the version by one).
fn simulate(config: &Config) -> Simulated {
    let space = SearchSpace::from_config(config).expect("space");
    let replicas = BTreeMap::new();
    let cx = BuildContext {
        space: &space,
        records: &[],
        replicas: &replicas,
        slots: config.search.replicas * config.search.children_per_replica,
    };
    let mut proposers = build(config, &cx).proposers;
    let slots = cx.slots;
    let mut weights = Controller::new(&space.heads(), &config.controller, 7).flat_params();
    let mut version = 0u64;
    for (_, p) in proposers.iter_mut() {
        p.set_params(version, &weights).expect("θ");
    }
    let budget = config.experiment.budget as u64;
    let (mut next_id, mut now) = (0u64, 0u64);
    let mut events: BinaryHeap<std::cmp::Reverse<(u64, u64, usize)>> = BinaryHeap::new();
    let mut tokens_of: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut in_flight = vec![0usize; proposers.len()];
    // The θ version each replica holds (from its own last update).
    let mut held = vec![0u64; proposers.len()];
    let mut sim = Simulated {
        idle_with_budget: 0,
        updates: Vec::new(),
        proposed_at: HashMap::new(),
        children: 0,
    };
    let schema = space.schema(0);
    let fill = |k: usize,
                p: &mut Box<dyn Proposer>,
                in_flight: &mut Vec<usize>,
                next_id: &mut u64,
                now: u64,
                version: u64,
                events: &mut BinaryHeap<std::cmp::Reverse<(u64, u64, usize)>>,
                sim: &mut Simulated,
                tokens_of: &mut HashMap<u64, Vec<usize>>| {
        let n = (p.wanted(in_flight[k]) as u64).min(budget - *next_id);
        let ids: Vec<u64> = (*next_id..*next_id + n).collect();
        *next_id += n;
        for (id, prop) in ids
            .iter()
            .zip(p.propose(&ids, &schema, &space).expect("propose"))
        {
            assert_eq!(prop.version, version, "proposed with the replica's θ");
            sim.proposed_at.insert(*id, prop.version);
            events.push(std::cmp::Reverse((now + duration(&prop.tokens), *id, k)));
            tokens_of.insert(*id, prop.tokens);
            in_flight[k] += 1;
        }
    };
    for (k, (_, p)) in proposers.iter_mut().enumerate() {
        fill(
            k,
            p,
            &mut in_flight,
            &mut next_id,
            now,
            held[k],
            &mut events,
            &mut sim,
            &mut tokens_of,
        );
    }
    while let Some(std::cmp::Reverse((t, id, k))) = events.pop() {
        if next_id < budget {
            let busy: usize = in_flight.iter().sum();
            sim.idle_with_budget += (slots - busy) as u64 * (t - now);
        }
        now = t;
        in_flight[k] -= 1;
        sim.children += 1;
        let tokens = tokens_of.remove(&id).expect("proposed");
        let (replica, p) = &mut proposers[k];
        let mut update = p
            .observe(id, &tokens, reward(&tokens), &schema)
            .expect("observe");
        if in_flight[k] == 0 && next_id >= budget && update.is_none() {
            update = p.finish(&schema).expect("finish");
        }
        if let Some(u) = update {
            assert_eq!(u.children.len(), u.versions.len());
            weights
                .iter_mut()
                .zip(&u.grad)
                .for_each(|(w, g)| *w -= 0.01 * g);
            version += 1;
            p.set_params(version, &weights).expect("θ");
            held[k] = version;
            sim.updates.push((*replica, u.children, u.versions));
        }
        fill(
            k,
            p,
            &mut in_flight,
            &mut next_id,
            now,
            held[k],
            &mut events,
            &mut sim,
            &mut tokens_of,
        );
    }
    sim
}

/// Every update has exactly m rewards of its own replica's children (one
/// short one per replica at the end at most), each child once, each with
/// the version it was proposed at.
fn check_updates(sim: &Simulated, m: usize) {
    let mut used = HashSet::new();
    let mut short: HashSet<usize> = HashSet::new();
    for (replica, children, versions) in &sim.updates {
        assert!(!children.is_empty() && children.len() <= m);
        if children.len() < m {
            assert!(short.insert(*replica), "two short updates of one replica");
        } else {
            assert!(!short.contains(replica), "a full update after a short one");
        }
        for (id, v) in children.iter().zip(versions) {
            assert!(used.insert(*id), "child {id} in two updates");
            assert_eq!(sim.proposed_at[id], *v, "child {id}: its sampling version");
        }
    }
    assert_eq!(used.len(), sim.children, "every reward used once");
}

#[test]
fn refill_keeps_every_slot_busy_while_budget_remains_and_batch_mode_does_not() {
    let refill = simulate(&config(Sampling::Refill, 200));
    assert_eq!(refill.children, 200);
    assert_eq!(refill.idle_with_budget, 0, "a slot waited under refill");
    check_updates(&refill, 4);
    let full = refill.updates.iter().filter(|u| u.1.len() == 4).count();
    assert!(full >= 200 / 4 - 2, "{full} full updates");
    // Some updates mix children of several θ versions (each at its own).
    assert!(refill
        .updates
        .iter()
        .any(|u| u.2.iter().collect::<HashSet<_>>().len() > 1));

    let batch = simulate(&config(Sampling::Batch, 200));
    assert_eq!(batch.children, 200);
    check_updates(&batch, 4);
    assert!(
        batch.idle_with_budget > 100,
        "batch mode idled only {} slot-units: children of unequal length must make it wait",
        batch.idle_with_budget
    );
    for (_, _, versions) in &batch.updates {
        assert!(
            versions.iter().all(|v| *v == versions[0]),
            "one θ per batch"
        );
    }
}

/// What the fakes saw.
#[derive(Default)]
struct Seen {
    trained: Vec<(u64, usize, u64)>,
    in_flight: HashMap<usize, usize>,
    max_in_flight: HashMap<usize, usize>,
    pushes: Vec<(usize, Vec<u64>, Vec<u64>)>,
    done: Vec<usize>,
    fatal: Vec<String>,
}

/// A fake parameter store: θ of zeros-plus-steps, versions counted.
struct FakeStore {
    version: u64,
    weights: Arc<Vec<f32>>,
    seen: Arc<Mutex<Seen>>,
}

impl Actor for FakeStore {
    type Context = Context<Self>;
}

impl Handler<PullParams> for FakeStore {
    type Result = Params;
    fn handle(&mut self, _: PullParams, _: &mut Context<Self>) -> Params {
        Params {
            version: self.version,
            weights: self.weights.clone(),
        }
    }
}

impl Handler<PushGradient> for FakeStore {
    type Result = Pushed;
    fn handle(&mut self, msg: PushGradient, _: &mut Context<Self>) -> Pushed {
        let w: Vec<f32> = self
            .weights
            .iter()
            .zip(&msg.grad)
            .map(|(w, g)| w - 0.01 * g)
            .collect();
        self.weights = Arc::new(w);
        self.version += 1;
        if let Ok(mut s) = self.seen.lock() {
            s.pushes
                .push((msg.replica, msg.children.clone(), msg.sampled_versions));
        }
        Pushed {
            params: Params {
                version: self.version,
                weights: self.weights.clone(),
            },
            staleness: 0,
        }
    }
}

/// A fake recorder: each child "trains" for a few milliseconds that depend
/// on its tokens, then its reward goes back; the end stops the system.
struct FakeRecorder {
    seen: Arc<Mutex<Seen>>,
    proposers: usize,
}

impl Actor for FakeRecorder {
    type Context = Context<Self>;
}

impl Handler<TrainChild> for FakeRecorder {
    type Result = ();
    fn handle(&mut self, msg: TrainChild, ctx: &mut Context<Self>) {
        let spec = msg.spec;
        if let Ok(mut s) = self.seen.lock() {
            s.trained.push((spec.id, spec.replica, spec.version));
            let n = s.in_flight.entry(spec.replica).or_default();
            *n += 1;
            let n = *n;
            let max = s.max_in_flight.entry(spec.replica).or_default();
            *max = (*max).max(n);
        }
        let seen = self.seen.clone();
        let wait = Duration::from_millis(duration(&spec.tokens));
        let reward = reward(&spec.tokens);
        ctx.run_later(wait, move |_, _| {
            if let Ok(mut s) = seen.lock() {
                *s.in_flight.entry(spec.replica).or_default() -= 1;
            }
            msg.reply.do_send(ChildResult {
                id: spec.id,
                reward,
                status: ChildStatus::Ok,
                free: false,
            });
        });
    }
}

impl Handler<ReplicaDone> for FakeRecorder {
    type Result = ();
    fn handle(&mut self, msg: ReplicaDone, _: &mut Context<Self>) {
        let all = self.seen.lock().map_or(true, |mut s| {
            s.done.push(msg.replica);
            s.done.len() == self.proposers
        });
        if all {
            System::current().stop();
        }
    }
}

impl Handler<ReplicaLost> for FakeRecorder {
    type Result = ();
    fn handle(&mut self, msg: ReplicaLost, _: &mut Context<Self>) {
        if let Ok(mut s) = self.seen.lock() {
            s.fatal.push(format!("replica {} lost", msg.replica));
        }
        System::current().stop();
    }
}

impl Handler<Fatal> for FakeRecorder {
    type Result = ();
    fn handle(&mut self, msg: Fatal, _: &mut Context<Self>) {
        if let Ok(mut s) = self.seen.lock() {
            s.fatal.push(msg.0.to_string());
        }
        System::current().stop();
    }
}

#[test]
fn the_proposer_actor_drives_refilling_replicas_with_fake_peers() {
    let budget = 60;
    let config = config(Sampling::Refill, budget);
    let space = Arc::new(SearchSpace::from_config(&config).expect("space"));
    let replicas = BTreeMap::new();
    let proposers = build(
        &config,
        &BuildContext {
            space: &space,
            records: &[],
            replicas: &replicas,
            slots: 8,
        },
    )
    .proposers;
    let n = proposers.len();
    assert_eq!(n, 2, "one proposer per replica");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let weights = Controller::new(&space.heads(), &config.controller, 7).flat_params();
    let system = System::new();
    system.block_on(async {
        let store = FakeStore {
            version: 0,
            weights: Arc::new(weights),
            seen: seen.clone(),
        }
        .start();
        let recorder = FakeRecorder {
            seen: seen.clone(),
            proposers: n,
        }
        .start();
        let shared = ProposerShared {
            seed: 7,
            space: space.clone(),
            budget: Arc::new(Budget::with_gaps(Vec::new(), 0, budget)),
            sampled: Arc::new(AtomicUsize::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
            redraws: 0,
            proposed: Arc::default(),
        };
        let peers = ProposerPeers {
            pull: store.clone().recipient(),
            push: store.recipient(),
            train: recorder.clone().recipient(),
            done: recorder.clone().recipient(),
            lost: recorder.clone().recipient(),
            fatal: recorder.recipient(),
        };
        for (replica, p) in proposers {
            ProposerActor::new(replica, p, shared.clone(), peers.clone()).start();
        }
    });
    system.run().expect("the system runs");
    let s = seen.lock().expect("seen");
    assert!(s.fatal.is_empty(), "{:?}", s.fatal);
    let mut done = s.done.clone();
    done.sort_unstable();
    assert_eq!(done, vec![0, 1], "each replica reports its end once");
    let ids: HashSet<u64> = s.trained.iter().map(|t| t.0).collect();
    assert_eq!(ids.len(), budget, "no child twice");
    assert_eq!(ids, (0..budget as u64).collect(), "every id of the budget");
    for r in 0..2 {
        assert_eq!(
            s.max_in_flight.get(&r),
            Some(&4),
            "replica {r}: m in flight"
        );
    }
    let version_of: HashMap<u64, (usize, u64)> =
        s.trained.iter().map(|t| (t.0, (t.1, t.2))).collect();
    let mut used = HashSet::new();
    let mut short = HashSet::new();
    for (replica, children, versions) in &s.pushes {
        if children.len() < 4 {
            assert!(short.insert(*replica), "two short updates of one replica");
        } else {
            assert_eq!(children.len(), 4);
            assert!(!short.contains(replica), "a full update after a short one");
        }
        for (id, v) in children.iter().zip(versions) {
            assert!(used.insert(*id));
            assert_eq!(version_of[id], (*replica, *v), "child {id}");
        }
    }
    assert_eq!(used.len(), budget, "every reward is in an update");
}

#[test]
fn the_paper_configs_run_in_batch_mode_and_everything_else_refills() {
    let dir = crate::common::root().join("configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("configs/") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let c = Config::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let expected = if matches!(name, "ptb" | "cifar10") {
            Sampling::Batch
        } else {
            Sampling::Refill
        };
        assert_eq!(c.search.sampling, expected, "{name}");
        seen += 1;
    }
    assert!(seen >= 7, "only {seen} configs");
}
