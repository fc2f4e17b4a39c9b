//! Where a study's time goes, phase by phase, for `kiln train --timings`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The phases of a study. Trial phases are summed over trials: with parallel trials their sum
/// exceeds the wall time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading the dataset's batch from the project.
    Read,
    /// Splitting, fitting the feature pipeline and transforming every split (once a study).
    Features,
    /// Finding the device (probing wgpu adapters unless forced to the CPU).
    Device,
    /// Recording runs: their rows, params and status.
    Record,
    /// Building each trial's model and optimizer.
    Build,
    /// The training steps: batches, forward, backward, optimizer (or the solver's iterations).
    Train,
    /// Measuring the train and validation splits after each epoch.
    Evaluate,
    /// Handing metric points to the logger and writing them.
    Log,
    /// Measuring the test split and saving the best model.
    Save,
}

const PHASES: [Phase; 9] = [
    Phase::Read,
    Phase::Features,
    Phase::Device,
    Phase::Record,
    Phase::Build,
    Phase::Train,
    Phase::Evaluate,
    Phase::Log,
    Phase::Save,
];

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Read => "read the batch",
            Phase::Features => "features (split, fit, transform)",
            Phase::Device => "find the device",
            Phase::Record => "record runs",
            Phase::Build => "build models",
            Phase::Train => "train (steps)",
            Phase::Evaluate => "evaluate (train, validation)",
            Phase::Log => "log metrics",
            Phase::Save => "test and save the model",
        }
    }
}

/// Time spent per phase, added to from any thread.
#[derive(Debug, Default)]
pub struct Timings {
    nanos: [AtomicU64; PHASES.len()],
}

impl Timings {
    pub fn add(&self, phase: Phase, elapsed: Duration) {
        let index = PHASES.iter().position(|p| *p == phase).unwrap_or(0);
        self.nanos[index].fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Runs `work`, adding its time to `phase`.
    pub fn time<T>(&self, phase: Phase, work: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = work();
        self.add(phase, started.elapsed());
        out
    }

    /// Every phase with its time, in the order a study meets them.
    pub fn report(&self) -> Vec<(Phase, Duration)> {
        PHASES
            .iter()
            .zip(&self.nanos)
            .map(|(p, n)| (*p, Duration::from_nanos(n.load(Ordering::Relaxed))))
            .collect()
    }
}
