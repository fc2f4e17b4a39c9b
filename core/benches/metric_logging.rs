//! Metric points logged per second into a project file, through the two paths Kiln has:
//! the non-blocking [`RunLogger`] a training loop uses, and `log_metrics` in batches of 1000
//! (the shape of MLflow's `log_batch`). Each figure is from `log` to durable on disk.
//!
//! `cargo bench -p kiln-core --bench metric_logging [-- POINTS]` prints the figures;
//! `scripts/bench-metrics.sh` runs it side by side with MLflow and prints the ratio.

use std::time::{Duration, Instant};

use kiln_core::{MetricPoint, Project, RunSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let points: i64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir()?;
    let mut project = Project::create(dir.path().join("bench.kiln"), "bench")?;

    // The training-loop path: every point logged one call at a time, then flushed.
    let run = project.start_run(&RunSpec {
        name: "logger".into(),
        ..Default::default()
    })?;
    let logger = project.metric_logger(run)?;
    let start = Instant::now();
    let mut longest_call = Duration::ZERO;
    for step in 0..points {
        let call = Instant::now();
        logger.log("loss", step, 1.0 / (step + 1) as f64);
        longest_call = longest_call.max(call.elapsed());
    }
    logger.flush()?;
    let logger_secs = start.elapsed().as_secs_f64();
    logger.finish()?;

    // The batch path: 1000 points per transaction.
    let run = project.start_run(&RunSpec {
        name: "batches".into(),
        ..Default::default()
    })?;
    let start = Instant::now();
    for chunk_start in (0..points).step_by(1000) {
        let batch: Vec<MetricPoint> = (chunk_start..(chunk_start + 1000).min(points))
            .map(|step| MetricPoint {
                key: "loss".into(),
                step,
                value: 1.0 / (step + 1) as f64,
                timestamp: kiln_core::now_ms(),
            })
            .collect();
        project.log_metrics(run, &batch)?;
    }
    let batch_secs = start.elapsed().as_secs_f64();

    let stored = project.info()?.metric_points;
    assert_eq!(stored, 2 * points as u64, "every point must be stored");
    println!(
        "kiln RunLogger:        {points} points in {logger_secs:.3} s = {:.0} points/s (longest log() call {longest_call:?})",
        points as f64 / logger_secs
    );
    println!(
        "kiln log_metrics(1000): {points} points in {batch_secs:.3} s = {:.0} points/s",
        points as f64 / batch_secs
    );
    println!(
        "KILN_LOGGER_POINTS_PER_SEC={:.0}",
        points as f64 / logger_secs
    );
    println!(
        "KILN_BATCH_POINTS_PER_SEC={:.0}",
        points as f64 / batch_secs
    );
    Ok(())
}
