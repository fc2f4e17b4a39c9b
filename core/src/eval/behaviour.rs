//! Behavioural tests of a model, declared in TOML: invariance (changing something that should
//! not matter leaves the prediction alone) and directional expectations (changing X moves a
//! class's score up or down). Each test reports its pass rate and the failing examples.
//!
//! ```toml
//! [[invariance]]
//! description = "the year of measurement does not change the species"
//! column = "year"
//! set = "2009"                       # or: replace = { from = "doctor", to = "physician" }
//!
//! [[directional]]
//! description = "longer flippers make a Gentoo more likely"
//! column = "flipper_length_mm"
//! add = 15.0                         # or: set = "..." / replace = { from = "..", to = ".." }
//! class = "Gentoo"
//! direction = "up"
//! ```

use serde::{Deserialize, Serialize};

use crate::data::Table;
use crate::registry::LoadedModel;

/// How a test changes one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Perturbation {
    pub column: String,
    #[serde(default)]
    pub set: Option<String>,
    #[serde(default)]
    pub add: Option<f64>,
    #[serde(default)]
    pub replace: Option<Replace>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replace {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invariance {
    pub description: String,
    #[serde(flatten)]
    pub change: Perturbation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Directional {
    pub description: String,
    #[serde(flatten)]
    pub change: Perturbation,
    pub class: String,
    pub direction: Direction,
}

/// A behavioural test suite.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BehaviourSpec {
    #[serde(default)]
    pub invariance: Vec<Invariance>,
    #[serde(default)]
    pub directional: Vec<Directional>,
}

/// One failing example: the row (numbered from 1 in the data), and what changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub row: usize,
    pub before: String,
    pub after: String,
}

/// The outcome of one test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BehaviourResult {
    pub kind: String,
    pub description: String,
    /// Rows the perturbation applied to (a `replace` that finds nothing does not count).
    pub tested: usize,
    pub passed: usize,
    pub pass_rate: f64,
    pub failures: Vec<Failure>,
}

const SHOWN_FAILURES: usize = 5;

impl BehaviourSpec {
    pub fn from_toml(text: &str) -> Result<BehaviourSpec, String> {
        toml::from_str(text).map_err(|e| {
            format!(
                "the behavioural tests are not valid: {}",
                crate::toml_message(text, &e)
            )
        })
    }

    /// Runs every test on `rows` of `table`.
    pub fn run(
        &self,
        model: &LoadedModel,
        table: &Table,
        rows: &[usize],
    ) -> Result<Vec<BehaviourResult>, String> {
        let classes = &model.artifact.pipeline.classes;
        let base = model.predict_rows(table, rows);
        let mut results = Vec::new();
        for test in &self.invariance {
            let (changed, applied) = perturb(table, rows, &test.change)?;
            let after = model.predict_rows(&changed, rows);
            let mut r = result("invariance", &test.description);
            for (i, (b, a)) in base.iter().zip(&after).enumerate() {
                let (Ok(b), Ok(a)) = (b, a) else { continue };
                if !applied[i] || b.is_empty() || a.is_empty() {
                    continue;
                }
                let (pb, pa) = (crate::eval::argmax(b), crate::eval::argmax(a));
                record(&mut r, pb == pa, rows[i], &classes[pb], &classes[pa]);
            }
            results.push(finish(r));
        }
        for test in &self.directional {
            let Some(class) = classes.iter().position(|c| *c == test.class) else {
                return Err(format!(
                    "{:?}: the model has no class {:?}; its classes are {}",
                    test.description,
                    test.class,
                    classes.join(", ")
                ));
            };
            let (changed, applied) = perturb(table, rows, &test.change)?;
            let after = model.predict_rows(&changed, rows);
            let mut r = result("directional", &test.description);
            for (i, (b, a)) in base.iter().zip(&after).enumerate() {
                let (Ok(b), Ok(a)) = (b, a) else { continue };
                if !applied[i] || b.is_empty() || a.is_empty() {
                    continue;
                }
                let ok = match test.direction {
                    Direction::Up => a[class] >= b[class],
                    Direction::Down => a[class] <= b[class],
                };
                record(
                    &mut r,
                    ok,
                    rows[i],
                    &format!("{:.4}", b[class]),
                    &format!("{:.4}", a[class]),
                );
            }
            results.push(finish(r));
        }
        Ok(results)
    }
}

fn result(kind: &str, description: &str) -> BehaviourResult {
    BehaviourResult {
        kind: kind.into(),
        description: description.into(),
        tested: 0,
        passed: 0,
        pass_rate: 0.0,
        failures: Vec::new(),
    }
}

fn record(r: &mut BehaviourResult, ok: bool, row: usize, before: &str, after: &str) {
    r.tested += 1;
    if ok {
        r.passed += 1;
    } else if r.failures.len() < SHOWN_FAILURES {
        r.failures.push(Failure {
            row: row + 1,
            before: before.into(),
            after: after.into(),
        });
    }
}

fn finish(mut r: BehaviourResult) -> BehaviourResult {
    r.pass_rate = if r.tested == 0 {
        0.0
    } else {
        r.passed as f64 / r.tested as f64
    };
    r
}

/// A copy of `table` with the perturbation applied to `rows`, and which rows it changed.
fn perturb(table: &Table, rows: &[usize], p: &Perturbation) -> Result<(Table, Vec<bool>), String> {
    let index = table
        .column_index(&p.column)
        .ok_or_else(|| format!("there is no column {:?}", p.column))?;
    let mut changed = table.clone();
    let mut applied = Vec::with_capacity(rows.len());
    for &row in rows {
        let cell = &mut changed.columns[index][row];
        let new = match (&p.set, p.add, &p.replace) {
            (Some(v), None, None) => Some(v.clone()),
            (None, Some(delta), None) => cell
                .as_deref()
                .and_then(crate::data::parse_number)
                .map(|v| (v + delta).to_string()),
            (None, None, Some(rep)) => cell
                .as_deref()
                .filter(|t| t.contains(&rep.from))
                .map(|t| t.replace(&rep.from, &rep.to)),
            _ => {
                return Err(format!(
                    "column {:?}: give exactly one of set, add or replace",
                    p.column
                ));
            }
        };
        applied.push(new.is_some());
        if let Some(new) = new {
            *cell = Some(new);
        }
    }
    Ok((changed, applied))
}
