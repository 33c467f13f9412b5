//! Search spaces: the token schema the controller samples, decoding tokens
//! into an [`Architecture`], validation, canonical form and hash.
//!
//! Pure: no tch, no actors. A token sequence is a flat `Vec<usize>`; the
//! [`Schema`] says what each position means:
//! - [`Step::Choice`]: one token, an index into the choice list of a head
//!   (each head has its own softmax and input embedding in the controller);
//! - [`Step::Anchor`]: the anchor point of CNN layer `layer`, followed by
//!   `layer` tokens in {0, 1}, one per earlier layer j (1 = layer j feeds it).

pub mod cell;
pub mod cnn;
pub mod config;
pub mod declared;

use serde::{Deserialize, Serialize};

pub use cell::{CellArch, CellNode, CellSpace};
pub use cnn::{CnnArch, CnnLayer, CnnSpace};
pub use config::{SpaceConfig, SpaceKind};
pub use declared::{DeclaredArch, DeclaredSpace};

/// A token sequence or an architecture that does not fit a space.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpaceError {
    #[error("expected {expected} tokens, got {got}")]
    WrongLength { expected: usize, got: usize },
    #[error("token {position} ({head}) is {value}, but that decision has only {size} options")]
    OutOfRange {
        position: usize,
        head: String,
        value: usize,
        size: usize,
    },
    #[error("the architecture does not fit the configured space: {0}")]
    Mismatch(String),
    #[error("cannot encode the architecture as JSON: {0}")]
    Encode(String),
    #[error("{0}")]
    Declared(#[from] declared::DeclaredError),
}

/// One decision type: its own softmax head and input embedding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// e.g. `filter_height`, `node_activation`.
    pub name: String,
    /// Number of options.
    pub size: usize,
}

/// One position of the controller's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A categorical decision from head `head`.
    Choice { head: usize },
    /// The anchor point of CNN layer `layer` (0-based): `layer` binary skip decisions follow.
    Anchor { layer: usize },
}

/// What every position of a token sequence means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    /// The decision heads (fixed for a space, whatever the layer count).
    pub heads: Vec<Head>,
    /// The steps in sampling order.
    pub steps: Vec<Step>,
}

impl Schema {
    /// Number of tokens a sequence of this schema has.
    pub fn num_tokens(&self) -> usize {
        self.steps
            .iter()
            .map(|s| match s {
                Step::Choice { .. } => 1,
                Step::Anchor { layer } => *layer,
            })
            .sum()
    }

    /// Check length and ranges of a token sequence.
    pub fn check(&self, tokens: &[usize]) -> Result<(), SpaceError> {
        let expected = self.num_tokens();
        if tokens.len() != expected {
            return Err(SpaceError::WrongLength {
                expected,
                got: tokens.len(),
            });
        }
        let mut pos = 0;
        for step in &self.steps {
            let (name, size, count) = match *step {
                Step::Choice { head } => (self.heads[head].name.as_str(), self.heads[head].size, 1),
                Step::Anchor { layer } => ("skip", 2, layer),
            };
            for _ in 0..count {
                if tokens[pos] >= size {
                    return Err(SpaceError::OutOfRange {
                        position: pos,
                        head: name.to_string(),
                        value: tokens[pos],
                        size,
                    });
                }
                pos += 1;
            }
        }
        Ok(())
    }
}

/// Uniformly random tokens for `schema` (the random-search strategy): every
/// choice uniform over its head's options, every skip token 0 or 1 with
/// probability ½. Draws come only from `rng`, in token order.
pub fn sample_uniform(schema: &Schema, rng: &mut impl rand::Rng) -> Vec<usize> {
    let mut tokens = Vec::with_capacity(schema.num_tokens());
    for step in &schema.steps {
        match *step {
            // A head with no options (impossible after config validation) yields 0,
            // which `Schema::check` then rejects.
            Step::Choice { head } => {
                tokens.push(rng.random_range(0..schema.heads[head].size.max(1)))
            }
            Step::Anchor { layer } => {
                tokens.extend((0..layer).map(|_| usize::from(rng.random_bool(0.5))))
            }
        }
    }
    tokens
}

/// A sampled architecture of either space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "space", rename_all = "snake_case")]
pub enum Architecture {
    Cnn(CnnArch),
    Cell(CellArch),
    /// An architecture of a declared space: its decisions in the JSON form a trial reads.
    Custom {
        decisions: DeclaredArch,
    },
}

impl Architecture {
    /// The canonical form: architectures that build the same network are equal.
    pub fn canonical(&self) -> Architecture {
        match self {
            Architecture::Cnn(a) => Architecture::Cnn(a.canonical()),
            Architecture::Cell(a) => Architecture::Cell(a.canonical()),
            Architecture::Custom { decisions } => Architecture::Custom {
                decisions: decisions.canonical(),
            },
        }
    }

    /// A stable 64-bit hash of the canonical form, as 16 hex digits.
    pub fn hash(&self) -> Result<String, SpaceError> {
        let json = serde_json::to_string(&self.canonical())
            .map_err(|e| SpaceError::Encode(e.to_string()))?;
        Ok(format!("{:016x}", fnv1a(json.as_bytes())))
    }

    /// A readable one-line description.
    pub fn describe(&self) -> String {
        match self {
            Architecture::Cnn(a) => a.describe(),
            Architecture::Cell(a) => a.describe(),
            Architecture::Custom { decisions } => decisions.describe(),
        }
    }

    /// The space this architecture belongs to.
    pub fn kind(&self) -> SpaceKind {
        match self {
            Architecture::Cnn(_) => SpaceKind::Cnn,
            Architecture::Cell(_) => SpaceKind::Cell,
            Architecture::Custom { .. } => SpaceKind::Custom,
        }
    }
}

/// FNV-1a: a tiny hash whose value never changes between Rust versions.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// What every search space provides to the controller, the child log and the
/// cache: its decision heads, the token schema of each architecture, and the
/// two-way mapping between token sequences and architectures. A space is a
/// module implementing this and one line in [`SearchSpace::new`].
pub trait Space: Send + Sync + std::fmt::Debug {
    /// Which space this is.
    fn kind(&self) -> SpaceKind;
    /// The decision heads (the same for every schema of this space).
    fn heads(&self) -> Vec<Head>;
    /// The schema of the architecture sampled after `sampled` earlier ones.
    fn schema(&self, sampled: usize) -> Schema;
    /// The schema that decodes a sequence of `len` tokens, if any fits.
    fn schema_for_len(&self, len: usize) -> Result<Schema, SpaceError> {
        let schema = self.schema(0);
        if schema.num_tokens() == len {
            Ok(schema)
        } else {
            Err(SpaceError::WrongLength {
                expected: schema.num_tokens(),
                got: len,
            })
        }
    }
    /// Decode a token sequence into an architecture.
    fn decode(&self, tokens: &[usize]) -> Result<Architecture, SpaceError>;
    /// Encode an architecture as the token sequence that decodes to it.
    fn encode(&self, arch: &Architecture) -> Result<Vec<usize>, SpaceError>;
    /// How a person reads the options of head `head` (its choice values);
    /// by default their numbers.
    fn option_labels(&self, head: usize) -> Vec<String> {
        numbered(self.heads().get(head).map_or(0, |h| h.size))
    }
}

/// `0`, `1`, … for `n` options.
fn numbered(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

/// `labels` when there is one per option, else the options' numbers.
fn labels_or_numbers(labels: Vec<String>, size: usize) -> Vec<String> {
    if labels.len() == size {
        labels
    } else {
        numbered(size)
    }
}

/// The error for an architecture of another space than `space`.
pub fn mismatch(arch: &Architecture, space: SpaceKind) -> SpaceError {
    SpaceError::Mismatch(format!(
        "a {:?} architecture in a {:?} space",
        arch.kind(),
        space
    ))
}

impl Space for CnnSpace {
    fn kind(&self) -> SpaceKind {
        SpaceKind::Cnn
    }
    fn heads(&self) -> Vec<Head> {
        CnnSpace::heads(self)
    }
    /// The growth schedule changes the layer count.
    fn schema(&self, sampled: usize) -> Schema {
        CnnSpace::schema(self, self.config().layers_at(sampled))
    }
    fn schema_for_len(&self, len: usize) -> Result<Schema, SpaceError> {
        CnnSpace::schema_for_len(self, len)
    }
    fn decode(&self, tokens: &[usize]) -> Result<Architecture, SpaceError> {
        CnnSpace::decode(self, tokens).map(Architecture::Cnn)
    }
    fn encode(&self, arch: &Architecture) -> Result<Vec<usize>, SpaceError> {
        match arch {
            Architecture::Cnn(a) => CnnSpace::encode(self, a),
            _ => Err(mismatch(arch, SpaceKind::Cnn)),
        }
    }
    fn option_labels(&self, head: usize) -> Vec<String> {
        let Some(h) = CnnSpace::heads(self).into_iter().nth(head) else {
            return Vec::new();
        };
        let c = self.config();
        let nums = |v: &[usize]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let labels = match h.name.as_str() {
            "filter_height" => nums(&c.filter_heights),
            "filter_width" => nums(&c.filter_widths),
            "stride_height" | "stride_width" => nums(&c.strides),
            "num_filters" => nums(&c.num_filters),
            "max_pool" => vec!["no".into(), "yes".into()],
            _ => Vec::new(),
        };
        labels_or_numbers(labels, h.size)
    }
}

impl Space for CellSpace {
    fn kind(&self) -> SpaceKind {
        SpaceKind::Cell
    }
    fn heads(&self) -> Vec<Head> {
        CellSpace::heads(self)
    }
    fn schema(&self, _sampled: usize) -> Schema {
        CellSpace::schema(self)
    }
    fn decode(&self, tokens: &[usize]) -> Result<Architecture, SpaceError> {
        CellSpace::decode(self, tokens).map(Architecture::Cell)
    }
    fn encode(&self, arch: &Architecture) -> Result<Vec<usize>, SpaceError> {
        match arch {
            Architecture::Cell(a) => CellSpace::encode(self, a),
            _ => Err(mismatch(arch, SpaceKind::Cell)),
        }
    }
    fn option_labels(&self, head: usize) -> Vec<String> {
        let Some(h) = CellSpace::heads(self).into_iter().nth(head) else {
            return Vec::new();
        };
        let c = self.config();
        let labels = match h.name.as_str() {
            "node_combination" | "inject_combination" => c
                .combinations
                .iter()
                .map(|x| x.name().to_string())
                .collect(),
            "node_activation" | "inject_activation" => {
                c.activations.iter().map(|x| x.name().to_string()).collect()
            }
            "inject_node" | "cell_node" => (0..h.size).map(|k| format!("n{k}")).collect(),
            _ => Vec::new(),
        };
        labels_or_numbers(labels, h.size)
    }
}

impl Space for DeclaredSpace {
    fn kind(&self) -> SpaceKind {
        SpaceKind::Custom
    }
    fn heads(&self) -> Vec<Head> {
        DeclaredSpace::heads(self)
    }
    fn schema(&self, _sampled: usize) -> Schema {
        DeclaredSpace::schema(self)
    }
    fn decode(&self, tokens: &[usize]) -> Result<Architecture, SpaceError> {
        DeclaredSpace::decode(self, tokens).map(|decisions| Architecture::Custom { decisions })
    }
    fn encode(&self, arch: &Architecture) -> Result<Vec<usize>, SpaceError> {
        match arch {
            Architecture::Custom { decisions } => DeclaredSpace::encode(self, decisions),
            _ => Err(mismatch(arch, SpaceKind::Custom)),
        }
    }
    fn option_labels(&self, head: usize) -> Vec<String> {
        let size = self.heads().get(head).map_or(0, |h| h.size);
        labels_or_numbers(DeclaredSpace::choice_labels(self, head), size)
    }
}

/// A configured search space (cheap to clone; shared by the replicas and trainers).
#[derive(Debug, Clone)]
pub struct SearchSpace(std::sync::Arc<dyn Space>);

impl SearchSpace {
    /// The space of kind `kind`, with its choice lists from `config`: the
    /// one place that knows every space. Fails only for a declared space
    /// whose `[space.custom]` is invalid.
    pub fn new(kind: SpaceKind, config: &SpaceConfig) -> Result<SearchSpace, SpaceError> {
        Ok(SearchSpace(match kind {
            SpaceKind::Cnn => std::sync::Arc::new(CnnSpace::new(config.cnn.clone())),
            SpaceKind::Cell => std::sync::Arc::new(CellSpace::new(config.cell.clone())),
            SpaceKind::Custom => std::sync::Arc::new(DeclaredSpace::new(config.custom.clone())?),
        }))
    }

    /// A search space of any [`Space`] implementation.
    pub fn of(space: impl Space + 'static) -> SearchSpace {
        SearchSpace(std::sync::Arc::new(space))
    }

    /// The decision heads (the same for every schema of this space).
    pub fn heads(&self) -> Vec<Head> {
        self.0.heads()
    }

    /// The schema of the architecture sampled after `sampled` earlier ones
    /// (the CNN growth schedule changes the layer count; otherwise fixed).
    pub fn schema(&self, sampled: usize) -> Schema {
        self.0.schema(sampled)
    }

    /// The schema that decodes `tokens`, if any layer count fits their length.
    pub fn schema_for_len(&self, len: usize) -> Result<Schema, SpaceError> {
        self.0.schema_for_len(len)
    }

    /// Decode a token sequence into an architecture.
    pub fn decode(&self, tokens: &[usize]) -> Result<Architecture, SpaceError> {
        self.0.decode(tokens)
    }

    /// Encode an architecture as the token sequence that decodes to it.
    pub fn encode(&self, arch: &Architecture) -> Result<Vec<usize>, SpaceError> {
        self.0.encode(arch)
    }

    /// Check that an architecture (e.g. read from JSON) fits this space.
    pub fn check(&self, arch: &Architecture) -> Result<(), SpaceError> {
        self.encode(arch).map(|_| ())
    }

    /// Which space this is.
    pub fn kind(&self) -> SpaceKind {
        self.0.kind()
    }

    /// How a person reads the options of head `head`.
    pub fn option_labels(&self, head: usize) -> Vec<String> {
        self.0.option_labels(head)
    }
}
