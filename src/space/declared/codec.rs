//! Decoding token sequences into [`DeclaredArch`]s and encoding them back;
//! errors name the key that does not fit the space.

use std::collections::BTreeMap;

use super::{Choice, ChoiceValue, DeclaredArch, DeclaredSpace, Entry, Field, Item, Repeat, Slot};
use crate::space::SpaceError;

impl DeclaredSpace {
    /// Decode a token sequence of [`DeclaredSpace::schema`].
    pub fn decode(&self, tokens: &[usize]) -> Result<DeclaredArch, SpaceError> {
        self.schema().check(tokens)?;
        let mut pos = 0;
        let mut next = || {
            pos += 1;
            tokens[pos - 1]
        };
        let mut arch = BTreeMap::new();
        for item in &self.items {
            match item {
                Item::Global(c) => {
                    arch.insert(c.name.clone(), Entry::Value(c.choices[next()].clone()));
                }
                Item::Group {
                    name,
                    repeat,
                    slots,
                } => {
                    let mut repeats = Vec::with_capacity(*repeat);
                    for r in 0..*repeat {
                        let mut fields = BTreeMap::new();
                        for slot in slots {
                            let (key, field) = match slot {
                                Slot::Choice(c) => {
                                    (&c.name, Field::Value(c.choices[next()].clone()))
                                }
                                Slot::Inputs { name } => (
                                    name,
                                    Field::Inputs((0..r).filter(|_| next() == 1).collect()),
                                ),
                            };
                            fields.insert(key.clone(), field);
                        }
                        repeats.push(Repeat(fields));
                    }
                    arch.insert(name.clone(), Entry::Repeats(repeats));
                }
            }
        }
        Ok(DeclaredArch(arch))
    }

    /// Encode an architecture as the tokens that decode to its canonical
    /// form; errors name the key that does not fit the space.
    pub fn encode(&self, arch: &DeclaredArch) -> Result<Vec<usize>, SpaceError> {
        let known: Vec<&str> = self.items.iter().map(Item::name).collect();
        if let Some(key) = arch.0.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(mismatch(
                key,
                format!("is not a decision or group of the space; it has {known:?}"),
            ));
        }
        let mut tokens = Vec::with_capacity(self.num_tokens());
        for item in &self.items {
            match item {
                Item::Global(c) => match arch.0.get(&c.name) {
                    Some(Entry::Value(v)) => tokens.push(index(c, v, &c.name)?),
                    Some(Entry::Repeats(_)) => {
                        return Err(mismatch(
                            &c.name,
                            "is a list, but it is a decision: give one of its choices",
                        ))
                    }
                    None => return Err(mismatch(&c.name, "is missing")),
                },
                Item::Group {
                    name,
                    repeat,
                    slots,
                } => {
                    let repeats = match arch.0.get(name) {
                        Some(Entry::Repeats(r)) => r,
                        Some(Entry::Value(_)) => {
                            return Err(mismatch(
                                name,
                                "is a value, but it is a group: give a list of repeats",
                            ))
                        }
                        None => return Err(mismatch(name, "is missing")),
                    };
                    if repeats.len() != *repeat {
                        return Err(mismatch(
                            name,
                            format!("has {} repeats, but the group has {repeat}", repeats.len()),
                        ));
                    }
                    for (r, rep) in repeats.iter().enumerate() {
                        encode_repeat(name, r, rep, slots, &mut tokens)?;
                    }
                }
            }
        }
        Ok(tokens)
    }

    /// Check that an architecture (e.g. read from JSON) fits this space.
    pub fn check(&self, arch: &DeclaredArch) -> Result<(), SpaceError> {
        self.encode(arch).map(|_| ())
    }
}

fn mismatch(path: &str, what: impl std::fmt::Display) -> SpaceError {
    SpaceError::Mismatch(format!("`{path}` {what}"))
}

/// The token of value `v` of choice decision `c` (at `path`).
fn index(c: &Choice, v: &ChoiceValue, path: &str) -> Result<usize, SpaceError> {
    c.choices.iter().position(|x| x == v).ok_or_else(|| {
        let list: Vec<String> = c.choices.iter().map(ToString::to_string).collect();
        mismatch(
            path,
            format!("is {v}, which is not one of [{}]", list.join(", ")),
        )
    })
}

/// Append the tokens of repeat `r` of group `group`.
fn encode_repeat(
    group: &str,
    r: usize,
    rep: &Repeat,
    slots: &[Slot],
    tokens: &mut Vec<usize>,
) -> Result<(), SpaceError> {
    let slot_name = |s: &Slot| match s {
        Slot::Choice(c) => c.name.clone(),
        Slot::Inputs { name } => name.clone(),
    };
    if let Some(key) = rep
        .0
        .keys()
        .find(|k| !slots.iter().any(|s| slot_name(s) == **k))
    {
        let names: Vec<String> = slots.iter().map(slot_name).collect();
        return Err(mismatch(
            &format!("{group}[{r}].{key}"),
            format!("is not a decision of the group; it has {names:?}"),
        ));
    }
    for slot in slots {
        let name = slot_name(slot);
        let path = format!("{group}[{r}].{name}");
        match (slot, rep.0.get(&name)) {
            (_, None) => return Err(mismatch(&path, "is missing")),
            (Slot::Choice(c), Some(Field::Value(v))) => tokens.push(index(c, v, &path)?),
            (Slot::Choice(_), Some(Field::Inputs(_))) => {
                return Err(mismatch(
                    &path,
                    "is a list, but it is a choice: give one of its choices",
                ))
            }
            (Slot::Inputs { .. }, Some(Field::Value(_))) => {
                return Err(mismatch(
                    &path,
                    "is a value, but it is an inputs decision: give a list of earlier repeats",
                ))
            }
            (Slot::Inputs { .. }, Some(Field::Inputs(inputs))) => {
                if let Some(j) = inputs.iter().find(|&&j| j >= r) {
                    let earlier = match r {
                        0 => "repeat 0 has no earlier repeats (give [])".to_string(),
                        1 => "repeat 1 can only take input from repeat 0".to_string(),
                        _ => format!(
                            "repeat {r} can only take inputs from repeats 0 to {}",
                            r - 1
                        ),
                    };
                    return Err(mismatch(&path, format!("lists {j}, but {earlier}")));
                }
                tokens.extend((0..r).map(|j| usize::from(inputs.contains(&j))));
            }
        }
    }
    Ok(())
}
