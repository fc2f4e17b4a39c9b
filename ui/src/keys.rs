//! The keyboard's shortcuts, shown in the hover text of the buttons they stand for.

use eframe::egui::{Key, KeyboardShortcut, Modifiers};

pub const NEW: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::N);
pub const OPEN: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::O);
pub const START: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Enter);
pub const CANCEL: KeyboardShortcut = KeyboardShortcut::new(Modifiers::NONE, Key::Escape);
/// Ctrl+1 to Ctrl+8: the screens in the side bar's order.
pub const SCREENS: [KeyboardShortcut; 8] = [
    KeyboardShortcut::new(Modifiers::COMMAND, Key::Num1),
    KeyboardShortcut::new(Modifiers::COMMAND, Key::Num2),
    KeyboardShortcut::new(Modifiers::COMMAND, Key::Num3),
    KeyboardShortcut::new(Modifiers::COMMAND, Key::Num4),
    KeyboardShortcut::new(Modifiers::COMMAND, Key::Num5),
    KeyboardShortcut::new(Modifiers::COMMAND, Key::Num6),
    KeyboardShortcut::new(Modifiers::COMMAND, Key::Num7),
    KeyboardShortcut::new(Modifiers::COMMAND, Key::Num8),
];
