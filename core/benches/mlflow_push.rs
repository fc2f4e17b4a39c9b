//! A push to a real MLflow server: RUNS runs of POINTS metric points each (five metrics), sent
//! by `Project::push_to_mlflow`. The project is built before the clock starts.
//!
//! `KILN_MLFLOW_URL=http://127.0.0.1:PORT cargo bench -p kiln-core --bench mlflow_push [-- RUNS POINTS]`
//! prints the figures; `scripts/bench-mlflow.sh` starts the server and runs it side by side with
//! MLflow's own Python client logging the same data with `log_batch`.

use std::time::Instant;

use kiln_core::mlflow::PushRequest;
use kiln_core::train::TrainOptions;
use kiln_core::{MetricPoint, Project, RunSpec, RunStatus};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let runs = numbers.first().copied().unwrap_or(100);
    let points = numbers.get(1).copied().unwrap_or(10_000);
    let url = std::env::var("KILN_MLFLOW_URL").map_err(
        |_| "set KILN_MLFLOW_URL to a running MLflow server (scripts/bench-mlflow.sh does)",
    )?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("bench.kiln");
    let mut project = Project::create(&file, "bench")?;
    for r in 0..runs {
        let run = project.start_run(&RunSpec {
            name: format!("run-{r}"),
            ..Default::default()
        })?;
        project.log_params(run, &[("index", &r.to_string())])?;
        let batch: Vec<MetricPoint> = (0..points)
            .map(|i| MetricPoint {
                key: format!("metric/{}", i % 5),
                step: (i / 5) as i64,
                value: 1.0 / (i + r + 1) as f64,
                timestamp: 1_700_000_000_000 + i as i64,
            })
            .collect();
        project.log_metrics(run, &batch)?;
        project.finish_run(run, RunStatus::Finished, None)?;
    }
    let experiment = format!(
        "kiln-bench-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );
    let start = Instant::now();
    let report = project.push_to_mlflow(
        &PushRequest {
            url,
            experiment: Some(experiment),
            ..Default::default()
        },
        &TrainOptions::default(),
    )?;
    let seconds = start.elapsed().as_secs_f64();
    let sent = report.points_sent as usize;
    if sent != runs * points {
        return Err(format!("sent {sent} points, not {}", runs * points).into());
    }
    println!(
        "Kiln push:            {runs} runs x {points} points in {seconds:.2} s = {:.0} points/s ({} requests)",
        sent as f64 / seconds,
        report.requests
    );
    println!("KILN_PUSH_POINTS_PER_SEC={:.0}", sent as f64 / seconds);
    Ok(())
}
