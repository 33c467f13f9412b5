//! What a shared-weights search shows while it runs: on a terminal, a bar of
//! the children scored (with the controller updates and the best so far) and
//! a line of ω's epoch, batch and loss; otherwise (or with `NAS_ACTOR_PLAIN`)
//! the same as plain lines on stderr, at most one every few seconds. Also
//! the estimate of what the whole search takes.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How the search has gone so far, for the estimate of the rest.
#[derive(Debug, Clone, Default)]
pub struct Pace {
    /// Seconds and count of ω steps measured in this process.
    pub omega: (f64, u64),
    /// Seconds and count of children scored in this process.
    pub child: (f64, u64),
}

impl Pace {
    fn mean(x: (f64, u64)) -> Option<f64> {
        (x.1 > 0).then(|| x.0 / x.1 as f64)
    }

    /// Time left for `omega_steps` ω steps, `children` children and the
    /// final evaluation of `final_batches` validation batches in all: a
    /// lower bound from the ω steps alone until a child was scored.
    pub fn left(
        &self,
        omega_steps: u64,
        children: u64,
        final_batches: u64,
        per_child: u64,
    ) -> Left {
        let Some(o) = Pace::mean(self.omega) else {
            return Left::Unknown;
        };
        let Some(c) = Pace::mean(self.child) else {
            return Left::AtLeast(o * omega_steps as f64);
        };
        let per_batch = c / per_child.max(1) as f64;
        Left::About(o * omega_steps as f64 + c * children as f64 + per_batch * final_batches as f64)
    }
}

/// The time a search has left, in seconds, as far as it is known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Left {
    /// Nothing measured yet.
    Unknown,
    /// The ω steps alone (no child scored yet).
    AtLeast(f64),
    /// ω steps, children and the final evaluation.
    About(f64),
}

impl Left {
    /// `ETA …`, `ETA ≥ 8m20s`, `ETA 3m05s`.
    pub fn text(self) -> String {
        match self {
            Left::Unknown => "ETA …".into(),
            Left::AtLeast(s) => format!("ETA ≥ {}", duration(s)),
            Left::About(s) => format!("ETA {}", duration(s)),
        }
    }
}

/// The bars or the plain lines.
pub struct Progress {
    bars: Option<(MultiProgress, ProgressBar, ProgressBar)>,
    last_line: Option<Instant>,
    name: String,
    /// The last ω line and children line (plain lines show both).
    omega_text: String,
    children_text: String,
}

/// `1h02m`, `3m05s`, `42s`.
pub fn duration(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

impl Progress {
    /// Bars on a terminal for a search of `budget` children, `done` of them recorded.
    pub fn new(name: &str, budget: u64, done: u64) -> Progress {
        let terminal =
            std::io::stdout().is_terminal() && std::env::var_os("NAS_ACTOR_PLAIN").is_none();
        let bars = terminal.then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
            let children = multi.add(ProgressBar::new(budget));
            children.set_style(
                ProgressStyle::with_template(
                    "{prefix:.bold} [{bar:40.cyan/blue}] {pos}/{len} children  {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            children.set_prefix(name.to_string());
            children.set_position(done);
            let omega = multi.add(ProgressBar::new_spinner());
            omega.enable_steady_tick(Duration::from_millis(250));
            (multi, children, omega)
        });
        Progress {
            bars,
            last_line: None,
            name: name.to_string(),
            omega_text: String::new(),
            children_text: String::new(),
        }
    }

    /// Say `line` once.
    pub fn notice(&self, line: &str) {
        match &self.bars {
            Some((multi, _, _)) => {
                let _ = multi.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    fn plain_due(&mut self) -> bool {
        let due = self
            .last_line
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(5));
        if due {
            self.last_line = Some(Instant::now());
        }
        due
    }

    /// A plain line of both, at most one every few seconds.
    fn plain(&mut self) {
        if self.plain_due() {
            eprintln!("{}: {}; {}", self.name, self.children_text, self.omega_text);
        }
    }

    /// ω's step: `round`, its 1-based epoch and batch of `batches`, the
    /// loss, and the step within the round's `of`.
    pub fn omega(
        &mut self,
        round: u64,
        (epoch, batch, batches): (u64, usize, usize),
        loss: f64,
        (step, of): (u64, u64),
    ) {
        let text = format!(
            "round {round}: ω epoch {epoch} batch {batch}/{batches} loss {loss:.3} (step {step}/{of} of the round)"
        );
        match &self.bars {
            Some((_, _, omega)) => omega.set_message(text),
            None => {
                self.omega_text = text;
                self.plain();
            }
        }
    }

    /// Children scored, controller updates, the best so far and the time left.
    pub fn children(&mut self, done: u64, budget: u64, updates: u64, best: &str, left: Left) {
        let eta = left.text();
        let text = format!("{updates} controller updates  best {best}  {eta}");
        match &self.bars {
            Some((_, children, _)) => {
                children.set_position(done);
                children.set_message(text);
            }
            None => {
                self.children_text = format!("{done}/{budget} children, {text}");
                self.plain();
            }
        }
    }

    /// Remove the bars.
    pub fn finish(&self) {
        if let Some((_, children, omega)) = &self.bars {
            omega.finish_and_clear();
            children.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Left, Pace};

    #[test]
    fn the_estimate_is_a_lower_bound_until_a_child_was_scored() {
        let mut pace = Pace::default();
        assert_eq!(pace.left(100, 40, 80, 2), Left::Unknown);
        pace.omega = (10.0, 20); // 0.5 s per ω step
        assert_eq!(pace.left(100, 40, 80, 2), Left::AtLeast(50.0));
        assert_eq!(Left::AtLeast(50.0).text(), "ETA ≥ 50s");
        // 1 s per child of 2 batches; then 100 ω steps, 40 children and 80
        // final batches at 0.5 s each.
        pace.child = (4.0, 4);
        assert_eq!(pace.left(100, 40, 80, 2), Left::About(130.0));
        assert_eq!(Left::About(130.0).text(), "ETA 2m10s");
    }
}
