//! Continuous training: a policy per registered model says when to retrain (drift, a drop in
//! accuracy, DDM or ADWIN, or by hand), on which data, and when the new model may replace the
//! old one.
//!
//! A retrain re-runs the champion's own search (its space, strategy and seed, as recorded on its
//! study) on the policy's data, as a new study. Champion and challenger are then compared on
//! rows of the newest labelled batch that the challenger never trained on, with McNemar's test.
//! The challenger is promoted only when it is more accurate there and the exact p-value is
//! under the policy's α: `@champion` moves to it and `@previous` keeps the old version. The
//! challenger's registration, the aliases and the decision land in one transaction at the end,
//! so a retrain killed halfway leaves the champion as it was and records nothing.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::MonitorError;
use super::special::mcnemar;
use crate::Result;
use crate::data::{BatchId, ColumnKind, ImportOptions, Table};
use crate::export::TritonOptions;
use crate::registry::VersionSelector;
use crate::store::{Project, monitoring};
use crate::train::TrainOptions;

/// When to retrain, on what, and when to promote: `kiln retrain --policy FILE`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub trigger: Triggers,
    pub data: DataPolicy,
    pub decision: DecisionPolicy,
    pub export: Option<ExportPolicy>,
}

/// What starts a retrain. Any one that fires is enough.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Triggers {
    /// The newest batch's dataset drifts.
    pub dataset_drift: bool,
    /// The newest labelled batch's accuracy is below the model's test accuracy by more than
    /// this many percentage points.
    pub accuracy_drop: Option<f64>,
    /// DDM or ADWIN detected a drift over the labelled rows.
    pub concept_drift: bool,
}

impl Default for Triggers {
    fn default() -> Triggers {
        Triggers {
            dataset_drift: true,
            accuracy_drop: Some(5.0),
            concept_drift: true,
        }
    }
}

/// Which rows the challenger trains on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataPolicy {
    /// `append`: the original training batch plus the newest labelled batches; `window`: the
    /// newest labelled batches only.
    pub mode: DataMode,
    /// How many of the newest labelled monitoring batches.
    pub batches: usize,
}

impl Default for DataPolicy {
    fn default() -> DataPolicy {
        DataPolicy {
            mode: DataMode::Append,
            batches: 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataMode {
    Append,
    Window,
}

/// How champion and challenger are compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionPolicy {
    /// The challenger is promoted when McNemar's exact p-value is under this.
    pub alpha: f64,
    /// The share of the newest labelled batch's rows kept out of training for the comparison.
    pub held_out: f64,
    /// Seeds the choice of those rows.
    pub seed: u64,
}

impl Default for DecisionPolicy {
    fn default() -> DecisionPolicy {
        DecisionPolicy {
            alpha: 0.05,
            held_out: 0.5,
            seed: 42,
        }
    }
}

/// Where a promoted challenger is exported for Triton.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportPolicy {
    pub target: PathBuf,
}

impl Policy {
    /// Reads a policy; unknown keys and impossible values are refused with the key and `file`.
    pub fn from_toml(text: &str, file: &Path) -> std::result::Result<Policy, String> {
        let policy: Policy = toml::from_str(text)
            .map_err(|e| format!("{}: {}", file.display(), crate::toml_message(text, &e)))?;
        policy
            .validate()
            .map_err(|e| format!("{}: {e}", file.display()))?;
        Ok(policy)
    }

    pub fn validate(&self) -> std::result::Result<(), String> {
        let d = &self.decision;
        if !(d.alpha > 0.0 && d.alpha < 1.0) {
            return Err(format!(
                "decision.alpha = {} is not a significance level: use a number between 0 and 1",
                d.alpha
            ));
        }
        if !(d.held_out > 0.0 && d.held_out < 1.0) {
            return Err(format!(
                "decision.held_out = {} is not a share: use a number between 0 and 1",
                d.held_out
            ));
        }
        if self.data.batches == 0 {
            return Err("data.batches = 0: use at least 1 labelled batch".into());
        }
        if let Some(points) = self.trigger.accuracy_drop
            && !(points.is_finite() && (0.0..=100.0).contains(&points))
        {
            return Err(format!(
                "trigger.accuracy_drop = {points} is not a number of percentage points: use 0 to 100"
            ));
        }
        Ok(())
    }
}

/// A retrain asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrainRequest {
    pub model: String,
    pub policy: Policy,
    /// Retrain whatever the triggers say.
    pub by_hand: bool,
    /// Work out what would happen, and write nothing.
    pub dry_run: bool,
}

/// What a retrain found and did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrainReport {
    /// The stored decision's id (0 when nothing was recorded).
    #[serde(default)]
    pub id: i64,
    pub model: String,
    pub champion: u32,
    /// The triggers that fired, in words.
    pub triggers: Vec<String>,
    pub dry_run: bool,
    /// The monitoring batches the challenger trains on (their ids), and whether the original
    /// training batch is in too.
    pub batches: Vec<i64>,
    pub with_training_batch: bool,
    pub training_rows: usize,
    /// The dataset made of those rows, and the study run on it.
    pub dataset: Option<String>,
    pub study: Option<i64>,
    pub trials: usize,
    pub challenger: Option<u32>,
    pub comparison: Option<Comparison>,
    pub decision: Decision,
    /// Why, in one sentence.
    pub reason: String,
    pub exported: Option<PathBuf>,
    #[serde(default)]
    pub export_error: Option<String>,
    pub created_at: i64,
}

/// Champion against challenger on the held-out rows of the newest labelled batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub batch: i64,
    pub rows: usize,
    pub champion_accuracy: f64,
    pub challenger_accuracy: f64,
    /// Rows only the champion gets right, and rows only the challenger gets right.
    pub only_champion: u64,
    pub only_challenger: u64,
    pub p_exact: f64,
    pub p_mid: f64,
    pub alpha: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// No trigger fired: nothing was trained.
    NotTriggered,
    /// A dry run: nothing was trained or written.
    WouldRetrain,
    Promoted,
    Kept,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::NotTriggered => "not triggered",
            Decision::WouldRetrain => "would retrain",
            Decision::Promoted => "promoted",
            Decision::Kept => "kept",
        }
    }
}

/// The labelled rows of a batch that the comparison keeps back, chosen with `seed`.
fn held_out_rows(labelled: &[usize], share: f64, seed: u64) -> Vec<usize> {
    let mut rows = labelled.to_vec();
    crate::rng::SeededRng::new(seed).shuffle(&mut rows);
    let n = ((labelled.len() as f64 * share).round() as usize).clamp(1, labelled.len());
    let mut kept: Vec<usize> = rows.into_iter().take(n).collect();
    kept.sort_unstable();
    kept
}

impl Project {
    /// Retrains `request.model` under its policy: see the module's documentation.
    pub fn retrain(
        &mut self,
        request: &RetrainRequest,
        options: &TrainOptions,
    ) -> Result<RetrainReport> {
        let refused = |why: String| crate::Error::from(MonitorError::Refused(why));
        request.policy.validate().map_err(refused)?;
        let model = &request.model;
        let champion_selector = VersionSelector::Alias("champion".into());
        let champion = self.model_version(model, &champion_selector).map_err(|_| {
            refused(format!(
                "{model} has no @champion: point it at the version in service first (kiln alias FILE {model} champion VERSION)"
            ))
        })?;
        let history = self.monitoring(model, &champion_selector)?;
        let mut report = RetrainReport {
            id: 0,
            model: model.clone(),
            champion: champion.version,
            triggers: Vec::new(),
            dry_run: request.dry_run,
            batches: Vec::new(),
            with_training_batch: false,
            training_rows: 0,
            dataset: None,
            study: None,
            trials: 0,
            challenger: None,
            comparison: None,
            decision: Decision::NotTriggered,
            reason: String::new(),
            exported: None,
            export_error: None,
            created_at: crate::now_ms(),
        };
        // What earlier decisions acted on does not start another retrain.
        let decisions = self.retrain_decisions(model)?;
        let since = decisions
            .iter()
            .flat_map(|d| {
                d.batches
                    .iter()
                    .copied()
                    .chain(d.comparison.iter().map(|c| c.batch))
            })
            .max()
            .unwrap_or(0);
        report.triggers = fired(&request.policy.trigger, &history, request.by_hand, since);
        if report.triggers.is_empty() {
            report.reason = "no trigger of the policy fired".into();
            return Ok(report);
        }
        // The labelled batches of the model, whichever version they were checked against (a
        // champion promoted a moment ago has no reports of its own yet), in import order.
        let labelled = self.read(|c| monitoring::labelled_batches(c, model))?;
        let Some(&newest) = labelled.last() else {
            return Err(refused(format!(
                "{model} has no labelled monitoring batch: a challenger needs labelled rows to train on and to be compared on; check a batch with its labels first"
            )));
        };
        let base =
            self.load_dataset(champion.lineage.dataset.as_deref().ok_or_else(|| {
                refused(format!("{model} v{} has no dataset", champion.version))
            })?)?;
        // A champion trained by an earlier retrain has that retrain's batches in its dataset
        // already: appending them again would count their rows twice.
        let append = request.policy.data.mode == DataMode::Append;
        let in_base: Vec<i64> = decisions
            .iter()
            .filter(|d| append && d.dataset.as_deref() == Some(base.name.as_str()))
            .flat_map(|d| d.batches.iter().copied())
            .collect();
        let fresh: Vec<i64> = labelled
            .iter()
            .filter(|b| !in_base.contains(b))
            .copied()
            .collect();
        let used = &fresh[fresh.len().saturating_sub(request.policy.data.batches)..];
        let label = base.schema.label().unwrap_or_default().to_owned();
        let newest_batch = self.load_batch(BatchId(newest))?.table;
        let newest_labelled = labelled_rows(&newest_batch, &label);
        if newest_labelled.len() < 2 {
            return Err(refused(format!(
                "batch {} has {} labelled rows: too few to hold some back for the comparison",
                newest,
                newest_labelled.len()
            )));
        }
        let d = &request.policy.decision;
        let comparison_rows = held_out_rows(&newest_labelled, d.held_out, d.seed);

        // The challenger's data: every labelled row of the batches used, less the comparison's.
        let mut data = Table {
            names: base.table.names.clone(),
            columns: vec![Vec::new(); base.table.names.len()],
            lines: Vec::new(),
        };
        report.with_training_batch = append;
        if report.with_training_batch {
            let all: Vec<usize> = (0..base.table.rows()).collect();
            append_rows(&mut data, &base.table, &all);
        }
        for &batch in used {
            let other;
            let table = if batch == newest {
                &newest_batch
            } else {
                other = self.load_batch(BatchId(batch))?.table;
                &other
            };
            let rows: Vec<usize> = labelled_rows(table, &label)
                .into_iter()
                .filter(|row| batch != newest || comparison_rows.binary_search(row).is_err())
                .collect();
            append_rows(&mut data, table, &rows);
            report.batches.push(batch);
        }
        report.training_rows = data.rows();
        let mut study_request = self.study_request_of_run(champion.run)?;
        report.trials = study_request.trials()?.len();
        if request.dry_run {
            report.decision = Decision::WouldRetrain;
            report.reason = format!(
                "would re-run the champion's search ({} trial(s)) on {} rows, and compare on {} held-out rows of batch {}",
                report.trials,
                report.training_rows,
                comparison_rows.len(),
                newest
            );
            return Ok(report);
        }

        // Train: a new dataset of those rows, and the champion's search on it.
        let name = self.free_dataset_name(&format!("{}-retrain", base.name))?;
        let kinds: Vec<(String, ColumnKind)> = base
            .schema
            .columns
            .iter()
            .filter(|c| c.kind != ColumnKind::Label)
            .map(|c| (c.name.clone(), c.kind))
            .collect();
        self.import_csv_bytes(
            &format!("{name}.csv"),
            &crate::data::table_csv(&data),
            &ImportOptions {
                name: Some(name.clone()),
                label: Some(label.clone()),
                kinds,
            },
        )?;
        report.dataset = Some(name.clone());
        study_request.dataset = name;
        let outcome = self.run_study(&study_request, options)?;
        if outcome.status == crate::train::StudyStatus::Cancelled {
            // A partial search proves nothing: no challenger, no decision.
            return Err(crate::train::TrainError::Cancelled.into());
        }
        report.study = Some(outcome.study.0);
        let best = outcome.best.ok_or_else(|| {
            refused(format!(
                "the retrain's study {} ended without a finished trial, so there is no challenger",
                outcome.study
            ))
        })?;

        // Compare on the held-out rows.
        let device = burn::tensor::Device::flex();
        let old = self.load_model(champion.run, &device)?;
        let new = self.load_model(best.run, &device)?;
        let truth = newest_batch.column(&label).unwrap_or_default();
        let right = |m: &crate::registry::LoadedModel| -> Vec<bool> {
            m.predict_rows(&newest_batch, &comparison_rows)
                .into_iter()
                .zip(&comparison_rows)
                .map(
                    |(p, &row)| match (p, truth.get(row).and_then(|t| t.as_deref())) {
                        (Ok(p), Some(t)) if !p.is_empty() => {
                            m.artifact.pipeline.classes[crate::eval::argmax(&p)] == t.trim()
                        }
                        _ => false,
                    },
                )
                .collect()
        };
        let (a, b) = (right(&old), right(&new));
        let only_champion = a.iter().zip(&b).filter(|(x, y)| **x && !**y).count() as u64;
        let only_challenger = a.iter().zip(&b).filter(|(x, y)| !**x && **y).count() as u64;
        let test = mcnemar(only_champion, only_challenger);
        let n = comparison_rows.len() as f64;
        let comparison = Comparison {
            batch: newest,
            rows: comparison_rows.len(),
            champion_accuracy: a.iter().filter(|x| **x).count() as f64 / n,
            challenger_accuracy: b.iter().filter(|x| **x).count() as f64 / n,
            only_champion,
            only_challenger,
            p_exact: test.p_exact,
            p_mid: test.p_mid,
            alpha: d.alpha,
        };
        let better = comparison.challenger_accuracy > comparison.champion_accuracy;
        let promote = better && comparison.p_exact < d.alpha;
        report.decision = if promote {
            Decision::Promoted
        } else {
            Decision::Kept
        };
        report.reason = if promote {
            format!(
                "the challenger is more accurate ({:.4} against {:.4}) and McNemar's exact p = {:.4} is under α = {}",
                comparison.challenger_accuracy,
                comparison.champion_accuracy,
                comparison.p_exact,
                d.alpha
            )
        } else if !better {
            format!(
                "the challenger is not more accurate ({:.4} against {:.4})",
                comparison.challenger_accuracy, comparison.champion_accuracy
            )
        } else {
            format!(
                "the challenger is more accurate ({:.4} against {:.4}), but McNemar's exact p = {:.4} is not under α = {}: not enough evidence",
                comparison.challenger_accuracy,
                comparison.champion_accuracy,
                comparison.p_exact,
                d.alpha
            )
        };
        report.comparison = Some(comparison);

        // The decision, final: the challenger, the aliases and the record, in one transaction.
        let champion_version = champion.version;
        let challenger = self.atomically(|p| {
            let version = p.register_model_as(model, best.run, Some("challenger"))?;
            if promote {
                p.set_alias(model, "previous", champion_version)?;
                p.set_alias(model, "champion", version.version)?;
            }
            report.challenger = Some(version.version);
            report.id = p.write(|tx| monitoring::insert_decision(tx, model, &report))?;
            Ok(version)
        })?;
        if promote && let Some(export) = &request.policy.export {
            match self.export_triton(
                model,
                &VersionSelector::Number(challenger.version),
                &export.target,
                &TritonOptions::default(),
            ) {
                Ok(outcome) => report.exported = Some(outcome.version_dir),
                Err(e) => report.export_error = Some(e.to_string()),
            }
        }
        Ok(report)
    }

    /// Every retrain decision recorded for `model`, oldest first.
    pub fn retrain_decisions(&self, model: &str) -> Result<Vec<RetrainReport>> {
        let rows = self.read(|c| monitoring::decisions(c, model))?;
        rows.into_iter()
            .map(|(id, json)| {
                let mut r: RetrainReport =
                    serde_json::from_str(&json).map_err(|e| crate::StoreError::Corrupt {
                        path: self.path().to_owned(),
                        reason: format!("retrain decision {id} is unreadable: {e}"),
                    })?;
                r.id = id;
                Ok(r)
            })
            .collect()
    }

    /// `base`, or `base-2`, `base-3`…: the first name no dataset has.
    fn free_dataset_name(&self, base: &str) -> Result<String> {
        let names: Vec<String> = self.datasets()?.into_iter().map(|d| d.name).collect();
        let mut n = 1;
        loop {
            let name = if n == 1 {
                base.to_owned()
            } else {
                format!("{base}-{n}")
            };
            if !names.contains(&name) {
                return Ok(name);
            }
            n += 1;
        }
    }
}

/// The triggers of `policy` that fire on the batches of `history` after batch `since` (those
/// an earlier decision already acted on do not count), in words.
fn fired(
    policy: &Triggers,
    history: &super::MonitorHistory,
    by_hand: bool,
    since: i64,
) -> Vec<String> {
    let mut fired = Vec::new();
    if by_hand {
        fired.push("by hand".to_owned());
    }
    if policy.dataset_drift
        && let Some(newest) = history.reports.last()
        && newest.batch > since
        && newest.drift.drifted
    {
        fired.push(format!(
            "dataset drift in batch {} ({} of {} columns)",
            newest.batch, newest.drift.drifted_columns, newest.drift.columns
        ));
    }
    if let Some(points) = policy.accuracy_drop
        && let Some((batch, p)) = history
            .reports
            .iter()
            .rev()
            .find_map(|r| r.performance.as_ref().map(|p| (r.batch, p)))
        && batch > since
        && let Some(test) = p.test_accuracy
        && (test - p.accuracy) * 100.0 > points
    {
        fired.push(format!(
            "accuracy {:.4} in batch {batch}, {:.1} points under the test accuracy {:.4}",
            p.accuracy,
            (test - p.accuracy) * 100.0,
            test
        ));
    }
    if policy.concept_drift {
        for (name, flags) in [("DDM", &history.ddm), ("ADWIN", &history.adwin)] {
            if let Some(f) = flags
                .iter()
                .find(|f| f.kind == "drift" && history.reports[f.report].batch > since)
            {
                fired.push(format!(
                    "{name} drift at batch {} row {}",
                    history.reports[f.report].batch, f.row_in_batch
                ));
            }
        }
    }
    fired
}

/// Rows whose label is present.
fn labelled_rows(table: &Table, label: &str) -> Vec<usize> {
    let Some(cells) = table.column(label) else {
        return Vec::new();
    };
    (0..table.rows())
        .filter(|&r| {
            cells[r]
                .as_deref()
                .is_some_and(|c| !crate::data::is_missing(c.trim()))
        })
        .collect()
}

/// Appends `rows` of `from` to `to`, column by name (a column `from` lacks is left empty).
fn append_rows(to: &mut Table, from: &Table, rows: &[usize]) {
    for (i, name) in to.names.iter().enumerate() {
        let source = from.column(name);
        for &r in rows {
            to.columns[i].push(source.and_then(|c| c[r].clone()));
        }
    }
    let next = to.lines.len() as u64 + 2;
    to.lines.extend((0..rows.len() as u64).map(|i| next + i));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_with_an_unknown_key_or_an_impossible_value_is_refused_by_key_and_file() {
        let file = Path::new("ct.toml");
        let e = Policy::from_toml("[trigger]\ndrift = true\n", file).expect_err("refused");
        assert!(e.starts_with("ct.toml: ") && e.contains("drift"), "{e}");
        let e = Policy::from_toml("[decision]\nalpha = 1.5\n", file).expect_err("refused");
        assert!(e.contains("decision.alpha"), "{e}");
        let e = Policy::from_toml("[data]\nbatches = 0\n", file).expect_err("refused");
        assert!(e.contains("data.batches"), "{e}");
        let p =
            Policy::from_toml("[data]\nmode = \"window\"\nbatches = 2\n", file).expect("policy");
        assert_eq!(p.data.mode, DataMode::Window);
        assert_eq!(p.decision, DecisionPolicy::default());
    }

    #[test]
    fn the_held_out_rows_are_a_seeded_share_of_the_labelled_ones() {
        let labelled: Vec<usize> = (0..40).map(|i| i * 2).collect();
        let a = held_out_rows(&labelled, 0.25, 7);
        assert_eq!(a.len(), 10);
        assert!(a.iter().all(|r| labelled.contains(r)));
        assert_eq!(a, held_out_rows(&labelled, 0.25, 7));
        assert_ne!(a, held_out_rows(&labelled, 0.25, 8));
    }
}
