//! Expectations, in the spirit of Great Expectations: rules a user declares per column (not
//! null, in range, in set, unique, matches a pattern), plus a schema check against the
//! dataset's first batch. They run on import and on every new batch; the report gives, per
//! rule, the count of failing rows and the first of them.
//!
//! A suite is written in TOML:
//!
//! ```toml
//! [[expect]]
//! column = "bill_length_mm"
//! rule = "in_range"
//! min = 30.0
//! max = 60.0
//!
//! [[expect]]
//! column = "species"
//! rule = "in_set"
//! values = ["Adelie", "Chinstrap", "Gentoo"]
//! ```

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::DataError;
use super::infer::parse_number;
use super::table::{ColumnKind, DatasetSchema, Table};

/// How many failing row numbers a result lists.
const FIRST_ROWS: usize = 10;

/// The rules declared for a dataset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExpectationSuite {
    #[serde(default, rename = "expect")]
    pub expectations: Vec<Expectation>,
}

/// One rule on one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expectation {
    pub column: String,
    #[serde(flatten)]
    pub rule: Rule,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rule {
    NotNull,
    InRange { min: Option<f64>, max: Option<f64> },
    InSet { values: Vec<String> },
    Unique,
    Matches { pattern: String },
}

/// The outcome of one rule (or one schema finding).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleResult {
    /// The rule as a user reads it, for example `in_range [30, 60]` or `schema: column present`.
    pub rule: String,
    pub column: String,
    pub failing: usize,
    /// The first failing rows, numbered from 1 (the first row after the header).
    pub first_failing_rows: Vec<usize>,
}

impl RuleResult {
    pub fn passed(&self) -> bool {
        self.failing == 0
    }
}

/// Every result of a check on one batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    pub rows: usize,
    pub results: Vec<RuleResult>,
}

impl CheckReport {
    pub fn passed(&self) -> bool {
        self.results.iter().all(RuleResult::passed)
    }

    pub fn failures(&self) -> impl Iterator<Item = &RuleResult> {
        self.results.iter().filter(|r| !r.passed())
    }
}

impl ExpectationSuite {
    /// Reads a suite from TOML, checking every pattern compiles.
    pub fn from_toml(text: &str) -> Result<ExpectationSuite, DataError> {
        let suite: ExpectationSuite = toml::from_str(text).map_err(|e| {
            DataError::Invalid(format!(
                "the expectations are not valid: {}",
                crate::toml_message(text, &e)
            ))
        })?;
        for e in &suite.expectations {
            if let Rule::Matches { pattern } = &e.rule {
                regex::Regex::new(pattern).map_err(|err| {
                    DataError::Invalid(format!(
                        "column {}: pattern {pattern:?} is not a valid regular expression: {err}",
                        e.column
                    ))
                })?;
            }
        }
        Ok(suite)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Every row of `table` that some rule fails, with the first rule it fails: `None` for a
    /// row that passes them all. Unlike a [`CheckReport`], which lists the first few failing
    /// rows of each rule, this names every one, for refusing rows one by one.
    pub fn failing_rows(&self, table: &Table) -> Vec<Option<String>> {
        let mut reasons: Vec<Option<String>> = vec![None; table.rows()];
        for expectation in &self.expectations {
            for row in expectation.failing_rows(table) {
                if let Some(slot) = reasons.get_mut(row - 1) {
                    slot.get_or_insert_with(|| {
                        format!(
                            "expectation {} on {} failed",
                            expectation.rule.describe(),
                            expectation.column
                        )
                    });
                }
            }
        }
        reasons
    }

    /// Runs the schema check (when `expected` is given) and every rule on `table`.
    pub fn check(&self, table: &Table, expected: Option<&DatasetSchema>) -> CheckReport {
        let mut results = expected
            .map(|schema| check_schema(schema, table))
            .unwrap_or_default();
        for expectation in &self.expectations {
            results.push(expectation.run(table));
        }
        CheckReport {
            rows: table.rows(),
            results,
        }
    }
}

impl Expectation {
    fn run(&self, table: &Table) -> RuleResult {
        let describe = self.rule.describe();
        if table.column(&self.column).is_none() {
            return RuleResult {
                rule: describe,
                column: self.column.clone(),
                failing: table.rows(),
                first_failing_rows: Vec::new(),
            };
        }
        result(describe, &self.column, self.failing_rows(table))
    }

    /// The rows (numbered from 1) of `table` that fail this rule; all of them when its column
    /// is missing.
    fn failing_rows(&self, table: &Table) -> Vec<usize> {
        let Some(cells) = table.column(&self.column) else {
            return (1..=table.rows()).collect();
        };
        match &self.rule {
            Rule::NotNull => rows_where(cells, |c| c.is_none()),
            Rule::InRange { min, max } => rows_where(cells, |c| {
                c.is_some_and(|text| match parse_number(text) {
                    Some(v) => min.is_some_and(|m| v < m) || max.is_some_and(|m| v > m),
                    None => true,
                })
            }),
            Rule::InSet { values } => rows_where(cells, |c| {
                c.is_some_and(|text| !values.iter().any(|v| v == text))
            }),
            Rule::Unique => {
                let mut seen = HashSet::new();
                rows_where(cells, |c| {
                    c.is_some_and(|text| !seen.insert(text.to_owned()))
                })
            }
            Rule::Matches { pattern } => match regex::Regex::new(pattern) {
                Ok(re) => rows_where(cells, |c| c.is_some_and(|text| !re.is_match(text))),
                Err(_) => (1..=cells.len()).collect(),
            },
        }
    }
}

impl Rule {
    fn describe(&self) -> String {
        let bound = |b: &Option<f64>| b.map_or("..".to_string(), |v| v.to_string());
        match self {
            Rule::NotNull => "not_null".into(),
            Rule::InRange { min, max } => format!("in_range [{}, {}]", bound(min), bound(max)),
            Rule::InSet { values } => format!("in_set {{{}}}", values.join(", ")),
            Rule::Unique => "unique".into(),
            Rule::Matches { pattern } => format!("matches /{pattern}/"),
        }
    }
}

/// The 1-based rows whose cell fails `bad`.
fn rows_where(cells: &[Option<String>], mut bad: impl FnMut(Option<&str>) -> bool) -> Vec<usize> {
    cells
        .iter()
        .enumerate()
        .filter(|(_, c)| bad(c.as_deref()))
        .map(|(i, _)| i + 1)
        .collect()
}

fn result(rule: String, column: &str, failing: Vec<usize>) -> RuleResult {
    RuleResult {
        rule,
        column: column.to_owned(),
        failing: failing.len(),
        first_failing_rows: failing.into_iter().take(FIRST_ROWS).collect(),
    }
}

/// A new batch against the dataset's schema: every expected column present, none unexpected,
/// and numeric columns still numeric.
fn check_schema(expected: &DatasetSchema, table: &Table) -> Vec<RuleResult> {
    let mut results = Vec::new();
    for column in &expected.columns {
        let Some(cells) = table.column(&column.name) else {
            // A batch scored or checked for drift may lack the label; any other column must be there.
            if column.kind != ColumnKind::Label {
                results.push(result(
                    "schema: column present".into(),
                    &column.name,
                    (1..=table.rows()).collect(),
                ));
            }
            continue;
        };
        if column.kind == ColumnKind::Numeric {
            let bad = rows_where(cells, |c| c.is_some_and(|t| parse_number(t).is_none()));
            results.push(result("schema: numeric".into(), &column.name, bad));
        }
    }
    for name in &table.names {
        if expected.column(name).is_none() {
            results.push(result(
                "schema: column expected".into(),
                name,
                (1..=table.rows()).collect(),
            ));
        }
    }
    if results.is_empty() {
        results.push(result("schema: columns match".into(), "*", Vec::new()));
    }
    results
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::data::{SourceFormat, infer_schema, parse_csv};

    const CSV: &str =
        "id,size,colour,code\n1,5,red,AB-1\n2,50,blue,ab-2\n2,,green,AB-3\n4,7,red,\n";

    fn table(csv: &str) -> Table {
        parse_csv(csv.as_bytes(), Path::new("t.csv"), None)
            .expect("parse")
            .0
    }

    fn suite() -> ExpectationSuite {
        ExpectationSuite::from_toml(
            r#"
            [[expect]]
            column = "size"
            rule = "not_null"
            [[expect]]
            column = "size"
            rule = "in_range"
            min = 1
            max = 10
            [[expect]]
            column = "colour"
            rule = "in_set"
            values = ["red", "blue"]
            [[expect]]
            column = "id"
            rule = "unique"
            [[expect]]
            column = "code"
            rule = "matches"
            pattern = "^[A-Z]{2}-[0-9]$"
            "#,
        )
        .expect("suite")
    }

    #[test]
    fn each_rule_counts_and_lists_its_failing_rows() {
        let report = suite().check(&table(CSV), None);
        let got: Vec<(&str, usize, Vec<usize>)> = report
            .results
            .iter()
            .map(|r| (r.rule.as_str(), r.failing, r.first_failing_rows.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("not_null", 1, vec![3]),
                ("in_range [1, 10]", 1, vec![2]),
                ("in_set {red, blue}", 1, vec![3]),
                ("unique", 1, vec![3]),
                ("matches /^[A-Z]{2}-[0-9]$/", 1, vec![2]),
            ]
        );
        assert!(!report.passed());
        assert_eq!(report.failures().count(), 5);
    }

    #[test]
    fn failing_rows_names_every_row_not_only_the_first_few() {
        let mut csv = String::from("size\n");
        for i in 0..25 {
            csv.push_str(if i % 2 == 0 { "50\n" } else { "5\n" });
        }
        let rules = ExpectationSuite::from_toml(
            "[[expect]]\ncolumn = \"size\"\nrule = \"in_range\"\nmin = 1\nmax = 10\n",
        )
        .expect("rules");
        let t = table(&csv);
        let report = rules.check(&t, None);
        assert_eq!(report.results[0].failing, 13);
        assert_eq!(report.results[0].first_failing_rows.len(), FIRST_ROWS);
        let reasons = rules.failing_rows(&t);
        assert_eq!(reasons.iter().filter(|r| r.is_some()).count(), 13);
        assert_eq!(
            reasons[24].as_deref(),
            Some("expectation in_range [1, 10] on size failed")
        );
        assert_eq!(reasons[1], None);
        // A rule on a column the table lacks fails every row.
        let missing =
            ExpectationSuite::from_toml("[[expect]]\ncolumn = \"weight\"\nrule = \"not_null\"\n")
                .expect("rules");
        assert!(missing.failing_rows(&t).iter().all(Option::is_some));
    }

    #[test]
    fn the_schema_check_finds_missing_extra_and_non_numeric_columns() {
        let t = table(CSV);
        let schema = infer_schema(
            &t,
            SourceFormat::Csv { delimiter: b',' },
            Path::new("t.csv"),
            None,
            &[],
            false,
        )
        .expect("schema");
        assert!(
            ExpectationSuite::default()
                .check(&t, Some(&schema))
                .passed()
        );
        let batch = table("id,size,shade\n1,big,dark\n");
        let report = ExpectationSuite::default().check(&batch, Some(&schema));
        let failures: Vec<(&str, &str)> = report
            .failures()
            .map(|r| (r.rule.as_str(), r.column.as_str()))
            .collect();
        assert_eq!(
            failures,
            [
                ("schema: numeric", "size"),
                ("schema: column present", "colour"),
                ("schema: column present", "code"),
                ("schema: column expected", "shade"),
            ]
        );
    }

    #[test]
    fn bad_suites_are_refused_with_the_reason() {
        let err = ExpectationSuite::from_toml("[[expect]]\ncolumn = \"a\"\nrule = \"sometimes\"\n")
            .expect_err("rule");
        assert!(err.to_string().contains("sometimes"), "{err}");
        let err = ExpectationSuite::from_toml(
            "[[expect]]\ncolumn = \"a\"\nrule = \"matches\"\npattern = \"(\"\n",
        )
        .expect_err("regex");
        assert!(
            err.to_string().contains("not a valid regular expression"),
            "{err}"
        );
        let round = ExpectationSuite::from_toml(&suite().to_toml()).expect("round trip");
        assert_eq!(round, suite());
    }
}
