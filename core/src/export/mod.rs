//! Export: a registered model version as ONNX in an NVIDIA Triton model repository, with
//! parity against Burn proven in tract first, the configuration linted against the graph, the
//! files written atomically, and every export recorded in the project.

pub mod onnx;
pub mod repository;
pub mod servable;
mod text_ops;
pub mod triton;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde::Serialize;

pub use onnx::{GraphTensor, InputForm, Parity};
pub use triton::{InputChoice, InstanceKind, TritonOptions, VersionPolicy};

use crate::Result;
use crate::features::{Matrix, Step};
use crate::registry::VersionSelector;
use crate::store::{Project, exports};

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

    #[error("{0}")]
    Options(String),
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
    /// Why the graph reads features where raw rows were the default: the step that does not
    /// compose into the graph.
    pub raw_refused: Option<String>,
    pub inputs: Vec<GraphTensor>,
    pub outputs: Vec<GraphTensor>,
}

/// A recorded export of a model version.
#[derive(Debug, Clone, Serialize)]
pub struct ExportEntry {
    pub version: u32,
    /// `onnx+triton`, ...
    pub format: String,
    /// The repository folder written.
    pub target: String,
    /// The [`ExportOutcome`] as recorded: parity, configuration, tensors.
    pub details: serde_json::Value,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// What an export writes into its version folder, and into the project.
#[derive(Serialize)]
struct ExportRecord {
    /// The exporting project's [`Project::identity`].
    project: String,
    model_version_id: i64,
    /// The version's weights, by hash: a second proof that the record is this version's.
    weights: String,
    target: String,
    details: ExportOutcome,
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
    /// Why the graph reads features where raw rows were the default: the step that does not
    /// compose into the graph.
    pub raw_refused: Option<String>,
    pub inputs: Vec<GraphTensor>,
    pub outputs: Vec<GraphTensor>,
}

/// A version's graph as it would be exported, proven, with what scores rows through it.
pub struct ServableGraph {
    pub preview: ExportPreview,
    pub bytes: Vec<u8>,
    pub pipeline: crate::features::FeaturePipeline,
}

/// The ONNX bytes and everything proven about them, before anything is written.
struct Prepared {
    preview: ExportPreview,
    version_id: i64,
    weights: crate::BlobHash,
    onnx: Vec<u8>,
    extra: Vec<(&'static str, Vec<u8>)>,
    labels: String,
    pipeline: crate::features::FeaturePipeline,
}

impl Project {
    /// The graph that exporting version `selector` of `model` would write (raw rows where the
    /// pipeline allows), proven against Burn and linted; refused if either fails.
    pub fn servable_graph(&self, model: &str, selector: &VersionSelector) -> Result<ServableGraph> {
        let prepared = self.prepare_triton(model, selector, &TritonOptions::default())?;
        check_prepared(&prepared.preview)?;
        Ok(ServableGraph {
            preview: prepared.preview,
            bytes: prepared.onnx,
            pipeline: prepared.pipeline,
        })
    }

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
        options.check().map_err(ExportError::Options)?;
        let version = self.model_version(model, selector)?;
        let device = Device::flex();
        let loaded = self.load_model(version.run, &device)?;
        let pipeline = &loaded.artifact.pipeline;
        let (composable, raw_refused) = match options.input {
            InputChoice::Auto => match servable::composable(pipeline) {
                Ok(texts) => (Some(texts), None),
                Err(why) => (
                    None,
                    Some(format!(
                        "{why}; to serve raw text, retrain with a token pattern the graph can read"
                    )),
                ),
            },
            InputChoice::Raw => {
                let texts = servable::composable(pipeline).map_err(|why| {
                    ExportError::Options(format!(
                        "{why}; export with --input features and apply pipeline.json before the model"
                    ))
                })?;
                (Some(texts), None)
            }
            InputChoice::Features => (None, None),
        };
        let mut exported =
            onnx::export_onnx(&loaded, composable.is_none()).map_err(crate::Error::from)?;
        let held_out = self.held_out(version.run, pipeline)?;
        let expected =
            crate::train::predict_probabilities(&loaded.classifier, &held_out.features, &device);
        let parity = if let Some(texts) = composable {
            // Parity on the held-out rows read raw from the dataset, as a client would send them.
            exported.bytes = servable::compose(&exported.bytes, pipeline, texts)?;
            exported.input_form = InputForm::RawRows;
            servable::check_parity(
                &exported.bytes,
                pipeline,
                &held_out.table,
                &held_out.rows,
                &expected,
            )?
        } else {
            let input = match exported.input_form {
                InputForm::RawNumeric => unstandardise(&held_out.features, &pipeline.steps),
                _ => held_out.features.clone(),
            };
            onnx::check_parity(&exported.bytes, &input, &expected)?
        };
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
                raw_refused,
                inputs,
                outputs,
            },
            version_id: version.id,
            weights: version.weights.clone(),
            onnx: exported.bytes,
            extra,
            labels,
            pipeline: pipeline.clone(),
        })
    }

    /// The files that carry version `selector` of `model` elsewhere (an MLflow server): the ONNX
    /// model, proven against Burn first, its feature pipeline, model card and class labels.
    pub fn model_files(
        &self,
        model: &str,
        selector: &VersionSelector,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let prepared = self.prepare_triton(model, selector, &TritonOptions::default())?;
        if !prepared.preview.parity.holds() {
            return Err(ExportError::ParityFailed(prepared.preview.parity).into());
        }
        let mut files = vec![("model.onnx".to_owned(), prepared.onnx)];
        files.extend(prepared.extra.into_iter().map(|(n, b)| (n.to_owned(), b)));
        files.push(("labels.txt".to_owned(), prepared.labels.into_bytes()));
        Ok(files)
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
        self.write_prepared(model, prepared, target, &|_| options.clone())
    }

    /// Exports several versions of `model` into one Triton repository, each as the next
    /// version folder, with a `specific` version policy that serves exactly these: champion
    /// and challenger side by side, each behind `/v2/models/MODEL/versions/N`. Every version is
    /// proven and linted before the first is written, and versions whose inputs, outputs or
    /// classes differ are refused, naming the difference.
    pub fn export_triton_versions(
        &mut self,
        model: &str,
        selectors: &[VersionSelector],
        target: &Path,
        options: &TritonOptions,
    ) -> Result<Vec<ExportOutcome>> {
        if selectors.len() < 2 {
            return match selectors.first() {
                Some(selector) => Ok(vec![self.export_triton(model, selector, target, options)?]),
                None => {
                    Err(ExportError::Options("name at least one version to export".into()).into())
                }
            };
        }
        let mut prepared = Vec::new();
        for selector in selectors {
            let next = self.prepare_triton(model, selector, options)?;
            if let Some(first) = prepared.first() {
                same_signature(first, &next)?;
            }
            check_prepared(&next.preview)?;
            prepared.push(next);
        }
        let mut written: Vec<u32> = Vec::new();
        let mut outcomes = Vec::new();
        for next in prepared {
            let earlier = written.clone();
            let config_options = |version: u32| TritonOptions {
                version_policy: VersionPolicy::Specific(
                    earlier.iter().copied().chain([version]).collect(),
                ),
                ..options.clone()
            };
            let outcome = self.write_prepared(model, next, target, &config_options)?;
            written.push(outcome.triton_version);
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// Writes a proven export as the next version under `target/model`, with the configuration
    /// `options(version)` gives, and records it.
    fn write_prepared(
        &mut self,
        model: &str,
        prepared: Prepared,
        target: &Path,
        options: &dyn Fn(u32) -> TritonOptions,
    ) -> Result<ExportOutcome> {
        let preview = prepared.preview;
        check_prepared(&preview)?;
        // Versions that an earlier export wrote but a kill kept from being recorded.
        self.record_unrecorded_exports(target, model)?;
        let project = self.identity()?;
        let (inputs, outputs) = (&preview.inputs, &preview.outputs);
        let config = |version: u32| triton::config_pbtxt(model, inputs, outputs, &options(version));
        let outcome = |version: u32| ExportOutcome {
            model: model.to_owned(),
            model_version: preview.model_version,
            target: target.to_owned(),
            triton_version: version,
            version_dir: target.join(model).join(version.to_string()),
            config: config(version),
            parity: preview.parity.clone(),
            input_form: preview.input_form,
            raw_refused: preview.raw_refused.clone(),
            inputs: preview.inputs.clone(),
            outputs: preview.outputs.clone(),
        };
        let record = |version: u32| {
            serde_json::to_string(&ExportRecord {
                project: project.clone(),
                model_version_id: prepared.version_id,
                weights: prepared.weights.to_string(),
                target: target.display().to_string(),
                details: outcome(version),
            })
            .map_err(|e| ExportError::Io(format!("the export's record cannot be written: {e}")))
        };
        let written = repository::write_repository(&repository::RepositoryWrite {
            target,
            model,
            onnx: &prepared.onnx,
            extra: prepared.extra,
            config: &config,
            labels: &prepared.labels,
            record: &record,
        })?;
        self.insert_export_record(&record(written.version)?)?;
        Ok(outcome(written.version))
    }

    /// The recorded exports of `model`, oldest first.
    pub fn exports(&self, model: &str) -> Result<Vec<ExportEntry>> {
        let rows = self.read(|c| exports::records(c, model))?;
        rows.into_iter()
            .map(|(version, format, target, details, created_at)| {
                let what = format!("the record of an export of {model} version {version}");
                Ok(ExportEntry {
                    version,
                    format,
                    target,
                    details: self.stored_json(&what, &details)?,
                    created_at,
                })
            })
            .collect()
    }

    /// Records each version folder under `target/model` whose own record is not yet in the
    /// project. Returns how many were added.
    pub fn record_unrecorded_exports(&mut self, target: &Path, model: &str) -> Result<usize> {
        let mut added = 0;
        for (_, record) in repository::recorded_versions(&target.join(model)) {
            if self.insert_export_record(&record)? {
                added += 1;
            }
        }
        Ok(added)
    }

    /// Inserts the export `record` (as written into its folder) unless it is there already, or
    /// was written by another project, or names a version this project does not have with
    /// those weights. Returns whether it was added.
    fn insert_export_record(&mut self, record: &str) -> Result<bool> {
        let Ok(parsed) = serde_json::from_str::<serde_json::Value>(record) else {
            return Ok(false);
        };
        let field = |key: &str| parsed.get(key).and_then(|v| v.as_str());
        let (Some(project), Some(version_id), Some(weights), Some(target), Some(details)) = (
            field("project"),
            parsed.get("model_version_id").and_then(|v| v.as_i64()),
            field("weights"),
            field("target"),
            parsed.get("details"),
        ) else {
            return Ok(false);
        };
        if project != self.identity()? {
            return Ok(false);
        }
        let details = details.to_string();
        self.write(|tx| {
            let known = exports::is_new_record(tx, version_id, weights, &details)?;
            if known {
                exports::insert_record(tx, version_id, "onnx+triton", target, &details)?;
            }
            Ok(known)
        })
    }
}

/// Refuses an export whose parity or configuration does not hold.
fn check_prepared(preview: &ExportPreview) -> std::result::Result<(), ExportError> {
    if !preview.parity.holds() {
        return Err(ExportError::ParityFailed(preview.parity.clone()));
    }
    if !preview.lint.is_empty() {
        return Err(ExportError::Lint(preview.lint.clone()));
    }
    Ok(())
}

/// Refuses two versions that one configuration cannot serve: different inputs, outputs or
/// classes, named.
fn same_signature(a: &Prepared, b: &Prepared) -> std::result::Result<(), ExportError> {
    same_io(&a.preview, &b.preview, &a.labels, &b.labels)
}

/// Refuses two graphs whose inputs, outputs or classes (`labels`, one per line) differ, naming
/// the difference.
pub fn same_io(
    a: &ExportPreview,
    b: &ExportPreview,
    a_labels: &str,
    b_labels: &str,
) -> std::result::Result<(), ExportError> {
    let (va, vb) = (a.model_version, b.model_version);
    let describe = |tensors: &[GraphTensor]| {
        tensors
            .iter()
            .map(|t| format!("{} {} {:?}", t.name, t.elem_type, t.dims))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (what, x, y) in [
        ("inputs", &a.inputs, &b.inputs),
        ("outputs", &a.outputs, &b.outputs),
    ] {
        if x != y {
            return Err(ExportError::Options(format!(
                "versions {va} and {vb} cannot share one Triton configuration: their {what} differ (version {va}: {}; version {vb}: {})",
                describe(x),
                describe(y)
            )));
        }
    }
    if a_labels != b_labels {
        return Err(ExportError::Options(format!(
            "versions {va} and {vb} cannot share one Triton configuration: their classes differ ({} against {})",
            a_labels.trim().replace('\n', ", "),
            b_labels.trim().replace('\n', ", ")
        )));
    }
    Ok(())
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
