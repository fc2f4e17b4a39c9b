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

/// The core's messages name command-line flags where a user must act; in the window, the same
/// advice names the window's own controls. Each pair is a phrase of the core's and what the
/// window says instead; a phrase for a command the window has no control for says where to run
/// it.
const WINDOW_WORDS: &[(&str, &str)] = &[
    (
        "name another with --label COLUMN",
        "name another in the Label column field and import again",
    ),
    ("under a new --name", "under a new Name"),
    ("or use --strategy random", "or choose the Random search"),
    (
        "pass --force to replace it, or choose another path",
        "open it instead, or choose another path",
    ),
    (
        "create one with `kiln new",
        "create one with Create on Home, or `kiln new",
    ),
    ("--max-batch-size", "Max batch size"),
    (
        "resume the study with `kiln",
        "resume the study in a terminal with `kiln",
    ),
    ("`kiln repair", "In a terminal, `kiln repair"),
    (
        "check new batches with `kiln check`",
        "check new batches (Save and check on the Data screen)",
    ),
    (
        "run `kiln evaluate --sensitive COLUMN`",
        "choose a Fairness column on the Evaluate screen and evaluate",
    ),
];

/// Advice that only the command line can follow, cut from the window's messages with the rest
/// of its sentence.
const CLI_ONLY: &[&str] = &[", or allow them with --max-trials"];

/// `message` in the window's words: see [`WINDOW_WORDS`] and [`CLI_ONLY`].
pub fn window_words(message: &str) -> String {
    let mut text = WINDOW_WORDS
        .iter()
        .fold(message.to_owned(), |text, (cli, window)| {
            text.replace(cli, window)
        });
    for phrase in CLI_ONLY {
        while let Some(at) = text.find(phrase) {
            let rest = &text[at..];
            let end = rest.find(['.', ';', '\n']).map_or(text.len(), |e| at + e);
            text.replace_range(at..end, "");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The core's own messages, as the window shows them, name no flag.
    #[test]
    fn the_window_names_its_controls_not_flags() {
        let path = std::path::PathBuf::from("lab.kiln");
        let messages = [
            kiln_core::train::TrainError::TooManyTrials {
                trials: 12_000,
                max: 10_000,
            }
            .to_string(),
            kiln_core::store::StoreError::OutputExists { path: path.clone() }.to_string(),
            kiln_core::store::StoreError::NotFound { path }.to_string(),
        ];
        // A notice of a real import, and the refusal of a real search space.
        let dir = tempfile::tempdir().expect("tempdir");
        let mut project =
            kiln_core::Project::create(dir.path().join("words.kiln"), "words").expect("create");
        let penguins =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/penguins.csv");
        let imported = project
            .import(&penguins, &Default::default())
            .expect("import");
        let space = kiln_core::train::SearchSpace::from_toml(
            "learning_rate = { min = 0.001, max = 0.1 }\n",
        )
        .expect("space");
        let range = space
            .trials(
                kiln_core::train::Strategy::Grid,
                kiln_core::train::ModelFamily::Mlp,
            )
            .expect_err("a grid cannot enumerate a range")
            .to_string();
        let messages: Vec<String> = messages
            .into_iter()
            .chain(imported.notices.iter().cloned())
            .chain([range])
            .collect();
        assert!(messages.iter().any(|m| m.contains("--label")));
        assert!(messages.iter().any(|m| m.contains("--strategy")));
        for message in messages {
            let shown = window_words(&message);
            assert!(!shown.contains("--"), "{message:?} shows as {shown:?}");
        }
        assert_eq!(
            window_words(
                &kiln_core::train::TrainError::TooManyTrials {
                    trials: 12_000,
                    max: 10_000
                }
                .to_string()
            ),
            "the search makes 12000 trials, more than 10000; narrow the space"
        );
    }
}
