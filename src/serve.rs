//! `kiln serve`: the projects over HTTP, for browsers and Kiln Remote on other machines.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kiln_server::ServeOptions;

use crate::signals;

pub fn serve(
    projects: Vec<PathBuf>,
    bind: SocketAddr,
    token: Option<String>,
    allow_writes: bool,
    exports: Option<PathBuf>,
    stop_on_eof: bool,
) -> Result<ExitCode, String> {
    let listening = kiln_server::bind(ServeOptions {
        projects,
        bind,
        token,
        allow_writes,
        exports,
    })
    .map_err(|e| e.to_string())?;
    let host = if listening.addr.ip().is_unspecified() {
        // Every interface: students reach it by this machine's name or address.
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "THIS-MACHINE".into())
    } else if listening.addr.is_ipv6() {
        format!("[{}]", listening.addr.ip())
    } else {
        listening.addr.ip().to_string()
    };
    let url = format!("http://{host}:{}/", listening.addr.port());
    for (id, path) in &listening.projects {
        println!("serving {} as {url}#project={id}", path.display());
    }
    match &listening.token {
        Some(token) => {
            if listening.generated {
                println!("token (shown once; keep it to reconnect): {token}");
            }
            println!("open: {url}#token={token}");
            println!(
                "{}",
                match (listening.reads_need_token, allow_writes) {
                    (true, true) => "everything needs the token; writes are allowed",
                    (true, false) => "everything needs the token; the server is read-only",
                    (false, _) => "reading needs no token (loopback only); writes need the token",
                }
            );
        }
        None => println!("open: {url} (loopback only, read-only, no token needed)"),
    }
    println!("press Ctrl-C to stop");
    let stop = Arc::new(AtomicBool::new(false));
    signals::install(signals::OnInterrupt::Cancel(stop.clone()));
    if stop_on_eof {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("kiln serve: stdin".into())
            .spawn(move || {
                // Whatever comes is ignored; the end (or an error) stops the server. The program
                // that started it may be gone with the other end of standard output too: what is
                // said here and after may go nowhere, and must not stop the stopping.
                let _ignored = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
                stop.store(true, Ordering::SeqCst);
                say("standard input closed: stopping");
            })
            .map_err(|e| format!("could not watch standard input: {e}"))?;
    }
    listening
        .run(async move {
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        })
        .map_err(|e| e.to_string())?;
    say("kiln serve stopped");
    Ok(ExitCode::SUCCESS)
}

/// A line on standard output that may have no reader any more.
fn say(line: &str) {
    use std::io::Write;
    let _ignored = writeln!(std::io::stdout(), "{line}");
}
