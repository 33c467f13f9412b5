//! Validation of a `[space.custom]` config: every error names the key path
//! of the offending value (`space.custom.group[0].decision[1].choices`;
//! indices count from 0 in the order the tables are written) and says how
//! to fix it.

use super::config::{ChoiceValue, DecisionConfig, DecisionKind, DeclaredSpaceConfig};

/// The key path every declared-space key starts with.
pub const ROOT: &str = "space.custom";

/// The most repeats a group may have.
pub const MAX_REPEAT: usize = 1000;

/// A declared space that cannot be built: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{path}`: {problem}")]
pub struct DeclaredError {
    /// The key path, e.g. `space.custom.group[0].decision[1].choices`.
    pub path: String,
    /// What is wrong there.
    pub problem: Problem,
}

/// What is wrong with a declared space (the message says how to fix it).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error(
        "the space has nothing to decide; declare a [[space.custom.decision]] with choices, or a \
         [[space.custom.group]] with decisions"
    )]
    NothingToDecide,
    #[error(
        "{name:?} is not a valid name; use letters, digits, `_` and `-` (e.g. \"kernel_size\")"
    )]
    BadName { name: String },
    #[error("{name:?} is already the name of `{first}`; give every {what} a name of its own")]
    DuplicateName {
        name: String,
        first: String,
        what: &'static str,
    },
    #[error("is an empty choice list; give at least one value, e.g. choices = [3, 5]")]
    NoChoices,
    #[error(
        "mixes {first} and {other} choices ({first_value} and {other_value}); give every choice \
         of a decision the same type (integers and floats do not mix: write 3.0 for a float)"
    )]
    MixedTypes {
        first: &'static str,
        other: &'static str,
        first_value: String,
        other_value: String,
    },
    #[error("choice {index} is {value}, not a finite number; give finite floats only")]
    NonFinite { index: usize, value: String },
    #[error("lists {value} twice; give each choice once")]
    DuplicateChoice { value: String },
    #[error("must be at least 1 (the number of times the group's decisions are taken)")]
    ZeroRepeat,
    #[error("is {repeat}, more than the {MAX_REPEAT} repeats a group may have; lower it")]
    RepeatTooLarge { repeat: usize },
    #[error(
        "the group has no decisions; add [[space.custom.group.decision]] tables under it, or \
         remove the group"
    )]
    EmptyGroup,
    #[error(
        "is \"inputs\", but an inputs decision picks earlier repeats of a group; move it into a \
         [[space.custom.group]], or make it a choice with choices = [...]"
    )]
    InputsOutsideGroup,
    #[error("an inputs decision takes no choices (it picks earlier repeats); remove `choices`")]
    InputsWithChoices,
    #[error("is \"inputs\", but `{first}` already is; a group has at most one inputs decision")]
    SecondInputs { first: String },
    #[error(
        "is \"inputs\", but `{first}` in another group already is; the controller's anchor-point \
         attention serves one repeated group, so only one group may have an inputs decision"
    )]
    InputsInTwoGroups { first: String },
    #[error(
        "names {name:?}, which is neither a [[space.custom.decision]] nor a \
         [[space.custom.group]]; list only their names"
    )]
    UnknownInOrder { name: String },
    #[error("lists {name:?} twice; list every global decision and group once")]
    DuplicateInOrder { name: String },
    #[error("does not list {name:?}; list every global decision and group once")]
    MissingFromOrder { name: String },
}

fn err(path: impl Into<String>, problem: Problem) -> DeclaredError {
    DeclaredError {
        path: path.into(),
        problem,
    }
}

/// Letters, digits, `_` and `-`, at least one.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn check_name(path: &str, name: &str) -> Result<(), DeclaredError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(err(
            format!("{path}.name"),
            Problem::BadName {
                name: name.to_string(),
            },
        ))
    }
}

/// Check a choice list at `path` (the `choices` key).
fn check_choices(path: &str, choices: Option<&[ChoiceValue]>) -> Result<(), DeclaredError> {
    let choices = choices.unwrap_or(&[]);
    let Some(first) = choices.first() else {
        return Err(err(path, Problem::NoChoices));
    };
    if let Some(other) = choices.iter().find(|c| c.type_name() != first.type_name()) {
        return Err(err(
            path,
            Problem::MixedTypes {
                first: first.type_name(),
                other: other.type_name(),
                first_value: first.to_string(),
                other_value: other.to_string(),
            },
        ));
    }
    if let Some((index, value)) = choices.iter().enumerate().find(|(_, c)| c.is_non_finite()) {
        return Err(err(
            path,
            Problem::NonFinite {
                index,
                value: value.to_string(),
            },
        ));
    }
    for (i, c) in choices.iter().enumerate() {
        if choices[..i].contains(c) {
            return Err(err(
                path,
                Problem::DuplicateChoice {
                    value: c.to_string(),
                },
            ));
        }
    }
    Ok(())
}

/// Check one decision at `path`; `in_group` says whether inputs are allowed.
fn check_decision(path: &str, d: &DecisionConfig, in_group: bool) -> Result<(), DeclaredError> {
    check_name(path, &d.name)?;
    match d.kind {
        DecisionKind::Choice => check_choices(&format!("{path}.choices"), d.choices.as_deref()),
        DecisionKind::Inputs if !in_group => {
            Err(err(format!("{path}.kind"), Problem::InputsOutsideGroup))
        }
        DecisionKind::Inputs if d.choices.is_some() => {
            Err(err(format!("{path}.choices"), Problem::InputsWithChoices))
        }
        DecisionKind::Inputs => Ok(()),
    }
}

/// The first earlier name equal to `name` among `(name, path)` pairs.
fn duplicate(
    seen: &[(String, String)],
    name: &str,
    path: &str,
    what: &'static str,
) -> Result<(), DeclaredError> {
    match seen.iter().find(|(n, _)| n == name) {
        Some((_, first)) => Err(err(
            format!("{path}.name"),
            Problem::DuplicateName {
                name: name.to_string(),
                first: first.clone(),
                what,
            },
        )),
        None => Ok(()),
    }
}

/// Check everything about a declared space that serde cannot.
pub fn validate(cfg: &DeclaredSpaceConfig) -> Result<(), DeclaredError> {
    // Global decisions and groups share one namespace: the architecture's top-level keys.
    let mut top: Vec<(String, String)> = Vec::new();
    for (i, d) in cfg.decisions.iter().enumerate() {
        let path = format!("{ROOT}.decision[{i}]");
        check_decision(&path, d, false)?;
        duplicate(&top, &d.name, &path, "global decision and group")?;
        top.push((d.name.clone(), path));
    }
    let mut inputs_at: Option<String> = None;
    for (g, group) in cfg.groups.iter().enumerate() {
        let gpath = format!("{ROOT}.group[{g}]");
        check_name(&gpath, &group.name)?;
        duplicate(&top, &group.name, &gpath, "global decision and group")?;
        top.push((group.name.clone(), gpath.clone()));
        if group.repeat == 0 {
            return Err(err(format!("{gpath}.repeat"), Problem::ZeroRepeat));
        }
        if group.repeat > MAX_REPEAT {
            let repeat = group.repeat;
            return Err(err(
                format!("{gpath}.repeat"),
                Problem::RepeatTooLarge { repeat },
            ));
        }
        if group.decisions.is_empty() {
            return Err(err(format!("{gpath}.decision"), Problem::EmptyGroup));
        }
        let mut names: Vec<(String, String)> = Vec::new();
        let mut group_inputs: Option<String> = None;
        for (i, d) in group.decisions.iter().enumerate() {
            let path = format!("{gpath}.decision[{i}]");
            check_decision(&path, d, true)?;
            duplicate(&names, &d.name, &path, "decision of a group")?;
            names.push((d.name.clone(), path.clone()));
            if d.kind == DecisionKind::Inputs {
                if let Some(first) = &group_inputs {
                    let first = first.clone();
                    return Err(err(format!("{path}.kind"), Problem::SecondInputs { first }));
                }
                if let Some(first) = &inputs_at {
                    let first = first.clone();
                    return Err(err(
                        format!("{path}.kind"),
                        Problem::InputsInTwoGroups { first },
                    ));
                }
                group_inputs = Some(path.clone());
            }
        }
        if group_inputs.is_some() {
            inputs_at = group_inputs;
        }
    }
    if let Some(order) = &cfg.order {
        for (k, name) in order.iter().enumerate() {
            let path = format!("{ROOT}.order[{k}]");
            if !top.iter().any(|(n, _)| n == name) {
                let name = name.clone();
                return Err(err(path, Problem::UnknownInOrder { name }));
            }
            if order[..k].contains(name) {
                let name = name.clone();
                return Err(err(path, Problem::DuplicateInOrder { name }));
            }
        }
        if let Some((name, _)) = top.iter().find(|(n, _)| !order.contains(n)) {
            let name = name.clone();
            return Err(err(
                format!("{ROOT}.order"),
                Problem::MissingFromOrder { name },
            ));
        }
    }
    let tokens = cfg.decisions.len()
        + cfg
            .groups
            .iter()
            .map(|g| {
                g.decisions
                    .iter()
                    .map(|d| match d.kind {
                        DecisionKind::Choice => g.repeat,
                        DecisionKind::Inputs => g.repeat * g.repeat.saturating_sub(1) / 2,
                    })
                    .sum::<usize>()
            })
            .sum::<usize>();
    if tokens == 0 {
        return Err(err(ROOT, Problem::NothingToDecide));
    }
    Ok(())
}
