//! Fits Kiln's TF-IDF vectorizer and writes the dense matrix, for `scripts/check_tfidf.py` to
//! compare with scikit-learn's `TfidfVectorizer`.
//!
//! ```text
//! cargo run -q --release -p kiln-core --example tfidf_matrix -- INPUT.json OUTPUT.json
//! ```
//!
//! INPUT.json: `{"settings": <TfidfSettings>, "fit": ["doc", ...], "transform": ["doc", ...]}`.
//! OUTPUT.json: `{"vocabulary": [...], "idf": [...], "matrix": [[...], ...]}`, the matrix being
//! the `transform` documents' rows in `f64`.

use std::process::ExitCode;

use kiln_core::features::tfidf::{Tfidf, TfidfSettings};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    #[serde(default)]
    settings: TfidfSettings,
    fit: Vec<String>,
    transform: Vec<String>,
}

#[derive(Serialize)]
struct Output<'a> {
    vocabulary: &'a [String],
    idf: &'a [f64],
    matrix: Vec<Vec<f64>>,
}

fn run(input_path: &str, output_path: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(input_path)
        .map_err(|e| format!("cannot read {input_path}: {e}"))?;
    let input: Input =
        serde_json::from_str(&text).map_err(|e| format!("{input_path} is not valid input: {e}"))?;
    let tfidf = Tfidf::fit(&input.settings, &input.fit).map_err(|e| format!("fit failed: {e}"))?;
    let matrix = input
        .transform
        .iter()
        .map(|doc| tfidf.transform_f64(doc))
        .collect();
    let output = Output {
        vocabulary: &tfidf.vocabulary,
        idf: &tfidf.idf,
        matrix,
    };
    let json = serde_json::to_string(&output).map_err(|e| format!("cannot encode output: {e}"))?;
    std::fs::write(output_path, json).map_err(|e| format!("cannot write {output_path}: {e}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: tfidf_matrix INPUT.json OUTPUT.json");
        return ExitCode::from(2);
    };
    match run(input, output) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tfidf_matrix: {message}");
            ExitCode::FAILURE
        }
    }
}
