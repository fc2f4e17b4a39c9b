//! Classification metrics computed during training: accuracy and macro-averaged F1, from
//! predicted and true class indices.

/// A confusion matrix: `counts[true][predicted]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confusion {
    pub counts: Vec<Vec<u64>>,
}

impl Confusion {
    pub fn new(classes: usize, truth: &[usize], predicted: &[usize]) -> Confusion {
        let mut counts = vec![vec![0u64; classes]; classes];
        for (&t, &p) in truth.iter().zip(predicted) {
            if t < classes && p < classes {
                counts[t][p] += 1;
            }
        }
        Confusion { counts }
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    pub fn accuracy(&self) -> f64 {
        let correct: u64 = (0..self.counts.len()).map(|i| self.counts[i][i]).sum();
        ratio(correct, self.total())
    }

    /// Per-class (precision, recall, F1); a class never predicted has precision 0, as in
    /// scikit-learn with `zero_division=0`.
    pub fn per_class(&self) -> Vec<(f64, f64, f64)> {
        let n = self.counts.len();
        (0..n)
            .map(|c| {
                let tp = self.counts[c][c];
                let predicted: u64 = (0..n).map(|t| self.counts[t][c]).sum();
                let actual: u64 = self.counts[c].iter().sum();
                let precision = ratio(tp, predicted);
                let recall = ratio(tp, actual);
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                (precision, recall, f1)
            })
            .collect()
    }

    /// The unweighted mean of the per-class F1 scores over the classes present in the truth or
    /// the predictions, as scikit-learn's `f1_score(average="macro")` without `labels`.
    pub fn macro_f1(&self) -> f64 {
        let n = self.counts.len();
        let present = |c: usize| (0..n).any(|t| self.counts[c][t] + self.counts[t][c] > 0);
        let f1s: Vec<f64> = self
            .per_class()
            .into_iter()
            .enumerate()
            .filter(|&(c, _)| present(c))
            .map(|(_, (_, _, f1))| f1)
            .collect();
        if f1s.is_empty() {
            0.0
        } else {
            f1s.iter().sum::<f64>() / f1s.len() as f64
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_and_macro_f1_match_hand_computed_values() {
        // truth:     0 0 0 1 1 2
        // predicted: 0 0 1 1 2 2
        let c = Confusion::new(3, &[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2]);
        assert_eq!(c.counts, vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]);
        assert!((c.accuracy() - 4.0 / 6.0).abs() < 1e-12);
        // F1: class 0 = 0.8, class 1 = 0.5, class 2 = 2/3
        assert!((c.macro_f1() - (0.8 + 0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        let never = Confusion::new(2, &[0, 1], &[0, 0]);
        assert_eq!(never.per_class()[1], (0.0, 0.0, 0.0));
        // A class absent from both truth and predictions does not count, as in scikit-learn.
        assert_eq!(Confusion::new(3, &[0, 1], &[0, 1]).macro_f1(), 1.0);
    }
}
