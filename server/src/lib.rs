//! `kiln serve`: Kiln's projects over HTTP, for a browser, Kiln Remote or a script.
//!
//! - A JSON API under `/api/`: projects, datasets, studies, runs, metric charts decimated on
//!   the server, registered models with their cards, evaluations, exports, monitoring and
//!   replay reports.
//! - Live events at `/api/projects/{project}/events` (Server-Sent Events): metric points as
//!   they commit, list changes, and the progress of jobs the server runs.
//! - With `--allow-writes`, studies, registrations, aliases and exports, run by the same
//!   [`JobService`](kiln_core::service::JobService) as the window's, one at a time, queued.
//! - The web dashboard at `/`, shipped inside the binary.
//!
//! Security: loopback by default; any other address needs a token (generated when none is
//! given); writes always need it; tokens are compared in constant time; no cookies and no
//! cross-origin headers; bounded bodies and queries; every identifier in a path validated; no
//! client-sent file path is ever read or written.

mod api;
mod auth;
mod charts;
mod dashboard;
mod jobs;
mod live;
mod state;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// How long connections may take to end after a stop signal.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub projects: Vec<PathBuf>,
    pub bind: SocketAddr,
    /// The token clients must send; generated when needed and not given.
    pub token: Option<String>,
    pub allow_writes: bool,
    /// Where exports are written (a Triton model repository per project); beside each project
    /// by default.
    pub exports: Option<PathBuf>,
}

/// A server that is listening: its address and its token.
pub struct Listening {
    pub addr: SocketAddr,
    /// The token, when one is needed (always shown once by the caller).
    pub token: Option<String>,
    /// Whether the token was generated here rather than given.
    pub generated: bool,
    /// Whether reads need the token too.
    pub reads_need_token: bool,
    /// The projects served: (id in URLs, file).
    pub projects: Vec<(String, PathBuf)>,
    runtime: tokio::runtime::Runtime,
    listener: tokio::net::TcpListener,
    app: axum::Router,
    state: Arc<state::Server>,
}

/// Why serving could not start.
#[derive(Debug)]
pub struct ServeError(pub String);

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ServeError {}

/// Checks the options, opens every project (taking its writer with `allow_writes`) and binds
/// the address. Nothing is served until [`Listening::run`].
pub fn bind(options: ServeOptions) -> Result<Listening, ServeError> {
    let loopback = options.bind.ip().is_loopback();
    let (token, generated) = match options.token.clone() {
        Some(token) => (Some(auth::check_given(&token)?), false),
        None if !loopback || options.allow_writes => (Some(auth::generate_token()), true),
        None => (None, false),
    };
    // A given token guards reads too; a generated one does on any address but loopback.
    let reads_need_token = !loopback || (token.is_some() && !generated);
    let state = state::Server::open(&options, token.clone(), reads_need_token, loopback)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("kiln: serve")
        .enable_all()
        .build()
        .map_err(|e| ServeError(format!("the server's runtime could not start: {e}")))?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(options.bind))
        .map_err(|e| {
            let advice = match e.kind() {
                std::io::ErrorKind::AddrInUse => {
                    "; another program (another kiln serve?) has that port: stop it, or choose another with --bind"
                }
                std::io::ErrorKind::AddrNotAvailable => {
                    "; that address is not this machine's: use 0.0.0.0 for every interface"
                }
                std::io::ErrorKind::PermissionDenied => "; ports below 1024 need root: choose one above",
                _ => "",
            };
            ServeError(format!("cannot listen on {}: {e}{advice}", options.bind))
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServeError(format!("cannot read the bound address: {e}")))?;
    let app = api::router(state.clone());
    Ok(Listening {
        addr,
        token,
        generated,
        reads_need_token,
        projects: state
            .projects
            .iter()
            .map(|p| (p.id.clone(), p.path.clone()))
            .collect(),
        runtime,
        listener,
        app,
        state,
    })
}

impl Listening {
    /// Serves until `stop` resolves (a signal, for the command line), then stops the jobs and
    /// the followers.
    pub fn run(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Listening {
            runtime,
            listener,
            app,
            state,
            ..
        } = self;
        let closing = state.clone();
        let (stopped, stopping) = tokio::sync::oneshot::channel::<()>();
        let stop = async move {
            stop.await;
            // Live streams never end by themselves: end them, so that the server can.
            closing.close_streams();
            let _ignored = stopped.send(());
        };
        // A client that stopped reading would hold a graceful shutdown forever: connections
        // still open a few seconds after the signal are dropped.
        let deadline = async move {
            if stopping.await.is_ok() {
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let served = runtime.block_on(async move {
            let serve = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .into_future();
            match futures_util::future::select(Box::pin(serve), Box::pin(deadline)).await {
                futures_util::future::Either::Left((served, _)) => served,
                futures_util::future::Either::Right(((), _)) => Ok(()),
            }
        });
        state.shut_down();
        runtime.shutdown_timeout(std::time::Duration::from_secs(2));
        served.map_err(|e| ServeError(format!("the server stopped: {e}")))
    }
}
