//! What a study optimises: a metric and whether more or less of it is better. One rule decides
//! the direction of a metric ([`Direction::of`]) and one comparison decides which of two values
//! is better ([`Objective::better`]); every ranking in Kiln goes through them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The metric studies rank by unless told otherwise.
pub const DEFAULT_OBJECTIVE: &str = "val/macro_f1";

/// Whether the best value of a metric is its largest or its smallest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Maximize,
    Minimize,
}

impl Direction {
    /// The direction of metric `key`: a loss (or a solver's objective, a penalised loss) is
    /// minimised, anything else (accuracy, F1, throughput) maximised.
    pub fn of(key: &str) -> Direction {
        if key.contains("loss") || key.ends_with("objective") {
            Direction::Minimize
        } else {
            Direction::Maximize
        }
    }

    /// The best of a metric's smallest and largest value: `min` when minimising.
    pub fn pick(self, min: f64, max: f64) -> f64 {
        match self {
            Direction::Minimize => min,
            Direction::Maximize => max,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Maximize => "maximize",
            Direction::Minimize => "minimize",
        }
    }

    /// "highest" or "lowest": the best value, in words.
    pub fn best_word(self) -> &'static str {
        match self {
            Direction::Maximize => "highest",
            Direction::Minimize => "lowest",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Direction {
    type Err = String;

    fn from_str(s: &str) -> Result<Direction, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "maximize" | "max" => Ok(Direction::Maximize),
            "minimize" | "min" => Ok(Direction::Minimize),
            other => Err(format!(
                "unknown direction {other:?}: use maximize or minimize"
            )),
        }
    }
}

/// A metric to optimise and its direction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Objective {
    pub key: String,
    pub direction: Direction,
}

impl Default for Objective {
    fn default() -> Objective {
        Objective::for_metric(DEFAULT_OBJECTIVE)
    }
}

impl Objective {
    /// `key` with the direction its name implies.
    pub fn for_metric(key: &str) -> Objective {
        Objective {
            key: key.to_owned(),
            direction: Direction::of(key),
        }
    }

    /// Whether the metric is measured on the validation split, which must then have rows.
    pub fn needs_validation(&self) -> bool {
        self.key.starts_with("val/")
    }

    pub fn minimize(&self) -> bool {
        self.direction == Direction::Minimize
    }

    /// Whether `a` is strictly better than `b`. NaN is never better, and anything is better
    /// than NaN.
    pub fn better(&self, a: f64, b: f64) -> bool {
        match (a.is_nan(), b.is_nan()) {
            (true, _) => false,
            (false, true) => true,
            _ => match self.direction {
                Direction::Maximize => a > b,
                Direction::Minimize => a < b,
            },
        }
    }

    /// Best first: the order to rank values by. NaN goes last.
    pub fn rank(&self, a: f64, b: f64) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        match (a.is_nan(), b.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ => match self.direction {
                Direction::Maximize => b.total_cmp(&a),
                Direction::Minimize => a.total_cmp(&b),
            },
        }
    }

    /// The best of a series of values (the smallest of a loss, the largest otherwise), or NaN
    /// when there is none that is a number.
    pub fn best_of(&self, values: impl IntoIterator<Item = f64>) -> f64 {
        values
            .into_iter()
            .filter(|v| !v.is_nan())
            .reduce(|a, b| if self.better(b, a) { b } else { a })
            .unwrap_or(f64::NAN)
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.key, self.direction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loss_is_minimised_and_everything_else_maximised() {
        assert_eq!(Direction::of("val/loss"), Direction::Minimize);
        assert_eq!(Direction::of("train/loss"), Direction::Minimize);
        assert_eq!(Direction::of("train/objective"), Direction::Minimize);
        assert_eq!(Direction::of("val/macro_f1"), Direction::Maximize);
        assert_eq!(Direction::of("samples_per_second"), Direction::Maximize);
        assert_eq!(Objective::default().key, DEFAULT_OBJECTIVE);
        assert!(!Objective::default().minimize());
    }

    #[test]
    fn better_follows_the_direction_and_never_prefers_nan() {
        let f1 = Objective::for_metric("val/macro_f1");
        let loss = Objective::for_metric("val/loss");
        assert!(f1.better(0.9, 0.8));
        assert!(!f1.better(0.8, 0.9));
        assert!(!f1.better(0.8, 0.8));
        assert!(loss.better(0.1, 0.2));
        assert!(!loss.better(0.2, 0.1));
        assert!(!f1.better(f64::NAN, 0.1));
        assert!(f1.better(0.1, f64::NAN));
        assert!(loss.better(5.0, f64::NAN));
    }

    #[test]
    fn ranking_puts_the_best_first_and_nan_last() {
        let loss = Objective::for_metric("val/loss");
        let mut values = [0.3, f64::NAN, 0.1, 0.2];
        values.sort_by(|a, b| loss.rank(*a, *b));
        assert_eq!(values[..3], [0.1, 0.2, 0.3]);
        assert!(values[3].is_nan());
        let f1 = Objective::for_metric("val/macro_f1");
        values.sort_by(|a, b| f1.rank(*a, *b));
        assert_eq!(values[..3], [0.3, 0.2, 0.1]);
        assert_eq!(f1.best_of([0.2, f64::NAN, 0.7, 0.5]), 0.7);
        assert_eq!(loss.best_of([0.2, f64::NAN, 0.7, 0.5]), 0.2);
        assert!(f1.best_of([f64::NAN]).is_nan());
    }

    #[test]
    fn directions_round_trip_through_text() {
        for d in [Direction::Maximize, Direction::Minimize] {
            assert_eq!(d.to_string().parse::<Direction>(), Ok(d));
        }
        assert!("sideways".parse::<Direction>().is_err());
    }
}
