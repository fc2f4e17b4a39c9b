//! Runs kiln-core's monitoring statistics on cases read from a JSON file and writes the
//! results, for `scripts/check_drift.py` to compare with Evidently, scipy, river and
//! statsmodels.
//!
//! ```text
//! cargo run -q -p kiln-core --example drift_stats -- INPUT.json OUTPUT.json
//! ```
//!
//! INPUT.json: `{"datasets": [{"columns": [{"name", "kind": "numeric"|"categorical",
//! "reference": [cell|null], "current": [...]}], "tests": {col: test}, "thresholds": {col: x},
//! "drift_share": x}], "ks": [[a, b]], "streams": [[0|1 ...]], "mcnemar": [[b, c]],
//! "ztest": [[x1, n1, x2, n2]]}`, cells as the text a CSV would hold.
//!
//! OUTPUT.json: per dataset its columns (test, value, drifted, or the error) and the dataset
//! verdict; per KS case (statistic, p); per stream DDM's and ADWIN's flags; McNemar's exact
//! and mid-p values; the two-proportion z and p.

use std::collections::BTreeMap;
use std::process::ExitCode;

use kiln_core::monitor::{
    DatasetDrift, DriftOptions, Sample, StatTest, drift::column_drift, ks, special, stream,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    #[serde(default)]
    datasets: Vec<DatasetCase>,
    #[serde(default)]
    ks: Vec<(Vec<f64>, Vec<f64>)>,
    #[serde(default)]
    streams: Vec<Vec<f64>>,
    #[serde(default)]
    mcnemar: Vec<(u64, u64)>,
    #[serde(default)]
    ztest: Vec<(u64, u64, u64, u64)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DatasetCase {
    columns: Vec<ColumnCase>,
    #[serde(default)]
    tests: BTreeMap<String, StatTest>,
    #[serde(default)]
    thresholds: BTreeMap<String, f64>,
    #[serde(default)]
    drift_share: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnCase {
    name: String,
    kind: String,
    reference: Vec<Option<String>>,
    current: Vec<Option<String>>,
}

#[derive(Serialize)]
struct ColumnOut {
    name: String,
    test: Option<StatTest>,
    value: Option<f64>,
    drifted: Option<bool>,
    error: Option<String>,
}

fn sample(kind: &str, cells: &[Option<String>]) -> Sample {
    let cells = cells.iter().map(|c| c.as_deref());
    if kind == "numeric" {
        Sample::numeric(cells)
    } else {
        Sample::categorical(cells)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: drift_stats INPUT.json OUTPUT.json");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(input) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{input}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let input: Input = match serde_json::from_str(&text) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{input}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let datasets: Vec<_> = input
        .datasets
        .iter()
        .map(|case| {
            let options = DriftOptions {
                tests: case.tests.clone(),
                thresholds: case.thresholds.clone(),
                drift_share: case.drift_share,
                ..Default::default()
            };
            let mut tested = Vec::new();
            let columns: Vec<ColumnOut> = case
                .columns
                .iter()
                .map(|c| {
                    let r = sample(&c.kind, &c.reference);
                    let k = sample(&c.kind, &c.current);
                    match column_drift(&c.name, &r, &k, &options) {
                        Ok(d) => {
                            let out = ColumnOut {
                                name: c.name.clone(),
                                test: Some(d.test),
                                value: Some(d.value),
                                drifted: Some(d.drifted),
                                error: None,
                            };
                            tested.push(d);
                            out
                        }
                        Err(e) => ColumnOut {
                            name: c.name.clone(),
                            test: None,
                            value: None,
                            drifted: None,
                            error: Some(e.to_string()),
                        },
                    }
                })
                .collect();
            let dataset = DatasetDrift::of(&tested, options.drift_share());
            json!({"columns": columns, "dataset": dataset})
        })
        .collect();
    let ks: Vec<_> = input
        .ks
        .iter()
        .map(|(a, b)| {
            let (mut a, mut b) = (a.clone(), b.clone());
            a.sort_unstable_by(f64::total_cmp);
            b.sort_unstable_by(f64::total_cmp);
            let r = ks::ks_2samp_sorted(&a, &b);
            json!({"statistic": r.statistic, "p": r.p_value})
        })
        .collect();
    let streams: Vec<_> = input
        .streams
        .iter()
        .map(|s| json!({"ddm": stream::ddm_flags(s), "adwin": stream::adwin_flags(s)}))
        .collect();
    let mcnemar: Vec<_> = input
        .mcnemar
        .iter()
        .map(|&(b, c)| {
            let m = special::mcnemar(b, c);
            json!({"statistic": m.statistic, "p_exact": m.p_exact, "p_mid": m.p_mid})
        })
        .collect();
    let ztest: Vec<_> = input
        .ztest
        .iter()
        .map(|&(x1, n1, x2, n2)| {
            let (z, p) = special::proportions_ztest(x1, n1, x2, n2);
            json!({"z": z, "p": p})
        })
        .collect();
    let out = json!({
        "datasets": datasets, "ks": ks, "streams": streams, "mcnemar": mcnemar, "ztest": ztest,
    });
    if let Err(e) = std::fs::write(output, out.to_string()) {
        eprintln!("{output}: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
