//! Training and search: Burn models trained on the local GPU (wgpu) or the CPU (flex), one run
//! per trial, grouped into a study per search.

pub mod device;
mod halving;
pub mod lbfgs;
mod metrics;
pub mod model;
mod scheduler;
pub mod space;
mod study;
pub mod timings;
mod trainer;

pub use device::{
    AdapterSummary, DeviceNotice, DevicePreference, TrainingDevice, probe_adapters, select_device,
};
pub use metrics::Confusion;
pub use model::{Activation, Architecture, Classifier, ModelFamily};
pub use space::{Hyperparams, OptimizerKind, SearchSpace, Strategy};
pub use study::{
    MAX_TRIALS_UNASKED, StudyOutcome, StudyRequest, StudyStatus, StudySummary, TrainOptions,
    TrialSummary,
};
pub(crate) use trainer::predict_probabilities;
pub use trainer::{ModelArtifact, PreparedData};

/// A failure of training or search.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("the search space is not valid: {0}")]
    Space(String),

    #[error("the search space has no trials")]
    EmptySpace,

    #[error(
        "the search makes {trials} trials, more than {max}; narrow the space, or allow them with --max-trials {trials}"
    )]
    TooManyTrials { trials: usize, max: usize },

    #[error("dataset {dataset:?} cannot train a classifier: {reason}")]
    Unusable { dataset: String, reason: String },

    #[error("cancelled before it finished; the runs done so far are kept")]
    Cancelled,

    #[error("study {0} does not exist")]
    NoStudy(i64),

    #[error("study {study} cannot be resumed: {reason}")]
    NotResumable { study: i64, reason: String },

    #[error(
        "study {study} stopped because a record could not be written: {reason}. The project is intact; once the cause is fixed, resume the study with `kiln resume PROJECT {study}`"
    )]
    Unrecorded { study: i64, reason: String },

    #[error("the stored model cannot be read: {0}")]
    BadModel(String),
}

#[cfg(test)]
mod tests;
