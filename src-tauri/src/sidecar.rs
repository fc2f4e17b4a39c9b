//! A `kiln serve` that Kiln Remote starts for a project on this machine: on loopback, on a port
//! the system picks, with writes allowed and the token kiln generates. It stops when the app
//! quits (or dies) or another project is served.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long `kiln serve` may take to open the project and listen.
const START_WITHIN: Duration = Duration::from_secs(60);

pub struct Sidecar {
    child: Child,
    /// Held open: kiln serve (`--stop-on-eof`) stops when it closes, so also when this app
    /// goes without quitting cleanly.
    lifeline: Option<ChildStdin>,
    pub project: PathBuf,
    /// `http://127.0.0.1:PORT/`
    pub url: String,
    pub token: Option<String>,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        // Closing its input stops kiln serve cleanly; one that has not stopped within a few
        // seconds is killed, which is as safe for the project (written only in transactions).
        drop(self.lifeline.take());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ignored = self.child.kill();
        let _ignored = self.child.wait();
    }
}

/// The `kiln` command: `KILN_REMOTE_KILN`, else beside this program, else on the PATH.
pub fn find_kiln() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("KILN_REMOTE_KILN") {
        return Ok(PathBuf::from(path));
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("kiln")));
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("kiln"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    beside
        .into_iter()
        .chain(on_path)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            "serving a project from this machine needs the kiln command, which was not found beside Kiln Remote or on the PATH: install the kiln package, or set KILN_REMOTE_KILN to its path".into()
        })
}

/// Starts `kiln serve PROJECT` and waits until it listens.
pub fn start(kiln: &Path, project: &Path) -> Result<Sidecar, String> {
    if !project.is_file() {
        return Err(format!(
            "{} is not a file: give the path of a .kiln project",
            project.display()
        ));
    }
    let mut child = Command::new(kiln)
        .arg("serve")
        .arg(project)
        .args(["--bind", "127.0.0.1:0", "--allow-writes", "--stop-on-eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", kiln.display()))?;
    let (Some(lifeline), Some(stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ignored = child.kill();
        return Err("kiln serve started without its pipes".into());
    };
    // Its output is read to the end, so that it never blocks on a full pipe.
    let (lines, heard) = mpsc::channel();
    let read_out = std::thread::Builder::new()
        .name("kiln-remote: kiln serve".into())
        .spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ignored = lines.send(line);
            }
        });
    let (errors, said) = mpsc::channel();
    let read_err = std::thread::Builder::new()
        .name("kiln-remote: kiln serve errors".into())
        .spawn(move || {
            let mut text = String::new();
            let _ignored = stderr.read_to_string(&mut text);
            let _ignored = errors.send(text);
        });
    if read_out.is_err() || read_err.is_err() {
        let _ignored = child.kill();
        return Err("could not read kiln serve's output".into());
    }
    let mut sidecar = Sidecar {
        child,
        lifeline: Some(lifeline),
        project: project.to_owned(),
        url: String::new(),
        token: None,
    };
    loop {
        match heard.recv_timeout(START_WITHIN) {
            Ok(line) => {
                if let Some(open) = line.strip_prefix("open: ") {
                    let address = open.split_whitespace().next().unwrap_or(open);
                    let (url, token) = crate::servers::parse_address(address).map_err(|e| {
                        format!("kiln serve printed an address Kiln Remote cannot use: {e}")
                    })?;
                    sidecar.url = url;
                    sidecar.token = token;
                    return Ok(sidecar);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "kiln serve did not start listening within {} s",
                    START_WITHIN.as_secs()
                ));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ignored = sidecar.child.wait();
                let why = said
                    .recv_timeout(Duration::from_secs(5))
                    .unwrap_or_default();
                let why = why.trim();
                return Err(if why.is_empty() {
                    "kiln serve stopped before it listened".into()
                } else {
                    format!("kiln serve stopped: {why}")
                });
            }
        }
    }
}
