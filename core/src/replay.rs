//! Replay: two versions of a model over a traffic file, offline, as the course chapter's two
//! safe ways to put a new model in front of users.
//!
//! - **Shadow:** every row is scored by both versions. With labels, they are compared on the
//!   same rows with McNemar's test (exact and mid-p) and a paired bootstrap interval of the
//!   accuracy difference; without, the report says how often and where they disagree.
//! - **A/B:** each row goes to one version, by a seeded hash of a row key (a column, or the row
//!   number), in the given split; the arms are compared with the two-proportion z-test and a
//!   bootstrap interval.
//!
//! Rows are scored by each version's graph as it would be exported, run in tract as a server
//! runs it, and the latency of calls of 1, 8 and 64 rows is measured the same way. The verdict
//! follows a stated rule, and names the rows that would decide when the evidence is short. The
//! traffic is stored as a batch of the model's dataset in the `traffic` role, with the report,
//! in one transaction; promoting moves the first version's alias to the second in it too.

use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::data::{BatchRole, Table};
use crate::export::ServableGraph;
use crate::export::servable::{GraphRunner, Served};
use crate::monitor::special::{McNemar, mcnemar, proportions_ztest};
use crate::registry::{ModelVersion, VersionSelector};
use crate::rng::SeededRng;
use crate::store::{Project, replays};
use crate::train::TrainOptions;

/// How the traffic reaches the two versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplayMode {
    Shadow,
    Ab,
}

impl std::str::FromStr for ReplayMode {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<ReplayMode, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "shadow" => Ok(ReplayMode::Shadow),
            "ab" | "a/b" => Ok(ReplayMode::Ab),
            other => Err(format!("unknown replay mode {other:?}: use shadow or ab")),
        }
    }
}

impl std::fmt::Display for ReplayMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReplayMode::Shadow => "shadow",
            ReplayMode::Ab => "ab",
        })
    }
}

/// A replay to run.
#[derive(Debug, Clone)]
pub struct ReplayRequest {
    pub model: String,
    /// The version in service (its alias moves on promotion, which needs A named by its alias).
    pub a: VersionSelector,
    /// The candidate.
    pub b: VersionSelector,
    pub traffic: PathBuf,
    pub mode: ReplayMode,
    /// A/B: the share of rows sent to B, strictly between 0 and 1.
    pub split: f64,
    pub seed: u64,
    /// A/B: the column whose value assigns a row to an arm (default: the row number).
    pub key: Option<String>,
    /// The significance level of the verdict's test.
    pub alpha: f64,
    /// Move A's alias to B when the verdict is to promote.
    pub promote: bool,
}

impl ReplayRequest {
    pub fn new(model: &str, a: VersionSelector, b: VersionSelector, traffic: PathBuf) -> Self {
        ReplayRequest {
            model: model.to_owned(),
            a,
            b,
            traffic,
            mode: ReplayMode::Shadow,
            split: 0.5,
            seed: 0,
            key: None,
            alpha: 0.05,
            promote: false,
        }
    }
}

/// A failure of a replay that is the request's or the traffic's fault.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0}")]
    Refused(String),
}

/// One version's side of the replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arm {
    pub version: u32,
    /// The alias it was named by, if any.
    pub alias: Option<String>,
    /// Rows it scored.
    pub rows: usize,
    /// Of those, rows with a label.
    pub labelled: usize,
    pub correct: usize,
    pub accuracy: Option<f64>,
    /// Its rows scored per second, in batches of [`scoring_batch`] rows, on one thread: the
    /// graph's time on decoded inputs (parsing the traffic is counted in the replay's time).
    pub rows_per_second: f64,
    pub latency: Vec<Latency>,
}

/// Latency of calls of one batch size, measured as a server runs the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub batch: usize,
    pub calls: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// p50 per row: the call's time over its rows.
    pub per_row_p50_us: f64,
    /// Calls per bin of [`Latency::edges_ms`].
    pub histogram: Vec<u32>,
    pub edges_ms: Vec<f64>,
}

/// A row the replay did not score, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefusedRow {
    pub line: u64,
    pub reason: String,
}

/// Where the versions disagree, over one group of rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisagreementGroup {
    /// `class=Adelie`, `island=Biscoe`, `bill_length_mm in [39.2, 44.5)`, `x missing`.
    pub group: String,
    pub rows: usize,
    pub disagreements: usize,
}

/// Shadow mode: how the two versions' answers relate on the same rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    pub rows: usize,
    pub disagreements: usize,
    pub rate: f64,
    /// `contingency[i][j]`: rows A labels `classes[i]` and B labels `classes[j]`.
    pub classes: Vec<String>,
    pub contingency: Vec<Vec<usize>>,
    /// By A's predicted class.
    pub by_class: Vec<DisagreementGroup>,
    /// By ranges of each number column (its quartiles in the traffic) and by category.
    pub by_feature: Vec<DisagreementGroup>,
}

impl Agreement {
    /// The groups where the versions disagree, the highest share first.
    pub fn worst(&self) -> Vec<&DisagreementGroup> {
        let mut groups: Vec<&DisagreementGroup> = self
            .by_class
            .iter()
            .chain(&self.by_feature)
            .filter(|d| d.disagreements > 0)
            .collect();
        let rate = |d: &DisagreementGroup| d.disagreements as f64 / d.rows.max(1) as f64;
        groups.sort_by(|x, y| rate(y).total_cmp(&rate(x)));
        groups
    }
}

/// Shadow mode with labels: the paired comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paired {
    pub rows: usize,
    pub both_right: usize,
    /// A right, B wrong (McNemar's b).
    pub only_a_right: usize,
    /// A wrong, B right (McNemar's c).
    pub only_b_right: usize,
    pub both_wrong: usize,
    pub mcnemar: McNemar,
}

/// A confidence interval of B's accuracy minus A's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub difference: f64,
    pub low: f64,
    pub high: f64,
    pub level: f64,
    pub resamples: usize,
}

/// A/B mode with labels: the arms compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TwoArms {
    pub z: f64,
    pub p: f64,
}

/// What the replay concludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Promote,
    Keep,
    NotEnoughEvidence,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Promote => "promote",
            Decision::Keep => "keep",
            Decision::NotEnoughEvidence => "not enough evidence",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub decision: Decision,
    /// The rule the decision follows, in words.
    pub rule: String,
    /// Why, with the figures.
    pub reason: String,
    /// When the evidence is short: the rows (labelled, in total) that would decide if the
    /// observed rates held; `None` when no number would (no difference seen, or no labels).
    pub rows_needed: Option<u64>,
}

/// Everything a replay found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayReport {
    pub id: i64,
    pub model: String,
    pub mode: ReplayMode,
    pub traffic: String,
    pub batch: i64,
    pub rows: usize,
    pub scored: usize,
    pub refused_rows: usize,
    /// The first refused rows, by line.
    pub refused: Vec<RefusedRow>,
    pub split: f64,
    pub seed: u64,
    pub key: Option<String>,
    pub alpha: f64,
    pub a: Arm,
    pub b: Arm,
    pub agreement: Option<Agreement>,
    pub paired: Option<Paired>,
    pub arms: Option<TwoArms>,
    pub interval: Option<Interval>,
    pub verdict: Verdict,
    /// Whether A's alias now points at B.
    pub promoted: Option<String>,
    pub seconds: f64,
}

/// Rows per call while scoring the whole traffic, at most; a wide input (TF-IDF) takes fewer,
/// so that one call's features stay near a megabyte of values and in the caches.
pub const SCORING_BATCH: usize = 4096;

/// Rows per scoring call for a graph whose input is `width` values a row.
pub fn scoring_batch(width: usize) -> usize {
    (262_144 / width.max(1)).clamp(64, SCORING_BATCH)
}
/// The batch sizes whose latency is measured.
pub const LATENCY_BATCHES: [usize; 3] = [1, 8, 64];
/// Bootstrap resamples.
pub const RESAMPLES: usize = 1000;
/// Refused rows listed in the report (all are counted).
const REFUSED_LISTED: usize = 50;

/// One version, ready to score.
struct Contender {
    version: crate::registry::ModelVersion,
    alias: Option<String>,
    runner: GraphRunner,
    classes: Vec<String>,
    /// Rows per scoring call.
    batch: usize,
}

impl Project {
    /// Replays `request.traffic` through two versions of a model: see the module's
    /// documentation.
    pub fn replay(
        &mut self,
        request: &ReplayRequest,
        options: &TrainOptions,
    ) -> Result<ReplayReport> {
        let started = Instant::now();
        let refused = |why: String| crate::Error::from(ReplayError::Refused(why));
        if request.mode == ReplayMode::Ab && !(request.split > 0.0 && request.split < 1.0) {
            return Err(refused(format!(
                "a split of {} sends every row to one version; choose a share strictly between 0 and 1 (0.5 sends half the rows to each)",
                request.split
            )));
        }
        if request.promote && !matches!(request.a, VersionSelector::Alias(_)) {
            return Err(refused(format!(
                "promotion moves A's alias to B, and A is named by its number: name it by its alias, as {}@champion",
                request.model
            )));
        }
        if !(request.alpha > 0.0 && request.alpha < 1.0) {
            return Err(refused(format!(
                "a significance level of {} is not a probability strictly between 0 and 1",
                request.alpha
            )));
        }
        let model = &request.model;
        let load = |version: ModelVersion,
                    selector: &VersionSelector|
         -> Result<(Contender, ServableGraph)> {
            let graph = self.servable_graph(model, &VersionSelector::Number(version.version))?;
            let batch = scoring_batch(graph.pipeline.width());
            let runner = GraphRunner::load(
                &graph.bytes,
                graph.preview.input_form,
                &graph.pipeline,
                Some(batch),
            )?;
            let contender = Contender {
                alias: match selector {
                    VersionSelector::Alias(a) => Some(a.clone()),
                    _ => None,
                },
                version,
                runner,
                classes: graph.pipeline.classes.clone(),
                batch,
            };
            Ok((contender, graph))
        };
        // The cheap refusal first: loading a version proves its graph.
        let (version_a, version_b) = (
            self.model_version(model, &request.a)?,
            self.model_version(model, &request.b)?,
        );
        if version_a.id == version_b.id {
            return Err(refused(format!(
                "A and B are the same version ({model} v{}): name two versions to compare",
                version_a.version
            )));
        }
        let (a, pipeline_a) = load(version_a, &request.a)?;
        let (b, pipeline_b) = load(version_b, &request.b)?;
        if request.mode == ReplayMode::Shadow {
            crate::export::same_io(
                &pipeline_a.preview,
                &pipeline_b.preview,
                &pipeline_a.pipeline.classes.join("\n"),
                &pipeline_b.pipeline.classes.join("\n"),
            )
            .map_err(|e| refused(format!("shadow mode scores every row with both: {e}")))?;
        }
        let dataset = a.version.lineage.dataset.clone().ok_or_else(|| {
            refused(format!(
                "{model} v{} has no dataset in its lineage, so the traffic has no schema to be checked against",
                a.version.version
            ))
        })?;
        let batch = self.prepare_batch(&request.traffic, &dataset)?;
        let table = &batch.table;
        let source = request.traffic.display().to_string();
        let mut needed: Vec<(&str, bool)> =
            crate::export::servable::raw_inputs(&pipeline_a.pipeline);
        for column in crate::export::servable::raw_inputs(&pipeline_b.pipeline) {
            if !needed.contains(&column) {
                needed.push(column);
            }
        }
        let missing: Vec<&str> = needed
            .iter()
            .map(|(c, _)| *c)
            .filter(|c| table.column_index(c).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(refused(format!(
                "{source}, line 1: the versions read the columns {}, missing from the header; add them (an empty cell is a missing value) and replay again",
                missing.join(", ")
            )));
        }
        // The key assigns rows to arms: shadow mode, where both score every row, reads none.
        let key = request
            .key
            .clone()
            .filter(|_| request.mode == ReplayMode::Ab);
        if let Some(key) = &key
            && table.column_index(key).is_none()
        {
            return Err(refused(format!(
                "{source}: the row key column {key:?} is not in the header; its columns are {}",
                table.names.join(", ")
            )));
        }

        // Rows refused, by line: a number that does not parse cannot be sent as FP32, and a row
        // that breaks an expectation (other than on the label, which is optional) is refused as
        // `kiln predict` refuses it. Every other row is scored as the deployed graph scores
        // it: a missing number or category, an unseen category and empty text included.
        let label = pipeline_a.pipeline.label.clone();
        let mut suite = self.expectations(&dataset)?;
        suite.expectations.retain(|e| e.column != label);
        let mut reasons = suite.failing_rows(table);
        for (column, string) in &needed {
            if *string {
                continue;
            }
            let cells = table.column(column).unwrap_or_default();
            for (row, cell) in cells.iter().enumerate() {
                if let Some(text) = cell
                    && crate::data::parse_number(text).is_none()
                {
                    reasons[row].get_or_insert_with(|| {
                        format!("column {column}: {text:?} is not a number")
                    });
                }
            }
        }
        let refused_rows: Vec<RefusedRow> = reasons
            .iter()
            .enumerate()
            .filter_map(|(row, r)| {
                r.as_ref().map(|reason| RefusedRow {
                    line: table.lines[row],
                    reason: reason.clone(),
                })
            })
            .collect();
        let scorable: Vec<usize> = (0..table.rows())
            .filter(|&r| reasons[r].is_none())
            .collect();
        if scorable.is_empty() {
            return Err(refused(format!(
                "{source}: no row can be scored ({} refused; the first: line {}: {})",
                refused_rows.len(),
                refused_rows.first().map_or(0, |r| r.line),
                refused_rows.first().map_or("", |r| r.reason.as_str())
            )));
        }
        let (rows_a, rows_b): (Vec<usize>, Vec<usize>) = match request.mode {
            ReplayMode::Shadow => (scorable.clone(), scorable.clone()),
            ReplayMode::Ab => {
                let keys = key.as_ref().and_then(|k| table.column(k));
                scorable.iter().partition(|&&row| {
                    let key = match keys {
                        Some(cells) => cells[row].clone().unwrap_or_default(),
                        None => table.lines[row].to_string(),
                    };
                    assign_unit(request.seed, &key) >= request.split
                })
            }
        };

        // Scoring: each version on its own thread, in batches.
        let total = (rows_a.len() + rows_b.len()) as u64;
        let done = std::sync::atomic::AtomicU64::new(0);
        let jobs = [(&a, &rows_a), (&b, &rows_b)];
        let scored = crate::monitor::in_parallel(&jobs, |(contender, rows)| {
            score_all(contender, table, rows, options, &done, total)
        });
        let mut scored = scored.into_iter();
        let (served_a, seconds_a) = scored.next().expect("two jobs")?;
        let (served_b, seconds_b) = scored.next().expect("two jobs")?;
        if options.cancelled() {
            return Err(crate::train::TrainError::Cancelled.into());
        }
        let labels: Vec<Option<&str>> = table
            .column(&label)
            .map(|cells| cells.iter().map(|c| c.as_deref()).collect())
            .unwrap_or_else(|| vec![None; table.rows()]);
        let mut arm_a = arm(&a, &served_a, &rows_a, &labels, seconds_a);
        let mut arm_b = arm(&b, &served_b, &rows_b, &labels, seconds_b);
        emit(options, ReplayPhase::Latency, total, total);
        (arm_a.latency, arm_b.latency) =
            measure_latencies((&a.runner, &rows_a), (&b.runner, &rows_b), table)?;

        let mut rng = SeededRng::new(request.seed ^ 0x5EED_B007);
        let (agreement, paired, arms, interval, verdict) = match request.mode {
            ReplayMode::Shadow => {
                let agreement =
                    agreement(table, &scorable, &served_a, &served_b, &a.classes, &needed);
                let paired = paired(&scorable, &served_a, &served_b, &labels);
                let interval = paired.as_ref().map(|p| paired_interval(p, &mut rng));
                let verdict = shadow_verdict(&agreement, paired.as_ref(), request.alpha);
                (Some(agreement), paired, None, interval, verdict)
            }
            ReplayMode::Ab => {
                let (arms, interval) = if arm_a.labelled > 0 && arm_b.labelled > 0 {
                    let (z, p) = proportions_ztest(
                        arm_b.correct as u64,
                        arm_b.labelled as u64,
                        arm_a.correct as u64,
                        arm_a.labelled as u64,
                    );
                    (
                        Some(TwoArms { z, p }),
                        Some(two_arm_interval(&arm_a, &arm_b, &mut rng)),
                    )
                } else {
                    (None, None)
                };
                let verdict = ab_verdict(&arm_a, &arm_b, arms.as_ref(), request);
                (None, None, arms, interval, verdict)
            }
        };
        let mut report = ReplayReport {
            id: 0,
            model: model.clone(),
            mode: request.mode,
            traffic: batch.source.clone(),
            batch: 0,
            rows: table.rows(),
            scored: scorable.len(),
            refused_rows: refused_rows.len(),
            refused: refused_rows.into_iter().take(REFUSED_LISTED).collect(),
            split: if request.mode == ReplayMode::Ab {
                request.split
            } else {
                1.0
            },
            seed: request.seed,
            key,
            alpha: request.alpha,
            a: arm_a,
            b: arm_b,
            agreement,
            paired,
            arms,
            interval,
            verdict,
            promoted: None,
            seconds: 0.0,
        };
        // Refused above when A is not named by an alias.
        let promote = match &a.alias {
            Some(alias) if request.promote && report.verdict.decision == Decision::Promote => {
                Some(alias.clone())
            }
            _ => None,
        };
        report.seconds = started.elapsed().as_secs_f64();
        let (version_a, version_b) = (a.version.id, b.version.id);
        let b_number = b.version.version;
        self.atomically(|p| {
            let id = p.store_batch(&batch, BatchRole::Traffic)?;
            report.batch = id.0;
            if let Some(alias) = &promote {
                p.set_alias(model, alias, b_number)?;
                report.promoted = Some(alias.clone());
            }
            report.id = p.write(|tx| replays::insert(tx, id, version_a, version_b, &report))?;
            Ok(())
        })?;
        Ok(report)
    }

    /// How many replay reports the project holds: a list read at the same count is current.
    pub fn replay_count(&self) -> Result<u64> {
        self.read(replays::count)
    }

    /// Every replay report of `model`, newest first.
    pub fn replays(&self, model: &str) -> Result<Vec<ReplayReport>> {
        let stored = self.read(|c| replays::of_model(c, model))?;
        stored
            .into_iter()
            .map(|(id, json)| {
                let mut report: ReplayReport =
                    self.stored_json(&format!("replay report {id}"), &json)?;
                report.id = id;
                Ok(report)
            })
            .collect()
    }
}

/// What a replay is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayPhase {
    /// Both versions score their rows.
    Scoring,
    /// The scoring is done; calls of [`LATENCY_BATCHES`] rows are timed.
    Latency,
}

/// How far a replay has got. The rows count each version's scoring of a row apart, so a shadow
/// replay of 344 rows scores 688.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayProgress {
    pub phase: ReplayPhase,
    pub rows_done: u64,
    pub rows_total: u64,
}

impl ReplayProgress {
    /// The share done, for a progress bar.
    pub fn share(&self) -> f32 {
        match self.phase {
            ReplayPhase::Scoring if self.rows_total > 0 => {
                self.rows_done as f32 / self.rows_total as f32
            }
            ReplayPhase::Scoring => 0.0,
            ReplayPhase::Latency => 1.0,
        }
    }

    /// "344 of 688 rows scored (both versions)", or "688 rows scored (both versions); timing
    /// calls of 1, 8 and 64 rows".
    pub fn line(&self) -> String {
        match self.phase {
            ReplayPhase::Scoring => format!(
                "{} of {} rows scored (both versions)",
                self.rows_done, self.rows_total
            ),
            ReplayPhase::Latency => {
                let batches: Vec<String> = LATENCY_BATCHES.iter().map(usize::to_string).collect();
                let (last, first) = batches.split_last().expect("batch sizes");
                format!(
                    "{} rows scored (both versions); timing calls of {} and {last} rows",
                    self.rows_total,
                    first.join(", ")
                )
            }
        }
    }
}

fn emit(options: &TrainOptions, phase: ReplayPhase, done: u64, total: u64) {
    options
        .events
        .emit(crate::events::Event::Replay(ReplayProgress {
            phase,
            rows_done: done,
            rows_total: total,
        }));
}

/// Scores `rows` with one version in batches; returns its answers and the seconds the graph
/// took. The rows are decoded first (numbers parsed, as a client builds its tensors), and the
/// time counted is the graph's, as a server's is.
fn score_all(
    contender: &Contender,
    table: &Table,
    rows: &[usize],
    options: &TrainOptions,
    done: &std::sync::atomic::AtomicU64,
    total: u64,
) -> Result<(Served, f64)> {
    let calls = contender.runner.decode(table, rows, contender.batch)?;
    let started = Instant::now();
    let mut all = Served {
        labels: Vec::with_capacity(rows.len()),
        probabilities: Vec::with_capacity(rows.len() * contender.classes.len()),
        classes: contender.classes.len(),
    };
    for call in calls {
        if options.cancelled() {
            break;
        }
        let len = call.rows();
        let served = contender.runner.run_decoded(table, call)?;
        all.labels.extend(served.labels);
        all.probabilities.extend(served.probabilities);
        let now = done.fetch_add(len as u64, std::sync::atomic::Ordering::Relaxed) + len as u64;
        emit(options, ReplayPhase::Scoring, now, total);
    }
    Ok((all, started.elapsed().as_secs_f64()))
}

/// A row key's place in `[0, 1)`: FNV-1a over the seed and the key, then SplitMix64's
/// finaliser, so that the assignment is stable across runs, machines and versions.
pub fn assign_unit(seed: u64, key: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in seed.to_le_bytes().iter().chain(key.as_bytes()) {
        h ^= u64::from(*byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = h;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

fn arm(
    contender: &Contender,
    served: &Served,
    rows: &[usize],
    labels: &[Option<&str>],
    seconds: f64,
) -> Arm {
    let mut labelled = 0;
    let mut correct = 0;
    for (i, &row) in rows.iter().enumerate().take(served.labels.len()) {
        if let Some(truth) = labels[row] {
            labelled += 1;
            if served.labels[i] == truth {
                correct += 1;
            }
        }
    }
    Arm {
        version: contender.version.version,
        alias: contender.alias.clone(),
        rows: rows.len(),
        labelled,
        correct,
        accuracy: (labelled > 0).then(|| correct as f64 / labelled as f64),
        rows_per_second: rows.len() as f64 / seconds.max(1e-9),
        latency: Vec::new(),
    }
}

/// Times calls of 1, 8 and 64 rows through both versions (each cycling through its rows, after
/// a warm-up call), one batch size at a time for both, so that the machine's moods touch both
/// alike. Both versions' histograms of one batch size share their bins, so that bars compare.
fn measure_latencies(
    a: (&GraphRunner, &[usize]),
    b: (&GraphRunner, &[usize]),
    table: &Table,
) -> Result<(Vec<Latency>, Vec<Latency>)> {
    let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
    for batch in LATENCY_BATCHES {
        let calls = match batch {
            1 => 400,
            8 => 200,
            _ => 100,
        };
        let times_a = call_times(a.0, table, a.1, batch, calls)?;
        let times_b = call_times(b.0, table, b.1, batch, calls)?;
        // From the fastest call of either to the slower p99: a few slow outliers would squeeze
        // every other bar into the first bins, so the last bin also counts the calls beyond.
        let all = || times_a.iter().chain(&times_b);
        let low = all().copied().fold(f64::INFINITY, f64::min);
        let high = [&times_a, &times_b]
            .iter()
            .filter(|t| !t.is_empty())
            .map(|t| percentile(t, 0.99))
            .fold(f64::NEG_INFINITY, f64::max);
        for (times, out) in [(times_a, &mut out_a), (times_b, &mut out_b)] {
            if times.is_empty() {
                continue;
            }
            let (histogram, edges_ms) = histogram(&times, low, high, 20);
            let (p50, p95, p99) = (
                percentile(&times, 0.50),
                percentile(&times, 0.95),
                percentile(&times, 0.99),
            );
            out.push(Latency {
                batch,
                calls,
                p50_ms: p50,
                p95_ms: p95,
                p99_ms: p99,
                per_row_p50_us: p50 * 1000.0 / batch as f64,
                histogram,
                edges_ms,
            });
        }
    }
    Ok((out_a, out_b))
}

/// The sorted times in milliseconds of `calls` calls of `batch` rows (cycling through `rows`),
/// decoded before each call's clock starts, after a warm-up call; none when there are no rows.
fn call_times(
    runner: &GraphRunner,
    table: &Table,
    rows: &[usize],
    batch: usize,
    calls: usize,
) -> Result<Vec<f64>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let call_rows = |call: usize| -> Vec<usize> {
        (0..batch)
            .map(|i| rows[(call * batch + i) % rows.len()])
            .collect()
    };
    runner.run_rows(table, &call_rows(0))?;
    let mut times = Vec::with_capacity(calls);
    for call in 0..calls {
        // Decoded first, as a client builds its tensors; the time counted is the graph's, as
        // in the throughput.
        for decoded in runner.decode(table, &call_rows(call), batch)? {
            let started = Instant::now();
            runner.run_decoded(table, decoded)?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

/// The `q` quantile of sorted `values`, interpolated linearly (numpy's default).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let position = q * (sorted.len() - 1) as f64;
    let low = position.floor() as usize;
    let high = position.ceil() as usize;
    sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
}

/// `bins` equal-width bins from `low` to `high` over `values`; a value beyond either end
/// counts in the bin at that end.
fn histogram(values: &[f64], low: f64, high: f64, bins: usize) -> (Vec<u32>, Vec<f64>) {
    let width = ((high - low) / bins as f64).max(1e-12);
    let edges = (0..=bins).map(|i| low + width * i as f64).collect();
    let mut counts = vec![0u32; bins];
    for v in values {
        let bin = ((v - low) / width).max(0.0) as usize;
        counts[bin.min(bins - 1)] += 1;
    }
    (counts, edges)
}

fn agreement(
    table: &Table,
    rows: &[usize],
    a: &Served,
    b: &Served,
    classes: &[String],
    columns: &[(&str, bool)],
) -> Agreement {
    let index = |label: &str| classes.iter().position(|c| c == label);
    let mut contingency = vec![vec![0usize; classes.len()]; classes.len()];
    let differs: Vec<bool> = a
        .labels
        .iter()
        .zip(&b.labels)
        .map(|(x, y)| {
            if let (Some(i), Some(j)) = (index(x), index(y)) {
                contingency[i][j] += 1;
            }
            x != y
        })
        .collect();
    let disagreements = differs.iter().filter(|d| **d).count();
    let by_class = classes
        .iter()
        .map(|class| {
            let (mut n, mut d) = (0, 0);
            for (label, differ) in a.labels.iter().zip(&differs) {
                if label == class {
                    n += 1;
                    d += usize::from(*differ);
                }
            }
            DisagreementGroup {
                group: format!("A says {class}"),
                rows: n,
                disagreements: d,
            }
        })
        .collect();
    let mut by_feature = Vec::new();
    for (column, string) in columns {
        let Some(cells) = table.column(column) else {
            continue;
        };
        if *string {
            // By category: the eight most frequent, then the rest.
            let mut groups: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
            for (&row, differ) in rows.iter().zip(&differs) {
                let value = cells[row].clone().unwrap_or_else(|| "(missing)".into());
                let entry = groups.entry(value).or_default();
                entry.0 += 1;
                entry.1 += usize::from(*differ);
            }
            let mut groups: Vec<_> = groups.into_iter().collect();
            groups.sort_by(|x, y| y.1.0.cmp(&x.1.0).then(x.0.cmp(&y.0)));
            let rest = groups.split_off(groups.len().min(8));
            for (value, (n, d)) in groups {
                by_feature.push(DisagreementGroup {
                    group: format!("{column} = {value}"),
                    rows: n,
                    disagreements: d,
                });
            }
            if !rest.is_empty() {
                let (n, d) = rest
                    .iter()
                    .fold((0, 0), |acc, (_, (n, d))| (acc.0 + n, acc.1 + d));
                by_feature.push(DisagreementGroup {
                    group: format!("{column} = {} other values", rest.len()),
                    rows: n,
                    disagreements: d,
                });
            }
        } else {
            // By quartile of the traffic's values, and the missing ones.
            let values: Vec<Option<f64>> = rows
                .iter()
                .map(|&r| cells[r].as_deref().and_then(crate::data::parse_number))
                .collect();
            let mut present: Vec<f64> = values.iter().flatten().copied().collect();
            present.sort_by(f64::total_cmp);
            if present.is_empty() {
                continue;
            }
            let mut edges: Vec<f64> = [0.25, 0.5, 0.75]
                .iter()
                .map(|&q| percentile(&present, q))
                .collect();
            edges.dedup();
            let (low, high) = (present[0], present[present.len() - 1]);
            let mut bounds = vec![low];
            bounds.extend(edges.iter().copied().filter(|e| *e > low && *e < high));
            bounds.push(high);
            let bins = bounds.len() - 1;
            let mut counts = vec![(0usize, 0usize); bins.max(1)];
            let mut missing = (0usize, 0usize);
            for (value, differ) in values.iter().zip(&differs) {
                let slot = match value {
                    Some(v) => {
                        let i = bounds[1..]
                            .iter()
                            .position(|edge| v < edge)
                            .unwrap_or(bins.max(1) - 1);
                        &mut counts[i.min(bins.max(1) - 1)]
                    }
                    None => &mut missing,
                };
                slot.0 += 1;
                slot.1 += usize::from(*differ);
            }
            for (i, (n, d)) in counts.into_iter().enumerate() {
                let close = if i + 1 == bins.max(1) { "]" } else { ")" };
                by_feature.push(DisagreementGroup {
                    group: format!(
                        "{column} in [{}, {}{close}",
                        short(bounds[i]),
                        short(bounds[(i + 1).min(bounds.len() - 1)])
                    ),
                    rows: n,
                    disagreements: d,
                });
            }
            if missing.0 > 0 {
                by_feature.push(DisagreementGroup {
                    group: format!("{column} missing"),
                    rows: missing.0,
                    disagreements: missing.1,
                });
            }
        }
    }
    Agreement {
        rows: differs.len(),
        disagreements,
        rate: disagreements as f64 / differs.len().max(1) as f64,
        classes: classes.to_vec(),
        contingency,
        by_class,
        by_feature,
    }
}

fn short(v: f64) -> String {
    let text = format!("{v:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn paired(rows: &[usize], a: &Served, b: &Served, labels: &[Option<&str>]) -> Option<Paired> {
    let mut p = Paired {
        rows: 0,
        both_right: 0,
        only_a_right: 0,
        only_b_right: 0,
        both_wrong: 0,
        mcnemar: mcnemar(0, 0),
    };
    for (i, &row) in rows.iter().enumerate() {
        let Some(truth) = labels[row] else { continue };
        p.rows += 1;
        match (a.labels[i] == truth, b.labels[i] == truth) {
            (true, true) => p.both_right += 1,
            (true, false) => p.only_a_right += 1,
            (false, true) => p.only_b_right += 1,
            (false, false) => p.both_wrong += 1,
        }
    }
    if p.rows == 0 {
        return None;
    }
    p.mcnemar = mcnemar(p.only_a_right as u64, p.only_b_right as u64);
    Some(p)
}

/// A draw of Binomial(`n`, `p`): the successes counted by the geometric gaps between them
/// (inverse transform), so a draw costs about `n·min(p, 1 - p)` steps instead of `n`, exactly.
fn binomial(n: u64, p: f64, rng: &mut SeededRng) -> u64 {
    if p <= 0.0 || n == 0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    if p > 0.5 {
        return n - binomial(n, 1.0 - p, rng);
    }
    let log_q = (1.0 - p).ln();
    let (mut position, mut successes) = (0u64, 0u64);
    loop {
        // The trials up to and including the next success: Geometric(p) on 1, 2, ...
        let u = 1.0 - rng.unit();
        let gap = (u.ln() / log_q).floor() as u64 + 1;
        position = position.saturating_add(gap);
        if position > n {
            return successes;
        }
        successes += 1;
    }
}

/// The percentile bootstrap of B's accuracy minus A's over the same rows: each resample draws
/// `rows` rows with replacement, and a row moves the difference by +1 (only B right), -1 (only
/// A right) or 0, so a resample is a multinomial draw of those three counts: the discordant
/// rows ~ Binomial(rows, their share), and of those, B's ~ Binomial(discordant, B's share).
fn paired_interval(p: &Paired, rng: &mut SeededRng) -> Interval {
    let n = p.rows;
    let discordant = p.only_a_right + p.only_b_right;
    let share = discordant as f64 / n as f64;
    let b_share = if discordant == 0 {
        0.0
    } else {
        p.only_b_right as f64 / discordant as f64
    };
    let mut diffs: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let k = binomial(n as u64, share, rng);
            let plus = binomial(k, b_share, rng);
            (2.0 * plus as f64 - k as f64) / n as f64
        })
        .collect();
    diffs.sort_by(f64::total_cmp);
    Interval {
        difference: (p.only_b_right as f64 - p.only_a_right as f64) / n as f64,
        low: percentile(&diffs, 0.025),
        high: percentile(&diffs, 0.975),
        level: 0.95,
        resamples: RESAMPLES,
    }
}

/// The percentile bootstrap of B's accuracy minus A's over independent arms: each resample
/// draws each arm's labelled rows with replacement.
fn two_arm_interval(a: &Arm, b: &Arm, rng: &mut SeededRng) -> Interval {
    let draw = |arm: &Arm, rng: &mut SeededRng| {
        let p = arm.correct as f64 / arm.labelled as f64;
        binomial(arm.labelled as u64, p, rng) as f64 / arm.labelled as f64
    };
    let mut diffs: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let da = draw(a, rng);
            draw(b, rng) - da
        })
        .collect();
    diffs.sort_by(f64::total_cmp);
    Interval {
        difference: b.accuracy.unwrap_or(0.0) - a.accuracy.unwrap_or(0.0),
        low: percentile(&diffs, 0.025),
        high: percentile(&diffs, 0.975),
        level: 0.95,
        resamples: RESAMPLES,
    }
}

/// The smallest `n` at or above `from` for which `decides(n)` holds, if one does below 10^12
/// (doubling, then bisection; `decides` is taken to be monotone in `n`).
fn smallest_deciding(from: u64, decides: impl Fn(u64) -> bool) -> Option<u64> {
    const LIMIT: u64 = 1_000_000_000_000;
    let mut high = from.max(1);
    while !decides(high) {
        if high >= LIMIT {
            return None;
        }
        high = (high * 2).min(LIMIT);
    }
    let mut low = from.max(1);
    if decides(low) {
        return Some(low);
    }
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if decides(mid) {
            high = mid;
        } else {
            low = mid;
        }
    }
    Some(high)
}

fn shadow_verdict(agreement: &Agreement, paired: Option<&Paired>, alpha: f64) -> Verdict {
    let rule = format!(
        "promote B when it is right more often than A on the same labelled rows and McNemar's mid-p is below {alpha}; keep A when A is right more often under the same test; otherwise there is not enough evidence"
    );
    let Some(p) = paired else {
        return Verdict {
            decision: Decision::NotEnoughEvidence,
            rule,
            reason: format!(
                "the traffic has no labels, so neither version can be shown right more often; they disagree on {} of {} rows ({:.1} %)",
                agreement.disagreements,
                agreement.rows,
                agreement.rate * 100.0
            ),
            rows_needed: None,
        };
    };
    let (b, c) = (p.only_a_right, p.only_b_right);
    let mid = p.mcnemar.p_mid;
    if mid < alpha && b != c {
        let (decision, better) = if c > b {
            (Decision::Promote, "B")
        } else {
            (Decision::Keep, "A")
        };
        return Verdict {
            decision,
            rule,
            reason: format!(
                "{better} is right more often: only A is right on {b} of the rows, only B on {c}, mid-p {mid:.3e} < {alpha}"
            ),
            rows_needed: None,
        };
    }
    let rows_needed = (b != c)
        .then(|| {
            let (rb, rc) = (b as f64 / p.rows as f64, c as f64 / p.rows as f64);
            smallest_deciding(p.rows as u64, |n| {
                let (nb, nc) = (
                    (rb * n as f64).round() as u64,
                    (rc * n as f64).round() as u64,
                );
                mcnemar(nb, nc).p_mid < alpha
            })
        })
        .flatten();
    Verdict {
        decision: Decision::NotEnoughEvidence,
        rule,
        reason: format!(
            "only A is right on {b} of the rows, only B on {c}: mid-p {mid:.3} is not below {alpha}{}",
            match rows_needed {
                Some(n) => format!(
                    "; about {n} labelled rows would decide if these rates held"
                ),
                None => "; the versions are right on the same rows as often, and no number of rows would decide".into(),
            }
        ),
        rows_needed,
    }
}

fn ab_verdict(a: &Arm, b: &Arm, arms: Option<&TwoArms>, request: &ReplayRequest) -> Verdict {
    let alpha = request.alpha;
    let rule = format!(
        "promote B when its arm's accuracy is higher and the two-proportion z-test's p is below {alpha}; keep A when A's is higher under the same test; otherwise there is not enough evidence"
    );
    let (Some(t), Some(acc_a), Some(acc_b)) = (arms, a.accuracy, b.accuracy) else {
        return Verdict {
            decision: Decision::NotEnoughEvidence,
            rule,
            reason: "an arm has no labelled rows, so the arms' accuracies cannot be compared"
                .into(),
            rows_needed: None,
        };
    };
    if t.p < alpha && acc_a != acc_b {
        let (decision, better) = if acc_b > acc_a {
            (Decision::Promote, "B")
        } else {
            (Decision::Keep, "A")
        };
        return Verdict {
            decision,
            rule,
            reason: format!(
                "{better}'s arm is more accurate: A {:.4} on {} rows, B {:.4} on {}, z = {:.3}, p = {:.3e} < {alpha}",
                acc_a, a.labelled, acc_b, b.labelled, t.z, t.p
            ),
            rows_needed: None,
        };
    }
    let split = request.split;
    let rows_needed = (acc_a != acc_b)
        .then(|| {
            let labelled = (a.labelled + b.labelled) as u64;
            smallest_deciding(labelled, |n| {
                let nb = ((n as f64 * split).round() as u64).max(1);
                let na = n.saturating_sub(nb).max(1);
                let (xa, xb) = (
                    (acc_a * na as f64).round() as u64,
                    (acc_b * nb as f64).round() as u64,
                );
                let (_, p) = proportions_ztest(xb, nb, xa, na);
                p < alpha
            })
        })
        .flatten();
    Verdict {
        decision: Decision::NotEnoughEvidence,
        rule,
        reason: format!(
            "A {:.4} on {} rows, B {:.4} on {}: p = {:.3} is not below {alpha}{}",
            acc_a,
            a.labelled,
            acc_b,
            b.labelled,
            t.p,
            match rows_needed {
                Some(n) => format!(
                    "; about {n} labelled rows in all would decide if these accuracies held"
                ),
                None =>
                    "; the arms are equally accurate, and no number of rows would decide".into(),
            }
        ),
        rows_needed,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::data::{ColumnKind, ImportOptions};
    use crate::train::{DevicePreference, ModelFamily, SearchSpace, Strategy, StudyRequest};

    /// A project with the penguins, and one registered version per search space (in order).
    fn project_with(spaces: &[&str]) -> (tempfile::TempDir, Project) {
        let dir = tempfile::tempdir().expect("dir");
        let mut project =
            Project::create(dir.path().join("replay.kiln"), "replay").expect("create");
        let asset = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/penguins.csv");
        project
            .import(&asset, &ImportOptions::default())
            .expect("import");
        for space in spaces {
            let run = train(&mut project, space);
            project.register_model("penguins", run).expect("register");
        }
        (dir, project)
    }

    fn train(project: &mut Project, space: &str) -> crate::RunId {
        let request = StudyRequest {
            dataset: "penguins".into(),
            family: ModelFamily::Mlp,
            strategy: Strategy::Grid,
            space: SearchSpace::from_toml(space).expect("space"),
            parallel: 1,
            device: DevicePreference::Cpu,
            max_trials: None,
        };
        project
            .run_study(&request, &TrainOptions::default())
            .expect("study")
            .best
            .expect("best")
            .run
    }

    const WEAK: &str = "learning_rate = 0.0005\nbatch_size = 64\nepochs = 1\nhidden = [2]\n";
    const STRONG: &str = "learning_rate = 0.02\nbatch_size = 16\nepochs = 15\nhidden = [12]\n";

    fn asset() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/penguins.csv")
    }

    #[test]
    fn shadow_compares_both_versions_on_the_same_rows_and_promotes_the_better_one() {
        let (_dir, mut project) = project_with(&[WEAK, STRONG]);
        project.set_alias("penguins", "champion", 1).expect("alias");
        let request = ReplayRequest {
            promote: true,
            ..ReplayRequest::new(
                "penguins",
                VersionSelector::Alias("champion".into()),
                VersionSelector::Number(2),
                asset(),
            )
        };
        let report = project
            .replay(&request, &TrainOptions::default())
            .expect("replay");
        assert_eq!(
            (report.rows, report.scored, report.refused_rows),
            (344, 344, 0)
        );
        let p = report.paired.as_ref().expect("labelled");
        assert_eq!(
            p.both_right + p.only_a_right + p.only_b_right + p.both_wrong,
            p.rows
        );
        assert_eq!(p.rows, report.a.labelled);
        assert_eq!(
            p.mcnemar,
            mcnemar(p.only_a_right as u64, p.only_b_right as u64)
        );
        assert_eq!(report.a.correct, p.both_right + p.only_a_right);
        assert_eq!(report.b.correct, p.both_right + p.only_b_right);
        let g = report.agreement.as_ref().expect("shadow");
        let off_diagonal: usize = (0..g.classes.len())
            .flat_map(|i| (0..g.classes.len()).map(move |j| (i, j)))
            .filter(|(i, j)| i != j)
            .map(|(i, j)| g.contingency[i][j])
            .sum();
        assert_eq!(off_diagonal, g.disagreements);
        let island: usize = g
            .by_feature
            .iter()
            .filter(|d| d.group.starts_with("island = "))
            .map(|d| d.rows)
            .sum();
        assert_eq!(island, 344, "every row falls in one island group");
        let bill: usize = g
            .by_feature
            .iter()
            .filter(|d| d.group.starts_with("bill_length_mm"))
            .map(|d| d.rows)
            .sum();
        assert_eq!(
            bill, 344,
            "quartile ranges and the missing ones cover every row"
        );
        let interval = report.interval.as_ref().expect("interval");
        assert!(interval.low <= interval.difference && interval.difference <= interval.high);
        assert!(
            report.b.accuracy > report.a.accuracy,
            "{:?} {:?}",
            report.a.accuracy,
            report.b.accuracy
        );
        assert_eq!(
            report.verdict.decision,
            Decision::Promote,
            "{:?}",
            report.verdict
        );
        assert_eq!(report.promoted.as_deref(), Some("champion"));
        let champion = project
            .model_version("penguins", &VersionSelector::Alias("champion".into()))
            .expect("champion");
        assert_eq!(champion.version, 2, "the alias moved with the report");
        for arm in [&report.a, &report.b] {
            let batches: Vec<usize> = arm.latency.iter().map(|l| l.batch).collect();
            assert_eq!(batches, LATENCY_BATCHES);
            for l in &arm.latency {
                assert!(
                    l.p50_ms > 0.0 && l.p50_ms <= l.p95_ms && l.p95_ms <= l.p99_ms,
                    "{l:?}"
                );
                assert_eq!(l.histogram.iter().sum::<u32>() as usize, l.calls);
            }
            assert!(arm.rows_per_second > 0.0);
        }
        // Both versions' bars of one batch size stand on the same bins, up to the slower p99.
        for (a, b) in report.a.latency.iter().zip(&report.b.latency) {
            assert_eq!(a.edges_ms, b.edges_ms);
            let top = a.edges_ms[a.edges_ms.len() - 1];
            assert!((top - a.p99_ms.max(b.p99_ms)).abs() < 1e-9, "{a:?} {b:?}");
        }
        let stored = project.replays("penguins").expect("stored");
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].id, report.id);
        assert_eq!(stored[0].verdict, report.verdict);
    }

    #[test]
    fn ab_assigns_rows_by_a_seeded_hash_of_their_key_and_compares_the_arms() {
        let (_dir, mut project) = project_with(&[WEAK, STRONG]);
        let ab = |project: &mut Project, seed: u64, key: Option<&str>, split: f64| {
            let request = ReplayRequest {
                mode: ReplayMode::Ab,
                seed,
                split,
                key: key.map(str::to_owned),
                ..ReplayRequest::new(
                    "penguins",
                    VersionSelector::Number(1),
                    VersionSelector::Number(2),
                    asset(),
                )
            };
            project.replay(&request, &TrainOptions::default())
        };
        let first = ab(&mut project, 7, None, 0.3).expect("ab");
        let again = ab(&mut project, 7, None, 0.3).expect("again");
        assert_eq!(first.a.rows + first.b.rows, 344);
        assert_eq!((first.a.rows, first.b.rows), (again.a.rows, again.b.rows));
        assert!(
            (60..=150).contains(&first.b.rows),
            "about 30 % to B: {}",
            first.b.rows
        );
        let t = first.arms.as_ref().expect("labelled arms");
        let (z, p) = proportions_ztest(
            first.b.correct as u64,
            first.b.labelled as u64,
            first.a.correct as u64,
            first.a.labelled as u64,
        );
        assert_eq!((t.z, t.p), (z, p));
        assert!(first.agreement.is_none() && first.paired.is_none());
        // By island: every penguin of an island goes to the same arm, so B's rows are a sum of
        // whole islands (Biscoe 168, Dream 124, Torgersen 52).
        let by_key = ab(&mut project, 3, Some("island"), 0.5).expect("by key");
        let sums: Vec<usize> = (0..8u32)
            .map(|m| {
                [168, 124, 52]
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| m >> i & 1 == 1)
                    .map(|(_, n)| n)
                    .sum()
            })
            .collect();
        assert!(
            sums.contains(&by_key.b.rows),
            "whole islands: {} rows to B",
            by_key.b.rows
        );
        assert_eq!(assign_unit(3, "Biscoe"), assign_unit(3, "Biscoe"));
        assert_ne!(assign_unit(3, "Biscoe"), assign_unit(4, "Biscoe"));
    }

    #[test]
    fn bad_requests_and_bad_rows_are_refused_by_name_and_line() {
        let (dir, mut project) = project_with(&[WEAK, STRONG]);
        let request = |traffic: PathBuf| {
            ReplayRequest::new(
                "penguins",
                VersionSelector::Number(1),
                VersionSelector::Number(2),
                traffic,
            )
        };
        let options = TrainOptions::default();
        for split in [0.0, 1.0] {
            let r = ReplayRequest {
                mode: ReplayMode::Ab,
                split,
                ..request(asset())
            };
            let e = project.replay(&r, &options).expect_err("split").to_string();
            assert!(e.contains("strictly between 0 and 1"), "{e}");
        }
        let r = ReplayRequest {
            mode: ReplayMode::Ab,
            key: Some("passport".into()),
            ..request(asset())
        };
        let e = project.replay(&r, &options).expect_err("key").to_string();
        assert!(e.contains("\"passport\" is not in the header"), "{e}");
        let same = ReplayRequest {
            b: VersionSelector::Number(1),
            ..request(asset())
        };
        let e = project
            .replay(&same, &options)
            .expect_err("same")
            .to_string();
        assert!(e.contains("the same version"), "{e}");

        let header =
            "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year\n";
        let traffic = dir.path().join("traffic.csv");
        std::fs::write(
            &traffic,
            format!(
                "{header}Adelie,Torgersen,39.1,18.7,181,3750,male,2007\n,Atlantis,45.0,17.0,200,4200,,2009\n,Dream,NA,,195,,female,2009\n"
            ),
        )
        .expect("write");
        let report = project.replay(&request(traffic), &options).expect("scored");
        assert_eq!(
            (report.scored, report.refused_rows),
            (3, 0),
            "unknown and missing cells are scored"
        );
        assert_eq!(
            report.a.labelled, 1,
            "rows without a label are scored, not compared"
        );

        let missing = dir.path().join("missing.csv");
        std::fs::write(&missing, "species,island\nAdelie,Dream\n").expect("write");
        let e = project
            .replay(&request(missing), &options)
            .expect_err("missing columns")
            .to_string();
        assert!(e.contains("bill_length_mm"), "{e}");
        let count = project.replays("penguins").expect("reports").len();
        assert_eq!(count, 1, "refused replays store nothing");

        // A version that reads other columns cannot shadow one that reads these.
        project
            .set_column_kind("penguins", "island", ColumnKind::Ignored)
            .expect("kind");
        let run = train(&mut project, STRONG);
        project.register_model("penguins", run).expect("v3");
        let r = ReplayRequest {
            b: VersionSelector::Number(3),
            ..request(asset())
        };
        let e = project
            .replay(&r, &options)
            .expect_err("signature")
            .to_string();
        assert!(
            e.contains("shadow mode") && e.contains("island STRING"),
            "{e}"
        );
    }

    #[test]
    fn the_rows_that_would_decide_are_found_and_percentiles_interpolate() {
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.95), 3.8499999999999996);
        let n = smallest_deciding(10, |n| n >= 1234).expect("found");
        assert_eq!(n, 1234);
        assert_eq!(smallest_deciding(10, |_| false), None);
        // One discordant row in ten for A, two for B: McNemar's mid-p falls below 0.05 at
        // some size, and the size found is the first.
        let decides = |n: u64| {
            let (b, c) = (
                (0.1 * n as f64).round() as u64,
                (0.2 * n as f64).round() as u64,
            );
            mcnemar(b, c).p_mid < 0.05
        };
        let n = smallest_deciding(20, decides).expect("decides");
        assert!(decides(n) && !decides(n - 1), "{n}");
    }

    #[test]
    fn progress_reads_as_a_line_and_a_share() {
        let scoring = ReplayProgress {
            phase: ReplayPhase::Scoring,
            rows_done: 344,
            rows_total: 688,
        };
        assert_eq!(scoring.line(), "344 of 688 rows scored (both versions)");
        assert_eq!(scoring.share(), 0.5);
        let latency = ReplayProgress {
            phase: ReplayPhase::Latency,
            ..scoring
        };
        assert_eq!(
            latency.line(),
            "688 rows scored (both versions); timing calls of 1, 8 and 64 rows"
        );
        assert_eq!(latency.share(), 1.0);
    }

    #[test]
    fn binomial_draws_have_the_binomial_mean_and_variance() {
        let mut rng = SeededRng::new(5);
        for (n, p) in [(1_000u64, 0.07), (1_000, 0.93), (50, 0.5), (200_000, 0.001)] {
            let draws: Vec<f64> = (0..4000).map(|_| binomial(n, p, &mut rng) as f64).collect();
            let mean = draws.iter().sum::<f64>() / draws.len() as f64;
            let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / draws.len() as f64;
            let (mu, sigma2) = (n as f64 * p, n as f64 * p * (1.0 - p));
            // Within five standard errors of the mean and 15 % of the variance.
            assert!(
                (mean - mu).abs() < 5.0 * (sigma2 / 4000.0).sqrt(),
                "{n} {p}: {mean} {mu}"
            );
            assert!((var / sigma2 - 1.0).abs() < 0.15, "{n} {p}: {var} {sigma2}");
            assert!(draws.iter().all(|&d| d >= 0.0 && d <= n as f64));
        }
        assert_eq!(binomial(10, 0.0, &mut rng), 0);
        assert_eq!(binomial(10, 1.0, &mut rng), 10);
    }
}
