//! Storage of datasets: their batches, expectation suites and check reports.

use rusqlite::{Connection, OptionalExtension, params};

use super::{BlobHash, to_json};
use crate::data::{BatchId, BatchRole, CheckReport, DatasetId, DatasetSchema};
use crate::now_ms;

/// A dataset with its training batch, as the list of datasets shows it.
pub(crate) struct DatasetRow {
    pub id: DatasetId,
    pub name: String,
    pub created_at: i64,
    pub batches: i64,
    pub batch: BatchId,
    pub source: String,
    pub schema_json: String,
    pub rows: i64,
    pub content_hash: String,
}

/// One stored batch with its dataset's name.
pub(crate) struct BatchRow {
    pub dataset: DatasetId,
    pub name: String,
    pub source: String,
    pub content_hash: BlobHash,
    pub schema_json: String,
}

/// A batch about to be inserted. Its bytes must be stored as a blob in the same transaction.
pub(crate) struct NewBatch<'a> {
    pub dataset: DatasetId,
    pub role: BatchRole,
    pub source: &'a str,
    /// `csv`, `text-corpus`, ...
    pub format: &'a str,
    pub content_hash: &'a BlobHash,
    pub schema: &'a DatasetSchema,
}

/// The id of dataset `name`, if it exists.
pub(crate) fn dataset_id(c: &Connection, name: &str) -> rusqlite::Result<Option<DatasetId>> {
    c.query_row("SELECT id FROM datasets WHERE name = ?1", [name], |r| {
        r.get(0)
    })
    .optional()
    .map(|id| id.map(DatasetId))
}

/// Inserts an empty dataset called `name`.
pub(crate) fn insert_dataset(c: &Connection, name: &str) -> rusqlite::Result<DatasetId> {
    c.execute(
        "INSERT INTO datasets (name, created_at) VALUES (?1, ?2)",
        params![name, now_ms()],
    )?;
    Ok(DatasetId(c.last_insert_rowid()))
}

/// Inserts `batch`.
pub(crate) fn insert_batch(c: &Connection, batch: &NewBatch) -> rusqlite::Result<BatchId> {
    c.execute(
        "INSERT INTO dataset_batches (dataset_id, role, source, format, content_hash, row_count, schema_json, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            batch.dataset.0,
            batch.role.as_str(),
            batch.source,
            batch.format,
            batch.content_hash.as_str(),
            batch.schema.rows as i64,
            to_json(batch.schema)?,
            now_ms()
        ],
    )?;
    Ok(BatchId(c.last_insert_rowid()))
}

/// Every dataset that has a training batch, by name, with that batch.
pub(crate) fn datasets(c: &Connection) -> rusqlite::Result<Vec<DatasetRow>> {
    let mut stmt = c.prepare(
        "SELECT d.id, d.name, d.created_at,
                (SELECT count(*) FROM dataset_batches WHERE dataset_id = d.id),
                b.id, b.source, b.schema_json, b.row_count, b.content_hash
         FROM datasets d
         JOIN dataset_batches b ON b.id = (SELECT min(id) FROM dataset_batches WHERE dataset_id = d.id AND role = ?1)
         ORDER BY d.name",
    )?;
    let rows = stmt.query_map([BatchRole::Training.as_str()], |r| {
        Ok(DatasetRow {
            id: DatasetId(r.get(0)?),
            name: r.get(1)?,
            created_at: r.get(2)?,
            batches: r.get(3)?,
            batch: BatchId(r.get(4)?),
            source: r.get(5)?,
            schema_json: r.get(6)?,
            rows: r.get(7)?,
            content_hash: r.get(8)?,
        })
    })?;
    rows.collect()
}

/// The first batch of `dataset` imported in `role`, if any.
pub(crate) fn batch_in_role(
    c: &Connection,
    dataset: DatasetId,
    role: BatchRole,
) -> rusqlite::Result<Option<BatchId>> {
    c.query_row(
        "SELECT min(id) FROM dataset_batches WHERE dataset_id = ?1 AND role = ?2",
        params![dataset.0, role.as_str()],
        |r| r.get(0),
    )
    .map(|id: Option<i64>| id.map(BatchId))
}

/// The newest batch of `dataset`, if it has any.
pub(crate) fn latest_batch(
    c: &Connection,
    dataset: DatasetId,
) -> rusqlite::Result<Option<BatchId>> {
    c.query_row(
        "SELECT max(id) FROM dataset_batches WHERE dataset_id = ?1",
        [dataset.0],
        |r| r.get(0),
    )
    .map(|id: Option<i64>| id.map(BatchId))
}

/// The first batch of `dataset` that holds exactly the bytes of `hash`.
pub(crate) fn batch_with_hash(
    c: &Connection,
    dataset: DatasetId,
    hash: &BlobHash,
) -> rusqlite::Result<Option<BatchId>> {
    c.query_row(
        "SELECT min(id) FROM dataset_batches WHERE content_hash = ?1 AND dataset_id = ?2",
        params![hash.as_str(), dataset.0],
        |r| r.get(0),
    )
    .map(|id: Option<i64>| id.map(BatchId))
}

/// Batch `batch`, if it exists.
pub(crate) fn batch(c: &Connection, batch: BatchId) -> rusqlite::Result<Option<BatchRow>> {
    c.query_row(
        "SELECT d.id, d.name, b.source, b.content_hash, b.schema_json
         FROM dataset_batches b JOIN datasets d ON d.id = b.dataset_id WHERE b.id = ?1",
        [batch.0],
        |r| {
            Ok(BatchRow {
                dataset: DatasetId(r.get(0)?),
                name: r.get(1)?,
                source: r.get(2)?,
                content_hash: BlobHash::from_hex(&r.get::<_, String>(3)?),
                schema_json: r.get(4)?,
            })
        },
    )
    .optional()
}

/// Replaces the stored schema of `batch`.
pub(crate) fn set_batch_schema(
    c: &Connection,
    batch: BatchId,
    schema: &DatasetSchema,
) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE dataset_batches SET schema_json = ?2 WHERE id = ?1",
        params![batch.0, to_json(schema)?],
    )
    .map(|_| ())
}

/// The expectation suite of `dataset` as stored (TOML), if one was declared.
pub(crate) fn expectations(c: &Connection, dataset: DatasetId) -> rusqlite::Result<Option<String>> {
    c.query_row(
        "SELECT suite_toml FROM expectation_suites WHERE dataset_id = ?1",
        [dataset.0],
        |r| r.get(0),
    )
    .optional()
}

/// Stores `suite_toml` as the expectations of `dataset`, replacing any earlier ones.
pub(crate) fn set_expectations(
    c: &Connection,
    dataset: DatasetId,
    suite_toml: &str,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO expectation_suites (dataset_id, suite_toml, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (dataset_id) DO UPDATE SET suite_toml = excluded.suite_toml, updated_at = excluded.updated_at",
        params![dataset.0, suite_toml, now_ms()],
    )
    .map(|_| ())
}

/// Stores a check report of `batch`.
pub(crate) fn insert_check_report(
    c: &Connection,
    batch: BatchId,
    report: &CheckReport,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO check_reports (batch_id, passed, report_json, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![batch.0, report.passed(), to_json(report)?, now_ms()],
    )
    .map(|_| ())
}

/// The newest check report (JSON) of the newest batch of `dataset`, if it was ever checked.
pub(crate) fn last_check_report(
    c: &Connection,
    dataset: DatasetId,
) -> rusqlite::Result<Option<String>> {
    c.query_row(
        "SELECT r.report_json FROM check_reports r
         WHERE r.batch_id = (SELECT max(id) FROM dataset_batches WHERE dataset_id = ?1)
         ORDER BY r.id DESC LIMIT 1",
        [dataset.0],
        |r| r.get(0),
    )
    .optional()
}

/// How many check reports the project holds, for tests.
#[cfg(test)]
pub(crate) fn testing_count_check_reports(c: &Connection) -> rusqlite::Result<i64> {
    c.query_row("SELECT count(*) FROM check_reports", [], |r| r.get(0))
}
