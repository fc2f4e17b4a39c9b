//! Export: a registered model version as ONNX in an NVIDIA Triton model repository, with
//! parity against Burn proven in tract first, the configuration linted against the graph, the
//! files written atomically, and every export recorded in the project.

pub mod onnx;
pub mod repository;
pub mod triton;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use rusqlite::params;
use serde::Serialize;

pub use onnx::{GraphTensor, InputForm, Parity};
pub use triton::{InstanceKind, TritonOptions, VersionPolicy};

use crate::features::{Matrix, Step};
use crate::registry::VersionSelector;
use crate::store::Project;
use crate::{Result, now_ms};

/// A failure to export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("ONNX export failed: {0}")]
    Onnx(String),

    #[error("running the ONNX model in tract failed: {0}")]
    Tract(String),

    #[error(
        "the ONNX model does not reproduce Burn on the test split ({} rows): {} predictions differ and the largest probability difference is {:.3e} (at most {:.0e} allowed); nothing was written",
        .0.rows, .0.argmax_mismatches, .0.max_abs_diff, Parity::MAX_ABS_DIFF
    )]
    ParityFailed(Parity),

    #[error("the Triton configuration contradicts the ONNX graph: {}", .0.join("; "))]
    Lint(Vec<String>),

    #[error(
        "{0:?} is not a safe name inside the target folder: use a plain name without '/', '\\\\' or a leading '.'"
    )]
    UnsafeName(String),

    #[error("{0}")]
    Io(String),
}

/// What a finished export wrote and proved.
#[derive(Debug, Clone, Serialize)]
pub struct ExportOutcome {
    pub model: String,
    pub model_version: u32,
    pub target: PathBuf,
    pub triton_version: u32,
    pub version_dir: PathBuf,
    pub config: String,
    pub parity: Parity,
    pub input_form: InputForm,
    pub inputs: Vec<GraphTensor>,
    pub outputs: Vec<GraphTensor>,
}

/// An export worked out but not yet written: what the Export view previews.
#[derive(Debug, Clone, Serialize)]
pub struct ExportPreview {
    pub model: String,
    pub model_version: u32,
    /// The configuration as it would be written (its version policy names the next version).
    pub config: String,
    /// What the linter found wrong with the configuration against the graph: empty when it
    /// agrees.
    pub lint: Vec<String>,
    pub parity: Parity,
    pub input_form: InputForm,
    pub inputs: Vec<GraphTensor>,
    pub outputs: Vec<GraphTensor>,
}

/// The ONNX bytes and everything proven about them, before anything is written.
struct Prepared {
    preview: ExportPreview,
    version_id: i64,
    onnx: Vec<u8>,
    extra: Vec<(&'static str, Vec<u8>)>,
    labels: String,
}

impl Project {
    /// Works out the export of version `selector` of `model` without writing anything: the
    /// ONNX graph, its parity with Burn, the configuration and the linter's verdict on it.
    pub fn preview_triton(
        &self,
        model: &str,
        selector: &VersionSelector,
        options: &TritonOptions,
    ) -> Result<ExportPreview> {
        Ok(self.prepare_triton(model, selector, options)?.preview)
    }

    fn prepare_triton(
        &self,
        model: &str,
        selector: &VersionSelector,
        options: &TritonOptions,
    ) -> Result<Prepared> {
        let version = self.model_version(model, selector)?;
        let device = Device::flex();
        let loaded = self.load_model(version.run, &device)?;
        let exported = onnx::export_onnx(&loaded).map_err(crate::Error::from)?;
        let held_out = self.held_out(version.run, &loaded.artifact.pipeline)?;
        let expected =
            crate::train::predict_probabilities(&loaded.classifier, &held_out.features, &device);
        let input = match exported.input_form {
            InputForm::Features => held_out.features.clone(),
            InputForm::RawNumeric => {
                unstandardise(&held_out.features, &loaded.artifact.pipeline.steps)
            }
        };
        let parity = onnx::check_parity(&exported.bytes, &input, &expected)?;
        let (inputs, outputs) = onnx::graph_io(&exported.bytes)?;
        let config = triton::config_pbtxt(model, &inputs, &outputs, options);
        let lint = triton::lint(&config, &inputs, &outputs);
        let extra = vec![
            (
                "pipeline.json",
                loaded.artifact.pipeline.to_json().into_bytes(),
            ),
            ("model_card.md", version.card.clone().into_bytes()),
        ];
        let labels = loaded.artifact.pipeline.classes.join("\n") + "\n";
        Ok(Prepared {
            preview: ExportPreview {
                model: model.to_owned(),
                model_version: version.version,
                config,
                lint,
                parity,
                input_form: exported.input_form,
                inputs,
                outputs,
            },
            version_id: version.id,
            onnx: exported.bytes,
            extra,
            labels,
        })
    }

    /// Exports version `selector` of `model` to the Triton repository at `target`.
    pub fn export_triton(
        &mut self,
        model: &str,
        selector: &VersionSelector,
        target: &Path,
        options: &TritonOptions,
    ) -> Result<ExportOutcome> {
        let prepared = self.prepare_triton(model, selector, options)?;
        let preview = prepared.preview;
        if !preview.parity.holds() {
            return Err(ExportError::ParityFailed(preview.parity).into());
        }
        if !preview.lint.is_empty() {
            return Err(ExportError::Lint(preview.lint).into());
        }
        let (inputs, outputs) = (&preview.inputs, &preview.outputs);
        let config = |_: u32| triton::config_pbtxt(model, inputs, outputs, options);
        let written = repository::write_repository(&repository::RepositoryWrite {
            target,
            model,
            onnx: &prepared.onnx,
            extra: prepared.extra,
            config: &config,
            labels: &prepared.labels,
        })?;
        let outcome = ExportOutcome {
            model: model.to_owned(),
            model_version: preview.model_version,
            target: target.to_owned(),
            triton_version: written.version,
            version_dir: written.version_dir.clone(),
            config: config(written.version),
            parity: preview.parity,
            input_form: preview.input_form,
            inputs: preview.inputs.clone(),
            outputs: preview.outputs.clone(),
        };
        let details = serde_json::to_string(&outcome).unwrap_or_default();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO exports (model_version_id, format, target, details_json, created_at) VALUES (?1, 'onnx+triton', ?2, ?3, ?4)",
                params![prepared.version_id, target.display().to_string(), details, now_ms()],
            )
            .map(|_| ())
        })?;
        Ok(outcome)
    }
}

/// Standardised features back to raw numbers, for a graph with standardisation folded in.
fn unstandardise(features: &Matrix, steps: &[Step]) -> Matrix {
    let mut raw = features.clone();
    for r in 0..raw.rows {
        for (c, step) in steps.iter().enumerate() {
            if let Step::Standardize { mean, scale, .. } = step {
                let v = &mut raw.data[r * raw.cols + c];
                *v = (f64::from(*v) * scale + mean) as f32;
            }
        }
    }
    raw
}

#[cfg(test)]
mod tests;
