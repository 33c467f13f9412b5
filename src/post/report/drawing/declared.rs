//! A declared space's architecture: a box of its global decisions, then each
//! repeated group as a column of boxes (one per repeat, its choices inside)
//! with an arrow from every earlier repeat its `inputs` decision picked — a
//! layer graph when the space has inputs, a table of choices otherwise.

use std::fmt::Write;

use super::{dot_quote, Arrow, Node, Scene, ACCENT, BOX_FILL, EDGE, IO_FILL};
use crate::space::declared::{Entry, Field};
use crate::space::DeclaredArch;

const BOX_W: i32 = 320;
const BOX_H: i32 = 40;
const ROW: i32 = 64;
const X: i32 = 240;
const ARC_STEP: i32 = 12;

/// The choices of one repeat, and the repeats its inputs picked.
fn repeat_lines(
    group: &str,
    i: usize,
    fields: &std::collections::BTreeMap<String, Field>,
) -> (String, Vec<usize>) {
    let mut parts = Vec::new();
    let mut inputs = Vec::new();
    for (name, f) in fields {
        match f {
            Field::Value(v) => parts.push(format!("{name}={v}")),
            Field::Inputs(ins) => inputs.extend(ins.iter().copied()),
        }
    }
    (format!("{group} {i}: {}", parts.join(", ")), inputs)
}

/// The drawing of `arch`.
pub fn scene(arch: &DeclaredArch, title: &str) -> Scene {
    let mut nodes = Vec::new();
    let mut arrows = Vec::new();
    let mut y = 40;
    let globals: Vec<String> = arch
        .0
        .iter()
        .filter_map(|(n, e)| match e {
            Entry::Value(v) => Some(format!("{n} = {v}")),
            Entry::Repeats(_) => None,
        })
        .collect();
    if !globals.is_empty() {
        let h = BOX_H.max(18 * globals.len() as i32 + 10);
        nodes.push(Node {
            x: X,
            y: y + h / 2,
            w: BOX_W,
            h,
            lines: globals,
            fill: IO_FILL,
            dashed: false,
        });
        y += h + ROW - BOX_H;
    }
    for (group, entry) in &arch.0 {
        let Entry::Repeats(repeats) = entry else {
            continue;
        };
        let first = nodes.len();
        for (i, r) in repeats.iter().enumerate() {
            let (line, inputs) = repeat_lines(group, i, &r.0);
            let cy = y + BOX_H / 2;
            for j in inputs {
                let Some(from) = nodes.get(first + j) else {
                    continue;
                };
                let lane = X + BOX_W / 2 + ARC_STEP * (1 + (i + j) as i32 % 10);
                arrows.push(Arrow {
                    points: vec![
                        (from.x + from.w / 2, from.y),
                        (lane, from.y),
                        (lane, cy),
                        (X + BOX_W / 2, cy),
                    ],
                    colour: if j + 1 == i { EDGE } else { ACCENT },
                    dashed: false,
                });
            }
            nodes.push(Node {
                x: X,
                y: cy,
                w: BOX_W,
                h: BOX_H,
                lines: vec![line],
                fill: BOX_FILL,
                dashed: false,
            });
            y += ROW;
        }
        y += ROW / 2;
    }
    Scene {
        width: (X + BOX_W / 2 + ARC_STEP * 12 + 40) as u32,
        height: (y + 20).max(120) as u32,
        title: title.to_string(),
        nodes,
        arrows,
    }
}

/// The DOT text of `arch`.
pub fn dot(arch: &DeclaredArch) -> String {
    let mut s = String::from("digraph architecture {\n  rankdir=TB;\n  node [shape=box];\n");
    for (name, entry) in &arch.0 {
        match entry {
            Entry::Value(v) => {
                let _ = writeln!(
                    s,
                    "  {} [label={}];",
                    dot_quote(name),
                    dot_quote(&format!("{name} = {v}"))
                );
            }
            Entry::Repeats(repeats) => {
                for (i, r) in repeats.iter().enumerate() {
                    let (line, inputs) = repeat_lines(name, i, &r.0);
                    let id = format!("{name}_{i}");
                    let _ = writeln!(s, "  {} [label={}];", dot_quote(&id), dot_quote(&line));
                    for j in inputs {
                        let _ = writeln!(
                            s,
                            "  {} -> {};",
                            dot_quote(&format!("{name}_{j}")),
                            dot_quote(&id)
                        );
                    }
                }
            }
        }
    }
    s.push_str("}\n");
    s
}
