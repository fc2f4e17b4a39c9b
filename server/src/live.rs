//! Following a project as it changes: a thread per project reads the metric points committed
//! since its last look (whoever wrote them: this server's jobs, the window, `kiln train` in a
//! terminal) and re-reads the lists when the file changed, and every client's event stream
//! relays what it found.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use kiln_core::Project;
use kiln_core::service::Snapshot;
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use crate::state::{Live, ProjectState};

/// How often the follower looks at the file: a committed point reaches clients within this
/// plus the time to read and send it.
const LOOK_EVERY: Duration = Duration::from_millis(15);
/// The lists are re-read at most this often while the file keeps changing.
const LISTS_EVERY: Duration = Duration::from_millis(250);
/// Most points read in one look; more are read in the next, at once.
const TAIL_BATCH: usize = 2_000;

/// Points as one live event carries them.
#[derive(Serialize)]
struct Points<'a> {
    points: &'a [kiln_core::tracking::TailPoint],
    /// When the server sent them, milliseconds since the Unix epoch.
    sent: i64,
}

/// What clients are told when the lists changed.
#[derive(Serialize)]
pub(crate) struct Changed<'a> {
    pub generation: u64,
    pub runs: usize,
    pub studies: &'a [kiln_core::train::StudySummary],
    pub models: usize,
    pub replays: u64,
    pub monitoring: (u64, u64),
}

impl<'a> Changed<'a> {
    pub fn of(generation: u64, snapshot: &'a Snapshot) -> Changed<'a> {
        Changed {
            generation,
            runs: snapshot.runs.len(),
            studies: &snapshot.studies,
            models: snapshot.models.len(),
            replays: snapshot.replays,
            monitoring: snapshot.monitoring,
        }
    }
}

/// Starts the follower thread of `state`.
pub(crate) fn follow(state: Arc<ProjectState>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("kiln: follow {}", state.id))
        .spawn(move || {
            // A failed read (a busy file, a disk hiccup) pauses following; it starts again from
            // the file as it is then, and charts are read anew, since points may have been missed.
            while let Err(e) = run(&state) {
                if state.stop.load(Ordering::Relaxed) {
                    return;
                }
                state.publish(
                    "failure",
                    serde_json::json!({
                        "error": format!("following the project failed: {e}; trying again in a second")
                    })
                    .to_string(),
                );
                state.charts.forget();
                std::thread::sleep(Duration::from_secs(1));
            }
        })
}

fn run(state: &ProjectState) -> kiln_core::Result<()> {
    let reader = Project::open_read_only_unverified(&state.path)?;
    let mut seen = reader.data_version()?;
    let mut cursor = reader.metric_tail_end()?;
    state.charts.start_at(cursor);
    let mut lists_read = Instant::now();
    let mut lists_stale = false;
    while !state.stop.load(Ordering::Relaxed) {
        let version = reader.data_version()?;
        if version != seen {
            seen = version;
            lists_stale = true;
            loop {
                let points = reader.metric_tail(cursor, TAIL_BATCH)?;
                let Some(last) = points.last() else { break };
                cursor = last.seq;
                state.charts.extend(&points);
                let message = Points {
                    points: &points,
                    sent: kiln_core::now_ms(),
                };
                if let Ok(json) = serde_json::to_string(&message) {
                    state.publish("points", json);
                }
                if points.len() < TAIL_BATCH {
                    break;
                }
            }
        }
        if lists_stale && lists_read.elapsed() >= LISTS_EVERY {
            lists_stale = false;
            lists_read = Instant::now();
            let snapshot = Snapshot::read(&reader)?;
            let generation = state.set_snapshot(snapshot);
            let (_, snapshot) = state.snapshot();
            if let Ok(json) = serde_json::to_string(&Changed::of(generation, &snapshot)) {
                state.publish("changed", json);
            }
        }
        std::thread::sleep(LOOK_EVERY);
    }
    Ok(())
}

/// The event stream of one client: a `hello` first, then every live event until the server
/// stops. A client that fell behind is told to re-read (`resync`) and goes on from the newest.
pub(crate) fn stream(
    state: &Arc<ProjectState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>> + use<>> {
    let receiver = state.live.subscribe();
    let (generation, snapshot) = state.snapshot();
    let hello = serde_json::json!({
        "project": state.id,
        "changed": Changed::of(generation, &snapshot),
        "jobs": state.jobs.as_ref().map(|j| j.view()),
    })
    .to_string();
    let first = Some(SseEvent::default().event("hello").data(hello));
    let events = futures_util::stream::unfold(
        (receiver, first, false),
        |(mut receiver, first, closed)| async move {
            if closed {
                return None;
            }
            if let Some(first) = first {
                return Some((Ok(first), (receiver, None, false)));
            }
            let (event, closing) = match receiver.recv().await {
                Ok(Live::Event { name, data }) => {
                    (SseEvent::default().event(name).data(&*data), false)
                }
                Ok(Live::Close) | Err(RecvError::Closed) => {
                    (SseEvent::default().event("bye").data("{}"), true)
                }
                Err(RecvError::Lagged(missed)) => (
                    SseEvent::default()
                        .event("resync")
                        .data(format!("{{\"missed\":{missed}}}")),
                    false,
                ),
            };
            Some((Ok(event), (receiver, None, closing)))
        },
    );
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
