//! ProposerActor: drives any [`Proposer`] (REINFORCE replica, random
//! search, evolution, TPE). It owns what every strategy shares: reserving
//! child ids from the budget, decoding and hashing the proposed tokens,
//! the child's [`ChildSpec`], and the lifecycle — pull θ before the first
//! proposal when the strategy samples with θ, keep the children the
//! proposer wants in flight (refilled as each one is recorded), push the
//! updates it returns and take the θ they give back, and report its end.
//! It also applies `search.repeats`: a proposal whose architecture was
//! proposed before is drawn again (`"redraw"`), and a free repeat's place
//! in the budget is handed back (`"free"`; the Recorder decides which
//! repeats are free).
//!
//! Its peers are [`Recipient`]s ([`ProposerPeers`]), so a test drives it
//! with fake ones (`tests/suite/proposer.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix::prelude::*;

use super::end::RunFailure;
use super::messages::{
    ChildResult, Fatal, Params, PullParams, PushGradient, Pushed, ReplicaDone, ReplicaLost,
    TrainChild,
};
use crate::child::ChildSpec;
use crate::search::{Proposer, SearchError, Update};
use crate::space::{SearchSpace, SpaceError};

/// Why a proposer actor cannot go on (the run ends with it, naming the replica).
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    /// The strategy failed to propose, observe, redraw, finish or take θ.
    #[error("{}", error_chain(.0))]
    Strategy(#[from] SearchError),
    /// The strategy proposed tokens that are not an architecture of the space (a bug).
    #[error("proposed tokens do not decode: {0}")]
    Decode(#[source] SpaceError),
    /// A proposed architecture could not be hashed.
    #[error("{0}")]
    Hash(#[source] SpaceError),
    /// The parameter store did not answer a pull or a push.
    #[error("parameter store unreachable: {0}")]
    StoreUnreachable(#[source] MailboxError),
}

/// The children budget, shared by the proposers: ids are handed out once.
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

    /// A recorded child spent no budget (a free repeat): one more child is left.
    pub fn refund(&self) {
        let mut state = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        state.1 += 1;
    }
}

/// What all proposers of a run share.
#[derive(Clone)]
pub struct ProposerShared {
    /// `experiment.seed` (a child's training seed derives from it).
    pub seed: u64,
    pub space: Arc<SearchSpace>,
    pub budget: Arc<Budget>,
    /// Architectures sampled so far (the CNN growth schedule).
    pub sampled: Arc<AtomicUsize>,
    /// Set on Ctrl-C or a fatal error: propose nothing more.
    pub stop: Arc<AtomicBool>,
    /// A proposal whose architecture was proposed before is drawn again up
    /// to this many times (`search.repeats = "redraw"`; 0: never).
    pub redraws: usize,
    /// The hashes of the architectures proposed so far in the run (only
    /// kept when `redraws > 0`).
    pub proposed: Arc<Mutex<HashSet<String>>>,
}

/// Where a proposer's messages go: the parameter store and the recorder (or fakes).
#[derive(Clone)]
pub struct ProposerPeers {
    pub pull: Recipient<PullParams>,
    pub push: Recipient<PushGradient>,
    pub train: Recipient<TrainChild>,
    pub done: Recipient<ReplicaDone>,
    pub lost: Recipient<ReplicaLost>,
    pub fatal: Recipient<Fatal>,
}

/// The actor around one proposer (known to the log as replica `replica`).
pub struct ProposerActor {
    replica: usize,
    proposer: Box<dyn Proposer>,
    shared: ProposerShared,
    peers: ProposerPeers,
    /// Children out, by id: their tokens.
    in_flight: HashMap<u64, Vec<usize>>,
    /// The budget gave fewer ids than asked: nothing more to propose.
    exhausted: bool,
    /// An update is on its way to the store (nothing is proposed meanwhile).
    pushing: bool,
    /// The actor's own address, held until it reports its end. actix stops
    /// an actor whose mailbox has no sender left, even while a message sent
    /// by the last sender is still queued: without this, a proposer whose
    /// only addresses are the reply handles of its last children could stop
    /// between two results and lose the last ones (and the run its end).
    me: Option<Addr<ProposerActor>>,
    /// Whether `ReplicaDone` or `Fatal` was sent.
    reported: bool,
}

impl ProposerActor {
    /// The actor of `proposer`, replica `replica` of the run.
    pub fn new(
        replica: usize,
        proposer: Box<dyn Proposer>,
        shared: ProposerShared,
        peers: ProposerPeers,
    ) -> ProposerActor {
        ProposerActor {
            replica,
            proposer,
            shared,
            peers,
            in_flight: HashMap::new(),
            exhausted: false,
            pushing: false,
            me: None,
            reported: false,
        }
    }

    fn fatal(&mut self, error: impl Into<ProposeError>, ctx: &mut Context<Self>) {
        self.peers.fatal.do_send(Fatal(RunFailure::Replica {
            replica: self.replica,
            source: error.into(),
        }));
        self.stop_reported(ctx);
    }

    fn stop_reported(&mut self, ctx: &mut Context<Self>) {
        self.reported = true;
        self.me = None;
        ctx.stop();
    }

    /// Propose what the proposer wants in flight; report the end once the
    /// budget is spent (after the last partial update) or the run stops.
    fn fill(&mut self, ctx: &mut Context<Self>) {
        if self.reported || self.pushing {
            return;
        }
        let stopping = self.shared.stop.load(Ordering::SeqCst);
        if stopping {
            self.peers.done.do_send(ReplicaDone {
                replica: self.replica,
            });
            return self.stop_reported(ctx);
        }
        if let Err(e) = self.refill(ctx) {
            return self.fatal(e, ctx);
        }
        if self.exhausted && self.in_flight.is_empty() {
            let schema = self.schema_now();
            match self.proposer.finish(&schema) {
                Ok(Some(update)) => self.push(update, ctx),
                Ok(None) => {
                    self.peers.done.do_send(ReplicaDone {
                        replica: self.replica,
                    });
                    self.stop_reported(ctx);
                }
                Err(e) => self.fatal(e, ctx),
            }
        }
    }

    /// Propose what the proposer wants in flight now, while budget remains.
    fn refill(&mut self, ctx: &mut Context<Self>) -> Result<(), ProposeError> {
        if self.exhausted {
            return Ok(());
        }
        let n = self.proposer.wanted(self.in_flight.len());
        if n == 0 {
            return Ok(());
        }
        let ids = self.shared.budget.reserve(n);
        self.exhausted = ids.len() < n;
        if ids.is_empty() {
            return Ok(());
        }
        self.dispatch(&ids, ctx)
    }

    /// The schema a new architecture has now.
    fn schema_now(&self) -> crate::space::Schema {
        self.shared
            .space
            .schema(self.shared.sampled.load(Ordering::SeqCst))
    }

    /// Propose children `ids` and send them to be trained.
    fn dispatch(&mut self, ids: &[u64], ctx: &mut Context<Self>) -> Result<(), ProposeError> {
        let sampled = self.shared.sampled.fetch_add(ids.len(), Ordering::SeqCst);
        let space = &self.shared.space;
        let schema = space.schema(sampled);
        let proposals = self.proposer.propose(ids, &schema, space)?;
        let reply = ctx.address().recipient::<ChildResult>();
        for (id, p) in ids.iter().zip(proposals) {
            let (p, arch, hash) = self.redraw_repeats(*id, p)?;
            self.in_flight.insert(*id, p.tokens.clone());
            self.peers.train.do_send(TrainChild {
                spec: ChildSpec::new(
                    self.shared.seed,
                    *id,
                    self.replica,
                    p.version,
                    p.tokens,
                    arch,
                    hash,
                ),
                reply: reply.clone(),
            });
        }
        Ok(())
    }

    /// The proposal for child `id`, decoded and hashed; under
    /// `search.repeats = "redraw"`, drawn again (up to `redraws` times) while
    /// its architecture was proposed before in the run.
    fn redraw_repeats(
        &mut self,
        id: u64,
        mut p: crate::search::Proposal,
    ) -> Result<(crate::search::Proposal, crate::space::Architecture, String), ProposeError> {
        let space = self.shared.space.clone();
        let mut redrawn = 0;
        loop {
            let arch = space.decode(&p.tokens).map_err(ProposeError::Decode)?;
            let hash = arch.hash().map_err(ProposeError::Hash)?;
            if self.shared.redraws == 0 {
                return Ok((p, arch, hash));
            }
            let mut proposed = match self.shared.proposed.lock() {
                Ok(g) => g,
                Err(e) => e.into_inner(),
            };
            if redrawn >= self.shared.redraws || proposed.insert(hash.clone()) {
                return Ok((p, arch, hash));
            }
            drop(proposed);
            redrawn += 1;
            let schema = self.schema_now();
            p = self.proposer.redraw(id, redrawn, &schema, &space)?;
        }
    }

    /// Send an update to the store; nothing else is handled until θ comes
    /// back (the actor's mailbox waits, the thread does not block).
    fn push(&mut self, u: Update, ctx: &mut Context<Self>) {
        self.pushing = true;
        let push = PushGradient {
            replica: self.replica,
            sampled_version: u.versions.iter().copied().min().unwrap_or(0),
            sampled_versions: u.versions,
            grad: u.grad,
            children: u.children,
            rewards: u.rewards,
            loss: u.loss,
            grad_norm: u.grad_norm,
            state: u.state,
        };
        ctx.wait(self.peers.push.send(push).into_actor(self).map(
            |res: Result<Pushed, MailboxError>, act, ctx| {
                act.pushing = false;
                match res {
                    Ok(p) => act.take_params(p.params, ctx),
                    Err(e) => act.fatal(ProposeError::StoreUnreachable(e), ctx),
                }
            },
        ));
    }

    /// θ arrived (pulled, or after a push): hand it over and go on proposing.
    fn take_params(&mut self, p: Params, ctx: &mut Context<Self>) {
        if let Err(e) = self.proposer.set_params(p.version, &p.weights) {
            return self.fatal(e, ctx);
        }
        self.fill(ctx);
    }
}

/// An error and its causes on one line (a strategy's errors say little
/// without their causes).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

impl Actor for ProposerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.me = Some(ctx.address());
        if !self.proposer.needs_params() {
            return self.fill(ctx);
        }
        ctx.wait(self.peers.pull.send(PullParams).into_actor(self).map(
            |res, act, ctx| match res {
                Ok(p) => act.take_params(p, ctx),
                Err(e) => act.fatal(ProposeError::StoreUnreachable(e), ctx),
            },
        ));
    }

    /// A proposer that stops without having reported says so, so the run's
    /// end never waits for it.
    fn stopped(&mut self, _: &mut Context<Self>) {
        if !self.reported {
            self.peers.lost.do_send(ReplicaLost {
                replica: self.replica,
            });
        }
    }
}

impl Handler<ChildResult> for ProposerActor {
    type Result = ();
    /// One of this proposer's children is recorded: observe it, push the
    /// update it completes, and refill.
    fn handle(&mut self, msg: ChildResult, ctx: &mut Context<Self>) {
        let Some(tokens) = self.in_flight.remove(&msg.id) else {
            return;
        };
        if msg.free {
            self.shared.budget.refund();
            self.exhausted = false;
        }
        let schema = self.schema_now();
        match self.proposer.observe(msg.id, &tokens, msg.reward, &schema) {
            // The freed slot gets its replacement (sampled with the θ this
            // replica has) before the update goes to the store, so it does
            // not wait for the round trip; batch mode wants none here.
            Ok(Some(update)) => match self.refill(ctx) {
                Ok(()) => self.push(update, ctx),
                Err(e) => self.fatal(e, ctx),
            },
            Ok(None) => self.fill(ctx),
            Err(e) => self.fatal(e, ctx),
        }
    }
}
