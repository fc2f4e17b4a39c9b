//! The in-memory table every importer produces and every consumer (features, expectations,
//! prediction) reads, and the schema stored with it.

use serde::{Deserialize, Serialize};

/// What a column is for. Inferred on import; a user may override any of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    /// Numbers: standardised.
    Numeric,
    /// A few distinct values: one-hot encoded.
    Categorical,
    /// Free text: TF-IDF.
    Text,
    /// The class to predict.
    Label,
    /// Kept in the data (for fairness groups, say) but not a feature.
    Ignored,
}

impl ColumnKind {
    pub const ALL: [ColumnKind; 5] = [
        ColumnKind::Numeric,
        ColumnKind::Categorical,
        ColumnKind::Text,
        ColumnKind::Label,
        ColumnKind::Ignored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ColumnKind::Numeric => "numeric",
            ColumnKind::Categorical => "categorical",
            ColumnKind::Text => "text",
            ColumnKind::Label => "label",
            ColumnKind::Ignored => "ignored",
        }
    }
}

impl std::fmt::Display for ColumnKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ColumnKind {
    type Err = String;

    fn from_str(s: &str) -> Result<ColumnKind, String> {
        ColumnKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown column type {s:?}: use numeric, categorical, text, label or ignored"
                )
            })
    }
}

/// One column of the schema, with what inference saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSchema {
    pub name: String,
    pub kind: ColumnKind,
    /// What inference chose, kept when a user overrides `kind`.
    pub inferred: ColumnKind,
    pub missing: usize,
    pub distinct: usize,
}

/// How the stored bytes are to be read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "kebab-case")]
pub enum SourceFormat {
    Csv {
        delimiter: u8,
    },
    /// A folder of one sub-folder per class, stored as a two-column CSV (`text`, `label`).
    TextCorpus,
}

/// A dataset batch's schema: its columns, their kinds, and how to read its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSchema {
    pub source: SourceFormat,
    pub rows: usize,
    pub columns: Vec<ColumnSchema>,
}

impl DatasetSchema {
    /// The label column's name, if the data has one.
    pub fn label(&self) -> Option<&str> {
        self.columns
            .iter()
            .find(|c| c.kind == ColumnKind::Label)
            .map(|c| c.name.as_str())
    }

    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The stored bytes' delimiter: a corpus is stored as comma-separated values.
    pub fn delimiter(&self) -> u8 {
        match self.source {
            SourceFormat::Csv { delimiter } => delimiter,
            SourceFormat::TextCorpus => b',',
        }
    }
}

/// Rows of optional strings, column by column. A missing cell is `None`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub names: Vec<String>,
    pub columns: Vec<Vec<Option<String>>>,
    /// The source line where each row starts, for messages.
    pub lines: Vec<u64>,
}

impl Table {
    pub fn rows(&self) -> usize {
        self.lines.len()
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    pub fn column(&self, name: &str) -> Option<&[Option<String>]> {
        self.column_index(name).map(|i| self.columns[i].as_slice())
    }
}

/// Whether a raw cell means "no value": empty, or one of the spellings tools write for it.
pub fn is_missing(cell: &str) -> bool {
    matches!(
        cell.trim(),
        "" | "NA" | "N/A" | "n/a" | "NaN" | "nan" | "null" | "NULL" | "None" | "?"
    )
}
