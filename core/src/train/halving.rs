//! Successive halving, as pure rules: the rungs of a search, how many trials each rung keeps,
//! and which ones. The scheduler trains; these decide.

use crate::objective::Objective;

/// The epoch counts at which trials are compared: `min_epochs`, then `eta` times more at each
/// rung, up to `max_epochs` (always the last rung).
pub fn rungs(min_epochs: usize, eta: usize, max_epochs: usize) -> Vec<usize> {
    let max_epochs = max_epochs.max(1);
    let mut rungs = vec![min_epochs.clamp(1, max_epochs)];
    while let Some(&last) = rungs.last() {
        let next = last.saturating_mul(eta.max(2)).min(max_epochs);
        if next <= last {
            break;
        }
        rungs.push(next);
    }
    rungs
}

/// How many of `alive` trials go on from a rung: the best 1/eta (at least one), or all of them
/// at the last rung, where nothing is left to compare.
pub fn keep(alive: usize, eta: usize, last_rung: bool) -> usize {
    if last_rung {
        alive
    } else {
        alive.div_ceil(eta.max(2)).max(1).min(alive)
    }
}

/// A trial's standing at a rung: its index in the search and its objective so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Standing {
    pub trial: usize,
    pub score: Option<f64>,
}

/// Splits `standings` into the `keep` best (promoted, best first) and the rest (stopped).
/// A trial without a score ranks last; ties go to the lower trial index, so the choice is the
/// same on every run.
pub fn promote(
    mut standings: Vec<Standing>,
    keep: usize,
    objective: &Objective,
) -> (Vec<Standing>, Vec<Standing>) {
    standings.sort_by(|a, b| {
        let (x, y) = (a.score.unwrap_or(f64::NAN), b.score.unwrap_or(f64::NAN));
        objective.rank(x, y).then(a.trial.cmp(&b.trial))
    });
    let stopped = standings.split_off(keep.min(standings.len()));
    (standings, stopped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standing(trial: usize, score: Option<f64>) -> Standing {
        Standing { trial, score }
    }

    #[test]
    fn rungs_grow_by_eta_and_end_at_the_longest_trial() {
        assert_eq!(rungs(1, 3, 20), vec![1, 3, 9, 20]);
        assert_eq!(rungs(2, 2, 16), vec![2, 4, 8, 16]);
        assert_eq!(rungs(1, 3, 9), vec![1, 3, 9]);
        // A first rung longer than any trial is the only rung.
        assert_eq!(rungs(50, 3, 10), vec![10]);
        assert_eq!(rungs(0, 3, 1), vec![1]);
    }

    #[test]
    fn each_rung_keeps_a_third_and_the_last_keeps_all() {
        assert_eq!(keep(9, 3, false), 3);
        assert_eq!(keep(10, 3, false), 4);
        assert_eq!(keep(2, 3, false), 1);
        assert_eq!(keep(1, 3, false), 1);
        assert_eq!(keep(0, 3, false), 0);
        assert_eq!(keep(7, 3, true), 7);
    }

    #[test]
    fn the_best_go_on_in_the_objectives_direction() {
        let f1 = Objective::for_metric("val/macro_f1");
        let all = vec![
            standing(0, Some(0.5)),
            standing(1, Some(0.9)),
            standing(2, None),
            standing(3, Some(0.7)),
        ];
        let (up, out) = promote(all.clone(), 2, &f1);
        assert_eq!(up.iter().map(|s| s.trial).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(out.iter().map(|s| s.trial).collect::<Vec<_>>(), [0, 2]);

        let loss = Objective::for_metric("val/loss");
        let (up, out) = promote(all, 2, &loss);
        assert_eq!(up.iter().map(|s| s.trial).collect::<Vec<_>>(), [0, 3]);
        // No score ranks last whichever the direction.
        assert_eq!(out.iter().map(|s| s.trial).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn ties_go_to_the_earlier_trial() {
        let f1 = Objective::for_metric("val/macro_f1");
        let (up, _) = promote(vec![standing(4, Some(0.8)), standing(2, Some(0.8))], 1, &f1);
        assert_eq!(up[0].trial, 2);
        let (up, out) = promote(vec![standing(0, Some(0.1))], 5, &f1);
        assert_eq!((up.len(), out.len()), (1, 0));
    }
}
