//! [`DeclaredArch`]: an architecture of a declared space in the JSON form a
//! trial program reads, its canonical form and its hash.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::config::{ChoiceValue, ChoiceVisitor};
use crate::space::{fnv1a, SpaceError};

/// An architecture of a declared space: one entry per global decision and
/// group, keyed by name (sorted, so the JSON's key order is stable).
///
/// ```json
/// {"layer": [{"filters": 32, "inputs": [], "kernel": 3},
///            {"filters": 64, "inputs": [0], "kernel": 5}],
///  "lr": 0.01, "optimizer": "sgd"}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeclaredArch(pub BTreeMap<String, Entry>);

/// The value of a global decision, or the repeats of a group.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Entry {
    /// A global decision's chosen value.
    Value(ChoiceValue),
    /// A group's repeats, in order.
    Repeats(Vec<Repeat>),
}

/// One repeat of a group: one field per decision of the group, keyed by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Repeat(pub BTreeMap<String, Field>);

/// A decision's result inside one repeat.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Field {
    /// A choice decision's chosen value.
    Value(ChoiceValue),
    /// An inputs decision: the earlier repeats (0-based) that feed this one.
    Inputs(Vec<usize>),
}

impl DeclaredArch {
    /// The chosen value of global decision `name`.
    pub fn value(&self, name: &str) -> Option<&ChoiceValue> {
        match self.0.get(name) {
            Some(Entry::Value(v)) => Some(v),
            _ => None,
        }
    }

    /// The repeats of group `name`.
    pub fn repeats(&self, name: &str) -> Option<&[Repeat]> {
        match self.0.get(name) {
            Some(Entry::Repeats(r)) => Some(r),
            _ => None,
        }
    }

    /// Inputs sorted and without repeats; everything else is already canonical.
    pub fn canonical(&self) -> DeclaredArch {
        let mut a = self.clone();
        for entry in a.0.values_mut() {
            if let Entry::Repeats(repeats) = entry {
                for field in repeats.iter_mut().flat_map(|r| r.0.values_mut()) {
                    if let Field::Inputs(inputs) = field {
                        inputs.sort_unstable();
                        inputs.dedup();
                    }
                }
            }
        }
        a
    }

    /// A stable 64-bit hash (FNV-1a) of the canonical form's JSON, as 16 hex
    /// digits. A NaN or infinite float (JSON has none) is an error.
    pub fn hash(&self) -> Result<String, SpaceError> {
        if let Some(path) = self.non_finite() {
            return Err(SpaceError::Mismatch(format!(
                "`{path}` is not a finite number, and JSON has no such value"
            )));
        }
        let json = serde_json::to_string(&self.canonical()).map_err(|e| {
            SpaceError::Mismatch(format!("the architecture cannot be written as JSON: {e}"))
        })?;
        Ok(format!("{:016x}", fnv1a(json.as_bytes())))
    }

    /// The path of the first NaN or infinite value, if any.
    fn non_finite(&self) -> Option<String> {
        for (name, entry) in &self.0 {
            match entry {
                Entry::Value(v) if v.is_non_finite() => return Some(name.clone()),
                Entry::Value(_) => {}
                Entry::Repeats(repeats) => {
                    for (i, r) in repeats.iter().enumerate() {
                        for (field, value) in &r.0 {
                            if matches!(value, Field::Value(v) if v.is_non_finite()) {
                                return Some(format!("{name}[{i}].{field}"));
                            }
                        }
                    }
                }
            }
        }
        None
    }

    /// One line, keys in sorted order, e.g.
    /// `lr=0.01 optimizer="sgd" layer=[0:filters=32,kernel=3 1:filters=64,kernel=5,inputs<-[0]]`
    /// (globals first; an inputs field shows as `name<-[…]`, omitted when empty).
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .0
            .iter()
            .filter_map(|(name, e)| match e {
                Entry::Value(v) => Some(format!("{name}={v}")),
                Entry::Repeats(_) => None,
            })
            .collect();
        for (name, entry) in &self.0 {
            let Entry::Repeats(repeats) = entry else {
                continue;
            };
            let reps: Vec<String> = repeats
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let fields: Vec<String> = r
                        .0
                        .iter()
                        .filter_map(|(f, v)| match v {
                            Field::Value(v) => Some(format!("{f}={v}")),
                            Field::Inputs(ins) if ins.is_empty() => None,
                            Field::Inputs(ins) => {
                                let ins: Vec<String> = ins.iter().map(|j| j.to_string()).collect();
                                Some(format!("{f}<-[{}]", ins.join(",")))
                            }
                        })
                        .collect();
                    format!("{i}:{}", fields.join(","))
                })
                .collect();
            parts.push(format!("{name}=[{}]", reps.join(" ")));
        }
        parts.join(" ")
    }
}

/// Scalars become [`Entry::Value`], lists [`Entry::Repeats`].
struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = Entry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a decision's value (a string, an integer, a float or a boolean) or a group's list \
             of repeats",
        )
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Entry, E> {
        ChoiceVisitor.visit_bool(v).map(Entry::Value)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Entry, E> {
        ChoiceVisitor.visit_i64(v).map(Entry::Value)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Entry, E> {
        ChoiceVisitor.visit_u64(v).map(Entry::Value)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Entry, E> {
        ChoiceVisitor.visit_f64(v).map(Entry::Value)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Entry, E> {
        ChoiceVisitor.visit_str(v).map(Entry::Value)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entry, A::Error> {
        let mut repeats = Vec::new();
        while let Some(r) = seq.next_element::<Repeat>()? {
            repeats.push(r);
        }
        Ok(Entry::Repeats(repeats))
    }
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Entry, D::Error> {
        d.deserialize_any(EntryVisitor)
    }
}

/// Scalars become [`Field::Value`], lists of indices [`Field::Inputs`].
struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a decision's value (a string, an integer, a float or a boolean) or a list of \
             earlier repeat indices",
        )
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Field, E> {
        ChoiceVisitor.visit_bool(v).map(Field::Value)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Field, E> {
        ChoiceVisitor.visit_i64(v).map(Field::Value)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Field, E> {
        ChoiceVisitor.visit_u64(v).map(Field::Value)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Field, E> {
        ChoiceVisitor.visit_f64(v).map(Field::Value)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
        ChoiceVisitor.visit_str(v).map(Field::Value)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field, A::Error> {
        let mut inputs = Vec::new();
        while let Some(j) = seq.next_element::<usize>()? {
            inputs.push(j);
        }
        Ok(Field::Inputs(inputs))
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Field, D::Error> {
        d.deserialize_any(FieldVisitor)
    }
}
