//! The CNN as a column of layers from the image (top) to the classifier
//! (bottom). An input from the layer right above is a straight arrow; every
//! other input (a skip connection, or the image) is an arc on the right
//! side; outputs that feed the classifier from higher up are arcs on the left.

use std::fmt::Write;

use plotters::style::RGBColor;

use super::{dot_quote, Arrow, Node, Scene, ACCENT, BOX_FILL, EDGE, IO_FILL};
use crate::space::{CnnArch, CnnLayer};

const BOX_W: i32 = 230;
const BOX_H: i32 = 40;
const ROW: i32 = 64;
/// x of the column's centre.
const X: i32 = 260;
/// Extra horizontal room per arc, cycled so arcs stay apart.
const ARC_STEP: i32 = 9;
const ARC_LANES: i32 = 14;

const OUT: RGBColor = RGBColor(40, 130, 60);

/// e.g. `3×5, 36 filters, stride 2×1, max pool`.
fn layer_text(i: usize, l: &CnnLayer) -> Vec<String> {
    let mut first = format!(
        "{i}: {}×{} conv, {}",
        l.filter_height, l.filter_width, l.num_filters
    );
    if l.stride_height != 1 || l.stride_width != 1 {
        first += &format!(" /{}×{}", l.stride_height, l.stride_width);
    }
    let mut second = "BN, ReLU".to_string();
    if l.max_pool {
        second += ", max pool";
    }
    vec![first, second]
}

/// The drawing of `arch`.
pub fn scene(arch: &CnnArch, title: &str) -> Scene {
    let n = arch.layers.len();
    let y_of = |row: usize| 60 + BOX_H / 2 + row as i32 * ROW;
    let io = |y, text: &str| Node {
        x: X,
        y,
        w: BOX_W,
        h: BOX_H,
        lines: vec![text.to_string()],
        fill: IO_FILL,
        dashed: false,
    };
    let image = io(y_of(0), "image");
    let layers: Vec<Node> = arch
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| Node {
            x: X,
            y: y_of(i + 1),
            w: BOX_W,
            h: BOX_H,
            lines: layer_text(i, l),
            fill: BOX_FILL,
            dashed: false,
        })
        .collect();
    let classifier = io(y_of(n + 1), "global average pool, linear, softmax");
    let mut arrows = Vec::new();
    let mut lane = 0;
    let mut arc = |from: &Node, to: &Node, right: bool, colour| {
        let offset = 16 + ARC_STEP * (lane % ARC_LANES);
        lane += 1;
        let (a, b, x) = if right {
            let (a, b) = (from.right(), to.right());
            (a, b, from.x + from.w / 2 + offset)
        } else {
            let (a, b) = (from.left(), to.left());
            (a, b, from.x - from.w / 2 - offset)
        };
        // Enter slightly above the middle so arcs into one box stay apart.
        let b = (b.0, b.1 - 6 + (lane % 3) * 6);
        Arrow {
            points: vec![a, (x, a.1), (x, b.1), b],
            colour,
            dashed: false,
        }
    };
    for (i, l) in arch.layers.iter().enumerate() {
        let to = &layers[i];
        if l.inputs.is_empty() {
            if i == 0 {
                arrows.push(straight(&image, to));
            } else {
                arrows.push(arc(&image, to, true, ACCENT));
            }
        }
        for &j in &l.inputs {
            let Some(from) = layers.get(j) else { continue };
            if j + 1 == i {
                arrows.push(straight(from, to));
            } else {
                arrows.push(arc(from, to, true, ACCENT));
            }
        }
    }
    for j in arch.outputs() {
        if j + 1 == n {
            arrows.push(straight(&layers[j], &classifier));
        } else {
            arrows.push(arc(&layers[j], &classifier, false, OUT));
        }
    }
    let mut nodes = vec![image];
    nodes.extend(layers);
    nodes.push(classifier);
    Scene {
        width: (2 * X) as u32,
        height: (y_of(n + 1) + BOX_H + 20) as u32,
        title: title.to_string(),
        nodes,
        arrows,
    }
}

fn straight(from: &Node, to: &Node) -> Arrow {
    Arrow {
        points: vec![from.bottom(), to.top()],
        colour: EDGE,
        dashed: false,
    }
}

/// The CNN as a Graphviz digraph (top to bottom).
pub fn dot(arch: &CnnArch) -> String {
    let mut s = String::from("digraph cnn {\n  rankdir=TB;\n  node [shape=box, style=filled, fillcolor=\"#deebf7\", fontname=\"sans-serif\"];\n  image [label=\"image\", fillcolor=\"#f0f0f0\"];\n  classifier [label=\"global average pool, linear, softmax\", fillcolor=\"#f0f0f0\"];\n");
    for (i, l) in arch.layers.iter().enumerate() {
        let _ = writeln!(
            s,
            "  layer{i} [label={}];",
            dot_quote(&layer_text(i, l).join("\\n")).replace("\\\\n", "\\n")
        );
        if l.inputs.is_empty() {
            let _ = writeln!(s, "  image -> layer{i};");
        }
        for &j in &l.inputs {
            let style = if j + 1 == i {
                ""
            } else {
                " [color=\"#c85a14\"]"
            };
            let _ = writeln!(s, "  layer{j} -> layer{i}{style};");
        }
    }
    for j in arch.outputs() {
        let _ = writeln!(s, "  layer{j} -> classifier;");
    }
    s.push_str("}\n");
    s
}
