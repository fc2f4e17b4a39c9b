//! Performance goal P3: a chart of 100 runs × 100,000 points each stays under 16 ms per frame
//! on the CPU. A frame here is everything the CPU does for it: egui's layout of the plot
//! (decimation, hover search, legend) and the tessellation of its shapes into triangles. The
//! pointer moves across the plot every frame, so the hover label is computed too.
//!
//! Run: `cargo bench --workspace --bench chart_frame` (`KILN_BENCH_FRAMES` frames, default 60;
//! `KILN_BENCH_SPLIT=1` also prints layout and tessellation per frame, and the uncached
//! decimation time).
//! The baseline is the same plot with every point handed to egui_plot undecimated.
//!
//! It also times a frame of the Data screen previewing a 100,000-row dataset, which draws only
//! the rows on screen.

mod common;

use std::time::{Duration, Instant};

use eframe::egui::{self, Pos2, RawInput, Rect, vec2};
use kiln_core::Project;
use kiln_core::data::ImportOptions;
use kiln_ui::chart::{Axes, ChartStyle, Series, line_chart};
use kiln_ui::{KilnApp, Tab};

const AXES: Axes<'static> = Axes {
    x: "step",
    y: "loss",
};

const RUNS: usize = 100;
const POINTS: usize = 100_000;

fn series(runs: usize, points: usize) -> Vec<Series> {
    (0..runs)
        .map(|r| {
            let decay = 1e-4 * (1.0 + r as f64 / runs as f64);
            Series::from_points(
                format!("run {r}"),
                (0..points).map(|i| {
                    let noise = (((i * 7919 + r * 104_729) % 1000) as f64 / 1000.0 - 0.5) * 0.05;
                    [i as f64, (-(i as f64) * decay).exp() + 0.1 + noise]
                }),
            )
        })
        .collect()
}

/// Frame times of `frames` frames drawing `all` with `draw`.
fn frames(
    all: &mut [Series],
    frames: usize,
    zoom: bool,
    draw: impl Fn(&mut egui::Ui, &mut [&mut Series]),
) -> Vec<Duration> {
    let mut state = all;
    timed(frames, 3, zoom, &mut state, |ui, all| {
        let mut refs: Vec<&mut Series> = all.iter_mut().collect();
        draw(ui, &mut refs);
    })
}

/// Frame times of `frames` frames of `draw` over `state`, after `warm` frames not counted.
fn timed<S>(
    frames: usize,
    warm: usize,
    zoom: bool,
    state: &mut S,
    mut draw: impl FnMut(&mut egui::Ui, &mut S),
) -> Vec<Duration> {
    let ctx = egui::Context::default();
    let screen = Rect::from_min_size(Pos2::ZERO, vec2(1280.0, 800.0));
    let mut times = Vec::with_capacity(frames);
    for f in 0..frames + warm {
        let x = 100.0 + (f as f32 * 37.0) % 1000.0;
        let mut events = vec![egui::Event::PointerMoved(Pos2::new(x, 400.0))];
        if zoom {
            // Zoom in a little every frame: the view changes, so every series is swept anew.
            events.push(egui::Event::Zoom(1.02));
        }
        let input = RawInput {
            screen_rect: Some(screen),
            events,
            ..Default::default()
        };
        let started = Instant::now();
        let mut output = ctx.run_ui(input, |ui| {
            egui::CentralPanel::default().show(ui, |ui| draw(ui, state));
        });
        // No renderer here takes the font atlas: let it go.
        output.textures_delta.clear();
        let laid_out = started.elapsed();
        let primitives = ctx.tessellate(output.shapes, output.pixels_per_point);
        let elapsed = started.elapsed();
        if std::env::var_os("KILN_BENCH_SPLIT").is_some() {
            eprintln!(
                "layout {:.2} ms, tessellation {:.2} ms",
                laid_out.as_secs_f64() * 1e3,
                (elapsed - laid_out).as_secs_f64() * 1e3
            );
        }
        std::hint::black_box(primitives);
        // The first frames lay out fonts, build the pyramids or load the data: not steady state.
        if f >= warm {
            times.push(elapsed);
        }
    }
    times
}

fn summary(mut times: Vec<Duration>) -> (f64, f64, f64) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mean = times.iter().map(|&d| ms(d)).sum::<f64>() / times.len() as f64;
    let median = ms(times[times.len() / 2]);
    let p95 = ms(times[(times.len() * 95 / 100).min(times.len() - 1)]);
    (mean, median, p95)
}

fn main() {
    let count: usize = std::env::var("KILN_BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let mut all = series(RUNS, POINTS);
    if std::env::var_os("KILN_BENCH_SPLIT").is_some() {
        for s in all.iter_mut() {
            s.decimated((0.0, POINTS as f64), 1000);
        }
        // Another view, so that the sweep runs rather than the cache answering.
        let t = Instant::now();
        let n: usize = all
            .iter_mut()
            .map(|s| s.decimated((1.0, POINTS as f64 - 1.0), 1000).len())
            .sum();
        eprintln!(
            "decimation of every series, uncached: {:.2} ms, {n} points",
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    let decimated = frames(&mut all, count, false, |ui, s| {
        line_chart(ui, "bench", AXES, s, ChartStyle::default(), 700.0)
    });
    let (mean, median, p95) = summary(decimated);
    println!(
        "chart frame, {RUNS} runs x {POINTS} points, min/max decimation: mean {mean:.2} ms, median {median:.2} ms, p95 {p95:.2} ms (budget 16 ms)"
    );
    let zooming = frames(&mut all, count, true, |ui, s| {
        line_chart(ui, "bench_zoom", AXES, s, ChartStyle::default(), 700.0)
    });
    let (z_mean, z_median, z_p95) = summary(zooming);
    println!(
        "chart frame while zooming (every series swept anew each frame): mean {z_mean:.2} ms, median {z_median:.2} ms, p95 {z_p95:.2} ms"
    );
    let naive = frames(&mut all, 2, false, |ui, s| {
        egui_plot::Plot::new("naive")
            .height(700.0)
            .show(ui, |plot_ui| {
                for series in s.iter_mut() {
                    let points = series.decimated((0.0, 0.0), 0);
                    plot_ui.line(egui_plot::Line::new(series.name.clone(), points));
                }
            });
    });
    let (naive_mean, _, _) = summary(naive);
    println!(
        "chart frame, same data, every point to egui_plot: mean {naive_mean:.1} ms; decimation is {:.0}x faster",
        naive_mean / mean
    );

    preview(count);
}

/// A frame of the Data screen with a 100,000-row dataset open.
fn preview(count: usize) {
    let dir = std::env::temp_dir().join(format!("kiln-bench-preview-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("preview.kiln");
    let rows = 100_000;
    let made = std::fs::create_dir_all(&dir)
        .map_err(|e| e.to_string())
        .and_then(|()| Project::create(&path, "preview").map_err(|e| e.to_string()))
        .and_then(|mut project| {
            let csv = common::synthetic_csv(rows);
            project
                .import_csv_bytes("rows.csv", csv.as_bytes(), &ImportOptions::default())
                .map_err(|e| e.to_string())
        });
    if let Err(e) = made {
        panic!("the preview benchmark could not set up its project: {e}");
    }
    let mut app = KilnApp::with_settings(None, Some(path));
    // The project opens, and the dataset is read, off the UI thread: wait for both.
    let ctx = egui::Context::default();
    common::settle(&ctx, &mut app, Duration::from_secs(600));
    app.set_tab(Tab::Data);
    common::settle(&ctx, &mut app, Duration::from_secs(600));
    let times = timed(count, 5, false, &mut app, |ui, app| app.show(ui));
    let (mean, median, p95) = summary(times);
    println!(
        "data preview frame, {rows} rows: mean {mean:.2} ms, median {median:.2} ms, p95 {p95:.2} ms"
    );
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}
