//! Small pieces every screen draws the same way.

use eframe::egui;

/// A heading with a line of help under it.
pub fn title(ui: &mut egui::Ui, heading: &str, help: &str) {
    ui.heading(heading);
    ui.label(egui::RichText::new(help).weak());
    ui.add_space(6.0);
}

/// A path field with a "Browse…" button; returns whether Browse was clicked.
pub fn path_field(ui: &mut egui::Ui, label: &str, value: &mut String, hint: &str) -> bool {
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
pub fn number(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.4}"),
        Some(v) => format!("{v}"),
        None => "–".into(),
    }
}

/// The trimmed text, or `None` when only blanks were typed.
pub fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Drops `value` on a thread of its own: freeing a million-row table takes longer than a frame.
pub fn drop_elsewhere<T: Send + 'static>(value: T) {
    // Without a thread, it is dropped here: slower, never wrong.
    let _dropped_here = std::thread::Builder::new()
        .name("kiln: drop".into())
        .spawn(move || drop(value));
}
