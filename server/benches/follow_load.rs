//! Load on `kiln serve`, on loopback only and bounded in time: CLIENTS clients follow a running
//! study's live events for SECONDS seconds (`scripts/bench-serve.sh` runs it).
//!
//!   cargo bench -p kiln-server --bench follow_load -- KILN PROJECT.kiln [CLIENTS] [SECONDS]
//!
//! Each client is a thread with a raw HTTP connection reading Server-Sent Events. For every
//! metric point that arrives, the delay is the arrival time minus the point's log time (the
//! time the training loop handed it over, before its commit: the figure is an upper bound of
//! commit-to-arrival). Prints the p50, p95 and p99 delays over all clients, and the server's
//! CPU and memory, with nobody following and then with the clients.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

fn request(addr: &str, method: &str, path: &str, token: &str, body: &str) -> Result<String, Error> {
    let mut stream = TcpStream::connect(addr)?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    stream.read_to_string(&mut out)?;
    Ok(out)
}

/// The server's CPU time so far (user and system), in seconds.
fn cpu_seconds(pid: u32) -> Result<f64, Error> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .ok_or("odd stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    // The kernel's clock ticks, as every Linux reports them to user space.
    Ok(ticks / 100.0)
}

fn memory_mib(pid: u32, key: &str) -> Result<f64, Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(key))
        .ok_or("no such line")?;
    let kib: f64 = line.split_whitespace().nth(1).ok_or("no value")?.parse()?;
    Ok(kib / 1024.0)
}

/// One client: follows the events until `until`, returning each point's delay in ms.
fn follow(addr: &str, project: &str, until: Instant) -> Result<Vec<f32>, Error> {
    let mut stream = TcpStream::connect(addr)?;
    write!(
        stream,
        "GET /api/projects/{project}/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    )?;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut delays = Vec::new();
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    while Instant::now() < until {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let arrived = now_ms();
        pending.extend_from_slice(&buf[..n]);
        // Whole lines only; the rest waits for the next read.
        let Some(end) = pending.iter().rposition(|&b| b == b'\n') else {
            continue;
        };
        let text = String::from_utf8_lossy(&pending[..end]).into_owned();
        pending.drain(..=end);
        for line in text.lines().filter(|l| l.starts_with("data: {\"points\"")) {
            let mut rest = line;
            while let Some(at) = rest.find("\"timestamp\":") {
                rest = &rest[at + 12..];
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(stamp) = digits.parse::<f64>() {
                    delays.push((arrived - stamp) as f32);
                }
            }
        }
    }
    Ok(delays)
}

fn percentile(sorted: &[f32], q: f64) -> f32 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let [kiln, project_file, rest @ ..] = args.as_slice() else {
        return Err("usage: follow_load KILN PROJECT.kiln [CLIENTS] [SECONDS]".into());
    };
    let clients: usize = rest.first().map_or(Ok(100), |c| c.parse())?;
    let seconds: u64 = rest.get(1).map_or(Ok(60), |s| s.parse())?;
    let mut serve = Command::new(kiln)
        .args([
            "serve",
            project_file,
            "--bind",
            "127.0.0.1:0",
            "--allow-writes",
        ])
        .stdout(Stdio::piped())
        .spawn()?;
    let pid = serve.id();
    let stdout = serve.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut open = None;
    for line in lines.by_ref() {
        let line = line?;
        if let Some(url) = line.strip_prefix("open: http://") {
            open = Some(url.to_owned());
        }
        if line.starts_with("press Ctrl-C") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let open = open.ok_or("kiln serve printed no address")?;
    let (addr, token) = open.split_once("/#token=").ok_or("no token")?;
    let (addr, token) = (addr.to_owned(), token.to_owned());
    let project = std::path::Path::new(project_file)
        .file_stem()
        .map(|s| s.to_string_lossy().to_lowercase())
        .ok_or("no project name")?;

    // A study that outlasts the load: trials of many epochs, one after another.
    let space = r#"learning_rate = [0.001, 0.003, 0.01, 0.03]\nepochs = 5000\nbatch_size = 16\nhidden = [32]"#;
    let body = format!(r#"{{"dataset": "penguins", "device": "cpu", "space": "{space}"}}"#);
    let queued = request(
        &addr,
        "POST",
        &format!("/api/projects/{project}/studies"),
        &token,
        &body,
    )?;
    let ticket = queued
        .rsplit_once("\"ticket\":")
        .and_then(|(_, t)| t.split(|c: char| !c.is_ascii_digit()).next())
        .ok_or_else(|| format!("the study was not queued: {queued}"))?
        .to_owned();
    std::thread::sleep(Duration::from_secs(2));

    let (c0, t0) = (cpu_seconds(pid)?, Instant::now());
    std::thread::sleep(Duration::from_secs(10));
    let alone = (cpu_seconds(pid)? - c0) / t0.elapsed().as_secs_f64();

    let (c1, t1) = (cpu_seconds(pid)?, Instant::now());
    let until = Instant::now() + Duration::from_secs(seconds);
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (addr, project) = (addr.clone(), project.clone());
            std::thread::spawn(move || follow(&addr, &project, until))
        })
        .collect();
    let mut per_client = Vec::new();
    let mut delays: Vec<f32> = Vec::new();
    for handle in handles {
        let got = handle.join().map_err(|_| "a client panicked")??;
        per_client.push(got.len());
        delays.extend(got);
    }
    let followed = (cpu_seconds(pid)? - c1) / t1.elapsed().as_secs_f64();
    let (rss, peak) = (memory_mib(pid, "VmRSS:")?, memory_mib(pid, "VmHWM:")?);
    let _ = request(
        &addr,
        "POST",
        &format!("/api/projects/{project}/jobs/{ticket}/cancel"),
        &token,
        "{}",
    );
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let _ = serve.wait();

    if delays.is_empty() {
        return Err("no point arrived: the study logged nothing".into());
    }
    delays.sort_by(f32::total_cmp);
    per_client.sort_unstable();
    println!("{clients} clients followed a running study for {seconds} s on loopback");
    println!(
        "  points received: {} ({} to {} per client, {:.0} a second each)",
        delays.len(),
        per_client[0],
        per_client[per_client.len() - 1],
        per_client[0] as f64 / seconds as f64
    );
    println!(
        "  delay from log to arrival: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms (goal: p99 under 250 ms)",
        percentile(&delays, 0.50),
        percentile(&delays, 0.95),
        percentile(&delays, 0.99),
        delays[delays.len() - 1]
    );
    println!(
        "  kiln serve (training inside): {:.0} % of a core with nobody following, {:.0} % with the clients; memory {rss:.0} MiB, at most {peak:.0} MiB",
        alone * 100.0,
        followed * 100.0
    );
    Ok(())
}
