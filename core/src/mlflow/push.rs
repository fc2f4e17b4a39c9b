//! Push: a project's runs, studies and registered models onto an MLflow tracking server.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};

use super::batch::{Limits, MetricBatcher, check_limits, value_of};
use super::client::Client;
use super::{KEY_TAG, RunSelection, SyncError, SyncProgress, mlflow_status};
use crate::events::Event;
use crate::registry::{ModelVersion, VersionSelector};
use crate::store::sync::{self as stored, Link, RunRecord, StudyRecord};
use crate::store::{Project, meta, set_meta};
use crate::tracking::{MetricPoint, RunId, StudyId};
use crate::train::TrainOptions;
use crate::{Result, now_ms};

/// What to push, and where.
#[derive(Debug, Clone, Default)]
pub struct PushRequest {
    /// The tracking server, such as `http://127.0.0.1:5000`.
    pub url: String,
    /// The experiment on the server (default: the project's name).
    pub experiment: Option<String>,
    pub runs: RunSelection,
    /// Also the registered versions of those runs, with their ONNX model and aliases.
    pub models: bool,
    /// Work out what would be created, and create nothing.
    pub dry_run: bool,
}

/// What a push did (or, for a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PushReport {
    pub url: String,
    pub experiment: String,
    pub experiment_id: Option<String>,
    pub experiment_created: bool,
    pub server_version: Option<String>,
    pub dry_run: bool,
    pub cancelled: bool,
    /// Runs new on the server (studies' parent runs included).
    pub runs_created: u64,
    /// Runs a killed push left unfinished, now completed.
    pub runs_completed: u64,
    /// Runs already complete on the server, left alone.
    pub runs_unchanged: u64,
    pub points_sent: u64,
    pub params_sent: u64,
    pub tags_sent: u64,
    pub artifacts_sent: u64,
    pub models_created: u64,
    pub versions_created: u64,
    pub versions_unchanged: u64,
    pub aliases_set: u64,
    pub requests: u64,
    pub bytes_sent: u64,
    pub seconds: f64,
}

impl PushReport {
    /// Points sent per second.
    pub fn rate(&self) -> f64 {
        self.points_sent as f64 / self.seconds.max(1e-9)
    }

    /// What happened, in a few lines.
    pub fn summary(&self) -> String {
        let verb = if self.dry_run {
            "would create"
        } else {
            "created"
        };
        let experiment = match (&self.experiment_id, self.experiment_created) {
            (Some(id), false) => format!("experiment {:?} (id {id})", self.experiment),
            (Some(id), true) => format!("experiment {:?} (id {id}, created)", self.experiment),
            (None, _) => format!("experiment {:?} (new)", self.experiment),
        };
        let mut lines = vec![format!(
            "{} {}: {experiment}",
            if self.dry_run {
                "dry run for"
            } else {
                "pushed to"
            },
            self.url
        )];
        lines.push(format!(
            "runs: {verb} {}, {} {}, {} already there",
            self.runs_created,
            if self.dry_run {
                "would complete"
            } else {
                "completed"
            },
            self.runs_completed,
            self.runs_unchanged
        ));
        lines.push(format!(
            "{}: {} metric points, {} params, {} tags, {} files",
            if self.dry_run { "to send" } else { "sent" },
            self.points_sent,
            self.params_sent,
            self.tags_sent,
            self.artifacts_sent
        ));
        if self.versions_created + self.versions_unchanged + self.aliases_set > 0 {
            lines.push(format!(
                "models: {verb} {} models and {} versions ({} already there), {} {} aliases",
                self.models_created,
                self.versions_created,
                self.versions_unchanged,
                if self.dry_run { "would set" } else { "set" },
                self.aliases_set
            ));
        }
        if !self.dry_run {
            lines.push(format!(
                "{} requests, {} bytes in {:.2} s ({:.0} points/s)",
                self.requests,
                self.bytes_sent,
                self.seconds,
                self.rate()
            ));
        }
        if self.cancelled {
            lines.push("cancelled: push again to complete what is missing".into());
        }
        lines.join("\n")
    }
}

/// One run of the plan: a trial, or a study's parent.
struct Planned {
    key: String,
    name: String,
    status: &'static str,
    start_time: i64,
    end_time: Option<i64>,
    params: Vec<(String, String)>,
    tags: Vec<(String, String)>,
    /// The Kiln run, or none for a study's parent.
    run: Option<RunId>,
    study: Option<StudyId>,
    /// Files beside the run: its card, a study's space.
    files: Vec<(String, Vec<u8>)>,
    points: u64,
    /// What is sent, in brief: when it changes (a study resumed, a tag set), the run is sent
    /// again, and only what the server lacks goes.
    fingerprint: String,
}

impl Planned {
    fn with_fingerprint(mut self) -> Planned {
        let mut text = format!("{}|{:?}|{}", self.status, self.end_time, self.points);
        for (k, v) in self.params.iter().chain(&self.tags) {
            text.push_str(&format!("|{k}={v}"));
        }
        for (name, bytes) in &self.files {
            text.push_str(&format!("|{name}:{}", crate::BlobHash::of(bytes)));
        }
        self.fingerprint = crate::BlobHash::of(text.as_bytes()).as_str()[..16].to_owned();
        self
    }
}

/// The pushing of one project to one server.
struct Pusher<'a> {
    client: Client,
    options: &'a TrainOptions,
    /// Where runs' links live: the server and the experiment.
    run_scope: String,
    started: Instant,
    progress: SyncProgress,
    report: PushReport,
    /// Keys of the runs this push created (a parent is created first and completed last).
    created: HashSet<String>,
}

impl Project {
    /// Pushes runs (and, with `models`, registered versions) to an MLflow server, creating only
    /// what is not there yet. Cancelling stops between requests; the next push completes it.
    pub fn push_to_mlflow(
        &mut self,
        request: &PushRequest,
        options: &TrainOptions,
    ) -> Result<PushReport> {
        let started = Instant::now();
        let mut client = Client::connect(&request.url)?;
        let url = client.url().to_owned();
        let server_version = client.version().map(str::to_owned);
        if request.models
            && let Some(v) = &server_version
            && !at_least(v, 2, 3)
        {
            return Err(SyncError::TooOld {
                url,
                found: v.clone(),
            }
            .into());
        }
        let experiment = match &request.experiment {
            Some(name) if !name.trim().is_empty() => name.trim().to_owned(),
            _ => self.name()?,
        };
        let identity = if request.dry_run {
            self.read(|c| meta(c, "project_id"))?
                .unwrap_or_else(|| "unsaved".into())
        } else {
            self.identity()?
        };

        // Everything is read and checked before the first write, here or there.
        let all_runs = self.read(stored::own_runs)?;
        let selected = select(&all_runs, &request.runs, self)?;
        let mut all_versions = Vec::new();
        for model in self.registered_models()? {
            all_versions.extend(self.model_versions(&model)?);
        }
        let chosen: HashSet<RunId> = selected.iter().map(|r| r.id).collect();
        let versions: Vec<ModelVersion> = all_versions
            .iter()
            .filter(|v| request.models && chosen.contains(&v.run))
            .cloned()
            .collect();
        let plan = self.plan(&identity, &selected, &all_runs, &all_versions)?;
        let mut too_long = Vec::new();
        for p in &plan {
            let keys = match p.run {
                Some(run) => self.metric_keys(run)?,
                None => Vec::new(),
            };
            too_long.extend(check_limits(
                &p.name,
                p.params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                p.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                keys.iter().map(String::as_str),
                &Limits::MLFLOW,
            ));
        }
        if !too_long.is_empty() {
            return Err(SyncError::TooLong(too_long).into());
        }

        let found = experiment_by_name(&mut client, &experiment)?;
        let (experiment_id, experiment_created) = match found {
            Some((_, stage)) if stage == "deleted" => {
                return Err(SyncError::ExperimentDeleted {
                    url,
                    name: experiment,
                }
                .into());
            }
            Some((id, _)) => (Some(id), false),
            None if request.dry_run => (None, true),
            None => {
                let answer = client.post("experiments/create", &json!({ "name": experiment }))?;
                (Some(str_field(&answer, "experiment_id")?), true)
            }
        };
        let run_scope = format!("{url}#{}", experiment_id.as_deref().unwrap_or("new"));
        let mut links = self.read(|c| stored::links(c, &run_scope, "run"))?;
        if experiment_created {
            // A new experiment holds nothing, whatever the records say: the server was reset,
            // or is another one at the same address that numbers experiments alike.
            links.clear();
            if !request.dry_run {
                self.write(|c| stored::drop_links(c, &run_scope, "run"))?;
            }
        }
        // Runs this project created there but never recorded (a kill between the two, or a
        // project restored from a copy): found again by their tag.
        let unknown = plan.iter().any(|p| !links.contains_key(&p.key));
        if unknown
            && !experiment_created
            && let Some(id) = &experiment_id
        {
            let wanted: HashSet<&str> = plan.iter().map(|p| p.key.as_str()).collect();
            for (key, link) in tagged_runs(&mut client, id)? {
                if wanted.contains(key.as_str()) && !links.contains_key(&key) {
                    if !request.dry_run {
                        self.write(|c| stored::set_link(c, &run_scope, "run", &key, &link))?;
                    }
                    links.insert(key, link);
                }
            }
        }

        let mut report = PushReport {
            url: url.clone(),
            experiment: experiment.clone(),
            experiment_id: experiment_id.clone(),
            experiment_created,
            server_version,
            dry_run: request.dry_run,
            ..PushReport::default()
        };
        let todo: Vec<&Planned> = plan
            .iter()
            .filter(|p| {
                !links
                    .get(&p.key)
                    .is_some_and(|l| l.up_to_date(&p.fingerprint))
            })
            .collect();
        report.runs_unchanged = (plan.len() - todo.len()) as u64;
        let version_scope = url.clone();
        let mut version_links = self.read(|c| stored::links(c, &version_scope, "version"))?;
        // A version recorded as pushed must still be there (a reset server forgets it).
        for v in &versions {
            let key = version_key(&identity, v);
            if let Some(link) = version_links.get(&key) {
                let found = client.get(
                    "model-versions/get",
                    &[
                        ("name", v.model.as_str()),
                        ("version", link.mlflow_id.as_str()),
                    ],
                );
                match found {
                    Ok(_) => {}
                    Err(SyncError::Server { code, .. }) if code == "RESOURCE_DOES_NOT_EXIST" => {
                        version_links.remove(&key);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if request.dry_run {
            for p in &todo {
                match links.get(&p.key) {
                    Some(_) => report.runs_completed += 1,
                    None => report.runs_created += 1,
                }
                report.points_sent += p.points;
                report.params_sent += p.params.len() as u64;
                // Trials also carry their parent's id.
                report.tags_sent +=
                    p.tags.len() as u64 + u64::from(p.run.is_some() && p.study.is_some());
                report.artifacts_sent += p.files.len() as u64;
            }
            for v in &versions {
                let key = version_key(&identity, v);
                if version_links.get(&key).is_some_and(|l| l.complete) {
                    report.versions_unchanged += 1;
                } else {
                    report.versions_created += 1;
                    report.artifacts_sent += 4;
                }
                report.aliases_set += v.aliases.len() as u64;
            }
            report.seconds = started.elapsed().as_secs_f64();
            report.requests = client.requests;
            return Ok(report);
        }
        let experiment_id = experiment_id.unwrap_or_default();
        let mut pusher = Pusher {
            client,
            options,
            run_scope,
            started,
            progress: SyncProgress {
                direction: "push".into(),
                runs_done: 0,
                runs_total: todo.len() as u64,
                points_done: 0,
                points_total: todo.iter().map(|p| p.points).sum(),
                elapsed_ms: 0,
            },
            report,
            created: HashSet::new(),
        };
        pusher.emit();
        // Parents first (so that children can name them), finished after their children.
        let mut parent_ids: HashMap<StudyId, String> = HashMap::new();
        for p in plan.iter().filter(|p| p.run.is_none()) {
            if let Some(study) = p.study {
                let id = match links.get(&p.key) {
                    Some(link) => link.mlflow_id.clone(),
                    None => {
                        let id = pusher.create_run(self, &experiment_id, p, None)?;
                        links.insert(
                            p.key.clone(),
                            Link {
                                mlflow_id: id.clone(),
                                complete: false,
                                pushed: String::new(),
                            },
                        );
                        id
                    }
                };
                parent_ids.insert(study, id);
            }
        }
        for p in plan.iter().filter(|p| p.run.is_some()) {
            if pusher.options.cancelled() {
                pusher.report.cancelled = true;
                break;
            }
            if links
                .get(&p.key)
                .is_some_and(|l| l.up_to_date(&p.fingerprint))
            {
                continue;
            }
            let parent = p.study.and_then(|s| parent_ids.get(&s)).cloned();
            let existing = links.get(&p.key).map(|l| l.mlflow_id.clone());
            pusher.push_run(self, &experiment_id, p, existing, parent.as_deref())?;
        }
        if !pusher.report.cancelled {
            for p in plan.iter().filter(|p| p.run.is_none()) {
                if links
                    .get(&p.key)
                    .is_some_and(|l| l.up_to_date(&p.fingerprint))
                {
                    continue;
                }
                let existing = links.get(&p.key).map(|l| l.mlflow_id.clone());
                pusher.push_run(self, &experiment_id, p, existing, None)?;
            }
        }
        if !pusher.report.cancelled && !versions.is_empty() {
            let links = self.read(|c| stored::links(c, &pusher.run_scope, "run"))?;
            let run_ids: HashMap<RunId, String> = plan
                .iter()
                .filter_map(|p| Some((p.run?, links.get(&p.key)?.mlflow_id.clone())))
                .collect();
            pusher.push_versions(self, &identity, &versions, &run_ids, version_links)?;
        }
        self.write(|c| {
            set_meta(c, "mlflow.url", &url)?;
            set_meta(c, "mlflow.experiment", &experiment)
        })?;
        let mut report = pusher.report;
        report.requests = pusher.client.requests;
        report.bytes_sent = pusher.client.bytes_sent;
        report.seconds = pusher.started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// The server and experiment this project last synced with.
    pub fn mlflow_remembered(&self) -> Result<(Option<String>, Option<String>)> {
        self.read(|c| Ok((meta(c, "mlflow.url")?, meta(c, "mlflow.experiment")?)))
    }

    /// Each selected run as it will be sent, and one parent per study among them.
    /// A study's parent takes the study's status only when all of its trials go along; with
    /// some left behind (`--runs 5`) it stays `RUNNING`, as it is not all there.
    fn plan(
        &self,
        identity: &str,
        runs: &[&RunRecord],
        all_runs: &[RunRecord],
        versions: &[ModelVersion],
    ) -> Result<Vec<Planned>> {
        let chosen: HashSet<RunId> = runs.iter().map(|r| r.id).collect();
        let whole = |study: StudyId| {
            all_runs
                .iter()
                .filter(|r| r.study == Some(study))
                .all(|r| chosen.contains(&r.id))
        };
        let mut studies: BTreeMap<StudyId, Option<StudyRecord>> = BTreeMap::new();
        for r in runs {
            if let Some(s) = r.study
                && !studies.contains_key(&s)
            {
                studies.insert(s, self.read(|c| stored::study(c, s))?);
            }
        }
        let rows: HashMap<RunId, crate::tracking::RunRow> = self
            .run_rows()?
            .into_iter()
            .map(|row| (row.run.id, row))
            .collect();
        let mut registered: HashMap<RunId, &ModelVersion> = HashMap::new();
        for v in versions {
            registered.entry(v.run).or_insert(v);
        }
        let mut plan = Vec::new();
        for study in studies.values().flatten() {
            let mut tags = vec![
                (KEY_TAG.to_owned(), study_key(identity, study.id)),
                ("mlflow.runName".to_owned(), study.name.clone()),
                ("mlflow.source.name".to_owned(), "kiln".to_owned()),
                ("kiln.study_id".to_owned(), study.id.to_string()),
            ];
            if study.space_json.chars().count() <= Limits::MLFLOW.tag_value_length {
                tags.push(("kiln.space".to_owned(), study.space_json.clone()));
            }
            plan.push(
                Planned {
                    key: study_key(identity, study.id),
                    name: study.name.clone(),
                    status: if whole(study.id) {
                        mlflow_status(&study.status)
                    } else {
                        "RUNNING"
                    },
                    start_time: study.created_at,
                    end_time: study.finished_at.filter(|_| whole(study.id)),
                    params: vec![
                        ("strategy".to_owned(), study.strategy.clone()),
                        ("objective".to_owned(), study.objective.clone()),
                        ("direction".to_owned(), study.direction.clone()),
                    ],
                    tags,
                    run: None,
                    study: Some(study.id),
                    files: vec![(
                        "space.json".to_owned(),
                        study.space_json.clone().into_bytes(),
                    )],
                    points: 0,
                    fingerprint: String::new(),
                }
                .with_fingerprint(),
            );
        }
        for r in runs {
            let mut tags = vec![
                (KEY_TAG.to_owned(), r.uuid.clone()),
                ("mlflow.runName".to_owned(), r.name.clone()),
                ("mlflow.source.name".to_owned(), "kiln".to_owned()),
                ("kiln.run_id".to_owned(), r.id.to_string()),
                ("kiln.version".to_owned(), r.kiln_version.clone()),
            ];
            let optional = [
                ("kiln.device", r.device.clone()),
                ("kiln.dataset", r.dataset.clone()),
                ("kiln.dataset_hash", r.dataset_hash.clone()),
                ("kiln.seed", r.seed.map(|s| s.to_string())),
                ("kiln.trial", r.trial_index.map(|t| t.to_string())),
                ("kiln.failure_reason", r.failure_reason.clone()),
            ];
            for (k, v) in optional {
                if let Some(v) = v {
                    tags.push((k.to_owned(), v));
                }
            }
            for (k, v) in self.tags(r.id)? {
                if !tags.iter().any(|(t, _)| *t == k) {
                    tags.push((k, v));
                }
            }
            let params = self.params(r.id)?;
            let card = match registered.get(&r.id) {
                Some(version) => self.model_card(version)?,
                None => run_card(r, &params, rows.get(&r.id)),
            };
            plan.push(
                Planned {
                    key: r.uuid.clone(),
                    name: r.name.clone(),
                    status: mlflow_status(&r.status),
                    start_time: r.start_time,
                    end_time: r.end_time,
                    params,
                    tags,
                    run: Some(r.id),
                    study: r.study,
                    files: vec![("model_card.md".to_owned(), card.into_bytes())],
                    points: r.points,
                    fingerprint: String::new(),
                }
                .with_fingerprint(),
            );
        }
        Ok(plan)
    }
}

/// The card pushed beside a run that is not registered: a summary of it.
fn run_card(
    run: &RunRecord,
    params: &[(String, String)],
    row: Option<&crate::tracking::RunRow>,
) -> String {
    let mut card = format!(
        "# Run {} ({})\n\nTrained by Kiln {} on {}; status {}.\n\n",
        run.name,
        run.uuid,
        run.kiln_version,
        run.device.as_deref().unwrap_or("an unrecorded device"),
        run.status
    );
    if let Some(dataset) = &run.dataset {
        card.push_str(&format!(
            "Dataset {dataset} (sha256 {}).\n\n",
            run.dataset_hash.as_deref().unwrap_or("?")
        ));
    }
    card.push_str("## Params\n\n| param | value |\n|---|---|\n");
    for (k, v) in params {
        card.push_str(&format!("| {k} | {v} |\n"));
    }
    card.push_str("\n## Metrics (best)\n\n| metric | value |\n|---|---|\n");
    for m in row.map(|r| r.metrics.as_slice()).unwrap_or_default() {
        card.push_str(&format!("| {} | {:.4} |\n", m.key, m.best()));
    }
    card.push_str("\nNot registered: no model card yet.\n");
    card
}

/// The runs `selection` names, or why it names something else.
fn select<'r>(
    runs: &'r [RunRecord],
    selection: &RunSelection,
    project: &Project,
) -> Result<Vec<&'r RunRecord>> {
    Ok(match selection {
        RunSelection::All => runs.iter().collect(),
        RunSelection::Study(study) => {
            let chosen: Vec<&RunRecord> = runs
                .iter()
                .filter(|r| r.study == Some(StudyId(*study)))
                .collect();
            if chosen.is_empty() {
                return Err(SyncError::Selection(format!(
                    "study {study} has no runs in {}; `kiln runs` lists them",
                    project.path().display()
                ))
                .into());
            }
            chosen
        }
        RunSelection::Ids(ids) => {
            let by_id: HashMap<i64, &RunRecord> = runs.iter().map(|r| (r.id.0, r)).collect();
            let missing: Vec<String> = ids
                .iter()
                .filter(|id| !by_id.contains_key(id))
                .map(i64::to_string)
                .collect();
            if !missing.is_empty() {
                return Err(SyncError::Selection(format!(
                    "no run {} of this project's own (pulled runs stay behind); `kiln runs` lists them",
                    missing.join(", ")
                ))
                .into());
            }
            ids.iter().filter_map(|id| by_id.get(id).copied()).collect()
        }
    })
}

fn study_key(identity: &str, study: StudyId) -> String {
    format!("{identity}/study/{study}")
}

fn version_key(identity: &str, v: &ModelVersion) -> String {
    format!("{identity}/model/{}/{}", v.model, v.version)
}

/// Whether `version` ("3.1.0", "2.3.2.dev0") is at least `major.minor`.
pub(crate) fn at_least(version: &str, major: u32, minor: u32) -> bool {
    let mut parts = version.split(['.', '-', '+']).map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
    });
    let a: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let b: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (a, b) >= (major, minor)
}

pub(crate) fn str_field(v: &Value, key: &str) -> Result<String, SyncError> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| SyncError::Internal(format!("the server's answer lacks {key:?}: {v}")))
}

/// The experiment called `name`: its id and lifecycle stage, or none.
pub(crate) fn experiment_by_name(
    client: &mut Client,
    name: &str,
) -> Result<Option<(String, String)>, SyncError> {
    match client.get("experiments/get-by-name", &[("experiment_name", name)]) {
        Ok(answer) => {
            let e = answer.get("experiment").cloned().unwrap_or_default();
            Ok(Some((
                str_field(&e, "experiment_id")?,
                e.get("lifecycle_stage")
                    .and_then(Value::as_str)
                    .unwrap_or("active")
                    .to_owned(),
            )))
        }
        Err(SyncError::Server { code, .. }) if code == "RESOURCE_DOES_NOT_EXIST" => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every run of experiment `id`, page by page, as MLflow's `runs/search` returns them.
pub(crate) fn search_runs(client: &mut Client, id: &str) -> Result<Vec<Value>, SyncError> {
    let mut runs = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body =
            json!({ "experiment_ids": [id], "max_results": 1000, "run_view_type": "ACTIVE_ONLY" });
        if let Some(t) = &token {
            body["page_token"] = json!(t);
        }
        let answer = client.post("runs/search", &body)?;
        if let Some(page) = answer.get("runs").and_then(Value::as_array) {
            runs.extend(page.iter().cloned());
        }
        token = next_page(&answer);
        if token.is_none() {
            return Ok(runs);
        }
    }
}

/// The token of the next page of a paged answer; `None` on the last page.
fn next_page(answer: &Value) -> Option<String> {
    answer
        .get("next_page_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// A run's tags as pairs.
pub(crate) fn tags_of(run: &Value) -> Vec<(String, String)> {
    pairs(run.pointer("/data/tags"))
}

pub(crate) fn pairs(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|t| {
                    Some((
                        t.get("key")?.as_str()?.to_owned(),
                        t.get("value")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The runs of experiment `id` that carry Kiln's key: key → link. A run no longer `RUNNING`
/// is complete, since a push sets the status last.
fn tagged_runs(client: &mut Client, id: &str) -> Result<Vec<(String, Link)>, SyncError> {
    Ok(search_runs(client, id)?
        .iter()
        .filter_map(|run| {
            let key = tags_of(run).into_iter().find(|(k, _)| k == KEY_TAG)?.1;
            let info = run.get("info")?;
            Some((
                key,
                Link {
                    mlflow_id: info.get("run_id")?.as_str()?.to_owned(),
                    complete: info.get("status").and_then(Value::as_str) != Some("RUNNING"),
                    pushed: String::new(),
                },
            ))
        })
        .collect())
}

/// Every point of `key` on `run_id` already on the server.
pub(crate) fn history(
    client: &mut Client,
    run_id: &str,
    key: &str,
) -> Result<Vec<MetricPoint>, SyncError> {
    let mut points = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut query = vec![
            ("run_id", run_id),
            ("metric_key", key),
            ("max_results", "25000"),
        ];
        if let Some(t) = &token {
            query.push(("page_token", t.as_str()));
        }
        let answer = client.get("metrics/get-history", &query)?;
        if let Some(page) = answer.get("metrics").and_then(Value::as_array) {
            points.extend(page.iter().map(|m| MetricPoint {
                key: key.to_owned(),
                step: m.get("step").and_then(as_i64).unwrap_or(0),
                value: m.get("value").map(value_of).unwrap_or(f64::NAN),
                timestamp: m.get("timestamp").and_then(as_i64).unwrap_or(0),
            }));
        }
        token = next_page(&answer);
        if token.is_none() {
            return Ok(points);
        }
    }
}

/// An int64 as protobuf's JSON writes it: a number or a string.
pub(crate) fn as_i64(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str()?.parse().ok())
}

/// The path under the artifact proxy of a run's `artifact_uri` (`mlflow-artifacts:/1/abc/artifacts`).
fn proxy_path(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("mlflow-artifacts:")?;
    let rest = match rest.strip_prefix("//") {
        Some(with_host) => with_host.split_once('/').map_or("", |(_, p)| p),
        None => rest,
    };
    Some(
        rest.trim_start_matches('/')
            .trim_end_matches('/')
            .to_owned(),
    )
}

/// A point's identity, NaN equal to NaN.
fn point_id(p: &MetricPoint) -> (String, i64, i64, u64) {
    let bits = if p.value.is_nan() {
        u64::MAX
    } else {
        p.value.to_bits()
    };
    (p.key.clone(), p.step, p.timestamp, bits)
}

impl Pusher<'_> {
    fn emit(&mut self) {
        self.progress.elapsed_ms = self.started.elapsed().as_millis() as u64;
        self.options.events.emit(Event::Sync(self.progress.clone()));
    }

    /// Creates `p` as a `RUNNING` run and records the link. Returns its id on the server.
    fn create_run(
        &mut self,
        project: &mut Project,
        experiment_id: &str,
        p: &Planned,
        parent: Option<&str>,
    ) -> Result<String> {
        let mut tags = vec![
            json!({"key": KEY_TAG, "value": p.key}),
            json!({"key": "mlflow.runName", "value": p.name}),
        ];
        if let Some(parent) = parent {
            tags.push(json!({"key": "mlflow.parentRunId", "value": parent}));
        }
        let answer = self.client.post(
            "runs/create",
            &json!({
                "experiment_id": experiment_id,
                "run_name": p.name,
                "start_time": p.start_time,
                "tags": tags,
            }),
        )?;
        let id = answer
            .pointer("/run/info/run_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| SyncError::Internal(format!("runs/create answered {answer}")))?;
        // Files go through the server's artifact proxy: find out now, before any point is
        // sent, if it has none.
        let uri = answer
            .pointer("/run/info/artifact_uri")
            .and_then(Value::as_str)
            .unwrap_or("");
        if proxy_path(uri).is_none() {
            return Err(no_proxy(self.client.url(), uri).into());
        }
        let link = Link {
            mlflow_id: id.clone(),
            complete: false,
            pushed: String::new(),
        };
        project.write(|c| stored::set_link(c, &self.run_scope, "run", &p.key, &link))?;
        self.report.runs_created += 1;
        self.created.insert(p.key.clone());
        Ok(id)
    }

    /// Sends everything of `p` the server lacks, then its status, then records it complete.
    fn push_run(
        &mut self,
        project: &mut Project,
        experiment_id: &str,
        p: &Planned,
        existing: Option<String>,
        parent: Option<&str>,
    ) -> Result<()> {
        // A run a killed push left behind: see what of it is there.
        let mut there: Option<Value> = None;
        if let Some(id) = &existing {
            match self.client.get("runs/get", &[("run_id", id)]) {
                // A run deleted there (and not yet purged) is as good as gone: push it anew.
                Ok(answer)
                    if answer
                        .pointer("/run/info/lifecycle_stage")
                        .and_then(Value::as_str)
                        == Some("deleted") => {}
                Ok(answer) => there = answer.get("run").cloned(),
                Err(SyncError::Server { code, .. }) if code == "RESOURCE_DOES_NOT_EXIST" => {}
                Err(e) => return Err(e.into()),
            }
        }
        let (run_id, run) = match (existing, there) {
            (Some(id), Some(run)) => {
                if !self.created.contains(&p.key) {
                    self.report.runs_completed += 1;
                }
                (id, run)
            }
            _ => {
                let id = self.create_run(project, experiment_id, p, parent)?;
                let answer = self.client.get("runs/get", &[("run_id", &id)])?;
                (id, answer.get("run").cloned().unwrap_or_default())
            }
        };
        let params_there: HashMap<String, String> =
            pairs(run.pointer("/data/params")).into_iter().collect();
        for (k, v) in &p.params {
            if params_there.get(k).is_some_and(|there| there != v) {
                return Err(SyncError::ParamChanged {
                    run: p.name.clone(),
                    key: k.clone(),
                    ours: v.clone(),
                }
                .into());
            }
        }
        let mut points = match p.run {
            Some(r) => project.read(|c| stored::all_points(c, r))?,
            None => Vec::new(),
        };
        let keys_there: HashSet<String> = run
            .pointer("/data/metrics")
            .and_then(Value::as_array)
            .map(|ms| {
                ms.iter()
                    .filter_map(|m| Some(m.get("key")?.as_str()?.to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        if !keys_there.is_empty() {
            let mut seen = HashSet::new();
            for key in &keys_there {
                for point in history(&mut self.client, &run_id, key)? {
                    seen.insert(point_id(&point));
                }
            }
            let before = points.len();
            points.retain(|point| !seen.contains(&point_id(point)));
            self.progress.points_done += (before - points.len()) as u64;
        }
        let mut batcher = MetricBatcher::new(&run_id, Limits::MLFLOW);
        for (k, v) in &p.params {
            if !params_there.contains_key(k) {
                batcher.param(k, v);
            }
        }
        for (k, v) in &p.tags {
            batcher.tag(k, v);
        }
        if let Some(parent) = parent {
            batcher.tag("mlflow.parentRunId", parent);
        }
        for body in batcher.bodies(&points) {
            if self.options.cancelled() {
                self.report.cancelled = true;
                return Ok(());
            }
            self.client.post_bytes("runs/log-batch", &body.json)?;
            self.report.points_sent += body.metrics as u64;
            self.report.params_sent += body.params as u64;
            self.report.tags_sent += body.tags as u64;
            self.progress.points_done += body.metrics as u64;
            self.emit();
        }
        let uri = run
            .pointer("/info/artifact_uri")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !p.files.is_empty() {
            let root = proxy_path(uri).ok_or_else(|| no_proxy(self.client.url(), uri))?;
            for (name, bytes) in &p.files {
                self.client.put_artifact(&format!("{root}/{name}"), bytes)?;
                self.report.artifacts_sent += 1;
            }
        }
        let mut update = json!({ "run_id": run_id, "status": p.status });
        if let Some(end) = p.end_time {
            update["end_time"] = json!(end);
        } else if p.status != "RUNNING" {
            update["end_time"] = json!(now_ms());
        }
        self.client.post("runs/update", &update)?;
        let link = Link {
            mlflow_id: run_id,
            complete: true,
            pushed: p.fingerprint.clone(),
        };
        project.write(|c| stored::set_link(c, &self.run_scope, "run", &p.key, &link))?;
        self.progress.runs_done += 1;
        self.emit();
        Ok(())
    }

    /// Registered versions: their files beside their run, the version, and its aliases.
    fn push_versions(
        &mut self,
        project: &mut Project,
        identity: &str,
        versions: &[ModelVersion],
        run_ids: &HashMap<RunId, String>,
        mut links: HashMap<String, Link>,
    ) -> Result<()> {
        let scope = self.client.url().to_owned();
        let mut models_seen = HashSet::new();
        for v in versions {
            let Some(run_id) = run_ids.get(&v.run) else {
                continue;
            };
            if models_seen.insert(v.model.clone()) {
                match self
                    .client
                    .post("registered-models/create", &json!({ "name": v.model }))
                {
                    Ok(_) => self.report.models_created += 1,
                    Err(SyncError::Server { code, .. }) if code == "RESOURCE_ALREADY_EXISTS" => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let key = version_key(identity, v);
            let number = match links.get(&key).filter(|l| l.complete) {
                Some(link) => {
                    self.report.versions_unchanged += 1;
                    link.mlflow_id.clone()
                }
                None => {
                    let number = self.push_version(project, v, &key, run_id)?;
                    let link = Link {
                        mlflow_id: number.clone(),
                        complete: true,
                        pushed: String::new(),
                    };
                    project.write(|c| stored::set_link(c, &scope, "version", &key, &link))?;
                    links.insert(key, link);
                    number
                }
            };
            for alias in &v.aliases {
                // The version as a string: an integer gets a 400.
                self.client.post(
                    "registered-models/alias",
                    &json!({ "name": v.model, "alias": alias, "version": number }),
                )?;
                self.report.aliases_set += 1;
            }
        }
        Ok(())
    }

    /// Uploads `v`'s files and creates the version (or finds the one a killed push created).
    fn push_version(
        &mut self,
        project: &Project,
        v: &ModelVersion,
        key: &str,
        run_id: &str,
    ) -> Result<String> {
        let run = self.client.get("runs/get", &[("run_id", run_id)])?;
        let uri = run
            .pointer("/run/info/artifact_uri")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let root = proxy_path(&uri).ok_or_else(|| no_proxy(self.client.url(), &uri))?;
        for (name, bytes) in project.model_files(&v.model, &VersionSelector::Number(v.version))? {
            self.client
                .put_artifact(&format!("{root}/model/{name}"), &bytes)?;
            self.report.artifacts_sent += 1;
        }
        let filter = format!("name='{}'", v.model.replace('\'', "''"));
        let found = self.client.get(
            "model-versions/search",
            &[("filter", filter.as_str()), ("max_results", "10000")],
        )?;
        let existing = found
            .get("model_versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|mv| {
                pairs(mv.get("tags"))
                    .iter()
                    .any(|(k, value)| k == KEY_TAG && value == key)
            })
            .and_then(|mv| mv.get("version").and_then(as_i64));
        if let Some(number) = existing {
            // Created by a push killed before it recorded it.
            self.report.versions_unchanged += 1;
            return Ok(number.to_string());
        }
        let answer = self.client.post(
            "model-versions/create",
            &json!({
                "name": v.model,
                "source": format!("{uri}/model"),
                "run_id": run_id,
                "description": format!("Kiln {} version {}", v.model, v.version),
                "tags": [
                    {"key": KEY_TAG, "value": key},
                    {"key": "kiln.version", "value": v.version.to_string()},
                    {"key": "kiln.weights", "value": v.weights.to_string()},
                ],
            }),
        )?;
        self.report.versions_created += 1;
        answer
            .pointer("/model_version/version")
            .and_then(as_i64)
            .map(|n| n.to_string())
            .ok_or_else(|| {
                SyncError::Internal(format!("model-versions/create answered {answer}")).into()
            })
    }
}

fn no_proxy(url: &str, uri: &str) -> SyncError {
    SyncError::Internal(format!(
        "the server at {url} keeps artifacts at {uri:?}, which Kiln cannot reach through it: start it with artifact serving (`mlflow server --artifacts-destination DIR`, the default since MLflow 2) and push again"
    ))
}
