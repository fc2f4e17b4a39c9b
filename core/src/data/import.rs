//! Importing data into a project: one transaction per import, so nothing half-imported is ever
//! left behind, and the bytes stored by content hash, so a re-import is recognised.
//!
//! The first import under a name creates the dataset and its training batch. A later import
//! under the same name adds a batch (for drift checks or scoring), read with the dataset's
//! column types and checked against its schema and expectations.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::expect::{CheckReport, ExpectationSuite};
use super::table::{ColumnKind, DatasetSchema, SourceFormat, Table};
use super::{DataError, Location, csv::parse_csv, infer::infer_schema, read_corpus_noting};
use crate::Result;
use crate::store::datasets::{self, NewBatch};
use crate::store::{BlobHash, Project, StoreError, insert_blob};

/// A dataset's id in its project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct DatasetId(pub i64);

/// A batch's id in its project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct BatchId(pub i64);

/// What a batch is for. The dataset's first import is its training batch, the one models
/// train on and whose schema later batches are checked against; later imports are monitoring
/// batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BatchRole {
    Training,
    Monitoring,
    /// Traffic replayed through two versions of a model.
    Traffic,
}

impl BatchRole {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchRole::Training => "training",
            BatchRole::Monitoring => "monitoring",
            BatchRole::Traffic => "traffic",
        }
    }
}

impl std::str::FromStr for BatchRole {
    type Err = String;

    fn from_str(s: &str) -> Result<BatchRole, String> {
        match s {
            "training" => Ok(BatchRole::Training),
            "monitoring" => Ok(BatchRole::Monitoring),
            "traffic" => Ok(BatchRole::Traffic),
            other => Err(format!(
                "{other:?} is not a batch role: use training, monitoring or traffic"
            )),
        }
    }
}

impl std::fmt::Display for BatchRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to import: all optional, with sensible defaults.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The dataset's name (default: the file or folder name without extension).
    pub name: Option<String>,
    /// The label column (default: a column named label, class, target, species, ...).
    pub label: Option<String>,
    /// Column types that override inference.
    pub kinds: Vec<(String, ColumnKind)>,
}

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportOutcome {
    pub dataset: DatasetId,
    pub batch: BatchId,
    pub name: String,
    pub content_hash: BlobHash,
    pub schema: DatasetSchema,
    /// The same bytes were already in the project: nothing was written.
    pub already_imported: bool,
    /// The data became a new batch of an existing dataset.
    pub added_batch: bool,
    /// The expectations (and, for a new batch, the schema check) on this data.
    pub check: CheckReport,
    /// What the user may not expect: the label guessed from a column's name, a numeric-looking
    /// column read as categorical, empty corpus files or folders.
    pub notices: Vec<String>,
}

/// A dataset as `kiln datasets` lists it: its training batch.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetSummary {
    pub id: DatasetId,
    pub name: String,
    pub source: String,
    pub rows: usize,
    pub columns: usize,
    /// Every column's name, in the file's order (the label among them).
    pub column_names: Vec<String>,
    pub label: Option<String>,
    pub batches: u64,
    pub content_hash: String,
    pub created_at: i64,
}

/// A batch read back from the project.
#[derive(Debug, Clone)]
pub struct LoadedBatch {
    pub dataset: DatasetId,
    pub batch: BatchId,
    pub name: String,
    pub content_hash: BlobHash,
    pub schema: DatasetSchema,
    pub table: Table,
}

/// A new batch of an existing dataset, read and checked but not stored yet.
#[derive(Debug, Clone)]
pub(crate) struct PreparedBatch {
    pub dataset: DatasetId,
    /// The batch that already holds these bytes, if any.
    pub existing: Option<BatchId>,
    pub content_hash: BlobHash,
    bytes: Vec<u8>,
    pub source: String,
    pub schema: DatasetSchema,
    /// The schema check and the dataset's expectations, on this batch.
    pub check: CheckReport,
    pub table: Table,
}

/// Data read from disk, before it is stored.
struct Incoming {
    bytes: Vec<u8>,
    table: Table,
    source: SourceFormat,
    forced: Vec<(String, ColumnKind)>,
    notices: Vec<String>,
}

impl Project {
    /// Imports a CSV file, or a text corpus folder, as `options` say.
    pub fn import(&mut self, path: &Path, options: &ImportOptions) -> Result<ImportOutcome> {
        let incoming = read_source(path)?;
        self.import_incoming(path, incoming, options)
    }

    /// Imports CSV bytes that did not come from a file (`source` names them in messages).
    pub fn import_csv_bytes(
        &mut self,
        source: &str,
        bytes: &[u8],
        options: &ImportOptions,
    ) -> Result<ImportOutcome> {
        let path = Path::new(source);
        let incoming = csv_bytes(bytes.to_vec(), path)?;
        self.import_incoming(path, incoming, options)
    }

    fn import_incoming(
        &mut self,
        path: &Path,
        incoming: Incoming,
        options: &ImportOptions,
    ) -> Result<ImportOutcome> {
        let hash = BlobHash::of(&incoming.bytes);
        let name = options.name.clone().unwrap_or_else(|| default_name(path));
        let existing = self.dataset_id(&name)?;
        // The same bytes in the same dataset: nothing to do, unless other types were asked for,
        // which a dataset cannot change.
        if let Some(batch) = self.batch_with_hash(&hash, existing)? {
            let loaded = self.load_batch(batch)?;
            check_same_kinds(&loaded, path, options)?;
            let check = self
                .expectations_by_id(loaded.dataset)?
                .check(&loaded.table, None);
            return Ok(outcome(loaded, true, false, check, Vec::new()));
        }
        let mut kinds = incoming.forced.clone();
        kinds.extend(options.kinds.iter().cloned());
        let mut notices = incoming.notices.clone();
        check_names(&incoming.table, path)?;
        let (schema, check, role) = match existing {
            None => {
                let schema = infer_schema(
                    &incoming.table,
                    incoming.source,
                    path,
                    options.label.as_deref(),
                    &kinds,
                    true,
                )?;
                check_labels(&incoming.table, &schema, path)?;
                notices.extend(schema_notices(&incoming.table, &schema, options, &kinds));
                (
                    schema,
                    ExpectationSuite::default().check(&incoming.table, None),
                    BatchRole::Training,
                )
            }
            Some(id) => {
                let expected = self.stored_schema(self.training_batch(id)?)?;
                let schema = batch_schema(&incoming, path, &expected, &kinds)?;
                let check = self
                    .expectations_by_id(id)?
                    .check(&incoming.table, Some(&expected));
                (schema, check, BatchRole::Monitoring)
            }
        };
        let source = path.display().to_string();
        let (dataset, batch) = self.write(|tx| {
            insert_blob(tx, &hash, &incoming.bytes)?;
            let dataset = match existing {
                Some(id) => id,
                None => datasets::insert_dataset(tx, &name)?,
            };
            let batch = datasets::insert_batch(
                tx,
                &NewBatch {
                    dataset,
                    role,
                    source: &source,
                    format: format_name(schema.source),
                    content_hash: &hash,
                    schema: &schema,
                },
            )?;
            datasets::insert_check_report(tx, batch, &check)?;
            Ok((dataset, batch))
        })?;
        let table = incoming.table;
        let loaded = LoadedBatch {
            dataset,
            batch,
            name,
            content_hash: hash,
            schema,
            table,
        };
        Ok(outcome(loaded, false, existing.is_some(), check, notices))
    }

    /// Reads a new batch of dataset `name` and checks it against the dataset's schema and
    /// expectations, writing nothing: a command that stores the batch with more (a monitoring
    /// report) stores both in one transaction with [`Project::store_batch`].
    pub(crate) fn prepare_batch(&self, path: &Path, name: &str) -> Result<PreparedBatch> {
        let incoming = read_source(path)?;
        self.prepare_incoming(path, incoming, name)
    }

    /// [`Project::prepare_batch`] for CSV bytes that did not come from a file (`source` names
    /// them in messages).
    pub(crate) fn prepare_batch_bytes(
        &self,
        source: &str,
        bytes: &[u8],
        name: &str,
    ) -> Result<PreparedBatch> {
        let path = Path::new(source);
        let incoming = csv_bytes(bytes.to_vec(), path)?;
        self.prepare_incoming(path, incoming, name)
    }

    fn prepare_incoming(
        &self,
        path: &Path,
        incoming: Incoming,
        name: &str,
    ) -> Result<PreparedBatch> {
        let dataset = self
            .dataset_id(name)?
            .ok_or_else(|| self.no_dataset(name))?;
        check_names(&incoming.table, path)?;
        let content_hash = BlobHash::of(&incoming.bytes);
        let existing = self.batch_with_hash(&content_hash, Some(dataset))?;
        let expected = self.stored_schema(self.training_batch(dataset)?)?;
        let schema = batch_schema(&incoming, path, &expected, &incoming.forced)?;
        let check = self
            .expectations_by_id(dataset)?
            .check(&incoming.table, Some(&expected));
        Ok(PreparedBatch {
            dataset,
            existing,
            content_hash,
            bytes: incoming.bytes,
            source: path.display().to_string(),
            schema,
            check,
            table: incoming.table,
        })
    }

    /// Stores a prepared batch in `role` (nothing when the dataset already holds its bytes),
    /// with its check report.
    pub(crate) fn store_batch(
        &mut self,
        batch: &PreparedBatch,
        role: BatchRole,
    ) -> Result<BatchId> {
        if let Some(id) = batch.existing {
            return Ok(id);
        }
        self.write(|tx| {
            insert_blob(tx, &batch.content_hash, &batch.bytes)?;
            let id = datasets::insert_batch(
                tx,
                &NewBatch {
                    dataset: batch.dataset,
                    role,
                    source: &batch.source,
                    format: format_name(batch.schema.source),
                    content_hash: &batch.content_hash,
                    schema: &batch.schema,
                },
            )?;
            datasets::insert_check_report(tx, id, &batch.check)?;
            Ok(id)
        })
    }

    /// Every dataset, by name.
    pub fn datasets(&self) -> Result<Vec<DatasetSummary>> {
        self.read(datasets::datasets)?
            .into_iter()
            .map(|row| {
                let schema = self.parse_schema(&row.schema_json, row.batch.0)?;
                Ok(DatasetSummary {
                    id: row.id,
                    name: row.name,
                    source: row.source,
                    rows: row.rows.max(0) as usize,
                    columns: schema.columns.len(),
                    column_names: schema.columns.iter().map(|c| c.name.clone()).collect(),
                    label: schema.label().map(str::to_owned),
                    batches: row.batches.max(0) as u64,
                    content_hash: row.content_hash,
                    created_at: row.created_at,
                })
            })
            .collect()
    }

    /// The training batch of dataset `name`, read back.
    pub fn load_dataset(&self, name: &str) -> Result<LoadedBatch> {
        let id = self
            .dataset_id(name)?
            .ok_or_else(|| self.no_dataset(name))?;
        self.load_batch(self.training_batch(id)?)
    }

    /// The newest batch of dataset `name`, read back.
    pub fn load_latest_batch(&self, name: &str) -> Result<LoadedBatch> {
        let id = self
            .dataset_id(name)?
            .ok_or_else(|| self.no_dataset(name))?;
        let batch = self
            .read(|c| datasets::latest_batch(c, id))?
            .ok_or_else(|| self.no_batch(id, "batch"))?;
        self.load_batch(batch)
    }

    /// One batch, read back from its stored bytes with its stored schema.
    pub fn load_batch(&self, batch: BatchId) -> Result<LoadedBatch> {
        let row = self.batch_row(batch)?;
        let schema = self.parse_schema(&row.schema_json, batch.0)?;
        let content_hash = row.content_hash;
        let bytes = self
            .blob(&content_hash)?
            .ok_or_else(|| StoreError::Corrupt {
                path: self.path().to_owned(),
                reason: format!("the data of batch {} is missing", batch.0),
            })?;
        let (table, _) = parse_csv(&bytes, Path::new(&row.source), Some(schema.delimiter()))?;
        Ok(LoadedBatch {
            dataset: row.dataset,
            batch,
            name: row.name,
            content_hash,
            schema,
            table,
        })
    }

    /// A batch's stored row: everything but its data.
    fn batch_row(&self, batch: BatchId) -> Result<datasets::BatchRow> {
        self.read(|c| datasets::batch(c, batch))?.ok_or_else(|| {
            StoreError::Missing {
                path: self.path().to_owned(),
                what: "batch",
                id: batch.0.to_string(),
            }
            .into()
        })
    }

    /// A batch's schema, without reading its data.
    fn stored_schema(&self, batch: BatchId) -> Result<DatasetSchema> {
        self.parse_schema(&self.batch_row(batch)?.schema_json, batch.0)
    }

    /// Declares the expectations of dataset `name`, replacing any earlier ones.
    pub fn set_expectations(&mut self, name: &str, suite: &ExpectationSuite) -> Result<()> {
        let id = self
            .dataset_id(name)?
            .ok_or_else(|| self.no_dataset(name))?;
        let text = suite.to_toml();
        self.write(|tx| datasets::set_expectations(tx, id, &text))
    }

    /// The expectations declared for dataset `name` (none yet is an empty suite).
    pub fn expectations(&self, name: &str) -> Result<ExpectationSuite> {
        let id = self
            .dataset_id(name)?
            .ok_or_else(|| self.no_dataset(name))?;
        self.expectations_by_id(id)
    }

    /// The newest stored check report of dataset `name`'s newest batch, if it was ever checked.
    pub fn last_check(&self, name: &str) -> Result<Option<CheckReport>> {
        let id = self
            .dataset_id(name)?
            .ok_or_else(|| self.no_dataset(name))?;
        let json = self.read(|c| datasets::last_check_report(c, id))?;
        json.map(|j| self.stored_json(&format!("the last check of dataset {name:?}"), &j))
            .transpose()
    }

    /// Runs the schema check and the expectations on the newest batch of dataset `name`, and
    /// stores the report with the batch.
    pub fn check_dataset(&mut self, name: &str) -> Result<CheckReport> {
        let latest = self.load_latest_batch(name)?;
        let training = self.training_batch(latest.dataset)?;
        // A later batch is checked against the training batch's schema, read without its data.
        let expected = if training == latest.batch {
            None
        } else {
            Some(self.stored_schema(training)?)
        };
        let report = self
            .expectations_by_id(latest.dataset)?
            .check(&latest.table, expected.as_ref());
        self.write(|tx| datasets::insert_check_report(tx, latest.batch, &report))?;
        Ok(report)
    }

    /// Changes the type of one column of dataset `name`, checking that the data allows it.
    pub fn set_column_kind(
        &mut self,
        name: &str,
        column: &str,
        kind: ColumnKind,
    ) -> Result<DatasetSchema> {
        let loaded = self.load_dataset(name)?;
        let mut kinds: Vec<(String, ColumnKind)> = loaded
            .schema
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.kind))
            .filter(|(n, _)| n != column)
            .collect();
        kinds.push((column.to_owned(), kind));
        let label = kinds
            .iter()
            .rev()
            .find(|(_, k)| *k == ColumnKind::Label)
            .map(|(n, _)| n.clone());
        let file = PathBuf::from(&loaded.name);
        let mut schema = infer_schema(
            &loaded.table,
            loaded.schema.source,
            &file,
            label.as_deref(),
            &kinds,
            false,
        )?;
        for (col, old) in schema.columns.iter_mut().zip(&loaded.schema.columns) {
            col.inferred = old.inferred;
        }
        self.write(|tx| datasets::set_batch_schema(tx, loaded.batch, &schema))?;
        Ok(schema)
    }

    fn expectations_by_id(&self, id: DatasetId) -> Result<ExpectationSuite> {
        let text = self.read(|c| datasets::expectations(c, id))?;
        match text {
            Some(text) => Ok(ExpectationSuite::from_toml(&text)?),
            None => Ok(ExpectationSuite::default()),
        }
    }

    fn dataset_id(&self, name: &str) -> Result<Option<DatasetId>> {
        self.read(|c| datasets::dataset_id(c, name))
    }

    /// The batch models train on: the one imported in the training role (the dataset's first
    /// import).
    fn training_batch(&self, id: DatasetId) -> Result<BatchId> {
        self.read(|c| datasets::batch_in_role(c, id, BatchRole::Training))?
            .ok_or_else(|| self.no_batch(id, "training batch"))
    }

    /// The first batch of `dataset` (if it exists) that holds exactly these bytes.
    fn batch_with_hash(
        &self,
        hash: &BlobHash,
        dataset: Option<DatasetId>,
    ) -> Result<Option<BatchId>> {
        let Some(dataset) = dataset else {
            return Ok(None);
        };
        self.read(|c| datasets::batch_with_hash(c, dataset, hash))
    }

    fn parse_schema(&self, json: &str, batch: i64) -> Result<DatasetSchema> {
        serde_json::from_str(json).map_err(|e| {
            StoreError::Corrupt {
                path: self.path().to_owned(),
                reason: format!("batch {batch} has an unreadable schema: {e}"),
            }
            .into()
        })
    }

    /// A dataset without the batch every dataset has: the file was changed by hand.
    fn no_batch(&self, dataset: DatasetId, what: &str) -> crate::Error {
        StoreError::Corrupt {
            path: self.path().to_owned(),
            reason: format!("dataset {} has no {what}", dataset.0),
        }
        .into()
    }

    fn no_dataset(&self, name: &str) -> crate::Error {
        StoreError::Missing {
            path: self.path().to_owned(),
            what: "dataset",
            id: format!("{name:?}"),
        }
        .into()
    }
}

/// CSV bytes that did not come from a file; `path` names them in messages.
fn csv_bytes(bytes: Vec<u8>, path: &Path) -> Result<Incoming, DataError> {
    let (table, delimiter) = parse_csv(&bytes, path, None)?;
    Ok(Incoming {
        bytes,
        table,
        source: SourceFormat::Csv { delimiter },
        forced: Vec::new(),
        notices: Vec::new(),
    })
}

fn read_source(path: &Path) -> Result<Incoming, DataError> {
    if path.is_dir() {
        let (table, notices) = read_corpus_noting(path)?;
        let forced = vec![
            ("text".to_owned(), ColumnKind::Text),
            ("label".to_owned(), ColumnKind::Label),
        ];
        return Ok(Incoming {
            bytes: corpus_bytes(&table),
            table,
            source: SourceFormat::TextCorpus,
            forced,
            notices,
        });
    }
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        file: path.to_owned(),
        source,
    })?;
    csv_bytes(bytes, path)
}

/// A table as CSV bytes: its header, then its rows, `\n` line ends.
pub fn table_csv(table: &Table) -> Vec<u8> {
    corpus_bytes(table)
}

/// A corpus in its canonical stored form: a two-column CSV with `\n` line ends, so the same
/// folder always hashes the same.
fn corpus_bytes(table: &Table) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(&mut out);
        let _ = writer.write_record(&table.names);
        for row in 0..table.rows() {
            let cells = table
                .columns
                .iter()
                .map(|c| c[row].as_deref().unwrap_or(""));
            let _ = writer.write_record(cells);
        }
        let _ = writer.flush();
    }
    out
}

/// A new batch's schema: the dataset's kinds for the columns they share, inferred for others.
fn batch_schema(
    incoming: &Incoming,
    path: &Path,
    expected: &DatasetSchema,
    overrides: &[(String, ColumnKind)],
) -> Result<DatasetSchema, DataError> {
    let mut kinds: Vec<(String, ColumnKind)> = expected
        .columns
        .iter()
        .filter(|c| incoming.table.column_index(&c.name).is_some() && c.kind != ColumnKind::Numeric)
        .map(|c| (c.name.clone(), c.kind))
        .collect();
    kinds.extend(overrides.iter().cloned());
    let label = expected
        .label()
        .filter(|l| incoming.table.column_index(l).is_some());
    infer_schema(&incoming.table, incoming.source, path, label, &kinds, false)
}

fn outcome(
    loaded: LoadedBatch,
    already_imported: bool,
    added_batch: bool,
    check: CheckReport,
    notices: Vec<String>,
) -> ImportOutcome {
    ImportOutcome {
        notices,
        dataset: loaded.dataset,
        batch: loaded.batch,
        name: loaded.name,
        content_hash: loaded.content_hash,
        schema: loaded.schema,
        already_imported,
        added_batch,
        check,
    }
}

/// A re-import of data a dataset already holds may not ask for other types or another label:
/// they would be silently ignored, so the request is refused with what to do instead.
fn check_same_kinds(loaded: &LoadedBatch, path: &Path, options: &ImportOptions) -> Result<()> {
    let kind_of = |column: &str| {
        loaded
            .schema
            .columns
            .iter()
            .find(|c| c.name == column)
            .map(|c| c.kind)
    };
    let mut asked: Vec<(String, ColumnKind)> = options.kinds.clone();
    if let Some(label) = &options.label {
        asked.push((label.clone(), ColumnKind::Label));
    }
    for (column, kind) in asked {
        if kind_of(&column) != Some(kind) {
            let has = kind_of(&column).map_or("no such column".to_string(), |k| k.to_string());
            return Err(DataError::Invalid(format!(
                "{}: dataset {:?} already holds this data, with column {column:?} as {has}; a dataset's types cannot change, so import it under a new --name to read {column:?} as {kind}",
                path.display(),
                loaded.name
            ))
            .into());
        }
    }
    Ok(())
}

/// Column names become feature names, JSON keys and Markdown: no control characters.
fn check_names(table: &Table, path: &Path) -> Result<()> {
    for (index, name) in table.names.iter().enumerate() {
        if name.chars().any(char::is_control) {
            return Err(DataError::Malformed {
                at: Location {
                    file: path.to_owned(),
                    line: 1,
                    column: Some((index + 1, None)),
                },
                problem: format!(
                    "the column name {name:?} holds a line break, tab or other control character; rename the column"
                ),
            }
            .into());
        }
    }
    Ok(())
}

/// Labels become lines of Triton's `labels.txt`, CSV headers and model cards: each must be
/// one line without surrounding spaces, or a server would answer with another label.
fn check_labels(table: &Table, schema: &DatasetSchema, path: &Path) -> Result<()> {
    let Some(label) = schema.label() else {
        return Ok(());
    };
    let Some(index) = table.column_index(label) else {
        return Ok(());
    };
    for (row, cell) in table.columns[index].iter().enumerate() {
        let Some(value) = cell else { continue };
        let problem = if value.chars().any(char::is_control) {
            "holds a line break, tab or other control character"
        } else if value.trim() != value {
            "begins or ends with a space"
        } else {
            continue;
        };
        return Err(DataError::Malformed {
            at: Location {
                file: path.to_owned(),
                line: table.lines[row],
                column: Some((index + 1, Some(label.to_owned()))),
            },
            problem: format!(
                "the label {value:?} {problem}, which Triton's labels.txt cannot carry; fix the value"
            ),
        }
        .into());
    }
    Ok(())
}

/// What inference decided that a user may not expect.
fn schema_notices(
    table: &Table,
    schema: &DatasetSchema,
    options: &ImportOptions,
    kinds: &[(String, ColumnKind)],
) -> Vec<String> {
    let mut notices = Vec::new();
    let chosen = options.label.is_some() || kinds.iter().any(|(_, k)| *k == ColumnKind::Label);
    if let (Some(label), false) = (schema.label(), chosen) {
        notices.push(format!(
            "the label is column {label:?}, chosen by its name; name another with --label COLUMN"
        ));
    }
    for (index, column) in schema.columns.iter().enumerate() {
        if column.inferred != ColumnKind::Categorical {
            continue;
        }
        let cells = &table.columns[index];
        let all_numbers = cells
            .iter()
            .flatten()
            .all(|c| c.trim().parse::<f64>().is_ok());
        let odd = cells.iter().enumerate().find_map(|(row, c)| {
            let c = c.as_deref()?;
            let v = c.trim().parse::<f64>().ok()?;
            (!v.is_finite()).then(|| (table.lines[row], c.to_owned()))
        });
        if let (true, Some((line, value))) = (all_numbers, odd) {
            notices.push(format!(
                "column {:?} looks numeric but was read as categorical: {value:?} on line {line} is infinite or not a number; fix that value, or keep the column categorical",
                column.name
            ));
        }
    }
    notices
}

fn default_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".into())
}

fn format_name(source: SourceFormat) -> &'static str {
    match source {
        SourceFormat::Csv { .. } => "csv",
        SourceFormat::TextCorpus => "text-corpus",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Rule;

    fn asset(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../assets")
            .join(name)
    }

    fn project() -> (tempfile::TempDir, Project) {
        let dir = tempfile::tempdir().expect("dir");
        let project = Project::create(dir.path().join("data.kiln"), "data").expect("create");
        (dir, project)
    }

    fn batches(p: &Project) -> u64 {
        p.info().expect("info").dataset_batches
    }

    #[test]
    fn the_penguins_import_with_inferred_types_and_a_reimport_is_recognised() {
        let (_dir, mut p) = project();
        let first = p
            .import(&asset("penguins.csv"), &ImportOptions::default())
            .expect("import");
        assert!(!first.already_imported);
        assert_eq!((first.name.as_str(), first.schema.rows), ("penguins", 344));
        let kinds: Vec<(&str, ColumnKind)> = first
            .schema
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.kind))
            .collect();
        use ColumnKind::*;
        assert_eq!(
            kinds,
            [
                ("species", Label),
                ("island", Categorical),
                ("bill_length_mm", Numeric),
                ("bill_depth_mm", Numeric),
                ("flipper_length_mm", Numeric),
                ("body_mass_g", Numeric),
                ("sex", Categorical),
                ("year", Numeric)
            ]
        );
        assert_eq!(first.schema.column("sex").map(|c| c.missing), Some(11));
        let again = p
            .import(
                &asset("penguins.csv"),
                &ImportOptions {
                    name: Some("other".into()),
                    ..Default::default()
                },
            )
            .expect("again");
        // The same bytes under another name make that dataset, sharing the stored bytes.
        assert!(!again.already_imported);
        assert_eq!(again.name, "other");
        assert_eq!(again.content_hash, first.content_hash);
        assert_eq!(batches(&p), 2);
        assert_eq!(p.info().expect("info").blobs, 1);
        let same = p
            .import(&asset("penguins.csv"), &ImportOptions::default())
            .expect("same");
        assert!(same.already_imported);
        assert_eq!((same.name.as_str(), same.batch), ("penguins", first.batch));
        let loaded = p.load_dataset("penguins").expect("load");
        assert_eq!(loaded.table.rows(), 344);
        assert_eq!(loaded.content_hash, first.content_hash);
        let listed = p.datasets().expect("list");
        assert_eq!(
            (
                listed.len(),
                listed[1].name.as_str(),
                listed[1].label.as_deref()
            ),
            (2, "penguins", Some("species"))
        );
    }

    #[test]
    fn the_fortunes_corpus_imports_as_text_and_label() {
        let (_dir, mut p) = project();
        let out = p
            .import(&asset("fortunes"), &ImportOptions::default())
            .expect("import");
        assert_eq!(out.schema.rows, 625);
        assert_eq!(out.schema.source, SourceFormat::TextCorpus);
        assert_eq!(
            out.schema.column("text").map(|c| c.kind),
            Some(ColumnKind::Text)
        );
        assert_eq!(out.schema.label(), Some("label"));
        let loaded = p.load_dataset("fortunes").expect("load");
        let direct = crate::data::read_corpus(&asset("fortunes")).expect("read");
        assert_eq!(
            (&loaded.table.names, &loaded.table.columns),
            (&direct.names, &direct.columns)
        );
        assert!(
            p.import(&asset("fortunes"), &ImportOptions::default())
                .expect("again")
                .already_imported
        );
    }

    #[test]
    fn a_failed_import_leaves_nothing_behind() {
        let (dir, mut p) = project();
        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, "a,label\n1,x\n2\n").expect("write");
        assert!(p.import(&bad, &ImportOptions::default()).is_err());
        let no_label = dir.path().join("nolabel.csv");
        std::fs::write(&no_label, "a,b\n1,x\n").expect("write");
        let err = p
            .import(
                &no_label,
                &ImportOptions {
                    label: Some("target".into()),
                    ..Default::default()
                },
            )
            .expect_err("label");
        assert!(
            err.to_string()
                .contains("nolabel.csv: line 1: there is no label column \"target\""),
            "{err}"
        );
        let info = p.info().expect("info");
        assert_eq!((info.datasets, info.dataset_batches, info.blobs), (0, 0, 0));
    }

    #[test]
    fn a_new_batch_is_checked_against_the_schema_and_the_expectations() {
        let (dir, mut p) = project();
        let train = dir.path().join("train.csv");
        std::fs::write(&train, "size,colour,label\n1,red,a\n2,blue,b\n3,red,a\n").expect("write");
        p.import(&train, &ImportOptions::default()).expect("import");
        let suite = ExpectationSuite {
            expectations: vec![crate::data::Expectation {
                column: "size".into(),
                rule: Rule::InRange {
                    min: Some(0.0),
                    max: Some(5.0),
                },
            }],
        };
        p.set_expectations("train", &suite).expect("suite");
        assert_eq!(p.expectations("train").expect("read back"), suite);
        assert!(p.check_dataset("train").expect("check").passed());

        let batch = dir.path().join("week2.csv");
        std::fs::write(&batch, "size,colour\n4,red\n9,green\nlarge,red\n").expect("write");
        let out = p
            .import(
                &batch,
                &ImportOptions {
                    name: Some("train".into()),
                    ..Default::default()
                },
            )
            .expect("batch");
        assert!(out.added_batch && !out.already_imported);
        let failures: Vec<(&str, usize, Vec<usize>)> = out
            .check
            .failures()
            .map(|r| (r.rule.as_str(), r.failing, r.first_failing_rows.clone()))
            .collect();
        assert_eq!(
            failures,
            [
                ("schema: numeric", 1, vec![3]),
                ("in_range [0, 5]", 2, vec![2, 3])
            ]
        );
        assert_eq!(
            p.check_dataset("train").expect("check").results,
            out.check.results
        );
        let reports = p.read(datasets::testing_count_check_reports).expect("n");
        assert_eq!(reports, 4);
    }

    #[test]
    fn the_training_batch_is_the_one_whose_role_says_so_not_the_first() {
        let (_dir, mut p) = project();
        let stored = |p: &mut Project, text: &str| {
            let bytes = text.as_bytes().to_vec();
            let (table, delimiter) = parse_csv(&bytes, Path::new("d.csv"), None).expect("csv");
            let source = SourceFormat::Csv { delimiter };
            let schema =
                infer_schema(&table, source, Path::new("d.csv"), None, &[], true).expect("schema");
            let hash = BlobHash::of(&bytes);
            p.write(|tx| insert_blob(tx, &hash, &bytes)).expect("blob");
            (hash, schema)
        };
        let (monitoring_hash, monitoring_schema) = stored(&mut p, "size,label\n1,a\n2,b\n3,a\n");
        let (training_hash, training_schema) = stored(&mut p, "size,label\n4,a\n5,b\n");
        let (first, training) = p
            .write(|tx| {
                let dataset = datasets::insert_dataset(tx, "d")?;
                let batch = |role, content_hash, schema| NewBatch {
                    dataset,
                    role,
                    source: "d.csv",
                    format: "csv",
                    content_hash,
                    schema,
                };
                let first = datasets::insert_batch(
                    tx,
                    &batch(BatchRole::Monitoring, &monitoring_hash, &monitoring_schema),
                )?;
                let training = datasets::insert_batch(
                    tx,
                    &batch(BatchRole::Training, &training_hash, &training_schema),
                )?;
                Ok((first, training))
            })
            .expect("batches");
        assert!(first.0 < training.0);
        let loaded = p.load_dataset("d").expect("load");
        assert_eq!((loaded.batch, loaded.table.rows()), (training, 2));
        let listed = p.datasets().expect("list");
        assert_eq!(
            (
                listed[0].rows,
                listed[0].batches,
                listed[0].content_hash.as_str()
            ),
            (2, 2, training_hash.as_str())
        );
        assert_eq!(p.load_latest_batch("d").expect("latest").batch, training);
    }

    #[test]
    fn batch_roles_read_back_as_written() {
        for role in [BatchRole::Training, BatchRole::Monitoring] {
            assert_eq!(role.as_str().parse::<BatchRole>(), Ok(role));
        }
        assert!("holdout".parse::<BatchRole>().is_err());
    }

    #[test]
    fn types_can_be_overridden_on_import_and_later() {
        let (_dir, mut p) = project();
        let options = ImportOptions {
            kinds: vec![("year".into(), ColumnKind::Categorical)],
            ..Default::default()
        };
        let out = p.import(&asset("penguins.csv"), &options).expect("import");
        assert_eq!(
            out.schema.column("year").map(|c| (c.kind, c.inferred)),
            Some((ColumnKind::Categorical, ColumnKind::Numeric))
        );
        let schema = p
            .set_column_kind("penguins", "sex", ColumnKind::Ignored)
            .expect("set");
        assert_eq!(
            schema.column("sex").map(|c| c.kind),
            Some(ColumnKind::Ignored)
        );
        assert_eq!(p.load_dataset("penguins").expect("load").schema, schema);
        let err = p
            .set_column_kind("penguins", "island", ColumnKind::Numeric)
            .expect_err("not numeric");
        assert!(err.to_string().contains("column 2 (island)"), "{err}");
        assert!(p.set_column_kind("nope", "x", ColumnKind::Text).is_err());
    }
}
