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

    /// Seconds left for `omega_steps` ω steps, `children` children and the
    /// final evaluation of `final_batches` validation batches in all;
    /// `None` until both kinds of work were measured.
    pub fn left(
        &self,
        omega_steps: u64,
        children: u64,
        final_batches: u64,
        per_child: u64,
    ) -> Option<f64> {
        let o = Pace::mean(self.omega)?;
        let c = Pace::mean(self.child)?;
        let per_batch = c / per_child.max(1) as f64;
        Some(o * omega_steps as f64 + c * children as f64 + per_batch * final_batches as f64)
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
    pub fn children(
        &mut self,
        done: u64,
        budget: u64,
        updates: u64,
        best: &str,
        left: Option<f64>,
    ) {
        let eta = left.map_or_else(|| "ETA …".to_string(), |s| format!("ETA {}", duration(s)));
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
