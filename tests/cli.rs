//! End-to-end tests of the `kiln` binary: what a user types, what they see, the exit status.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{
    asset, info, kiln, kiln_ok, path_str, penguins_project, stderr, stdout, trained_project,
};
use kiln_core::{MetricPoint, Project, RunSpec, RunStatus};

/// A failure: non-zero, nothing on stdout, and exactly one line on stderr.
fn assert_one_line_failure(o: &Output) -> String {
    assert!(!o.status.success(), "expected failure, got {:?}", o.status);
    let err = stderr(o);
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected, got: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(stdout(o).is_empty(), "stdout: {}", stdout(o));
    err
}

#[test]
fn new_then_info_shows_an_empty_project() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("a.kiln");
    let created = kiln(&["new", path_str(&file)]);
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(stdout(&created).contains("created project \"a\""));

    let info = kiln(&["info", path_str(&file)]);
    assert!(info.status.success(), "{}", stderr(&info));
    let text = stdout(&info);
    assert!(text.contains("project   a ("), "{text}");
    assert!(text.contains("runs      0 in 1 experiments"), "{text}");
    assert!(text.contains("points    0 metric points"), "{text}");

    let json = kiln(&["info", "--json", path_str(&file)]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(value["datasets"], 0);
    assert_eq!(value["models"], 0);
}

#[test]
fn new_never_overwrites_and_says_so() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("keep.kiln");
    std::fs::write(&file, "mine").expect("write");
    let err = assert_one_line_failure(&kiln(&["new", path_str(&file)]));
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "mine");
}

#[test]
fn info_on_a_text_file_fails_in_one_line() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "these are notes, not a project\n").expect("write");
    let err = assert_one_line_failure(&kiln(&["info", path_str(&file)]));
    assert!(err.contains("not a Kiln project"), "{err}");
    assert!(err.contains("notes.txt"), "{err}");
}

#[test]
fn info_on_a_truncated_project_fails_in_one_line() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("full.kiln");
    {
        let mut project = Project::create(&file, "full").expect("create");
        let run = project.start_run(&RunSpec::default()).expect("run");
        let points: Vec<MetricPoint> = (0..20_000)
            .map(|step| MetricPoint {
                key: "loss".into(),
                step,
                value: 0.5,
                timestamp: 0,
            })
            .collect();
        project.log_metrics(run, &points).expect("log");
    }
    let bytes = std::fs::read(&file).expect("read");
    let cut = dir.path().join("cut.kiln");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).expect("write");
    let err = assert_one_line_failure(&kiln(&["info", path_str(&cut)]));
    assert!(err.contains("truncated"), "{err}");
    let err = assert_one_line_failure(&kiln(&["runs", path_str(&cut)]));
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn info_on_a_missing_file_says_how_to_create_one() {
    let err = assert_one_line_failure(&kiln(&["info", "/nonexistent/nowhere.kiln"]));
    assert!(err.contains("kiln new"), "{err}");
}

#[test]
fn runs_lists_every_run_with_its_status_and_points() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("runs.kiln");
    let empty = kiln(&["new", path_str(&file)]);
    assert!(empty.status.success());
    assert!(stdout(&kiln(&["runs", path_str(&file)])).contains("no runs yet"));
    {
        let mut project = Project::open(&file).expect("open");
        let spec = RunSpec {
            name: "mlp-a".into(),
            device: Some("cpu (flex)".into()),
            ..Default::default()
        };
        let a = project.start_run(&spec).expect("run a");
        let point = MetricPoint {
            key: "loss".into(),
            step: 0,
            value: 0.1,
            timestamp: 0,
        };
        project
            .log_metrics(a, &[point.clone(), point])
            .expect("log");
        project
            .finish_run(a, RunStatus::Finished, None)
            .expect("finish");
        let b = project
            .start_run(&RunSpec {
                name: "mlp-b".into(),
                ..Default::default()
            })
            .expect("b");
        project
            .finish_run(b, RunStatus::Failed, Some("NaN loss"))
            .expect("fail");
    }
    let out = kiln(&["runs", path_str(&file)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("ID"), "{text}");
    assert!(
        lines[1].contains("mlp-b") && lines[1].contains("failed"),
        "{text}"
    );
    assert!(
        lines[2].contains("mlp-a") && lines[2].contains("finished"),
        "{text}"
    );
    assert!(
        lines[2].contains("cpu (flex)") && lines[2].trim_end().ends_with('2'),
        "{text}"
    );

    let json: serde_json::Value =
        serde_json::from_slice(&kiln(&["runs", "--json", path_str(&file)]).stdout).expect("json");
    assert_eq!(json[1]["name"], "mlp-a");
    assert_eq!(json[0]["failure_reason"], "NaN loss");
}

#[test]
fn every_command_has_help() {
    let top = kiln_ok(&["--help"]);
    assert!(top.contains("Usage: kiln"), "{top}");
    // Every subcommand the top-level help lists, read from that list itself.
    let listed: Vec<String> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("    "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect();
    assert!(listed.len() >= 15, "{listed:?}");
    for command in &listed {
        let out = kiln_ok(&[command, "--help"]);
        assert!(
            out.contains(&format!("Usage: kiln {command}")),
            "{command}: {out}"
        );
    }
    let bad = kiln(&["frobnicate", "x", "y"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("Usage"), "{}", stderr(&bad));
}

#[test]
fn without_a_display_the_window_command_says_so_in_one_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("run kiln");
    let err = assert_one_line_failure(&out);
    assert!(err.contains("no display"), "{err}");
    assert!(
        err.contains("kiln info") && err.contains("kiln runs"),
        "{err}"
    );
}

/// Reachable packages from `root` in Cargo.lock's graph.
fn reachable(
    graph: &std::collections::HashMap<String, Vec<String>>,
    root: &str,
) -> std::collections::BTreeSet<String> {
    assert!(
        graph.contains_key(root),
        "{root} is missing from Cargo.lock"
    );
    let mut seen = std::collections::BTreeSet::new();
    let mut stack = vec![root.to_owned()];
    while let Some(name) = stack.pop() {
        if seen.insert(name.clone()) {
            stack.extend(graph.get(&name).into_iter().flatten().cloned());
        }
    }
    seen
}

/// Kiln Remote (src-tauri/) is a workspace member outside default-members: the workbench, its
/// server and its tests never need WebKit or Tauri.
#[test]
fn the_workbench_needs_no_webkit() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"))
        .expect("Cargo.lock is committed");
    let graph = parse_lock(&lock);
    for root in ["kiln", "kiln-core", "kiln-ui", "kiln-server"] {
        let seen = reachable(&graph, root);
        for forbidden in [
            "tauri",
            "wry",
            "webkit2gtk",
            "javascriptcore-rs",
            "kiln-remote",
        ] {
            assert!(!seen.contains(forbidden), "{root} depends on {forbidden}");
        }
    }
    // The walk itself must work: Kiln Remote does reach WebKit.
    assert!(reachable(&graph, "kiln-remote").contains("webkit2gtk"));
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("Cargo.toml");
    let default_members = manifest
        .lines()
        .find(|l| l.starts_with("default-members"))
        .expect("the workspace names its default members");
    assert!(!default_members.contains("src-tauri"), "{default_members}");
}

/// `kiln-core` is the engine under every face, and `kiln-server` a face without a window: neither
/// may pull in a GUI crate. Walks the dependency graph recorded in Cargo.lock from each.
#[test]
fn kiln_core_depends_on_no_gui_crate() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"))
        .expect("Cargo.lock is committed");
    let graph = parse_lock(&lock);
    for root in ["kiln-core", "kiln-server"] {
        let seen = reachable(&graph, root);
        for forbidden in [
            "egui",
            "eframe",
            "egui_plot",
            "egui-wgpu",
            "egui-winit",
            "rfd",
            "winit",
            "kiln-ui",
        ] {
            assert!(!seen.contains(forbidden), "{root} depends on {forbidden}");
        }
    }
    // The walk itself must work: the UI crate does reach egui.
    assert!(
        graph
            .get("kiln-ui")
            .is_some_and(|deps| deps.iter().any(|d| d == "eframe"))
    );
}

/// Package name to the names of its dependencies, from Cargo.lock's `[[package]]` tables.
fn parse_lock(lock: &str) -> std::collections::HashMap<String, Vec<String>> {
    let mut graph = std::collections::HashMap::new();
    for package in lock.split("[[package]]").skip(1) {
        let name = package
            .lines()
            .find_map(|l| l.strip_prefix("name = \""))
            .map(|s| s.trim_end_matches('"').to_owned())
            .unwrap_or_default();
        let deps: Vec<String> = package
            .split_once("dependencies = [")
            .map(|(_, rest)| rest.split(']').next().unwrap_or(""))
            .unwrap_or("")
            .lines()
            .filter_map(|l| {
                l.trim()
                    .trim_end_matches(',')
                    .trim_matches('"')
                    .split(' ')
                    .next()
            })
            .filter(|d| !d.is_empty())
            .map(str::to_owned)
            .collect();
        graph.entry(name).or_insert_with(Vec::new).extend(deps);
    }
    graph
}

#[test]
fn import_datasets_and_check_work_on_the_demo_data() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("data.kiln");
    let f = path_str(&file);
    assert!(kiln(&["new", f]).status.success());

    let out = kiln(&[
        "import",
        f,
        &asset("penguins.csv"),
        "--type",
        "year=categorical",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("as dataset \"penguins\": 344 rows, 8 columns"),
        "{text}"
    );
    assert!(
        text.contains("year") && text.contains("(inferred numeric)"),
        "{text}"
    );
    let corpus = kiln(&["import", f, &asset("fortunes"), "--name", "topics"]);
    assert!(
        stdout(&corpus).contains("as dataset \"topics\": 625 rows, 2 columns"),
        "{}",
        stdout(&corpus)
    );
    let again = kiln(&["import", f, &asset("penguins.csv")]);
    assert!(
        stdout(&again).contains("already holds this data"),
        "{}",
        stdout(&again)
    );

    let listed = stdout(&kiln(&["datasets", f]));
    assert_eq!(listed.lines().count(), 3, "{listed}");
    assert!(
        listed
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("penguins  344")),
        "{listed}"
    );
    assert!(
        listed
            .lines()
            .nth(2)
            .is_some_and(|l| l.starts_with("topics    625")),
        "{listed}"
    );

    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "[[expect]]\ncolumn = \"sex\"\nrule = \"not_null\"\n[[expect]]\ncolumn = \"island\"\nrule = \"in_set\"\nvalues = [\"Biscoe\", \"Dream\", \"Torgersen\"]\n").expect("rules");
    let check = kiln(&["check", f, "penguins", "--rules", path_str(&rules)]);
    assert_eq!(check.status.code(), Some(3), "{}", stderr(&check));
    let report = stdout(&check);
    assert!(report.contains("1 of 2 failed on 344 rows"), "{report}");
    assert!(
        report.contains("FAIL  not_null") && report.contains("11 rows: 4, 9, 10"),
        "{report}"
    );
    let info: serde_json::Value =
        serde_json::from_slice(&kiln(&["info", "--json", f]).stdout).expect("json");
    assert_eq!(
        (info["datasets"].clone(), info["dataset_batches"].clone()),
        (2.into(), 2.into())
    );
}

#[test]
fn a_malformed_csv_is_refused_naming_file_line_and_column() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("p.kiln");
    assert!(kiln(&["new", path_str(&file)]).status.success());
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "size,colour,label\n1,red,a\n2,blue\n").expect("write");
    let err = assert_one_line_failure(&kiln(&["import", path_str(&file), path_str(&bad)]));
    assert!(
        err.contains("bad.csv: line 3, column 3 (label): the row has 2 fields"),
        "{err}"
    );
    let latin1 = dir.path().join("latin1.csv");
    std::fs::write(&latin1, b"name,label\ncaf\xE9,a\n").expect("write");
    let err = assert_one_line_failure(&kiln(&["import", path_str(&file), path_str(&latin1)]));
    assert!(
        err.contains("latin1.csv: line 2, column 1 (name): the text is not valid UTF-8"),
        "{err}"
    );
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").expect("write");
    let err = assert_one_line_failure(&kiln(&["import", path_str(&file), path_str(&empty)]));
    assert!(err.contains("empty.csv: the file is empty"), "{err}");
    let err = assert_one_line_failure(&kiln(&[
        "import",
        path_str(&file),
        &asset("penguins.csv"),
        "--label",
        "kind",
    ]));
    assert!(
        err.contains("penguins.csv: line 1: there is no label column \"kind\""),
        "{err}"
    );
    let listed = stdout(&kiln(&["datasets", path_str(&file)]));
    assert!(
        listed.contains("no datasets yet"),
        "nothing half-imported: {listed}"
    );
}

/// `kiln train` killed with SIGKILL mid-study, then `kiln resume`: every trial of the grid
/// exactly once, none missing.
#[test]
fn a_study_killed_mid_search_resumes_without_duplicate_or_missing_trials() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("resume.kiln");
    penguins_project(&file);
    let f = path_str(&file);
    let space = dir.path().join("space.toml");
    std::fs::write(&space, "learning_rate = [0.005, 0.01, 0.02, 0.04, 0.08, 0.16]\nbatch_size = 16\nepochs = 40\nhidden = [16]\n").expect("space");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "train",
            f,
            "--dataset",
            "penguins",
            "--space",
            path_str(&space),
            "--device",
            "cpu",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start kiln train");
    let child_out = child.stdout.take().expect("stdout");
    let mut finished = 0;
    for line in BufReader::new(child_out).lines().map_while(Result::ok) {
        if line.contains(") finished") {
            finished += 1;
        }
        // Kill while trial 3 is training: two done, one in flight, three not started.
        if line.starts_with("trial 3/6 (run") && line.contains("learning_rate") {
            break;
        }
    }
    assert_eq!(finished, 2, "the kill should land during the third trial");
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");

    let resumed = kiln(&["resume", f, "1"]);
    assert!(
        resumed.status.success(),
        "{}{}",
        stdout(&resumed),
        stderr(&resumed)
    );
    let text = stdout(&resumed);
    assert!(
        text.contains("study 1 finished: 6 trials, 6 finished, 0 failed, 2 kept from before"),
        "{text}"
    );
    assert!(text.contains("best trial:"), "{text}");

    let project = Project::open_read_only(&file).expect("open");
    let runs = project.runs().expect("runs");
    let mut live: Vec<u32> = runs
        .iter()
        .filter(|r| r.status == RunStatus::Finished)
        .filter_map(|r| r.trial_index)
        .collect();
    live.sort_unstable();
    assert_eq!(live, [0, 1, 2, 3, 4, 5]);
    let killed: Vec<_> = runs
        .iter()
        .filter(|r| r.status == RunStatus::Killed)
        .collect();
    assert_eq!(
        killed.len(),
        1,
        "the interrupted trial is kept as killed: {runs:?}"
    );
    assert_eq!(killed[0].trial_index, Some(2));
}

/// The course lab, headless: import, grid search, evaluate, register as champion, export to a
/// Triton repository; then batch scoring with the champion.
#[test]
fn the_lab_runs_end_to_end_and_its_champion_scores_a_csv() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("lab.kiln");
    let target = dir.path().join("models");
    let out = kiln(&["lab", path_str(&file), "--target", path_str(&target)]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    for step in [
        "1. imported penguins (344 rows)",
        "2. grid search: study 1, 4 trials",
        "3. evaluated on",
        "4. registered as penguins@champion (version 1)",
        "5. exported penguins version 1",
    ] {
        assert!(text.contains(step), "missing {step:?} in:\n{text}");
    }
    assert!(text.contains("0 label mismatches"), "{text}");
    assert!(
        text.contains("inputs, one per column: island (string, [-1, 1])"),
        "the lab exports the servable model: {text}"
    );
    for path in [
        "penguins/config.pbtxt",
        "penguins/labels.txt",
        "penguins/1/model.onnx",
        "penguins/1/pipeline.json",
    ] {
        assert!(target.join(path).is_file(), "{path} missing");
    }
    let config = std::fs::read_to_string(target.join("penguins/config.pbtxt")).expect("config");
    assert!(
        config.contains("platform: \"onnxruntime_onnx\"")
            && config.contains("name: \"island\"\n    data_type: TYPE_STRING")
            && config.contains("name: \"label\""),
        "{config}"
    );
    let labels = std::fs::read_to_string(target.join("penguins/labels.txt")).expect("labels");
    assert_eq!(labels, "Adelie\nChinstrap\nGentoo\n");

    let models = stdout(&kiln(&["models", path_str(&file)]));
    assert!(models.contains("@champion"), "{models}");

    // Score the demo data, with one row spoiled: it is reported by line, not dropped.
    let input = dir.path().join("batch.csv");
    let csv = std::fs::read_to_string(asset("penguins.csv"))
        .expect("csv")
        .replacen("39.1,18.7", "long,18.7", 1);
    std::fs::write(&input, csv).expect("write");
    let scored = dir.path().join("scored.csv");
    let predict = kiln(&[
        "predict",
        path_str(&file),
        "penguins@champion",
        path_str(&input),
        "--out",
        path_str(&scored),
    ]);
    assert_eq!(predict.status.code(), Some(3), "{}", stderr(&predict));
    assert!(
        stderr(&predict).contains("batch.csv: line 2: not scored"),
        "{}",
        stderr(&predict)
    );
    let rows = std::fs::read_to_string(&scored).expect("scored");
    let lines: Vec<&str> = rows.lines().collect();
    assert_eq!(lines.len(), 345, "a header and every input row");
    assert_eq!(
        lines[0],
        "line,prediction,p_Adelie,p_Chinstrap,p_Gentoo,error"
    );
    assert!(
        lines[1].starts_with("2,,") && lines[1].contains("not a number"),
        "{}",
        lines[1]
    );
    let correct = lines[2..].iter().filter(|l| l.contains(",Adelie,")).count();
    assert!(correct > 100, "most Adelie rows score as Adelie: {correct}");

    // A challenger, served beside the champion, and replayed against it.
    kiln_ok(&[
        "register",
        path_str(&file),
        "2",
        "--model",
        "penguins",
        "--alias",
        "challenger",
    ]);
    let both = dir.path().join("both");
    let exported = kiln_ok(&[
        "export",
        path_str(&file),
        "penguins@champion",
        "penguins@challenger",
        "--target",
        path_str(&both),
    ]);
    assert!(
        exported.contains("Triton serves versions 1 and 2"),
        "{exported}"
    );
    let config = std::fs::read_to_string(both.join("penguins/config.pbtxt")).expect("config");
    assert!(
        config.contains("specific { versions: [ 1, 2 ] }"),
        "{config}"
    );
    let replay = kiln(&[
        "replay",
        path_str(&file),
        path_str(&input),
        "--a",
        "penguins@champion",
        "--b",
        "penguins@challenger",
    ]);
    let text = stdout(&replay);
    assert!(
        matches!(replay.status.code(), Some(0) | Some(3)),
        "{text}{}",
        stderr(&replay)
    );
    for part in [
        "(shadow) on",
        "344 rows, 343 scored, 1 refused",
        "refused line 2: column bill_length_mm: \"long\" is not a number",
        "batch  1: p50",
        "batch 64: p50",
        "McNemar: exact p",
        "verdict: ",
    ] {
        assert!(text.contains(part), "missing {part:?} in:\n{text}");
    }
    let penguins = asset("penguins.csv");
    let ab = kiln_ok(&[
        "replay",
        path_str(&file),
        penguins.as_str(),
        "--a",
        "penguins@champion",
        "--b",
        "penguins@challenger",
        "--mode",
        "ab",
        "--split",
        "0.25",
        "--seed",
        "9",
        "--key",
        "island",
    ]);
    assert!(
        ab.contains("(A/B, 25 % to B)") && ab.contains("two-proportion z-test"),
        "{ab}"
    );
    let listed = kiln_ok(&["replay", path_str(&file), "--list", "--a", "penguins"]);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    for (args, says) in [
        (
            vec!["--mode", "ab", "--split", "1"],
            "strictly between 0 and 1",
        ),
        (
            vec!["--mode", "ab", "--key", "passport"],
            "\"passport\" is not in the header",
        ),
    ] {
        let mut all = vec![
            "replay",
            path_str(&file),
            path_str(&input),
            "--a",
            "penguins@champion",
            "--b",
            "penguins@challenger",
        ];
        all.extend(args);
        let err = assert_one_line_failure(&kiln(&all));
        assert!(err.contains(says), "{err}");
    }
}

/// `kiln train --timings` says where the time went, phase by phase; a logistic regression
/// trains with its full-batch solver by default.
#[test]
fn train_with_timings_prints_each_phase() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("timed.kiln");
    penguins_project(&file);
    let f = path_str(&file);
    let text = kiln_ok(&[
        "train",
        f,
        "--dataset",
        "penguins",
        "--model",
        "logreg",
        "--device",
        "cpu",
        "--timings",
    ]);
    assert!(text.contains("optimizer=lbfgs"), "{text}");
    // The trial says where its solver stopped, not an epoch count out of max_iter.
    assert!(text.contains("solved in "), "{text}");
    let after = text
        .split("where the time went:")
        .nth(1)
        .unwrap_or_else(|| panic!("no timings: {text}"));
    // The seconds of a phase: the figure before " s".
    let seconds = |phase: &str| -> f64 {
        let line = after
            .lines()
            .find(|l| l.trim_start().starts_with(phase))
            .unwrap_or_else(|| panic!("no {phase:?} in {after}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words
            .iter()
            .position(|w| *w == "s")
            .unwrap_or_else(|| panic!("no seconds in {line:?}"));
        words[at - 1]
            .parse()
            .unwrap_or_else(|_| panic!("no figure in {line:?}"))
    };
    let total = seconds("total (after start-up)");
    let phases = [
        "open the project, check the request",
        "read the batch",
        "features (split, fit, transform)",
        "find the device",
        "record runs",
        "build models",
        "train (steps)",
        "evaluate (train, validation)",
        "log metrics",
        "test and save the model",
        "other (threads, events, study records)",
    ];
    let sum: f64 = phases.iter().map(|p| seconds(p)).sum();
    // One trial at a time: the phases share out the total (to the printed millisecond).
    assert!(
        (sum - total).abs() <= 0.001 * phases.len() as f64,
        "{sum} against {total}: {after}"
    );
    assert!(seconds("train (steps)") > 0.0, "{after}");
}

/// Rows of the demo penguins that `keep` selects (by their cells), as a CSV, with or without
/// the label column.
fn penguin_rows(path: &Path, mut keep: impl FnMut(&[&str]) -> bool, label: bool) {
    let source = std::fs::read_to_string(asset("penguins.csv")).expect("csv");
    let mut out = String::new();
    for (i, line) in source.lines().enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        if i > 0 && !keep(&cells) {
            continue;
        }
        let cells = if label { &cells[..] } else { &cells[1..] };
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    std::fs::write(path, out).expect("batch");
}

/// `kiln monitor`: a batch from one island drifts and says so (exit 3) with its labels scored;
/// an unlabelled batch like the training rows does not drift and gets an estimate; the history
/// lists both with DDM and ADWIN; broken batches are refused and import nothing.
#[test]
fn monitor_reports_drift_performance_and_refuses_broken_batches() {
    let dir = tempfile::tempdir().expect("dir");
    let file = trained_project(dir.path());
    let f = path_str(&file);
    let batches = |file: &Path| info(file)["dataset_batches"].as_u64();
    let before = batches(&file);

    // Torgersen's penguins are all Adelie: their measurements and predictions drift.
    let island = dir.path().join("torgersen.csv");
    penguin_rows(&island, |c| c[1] == "Torgersen", true);
    let out = kiln(&["monitor", f, "penguins@champion", path_str(&island)]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}{}", stderr(&out));
    assert!(text.contains("the dataset DRIFTS"), "{text}");
    assert!(text.contains("Prediction drift: "), "{text}");
    assert!(text.contains("Performance on 52 labelled rows"), "{text}");
    for column in ["bill_length_mm", "island", "flipper_length_mm"] {
        assert!(text.contains(column), "{column} missing: {text}");
    }

    // A rule on the label does not refuse the rows of a batch without labels.
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[expect]]\ncolumn = \"species\"\nrule = \"not_null\"\n",
    )
    .expect("rules");
    kiln_ok(&["check", f, "penguins", "--rules", path_str(&rules)]);
    // Every fourth penguin, without labels: no dataset drift, and an estimate instead.
    let sample = dir.path().join("sample.csv");
    let mut n = 0;
    penguin_rows(
        &sample,
        |_| {
            n += 1;
            n % 4 == 0
        },
        false,
    );
    let out = kiln(&[
        "monitor",
        f,
        "penguins@champion",
        path_str(&sample),
        "--json",
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(report["drift"]["drifted"], false, "{report}");
    assert!(report["performance"].is_null(), "{report}");
    assert_eq!(report["refused_rows"], 0, "{report}");
    let estimate = report["estimate"]["estimated_accuracy"]
        .as_f64()
        .expect("estimate");
    assert!((0.3..=1.0).contains(&estimate), "{estimate}");
    assert_eq!(batches(&file), before.map(|b| b + 2));

    let history = kiln_ok(&["monitor", f, "penguins@champion"]);
    assert!(history.contains("2 reports"), "{history}");
    assert!(
        history.contains("torgersen.csv") && history.contains("sample.csv"),
        "{history}"
    );
    assert!(
        history.contains("DDM: ") && history.contains("ADWIN: "),
        "{history}"
    );

    // A batch without a column the model reads: named, and nothing imported.
    let broken = dir.path().join("broken.csv");
    std::fs::write(
        &broken,
        "species,island,bill_length_mm\nAdelie,Dream,40.1\n",
    )
    .expect("write");
    let out = kiln(&["monitor", f, "penguins", path_str(&broken)]);
    let message = assert_one_line_failure(&out);
    assert!(
        message.contains("broken.csv") && message.contains("bill_depth_mm"),
        "{message}"
    );
    // Text in a numeric column: the column and its rows are named.
    let mistyped = dir.path().join("mistyped.csv");
    let csv = std::fs::read_to_string(&island)
        .expect("csv")
        .replacen("39.1,", "long,", 1);
    std::fs::write(&mistyped, csv).expect("write");
    let message = assert_one_line_failure(&kiln(&["monitor", f, "penguins", path_str(&mistyped)]));
    assert!(
        message.contains("bill_length_mm must hold numbers"),
        "{message}"
    );
    // A batch with no rows.
    let empty = dir.path().join("empty.csv");
    std::fs::write(
        &empty,
        "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year\n",
    )
    .expect("write");
    let message = assert_one_line_failure(&kiln(&["monitor", f, "penguins", path_str(&empty)]));
    assert!(message.contains("no data rows"), "{message}");
    // A test for a column the model does not read is refused, naming the columns it does.
    let message = assert_one_line_failure(&kiln(&[
        "monitor",
        f,
        "penguins",
        path_str(&island),
        "--test",
        "bill=ks",
    ]));
    assert!(
        message.contains("\"bill\"") && message.contains("bill_length_mm"),
        "{message}"
    );
    // A bad test name is refused before anything is read.
    let out = kiln(&[
        "monitor",
        f,
        "penguins",
        path_str(&island),
        "--test",
        "bill_length_mm=t",
    ]);
    assert!(stderr(&out).contains("unknown test"), "{}", stderr(&out));
    assert_eq!(batches(&file), before.map(|b| b + 2), "nothing imported");

    // A label the model never saw is reported, not a crash.
    let unseen = dir.path().join("unseen.csv");
    let csv = std::fs::read_to_string(&island)
        .expect("csv")
        .replacen("\nAdelie,", "\nEmperor,", 2);
    std::fs::write(&unseen, csv).expect("write");
    let out = kiln(&["monitor", f, "penguins", path_str(&unseen)]);
    assert!(
        stdout(&out).contains("Label \"Emperor\" is a class the model never saw: 2 rows"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// `kiln retrain`: a batch whose data drifts, then one whose labels follow a new concept (two
/// species swapped), which makes the champion's accuracy drop; the dry run says what would happen and writes nothing; the
/// retrain re-runs the champion's search on the new batch, proves the challenger better with
/// McNemar, promotes it (@champion moves, @previous keeps the old version) and records the
/// decision; a policy with an unknown key is refused by key and file.
#[test]
fn retrain_promotes_a_proven_challenger_and_records_the_decision() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("ct.kiln");
    let f = path_str(&file);
    penguins_project(&file);
    kiln_ok(&[
        "train",
        f,
        "--dataset",
        "penguins",
        "--model",
        "logreg",
        "--device",
        "cpu",
    ]);
    kiln_ok(&[
        "register", f, "1", "--model", "penguins", "--alias", "champion",
    ]);

    // First a batch whose data drifts: one island's penguins.
    let island = dir.path().join("island.csv");
    penguin_rows(&island, |c| c[1] == "Torgersen", true);
    let out = kiln(&["monitor", f, "penguins@champion", path_str(&island)]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("the dataset DRIFTS"),
        "{}",
        stdout(&out)
    );

    let swapped = dir.path().join("swapped.csv");
    let csv = std::fs::read_to_string(asset("penguins.csv"))
        .expect("csv")
        .replace("\nAdelie,", "\nTEMP,")
        .replace("\nChinstrap,", "\nAdelie,")
        .replace("\nTEMP,", "\nChinstrap,");
    std::fs::write(&swapped, csv).expect("write");
    kiln_ok(&["monitor", f, "penguins@champion", path_str(&swapped)]);

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[trigger]\ndrfit = true\n").expect("write");
    let message = assert_one_line_failure(&kiln(&[
        "retrain",
        f,
        "penguins",
        "--policy",
        path_str(&bad),
    ]));
    assert!(
        message.contains("bad.toml") && message.contains("drfit"),
        "{message}"
    );

    let policy = dir.path().join("ct.toml");
    std::fs::write(
        &policy,
        "[trigger]\ndataset_drift = true\naccuracy_drop = 5\n\n[data]\nmode = \"window\"\nbatches = 1\n\n[decision]\nalpha = 0.01\nheld_out = 0.5\n",
    )
    .expect("write");
    let before = info(&file);
    let dry = kiln_ok(&[
        "retrain",
        f,
        "penguins",
        "--policy",
        path_str(&policy),
        "--dry-run",
    ]);
    assert!(dry.contains("WOULD RETRAIN"), "{dry}");
    assert!(dry.contains("points under the test accuracy"), "{dry}");
    assert_eq!(info(&file), before, "a dry run writes nothing");

    let text = kiln_ok(&["retrain", f, "penguins", "--policy", path_str(&policy)]);
    assert!(text.contains("PROMOTED"), "{text}");
    assert!(text.contains("McNemar: "), "{text}");
    let models = kiln_ok(&["models", f, "penguins"]);
    let line = |v: &str| {
        models
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(v))
            .unwrap_or_else(|| panic!("no {v} in {models}"))
            .to_owned()
    };
    assert!(
        line("2").contains("champion") && line("2").contains("challenger"),
        "{models}"
    );
    assert!(
        line("1").contains("previous") && !line("1").contains("champion"),
        "{models}"
    );
    let list = kiln_ok(&["retrain", f, "penguins", "--list"]);
    assert!(
        list.contains("Decision 1 on penguins (champion v1): PROMOTED"),
        "{list}"
    );
    // The batches that decision acted on do not start another retrain.
    let again = kiln_ok(&["retrain", f, "penguins", "--policy", path_str(&policy)]);
    assert!(again.contains("NOT TRIGGERED"), "{again}");
}

/// `kiln lab --drift`: a new project where Torgersen's penguins drift against a model trained
/// on the other islands, and the default policy decides on a retrain, recorded.
#[test]
fn the_drift_demo_shows_a_drifting_batch_and_a_retrain_decision() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("drift.kiln");
    let f = path_str(&file);
    let text = kiln_ok(&["lab", "--drift", f]);
    for step in [
        "1. imported the penguins of Biscoe and Dream (292 rows)",
        "3. checked the 52 penguins of Torgersen as a new batch",
        "so the dataset drifts",
        "4. retrain decision: ",
    ] {
        assert!(text.contains(step), "missing {step:?} in:\n{text}");
    }
    let decisions = kiln_ok(&["retrain", f, "penguins", "--list"]);
    assert!(
        decisions.contains("Decision 1 on penguins (champion v1)"),
        "{decisions}"
    );
    assert!(
        decisions.contains("Triggers: dataset drift in batch 2"),
        "{decisions}"
    );
    // The demo makes a new project: it never runs in an existing one.
    let message = assert_one_line_failure(&kiln(&["lab", "--drift", f]));
    assert!(message.contains("drift.kiln"), "{message}");
}
