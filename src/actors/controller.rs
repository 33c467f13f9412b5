//! Controller replica: one of the K replicas of the paper's distributed
//! search. Each round it pulls θ from the ParamStore, samples m
//! architectures, sends m `TrainChild` jobs, waits until exactly its m
//! results have arrived, computes the REINFORCE gradient against the θ
//! version it sampled with, pushes it, and samples the next batch with the
//! θ the push returns — one uninterrupted step on its arbiter. It keeps its own
//! moving-average baseline and sampling RNG.
//!
//! With `search.strategy = "random"` it samples uniformly and pushes no
//! gradient (the random-search baseline).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix::prelude::*;

use super::messages::{
    ChildResult, Fatal, Params, PullParams, PushGradient, ReplicaCheckpoint, ReplicaDone,
    ReplicaLost, ReplicaState, TrainChild,
};
use super::param_store::ParamStore;
use super::recorder::Recorder;
use crate::child::ChildSpec;
use crate::config::Config;
use crate::controller::{clip_global_norm, Controller, Tape};
use crate::space::{sample_uniform, SearchSpace};

/// The children budget, shared by the replicas: ids are handed out once.
///
/// A resumed run first hands out the ids that the stopped run had reserved
/// but not recorded (children in flight when it was killed or stopped), so
/// that a finished run's ids are exactly `0..budget`.
#[derive(Debug)]
pub struct Budget {
    next_id: AtomicU64,
    /// Unused ids below `next_id`, ascending, and how many children are left.
    state: Mutex<(std::collections::VecDeque<u64>, usize)>,
}

impl Budget {
    /// `remaining` children left: first the ids in `gaps` (ascending), then from `next_id` on.
    pub fn with_gaps(gaps: Vec<u64>, next_id: u64, remaining: usize) -> Budget {
        Budget {
            next_id: AtomicU64::new(next_id),
            state: Mutex::new((gaps.into(), remaining)),
        }
    }

    /// Reserve up to `n` child ids (fewer at the end of the budget, none when spent).
    pub fn reserve(&self, n: usize) -> Vec<u64> {
        let mut state = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let (gaps, rem) = &mut *state;
        let k = n.min(*rem);
        *rem -= k;
        let mut ids: Vec<u64> = Vec::with_capacity(k);
        while ids.len() < k {
            match gaps.pop_front() {
                Some(id) => ids.push(id),
                None => break,
            }
        }
        let fresh = (k - ids.len()) as u64;
        let first = self.next_id.fetch_add(fresh, Ordering::SeqCst);
        ids.extend(first..first + fresh);
        ids
    }
}

/// What all replicas share.
#[derive(Clone)]
pub struct ReplicaShared {
    pub config: Arc<Config>,
    pub space: Arc<SearchSpace>,
    pub budget: Arc<Budget>,
    /// Architectures sampled so far (the CNN growth schedule).
    pub sampled: Arc<AtomicUsize>,
    /// Set on Ctrl-C or a fatal error: dispatch nothing more.
    pub stop: Arc<AtomicBool>,
    pub store: Addr<ParamStore>,
    pub recorder: Addr<Recorder>,
}

/// A batch in flight: m children sampled with θ at `version`.
struct Batch {
    version: u64,
    ids: Vec<u64>,
    /// What sampling computed, for the gradient (REINFORCE only).
    tape: Option<Tape>,
    /// The sampled tokens (for the replay of the best).
    tokens: Vec<Vec<usize>>,
    rewards: Vec<Option<f64>>,
}

/// One controller replica.
pub struct Replica {
    id: usize,
    shared: ReplicaShared,
    controller: Option<Controller>,
    state: ReplicaState,
    batch: Option<Batch>,
    /// The replica's own address, held until it reports its end. actix stops
    /// an actor whose mailbox has no sender left, even while a message sent
    /// by the last sender is still queued: without this, a replica whose
    /// only addresses are the reply handles of its last children could stop
    /// between two results and lose the last ones (and the run its end).
    me: Option<Addr<Replica>>,
    /// Whether `ReplicaDone` or `Fatal` was sent.
    reported: bool,
}

impl Replica {
    /// A replica with its restored (or fresh) state; `controller` is None for random search.
    pub fn new(
        id: usize,
        shared: ReplicaShared,
        controller: Option<Controller>,
        state: ReplicaState,
    ) -> Replica {
        Replica {
            id,
            shared,
            controller,
            state,
            batch: None,
            me: None,
            reported: false,
        }
    }

    fn fatal(&mut self, message: String, ctx: &mut Context<Self>) {
        self.shared.recorder.do_send(Fatal(message));
        self.stop_reported(ctx);
    }

    fn finish(&mut self, ctx: &mut Context<Self>) {
        self.shared
            .recorder
            .do_send(ReplicaDone { replica: self.id });
        self.stop_reported(ctx);
    }

    fn stop_reported(&mut self, ctx: &mut Context<Self>) {
        self.reported = true;
        self.me = None;
        ctx.stop();
    }

    /// Sample and dispatch a batch with θ at `params.version`.
    fn dispatch(&mut self, params: Params, ctx: &mut Context<Self>) {
        if self.shared.stop.load(Ordering::SeqCst) {
            return self.finish(ctx);
        }
        let m = self.shared.config.search.children_per_replica;
        let ids = self.shared.budget.reserve(m);
        if ids.is_empty() {
            return self.finish(ctx);
        }
        let sampled = self.shared.sampled.fetch_add(ids.len(), Ordering::SeqCst);
        let schema = self.shared.space.schema(sampled);
        let (tokens, tape): (Vec<Vec<usize>>, Option<Tape>) = match &mut self.controller {
            Some(c) => {
                let sampled = c
                    .set_flat_params(&params.weights)
                    .and_then(|()| c.sample_taped(&schema, ids.len(), &mut self.state.rng));
                match sampled {
                    Ok((s, tape)) => (s.into_iter().map(|s| s.tokens).collect(), Some(tape)),
                    Err(e) => return self.fatal(format!("replica {}: {e}", self.id), ctx),
                }
            }
            None => (
                (0..ids.len())
                    .map(|_| sample_uniform(&schema, &mut self.state.rng))
                    .collect(),
                None,
            ),
        };
        let reply = ctx.address().recipient::<ChildResult>();
        for (id, t) in ids.iter().zip(&tokens) {
            let arch = match self.shared.space.decode(t) {
                Ok(a) => a,
                Err(e) => {
                    return self.fatal(
                        format!("replica {}: sampled tokens do not decode: {e}", self.id),
                        ctx,
                    )
                }
            };
            let hash = match arch.hash() {
                Ok(h) => h,
                Err(e) => return self.fatal(format!("replica {}: {e}", self.id), ctx),
            };
            self.shared.recorder.do_send(TrainChild {
                spec: ChildSpec::new(
                    self.shared.config.experiment.seed,
                    *id,
                    self.id,
                    params.version,
                    t.clone(),
                    arch,
                    hash,
                ),
                reply: reply.clone(),
            });
        }
        self.batch = Some(Batch {
            version: params.version,
            rewards: vec![None; ids.len()],
            ids,
            tape,
            tokens,
        });
    }

    /// All m rewards are in: update (or, for random search, just checkpoint) and start over.
    fn complete(&mut self, batch: Batch, ctx: &mut Context<Self>) {
        let rewards: Vec<f64> = batch.rewards.iter().map(|r| r.unwrap_or(0.0)).collect();
        let (Some(controller), Some(tape)) = (&self.controller, &batch.tape) else {
            self.state.updates += 1;
            self.shared.store.do_send(ReplicaCheckpoint {
                replica: self.id,
                state: self.state.clone(),
            });
            ctx.notify(Round);
            return;
        };
        let advantages = self.state.baseline.advantages(&rewards);
        // One backward pass over what sampling computed, against the θ it sampled with.
        let (mut grad, mut loss) = match controller.reinforce_gradient_taped(tape, &advantages) {
            Ok(g) => g,
            Err(e) => return self.fatal(format!("replica {}: {e}", self.id), ctx),
        };
        let cfg = &self.shared.config.controller;
        if cfg.replay_top > 0 {
            keep_best(
                &mut self.state.best,
                &batch.tokens,
                &rewards,
                cfg.replay_top,
            );
            // The schema at this point of the run: under a CNN growth
            // schedule an architecture of the list may be shorter than what
            // the controller now samples; such ones are left out.
            let schema = self
                .shared
                .space
                .schema(self.shared.sampled.load(Ordering::SeqCst));
            let best: Vec<Vec<usize>> = self
                .state
                .best
                .iter()
                .filter(|(t, _)| schema.check(t).is_ok())
                .map(|(t, _)| t.clone())
                .collect();
            if !best.is_empty() {
                match controller.imitation_gradient(&schema, &best, cfg.replay_weight) {
                    Ok((g, l)) => {
                        grad.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
                        loss += l;
                    }
                    Err(e) => return self.fatal(format!("replica {}: {e}", self.id), ctx),
                }
            }
        }
        let grad_norm = match cfg.grad_clip {
            Some(max) => clip_global_norm(&mut grad, max),
            None => grad
                .iter()
                .map(|g| f64::from(*g).powi(2))
                .sum::<f64>()
                .sqrt(),
        };
        self.state.updates += 1;
        let push = PushGradient {
            replica: self.id,
            sampled_version: batch.version,
            grad,
            children: batch.ids,
            rewards,
            loss,
            grad_norm,
            state: self.state.clone(),
        };
        // The round runs to its end on this thread: waiting here for the
        // store (microseconds, on its own arbiter) keeps the other replicas
        // of this arbiter from slipping their work in between, which would
        // delay every replica of a burst until the whole burst is done.
        match futures_executor::block_on(self.shared.store.send(push)) {
            Ok(pushed) => self.dispatch(pushed.params, ctx),
            Err(e) => self.fatal(format!("parameter store unreachable: {e}"), ctx),
        }
    }
}

impl Actor for Replica {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.me = Some(ctx.address());
        ctx.notify(Round);
    }

    /// A replica that stops without having reported says so, so the run's
    /// end never waits for it.
    fn stopped(&mut self, _: &mut Context<Self>) {
        if !self.reported {
            self.shared
                .recorder
                .do_send(ReplicaLost { replica: self.id });
        }
    }
}

/// Replica → itself: start a round (pull, sample, dispatch).
#[derive(Message)]
#[rtype(result = "()")]
struct Round;

impl Handler<Round> for Replica {
    type Result = ();
    /// Start a round: pull θ, then sample and dispatch (or finish when stopped).
    fn handle(&mut self, _: Round, ctx: &mut Context<Self>) {
        if self.shared.stop.load(Ordering::SeqCst) {
            return self.finish(ctx);
        }
        ctx.spawn(self.shared.store.send(PullParams).into_actor(self).map(
            |res, act, ctx| match res {
                Ok(p) => act.dispatch(p, ctx),
                Err(e) => act.fatal(format!("parameter store unreachable: {e}"), ctx),
            },
        ));
    }
}

impl Handler<ChildResult> for Replica {
    type Result = ();
    /// One of this replica's children is recorded; when all m are in, update.
    fn handle(&mut self, msg: ChildResult, ctx: &mut Context<Self>) {
        let Some(batch) = self.batch.as_mut() else {
            return;
        };
        if let Some(i) = batch.ids.iter().position(|&id| id == msg.id) {
            batch.rewards[i] = Some(msg.reward);
        }
        if batch.rewards.iter().all(Option::is_some) {
            if let Some(b) = self.batch.take() {
                self.complete(b, ctx);
            }
        }
    }
}

/// Merge a batch into the list of the best (tokens, reward), best first, at
/// most `k`, each token sequence once (with its highest reward). Ties keep
/// the earlier entry first, so the list is deterministic.
fn keep_best(best: &mut Vec<(Vec<usize>, f64)>, tokens: &[Vec<usize>], rewards: &[f64], k: usize) {
    for (t, &r) in tokens.iter().zip(rewards) {
        if !r.is_finite() {
            continue;
        }
        match best.iter_mut().find(|(b, _)| b == t) {
            Some(entry) => entry.1 = entry.1.max(r),
            None => best.push((t.clone(), r)),
        }
    }
    best.sort_by(|a, b| b.1.total_cmp(&a.1));
    best.truncate(k);
}

#[cfg(test)]
mod tests {
    use super::keep_best;

    #[test]
    fn keep_best_keeps_the_k_highest_once_each() {
        let mut best = vec![(vec![0, 1], 0.5)];
        let tokens = vec![vec![1, 1], vec![0, 1], vec![2, 2], vec![3, 3]];
        keep_best(&mut best, &tokens, &[0.9, 0.7, f64::NAN, 0.1], 2);
        assert_eq!(best, vec![(vec![1, 1], 0.9), (vec![0, 1], 0.7)]);
        keep_best(&mut best, &[vec![4, 4]], &[0.8], 2);
        assert_eq!(best, vec![(vec![1, 1], 0.9), (vec![4, 4], 0.8)]);
    }
}
