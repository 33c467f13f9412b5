//! The task's metric in one type: its name, whether higher is better, and
//! the rule that turns it into the controller's reward. The run set-up, the
//! status line, `train`, `retrain`, `final.json` and the report all ask it;
//! none of them derives it from the space or the dataset on its own.

use serde::{Deserialize, Serialize};

use crate::config::{Backend, CommandConfig, CommandReward, Config, Goal, RewardConfig, SpaceKind};

/// How a child's validation metric becomes its reward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardRule {
    /// accuracy^`reward.accuracy_exponent` (the paper: accuracy³, best of the last epochs).
    AccuracyPower,
    /// `reward.perplexity_c` / perplexity^`reward.perplexity_exponent` (the paper: 80 / ppl²).
    InversePerplexityPower,
    /// The metric is the reward (synthetic children; trial commands that maximise).
    Identity,
    /// 1 / metric, for a positive metric (trial commands that minimise); NaN otherwise.
    Inverse,
    /// Minus the metric is the reward (trial commands that minimise).
    Negated,
}

/// A task's validation metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// `accuracy`, `perplexity`, `synthetic`, or what a declared task reports.
    pub name: String,
    /// Whether a higher value is a better child.
    pub higher_is_better: bool,
    pub rule: RewardRule,
}

impl Metric {
    /// Validation accuracy (image spaces).
    pub fn accuracy() -> Metric {
        Metric {
            name: "accuracy".into(),
            higher_is_better: true,
            rule: RewardRule::AccuracyPower,
        }
    }

    /// Validation perplexity (language models).
    pub fn perplexity() -> Metric {
        Metric {
            name: "perplexity".into(),
            higher_is_better: false,
            rule: RewardRule::InversePerplexityPower,
        }
    }

    /// The synthetic backend's score (it is the reward).
    pub fn synthetic() -> Metric {
        Metric {
            name: "synthetic".into(),
            higher_is_better: true,
            rule: RewardRule::Identity,
        }
    }

    /// The metric of the children a config trains.
    pub fn of(config: &Config) -> Metric {
        match config.child.backend {
            Backend::Synthetic => Metric::synthetic(),
            Backend::Tch => Metric::of_space(config.search.space),
            Backend::Command => Metric::of_command(&config.child.command),
        }
    }

    /// The metric a trial command reports, as `[child.command]` names it.
    pub fn of_command(command: &CommandConfig) -> Metric {
        Metric {
            name: command.metric.clone(),
            higher_is_better: command.goal == Goal::Maximize,
            rule: match command.reward_rule() {
                CommandReward::Metric => RewardRule::Identity,
                CommandReward::Inverse => RewardRule::Inverse,
                CommandReward::Negated => RewardRule::Negated,
                CommandReward::AccuracyPower => RewardRule::AccuracyPower,
                CommandReward::InversePerplexityPower => RewardRule::InversePerplexityPower,
            },
        }
    }

    /// The metric built-in tch children of a space report.
    pub fn of_space(space: SpaceKind) -> Metric {
        match space {
            SpaceKind::Cnn => Metric::accuracy(),
            SpaceKind::Cell => Metric::perplexity(),
            // Declared spaces train no built-in model (synthetic children, for now).
            SpaceKind::Custom => Metric::synthetic(),
        }
    }

    /// Is `a` a better value of this metric than `b`?
    pub fn better(&self, a: f64, b: f64) -> bool {
        if self.higher_is_better {
            a > b
        } else {
            a < b
        }
    }

    /// The reward of a final metric value under this metric's rule.
    pub fn reward(&self, value: f64, cfg: &RewardConfig) -> f64 {
        match self.rule {
            RewardRule::AccuracyPower => value.max(0.0).powf(cfg.accuracy_exponent),
            RewardRule::InversePerplexityPower => {
                cfg.perplexity_c / value.powf(cfg.perplexity_exponent)
            }
            RewardRule::Identity => value,
            RewardRule::Inverse if value > 0.0 => 1.0 / value,
            RewardRule::Inverse => f64::NAN,
            RewardRule::Negated => -value,
        }
    }

    /// A value as a person reads it (`accuracy 91.23%`, `perplexity 123.4`);
    /// None for the synthetic score, which is shown as the reward.
    pub fn show(&self, value: f64) -> Option<String> {
        match self.rule {
            RewardRule::Identity if self.name == "synthetic" => None,
            _ if self.name == "accuracy" => Some(format!("accuracy {:.2}%", 100.0 * value)),
            _ if self.name == "perplexity" => Some(format!("perplexity {value:.1}")),
            _ => Some(format!("{} {value:.4}", self.name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_reward_and_display() {
        let cfg = RewardConfig::default();
        let a = Metric::accuracy();
        assert!(a.better(0.9, 0.8) && !a.better(0.8, 0.9));
        assert!((a.reward(0.5, &cfg) - 0.5f64.powf(cfg.accuracy_exponent)).abs() < 1e-12);
        let p = Metric::perplexity();
        assert!(p.better(80.0, 120.0) && !p.better(120.0, 80.0));
        assert!(
            (p.reward(80.0, &cfg) - cfg.perplexity_c / 80f64.powf(cfg.perplexity_exponent)).abs()
                < 1e-12
        );
        assert_eq!(a.show(0.9123).as_deref(), Some("accuracy 91.23%"));
        assert_eq!(p.show(123.45).as_deref(), Some("perplexity 123.5"));
        assert_eq!(Metric::synthetic().show(0.4), None);
    }
}
