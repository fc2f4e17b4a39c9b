//! Storage of monitoring reports: one per model version and batch, the newest kept.

use rusqlite::{Connection, params};

use super::to_json;
use crate::data::BatchId;
use crate::monitor::MonitorReport;
use crate::monitor::retrain::RetrainReport;
use crate::now_ms;

/// Stores `report` of version `version_id` on `batch`, replacing an earlier report of the same
/// pair. Returns the report's id.
pub(crate) fn insert_report(
    c: &Connection,
    batch: BatchId,
    version_id: i64,
    report: &MonitorReport,
) -> rusqlite::Result<i64> {
    c.query_row(
        "INSERT INTO monitoring_reports (batch_id, model_version_id, row_count, labelled_rows,
             drifted_columns, column_count, dataset_drift, accuracy, report_json, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (model_version_id, batch_id) DO UPDATE SET
             row_count = excluded.row_count, labelled_rows = excluded.labelled_rows,
             drifted_columns = excluded.drifted_columns, column_count = excluded.column_count,
             dataset_drift = excluded.dataset_drift, accuracy = excluded.accuracy,
             report_json = excluded.report_json, created_at = excluded.created_at
         RETURNING id",
        params![
            batch.0,
            version_id,
            report.rows as i64,
            report
                .performance
                .as_ref()
                .map_or(0, |p| p.labelled_rows as i64),
            report.drift.drifted_columns as i64,
            report.drift.columns as i64,
            report.drift.drifted,
            report.performance.as_ref().map(|p| p.accuracy),
            to_json(report)?,
            now_ms()
        ],
        |r| r.get(0),
    )
}

/// How many monitoring reports and retrain decisions the project holds: a reader that sees
/// them unchanged knows that no history it read is stale.
pub(crate) fn counts(c: &Connection) -> rusqlite::Result<(u64, u64)> {
    c.query_row(
        "SELECT (SELECT count(*) FROM monitoring_reports), (SELECT count(*) FROM retrain_decisions)",
        [],
        |r| Ok((r.get::<_, i64>(0)?.max(0) as u64, r.get::<_, i64>(1)?.max(0) as u64)),
    )
}

/// The reports of version `version_id`, as JSON, in the order their batches were imported.
pub(crate) fn reports(c: &Connection, version_id: i64) -> rusqlite::Result<Vec<(i64, String)>> {
    let mut stmt = c.prepare(
        "SELECT id, report_json FROM monitoring_reports WHERE model_version_id = ?1
         ORDER BY batch_id",
    )?;
    let rows = stmt.query_map([version_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Records a final retrain decision on `model`; returns its id.
pub(crate) fn insert_decision(
    c: &Connection,
    model: &str,
    report: &RetrainReport,
) -> rusqlite::Result<i64> {
    c.execute(
        "INSERT INTO retrain_decisions (model, decision, report_json, created_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![model, report.decision.as_str(), to_json(report)?, now_ms()],
    )?;
    Ok(c.last_insert_rowid())
}

/// The retrain decisions on `model`, as JSON, oldest first.
pub(crate) fn decisions(c: &Connection, model: &str) -> rusqlite::Result<Vec<(i64, String)>> {
    let mut stmt =
        c.prepare("SELECT id, report_json FROM retrain_decisions WHERE model = ?1 ORDER BY id")?;
    let rows = stmt.query_map([model], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// The batches that any version of `model` has a labelled report on, in import order.
pub(crate) fn labelled_batches(c: &Connection, model: &str) -> rusqlite::Result<Vec<i64>> {
    let mut stmt = c.prepare(
        "SELECT DISTINCT r.batch_id FROM monitoring_reports r
         JOIN model_versions v ON v.id = r.model_version_id
         JOIN registered_models m ON m.id = v.model_id
         WHERE m.name = ?1 AND r.labelled_rows > 0
         ORDER BY r.batch_id",
    )?;
    let rows = stmt.query_map([model], |r| r.get(0))?;
    rows.collect()
}
