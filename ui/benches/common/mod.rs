//! What the workbench's benchmarks share: a synthetic dataset, and frames until the window has
//! nothing in flight.
//! Each benchmark uses what it needs of it.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use eframe::egui::{self, RawInput};
use kiln_ui::KilnApp;

/// A CSV of `rows` rows: three numeric columns, a word of 50 values and a label of three.
pub fn synthetic_csv(rows: usize) -> String {
    let mut csv = String::with_capacity(rows * 40);
    csv.push_str("x,y,z,word,label\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "{},{},{},w{},{}\n",
            i,
            i % 977,
            (i * 7919) % 10_007,
            i % 50,
            ["a", "b", "c"][i % 3]
        ));
    }
    csv
}

/// Runs frames of `app` on `ctx` until it has nothing in flight; panics after `limit`, or when
/// the window shows an error.
pub fn settle(ctx: &egui::Context, app: &mut KilnApp, limit: Duration) {
    let started = Instant::now();
    loop {
        let mut output = ctx.run_ui(RawInput::default(), |ui| app.show(ui));
        // No renderer here takes the font atlas: let it go.
        output.textures_delta.clear();
        if let Some(e) = app.error() {
            panic!("the window reported an error: {e}");
        }
        if app.settled() {
            return;
        }
        assert!(started.elapsed() < limit, "not settled within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
