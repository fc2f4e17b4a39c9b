//! `kiln-ui`: the Kiln workbench, an egui window over `kiln-core`.
//!
//! Panels read a snapshot of the project and call the core; they never touch SQLite or Burn.

mod app;

pub use app::KilnApp;

use std::path::PathBuf;

/// Opens the workbench window and runs it until the user closes it.
pub fn run_native(project: Option<PathBuf>) -> Result<(), eframe::Error> {
    let options = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default()
            .with_title("Kiln")
            .with_inner_size([1100.0, 720.0])
            .with_min_inner_size([640.0, 400.0]),
        ..Default::default()
    };
    eframe::run_native(
        "Kiln",
        options,
        Box::new(move |_cc| Ok(Box::new(KilnApp::new(project)))),
    )
}
