//! Storage of evaluation reports: metrics, fairness and behaviour, each kept with its run.

use rusqlite::{Connection, params};
use serde::Serialize;

use super::to_json;
use crate::now_ms;
use crate::tracking::RunId;

/// Stores `report` as an evaluation of `run` of `kind` (`metrics`, `fairness`, `behaviour`).
pub(crate) fn insert_evaluation(
    c: &Connection,
    run: RunId,
    kind: &str,
    subject: &str,
    report: &impl Serialize,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO evaluations (run_id, kind, subject, report_json, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![run.0, kind, subject, to_json(report)?, now_ms()],
    )
    .map(|_| ())
}

/// The evaluations of `run` of one `kind`: (subject, report as JSON), oldest first.
pub(crate) fn evaluations(
    c: &Connection,
    run: RunId,
    kind: &str,
) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = c.prepare(
        "SELECT subject, report_json FROM evaluations WHERE run_id = ?1 AND kind = ?2 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![run.0, kind], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}
