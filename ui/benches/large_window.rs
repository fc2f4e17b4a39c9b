//! Performance goal: the window over a project of 10,000 runs and 10,000,000 metric points.
//! `scripts/bench-large.sh` writes such a project with kiln-core's `large_project` generator and
//! runs this with its path:
//!
//! ```text
//! cargo bench --workspace --bench large_window -- PROJECT.kiln
//! ```
//!
//! It drives the real window through egui_kittest, as a user would, and times each frame from
//! input to finished layout (egui's pass and the accessibility tree; no GPU). The harness runs
//! one frame per input event (a click is three: move, press, release); each is counted:
//! - open: from the window's creation to the first frame showing the runs table;
//! - idle frames with the pointer moving;
//! - scrolling the table with the wheel;
//! - sorting by a metric (a click on its header), then by a param;
//! - filtering: typing a condition, one key per frame;
//! - ticking 100 runs (clicking their boxes, a page at a time), then frames drawing their curves.

use std::time::{Duration, Instant};

use eframe::egui::{self, accesskit::Role, vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use kiln_ui::{KilnApp, Tab};

type Window = Harness<'static, KilnApp>;

/// One frame of the window, with `event` as its input (or none): the harness runs a frame per
/// queued event, so a click is three frames (the pointer moving there, the press, the
/// release), each timed on its own.
fn frame_with(h: &mut Window, event: Option<egui::Event>) -> Duration {
    if let Some(event) = event {
        h.event(event);
    }
    let before = h.ctx.cumulative_pass_nr();
    let started = Instant::now();
    h.step();
    let elapsed = started.elapsed();
    assert_eq!(h.ctx.cumulative_pass_nr() - before, 1, "one frame a step");
    elapsed
}

fn pointer_at(pos: egui::Pos2) -> egui::Event {
    egui::Event::PointerMoved(pos)
}

fn wheel(dy: f32) -> egui::Event {
    egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: vec2(0.0, dy),
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Wheel,
        modifiers: egui::Modifiers::NONE,
    }
}

/// A click at `pos`: three frames.
fn click_at(h: &mut Window, pos: egui::Pos2) -> Vec<Duration> {
    let mut times = vec![frame_with(h, Some(pointer_at(pos)))];
    for pressed in [true, false] {
        let event = egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        };
        times.push(frame_with(h, Some(event)));
    }
    times
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mean = times.iter().map(|&d| ms(d)).sum::<f64>() / times.len().max(1) as f64;
    let p95 = ms(times[(times.len() * 95 / 100).min(times.len() - 1)]);
    let worst = ms(times[times.len() - 1]);
    println!(
        "{what:<44} {:>3} frames: mean {mean:6.2} ms, p95 {p95:6.2} ms, worst {worst:6.2} ms (budget 16 ms)",
        times.len()
    );
}

/// Frames until the table shows every run, or panics after a minute.
fn open(h: &mut Window) {
    let started = Instant::now();
    loop {
        h.step();
        if let Some(e) = h.state().error() {
            panic!("the window reported an error: {e}");
        }
        let runs = h.state().runs().len();
        if runs > 0
            && h.query_by_label(&format!("{runs} of {runs} runs"))
                .is_some()
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the table did not show"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// How many runs the chart overlays, as its title says.
fn overlaid(h: &Window) -> usize {
    h.query_all_by_label_contains("Curves of ")
        .filter_map(|n| n.accesskit_node().label())
        .find_map(|l| {
            l.strip_prefix("Curves of ")?
                .strip_suffix(" runs")?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// The unticked boxes of the table's rows on screen.
fn unticked(h: &Window) -> Vec<egui::Rect> {
    h.query_all_by_role(Role::CheckBox)
        .filter(|n| {
            n.accesskit_node()
                .label()
                .is_some_and(|l| l.starts_with("Select run"))
        })
        .filter(|n| n.accesskit_node().toggled() != Some(egui::accesskit::Toggled::True))
        .map(|n| n.rect())
        .collect()
}

fn main() {
    let path = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .expect("usage: large_window PROJECT.kiln (scripts/bench-large.sh makes one)");
    let count: usize = std::env::var("KILN_BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let mut app = KilnApp::with_settings(None, Some(path.into()));
    app.set_tab(Tab::Runs);
    let started = Instant::now();
    let mut h = Harness::builder()
        .with_size([1280.0, 800.0])
        .build_ui_state(|ui, app: &mut KilnApp| app.show(ui), app);
    open(&mut h);
    let opened = started.elapsed();
    let runs = h.state().runs().len();
    let points: u64 = h
        .state()
        .runs()
        .iter()
        .flat_map(|r| r.metrics.iter().map(|m| m.points))
        .sum();
    println!(
        "window open to runs table, {runs} runs, {points} points: {:.0} ms (budget 500 ms)",
        opened.as_secs_f64() * 1e3
    );

    let mut idle = Vec::new();
    for f in 0..count {
        let pos = egui::pos2(200.0 + (f as f32 * 37.0) % 800.0, 300.0);
        idle.push(frame_with(&mut h, Some(pointer_at(pos))));
    }
    report("idle (pointer moving)", idle);

    let table = unticked(&h).first().copied().expect("the table shows rows");
    let mut scrolling = Vec::new();
    for _ in 0..count {
        scrolling.push(frame_with(
            &mut h,
            Some(pointer_at(table.center() + vec2(200.0, 0.0))),
        ));
        scrolling.push(frame_with(&mut h, Some(wheel(-120.0))));
    }
    report("scrolling the table", scrolling);

    let mut sorting = Vec::new();
    for header in ["val/accuracy", "learning_rate", "val/loss", "hidden"] {
        for _ in 0..2 {
            let rect = h
                .query_all_by_role(Role::Button)
                .find(|n| {
                    n.accesskit_node()
                        .label()
                        .is_some_and(|l| l.trim() == header)
                })
                .unwrap_or_else(|| panic!("no header {header}"))
                .rect();
            sorting.extend(click_at(&mut h, rect.center()));
        }
    }
    report("sorting (clicks on metric and param headers)", sorting);

    let mut filtering = Vec::new();
    h.get_by_label("Filter").click();
    h.step();
    for c in "learning_rate=0.01 val/accuracy>0.5".chars() {
        filtering.push(frame_with(&mut h, Some(egui::Event::Text(c.to_string()))));
    }
    assert!(
        h.query_by_label(&format!("{runs} of {runs} runs"))
            .is_none(),
        "the filter left every run"
    );
    h.get_by_label("Filter").click();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.key_press(egui::Key::Backspace);
    h.step();
    h.step();
    report("filtering (typing a condition)", filtering);

    let mut ticking = Vec::new();
    let mut ticked = 0;
    let mut attempts = 0;
    while ticked < 100 {
        let Some(rect) = unticked(&h).first().copied() else {
            panic!("no unticked row on screen");
        };
        ticking.extend(click_at(&mut h, rect.center()));
        // Away, so that the box's tooltip covers no other box.
        frame_with(&mut h, Some(pointer_at(egui::pos2(1270.0, 790.0))));
        let now = overlaid(&h);
        if now == ticked {
            // The box lay beyond the table's edge, where the click cannot reach it: the wheel
            // brings the next rows.
            frame_with(
                &mut h,
                Some(pointer_at(rect.center() + vec2(100.0, -100.0))),
            );
            frame_with(&mut h, Some(wheel(-150.0)));
            for _ in 0..10 {
                frame_with(&mut h, None);
            }
        }
        ticked = now;
        attempts += 1;
        assert!(
            attempts < 400,
            "ticks did not take: {ticked} after {attempts} clicks"
        );
    }
    report("ticking 100 runs (a click is three frames)", ticking);
    // Their curves arrive from the reader thread; then every frame draws 100 of them.
    let arriving = Instant::now();
    while !h.state().settled() && arriving.elapsed() < Duration::from_secs(30) {
        h.step();
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(overlaid(&h), 100);
    let mut drawing = Vec::new();
    for f in 0..count {
        let pos = egui::pos2(300.0 + (f as f32 * 23.0) % 500.0, 600.0);
        drawing.push(frame_with(&mut h, Some(pointer_at(pos))));
    }
    report("frames with 100 runs' curves drawn", drawing);
}
