//! Declared search spaces (`search.space = "custom"`): decisions and repeated
//! groups of decisions written in the config, sampled by the same controller
//! as the built-in spaces, handed to a trial program as JSON.
//!
//! # The TOML form (`[space.custom]`)
//! ```toml
//! [space.custom]
//! # Optional: sampling order of the global decisions and groups, each named
//! # once. Default: the global decisions as listed, then the groups as listed.
//! order = ["optimizer", "layer", "lr"]
//!
//! # A global decision: taken once per architecture.
//! [[space.custom.decision]]
//! name = "optimizer"
//! choices = ["sgd", "adam"]
//!
//! [[space.custom.decision]]
//! name = "lr"
//! choices = [0.1, 0.01, 0.001]
//!
//! # A group: its decisions are taken `repeat` times (e.g. once per layer).
//! [[space.custom.group]]
//! name = "layer"
//! repeat = 8
//!
//! [[space.custom.group.decision]]
//! name = "kernel"
//! choices = [1, 3, 5, 7]
//!
//! [[space.custom.group.decision]]
//! name = "filters"
//! choices = [24, 36, 48, 64]
//!
//! [[space.custom.group.decision]]
//! name = "activation"
//! choices = ["relu", "tanh"]
//!
//! # Any subset of the earlier repeats (the paper's skip connections).
//! [[space.custom.group.decision]]
//! name = "inputs"
//! kind = "inputs"
//! ```
//!
//! - A decision has a `name` and either `choices` (the default
//!   `kind = "choice"`) or `kind = "inputs"` and no choices.
//! - Choices are strings, integers, floats or booleans, all of one type per
//!   decision. Integers and floats do not mix: `[0.5, 1]` is an error (write
//!   `1.0`), so a trial program always gets one JSON type per decision.
//!   Floats must be finite; no choice may be listed twice.
//! - Names use letters, digits, `_` and `-`. Global decisions and groups
//!   share one namespace (the architecture's top-level keys); the decisions
//!   of a group have their own.
//! - `repeat` is 1 to 1000. An inputs decision lives in a group; at most one
//!   group has one, and at most one per group (the controller's anchor
//!   points are numbered through one sequence of repeats).
//!
//! Errors ([`DeclaredError`]) name the key path, indices counting from 0 in
//! written order, e.g. `space.custom.group[0].decision[1].choices`.
//!
//! # Sampling
//! The steps follow `order`; a group takes, for repeat 0, 1, …, its
//! decisions in declared order. A choice decision is one token from its own
//! head: a decision inside a group shares its head (softmax and embedding)
//! across repeats, as the CNN space's `filter_height` does across layers.
//! Head names are the decision's name for a global decision and
//! `group.decision` inside a group. An inputs decision is one
//! [`Step::Anchor`] per repeat `r`, followed by `r` binary tokens (token `j`
//! = 1: repeat `j` feeds repeat `r`), sampled by the controller's
//! anchor-point attention. In repeat 0 it has no tokens (no earlier repeats).
//! A group `layer` of `filter_height`, `filter_width`, `num_filters` and an
//! inputs decision repeated N times has exactly the schema of the built-in
//! CNN space with N layers, skip connections and no strides or pooling.
//!
//! # The JSON form ([`DeclaredArch`])
//! One key per global decision (its value) and per group (a list with one
//! object per repeat); keys are sorted; values are the declared choices as
//! JSON numbers, strings or booleans; inputs are the indices of earlier
//! repeats, sorted in the canonical form:
//! ```json
//! {"layer": [{"activation": "relu", "filters": 24, "inputs": [], "kernel": 3},
//!            {"activation": "tanh", "filters": 64, "inputs": [0], "kernel": 5}],
//!  "lr": 0.01, "optimizer": "sgd"}
//! ```
//! The hash is FNV-1a of the canonical form's JSON.
//!
//! # The synthetic reward
//! [`DeclaredSpace::synthetic_reward`], for the synthetic child runner, the
//! learning tests and regret in benchmarks: from a seed, every decision gets
//! a hidden preferred result ([`DeclaredSpace::preferred`]: each choice
//! token uniform over its options, each skip token 0 or 1 with probability
//! ½, drawn by a `ChaCha8Rng` in token order). The reward is the mean score
//! of the decisions: a choice (a global, or one repeat of a group's choice)
//! scores 1 when it is the preferred one, else 0; the inputs of repeat
//! `r ≥ 1` score the fraction of the `r` earlier repeats on which they agree
//! with the preferred set (repeat 0 decides nothing and is not scored). The
//! reward lies in [0, 1], is 1.0 exactly at [`DeclaredSpace::optimum`], and
//! `1 − reward` is the regret.

mod arch;
mod codec;
mod config;
mod reward;
mod validate;

pub use arch::{DeclaredArch, Entry, Field, Repeat};
pub use config::{ChoiceValue, DecisionConfig, DecisionKind, DeclaredSpaceConfig, GroupConfig};
pub use validate::{DeclaredError, Problem, MAX_REPEAT};

use super::{Head, Schema, Step};

/// A global decision or a group, in sampling order.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Global(Choice),
    Group {
        name: String,
        repeat: usize,
        slots: Vec<Slot>,
    },
}

/// A choice decision and its head.
#[derive(Debug, Clone, PartialEq)]
struct Choice {
    name: String,
    head: usize,
    choices: Vec<ChoiceValue>,
}

/// One decision of a group.
#[derive(Debug, Clone, PartialEq)]
enum Slot {
    Choice(Choice),
    Inputs { name: String },
}

/// A validated declared space.
#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredSpace {
    config: DeclaredSpaceConfig,
    items: Vec<Item>,
    heads: Vec<Head>,
}

impl DeclaredSpace {
    /// Validate `config` and lay out its heads and steps.
    pub fn new(config: DeclaredSpaceConfig) -> Result<DeclaredSpace, DeclaredError> {
        validate::validate(&config)?;
        let names: Vec<&str> = match &config.order {
            Some(order) => order.iter().map(String::as_str).collect(),
            None => config
                .decisions
                .iter()
                .map(|d| d.name.as_str())
                .chain(config.groups.iter().map(|g| g.name.as_str()))
                .collect(),
        };
        let mut heads: Vec<Head> = Vec::new();
        let mut choice = |head_name: String, name: &str, choices: &Option<Vec<ChoiceValue>>| {
            let choices = choices.clone().unwrap_or_default();
            heads.push(Head {
                name: head_name,
                size: choices.len(),
            });
            Choice {
                name: name.to_string(),
                head: heads.len() - 1,
                choices,
            }
        };
        let mut items = Vec::with_capacity(names.len());
        for name in names {
            if let Some(d) = config.decisions.iter().find(|d| d.name == name) {
                items.push(Item::Global(choice(d.name.clone(), &d.name, &d.choices)));
            } else if let Some(g) = config.groups.iter().find(|g| g.name == name) {
                let slots = g
                    .decisions
                    .iter()
                    .map(|d| match d.kind {
                        DecisionKind::Choice => Slot::Choice(choice(
                            format!("{}.{}", g.name, d.name),
                            &d.name,
                            &d.choices,
                        )),
                        DecisionKind::Inputs => Slot::Inputs {
                            name: d.name.clone(),
                        },
                    })
                    .collect();
                items.push(Item::Group {
                    name: g.name.clone(),
                    repeat: g.repeat,
                    slots,
                });
            }
        }
        Ok(DeclaredSpace {
            config,
            items,
            heads,
        })
    }

    /// The config the space was built from.
    pub fn config(&self) -> &DeclaredSpaceConfig {
        &self.config
    }

    /// One head per choice decision, in sampling order of first use.
    pub fn heads(&self) -> Vec<Head> {
        self.heads.clone()
    }

    /// The steps in sampling order (the same for every architecture).
    pub fn schema(&self) -> Schema {
        let mut steps = Vec::new();
        for item in &self.items {
            match item {
                Item::Global(c) => steps.push(Step::Choice { head: c.head }),
                Item::Group { repeat, slots, .. } => {
                    for layer in 0..*repeat {
                        steps.extend(slots.iter().map(|s| match s {
                            Slot::Choice(c) => Step::Choice { head: c.head },
                            Slot::Inputs { .. } => Step::Anchor { layer },
                        }));
                    }
                }
            }
        }
        Schema {
            heads: self.heads(),
            steps,
        }
    }

    /// The choice values of head `head`, as text (empty for no such head).
    pub fn choice_labels(&self, head: usize) -> Vec<String> {
        let choices = self.items.iter().find_map(|item| match item {
            Item::Global(c) if c.head == head => Some(&c.choices),
            Item::Group { slots, .. } => slots.iter().find_map(|s| match s {
                Slot::Choice(c) if c.head == head => Some(&c.choices),
                _ => None,
            }),
            _ => None,
        });
        choices.map_or_else(Vec::new, |c| c.iter().map(|v| v.to_string()).collect())
    }

    /// Tokens per architecture.
    pub fn num_tokens(&self) -> usize {
        self.schema().num_tokens()
    }
}

impl Item {
    fn name(&self) -> &str {
        match self {
            Item::Global(c) => &c.name,
            Item::Group { name, .. } => name,
        }
    }
}
