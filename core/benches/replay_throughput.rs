//! Replay throughput: `kiln replay` in shadow mode over a large traffic file, two versions of
//! the penguins model and two versions of a TF-IDF text model, both servable graphs (raw columns
//! in; the text graph tokenises the raw text itself), each version's graph run in tract as a
//! server runs it. Writes what onnxruntime needs to score the same graphs on the
//! same rows (`scripts/bench-replay.sh` runs both side by side).
//!
//! ```text
//! cargo bench --workspace --bench replay_throughput -- DIR [ROWS]
//! ```
//!
//! DIR receives, per model (`penguins`, `text`): `NAME-traffic.csv` (ROWS rows drawn with
//! replacement from the dataset, default 1,000,000), `NAME/1/model.onnx` and `NAME/2/model.onnx`
//! (each with its `pipeline.json`), and `kiln.json` with the figures and the rows per scoring
//! call, which the other side uses too.

use std::path::{Path, PathBuf};
use std::time::Instant;

use kiln_core::Project;
use kiln_core::data::{ImportOptions, Table, table_csv};
use kiln_core::export::TritonOptions;
use kiln_core::registry::VersionSelector;
use kiln_core::replay::{ReplayReport, ReplayRequest, scoring_batch};
use kiln_core::rng::SeededRng;
use kiln_core::train::{
    DevicePreference, ModelFamily, SearchSpace, Strategy, StudyRequest, TrainOptions,
};

/// One model's replay: its wall time, its report, and the width of its features.
struct Timed {
    seconds: f64,
    report: ReplayReport,
    width: usize,
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let dir = PathBuf::from(args.first().expect("usage: replay_throughput DIR [ROWS]"));
    let rows: usize = args
        .get(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(1_000_000);
    std::fs::create_dir_all(&dir).expect("dir");
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets");
    let mut figures = serde_json::Map::new();
    for (name, source, space) in [
        (
            "penguins",
            assets.join("penguins.csv"),
            [
                "learning_rate = 0.005\nbatch_size = 32\nepochs = 3\nhidden = [8]\n",
                "learning_rate = 0.02\nbatch_size = 16\nepochs = 15\nhidden = [16]\n",
            ],
        ),
        (
            "text",
            assets.join("fortunes"),
            [
                "learning_rate = 0.01\nbatch_size = 32\nepochs = 3\nhidden = [16]\n",
                "learning_rate = 0.02\nbatch_size = 32\nepochs = 10\nhidden = [32]\n",
            ],
        ),
    ] {
        let timed = bench(&dir, name, &source, &space, rows);
        let r = &timed.report;
        let (sa, sb) = (
            r.a.rows as f64 / r.a.rows_per_second,
            r.b.rows as f64 / r.b.rows_per_second,
        );
        println!(
            "{name}: {rows} rows through v1 and v2: v1 {:.0} rows/s, v2 {:.0} rows/s on one thread each; both in parallel {:.0} rows/s; the whole replay (read, check, score, latency, statistics, store) {:.1} s",
            r.a.rows_per_second,
            r.b.rows_per_second,
            (r.a.rows + r.b.rows) as f64 / sa.max(sb),
            timed.seconds
        );
        for arm in [&r.a, &r.b] {
            for l in &arm.latency {
                println!(
                    "  v{} batch {:>2}: p50 {:.3} ms  p95 {:.3} ms  p99 {:.3} ms",
                    arm.version, l.batch, l.p50_ms, l.p95_ms, l.p99_ms
                );
            }
        }
        figures.insert(
            name.to_owned(),
            serde_json::json!({
                "rows": rows,
                "v1_rows_per_second": r.a.rows_per_second,
                "v2_rows_per_second": r.b.rows_per_second,
                "scoring_seconds": sa.max(sb),
                "replay_seconds": timed.seconds,
                "features": timed.width,
                "batch": scoring_batch(timed.width),
                // Which label each version gave each row, counted: the other side compares.
                "classes": r.agreement.as_ref().map(|a| a.classes.clone()),
                "contingency": r.agreement.as_ref().map(|a| a.contingency.clone()),
            }),
        );
    }
    std::fs::write(
        dir.join("kiln.json"),
        serde_json::to_string_pretty(&figures).expect("json"),
    )
    .expect("kiln.json");
}

/// Trains two versions of a model on `source`, writes their graphs and the traffic, and times
/// the shadow replay of MLPs.
fn bench(dir: &Path, name: &str, source: &Path, spaces: &[&str; 2], rows: usize) -> Timed {
    let file = dir.join(format!("{name}.kiln"));
    let _ = std::fs::remove_file(&file);
    let mut project = Project::create(&file, name).expect("project");
    let imported = project
        .import(
            source,
            &ImportOptions {
                name: Some(name.into()),
                ..ImportOptions::default()
            },
        )
        .expect("import");
    for space in spaces {
        let request = StudyRequest {
            dataset: imported.name.clone(),
            family: ModelFamily::Mlp,
            strategy: Strategy::Grid,
            space: SearchSpace::from_toml(space).expect("space"),
            parallel: 1,
            device: DevicePreference::Cpu,
            max_trials: None,
        };
        let run = project
            .run_study(&request, &TrainOptions::default())
            .expect("study")
            .best
            .expect("best")
            .run;
        project.register_model(name, run).expect("register");
    }
    let started = Instant::now();
    let exported = project
        .export_triton_versions(
            name,
            &[VersionSelector::Number(1), VersionSelector::Number(2)],
            dir,
            &TritonOptions::default(),
        )
        .expect("export");
    println!(
        "{name}: both versions exported in {:.2} s ({:?}), graph {} bytes",
        started.elapsed().as_secs_f64(),
        exported[0].input_form,
        std::fs::metadata(exported[0].version_dir.join("model.onnx"))
            .map(|m| m.len())
            .unwrap_or(0)
    );
    let table = project.load_dataset(&imported.name).expect("data").table;
    let mut rng = SeededRng::new(11);
    let picked: Vec<usize> = (0..rows)
        .map(|_| rng.below(table.rows() as u64) as usize)
        .collect();
    let traffic = Table {
        names: table.names.clone(),
        columns: table
            .columns
            .iter()
            .map(|c| picked.iter().map(|&r| c[r].clone()).collect())
            .collect(),
        lines: (0..rows as u64).map(|i| i + 2).collect(),
    };
    let path = dir.join(format!("{name}-traffic.csv"));
    std::fs::write(&path, table_csv(&traffic)).expect("traffic");
    // The exported pipeline's width: the features its graph computes from a row.
    let pipeline = std::fs::read_to_string(exported[0].version_dir.join("pipeline.json"))
        .expect("pipeline.json");
    let width = kiln_core::features::FeaturePipeline::from_json(&pipeline)
        .expect("pipeline")
        .width();
    let request = ReplayRequest::new(
        name,
        VersionSelector::Number(1),
        VersionSelector::Number(2),
        path,
    );
    let started = Instant::now();
    let report = project
        .replay(&request, &TrainOptions::default())
        .expect("replay");
    Timed {
        seconds: started.elapsed().as_secs_f64(),
        report,
        width,
    }
}
