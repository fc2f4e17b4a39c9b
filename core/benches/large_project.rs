//! Writes a large project through Kiln's own API, for the large-project benchmark
//! (`scripts/bench-large.sh`): by default 10,000 finished runs in 20 experiments, each with
//! eight params and 1,000 metric points (50 epochs of the eight epoch metrics, and 600 batch
//! losses), 10,000,000 points in all. The curves are seeded, so every generated file holds the
//! same numbers.
//!
//! ```text
//! cargo bench --workspace --bench large_project -- OUT.kiln [RUNS] [POINTS_PER_RUN]
//! ```

use std::time::Instant;

use kiln_core::rng::SeededRng;
use kiln_core::train::space::LOGGED_METRICS;
use kiln_core::{MetricPoint, Project, RunSpec, RunStatus};

const EXPERIMENTS: usize = 20;
/// Runs written per transaction.
const CHUNK: usize = 50;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let Some(out) = args.first() else {
        return Err("usage: large_project OUT.kiln [RUNS] [POINTS_PER_RUN]".into());
    };
    let runs: usize = args.get(1).map_or(Ok(10_000), |a| a.parse())?;
    let per_run: usize = args.get(2).map_or(Ok(1_000), |a| a.parse())?;
    let epochs = 50.min(per_run / LOGGED_METRICS.len()).max(1);
    let batches = per_run.saturating_sub(epochs * LOGGED_METRICS.len());
    if std::path::Path::new(out).exists() {
        return Err(format!("{out} exists; the generator writes a new file only").into());
    }
    let started = Instant::now();
    let mut project = Project::create(out, "large")?;
    let experiments = (0..EXPERIMENTS)
        .map(|e| project.experiment(&format!("experiment {e:02}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rng = SeededRng::new(2026);
    let t0 = kiln_core::now_ms() - (runs as i64) * 60_000;
    let mut points_written = 0usize;
    for chunk in (0..runs).collect::<Vec<_>>().chunks(CHUNK) {
        project.atomically(|p| {
            for &i in chunk {
                let lr = [0.001, 0.003, 0.01, 0.03][rng.below(4) as usize];
                let hidden = [16, 32, 64, 128][rng.below(4) as usize];
                let run = p.start_run(&RunSpec {
                    name: format!("trial {i}"),
                    experiment: Some(experiments[i % EXPERIMENTS]),
                    seed: Some(i as u64),
                    device: Some("cpu (flex)".into()),
                    ..RunSpec::default()
                })?;
                let (lr_text, hidden_text) = (lr.to_string(), format!("[{hidden}]"));
                p.log_params(
                    run,
                    &[
                        ("learning_rate", lr_text.as_str()),
                        ("batch_size", "32"),
                        ("epochs", "50"),
                        ("hidden", hidden_text.as_str()),
                        ("dropout", "0"),
                        ("weight_decay", "0"),
                        ("optimizer", "adam"),
                        ("activation", "relu"),
                    ],
                )?;
                let stamp = t0 + (i as i64) * 60_000;
                let ceiling = 0.7 + 0.29 * rng.unit();
                let speed = 0.05 + 0.2 * rng.unit();
                let mut points = Vec::with_capacity(per_run);
                for step in 0..batches {
                    let progress = step as f64 / batches.max(1) as f64;
                    points.push(MetricPoint {
                        key: "train/batch_loss".into(),
                        step: step as i64,
                        value: 1.2 * (-4.0 * progress).exp() + 0.1 * rng.unit(),
                        timestamp: stamp + step as i64,
                    });
                }
                for epoch in 1..=epochs {
                    let learned = 1.0 - (-(epoch as f64) * speed).exp();
                    let accuracy = (ceiling * learned + 0.02 * rng.unit()).min(1.0);
                    let loss = 1.1 * (1.0 - learned) + 0.05 + 0.03 * rng.unit();
                    for key in LOGGED_METRICS {
                        let value = match *key {
                            "train/loss" => loss * 0.9,
                            "train/accuracy" => accuracy + 0.01,
                            "train/macro_f1" => accuracy,
                            "val/loss" => loss,
                            "val/accuracy" => accuracy - 0.01,
                            "val/macro_f1" => accuracy - 0.02,
                            "epoch_seconds" => 0.02 + 0.01 * rng.unit(),
                            "samples_per_second" => 20_000.0 + 5_000.0 * rng.unit(),
                            other => panic!("the generator has no curve for {other}"),
                        };
                        points.push(MetricPoint {
                            key: (*key).into(),
                            step: epoch as i64,
                            value,
                            timestamp: stamp + 1_000 + epoch as i64,
                        });
                    }
                }
                points_written += points.len();
                p.log_metrics(run, &points)?;
                p.finish_run(run, RunStatus::Finished, None)?;
            }
            Ok(())
        })?;
    }
    drop(project);
    let seconds = started.elapsed().as_secs_f64();
    let size = std::fs::metadata(out)?.len();
    println!(
        "wrote {out}: {runs} runs, {points_written} metric points, {:.0} MB, in {seconds:.1} s ({:.0} points/s)",
        size as f64 / 1e6,
        points_written as f64 / seconds
    );
    Ok(())
}
