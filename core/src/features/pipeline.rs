//! The feature pipeline: fitted on the training rows only, then applied unchanged to every
//! other row, batch and request. Numeric columns are standardised (missing values imputed with
//! the training mean), categorical columns one-hot encoded (unknown or missing categories give
//! all zeros), text columns turned into TF-IDF vectors. It serialises to JSON and is stored
//! with every model.

use serde::{Deserialize, Serialize};

use super::FeatureError;
use super::tfidf::{Tfidf, TfidfSettings};
use crate::data::{ColumnKind, DatasetSchema, Table};

/// What to fit: the settings of each kind of transform.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PipelineSpec {
    pub tfidf: TfidfSettings,
}

/// One fitted transform of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "transform", rename_all = "snake_case")]
pub enum Step {
    /// `(x - mean) / scale`; a missing value becomes 0 (the mean).
    Standardize {
        column: String,
        mean: f64,
        scale: f64,
    },
    /// One output per category seen in training.
    OneHot {
        column: String,
        categories: Vec<String>,
    },
    /// One output per vocabulary term.
    Tfidf { column: String, model: Box<Tfidf> },
}

impl Step {
    pub fn column(&self) -> &str {
        match self {
            Step::Standardize { column, .. }
            | Step::OneHot { column, .. }
            | Step::Tfidf { column, .. } => column,
        }
    }

    pub fn width(&self) -> usize {
        match self {
            Step::Standardize { .. } => 1,
            Step::OneHot { categories, .. } => categories.len(),
            Step::Tfidf { model, .. } => model.dims(),
        }
    }
}

/// A dense row-major matrix of `f32` features.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

/// A fitted pipeline: the steps in output order, the label column and its classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeaturePipeline {
    pub label: String,
    /// Class names; a class's index is the model's output index.
    pub classes: Vec<String>,
    pub steps: Vec<Step>,
}

impl FeaturePipeline {
    /// Fits every step on `rows` of `table` (the training split), with the classes taken from
    /// the whole label column so that no split meets an unknown class.
    pub fn fit(
        schema: &DatasetSchema,
        table: &Table,
        rows: &[usize],
        spec: &PipelineSpec,
    ) -> Result<FeaturePipeline, FeatureError> {
        let label = schema.label().ok_or(FeatureError::NoLabel)?.to_owned();
        let mut classes: Vec<String> = column(table, &label)?.iter().flatten().cloned().collect();
        classes.sort();
        classes.dedup();
        if classes.len() < 2 {
            return Err(FeatureError::TooFewClasses {
                label,
                found: classes,
            });
        }
        let mut steps = Vec::new();
        for col in &schema.columns {
            let cells = column(table, &col.name)?;
            let training = rows.iter().map(|&r| cells[r].as_deref());
            let step = match col.kind {
                ColumnKind::Numeric => fit_standardize(&col.name, training)?,
                ColumnKind::Categorical => fit_one_hot(&col.name, training),
                ColumnKind::Text => {
                    let docs: Vec<&str> = training.map(|c| c.unwrap_or("")).collect();
                    Step::Tfidf {
                        column: col.name.clone(),
                        model: Box::new(Tfidf::fit(&spec.tfidf, &docs)?),
                    }
                }
                ColumnKind::Label | ColumnKind::Ignored => continue,
            };
            steps.push(step);
        }
        if steps.is_empty() {
            return Err(FeatureError::NoFeatures);
        }
        Ok(FeaturePipeline {
            label,
            classes,
            steps,
        })
    }

    /// The number of features a row becomes.
    pub fn width(&self) -> usize {
        self.steps.iter().map(Step::width).sum()
    }

    /// A name for every output feature, in order.
    pub fn feature_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.width());
        for step in &self.steps {
            match step {
                Step::Standardize { column, .. } => names.push(column.clone()),
                Step::OneHot { column, categories } => {
                    names.extend(categories.iter().map(|c| format!("{column}={c}")))
                }
                Step::Tfidf { column, model } => {
                    names.extend(model.vocabulary.iter().map(|t| format!("{column}:{t}")))
                }
            }
        }
        names
    }

    /// The features of `rows` of `table`.
    pub fn transform(&self, table: &Table, rows: &[usize]) -> Result<Matrix, FeatureError> {
        let cols = self.width();
        let mut data = vec![0f32; rows.len() * cols];
        let mut offset = 0;
        for step in &self.steps {
            let cells = column(table, step.column())?;
            for (i, &row) in rows.iter().enumerate() {
                let out = &mut data[i * cols + offset..i * cols + offset + step.width()];
                apply(step, cells[row].as_deref(), out, table.lines[row])?;
            }
            offset += step.width();
        }
        Ok(Matrix {
            rows: rows.len(),
            cols,
            data,
        })
    }

    /// The class index of each of `rows`; a label outside the classes is an error.
    pub fn encode_labels(&self, table: &Table, rows: &[usize]) -> Result<Vec<usize>, FeatureError> {
        let cells = column(table, &self.label)?;
        rows.iter()
            .map(|&row| {
                let value = cells[row].as_deref().unwrap_or("");
                self.classes.iter().position(|c| c == value).ok_or_else(|| {
                    FeatureError::UnknownLabel {
                        line: table.lines[row],
                        value: value.to_owned(),
                    }
                })
            })
            .collect()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(json: &str) -> Result<FeaturePipeline, FeatureError> {
        serde_json::from_str(json).map_err(|e| FeatureError::Unreadable(e.to_string()))
    }
}

fn column<'t>(table: &'t Table, name: &str) -> Result<&'t [Option<String>], FeatureError> {
    table
        .column(name)
        .ok_or_else(|| FeatureError::MissingColumn(name.to_owned()))
}

fn fit_standardize<'a>(
    name: &str,
    cells: impl Iterator<Item = Option<&'a str>>,
) -> Result<Step, FeatureError> {
    let values: Vec<f64> = cells
        .flatten()
        .filter_map(crate::data::parse_number)
        .collect();
    if values.is_empty() {
        return Err(FeatureError::NoValues(name.to_owned()));
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    // A constant column would divide by zero; like scikit-learn, leave it unscaled.
    let scale = if variance > 0.0 { variance.sqrt() } else { 1.0 };
    Ok(Step::Standardize {
        column: name.to_owned(),
        mean,
        scale,
    })
}

fn fit_one_hot<'a>(name: &str, cells: impl Iterator<Item = Option<&'a str>>) -> Step {
    let mut categories: Vec<String> = cells.flatten().map(str::to_owned).collect();
    categories.sort();
    categories.dedup();
    Step::OneHot {
        column: name.to_owned(),
        categories,
    }
}

fn apply(step: &Step, cell: Option<&str>, out: &mut [f32], line: u64) -> Result<(), FeatureError> {
    match step {
        Step::Standardize {
            column,
            mean,
            scale,
        } => {
            out[0] = match cell {
                None => 0.0,
                Some(text) => {
                    let v = crate::data::parse_number(text).ok_or_else(|| {
                        FeatureError::NotNumeric {
                            column: column.clone(),
                            line,
                            value: text.to_owned(),
                        }
                    })?;
                    ((v - mean) / scale) as f32
                }
            };
        }
        Step::OneHot { categories, .. } => {
            if let Some(i) = cell.and_then(|c| categories.iter().position(|k| k == c)) {
                out[i] = 1.0;
            }
        }
        Step::Tfidf { model, .. } => model.transform_into(cell.unwrap_or(""), out),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::data::{SourceFormat, infer_schema, parse_csv};

    fn data(csv: &str) -> (DatasetSchema, Table) {
        let (table, d) = parse_csv(csv.as_bytes(), Path::new("t.csv"), None).expect("parse");
        let schema = infer_schema(
            &table,
            SourceFormat::Csv { delimiter: d },
            Path::new("t.csv"),
            None,
            &[],
            true,
        )
        .expect("schema");
        (schema, table)
    }

    const CSV: &str = "size,colour,note,label\n1,red,,a\n3,blue,,b\nNA,red,,a\n100,green,,b\n";

    #[test]
    fn fits_on_training_rows_only_and_transforms_any_row() {
        let (schema, table) = data(CSV);
        let pipeline = FeaturePipeline::fit(&schema, &table, &[0, 1, 2], &PipelineSpec::default())
            .expect("fit");
        assert_eq!(pipeline.classes, ["a", "b"]);
        assert_eq!(
            pipeline.feature_names(),
            ["size", "colour=blue", "colour=red"]
        );
        let Step::Standardize { mean, scale, .. } = &pipeline.steps[0] else {
            panic!("standardize first")
        };
        assert_eq!(
            (*mean, *scale),
            (2.0, 1.0),
            "row 3 (size 100) is not training data"
        );
        let m = pipeline
            .transform(&table, &[0, 1, 2, 3])
            .expect("transform");
        assert_eq!(m.row(0), [-1.0, 0.0, 1.0]);
        assert_eq!(m.row(1), [1.0, 1.0, 0.0]);
        assert_eq!(
            m.row(2),
            [0.0, 0.0, 1.0],
            "missing size is imputed with the mean"
        );
        assert_eq!(
            m.row(3),
            [98.0, 0.0, 0.0],
            "an unknown category is all zeros"
        );
        assert_eq!(
            pipeline.encode_labels(&table, &[0, 1, 3]).expect("labels"),
            [0, 1, 1]
        );
    }

    #[test]
    fn text_columns_become_tfidf_and_the_pipeline_round_trips() {
        let (schema, table) = data(
            "review,label\ngood food here and there,pos\nbad bad food here,neg\nfine good place to eat,pos\n",
        );
        let pipeline = FeaturePipeline::fit(&schema, &table, &[0, 1, 2], &PipelineSpec::default())
            .expect("fit");
        assert!(
            pipeline
                .feature_names()
                .contains(&"review:food".to_string())
        );
        let m = pipeline.transform(&table, &[1]).expect("transform");
        let norm: f32 = m.row(0).iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-6);
        let back = FeaturePipeline::from_json(&pipeline.to_json()).expect("json");
        assert_eq!(back, pipeline);
        assert_eq!(
            back.transform(&table, &[0, 1, 2]).expect("again"),
            pipeline.transform(&table, &[0, 1, 2]).expect("t")
        );
    }

    #[test]
    fn bad_rows_and_labels_are_reported_by_line() {
        let (schema, table) = data(CSV);
        let pipeline =
            FeaturePipeline::fit(&schema, &table, &[0, 1], &PipelineSpec::default()).expect("fit");
        let (_, other) = data("size,colour,note,label\nbig,red,,a\n2,red,,zebra\n");
        let err = pipeline.transform(&other, &[0]).expect_err("not numeric");
        assert_eq!(
            err.to_string(),
            "line 2, column size: \"big\" is not a number"
        );
        let err = pipeline
            .encode_labels(&other, &[1])
            .expect_err("unknown class");
        assert!(
            err.to_string().contains("line 3") && err.to_string().contains("zebra"),
            "{err}"
        );
    }
}
