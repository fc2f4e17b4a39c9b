//! Evaluates class probabilities with kiln-core's `eval` module and writes every metric, for
//! `scripts/check_eval.py` to compare with scikit-learn and Fairlearn.
//!
//! ```text
//! cargo run -q -p kiln-core --example eval_metrics -- INPUT.json OUTPUT.json
//! ```
//!
//! INPUT.json: `{"classes": ["a", "b", ...], "y_true": [0, 1, ...], "probabilities":
//! [[..], ..], "groups": ["x", null, ...], "positive": 1, "column": "group"}`, the last three
//! optional (`positive` defaults to 1, `column` to `"group"`).
//!
//! OUTPUT.json: `{"predicted": [...], "evaluation": <Evaluation>, "fairness": <FairnessReport>
//! or null}`, fairness being computed on the argmax predictions when `groups` is given.

use std::process::ExitCode;

use kiln_core::eval::{self, Evaluation, FairnessReport};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    classes: Vec<String>,
    y_true: Vec<usize>,
    probabilities: Vec<Vec<f32>>,
    #[serde(default)]
    groups: Option<Vec<Option<String>>>,
    #[serde(default)]
    positive: Option<usize>,
    #[serde(default)]
    column: Option<String>,
}

#[derive(Serialize)]
struct Output {
    predicted: Vec<usize>,
    evaluation: Evaluation,
    fairness: Option<FairnessReport>,
}

/// Rejects input that the metrics would silently degrade on.
fn validate(input: &Input) -> Result<(), String> {
    let (k, rows) = (input.classes.len(), input.y_true.len());
    if k == 0 {
        return Err("classes is empty".into());
    }
    if input.probabilities.len() != rows {
        return Err(format!(
            "{} probability rows for {rows} labels",
            input.probabilities.len()
        ));
    }
    if let Some(i) = input.y_true.iter().position(|&y| y >= k) {
        return Err(format!("y_true[{i}] is not a class index below {k}"));
    }
    if let Some(i) = input.probabilities.iter().position(|row| row.len() != k) {
        return Err(format!("probabilities[{i}] does not have {k} values"));
    }
    if let Some(groups) = &input.groups
        && groups.len() != rows
    {
        return Err(format!("{} groups for {rows} rows", groups.len()));
    }
    match input.positive {
        Some(p) if p >= k => Err(format!("positive {p} is not a class index below {k}")),
        _ => Ok(()),
    }
}

fn compute(input: &Input) -> Output {
    let evaluation = eval::evaluate(&input.classes, &input.y_true, &input.probabilities);
    let predicted = eval::predict(&input.probabilities);
    let fairness = input.groups.as_ref().map(|groups| {
        let column = input.column.as_deref().unwrap_or("group");
        let positive = input.positive.unwrap_or(1);
        eval::fairness(
            column,
            &input.classes,
            positive,
            groups,
            &input.y_true,
            &predicted,
        )
    });
    Output {
        predicted,
        evaluation,
        fairness,
    }
}

fn run(input_path: &str, output_path: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(input_path)
        .map_err(|e| format!("cannot read {input_path}: {e}"))?;
    let input: Input =
        serde_json::from_str(&text).map_err(|e| format!("{input_path} is not valid input: {e}"))?;
    validate(&input).map_err(|e| format!("{input_path}: {e}"))?;
    let json = serde_json::to_string(&compute(&input))
        .map_err(|e| format!("cannot encode output: {e}"))?;
    std::fs::write(output_path, json).map_err(|e| format!("cannot write {output_path}: {e}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: eval_metrics INPUT.json OUTPUT.json");
        return ExitCode::from(2);
    };
    match run(input, output) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eval_metrics: {e}");
            ExitCode::FAILURE
        }
    }
}
