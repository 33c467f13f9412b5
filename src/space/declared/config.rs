//! The `[space.custom]` config of a declared space: global decisions, groups
//! of decisions repeated N times, an optional sampling order, and the choice
//! values (strings, integers, floats, booleans) with their serde forms.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// `[space.custom]`: a search space declared in the config.
///
/// Parsed as is; [`super::DeclaredSpace::new`] validates it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeclaredSpaceConfig {
    /// Names of the global decisions and groups in sampling order, each once.
    /// Default: the global decisions as listed, then the groups as listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Vec<String>>,
    /// `[[space.custom.decision]]`: decisions taken once per architecture.
    #[serde(default, rename = "decision", skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<DecisionConfig>,
    /// `[[space.custom.group]]`: decisions taken once per repeat.
    #[serde(default, rename = "group", skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupConfig>,
}

/// `[[space.custom.group]]`: decisions taken `repeat` times (e.g. per layer).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// The group's key in the architecture's JSON and the prefix of its heads.
    pub name: String,
    /// How many times the group's decisions are taken; at least 1.
    pub repeat: usize,
    /// `[[space.custom.group.decision]]`: the decisions of one repeat, in sampling order.
    #[serde(default, rename = "decision", skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<DecisionConfig>,
}

/// `[[space.custom.decision]]` or `[[space.custom.group.decision]]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DecisionConfig {
    /// The decision's key in the architecture's JSON (and its head's name).
    pub name: String,
    /// `"choice"` (default): one of `choices`; `"inputs"`: a subset of the earlier repeats.
    #[serde(default, skip_serializing_if = "DecisionKind::is_choice")]
    pub kind: DecisionKind,
    /// The options of a `"choice"` decision, all of one type; none for `"inputs"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<ChoiceValue>>,
}

impl DecisionConfig {
    /// A choice decision.
    pub fn choice(name: &str, choices: Vec<ChoiceValue>) -> DecisionConfig {
        DecisionConfig {
            name: name.to_string(),
            kind: DecisionKind::Choice,
            choices: Some(choices),
        }
    }

    /// An inputs decision (anchor-point attention over the earlier repeats).
    pub fn inputs(name: &str) -> DecisionConfig {
        DecisionConfig {
            name: name.to_string(),
            kind: DecisionKind::Inputs,
            choices: None,
        }
    }
}

/// What a decision picks.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// One of the declared choices (its own softmax head).
    #[default]
    Choice,
    /// Any subset of the earlier repeats of its group (the paper's anchor-point attention).
    Inputs,
}

impl DecisionKind {
    fn is_choice(&self) -> bool {
        *self == DecisionKind::Choice
    }
}

/// One declared option: written in TOML and JSON as a bare value.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum ChoiceValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl ChoiceValue {
    /// The value's type, as validation messages name it.
    pub fn type_name(&self) -> &'static str {
        match self {
            ChoiceValue::Bool(_) => "boolean",
            ChoiceValue::Int(_) => "integer",
            ChoiceValue::Float(_) => "float",
            ChoiceValue::Str(_) => "string",
        }
    }

    /// Whether the value is a NaN or infinite float.
    pub fn is_non_finite(&self) -> bool {
        matches!(self, ChoiceValue::Float(x) if !x.is_finite())
    }
}

impl fmt::Display for ChoiceValue {
    /// As in TOML and JSON: `3`, `0.1`, `"sgd"`, `true` (floats always with a point).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChoiceValue::Bool(b) => write!(f, "{b}"),
            ChoiceValue::Int(i) => write!(f, "{i}"),
            ChoiceValue::Float(x) => write!(f, "{x:?}"),
            ChoiceValue::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl From<&str> for ChoiceValue {
    fn from(s: &str) -> ChoiceValue {
        ChoiceValue::Str(s.to_string())
    }
}

impl From<i64> for ChoiceValue {
    fn from(i: i64) -> ChoiceValue {
        ChoiceValue::Int(i)
    }
}

impl From<f64> for ChoiceValue {
    fn from(x: f64) -> ChoiceValue {
        ChoiceValue::Float(x)
    }
}

impl From<bool> for ChoiceValue {
    fn from(b: bool) -> ChoiceValue {
        ChoiceValue::Bool(b)
    }
}

pub(super) struct ChoiceVisitor;

impl Visitor<'_> for ChoiceVisitor {
    type Value = ChoiceValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a choice value: a string, an integer, a float or a boolean")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<ChoiceValue, E> {
        Ok(ChoiceValue::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<ChoiceValue, E> {
        Ok(ChoiceValue::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<ChoiceValue, E> {
        i64::try_from(v).map(ChoiceValue::Int).map_err(|_| {
            E::custom(format!(
                "the integer {v} is too large (at most {})",
                i64::MAX
            ))
        })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<ChoiceValue, E> {
        Ok(ChoiceValue::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ChoiceValue, E> {
        Ok(ChoiceValue::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<ChoiceValue, E> {
        Ok(ChoiceValue::Str(v))
    }
}

impl<'de> Deserialize<'de> for ChoiceValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ChoiceValue, D::Error> {
        d.deserialize_any(ChoiceVisitor)
    }
}
