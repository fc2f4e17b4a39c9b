//! Kiln Remote: a desktop window onto Kiln servers. It keeps a list of servers (address and
//! token), shows a server's dashboard in its webview, raises a notification when a study on that
//! server finishes or fails, and can start `kiln serve` for a project on this machine.
//!
//! The app's own page (`ui/`) is the server list; it alone may call the commands below. A
//! server's dashboard is loaded from the network and gets no IPC, and the window goes nowhere
//! but the app's page and the server it connected to.

mod follow;
mod servers;
mod sidecar;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use serde::Serialize;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::{AppHandle, Manager, State, Url, WebviewUrl, WebviewWindowBuilder};
use tauri_plugin_notification::NotificationExt;

use crate::servers::{Server, ServerView, Store};

const WINDOW: &str = "main";

struct Remote {
    store: Store,
    /// The server being followed, by address.
    following: Mutex<Option<(String, follow::Following)>>,
    sidecar: Mutex<Option<sidecar::Sidecar>>,
    /// The origin the window may show besides the app's own page.
    allowed: Arc<Mutex<Option<String>>>,
    /// The server list's own address.
    launcher: OnceLock<Url>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[derive(Serialize)]
struct Listing {
    servers: Vec<ServerView>,
    projects: Vec<PathBuf>,
    warning: Option<String>,
    /// The project served from this machine, and where.
    local: Option<(PathBuf, String)>,
    following: Option<String>,
}

#[tauri::command]
fn listing(state: State<'_, Remote>) -> Listing {
    Listing {
        servers: state.store.servers(),
        projects: state.store.projects(),
        warning: state.store.warning.clone(),
        local: lock(&state.sidecar)
            .as_ref()
            .map(|s| (s.project.clone(), s.url.clone())),
        following: lock(&state.following).as_ref().map(|(url, _)| url.clone()),
    }
}

/// Connects to the server at `address`: checks it answers with the token, remembers it (and its
/// token) when asked, follows its studies and shows its dashboard.
#[tauri::command]
async fn connect(
    app: AppHandle,
    state: State<'_, Remote>,
    address: String,
    token: Option<String>,
    name: Option<String>,
    remember: bool,
) -> Result<(), String> {
    let (url, in_address) = servers::parse_address(&address)?;
    let known = state.store.get(&url);
    let token = match token.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => Some(servers::check_token(t)?),
        None => in_address.or_else(|| known.as_ref().and_then(|k| k.token.clone())),
    };
    let probe = {
        let (url, token) = (url.clone(), token.clone());
        tauri::async_runtime::spawn_blocking(move || follow::probe(&url, token.as_deref()))
            .await
            .map_err(|e| e.to_string())?
    };
    probe.map_err(|e| format!("{url}: {e}"))?;
    let name = name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .or_else(|| known.map(|k| k.name))
        .unwrap_or_else(|| {
            url.trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned()
        });
    if remember {
        state.store.put(Server {
            name: name.clone(),
            url: url.clone(),
            token: token.clone(),
            last_used: now_ms(),
        })?;
    }
    show(&app, &state, &url, token, name)
}

#[tauri::command]
fn forget(state: State<'_, Remote>, url: String) -> Result<bool, String> {
    state.store.forget(&url)
}

/// Starts `kiln serve` for a project on this machine and shows it.
#[tauri::command]
async fn serve_local(app: AppHandle, state: State<'_, Remote>, path: String) -> Result<(), String> {
    let path = PathBuf::from(path.trim());
    if path.as_os_str().is_empty() {
        return Err("type the path of a .kiln project on this machine".into());
    }
    let path = std::path::absolute(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let kiln = sidecar::find_kiln()?;
    // One local server at a time: the previous one stops first, so that its project is free.
    stop_sidecar(&state).await;
    let started = {
        let path = path.clone();
        tauri::async_runtime::spawn_blocking(move || sidecar::start(&kiln, &path))
            .await
            .map_err(|e| e.to_string())??
    };
    let (url, token) = (started.url.clone(), started.token.clone());
    *lock(&state.sidecar) = Some(started);
    state.store.served(&path)?;
    let name = format!(
        "this machine: {}",
        path.file_name()
            .map(|f| f.to_string_lossy())
            .unwrap_or_default()
    );
    show(&app, &state, &url, token, name)
}

#[tauri::command]
async fn stop_local(state: State<'_, Remote>) -> Result<bool, String> {
    Ok(stop_sidecar(&state).await)
}

/// Stops the local kiln serve, if any, and stops following it. Stopping waits for the server to
/// let its project go (a few seconds at most), off the window's thread.
async fn stop_sidecar(state: &Remote) -> bool {
    let Some(sidecar) = lock(&state.sidecar).take() else {
        return false;
    };
    {
        let mut following = lock(&state.following);
        if following
            .as_ref()
            .is_some_and(|(url, _)| *url == sidecar.url)
        {
            *following = None;
        }
    }
    let _ignored = tauri::async_runtime::spawn_blocking(move || drop(sidecar)).await;
    true
}

/// Follows the server at `url` and shows its dashboard, with the token in the fragment (the
/// dashboard takes it from there and clears the address).
fn show(
    app: &AppHandle,
    state: &Remote,
    url: &str,
    token: Option<String>,
    name: String,
) -> Result<(), String> {
    let handle = app.clone();
    let notify: Arc<dyn Fn(follow::Notice) + Send + Sync> = Arc::new(move |notice| {
        eprintln!(
            "kiln-remote: notification: {}: {}",
            notice.title, notice.body
        );
        let shown = handle
            .notification()
            .builder()
            .title(&notice.title)
            .body(&notice.body)
            .show();
        if let Err(e) = shown {
            eprintln!("kiln-remote: the notification could not be shown: {e}");
        }
    });
    let following = follow::start(url.to_owned(), token.clone(), name, notify);
    *lock(&state.following) = Some((url.to_owned(), following));
    let mut target = Url::parse(url).map_err(|e| e.to_string())?;
    if let Some(token) = token {
        target.set_fragment(Some(&format!("token={token}")));
    }
    *lock(&state.allowed) = Some(target.origin().ascii_serialization());
    let window = app
        .get_webview_window(WINDOW)
        .ok_or("the window is closed")?;
    window.navigate(target).map_err(|e| e.to_string())
}

/// Back to the server list.
fn show_launcher(app: &AppHandle) {
    let state = app.state::<Remote>();
    if let (Some(window), Some(url)) = (app.get_webview_window(WINDOW), state.launcher.get())
        && let Err(e) = window.navigate(url.clone())
    {
        eprintln!("kiln-remote: {e}");
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The window shows the app's own pages and the connected server, nothing else: a link in a
/// page cannot take it elsewhere.
fn may_show(url: &Url, allowed: &Mutex<Option<String>>) -> bool {
    if url.scheme() == "tauri"
        || (url.scheme() == "http" && url.host_str() == Some("tauri.localhost"))
    {
        return true;
    }
    let origin = url.origin().ascii_serialization();
    let ok = lock(allowed).as_deref() == Some(origin.as_str());
    if !ok {
        eprintln!("kiln-remote: refused to leave for {url}");
    }
    ok
}

fn main() {
    let config = tauri::generate_context!();
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_notification::init())
        .menu(|app| {
            let servers = MenuItem::with_id(app, "servers", "Servers", true, Some("CmdOrCtrl+L"))?;
            let reload = MenuItem::with_id(app, "reload", "Reload", true, Some("CmdOrCtrl+R"))?;
            let quit = PredefinedMenuItem::quit(app, Some("Quit"))?;
            let separator = PredefinedMenuItem::separator(app)?;
            let file = Submenu::with_items(
                app,
                "Kiln Remote",
                true,
                &[&servers, &reload, &separator, &quit],
            )?;
            Menu::with_items(app, &[&file])
        })
        .on_menu_event(|app, event| match event.id().as_ref() {
            "servers" => show_launcher(app),
            "reload" => {
                if let Some(window) = app.get_webview_window(WINDOW) {
                    let _ignored = window.eval("location.reload()");
                }
            }
            _ => {}
        })
        .invoke_handler(tauri::generate_handler![
            listing,
            connect,
            forget,
            serve_local,
            stop_local
        ])
        .setup(|app| {
            let folder = app.path().app_config_dir()?;
            let allowed = Arc::new(Mutex::new(None));
            app.manage(Remote {
                store: Store::open(folder.join("servers.json")),
                following: Mutex::new(None),
                sidecar: Mutex::new(None),
                allowed: allowed.clone(),
                launcher: OnceLock::new(),
            });
            let window =
                WebviewWindowBuilder::new(app, WINDOW, WebviewUrl::App("index.html".into()))
                    .title("Kiln Remote")
                    .inner_size(1280.0, 820.0)
                    .min_inner_size(640.0, 420.0)
                    .on_navigation(move |url| may_show(url, &allowed))
                    .build()?;
            let _ignored = app.state::<Remote>().launcher.set(window.url()?);
            Ok(())
        })
        .build(config);
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            eprintln!("Kiln Remote could not start: {e}");
            std::process::exit(1);
        }
    };
    app.run(|app, event| {
        if let tauri::RunEvent::Exit = event {
            // The local kiln serve stops with the app.
            lock(&app.state::<Remote>().sidecar).take();
        }
    });
}
