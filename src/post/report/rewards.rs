//! The reward picture: every child's reward against its index (one colour
//! per controller replica; failed and diverged children as grey crosses), a
//! moving average over the children in index order, and the best reward so far.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::picture::{colour, legend, range, DrawError, Picture};
use crate::child::ChildStatus;
use crate::store::ChildRecord;

/// Replicas named in the legend at most (more replicas share the colours silently).
const LEGEND_REPLICAS: usize = 8;

/// The reward picture of a run's records.
pub struct RewardPicture {
    /// (child id, replica, reward, failed), by id.
    points: Vec<(u64, usize, f64, bool)>,
    window: usize,
}

impl RewardPicture {
    pub fn new(records: &[ChildRecord]) -> RewardPicture {
        let mut points: Vec<(u64, usize, f64, bool)> = records
            .iter()
            .filter(|r| r.reward.is_finite())
            .map(|r| {
                let failed = matches!(r.status, ChildStatus::Failed | ChildStatus::Diverged);
                (r.spec.id, r.spec.replica, r.reward, failed)
            })
            .collect();
        points.sort_by_key(|p| p.0);
        let window = moving_window(points.len());
        RewardPicture { points, window }
    }

    /// (id, moving average of the last `window` rewards).
    pub fn moving_average(&self) -> Vec<(u64, f64)> {
        let mut out = Vec::with_capacity(self.points.len());
        let mut sum = 0.0;
        for (i, p) in self.points.iter().enumerate() {
            sum += p.2;
            if i >= self.window {
                sum -= self.points[i - self.window].2;
            }
            out.push((p.0, sum / (i + 1).min(self.window) as f64));
        }
        out
    }

    /// The reward axis: the rewards' range with a margin (see [`range`]).
    pub fn y_range(&self) -> (f64, f64) {
        range(self.points.iter().map(|p| p.2))
    }

    /// (id, best reward up to and including that child).
    pub fn best_so_far(&self) -> Vec<(u64, f64)> {
        let mut best = f64::NEG_INFINITY;
        self.points
            .iter()
            .map(|p| {
                best = best.max(p.2);
                (p.0, best)
            })
            .collect()
    }
}

/// The moving-average window for `n` children: about a twentieth, 5 to 200.
pub fn moving_window(n: usize) -> usize {
    (n / 20).clamp(5, 200)
}

impl Picture for RewardPicture {
    fn size(&self) -> (u32, u32) {
        (1000, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError<DB>> {
        let x_max = self.points.last().map_or(1, |p| p.0 + 1) as f64;
        let (y_lo, y_hi) = self.y_range();
        let mut chart = ChartBuilder::on(root)
            .caption("Reward per child", ("sans-serif", 24))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, y_lo..y_hi)?;
        chart
            .configure_mesh()
            .x_desc("child index")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc("reward")
            .y_label_formatter(&|y| crate::format::reward(*y))
            .label_style(("sans-serif", 14))
            .draw()?;
        let replicas = self.points.iter().map(|p| p.1 + 1).max().unwrap_or(0);
        for replica in 0..replicas {
            let c = colour(replica);
            let series = chart.draw_series(
                self.points
                    .iter()
                    .filter(|p| p.1 == replica && !p.3)
                    .map(|p| Circle::new((p.0 as f64, p.2), 3, c.mix(0.7).filled())),
            )?;
            if replicas <= LEGEND_REPLICAS {
                series
                    .label(format!("replica {replica}"))
                    .legend(move |(x, y)| Circle::new((x + 10, y), 4, c.filled()));
            }
        }
        let grey = RGBColor(150, 150, 150);
        let failed: Vec<_> = self.points.iter().filter(|p| p.3).collect();
        if !failed.is_empty() {
            chart
                .draw_series(
                    failed
                        .iter()
                        .map(|p| Cross::new((p.0 as f64, p.2), 4, grey.stroke_width(2))),
                )?
                .label("failed / diverged")
                .legend(move |(x, y)| Cross::new((x + 10, y), 4, grey.stroke_width(2)));
        }
        let ma = self.moving_average();
        chart
            .draw_series(LineSeries::new(
                ma.iter().map(|&(x, y)| (x as f64, y)),
                BLACK.stroke_width(2),
            ))?
            .label(format!("moving average ({})", self.window))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
        let red = RGBColor(200, 30, 30);
        chart
            .draw_series(LineSeries::new(
                self.best_so_far().iter().map(|&(x, y)| (x as f64, y)),
                red.stroke_width(2),
            ))?
            .label("best so far")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red.stroke_width(2)));
        legend(&mut chart)
    }
}
