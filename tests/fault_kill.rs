//! Fault injection, as trusted databases test themselves: every command that writes is killed
//! with SIGKILL at a random moment, again and again, and after every kill
//!
//! - the project passes `PRAGMA integrity_check`;
//! - every record the command acknowledged (a line it printed) is present;
//! - no half-made artifact is visible at its final path;
//! - the project's records agree with the files on disk;
//! - the next command of the same kind succeeds (and then records and files agree exactly).
//!
//! `KILN_FAULT_KILLS=N` sets the kills per command (10 by default); `KILN_FAULT_SEED` the seed
//! of the kill moments, which the test prints so that a failure can be replayed.

mod common;

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use kiln_core::Project;

/// One command under test: how to run it in a copy of the base project, and what to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Import,
    Train,
    Resume,
    Register,
    Alias,
    Evaluate,
    Export,
    Predict,
    Lab,
    Monitor,
    Retrain,
    Replay,
}

const KINDS: [Kind; 12] = [
    Kind::Import,
    Kind::Train,
    Kind::Resume,
    Kind::Register,
    Kind::Alias,
    Kind::Evaluate,
    Kind::Export,
    Kind::Predict,
    Kind::Lab,
    Kind::Monitor,
    Kind::Retrain,
    Kind::Replay,
];

struct Base {
    dir: PathBuf,
    /// The trained project (two versions of `penguins`, `champion` on 1).
    project: PathBuf,
    /// A copy with a study that was killed during its second trial, for `resume`.
    interrupted: PathBuf,
    /// A copy with a third version, barely trained, as `@stale`: a replay of it against v2
    /// promotes v2.
    stale: PathBuf,
    space: PathBuf,
    input: PathBuf,
    /// Every third penguin, with its label: a monitoring batch that does not drift (a drifting
    /// one would exit with status 3).
    batch: PathBuf,
}

/// A fresh copy of what a command needs.
struct Work {
    dir: PathBuf,
    file: PathBuf,
    target: PathBuf,
    out: PathBuf,
}

fn xorshift(state: &mut u64) -> f64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

fn base(dir: &Path) -> Base {
    let project = trained_project(dir);
    kiln_ok(&["register", path_str(&project), "2", "--model", "penguins"]);
    let space = quick_space(dir, 3, 8);
    let stale = dir.join("stale.kiln");
    fs::copy(&project, &stale).expect("copy");
    let weak = dir.join("weak.toml");
    fs::write(
        &weak,
        "learning_rate = 0.00001\nbatch_size = 32\nepochs = 1\nhidden = [2]\n",
    )
    .expect("weak space");
    kiln_ok(&train_args(path_str(&stale), path_str(&weak)));
    kiln_ok(&[
        "register",
        path_str(&stale),
        "3",
        "--model",
        "penguins",
        "--alias",
        "stale",
    ]);
    let interrupted = dir.join("interrupted.kiln");
    fs::copy(&project, &interrupted).expect("copy");
    // A study killed during its second trial.
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "train",
            path_str(&interrupted),
            "--dataset",
            "penguins",
            "--space",
            path_str(&quick_space(dir, 3, 8)),
            "--device",
            "cpu",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("train");
    let mut reader = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    loop {
        line.clear();
        let n = std::io::BufRead::read_line(&mut reader, &mut line).expect("read");
        assert!(n > 0, "the study ended before its second trial");
        if line.starts_with("trial 2/3 (run") {
            break;
        }
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    // Fold the killed writer's WAL into the file, so that a copy of the file alone is whole.
    drop(Project::open(&interrupted).expect("open"));
    let input = dir.join("input.csv");
    fs::copy(asset("penguins.csv"), &input).expect("input");
    // A labelled monitoring batch in the base, for a retrain to train on and compare with.
    let batch = dir.join("sample.csv");
    let source = fs::read_to_string(&input).expect("csv");
    let sample: Vec<&str> = source
        .lines()
        .enumerate()
        .filter(|(i, _)| i % 3 == 0)
        .map(|(_, l)| l)
        .collect();
    fs::write(&batch, sample.join("\n") + "\n").expect("batch");
    let labelled = dir.join("labelled.csv");
    fs::write(&labelled, source.replacen("39.1,18.7", "39.2,18.7", 1)).expect("labelled");
    let out = kiln(&[
        "monitor",
        path_str(&project),
        "penguins@champion",
        path_str(&labelled),
    ]);
    assert!(
        out.status.code().is_some_and(|c| c == 0 || c == 3),
        "{}",
        stderr(&out)
    );
    Base {
        dir: dir.to_owned(),
        project,
        interrupted,
        stale,
        space,
        input,
        batch,
    }
}

fn work(base: &Base, kind: Kind, n: usize) -> Work {
    let dir = base.dir.join(format!("{kind:?}-{n}"));
    fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("p.kiln");
    let from = match kind {
        Kind::Resume => &base.interrupted,
        Kind::Replay => &base.stale,
        _ => &base.project,
    };
    if kind != Kind::Lab {
        fs::copy(from, &file).expect("copy");
    }
    Work {
        target: dir.join("models"),
        out: dir.join("scored.csv"),
        file,
        dir,
    }
}

fn args(base: &Base, kind: Kind, w: &Work) -> Vec<String> {
    let f = path_str(&w.file).to_owned();
    let s = |x: &str| x.to_owned();
    match kind {
        Kind::Import => vec![
            s("import"),
            f,
            s(path_str(&base.input)),
            s("--name"),
            s("again"),
        ],
        Kind::Train => vec![
            s("train"),
            f,
            s("--dataset"),
            s("penguins"),
            s("--space"),
            s(path_str(&base.space)),
            s("--device"),
            s("cpu"),
        ],
        Kind::Resume => vec![s("resume"), f, s("2")],
        Kind::Register => vec![
            s("register"),
            f,
            s("2"),
            s("--model"),
            s("penguins"),
            s("--alias"),
            s("challenger"),
        ],
        Kind::Alias => vec![s("alias"), f, s("penguins"), s("champion"), s("2")],
        Kind::Evaluate => vec![
            s("evaluate"),
            f,
            s("penguins@champion"),
            s("--sensitive"),
            s("sex"),
        ],
        Kind::Export => vec![
            s("export"),
            f,
            s("penguins@champion"),
            s("--target"),
            s(path_str(&w.target)),
        ],
        Kind::Predict => vec![
            s("predict"),
            f,
            s("penguins@champion"),
            s(path_str(&base.input)),
            s("--out"),
            s(path_str(&w.out)),
            s("--force"),
        ],
        Kind::Lab => vec![s("lab"), f, s("--target"), s(path_str(&w.target))],
        Kind::Monitor => vec![
            s("monitor"),
            f,
            s("penguins@champion"),
            s(path_str(&base.batch)),
        ],
        Kind::Retrain => vec![s("retrain"), f, s("penguins"), s("--now")],
        Kind::Replay => vec![
            s("replay"),
            f,
            s(path_str(&base.batch)),
            s("--a"),
            s("penguins@stale"),
            s("--b"),
            s("penguins:2"),
            s("--promote"),
        ],
    }
}

/// Runs the command, killing it after `after` (or never); returns its stdout and whether it
/// ran to the end.
fn run(args: &[String], dir: &Path, after: Option<Duration>) -> (String, bool) {
    let log = dir.join("stdout.txt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .stdout(Stdio::from(File::create(&log).expect("log")))
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kiln");
    let started = Instant::now();
    let finished = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            assert!(
                status.success() || after.is_some(),
                "kiln {args:?} failed: {status:?}\n{err}\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            );
            break true;
        }
        if after.is_some_and(|a| started.elapsed() >= a) {
            child.kill().expect("SIGKILL");
            child.wait().expect("wait");
            break false;
        }
        std::thread::sleep(Duration::from_micros(500));
    };
    (fs::read_to_string(&log).unwrap_or_default(), finished)
}

fn sql<T: rusqlite::types::FromSql>(file: &Path, query: &str) -> Vec<T> {
    let conn =
        rusqlite::Connection::open_with_flags(file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open");
    let mut stmt = conn.prepare(query).expect("prepare");
    let rows = stmt.query_map([], |r| r.get(0)).expect("query");
    rows.map(|r| r.expect("row")).collect()
}

/// The number between `marker` and the next `)` in a line the command printed.
fn number_after(line: &str, marker: &str, context: &str) -> i64 {
    line.split(marker)
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("{context}: unreadable line {line:?}"))
}

/// The checks that hold after any kill, and after a finished command.
fn check(kind: Kind, w: &Work, printed: &str, context: &str) {
    let project = Project::open_read_only(&w.file)
        .unwrap_or_else(|e| panic!("{context}: the project does not open: {e}"));
    project
        .check_integrity()
        .unwrap_or_else(|e| panic!("{context}: {e}"));
    drop(project);
    match kind {
        Kind::Import => {
            let batches: Vec<i64> = sql(
                &w.file,
                "SELECT row_count FROM dataset_batches b JOIN datasets d ON d.id = b.dataset_id WHERE d.name = 'again'",
            );
            if printed.contains("imported") {
                assert_eq!(batches, [344], "{context}: acknowledged import missing");
            }
            assert!(
                batches.is_empty() || batches == [344],
                "{context}: {batches:?}"
            );
        }
        Kind::Train | Kind::Resume => {
            for line in printed.lines().filter(|l| l.contains(") finished")) {
                let run = number_after(line, "(run ", context);
                let status: Vec<String> = sql(
                    &w.file,
                    &format!("SELECT status FROM runs WHERE id = {run}"),
                );
                assert_eq!(status, ["finished"], "{context}: acknowledged run {run}");
                let artifacts: Vec<String> = sql(
                    &w.file,
                    &format!("SELECT path FROM artifacts WHERE run_id = {run} ORDER BY path"),
                );
                assert!(
                    artifacts.contains(&"model.bpk".to_string()),
                    "{context}: run {run} finished without its model: {artifacts:?}"
                );
            }
            // A finished run always has its model: no run claims more than it holds.
            let orphans: Vec<i64> = sql(
                &w.file,
                "SELECT id FROM runs WHERE status = 'finished' AND study_id IS NOT NULL
                 AND id NOT IN (SELECT run_id FROM artifacts WHERE path = 'model.bpk')",
            );
            assert!(
                orphans.is_empty(),
                "{context}: finished runs without a model: {orphans:?}"
            );
        }
        Kind::Register => {
            let versions: Vec<String> = sql(
                &w.file,
                "SELECT v.version || ':' || length(v.card_md) || ':' || coalesce((SELECT group_concat(alias) FROM model_aliases a WHERE a.version_id = v.id), '')
                 FROM model_versions v ORDER BY v.version",
            );
            // Two versions in the base; a killed registration and the one after it add at most
            // one each, every one whole: its card written and the alias on the newest.
            assert!((2..=4).contains(&versions.len()), "{context}: {versions:?}");
            for (i, v) in versions.iter().enumerate().skip(2) {
                let parts: Vec<&str> = v.split(':').collect();
                assert!(
                    parts[1] != "0",
                    "{context}: a version without its card: {versions:?}"
                );
                if i + 1 == versions.len() {
                    assert_eq!(
                        parts[2], "challenger",
                        "{context}: newest without its alias: {versions:?}"
                    );
                }
            }
            if printed.contains("registered run") {
                assert!(
                    versions.len() >= 3,
                    "{context}: acknowledged version missing"
                );
            }
        }
        Kind::Alias => {
            let champion: Vec<i64> = sql(
                &w.file,
                "SELECT v.version FROM model_aliases a JOIN model_versions v ON v.id = a.version_id WHERE a.alias = 'champion'",
            );
            assert!(
                champion == [1] || champion == [2],
                "{context}: champion is {champion:?}"
            );
            if printed.contains("now points at") {
                assert_eq!(champion, [2], "{context}: acknowledged alias missing");
            }
        }
        Kind::Evaluate => {
            // Each evaluation stores its metrics and its fairness report together, or nothing.
            let count = |kind: &str| -> usize {
                sql::<String>(
                    &w.file,
                    &format!("SELECT kind FROM evaluations WHERE kind = '{kind}'"),
                )
                .len()
            };
            let (metrics, fairness) = (count("metrics"), count("fairness"));
            assert_eq!(metrics, fairness, "{context}: a half-stored evaluation");
            assert!(metrics <= 2, "{context}: {metrics} evaluations");
            if printed.contains("held-out rows") {
                assert!(metrics >= 1, "{context}: acknowledged evaluation missing");
            }
        }
        Kind::Export | Kind::Lab => check_repository(w, printed, context),
        Kind::Monitor => {
            // The batch and its report land together: each monitoring batch has its report.
            let batches: Vec<i64> = sql(
                &w.file,
                "SELECT id FROM dataset_batches WHERE role = 'monitoring' ORDER BY id",
            );
            let reported: Vec<i64> = sql(
                &w.file,
                "SELECT batch_id FROM monitoring_reports WHERE batch_id IN
                 (SELECT id FROM dataset_batches WHERE role = 'monitoring') ORDER BY batch_id",
            );
            assert_eq!(batches, reported, "{context}: a batch without its report");
            assert!(batches.len() <= 2, "{context}: {batches:?}");
            if printed.contains("sample.csv") {
                assert_eq!(batches.len(), 2, "{context}: acknowledged report missing");
            }
        }
        Kind::Retrain => {
            // The challenger, the aliases and the decision land together: one new version per
            // decision, and @champion wherever the decisions moved it, else where it was.
            let versions: Vec<i64> = sql(&w.file, "SELECT version FROM model_versions");
            let decisions: Vec<String> = sql(
                &w.file,
                "SELECT report_json FROM retrain_decisions ORDER BY id",
            );
            assert_eq!(
                versions.len(),
                2 + decisions.len(),
                "{context}: versions {versions:?} for {} decisions",
                decisions.len()
            );
            let mut expected = 1;
            for d in &decisions {
                let d: serde_json::Value = serde_json::from_str(d).expect("decision");
                if d["decision"] == "promoted" {
                    expected = d["challenger"].as_i64().expect("challenger");
                }
            }
            let champion: Vec<i64> = sql(
                &w.file,
                "SELECT v.version FROM model_aliases a JOIN model_versions v ON v.id = a.version_id WHERE a.alias = 'champion'",
            );
            assert_eq!(
                champion,
                [expected],
                "{context}: champion moved without a decision"
            );
            if printed.contains("Decision ") {
                assert!(
                    !decisions.is_empty(),
                    "{context}: acknowledged decision missing"
                );
            }
        }
        Kind::Replay => {
            // The report, its traffic batch and the alias it moved land together: @stale is on
            // version 2 exactly when a stored report says it promoted; @champion never moves.
            let reports: Vec<String> = sql(
                &w.file,
                "SELECT report_json FROM replay_reports WHERE batch_id IN
                 (SELECT id FROM dataset_batches) ORDER BY id",
            );
            let all: Vec<i64> = sql(&w.file, "SELECT id FROM replay_reports");
            assert_eq!(
                reports.len(),
                all.len(),
                "{context}: a report without its batch"
            );
            assert!(reports.len() <= 2, "{context}: {} reports", reports.len());
            let promoted = reports.iter().any(|r| {
                let r: serde_json::Value = serde_json::from_str(r).expect("report");
                !r["promoted"].is_null()
            });
            let on = |alias: &str| -> Vec<i64> {
                sql(
                    &w.file,
                    &format!(
                        "SELECT v.version FROM model_aliases a JOIN model_versions v ON v.id = a.version_id WHERE a.alias = '{alias}'"
                    ),
                )
            };
            assert_eq!(
                on("stale"),
                [if promoted { 2 } else { 3 }],
                "{context}: the alias moved without a report"
            );
            assert_eq!(on("champion"), [1], "{context}: champion moved");
            if context.ends_with("unkilled") {
                // Left alone, the replay promotes: the kills land in a window that moves an alias.
                assert!(
                    printed.contains("promoted: penguins@stale now points at v2"),
                    "{context}: {printed}"
                );
            }
            if printed.contains("verdict: ") {
                assert!(
                    !reports.is_empty(),
                    "{context}: acknowledged report missing"
                );
            }
        }
        Kind::Predict => {
            if let Ok(text) = fs::read_to_string(&w.out) {
                assert_eq!(
                    text.lines().count(),
                    345,
                    "{context}: a partial output at its path"
                );
                assert!(
                    text.ends_with('\n'),
                    "{context}: a partial output at its path"
                );
            }
        }
    }
}

/// Every version folder is whole, every export record names a folder that is there, and every
/// acknowledged export is recorded.
fn check_repository(w: &Work, printed: &str, context: &str) {
    let model_dir = w.target.join("penguins");
    let folders: BTreeSet<u32> = fs::read_dir(&model_dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    for v in &folders {
        for name in ["model.onnx", "pipeline.json", "kiln-export.json"] {
            assert!(
                model_dir.join(v.to_string()).join(name).is_file(),
                "{context}: version {v} lacks {name}"
            );
        }
    }
    if !folders.is_empty() {
        let config = fs::read_to_string(model_dir.join("config.pbtxt")).unwrap_or_default();
        let labels = fs::read_to_string(model_dir.join("labels.txt")).unwrap_or_default();
        assert!(
            config.contains("max_batch_size"),
            "{context}: config.pbtxt: {config:?}"
        );
        assert_eq!(labels, "Adelie\nChinstrap\nGentoo\n", "{context}");
    }
    if !w.file.exists() {
        return;
    }
    let recorded = recorded_versions(&w.file);
    assert!(
        recorded.is_subset(&folders),
        "{context}: records {recorded:?} name folders that are not there: {folders:?}"
    );
    for line in printed.lines().filter(|l| l.contains("(Triton version ")) {
        let v = number_after(line, "(Triton version ", context) as u32;
        assert!(
            recorded.contains(&v),
            "{context}: acknowledged export {v} not recorded"
        );
    }
}

/// The Triton versions the project's export records name.
fn recorded_versions(file: &Path) -> BTreeSet<u32> {
    sql::<i64>(
        file,
        "SELECT json_extract(details_json, '$.triton_version') FROM exports",
    )
    .into_iter()
    .map(|v| v as u32)
    .collect()
}

/// After a finished export, records and folders agree exactly, and no debris is left.
fn check_repository_settled(w: &Work, context: &str) {
    let model_dir = w.target.join("penguins");
    let folders: BTreeSet<u32> = fs::read_dir(&model_dir)
        .expect("model folder")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    let recorded = recorded_versions(&w.file);
    assert_eq!(recorded, folders, "{context}: records and folders disagree");
    let debris: Vec<String> = fs::read_dir(&model_dir)
        .expect("model folder")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(debris.is_empty(), "{context}: debris left: {debris:?}");
}

#[test]
fn every_writing_command_survives_sigkill_at_any_moment() {
    let kills: usize = std::env::var("KILN_FAULT_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(10);
    let seed: u64 = std::env::var("KILN_FAULT_SEED")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(0x5EED_F417);
    println!("fault injection: {kills} kills per command, seed {seed}");
    let dir = tempfile::tempdir().expect("dir");
    let base = base(dir.path());
    let mut rng = seed.max(1);
    let mut summary = Vec::new();
    for kind in KINDS {
        // How long the command takes when left alone: the kills land within that time. The
        // shorter of two runs, each in a fresh copy: one run may wait on a busy machine.
        let mut full = Duration::MAX;
        for n in [0, kills + 1] {
            let w = work(&base, kind, n);
            let a = args(&base, kind, &w);
            let started = Instant::now();
            let (printed, _) = run(&a, &w.dir, None);
            full = full.min(started.elapsed());
            check(kind, &w, &printed, &format!("{kind:?}, unkilled"));
        }
        let mut landed_before_end = 0;
        for n in 1..=kills {
            let w = work(&base, kind, n);
            let a = args(&base, kind, &w);
            let at = full.mul_f64(xorshift(&mut rng) * 1.05);
            let (printed, finished) = run(&a, &w.dir, Some(at));
            landed_before_end += usize::from(!finished);
            let context = format!("{kind:?}, kill {n} at {:.0} ms", at.as_secs_f64() * 1e3);
            if kind == Kind::Lab && !w.file.exists() {
                // Killed before the project was created: nothing to check but the target.
                assert!(!w.target.join("penguins").exists(), "{context}");
            } else {
                check(kind, &w, &printed, &context);
            }
            // The next command of the same kind succeeds, and leaves everything settled. A replay
            // that promoted before the kill has moved @stale to v2: the next one compares v2 with
            // v3 by number, whose verdict (keep A) exits 0 without promoting. Otherwise the same
            // replay runs again and promotes after the kill.
            let promoted_before = kind == Kind::Replay
                && sql::<i64>(
                    &w.file,
                    "SELECT v.version FROM model_aliases a JOIN model_versions v ON v.id = a.version_id WHERE a.alias = 'stale'",
                ) == [2];
            let a = if promoted_before {
                a.iter()
                    .filter(|arg| *arg != "--promote")
                    .map(|arg| match arg.as_str() {
                        "penguins@stale" => "penguins:2".to_owned(),
                        "penguins:2" => "penguins:3".to_owned(),
                        _ => arg.clone(),
                    })
                    .collect()
            } else {
                a
            };
            let (printed, _) = run(&a, &w.dir, None);
            let context = format!("{context}, then run again");
            check(kind, &w, &printed, &context);
            if kind == Kind::Replay && !promoted_before {
                assert!(
                    printed.contains("promoted: penguins@stale now points at v2"),
                    "{context}: {printed}"
                );
            }
            if matches!(kind, Kind::Export | Kind::Lab) {
                check_repository_settled(&w, &context);
            }
            // The next writer marks what the killed one left running, so no record claims work
            // that no process is doing.
            let running: Vec<String> = sql(
                &w.file,
                "SELECT 'run ' || id FROM runs WHERE status = 'running'
                 UNION ALL SELECT 'study ' || id FROM studies WHERE status = 'running'",
            );
            assert!(running.is_empty(), "{context}: still running: {running:?}");
            if kind == Kind::Resume {
                let live: Vec<i64> = sql(
                    &w.file,
                    "SELECT trial_index FROM runs WHERE study_id = 2 AND status = 'finished' ORDER BY trial_index",
                );
                assert_eq!(
                    live,
                    [0, 1, 2],
                    "{context}: each trial finished exactly once"
                );
            }
            fs::remove_dir_all(&w.dir).expect("clean");
        }
        // Kills spread over the command's whole run: some must land while it works.
        assert!(
            kills == 0 || landed_before_end > 0,
            "{kind:?}: none of {kills} kills landed before the command ended"
        );
        summary.push(format!(
            "{kind:?}: {kills} kills ({landed_before_end} before the end), {:.0} ms a run",
            full.as_secs_f64() * 1e3
        ));
    }
    for line in summary {
        println!("{line}");
    }
}
