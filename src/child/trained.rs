//! [`TrainedModel`]: a trained child network with the VarStore that owns its
//! variables, what training hands to the final evaluation and `retrain`.

use tch::nn;

use super::{CnnChild, WordLm};

/// A trained child network and the VarStore that owns its variables.
#[derive(Debug)]
pub enum TrainedModel {
    Cnn { vs: nn::VarStore, model: CnnChild },
    Lm { vs: nn::VarStore, model: WordLm },
}
