//! Data: importing CSV files and text corpora into a project, inferring column types, splitting
//! rows for training, and checking expectations on every batch.
//!
//! A dataset is stored as content-addressed bytes plus a schema, so every run can name the
//! exact data it used. The same table type serves the training data, a new batch checked for
//! drift, and a traffic file replayed later.

mod corpus;
mod csv;
pub mod expect;
mod import;
mod infer;
pub mod split;
mod table;

pub use corpus::{read_corpus, read_corpus_noting};
pub use csv::parse_csv;
pub use expect::{CheckReport, Expectation, ExpectationSuite, Rule, RuleResult};
pub use import::{
    BatchId, BatchRole, DatasetId, DatasetSummary, ImportOptions, ImportOutcome, LoadedBatch,
    table_csv,
};
pub use infer::infer_schema;
pub(crate) use infer::parse_number;
pub use split::{Split, SplitSpec, stratified_split};
pub use table::{ColumnKind, ColumnSchema, DatasetSchema, SourceFormat, Table, is_missing};

use std::path::PathBuf;

/// Where in a file something went wrong: 1-based line and column, as an editor shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: u64,
    /// The CSV column (1-based) and its header name where known.
    pub column: Option<(usize, Option<String>)>,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: line {}", self.file.display(), self.line)?;
        match &self.column {
            Some((n, Some(name))) => write!(f, ", column {n} ({name})"),
            Some((n, None)) => write!(f, ", column {n}"),
            None => Ok(()),
        }
    }
}

/// A failure to read or import data. Each names the file, line and column, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{at}: {problem}")]
    Malformed { at: Location, problem: String },

    #[error("{at}: the text is not valid UTF-8 (byte {byte} of the field); save the file as UTF-8")]
    BadUtf8 { at: Location, byte: usize },

    #[error("{}: {what}; nothing to import", file.display())]
    Empty { file: PathBuf, what: String },

    #[error("{at}: there is no label column {wanted:?}; the columns are {}", available.join(", "))]
    MissingLabel {
        at: Location,
        wanted: String,
        available: Vec<String>,
    },

    #[error("{}: {source}{}", file.display(), crate::store::io_advice(source))]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },

    #[error("{0}")]
    Invalid(String),
}
