//! The screens of the workbench, one module each. A screen keeps its own state and draws from
//! the project snapshot; anything long goes through [`crate::app::KilnApp::start_job`].

pub mod data;
pub mod evaluate;
pub mod models;
pub mod runs;
pub mod start;
pub mod train;

use eframe::egui;

/// A heading with a line of help under it.
pub(crate) fn title(ui: &mut egui::Ui, heading: &str, help: &str) {
    ui.heading(heading);
    ui.label(egui::RichText::new(help).weak());
    ui.add_space(6.0);
}

/// A path field with a "Browse…" button; returns whether Browse was clicked.
pub(crate) fn path_field(ui: &mut egui::Ui, label: &str, value: &mut String, hint: &str) -> bool {
    let mut browse = false;
    ui.horizontal(|ui| {
        let label = ui.label(label);
        ui.add(
            egui::TextEdit::singleline(value)
                .hint_text(hint)
                .desired_width(360.0),
        )
        .labelled_by(label.id);
        browse = ui.button("Browse…").clicked();
    });
    browse
}

/// A number for a table cell: four decimals, or a dash.
pub(crate) fn number(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.4}"),
        Some(v) => format!("{v}"),
        None => "–".into(),
    }
}
