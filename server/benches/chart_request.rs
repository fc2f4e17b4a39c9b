//! The chart request of `kiln serve`: one metric of many runs, decimated on the server for a
//! width, over real HTTP on loopback (`scripts/bench-serve.sh` writes the project).
//!
//!   cargo bench -p kiln-server --bench chart_request -- PROJECT.kiln KEY [RUNS] [WIDTH]
//!
//! Prints the first (cold: every series read from the file) and the warm answers' times, and,
//! side by side, what sending every point instead would cost.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use kiln_server::ServeOptions;

fn get(addr: &str, path: &str) -> Result<(u16, Vec<u8>), Box<dyn std::error::Error>> {
    let mut stream = TcpStream::connect(addr)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no header")?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    Ok((status, raw[end + 4..].to_vec()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let [project, key, rest @ ..] = args.as_slice() else {
        return Err("usage: chart_request PROJECT.kiln KEY [RUNS] [WIDTH]".into());
    };
    let runs: usize = rest.first().map_or(Ok(100), |r| r.parse())?;
    let width: usize = rest.get(1).map_or(Ok(1600), |w| w.parse())?;
    let listening = kiln_server::bind(ServeOptions {
        projects: vec![project.into()],
        bind: "127.0.0.1:0".parse()?,
        token: None,
        allow_writes: false,
        exports: None,
    })?;
    let addr = listening.addr.to_string();
    let id = listening.projects[0].0.clone();
    std::thread::spawn(move || listening.run(std::future::pending()));
    let ids: Vec<String> = (1..=runs).map(|r| r.to_string()).collect();
    let path = format!(
        "/api/projects/{id}/chart?key={key}&runs={}&width={width}",
        ids.join(",")
    );

    let started = Instant::now();
    let (status, body) = get(&addr, &path)?;
    let cold = started.elapsed();
    if status != 200 {
        return Err(format!("status {status}: {}", String::from_utf8_lossy(&body)).into());
    }
    let chart: serde_json::Value = serde_json::from_slice(&body)?;
    let lines = chart["lines"].as_array().ok_or("no lines")?;
    let total: u64 = lines.iter().filter_map(|l| l["total"].as_u64()).sum();
    let drawn: usize = lines
        .iter()
        .filter_map(|l| l["points"].as_array().map(Vec::len))
        .sum();

    let mut warm: Vec<Duration> = Vec::new();
    for _ in 0..30 {
        let started = Instant::now();
        let (status, _) = get(&addr, &path)?;
        warm.push(started.elapsed());
        assert_eq!(status, 200);
    }
    warm.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;

    // What the chart would cost without decimation: every point, as JSON.
    let started = Instant::now();
    let project = kiln_core::Project::open_read_only(project)?;
    let mut every = Vec::new();
    for run in 1..=runs {
        let points = project.metric_history(kiln_core::tracking::RunId(run as i64), key)?;
        let pairs: Vec<[f64; 2]> = points.iter().map(|p| [p.step as f64, p.value]).collect();
        every.push(pairs);
    }
    let raw = serde_json::to_vec(&every)?;
    let raw_time = started.elapsed();

    println!(
        "chart of {key}: {} runs, {total} points, width {width}",
        lines.len()
    );
    println!("  answer: {drawn} points, {} bytes of JSON", body.len());
    println!(
        "  cold (every series read from the file): {:.1} ms",
        ms(cold)
    );
    println!(
        "  warm: median {:.1} ms, p95 {:.1} ms, max {:.1} ms (goal: under 50 ms)",
        ms(warm[warm.len() / 2]),
        ms(warm[warm.len() * 95 / 100]),
        ms(warm[warm.len() - 1])
    );
    println!(
        "  every point instead: {} bytes ({:.0}x more), {:.0} ms to read and write once",
        raw.len(),
        raw.len() as f64 / body.len() as f64,
        ms(raw_time)
    );
    Ok(())
}
