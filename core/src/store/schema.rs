//! The project file's schema and its migrations.
//!
//! `PRAGMA user_version` holds the format: the number of migrations applied. A file with a higher
//! number was written by a newer Kiln and is refused; a lower one is upgraded in a transaction on
//! the first open for writing. Migrations are append-only: a released one is never edited.
//!
//! Names follow MLflow's where they mean the same thing (experiment, run, param, metric, tag,
//! artifact), so that runs can later be pushed to an MLflow server without translation.

/// `PRAGMA application_id` of every Kiln project: "KILN" in ASCII.
pub const APPLICATION_ID: u32 = 0x4B49_4C4E;

/// The migrations, in order. Format N is the file after the first N have run.
pub const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7];

/// The newest format this Kiln reads and writes.
pub fn latest_format() -> u32 {
    MIGRATIONS.len() as u32
}

const V1: &str = r#"
-- Key/value facts about the file itself. Stable across every format, so that an old Kiln can
-- still read who wrote a newer file.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE project (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);

-- Content-addressed storage: datasets, model weights, feature pipelines, reports.
CREATE TABLE blobs (
    hash       TEXT PRIMARY KEY,           -- sha256, lowercase hex
    size       INTEGER NOT NULL,
    data       BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

-- A dataset is a name; what was imported under it are batches. The batch a model trained on,
-- a new batch checked for drift and a traffic file replayed for A/B all have the same shape.
CREATE TABLE datasets (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);

CREATE TABLE dataset_batches (
    id           INTEGER PRIMARY KEY,
    dataset_id   INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    role         TEXT NOT NULL CHECK (role IN ('training', 'monitoring', 'traffic')),
    source       TEXT NOT NULL,            -- where it was imported from, as the user named it
    format       TEXT NOT NULL,            -- 'csv', 'text-corpus', ...
    content_hash TEXT NOT NULL REFERENCES blobs(hash),
    row_count    INTEGER NOT NULL,
    schema_json  TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX dataset_batches_by_dataset ON dataset_batches(dataset_id);

CREATE TABLE experiments (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    lifecycle_stage TEXT NOT NULL DEFAULT 'active' CHECK (lifecycle_stage IN ('active', 'deleted')),
    created_at      INTEGER NOT NULL
);
INSERT INTO experiments (id, name, created_at) VALUES (1, 'Default', 0);

-- One study per search: its trials are runs.
CREATE TABLE studies (
    id            INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id),
    name          TEXT NOT NULL,
    strategy      TEXT NOT NULL,           -- 'grid', 'random', 'halving', ...
    space_json    TEXT NOT NULL,
    objective     TEXT NOT NULL,           -- metric key that picks the best trial
    direction     TEXT NOT NULL CHECK (direction IN ('maximize', 'minimize')),
    status        TEXT NOT NULL CHECK (status IN ('running', 'finished', 'cancelled', 'failed')),
    created_at    INTEGER NOT NULL,
    finished_at   INTEGER
);

CREATE TABLE runs (
    id               INTEGER PRIMARY KEY,
    uuid             TEXT NOT NULL UNIQUE,
    experiment_id    INTEGER NOT NULL REFERENCES experiments(id),
    study_id         INTEGER REFERENCES studies(id),
    trial_index      INTEGER,              -- position in the study's search, for resume
    name             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'killed')),
    start_time       INTEGER NOT NULL,
    end_time         INTEGER,
    dataset_batch_id INTEGER REFERENCES dataset_batches(id),
    seed             INTEGER,
    device           TEXT,                 -- the device it really ran on: adapter and backend
    config_json      TEXT,
    failure_reason   TEXT,
    kiln_version     TEXT NOT NULL
);
CREATE INDEX runs_by_study ON runs(study_id, trial_index);
CREATE UNIQUE INDEX runs_one_trial_per_index ON runs(study_id, trial_index)
    WHERE study_id IS NOT NULL AND trial_index IS NOT NULL AND status <> 'killed';

CREATE TABLE params (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;

CREATE TABLE metrics (
    run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    step      INTEGER NOT NULL,
    value     REAL,                         -- NULL where the value was NaN
    timestamp INTEGER NOT NULL
);
CREATE INDEX metrics_by_run_key_step ON metrics(run_id, key, step);

CREATE TABLE tags (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;

CREATE TABLE artifacts (
    run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    path      TEXT NOT NULL,
    blob_hash TEXT NOT NULL REFERENCES blobs(hash),
    PRIMARY KEY (run_id, path)
) WITHOUT ROWID;

CREATE TABLE registered_models (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);

CREATE TABLE model_versions (
    id             INTEGER PRIMARY KEY,
    model_id       INTEGER NOT NULL REFERENCES registered_models(id),
    version        INTEGER NOT NULL,
    run_id         INTEGER NOT NULL REFERENCES runs(id),
    artifact_hash  TEXT NOT NULL REFERENCES blobs(hash),
    signature_json TEXT NOT NULL,
    lineage_json   TEXT NOT NULL,
    card_md        TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    UNIQUE (model_id, version)
);

CREATE TABLE model_aliases (
    model_id   INTEGER NOT NULL REFERENCES registered_models(id),
    alias      TEXT NOT NULL,
    version_id INTEGER NOT NULL REFERENCES model_versions(id),
    PRIMARY KEY (model_id, alias)
) WITHOUT ROWID;

CREATE TABLE exports (
    id               INTEGER PRIMARY KEY,
    model_version_id INTEGER NOT NULL REFERENCES model_versions(id),
    format           TEXT NOT NULL,        -- 'onnx+triton', ...
    target           TEXT NOT NULL,
    details_json     TEXT NOT NULL,        -- parity figures, config, paths written
    created_at       INTEGER NOT NULL
);
"#;

/// Expectations per dataset, and the reports of every check run on a batch.
const V2: &str = r#"
CREATE TABLE expectation_suites (
    dataset_id INTEGER PRIMARY KEY REFERENCES datasets(id) ON DELETE CASCADE,
    suite_toml TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE check_reports (
    id          INTEGER PRIMARY KEY,
    batch_id    INTEGER NOT NULL REFERENCES dataset_batches(id) ON DELETE CASCADE,
    passed      INTEGER NOT NULL,
    report_json TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX check_reports_by_batch ON check_reports(batch_id);
"#;

/// Evaluations of a run's model: metrics on a split, fairness by group, behavioural tests.
const V3: &str = r#"
CREATE TABLE evaluations (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('metrics', 'fairness', 'behaviour')),
    subject     TEXT NOT NULL,            -- the split, the sensitive column, or the spec's name
    report_json TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX evaluations_by_run ON evaluations(run_id, kind);
"#;

/// MLflow sync: runs pulled from a server are marked with where they came from, and what a push
/// created on a server is remembered, so that pushing again creates nothing twice.
const V4: &str = r#"
ALTER TABLE runs ADD COLUMN origin TEXT;   -- NULL: trained here; else the server it was pulled from

CREATE TABLE mlflow_links (
    server     TEXT NOT NULL,             -- runs: 'URL#EXPERIMENT_ID'; versions: the URL
    kind       TEXT NOT NULL CHECK (kind IN ('run', 'version')),
    kiln_key   TEXT NOT NULL,             -- a run's uuid, 'PROJECT/study/N' or 'PROJECT/model/NAME/N'
    mlflow_id  TEXT NOT NULL,             -- its id on the server
    complete   INTEGER NOT NULL DEFAULT 0,-- 1 once everything of it is on the server
    pushed     TEXT NOT NULL DEFAULT '',  -- what was sent (status, end, counts): a change sends it again
    PRIMARY KEY (server, kind, kiln_key)
) WITHOUT ROWID;
"#;

/// Works out every run's metric summaries from its points: in the migration that adds them,
/// and in a repair, which keeps only the points it could read.
macro_rules! summarise_metrics {
    () => {
        r#"
INSERT INTO metric_summaries (run_id, key, points, min, max, last_step, last_value)
SELECT m.run_id, m.key, count(*), min(m.value), max(m.value), max(m.step),
       (SELECT l.value FROM metrics l WHERE l.run_id = m.run_id AND l.key = m.key
        ORDER BY l.step DESC, l.rowid DESC LIMIT 1)
FROM metrics m GROUP BY m.run_id, m.key;
"#
    };
}

/// [`summarise_metrics`], for the repair.
pub const SUMMARISE_METRICS: &str = summarise_metrics!();

/// A running summary of every run's metrics, kept up to date by each insert, so that listing
/// thousands of runs reads one row per metric rather than every point.
const V5: &str = concat!(
    r#"
CREATE TABLE metric_summaries (
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    points     INTEGER NOT NULL,
    min        REAL,                      -- NULL while every value is NaN
    max        REAL,
    last_step  INTEGER NOT NULL,
    last_value REAL,                      -- at the largest step, the latest logged among equals
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
"#,
    summarise_metrics!()
);

/// Monitoring: every drift and performance report of a model version on a batch of its
/// dataset, with the figures a timeline lists kept beside the full report.
const V6: &str = r#"
CREATE TABLE monitoring_reports (
    id               INTEGER PRIMARY KEY,
    batch_id         INTEGER NOT NULL REFERENCES dataset_batches(id) ON DELETE CASCADE,
    model_version_id INTEGER NOT NULL REFERENCES model_versions(id),
    row_count        INTEGER NOT NULL,
    labelled_rows    INTEGER NOT NULL,
    drifted_columns  INTEGER NOT NULL,
    column_count     INTEGER NOT NULL,
    dataset_drift    INTEGER NOT NULL,
    accuracy         REAL,                -- NULL without labels
    report_json      TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    UNIQUE (model_version_id, batch_id)
);

-- Every retrain: its triggers, data, study, comparison and decision, written once final.
CREATE TABLE retrain_decisions (
    id          INTEGER PRIMARY KEY,
    model       TEXT NOT NULL,
    decision    TEXT NOT NULL,
    report_json TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX retrain_decisions_by_model ON retrain_decisions(model);
"#;

/// Replays: every shadow or A/B replay of traffic through two versions of a model, with its
/// verdict kept beside the full report.
const V7: &str = r#"
CREATE TABLE replay_reports (
    id           INTEGER PRIMARY KEY,
    batch_id     INTEGER NOT NULL REFERENCES dataset_batches(id) ON DELETE CASCADE,
    version_a_id INTEGER NOT NULL REFERENCES model_versions(id),
    version_b_id INTEGER NOT NULL REFERENCES model_versions(id),
    mode         TEXT NOT NULL CHECK (mode IN ('shadow', 'ab')),
    decision     TEXT NOT NULL,
    report_json  TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX replay_reports_by_version ON replay_reports(version_a_id);
"#;
