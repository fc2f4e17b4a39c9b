//! Image snapshots of key screens on fixed data, in light and dark, rendered by wgpu (lavapipe
//! where there is no GPU). Update them with `UPDATE_SNAPSHOTS=1 cargo test -p kiln-ui`.

use eframe::egui;
use egui_kittest::{Harness, SnapshotOptions, SnapshotResults};
use kiln_core::eval::{ModelEvaluation, evaluate, fairness, predict};
use kiln_core::events::Event;
use kiln_core::{RunId, StudyId};

use crate::app::KilnApp;
use crate::settings::{Tab, ThemeChoice};

const THEMES: [(ThemeChoice, &str); 2] =
    [(ThemeChoice::Light, "light"), (ThemeChoice::Dark, "dark")];

/// Lenient enough for another Mesa build's anti-aliasing, strict enough for a moved widget.
fn options() -> SnapshotOptions {
    SnapshotOptions::new().threshold(1.0).max_failed_pixels(200)
}

fn app(theme: ThemeChoice, tab: Tab) -> KilnApp {
    let mut app = KilnApp::with_settings(None, None);
    app.settings.theme = theme;
    app.settings.tab = tab;
    app
}

/// A harness builder for a bare piece of UI at `size` in `theme`.
fn themed(theme: ThemeChoice, size: [f32; 2]) -> egui_kittest::HarnessBuilder {
    Harness::builder().with_size(size).with_theme(match theme {
        ThemeChoice::Light => egui::Theme::Light,
        ThemeChoice::Dark => egui::Theme::Dark,
    })
}

/// Snapshots of `show` in a central panel of `size`, `{name}_light` and `{name}_dark`.
fn panel_snapshots(name: &str, size: [f32; 2], mut show: impl FnMut(&mut egui::Ui)) {
    let mut results = SnapshotResults::new();
    for (theme, suffix) in THEMES {
        let show = &mut show;
        let mut harness = themed(theme, size).build_ui(|ui| {
            egui::CentralPanel::default().show(ui, |ui| show(ui));
        });
        harness.run_steps(3);
        harness.snapshot_options(format!("{name}_{suffix}"), &options());
        results.extend_harness(&mut harness);
    }
}

/// A project holding the drift demo: Torgersen's penguins against a model trained on the other
/// islands (v1, the champion), and the retrain it decided (v2).
fn drift_demo_project() -> (tempfile::TempDir, kiln_core::Project) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut project =
        kiln_core::Project::create(dir.path().join("drift.kiln"), "drift").expect("create");
    kiln_core::lab::run_drift_demo(&mut project, &Default::default()).expect("demo");
    (dir, project)
}

fn snapshot(app: KilnApp, name: &str, results: &mut SnapshotResults) {
    let mut harness = Harness::builder()
        .with_size([1100.0, 760.0])
        .build_ui_state(|ui, app: &mut KilnApp| app.show(ui), app);
    harness.run_steps(4);
    harness.snapshot_options(name, &options());
    results.extend_harness(&mut harness);
}

/// A fixed three-trial study, fed through the same events a real one sends.
fn live_study(app: &mut KilnApp) {
    let study = StudyId(1);
    let events = &mut Vec::new();
    events.push(Event::StudyStarted {
        study,
        trials: 4,
        strategy: "grid".into(),
        device: "cpu: flex".into(),
        objective: "val/macro_f1".into(),
    });
    for trial in 0..3usize {
        let run = RunId(trial as i64 + 1);
        events.push(Event::TrialStarted {
            study,
            trial,
            run,
            params: vec![
                (
                    "learning_rate".into(),
                    ["0.01", "0.03", "0.1"][trial].into(),
                ),
                ("hidden".into(), "16".into()),
            ],
        });
        let epochs = if trial == 2 { 18 } else { 30 };
        for epoch in 1..=epochs {
            let t = epoch as f64;
            let rate = 0.05 * (trial as f64 + 1.0);
            let loss = 1.1 * (-rate * t).exp() + 0.05;
            for (key, value) in [
                ("train/loss", loss),
                ("val/loss", loss * 1.1 + 0.02),
                ("val/macro_f1", 1.0 - 0.7 * (-rate * t).exp()),
            ] {
                events.push(Event::Metric {
                    run,
                    key: key.into(),
                    step: epoch,
                    value,
                });
            }
            events.push(Event::Progress {
                run,
                trial,
                epoch: epoch as usize,
                epochs: 30,
            });
        }
        if trial < 2 {
            events.push(Event::TrialFinished {
                run,
                trial,
                status: kiln_core::RunStatus::Finished,
                objective: Some(0.97 + 0.01 * trial as f64),
                reason: None,
            });
        }
    }
    for event in events.iter() {
        app.train.on_event(event);
    }
}

fn fixed_evaluation() -> ModelEvaluation {
    let classes: Vec<String> = ["Adelie", "Chinstrap", "Gentoo"].map(String::from).to_vec();
    let mut y_true = Vec::new();
    let mut probabilities = Vec::new();
    let mut groups = Vec::new();
    for i in 0..60usize {
        let truth = i % 3;
        let confident = (i * 37 % 11) as f32 / 11.0;
        let mut row = [0.1f32; 3];
        // Every seventh row leans to the wrong class.
        let lean = if i % 7 == 0 { (truth + 1) % 3 } else { truth };
        row[lean] = 0.5 + 0.4 * confident;
        let sum: f32 = row.iter().sum();
        probabilities.push(row.iter().map(|p| p / sum).collect::<Vec<f32>>());
        y_true.push(truth);
        groups.push(Some(if i % 2 == 0 { "female" } else { "male" }.to_owned()));
    }
    let metrics = evaluate(&classes, &y_true, &probabilities);
    let predicted = predict(&probabilities);
    ModelEvaluation {
        model: "penguins".into(),
        version: 1,
        run: RunId(3),
        fairness: Some(fairness("sex", &classes, 0, &groups, &y_true, &predicted)),
        metrics,
        behaviour: Vec::new(),
    }
}

#[test]
fn home_screen() {
    let mut results = SnapshotResults::new();
    for (theme, name) in THEMES {
        snapshot(
            app(theme, Tab::Start),
            &format!("home_{name}"),
            &mut results,
        );
    }
}

#[test]
fn live_training_charts() {
    let mut results = SnapshotResults::new();
    for (theme, name) in THEMES {
        let mut app = app(theme, Tab::Train);
        live_study(&mut app);
        snapshot(app, &format!("train_live_{name}"), &mut results);
    }
}

#[test]
fn evaluation_report() {
    let evaluation = fixed_evaluation();
    panel_snapshots("evaluation", [1100.0, 760.0], |ui| {
        crate::views::evaluate::result_ui(ui, &evaluation);
    });
}

/// The Monitor screen's history of the drift demo: Torgersen's penguins against a model trained
/// on the other islands, and the retrain it decided.
#[test]
fn monitor_history() {
    let (_dir, project) = drift_demo_project();
    let history = project
        .monitoring(
            kiln_core::lab::LAB_MODEL,
            &kiln_core::registry::VersionSelector::Number(1),
        )
        .expect("history");
    let mut cell = Some((0, "bill_length_mm".to_owned()));
    panel_snapshots("monitor", [1100.0, 1500.0], |ui| {
        crate::views::monitor::history_ui(ui, &history, &mut cell);
    });
}

/// A chart dense enough to be drawn as meshes: 12 runs of 20,000 noisy points.
#[test]
fn dense_chart() {
    let mut series: Vec<crate::chart::Series> = (0..12usize)
        .map(|r| {
            crate::chart::Series::from_points(
                format!("run {r}"),
                (0..20_000usize).map(|i| {
                    let noise = ((i * 7919 + r * 104_729) % 1000) as f64 / 1000.0 - 0.5;
                    let decay = (-(i as f64) * 2e-4 * (1.0 + r as f64 / 6.0)).exp();
                    [i as f64, decay + 0.1 + 0.05 * noise]
                }),
            )
        })
        .collect();
    panel_snapshots("dense_chart", [900.0, 420.0], |ui| {
        let mut refs: Vec<&mut crate::chart::Series> = series.iter_mut().collect();
        crate::chart::line_chart(
            ui,
            "dense",
            crate::chart::Axes {
                x: "step",
                y: "loss",
            },
            &mut refs,
            crate::chart::ChartStyle::default(),
            380.0,
        );
    });
}

/// The Deploy screen's report: the drift demo's champion (v1) against its retrained v2 in shadow
/// over the penguins, with the measured times replaced by fixed ones.
#[test]
fn deploy_report() {
    use kiln_core::registry::VersionSelector;
    use kiln_core::replay::{Latency, ReplayRequest};
    let (_dir, mut project) = drift_demo_project();
    let traffic = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/penguins.csv");
    let mut report = project
        .replay(
            &ReplayRequest::new(
                kiln_core::lab::LAB_MODEL,
                VersionSelector::Alias("champion".into()),
                VersionSelector::Number(2),
                traffic,
            ),
            &Default::default(),
        )
        .expect("replay");
    report.traffic = "penguins.csv".into();
    report.seconds = 0.42;
    for (arm, slower) in [(&mut report.a, 1.0), (&mut report.b, 1.15)] {
        arm.rows_per_second = 1_200_000.0 / slower;
        arm.latency = kiln_core::replay::LATENCY_BATCHES
            .iter()
            .map(|&batch| {
                let p50 = (0.03 + 0.0015 * batch as f64) * slower;
                let edges_ms: Vec<f64> = (0..=24).map(|k| p50 * (0.6 + 0.05 * k as f64)).collect();
                let histogram: Vec<u32> = (0..24)
                    .map(|k: i32| (200.0 * (-((k - 8) as f64).powi(2) / 12.0).exp()) as u32)
                    .collect();
                Latency {
                    batch,
                    calls: histogram.iter().sum::<u32>() as usize,
                    p50_ms: p50,
                    p95_ms: p50 * 1.4,
                    p99_ms: p50 * 1.6,
                    per_row_p50_us: p50 * 1000.0 / batch as f64,
                    histogram,
                    edges_ms,
                }
            })
            .collect();
    }
    let snapshot = kiln_core::service::Snapshot::default();
    let mut view = crate::views::deploy::DeployView::default();
    let mut commands = Vec::new();
    panel_snapshots("deploy", [1100.0, 960.0], |ui| {
        let mut frame =
            crate::screen::Frame::new(None, (&snapshot, 0), None, &[], None, &mut commands);
        crate::views::deploy::report_ui(&mut view, ui, &mut frame, &report);
    });
}
