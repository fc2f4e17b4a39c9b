//! Evaluating a registered model version in its project: metrics on the held-out test split,
//! fairness by a sensitive column, behavioural tests; each stored with the model's run, and the
//! model card brought up to date.

use burn::tensor::Device;
use serde::Serialize;

use super::behaviour::{BehaviourResult, BehaviourSpec};
use super::fairness::{FairnessReport, fairness};
use super::metrics::{Evaluation, evaluate};
use crate::Result;
use crate::registry::VersionSelector;
use crate::store::Project;
use crate::tracking::RunId;
use crate::train::TrainError;

/// What to evaluate besides the metrics.
#[derive(Debug, Clone, Default)]
pub struct EvaluateOptions {
    /// A column whose groups the fairness report compares (a feature or a column kept out).
    pub sensitive: Option<String>,
    /// The favourable class for fairness (default: the second class of a binary model, the
    /// first otherwise).
    pub positive: Option<String>,
    pub behaviour: Option<BehaviourSpec>,
}

/// Everything an evaluation found.
#[derive(Debug, Clone, Serialize)]
pub struct ModelEvaluation {
    pub model: String,
    pub version: u32,
    pub run: RunId,
    pub metrics: Evaluation,
    pub fairness: Option<FairnessReport>,
    pub behaviour: Vec<BehaviourResult>,
}

impl Project {
    /// Evaluates version `selector` of `model` on its held-out test split.
    pub fn evaluate_model(
        &mut self,
        model: &str,
        selector: &VersionSelector,
        options: &EvaluateOptions,
    ) -> Result<ModelEvaluation> {
        let version = self.model_version(model, selector)?;
        let loaded = self.load_model(version.run, &Device::flex())?;
        let held_out = self.held_out(version.run, &loaded.artifact.pipeline)?;
        let probabilities = crate::train::predict_probabilities(
            &loaded.classifier,
            &held_out.features,
            &loaded.device,
        );
        let classes = loaded.artifact.pipeline.classes.clone();
        let metrics = evaluate(&classes, &held_out.labels, &probabilities);
        let predicted = crate::eval::predict(&probabilities);
        let fairness = match &options.sensitive {
            None => None,
            Some(column) => {
                let cells = held_out.table.column(column).ok_or_else(|| {
                    TrainError::BadModel(format!(
                        "there is no column {column:?} in the data; the columns are {}",
                        held_out.table.names.join(", ")
                    ))
                })?;
                let groups: Vec<Option<String>> =
                    held_out.rows.iter().map(|&r| cells[r].clone()).collect();
                let positive = match &options.positive {
                    Some(name) => classes.iter().position(|c| c == name).ok_or_else(|| {
                        TrainError::BadModel(format!(
                            "{name:?} is not a class of the model; its classes are {}",
                            classes.join(", ")
                        ))
                    })?,
                    None if classes.len() == 2 => 1,
                    None => 0,
                };
                let report = fairness(
                    column,
                    &classes,
                    positive,
                    &groups,
                    &held_out.labels,
                    &predicted,
                );
                Some(report)
            }
        };
        let behaviour = match &options.behaviour {
            None => Vec::new(),
            Some(spec) => spec
                .run(&loaded, &held_out.table, &held_out.rows)
                .map_err(TrainError::BadModel)?,
        };
        // Everything is worked out before the first write; the reports and the card that
        // cites them land in one transaction.
        self.atomically(|project| {
            project.store_evaluation(version.run, "metrics", "test", &metrics)?;
            if let Some(report) = &fairness {
                project.store_evaluation(version.run, "fairness", &report.column, report)?;
            }
            if options.behaviour.is_some() {
                project.store_evaluation(version.run, "behaviour", "spec", &behaviour)?;
            }
            let card = project.model_card(&version)?;
            project.write(|tx| crate::store::registry::set_card(tx, version.id, &card))
        })?;
        Ok(ModelEvaluation {
            model: model.to_owned(),
            version: version.version,
            run: version.run,
            metrics,
            fairness,
            behaviour,
        })
    }
}
