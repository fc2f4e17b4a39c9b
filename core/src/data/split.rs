//! Seeded, stratified train/validation/test splits: each class is shuffled with the seed and
//! cut in the requested proportions, so every split keeps the class balance and the same seed
//! always gives the same rows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::DataError;
use crate::rng::SeededRng;

/// The proportions of the validation and test splits (the rest is training) and the seed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SplitSpec {
    pub seed: u64,
    pub validation: f64,
    pub test: f64,
}

impl Default for SplitSpec {
    fn default() -> SplitSpec {
        SplitSpec {
            seed: 42,
            validation: 0.15,
            test: 0.15,
        }
    }
}

/// Row indices of each split, each in ascending order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
    pub test: Vec<usize>,
}

/// Splits rows by their `labels`. Rows with no label (`None`) are left out of every split.
pub fn stratified_split(labels: &[Option<&str>], spec: SplitSpec) -> Result<Split, DataError> {
    let valid = |f: f64| (0.0..1.0).contains(&f);
    if !valid(spec.validation) || !valid(spec.test) || spec.validation + spec.test >= 1.0 {
        return Err(DataError::Invalid(format!(
            "split fractions validation {} and test {} must each be in [0, 1) and leave rows for training",
            spec.validation, spec.test
        )));
    }
    let mut by_class: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (row, label) in labels.iter().enumerate() {
        if let Some(label) = label {
            by_class.entry(label).or_default().push(row);
        }
    }
    let mut rng = SeededRng::new(spec.seed);
    let mut split = Split {
        train: Vec::new(),
        validation: Vec::new(),
        test: Vec::new(),
    };
    for rows in by_class.values_mut() {
        rng.shuffle(rows);
        let n = rows.len();
        let n_test = share(n, spec.test);
        let n_validation =
            share(n - n_test, spec.validation / (1.0 - spec.test)).min(n - n_test - 1);
        split.test.extend_from_slice(&rows[..n_test]);
        split
            .validation
            .extend_from_slice(&rows[n_test..n_test + n_validation]);
        split
            .train
            .extend_from_slice(&rows[n_test + n_validation..]);
    }
    split.train.sort_unstable();
    split.validation.sort_unstable();
    split.test.sort_unstable();
    Ok(split)
}

/// Rows of a class of `n` that go to a split of `fraction`: rounded, and never all of them.
fn share(n: usize, fraction: f64) -> usize {
    if n < 2 {
        return 0;
    }
    ((n as f64 * fraction).round() as usize).min(n - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n_a: usize, n_b: usize) -> Vec<Option<&'static str>> {
        (0..n_a)
            .map(|_| Some("a"))
            .chain((0..n_b).map(|_| Some("b")))
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_split_and_another_does_not() {
        let l = labels(60, 40);
        let one = stratified_split(&l, SplitSpec::default()).expect("split");
        let two = stratified_split(&l, SplitSpec::default()).expect("split");
        assert_eq!(one, two);
        let other = stratified_split(
            &l,
            SplitSpec {
                seed: 7,
                ..Default::default()
            },
        )
        .expect("split");
        assert_ne!(one, other);
    }

    #[test]
    fn every_row_lands_in_exactly_one_split_with_classes_balanced() {
        let l = labels(60, 40);
        let s = stratified_split(
            &l,
            SplitSpec {
                seed: 1,
                validation: 0.2,
                test: 0.25,
            },
        )
        .expect("split");
        let mut all: Vec<usize> = s
            .train
            .iter()
            .chain(&s.validation)
            .chain(&s.test)
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        let count =
            |rows: &[usize], class: &str| rows.iter().filter(|&&r| l[r] == Some(class)).count();
        assert_eq!((count(&s.test, "a"), count(&s.test, "b")), (15, 10));
        assert_eq!(
            (count(&s.validation, "a"), count(&s.validation, "b")),
            (12, 8)
        );
        assert_eq!(s.train.len(), 55);
    }

    #[test]
    fn tiny_classes_keep_a_training_row_and_bad_fractions_are_refused() {
        let s = stratified_split(
            &[Some("a"), Some("b"), Some("b"), None],
            SplitSpec::default(),
        )
        .expect("split");
        assert!(s.train.contains(&0));
        assert!(!s.train.contains(&3) && !s.test.contains(&3) && !s.validation.contains(&3));
        assert!(
            stratified_split(
                &labels(3, 3),
                SplitSpec {
                    validation: 0.6,
                    test: 0.5,
                    seed: 1
                }
            )
            .is_err()
        );
    }
}
