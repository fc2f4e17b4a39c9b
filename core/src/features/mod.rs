//! Feature engineering: the transforms that turn a dataset's columns into the numeric matrix a
//! model trains on. A pipeline is fitted on the training split only, serialised, and stored
//! with every model, so evaluation, inference and export reuse it exactly.

pub mod pipeline;
pub mod tfidf;

pub use pipeline::{FeaturePipeline, Matrix, PipelineSpec, Step};

/// A failure to fit or apply a feature transform.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    #[error("token pattern {pattern:?} is not a valid regular expression: {reason}")]
    BadTokenPattern { pattern: String, reason: String },

    #[error("invalid setting {setting}: {reason}")]
    BadSetting {
        setting: &'static str,
        reason: String,
    },

    #[error("no terms are left after min_df and max_df; lower min_df or raise max_df")]
    EmptyVocabulary,

    #[error("the data has no label column; mark one column as the label")]
    NoLabel,

    #[error("the label column {label:?} needs at least two classes; found {found:?}")]
    TooFewClasses { label: String, found: Vec<String> },

    #[error("no column is a feature: mark at least one column numeric, categorical or text")]
    NoFeatures,

    #[error("column {0:?} is missing from the data")]
    MissingColumn(String),

    #[error("numeric column {0:?} has no values in the training rows")]
    NoValues(String),

    #[error("line {line}, column {column}: {value:?} is not a number")]
    NotNumeric {
        column: String,
        line: u64,
        value: String,
    },

    #[error("line {line}: label {value:?} is not one of the model's classes")]
    UnknownLabel { line: u64, value: String },

    #[error("the stored feature pipeline cannot be read: {0}")]
    Unreadable(String),
}
