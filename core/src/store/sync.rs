//! What MLflow sync keeps in the project: the links from Kiln's objects to a server's, the
//! remembered server, and the runs pulled from one.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use crate::tracking::{MetricPoint, RunId, StudyId};

/// What one Kiln object became on a server: its id there, and whether all of it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub mlflow_id: String,
    pub complete: bool,
    /// What the push sent, as a fingerprint; empty when not known.
    pub pushed: String,
}

impl Link {
    /// Whether the object is on the server whole and as `fingerprint` says it is now.
    pub fn up_to_date(&self, fingerprint: &str) -> bool {
        self.complete && self.pushed == fingerprint
    }
}

/// Every link of `kind` to `server`, by Kiln key.
pub(crate) fn links(
    c: &Connection,
    server: &str,
    kind: &str,
) -> rusqlite::Result<HashMap<String, Link>> {
    let mut stmt = c.prepare_cached(
        "SELECT kiln_key, mlflow_id, complete, pushed FROM mlflow_links
         WHERE server = ?1 AND kind = ?2",
    )?;
    let rows = stmt.query_map(params![server, kind], |r| {
        Ok((
            r.get::<_, String>(0)?,
            Link {
                mlflow_id: r.get(1)?,
                complete: r.get::<_, i64>(2)? != 0,
                pushed: r.get(3)?,
            },
        ))
    })?;
    rows.collect()
}

/// Records (or replaces) what `key` became on `server`.
pub(crate) fn set_link(
    c: &Connection,
    server: &str,
    kind: &str,
    key: &str,
    link: &Link,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO mlflow_links (server, kind, kiln_key, mlflow_id, complete, pushed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (server, kind, kiln_key)
         DO UPDATE SET mlflow_id = excluded.mlflow_id, complete = excluded.complete,
                       pushed = excluded.pushed",
    )?
    .execute(params![
        server,
        kind,
        key,
        link.mlflow_id,
        link.complete,
        link.pushed
    ])
    .map(|_| ())
}

/// A run as a push sends it.
#[derive(Debug, Clone)]
pub(crate) struct RunRecord {
    pub id: RunId,
    pub uuid: String,
    pub name: String,
    pub status: String,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub study: Option<StudyId>,
    pub trial_index: Option<i64>,
    pub seed: Option<i64>,
    pub device: Option<String>,
    pub failure_reason: Option<String>,
    pub dataset: Option<String>,
    pub dataset_hash: Option<String>,
    pub kiln_version: String,
    pub points: u64,
}

/// The runs trained in this project (not pulled ones), oldest first.
pub(crate) fn own_runs(c: &Connection) -> rusqlite::Result<Vec<RunRecord>> {
    let mut stmt = c.prepare(
        "SELECT r.id, r.uuid, r.name, r.status, r.start_time, r.end_time, r.study_id,
                r.trial_index, r.seed, r.device, r.failure_reason, d.name, b.content_hash,
                r.kiln_version, (SELECT count(*) FROM metrics m WHERE m.run_id = r.id)
         FROM runs r
         LEFT JOIN dataset_batches b ON b.id = r.dataset_batch_id
         LEFT JOIN datasets d ON d.id = b.dataset_id
         WHERE r.origin IS NULL
         ORDER BY r.id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(RunRecord {
            id: RunId(r.get(0)?),
            uuid: r.get(1)?,
            name: r.get(2)?,
            status: r.get(3)?,
            start_time: r.get(4)?,
            end_time: r.get(5)?,
            study: r.get::<_, Option<i64>>(6)?.map(StudyId),
            trial_index: r.get(7)?,
            seed: r.get(8)?,
            device: r.get(9)?,
            failure_reason: r.get(10)?,
            dataset: r.get(11)?,
            dataset_hash: r.get(12)?,
            kiln_version: r.get(13)?,
            points: r.get::<_, i64>(14)?.max(0) as u64,
        })
    })?;
    rows.collect()
}

/// A study as its parent run shows it.
#[derive(Debug, Clone)]
pub(crate) struct StudyRecord {
    pub id: StudyId,
    pub name: String,
    pub strategy: String,
    pub space_json: String,
    pub objective: String,
    pub direction: String,
    pub status: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

pub(crate) fn study(c: &Connection, id: StudyId) -> rusqlite::Result<Option<StudyRecord>> {
    c.query_row(
        "SELECT name, strategy, space_json, objective, direction, status, created_at, finished_at
         FROM studies WHERE id = ?1",
        [id.0],
        |r| {
            Ok(StudyRecord {
                id,
                name: r.get(0)?,
                strategy: r.get(1)?,
                space_json: r.get(2)?,
                objective: r.get(3)?,
                direction: r.get(4)?,
                status: r.get(5)?,
                created_at: r.get(6)?,
                finished_at: r.get(7)?,
            })
        },
    )
    .optional()
}

/// Every point of `run`, by key, then step, then time: the order a push sends them in.
pub(crate) fn all_points(c: &Connection, run: RunId) -> rusqlite::Result<Vec<MetricPoint>> {
    let mut stmt = c.prepare_cached(
        "SELECT key, step, value, timestamp FROM metrics WHERE run_id = ?1
         ORDER BY key, step, timestamp, rowid",
    )?;
    let rows = stmt.query_map([run.0], |r| {
        Ok(MetricPoint {
            key: r.get(0)?,
            step: r.get(1)?,
            value: r.get::<_, Option<f64>>(2)?.unwrap_or(f64::NAN),
            timestamp: r.get(3)?,
        })
    })?;
    rows.collect()
}

/// A run pulled from a server, as it is stored.
pub(crate) struct PulledRun<'a> {
    pub origin: &'a str,
    pub experiment: crate::tracking::ExperimentId,
    pub name: &'a str,
    pub status: &'a str,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub params: &'a [(String, String)],
    pub tags: &'a [(String, String)],
    pub points: &'a [MetricPoint],
}

/// Stores a pulled run: into `existing` (its params, tags and points replaced), or as a new run.
pub(crate) fn store_pulled_run(
    c: &Connection,
    existing: Option<RunId>,
    uuid: &str,
    run: &PulledRun,
) -> rusqlite::Result<RunId> {
    let id = match existing {
        Some(id) => {
            c.execute(
                "UPDATE runs SET name = ?2, status = ?3, start_time = ?4, end_time = ?5,
                        experiment_id = ?6
                 WHERE id = ?1",
                params![
                    id.0,
                    run.name,
                    run.status,
                    run.start_time,
                    run.end_time,
                    run.experiment.0
                ],
            )?;
            for table in ["params", "tags", "metrics", "metric_summaries"] {
                c.execute(&format!("DELETE FROM {table} WHERE run_id = ?1"), [id.0])?;
            }
            id
        }
        None => {
            c.execute(
                "INSERT INTO runs (uuid, experiment_id, name, status, start_time, end_time,
                                   kiln_version, origin)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    uuid,
                    run.experiment.0,
                    run.name,
                    run.status,
                    run.start_time,
                    run.end_time,
                    crate::KILN_VERSION,
                    run.origin
                ],
            )?;
            RunId(c.last_insert_rowid())
        }
    };
    let params: Vec<(&str, &str)> = run
        .params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    super::runs::insert_params(c, id, &params)?;
    for (k, v) in run.tags {
        super::runs::set_tag(c, id, k, v)?;
    }
    super::runs::insert_points(c, id, run.points)?;
    Ok(id)
}

/// The run whose uuid is `uuid`, if any.
pub(crate) fn run_by_uuid(c: &Connection, uuid: &str) -> rusqlite::Result<Option<RunId>> {
    c.query_row("SELECT id FROM runs WHERE uuid = ?1", [uuid], |r| {
        r.get(0).map(RunId)
    })
    .optional()
}

/// Forgets every link of `kind` to `server`: what it named is not there any more.
pub(crate) fn drop_links(c: &Connection, server: &str, kind: &str) -> rusqlite::Result<()> {
    c.execute(
        "DELETE FROM mlflow_links WHERE server = ?1 AND kind = ?2",
        params![server, kind],
    )
    .map(|_| ())
}

/// The uuids of every run of this project, for telling a pulled run that Kiln pushed itself.
pub(crate) fn run_uuids(c: &Connection) -> rusqlite::Result<std::collections::HashSet<String>> {
    let mut stmt = c.prepare("SELECT uuid FROM runs")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    rows.collect()
}
