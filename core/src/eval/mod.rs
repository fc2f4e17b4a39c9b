//! Evaluation: how good a model is, and for whom.
//!
//! [`evaluate`] scores class probabilities against the true classes (accuracy, per-class
//! precision/recall/F1, the confusion matrix, ROC and PR AUCs, the binary threshold curve);
//! [`fairness`] compares predictions between the groups of a sensitive column. Both follow
//! scikit-learn's and Fairlearn's definitions, cross-checked by `scripts/check-eval.sh`.

pub mod fairness;
pub mod metrics;

pub use fairness::{FairnessReport, GroupMetrics, MISSING_GROUP, fairness};
pub use metrics::{
    ClassCurve, ClassMetrics, Evaluation, ThresholdPoint, argmax, average_precision, evaluate,
    predict, roc_auc, threshold_curve,
};

pub mod behaviour;
mod held_out;
mod project;

pub use behaviour::{BehaviourResult, BehaviourSpec};
pub use held_out::HeldOut;
pub use project::{EvaluateOptions, ModelEvaluation};
