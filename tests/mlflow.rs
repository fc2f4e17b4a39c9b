//! Sync against a real MLflow tracking server on loopback, read back through MLflow's own Python
//! client. `scripts/check-mlflow.sh` installs MLflow, starts the server and runs these:
//!
//!   KILN_MLFLOW_URL=http://127.0.0.1:PORT         the server
//!   KILN_MLFLOW_FOREIGN_URL=http://localhost:PORT the same server by a host name it refuses
//!   KILN_MLFLOW_PYTHON=.bench/venv/bin/python     a Python with mlflow installed
//!
//! They are ignored by a plain `cargo test`, which has no server.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{kiln, kiln_ok, path_str, stderr};
use kiln_core::registry::VersionSelector;
use kiln_core::{BlobHash, MetricPoint, Project, RunSpec, RunStatus};
use serde_json::Value;

const NEEDS: &str = "needs an MLflow server: run scripts/check-mlflow.sh";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: {NEEDS}"))
}

fn url() -> String {
    env("KILN_MLFLOW_URL")
}

/// A fresh experiment name, so that tests never see each other's runs.
fn experiment(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("{what}-{nanos}")
}

/// Runs the Python side (`scripts/mlflow_e2e.py`) and parses what it prints.
fn python(args: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mlflow_e2e.py");
    let out = Command::new(env("KILN_MLFLOW_PYTHON"))
        .arg(script)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "mlflow_e2e.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json from mlflow_e2e.py")
}

fn readback(experiment: &str) -> Value {
    python(&["readback", &url(), experiment])
}

fn push_json(file: &Path, experiment: &str, extra: &[&str]) -> Value {
    let url = url();
    let mut args = vec![
        "mlflow",
        "push",
        path_str(file),
        "--to",
        &url,
        "--experiment",
        experiment,
        "--json",
    ];
    args.extend_from_slice(extra);
    serde_json::from_str(&kiln_ok(&args)).expect("push report")
}

/// The course lab's project, made by `kiln lab` in `dir`.
fn lab(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("lab.kiln");
    kiln_ok(&[
        "lab",
        path_str(&file),
        "--target",
        path_str(&dir.join("triton")),
    ]);
    file
}

/// The server's runs by their `kiln.key` tag.
fn runs_by_key(back: &Value) -> HashMap<String, Value> {
    back["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| Some((r["tags"]["kiln.key"].as_str()?.to_owned(), r.clone())))
        .collect()
}

/// A history as (step, timestamp, value) rows, sorted; NaN as None.
fn rows(points: &[MetricPoint]) -> Vec<(i64, i64, Option<f64>)> {
    let mut rows: Vec<_> = points
        .iter()
        .map(|p| (p.step, p.timestamp, Some(p.value).filter(|v| !v.is_nan())))
        .collect();
    rows.sort_by_key(|r| (r.0, r.1));
    rows
}

fn server_rows(history: &Value) -> Vec<(i64, i64, Option<f64>)> {
    let mut rows: Vec<_> = history
        .as_array()
        .expect("history")
        .iter()
        .map(|p| {
            (
                p[0].as_i64().expect("step"),
                p[1].as_i64().expect("timestamp"),
                p[2].as_f64(),
            )
        })
        .collect();
    rows.sort_by_key(|r| (r.0, r.1));
    rows
}

/// Asserts that every run of `project` is on the server exactly: status, times, params, tags,
/// every point, its parent and its card. Returns the server's runs by key.
fn assert_runs_match(project: &Project, back: &Value) -> HashMap<String, Value> {
    let by_key = runs_by_key(back);
    let runs = project.runs().expect("runs");
    for run in &runs {
        let there = by_key
            .get(&run.uuid)
            .unwrap_or_else(|| panic!("run {} ({}) is not on the server", run.id, run.name));
        let status = match run.status {
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
            RunStatus::Killed => "KILLED",
            RunStatus::Running => "RUNNING",
        };
        assert_eq!(there["status"], status, "run {}", run.id);
        assert_eq!(there["name"], run.name.as_str());
        assert_eq!(there["start_time"].as_i64(), Some(run.start_time));
        assert_eq!(there["end_time"].as_i64(), run.end_time);
        let params: BTreeMap<String, String> = project
            .params(run.id)
            .expect("params")
            .into_iter()
            .collect();
        let params_there: BTreeMap<String, String> =
            serde_json::from_value(there["params"].clone()).expect("params there");
        assert_eq!(params_there, params, "params of run {}", run.id);
        let tags = &there["tags"];
        assert_eq!(tags["kiln.device"].as_str(), run.device.as_deref());
        assert_eq!(tags["kiln.run_id"], run.id.to_string().as_str());
        assert_eq!(tags["kiln.version"], kiln_core::KILN_VERSION);
        for (k, v) in project.tags(run.id).expect("tags") {
            assert_eq!(tags[&k], v.as_str(), "tag {k} of run {}", run.id);
        }
        let keys = project.metric_keys(run.id).expect("keys");
        assert_eq!(
            there["metrics"].as_object().map(|m| m.len()),
            Some(keys.len()),
            "metric keys of run {}",
            run.id
        );
        for key in keys {
            let ours = rows(&project.metric_history(run.id, &key).expect("history"));
            let theirs = server_rows(&there["metrics"][&key]);
            let first_difference = ours.iter().zip(&theirs).position(|(a, b)| a != b);
            assert!(
                theirs.len() == ours.len() && first_difference.is_none(),
                "{key} of run {}: {} points there, {} here; first difference at {first_difference:?}: {:?}",
                run.id,
                theirs.len(),
                ours.len(),
                first_difference.map(|i| (theirs[i], ours[i]))
            );
        }
        assert!(
            there["artifacts"]["model_card.md"].is_string(),
            "card of run {}",
            run.id
        );
        if let Some(study) = &run.study {
            let parent = tags["mlflow.parentRunId"]
                .as_str()
                .unwrap_or_else(|| panic!("run {} has no parent", run.id));
            let parent = back["runs"]
                .as_array()
                .expect("runs")
                .iter()
                .find(|r| r["run_id"] == parent)
                .expect("the parent is in the experiment");
            assert_eq!(parent["name"], study.as_str());
            assert!(parent["tags"]["kiln.study_id"].is_string());
        }
    }
    by_key
}

#[test]
#[ignore = "needs an MLflow server: run scripts/check-mlflow.sh"]
fn the_lab_round_trips_and_a_second_push_creates_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let file = lab(dir.path());
    let name = experiment("lab");

    let preview = push_json(&file, &name, &["--models", "--dry-run"]);
    assert_eq!(preview["dry_run"], true);
    assert!(
        readback(&name)["experiment"].is_null(),
        "a dry run creates nothing"
    );

    let first = push_json(&file, &name, &["--models"]);
    let project = Project::open_read_only(&file).expect("open");
    let runs = project.runs().expect("runs");
    // Every trial, and one parent for the study.
    assert_eq!(first["runs_created"], runs.len() as u64 + 1);
    assert_eq!(first["runs_created"], preview["runs_created"]);
    assert_eq!(first["points_sent"], preview["points_sent"]);
    assert_eq!(first["versions_created"], 1);
    let back = readback(&name);
    let by_key = assert_runs_match(&project, &back);

    // The registered version: on the server, aliased, its files byte for byte.
    let version = project
        .model_version("penguins", &VersionSelector::Alias("champion".into()))
        .expect("champion");
    let run = project.run(version.run).expect("run");
    let there = &by_key[&run.uuid];
    let versions = back["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0]["run_id"], there["run_id"]);
    assert_eq!(versions[0]["aliases"], serde_json::json!(["champion"]));
    assert!(
        versions[0]["source"]
            .as_str()
            .expect("source")
            .ends_with("/artifacts/model")
    );
    let files = project
        .model_files("penguins", &VersionSelector::Number(version.version))
        .expect("files");
    for (name, bytes) in &files {
        assert_eq!(
            there["artifacts"][format!("model/{name}")],
            BlobHash::of(bytes).as_str(),
            "model/{name}"
        );
    }
    assert!(files.iter().any(|(n, _)| n == "model.onnx"));
    assert!(files.iter().any(|(n, _)| n == "pipeline.json"));

    // Again: nothing new.
    let second = push_json(&file, &name, &["--models"]);
    assert_eq!(second["runs_created"], 0);
    assert_eq!(second["runs_completed"], 0);
    assert_eq!(second["runs_unchanged"], runs.len() as u64 + 1);
    assert_eq!(second["points_sent"], 0);
    assert_eq!(second["versions_created"], 0);
    assert_eq!(second["versions_unchanged"], 1);
    let again = readback(&name);
    assert_eq!(
        again["runs"].as_array().map(Vec::len),
        back["runs"].as_array().map(Vec::len)
    );
    assert_eq!(again["versions"].as_array().map(Vec::len), Some(1));
    assert_runs_match(&project, &again);

    // A tag set afterwards travels on the next push, and nothing else does.
    let tagged = runs[0].id;
    drop(project);
    Project::open(&file)
        .expect("open for writing")
        .set_tag(tagged, "reviewed", "yes")
        .expect("tag");
    let third = push_json(&file, &name, &["--models"]);
    assert_eq!(third["runs_created"], 0);
    assert_eq!(third["runs_completed"], 1, "{third}");
    assert_eq!(third["points_sent"], 0);
    let project = Project::open_read_only(&file).expect("open");
    let after = assert_runs_match(&project, &readback(&name));
    assert_eq!(after[&runs[0].uuid]["tags"]["reviewed"], "yes");

    // The project remembers the server: a bare push goes to the same place.
    drop(project);
    let bare = kiln_ok(&["mlflow", "push", path_str(&file), "--json"]);
    let bare: Value = serde_json::from_str(&bare).expect("report");
    assert_eq!(bare["experiment"], name.as_str());
    assert_eq!(bare["runs_created"], 0);
}

/// A project of `runs` runs with `points` points each, over five metrics.
fn big_project(file: &Path, runs: usize, points: usize) {
    let mut project = Project::create(file, "big").expect("create");
    for r in 0..runs {
        let run = project
            .start_run(&RunSpec {
                name: format!("run-{r}"),
                seed: Some(r as u64),
                ..RunSpec::default()
            })
            .expect("run");
        project
            .log_params(run, &[("index", &r.to_string()), ("family", "mlp")])
            .expect("params");
        let batch: Vec<MetricPoint> = (0..points)
            .map(|i| MetricPoint {
                key: format!("metric/{}", i % 5),
                step: (i / 5) as i64,
                value: ((i * 7 + r) % 1000) as f64 / 997.0,
                timestamp: 1_700_000_000_000 + i as i64,
            })
            .collect();
        project.log_metrics(run, &batch).expect("points");
        project
            .finish_run(run, RunStatus::Finished, None)
            .expect("finish");
    }
}

#[test]
#[ignore = "needs an MLflow server: run scripts/check-mlflow.sh"]
fn a_push_killed_halfway_is_completed_by_the_next() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("big.kiln");
    let (runs, points) = (6, 10_000);
    big_project(&file, runs, points);
    let name = experiment("kill");

    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "mlflow",
            "push",
            path_str(&file),
            "--to",
            &url(),
            "--experiment",
            &name,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Progress lines: "push: 2/12 runs, ..."; kill once a few runs are complete.
    let lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    for line in lines {
        let line = line.expect("line");
        seen.push(line.clone());
        let done: Option<u64> = line
            .strip_prefix("push: ")
            .and_then(|l| l.split('/').next())
            .and_then(|n| n.parse().ok());
        if done.is_some_and(|d| d >= 2) {
            break;
        }
    }
    child.kill().expect("kill -9");
    let status = child.wait().expect("wait");
    assert!(
        !status.success(),
        "the push ended before the kill: {seen:?}"
    );

    // Halfway: some runs are there, not all; none is FINISHED without all of its points.
    let back = readback(&name);
    let there = back["runs"].as_array().expect("runs");
    let finished: Vec<&Value> = there.iter().filter(|r| r["status"] == "FINISHED").collect();
    assert!(finished.len() >= 2, "{} finished", finished.len());
    assert!(
        finished.len() < runs,
        "the kill came after the end: {seen:?}"
    );
    for r in &finished {
        let n: usize = r["metrics"]
            .as_object()
            .expect("metrics")
            .values()
            .map(|h| h.as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(
            n, points,
            "{} is FINISHED with {n} of {points} points",
            r["name"]
        );
    }

    // What the server holds now is not sent again: the next push sends exactly the rest.
    let already: u64 = there
        .iter()
        .flat_map(|r| r["metrics"].as_object().expect("metrics").values())
        .map(|h| h.as_array().map_or(0, Vec::len) as u64)
        .sum();
    let report = push_json(&file, &name, &[]);
    assert_eq!(
        report["points_sent"].as_u64(),
        Some((runs * points) as u64 - already),
        "{report}"
    );
    assert_eq!(
        report["runs_created"].as_u64().unwrap_or(0)
            + report["runs_completed"].as_u64().unwrap_or(0)
            + report["runs_unchanged"].as_u64().unwrap_or(0),
        runs as u64
    );
    let project = Project::open_read_only(&file).expect("open");
    let back = readback(&name);
    assert_eq!(
        back["runs"].as_array().map(Vec::len),
        Some(runs),
        "no run twice"
    );
    assert_runs_match(&project, &back);
}

#[test]
#[ignore = "needs an MLflow server: run scripts/check-mlflow.sh"]
fn pulling_brings_in_runs_logged_by_python_once() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("pulled.kiln");
    kiln_ok(&["new", path_str(&file)]);
    let name = experiment("workshop");
    let logged = python(&["log", &url(), &name]);

    let pull = |file: &Path| -> Value {
        let out = kiln_ok(&[
            "mlflow",
            "pull",
            path_str(file),
            "--from",
            &url(),
            "--experiment",
            &name,
            "--json",
        ]);
        serde_json::from_str(&out).expect("pull report")
    };
    let first = pull(&file);
    assert_eq!(first["runs_new"], 3);
    let second = pull(&file);
    assert_eq!(second["runs_new"], 0);
    assert_eq!(second["runs_updated"], 3);

    let project = Project::open_read_only(&file).expect("open");
    let runs = project.runs().expect("runs");
    assert_eq!(runs.len(), 3, "pulling twice duplicates nothing");
    for expected in logged["runs"].as_array().expect("logged") {
        let run = runs
            .iter()
            .find(|r| r.uuid == expected["run_id"].as_str().expect("id"))
            .expect("pulled run");
        assert_eq!(run.name, expected["name"].as_str().expect("name"));
        assert!(
            run.origin.as_deref().is_some_and(|o| o.starts_with(&url())),
            "{:?}",
            run.origin
        );
        assert_eq!(run.experiment, name);
        assert_eq!(
            run.metric_points,
            expected["points"].as_u64().expect("points")
        );
        let history = project
            .metric_history(run.id, "val/accuracy")
            .expect("history");
        assert_eq!(history.len(), 25);
        let i: f64 = run
            .name
            .trim_start_matches("sklearn-")
            .parse()
            .expect("index");
        for p in &history {
            assert_eq!(p.value, 0.5 + 0.1 * i + 0.01 * p.step as f64);
        }
        let loss = project.metric_history(run.id, "loss").expect("loss");
        assert!(loss[0].value.is_nan());
        let params: HashMap<String, String> = project
            .params(run.id)
            .expect("params")
            .into_iter()
            .collect();
        assert_eq!(params["solver"], "lbfgs");
    }
    let failed = runs
        .iter()
        .filter(|r| r.status == RunStatus::Failed)
        .count();
    assert_eq!(failed, 1);
    drop(project);

    // The window marks them, beside the project's own runs.
    let settings = dir.path().join("ui.json");
    std::fs::write(&settings, r#"{"tab": "runs"}"#).expect("settings");
    let mut window = egui_kittest::Harness::builder()
        .with_size([1280.0, 800.0])
        .build_ui_state(
            |ui, app: &mut kiln_ui::KilnApp| app.show(ui),
            kiln_ui::KilnApp::with_settings(Some(settings), Some(file.clone())),
        );
    let started = std::time::Instant::now();
    while window.state().runs().len() < 3 {
        assert!(started.elapsed().as_secs() < 20, "the runs never showed");
        std::thread::sleep(std::time::Duration::from_millis(10));
        window.run_steps(1);
    }
    window.run_steps(3);
    use egui_kittest::kittest::Queryable;
    assert!(window.query_by_label("sklearn-0 (pulled)").is_some());
    assert!(window.query_by_label("sklearn-2 (pulled)").is_some());
    drop(window);

    // Pulled runs are not Kiln's to push back.
    let preview = kiln_ok(&[
        "mlflow",
        "push",
        path_str(&file),
        "--to",
        &url(),
        "--dry-run",
        "--json",
    ]);
    let preview: Value = serde_json::from_str(&preview).expect("preview");
    assert_eq!(preview["runs_created"], 0);
}

#[test]
#[ignore = "needs an MLflow server: run scripts/check-mlflow.sh"]
fn refusals_say_what_to_do() {
    let dir = tempfile::tempdir().expect("dir");
    let file = lab(dir.path());

    // A host name the server was not started for.
    let foreign = env("KILN_MLFLOW_FOREIGN_URL");
    let out = kiln(&["mlflow", "push", path_str(&file), "--to", &foreign]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("403") && err.contains("--allowed-hosts"),
        "{err}"
    );

    // A param the server already holds with another value.
    let name = experiment("param");
    let project = Project::open_read_only(&file).expect("open");
    let run = project.runs().expect("runs").pop().expect("a run");
    drop(project);
    python(&["plant", &url(), &name, &run.uuid, "learning_rate", "999"]);
    let out = kiln(&[
        "mlflow",
        "push",
        path_str(&file),
        "--to",
        &url(),
        "--experiment",
        &name,
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("\"learning_rate\"") && err.contains("never changes a param"),
        "{err}"
    );

    // An experiment that is not there.
    let out = kiln(&[
        "mlflow",
        "pull",
        path_str(&file),
        "--from",
        &url(),
        "--experiment",
        "no-such-experiment",
    ]);
    let err = stderr(&out);
    assert!(
        err.contains("there is no experiment \"no-such-experiment\""),
        "{err}"
    );
    assert!(
        err.contains(&format!("\"{name}\"")),
        "the known ones are listed: {err}"
    );
}

#[test]
#[ignore = "needs an MLflow server: run scripts/check-mlflow.sh"]
fn a_study_pushed_in_part_stays_open_until_the_rest_follows() {
    let dir = tempfile::tempdir().expect("dir");
    let file = lab(dir.path());
    let project = Project::open_read_only(&file).expect("open");
    let runs = project.runs().expect("runs");
    drop(project);
    let name = experiment("part");
    let one = runs[0].id.to_string();
    let first = push_json(&file, &name, &["--runs", &one]);
    assert_eq!(first["runs_created"], 2, "one trial and its study: {first}");
    let parent_status = |back: &Value| {
        back["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .find(|r| r["tags"]["kiln.study_id"].is_string())
            .map(|r| r["status"].clone())
    };
    assert_eq!(parent_status(&readback(&name)), Some("RUNNING".into()));

    let rest = push_json(&file, &name, &[]);
    assert_eq!(rest["runs_created"], runs.len() as u64 - 1, "{rest}");
    assert_eq!(
        rest["runs_completed"], 1,
        "the parent is finished now: {rest}"
    );
    let back = readback(&name);
    assert_eq!(parent_status(&back), Some("FINISHED".into()));
    assert_runs_match(&Project::open_read_only(&file).expect("open"), &back);
}

#[test]
#[ignore = "needs an MLflow server: run scripts/check-mlflow.sh"]
fn a_server_that_wants_a_login_gets_the_one_mlflow_clients_use() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("small.kiln");
    big_project(&file, 2, 50);
    let login = env("KILN_MLFLOW_LOGIN_URL");
    let password = env("KILN_MLFLOW_ADMIN_PASSWORD");
    let push = |user: Option<(&str, &str)>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kiln"));
        command
            .args(["mlflow", "push", path_str(&file), "--to", &login, "--json"])
            .env_remove("MLFLOW_TRACKING_TOKEN")
            .env_remove("MLFLOW_TRACKING_USERNAME")
            .env_remove("MLFLOW_TRACKING_PASSWORD");
        if let Some((name, secret)) = user {
            command
                .env("MLFLOW_TRACKING_USERNAME", name)
                .env("MLFLOW_TRACKING_PASSWORD", secret);
        }
        command.output().expect("run kiln")
    };

    let anonymous = push(None);
    assert!(!anonymous.status.success());
    let err = stderr(&anonymous);
    assert!(
        err.contains("needs a login (401)") && err.contains("MLFLOW_TRACKING_USERNAME"),
        "{err}"
    );

    let wrong = push(Some(("admin", "not-the-password")));
    assert!(!wrong.status.success());
    let err = stderr(&wrong);
    assert!(err.contains("did not accept the login"), "{err}");

    let admitted = push(Some(("admin", &password)));
    assert!(admitted.status.success(), "{}", stderr(&admitted));
    let report: Value = serde_json::from_slice(&admitted.stdout).expect("report");
    assert_eq!(report["runs_created"], 2);
    assert_eq!(report["points_sent"], 100);
}
