//! Ctrl-C and SIGTERM on the command line.
//!
//! The first signal asks the work in progress to stop: a study cancels its trials within one
//! batch, keeps what finished and marks the rest cancelled; a command that is one transaction
//! (import, register, export) stops at once, which leaves the project as it was, since nothing
//! is committed before its end. A second signal exits at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The exit status after an interrupt, as shells report a SIGINT.
pub const INTERRUPTED: u8 = 130;

/// How the running command answers the first signal.
pub enum OnInterrupt {
    /// Set this flag and let the work wind down.
    Cancel(Arc<AtomicBool>),
    /// Stop at once: the work is one transaction, so nothing of it is kept.
    Exit,
}

/// Installs the handler for the rest of the process. If it cannot be installed, signals keep
/// their default action, which is no less safe.
pub fn install(on_interrupt: OnInterrupt) {
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("kiln: signals".into())
        .spawn(move || {
            let mut seen = 0;
            for _ in signals.forever() {
                seen += 1;
                match &on_interrupt {
                    OnInterrupt::Cancel(flag) if seen == 1 => {
                        flag.store(true, Ordering::SeqCst);
                        eprintln!(
                            "\nkiln: stopping; what finished is kept (press Ctrl-C again to quit at once)"
                        );
                    }
                    OnInterrupt::Cancel(_) => {
                        eprintln!("kiln: quit at once; unfinished work is marked when the study is resumed");
                        std::process::exit(i32::from(INTERRUPTED));
                    }
                    OnInterrupt::Exit => {
                        eprintln!("\nkiln: interrupted before the command finished; the project file is intact");
                        std::process::exit(i32::from(INTERRUPTED));
                    }
                }
            }
        });
}
