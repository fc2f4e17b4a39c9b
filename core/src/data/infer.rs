//! Column type inference: numeric, categorical, free text, label (and identifiers, ignored).

use std::collections::HashSet;
use std::path::Path;

use super::table::{ColumnKind, ColumnSchema, DatasetSchema, SourceFormat, Table};
use super::{DataError, Location};

/// Column names taken as the label when none is named.
const LABEL_NAMES: [&str; 7] = [
    "label", "class", "target", "y", "species", "category", "outcome",
];
/// A string column whose values average this many words or more is free text.
const TEXT_WORDS: f64 = 3.0;

/// Infers every column's kind, then applies the user's `overrides`. `label` names the label
/// column; without it a conventionally named column is taken. With `label_required` a table
/// with no label is refused.
pub fn infer_schema(
    table: &Table,
    source: SourceFormat,
    file: &Path,
    label: Option<&str>,
    overrides: &[(String, ColumnKind)],
    label_required: bool,
) -> Result<DatasetSchema, DataError> {
    let header = |column: Option<(usize, Option<String>)>| Location {
        file: file.to_owned(),
        line: 1,
        column,
    };
    let label = match label {
        Some(wanted) if table.column_index(wanted).is_none() => {
            return Err(DataError::MissingLabel {
                at: header(None),
                wanted: wanted.to_owned(),
                available: table.names.clone(),
            });
        }
        Some(wanted) => Some(wanted.to_owned()),
        None => guess_label(table, overrides),
    };
    let mut columns: Vec<ColumnSchema> = table
        .names
        .iter()
        .zip(&table.columns)
        .map(|(name, cells)| {
            let kind = if Some(name) == label.as_ref() {
                ColumnKind::Label
            } else {
                infer_kind(cells)
            };
            let present: Vec<&str> = cells.iter().flatten().map(String::as_str).collect();
            ColumnSchema {
                name: name.clone(),
                kind,
                inferred: kind,
                missing: cells.len() - present.len(),
                distinct: present.iter().collect::<HashSet<_>>().len(),
            }
        })
        .collect();
    for (name, kind) in overrides {
        let Some(index) = table.column_index(name) else {
            return Err(DataError::Invalid(format!(
                "{}: no column {name:?} to set to {kind}; the columns are {}",
                file.display(),
                table.names.join(", ")
            )));
        };
        if *kind == ColumnKind::Numeric {
            check_numeric(&table.columns[index], table, index, file)?;
        }
        if *kind == ColumnKind::Label {
            columns
                .iter_mut()
                .filter(|c| c.kind == ColumnKind::Label)
                .for_each(|c| c.kind = c.inferred_non_label());
        }
        columns[index].kind = *kind;
    }
    if label_required && !columns.iter().any(|c| c.kind == ColumnKind::Label) {
        return Err(DataError::MissingLabel {
            at: header(None),
            wanted: "(none named)".into(),
            available: table.names.clone(),
        });
    }
    Ok(DatasetSchema {
        source,
        rows: table.rows(),
        columns,
    })
}

impl ColumnSchema {
    /// What this column would be if it were not the label.
    fn inferred_non_label(&self) -> ColumnKind {
        match self.inferred {
            ColumnKind::Label => ColumnKind::Categorical,
            other => other,
        }
    }
}

fn guess_label(table: &Table, overrides: &[(String, ColumnKind)]) -> Option<String> {
    if let Some((name, _)) = overrides.iter().find(|(_, k)| *k == ColumnKind::Label) {
        return Some(name.clone());
    }
    LABEL_NAMES.iter().find_map(|wanted| {
        table
            .names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(wanted))
            .cloned()
    })
}

fn infer_kind(cells: &[Option<String>]) -> ColumnKind {
    let present: Vec<&str> = cells.iter().flatten().map(String::as_str).collect();
    if present.is_empty() {
        return ColumnKind::Ignored;
    }
    if present.iter().all(|c| parse_number(c).is_some()) {
        return ColumnKind::Numeric;
    }
    let words: usize = present.iter().map(|c| c.split_whitespace().count()).sum();
    if words as f64 / present.len() as f64 >= TEXT_WORDS {
        return ColumnKind::Text;
    }
    let distinct = present.iter().collect::<HashSet<_>>().len();
    if distinct == present.len() && present.len() > 20 {
        // Every value different and short: an identifier, not a feature.
        return ColumnKind::Ignored;
    }
    ColumnKind::Categorical
}

/// A cell as a finite number, if it is one.
pub(crate) fn parse_number(cell: &str) -> Option<f64> {
    cell.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

fn check_numeric(
    cells: &[Option<String>],
    table: &Table,
    index: usize,
    file: &Path,
) -> Result<(), DataError> {
    for (row, cell) in cells.iter().enumerate() {
        if let Some(text) = cell
            && parse_number(text).is_none()
        {
            return Err(DataError::Malformed {
                at: Location {
                    file: file.to_owned(),
                    line: table.lines[row],
                    column: Some((index + 1, Some(table.names[index].clone()))),
                },
                problem: format!("{text:?} is not a number, so the column cannot be numeric"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::parse_csv;

    fn schema(
        csv: &str,
        label: Option<&str>,
        overrides: &[(String, ColumnKind)],
    ) -> Result<DatasetSchema, DataError> {
        let (table, d) = parse_csv(csv.as_bytes(), Path::new("t.csv"), None).expect("parse");
        infer_schema(
            &table,
            SourceFormat::Csv { delimiter: d },
            Path::new("t.csv"),
            label,
            overrides,
            true,
        )
    }

    fn kinds(s: &DatasetSchema) -> Vec<ColumnKind> {
        s.columns.iter().map(|c| c.kind).collect()
    }

    #[test]
    fn infers_numeric_categorical_text_and_label() {
        let s = schema(
            "age,colour,review,species\n3,red,a fine and tasty apple,x\n4.5,blue,NA,y\nNA,red,not very good at all,x\n",
            None,
            &[],
        )
        .expect("infer");
        use ColumnKind::*;
        assert_eq!(kinds(&s), [Numeric, Categorical, Text, Label]);
        assert_eq!(s.label(), Some("species"));
        assert_eq!((s.columns[0].missing, s.columns[1].distinct), (1, 2));
    }

    #[test]
    fn a_named_label_must_exist_and_names_the_columns() {
        let err = schema("a,b\n1,2\n", Some("target"), &[]).expect_err("missing label");
        assert_eq!(
            err.to_string(),
            "t.csv: line 1: there is no label column \"target\"; the columns are a, b"
        );
        assert!(schema("a,b\n1,2\n", None, &[]).is_err(), "no label at all");
    }

    #[test]
    fn overrides_win_and_are_checked() {
        use ColumnKind::*;
        let over = [
            ("year".to_string(), Categorical),
            ("name".to_string(), Label),
        ];
        let s = schema("name,year,species\nx,2007,a\ny,2008,b\n", None, &over).expect("infer");
        assert_eq!(kinds(&s), [Label, Categorical, Categorical]);
        assert_eq!(s.columns[1].inferred, Numeric);
        let err =
            schema("a,label\n1,x\nb,y\n", None, &[("a".into(), Numeric)]).expect_err("not numeric");
        assert_eq!(
            err.to_string(),
            "t.csv: line 3, column 1 (a): \"b\" is not a number, so the column cannot be numeric"
        );
        assert!(schema("a,label\n1,x\n", None, &[("zz".into(), Text)]).is_err());
    }
}
