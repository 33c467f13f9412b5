//! [`SyntheticRunner`]: the synthetic landscape ([`crate::synthetic::evaluate`])
//! as a runner; a panic it injects on purpose becomes a failed child here.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::ChildRunner;
use crate::child::{panic_message, ChildOutcome, ChildSpec, ChildStatus, Progress};
use crate::config::Config;
use crate::devices::Slot;
use crate::space::SearchSpace;

/// Evaluates children on the synthetic landscape.
pub struct SyntheticRunner {
    config: Arc<Config>,
    space: Arc<SearchSpace>,
}

impl SyntheticRunner {
    /// A runner for `config.child.synthetic` over `space`.
    pub fn new(config: Arc<Config>, space: Arc<SearchSpace>) -> SyntheticRunner {
        SyntheticRunner { config, space }
    }
}

impl ChildRunner for SyntheticRunner {
    fn run(&mut self, spec: &ChildSpec, _slot: &Slot, progress: &mut dyn Progress) -> ChildOutcome {
        let (space, config) = (&self.space, &self.config);
        catch_unwind(AssertUnwindSafe(|| {
            crate::synthetic::evaluate(space, &spec.arch, config, spec.id, progress)
        }))
        .unwrap_or_else(|panic| {
            ChildOutcome::failure(
                ChildStatus::Failed,
                config.reward.failure,
                format!("panic in training: {}", panic_message(&*panic)),
            )
        })
    }
}
