//! Storage of replay reports: one per replay, with its decision beside the full report.

use rusqlite::{Connection, params};

use super::to_json;
use crate::data::BatchId;
use crate::now_ms;
use crate::replay::ReplayReport;

/// Stores `report`, of versions `a` and `b` (their ids) on the traffic `batch`. Returns its id.
pub(crate) fn insert(
    c: &Connection,
    batch: BatchId,
    a: i64,
    b: i64,
    report: &ReplayReport,
) -> rusqlite::Result<i64> {
    c.query_row(
        "INSERT INTO replay_reports (batch_id, version_a_id, version_b_id, mode, decision,
             report_json, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         RETURNING id",
        params![
            batch.0,
            a,
            b,
            report.mode.to_string(),
            report.verdict.decision.as_str(),
            to_json(report)?,
            now_ms()
        ],
        |r| r.get(0),
    )
}

/// How many replay reports the project holds.
pub(crate) fn count(c: &Connection) -> rusqlite::Result<u64> {
    c.query_row("SELECT count(*) FROM replay_reports", [], |r| {
        Ok(r.get::<_, i64>(0)?.max(0) as u64)
    })
}

/// The replay reports of model `model`, newest first, as (id, JSON).
pub(crate) fn of_model(c: &Connection, model: &str) -> rusqlite::Result<Vec<(i64, String)>> {
    let mut stmt = c.prepare(
        "SELECT r.id, r.report_json FROM replay_reports r
         JOIN model_versions v ON v.id = r.version_a_id
         JOIN registered_models m ON m.id = v.model_id
         WHERE m.name = ?1
         ORDER BY r.id DESC",
    )?;
    let rows = stmt.query_map([model], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}
