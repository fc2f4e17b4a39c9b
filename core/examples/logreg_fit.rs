//! Solves a logistic regression with Kiln's full-batch solver on a dataset run through Kiln's
//! own feature pipeline, and writes the features, the labels and the solution, for
//! `scripts/check_logreg.py` to compare with scikit-learn's `LogisticRegression`.
//!
//! ```text
//! cargo run -q -p kiln-core --example logreg_fit -- DATA LABEL C TOL MAX_ITER OUTPUT.json
//! ```
//!
//! DATA is a CSV file or a corpus folder, imported into a scratch project with LABEL as its
//! label; every row is a training row. The pipeline is the study's (standardised numbers,
//! one-hot categories, TF-IDF for text with `min_df = 2` and sublinear counts).
//!
//! OUTPUT.json: `{"classes": [...], "x": [[...], ...], "y": [...], "coef": [[...], ...],
//! "intercept": [...], "iterations": n, "converged": bool, "objective": f}`.

use std::path::Path;
use std::process::ExitCode;

use kiln_core::data::ImportOptions;
use kiln_core::store::Project;
use kiln_core::train::lbfgs::{LogregSettings, fit_logreg};
use kiln_core::train::{PreparedData, SearchSpace};
use serde::Serialize;

#[derive(Serialize)]
struct Output {
    classes: Vec<String>,
    x: Vec<Vec<f32>>,
    y: Vec<usize>,
    coef: Vec<Vec<f64>>,
    intercept: Vec<f64>,
    iterations: usize,
    converged: bool,
    objective: f64,
}

fn run(args: &[String]) -> Result<(), String> {
    let [data, label, c, tol, max_iter, output] = args else {
        return Err("usage: logreg_fit DATA LABEL C TOL MAX_ITER OUTPUT.json".into());
    };
    let number = |text: &str, what: &str| -> Result<f64, String> {
        text.parse()
            .map_err(|_| format!("{what} {text:?} is not a number"))
    };
    let settings = LogregSettings {
        c: number(c, "C")?,
        tol: number(tol, "TOL")?,
        max_iter: max_iter
            .parse()
            .map_err(|_| format!("MAX_ITER {max_iter:?} is not a whole number"))?,
    };
    let scratch = tempfile::tempdir().map_err(|e| format!("no scratch folder: {e}"))?;
    let mut project =
        Project::create(scratch.path().join("check.kiln"), "check").map_err(|e| e.to_string())?;
    let imported = project
        .import(
            Path::new(data),
            &ImportOptions {
                name: Some("data".into()),
                label: Some(label.clone()),
                ..ImportOptions::default()
            },
        )
        .map_err(|e| format!("{data}: {e}"))?;
    let mut space = SearchSpace::from_toml("validation = 0.0\ntest = 0.0\nobjective = \"train/loss\"\n[tfidf]\nmin_df = 2\nsublinear_tf = true\n")
        .map_err(|e| e.to_string())?;
    space.seed = 7;
    let prepared =
        PreparedData::prepare(&project, &imported.name, &space).map_err(|e| e.to_string())?;
    let train = &prepared.train;
    let classes = prepared.pipeline.classes.clone();
    let fit = fit_logreg(&train.x, &train.y, classes.len(), &settings, |_, _| true)
        .map_err(|_| "stopped".to_string())?;
    let out = Output {
        x: (0..train.x.rows).map(|r| train.x.row(r).to_vec()).collect(),
        y: train.y.clone(),
        classes,
        coef: fit.coef,
        intercept: fit.intercept,
        iterations: fit.iterations,
        converged: fit.converged,
        objective: fit.objective,
    };
    let json = serde_json::to_string(&out).map_err(|e| format!("cannot encode output: {e}"))?;
    std::fs::write(output, json).map_err(|e| format!("cannot write {output}: {e}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("logreg_fit: {e}");
            ExitCode::FAILURE
        }
    }
}
