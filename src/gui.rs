//! Opening the workbench window, or saying in one line why it cannot be opened.

use std::path::PathBuf;

/// What a user without a display can do instead.
const HEADLESS: &str =
    "headless commands: kiln new, kiln info, kiln runs, kiln import, kiln train (see kiln --help)";

pub fn open(project: Option<PathBuf>) -> Result<(), String> {
    if !display_available() {
        return Err(format!(
            "cannot open a window: no display (neither DISPLAY nor WAYLAND_DISPLAY is set); {HEADLESS}"
        ));
    }
    // A windowing or graphics stack that panics instead of returning an error must still end
    // in one line, not a backtrace.
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(|| kiln_ui::run_native(project));
    let _ = std::panic::take_hook();
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("cannot open a window: {e}; {HEADLESS}")),
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("the window system failed");
            Err(format!(
                "cannot open a window: {}; {HEADLESS}",
                why.lines().next().unwrap_or("")
            ))
        }
    }
}

fn display_available() -> bool {
    if cfg!(any(target_os = "windows", target_os = "macos")) {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|var| std::env::var_os(var).is_some_and(|v| !v.is_empty()))
}
