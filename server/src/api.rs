//! The routes: the JSON API, the live events and the dashboard.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use kiln_core::registry::{VersionSelector, validate_name};
use kiln_core::service::Operation;
use kiln_core::tracking::RunId;
use kiln_core::train::{DevicePreference, ModelFamily, SearchSpace, Strategy, StudyRequest};
use serde::{Deserialize, Serialize};

use crate::auth::Grant;
use crate::state::{ProjectState, Server};

/// The largest request body: a study's search space fits many times over.
pub(crate) const MAX_BODY: usize = 64 * 1024;
/// The most runs one chart may ask for, and the widest chart.
const MAX_CHART_RUNS: usize = 2_000;
const MAX_CHART_WIDTH: usize = 8_192;

/// An error as clients get it: a status and `{"error": "..."}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn unauthorized(message: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<kiln_core::Error> for ApiError {
    fn from(e: kiln_core::Error) -> ApiError {
        let status = match &e {
            kiln_core::Error::Store(kiln_core::StoreError::Missing { .. }) => StatusCode::NOT_FOUND,
            kiln_core::Error::Registry(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"kiln\""),
            );
        }
        response
    }
}

type Reply<T> = Result<Json<T>, ApiError>;

pub(crate) fn router(server: Arc<Server>) -> Router {
    let api = Router::new()
        .route("/", get(about))
        .route("/projects", get(projects))
        .route("/projects/{project}", get(project))
        .route("/projects/{project}/datasets", get(datasets))
        .route(
            "/projects/{project}/studies",
            get(studies).post(start_study),
        )
        .route("/projects/{project}/runs", get(runs))
        .route("/projects/{project}/runs/{run}", get(run))
        .route("/projects/{project}/chart", get(chart))
        .route("/projects/{project}/models", get(models))
        .route("/projects/{project}/models/{model}", get(model))
        .route(
            "/projects/{project}/models/{model}/versions",
            post(register),
        )
        .route(
            "/projects/{project}/models/{model}/versions/{version}",
            get(version),
        )
        .route(
            "/projects/{project}/models/{model}/aliases/{alias}",
            put(set_alias),
        )
        .route("/projects/{project}/models/{model}/exports", post(export))
        .route("/projects/{project}/events", get(events))
        .route("/projects/{project}/jobs", get(jobs))
        .route("/projects/{project}/jobs/{ticket}/cancel", post(cancel))
        .fallback(|| async { ApiError::not_found("no such API route; see GET /api/") });
    Router::new()
        .route("/api/", get(about))
        .nest("/api", api)
        .merge(crate::dashboard::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            server.clone(),
            authorize,
        ))
        .layer(axum::middleware::from_fn_with_state(
            server.clone(),
            crate::auth::guard,
        ))
        .with_state(server)
}

/// Every API request needs its grant: reading for GET, writing for POST and PUT. Checked
/// before any body is read.
async fn authorize(
    State(server): State<Arc<Server>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let grant = match *request.method() {
        Method::GET | Method::HEAD => Some(Grant::Read),
        Method::POST | Method::PUT => Some(Grant::Write),
        // No route takes any other method: the router answers 405.
        _ => None,
    };
    if request.uri().path().starts_with("/api")
        && let Some(grant) = grant
        && let Err(e) = server.authorize(request.headers(), grant)
    {
        return e.into_response();
    }
    next.run(request).await
}

/// Runs `f` off the async threads (it reads the project file) and answers with its JSON.
async fn blocking<T: Serialize + Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Reply<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map(Json),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the request stopped on an internal error: {e}"),
        )),
    }
}

/// Runs `f` off the async threads and answers with the JSON bytes it wrote: for answers large
/// enough that building a `serde_json::Value` first would double the work.
async fn blocking_bytes(
    f: impl FnOnce() -> Result<Vec<u8>, ApiError> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(body)) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the request stopped on an internal error: {e}"),
        )
        .into_response(),
    }
}

fn find(server: &Server, id: &str) -> Result<Arc<ProjectState>, ApiError> {
    server.project(id).cloned().ok_or_else(|| {
        let served: Vec<&str> = server.projects.iter().map(|p| p.id.as_str()).collect();
        ApiError::not_found(format!(
            "no project {id:?} here; this server serves {}",
            served.join(", ")
        ))
    })
}

fn run_id(text: &str) -> Result<RunId, ApiError> {
    match text.parse::<i64>() {
        Ok(n) if n > 0 => Ok(RunId(n)),
        _ => Err(ApiError::bad(format!(
            "run {text:?} is not a run number; runs are numbered 1, 2, 3, ..."
        ))),
    }
}

fn name(text: &str, what: &str) -> Result<(), ApiError> {
    validate_name(text, what).map_err(|e| ApiError::bad(e.to_string()))
}

fn version_number(text: &str) -> Result<u32, ApiError> {
    match text.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ApiError::bad(format!(
            "version {text:?} is not a version number; versions are numbered 1, 2, 3, ..."
        ))),
    }
}

/// A metric key: printable, without `..`, at most 250 bytes (MLflow's limit).
fn metric_key(text: &str) -> Result<(), ApiError> {
    let ok = !text.is_empty()
        && text.len() <= 250
        && !text.contains("..")
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ' ' | ':'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(format!(
            "metric key {text:?} is not allowed: use letters, digits, '_', '-', '.', '/', ':' or spaces, up to 250 bytes"
        )))
    }
}

#[derive(Serialize)]
struct ProjectItem {
    id: String,
    name: String,
    /// The file's name (not its folder).
    file: String,
    runs: usize,
    studies: usize,
    models: usize,
    datasets: usize,
}

fn item(p: &ProjectState) -> ProjectItem {
    let (_, snapshot) = p.snapshot();
    ProjectItem {
        id: p.id.clone(),
        name: p.name.clone(),
        file: p
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        runs: snapshot.runs.len(),
        studies: snapshot.studies.len(),
        models: snapshot.models.len(),
        datasets: snapshot.datasets.len(),
    }
}

async fn about(State(server): State<Arc<Server>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "kiln": kiln_core::KILN_VERSION,
        "writes": server.allow_writes,
        "reads_need_token": server.reads_need_token,
        "projects": server.projects.iter().map(|p| item(p)).collect::<Vec<_>>(),
    }))
}

async fn projects(State(server): State<Arc<Server>>) -> Json<Vec<ProjectItem>> {
    Json(server.projects.iter().map(|p| item(p)).collect())
}

async fn project(
    State(server): State<Arc<Server>>,
    Path(id): Path<String>,
) -> Reply<serde_json::Value> {
    let p = find(&server, &id)?;
    let (generation, snapshot) = p.snapshot();
    Ok(Json(serde_json::json!({
        "project": item(&p),
        "changed": crate::live::Changed::of(generation, &snapshot),
        "writes": server.allow_writes,
        "jobs": p.jobs.as_ref().map(|j| j.view()),
    })))
}

async fn datasets(
    State(server): State<Arc<Server>>,
    Path(id): Path<String>,
) -> Reply<serde_json::Value> {
    let p = find(&server, &id)?;
    let (_, snapshot) = p.snapshot();
    Ok(Json(
        serde_json::to_value(&snapshot.datasets).unwrap_or_default(),
    ))
}

async fn studies(
    State(server): State<Arc<Server>>,
    Path(id): Path<String>,
) -> Reply<serde_json::Value> {
    let p = find(&server, &id)?;
    let (_, snapshot) = p.snapshot();
    Ok(Json(
        serde_json::to_value(&snapshot.studies).unwrap_or_default(),
    ))
}

/// The runs with their params and metric extremes: the runs table.
async fn runs(State(server): State<Arc<Server>>, Path(id): Path<String>) -> Response {
    let p = match find(&server, &id) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let (generation, snapshot) = p.snapshot();
    // Thousands of runs: serialised off the async threads.
    blocking_bytes(move || {
        serde_json::to_vec(&serde_json::json!({
            "generation": generation,
            "runs": snapshot.runs,
        }))
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the runs could not be listed: {e}"),
            )
        })
    })
    .await
}

async fn run(
    State(server): State<Arc<Server>>,
    Path((id, run)): Path<(String, String)>,
) -> Reply<serde_json::Value> {
    let p = find(&server, &id)?;
    let run = run_id(&run)?;
    blocking(move || {
        let (_, snapshot) = p.snapshot();
        let row = snapshot.runs.iter().find(|r| r.run.id == run).cloned();
        let keys = p.read(|project| project.metric_keys(run))?;
        let Some(row) = row else {
            return Err(ApiError::not_found(format!("no run {run} in this project")));
        };
        Ok(serde_json::json!({ "run": row, "metric_keys": keys }))
    })
    .await
}

#[derive(Deserialize)]
struct ChartQuery {
    key: String,
    /// Run numbers separated by commas.
    runs: String,
    width: Option<usize>,
    from: Option<f64>,
    to: Option<f64>,
}

/// One metric of many runs, decimated to at most two points per pixel column.
async fn chart(
    State(server): State<Arc<Server>>,
    Path(id): Path<String>,
    Query(query): Query<ChartQuery>,
) -> Response {
    match find(&server, &id) {
        Ok(p) => blocking_bytes(move || chart_json(&p, &query)).await,
        Err(e) => e.into_response(),
    }
}

/// A chart request answered as JSON bytes (what the benchmark times, too).
fn chart_json(p: &ProjectState, query: &ChartQuery) -> Result<Vec<u8>, ApiError> {
    metric_key(&query.key)?;
    let runs = query
        .runs
        .split(',')
        .filter(|s| !s.is_empty())
        .map(run_id)
        .collect::<Result<Vec<_>, _>>()?;
    if runs.is_empty() || runs.len() > MAX_CHART_RUNS {
        return Err(ApiError::bad(format!(
            "ask for 1 to {MAX_CHART_RUNS} runs, separated by commas"
        )));
    }
    let width = query.width.unwrap_or(800);
    if !(1..=MAX_CHART_WIDTH).contains(&width) {
        return Err(ApiError::bad(format!(
            "width must be 1 to {MAX_CHART_WIDTH} pixel columns"
        )));
    }
    let view = match (query.from, query.to) {
        (Some(a), Some(b)) if a.is_finite() && b.is_finite() && a < b => Some((a, b)),
        (None, None) => None,
        _ => return Err(ApiError::bad("from and to go together, with from < to")),
    };
    // Only runs the project has: the chart cache never holds a series for a run that is not.
    let (_, snapshot) = p.snapshot();
    if let Some(run) = runs
        .iter()
        .find(|run| !snapshot.columns.positions.contains_key(run))
    {
        return Err(ApiError::not_found(format!("no run {run} in this project")));
    }
    let read = |f: &mut dyn FnMut(&kiln_core::Project) -> kiln_core::Result<()>| {
        p.read(|project| f(project))
    };
    let chart = p.charts.chart(&read, &query.key, &runs, width, view)?;
    serde_json::to_vec(&chart).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the chart could not be written: {e}"),
        )
    })
}

async fn models(
    State(server): State<Arc<Server>>,
    Path(id): Path<String>,
) -> Reply<serde_json::Value> {
    let p = find(&server, &id)?;
    let (_, snapshot) = p.snapshot();
    let models: Vec<_> = snapshot
        .models
        .iter()
        .map(|(name, versions)| serde_json::json!({ "name": name, "versions": versions }))
        .collect();
    Ok(Json(serde_json::Value::Array(models)))
}

/// Looks the model up in the newest snapshot: a name that is not there is a 404 without a read.
fn known_model(p: &ProjectState, model: &str) -> Result<(), ApiError> {
    name(model, "model")?;
    let (_, snapshot) = p.snapshot();
    if snapshot.models.iter().any(|(n, _)| n == model) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "no model {model:?} is registered in this project"
        )))
    }
}

async fn model(
    State(server): State<Arc<Server>>,
    Path((id, model)): Path<(String, String)>,
) -> Reply<serde_json::Value> {
    let p = find(&server, &id)?;
    known_model(&p, &model)?;
    blocking(move || {
        let (versions, exports, replays) = p.read(|project| {
            project.consistently(|project| {
                Ok((
                    project.model_versions(&model)?,
                    project.exports(&model)?,
                    project.replays(&model)?,
                ))
            })
        })?;
        Ok(serde_json::json!({
            "name": model,
            "versions": versions,
            "exports": exports,
            "replays": replays,
        }))
    })
    .await
}

async fn version(
    State(server): State<Arc<Server>>,
    Path((id, model, version)): Path<(String, String, String)>,
) -> Reply<serde_json::Value> {
    let p = find(&server, &id)?;
    known_model(&p, &model)?;
    let number = version_number(&version)?;
    blocking(move || {
        let selector = VersionSelector::Number(number);
        let answer = p.read(|project| {
            project.consistently(|project| {
                let version = project.model_version(&model, &selector)?;
                let card = project.model_card(&version)?;
                let mut evaluations = serde_json::Map::new();
                for kind in ["metrics", "fairness", "behaviour"] {
                    let reports = project.evaluations(version.run, kind)?;
                    evaluations.insert(
                        kind.into(),
                        serde_json::Value::Array(
                            reports
                                .into_iter()
                                .map(|(subject, report)| {
                                    serde_json::json!({ "subject": subject, "report": report })
                                })
                                .collect(),
                        ),
                    );
                }
                let monitoring = project.monitoring(&model, &selector)?;
                Ok(serde_json::json!({
                    "version": version,
                    "card": card,
                    "evaluations": evaluations,
                    "monitoring": monitoring,
                }))
            })
        })?;
        Ok(answer)
    })
    .await
}

async fn events(State(server): State<Arc<Server>>, Path(id): Path<String>) -> Response {
    match find(&server, &id) {
        Ok(p) => crate::live::stream(&p).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn jobs(
    State(server): State<Arc<Server>>,
    Path(id): Path<String>,
) -> Reply<serde_json::Value> {
    let p = find(&server, &id)?;
    Ok(Json(
        serde_json::to_value(p.jobs.as_ref().map(|j| j.view())).unwrap_or_default(),
    ))
}

/// The jobs of a project that takes writes (the authorisation layer has refused a read-only
/// server's writes already).
fn writer(p: &ProjectState) -> Result<&crate::jobs::Jobs, ApiError> {
    p.jobs.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "this server is read-only; restart it with `kiln serve --allow-writes`",
        )
    })
}

fn queue(p: &ProjectState, operation: Operation) -> Result<Response, ApiError> {
    let job = writer(p)?
        .submit(operation)
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e))?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StudyBody {
    dataset: String,
    /// `mlp` (the default) or another family `kiln train --model` takes.
    model: Option<String>,
    /// The search space as TOML, as `kiln train --space` reads it.
    space: Option<String>,
    strategy: Option<String>,
    parallel: Option<usize>,
    /// `auto` (the default), `gpu` or `cpu`.
    device: Option<String>,
    max_trials: Option<usize>,
}

fn parse_field<T: std::str::FromStr>(
    value: Option<&str>,
    default: &str,
    key: &str,
) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    value
        .unwrap_or(default)
        .parse::<T>()
        .map_err(|e| ApiError::bad(format!("{key}: {e}")))
}

async fn start_study(
    State(server): State<Arc<Server>>,
    Path(id): Path<String>,
    Json(body): Json<StudyBody>,
) -> Result<Response, ApiError> {
    let p = find(&server, &id)?;
    name(&body.dataset, "dataset")?;
    let (_, snapshot) = p.snapshot();
    if !snapshot.datasets.iter().any(|d| d.name == body.dataset) {
        return Err(ApiError::bad(format!(
            "dataset: no dataset {:?} in this project; import it first",
            body.dataset
        )));
    }
    let family: ModelFamily = parse_field(body.model.as_deref(), "mlp", "model")?;
    let strategy: Strategy = parse_field(body.strategy.as_deref(), "grid", "strategy")?;
    let device: DevicePreference = parse_field(body.device.as_deref(), "auto", "device")?;
    let space = match &body.space {
        Some(text) => {
            SearchSpace::from_toml(text).map_err(|e| ApiError::bad(format!("space: {e}")))?
        }
        None => SearchSpace::default(),
    };
    let parallel = body.parallel.unwrap_or(1);
    if !(1..=64).contains(&parallel) {
        return Err(ApiError::bad("parallel: train 1 to 64 trials at once"));
    }
    let request = StudyRequest {
        dataset: body.dataset,
        family,
        strategy,
        space,
        parallel,
        device,
        max_trials: body.max_trials,
    };
    queue(&p, Operation::Train(Box::new(request)))
}

async fn cancel(
    State(server): State<Arc<Server>>,
    Path((id, ticket)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let p = find(&server, &id)?;
    let ticket: u64 = ticket
        .parse()
        .map_err(|_| ApiError::bad(format!("job {ticket:?} is not a job number")))?;
    writer(&p)?;
    let found =
        tokio::task::spawn_blocking(move || p.jobs.as_ref().is_some_and(|j| j.cancel(ticket)))
            .await
            .unwrap_or(false);
    if found {
        Ok((
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "cancelling": ticket })),
        )
            .into_response())
    } else {
        Err(ApiError::not_found(format!(
            "no job {ticket} is queued or running"
        )))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    run: i64,
    alias: Option<String>,
}

async fn register(
    State(server): State<Arc<Server>>,
    Path((id, model)): Path<(String, String)>,
    Json(body): Json<RegisterBody>,
) -> Result<Response, ApiError> {
    let p = find(&server, &id)?;
    name(&model, "model")?;
    let run = run_id(&body.run.to_string())?;
    if let Some(alias) = &body.alias {
        name(alias, "alias")?;
    }
    let (_, snapshot) = p.snapshot();
    if !snapshot.runs.iter().any(|r| r.run.id == run) {
        return Err(ApiError::bad(format!("run: no run {run} in this project")));
    }
    queue(
        &p,
        Operation::Register {
            model,
            run,
            alias: body.alias,
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AliasBody {
    version: u32,
}

async fn set_alias(
    State(server): State<Arc<Server>>,
    Path((id, model, alias)): Path<(String, String, String)>,
    Json(body): Json<AliasBody>,
) -> Result<Response, ApiError> {
    let p = find(&server, &id)?;
    known_model(&p, &model)?;
    name(&alias, "alias")?;
    let version = version_number(&body.version.to_string())?;
    queue(
        &p,
        Operation::SetAlias {
            model,
            alias,
            version,
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportBody {
    /// A version number, or leave it out for the newest.
    version: Option<u32>,
    alias: Option<String>,
}

/// Exports into the server's own repository folder: a client never names a path.
async fn export(
    State(server): State<Arc<Server>>,
    Path((id, model)): Path<(String, String)>,
    Json(body): Json<ExportBody>,
) -> Result<Response, ApiError> {
    let p = find(&server, &id)?;
    known_model(&p, &model)?;
    let selector = match (body.version, body.alias) {
        (Some(_), Some(_)) => return Err(ApiError::bad("give a version or an alias, not both")),
        (Some(n), None) => VersionSelector::Number(version_number(&n.to_string())?),
        (None, Some(alias)) => {
            name(&alias, "alias")?;
            VersionSelector::Alias(alias)
        }
        (None, None) => VersionSelector::Latest,
    };
    let target = writer(&p)?.exports.clone();
    queue(
        &p,
        Operation::Export {
            model,
            selector,
            target,
            options: kiln_core::export::TritonOptions::default(),
        },
    )
}
