//! How the controller's choices shift over the run: for every decision type
//! (head) the share of each option among the decisions of that head, per
//! window of children in index order, one panel per head (and one for the
//! CNN's skip connections: the share of earlier layers connected).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::picture::{colour, DrawError, Picture};
use crate::config::Config;
use crate::space::{SearchSpace, Step};
use crate::store::ChildRecord;

/// Windows along the run at most.
const MAX_WINDOWS: usize = 20;

/// One panel: a decision type and its options' shares per window.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    pub head: String,
    pub options: Vec<String>,
    /// `shares[option][window]` in [0, 1]; NaN where the window had no such decision.
    pub shares: Vec<Vec<f64>>,
}

/// The choices picture.
pub struct ChoicePicture {
    pub panels: Vec<Panel>,
    /// Centre child index of each window.
    pub centres: Vec<f64>,
}

impl ChoicePicture {
    /// Count the decisions of every record whose tokens fit the run's space.
    pub fn new(records: &[ChildRecord], config: &Config) -> ChoicePicture {
        // A loaded config's space is valid; a picture of nothing otherwise.
        let Ok(space) = SearchSpace::from_config(config) else {
            return ChoicePicture {
                panels: Vec::new(),
                centres: Vec::new(),
            };
        };
        let heads = space.heads();
        let skip = heads.len();
        let mut sorted: Vec<&ChildRecord> = records.iter().collect();
        sorted.sort_by_key(|r| r.spec.id);
        let per = sorted.len().div_ceil(MAX_WINDOWS).max(1);
        let windows = sorted.len().div_ceil(per).max(1);
        // counts[head][option][window]; the extra head is the skip connections.
        let mut counts: Vec<Vec<Vec<f64>>> = heads
            .iter()
            .map(|h| vec![vec![0.0; windows]; h.size])
            .chain(std::iter::once(vec![vec![0.0; windows]; 2]))
            .collect();
        let mut centres = vec![0.0; windows];
        let mut members = vec![0usize; windows];
        for (i, r) in sorted.iter().enumerate() {
            let w = (i / per).min(windows - 1);
            centres[w] += r.spec.id as f64;
            members[w] += 1;
            let Ok(schema) = space.schema_for_len(r.spec.tokens.len()) else {
                continue;
            };
            if schema.check(&r.spec.tokens).is_err() {
                continue;
            }
            let mut pos = 0;
            for step in &schema.steps {
                match *step {
                    Step::Choice { head } => {
                        counts[head][r.spec.tokens[pos]][w] += 1.0;
                        pos += 1;
                    }
                    Step::Anchor { layer } => {
                        for _ in 0..layer {
                            counts[skip][r.spec.tokens[pos]][w] += 1.0;
                            pos += 1;
                        }
                    }
                }
            }
        }
        for (c, m) in centres.iter_mut().zip(&members) {
            *c /= (*m).max(1) as f64;
        }
        // Each head's options as its space names them; the skip connections last.
        let mut names: Vec<(String, usize, Vec<String>)> = heads
            .iter()
            .enumerate()
            .map(|(i, h)| (h.name.to_string(), h.size, space.option_labels(i)))
            .collect();
        names.push(("skip".into(), 2, vec!["no".into(), "yes".into()]));
        let panels = names
            .into_iter()
            .zip(counts)
            .filter(|((_, size, _), c)| *size > 0 && c.iter().flatten().any(|&x| x > 0.0))
            .map(|((head, _, options), c)| {
                let totals: Vec<f64> = (0..windows).map(|w| c.iter().map(|o| o[w]).sum()).collect();
                let shares = c
                    .iter()
                    .map(|o| {
                        o.iter()
                            .zip(&totals)
                            .map(|(x, t)| if *t > 0.0 { x / t } else { f64::NAN })
                            .collect()
                    })
                    .collect();
                Panel {
                    options,
                    head,
                    shares,
                }
            })
            .collect();
        ChoicePicture { panels, centres }
    }
}

const PANEL: (u32, u32) = (520, 300);

impl Picture for ChoicePicture {
    fn size(&self) -> (u32, u32) {
        let rows = self.panels.len().div_ceil(2).max(1) as u32;
        (2 * PANEL.0, rows * PANEL.1 + 40)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError<DB>> {
        let root = root.titled(
            "Share of each option per decision type, over the run",
            ("sans-serif", 22),
        )?;
        if self.panels.is_empty() {
            return root.draw(&Text::new(
                "no children recorded yet",
                (20, 20),
                ("sans-serif", 18),
            ));
        }
        let rows = self.panels.len().div_ceil(2);
        let areas = root.split_evenly((rows, 2));
        let x_max = self.centres.last().copied().unwrap_or(1.0).max(1.0);
        for (panel, area) in self.panels.iter().zip(areas.iter()) {
            let mut chart = ChartBuilder::on(area)
                .caption(&panel.head, ("sans-serif", 16))
                .margin(8)
                .x_label_area_size(28)
                .y_label_area_size(40)
                .build_cartesian_2d(0.0..x_max, 0.0..1.0)?;
            chart
                .configure_mesh()
                .label_style(("sans-serif", 11))
                .x_desc("child index")
                .x_label_formatter(&|x| format!("{x:.0}"))
                .draw()?;
            for (o, (label, shares)) in panel.options.iter().zip(&panel.shares).enumerate() {
                let c = colour(o);
                let points: Vec<(f64, f64)> = self
                    .centres
                    .iter()
                    .zip(shares)
                    .filter(|(_, s)| s.is_finite())
                    .map(|(&x, &s)| (x, s))
                    .collect();
                chart
                    .draw_series(LineSeries::new(points, c.stroke_width(2)))?
                    .label(label.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(2))
                    });
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(("sans-serif", 10))
                .position(SeriesLabelPosition::UpperRight)
                .draw()?;
        }
        Ok(())
    }
}
