//! Crash safety: a child process logs metrics and is killed with SIGKILL at random moments.
//! After every kill the project must pass `PRAGMA integrity_check`, open normally, and hold
//! every point the child saw acknowledged.
//!
//! `cargo test -p kiln-core --test crash_kill` kills 20 times. The longer mode kills 100 times:
//! `KILN_CRASH_KILLS=100 cargo test --release -p kiln-core --test crash_kill`.
//! `KILN_CRASH_SEED=N` replays one sequence of kill times.
//!
//! The binary is its own child: with `KILN_CRASH_CHILD` set it logs instead of killing.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kiln_core::{Error, Project, RunId, RunSpec, StoreError};

fn main() -> ExitCode {
    let outcome = match std::env::var_os("KILN_CRASH_CHILD") {
        Some(path) => child(Path::new(&path)),
        None => parent(),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("crash_kill: FAILED: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Logs points as fast as a training loop would, reporting each acknowledgement, until killed.
fn child(path: &Path) -> Result<(), String> {
    let mut project = Project::open(path).map_err(|e| e.to_string())?;
    let spec = RunSpec {
        name: format!("crash-{}", std::process::id()),
        ..Default::default()
    };
    let run = project.start_run(&spec).map_err(|e| e.to_string())?;
    let logger = project.metric_logger(run).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "run {}", run.0).map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    let (mut step, mut reported) = (0i64, 0u64);
    for round in 0u64.. {
        for _ in 0..200 {
            logger.log("loss", step, 1.0 / (step + 1) as f64);
            step += 1;
        }
        // Writes on the main connection interleave with the logger's, as in training.
        if round % 25 == 0 {
            project
                .set_tag(run, "progress", &step.to_string())
                .map_err(|e| e.to_string())?;
        }
        let acked = logger.acknowledged();
        if acked > reported {
            writeln!(out, "ack {acked}").map_err(|e| e.to_string())?;
            out.flush().map_err(|e| e.to_string())?;
            reported = acked;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

fn parent() -> Result<(), String> {
    let kills: u32 = env_number("KILN_CRASH_KILLS").unwrap_or(20);
    let seed = env_number("KILN_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    println!("crash_kill: {kills} kills, seed {seed} (KILN_CRASH_SEED={seed} replays them)");
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("crash.kiln");
    drop(Project::create(&path, "crash").map_err(|e| e.to_string())?);

    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut rng = XorShift(seed.max(1));
    let mut acknowledged: Vec<(RunId, u64)> = Vec::new();
    let mut lock_checks = 0;
    let started = Instant::now();
    for kill in 1..=kills {
        let delay = Duration::from_millis(rng.next() % 300);
        let seen = kill_child_after(&exe, &path, delay, &mut lock_checks)?;
        acknowledged.extend(seen);
        verify(&path, &acknowledged).map_err(|e| format!("after kill {kill} ({delay:?}): {e}"))?;
    }
    let total: u64 = acknowledged.iter().map(|(_, n)| n).sum();
    println!(
        "crash_kill: {kills} kills in {:.1} s; integrity ok every time; all {total} acknowledged points of {} runs present; second writer refused {lock_checks} times",
        started.elapsed().as_secs_f64(),
        acknowledged.len(),
    );
    println!("1 passed, 0 failed");
    Ok(())
}

/// Runs one child, kills it after `delay`, and returns its run and acknowledged count.
fn kill_child_after(
    exe: &Path,
    path: &Path,
    delay: Duration,
    lock_checks: &mut u32,
) -> Result<Option<(RunId, u64)>, String> {
    let mut child = Command::new(exe)
        .env("KILN_CRASH_CHILD", path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the child: {e}"))?;
    let stdout = child.stdout.take().ok_or("the child has no stdout")?;
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + delay;
    let mut run = None;
    let mut acked = 0;
    let mut absorb = |line: String, run: &mut Option<RunId>| {
        if let Some(id) = line.strip_prefix("run ").and_then(|s| s.parse().ok()) {
            *run = Some(RunId(id));
        } else if let Some(n) = line.strip_prefix("ack ").and_then(|s| s.parse().ok()) {
            acked = n;
        }
    };
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        absorb(line, &mut run);
        if Instant::now() >= deadline {
            break;
        }
    }
    if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
        return Err(format!(
            "the child exited on its own ({status}) before the kill"
        ));
    }
    if run.is_some() {
        // The child holds the write lock: a second writer must be refused.
        match Project::open(path) {
            Err(Error::Store(StoreError::Locked { .. })) => *lock_checks += 1,
            Err(e) => return Err(format!("a second writer got {e} instead of a lock refusal")),
            Ok(_) => return Err("a second writer opened a project the child holds".into()),
        }
    }
    child
        .kill()
        .map_err(|e| format!("cannot kill the child: {e}"))?;
    child.wait().map_err(|e| e.to_string())?;
    let _ = reader.join();
    // Acknowledgements printed before the kill count too.
    while let Ok(line) = rx.try_recv() {
        absorb(line, &mut run);
    }
    Ok(run.map(|r| (r, acked)))
}

fn verify(path: &PathBuf, acknowledged: &[(RunId, u64)]) -> Result<(), String> {
    let project = Project::open(path).map_err(|e| format!("reopen failed: {e}"))?;
    project.check_integrity().map_err(|e| e.to_string())?;
    for &(run, n) in acknowledged {
        let history = project
            .metric_history(run, "loss")
            .map_err(|e| e.to_string())?;
        let present = history.iter().filter(|p| p.step < n as i64).count() as u64;
        if present != n {
            return Err(format!(
                "run {run}: {n} points acknowledged, {present} of them present"
            ));
        }
    }
    project.runs().map_err(|e| e.to_string())?;
    Ok(())
}

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
