//! The error type of `kiln-core`: one enum per module, rolled up here so that a face handles
//! every failure of the engine in one place.

use crate::data::DataError;
use crate::export::ExportError;
use crate::features::FeatureError;
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
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
