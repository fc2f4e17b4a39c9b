//! `kiln-ui`: the Kiln workbench, an egui window over `kiln-core`.
//!
//! Screens draw from a snapshot of the project and send commands; the app carries them out
//! through the core's job service and reader, off the UI thread. Nothing here touches SQLite
//! or Burn directly.

mod app;
pub mod chart;
mod screen;
pub mod settings;
#[cfg(test)]
mod snapshots;
mod views;
mod widgets;

pub use app::KilnApp;
pub use settings::{Settings, Tab, ThemeChoice};

use std::path::PathBuf;

/// Opens the workbench window and runs it until the user closes it.
pub fn run_native(project: Option<PathBuf>) -> Result<(), eframe::Error> {
    let options = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default()
            .with_title("Kiln")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([800.0, 500.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "Kiln",
        options,
        Box::new(move |_cc| Ok(Box::new(KilnApp::new(project)))),
    )
}
