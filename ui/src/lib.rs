//! `kiln-ui`: the Kiln workbench, an egui window over `kiln-core`.
//!
//! Screens draw from a snapshot of the project and send commands; the app carries them out
//! through the core's job service and reader, off the UI thread. Nothing here touches SQLite
//! or Burn directly.

mod app;
pub mod chart;
mod keys;
#[cfg(test)]
mod live_charts;
mod screen;
pub mod settings;
#[cfg(test)]
mod snapshots;
mod views;
mod widgets;

pub use app::{Chooser, KilnApp};
pub use screen::Purpose;
pub use settings::{Settings, Tab, ThemeChoice};

use std::path::PathBuf;

/// The window's icon: the 256-pixel rendering of `icons/kiln.svg`.
const ICON: &[u8] = include_bytes!("../../icons/kiln-256.png");

/// Opens the workbench window and runs it until the user closes it.
pub fn run_native(project: Option<PathBuf>) -> Result<(), eframe::Error> {
    let mut viewport = eframe::egui::ViewportBuilder::default()
        .with_title("Kiln")
        // The id desktops match with `icons/kiln.desktop` (its StartupWMClass).
        .with_app_id("kiln")
        .with_inner_size([1280.0, 800.0])
        .with_min_inner_size([800.0, 500.0])
        .with_drag_and_drop(true);
    match eframe::icon_data::from_png_bytes(ICON) {
        Ok(icon) => viewport = viewport.with_icon(icon),
        // A window without its icon still works; say why it has none.
        Err(e) => eprintln!("kiln: the window icon could not be read: {e}"),
    }
    let options = eframe::NativeOptions {
        viewport,
        ..Default::default()
    };
    eframe::run_native(
        "Kiln",
        options,
        Box::new(move |_cc| Ok(Box::new(KilnApp::new(project)))),
    )
}

#[cfg(test)]
mod icon_tests {
    #[test]
    fn the_window_icon_decodes() {
        let icon = eframe::icon_data::from_png_bytes(super::ICON).expect("icon");
        assert_eq!((icon.width, icon.height), (256, 256));
        assert_eq!(icon.rgba.len(), 256 * 256 * 4);
        // The corners are transparent: the icon is a rounded tile.
        assert_eq!(icon.rgba[3], 0);
    }
}
