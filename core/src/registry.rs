//! The model registry: a run's model registered as version N of a named model, aliases such as
//! `champion` that move atomically, and with every version its lineage (run, study, data hash,
//! feature pipeline, config, Kiln version, device), its signature and a model card.

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use serde::{Deserialize, Serialize};

use crate::rng::SeededRng;
use crate::store::registry::{self as stored, NewVersion};
use crate::store::{BlobHash, Project, StoreError, evaluations, runs};
use crate::tracking::RunId;
use crate::train::{Classifier, ModelArtifact, TrainError};
use crate::{KILN_VERSION, Result};

/// A failure of the registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "{what} name {name:?} is not allowed: use 1 to 64 letters, digits, '-', '_' or '.', not starting with '.'"
    )]
    BadName { what: String, name: String },
}

/// The input and output of a model as a server sees them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    pub input_name: String,
    /// `-1` is the batch axis.
    pub input_shape: Vec<i64>,
    pub input_dtype: String,
    pub output_name: String,
    pub output_shape: Vec<i64>,
    pub output_dtype: String,
    pub classes: Vec<String>,
    /// What each input column is, after the feature pipeline.
    pub feature_names: Vec<String>,
}

/// Where a model version came from: enough to repeat it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    pub run: i64,
    pub run_uuid: String,
    pub study: Option<String>,
    pub dataset: Option<String>,
    pub dataset_hash: Option<String>,
    pub pipeline_hash: String,
    pub config: serde_json::Value,
    pub seed: Option<u64>,
    pub device: Option<String>,
    pub trained_with: String,
    pub registered_with: String,
}

/// One version of a registered model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelVersion {
    pub id: i64,
    pub model: String,
    pub version: u32,
    pub run: RunId,
    pub weights: BlobHash,
    pub signature: Signature,
    pub lineage: Lineage,
    pub aliases: Vec<String>,
    pub card: String,
    pub created_at: i64,
}

/// Which version of a model: the newest, a number, or an alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSelector {
    Latest,
    Number(u32),
    Alias(String),
}

impl VersionSelector {
    /// The version among `versions` (one model's) that the selector names: the rule of the
    /// store's own lookup, for a face that holds the list already.
    pub fn pick<'a>(&self, versions: &'a [ModelVersion]) -> Option<&'a ModelVersion> {
        match self {
            VersionSelector::Latest => versions.iter().max_by_key(|v| v.version),
            VersionSelector::Number(n) => versions.iter().find(|v| v.version == *n),
            VersionSelector::Alias(a) => versions.iter().find(|v| v.aliases.contains(a)),
        }
    }

    /// Parses `NAME`, `NAME:3` or `NAME@champion` into the name and the selector.
    pub fn parse(reference: &str) -> std::result::Result<(String, VersionSelector), String> {
        if let Some((name, alias)) = reference.split_once('@') {
            return Ok((name.to_owned(), VersionSelector::Alias(alias.to_owned())));
        }
        if let Some((name, version)) = reference.split_once(':') {
            return match version.parse() {
                Ok(VersionSelector::Number(n)) => Ok((name.to_owned(), VersionSelector::Number(n))),
                _ => Err(format!(
                    "{version:?} is not a version number in {reference:?}"
                )),
            };
        }
        Ok((reference.to_owned(), VersionSelector::Latest))
    }
}

/// A version as a user types it beside a model's name: `3` or `v3` is version 3, `@champion`
/// or `champion` an alias, nothing the newest version.
impl std::str::FromStr for VersionSelector {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> std::result::Result<VersionSelector, Self::Err> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(VersionSelector::Latest);
        }
        if let Some(alias) = text.strip_prefix('@') {
            return Ok(VersionSelector::Alias(alias.to_owned()));
        }
        let number = text.strip_prefix('v').unwrap_or(text);
        Ok(match number.parse::<u32>() {
            Ok(n) => VersionSelector::Number(n),
            Err(_) => VersionSelector::Alias(text.to_owned()),
        })
    }
}

impl std::fmt::Display for VersionSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionSelector::Latest => f.write_str("latest"),
            VersionSelector::Number(n) => write!(f, "v{n}"),
            VersionSelector::Alias(a) => write!(f, "@{a}"),
        }
    }
}

/// A model ready to predict: its network on a device, and what was stored with it.
pub struct LoadedModel {
    pub classifier: Classifier,
    pub artifact: ModelArtifact,
    pub device: Device,
}

impl Project {
    /// Registers the model of `run` as the next version of `model` (created if new).
    pub fn register_model(&mut self, model: &str, run: RunId) -> Result<ModelVersion> {
        self.register_model_as(model, run, None)
    }

    /// Registers the model of `run` as the next version of `model`, and points `alias` at it,
    /// in one transaction: a refused alias leaves no version behind.
    pub fn register_model_as(
        &mut self,
        model: &str,
        run: RunId,
        alias: Option<&str>,
    ) -> Result<ModelVersion> {
        validate_name(model, "model")?;
        if let Some(alias) = alias {
            validate_name(alias, "alias")?;
        }
        let artifact = self.model_artifact(run)?;
        let weights = self.artifact_hash(run, "model.bpk")?;
        if !self.has_blob(&weights)? {
            return Err(TrainError::BadModel(format!("run {run} lost its weights")).into());
        }
        let summary = self.run(run)?;
        let pipeline_hash = BlobHash::of(artifact.pipeline.to_json().as_bytes());
        let config = self.read(|c| runs::run_config(c, run))?;
        let config: serde_json::Value = match config {
            Some(json) => self.stored_json(&format!("the configuration of run {run}"), &json)?,
            None => serde_json::Value::Null,
        };
        let lineage = Lineage {
            run: run.0,
            run_uuid: summary.uuid.clone(),
            study: summary.study.clone(),
            dataset: config
                .get("dataset")
                .and_then(|d| d.as_str())
                .map(str::to_owned),
            dataset_hash: config
                .get("dataset_hash")
                .and_then(|d| d.as_str())
                .map(str::to_owned),
            pipeline_hash: pipeline_hash.to_string(),
            seed: Some(artifact.seed),
            device: summary.device.clone(),
            config,
            trained_with: self.run_kiln_version(run)?,
            registered_with: KILN_VERSION.to_owned(),
        };
        let signature = signature_of(&artifact);
        self.atomically(|project| {
            let (id, version) = project.write(|tx| {
                let model_id = stored::ensure_model(tx, model)?;
                let version = stored::next_version(tx, model_id)?;
                let new = NewVersion {
                    model_id,
                    version,
                    run,
                    weights: &weights,
                    signature: &signature,
                    lineage: &lineage,
                };
                Ok((stored::insert_version(tx, &new)?, version))
            })?;
            let registered = project.model_version(model, &VersionSelector::Number(version))?;
            let card = project.model_card(&registered)?;
            project.write(|tx| stored::set_card(tx, id, &card))?;
            if let Some(alias) = alias {
                project.set_alias(model, alias, version)?;
            }
            project.model_version(model, &VersionSelector::Number(version))
        })
    }

    /// Points `alias` of `model` at `version`, moving it from wherever it was, in one
    /// transaction.
    pub fn set_alias(&mut self, model: &str, alias: &str, version: u32) -> Result<()> {
        validate_name(alias, "alias")?;
        let target = self.model_version(model, &VersionSelector::Number(version))?;
        self.write(|tx| stored::set_alias(tx, target.id, alias))
    }

    /// Removes `alias` from `model`.
    pub fn remove_alias(&mut self, model: &str, alias: &str) -> Result<()> {
        self.write(|tx| stored::remove_alias(tx, model, alias))
    }

    /// The registered models' names.
    pub fn registered_models(&self) -> Result<Vec<String>> {
        self.read(stored::model_names)
    }

    /// Every version of `model`, oldest first.
    pub fn model_versions(&self, model: &str) -> Result<Vec<ModelVersion>> {
        let numbers = self.read(|c| stored::version_numbers(c, model))?;
        numbers
            .into_iter()
            .map(|n| self.model_version(model, &VersionSelector::Number(n)))
            .collect()
    }

    /// One version of `model`.
    pub fn model_version(&self, model: &str, selector: &VersionSelector) -> Result<ModelVersion> {
        let Some(row) = self.read(|c| stored::version(c, model, selector))? else {
            let what = match selector {
                VersionSelector::Latest => format!("{model:?}"),
                VersionSelector::Number(n) => format!("{model}:{n}"),
                VersionSelector::Alias(a) => format!("{model}@{a}"),
            };
            return Err(StoreError::Missing {
                path: self.path().to_owned(),
                what: "model version",
                id: what,
            }
            .into());
        };
        let aliases = self.read(|c| stored::aliases(c, row.id))?;
        let version = row.version;
        let parse = |what: &str, e: serde_json::Error| -> crate::Error {
            StoreError::Corrupt {
                path: self.path().to_owned(),
                reason: format!("model {model} version {version} has an unreadable {what}: {e}"),
            }
            .into()
        };
        Ok(ModelVersion {
            id: row.id,
            model: model.to_owned(),
            version,
            run: row.run,
            weights: row.weights,
            signature: serde_json::from_str(&row.signature_json)
                .map_err(|e| parse("signature", e))?,
            lineage: serde_json::from_str(&row.lineage_json).map_err(|e| parse("lineage", e))?,
            aliases,
            card: row.card,
            created_at: row.created_at,
        })
    }

    /// What was stored beside the model of `run`.
    pub fn model_artifact(&self, run: RunId) -> Result<ModelArtifact> {
        let hash = self.artifact_hash(run, "model.json")?;
        let bytes = self
            .blob(&hash)?
            .ok_or_else(|| TrainError::BadModel(format!("run {run} lost its model.json")))?;
        serde_json::from_slice(&bytes).map_err(|e| TrainError::BadModel(e.to_string()).into())
    }

    /// The model of `run`, rebuilt on `device` with its trained weights.
    pub fn load_model(&self, run: RunId, device: &Device) -> Result<LoadedModel> {
        let artifact = self.model_artifact(run)?;
        let hash = self.artifact_hash(run, "model.bpk")?;
        let weights = self
            .blob(&hash)?
            .ok_or_else(|| TrainError::BadModel(format!("run {run} lost its weights")))?;
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(weights))
            .map_err(|e| TrainError::BadModel(format!("{e:?}")))?;
        let blank = Classifier::init(&artifact.architecture, &mut SeededRng::new(0), device);
        let classifier = blank
            .try_load_record(record)
            .map_err(|e| TrainError::BadModel(format!("{e:?}")))?;
        Ok(LoadedModel {
            classifier,
            artifact,
            device: device.clone(),
        })
    }

    fn artifact_hash(&self, run: RunId, path: &str) -> Result<BlobHash> {
        let hash = self.read(|c| runs::artifact_hash(c, run, path))?;
        hash.ok_or_else(|| {
            TrainError::BadModel(format!(
                "run {run} has no {path}: only finished training runs have a model"
            ))
            .into()
        })
    }

    fn run_kiln_version(&self, run: RunId) -> Result<String> {
        self.read(|c| runs::run_kiln_version(c, run))
    }
}

fn signature_of(artifact: &ModelArtifact) -> Signature {
    Signature {
        input_name: "features".into(),
        input_shape: vec![-1, artifact.architecture.inputs as i64],
        input_dtype: "float32".into(),
        output_name: "probabilities".into(),
        output_shape: vec![-1, artifact.architecture.classes as i64],
        output_dtype: "float32".into(),
        classes: artifact.pipeline.classes.clone(),
        feature_names: artifact.pipeline.feature_names(),
    }
}

/// Names of models and aliases become folder names and URLs: keep them plain.
pub fn validate_name(name: &str, what: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.starts_with('.');
    if ok {
        return Ok(());
    }
    Err(RegistryError::BadName {
        what: what.to_owned(),
        name: name.to_owned(),
    }
    .into())
}

impl Project {
    /// The model card of `version`, in Markdown: data, metrics, fairness, intended use, lineage.
    pub fn model_card(&self, version: &ModelVersion) -> Result<String> {
        let lineage = &version.lineage;
        let run = version.run;
        let mut card = format!("# {} version {}\n\n", version.model, version.version);
        card.push_str(&format!(
            "A {} classifier of {} classes ({}), trained by Kiln {} on {}.\n\n",
            family_of(&lineage.config),
            version.signature.classes.len(),
            version.signature.classes.join(", "),
            lineage.trained_with,
            lineage.device.as_deref().unwrap_or("an unrecorded device"),
        ));
        card.push_str("## Intended use\n\n");
        card.push_str(&format!(
            "Predicts `{}` from the columns of the dataset below, through the stored feature pipeline. It was \
             validated only on data like its training data: check new batches with `kiln check` and watch \
             for drift before trusting it elsewhere. It is not meant for decisions about people without the \
             fairness review below and human oversight.\n\n",
            self.model_artifact(run)?.pipeline.label
        ));
        card.push_str("## Data\n\n");
        card.push_str(&format!(
            "- dataset: {} (sha256 {})\n- features: {} inputs after the pipeline (sha256 {})\n\n",
            lineage.dataset.as_deref().unwrap_or("?"),
            lineage.dataset_hash.as_deref().unwrap_or("?"),
            version.signature.input_shape.get(1).copied().unwrap_or(0),
            lineage.pipeline_hash,
        ));
        card.push_str("## Metrics\n\n| metric | value |\n|---|---|\n");
        for key in [
            "test/accuracy",
            "test/macro_f1",
            "val/accuracy",
            "val/macro_f1",
        ] {
            if let Some(value) = self.best_value(run, key)? {
                card.push_str(&format!("| {key} | {value:.4} |\n"));
            }
        }
        card.push_str("\n## Fairness\n\n");
        let fairness = self.evaluations(run, "fairness")?;
        if fairness.is_empty() {
            card.push_str("No fairness evaluation yet: run `kiln evaluate --sensitive COLUMN`.\n");
        }
        for (subject, report) in fairness {
            card.push_str(&format!(
                "By `{subject}`: {}\n",
                summarize_fairness(&report)
            ));
        }
        card.push_str(&format!(
            "\n## Lineage\n\n- run {} ({}), study {}\n- seed {}\n- registered with Kiln {}\n",
            lineage.run,
            lineage.run_uuid,
            lineage.study.as_deref().unwrap_or("none"),
            lineage.seed.map_or("?".into(), |s| s.to_string()),
            lineage.registered_with
        ));
        Ok(card)
    }

    /// Stored evaluation reports of `run` of one `kind`: (subject, report), oldest first.
    pub fn evaluations(&self, run: RunId, kind: &str) -> Result<Vec<(String, serde_json::Value)>> {
        let rows = self.read(|c| evaluations::evaluations(c, run, kind))?;
        rows.into_iter()
            .map(|(subject, json)| {
                let what = format!("the {kind} evaluation of run {run} by {subject:?}");
                Ok((subject, self.stored_json(&what, &json)?))
            })
            .collect()
    }

    /// Stores an evaluation report of `run`.
    pub fn store_evaluation(
        &mut self,
        run: RunId,
        kind: &str,
        subject: &str,
        report: &impl Serialize,
    ) -> Result<()> {
        self.write(|tx| evaluations::insert_evaluation(tx, run, kind, subject, report))
    }
}

fn family_of(config: &serde_json::Value) -> &str {
    match config.get("family").and_then(|f| f.as_str()) {
        Some("mlp") => "multi-layer perceptron",
        Some("logreg") => "logistic regression",
        _ => "neural",
    }
}

fn summarize_fairness(report: &serde_json::Value) -> String {
    let number = |key: &str| {
        report
            .get(key)
            .and_then(|v| v.as_f64())
            .map_or("n/a".to_string(), |v| format!("{v:.4}"))
    };
    format!(
        "demographic-parity difference {}, ratio {}, equalized-odds difference {}.",
        number("demographic_parity_difference"),
        number("demographic_parity_ratio"),
        number("equalized_odds_difference")
    )
}

impl LoadedModel {
    /// Class probabilities for each of `rows` of `table`, row by row, so that one bad row is
    /// reported (with its line) and the others still scored.
    pub fn predict_rows(
        &self,
        table: &crate::data::Table,
        rows: &[usize],
    ) -> Vec<std::result::Result<Vec<f32>, crate::features::FeatureError>> {
        let pipeline = &self.artifact.pipeline;
        let mut good = Vec::new();
        let mut results: Vec<Option<std::result::Result<Vec<f32>, crate::features::FeatureError>>> =
            Vec::with_capacity(rows.len());
        let mut features = Vec::new();
        for &row in rows {
            match pipeline.transform(table, &[row]) {
                Ok(m) => {
                    features.extend_from_slice(&m.data);
                    good.push(results.len());
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let matrix = crate::features::Matrix {
            rows: good.len(),
            cols: pipeline.width(),
            data: features,
        };
        let probabilities =
            crate::train::predict_probabilities(&self.classifier, &matrix, &self.device);
        for (slot, p) in good.into_iter().zip(probabilities) {
            results[slot] = Some(Ok(p));
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Ok(Vec::new())))
            .collect()
    }
}

#[cfg(test)]
mod selector_tests {
    use super::VersionSelector;

    fn parsed(text: &str) -> VersionSelector {
        match text.parse() {
            Ok(selector) => selector,
            Err(never) => match never {},
        }
    }

    #[test]
    fn versions_and_aliases_are_told_apart() {
        assert_eq!(parsed(""), VersionSelector::Latest);
        assert_eq!(parsed("3"), VersionSelector::Number(3));
        assert_eq!(parsed(" v3 "), VersionSelector::Number(3));
        assert_eq!(
            parsed("validated"),
            VersionSelector::Alias("validated".into())
        );
        assert_eq!(parsed("@2024"), VersionSelector::Alias("2024".into()));
        assert_eq!(
            parsed("champion"),
            VersionSelector::Alias("champion".into())
        );
        for s in [
            VersionSelector::Number(7),
            VersionSelector::Alias("prod".into()),
        ] {
            assert_eq!(parsed(&s.to_string()), s);
        }
    }

    #[test]
    fn references_name_the_model_and_its_version() {
        assert_eq!(
            VersionSelector::parse("penguins@champion"),
            Ok(("penguins".into(), VersionSelector::Alias("champion".into())))
        );
        assert_eq!(
            VersionSelector::parse("penguins:2"),
            Ok(("penguins".into(), VersionSelector::Number(2)))
        );
        assert_eq!(
            VersionSelector::parse("penguins"),
            Ok(("penguins".into(), VersionSelector::Latest))
        );
        assert!(VersionSelector::parse("penguins:two").is_err());
    }
}
