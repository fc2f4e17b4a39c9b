//! The workbench driven through its labels, as a user would: egui_kittest finds widgets by
//! their text, clicks and types, and each test asserts on what the click changed in the real
//! project file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use eframe::egui;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use kiln_core::{Project, RunStatus};
use kiln_ui::{KilnApp, Tab, ThemeChoice};

fn harness(app: KilnApp) -> Harness<'static, KilnApp> {
    Harness::builder()
        .with_size([1280.0, 900.0])
        .build_ui_state(|ui, app: &mut KilnApp| app.show(ui), app)
}

fn penguins_csv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/penguins.csv")
}

/// Types `text` into the field labelled `label`, replacing what it held.
fn fill(h: &mut Harness<'_, KilnApp>, label: &str, text: &str) {
    h.get_by_label(label).click();
    h.run_steps(2);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.key_press(egui::Key::Backspace);
    h.run_steps(1);
    h.get_by_label(label).type_text(text);
    h.run_steps(2);
}

fn click(h: &mut Harness<'_, KilnApp>, label: &str) {
    h.get_by_label(label).click();
    h.run_steps(2);
}

/// Steps the UI until no job runs (the job's own thread does the work meanwhile).
fn wait_idle(h: &mut Harness<'_, KilnApp>, limit: Duration) {
    let started = Instant::now();
    h.run_steps(1);
    while h.state().busy() {
        assert!(
            started.elapsed() < limit,
            "the job did not finish within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
        h.run_steps(1);
    }
    h.run_steps(3);
}

/// Steps the UI until `done` holds: the project is re-read on its own thread, so what a click
/// wrote shows up a moment later, as it does for a user.
fn eventually(h: &mut Harness<'_, KilnApp>, what: &str, done: impl Fn(&KilnApp) -> bool) {
    let started = Instant::now();
    while !done(h.state()) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what} did not happen; error shown: {:?}",
            h.state().error()
        );
        std::thread::sleep(Duration::from_millis(10));
        h.run_steps(1);
    }
    h.run_steps(2);
}

/// Steps the UI until nothing is in flight for a few frames in a row: no job, and no read
/// that a screen asked for (a dataset, a curve) still on its way.
fn settle(h: &mut Harness<'_, KilnApp>) {
    let started = Instant::now();
    let mut quiet = 0;
    while quiet < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the window did not settle"
        );
        h.run_steps(1);
        if h.state().settled() {
            quiet += 1;
        } else {
            quiet = 0;
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A new project made on the start screen.
fn created(dir: &Path) -> Harness<'static, KilnApp> {
    let mut h = harness(KilnApp::with_settings(None, None));
    let path = dir.join("lab.kiln");
    fill(&mut h, "Project file", &path.display().to_string());
    click(&mut h, "Create");
    settle(&mut h);
    h
}

/// Imports `path` through the Data screen's field and button, and waits for the job.
fn import(h: &mut Harness<'_, KilnApp>, path: &Path) {
    fill(h, "File or folder", &path.display().to_string());
    click(h, "Import");
    wait_idle(h, Duration::from_secs(60));
}

fn imported(dir: &Path) -> Harness<'static, KilnApp> {
    let mut h = created(dir);
    import(&mut h, &penguins_csv());
    eventually(&mut h, "the import", |app| !app.datasets().is_empty());
    settle(&mut h);
    h
}

/// Starts the default 2 x 2 grid on the CPU with `epochs` and no early stopping.
fn start_grid(h: &mut Harness<'_, KilnApp>, epochs: &str) {
    click(h, "Train");
    click(h, "CPU");
    fill(h, "Epochs", epochs);
    fill(h, "Patience", "");
    click(h, "Start");
}

#[test]
fn create_a_project_from_the_start_screen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = created(dir.path());
    assert_eq!(h.state().project_name(), Some("lab"));
    assert_eq!(h.state().error(), None);
    assert!(dir.path().join("lab.kiln").exists());
    // A new project has no data: the workbench goes to the Data screen.
    assert_eq!(h.state().tab(), Tab::Data);
    assert!(
        Project::open(dir.path().join("lab.kiln")).is_err(),
        "the window holds the write lock"
    );
}

#[test]
fn import_the_demo_csv_and_preview_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = imported(dir.path());
    assert_eq!(h.state().error(), None);
    let datasets = h.state().datasets();
    assert_eq!(datasets.len(), 1);
    assert_eq!(datasets[0].name, "penguins");
    assert_eq!(datasets[0].rows, 344);
    assert_eq!(datasets[0].label.as_deref(), Some("species"));
    // The preview and the column editor are on screen.
    h.get_by_label("Preview of the newest batch (344 rows)");
    assert!(h.query_all_by_label("bill_length_mm").count() > 0);
    // What the import guessed is a notice in the log.
    let mut h = h;
    click(&mut h, "Show log");
    h.get_by_label_contains("the label is column \"species\", chosen by its name");
}

#[test]
fn a_malformed_csv_is_reported_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "a,b,label\n1,2,x\n3,\"4,y\n").expect("write");
    let mut h = created(dir.path());
    import(&mut h, &bad);
    let error = h.state().error().expect("an error is shown").to_owned();
    assert!(error.contains("bad.csv"), "{error}");
    assert!(error.contains("line 3"), "{error}");
    assert!(h.state().datasets().is_empty());
    // The project is still writable after the failed job.
    import(&mut h, &penguins_csv());
    eventually(&mut h, "the second import", |app| app.datasets().len() == 1);
}

#[test]
fn grid_search_then_register_the_best_run_and_export_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = imported(dir.path());

    // Train: the default form is a 2 x 2 grid; make it tiny.
    start_grid(&mut h, "6");
    h.get_by_label("4 trial(s) in this search.");
    assert!(h.state().busy(), "Start runs the study as a job");
    wait_idle(&mut h, Duration::from_secs(300));
    assert_eq!(h.state().error(), None);
    eventually(&mut h, "four finished runs", |app| {
        app.runs().len() == 4
            && app
                .runs()
                .iter()
                .all(|r| r.run.status == RunStatus::Finished)
    });
    let runs = h.state().runs().to_vec();
    assert_eq!(runs.len(), 4);
    assert!(runs.iter().all(|r| r.run.status == RunStatus::Finished));
    assert!(runs.iter().all(|r| {
        r.run.device.as_deref() == Some("cpu: flex")
            || r.run
                .device
                .as_deref()
                .is_some_and(|d| d.starts_with("wgpu"))
    }));
    h.get_by_label_contains("Device in use");
    h.get_by_label("Study: 4 of 4 trials done");

    // Runs: the table lists them; register the best.
    click(&mut h, "Runs");
    h.get_by_label("4 of 4 runs");
    let best = runs
        .iter()
        .max_by(|a, b| {
            let v = |r: &kiln_core::RunRow| r.metric("val/macro_f1").map_or(f64::MIN, |m| m.best());
            v(a).total_cmp(&v(b))
        })
        .map(|r| r.run.id)
        .expect("a best run");
    click(&mut h, &format!("Register best run ({best})"));
    assert_eq!(h.state().error(), None);
    eventually(&mut h, "the registration", |app| !app.models().is_empty());
    let models = h.state().models().to_vec();
    assert_eq!(models.len(), 1);
    assert_eq!(models[0].1.len(), 1);
    assert_eq!(models[0].1[0].run, best);

    // Export to a temporary folder.
    click(&mut h, "Registry & Export");
    // Preview first: the linter's verdict and the parity figures, nothing written.
    click(&mut h, "Preview");
    wait_idle(&mut h, Duration::from_secs(120));
    assert_eq!(h.state().error(), None);
    h.get_by_label("Linter: the configuration agrees with the ONNX graph.");
    let target = dir.path().join("repo");
    assert!(!target.exists());
    fill(&mut h, "Target folder", &target.display().to_string());
    click(&mut h, "Export");
    wait_idle(&mut h, Duration::from_secs(120));
    assert_eq!(h.state().error(), None);
    let model = target.join(&models[0].0);
    assert!(model.join("config.pbtxt").is_file());
    assert!(model.join("1/model.onnx").is_file());
    assert_eq!(h.state().last_export(), Some(model.join("1").as_path()));
    h.get_by_label_contains("as Triton version 1");
    assert_eq!(
        h.query_all_by_label_contains("Parity: parity on").count(),
        2
    );
}

#[test]
fn the_theme_and_screen_persist_between_launches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = dir.path().join("config/ui.json");
    let mut h = harness(KilnApp::with_settings(Some(settings.clone()), None));
    assert_eq!(h.state().theme(), ThemeChoice::Dark);
    click(&mut h, "Light theme");
    click(&mut h, "Show log");
    assert_eq!(h.state().theme(), ThemeChoice::Light);
    drop(h);
    let saved = std::fs::read_to_string(&settings).expect("settings written");
    assert!(saved.contains("\"light\""), "{saved}");
    let h = harness(KilnApp::with_settings(Some(settings), None));
    assert_eq!(h.state().theme(), ThemeChoice::Light);
    h.get_by_label("Hide log");
}

#[test]
fn the_demo_project_is_one_click_from_a_trained_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = harness(KilnApp::with_settings(None, None));
    let path = dir.path().join("demo.kiln");
    fill(&mut h, "Project file", &path.display().to_string());
    click(&mut h, "Build the demo project");
    assert!(h.state().busy());
    wait_idle(&mut h, Duration::from_secs(300));
    assert_eq!(h.state().error(), None);
    eventually(&mut h, "the demo's registration", |app| {
        !app.models().is_empty()
    });
    let models = h.state().models();
    assert_eq!(models.len(), 1);
    let (name, versions) = &models[0];
    assert_eq!(name, "penguins");
    assert_eq!(versions[0].aliases, vec!["champion".to_owned()]);
    assert!(
        dir.path()
            .join("demo.triton/penguins/config.pbtxt")
            .is_file()
    );
    // The study's curves and the runs are on screen.
    assert_eq!(h.state().tab(), Tab::Runs);
    h.get_by_label_contains("Parallel coordinates of study");
    // The demo ends on the newcomer's path: where to go next.
    assert!(
        h.state()
            .next_step()
            .is_some_and(|t| t.contains("registered penguins v1 as champion"))
    );
    click(&mut h, "Evaluate the champion");
    assert_eq!(h.state().tab(), Tab::Evaluate);
}

#[test]
fn cancel_stops_a_running_study_and_keeps_the_project_usable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = imported(dir.path());
    start_grid(&mut h, "100000");
    eventually(&mut h, "a running trial", |app| !app.runs().is_empty());
    // Esc asks first; keeping the job running leaves it running.
    h.key_press(egui::Key::Escape);
    h.run_steps(2);
    assert!(h.state().confirming_cancel());
    click(&mut h, "Keep it running");
    assert!(!h.state().confirming_cancel());
    assert!(h.state().busy());
    // Esc again, and stop it.
    h.key_press(egui::Key::Escape);
    h.run_steps(2);
    h.get_by_label("Stop the running job?");
    click(&mut h, "Stop the job");
    wait_idle(&mut h, Duration::from_secs(60));
    assert_eq!(h.state().error(), None);
    h.get_by_label("Study cancelled");
    eventually(&mut h, "the cancelled runs", |app| {
        !app.runs().is_empty() && app.runs().iter().all(|r| r.run.status == RunStatus::Killed)
    });
    // The writable handle came back: a new study can start.
    fill(&mut h, "Epochs", "2");
    click(&mut h, "Start");
    wait_idle(&mut h, Duration::from_secs(120));
    eventually(&mut h, "the second study", |app| {
        app.runs()
            .iter()
            .filter(|r| r.run.status == RunStatus::Finished)
            .count()
            == 4
    });
}

/// A file dropped on the window, as the windowing layer hands it to egui.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn a_file_dropped_on_the_window_is_imported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = created(dir.path());
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(penguins_csv())));
    h.run_steps(1);
    assert!(h.state().busy(), "the drop starts an import");
    wait_idle(&mut h, Duration::from_secs(60));
    eventually(&mut h, "the dropped file's import", |app| {
        app.datasets()
            .iter()
            .any(|d| d.name == "penguins" && d.rows == 344)
    });
    assert_eq!(h.state().tab(), Tab::Data);
    // The drop was taken once: no second import was refused for a job in flight.
    assert_eq!(h.state().error(), None);
    assert_eq!(h.state().datasets().len(), 1);
}

#[test]
fn a_cancelled_demo_leaves_its_project_open_and_followed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = harness(KilnApp::with_settings(None, None));
    let path = dir.path().join("demo.kiln");
    fill(&mut h, "Project file", &path.display().to_string());
    click(&mut h, "Build the demo project");
    click(&mut h, "Cancel job");
    wait_idle(&mut h, Duration::from_secs(120));
    // The lab stopped, but its project exists: the window shows it and follows its file.
    assert_eq!(h.state().project_name(), Some("demo"));
    assert!(
        h.state()
            .error()
            .is_some_and(|e| e.contains("Demo project failed")),
        "{:?}",
        h.state().error()
    );
    eventually(&mut h, "the demo's imported data", |app| {
        app.datasets().iter().any(|d| d.name == "penguins")
    });
}

/// A project at `dir/NAME.kiln` with the penguins and one study of logistic regressions over
/// `space`, made through the core, and the settings file of a window that opens on its runs.
fn trained_project(dir: &Path, name: &str, space: &str, parallel: usize) -> (PathBuf, PathBuf) {
    use kiln_core::train::{
        DevicePreference, ModelFamily, SearchSpace, Strategy, StudyRequest, TrainOptions,
    };
    let path = dir.join(format!("{name}.kiln"));
    let mut project = Project::create(&path, name).expect("create");
    project
        .import(&penguins_csv(), &Default::default())
        .expect("import");
    let request = StudyRequest {
        dataset: "penguins".into(),
        family: ModelFamily::Logreg,
        strategy: Strategy::Grid,
        space: SearchSpace::from_toml(space).expect("space"),
        parallel,
        device: DevicePreference::Cpu,
        max_trials: None,
    };
    project
        .run_study(&request, &TrainOptions::default())
        .expect("study");
    let settings = dir.join("ui.json");
    std::fs::write(&settings, r#"{"tab": "runs", "theme": "dark"}"#).expect("settings");
    (path, settings)
}

#[test]
fn a_project_opened_on_the_runs_screen_names_its_model_after_the_study() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, settings) = trained_project(dir.path(), "trained", "epochs = 2\n", 1);
    // The window opens straight on the Runs screen, before the runs have been read.
    let mut h = harness(KilnApp::with_settings(Some(settings), Some(path)));
    settle(&mut h);
    assert_eq!(h.state().tab(), Tab::Runs);
    h.get_by_label_contains("Register run").click();
    wait_idle(&mut h, Duration::from_secs(60));
    eventually(&mut h, "the registration", |app| !app.models().is_empty());
    assert_eq!(h.state().models()[0].0, "penguins");
}

/// A window of the size a laptop gives it, whose file dialogs answer with `chosen`.
fn laptop(chosen: Option<PathBuf>) -> Harness<'static, KilnApp> {
    let chooser: kiln_ui::Chooser = std::sync::Arc::new(move |_, _| chosen.clone());
    Harness::builder()
        .with_size([1280.0, 800.0])
        .build_ui_state(
            |ui, app: &mut KilnApp| app.show(ui),
            KilnApp::with_settings(None, None).with_chooser(chooser),
        )
}

/// The newcomer's path, from an empty window to an evaluated model, by the keyboard and the
/// next-step line: each step names the next and its button goes there.
#[test]
fn the_next_step_line_and_the_keyboard_lead_from_data_to_an_evaluated_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journey.kiln");
    let mut h = laptop(Some(path.clone()));

    // Ctrl+N asks where, and creates the project there.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::N);
    h.run_steps(1);
    eventually(&mut h, "the new project", |app| {
        app.project_name() == Some("journey")
    });
    settle(&mut h);
    assert!(path.is_file());
    assert_eq!(h.state().tab(), Tab::Data);

    // Ctrl+1 to Ctrl+6 change screens.
    for (key, tab) in [
        (egui::Key::Num3, Tab::Train),
        (egui::Key::Num6, Tab::Models),
        (egui::Key::Num1, Tab::Start),
        (egui::Key::Num2, Tab::Data),
    ] {
        h.key_press_modifiers(egui::Modifiers::COMMAND, key);
        h.run_steps(2);
        assert_eq!(h.state().tab(), tab);
    }

    // After an import: train a model on it.
    import(&mut h, &penguins_csv());
    eventually(&mut h, "the import", |app| !app.datasets().is_empty());
    settle(&mut h);
    assert!(
        h.state()
            .next_step()
            .is_some_and(|t| t.contains("penguins"))
    );
    click(&mut h, "Train a model on it");
    assert_eq!(h.state().tab(), Tab::Train);

    // A search that cannot learn (the rate is tiny), so that early stopping ends each trial;
    // Ctrl+Enter starts it.
    click(&mut h, "CPU");
    fill(&mut h, "Learning rates", "0.000000001, 0.000000002");
    fill(&mut h, "Hidden layers", "4; 8");
    fill(&mut h, "Epochs", "300");
    fill(&mut h, "Patience", "2");
    h.get_by_label("4 trial(s) in this search.");
    h.get_by_label("Start").hover();
    h.run_steps(10);
    h.get_by_label("Start the study (Ctrl+Enter)");
    h.remove_cursor();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Enter);
    h.run_steps(1);
    assert!(h.state().busy(), "Ctrl+Enter starts the study");
    wait_idle(&mut h, Duration::from_secs(300));
    assert_eq!(h.state().error(), None);
    assert_eq!(
        h.query_all_by_label("stopped early at epoch 3 (no gain in 2 epochs)")
            .count(),
        4
    );

    // After a study: compare the runs, or register the best.
    assert!(
        h.state()
            .next_step()
            .is_some_and(|t| t.contains("best run"))
    );
    h.get_by_label("Compare the runs");
    click(&mut h, "Register the best");
    assert_eq!(h.state().tab(), Tab::Runs);
    settle(&mut h);

    // Every panel of the Runs screen is whole in a 1280 x 800 window.
    let window = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1280.0, 800.0));
    for label in [
        "Parallel coordinates of study",
        "Lines run from blue",
        "Curves of 1 runs",
    ] {
        let rect = h.get_by_label_contains(label).rect();
        assert!(window.contains_rect(rect), "{label} at {rect:?}");
    }
    let register = h.get_by_label_contains("Register run").rect();
    assert!(window.contains_rect(register), "{register:?}");

    // After registering: evaluate, or export.
    h.get_by_label_contains("Register run").click();
    wait_idle(&mut h, Duration::from_secs(60));
    eventually(&mut h, "the registration", |app| !app.models().is_empty());
    h.get_by_label("Export it");
    click(&mut h, "Evaluate it");
    assert_eq!(h.state().tab(), Tab::Evaluate);

    // The fairness column is chosen among the dataset's columns (the label is not one).
    let combo = h.get_by_role_and_label(Role::ComboBox, "Fairness column");
    assert_eq!(combo.value().as_deref(), Some("(none)"));
    combo.click();
    h.run_steps(2);
    h.get_by_label("sex");
    assert!(h.query_by_label("species").is_none());
    click(&mut h, "island");
    // The screen's own button, not the side bar's.
    h.query_all_by_role_and_label(Role::Button, "Evaluate")
        .find(|n| n.rect().left() > 150.0)
        .expect("the Evaluate button")
        .click();
    h.run_steps(2);
    wait_idle(&mut h, Duration::from_secs(60));
    assert_eq!(h.state().error(), None);
    h.get_by_label_contains("Fairness by island");
    // The curves' legends carry each class's area, beside the line of chance.
    assert!(h.query_all_by_label_contains("(AUC ").count() >= 6);
    assert_eq!(h.query_all_by_label("chance").count(), 2);

    // After the evaluation: export it.
    click(&mut h, "Export it");
    assert_eq!(h.state().tab(), Tab::Models);

    // Buttons name their shortcut when hovered.
    h.get_by_label("Runs").hover();
    h.run_steps(10);
    h.get_by_label("Ctrl+4");
    h.remove_cursor();

    // Ctrl+O goes home and asks for a project to open; the one chosen is open already.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::O);
    h.run_steps(2);
    assert_eq!(h.state().tab(), Tab::Start);
    settle(&mut h);
    assert_eq!(h.state().project_name(), Some("journey"));
    assert_eq!(h.state().error(), None);
}

#[test]
fn a_long_value_reads_whole_on_hover_and_a_row_opens_in_a_panel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let document = "A long review that the preview cannot show in one cell: the plot wanders, \
                    the actors shine, and the ending lands exactly where it should.";
    let csv = dir.path().join("reviews.csv");
    std::fs::write(
        &csv,
        format!("text,label\n\"{document}\",pos\nshort and bad,neg\nfine,pos\nawful,neg\n"),
    )
    .expect("write");
    let mut h = created(dir.path());
    import(&mut h, &csv);
    eventually(&mut h, "the import", |app| !app.datasets().is_empty());
    settle(&mut h);
    // The cell shows a cut; hovering shows the value whole.
    assert_eq!(h.query_all_by_label(document).count(), 1);
    h.get_by_label(document).hover();
    h.run_steps(10);
    assert_eq!(h.query_all_by_label(document).count(), 2, "no tooltip");
    h.remove_cursor();
    h.run_steps(3);
    assert_eq!(h.query_all_by_label(document).count(), 1);
    // A click opens the row, every column whole.
    h.get_by_label(document).click();
    h.run_steps(3);
    h.get_by_label("Row 1 of 4");
    click(&mut h, "Close");
    assert!(h.query_by_label("Row 1 of 4").is_none());
    h.get_by_label("short and bad").click();
    h.run_steps(3);
    h.get_by_label("Row 2 of 4");
    assert_eq!(h.query_all_by_label("short and bad").count(), 2);
}

/// The Runs screen of a study with more runs than its table shows at once, with the next-step
/// line above it: every panel is still whole at 1280 x 800.
#[test]
fn a_long_runs_table_leaves_every_panel_whole_on_a_laptop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let strengths: Vec<String> = (1..=30).map(|i| format!("{}", 0.1 * i as f64)).collect();
    let space = format!("c = [{}]\n", strengths.join(", "));
    let (path, settings) = trained_project(dir.path(), "many", &space, 2);
    let mut h = Harness::builder()
        .with_size([1280.0, 800.0])
        .build_ui_state(
            |ui, app: &mut KilnApp| app.show(ui),
            KilnApp::with_settings(Some(settings), Some(path)),
        );
    settle(&mut h);
    h.get_by_label("30 of 30 runs");
    // Registering puts the next-step line above the screen.
    h.get_by_label_contains("Register best run").click();
    wait_idle(&mut h, Duration::from_secs(60));
    eventually(&mut h, "the registration", |app| !app.models().is_empty());
    settle(&mut h);
    assert!(h.state().next_step().is_some());
    let window = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1280.0, 800.0));
    for label in [
        "Parallel coordinates of study",
        "Lines run from blue",
        "Curves of 5 runs",
        "Evaluate it",
    ] {
        let rect = h.get_by_label_contains(label).rect();
        assert!(window.contains_rect(rect), "{label} at {rect:?}");
    }
}

/// The Sync dialog opens from the Runs screen with a default server, checks its fields, and
/// shows what went wrong when the server is not there.
#[test]
fn the_sync_dialog_previews_and_says_when_the_server_is_unreachable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, settings) = trained_project(dir.path(), "synced", "epochs = 1\n", 1);
    let mut h = harness(KilnApp::with_settings(Some(settings), Some(path)));
    settle(&mut h);
    click(&mut h, "Sync with MLflow…");
    let url = h.get_by_label("Server URL").value().unwrap_or_default();
    assert_eq!(url, "http://127.0.0.1:5000");
    assert_eq!(
        h.get_by_label("Experiment").value().unwrap_or_default(),
        "synced"
    );
    fill(&mut h, "Runs to push", "three");
    assert!(
        h.query_by_label_contains("is not a run selection")
            .is_some()
    );
    fill(&mut h, "Runs to push", "all");
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    fill(&mut h, "Server URL", &format!("http://127.0.0.1:{port}"));
    click(&mut h, "Preview");
    wait_idle(&mut h, Duration::from_secs(30));
    let error = h.state().error().unwrap_or_default();
    assert!(
        error.contains("cannot reach the MLflow server"),
        "error shown: {error}"
    );
}

/// The Monitor screen: a model's batches on a timeline, a heat map whose cells open both
/// distributions, and a new batch checked from the screen itself.
#[test]
fn the_monitor_screen_shows_drift_per_batch_and_checks_a_new_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, settings) = trained_project(dir.path(), "watched", "c = 1.0\n", 1);
    std::fs::write(&settings, r#"{"tab": "monitor", "theme": "light"}"#).expect("settings");
    // The penguins of one island, then every third penguin without its label.
    let source = std::fs::read_to_string(penguins_csv()).expect("csv");
    let lines: Vec<&str> = source.lines().collect();
    let island: Vec<&str> = std::iter::once(lines[0])
        .chain(
            lines[1..]
                .iter()
                .copied()
                .filter(|l| l.contains(",Torgersen,")),
        )
        .collect();
    let torgersen = dir.path().join("torgersen.csv");
    std::fs::write(&torgersen, island.join("\n") + "\n").expect("batch");
    let unlabelled: Vec<String> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 == 0)
        .map(|(_, l)| l.split_once(',').expect("cells").1.to_owned())
        .collect();
    let sample = dir.path().join("sample.csv");
    std::fs::write(&sample, unlabelled.join("\n") + "\n").expect("batch");
    {
        let mut project = Project::open(&path).expect("open");
        let run = project.run_rows().expect("runs")[0].run.id;
        project
            .register_model_as("penguins", run, Some("champion"))
            .expect("register");
        project
            .monitor(
                "penguins",
                &kiln_core::registry::VersionSelector::Alias("champion".into()),
                &torgersen,
                &Default::default(),
            )
            .expect("monitor");
    }
    let mut h = harness(KilnApp::with_settings(Some(settings), Some(path.clone())));
    settle(&mut h);
    assert_eq!(h.state().tab(), Tab::Monitor);
    assert!(
        h.query_by_label_contains("batch 2 · torgersen.csv\n52 rows")
            .is_some()
    );
    // The island's bill lengths drift; its cell opens both distributions.
    click(&mut h, "bill_length_mm in batch 2");
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("bill_length_mm in batch 2 · torgersen.csv: K-S p-value")
            .is_some()
    );
    assert!(h.query_by_label_contains("DDM: ").is_some());
    assert!(h.query_by_label("Calibration of the reference").is_some());

    // A new batch, checked from the screen, with a drift share of its own.
    click(&mut h, "Drift tests");
    fill(&mut h, "Drift share", "0.9");
    fill(&mut h, "Batch file", &sample.display().to_string());
    click(&mut h, "Check a new batch");
    wait_idle(&mut h, Duration::from_secs(60));
    assert_eq!(h.state().error(), None);
    settle(&mut h);
    assert!(h.query_by_label("sex in batch 3").is_some());
    let project = Project::open_read_only(&path).expect("open");
    let history = project
        .monitoring("penguins", &kiln_core::registry::VersionSelector::Latest)
        .expect("history");
    assert_eq!(history.reports.len(), 2);
    assert!(history.reports[0].drift.drifted && !history.reports[1].drift.drifted);
    assert_eq!(history.reports[1].drift.drift_share, 0.9);
}

/// The drift demo is one click too: it ends on the Monitor screen with the drifting batch, the
/// retrain decision, and the policy's dry run a click away.
#[test]
fn the_drift_demo_opens_on_the_monitor_screen_with_its_decision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = harness(KilnApp::with_settings(None, None));
    let path = dir.path().join("drift.kiln");
    fill(&mut h, "Project file", &path.display().to_string());
    click(&mut h, "Build the drift demo");
    wait_idle(&mut h, Duration::from_secs(300));
    assert_eq!(h.state().error(), None);
    eventually(&mut h, "the demo's registration", |app| {
        !app.models().is_empty()
    });
    settle(&mut h);
    assert_eq!(h.state().tab(), Tab::Monitor);
    assert!(
        h.query_by_label_contains("penguins-torgersen.csv\n52 rows")
            .is_some()
    );
    assert!(h.query_by_label("island in batch 2").is_some());
    assert!(h.query_by_label("Retrain decisions").is_some());
    // A dry run says what the policy would do, and writes nothing: here nothing, since the
    // demo's decision already acted on its one batch.
    let versions = h.state().models()[0].1.len();
    click(&mut h, "Dry run");
    wait_idle(&mut h, Duration::from_secs(60));
    assert_eq!(h.state().error(), None);
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("not triggered: no trigger of the policy fired")
            .is_some()
    );
    settle(&mut h);
    assert_eq!(h.state().models()[0].1.len(), versions);
}

/// The Deploy screen: two versions over the penguins as traffic, in shadow mode; the verdict,
/// the paired table and the latency show, and promoting asks first, then moves the alias.
#[test]
fn the_deploy_screen_replays_traffic_in_shadow_mode_and_promotes_with_a_confirmation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, settings) = trained_project(dir.path(), "deployed", "c = [0.0005, 1.0]\n", 1);
    std::fs::write(&settings, r#"{"tab": "deploy", "theme": "light"}"#).expect("settings");
    {
        let mut project = Project::open(&path).expect("open");
        let runs = project.run_rows().expect("runs");
        let weak = runs
            .iter()
            .find(|r| {
                r.params
                    .iter()
                    .any(|(k, v)| k == "c" && v.starts_with("0.0005"))
            })
            .expect("weak run")
            .run
            .id;
        let strong = runs
            .iter()
            .find(|r| r.run.id != weak)
            .expect("strong run")
            .run
            .id;
        project
            .register_model_as("penguins", weak, Some("champion"))
            .expect("champion");
        project
            .register_model_as("penguins", strong, Some("challenger"))
            .expect("challenger");
    }
    let mut h = harness(KilnApp::with_settings(Some(settings), Some(path.clone())));
    settle(&mut h);
    assert_eq!(h.state().tab(), Tab::Deploy);
    assert!(h.query_by_label("No replay yet for this model.").is_some());
    fill(
        &mut h,
        "Traffic file",
        &penguins_csv().display().to_string(),
    );
    click(&mut h, "Replay");
    wait_idle(&mut h, Duration::from_secs(120));
    assert_eq!(h.state().error(), None);
    settle(&mut h);
    assert!(h.query_by_label("Verdict: Promote B").is_some());
    assert!(
        h.query_by_label_contains("Paired on 344 labelled rows")
            .is_some()
    );
    assert!(h.query_by_label_contains("McNemar: exact p").is_some());
    assert!(h.query_by_label_contains("bootstrap interval").is_some());
    // Below the fold: clicked through the accessibility tree, as a screen reader would.
    h.get_by_label("8 rows").click_accesskit();
    h.run_steps(2);
    assert_eq!(
        h.query_all_by_label_contains("over 200 calls of 8 rows")
            .count(),
        2,
        "both versions' latency at batches of 8"
    );

    // Promotion asks first; Cancel leaves the alias where it was.
    click(&mut h, "Promote v2…");
    assert!(
        h.query_by_label_contains("Move penguins@champion to v2?")
            .is_some()
    );
    click(&mut h, "Cancel");
    let champion = |path: &Path| {
        Project::open_read_only(path)
            .expect("open")
            .model_version(
                "penguins",
                &kiln_core::registry::VersionSelector::Alias("champion".into()),
            )
            .expect("champion")
            .version
    };
    assert_eq!(champion(&path), 1);
    click(&mut h, "Promote v2…");
    click(&mut h, "Move the alias");
    wait_idle(&mut h, Duration::from_secs(30));
    assert_eq!(h.state().error(), None);
    assert_eq!(champion(&path), 2);
    eventually(&mut h, "the alias on v2", |app| {
        app.models().iter().any(|(model, versions)| {
            model == "penguins"
                && versions
                    .iter()
                    .any(|v| v.version == 2 && v.aliases.iter().any(|a| a == "champion"))
        })
    });
    settle(&mut h);
    assert!(h.query_by_label("@champion points at v2").is_some());
    assert!(
        h.query_by_label("Promote v2…").is_none(),
        "nothing left to promote"
    );
    let reports = Project::open_read_only(&path)
        .expect("open")
        .replays("penguins")
        .expect("reports");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].mode, kiln_core::replay::ReplayMode::Shadow);
}
