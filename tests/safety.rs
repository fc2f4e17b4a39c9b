//! Nothing a user does loses their work: outputs never replace a project or an input, damaged
//! projects are refused and repaired into a new file, refused commands leave nothing behind,
//! signals stop work cleanly, and names survive every artifact.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use kiln_core::{Project, RunStatus};

fn studies(file: &Path) -> u64 {
    info(file)["studies"].as_u64().expect("studies")
}

#[test]
fn predict_never_writes_over_a_project_or_its_input() {
    let dir = tempfile::tempdir().expect("dir");
    let file = trained_project(dir.path());
    let f = path_str(&file);
    let input = dir.path().join("in.csv");
    std::fs::copy(asset("penguins.csv"), &input).expect("copy");
    let project_before = bytes(&file);
    let input_before = bytes(&input);

    for force in [false, true] {
        let mut args = vec![
            "predict",
            f,
            "penguins@champion",
            path_str(&input),
            "--out",
            f,
        ];
        if force {
            args.push("--force");
        }
        let out = kiln(&args);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains("Kiln project"), "{}", stderr(&out));
        assert_eq!(bytes(&file), project_before, "the project was changed");

        args[5] = path_str(&input);
        let out = kiln(&args);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains("own input"), "{}", stderr(&out));
        assert_eq!(bytes(&input), input_before, "the input was changed");
    }
    // Another existing file needs --force, and is then replaced whole.
    let scored = dir.path().join("scored.csv");
    std::fs::write(&scored, "keep me\n").expect("write");
    let args = [
        "predict",
        f,
        "penguins@champion",
        path_str(&input),
        "--out",
        path_str(&scored),
    ];
    let out = kiln(&args);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&scored).expect("read"), "keep me\n");
    let mut forced = args.to_vec();
    forced.push("--force");
    let out = kiln(&forced);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&scored).expect("read");
    assert_eq!(text.lines().count(), 345, "a header and a line per row");
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("kiln-tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

/// Overwrites one leaf page of the `metrics` table with garbage, as a failing disk or a stray
/// `dd` would, and returns the page number.
fn damage_a_metrics_page(file: &Path) -> u32 {
    let conn =
        rusqlite::Connection::open_with_flags(file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open");
    let root: u32 = conn
        .query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = 'metrics'",
            [],
            |r| r.get(0),
        )
        .expect("root");
    let page_size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .expect("page size");
    let page_size = page_size as u64;
    drop(conn);
    let mut data = bytes(file);
    let page = |n: u32| (u64::from(n) - 1) * page_size;
    let at = page(root) as usize;
    assert_eq!(
        data[at], 0x05,
        "the metrics table should span several pages"
    );
    let cells = u16::from_be_bytes([data[at + 3], data[at + 4]]) as usize;
    assert!(cells >= 3, "too few leaves: {cells}");
    let pointer = at + 12 + 2 * (cells / 2);
    let cell = at + u16::from_be_bytes([data[pointer], data[pointer + 1]]) as usize;
    let leaf = u32::from_be_bytes([data[cell], data[cell + 1], data[cell + 2], data[cell + 3]]);
    let start = page(leaf) as usize;
    let mut x: u32 = 0x1234_5678;
    for byte in &mut data[start..start + page_size as usize] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *byte = x as u8;
    }
    data[start] = 0;
    std::fs::write(file, &data).expect("damage");
    leaf
}

#[test]
fn a_damaged_project_is_refused_and_repair_copies_what_is_readable_into_a_new_file() {
    let dir = tempfile::tempdir().expect("dir");
    let file = trained_project(dir.path());
    let f = path_str(&file);
    // Enough metric points that the table spans many pages.
    {
        let mut project = Project::open(&file).expect("open");
        let run = project
            .start_run(&kiln_core::RunSpec::default())
            .expect("run");
        let points: Vec<kiln_core::MetricPoint> = (0..40_000)
            .map(|step| kiln_core::MetricPoint {
                key: "loss".into(),
                step,
                value: 1.0 / (step as f64 + 1.0),
                timestamp: 0,
            })
            .collect();
        project.log_metrics(run, &points).expect("log");
        project
            .finish_run(run, RunStatus::Finished, None)
            .expect("end");
    }
    let before = info(&file);
    damage_a_metrics_page(&file);
    let damaged = bytes(&file);

    // Writers refuse it, and say what to do; readers say it is damaged.
    let out = kiln(&["import", f, &asset("penguins.csv"), "--name", "again"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("damaged") && err.contains("kiln repair"),
        "{err}"
    );
    for args in [vec!["runs", f], vec!["info", f], vec!["datasets", f]] {
        let out = kiln(&args);
        assert!(!out.status.success(), "{args:?} read a damaged file");
        assert!(stderr(&out).contains("damaged"), "{}", stderr(&out));
    }
    assert_eq!(bytes(&file), damaged, "a refused command changed the file");

    // Repair into a new file; the original is never touched.
    let fixed = dir.path().join("fixed.kiln");
    let out = kiln(&["repair", f, "--out", path_str(&fixed)]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}{}", stderr(&out));
    assert!(text.contains("metrics"), "{text}");
    assert_eq!(bytes(&file), damaged, "repair changed the original");
    let out = kiln(&["repair", f, "--out", path_str(&fixed)]);
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));

    let repaired = Project::open(&fixed).expect("the repaired file opens for writing");
    repaired.check_integrity().expect("integrity");
    let after = repaired.info().expect("info");
    drop(repaired);
    assert_eq!(after.datasets, 1);
    assert_eq!(after.model_versions, 1);
    assert_eq!(after.runs, before["runs"].as_u64().expect("runs"));
    let lost = before["metric_points"].as_u64().expect("points") - after.metric_points;
    assert!(lost > 0 && lost < 40_000, "lost {lost} points");

    // And work goes on in the repaired project.
    let space = quick_space(dir.path(), 1, 2);
    let fx = path_str(&fixed);
    let trained = kiln_ok(&train_args(fx, path_str(&space)));
    assert!(
        trained.contains("finished: 1 trials, 1 finished"),
        "{trained}"
    );
    let target = dir.path().join("models");
    kiln_ok(&[
        "export",
        fx,
        "penguins@champion",
        "--target",
        path_str(&target),
    ]);
    assert!(target.join("penguins/1/model.onnx").is_file());
}

#[test]
fn refused_commands_leave_no_records_behind() {
    let dir = tempfile::tempdir().expect("dir");
    let file = trained_project(dir.path());
    let f = path_str(&file);

    // A bad alias: no version either.
    let out = kiln(&[
        "register", f, "2", "--model", "other", "--alias", "bad name",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("alias name"), "{}", stderr(&out));
    let project = Project::open_read_only(&file).expect("open");
    assert!(
        project
            .model_versions("other")
            .expect("versions")
            .is_empty()
    );
    assert_eq!(project.registered_models().expect("models"), ["penguins"]);
    drop(project);

    // Train requests that cannot work: nothing is written, and the reason names the key.
    let one_class = dir.path().join("one.csv");
    std::fs::write(&one_class, "x,label\n1,a\n2,a\n3,a\n4,a\n5,a\n6,a\n").expect("csv");
    kiln_ok(&["import", f, path_str(&one_class)]);
    let studies_before = studies(&file);
    let spaces = [
        ("lr.toml", "learning_rate = 0.0\n", "learning_rate"),
        ("neg.toml", "learning_rate = -0.1\n", "learning_rate"),
        ("wd.toml", "weight_decay = -1.0\n", "weight_decay"),
        ("split.toml", "validation = 0.6\ntest = 0.5\n", "validation"),
        ("objective.toml", "objective = \"val/f2\"\n", "objective"),
        ("noval.toml", "validation = 0.0\n", "validation split"),
        ("patience.toml", "patience = 0\n", "patience"),
        (
            "huge.toml",
            "learning_rate = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]\nbatch_size = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nepochs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nweight_decay = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]\ndropout = [0.0, 0.1]\n",
            "--max-trials",
        ),
    ];
    for (name, text, expected) in spaces {
        let space = dir.path().join(name);
        std::fs::write(&space, text).expect("space");
        let out = kiln(&train_args(f, path_str(&space)));
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stdout(&out));
        assert!(stderr(&out).contains(expected), "{name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(name),
            "{name}: the file is named: {}",
            stderr(&out)
        );
    }
    for (dataset, expected) in [("nothing", "nothing"), ("one", "one class")] {
        let out = kiln(&["train", f, "--dataset", dataset, "--device", "cpu"]);
        assert_eq!(out.status.code(), Some(1), "{dataset}");
        assert!(
            stderr(&out).contains(expected),
            "{dataset}: {}",
            stderr(&out)
        );
    }
    assert_eq!(
        studies(&file),
        studies_before,
        "a refused train wrote a study"
    );
    let project = Project::open_read_only(&file).expect("open");
    let running: Vec<_> = project
        .runs()
        .expect("runs")
        .into_iter()
        .filter(|r| r.status == RunStatus::Running)
        .collect();
    assert!(running.is_empty(), "{running:?}");
}

/// Starts `kiln train` on a long grid and returns it once its first trial has begun; the caller
/// waits for it.
#[allow(clippy::zombie_processes)]
fn start_long_study(
    file: &Path,
    dir: &Path,
) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let space = quick_space(dir, 6, 400);
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(train_args(path_str(file), path_str(&space)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kiln train");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            let status = child.wait();
            panic!("train ended before its first trial: {status:?}");
        }
        if line.starts_with("trial 1/6 (run") {
            return (child, out);
        }
    }
}

fn send(child: &std::process::Child, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
}

fn wait_at_most(
    child: &mut std::process::Child,
    limit: Duration,
) -> (std::process::ExitStatus, Duration) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return (status, started.elapsed());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("kiln did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn ctrl_c_and_sigterm_stop_a_study_cleanly_and_say_how_to_resume() {
    let dir = tempfile::tempdir().expect("dir");
    let file = trained_project(dir.path());
    for signal in ["-INT", "-TERM"] {
        let (mut child, mut out) = start_long_study(&file, dir.path());
        std::thread::sleep(Duration::from_millis(300));
        send(&child, signal);
        let (status, took) = wait_at_most(&mut child, Duration::from_secs(10));
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).expect("rest");
        assert_eq!(status.code(), Some(130), "{signal}: {rest}");
        assert!(took < Duration::from_secs(2), "{signal}: took {took:?}");
        assert!(rest.contains("cancelled"), "{rest}");
        assert!(rest.contains("resume it with: kiln resume"), "{rest}");
        let project = Project::open_read_only(&file).expect("open");
        let summaries = project.study_summaries().expect("studies");
        assert_eq!(
            summaries.last().expect("study").status,
            kiln_core::train::StudyStatus::Cancelled
        );
        let running = project
            .runs()
            .expect("runs")
            .into_iter()
            .filter(|r| r.status == RunStatus::Running)
            .count();
        assert_eq!(running, 0, "runs left running after {signal}");
    }
    // A second Ctrl-C, once the first is taken, quits at once. A study stops within a batch,
    // so on a quick machine it can be gone, cleanly, before the second signal lands: that try
    // proves nothing and another is made, until one second signal is seen to be taken.
    let mut tries = Vec::new();
    while tries.len() < 5 {
        let (mut child, mut out) = start_long_study(&file, dir.path());
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        send(&child, "-INT");
        let mut said = String::new();
        while !said.contains("kiln: stopping") {
            assert!(
                err.read_line(&mut said).expect("stderr") > 0,
                "no word of the first Ctrl-C: {said}"
            );
        }
        send(&child, "-INT");
        let (status, _) = wait_at_most(&mut child, Duration::from_secs(5));
        std::io::Read::read_to_string(&mut err, &mut said).expect("stderr");
        assert_eq!(status.code(), Some(130), "{said}");
        if said.contains("kiln: quit at once") {
            break;
        }
        // Gone before the second signal: then it stopped as after one.
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).expect("stdout");
        assert!(
            rest.contains("resume it with: kiln resume"),
            "{said}\n{rest}"
        );
        tries.push(said);
    }
    assert!(
        tries.len() < 5,
        "no second Ctrl-C landed before the study had stopped, in 5 tries: {tries:?}"
    );
    Project::open_read_only(&file)
        .expect("open")
        .check_integrity()
        .expect("intact");
}

#[test]
fn a_study_prints_only_kiln_on_stderr() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("quiet.kiln");
    let f = path_str(&file);
    penguins_project(&file);
    let space = quick_space(dir.path(), 1, 2);
    // `auto` probes the GPU adapters, whose drivers print as they start.
    for device in ["cpu", "auto"] {
        let args = [
            "train",
            f,
            "--dataset",
            "penguins",
            "--space",
            path_str(&space),
            "--device",
            device,
        ];
        let out = kiln(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            stderr(&out),
            "",
            "{device}: stderr carries only Kiln's messages"
        );
    }
}

#[test]
fn labels_and_column_names_survive_every_artifact_or_are_refused_at_import() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("names.kiln");
    let f = path_str(&file);
    kiln_ok(&["new", f]);
    let labels = ["Adélie, the \"small\"", "chin'strap", "Gentoo 🐧"];
    let source = std::fs::read_to_string(asset("penguins.csv")).expect("csv");
    let mut csv = String::new();
    for (i, line) in source.lines().enumerate() {
        if i == 0 {
            csv.push_str(
                &line
                    .replace("bill_length_mm", "\"bill length, \"\"mm\"\"\"")
                    .replace("island", "île"),
            );
        } else {
            let mut l = line.to_string();
            l = l.replacen("Adelie", "\"Adélie, the \"\"small\"\"\"", 1);
            l = l.replacen("Chinstrap", "chin'strap", 1);
            l = l.replacen("Gentoo", "Gentoo 🐧", 1);
            csv.push_str(&l);
        }
        csv.push('\n');
    }
    let input = dir.path().join("odd.csv");
    std::fs::write(&input, &csv).expect("csv");
    kiln_ok(&[
        "import",
        f,
        path_str(&input),
        "--name",
        "odd",
        "--label",
        "species",
    ]);
    let space = quick_space(dir.path(), 1, 3);
    kiln_ok(&[
        "train",
        f,
        "--dataset",
        "odd",
        "--space",
        path_str(&space),
        "--device",
        "cpu",
    ]);
    kiln_ok(&["register", f, "1", "--model", "odd"]);
    let target = dir.path().join("models");
    kiln_ok(&["export", f, "odd", "--target", path_str(&target)]);
    let mut sorted = labels.to_vec();
    sorted.sort();
    let written = std::fs::read_to_string(target.join("odd/labels.txt")).expect("labels");
    assert_eq!(written.lines().collect::<Vec<_>>(), sorted);
    let card = kiln_ok(&["models", f, "--card"]);
    for label in labels {
        assert!(card.contains(label), "{label} missing from the card");
    }
    let pipeline = std::fs::read_to_string(target.join("odd/1/pipeline.json")).expect("pipeline");
    let pipeline: serde_json::Value = serde_json::from_str(&pipeline).expect("json");
    assert!(
        pipeline.to_string().contains("bill length, \\\"mm\\\""),
        "{pipeline}"
    );
    let scored = dir.path().join("scored.csv");
    let out = kiln(&[
        "predict",
        f,
        "odd",
        path_str(&input),
        "--out",
        path_str(&scored),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut reader = csv::Reader::from_path(&scored).expect("scored");
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let expected: Vec<String> = sorted.iter().map(|l| format!("p_{l}")).collect();
    assert_eq!(&header[2..5], expected.as_slice());
    let predicted: std::collections::BTreeSet<String> = reader
        .records()
        .map(|r| r.expect("row")[1].to_owned())
        .collect();
    assert!(
        predicted.iter().all(|p| labels.contains(&p.as_str())),
        "{predicted:?}"
    );

    // What labels.txt cannot carry is refused at import, naming line and column.
    for (bad, why) in [("\"two\nlines\"", "line break"), ("\" padded\"", "space")] {
        let text = source.replacen("Adelie", bad, 1);
        let path = dir.path().join("bad.csv");
        std::fs::write(&path, text).expect("csv");
        let out = kiln(&["import", f, path_str(&path), "--name", "bad"]);
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(
            err.contains("bad.csv: line 2") && err.contains(why),
            "{err}"
        );
    }
}

#[test]
fn identical_data_under_a_new_name_or_other_types_honours_the_request() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("twice.kiln");
    let f = path_str(&file);
    penguins_project(&file);
    let blobs = info(&file)["blobs"].as_u64().expect("blobs");
    let again = kiln_ok(&["import", f, &asset("penguins.csv")]);
    assert!(again.contains("already holds"), "{again}");
    let renamed = kiln_ok(&[
        "import",
        f,
        &asset("penguins.csv"),
        "--name",
        "copy",
        "--type",
        "year=categorical",
    ]);
    assert!(renamed.contains("as dataset \"copy\""), "{renamed}");
    let after = info(&file);
    assert_eq!(after["datasets"], 2);
    assert_eq!(after["blobs"].as_u64(), Some(blobs), "the bytes are shared");
    let project = Project::open_read_only(&file).expect("open");
    let copy = project.load_dataset("copy").expect("copy");
    let year = copy
        .schema
        .columns
        .iter()
        .find(|c| c.name == "year")
        .expect("year");
    assert_eq!(year.kind, kiln_core::data::ColumnKind::Categorical);
    drop(project);
    // The same name with other types cannot be honoured silently: it is refused.
    let out = kiln(&[
        "import",
        f,
        &asset("penguins.csv"),
        "--type",
        "year=categorical",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--name"), "{}", stderr(&out));
}

#[test]
fn surprises_at_import_get_a_notice() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("notes.kiln");
    let f = path_str(&file);
    kiln_ok(&["new", f]);
    let csv = dir.path().join("inf.csv");
    std::fs::write(
        &csv,
        "size,weight,species\n1.5,2,a\n1e400,3,b\n2.5,4,a\n3.5,inf,b\n",
    )
    .expect("csv");
    let out = kiln_ok(&["import", f, path_str(&csv)]);
    assert!(
        out.contains("note: the label is column \"species\", chosen by its name"),
        "{out}"
    );
    assert!(
        out.contains("column \"size\" looks numeric") && out.contains("\"1e400\" on line 3"),
        "{out}"
    );
    assert!(out.contains("column \"weight\" looks numeric"), "{out}");
    let corpus = dir.path().join("corpus");
    for (class, name, text) in [
        ("ham", "1.txt", "lunch at noon"),
        ("ham", "2.txt", "  \n"),
        ("spam", "1.txt", "win money now"),
    ] {
        std::fs::create_dir_all(corpus.join(class)).expect("mkdir");
        std::fs::write(corpus.join(class).join(name), text).expect("write");
    }
    std::fs::create_dir_all(corpus.join("empty")).expect("mkdir");
    let out = kiln_ok(&["import", f, path_str(&corpus)]);
    assert!(out.contains("class \"empty\" was skipped"), "{out}");
    assert!(out.contains("1 empty text file(s) kept"), "{out}");
}

#[test]
fn ctrl_c_stops_the_lab_and_an_import_leaving_the_project_whole() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("lab.kiln");
    let target = dir.path().join("models");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["lab", path_str(&file), "--target", path_str(&target)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the lab");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    while !line.starts_with("Triton repository") {
        line.clear();
        assert!(
            out.read_line(&mut line).expect("read") > 0,
            "the lab ended early"
        );
    }
    // The lab takes a fraction of a second here: signal at once, while it imports or trains.
    send(&child, "-INT");
    let (status, took) = wait_at_most(&mut child, Duration::from_secs(10));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).expect("rest");
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(rest.contains("lab cancelled"), "{rest}");
    assert!(
        !target.join("penguins").exists(),
        "a cancelled lab exported"
    );
    let project = Project::open_read_only(&file).expect("open");
    project.check_integrity().expect("intact");
    assert_eq!(
        project.study_summaries().expect("studies")[0].status,
        kiln_core::train::StudyStatus::Cancelled
    );
    drop(project);

    // An import stops at once: the dataset is all there or not there at all.
    let big = dir.path().join("big.csv");
    big_csv(&big, 200_000);
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["import", path_str(&file), path_str(&big), "--name", "big"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the import");
    // The import of 200,000 rows takes seconds; the signal lands well inside it.
    std::thread::sleep(Duration::from_millis(150));
    send(&child, "-INT");
    let (status, took) = wait_at_most(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(130), "the import was not interrupted");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let project = Project::open_read_only(&file).expect("open");
    project.check_integrity().expect("intact");
    let names: Vec<String> = project
        .datasets()
        .expect("datasets")
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["penguins"], "an interrupted import left data");
}
