//! Storage of runs and what hangs off them: experiments, params, tags, metrics and artifacts.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::BlobHash;
use crate::tracking::{
    ExperimentId, MetricPoint, MetricSummary, RunId, RunSpec, RunStatus, RunSummary, StudyId,
    TailPoint,
};
use crate::{KILN_VERSION, now_ms};

/// The id of the experiment called `name`, inserted if it does not exist yet.
pub(crate) fn experiment(c: &Connection, name: &str) -> rusqlite::Result<ExperimentId> {
    c.execute(
        "INSERT INTO experiments (name, created_at) VALUES (?1, ?2)
         ON CONFLICT (name) DO NOTHING",
        params![name, now_ms()],
    )?;
    c.query_row("SELECT id FROM experiments WHERE name = ?1", [name], |r| {
        r.get(0)
    })
    .map(ExperimentId)
}

/// Inserts a run of `spec` with status `running`.
pub(crate) fn insert_run(c: &Connection, uuid: &str, spec: &RunSpec) -> rusqlite::Result<RunId> {
    c.execute(
        "INSERT INTO runs (uuid, experiment_id, study_id, trial_index, name, status,
            start_time, dataset_batch_id, seed, device, config_json, kiln_version)
         VALUES (?1, ?2, ?3, ?4, ?5, 'running', ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            uuid,
            spec.experiment.unwrap_or(ExperimentId::DEFAULT).0,
            spec.study.map(|s| s.0),
            spec.trial_index,
            spec.name,
            now_ms(),
            spec.dataset_batch,
            spec.seed.map(|s| s as i64),
            spec.device,
            spec.config_json,
            KILN_VERSION,
        ],
    )?;
    Ok(RunId(c.last_insert_rowid()))
}

/// Ends `run` with `status`. Returns whether the run exists.
pub(crate) fn finish_run(
    c: &Connection,
    run: RunId,
    status: RunStatus,
    reason: Option<&str>,
) -> rusqlite::Result<bool> {
    let changed = c.execute(
        "UPDATE runs SET status = ?2, end_time = ?3, failure_reason = ?4 WHERE id = ?1",
        params![run.0, status.as_str(), now_ms(), reason],
    )?;
    Ok(changed > 0)
}

/// Whether `run` exists.
pub(crate) fn has_run(c: &Connection, run: RunId) -> rusqlite::Result<bool> {
    c.query_row("SELECT 1 FROM runs WHERE id = ?1", [run.0], |_| Ok(()))
        .optional()
        .map(|o| o.is_some())
}

/// Every run, newest first.
pub(crate) fn runs(c: &Connection) -> rusqlite::Result<Vec<RunSummary>> {
    query_runs(c, "ORDER BY r.id DESC", [])
}

/// One run, if it exists.
pub(crate) fn run(c: &Connection, id: RunId) -> rusqlite::Result<Option<RunSummary>> {
    Ok(query_runs(c, "WHERE r.id = ?1", [id.0])?.pop())
}

fn query_runs(
    c: &Connection,
    tail: &str,
    args: impl rusqlite::Params,
) -> rusqlite::Result<Vec<RunSummary>> {
    let sql = format!(
        "SELECT r.id, r.uuid, r.name, e.name, s.name, r.trial_index, r.status, r.start_time,
                r.end_time, r.device, r.failure_reason,
                (SELECT coalesce(sum(ms.points), 0) FROM metric_summaries ms
                 WHERE ms.run_id = r.id), r.origin, r.study_id
         FROM runs r
         JOIN experiments e ON e.id = r.experiment_id
         LEFT JOIN studies s ON s.id = r.study_id
         {tail}"
    );
    let mut stmt = c.prepare(&sql)?;
    let rows = stmt.query_map(args, |r| {
        Ok(RunSummary {
            id: RunId(r.get(0)?),
            uuid: r.get(1)?,
            name: r.get(2)?,
            experiment: r.get(3)?,
            study: r.get(4)?,
            trial_index: r.get(5)?,
            status: RunStatus::parse(&r.get::<_, String>(6)?),
            start_time: r.get(7)?,
            end_time: r.get(8)?,
            device: r.get(9)?,
            failure_reason: r.get(10)?,
            metric_points: r.get::<_, i64>(11)?.max(0) as u64,
            origin: r.get(12)?,
            study_id: r.get::<_, Option<i64>>(13)?.map(StudyId),
        })
    })?;
    rows.collect()
}

/// The config `run` was started with, as stored.
pub(crate) fn run_config(c: &Connection, run: RunId) -> rusqlite::Result<Option<String>> {
    c.query_row("SELECT config_json FROM runs WHERE id = ?1", [run.0], |r| {
        r.get(0)
    })
}

/// The Kiln version that started `run`.
pub(crate) fn run_kiln_version(c: &Connection, run: RunId) -> rusqlite::Result<String> {
    c.query_row(
        "SELECT kiln_version FROM runs WHERE id = ?1",
        [run.0],
        |r| r.get(0),
    )
}

/// Inserts `params` on `run`; a key already there keeps its value.
pub(crate) fn insert_params(
    c: &Connection,
    run: RunId,
    params: &[(&str, &str)],
) -> rusqlite::Result<()> {
    let mut stmt = c.prepare_cached(
        "INSERT INTO params (run_id, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (run_id, key) DO NOTHING",
    )?;
    for (key, value) in params {
        stmt.execute(params![run.0, key, value])?;
    }
    Ok(())
}

/// The params of `run`, by key.
pub(crate) fn params(c: &Connection, run: RunId) -> rusqlite::Result<Vec<(String, String)>> {
    key_values(
        c,
        "SELECT key, value FROM params WHERE run_id = ?1 ORDER BY key",
        run,
    )
}

/// Every run's params, by key.
pub(crate) fn all_params(
    c: &Connection,
) -> rusqlite::Result<HashMap<RunId, Vec<(String, String)>>> {
    let mut params: HashMap<RunId, Vec<(String, String)>> = HashMap::new();
    let mut stmt = c.prepare("SELECT run_id, key, value FROM params ORDER BY run_id, key")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        params
            .entry(RunId(r.get(0)?))
            .or_default()
            .push((r.get(1)?, r.get(2)?));
    }
    Ok(params)
}

/// Sets a tag on `run`, replacing its earlier value.
pub(crate) fn set_tag(c: &Connection, run: RunId, key: &str, value: &str) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO tags (run_id, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
        params![run.0, key, value],
    )
    .map(|_| ())
}

/// The tags of `run`, by key.
pub(crate) fn tags(c: &Connection, run: RunId) -> rusqlite::Result<Vec<(String, String)>> {
    key_values(
        c,
        "SELECT key, value FROM tags WHERE run_id = ?1 ORDER BY key",
        run,
    )
}

fn key_values(c: &Connection, sql: &str, run: RunId) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt.query_map([run.0], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Inserts points inside a caller's transaction. NaN becomes NULL, which SQLite can store.
pub(crate) fn insert_points(
    c: &Connection,
    run: RunId,
    points: &[MetricPoint],
) -> rusqlite::Result<()> {
    // Many rows per statement: SQLite's cost per statement, not per row, dominates.
    for chunk in points.chunks(ROWS_PER_INSERT) {
        let mut stmt = c.prepare_cached(&insert_sql(chunk.len()))?;
        for (i, p) in chunk.iter().enumerate() {
            let first = i * 5 + 1;
            let value = (!p.value.is_nan()).then_some(p.value);
            stmt.raw_bind_parameter(first, run.0)?;
            stmt.raw_bind_parameter(first + 1, p.key.as_str())?;
            stmt.raw_bind_parameter(first + 2, p.step)?;
            stmt.raw_bind_parameter(first + 3, value)?;
            stmt.raw_bind_parameter(first + 4, p.timestamp)?;
        }
        stmt.raw_execute()?;
    }
    // The batch's own summary per key, in the order keys first appear.
    let mut batch: Vec<BatchSummary> = Vec::new();
    for p in points {
        let value = (!p.value.is_nan()).then_some(p.value);
        let summary = match batch.iter_mut().find(|s| s.key == p.key) {
            Some(s) => s,
            None => {
                batch.push(BatchSummary {
                    key: &p.key,
                    points: 0,
                    min: None,
                    max: None,
                    last_step: p.step,
                    last_value: value,
                });
                batch.last_mut().expect("just pushed")
            }
        };
        summary.points += 1;
        if let Some(v) = value {
            summary.min = Some(summary.min.map_or(v, |m: f64| m.min(v)));
            summary.max = Some(summary.max.map_or(v, |m: f64| m.max(v)));
        }
        if p.step >= summary.last_step {
            summary.last_step = p.step;
            summary.last_value = value;
        }
    }
    // Every expression of the update reads the row as it was.
    let mut upsert = c.prepare_cached(
        "INSERT INTO metric_summaries (run_id, key, points, min, max, last_step, last_value)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (run_id, key) DO UPDATE SET
             points = points + excluded.points,
             min = coalesce(min(min, excluded.min), min, excluded.min),
             max = coalesce(max(max, excluded.max), max, excluded.max),
             last_value = CASE WHEN excluded.last_step >= last_step
                               THEN excluded.last_value ELSE last_value END,
             last_step = max(last_step, excluded.last_step)",
    )?;
    for s in batch {
        upsert.execute(params![
            run.0,
            s.key,
            s.points,
            s.min,
            s.max,
            s.last_step,
            s.last_value
        ])?;
    }
    Ok(())
}

/// Points inserted by one statement (five parameters each, well under SQLite's limit).
const ROWS_PER_INSERT: usize = 256;

/// `INSERT INTO metrics ... VALUES (?, ?, ?, ?, ?), ...` for `rows` rows.
fn insert_sql(rows: usize) -> String {
    let mut sql = String::from("INSERT INTO metrics (run_id, key, step, value, timestamp) VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?,?,?)");
    }
    sql
}

/// What one batch adds to a metric's summary.
struct BatchSummary<'a> {
    key: &'a str,
    points: i64,
    min: Option<f64>,
    max: Option<f64>,
    last_step: i64,
    last_value: Option<f64>,
}

/// Every point of metric `key` on `run`, in step order.
pub(crate) fn metric_history(
    c: &Connection,
    run: RunId,
    key: &str,
) -> rusqlite::Result<Vec<MetricPoint>> {
    let mut stmt = c.prepare_cached(
        "SELECT step, value, timestamp FROM metrics
         WHERE run_id = ?1 AND key = ?2 ORDER BY step, rowid",
    )?;
    let rows = stmt.query_map(params![run.0, key], |r| {
        Ok(MetricPoint {
            key: key.to_owned(),
            step: r.get(0)?,
            value: r.get::<_, Option<f64>>(1)?.unwrap_or(f64::NAN),
            timestamp: r.get(2)?,
        })
    })?;
    rows.collect()
}

/// Every (step, value) of metric `key` on `run`, in step order: a chart's points, without a
/// key or a time per point.
pub(crate) fn metric_values(
    c: &Connection,
    run: RunId,
    key: &str,
) -> rusqlite::Result<Vec<[f64; 2]>> {
    let mut stmt = c.prepare_cached(
        "SELECT step, value FROM metrics WHERE run_id = ?1 AND key = ?2 ORDER BY step, rowid",
    )?;
    let rows = stmt.query_map(params![run.0, key], |r| {
        Ok([
            r.get::<_, i64>(0)? as f64,
            r.get::<_, Option<f64>>(1)?.unwrap_or(f64::NAN),
        ])
    })?;
    rows.collect()
}

/// Points committed after `after`, by rowid: points are appended to `metrics`, so its rowids
/// grow with every commit. (A resume that drops a never-started run's points may free the top
/// rowids for reuse; a follower misses those few points live, and reads them with the run.)
pub(crate) fn metric_tail(
    c: &Connection,
    after: i64,
    limit: usize,
) -> rusqlite::Result<Vec<TailPoint>> {
    let mut stmt = c.prepare_cached(
        "SELECT rowid, run_id, key, step, value, timestamp FROM metrics
         WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![after, limit], |r| {
        Ok(TailPoint {
            seq: r.get(0)?,
            run: RunId(r.get(1)?),
            key: r.get(2)?,
            step: r.get(3)?,
            value: r.get::<_, Option<f64>>(4)?.unwrap_or(f64::NAN),
            timestamp: r.get(5)?,
        })
    })?;
    rows.collect()
}

pub(crate) fn metric_tail_end(c: &Connection) -> rusqlite::Result<i64> {
    c.query_row("SELECT COALESCE(MAX(rowid), 0) FROM metrics", [], |r| {
        r.get(0)
    })
}

/// The metric keys logged on `run`.
pub(crate) fn metric_keys(c: &Connection, run: RunId) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        c.prepare_cached("SELECT DISTINCT key FROM metrics WHERE run_id = ?1 ORDER BY key")?;
    let rows = stmt.query_map([run.0], |r| r.get(0))?;
    rows.collect()
}

/// Every run's metrics, summarised, by key.
pub(crate) fn metric_summaries(
    c: &Connection,
) -> rusqlite::Result<HashMap<RunId, Vec<MetricSummary>>> {
    let mut metrics: HashMap<RunId, Vec<MetricSummary>> = HashMap::new();
    // Kept by every insert (`insert_points`): one row per metric, not one per point.
    let mut stmt = c.prepare(
        "SELECT run_id, key, last_value, min, max, points
         FROM metric_summaries ORDER BY run_id, key",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let nan = |v: Option<f64>| v.unwrap_or(f64::NAN);
        metrics
            .entry(RunId(r.get(0)?))
            .or_default()
            .push(MetricSummary {
                key: r.get(1)?,
                last: nan(r.get(2)?),
                min: nan(r.get(3)?),
                max: nan(r.get(4)?),
                points: r.get::<_, i64>(5)?.max(0) as u64,
            });
    }
    Ok(metrics)
}

/// Records `hash` as the artifact `path` of `run`, replacing an earlier one. The blob itself
/// must be stored in the same transaction.
pub(crate) fn set_artifact(
    c: &Connection,
    run: RunId,
    path: &str,
    hash: &BlobHash,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO artifacts (run_id, path, blob_hash) VALUES (?1, ?2, ?3)
         ON CONFLICT (run_id, path) DO UPDATE SET blob_hash = excluded.blob_hash",
        params![run.0, path, hash.as_str()],
    )
    .map(|_| ())
}

/// The blob stored as the artifact `path` of `run`, if any.
pub(crate) fn artifact_hash(
    c: &Connection,
    run: RunId,
    path: &str,
) -> rusqlite::Result<Option<BlobHash>> {
    c.query_row(
        "SELECT blob_hash FROM artifacts WHERE run_id = ?1 AND path = ?2",
        params![run.0, path],
        |r| r.get::<_, String>(0),
    )
    .optional()
    .map(|h| h.map(|h| BlobHash::from_hex(&h)))
}
