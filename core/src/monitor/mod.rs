//! Monitoring: a new batch of a model's dataset, checked, scored and compared with the rows the
//! model was trained on.
//!
//! `kiln monitor` imports the batch in the `monitoring` role and stores, in the same
//! transaction, a report of the model version on it:
//! - data drift per input column ([`drift`], Evidently's tests and thresholds), text drift for
//!   text columns, and drift of the predicted classes;
//! - with labels, accuracy and macro-F1 beside the model's test figures, and each labelled
//!   row's error, so that DDM and ADWIN ([`stream`]) can follow the errors over the batches;
//! - without labels too, an estimate of accuracy from the model's probabilities (the mean of
//!   the top probability, as NannyML's CBPE estimates it), which is only as good as the model's
//!   calibration: the report carries the calibration of the reference for that reason.

pub mod drift;
pub mod ks;
pub mod retrain;
pub mod special;
pub mod stream;

use std::path::Path;

use base64::Engine;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

pub use drift::{ColumnDrift, DatasetDrift, Distribution, DriftOptions, Sample, StatTest};
pub use stream::Flags;

use crate::Result;
use crate::data::{BatchRole, DataError, Location, Table};
use crate::features::{FeaturePipeline, Step};
use crate::registry::{ModelVersion, VersionSelector};
use crate::store::{Project, monitoring};

/// The first rows refused by scoring that a report lists (all are counted).
const LISTED_REFUSALS: usize = 20;

/// A model version's report on one batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorReport {
    /// The stored report's id (0 before it is stored).
    #[serde(default)]
    pub id: i64,
    pub model: String,
    pub version: u32,
    pub dataset: String,
    pub batch: i64,
    pub source: String,
    /// The batch was already in the project (the same bytes): only the report is new.
    #[serde(default)]
    pub already_imported: bool,
    pub created_at: i64,
    pub rows: usize,
    /// Training rows of the model's split: the reference every test compares against.
    pub reference_rows: usize,
    pub options: DriftOptions,
    pub drift: DatasetDrift,
    /// One per input column the model reads (text columns by their terms).
    pub columns: Vec<ColumnDrift>,
    /// Columns that could not be tested, and why.
    #[serde(default)]
    pub untested: Vec<String>,
    #[serde(default)]
    pub text: Vec<TextDrift>,
    /// Drift of the predicted classes: the reference's predictions against the batch's.
    pub prediction: Option<ColumnDrift>,
    /// Rows scored (the rest broke an expectation or could not be read).
    pub scored_rows: usize,
    pub refused_rows: usize,
    /// The first refused rows: (line, why).
    #[serde(default)]
    pub refusals: Vec<(u64, String)>,
    /// Failed checks of the dataset's expectations on the batch.
    #[serde(default)]
    pub failed_checks: Vec<String>,
    pub performance: Option<Performance>,
    pub estimate: Estimate,
}

/// The drift of a text column beyond its terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextDrift {
    pub column: String,
    /// The share of terms (after the analyzer) outside the model's vocabulary.
    pub reference_out_of_vocabulary: f64,
    pub current_out_of_vocabulary: f64,
    /// Terms per document, tested like a numeric column.
    pub length: Option<ColumnDrift>,
}

/// How the model did on a labelled batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Performance {
    pub labelled_rows: usize,
    pub accuracy: f64,
    /// Over every class in the truth or the predictions, as scikit-learn's default.
    pub macro_f1: f64,
    /// The model's figures on its held-out test split, when its run logged them.
    pub test_accuracy: Option<f64>,
    pub test_macro_f1: Option<f64>,
    /// Labels the model never saw, with their rows (each is an error).
    #[serde(default)]
    pub unseen_classes: Vec<(String, usize)>,
    /// Each labelled row's error (1 wrong, 0 right), in file order, as bits in base64.
    pub errors: String,
}

impl Performance {
    /// Each labelled row's error, 1.0 when the prediction was wrong.
    pub fn error_stream(&self) -> Vec<f64> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.errors)
            .unwrap_or_default();
        (0..self.labelled_rows)
            .map(|i| {
                let bit = bytes.get(i / 8).map_or(0, |b| (b >> (i % 8)) & 1);
                f64::from(bit)
            })
            .collect()
    }
}

fn pack_errors(errors: &[bool]) -> String {
    let mut bytes = vec![0u8; errors.len().div_ceil(8)];
    for (i, &e) in errors.iter().enumerate() {
        if e {
            bytes[i / 8] |= 1 << (i % 8);
        }
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Accuracy estimated from the probabilities alone, and how far they can be trusted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The mean top probability over the batch's scored rows.
    pub estimated_accuracy: Option<f64>,
    /// The same estimate on the model's held-out test rows, beside their real accuracy.
    pub reference_estimated_accuracy: Option<f64>,
    pub reference_accuracy: Option<f64>,
    /// The test rows' calibration: ten bins of top probability.
    pub calibration: Vec<CalibrationBin>,
    /// Expected calibration error: the rows' weighted mean gap between confidence and accuracy.
    pub calibration_error: Option<f64>,
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    pub low: f64,
    pub high: f64,
    pub rows: usize,
    pub confidence: f64,
    pub accuracy: f64,
}

/// A model version's reports over its batches, with the concept-drift detectors run over the
/// labelled rows of every batch in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonitorHistory {
    pub model: String,
    pub version: u32,
    pub reports: Vec<MonitorReport>,
    /// Where DDM (river's defaults) warned and detected drift.
    pub ddm: Vec<StreamFlag>,
    /// Where ADWIN (δ = 0.002) detected drift.
    pub adwin: Vec<StreamFlag>,
    /// The model's retrain decisions, oldest first.
    pub decisions: Vec<retrain::RetrainReport>,
}

/// A detector's flag, placed in its batch; consecutive warnings are one flag.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamFlag {
    /// `warning` or `drift`.
    pub kind: &'static str,
    /// The position in the stream of every labelled row so far (the first, for warnings).
    pub row: usize,
    /// How many consecutive rows the flag covers (1 for a drift).
    pub rows: usize,
    /// The report (by position in [`MonitorHistory::reports`]) and the labelled row within it.
    pub report: usize,
    pub row_in_batch: usize,
}

/// Why monitoring refused a batch.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("{0}")]
    Refused(String),
}

impl Project {
    /// Imports `path` as a monitoring batch of the dataset of `model` (at `selector`), and
    /// stores the version's report on it. Nothing is written when the batch is refused.
    pub fn monitor(
        &mut self,
        model: &str,
        selector: &VersionSelector,
        path: &Path,
        options: &DriftOptions,
    ) -> Result<MonitorReport> {
        self.monitor_from(model, selector, Source::File(path), options)
    }

    /// [`Project::monitor`] for CSV bytes that did not come from a file (`source` names them).
    pub fn monitor_bytes(
        &mut self,
        model: &str,
        selector: &VersionSelector,
        source: &str,
        bytes: &[u8],
        options: &DriftOptions,
    ) -> Result<MonitorReport> {
        self.monitor_from(model, selector, Source::Bytes(source, bytes), options)
    }

    fn monitor_from(
        &mut self,
        model: &str,
        selector: &VersionSelector,
        source: Source<'_>,
        options: &DriftOptions,
    ) -> Result<MonitorReport> {
        options
            .validate()
            .map_err(|e| MonitorError::Refused(format!("the drift options are not valid: {e}")))?;
        let version = self.model_version(model, selector)?;
        let dataset = version.lineage.dataset.clone().ok_or_else(|| {
            MonitorError::Refused(format!(
                "{model} v{} has no dataset in its lineage, so there is nothing to compare a batch with",
                version.version
            ))
        })?;
        let (batch, path) = match source {
            Source::File(path) => (self.prepare_batch(path, &dataset)?, path),
            Source::Bytes(name, bytes) => (
                self.prepare_batch_bytes(name, bytes, &dataset)?,
                Path::new(name),
            ),
        };
        let loaded = self.load_model(version.run, &Device::flex())?;
        // A test or threshold for a column the model does not read would be silently unused.
        let known: Vec<&str> = loaded
            .artifact
            .pipeline
            .steps
            .iter()
            .map(Step::column)
            .chain(["prediction"])
            .collect();
        if let Some(column) = options
            .tests
            .keys()
            .chain(options.thresholds.keys())
            .find(|c| !known.contains(&c.as_str()))
        {
            return Err(MonitorError::Refused(format!(
                "the drift options name column {column:?}, which {model} v{} does not read; its columns are {}",
                version.version,
                known.join(", ")
            ))
            .into());
        }
        refuse_bad_batch(&batch.table, &batch.check, &loaded.artifact.pipeline, path)?;
        let reference = self.reference_of(&version, &loaded.artifact.pipeline)?;
        // Rules on the label do not refuse a row: labels are optional, and the rows without
        // one are those the estimate is for. They still show among the failed checks.
        let mut suite = self.expectations(&dataset)?;
        suite
            .expectations
            .retain(|e| e.column != loaded.artifact.pipeline.label);
        let mut report = build_report(
            &version,
            &loaded,
            &reference,
            &batch.table,
            suite.failing_rows(&batch.table),
            options,
            self.best_value(version.run, "test/accuracy")?,
            self.best_value(version.run, "test/macro_f1")?,
        );
        report.dataset = dataset;
        report.source = batch.source.clone();
        report.already_imported = batch.existing.is_some();
        report.failed_checks = batch
            .check
            .failures()
            .map(|f| format!("{} on {}: {} rows", f.rule, f.column, f.failing))
            .collect();
        self.atomically(|p| {
            let id = p.store_batch(&batch, BatchRole::Monitoring)?;
            report.batch = id.0;
            report.id = p.write(|tx| monitoring::insert_report(tx, id, version.id, &report))?;
            Ok(())
        })?;
        Ok(report)
    }

    /// How many monitoring reports and retrain decisions the project holds.
    pub fn monitoring_counts(&self) -> Result<(u64, u64)> {
        self.read(monitoring::counts)
    }

    /// Every stored report of a model version, in batch order, with DDM and ADWIN over their
    /// labelled rows.
    pub fn monitoring(&self, model: &str, selector: &VersionSelector) -> Result<MonitorHistory> {
        let version = self.model_version(model, selector)?;
        let rows = self.read(|c| monitoring::reports(c, version.id))?;
        let mut reports = Vec::with_capacity(rows.len());
        for (id, json) in rows {
            let mut report: MonitorReport =
                serde_json::from_str(&json).map_err(|e| crate::StoreError::Corrupt {
                    path: self.path().to_owned(),
                    reason: format!("monitoring report {id} is unreadable: {e}"),
                })?;
            report.id = id;
            reports.push(report);
        }
        let (ddm, adwin) = detect_concept_drift(&reports);
        Ok(MonitorHistory {
            decisions: self.retrain_decisions(&version.model)?,
            model: version.model.clone(),
            version: version.version,
            reports,
            ddm,
            adwin,
        })
    }

    /// The rows a version was trained on, and its held-out test rows, read back.
    fn reference_of(
        &self,
        version: &ModelVersion,
        pipeline: &FeaturePipeline,
    ) -> Result<Reference> {
        let (loaded, split) = self.split_of_run(version.run, &pipeline.label)?;
        Ok(Reference {
            table: loaded.table,
            train: split.train,
            test: split.test,
        })
    }
}

/// Where a batch comes from.
enum Source<'a> {
    File(&'a Path),
    Bytes(&'a str, &'a [u8]),
}

/// The training batch of a model's dataset and its split.
struct Reference {
    table: Table,
    train: Vec<usize>,
    test: Vec<usize>,
}

/// Refuses a batch that lacks a column of the dataset, or whose numeric columns hold text. (A
/// batch with no rows never gets here: reading it refuses it.)
fn refuse_bad_batch(
    table: &Table,
    check: &crate::data::CheckReport,
    pipeline: &FeaturePipeline,
    path: &Path,
) -> Result<()> {
    let mut problems = Vec::new();
    let missing: Vec<&str> = pipeline
        .steps
        .iter()
        .map(Step::column)
        .filter(|c| table.column_index(c).is_none())
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "the model reads the columns {}, missing from the header",
            missing.join(", ")
        ));
    }
    let absent: Vec<&str> = check
        .failures()
        .filter(|f| f.rule == "schema: column present")
        .map(|f| f.column.as_str())
        .filter(|c| !missing.contains(c))
        .collect();
    if !absent.is_empty() {
        problems.push(format!(
            "the dataset has the columns {}, missing from the header",
            absent.join(", ")
        ));
    }
    for failure in check.failures() {
        if failure.rule == "schema: numeric" {
            let rows: Vec<String> = failure
                .first_failing_rows
                .iter()
                .map(|r| r.to_string())
                .collect();
            problems.push(format!(
                "column {} must hold numbers, and {} rows do not (rows {})",
                failure.column,
                failure.failing,
                rows.join(", ")
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(DataError::Malformed {
        at: Location {
            file: path.to_owned(),
            line: 1,
            column: None,
        },
        problem: format!(
            "{}; nothing was imported. Fix the file to match the dataset's schema.",
            problems.join("; ")
        ),
    }
    .into())
}

/// A column's cells at `rows`.
fn cells<'a>(table: &'a Table, column: &str, rows: &'a [usize]) -> Vec<Option<&'a str>> {
    let data = table.column(column).unwrap_or_default();
    rows.iter()
        .map(|&r| data.get(r).and_then(|c| c.as_deref()))
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn build_report(
    version: &ModelVersion,
    model: &crate::registry::LoadedModel,
    reference: &Reference,
    batch: &Table,
    broken: Vec<Option<String>>,
    options: &DriftOptions,
    test_accuracy: Option<f64>,
    test_macro_f1: Option<f64>,
) -> MonitorReport {
    let pipeline = &model.artifact.pipeline;
    let all: Vec<usize> = (0..batch.rows()).collect();

    // Data drift, one column per thread.
    struct Outcome {
        drift: std::result::Result<ColumnDrift, String>,
        text: Option<TextDrift>,
    }
    let outcomes: Vec<Outcome> = in_parallel(&pipeline.steps, |step| {
        let column = step.column();
        let before = cells(&reference.table, column, &reference.train);
        let after = cells(batch, column, &all);
        match step {
            Step::Standardize { .. } => Outcome {
                drift: drift::column_drift(
                    column,
                    &Sample::numeric(before),
                    &Sample::numeric(after),
                    options,
                )
                .map_err(|e| e.to_string()),
                text: None,
            },
            Step::OneHot { .. } => Outcome {
                drift: drift::column_drift(
                    column,
                    &Sample::categorical(before),
                    &Sample::categorical(after),
                    options,
                )
                .map_err(|e| e.to_string()),
                text: None,
            },
            Step::Tfidf { model, .. } => {
                let (text, drift) = text_drift(column, model, &before, &after, options);
                Outcome {
                    drift,
                    text: Some(text),
                }
            }
        }
    });
    let mut columns = Vec::new();
    let mut untested = Vec::new();
    let mut text = Vec::new();
    for outcome in outcomes {
        match outcome.drift {
            Ok(d) => columns.push(d),
            Err(e) => untested.push(e),
        }
        text.extend(outcome.text);
    }
    let drift = DatasetDrift::of(&columns, options.drift_share());

    // Scoring: the batch (as `kiln predict` scores it), the reference's training rows (for
    // prediction drift) and its test rows (for calibration).
    let scored = crate::score::score_rows(model, batch, broken);
    let refused: Vec<&crate::score::ScoredRow> =
        scored.iter().filter(|r| r.error.is_some()).collect();
    let refused_rows = refused.len();
    let refusals: Vec<(u64, String)> = refused
        .iter()
        .take(LISTED_REFUSALS)
        .map(|r| (r.line, r.error.clone().unwrap_or_default()))
        .collect();
    let classes = &pipeline.classes;
    let predicted: Vec<Option<usize>> = scored
        .iter()
        .map(|r| {
            (r.error.is_none() && !r.probabilities.is_empty())
                .then(|| crate::eval::argmax(&r.probabilities))
        })
        .collect();
    let reference_predicted: Vec<String> = model
        .predict_rows(&reference.table, &reference.train)
        .into_iter()
        .filter_map(|p| p.ok().map(|p| classes[crate::eval::argmax(&p)].clone()))
        .collect();
    let current_predicted: Vec<&str> = predicted
        .iter()
        .flatten()
        .map(|&c| classes[c].as_str())
        .collect();
    let prediction = drift::column_drift(
        "prediction",
        &Sample::categorical(reference_predicted.iter().map(|s| Some(s.as_str()))),
        &Sample::categorical(current_predicted.iter().copied().map(Some)),
        options,
    )
    .ok();

    // Performance, where the batch has labels.
    let labels = batch.column(&pipeline.label);
    let mut truth: Vec<(String, usize)> = Vec::new();
    if let Some(labels) = labels {
        for (row, p) in predicted.iter().enumerate() {
            if let (Some(p), Some(label)) = (p, labels[row].as_deref().map(str::trim))
                && !crate::data::is_missing(label)
            {
                truth.push((label.to_owned(), *p));
            }
        }
    }
    let performance =
        (!truth.is_empty()).then(|| performance(classes, &truth, test_accuracy, test_macro_f1));

    // The estimate from probabilities, and the reference's calibration.
    let tops: Vec<f64> = scored
        .iter()
        .zip(&predicted)
        .filter_map(|(r, p)| p.map(|p| f64::from(r.probabilities[p])))
        .filter(|t| t.is_finite())
        .collect();
    let estimate = estimate(model, reference, &tops);

    MonitorReport {
        id: 0,
        model: version.model.clone(),
        version: version.version,
        dataset: String::new(),
        batch: 0,
        source: String::new(),
        already_imported: false,
        created_at: crate::now_ms(),
        rows: batch.rows(),
        reference_rows: reference.train.len(),
        options: options.clone(),
        drift,
        columns,
        untested,
        text,
        prediction,
        scored_rows: batch.rows() - refused_rows,
        refused_rows,
        refusals,
        failed_checks: Vec::new(),
        performance,
        estimate,
    }
}

/// Runs `f` over `items` on up to as many threads as the machine has cores, in order.
pub fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len())
        .max(1);
    if threads == 1 {
        return items.iter().map(&f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        mine.push((i, f(item)));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    results.sort_unstable_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// A text column: its terms' distribution tested like a categorical column (Jensen–Shannon
/// unless another test is chosen for it), its documents' lengths like a numeric one, and the
/// share of terms the model's vocabulary lacks.
fn text_drift(
    column: &str,
    tfidf: &crate::features::tfidf::Tfidf,
    before: &[Option<&str>],
    after: &[Option<&str>],
    options: &DriftOptions,
) -> (TextDrift, std::result::Result<ColumnDrift, String>) {
    struct Side {
        terms: Sample,
        lengths: Sample,
        out_of_vocabulary: f64,
    }
    let side = |docs: &[Option<&str>]| {
        let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
        let mut lengths = Vec::new();
        let mut missing = 0;
        for doc in docs {
            match doc.map(str::trim).filter(|d| !d.is_empty()) {
                Some(doc) => {
                    let terms = tfidf.terms(doc);
                    lengths.push(terms.len() as f64);
                    for term in terms {
                        *counts.entry(term).or_default() += 1;
                    }
                }
                None => missing += 1,
            }
        }
        let total: u64 = counts.values().sum();
        let unknown: u64 = counts
            .iter()
            .filter(|(t, _)| !tfidf.knows(t))
            .map(|(_, n)| n)
            .sum();
        Side {
            out_of_vocabulary: if total == 0 {
                0.0
            } else {
                unknown as f64 / total as f64
            },
            terms: Sample::Categorical { counts, missing },
            lengths: Sample::from_values(lengths, true, missing),
        }
    };
    let (a, b) = (side(before), side(after));
    let mut term_options = options.clone();
    if !term_options.tests.contains_key(column) {
        term_options
            .tests
            .insert(column.to_owned(), StatTest::Jensenshannon);
    }
    let mut drift =
        drift::column_drift(column, &a.terms, &b.terms, &term_options).map_err(|e| e.to_string());
    if let Ok(d) = &mut drift {
        d.kind = "text".into();
    }
    let length_options = DriftOptions {
        tests: Default::default(),
        thresholds: Default::default(),
        ..options.clone()
    };
    let length = drift::column_drift(
        &format!("{column} (terms per document)"),
        &a.lengths,
        &b.lengths,
        &length_options,
    )
    .ok();
    (
        TextDrift {
            column: column.to_owned(),
            reference_out_of_vocabulary: a.out_of_vocabulary,
            current_out_of_vocabulary: b.out_of_vocabulary,
            length,
        },
        drift,
    )
}

/// Accuracy and macro-F1 of `truth` (label, predicted class index).
fn performance(
    classes: &[String],
    truth: &[(String, usize)],
    test_accuracy: Option<f64>,
    test_macro_f1: Option<f64>,
) -> Performance {
    use std::collections::BTreeMap;
    let mut errors = Vec::with_capacity(truth.len());
    // Per label: (true positives, false positives, false negatives).
    let mut counts: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    let mut unseen: BTreeMap<&str, usize> = BTreeMap::new();
    for (label, p) in truth {
        let predicted = classes[*p].as_str();
        let right = label == predicted;
        errors.push(!right);
        if !classes.iter().any(|c| c == label) {
            *unseen.entry(label).or_default() += 1;
        }
        if right {
            counts.entry(predicted).or_default().0 += 1;
        } else {
            counts.entry(predicted).or_default().1 += 1;
            counts.entry(label).or_default().2 += 1;
        }
    }
    let correct = errors.iter().filter(|e| !**e).count();
    let f1s: Vec<f64> = counts
        .values()
        .map(|&(tp, fp, fneg)| {
            let denominator = 2 * tp + fp + fneg;
            if denominator == 0 {
                0.0
            } else {
                2.0 * tp as f64 / denominator as f64
            }
        })
        .collect();
    Performance {
        labelled_rows: truth.len(),
        accuracy: correct as f64 / truth.len() as f64,
        macro_f1: f1s.iter().sum::<f64>() / f1s.len().max(1) as f64,
        test_accuracy,
        test_macro_f1,
        unseen_classes: unseen.into_iter().map(|(k, n)| (k.to_owned(), n)).collect(),
        errors: pack_errors(&errors),
    }
}

/// The batch's estimated accuracy, and the reference test rows' calibration.
fn estimate(model: &crate::registry::LoadedModel, reference: &Reference, tops: &[f64]) -> Estimate {
    let pipeline = &model.artifact.pipeline;
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let labels = pipeline
        .encode_labels(&reference.table, &reference.test)
        .unwrap_or_default();
    let mut rows: Vec<(f64, bool)> = Vec::new();
    for (p, truth) in model
        .predict_rows(&reference.table, &reference.test)
        .into_iter()
        .zip(labels)
    {
        if let Ok(p) = p
            && !p.is_empty()
        {
            let top = crate::eval::argmax(&p);
            if p[top].is_finite() {
                rows.push((f64::from(p[top]), top == truth));
            }
        }
    }
    let mut calibration = Vec::new();
    let mut gap = 0.0;
    for bin in 0..10 {
        let (low, high) = (bin as f64 / 10.0, (bin + 1) as f64 / 10.0);
        let inside: Vec<&(f64, bool)> = rows
            .iter()
            .filter(|(c, _)| *c > low && *c <= high || (bin == 0 && *c == 0.0))
            .collect();
        if inside.is_empty() {
            continue;
        }
        let n = inside.len() as f64;
        let confidence = inside.iter().map(|(c, _)| c).sum::<f64>() / n;
        let accuracy = inside.iter().filter(|(_, r)| *r).count() as f64 / n;
        gap += n * (confidence - accuracy).abs();
        calibration.push(CalibrationBin {
            low,
            high,
            rows: inside.len(),
            confidence,
            accuracy,
        });
    }
    let confidences: Vec<f64> = rows.iter().map(|(c, _)| *c).collect();
    Estimate {
        estimated_accuracy: mean(tops),
        reference_estimated_accuracy: mean(&confidences),
        reference_accuracy: (!rows.is_empty())
            .then(|| rows.iter().filter(|(_, r)| *r).count() as f64 / rows.len() as f64),
        calibration,
        calibration_error: (!rows.is_empty()).then(|| gap / rows.len() as f64),
    }
}

/// DDM and ADWIN over the errors of every labelled batch, in order.
fn detect_concept_drift(reports: &[MonitorReport]) -> (Vec<StreamFlag>, Vec<StreamFlag>) {
    let mut stream = Vec::new();
    // Where each report's rows start in the stream.
    let mut starts = Vec::new();
    for (i, report) in reports.iter().enumerate() {
        if let Some(p) = &report.performance {
            starts.push((stream.len(), i));
            stream.extend(p.error_stream());
        }
    }
    let place = |kind: &'static str, row: usize| {
        let at = starts.partition_point(|(start, _)| *start <= row) - 1;
        let (start, report) = starts[at];
        StreamFlag {
            kind,
            row,
            rows: 1,
            report,
            row_in_batch: row - start,
        }
    };
    let flags = |f: Flags| -> Vec<StreamFlag> {
        let mut out: Vec<StreamFlag> = Vec::new();
        for &r in &f.warnings {
            match out.last_mut() {
                Some(last) if last.row + last.rows == r => last.rows += 1,
                _ => out.push(place("warning", r)),
            }
        }
        out.extend(f.drifts.iter().map(|&r| place("drift", r)));
        out.sort_by_key(|f| f.row);
        out
    };
    (
        flags(stream::ddm_flags(&stream)),
        flags(stream::adwin_flags(&stream)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_survive_packing() {
        let errors: Vec<bool> = (0..37).map(|i| i % 3 == 0 || i == 36).collect();
        let p = Performance {
            labelled_rows: errors.len(),
            accuracy: 0.0,
            macro_f1: 0.0,
            test_accuracy: None,
            test_macro_f1: None,
            unseen_classes: vec![],
            errors: pack_errors(&errors),
        };
        let back: Vec<bool> = p.error_stream().iter().map(|&e| e == 1.0).collect();
        assert_eq!(back, errors);
    }

    #[test]
    fn macro_f1_counts_a_class_the_model_never_saw() {
        let classes = vec!["a".to_owned(), "b".to_owned()];
        let truth = vec![
            ("a".to_owned(), 0),
            ("b".to_owned(), 1),
            ("b".to_owned(), 0),
            ("c".to_owned(), 1),
        ];
        let p = performance(&classes, &truth, None, None);
        assert_eq!(p.accuracy, 0.5);
        assert_eq!(p.unseen_classes, vec![("c".to_owned(), 1)]);
        // a: tp 1, fp 1, fn 0 → 2/3; b: tp 1, fp 1, fn 1 → 1/2; c: tp 0, fn 1 → 0.
        assert!((p.macro_f1 - (2.0 / 3.0 + 0.5) / 3.0).abs() < 1e-12);
    }

    /// A text model's batch: the documents' terms are tested as a distribution, their lengths
    /// as numbers, and words the vocabulary lacks are counted.
    #[test]
    fn a_text_batch_reports_its_terms_lengths_and_unknown_words() {
        use crate::train::{
            DevicePreference, ModelFamily, SearchSpace, Strategy, StudyRequest, TrainOptions,
        };
        let dir = tempfile::tempdir().expect("dir");
        let mut project = Project::create(dir.path().join("t.kiln"), "t").expect("create");
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/fortunes");
        project
            .import(&corpus, &Default::default())
            .expect("import");
        let request = StudyRequest {
            dataset: "fortunes".into(),
            family: ModelFamily::Logreg,
            strategy: Strategy::Grid,
            space: SearchSpace::from_toml("[tfidf]\nmin_df = 2\n").expect("space"),
            parallel: 1,
            device: DevicePreference::Cpu,
            max_trials: None,
        };
        let study = project
            .run_study(&request, &TrainOptions::default())
            .expect("study");
        let run = study.best.expect("best").run;
        project
            .register_model_as("topics", run, Some("champion"))
            .expect("register");
        // Long documents of words no fortune uses, and a few ordinary ones.
        let mut csv = String::from("text,label\n");
        for i in 0..40 {
            let words: Vec<String> = (0..30).map(|w| format!("zqx{}vb{w}", i % 7)).collect();
            csv.push_str(&format!("\"{}\",food\n", words.join(" ")));
        }
        csv.push_str("\"a lawyer and a doctor walk into a bar\",law\n");
        let report = project
            .monitor_bytes(
                "topics",
                &VersionSelector::Alias("champion".into()),
                "odd.csv",
                csv.as_bytes(),
                &DriftOptions::default(),
            )
            .expect("monitor");
        let text = report
            .columns
            .iter()
            .find(|c| c.kind == "text")
            .expect("text column");
        assert_eq!(text.test, StatTest::Jensenshannon);
        assert!(text.drifted, "{text:?}");
        let t = &report.text[0];
        assert!(
            t.current_out_of_vocabulary > 0.9 && t.reference_out_of_vocabulary < 0.5,
            "{t:?}"
        );
        let length = t.length.as_ref().expect("lengths tested");
        assert!(length.drifted, "{length:?}");
        assert!(report.performance.is_some());
    }

    #[test]
    fn parallel_work_keeps_its_order() {
        let items: Vec<u64> = (0..100).collect();
        assert_eq!(
            in_parallel(&items, |x| x * 2),
            (0..100).map(|x| x * 2).collect::<Vec<_>>()
        );
    }
}
