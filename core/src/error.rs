//! The error type of `kiln-core`: one enum per module, rolled up here so that a face handles
//! every failure of the engine in one place.

use crate::data::DataError;
use crate::export::ExportError;
use crate::features::FeatureError;
use crate::mlflow::SyncError;
use crate::monitor::MonitorError;
use crate::registry::RegistryError;
use crate::store::StoreError;
use crate::train::TrainError;

/// Any failure of the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The project file: opening, reading or writing it.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// Reading, importing or checking data.
    #[error(transparent)]
    Data(#[from] DataError),

    /// Fitting or applying features.
    #[error(transparent)]
    Feature(#[from] FeatureError),

    /// Training or search.
    #[error(transparent)]
    Train(#[from] TrainError),

    /// The model registry.
    #[error(transparent)]
    Registry(#[from] RegistryError),

    /// Export to ONNX and Triton.
    #[error(transparent)]
    Export(#[from] ExportError),

    /// Sync with an MLflow tracking server.
    #[error(transparent)]
    Sync(#[from] SyncError),

    /// Monitoring and retraining.
    #[error(transparent)]
    Monitor(#[from] MonitorError),

    /// Replays of traffic through two versions.
    #[error(transparent)]
    Replay(#[from] crate::replay::ReplayError),

    /// Work that stopped on a bug rather than on bad input: the message says what stopped.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The text of a caught panic: its message, or "unknown failure". Only the first line, so that a
/// backtrace-laden message stays readable.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown failure");
    what.lines().next().unwrap_or(what).to_owned()
}
