//! Data drift per column, computed as Evidently 0.7 computes it by default, so that a figure
//! in Kiln is the figure a user would get from Evidently's `DataDriftPreset` on the same rows.
//!
//! The test for a column depends on its kind and size (Evidently's default choice):
//!
//! | column | reference rows ≤ 1,000 | more |
//! |---|---|---|
//! | numeric, more than 5 distinct values | Kolmogorov–Smirnov p-value | Wasserstein distance / std of the reference |
//! | categorical, or numeric with ≤ 5 values | chi-squared p-value (more than 2 values), else a two-proportion Z-test | Jensen–Shannon distance |
//!
//! Missing and infinite values are dropped first. A p-value drifts at or under its threshold
//! (KS) or under it (chi-squared, Z); a distance drifts at or over its threshold. The dataset
//! drifts when the share of drifting columns is at least the drift share (0.5).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ks::ks_2samp_sorted;
use super::special::{chi2_sf, normal_cdf};

/// A drift test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatTest {
    /// Two-sample Kolmogorov–Smirnov p-value (scipy's `ks_2samp`).
    Ks,
    /// Chi-squared goodness of fit of the current counts against the reference's, scaled
    /// (scipy's `chisquare`): a p-value.
    Chisquare,
    /// Two-proportion Z-test of the first category against the rest: a p-value.
    Z,
    /// First Wasserstein distance divided by the reference's standard deviation (at least
    /// 0.001).
    Wasserstein,
    /// Jensen–Shannon distance (natural log) between the two distributions.
    Jensenshannon,
    /// Population stability index.
    Psi,
}

impl StatTest {
    pub const ALL: [StatTest; 6] = [
        StatTest::Ks,
        StatTest::Chisquare,
        StatTest::Z,
        StatTest::Wasserstein,
        StatTest::Jensenshannon,
        StatTest::Psi,
    ];

    /// Evidently's name for the test, which Kiln's options use too.
    pub fn name(self) -> &'static str {
        match self {
            StatTest::Ks => "ks",
            StatTest::Chisquare => "chisquare",
            StatTest::Z => "z",
            StatTest::Wasserstein => "wasserstein",
            StatTest::Jensenshannon => "jensenshannon",
            StatTest::Psi => "psi",
        }
    }

    pub fn parse(name: &str) -> Option<StatTest> {
        StatTest::ALL.into_iter().find(|t| t.name() == name)
    }

    /// What the value is, as a face labels it.
    pub fn label(self) -> &'static str {
        match self {
            StatTest::Ks => "K-S p-value",
            StatTest::Chisquare => "chi-squared p-value",
            StatTest::Z => "Z-test p-value",
            StatTest::Wasserstein => "Wasserstein distance (normed)",
            StatTest::Jensenshannon => "Jensen-Shannon distance",
            StatTest::Psi => "PSI",
        }
    }

    pub fn default_threshold(self) -> f64 {
        match self {
            StatTest::Ks | StatTest::Chisquare | StatTest::Z => 0.05,
            StatTest::Wasserstein | StatTest::Jensenshannon | StatTest::Psi => 0.1,
        }
    }

    /// Whether the value is a p-value (small means drift) rather than a distance.
    pub fn is_p_value(self) -> bool {
        matches!(self, StatTest::Ks | StatTest::Chisquare | StatTest::Z)
    }

    /// Whether `value` under `threshold` is drift, by Evidently's rule for the test.
    pub fn drifts(self, value: f64, threshold: f64) -> bool {
        match self {
            StatTest::Ks => value <= threshold,
            StatTest::Chisquare | StatTest::Z => value < threshold,
            StatTest::Wasserstein | StatTest::Jensenshannon | StatTest::Psi => value >= threshold,
        }
    }

    /// Whether the test reads a numeric column's order (K-S and Wasserstein do; the others
    /// count values and so take any column).
    fn needs_numbers(self) -> bool {
        matches!(self, StatTest::Ks | StatTest::Wasserstein)
    }
}

impl std::fmt::Display for StatTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One column of one sample, missing and infinite values dropped.
#[derive(Debug, Clone, PartialEq)]
pub enum Sample {
    Numeric {
        /// Finite values, sorted ascending.
        values: Vec<f64>,
        /// Every cell was present and written as an integer (pandas would read the column as
        /// integers, which changes one binning rule).
        integral: bool,
        missing: usize,
    },
    Categorical {
        counts: BTreeMap<String, u64>,
        missing: usize,
    },
}

impl Sample {
    /// A numeric sample from the cells of a column: empty, unreadable and infinite cells count
    /// as missing.
    pub fn numeric<'a>(cells: impl IntoIterator<Item = Option<&'a str>>) -> Sample {
        let mut values = Vec::new();
        let mut missing = 0;
        let mut integral = true;
        for cell in cells {
            let text = cell.map(str::trim).filter(|t| !crate::data::is_missing(t));
            match text.and_then(|t| t.parse::<f64>().ok().map(|v| (t, v))) {
                Some((t, v)) if v.is_finite() => {
                    integral &= is_integer_text(t);
                    values.push(v);
                }
                _ => {
                    missing += 1;
                    integral = false;
                }
            }
        }
        Sample::from_values(values, integral, missing)
    }

    /// A numeric sample from values: NaN and infinities count as missing.
    pub fn from_values(mut values: Vec<f64>, integral: bool, mut missing: usize) -> Sample {
        let before = values.len();
        values.retain(|v| v.is_finite());
        missing += before - values.len();
        values.sort_unstable_by(f64::total_cmp);
        Sample::Numeric {
            values,
            integral: integral && missing == 0,
            missing,
        }
    }

    /// A categorical sample from the cells of a column.
    pub fn categorical<'a>(cells: impl IntoIterator<Item = Option<&'a str>>) -> Sample {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut missing = 0;
        for cell in cells {
            match cell.map(str::trim).filter(|t| !crate::data::is_missing(t)) {
                Some(t) => match counts.get_mut(t) {
                    Some(n) => *n += 1,
                    None => {
                        counts.insert(t.to_owned(), 1);
                    }
                },
                None => missing += 1,
            }
        }
        Sample::Categorical { counts, missing }
    }

    /// Rows with a value.
    pub fn len(&self) -> usize {
        match self {
            Sample::Numeric { values, .. } => values.len(),
            Sample::Categorical { counts, .. } => counts.values().sum::<u64>() as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn missing(&self) -> usize {
        match self {
            Sample::Numeric { missing, .. } | Sample::Categorical { missing, .. } => *missing,
        }
    }

    fn is_numeric(&self) -> bool {
        matches!(self, Sample::Numeric { .. })
    }
}

fn is_integer_text(t: &str) -> bool {
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// How to test the columns: Evidently's defaults unless a test or threshold is chosen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftOptions {
    /// The test for every column without a test of its own (default: chosen per column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<StatTest>,
    /// A test per column.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tests: BTreeMap<String, StatTest>,
    /// A threshold for every column without one of its own (default: the test's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// A threshold per column.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub thresholds: BTreeMap<String, f64>,
    /// The share of drifting columns at which the dataset drifts (default 0.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_share: Option<f64>,
}

/// The default share of drifting columns that makes a dataset drift.
pub const DRIFT_SHARE: f64 = 0.5;

impl DriftOptions {
    pub fn drift_share(&self) -> f64 {
        self.drift_share.unwrap_or(DRIFT_SHARE)
    }

    /// Refuses impossible values, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        let in_unit = |v: f64| v.is_finite() && v >= 0.0;
        if let Some(share) = self.drift_share
            && !(share.is_finite() && share > 0.0 && share <= 1.0)
        {
            return Err(format!(
                "drift_share = {share} is not a share: use a number above 0 and at most 1"
            ));
        }
        if let Some(t) = self.threshold
            && !in_unit(t)
        {
            return Err(format!(
                "threshold = {t} is not a threshold: use a number of at least 0"
            ));
        }
        for (column, t) in &self.thresholds {
            if !in_unit(*t) {
                return Err(format!(
                    "thresholds.{column} = {t} is not a threshold: use a number of at least 0"
                ));
            }
        }
        Ok(())
    }
}

/// The test Evidently picks for a column by default, from its kind and the two samples.
pub fn default_test(reference: &Sample, current: &Sample) -> StatTest {
    test_for(reference, distinct_values(reference, current))
}

/// [`default_test`], given the distinct values over both samples.
fn test_for(reference: &Sample, distinct: usize) -> StatTest {
    let numeric = reference.is_numeric();
    if reference.len() <= 1000 {
        if numeric && distinct > 5 {
            StatTest::Ks
        } else if distinct > 2 {
            StatTest::Chisquare
        } else {
            StatTest::Z
        }
    } else if numeric && distinct > 5 {
        StatTest::Wasserstein
    } else {
        StatTest::Jensenshannon
    }
}

/// The outcome of one column's test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDrift {
    pub column: String,
    /// `numeric` or `categorical`.
    pub kind: String,
    pub test: StatTest,
    /// The p-value or the distance.
    pub value: f64,
    pub threshold: f64,
    pub drifted: bool,
    pub reference_rows: usize,
    pub current_rows: usize,
    pub reference_missing: usize,
    pub current_missing: usize,
    /// Both distributions on shared bins, for charts.
    pub distribution: Distribution,
}

/// Two samples' distributions side by side: shares per bin (numeric) or per category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// Category names, or each bin's lower edge written out.
    pub labels: Vec<String>,
    /// For numeric columns, the bin edges (one more than the shares).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edges: Vec<f64>,
    pub reference: Vec<f64>,
    pub current: Vec<f64>,
}

/// Why a column could not be tested.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DriftError {
    #[error(
        "column {column:?} has no values in the {which} sample, so its drift cannot be measured"
    )]
    Empty { column: String, which: &'static str },
    #[error(
        "the {test} test needs numbers, and column {column:?} is categorical: use chisquare, z, jensenshannon or psi"
    )]
    NeedsNumbers { column: String, test: StatTest },
    #[error(
        "the {test} test is undefined on column {column:?} (it needs at least two distinct values over both samples)"
    )]
    Undefined { column: String, test: StatTest },
}

/// Tests one column: the chosen test (or Evidently's default) at the chosen threshold (or the
/// test's).
pub fn column_drift(
    column: &str,
    reference: &Sample,
    current: &Sample,
    options: &DriftOptions,
) -> Result<ColumnDrift, DriftError> {
    for (sample, which) in [(reference, "reference"), (current, "current")] {
        if sample.is_empty() {
            return Err(DriftError::Empty {
                column: column.to_owned(),
                which,
            });
        }
    }
    // Counted once: the default test and the chart's bins both depend on it.
    let distinct = distinct_values(reference, current);
    let test = options
        .tests
        .get(column)
        .copied()
        .or(options.test)
        .unwrap_or_else(|| test_for(reference, distinct));
    if test.needs_numbers() && !reference.is_numeric() {
        return Err(DriftError::NeedsNumbers {
            column: column.to_owned(),
            test,
        });
    }
    let threshold = options
        .thresholds
        .get(column)
        .copied()
        .or(options.threshold)
        .unwrap_or_else(|| test.default_threshold());
    let value = match (test, reference, current) {
        (StatTest::Ks, Sample::Numeric { values: a, .. }, Sample::Numeric { values: b, .. }) => {
            ks_2samp_sorted(a, b).p_value
        }
        (
            StatTest::Wasserstein,
            Sample::Numeric { values: a, .. },
            Sample::Numeric { values: b, .. },
        ) => wasserstein_normed(a, b),
        (StatTest::Chisquare, _, _) => {
            let (r, c) = aligned_counts(reference, current);
            chisquare_p(&r, &c)
        }
        (StatTest::Z, _, _) => {
            let (r, c) = aligned_counts(reference, current);
            z_test_p(&r, &c)
        }
        (StatTest::Jensenshannon, _, _) => {
            let (r, c) = binned_shares(reference, current, false);
            jensen_shannon(&r, &c)
        }
        (StatTest::Psi, _, _) => {
            let (r, c) = binned_shares(reference, current, true);
            psi(&r, &c)
        }
        (StatTest::Ks | StatTest::Wasserstein, _, _) => unreachable!("checked above"),
    };
    if !value.is_finite() {
        return Err(DriftError::Undefined {
            column: column.to_owned(),
            test,
        });
    }
    Ok(ColumnDrift {
        column: column.to_owned(),
        kind: if reference.is_numeric() {
            "numeric"
        } else {
            "categorical"
        }
        .into(),
        test,
        value,
        threshold,
        drifted: test.drifts(value, threshold),
        reference_rows: reference.len(),
        current_rows: current.len(),
        reference_missing: reference.missing(),
        current_missing: current.missing(),
        distribution: distribution(reference, current, distinct),
    })
}

/// Whether a dataset drifts: the share of drifting columns against the drift share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetDrift {
    pub columns: usize,
    pub drifted_columns: usize,
    pub share: f64,
    pub drift_share: f64,
    pub drifted: bool,
}

impl DatasetDrift {
    pub fn of(columns: &[ColumnDrift], drift_share: f64) -> DatasetDrift {
        let drifted_columns = columns.iter().filter(|c| c.drifted).count();
        let share = if columns.is_empty() {
            0.0
        } else {
            drifted_columns as f64 / columns.len() as f64
        };
        DatasetDrift {
            columns: columns.len(),
            drifted_columns,
            share,
            drift_share,
            drifted: !columns.is_empty() && share >= drift_share,
        }
    }
}

/// Distinct values over both samples.
fn distinct_values(a: &Sample, b: &Sample) -> usize {
    match (a, b) {
        (Sample::Numeric { values: a, .. }, Sample::Numeric { values: b, .. }) => {
            let mut n = 0;
            merge_unique(a, b, |_, _, _| n += 1);
            n
        }
        (Sample::Categorical { counts: a, .. }, Sample::Categorical { counts: b, .. }) => {
            a.len() + b.keys().filter(|k| !a.contains_key(*k)).count()
        }
        _ => 0,
    }
}

/// Walks the distinct values of two sorted slices in order, with how often each occurs in
/// each.
fn merge_unique(a: &[f64], b: &[f64], mut each: impl FnMut(f64, u64, u64)) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let v = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => {
                if x <= y {
                    x
                } else {
                    y
                }
            }
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => unreachable!(),
        };
        let (i0, j0) = (i, j);
        while i < a.len() && a[i] == v {
            i += 1;
        }
        while j < b.len() && b[j] == v {
            j += 1;
        }
        each(v, (i - i0) as u64, (j - j0) as u64);
    }
}

/// Counts per distinct value over both samples, in the values' order (numbers ascending,
/// categories by name): the two count vectors, aligned.
fn aligned_counts(reference: &Sample, current: &Sample) -> (Vec<u64>, Vec<u64>) {
    let (mut r, mut c) = (Vec::new(), Vec::new());
    match (reference, current) {
        (Sample::Numeric { values: a, .. }, Sample::Numeric { values: b, .. }) => {
            merge_unique(a, b, |_, x, y| {
                r.push(x);
                c.push(y);
            });
        }
        (Sample::Categorical { counts: a, .. }, Sample::Categorical { counts: b, .. }) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort_unstable();
            keys.dedup();
            for k in keys {
                r.push(a.get(k).copied().unwrap_or(0));
                c.push(b.get(k).copied().unwrap_or(0));
            }
        }
        _ => {}
    }
    (r, c)
}

/// scipy's `chisquare(f_obs = current, f_exp = reference × n_current / n_reference)`.
fn chisquare_p(reference: &[u64], current: &[u64]) -> f64 {
    let n_ref: u64 = reference.iter().sum();
    let n_cur: u64 = current.iter().sum();
    let k_norm = n_cur as f64 / n_ref as f64;
    let statistic: f64 = reference
        .iter()
        .zip(current)
        .map(|(&r, &c)| {
            let expected = r as f64 * k_norm;
            let d = c as f64 - expected;
            d * d / expected
        })
        .sum();
    chi2_sf(statistic, (reference.len() - 1) as f64)
}

/// Evidently's Z-test: the share of rows that are not the first value, compared between the
/// samples with a pooled variance; two-sided, as `2 (1 − Φ(|z|))`.
fn z_test_p(reference: &[u64], current: &[u64]) -> f64 {
    let n1: u64 = reference.iter().sum();
    let n2: u64 = current.iter().sum();
    let one_value =
        |counts: &[u64], n: u64| counts.iter().filter(|&&c| c > 0).count() == 1 && n > 0;
    // One and the same value in both samples: nothing differs.
    if reference.len() == 1 && one_value(reference, n1) && one_value(current, n2) {
        return 1.0;
    }
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let p1 = (n1 - reference[0]) as f64 / n1f;
    let p2 = (n2 - current[0]) as f64 / n2f;
    let pooled = (p1 * n1f + p2 * n2f) / (n1f + n2f);
    let z = (p1 - p2) / (pooled * (1.0 - pooled) * (1.0 / n1f + 1.0 / n2f)).sqrt();
    2.0 * (1.0 - normal_cdf(z.abs()))
}

/// scipy's `wasserstein_distance(reference, current)` over numpy's `std(reference)` (at least
/// 0.001). Both slices sorted.
fn wasserstein_normed(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let mean = a.iter().sum::<f64>() / n;
    let var = a.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let norm = var.sqrt().max(0.001);
    wasserstein(a, b) / norm
}

/// The first Wasserstein distance between two sorted samples: the area between their ECDFs.
pub fn wasserstein(a: &[f64], b: &[f64]) -> f64 {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let mut total = 0.0;
    let mut previous: Option<f64> = None;
    while i < a.len() || j < b.len() {
        let v = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => unreachable!(),
        };
        if let Some(p) = previous {
            // The ECDFs between the previous value and this one.
            total += (i as f64 / na - j as f64 / nb).abs() * (v - p);
        }
        while i < a.len() && a[i] == v {
            i += 1;
        }
        while j < b.len() && b[j] == v {
            j += 1;
        }
        previous = Some(v);
    }
    total
}

/// Evidently's binning for the Jensen–Shannon distance and PSI: shares per Sturges bin over
/// both samples for a numeric column with more than 20 distinct reference values, else
/// shares per value. `fill_zeroes` replaces empty shares as Evidently's PSI does.
fn binned_shares(reference: &Sample, current: &Sample, fill_zeroes: bool) -> (Vec<f64>, Vec<f64>) {
    let (n_ref, n_cur) = (reference.len() as f64, current.len() as f64);
    let (r, c): (Vec<f64>, Vec<f64>) = match (reference, current) {
        (
            Sample::Numeric {
                values: a,
                integral: ia,
                ..
            },
            Sample::Numeric {
                values: b,
                integral: ib,
                ..
            },
        ) if distinct_sorted(a) > 20 => {
            let edges = sturges_edges(a, b, *ia && *ib);
            let ra = histogram(a, &edges);
            let rb = histogram(b, &edges);
            (
                ra.into_iter().map(|x| x as f64 / n_ref).collect(),
                rb.into_iter().map(|x| x as f64 / n_cur).collect(),
            )
        }
        _ => {
            let (ra, rb) = aligned_counts(reference, current);
            (
                ra.into_iter().map(|x| x as f64 / n_ref).collect(),
                rb.into_iter().map(|x| x as f64 / n_cur).collect(),
            )
        }
    };
    if !fill_zeroes {
        return (r, c);
    }
    (fill(r), fill(c))
}

/// Evidently's stand-in for an empty share: a millionth of the smallest share when that is
/// at most 0.0001, else 0.0001.
fn fill(mut shares: Vec<f64>) -> Vec<f64> {
    let smallest = shares
        .iter()
        .copied()
        .filter(|&s| s != 0.0)
        .fold(f64::INFINITY, f64::min);
    let stand_in = if smallest <= 0.0001 {
        smallest / 1e6
    } else {
        0.0001
    };
    for s in &mut shares {
        if *s == 0.0 {
            *s = stand_in;
        }
    }
    shares
}

fn distinct_sorted(a: &[f64]) -> usize {
    if a.is_empty() {
        return 0;
    }
    1 + a.windows(2).filter(|w| w[0] != w[1]).count()
}

/// numpy's `histogram_bin_edges(both, bins="sturges")`: equal bins of width
/// range / (log2(n) + 1), at least 1 for integers, laid out as `linspace` lays them.
fn sturges_edges(a: &[f64], b: &[f64], integral: bool) -> Vec<f64> {
    let first = a[0].min(b[0]);
    let last = a[a.len() - 1].max(b[b.len() - 1]);
    let (first, last) = if first == last {
        (first - 0.5, last + 0.5)
    } else {
        (first, last)
    };
    let n = (a.len() + b.len()) as f64;
    let ptp = last - first;
    let mut width = ptp / (n.log2() + 1.0);
    if integral && width < 1.0 {
        width = 1.0;
    }
    let bins = if width != 0.0 {
        (ptp / width).ceil() as usize
    } else {
        1
    };
    linspace(first, last, bins + 1)
}

/// numpy's `linspace(start, stop, num)` with its endpoint.
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let div = (num - 1) as f64;
    let delta = stop - start;
    let step = delta / div;
    let mut y: Vec<f64> = (0..num)
        .map(|i| {
            if step == 0.0 {
                i as f64 / div * delta + start
            } else {
                i as f64 * step + start
            }
        })
        .collect();
    if num > 1 {
        y[num - 1] = stop;
    }
    y
}

/// numpy's `histogram(sorted, bins=edges)`: half-open bins, the last one closed.
fn histogram(sorted: &[f64], edges: &[f64]) -> Vec<u64> {
    let below = |e: f64| sorted.partition_point(|&v| v < e);
    let at_most = |e: f64| sorted.partition_point(|&v| v <= e);
    let k = edges.len() - 1;
    (0..k)
        .map(|i| {
            let hi = if i + 1 == k {
                at_most(edges[k])
            } else {
                below(edges[i + 1])
            };
            (hi - below(edges[i])) as u64
        })
        .collect()
}

/// scipy's `jensenshannon(p, q)`: natural log, the square root of the divergence.
fn jensen_shannon(p: &[f64], q: &[f64]) -> f64 {
    let sp: f64 = p.iter().sum();
    let sq: f64 = q.iter().sum();
    let mut left = 0.0;
    let mut right = 0.0;
    for (&pi, &qi) in p.iter().zip(q) {
        let (pi, qi) = (pi / sp, qi / sq);
        let m = (pi + qi) / 2.0;
        left += rel_entr(pi, m);
        right += rel_entr(qi, m);
    }
    ((left + right) / 2.0).sqrt()
}

/// scipy's `rel_entr`: x ln(x / y), 0 at x = 0.
fn rel_entr(x: f64, y: f64) -> f64 {
    if x > 0.0 && y > 0.0 {
        x * (x / y).ln()
    } else if x == 0.0 && y >= 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

/// The population stability index of two share vectors without zeroes.
fn psi(reference: &[f64], current: &[f64]) -> f64 {
    reference
        .iter()
        .zip(current)
        .map(|(r, c)| (r - c) * (r / c).ln())
        .sum()
}

/// Shares on shared bins for a chart: up to 40 Sturges bins for numbers, every category
/// otherwise (the 40 most frequent, the rest as "other").
fn distribution(reference: &Sample, current: &Sample, distinct: usize) -> Distribution {
    let (n_ref, n_cur) = (reference.len().max(1) as f64, current.len().max(1) as f64);
    match (reference, current) {
        (Sample::Numeric { values: a, .. }, Sample::Numeric { values: b, .. }) if distinct > 20 => {
            let mut edges = sturges_edges(a, b, false);
            if edges.len() > 41 {
                edges = linspace(edges[0], edges[edges.len() - 1], 41);
            }
            let share = |s: &[f64], n: f64| -> Vec<f64> {
                histogram(s, &edges)
                    .into_iter()
                    .map(|x| x as f64 / n)
                    .collect()
            };
            Distribution {
                labels: edges[..edges.len() - 1]
                    .iter()
                    .map(|e| format!("{e:.4}"))
                    .collect(),
                reference: share(a, n_ref),
                current: share(b, n_cur),
                edges,
            }
        }
        _ => {
            let mut labels = Vec::new();
            let mut counts = Vec::new();
            match (reference, current) {
                (Sample::Numeric { values: a, .. }, Sample::Numeric { values: b, .. }) => {
                    merge_unique(a, b, |v, x, y| {
                        labels.push(format!("{v}"));
                        counts.push((x, y));
                    })
                }
                (Sample::Categorical { counts: a, .. }, Sample::Categorical { counts: b, .. }) => {
                    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
                    keys.sort_unstable();
                    keys.dedup();
                    for k in keys {
                        labels.push(k.clone());
                        counts.push((
                            a.get(k).copied().unwrap_or(0),
                            b.get(k).copied().unwrap_or(0),
                        ));
                    }
                }
                _ => {}
            }
            const MOST: usize = 40;
            if labels.len() > MOST {
                let mut order: Vec<usize> = (0..labels.len()).collect();
                order.sort_by_key(|&i| std::cmp::Reverse(counts[i].0 + counts[i].1));
                let (kept, rest) = order.split_at(MOST - 1);
                let other = rest
                    .iter()
                    .fold((0, 0), |(x, y), &i| (x + counts[i].0, y + counts[i].1));
                let mut kept = kept.to_vec();
                kept.sort_unstable();
                labels = kept.iter().map(|&i| labels[i].clone()).collect();
                labels.push("(other)".into());
                counts = kept.iter().map(|&i| counts[i]).collect();
                counts.push(other);
            }
            Distribution {
                labels,
                edges: Vec::new(),
                reference: counts.iter().map(|c| c.0 as f64 / n_ref).collect(),
                current: counts.iter().map(|c| c.1 as f64 / n_cur).collect(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(values: &[f64]) -> Sample {
        Sample::from_values(values.to_vec(), false, 0)
    }

    fn categories(values: &[&str]) -> Sample {
        Sample::categorical(values.iter().map(|v| Some(*v)))
    }

    #[test]
    fn the_default_test_follows_size_kind_and_distinct_values() {
        let small: Vec<f64> = (0..1000).map(|i| (i % 7) as f64).collect();
        let large: Vec<f64> = (0..1001).map(|i| (i % 7) as f64).collect();
        let five: Vec<f64> = (0..1000).map(|i| (i % 5) as f64).collect();
        let two: Vec<f64> = (0..1000).map(|i| (i % 2) as f64).collect();
        assert_eq!(
            default_test(&numbers(&small), &numbers(&small)),
            StatTest::Ks
        );
        assert_eq!(
            default_test(&numbers(&large), &numbers(&small)),
            StatTest::Wasserstein
        );
        assert_eq!(
            default_test(&numbers(&five), &numbers(&five)),
            StatTest::Chisquare
        );
        // The sixth distinct value may come from the current sample alone.
        assert_eq!(
            default_test(&numbers(&five), &numbers(&[9.0])),
            StatTest::Ks
        );
        assert_eq!(default_test(&numbers(&two), &numbers(&two)), StatTest::Z);
        let big_five: Vec<f64> = (0..2000).map(|i| (i % 5) as f64).collect();
        assert_eq!(
            default_test(&numbers(&big_five), &numbers(&five)),
            StatTest::Jensenshannon
        );
        let many: Vec<String> = (0..1001).map(|i| format!("c{}", i % 9)).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            default_test(&categories(&many), &categories(&["c1"])),
            StatTest::Jensenshannon
        );
    }

    #[test]
    fn missing_and_infinite_cells_are_dropped_and_counted() {
        let s = Sample::numeric(["1", "", "NA", "inf", "x", "2.5", "3"].map(Some));
        match &s {
            Sample::Numeric {
                values,
                integral,
                missing,
            } => {
                assert_eq!(values, &[1.0, 2.5, 3.0]);
                assert!(!integral);
                assert_eq!(*missing, 4);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Sample::numeric(["1", "-2", "30"].map(Some)),
            Sample::Numeric { integral: true, .. }
        ));
    }

    #[test]
    fn identical_samples_do_not_drift_under_any_test() {
        let values: Vec<f64> = (0..500).map(|i| ((i * 37) % 101) as f64 / 7.0).collect();
        let cats: Vec<String> = (0..500).map(|i| format!("k{}", i % 4)).collect();
        let cats: Vec<&str> = cats.iter().map(String::as_str).collect();
        for test in StatTest::ALL {
            let options = DriftOptions {
                test: Some(test),
                ..Default::default()
            };
            let d =
                column_drift("x", &numbers(&values), &numbers(&values), &options).expect("numeric");
            assert!(!d.drifted, "{test}: {d:?}");
            if test.is_p_value() {
                assert!(d.value > 0.99, "{test}: {}", d.value);
            } else {
                assert!(d.value.abs() < 1e-12, "{test}: {}", d.value);
            }
            if !test.needs_numbers() {
                let d = column_drift("c", &categories(&cats), &categories(&cats), &options)
                    .expect("categorical");
                assert!(!d.drifted, "{test}: {d:?}");
            }
        }
    }

    #[test]
    fn a_shifted_sample_drifts_under_every_numeric_test() {
        let a: Vec<f64> = (0..800).map(|i| ((i * 37) % 101) as f64).collect();
        let b: Vec<f64> = a.iter().map(|v| v + 40.0).collect();
        for test in StatTest::ALL {
            let options = DriftOptions {
                test: Some(test),
                ..Default::default()
            };
            let d = column_drift("x", &numbers(&a), &numbers(&b), &options).expect("drift");
            assert!(d.drifted, "{test}: {d:?}");
        }
    }

    #[test]
    fn wasserstein_is_the_area_between_the_ecdfs() {
        // Moving every point by 5 moves the distribution by 5.
        assert!((wasserstein(&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0]) - 5.0).abs() < 1e-12);
        // Half the mass moves by 1.
        assert!((wasserstein(&[0.0, 1.0], &[1.0, 1.0]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn sturges_bins_cover_both_samples_and_count_the_top_edge() {
        let a: Vec<f64> = (0..30).map(f64::from).collect();
        let b: Vec<f64> = (10..45).map(f64::from).collect();
        let edges = sturges_edges(&a, &b, true);
        assert_eq!(edges[0], 0.0);
        assert_eq!(*edges.last().expect("edges"), 44.0);
        // 65 values: log2(65) + 1 ≈ 7.02, so 44 / 6.27 rounds up to 8 bins.
        assert_eq!(edges.len(), 9);
        let counts = histogram(&b, &edges);
        assert_eq!(counts.iter().sum::<u64>(), b.len() as u64);
    }

    #[test]
    fn a_category_only_the_current_sample_has_is_certain_drift() {
        let r = categories(&["a", "b", "c", "a", "b", "c"]);
        let c = categories(&["a", "b", "c", "d"]);
        let d = column_drift("c", &r, &c, &DriftOptions::default()).expect("drift");
        assert_eq!(d.test, StatTest::Chisquare);
        assert_eq!(d.value, 0.0);
        assert!(d.drifted);
    }

    #[test]
    fn a_test_undefined_on_a_column_is_refused_not_stored_as_nan() {
        let constant = numbers(&[3.0; 50]);
        let options = DriftOptions {
            test: Some(StatTest::Chisquare),
            ..Default::default()
        };
        let e = column_drift("x", &constant, &constant, &options).expect_err("undefined");
        assert!(matches!(e, DriftError::Undefined { .. }), "{e}");
    }

    #[test]
    fn the_dataset_drifts_at_the_share() {
        let column = |drifted| ColumnDrift {
            column: "x".into(),
            kind: "numeric".into(),
            test: StatTest::Ks,
            value: 0.0,
            threshold: 0.05,
            drifted,
            reference_rows: 1,
            current_rows: 1,
            reference_missing: 0,
            current_missing: 0,
            distribution: Distribution {
                labels: vec![],
                edges: vec![],
                reference: vec![],
                current: vec![],
            },
        };
        let half = [column(true), column(false)];
        assert!(DatasetDrift::of(&half, 0.5).drifted);
        assert!(!DatasetDrift::of(&half, 0.6).drifted);
        assert!(!DatasetDrift::of(&[], 0.5).drifted);
    }

    #[test]
    fn options_refuse_impossible_values_by_key() {
        let bad = DriftOptions {
            drift_share: Some(1.5),
            ..Default::default()
        };
        assert!(bad.validate().expect_err("refused").contains("drift_share"));
        let mut thresholds = BTreeMap::new();
        thresholds.insert("age".to_owned(), -1.0);
        let bad = DriftOptions {
            thresholds,
            ..Default::default()
        };
        assert!(
            bad.validate()
                .expect_err("refused")
                .contains("thresholds.age")
        );
    }
}
