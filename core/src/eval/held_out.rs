//! The held-out test split of a run: the rows its study set aside, rebuilt from the stored data
//! and split seed, as the run's model sees them.

use crate::Result;
use crate::features::{FeaturePipeline, Matrix};
use crate::store::Project;
use crate::tracking::RunId;

/// The held-out test split of a run's data, as its model sees it.
pub struct HeldOut {
    pub table: crate::data::Table,
    /// Row indices of the test split in `table`.
    pub rows: Vec<usize>,
    /// The rows through the model's feature pipeline.
    pub features: Matrix,
    pub labels: Vec<usize>,
}

impl Project {
    /// The data a run's study trained on, and the split it drew: the rows by `label`, with
    /// the study's seed and fractions.
    pub fn split_of_run(
        &self,
        run: RunId,
        label: &str,
    ) -> Result<(crate::data::LoadedBatch, crate::data::Split)> {
        let request = self.study_request_of_run(run)?;
        let loaded = self.load_dataset(&request.dataset)?;
        let labels: Vec<Option<&str>> = loaded
            .table
            .column(label)
            .unwrap_or_default()
            .iter()
            .map(|c| c.as_deref())
            .collect();
        let split = crate::data::stratified_split(&labels, request.space.split())?;
        Ok((loaded, split))
    }

    /// The test split the run's study held out, passed through `pipeline`.
    pub fn held_out(&self, run: RunId, pipeline: &FeaturePipeline) -> Result<HeldOut> {
        let (loaded, split) = self.split_of_run(run, &pipeline.label)?;
        let features = pipeline.transform(&loaded.table, &split.test)?;
        let labels = pipeline.encode_labels(&loaded.table, &split.test)?;
        Ok(HeldOut {
            table: loaded.table,
            rows: split.test,
            features,
            labels,
        })
    }
}
