//! Classification metrics of a fitted model on labelled rows: accuracy, per-class precision,
//! recall and F1, macro/micro/weighted F1, the confusion matrix, one-vs-rest ROC AUC and
//! average precision (PR AUC), and for binary problems the threshold curve.
//!
//! Every number follows scikit-learn's definition (cross-checked by `scripts/check-eval.sh`):
//!
//! - precision, recall and F1 of a class that is never predicted (or never present) are 0, as
//!   with `zero_division=0`;
//! - macro F1 averages over the classes present in the truth or the predictions, as
//!   `f1_score(average="macro")` without `labels`; a class absent from both is still listed in
//!   `per_class` (all zeros) but does not pull the mean down;
//! - ROC AUC is the trapezoid under the curve through the distinct thresholds, so tied scores
//!   count half (`roc_auc_score`); it is undefined (`None`) when the rows hold no positive or no
//!   negative, where scikit-learn returns NaN with a warning;
//! - average precision is the step-wise sum `Σ (Rₙ − Rₙ₋₁) Pₙ` over distinct thresholds, with no
//!   interpolation (`average_precision_score`); it is undefined (`None`) when there is no
//!   positive, where scikit-learn warns and returns 0. With only positives it is 1;
//! - a multiclass macro AUC is `None` as soon as one class's AUC is undefined, as scikit-learn's
//!   `roc_auc_score(multi_class="ovr", average="macro")` is then NaN.

use serde::{Deserialize, Serialize};

use crate::train::Confusion;

/// The metrics of one class, the one-vs-rest AUCs included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Rows whose true class is this one.
    pub support: u64,
    /// One-vs-rest ROC AUC of this class's probability; `None` when the class is absent from the
    /// truth or is the truth of every row.
    pub roc_auc: Option<f64>,
    /// One-vs-rest average precision of this class's probability; `None` when the class is
    /// absent from the truth.
    pub pr_auc: Option<f64>,
}

/// One point of the binary threshold curve: the class-1 probability at or above `threshold`
/// is predicted positive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdPoint {
    pub threshold: f64,
    pub precision: f64,
    /// Equal to `tpr`; 0 when there is no positive row.
    pub recall: f64,
    /// 0 when there is no negative row.
    pub fpr: f64,
    pub tpr: f64,
    pub f1: f64,
}

/// Everything known about a classifier's predictions on labelled rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub classes: Vec<String>,
    pub rows: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub micro_f1: f64,
    pub weighted_f1: f64,
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<u64>>,
    /// Binary: of the positive class (index 1); multiclass: the macro mean one-vs-rest.
    pub roc_auc: Option<f64>,
    /// Binary: average precision of class 1; multiclass: the macro mean one-vs-rest.
    pub pr_auc: Option<f64>,
    /// Binary only: one point per distinct class-1 probability, descending; empty otherwise.
    pub thresholds: Vec<ThresholdPoint>,
    /// One-vs-rest ROC and precision-recall curves, one per class present in the truth.
    #[serde(default)]
    pub curves: Vec<ClassCurve>,
}

/// The one-vs-rest curves of one class, as points to draw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassCurve {
    pub class: String,
    /// (false-positive rate, true-positive rate), from (0, 0) to (1, 1).
    pub roc: Vec<[f64; 2]>,
    /// (recall, precision), from the highest threshold down.
    pub pr: Vec<[f64; 2]>,
}

/// The ROC and PR curves of every class that has both positive and negative rows.
fn class_curves(
    classes: &[String],
    y_true: &[usize],
    probabilities: &[Vec<f32>],
) -> Vec<ClassCurve> {
    (0..classes.len())
        .filter_map(|c| {
            let positive: Vec<bool> = y_true.iter().map(|&y| y == c).collect();
            if !positive.contains(&true) || !positive.contains(&false) {
                return None;
            }
            let curve = threshold_curve(&column(probabilities, c), &positive);
            let mut roc = vec![[0.0, 0.0]];
            roc.extend(curve.iter().map(|p| [p.fpr, p.tpr]));
            let pr = curve.iter().map(|p| [p.recall, p.precision]).collect();
            Some(ClassCurve {
                class: classes[c].clone(),
                roc,
                pr,
            })
        })
        .collect()
}

/// The predicted class of one row of probabilities: the first of the largest (NaN never wins
/// over a number). An empty row predicts class 0.
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &p) in row.iter().enumerate().skip(1) {
        let current = row[best];
        if p > current || (current.is_nan() && !p.is_nan()) {
            best = i;
        }
    }
    best
}

/// The predicted class of every row (see [`argmax`]).
pub fn predict(probabilities: &[Vec<f32>]) -> Vec<usize> {
    probabilities.iter().map(|row| argmax(row)).collect()
}

/// Evaluates class probabilities against the true classes.
///
/// `y_true[i]` indexes `classes`; `probabilities[i][c]` is the probability of class `c` for row
/// `i`. Rows are paired up to the shorter of the two slices. A row whose label is out of range
/// is left out of the confusion matrix (and is a negative for every class's AUC); a missing
/// probability counts as 0.
pub fn evaluate(classes: &[String], y_true: &[usize], probabilities: &[Vec<f32>]) -> Evaluation {
    let rows = y_true.len().min(probabilities.len());
    let (y_true, probabilities) = (&y_true[..rows], &probabilities[..rows]);
    let predicted = predict(probabilities);
    let confusion = Confusion::new(classes.len(), y_true, &predicted);
    let per_class = class_metrics(classes, &confusion, y_true, probabilities);
    let binary = classes.len() == 2;
    let (roc_auc, pr_auc) = if binary {
        (per_class[1].roc_auc, per_class[1].pr_auc)
    } else {
        (
            macro_mean(per_class.iter().map(|m| m.roc_auc)),
            macro_mean(per_class.iter().map(|m| m.pr_auc)),
        )
    };
    let thresholds = if binary {
        let positive: Vec<bool> = y_true.iter().map(|&y| y == 1).collect();
        threshold_curve(&column(probabilities, 1), &positive)
    } else {
        Vec::new()
    };
    Evaluation {
        classes: classes.to_vec(),
        rows,
        accuracy: confusion.accuracy(),
        macro_f1: macro_f1(&confusion),
        micro_f1: micro_f1(&confusion),
        weighted_f1: weighted_f1(&per_class),
        per_class,
        confusion: confusion.counts,
        roc_auc,
        pr_auc,
        thresholds,
        curves: class_curves(classes, y_true, probabilities),
    }
}

fn class_metrics(
    classes: &[String],
    confusion: &Confusion,
    y_true: &[usize],
    probabilities: &[Vec<f32>],
) -> Vec<ClassMetrics> {
    confusion
        .per_class()
        .into_iter()
        .enumerate()
        .map(|(c, (precision, recall, f1))| {
            let scores = column(probabilities, c);
            let positive: Vec<bool> = y_true.iter().map(|&y| y == c).collect();
            ClassMetrics {
                class: classes[c].clone(),
                precision,
                recall,
                f1,
                support: confusion.counts[c].iter().sum(),
                roc_auc: roc_auc(&scores, &positive),
                pr_auc: average_precision(&scores, &positive),
            }
        })
        .collect()
}

/// Class `c`'s probability of every row, as `f64`.
fn column(probabilities: &[Vec<f32>], c: usize) -> Vec<f64> {
    probabilities
        .iter()
        .map(|row| row.get(c).copied().map_or(0.0, f64::from))
        .collect()
}

/// The mean of the values, or `None` if there are none or one is `None`.
fn macro_mean(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let values: Option<Vec<f64>> = values.collect();
    let values = values?;
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The mean F1 of the classes present in the truth or the predictions (scikit-learn's
/// `f1_score(average="macro")` without `labels`); 0 when no row is counted.
pub(crate) fn macro_f1(confusion: &Confusion) -> f64 {
    confusion.macro_f1()
}

/// F1 of the pooled counts, `2 TP / (2 TP + FP + FN)`: with one label per row every wrong
/// prediction is one false positive and one false negative, so this is the accuracy.
fn micro_f1(confusion: &Confusion) -> f64 {
    confusion.accuracy()
}

/// The mean F1 weighted by each class's support.
fn weighted_f1(per_class: &[ClassMetrics]) -> f64 {
    let total: u64 = per_class.iter().map(|m| m.support).sum();
    if total == 0 {
        return 0.0;
    }
    let sum: f64 = per_class.iter().map(|m| m.f1 * m.support as f64).sum();
    sum / total as f64
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The cumulative counts at one distinct threshold: rows scoring at or above it.
#[derive(Debug, Clone, Copy)]
struct Cut {
    threshold: f64,
    tp: u64,
    fp: u64,
}

/// One [`Cut`] per distinct score, from the highest score down (the last holds every row).
fn cuts(scores: &[f64], positive: &[bool]) -> Vec<Cut> {
    let n = scores.len().min(positive.len());
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut cuts: Vec<Cut> = Vec::new();
    let (mut tp, mut fp) = (0, 0);
    for (k, &i) in order.iter().enumerate() {
        if positive[i] {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_group = order.get(k + 1).is_none_or(|&j| scores[j] != scores[i]);
        if last_of_group {
            cuts.push(Cut {
                threshold: scores[i],
                tp,
                fp,
            });
        }
    }
    cuts
}

/// The area under the ROC curve of `scores` for the rows marked `positive`, with tied scores
/// as one step (the trapezoid), as scikit-learn's `roc_auc_score`. `None` when there is no
/// positive or no negative row.
pub fn roc_auc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let cuts = cuts(scores, positive);
    let last = cuts.last()?;
    if last.tp == 0 || last.fp == 0 {
        return None;
    }
    // Twice the area in units of one positive × one negative, exact in integers.
    let mut twice_area: u128 = 0;
    let (mut tp, mut fp) = (0u128, 0u128);
    for cut in &cuts {
        let (next_tp, next_fp) = (u128::from(cut.tp), u128::from(cut.fp));
        twice_area += (next_fp - fp) * (next_tp + tp);
        (tp, fp) = (next_tp, next_fp);
    }
    Some(twice_area as f64 / (2.0 * tp as f64 * fp as f64))
}

/// Average precision of `scores` for the rows marked `positive`, as scikit-learn's
/// `average_precision_score`: `Σ (Rₙ − Rₙ₋₁) Pₙ` over the distinct thresholds, descending, with
/// no interpolation. `None` when there is no positive row.
pub fn average_precision(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let cuts = cuts(scores, positive);
    let positives = cuts.last()?.tp;
    if positives == 0 {
        return None;
    }
    let mut sum = 0.0;
    let mut previous_tp = 0;
    for cut in &cuts {
        let precision = cut.tp as f64 / (cut.tp + cut.fp) as f64;
        sum += (cut.tp - previous_tp) as f64 * precision;
        previous_tp = cut.tp;
    }
    Some(sum / positives as f64)
}

/// Precision, recall (TPR), FPR and F1 at every distinct score, descending, predicting positive
/// the rows that score at or above it.
pub fn threshold_curve(scores: &[f64], positive: &[bool]) -> Vec<ThresholdPoint> {
    let cuts = cuts(scores, positive);
    let Some(last) = cuts.last().copied() else {
        return Vec::new();
    };
    cuts.iter()
        .map(|cut| {
            let precision = ratio(cut.tp, cut.tp + cut.fp);
            let recall = ratio(cut.tp, last.tp);
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            ThresholdPoint {
                threshold: cut.threshold,
                precision,
                recall,
                fpr: ratio(cut.fp, last.fp),
                tpr: recall,
                f1,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn roc_auc_matches_the_scikit_learn_example() {
        let auc = roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]);
        assert!(close(auc.expect("defined"), 0.75));
    }

    #[test]
    fn tied_scores_count_half_in_roc_auc() {
        // Pairs (positive, negative): (.5,.2) 1, (.5,.5) ½, (.9,.2) 1, (.9,.5) 1 → 3.5 / 4.
        let auc = roc_auc(&[0.2, 0.5, 0.5, 0.9], &[false, true, false, true]);
        assert!(close(auc.expect("defined"), 0.875));
        let all_tied = roc_auc(&[0.3, 0.3, 0.3], &[true, false, true]);
        assert!(close(all_tied.expect("defined"), 0.5));
    }

    #[test]
    fn auc_is_undefined_without_both_outcomes() {
        assert_eq!(roc_auc(&[0.1, 0.2], &[false, false]), None);
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(roc_auc(&[], &[]), None);
        assert_eq!(average_precision(&[0.1, 0.2], &[false, false]), None);
        assert_eq!(average_precision(&[0.1, 0.2], &[true, true]), Some(1.0));
    }

    #[test]
    fn average_precision_is_step_wise() {
        // scikit-learn's docstring example.
        let ap = average_precision(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]);
        assert!(close(
            ap.expect("defined"),
            (0.5 * 1.0 + 0.5 * 2.0 / 3.0) / 1.0
        ));
        // A tie: at .8 one negative (P 0, R 0), at .4 both positives and it (P ⅔, R 1).
        let tied = average_precision(&[0.1, 0.4, 0.4, 0.8], &[false, true, true, false]);
        assert!(close(tied.expect("defined"), 2.0 / 3.0));
    }

    #[test]
    fn argmax_takes_the_first_of_equal_maxima() {
        assert_eq!(argmax(&[0.2, 0.4, 0.4]), 1);
        assert_eq!(argmax(&[f32::NAN, 0.1, 0.9]), 2);
        assert_eq!(argmax(&[]), 0);
    }

    #[test]
    fn binary_evaluation_and_threshold_curve() {
        let probabilities = vec![
            vec![0.9, 0.1],
            vec![0.4, 0.6],
            vec![0.6, 0.4],
            vec![0.2, 0.8],
        ];
        let e = evaluate(&names(&["no", "yes"]), &[0, 0, 1, 1], &probabilities);
        assert_eq!(e.rows, 4);
        assert_eq!(e.confusion, vec![vec![1, 1], vec![1, 1]]);
        assert!(close(e.accuracy, 0.5) && close(e.micro_f1, 0.5));
        assert!(close(e.macro_f1, 0.5) && close(e.weighted_f1, 0.5));
        // Class-1 scores .1 .6 | .4 .8: pairs won (.4,.1) (.8,.1) (.8,.6) → ¾.
        assert!(close(e.roc_auc.expect("defined"), 0.75));
        let t: Vec<f64> = e.thresholds.iter().map(|p| p.threshold).collect();
        assert_eq!(t.len(), 4);
        assert_eq!((t[0], t[3]), (f64::from(0.8f32), f64::from(0.1f32)));
        let second = &e.thresholds[1]; // ≥ .6: one positive, one negative
        assert!(close(second.precision, 0.5) && close(second.recall, 0.5));
        assert!(close(second.fpr, 0.5) && close(second.f1, 0.5));
        let last = &e.thresholds[3];
        assert!(close(last.tpr, 1.0) && close(last.fpr, 1.0));
    }

    #[test]
    fn multiclass_with_a_class_never_predicted() {
        // Class 2 is never predicted; class 1 row 3 has tied maxima and takes class 0.
        let probabilities = vec![
            vec![0.7, 0.2, 0.1],
            vec![0.2, 0.5, 0.3],
            vec![0.3, 0.6, 0.1],
            vec![0.4, 0.4, 0.2],
            vec![0.1, 0.5, 0.4],
        ];
        let e = evaluate(&names(&["a", "b", "c"]), &[0, 1, 1, 1, 2], &probabilities);
        assert_eq!(
            e.confusion,
            vec![vec![1, 0, 0], vec![1, 2, 0], vec![0, 1, 0]]
        );
        let c = &e.per_class[2];
        assert_eq!((c.precision, c.recall, c.f1, c.support), (0.0, 0.0, 0.0, 1));
        // F1: a = 2·½·1/(1½) = ⅔, b = ⅔, c = 0.
        assert!(close(e.macro_f1, (2.0 / 3.0 + 2.0 / 3.0) / 3.0));
        assert!(close(e.weighted_f1, (2.0 / 3.0 + 3.0 * 2.0 / 3.0) / 5.0));
        assert!(close(e.micro_f1, 0.6) && close(e.accuracy, 0.6));
        // Class c scores .1 .3 .1 .2 | .4: ranked first → 1.
        assert_eq!(c.roc_auc, Some(1.0));
        assert!(e.roc_auc.is_some() && e.thresholds.is_empty());
    }

    #[test]
    fn a_class_absent_everywhere_leaves_macro_f1_and_auc_undefined() {
        let probabilities = vec![vec![0.8, 0.1, 0.1], vec![0.1, 0.8, 0.1]];
        let e = evaluate(&names(&["a", "b", "c"]), &[0, 1], &probabilities);
        assert!(close(e.macro_f1, 1.0));
        assert_eq!(e.per_class[2].roc_auc, None);
        assert_eq!(e.per_class[2].pr_auc, None);
        assert_eq!((e.roc_auc, e.pr_auc), (None, None));
    }

    #[test]
    fn empty_input_is_all_zeros() {
        let e = evaluate(&names(&["a", "b"]), &[], &[]);
        assert_eq!(e.rows, 0);
        assert_eq!((e.accuracy, e.macro_f1, e.roc_auc), (0.0, 0.0, None));
        assert!(e.thresholds.is_empty());
    }
}
