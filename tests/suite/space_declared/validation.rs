//! Every validation message of a declared space, in full: the key path of
//! the offending value, what is wrong and how to fix it; and the serde
//! errors of unknown keys and kinds.

use nas_actor::space::declared::{DeclaredError, Problem};

use super::{parse, space_of};

/// A group `layer` (repeat 2) with `decisions` appended as TOML.
fn group(decisions: &str) -> String {
    format!("[[space.custom.group]]\nname = \"layer\"\nrepeat = 2\n{decisions}")
}

fn decision(name: &str, rest: &str) -> String {
    format!("[[space.custom.decision]]\nname = \"{name}\"\n{rest}\n")
}

fn group_decision(name: &str, rest: &str) -> String {
    format!("[[space.custom.group.decision]]\nname = \"{name}\"\n{rest}\n")
}

/// The validation error of `text`, as shown.
fn message(text: &str) -> String {
    match space_of(text) {
        Ok(_) => panic!("expected an error for\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn empty_and_missing_choice_lists() {
    let text = group(&format!(
        "{}{}",
        group_decision("kernel", "choices = [1, 3]"),
        group_decision("filters", "choices = []")
    ));
    let expected = "`space.custom.group[0].decision[1].choices`: is an empty choice list; give at \
                    least one value, e.g. choices = [3, 5]";
    assert_eq!(message(&text), expected);
    let text = group(&format!(
        "{}{}",
        group_decision("kernel", "choices = [1, 3]"),
        group_decision("filters", "")
    ));
    assert_eq!(message(&text), expected);
    assert_eq!(
        message(&decision("lr", "choices = []")),
        "`space.custom.decision[0].choices`: is an empty choice list; give at least one value, \
         e.g. choices = [3, 5]"
    );
}

#[test]
fn duplicated_choices() {
    assert_eq!(
        message(&decision("filters", "choices = [3, 5, 3]")),
        "`space.custom.decision[0].choices`: lists 3 twice; give each choice once"
    );
    assert_eq!(
        message(&decision(
            "optimizer",
            "choices = [\"sgd\", \"adam\", \"sgd\"]"
        )),
        "`space.custom.decision[0].choices`: lists \"sgd\" twice; give each choice once"
    );
    assert_eq!(
        message(&group(&group_decision(
            "dropout",
            "choices = [0.5, 0.25, 0.5]"
        ))),
        "`space.custom.group[0].decision[0].choices`: lists 0.5 twice; give each choice once"
    );
}

#[test]
fn mixed_types_and_non_finite_floats() {
    let tail = "give every choice of a decision the same type (integers and floats do not mix: \
                write 3.0 for a float)";
    assert_eq!(
        message(&group(&group_decision("kernel", "choices = [3, \"a\"]"))),
        format!(
            "`space.custom.group[0].decision[0].choices`: mixes integer and string choices (3 \
             and \"a\"); {tail}"
        )
    );
    assert_eq!(
        message(&decision("lr", "choices = [0.5, 1]")),
        format!("`space.custom.decision[0].choices`: mixes float and integer choices (0.5 and 1); {tail}")
    );
    assert_eq!(
        message(&decision("bn", "choices = [true, 0]")),
        format!("`space.custom.decision[0].choices`: mixes boolean and integer choices (true and 0); {tail}")
    );
    assert_eq!(
        message(&decision("lr", "choices = [0.1, nan]")),
        "`space.custom.decision[0].choices`: choice 1 is NaN, not a finite number; give finite \
         floats only"
    );
    assert_eq!(
        message(&decision("lr", "choices = [inf]")),
        "`space.custom.decision[0].choices`: choice 0 is inf, not a finite number; give finite \
         floats only"
    );
}

#[test]
fn duplicate_and_invalid_names() {
    let lr = decision("lr", "choices = [0.1]");
    assert_eq!(
        message(&format!("{lr}{lr}")),
        "`space.custom.decision[1].name`: \"lr\" is already the name of `space.custom.decision[0]`; \
         give every global decision and group a name of its own"
    );
    let text = format!(
        "{lr}[[space.custom.group]]\nname = \"lr\"\nrepeat = 2\n{}",
        group_decision("k", "choices = [1]")
    );
    assert_eq!(
        message(&text),
        "`space.custom.group[0].name`: \"lr\" is already the name of `space.custom.decision[0]`; \
         give every global decision and group a name of its own"
    );
    let k = group_decision("kernel", "choices = [1]");
    let text = format!("{}{}", group(&k), group(&k));
    assert_eq!(
        message(&text),
        "`space.custom.group[1].name`: \"layer\" is already the name of `space.custom.group[0]`; \
         give every global decision and group a name of its own"
    );
    assert_eq!(
        message(&group(&format!("{k}{k}"))),
        "`space.custom.group[0].decision[1].name`: \"kernel\" is already the name of \
         `space.custom.group[0].decision[0]`; give every decision of a group a name of its own"
    );
    // The same decision name in two groups, or as a global and in a group, is fine.
    let other = format!("[[space.custom.group]]\nname = \"cell\"\nrepeat = 1\n{k}");
    let kernel = decision("kernel", "choices = [1]");
    assert!(space_of(&format!("{kernel}{}{other}", group(&k))).is_ok());
    assert_eq!(
        message(&decision("kernel size", "choices = [1]")),
        "`space.custom.decision[0].name`: \"kernel size\" is not a valid name; use letters, \
         digits, `_` and `-` (e.g. \"kernel_size\")"
    );
    assert_eq!(
        message(&group(&group_decision("layer.kernel", "choices = [1]"))),
        "`space.custom.group[0].decision[0].name`: \"layer.kernel\" is not a valid name; use \
         letters, digits, `_` and `-` (e.g. \"kernel_size\")"
    );
    assert_eq!(
        message(&format!(
            "[[space.custom.group]]\nname = \"\"\nrepeat = 2\n{k}"
        )),
        "`space.custom.group[0].name`: \"\" is not a valid name; use letters, digits, `_` and \
         `-` (e.g. \"kernel_size\")"
    );
}

#[test]
fn repeat_counts() {
    let k = group_decision("kernel", "choices = [1]");
    assert_eq!(
        message(&format!(
            "[[space.custom.group]]\nname = \"layer\"\nrepeat = 0\n{k}"
        )),
        "`space.custom.group[0].repeat`: must be at least 1 (the number of times the group's \
         decisions are taken)"
    );
    assert_eq!(
        message(&format!(
            "[[space.custom.group]]\nname = \"layer\"\nrepeat = 1001\n{k}"
        )),
        "`space.custom.group[0].repeat`: is 1001, more than the 1000 repeats a group may have; \
         lower it"
    );
    assert!(space_of(&format!(
        "[[space.custom.group]]\nname = \"layer\"\nrepeat = 1000\n{k}"
    ))
    .is_ok());
    assert_eq!(
        message("[[space.custom.group]]\nname = \"layer\"\nrepeat = 3\n"),
        "`space.custom.group[0].decision`: the group has no decisions; add \
         [[space.custom.group.decision]] tables under it, or remove the group"
    );
}

#[test]
fn misplaced_inputs_decisions() {
    assert_eq!(
        message(&decision("inputs", "kind = \"inputs\"")),
        "`space.custom.decision[0].kind`: is \"inputs\", but an inputs decision picks earlier \
         repeats of a group; move it into a [[space.custom.group]], or make it a choice with \
         choices = [...]"
    );
    assert_eq!(
        message(&group(&group_decision(
            "inputs",
            "kind = \"inputs\"\nchoices = [0, 1]"
        ))),
        "`space.custom.group[0].decision[0].choices`: an inputs decision takes no choices (it \
         picks earlier repeats); remove `choices`"
    );
    let inputs = group_decision("from", "kind = \"inputs\"");
    let also = group_decision("also", "kind = \"inputs\"");
    assert_eq!(
        message(&group(&format!("{inputs}{also}"))),
        "`space.custom.group[0].decision[1].kind`: is \"inputs\", but \
         `space.custom.group[0].decision[0]` already is; a group has at most one inputs decision"
    );
    let second = format!(
        "[[space.custom.group]]\nname = \"cell\"\nrepeat = 2\n{}{inputs}",
        group_decision("op", "choices = [\"a\"]")
    );
    assert_eq!(
        message(&format!("{}{second}", group(&inputs))),
        "`space.custom.group[1].decision[1].kind`: is \"inputs\", but \
         `space.custom.group[0].decision[0]` in another group already is; the controller's \
         anchor-point attention serves one repeated group, so only one group may have an inputs \
         decision"
    );
}

#[test]
fn the_order_lists_every_global_and_group_once() {
    let body = format!(
        "{}{}",
        decision("lr", "choices = [0.1]"),
        group(&group_decision("kernel", "choices = [1]"))
    );
    let with = |order: &str| format!("[space.custom]\norder = {order}\n{body}");
    assert!(space_of(&with("[\"layer\", \"lr\"]")).is_ok());
    assert_eq!(
        message(&with("[\"layer\", \"kernel\", \"lr\"]")),
        "`space.custom.order[1]`: names \"kernel\", which is neither a [[space.custom.decision]] \
         nor a [[space.custom.group]]; list only their names"
    );
    assert_eq!(
        message(&with("[\"lr\", \"layer\", \"lr\"]")),
        "`space.custom.order[2]`: lists \"lr\" twice; list every global decision and group once"
    );
    assert_eq!(
        message(&with("[\"layer\"]")),
        "`space.custom.order`: does not list \"lr\"; list every global decision and group once"
    );
}

#[test]
fn a_space_must_decide_something() {
    let expected = "`space.custom`: the space has nothing to decide; declare a \
                    [[space.custom.decision]] with choices, or a [[space.custom.group]] with \
                    decisions";
    assert_eq!(message("[space.custom]\n"), expected);
    // One repeat of nothing but inputs: no earlier repeats, so no tokens.
    let only_inputs = format!(
        "[[space.custom.group]]\nname = \"layer\"\nrepeat = 1\n{}",
        group_decision("from", "kind = \"inputs\"")
    );
    assert_eq!(message(&only_inputs), expected);
    // A single one-choice decision is a valid (constant) space.
    assert!(space_of(&decision("lr", "choices = [0.1]")).is_ok());
}

#[test]
fn the_error_carries_its_key_path_for_the_config_layer() {
    let err = space_of(&group(&group_decision("kernel", "choices = []"))).expect_err("empty");
    assert_eq!(
        err,
        DeclaredError {
            path: "space.custom.group[0].decision[0].choices".into(),
            problem: Problem::NoChoices,
        }
    );
}

#[test]
fn unknown_keys_kinds_and_values_fail_in_serde_naming_them() {
    let err = |text: &str| match parse(text) {
        Ok(c) => panic!("expected a serde error, got {c:?}"),
        Err(e) => e.message().to_string(),
    };
    let e = err(&decision("lr", "choice = [0.1]"));
    assert!(
        e.contains("unknown field `choice`") && e.contains("`choices`"),
        "{e}"
    );
    let e = err("[space.custom]\ngroups = []\n");
    assert!(e.contains("unknown field `groups`"), "{e}");
    let e = err("[[space.custom.group]]\nname = \"layer\"\nrepeats = 2\n");
    assert!(e.contains("unknown field `repeats`"), "{e}");
    let e = err("[[space.custom.group]]\nname = \"layer\"\n");
    assert!(e.contains("missing field `repeat`"), "{e}");
    let e = err(&decision("x", "kind = \"subset\""));
    assert!(
        e.contains("unknown variant `subset`") && e.contains("`inputs`"),
        "{e}"
    );
    let e = err(&decision("x", "choices = [{ a = 1 }]"));
    assert!(
        e.contains("expected a choice value: a string, an integer, a float or a boolean"),
        "{e}"
    );
}
