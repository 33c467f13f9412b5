//! [`TchRunner`]: trains a tch child in this process with
//! [`crate::child::train_keeping`] on the task's shared data.

use std::sync::Arc;

use super::{tch_device, ChildRunner};
use crate::child::final_eval::TrainedModel;
use crate::child::{self, ChildOutcome, ChildSpec, Progress};
use crate::config::Config;
use crate::data::TaskData;
use crate::devices::{Slot, SlotDevice};

/// Trains children with tch on a slot's device.
pub struct TchRunner {
    config: Arc<Config>,
    data: Arc<TaskData>,
}

impl TchRunner {
    /// A runner training with `config.child` on `data`.
    pub fn new(config: Arc<Config>, data: Arc<TaskData>) -> TchRunner {
        TchRunner { config, data }
    }

    /// Train `spec` with `config` (which may differ from the runner's, e.g. a
    /// retraining grid point), keeping the trained model when it finished.
    pub fn run_keeping(
        &mut self,
        config: &Config,
        spec: &ChildSpec,
        slot: &Slot,
        progress: &mut dyn Progress,
    ) -> (ChildOutcome, Option<TrainedModel>) {
        // child::train_keeping catches panics itself.
        child::train_keeping(
            &spec.arch,
            config,
            &self.data,
            tch_device(&slot.device),
            spec.seed,
            progress,
        )
    }
}

impl ChildRunner for TchRunner {
    /// A CPU slot's torch intra-op threads are set once, on its thread.
    fn start(&mut self, slot: &Slot) {
        if slot.device == SlotDevice::Cpu {
            tch::set_num_threads(slot.threads.max(1) as i32);
        }
    }

    fn run(&mut self, spec: &ChildSpec, slot: &Slot, progress: &mut dyn Progress) -> ChildOutcome {
        let config = self.config.clone();
        self.run_keeping(&config, spec, slot, progress).0
    }
}
