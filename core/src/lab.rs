//! The course lab as one call: import the demo data, grid-search a small model, take the best
//! trial, evaluate it, register it as `champion`, and export it to a Triton repository.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::Result;
use crate::data::ImportOptions;
use crate::eval::{EvaluateOptions, ModelEvaluation};
use crate::export::{ExportOutcome, TritonOptions};
use crate::registry::VersionSelector;
use crate::store::Project;
use crate::train::{
    DevicePreference, ModelFamily, SearchSpace, Strategy, StudyOutcome, StudyRequest, StudyStatus,
    TrainError, TrainOptions,
};

/// The registered model's name in the lab.
pub const LAB_MODEL: &str = "penguins";

/// What the lab did, step by step.
#[derive(Debug, Clone, Serialize)]
pub struct LabReport {
    pub dataset: String,
    pub rows: usize,
    pub study: StudyOutcome,
    pub evaluation: ModelEvaluation,
    pub model_version: u32,
    pub export: ExportOutcome,
    pub seconds: f64,
}

/// Where labs and demo projects go when the user names no file: `$XDG_DATA_HOME/kiln/labs`
/// (`~/.local/share/kiln/labs`), or the temporary folder when there is no home.
pub fn labs_dir() -> PathBuf {
    crate::kiln_dir("XDG_DATA_HOME", ".local/share")
        .unwrap_or_else(|| std::env::temp_dir().join("kiln"))
        .join("labs")
}

/// A new project file in the labs folder that nothing is at yet: `labs/STEM-N.kiln`, the
/// first free N. The folder is made if it is missing.
pub fn new_lab_file(stem: &str) -> std::io::Result<PathBuf> {
    let dir = labs_dir();
    std::fs::create_dir_all(&dir)?;
    let mut n = 1;
    loop {
        let path = dir.join(format!("{stem}-{n}.{}", crate::store::PROJECT_EXTENSION));
        if !path.exists() {
            return Ok(path);
        }
        n += 1;
    }
}

/// The lab's Triton repository: beside its project file, `lab.kiln` → `lab.triton`.
pub fn lab_target(project: &Path) -> PathBuf {
    project.with_extension("triton")
}

impl Project {
    /// Imports the Palmer penguins that ship with Kiln, as dataset `penguins`.
    pub fn import_demo_penguins(&mut self) -> Result<crate::data::ImportOutcome> {
        self.import_csv_bytes(
            "penguins.csv",
            crate::demo::PENGUINS_CSV.as_bytes(),
            &ImportOptions {
                name: Some("penguins".into()),
                ..Default::default()
            },
        )
    }
}

/// Runs a demo's search to its end: the study and its best trial (a cancel is an error).
fn search(
    project: &mut Project,
    request: &StudyRequest,
    options: &TrainOptions,
    whose: &str,
) -> Result<(StudyOutcome, crate::train::TrialSummary)> {
    let study = project.run_study(request, options)?;
    if study.status == StudyStatus::Cancelled {
        return Err(TrainError::Cancelled.into());
    }
    let best = study
        .best
        .clone()
        .ok_or_else(|| TrainError::BadModel(format!("no trial of {whose} search finished")))?;
    Ok((study, best))
}

/// Runs the lab in `project`, exporting to `target`.
pub fn run_lab(project: &mut Project, target: &Path, options: &TrainOptions) -> Result<LabReport> {
    let started = Instant::now();
    let imported = project.import_demo_penguins()?;
    let request = StudyRequest {
        dataset: imported.name.clone(),
        family: ModelFamily::Mlp,
        strategy: Strategy::Grid,
        space: SearchSpace::from_toml(crate::demo::LAB_SPACE)?,
        parallel: 2,
        device: DevicePreference::Auto,
        max_trials: None,
    };
    let (study, best) = search(project, &request, options, "the lab's")?;
    let stop_if_cancelled = || {
        if options.cancelled() {
            Err(TrainError::Cancelled)
        } else {
            Ok(())
        }
    };
    stop_if_cancelled()?;
    let version = project.register_model_as(LAB_MODEL, best.run, Some("champion"))?;
    let champion = VersionSelector::Alias("champion".into());
    let evaluation = project.evaluate_model(
        LAB_MODEL,
        &champion,
        &EvaluateOptions {
            sensitive: Some("sex".into()),
            positive: Some("Adelie".into()),
            behaviour: None,
        },
    )?;
    stop_if_cancelled()?;
    let export = project.export_triton(LAB_MODEL, &champion, target, &TritonOptions::default())?;
    Ok(LabReport {
        dataset: imported.name,
        rows: imported.schema.rows,
        study,
        evaluation,
        model_version: version.version,
        export,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The island whose penguins the drift demo keeps back as the new batch.
pub const DRIFT_ISLAND: &str = "Torgersen";

/// What the drift demo did, step by step.
#[derive(Debug, Clone, Serialize)]
pub struct DriftDemoReport {
    /// Penguins of the other islands: the training batch.
    pub training_rows: usize,
    pub study: StudyOutcome,
    pub model_version: u32,
    /// The kept-back island's penguins, checked as a new batch.
    pub monitoring: crate::monitor::MonitorReport,
    pub retrain: crate::monitor::retrain::RetrainReport,
    pub seconds: f64,
}

/// The demo penguins split by island: (the other islands, [`DRIFT_ISLAND`]), as CSV.
fn penguins_by_island() -> (String, String) {
    let mut lines = crate::demo::PENGUINS_CSV.lines();
    let header = lines.next().unwrap_or_default();
    let (mut rest, mut island) = (format!("{header}\n"), format!("{header}\n"));
    for line in lines {
        let target = if line.split(',').nth(1) == Some(DRIFT_ISLAND) {
            &mut island
        } else {
            &mut rest
        };
        target.push_str(line);
        target.push('\n');
    }
    (rest, island)
}

/// The drift demo in `project`: the penguins of Biscoe and Dream train a logistic regression,
/// registered as `penguins@champion`; the penguins of Torgersen, an island it never saw (all of
/// them Adelie), come in as a new labelled batch, whose drift is reported; and the default
/// continuous-training policy decides on a retrain. A real covariate shift, in the data Kiln
/// ships.
pub fn run_drift_demo(project: &mut Project, options: &TrainOptions) -> Result<DriftDemoReport> {
    let started = Instant::now();
    let (rest, island) = penguins_by_island();
    let imported = project.import_csv_bytes(
        "penguins-biscoe-dream.csv",
        rest.as_bytes(),
        &ImportOptions {
            name: Some(LAB_MODEL.into()),
            ..Default::default()
        },
    )?;
    let request = StudyRequest {
        dataset: imported.name.clone(),
        family: ModelFamily::Logreg,
        strategy: Strategy::Grid,
        space: SearchSpace::from_toml("c = [0.1, 1.0, 10.0]\nseed = 42\n")?,
        parallel: 1,
        device: DevicePreference::Cpu,
        max_trials: None,
    };
    let (study, best) = search(project, &request, options, "the demo's")?;
    let version = project.register_model_as(LAB_MODEL, best.run, Some("champion"))?;
    let monitoring = project.monitor_bytes(
        LAB_MODEL,
        &VersionSelector::Alias("champion".into()),
        "penguins-torgersen.csv",
        island.as_bytes(),
        &Default::default(),
    )?;
    let retrain = project.retrain(
        &crate::monitor::retrain::RetrainRequest {
            model: LAB_MODEL.into(),
            policy: Default::default(),
            by_hand: false,
            dry_run: false,
        },
        options,
    )?;
    Ok(DriftDemoReport {
        training_rows: imported.schema.rows,
        study,
        model_version: version.version,
        monitoring,
        retrain,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_islands_split_every_penguin_once() {
        let (rest, island) = penguins_by_island();
        let rows = |csv: &str| csv.lines().count() - 1;
        assert_eq!(rows(&rest) + rows(&island), 344);
        assert_eq!(rows(&island), 52);
        assert!(island.lines().skip(1).all(|l| l.contains(",Torgersen,")));
        assert!(!rest.contains(",Torgersen,"));
    }
}
