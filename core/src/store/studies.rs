//! The `studies` table, and the questions a study asks of its runs: which trials are done, and
//! a run's best value of a metric.

use rusqlite::{Connection, OptionalExtension, params};

use crate::objective::{Direction, Objective};
use crate::tracking::{RunId, RunStatus, StudyId};
use crate::train::{StudyStatus, StudySummary};

/// A new study, `running`, in the default experiment.
pub(crate) fn insert(
    c: &Connection,
    name: &str,
    strategy: &str,
    spec_json: &str,
    objective: &Objective,
    at: i64,
) -> rusqlite::Result<StudyId> {
    c.execute(
        "INSERT INTO studies (experiment_id, name, strategy, space_json, objective, direction, status, created_at)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, 'running', ?6)",
        params![
            name,
            strategy,
            spec_json,
            objective.key,
            objective.direction.as_str(),
            at
        ],
    )?;
    Ok(StudyId(c.last_insert_rowid()))
}

/// The stored request of `study`, as JSON; `None` if there is no such study.
pub(crate) fn spec(c: &Connection, study: StudyId) -> rusqlite::Result<Option<String>> {
    c.query_row(
        "SELECT space_json FROM studies WHERE id = ?1",
        [study.0],
        |r| r.get(0),
    )
    .optional()
}

/// The stored request of the study `run` belongs to; `None` for a run outside any study.
pub(crate) fn spec_of_run(c: &Connection, run: RunId) -> rusqlite::Result<Option<String>> {
    c.query_row(
        "SELECT s.space_json FROM runs r JOIN studies s ON s.id = r.study_id WHERE r.id = ?1",
        [run.0],
        |r| r.get(0),
    )
    .optional()
}

/// Ends the runs left `running` (of `study`, or of every study) as killed, so that their trials
/// run again on resume.
pub(crate) fn end_interrupted_runs(
    c: &Connection,
    study: Option<StudyId>,
    at: i64,
) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE runs SET status = 'killed', end_time = ?1,
                failure_reason = 'interrupted: the work running it ended first; re-run on resume'
         WHERE status = 'running' AND origin IS NULL AND (?2 IS NULL OR study_id = ?2)",
        params![at, study.map(|s| s.0)],
    )?;
    Ok(())
}

/// Marks `study` running again, and its runs left `running` as killed, so that their trials
/// run again.
pub(crate) fn reopen(c: &Connection, study: StudyId, at: i64) -> rusqlite::Result<()> {
    end_interrupted_runs(c, Some(study), at)?;
    c.execute(
        "UPDATE studies SET status = 'running', finished_at = NULL WHERE id = ?1",
        [study.0],
    )?;
    Ok(())
}

/// Ends `study` with `status`.
pub(crate) fn finish(
    c: &Connection,
    study: StudyId,
    status: StudyStatus,
    at: i64,
) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE studies SET status = ?2, finished_at = ?3 WHERE id = ?1",
        params![study.0, status.as_str(), at],
    )?;
    Ok(())
}

/// Every study, oldest first.
pub(crate) fn summaries(c: &Connection) -> rusqlite::Result<Vec<StudySummary>> {
    let mut stmt = c.prepare(
        "SELECT id, name, strategy, objective, direction, status FROM studies ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        let key: String = r.get(3)?;
        let direction: String = r.get(4)?;
        let status: String = r.get(5)?;
        Ok(StudySummary {
            id: StudyId(r.get(0)?),
            name: r.get(1)?,
            strategy: r.get(2)?,
            objective: Objective {
                direction: direction.parse().unwrap_or_else(|_| Direction::of(&key)),
                key,
            },
            status: status.parse().map_err(|e: String| {
                rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, e.into())
            })?,
        })
    })?;
    rows.collect()
}

/// The trials of `study` done in earlier sessions (finished or failed): index, run, status.
pub(crate) fn done_trials(
    c: &Connection,
    study: StudyId,
) -> rusqlite::Result<Vec<(usize, RunId, RunStatus)>> {
    let mut stmt = c.prepare(
        "SELECT trial_index, id, status FROM runs
         WHERE study_id = ?1 AND status IN ('finished', 'failed') ORDER BY trial_index",
    )?;
    let rows = stmt.query_map([study.0], |r| {
        let index: i64 = r.get(0)?;
        let status: String = r.get(2)?;
        let status = if status == RunStatus::Failed.as_str() {
            RunStatus::Failed
        } else {
            RunStatus::Finished
        };
        Ok((index.max(0) as usize, RunId(r.get(1)?), status))
    })?;
    rows.collect()
}

/// The best value `run` logged for the objective's metric, in its direction.
pub(crate) fn best_value(
    c: &Connection,
    run: RunId,
    objective: &Objective,
) -> rusqlite::Result<Option<f64>> {
    let sql = match objective.direction {
        Direction::Minimize => "SELECT min(value) FROM metrics WHERE run_id = ?1 AND key = ?2",
        Direction::Maximize => "SELECT max(value) FROM metrics WHERE run_id = ?1 AND key = ?2",
    };
    c.query_row(sql, params![run.0, objective.key], |r| r.get(0))
}

/// What a crash mid-study leaves: `still_running` never ended, `never_started` left no trace.
#[cfg(test)]
pub(crate) fn simulate_crash(
    c: &Connection,
    still_running: RunId,
    never_started: RunId,
) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE runs SET status = 'running', end_time = NULL WHERE id = ?1",
        [still_running.0],
    )?;
    for table in ["metrics", "artifacts", "params", "tags"] {
        c.execute(
            &format!("DELETE FROM {table} WHERE run_id = ?1"),
            [never_started.0],
        )?;
    }
    c.execute("DELETE FROM runs WHERE id = ?1", [never_started.0])?;
    Ok(())
}
