//! Evolver: the proposer of `search.strategy = "evolution"` (regularized
//! evolution, [`crate::search::evolution`]), in the place of the controller
//! replicas. It keeps one child in flight per trainer slot: each time a
//! child is recorded it joins the population, and the next child — a
//! tournament winner mutated, or a uniform draw while the population fills —
//! goes out at once (asynchronous, as in Real et al.).
//!
//! Its state is the log: the population is the last P recorded children, so
//! a resumed run rebuilds it from `children.jsonl`; the draws that propose
//! child `id` come from an RNG seeded by the experiment seed and `id`
//! ([`crate::seed::evolution`]). With one slot, children are proposed one at
//! a time, and the same seed gives the same children.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use actix::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::controller::ReplicaShared;
use super::messages::{ChildResult, Fatal, ReplicaDone, ReplicaLost, TrainChild};
use crate::child::ChildSpec;
use crate::search::{Evolution, Member};
use crate::store::ChildRecord;

/// The evolution proposer (reported to the Recorder as replica 0).
pub struct Evolver {
    shared: ReplicaShared,
    evolution: Evolution,
    /// Children out, by id: their tokens (they join the population once recorded).
    in_flight: HashMap<u64, Vec<usize>>,
    /// Children kept in flight: one per trainer slot.
    width: usize,
    /// See [`super::controller::Replica`]: held until the end is reported.
    me: Option<Addr<Evolver>>,
    reported: bool,
}

impl Evolver {
    /// An evolver over `records` (a resumed run's log, in record order) that
    /// keeps `width` children in flight.
    pub fn new(shared: ReplicaShared, records: &[ChildRecord], width: usize) -> Evolver {
        let cfg = &shared.config.search.evolution;
        let evolution = Evolution::with_members(
            cfg,
            records.iter().map(|r| Member {
                id: r.spec.id,
                tokens: r.spec.tokens.clone(),
                reward: r.reward,
            }),
        );
        Evolver {
            shared,
            evolution,
            in_flight: HashMap::new(),
            width: width.max(1),
            me: None,
            reported: false,
        }
    }

    fn stop_reported(&mut self, ctx: &mut Context<Self>) {
        self.reported = true;
        self.me = None;
        ctx.stop();
    }

    fn fatal(&mut self, message: String, ctx: &mut Context<Self>) {
        self.shared.recorder.do_send(Fatal(message));
        self.stop_reported(ctx);
    }

    /// Send children until `width` are in flight; report the end once the
    /// budget is spent (or the run stops) and none is left in flight.
    fn fill(&mut self, ctx: &mut Context<Self>) {
        if self.reported {
            return;
        }
        let stopping = self.shared.stop.load(Ordering::SeqCst);
        while !stopping && self.in_flight.len() < self.width {
            let Some(id) = self.shared.budget.reserve(1).first().copied() else {
                break;
            };
            if let Err(e) = self.propose(id, ctx) {
                return self.fatal(format!("evolution: {e}"), ctx);
            }
        }
        if stopping || self.in_flight.is_empty() {
            self.shared.recorder.do_send(ReplicaDone { replica: 0 });
            self.stop_reported(ctx);
        }
    }

    /// Propose child `id` and send it out.
    fn propose(&mut self, id: u64, ctx: &mut Context<Self>) -> Result<(), String> {
        let sampled = self.shared.sampled.fetch_add(1, Ordering::SeqCst);
        let space = &self.shared.space;
        let fresh = space.schema(sampled);
        let mut rng = ChaCha8Rng::seed_from_u64(crate::seed::evolution(
            self.shared.config.experiment.seed,
            id,
        ));
        let proposal =
            self.evolution
                .propose(&fresh, |t| space.schema_for_len(t.len()).ok(), &mut rng);
        let arch = space
            .decode(&proposal.tokens)
            .map_err(|e| format!("proposed tokens do not decode: {e}"))?;
        let hash = arch.hash().map_err(|e| e.to_string())?;
        self.in_flight.insert(id, proposal.tokens.clone());
        self.shared.recorder.do_send(TrainChild {
            spec: ChildSpec::new(
                self.shared.config.experiment.seed,
                id,
                0,
                0,
                proposal.tokens,
                arch,
                hash,
            ),
            reply: ctx.address().recipient(),
        });
        Ok(())
    }
}

impl Actor for Evolver {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.me = Some(ctx.address());
        self.fill(ctx);
    }

    /// An evolver that stops without having reported says so (see the Replica).
    fn stopped(&mut self, _: &mut Context<Self>) {
        if !self.reported {
            self.shared.recorder.do_send(ReplicaLost { replica: 0 });
        }
    }
}

impl Handler<ChildResult> for Evolver {
    type Result = ();
    /// A child is recorded: it joins the population, and the next one goes out.
    fn handle(&mut self, msg: ChildResult, ctx: &mut Context<Self>) {
        if let Some(tokens) = self.in_flight.remove(&msg.id) {
            self.evolution.add(Member {
                id: msg.id,
                tokens,
                reward: msg.reward,
            });
        }
        self.fill(ctx);
    }
}
