//! The search spaces' own configuration: which space (`search.space`) and
//! the `[space.*]` tables with their choice lists and documented defaults.
//! The config layer nests these; the spaces build themselves from them.

use serde::{Deserialize, Serialize};

use super::declared::DeclaredSpaceConfig;

/// Which search space the controller samples from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SpaceKind {
    /// Convolutional networks (CIFAR-10, Fashion-MNIST).
    Cnn,
    /// Recurrent cells (Penn Treebank).
    Cell,
    /// A space declared in `[space.custom]` (see [`super::declared`]).
    Custom,
}

/// `[space]`: choice lists of both spaces (only the one `search.space` names is used).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SpaceConfig {
    pub cnn: CnnSpaceConfig,
    pub cell: CellSpaceConfig,
    /// `[space.custom]`: the declared space (`search.space = "custom"`).
    pub custom: DeclaredSpaceConfig,
}

/// `[space.cnn]`: the CNN search space.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CnnSpaceConfig {
    /// Number of layers (when `growth` is off). Default 15.
    pub layers: usize,
    /// Filter heights. Paper: [1, 3, 5, 7].
    pub filter_heights: Vec<usize>,
    /// Filter widths. Paper: [1, 3, 5, 7].
    pub filter_widths: Vec<usize>,
    /// Numbers of filters. Paper: [24, 36, 48, 64].
    pub num_filters: Vec<usize>,
    /// Whether the controller predicts stride height and width (paper v2). Default false (stride 1).
    pub predict_strides: bool,
    /// Stride choices when `predict_strides`. Paper: [1, 2, 3].
    pub strides: Vec<usize>,
    /// Whether the controller decides a max-pooling after each layer (paper v3). Default false.
    pub predict_pooling: bool,
    /// Pooling window and stride. Default 2.
    pub pool_size: usize,
    /// Whether skip connections are sampled (anchor points). Default true; false = a plain chain.
    pub skip_connections: bool,
    /// The paper's layer-count schedule; off by default.
    pub growth: Option<GrowthConfig>,
}

impl Default for CnnSpaceConfig {
    fn default() -> Self {
        CnnSpaceConfig {
            layers: 15,
            filter_heights: vec![1, 3, 5, 7],
            filter_widths: vec![1, 3, 5, 7],
            num_filters: vec![24, 36, 48, 64],
            predict_strides: false,
            strides: vec![1, 2, 3],
            predict_pooling: false,
            pool_size: 2,
            skip_connections: true,
            growth: None,
        }
    }
}

/// `[space.cnn.growth]`: start with `start_layers`, add `add_layers` every `every` sampled architectures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GrowthConfig {
    /// Paper: 6.
    pub start_layers: usize,
    /// Paper: 2.
    pub add_layers: usize,
    /// Paper: 1,600.
    pub every: usize,
    /// Upper bound on the layer count; default: `space.cnn.layers`.
    pub max_layers: Option<usize>,
}

impl Default for GrowthConfig {
    fn default() -> Self {
        GrowthConfig {
            start_layers: 6,
            add_layers: 2,
            every: 1600,
            max_layers: None,
        }
    }
}

impl CnnSpaceConfig {
    /// Layers of the architectures sampled after `sampled` earlier ones.
    pub fn layers_at(&self, sampled: usize) -> usize {
        match &self.growth {
            None => self.layers,
            Some(g) => {
                let n = g.start_layers + g.add_layers * (sampled / g.every.max(1));
                n.min(g.max_layers.unwrap_or(self.layers).max(g.start_layers))
            }
        }
    }
}

/// `[space.cell]`: the recurrent-cell search space.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CellSpaceConfig {
    /// Leaves of the tree; a power of two ≥ 2. Paper: 8.
    pub base: usize,
    /// Combination methods. Paper: ["add", "elem_mult"]; "max" optional.
    pub combinations: Vec<Combination>,
    /// Activations. Paper: ["identity", "tanh", "sigmoid", "relu"]; "sin" optional.
    pub activations: Vec<Activation>,
}

impl Default for CellSpaceConfig {
    fn default() -> Self {
        CellSpaceConfig {
            base: 8,
            combinations: vec![Combination::Add, Combination::ElemMult],
            activations: vec![
                Activation::Identity,
                Activation::Tanh,
                Activation::Sigmoid,
                Activation::Relu,
            ],
        }
    }
}

/// How two inputs of a node are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combination {
    Add,
    ElemMult,
    /// Elementwise maximum (the paper's second experiment).
    Max,
}

/// A node's activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Identity,
    Tanh,
    Sigmoid,
    Relu,
    /// The paper's second experiment.
    Sin,
}

impl Combination {
    pub fn name(self) -> &'static str {
        match self {
            Combination::Add => "add",
            Combination::ElemMult => "mul",
            Combination::Max => "max",
        }
    }
}

impl Activation {
    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Relu => "relu",
            Activation::Sin => "sin",
        }
    }
}
