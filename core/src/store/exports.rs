//! Storage of export records: which model version was exported where, with what it proved.

use rusqlite::{Connection, params};

use crate::now_ms;

/// Whether an export record naming `version_id` with `weights` and carrying `details` may be
/// added: the version exists with those weights, and no record has those details yet.
pub(crate) fn is_new_record(
    c: &Connection,
    version_id: i64,
    weights: &str,
    details: &str,
) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT EXISTS (SELECT 1 FROM model_versions WHERE id = ?1 AND artifact_hash = ?3)
            AND NOT EXISTS (SELECT 1 FROM exports WHERE details_json = ?2)",
        params![version_id, details, weights],
        |r| r.get(0),
    )
}

/// Records an export of the version with id `version_id` to `target` in `format`
/// (`onnx+triton`, ...).
pub(crate) fn insert_record(
    c: &Connection,
    version_id: i64,
    format: &str,
    target: &str,
    details: &str,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO exports (model_version_id, format, target, details_json, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![version_id, format, target, details, now_ms()],
    )
    .map(|_| ())
}

/// An export record as stored: (version, format, target, details, created_at).
pub(crate) type RecordRow = (u32, String, String, String, i64);

/// The export records of `model`, oldest first.
pub(crate) fn records(c: &Connection, model: &str) -> rusqlite::Result<Vec<RecordRow>> {
    let mut stmt = c.prepare_cached(
        "SELECT v.version, e.format, e.target, e.details_json, e.created_at
         FROM exports e JOIN model_versions v ON v.id = e.model_version_id
         JOIN registered_models m ON m.id = v.model_id
         WHERE m.name = ?1 ORDER BY e.id",
    )?;
    let rows = stmt.query_map([model], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })?;
    rows.collect()
}

/// Forgets every export record, as if each export's process had died before recording it.
#[cfg(test)]
pub(crate) fn testing_forget_records(c: &Connection) -> rusqlite::Result<usize> {
    c.execute("DELETE FROM exports", [])
}

/// The Triton versions that the export records name, in order.
#[cfg(test)]
pub(crate) fn testing_triton_versions(c: &Connection) -> rusqlite::Result<Vec<i64>> {
    let mut stmt =
        c.prepare("SELECT json_extract(details_json, '$.triton_version') FROM exports ORDER BY 1")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    rows.collect()
}
