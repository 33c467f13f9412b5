//! The comparison plot: each run's best-so-far curve (thin), and for each
//! group its mean (thick) inside a band from its runs' minimum to maximum.
//! The legend names at most [`LEGEND_MAX`] groups (the table names all);
//! the y-axis spans the curves after the first [`Y_FROM`] of the x-axis
//! (points before it, lower, are drawn at the axis' bottom edge).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::curves::{Axis, Group};
use crate::post::report::picture::{colour, legend, range, DrawError};
use crate::post::report::Picture;
use crate::task::Metric;

/// The most legend entries a picture has: what fits beside the curves.
pub const LEGEND_MAX: usize = 8;

/// The share of the x-axis after which the curves set the y-axis' range.
pub const Y_FROM: f64 = 0.05;

/// Points of the mean and band of a group along its grid.
struct Series {
    label: String,
    runs: Vec<Vec<(f64, f64)>>,
    /// (x, mean, min, max) where every run of the group has a value.
    mean: Vec<(f64, f64, f64, f64)>,
}

/// The picture of one axis.
pub struct ComparePicture {
    axis: Axis,
    metric: String,
    series: Vec<Series>,
}

/// Points along which a group's mean is drawn.
fn grid(g: &Group, axis: Axis) -> Vec<f64> {
    match axis {
        Axis::Children => {
            let n = g.runs.iter().map(|r| r.best.len()).min().unwrap_or(0);
            (1..=n).map(|k| k as f64).collect()
        }
        _ => {
            let end = g
                .runs
                .iter()
                .map(|r| r.spent(axis).last().copied().unwrap_or(0.0))
                .fold(f64::INFINITY, f64::min);
            if !end.is_finite() || end <= 0.0 {
                return Vec::new();
            }
            (0..=200).map(|i| end * i as f64 / 200.0).collect()
        }
    }
}

impl ComparePicture {
    /// Entries the legend has: one per group, at most [`LEGEND_MAX`].
    pub fn legend_entries(&self) -> usize {
        self.series.len().min(LEGEND_MAX)
    }

    /// The x-axis' end: the last point of any run (at least 1).
    fn x_max(&self) -> f64 {
        self.series
            .iter()
            .flat_map(|s| s.runs.iter().flatten())
            .map(|p| p.0)
            .fold(1.0, f64::max)
    }

    /// The y-axis' range: where the curves are once [`Y_FROM`] of the
    /// x-axis is spent (all of them when none reaches it), padded by 5 %.
    pub fn y_axis(&self) -> (f64, f64) {
        self.y_range(self.x_max())
    }

    fn y_range(&self, x_max: f64) -> (f64, f64) {
        let points = || self.series.iter().flat_map(|s| s.runs.iter().flatten());
        let late = points().filter(|p| p.0 >= Y_FROM * x_max).count();
        if late == 0 {
            return range(points().map(|p| p.1));
        }
        range(points().filter(|p| p.0 >= Y_FROM * x_max).map(|p| p.1))
    }

    pub fn new(groups: &[Group], axis: Axis, metric: &Metric) -> ComparePicture {
        let series = groups
            .iter()
            .map(|g| {
                let runs = g
                    .runs
                    .iter()
                    .map(|r| {
                        r.spent(axis)
                            .into_iter()
                            .zip(&r.best)
                            .filter_map(|(x, b)| b.map(|b| (x, b)))
                            .collect()
                    })
                    .collect();
                let mean = grid(g, axis)
                    .into_iter()
                    .filter_map(|x| {
                        let v: Option<Vec<f64>> = g.runs.iter().map(|r| r.at(axis, x)).collect();
                        let v = v?;
                        let (mean, _) = super::curves::mean_sd(&v);
                        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
                        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        Some((x, mean, lo, hi))
                    })
                    .collect();
                Series {
                    label: format!("{} ({} run(s))", g.label, g.runs.len()),
                    runs,
                    mean,
                }
            })
            .collect();
        ComparePicture {
            axis,
            metric: metric.name.clone(),
            series,
        }
    }
}

impl Picture for ComparePicture {
    fn size(&self) -> (u32, u32) {
        (1000, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError<DB>> {
        let x_max = self.x_max();
        let (y_lo, y_hi) = self.y_range(x_max);
        let clamp = move |(x, y): (f64, f64)| (x, y.clamp(y_lo, y_hi));
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("Best validation {} so far", self.metric),
                ("sans-serif", 24),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x_max, y_lo..y_hi)?;
        chart
            .configure_mesh()
            .x_desc(self.axis.label())
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc(format!("best {}", self.metric))
            .y_label_formatter(&|y| format!("{y:.3}"))
            .label_style(("sans-serif", 14))
            .draw()?;
        for (i, s) in self.series.iter().enumerate() {
            let c = colour(i);
            if s.mean.len() > 1 {
                let mut band: Vec<(f64, f64)> = s.mean.iter().map(|p| clamp((p.0, p.3))).collect();
                band.extend(s.mean.iter().rev().map(|p| clamp((p.0, p.2))));
                chart.draw_series(std::iter::once(Polygon::new(band, c.mix(0.15).filled())))?;
            }
            for run in &s.runs {
                chart.draw_series(LineSeries::new(
                    run.iter().copied().map(clamp),
                    c.mix(0.35).stroke_width(1),
                ))?;
            }
            let mean = chart.draw_series(LineSeries::new(
                s.mean.iter().map(|p| clamp((p.0, p.1))),
                c.stroke_width(3),
            ))?;
            if i < LEGEND_MAX {
                mean.label(s.label.clone()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3))
                });
            }
        }
        legend(&mut chart)
    }
}
