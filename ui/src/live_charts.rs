//! The Train screen's live charts, fed through the events a study sends, as the screen receives
//! them from the app.

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use kiln_core::events::Event;
use kiln_core::{RunId, StudyId};

use crate::app::KilnApp;
use crate::settings::Tab;

fn harness() -> Harness<'static, KilnApp> {
    let mut app = KilnApp::with_settings(None, None);
    app.settings.tab = Tab::Train;
    // Frames at 60 per second, so that two clicks make a double click.
    Harness::builder()
        .with_size([1280.0, 1600.0])
        .with_step_dt(1.0 / 60.0)
        .build_ui_state(|ui, app: &mut KilnApp| app.show(ui), app)
}

/// One turn of the mouse wheel over the objective's chart (with Ctrl: a zoom); returns where.
fn wheel(h: &mut Harness<'_, KilnApp>, delta: f32, modifiers: egui::Modifiers) -> egui::Pos2 {
    let chart = h
        .get_by_label("val/macro_f1 (objective)")
        .rect()
        .center_bottom()
        + egui::vec2(0.0, 110.0);
    h.hover_at(chart);
    h.event(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::vec2(0.0, delta),
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Unknown,
        modifiers,
    });
    chart
}

/// The event that starts a study ranked by `objective`.
fn started(trials: usize, objective: &str) -> Event {
    Event::StudyStarted {
        study: StudyId(1),
        trials,
        strategy: "grid".into(),
        device: "cpu: flex".into(),
        objective: objective.into(),
    }
}

fn feed(h: &mut Harness<'_, KilnApp>, events: &[Event]) {
    for event in events {
        h.state_mut().train.on_event(event);
    }
    h.run_steps(2);
}

fn metric(run: i64, key: &str, step: i64, value: f64) -> Event {
    Event::Metric {
        run: RunId(run),
        key: key.into(),
        step,
        value,
    }
}

/// Metric keys whose chart does not show every one of its points.
fn unfitted(h: &Harness<'_, KilnApp>) -> Vec<String> {
    let live = &h.state().train.live;
    let mut wrong = Vec::new();
    for (key, by_run) in &live.series {
        let Some(([x0, x1], [y0, y1])) = crate::chart::shown_bounds(
            &h.ctx,
            &crate::views::train::chart_id(live.generation, key),
        ) else {
            wrong.push(format!("{key}: not drawn"));
            continue;
        };
        // Fitted, not merely containing: the data spans most of the range shown.
        let (lo, hi) = by_run
            .values()
            .flat_map(|s| s.points())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), [_, y]| {
                (lo.min(y), hi.max(y))
            });
        if hi > lo && (hi - lo) < 0.5 * (y1 - y0) {
            wrong.push(format!(
                "{key}: data {lo}..{hi} fills less than half of y {y0}..{y1}"
            ));
        }
        for series in by_run.values() {
            for [x, y] in series.points() {
                if !(x0 <= x && x <= x1 && y0 <= y && y <= y1) {
                    wrong.push(format!(
                        "{key}: ({x}, {y}) outside x {x0}..{x1}, y {y0}..{y1}"
                    ));
                    break;
                }
            }
        }
    }
    wrong
}

/// One epoch of two runs: an objective that climbs far from its start, timing whose first
/// value dwarfs the rest, a loss per batch, and a second run that starts late with a single
/// point.
fn epoch(step: i64) -> Vec<Event> {
    let t = step as f64;
    let mut events = vec![
        metric(
            1,
            "val/macro_f1",
            step,
            0.05 + 0.95 * (1.0 - (-t / 4.0).exp()),
        ),
        metric(1, "val/loss", step, 2.0 * (-t / 6.0).exp()),
        metric(
            1,
            "epoch_seconds",
            step,
            if step == 1 { 40.0 } else { 0.02 + 0.001 * t },
        ),
    ];
    for batch in 0..10 {
        let b = (step - 1) * 10 + batch;
        events.push(metric(1, "train/batch_loss", b, 3.0 / (1.0 + b as f64)));
    }
    if step >= 12 {
        events.push(metric(2, "val/macro_f1", step, -5.0 + t * 0.1));
    }
    events
}

#[test]
fn every_chart_fits_all_of_its_data_as_points_arrive() {
    let mut h = harness();
    feed(
        &mut h,
        &[
            started(2, "val/macro_f1"),
            Event::TrialStarted {
                study: StudyId(1),
                trial: 0,
                run: RunId(1),
                params: vec![],
            },
            Event::TrialStarted {
                study: StudyId(1),
                trial: 1,
                run: RunId(2),
                params: vec![],
            },
        ],
    );
    h.get_by_label("Timing charts").click();
    h.run_steps(2);
    assert!(h.state().train.show_timing);
    for step in 1..=30 {
        feed(&mut h, &epoch(step));
        let wrong = unfitted(&h);
        assert!(wrong.is_empty(), "after epoch {step}: {wrong:?}");
    }

    // The wheel over a chart scrolls the page, and leaves the chart fitted.
    for _ in 0..5 {
        wheel(&mut h, -120.0, egui::Modifiers::NONE);
        h.run_steps(3);
    }
    feed(&mut h, &epoch(31));
    let wrong = unfitted(&h);
    assert!(wrong.is_empty(), "after scrolling: {wrong:?}");

    // Zoomed in, the chart keeps the user's view; a double click fits it again.
    let chart = wheel(&mut h, 200.0, egui::Modifiers::COMMAND);
    // A wheel's zoom is spread over a few frames: let it end.
    h.run_steps(60);
    let zoomed = crate::chart::shown_bounds(
        &h.ctx,
        &crate::views::train::chart_id(h.state().train.live.generation, "val/macro_f1"),
    );
    feed(&mut h, &epoch(32));
    assert!(
        unfitted(&h).iter().any(|w| w.starts_with("val/macro_f1")),
        "the zoom was not kept: {zoomed:?}"
    );
    for pressed in [true, false, true, false] {
        h.event(egui::Event::PointerButton {
            pos: chart,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        });
        h.step();
    }
    h.run_steps(2);
    feed(&mut h, &epoch(33));
    let wrong = unfitted(&h);
    assert!(wrong.is_empty(), "after a double click: {wrong:?}");

    // A zoom belongs to its study: the next study's charts fit their own data.
    wheel(&mut h, 200.0, egui::Modifiers::COMMAND);
    h.run_steps(60);
    h.state_mut().train.prepare_live();
    feed(&mut h, &[started(1, "val/macro_f1")]);
    for step in 1..=5 {
        feed(&mut h, &epoch(step));
    }
    let wrong = unfitted(&h);
    assert!(wrong.is_empty(), "in the next study: {wrong:?}");
}

#[test]
fn the_objective_leads_and_timing_waits_behind_a_toggle() {
    let mut h = harness();
    let mut events = vec![started(1, "val/accuracy")];
    for key in [
        "epoch_seconds",
        "samples_per_second",
        "train/accuracy",
        "train/loss",
        "val/accuracy",
        "val/loss",
        "val/macro_f1",
    ] {
        events.push(metric(1, key, 1, 0.5));
        events.push(metric(1, key, 2, 0.6));
    }
    events.push(metric(1, "train/batch_loss", 0, 1.0));
    feed(&mut h, &events);
    // The reading order: the objective, the losses (the epoch's before each batch's), then the
    // other quality metrics, validation first.
    let expected = [
        "val/accuracy (objective)",
        "val/loss",
        "train/loss",
        "train/batch_loss",
        "val/macro_f1",
        "train/accuracy",
    ];
    // The headings as they read on screen: by row, then left to right.
    let mut headings: Vec<(f32, f32, &str)> = expected
        .iter()
        .map(|k| {
            let r = h.get_by_label(k).rect();
            (r.top(), r.left(), *k)
        })
        .collect();
    headings.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let order: Vec<&str> = headings.into_iter().map(|(_, _, k)| k).collect();
    assert_eq!(order, expected);
    assert!(h.query_by_label("epoch_seconds").is_none());
    h.get_by_label("Timing charts").click();
    h.run_steps(2);
    h.get_by_label("epoch_seconds");
    h.get_by_label("samples_per_second");
}

#[test]
fn a_trial_stopped_early_says_so_and_fills_its_bar() {
    let mut h = harness();
    let mut events = vec![
        started(1, "val/macro_f1"),
        Event::TrialStarted {
            study: StudyId(1),
            trial: 0,
            run: RunId(7),
            params: vec![],
        },
    ];
    for epoch in 1..=12 {
        events.push(Event::Progress {
            run: RunId(7),
            trial: 0,
            epoch,
            epochs: 300,
        });
    }
    feed(&mut h, &events);
    h.get_by_label_contains("epoch 12 / 300");
    feed(
        &mut h,
        &[Event::TrialFinished {
            run: RunId(7),
            trial: 0,
            status: kiln_core::RunStatus::Finished,
            objective: Some(0.9),
            reason: Some("stopped early at epoch 12 (no gain in 8 epochs)".into()),
        }],
    );
    h.get_by_label_contains("stopped early at epoch 12 (no gain in 8 epochs)");
    assert!(h.query_by_label_contains("epoch 12 / 300").is_none());
    let t = &h.state().train.live.trials[&RunId(7)];
    assert_eq!(crate::views::train::trial_progress(t).0, 1.0);
}

#[test]
fn a_software_adapter_notice_names_the_device_choice() {
    let mut h = harness();
    feed(
        &mut h,
        &[
            started(1, "val/macro_f1"),
            Event::Notice {
                message: "only a software adapter was found (llvmpipe); training on the CPU (flex), which is faster than it".into(),
                gpu_on_request: true,
            },
        ],
    );
    h.get_by_label_contains("Notice: only a software adapter");
    h.get_by_label_contains("To use it anyway, choose GPU (wgpu) under Device.");
    assert!(h.query_by_label_contains("--device").is_none());
    // The control it names is on screen.
    h.get_by_label("GPU (wgpu)");
}
