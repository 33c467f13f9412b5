//! Drawings of an architecture from a simple layout computed here (no
//! Graphviz needed): a [`Scene`] of boxes, arrows and labels, drawn into PNG
//! and SVG through [`Picture`], and a Graphviz DOT text of the same graph.
//!
//! - [`cnn`]: the CNN as a column of layers, skip connections as arcs beside it;
//! - [`cell`]: the recurrent cell as a tree in the style of the paper's
//!   Figure 5 (leaves take x_t and h_{t-1}; combination and activation at each
//!   node; the cell inject and c_t marked).

pub mod cell;
pub mod cnn;
pub mod declared;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::picture::{DrawError, Picture};
use crate::space::Architecture;

/// The palette both drawings share.
const BOX_FILL: RGBColor = RGBColor(222, 235, 247);
const IO_FILL: RGBColor = RGBColor(240, 240, 240);
const EDGE: RGBColor = RGBColor(60, 60, 60);
/// Skip connections (CNN) and the cell-state path (cell).
const ACCENT: RGBColor = RGBColor(200, 90, 20);

/// A box with centred lines of text.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Centre.
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
    pub lines: Vec<String>,
    pub fill: RGBColor,
    /// Dashed outline (e.g. the node that becomes c_t).
    pub dashed: bool,
}

/// A polyline ending in an arrowhead.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrow {
    pub points: Vec<(i32, i32)>,
    pub colour: RGBColor,
    pub dashed: bool,
}

/// Everything a drawing shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scene {
    pub width: u32,
    pub height: u32,
    pub title: String,
    pub nodes: Vec<Node>,
    pub arrows: Vec<Arrow>,
}

impl Node {
    /// The middle of the top edge.
    pub fn top(&self) -> (i32, i32) {
        (self.x, self.y - self.h / 2)
    }
    /// The middle of the bottom edge.
    pub fn bottom(&self) -> (i32, i32) {
        (self.x, self.y + self.h / 2)
    }
    /// The middle of the right edge.
    pub fn right(&self) -> (i32, i32) {
        (self.x + self.w / 2, self.y)
    }
    /// The middle of the left edge.
    pub fn left(&self) -> (i32, i32) {
        (self.x - self.w / 2, self.y)
    }
}

/// The segments of a dashed polyline (dash and gap of `dash` pixels).
fn dashes(points: &[(i32, i32)], dash: f64) -> Vec<[(i32, i32); 2]> {
    let mut out = Vec::new();
    for pair in points.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let (dx, dy) = (f64::from(b.0 - a.0), f64::from(b.1 - a.1));
        let len = dx.hypot(dy);
        let mut t = 0.0;
        while t < len {
            let end = (t + dash).min(len);
            let at = |s: f64| {
                (
                    a.0 + (dx * s / len).round() as i32,
                    a.1 + (dy * s / len).round() as i32,
                )
            };
            out.push([at(t), at(end)]);
            t += 2.0 * dash;
        }
    }
    out
}

impl Picture for Scene {
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError<DB>> {
        let title =
            TextStyle::from(("sans-serif", 20).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        root.draw(&Text::new(
            self.title.clone(),
            (self.width as i32 / 2, 8),
            title,
        ))?;
        for a in &self.arrows {
            let style = a.colour.stroke_width(2);
            if a.dashed {
                for seg in dashes(&a.points, 6.0) {
                    root.draw(&PathElement::new(seg.to_vec(), style))?;
                }
            } else {
                root.draw(&PathElement::new(a.points.clone(), style))?;
            }
            if let [.., from, to] = a.points.as_slice() {
                root.draw(&Polygon::new(arrow_head(*from, *to), a.colour.filled()))?;
            }
        }
        let text = TextStyle::from(("sans-serif", 14).into_font())
            .pos(Pos::new(HPos::Center, VPos::Center));
        for n in &self.nodes {
            let (x0, y0) = (n.x - n.w / 2, n.y - n.h / 2);
            let (x1, y1) = (n.x + n.w / 2, n.y + n.h / 2);
            root.draw(&Rectangle::new([(x0, y0), (x1, y1)], n.fill.filled()))?;
            let outline = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)];
            if n.dashed {
                for seg in dashes(&outline, 5.0) {
                    root.draw(&PathElement::new(seg.to_vec(), BLACK.stroke_width(2)))?;
                }
            } else {
                root.draw(&PathElement::new(outline.to_vec(), BLACK.stroke_width(1)))?;
            }
            let lines = n.lines.len() as i32;
            for (i, line) in n.lines.iter().enumerate() {
                let y = n.y + (2 * i as i32 - (lines - 1)) * 9;
                root.draw(&Text::new(line.clone(), (n.x, y), text.clone()))?;
            }
        }
        Ok(())
    }
}

/// The triangle of an arrowhead at `to`, pointing away from `from`.
fn arrow_head(from: (i32, i32), to: (i32, i32)) -> Vec<(i32, i32)> {
    let (dx, dy) = (f64::from(to.0 - from.0), f64::from(to.1 - from.1));
    let len = dx.hypot(dy).max(1e-9);
    let (ux, uy) = (dx / len, dy / len);
    let (size, half) = (10.0, 5.0);
    let base = (f64::from(to.0) - ux * size, f64::from(to.1) - uy * size);
    vec![
        to,
        ((base.0 - uy * half) as i32, (base.1 + ux * half) as i32),
        ((base.0 + uy * half) as i32, (base.1 - ux * half) as i32),
    ]
}

/// Quote a string for DOT.
pub fn dot_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The drawing and the DOT text of an architecture.
pub fn draw(arch: &Architecture, title: &str) -> (Scene, String) {
    match arch {
        Architecture::Cnn(a) => (cnn::scene(a, title), cnn::dot(a)),
        Architecture::Cell(a) => (cell::scene(a, title), cell::dot(a)),
        Architecture::Custom { decisions } => {
            (declared::scene(decisions, title), declared::dot(decisions))
        }
    }
}
