//! Batch scoring: a table scored with a registered model version through its stored feature
//! pipeline. Rows that break the model's signature or the dataset's expectations are reported
//! with their line and kept in the output, never silently dropped.

use std::path::Path;

use burn::tensor::Device;
use serde::Serialize;

use crate::Result;
use crate::data::{DataError, Location, Table};
use crate::registry::VersionSelector;
use crate::store::Project;

/// One scored (or refused) input row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoredRow {
    /// Where the row starts in the input.
    pub line: u64,
    pub prediction: Option<String>,
    /// One per class, in the model's class order; empty when the row was refused.
    pub probabilities: Vec<f32>,
    pub error: Option<String>,
}

/// Every row of a scoring run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scoring {
    pub model: String,
    pub version: u32,
    pub classes: Vec<String>,
    pub rows: Vec<ScoredRow>,
}

impl Scoring {
    pub fn failed(&self) -> usize {
        self.rows.iter().filter(|r| r.error.is_some()).count()
    }
}

/// Every row of `table` scored by `model`, in order; a row that `broken` names a reason for
/// (an expectation it breaks), or that the feature pipeline cannot read, is refused with it.
pub(crate) fn score_rows(
    model: &crate::registry::LoadedModel,
    table: &Table,
    broken: Vec<Option<String>>,
) -> Vec<ScoredRow> {
    let classes = &model.artifact.pipeline.classes;
    let all: Vec<usize> = (0..table.rows()).collect();
    model
        .predict_rows(table, &all)
        .into_iter()
        .zip(broken)
        .zip(&table.lines)
        .map(|((result, broken), &line)| match (result, broken) {
            (Ok(p), None) => ScoredRow {
                line,
                prediction: Some(classes[crate::eval::argmax(&p)].clone()),
                probabilities: p,
                error: None,
            },
            (Err(e), _) => ScoredRow {
                line,
                prediction: None,
                probabilities: Vec::new(),
                error: Some(e.to_string()),
            },
            (Ok(_), Some(why)) => ScoredRow {
                line,
                prediction: None,
                probabilities: Vec::new(),
                error: Some(why),
            },
        })
        .collect()
}

impl Project {
    /// Scores every row of `table`, read from `source`, with version `selector` of `model`.
    pub fn score(
        &self,
        model: &str,
        selector: &VersionSelector,
        table: &Table,
        source: &Path,
    ) -> Result<Scoring> {
        let version = self.model_version(model, selector)?;
        let loaded = self.load_model(version.run, &Device::flex())?;
        let pipeline = &loaded.artifact.pipeline;
        let missing: Vec<&str> = pipeline
            .steps
            .iter()
            .map(|s| s.column())
            .filter(|c| table.column_index(c).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(DataError::Malformed {
                at: Location {
                    file: source.to_owned(),
                    line: 1,
                    column: None,
                },
                problem: format!(
                    "the model needs the columns {}, missing from the header",
                    missing.join(", ")
                ),
            }
            .into());
        }
        let suite = match &version.lineage.dataset {
            Some(dataset) => self.expectations(dataset)?,
            None => Default::default(),
        };
        // Every row that breaks an expectation is refused, not only the first few a check
        // report lists.
        let rows = score_rows(&loaded, table, suite.failing_rows(table));
        Ok(Scoring {
            model: model.to_owned(),
            version: version.version,
            classes: pipeline.classes.clone(),
            rows,
        })
    }
}
