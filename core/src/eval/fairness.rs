//! Fairness: how a classifier's predictions differ between the groups of one column (a
//! sensitive feature), with Fairlearn's definitions (cross-checked by `scripts/check-eval.sh`).
//!
//! One class, `positive`, is the favourable outcome; a row is *selected* when it is predicted
//! to be that class, and the true and false positive rates are those of the one-vs-rest
//! problem `y == positive` (for a binary problem, the problem itself).
//!
//! - demographic parity difference: the largest minus the smallest group selection rate;
//! - demographic parity ratio: the smallest over the largest. When no group is selected at all
//!   that is 0 / 0, and it is NaN, as in Fairlearn (`MetricFrame.ratio`); it is written as
//!   `null` in JSON and read back as NaN;
//! - equalized odds difference: the larger of the TPR and FPR differences between groups
//!   (Fairlearn's `agg="worst_case"`, `method="between_groups"`).
//!
//! A group with no actual positive has no true positive rate, and one with no actual negative
//! no false positive rate: [`GroupMetrics`] reports them as `None`. Fairlearn computes those
//! rates from a normalised confusion matrix, which turns 0 / 0 into 0, and the equalized odds
//! difference here counts them as 0 the same way, so it equals Fairlearn's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::train::Confusion;

/// The group name given to rows whose group value is missing.
pub const MISSING_GROUP: &str = "(missing)";

/// The metrics of the rows of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMetrics {
    pub group: String,
    pub count: u64,
    pub accuracy: f64,
    /// The share of the group's rows predicted to be the positive class.
    pub selection_rate: f64,
    /// Recall of the positive class; `None` when the group has no actual positive.
    pub true_positive_rate: Option<f64>,
    /// Share of the actual negatives predicted positive; `None` when there is no negative.
    pub false_positive_rate: Option<f64>,
    /// Macro F1 over all classes present in the group's truth or predictions.
    pub macro_f1: f64,
}

/// The fairness of predictions across the groups of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FairnessReport {
    pub column: String,
    /// The name of the favourable class.
    pub positive: String,
    /// Sorted by group name.
    pub groups: Vec<GroupMetrics>,
    pub demographic_parity_difference: f64,
    /// NaN (JSON `null`) when no group has any selected row.
    #[serde(with = "nan_as_null")]
    pub demographic_parity_ratio: f64,
    /// `None` only when there are no rows.
    pub equalized_odds_difference: Option<f64>,
}

/// Compares the groups of `column`.
///
/// `positive`: the class index treated as the favourable outcome (selection = predicted ==
/// positive). Groups sorted by name; rows whose group is None are reported as group
/// [`MISSING_GROUP`] (`"(missing)"`). Rows are paired up to the shortest of the three slices.
pub fn fairness(
    column: &str,
    classes: &[String],
    positive: usize,
    groups: &[Option<String>],
    y_true: &[usize],
    y_pred: &[usize],
) -> FairnessReport {
    let rows = groups.len().min(y_true.len()).min(y_pred.len());
    let mut members: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, group) in groups[..rows].iter().enumerate() {
        let name = group.as_deref().unwrap_or(MISSING_GROUP);
        members.entry(name).or_default().push(i);
    }
    let rows_of = |indices: &[usize], labels: &[usize]| -> Vec<usize> {
        indices.iter().map(|&i| labels[i]).collect()
    };
    let groups: Vec<GroupMetrics> = members
        .iter()
        .map(|(name, indices)| {
            let (truth, predicted) = (rows_of(indices, y_true), rows_of(indices, y_pred));
            group_metrics(name, classes.len(), positive, &truth, &predicted)
        })
        .collect();
    let selection = spread(groups.iter().map(|g| g.selection_rate));
    let tpr = spread(groups.iter().map(|g| g.true_positive_rate.unwrap_or(0.0)));
    let fpr = spread(groups.iter().map(|g| g.false_positive_rate.unwrap_or(0.0)));
    FairnessReport {
        column: column.to_string(),
        positive: classes
            .get(positive)
            .cloned()
            .unwrap_or_else(|| positive.to_string()),
        demographic_parity_difference: selection.map_or(0.0, |(min, max)| max - min),
        demographic_parity_ratio: selection.map_or(f64::NAN, |(min, max)| min / max),
        equalized_odds_difference: tpr.zip(fpr).map(|(t, f)| (t.1 - t.0).max(f.1 - f.0)),
        groups,
    }
}

/// The metrics of one group's rows.
fn group_metrics(
    name: &str,
    classes: usize,
    positive: usize,
    truth: &[usize],
    predicted: &[usize],
) -> GroupMetrics {
    let count = truth.len() as u64;
    let correct = truth.iter().zip(predicted).filter(|(t, p)| t == p).count() as u64;
    let selected = predicted.iter().filter(|&&p| p == positive).count() as u64;
    let mut binary = [[0u64; 2]; 2]; // [actual positive][predicted positive]
    for (&t, &p) in truth.iter().zip(predicted) {
        binary[usize::from(t == positive)][usize::from(p == positive)] += 1;
    }
    let rate = |row: [u64; 2]| {
        let total = row[0] + row[1];
        (total > 0).then(|| row[1] as f64 / total as f64)
    };
    GroupMetrics {
        group: name.to_string(),
        count,
        accuracy: ratio(correct, count),
        selection_rate: ratio(selected, count),
        true_positive_rate: rate(binary[1]),
        false_positive_rate: rate(binary[0]),
        macro_f1: super::metrics::macro_f1(&Confusion::new(classes, truth, predicted)),
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The smallest and largest value, or `None` if there are none.
fn spread(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((min, max)) => Some((min.min(v), max.max(v))),
    })
}

/// Serialises NaN as `null` (and reads `null` back as NaN), so an undefined ratio survives a
/// round trip through JSON.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        if value.is_nan() {
            serializer.serialize_none()
        } else {
            serializer.serialize_some(value)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
    }
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

    fn group(name: Option<&str>) -> Option<String> {
        name.map(str::to_string)
    }

    /// Group a: TPR ½, FPR ½; group b has no positive; one row has no group.
    fn binary_report() -> FairnessReport {
        let (a, b) = (Some("a"), Some("b"));
        let groups: Vec<Option<String>> =
            [a, a, a, a, b, b, b, None].into_iter().map(group).collect();
        let y_true = [1, 1, 0, 0, 0, 0, 0, 1];
        let y_pred = [1, 0, 1, 0, 0, 1, 0, 1];
        fairness(
            "region",
            &names(&["no", "yes"]),
            1,
            &groups,
            &y_true,
            &y_pred,
        )
    }

    #[test]
    fn groups_are_sorted_and_missing_is_named() {
        let report = binary_report();
        let names: Vec<&str> = report.groups.iter().map(|g| g.group.as_str()).collect();
        assert_eq!(names, ["(missing)", "a", "b"]);
        assert_eq!(report.positive, "yes");
        let a = &report.groups[1];
        assert_eq!(a.count, 4);
        assert!(close(a.accuracy, 0.5) && close(a.selection_rate, 0.5));
        assert_eq!(
            (a.true_positive_rate, a.false_positive_rate),
            (Some(0.5), Some(0.5))
        );
    }

    #[test]
    fn a_group_without_positives_has_no_tpr_and_counts_as_zero() {
        let report = binary_report();
        let b = &report.groups[2];
        assert_eq!(b.true_positive_rate, None);
        assert!(close(b.false_positive_rate.expect("negatives"), 1.0 / 3.0));
        // Truth 0 0 0, predicted 0 1 0: F1 of class 0 is 0.8, of class 1 is 0.
        assert!(close(b.macro_f1, 0.4));
        assert_eq!(report.groups[0].false_positive_rate, None);
        // Selection: 1, ½, ⅓.
        assert!(close(report.demographic_parity_difference, 2.0 / 3.0));
        assert!(close(report.demographic_parity_ratio, 1.0 / 3.0));
        // TPR 1, ½, 0 (b undefined → 0) spreads 1; FPR 0, ½, ⅓ spreads ½.
        assert_eq!(report.equalized_odds_difference, Some(1.0));
    }

    #[test]
    fn nobody_selected_makes_the_ratio_nan_and_null_in_json() {
        let groups = vec![group(Some("x")), group(Some("y"))];
        let report = fairness("g", &names(&["no", "yes"]), 1, &groups, &[1, 0], &[0, 0]);
        assert_eq!(report.demographic_parity_difference, 0.0);
        assert!(report.demographic_parity_ratio.is_nan());
        let json = serde_json::to_value(&report).expect("serialise");
        assert!(json["demographic_parity_ratio"].is_null());
        let back: FairnessReport = serde_json::from_value(json).expect("deserialise");
        assert!(back.demographic_parity_ratio.is_nan());
        assert_eq!(back.groups, report.groups);
    }

    #[test]
    fn multiclass_rates_are_one_vs_rest() {
        let groups = vec![group(Some("g")); 4];
        let report = fairness(
            "g",
            &names(&["a", "b", "c"]),
            2,
            &groups,
            &[2, 0, 1, 2],
            &[2, 2, 1, 0],
        );
        let g = &report.groups[0];
        assert_eq!(
            (g.true_positive_rate, g.false_positive_rate),
            (Some(0.5), Some(0.5))
        );
        assert!(close(g.selection_rate, 0.5) && close(g.accuracy, 0.5));
        assert_eq!(report.demographic_parity_ratio, 1.0);
        assert_eq!(report.equalized_odds_difference, Some(0.0));
    }

    #[test]
    fn no_rows_leave_equalized_odds_undefined() {
        let report = fairness("g", &names(&["no", "yes"]), 1, &[], &[], &[]);
        assert!(report.groups.is_empty());
        assert_eq!(report.equalized_odds_difference, None);
        assert!(report.demographic_parity_ratio.is_nan());
    }
}
