//! One shared-weights search in progress: the ω and controller phases of
//! each round, the children scored and recorded, the checkpoints, and the
//! final candidates written to `best.json` (see the module above).

use std::collections::BTreeMap;
use std::time::Instant;

use rand_chacha::ChaCha8Rng;

use super::checkpoint::{self, Counters, SharedCheckpoint};
use super::progress::{Pace, Progress};
use crate::actors::recorder::Summary;
use crate::actors::{RunError, RunOptions};
use crate::child::supernet::{Omega, Scored};
use crate::child::{ChildError, ChildSpec, ChildStatus, EpochMetrics};
use crate::config::{Config, Strategy};
use crate::controller::Reinforce;
use crate::search::Compute;
use crate::space::{sample_uniform, Architecture, Schema, SearchSpace};
use crate::store::UpdateRecord;
use crate::store::{top_records, ChildRecord, JsonlAppender, RunDir, StoreError};

/// How a run stops before its end.
pub(super) enum Stop {
    Interrupted,
    Error(RunError),
}

impl From<RunError> for Stop {
    fn from(e: RunError) -> Stop {
        Stop::Error(e)
    }
}

fn write_error(what: &'static str) -> impl Fn(StoreError) -> Stop {
    move |source| Stop::Error(RunError::Write { what, source })
}

fn torch(e: ChildError) -> Stop {
    Stop::Error(RunError::Runtime(format!("the supernet: {e}")))
}

/// Everything one shared-weights search holds.
pub(super) struct Search<'a> {
    pub(super) config: &'a Config,
    pub(super) space: &'a SearchSpace,
    pub(super) schema: Schema,
    pub(super) net: Omega,
    pub(super) learner: Reinforce,
    pub(super) rng: ChaCha8Rng,
    pub(super) c: Counters,
    pub(super) run_dir: RunDir,
    pub(super) updates_log: JsonlAppender,
    /// Children a killed run recorded after its last checkpoint, by id:
    /// taken from the log when the resumed run reaches them.
    pub(super) pending: BTreeMap<u64, ChildRecord>,
    /// Every child recorded, in order.
    pub(super) records: Vec<ChildRecord>,
    pub(super) slot: String,
    pub(super) progress: Progress,
    pub(super) pace: Pace,
    pub(super) options: &'a RunOptions,
    pub(super) recorded_here: usize,
    /// Sum and count of ω losses since the last checkpoint.
    pub(super) loss_window: (f64, u64),
}

impl Search<'_> {
    fn per_round(&self) -> u64 {
        let m = self.config.search.children_per_replica.max(1) as u64;
        (self.config.search.shared.controller_samples as u64).div_ceil(m) * m
    }

    fn check_stop(&self) -> Result<(), Stop> {
        let asked = self
            .options
            .interrupter
            .as_ref()
            .is_some_and(|i| i.requested());
        let enough = self
            .options
            .stop_after
            .is_some_and(|n| self.recorded_here >= n);
        if asked || enough {
            return Err(Stop::Interrupted);
        }
        Ok(())
    }

    /// Architectures for `n` children (or ω steps): from the controller, or uniform.
    fn sample(&mut self, n: usize) -> Result<Vec<Vec<usize>>, Stop> {
        match self.config.search.strategy {
            Strategy::Random => Ok((0..n)
                .map(|_| sample_uniform(&self.schema, &mut self.rng))
                .collect()),
            _ => Ok(self
                .learner
                .controller
                .try_sample(&self.schema, n, &mut self.rng)
                .map_err(|e| Stop::Error(RunError::Runtime(format!("the controller: {e}"))))?
                .into_iter()
                .map(|s| s.tokens)
                .collect()),
        }
    }

    pub(super) fn search(&mut self) -> Result<(), Stop> {
        let budget = self.config.experiment.budget as u64;
        let shared = &self.config.search.shared;
        let omega_steps = shared.omega_steps as u64;
        while self.c.children < budget {
            while self.c.omega_in_round < omega_steps {
                self.check_stop()?;
                self.omega_step()?;
                if self
                    .c
                    .omega_in_round
                    .is_multiple_of(shared.checkpoint_every as u64)
                    || self.c.omega_in_round == omega_steps
                {
                    self.checkpoint(true)?;
                }
            }
            let round_end = ((self.c.round + 1) * self.per_round()).min(budget);
            while self.c.children < round_end {
                self.check_stop()?;
                self.controller_step(round_end)?;
            }
            self.c.round += 1;
            self.c.omega_in_round = 0;
            self.checkpoint(false)?;
        }
        self.finish()
    }

    fn omega_step(&mut self) -> Result<(), Stop> {
        let t = Instant::now();
        let tokens = self.sample(1)?.remove(0);
        let arch = decode(self.space, &tokens)?;
        let (epoch, batch) = self.net.position();
        let loss = self.net.train_step(&arch).map_err(torch)?;
        self.c.omega_steps += 1;
        self.c.omega_in_round += 1;
        self.loss_window.0 += loss;
        self.loss_window.1 += 1;
        self.pace.omega.0 += t.elapsed().as_secs_f64();
        self.pace.omega.1 += 1;
        let omega_steps = self.config.search.shared.omega_steps as u64;
        self.progress.omega(
            self.c.round + 1,
            (epoch, batch, self.net.train_batches()),
            loss,
            (self.c.omega_in_round, omega_steps),
        );
        self.show_children();
        Ok(())
    }

    /// One update's worth of children (m, fewer at `round_end`): sample, score
    /// (or take from the log), record, update θ, checkpoint.
    fn controller_step(&mut self, round_end: u64) -> Result<(), Stop> {
        let m = self.config.search.children_per_replica.max(1) as u64;
        let n = m.min(round_end - self.c.children) as usize;
        let sampled = self.sample(n)?;
        let mut batch = Vec::with_capacity(n);
        let mut fresh = Vec::new();
        for tokens in sampled {
            let id = self.c.children + batch.len() as u64;
            let record = match self.pending.remove(&id) {
                Some(r) => r,
                None => {
                    let r = self.score_child(id, tokens)?;
                    fresh.push(r.clone());
                    r
                }
            };
            self.c.valid_cursor += self.config.search.shared.reward_batches as u64;
            batch.push(record);
        }
        self.run_dir
            .append_children(&fresh)
            .map_err(write_error("the child log"))?;
        self.recorded_here += fresh.len();
        if self.config.search.strategy != Strategy::Random {
            let tokens: Vec<Vec<usize>> = batch.iter().map(|r| r.spec.tokens.clone()).collect();
            let rewards: Vec<f64> = batch.iter().map(|r| r.reward).collect();
            let stats = self
                .learner
                .update(&self.schema, &tokens, &rewards)
                .map_err(|e| {
                    Stop::Error(RunError::Runtime(format!("the controller update: {e}")))
                })?;
            self.c.updates += 1;
            let update = UpdateRecord {
                version: self.c.updates,
                replica: 0,
                sampled_version: self.c.updates - 1,
                staleness: 0,
                sampled_versions: vec![self.c.updates - 1; batch.len()],
                staleness_mean: 0.0,
                children: batch.iter().map(|r| r.spec.id).collect(),
                rewards,
                baseline: stats.baseline,
                loss: stats.loss,
                grad_norm: stats.grad_norm,
            };
            self.updates_log
                .append(&update)
                .map_err(write_error("the controller update log"))?;
        }
        self.c.children += batch.len() as u64;
        self.records.extend(batch);
        self.run_dir
            .write_best(&self.records, 10)
            .map_err(write_error("best.json"))?;
        self.checkpoint(false)?;
        self.show_children();
        Ok(())
    }

    fn score_child(&mut self, id: u64, tokens: Vec<usize>) -> Result<ChildRecord, Stop> {
        let config = self.config;
        let t = Instant::now();
        let started = crate::store::unix_now();
        let arch = decode(self.space, &tokens)?;
        let hash = arch
            .hash()
            .map_err(|e| Stop::Error(RunError::Runtime(format!("cannot hash a child: {e}"))))?;
        let batches = config.search.shared.reward_batches;
        let scored = self.net.score(&arch, self.c.valid_cursor, batches);
        let seconds = t.elapsed().as_secs_f64();
        self.pace.child.0 += seconds;
        self.pace.child.1 += 1;
        let params = self.net.param_count(&arch);
        let (status, reward, metric, epochs, message) = match scored {
            Ok(s) if s.loss.is_finite() => {
                let epoch = self.epoch_of(s, seconds);
                let reward = self.net.metric().reward(s.metric, &config.reward);
                (ChildStatus::Ok, reward, Some(s.metric), vec![epoch], None)
            }
            Ok(s) => (
                ChildStatus::Diverged,
                config.reward.failure,
                None,
                Vec::new(),
                Some(format!("the validation loss under ω is {}", s.loss)),
            ),
            Err(e) => (
                ChildStatus::Failed,
                config.reward.failure,
                None,
                Vec::new(),
                Some(e.to_string()),
            ),
        };
        let spec = ChildSpec::new(
            config.experiment.seed,
            id,
            0,
            self.c.updates,
            tokens,
            arch.clone(),
            hash,
        );
        Ok(ChildRecord {
            spec,
            status,
            reward,
            metric,
            epochs,
            params,
            device: self.slot.clone(),
            started,
            seconds,
            message,
            placement: None,
        })
    }

    /// The one "epoch" of a child scored under ω: ω's recent training loss,
    /// the child's validation loss and metric.
    fn epoch_of(&self, s: Scored, seconds: f64) -> EpochMetrics {
        EpochMetrics {
            epoch: 1,
            train_loss: Some(self.c.omega_loss).filter(|l| l.is_finite()),
            val_loss: Some(s.loss).filter(|l| l.is_finite()),
            val_metric: s.metric,
            seconds,
        }
    }

    /// Write the checkpoint; `omega`: ω changed since the last one.
    fn checkpoint(&mut self, omega: bool) -> Result<(), Stop> {
        let saved = if omega {
            if self.loss_window.1 > 0 {
                self.c.omega_loss = self.loss_window.0 / self.loss_window.1 as f64;
                self.loss_window = (0.0, 0);
            }
            if let Some((tokens, _)) = self.c.probe.clone() {
                let arch = decode(self.space, &tokens)?;
                let loss = self.net.score(&arch, 0, 1).map_err(torch)?.loss;
                self.c.probe = Some((tokens, loss));
            }
            Some(self.net.save().map_err(torch)?)
        } else {
            None
        };
        let state = SharedCheckpoint {
            format: SharedCheckpoint::FORMAT,
            controller: self.learner.controller.flat_params(),
            adam: self.learner.adam.clone(),
            learner: self.learner.state.clone(),
            rng: self.rng.clone(),
            progress: self.c.clone(),
        };
        checkpoint::write(&self.run_dir, &state, saved.as_ref())
            .map_err(write_error("the checkpoint"))
    }

    fn best_text(&self) -> String {
        let batches = self.config.search.shared.reward_batches;
        let on = if batches == 1 {
            "one batch".to_string()
        } else {
            format!("{batches} batches")
        };
        match top_records(&self.records, 1).first().and_then(|r| r.metric) {
            None => "—".to_string(),
            Some(p) if matches!(self.net, Omega::Cnn(_)) => {
                format!("accuracy {:.2} % ({on})", 100.0 * p)
            }
            Some(p) => format!("ppl {p:.1} ({on})"),
        }
    }

    fn show_children(&mut self) {
        let budget = self.config.experiment.budget as u64;
        let shared = &self.config.search.shared;
        let per_round = self.per_round().max(1);
        let rounds_left = budget.saturating_sub(self.c.children).div_ceil(per_round);
        let omega_left =
            (rounds_left * shared.omega_steps as u64).saturating_sub(self.c.omega_in_round);
        let final_batches = (shared.final_samples * self.net.valid_batches()) as u64;
        let left = self.pace.left(
            omega_left,
            budget.saturating_sub(self.c.children),
            final_batches,
            shared.reward_batches as u64,
        );
        let best = self.best_text();
        self.progress.children(
            self.c.children.min(budget),
            budget,
            self.c.updates,
            &best,
            left,
        );
    }

    /// The end: k architectures scored on the whole validation split, ranked into best.json.
    fn finish(&mut self) -> Result<(), Stop> {
        let k = self.config.search.shared.final_samples;
        let candidates = self.sample(k)?;
        let budget = self.config.experiment.budget as u64;
        self.progress.notice(&format!(
            "shared weights: scoring {k} sampled architectures on the whole validation split under ω"
        ));
        let metric = self.net.metric();
        let mut finals: Vec<ChildRecord> = Vec::new();
        for (i, tokens) in candidates.into_iter().enumerate() {
            self.check_stop()?;
            let arch = decode(self.space, &tokens)?;
            let hash = arch
                .hash()
                .map_err(|e| Stop::Error(RunError::Runtime(format!("cannot hash a child: {e}"))))?;
            if finals.iter().any(|r| r.spec.hash == hash) {
                continue;
            }
            let t = Instant::now();
            let started = crate::store::unix_now();
            let scored = self.net.evaluate(&arch).map_err(torch)?;
            let seconds = t.elapsed().as_secs_f64();
            let params = self.net.param_count(&arch);
            let ok = scored.loss.is_finite();
            let spec = ChildSpec::new(
                self.config.experiment.seed,
                budget + i as u64,
                0,
                self.c.updates,
                tokens,
                arch.clone(),
                hash,
            );
            finals.push(ChildRecord {
                spec,
                status: if ok {
                    ChildStatus::Ok
                } else {
                    ChildStatus::Diverged
                },
                reward: if ok {
                    metric.reward(scored.metric, &self.config.reward)
                } else {
                    self.config.reward.failure
                },
                metric: ok.then_some(scored.metric),
                epochs: vec![self.epoch_of(scored, seconds)],
                params,
                device: self.slot.clone(),
                started,
                seconds,
                message: (!ok).then(|| format!("the validation loss under ω is {}", scored.loss)),
                placement: None,
            });
            self.progress.notice(&format!(
                "  final {}/{k}: validation {} under ω {}: {}",
                i + 1,
                metric.name,
                shown(&metric, scored.metric),
                finals
                    .last()
                    .map(|r| r.spec.arch.describe())
                    .unwrap_or_default()
            ));
        }
        finals.sort_by(|a, b| b.reward.total_cmp(&a.reward));
        self.run_dir
            .write_json(crate::store::BEST_FILE, &finals)
            .map_err(write_error("best.json"))?;
        Ok(())
    }

    pub(super) fn summary(&self, wall: f64, interrupted: bool) -> Summary {
        let best = self
            .run_dir
            .file(crate::store::BEST_FILE)
            .exists()
            .then(|| read_best(&self.run_dir))
            .flatten()
            .or_else(|| top_records(&self.records, 1).first().map(|r| (*r).clone()));
        Summary {
            children: self.records.len(),
            failures: self
                .records
                .iter()
                .filter(|r| r.status == ChildStatus::Failed)
                .count(),
            diverged: self
                .records
                .iter()
                .filter(|r| r.status == ChildStatus::Diverged)
                .count(),
            cached: 0,
            best,
            wall_seconds: wall,
            slot_utilisation: 1.0,
            updates: self.c.updates,
            staleness_mean: 0.0,
            staleness_max: 0,
            interrupted,
            forced_end: None,
            launch_retries: 0,
            compute: Compute::default(),
        }
    }
}

/// The first record of best.json, if it reads.
fn read_best(run_dir: &RunDir) -> Option<ChildRecord> {
    let text = std::fs::read_to_string(run_dir.file(crate::store::BEST_FILE)).ok()?;
    let list: Vec<ChildRecord> = serde_json::from_str(&text).ok()?;
    list.into_iter().next()
}

/// The architecture `tokens` decode to.
pub(super) fn decode(space: &SearchSpace, tokens: &[usize]) -> Result<Architecture, RunError> {
    space
        .decode(tokens)
        .map_err(|e| RunError::Runtime(format!("sampled tokens do not decode: {e}")))
}

/// A metric's value as the run prints it: perplexity to 2 decimals, accuracy in per cent.
fn shown(metric: &crate::task::Metric, value: f64) -> String {
    if metric.higher_is_better {
        format!("{:.2} %", 100.0 * value)
    } else {
        format!("{value:.2}")
    }
}
