use std::fs;
use std::path::{Path, PathBuf};

use super::*;
use crate::{Error, MetricPoint, RunSpec, RunStatus};

fn temp_project(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(format!("{name}.kiln"));
    (dir, path)
}

fn store_error(result: Result<Project>) -> StoreError {
    match result {
        Ok(_) => panic!("expected the open to fail"),
        Err(Error::Store(e)) => e,
        Err(other) => panic!("expected a store error, got {other}"),
    }
}

fn points(n: i64) -> Vec<MetricPoint> {
    (0..n)
        .map(|step| MetricPoint {
            key: "loss".into(),
            step,
            value: 1.0 / (step + 1) as f64,
            timestamp: 1,
        })
        .collect()
}

#[test]
fn a_new_project_opens_with_the_latest_format_in_wal_mode() {
    let (_dir, path) = temp_project("fresh");
    let project = Project::create(&path, "Fresh").expect("create");
    let info = project.info().expect("info");
    assert_eq!(info.name, "Fresh");
    assert_eq!(info.format, schema::latest_format());
    assert_eq!(info.written_by, crate::KILN_VERSION);
    assert_eq!(
        (info.runs, info.metric_points, info.datasets, info.models),
        (0, 0, 0, 0)
    );
    assert_eq!(info.experiments, 1, "the Default experiment");
    let (journal, fk): (String, i64) = project
        .read(|c| {
            let j = c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
            let f = c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
            Ok((j, f))
        })
        .expect("pragmas");
    assert_eq!(journal, "wal");
    assert_eq!(fk, 1);
    project.check_integrity().expect("integrity");
    // No staging file is left beside it.
    let names: Vec<_> = fs::read_dir(path.parent().expect("dir"))
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.to_string_lossy().contains("creating")),
        "{names:?}"
    );
}

#[test]
fn create_never_replaces_an_existing_file() {
    let (_dir, path) = temp_project("taken");
    fs::write(&path, "precious").expect("write");
    let err = store_error(Project::create(&path, "x"));
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
    assert_eq!(fs::read_to_string(&path).expect("read"), "precious");
}

#[test]
fn a_second_writer_is_refused_but_a_reader_is_not() {
    let (_dir, path) = temp_project("locked");
    let first = Project::create(&path, "Locked").expect("create");
    let err = store_error(Project::open(&path));
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("open for writing in another process"),
        "{err}"
    );
    let reader = Project::open_read_only(&path).expect("read-only open");
    assert_eq!(reader.name().expect("name"), "Locked");
    drop(first);
    Project::open(&path).expect("the lock goes with the writer");
}

#[test]
fn a_read_only_project_refuses_writes() {
    let (_dir, path) = temp_project("ro");
    drop(Project::create(&path, "ro").expect("create"));
    let mut reader = Project::open_read_only(&path).expect("open");
    let err = reader
        .start_run(&RunSpec::default())
        .expect_err("must refuse");
    assert!(err.to_string().contains("read-only"), "{err}");
}

#[test]
fn a_file_from_a_newer_kiln_is_refused_naming_both_versions() {
    let (_dir, path) = temp_project("future");
    drop(Project::create(&path, "Future").expect("create"));
    let raw = rusqlite::Connection::open(&path).expect("raw open");
    raw.pragma_update(None, "user_version", 99)
        .expect("bump format");
    raw.execute(
        "UPDATE meta SET value = '7.3.0' WHERE key = 'written_by'",
        [],
    )
    .expect("meta");
    drop(raw);
    for result in [Project::open(&path), Project::open_read_only(&path)] {
        let err = store_error(result);
        let message = err.to_string();
        assert!(
            matches!(err, StoreError::TooNew { found: 99, .. }),
            "{message}"
        );
        assert!(message.contains("Kiln 7.3.0"), "{message}");
        assert!(
            message.contains(&format!("Kiln {}", crate::KILN_VERSION)),
            "{message}"
        );
    }
}

#[test]
fn an_empty_kiln_database_is_upgraded_by_the_migrations() {
    let (_dir, path) = temp_project("old");
    let raw = rusqlite::Connection::open(&path).expect("raw");
    raw.pragma_update(None, "application_id", schema::APPLICATION_ID)
        .expect("app id");
    raw.execute_batch("CREATE TABLE placeholder (x)")
        .expect("table");
    drop(raw);
    assert!(matches!(
        store_error(Project::open_read_only(&path)),
        StoreError::NeedsUpgrade { found: 0, .. }
    ));
    let mut project = Project::open(&path).expect("upgrade");
    assert_eq!(project.format().expect("format"), schema::latest_format());
    project
        .start_run(&RunSpec {
            name: "after upgrade".into(),
            ..Default::default()
        })
        .expect("run");
}

#[test]
fn files_that_are_not_projects_get_a_reason_not_a_panic() {
    let (dir, path) = temp_project("notes");
    fs::write(&path, "name,age\nada,36\n").expect("write");
    let err = store_error(Project::open(&path));
    assert!(err.to_string().contains("not an SQLite database"), "{err}");

    let empty = dir.path().join("empty.kiln");
    fs::write(&empty, "").expect("write");
    assert!(
        store_error(Project::open(&empty))
            .to_string()
            .contains("empty")
    );

    assert!(matches!(
        store_error(Project::open(dir.path())),
        StoreError::NotAProject { .. }
    ));
    let missing = dir.path().join("missing.kiln");
    assert!(matches!(
        store_error(Project::open(&missing)),
        StoreError::NotFound { .. }
    ));
    assert!(!missing.exists(), "opening must not create the file");
}

#[test]
fn a_foreign_sqlite_database_is_refused_and_left_untouched() {
    let (dir, _) = temp_project("unused");
    let foreign = dir.path().join("mlflow.db");
    let raw = rusqlite::Connection::open(&foreign).expect("raw");
    raw.execute_batch("CREATE TABLE runs (id); INSERT INTO runs VALUES (1);")
        .expect("fill");
    drop(raw);
    let before = fs::read(&foreign).expect("read");
    let err = store_error(Project::open(&foreign));
    assert!(err.to_string().contains("not one Kiln wrote"), "{err}");
    assert_eq!(fs::read(&foreign).expect("read"), before);
    assert!(!dir.path().join("mlflow.db-wal").exists());
}

fn project_with_points(path: &Path, n: i64) {
    let mut project = Project::create(path, "big").expect("create");
    let run = project.start_run(&RunSpec::default()).expect("run");
    project.log_metrics(run, &points(n)).expect("log");
}

#[test]
fn a_truncated_project_is_refused_as_damaged() {
    let (_dir, path) = temp_project("cut");
    project_with_points(&path, 20_000);
    let len = fs::metadata(&path).expect("meta").len();
    assert!(
        len > 100_000,
        "the test needs a multi-page file, got {len} bytes"
    );
    for keep in [len / 2, 4096, 60] {
        let bytes = fs::read(&path).expect("read");
        let cut = path.with_extension(format!("cut{keep}"));
        fs::write(&cut, &bytes[..keep as usize]).expect("write");
        let err = store_error(Project::open(&cut));
        assert!(matches!(err, StoreError::Corrupt { .. }), "{keep}: {err}");
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}

#[test]
fn a_damaged_page_is_reported_not_panicked_on() {
    let (_dir, path) = temp_project("scribbled");
    project_with_points(&path, 20_000);
    let mut bytes = fs::read(&path).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle..middle + 8192].fill(0xA5);
    fs::write(&path, &bytes).expect("write");
    let outcome = Project::open(&path).and_then(|p| {
        p.check_integrity()?;
        p.runs().map(|_| ())
    });
    let err = outcome.expect_err("damage must be found");
    assert!(err.to_string().contains("damaged"), "{err}");
}

#[test]
fn blobs_are_stored_once_by_content() {
    let (_dir, path) = temp_project("blobs");
    let mut project = Project::create(&path, "blobs").expect("create");
    let a = project.put_blob(b"weights").expect("put");
    let b = project.put_blob(b"weights").expect("put again");
    assert_eq!(a, b);
    assert_eq!(a.as_str().len(), 64);
    assert_eq!(
        project.blob(&a).expect("get").as_deref(),
        Some(&b"weights"[..])
    );
    assert_eq!(project.info().expect("info").blobs, 1);
    assert_eq!(project.blob(&BlobHash::of(b"other")).expect("get"), None);
}

#[test]
fn runs_keep_params_tags_metrics_and_artifacts() {
    let (_dir, path) = temp_project("runs");
    let mut project = Project::create(&path, "runs").expect("create");
    let exp = project.experiment("mnist").expect("experiment");
    assert_eq!(project.experiment("mnist").expect("again"), exp);
    let spec = RunSpec {
        name: "mlp-1".into(),
        experiment: Some(exp),
        seed: Some(7),
        device: Some("cpu (flex)".into()),
        ..Default::default()
    };
    let run = project.start_run(&spec).expect("run");
    project
        .log_params(run, &[("lr", "0.01"), ("batch", "32")])
        .expect("params");
    project
        .log_params(run, &[("lr", "0.5")])
        .expect("params kept");
    project.set_tag(run, "note", "first").expect("tag");
    project.set_tag(run, "note", "second").expect("tag");
    let mut pts = points(3);
    pts[1].value = f64::NAN;
    project.log_metrics(run, &pts).expect("metrics");
    project
        .log_artifact(run, "model.bpk", b"\x00\x01")
        .expect("artifact");
    project
        .finish_run(run, RunStatus::Finished, None)
        .expect("finish");

    assert_eq!(
        project.params(run).expect("params"),
        [("batch".into(), "32".into()), ("lr".into(), "0.01".into())]
    );
    assert_eq!(
        project.tags(run).expect("tags"),
        [("note".into(), "second".into())]
    );
    let history = project.metric_history(run, "loss").expect("history");
    assert_eq!(history.len(), 3);
    assert!(history[1].value.is_nan());
    assert_eq!(history[2].value, 1.0 / 3.0);
    let summary = project.run(run).expect("summary");
    assert_eq!(
        (summary.status, summary.metric_points),
        (RunStatus::Finished, 3)
    );
    assert_eq!(summary.experiment, "mnist");
    assert!(summary.end_time.is_some());
    assert_eq!(project.runs().expect("runs").len(), 1);
}

#[test]
fn points_for_a_missing_run_are_refused_by_the_foreign_key() {
    let (_dir, path) = temp_project("fk");
    let mut project = Project::create(&path, "fk").expect("create");
    assert!(project.log_metrics(crate::RunId(42), &points(1)).is_err());
    assert_eq!(project.info().expect("info").metric_points, 0);
    assert!(
        project
            .finish_run(crate::RunId(42), RunStatus::Failed, Some("x"))
            .is_err()
    );
}

#[test]
fn run_rows_carry_params_and_metric_summaries_from_disk() {
    let (_dir, path) = temp_project("rows");
    let mut project = Project::create(&path, "rows").expect("create");
    let a = project.start_run(&RunSpec::default()).expect("run");
    let b = project.start_run(&RunSpec::default()).expect("run");
    project
        .log_params(a, &[("learning_rate", "0.01"), ("hidden", "16")])
        .expect("params");
    let point = |key: &str, step: i64, value: f64| MetricPoint {
        key: key.into(),
        step,
        value,
        timestamp: 0,
    };
    project
        .log_metrics(
            a,
            &[
                point("val/loss", 1, 0.9),
                point("val/loss", 2, 0.4),
                point("val/loss", 3, 0.5),
                point("val/macro_f1", 3, 0.8),
            ],
        )
        .expect("log");
    drop(project);
    let project = Project::open_read_only(&path).expect("reopen");
    let rows = project.run_rows().expect("rows");
    assert_eq!(rows.len(), 2);
    let row_a = rows.iter().find(|r| r.run.id == a).expect("run a");
    assert_eq!(row_a.param("learning_rate"), Some("0.01"));
    let loss = row_a.metric("val/loss").expect("loss");
    assert_eq!(
        (loss.last, loss.min, loss.max, loss.points),
        (0.5, 0.4, 0.9, 3)
    );
    assert_eq!(loss.best(), 0.4);
    assert_eq!(row_a.metric("val/macro_f1").map(|m| m.best()), Some(0.8));
    let row_b = rows.iter().find(|r| r.run.id == b).expect("run b");
    assert!(row_b.params.is_empty() && row_b.metrics.is_empty());
}

/// The summaries each insert keeps are the ones the points give: across batches, with NaN,
/// repeated and out-of-order steps, and through the migration that first builds them.
#[test]
fn kept_metric_summaries_equal_what_the_points_give() {
    let (_dir, path) = temp_project("kept");
    let mut project = Project::create(&path, "kept").expect("create");
    let run = project.start_run(&RunSpec::default()).expect("run");
    let mut rng = crate::rng::SeededRng::new(5);
    for _ in 0..40 {
        let batch: Vec<MetricPoint> = (0..rng.below(6))
            .map(|_| MetricPoint {
                key: ["a", "b", "c"][rng.below(3) as usize].into(),
                step: rng.below(8) as i64,
                value: if rng.below(5) == 0 {
                    f64::NAN
                } else {
                    rng.unit()
                },
                timestamp: 0,
            })
            .collect();
        project.log_metrics(run, &batch).expect("log");
    }
    let check = |project: &Project| {
        let kept = project.run_rows().expect("rows");
        let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
        let summaries = &kept[0].metrics;
        assert_eq!(summaries.len(), 3);
        for s in summaries {
            // In step order, the latest logged last among equal steps.
            let history = project.metric_history(run, &s.key).expect("history");
            let values: Vec<f64> = history
                .iter()
                .map(|p| p.value)
                .filter(|v| !v.is_nan())
                .collect();
            let fold =
                |f: fn(f64, f64) -> f64| values.iter().copied().reduce(f).unwrap_or(f64::NAN);
            let last = history.last().map_or(f64::NAN, |p| p.value);
            assert_eq!(s.points, history.len() as u64, "{}", s.key);
            assert!(same(s.last, last), "{s:?} last {last}");
            assert!(
                same(s.min, fold(f64::min)) && same(s.max, fold(f64::max)),
                "{s:?}"
            );
        }
        let stored: i64 = project
            .read(|c| c.query_row("SELECT count(*) FROM metrics", [], |r| r.get(0)))
            .expect("count");
        assert_eq!(project.info().expect("info").metric_points, stored as u64);
    };
    check(&project);
    // A file of the previous format gets its summaries from the migration.
    project
        .write(|c| {
            c.execute_batch(
                "DROP TABLE metric_summaries; DROP TABLE replay_reports;
                 DROP TABLE monitoring_reports; DROP TABLE retrain_decisions;
                 PRAGMA user_version = 4;",
            )
        })
        .expect("back to format 4");
    drop(project);
    let project = Project::open(&path).expect("upgrade");
    check(&project);
}

#[test]
fn a_scribbled_project_is_refused_at_open_for_writing_and_reading_untouched() {
    let (_dir, path) = temp_project("dd");
    project_with_points(&path, 20_000);
    let mut bytes = fs::read(&path).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle..middle + 4096].fill(0x5A);
    fs::write(&path, &bytes).expect("write");
    for err in [
        store_error(Project::open(&path)),
        store_error(Project::open_read_only(&path)),
    ] {
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("kiln repair"), "{err}");
    }
    assert_eq!(fs::read(&path).expect("read"), bytes, "the check wrote");
}

#[test]
fn atomically_keeps_all_of_its_writes_or_none() {
    let (_dir, path) = temp_project("atomic");
    let mut project = Project::create(&path, "atomic").expect("create");
    let failed: Result<()> = project.atomically(|p| {
        let run = p.start_run(&RunSpec::default())?;
        p.log_metrics(run, &points(10))?;
        Err(StoreError::ReadOnly {
            path: p.path().to_owned(),
        }
        .into())
    });
    assert!(failed.is_err());
    assert_eq!(
        project.info().expect("info").runs,
        0,
        "a refused step left a run"
    );
    project
        .atomically(|p| {
            let run = p.start_run(&RunSpec::default())?;
            p.log_metrics(run, &points(10))
        })
        .expect("atomic");
    let info = project.info().expect("info");
    assert_eq!((info.runs, info.metric_points), (1, 10));
}

#[test]
fn repair_copies_a_sound_project_whole() {
    let (dir, path) = temp_project("sound");
    project_with_points(&path, 5_000);
    let out = dir.path().join("copy.kiln");
    let report = repair(&path, &out).expect("repair");
    assert!(!report.lost_anything(), "{report:?}");
    let copy = Project::open(&out).expect("open");
    copy.check_integrity().expect("integrity");
    let info = copy.info().expect("info");
    assert_eq!((info.runs, info.metric_points), (1, 5_000));
    assert!(
        repair(&path, &out).is_err(),
        "an existing output is never replaced"
    );
}

#[test]
fn repair_finishes_when_the_last_page_of_a_table_is_damaged() {
    let (dir, path) = temp_project("tail");
    project_with_points(&path, 20_000);
    // The last leaf of `metrics`, where appends land: its max(rowid) can no longer be read.
    let (root, page_size): (u32, u64) = {
        let c = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open");
        let root = c
            .query_row(
                "SELECT rootpage FROM sqlite_schema WHERE name = 'metrics'",
                [],
                |r| r.get(0),
            )
            .expect("root");
        let size: i64 = c
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .expect("size");
        (root, size as u64)
    };
    let mut bytes = fs::read(&path).expect("read");
    let at = ((u64::from(root) - 1) * page_size) as usize;
    assert_eq!(bytes[at], 0x05, "metrics should span several pages");
    let last = u32::from_be_bytes([bytes[at + 8], bytes[at + 9], bytes[at + 10], bytes[at + 11]]);
    let leaf = ((u64::from(last) - 1) * page_size) as usize;
    bytes[leaf..leaf + page_size as usize].fill(0);
    fs::write(&path, &bytes).expect("damage");

    let out = dir.path().join("tail-fixed.kiln");
    let report = repair(&path, &out).expect("repair finishes");
    let metrics = report
        .tables
        .iter()
        .find(|t| t.table == "metrics")
        .expect("metrics");
    assert!(
        metrics.unreadable_after.is_some() || metrics.lost > 0,
        "{report:?}"
    );
    assert!(
        metrics.recovered > 15_000 && metrics.recovered < 20_000,
        "{report:?}"
    );
    assert!(
        metrics.lost < 1_000,
        "phantom keys counted as lost: {report:?}"
    );
    let fixed = Project::open(&out).expect("open");
    fixed.check_integrity().expect("integrity");
    assert_eq!(fixed.info().expect("info").runs, 1);
}
