//! What the workbench remembers between launches: recent projects, theme and layout. Kept as
//! JSON in the user's configuration folder, written by atomic rename.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How many recent projects the start screen lists.
const RECENT: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThemeChoice {
    #[default]
    Dark,
    Light,
}

/// The screens of the workbench, in the order of the side bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tab {
    #[default]
    Start,
    Data,
    Train,
    Runs,
    Evaluate,
    Models,
    Monitor,
    Deploy,
}

impl Tab {
    pub const ALL: [Tab; 8] = [
        Tab::Start,
        Tab::Data,
        Tab::Train,
        Tab::Runs,
        Tab::Evaluate,
        Tab::Models,
        Tab::Monitor,
        Tab::Deploy,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Start => "Home",
            Tab::Data => "Data",
            Tab::Train => "Train",
            Tab::Runs => "Runs",
            Tab::Evaluate => "Evaluate",
            Tab::Models => "Registry & Export",
            Tab::Monitor => "Monitor",
            Tab::Deploy => "Deploy",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Most recent first.
    pub recent: Vec<PathBuf>,
    pub theme: ThemeChoice,
    pub tab: Tab,
    pub show_log: bool,
    /// The folder last exported to, offered again.
    pub export_dir: Option<PathBuf>,
}

impl Settings {
    /// The settings file: `$XDG_CONFIG_HOME/kiln/ui.json`, or `~/.config/kiln/ui.json`.
    pub fn default_path() -> Option<PathBuf> {
        kiln_core::kiln_dir("XDG_CONFIG_HOME", ".config").map(|dir| dir.join("ui.json"))
    }

    /// The settings at `path`; defaults when the file is missing or unreadable (a damaged
    /// settings file must never stop the window from opening).
    pub fn load(path: &Path) -> Settings {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("{e}{}", kiln_core::store::io_advice(&e)))?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        // Written aside, synced and renamed, as every output of Kiln's.
        let mut out =
            kiln_core::output::OutputFile::create(path, true, &[]).map_err(|e| e.to_string())?;
        std::io::Write::write_all(&mut out, text.as_bytes()).map_err(|e| e.to_string())?;
        out.commit().map_err(|e| e.to_string())
    }

    /// Puts `path` first in the recent list.
    pub fn remember(&mut self, path: &Path) {
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        self.recent.retain(|p| p != &path);
        self.recent.insert(0, path);
        self.recent.truncate(RECENT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_survive_a_round_trip_and_a_damaged_file_gives_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kiln/ui.json");
        let mut settings = Settings {
            theme: ThemeChoice::Light,
            tab: Tab::Runs,
            ..Settings::default()
        };
        for name in ["a.kiln", "b.kiln", "a.kiln"] {
            settings.remember(&dir.path().join(name));
        }
        assert_eq!(settings.recent.len(), 2);
        assert!(settings.recent[0].ends_with("a.kiln"));
        settings.save(&path).expect("save");
        assert_eq!(Settings::load(&path), settings);
        std::fs::write(&path, "{ not json").expect("write");
        assert_eq!(Settings::load(&path), Settings::default());
    }
}
