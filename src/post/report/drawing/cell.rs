//! The recurrent cell as a tree: leaves at the bottom, each fed by x_t and
//! h_{t-1}; every node shows its number, combination and activation; the
//! root's output is h_t. The cell inject is a box above its node, fed by
//! c_{t-1} from the side; the node whose pre-activation becomes c_t has a
//! dashed outline and a dashed arrow to c_t.

use std::fmt::Write;

use plotters::style::RGBColor;

use super::{dot_quote, Arrow, Node, Scene, ACCENT, BOX_FILL, EDGE, IO_FILL};
use crate::space::cell::{children, num_nodes};
use crate::space::CellArch;

/// Width of a leaf's column.
const COLUMN: i32 = 180;
/// Height of a tree level.
const ROW: i32 = 130;
const NODE_W: i32 = 110;
const NODE_H: i32 = 44;
const SIDE_W: i32 = 56;

const STATE_FILL: RGBColor = RGBColor(253, 226, 200);

/// Level of node `k` (leaves 0) and the parent of every node.
fn levels_and_parents(base: usize) -> (Vec<usize>, Vec<Option<usize>>) {
    let n = num_nodes(base);
    let mut level = vec![0; n];
    let mut parent = vec![None; n];
    for k in base..n {
        if let Some((l, r)) = children(base, k) {
            level[k] = level[l] + 1;
            parent[l] = Some(k);
            parent[r] = Some(k);
        }
    }
    (level, parent)
}

/// Is `k` the left child of its parent (the root counts as right)?
fn is_left(base: usize, k: usize, parent: Option<usize>) -> bool {
    parent
        .and_then(|p| children(base, p))
        .is_some_and(|(l, _)| l == k)
}

/// The drawing of `arch`.
pub fn scene(arch: &CellArch, title: &str) -> Scene {
    let base = arch.base;
    let n = num_nodes(base).min(arch.nodes.len());
    let (level, parent) = levels_and_parents(base);
    let top_level = level.iter().copied().max().unwrap_or(0) as i32;
    let y_of = |l: usize| 60 + 40 + (top_level - l as i32 + 1) * ROW;
    let mut xs = vec![0i32; n];
    for k in 0..n {
        xs[k] = match children(base, k) {
            None => 40 + COLUMN / 2 + k as i32 * COLUMN,
            Some((l, r)) => (xs[l] + xs[r]) / 2,
        };
    }
    let mut nodes = Vec::new();
    let mut arrows = Vec::new();
    let arrow = |points, colour, dashed| Arrow {
        points,
        colour,
        dashed,
    };
    let tree: Vec<Node> = (0..n)
        .map(|k| {
            let node = arch.nodes[k];
            let mut lines = vec![
                format!("n{k}"),
                format!("{} · {}", node.combination.name(), node.activation.name()),
            ];
            if k == arch.cell_node {
                lines[0] += "  (c_t)";
            }
            Node {
                x: xs[k],
                y: y_of(level[k]),
                w: NODE_W,
                h: NODE_H,
                lines,
                fill: BOX_FILL,
                dashed: k == arch.cell_node,
            }
        })
        .collect();
    // Where each node's output leaves from: the inject box for the inject node.
    let mut out_from: Vec<(i32, i32)> = tree.iter().map(Node::top).collect();
    for k in 0..n {
        let t = &tree[k];
        let side = if is_left(base, k, parent[k]) { -1 } else { 1 };
        if children(base, k).is_none() {
            let input = Node {
                x: t.x,
                y: t.y + ROW * 2 / 3,
                w: NODE_W,
                h: 36,
                lines: vec!["x_t, h_(t-1)".into()],
                fill: IO_FILL,
                dashed: false,
            };
            arrows.push(arrow(vec![input.top(), t.bottom()], EDGE, false));
            nodes.push(input);
        }
        if k == arch.inject_node {
            let inject = Node {
                x: t.x,
                y: t.y - ROW / 2,
                w: NODE_W,
                h: 36,
                lines: vec![format!(
                    "inject {} · {}",
                    arch.inject.combination.name(),
                    arch.inject.activation.name()
                )],
                fill: STATE_FILL,
                dashed: false,
            };
            let c_prev = Node {
                x: t.x + side * (NODE_W / 2 + SIDE_W / 2 + 14),
                y: inject.y - 40,
                w: SIDE_W,
                h: 28,
                lines: vec!["c_(t-1)".into()],
                fill: STATE_FILL,
                dashed: false,
            };
            arrows.push(arrow(vec![t.top(), inject.bottom()], EDGE, false));
            let entry = if side < 0 {
                inject.left()
            } else {
                inject.right()
            };
            arrows.push(arrow(
                vec![c_prev.bottom(), (c_prev.x, entry.1), entry],
                ACCENT,
                false,
            ));
            out_from[k] = inject.top();
            nodes.push(inject);
            nodes.push(c_prev);
        }
        if k == arch.cell_node {
            let c_t = Node {
                x: t.x + side * (NODE_W / 2 + 30),
                y: t.y + 36,
                w: 40,
                h: 28,
                lines: vec!["c_t".into()],
                fill: STATE_FILL,
                dashed: false,
            };
            let exit = if side < 0 { t.left() } else { t.right() };
            arrows.push(arrow(vec![exit, (c_t.x, exit.1), c_t.top()], ACCENT, true));
            nodes.push(c_t);
        }
    }
    for k in 0..n {
        if let Some(p) = parent[k] {
            arrows.push(arrow(vec![out_from[k], tree[p].bottom()], EDGE, false));
        }
    }
    let root = n.saturating_sub(1);
    if let Some(r) = tree.get(root) {
        let h_t = Node {
            x: r.x,
            y: 60 + 20,
            w: 70,
            h: 30,
            lines: vec!["h_t".into()],
            fill: IO_FILL,
            dashed: false,
        };
        arrows.push(arrow(vec![out_from[root], h_t.bottom()], EDGE, false));
        nodes.push(h_t);
    }
    nodes.extend(tree);
    Scene {
        width: (80 + base as i32 * COLUMN) as u32,
        height: (y_of(0) + ROW * 2 / 3 + 50) as u32,
        title: title.to_string(),
        nodes,
        arrows,
    }
}

/// The cell as a Graphviz digraph (bottom to top).
pub fn dot(arch: &CellArch) -> String {
    let base = arch.base;
    let n = num_nodes(base).min(arch.nodes.len());
    let mut s = String::from("digraph cell {\n  rankdir=BT;\n  node [shape=box, style=filled, fillcolor=\"#deebf7\", fontname=\"sans-serif\"];\n");
    for (k, node) in arch.nodes.iter().enumerate().take(n) {
        let mut label = format!(
            "n{k}\\n{} · {}",
            node.combination.name(),
            node.activation.name()
        );
        let mut extra = String::new();
        if k == arch.cell_node {
            label += "\\n(c_t = pre)";
            extra = ", style=\"filled,dashed\"".into();
        }
        let _ = writeln!(s, "  n{k} [label=\"{label}\"{extra}];");
        if children(base, k).is_none() {
            let _ = writeln!(
                s,
                "  in{k} [label={}, fillcolor=\"#f0f0f0\"];\n  in{k} -> n{k};",
                dot_quote("x_t, h_(t-1)")
            );
        }
    }
    let inj = arch.inject_node;
    let _ = writeln!(
        s,
        "  inject [label={}, fillcolor=\"#fde2c8\"];\n  c_prev [label=\"c_(t-1)\", fillcolor=\"#fde2c8\"];\n  n{inj} -> inject;\n  c_prev -> inject;",
        dot_quote(&format!(
            "inject {} · {}",
            arch.inject.combination.name(),
            arch.inject.activation.name()
        ))
    );
    let _ = writeln!(
        s,
        "  c_t [label=\"c_t\", fillcolor=\"#fde2c8\"];\n  n{} -> c_t [style=dashed];",
        arch.cell_node
    );
    let (_, parent) = levels_and_parents(base);
    for (k, up) in parent.iter().enumerate().take(n) {
        let from = if k == inj {
            "inject".to_string()
        } else {
            format!("n{k}")
        };
        match up {
            Some(p) => {
                let _ = writeln!(s, "  {from} -> n{p};");
            }
            None => {
                let _ = writeln!(
                    s,
                    "  h_t [label=\"h_t\", fillcolor=\"#f0f0f0\"];\n  {from} -> h_t;"
                );
            }
        }
    }
    s.push_str("}\n");
    s
}
