//! `kiln serve` as clients use it: the real binary on loopback, a real project, plain HTTP
//! over TCP (so that headers such as Host can be anything a client might send).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// A running `kiln serve`, stopped when dropped.
struct Served {
    child: Child,
    addr: String,
    token: Option<String>,
    /// What it printed before serving.
    banner: String,
}

impl Served {
    fn start(args: &[&str]) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kiln serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut banner = String::new();
        let mut addr = None;
        let mut token = None;
        for line in lines.by_ref() {
            let line = line.expect("a line");
            banner.push_str(&line);
            banner.push('\n');
            if let Some(rest) = line.strip_prefix("open: http://") {
                let (host, rest) = rest.split_once('/').expect("a URL");
                addr = Some(host.to_owned());
                token = rest
                    .split_once("#token=")
                    .map(|(_, t)| t.split_whitespace().next().unwrap_or("").to_owned());
            }
            if line.starts_with("press Ctrl-C") {
                break;
            }
        }
        // Keep reading, so that the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let addr = addr.unwrap_or_else(|| {
            let mut err = String::new();
            let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
            panic!("kiln serve printed no address:\n{banner}\n{err}")
        });
        Served {
            child,
            addr,
            token,
            banner,
        }
    }

    fn token(&self) -> &str {
        self.token.as_deref().expect("a token was printed")
    }

    fn get(&self, path: &str) -> Reply {
        request(&self.addr, "GET", path, &[], None)
    }

    fn get_with(&self, path: &str, token: &str) -> Reply {
        request(
            &self.addr,
            "GET",
            path,
            &[("Authorization", &format!("Bearer {token}"))],
            None,
        )
    }

    fn write(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth));
        }
        request(&self.addr, method, path, &headers, Some(body.as_bytes()))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // SIGTERM first: the server stops its jobs and its followers.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: String,
    body: String,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or("").to_owned()
    }
}

/// One HTTP/1.1 request with `Connection: close`; `headers` may replace Host.
fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.map_or(0, <[u8]>::len)
    ));
    stream.write_all(head.as_bytes()).expect("send head");
    if let Some(body) = body {
        // A server may refuse an oversized body before reading it all.
        let _ = stream.write_all(body);
    }
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    let body = if headers
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Reply {
        status,
        headers: headers.to_owned(),
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Follows a project's live events in a thread; what arrived so far is in the string.
fn follow(addr: &str, project: &str, token: Option<&str>) -> Arc<Mutex<String>> {
    let seen = Arc::new(Mutex::new(String::new()));
    let mut stream = TcpStream::connect(addr).expect("connect");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "GET /api/projects/{project}/events HTTP/1.1\r\nHost: {addr}\r\n{auth}Accept: text/event-stream\r\n\r\n"
    )
    .expect("send");
    let sink = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    seen
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The jobs of a project, until none runs or waits; returns the ended ones.
fn wait_jobs(served: &Served, project: &str) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    wait_for("the jobs to end", Duration::from_secs(240), || {
        last = served.get(&format!("/api/projects/{project}/jobs")).json();
        last["running"].is_null() && last["queued"].as_array().is_some_and(Vec::is_empty)
    });
    last["ended"].clone()
}

/// How many batch losses a run of `/runs` says it logged.
fn batch_losses(run: &serde_json::Value) -> u64 {
    run["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .find(|m| m["key"] == "train/batch_loss")
        .expect("batch loss")["points"]
        .as_u64()
        .expect("count")
}

#[test]
fn a_client_follows_a_study_it_started_then_registers_and_exports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = trained_project(dir.path());
    let served = Served::start(&[path_str(&file), "--bind", "127.0.0.1:0", "--allow-writes"]);
    assert!(
        served.banner.contains("token (shown once"),
        "{}",
        served.banner
    );
    let token = served.token().to_owned();

    // Reads on loopback need no token.
    let about = served.get("/api/").json();
    assert_eq!(about["writes"], true);
    assert_eq!(about["projects"][0]["id"], "base");
    let runs = served.get("/api/projects/base/runs").json();
    let runs = runs["runs"].as_array().expect("runs").clone();
    assert_eq!(runs.len(), 2);
    assert!(runs[0]["params"].as_array().is_some_and(|p| !p.is_empty()));
    let points = batch_losses(&runs[0]);

    // A chart is decimated to the width asked for, and says how many points there were.
    let chart = served
        .get("/api/projects/base/chart?key=train/batch_loss&runs=1,2&width=10")
        .json();
    let lines = chart["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["total"].as_u64(), Some(points));
    assert!(lines[0]["points"].as_array().expect("points").len() <= 2 * 10 + 2);

    let models = served.get("/api/projects/base/models").json();
    assert_eq!(models[0]["name"], "penguins");
    let version = served
        .get("/api/projects/base/models/penguins/versions/1")
        .json();
    assert!(
        version["card"]
            .as_str()
            .expect("card")
            .starts_with("# penguins version 1"),
        "{version}"
    );
    assert!(version["evaluations"]["metrics"].is_array());

    // Start a study with the token and hear its points as they commit.
    let live = follow(&served.addr, "base", None);
    wait_for("hello", Duration::from_secs(10), || {
        live.lock().expect("lock").contains("event: hello")
    });
    let space = "learning_rate = [0.01, 0.02]\nbatch_size = 32\nepochs = 4\nhidden = [8]\n";
    let body = serde_json::json!({ "dataset": "penguins", "space": space, "device": "cpu" });
    let queued = served.write(
        "POST",
        "/api/projects/base/studies",
        Some(&token),
        &body.to_string(),
    );
    assert_eq!(queued.status, 202, "{}", queued.body);
    let ticket = queued.json()["ticket"].as_u64().expect("ticket");
    let ended = wait_jobs(&served, "base");
    assert_eq!(ended[0]["ticket"].as_u64(), Some(ticket));
    assert_eq!(ended[0]["state"], "done", "{ended}");
    wait_for("the new runs' points", Duration::from_secs(10), || {
        let text = live.lock().expect("lock");
        text.contains("event: points") && text.contains("\"run\":3") && text.contains("\"run\":4")
    });
    // The lists follow within a quarter of a second of the last commit.
    wait_for("the new runs in the list", Duration::from_secs(10), || {
        served.get("/api/projects/base/runs").json()["runs"]
            .as_array()
            .is_some_and(|runs| runs.len() == 4)
    });
    {
        let text = live.lock().expect("lock");
        assert!(text.contains("event: job"), "no job progress in the stream");
        assert!(text.contains("\"event\":\"trial_started\""));
        // Every point of the new runs arrived once: count run 3's batch losses.
        let streamed = text
            .lines()
            .filter(|l| l.starts_with("data: {\"points\""))
            .flat_map(|l| {
                let v: serde_json::Value = serde_json::from_str(&l[6..]).expect("points json");
                v["points"].as_array().expect("points").clone()
            })
            .filter(|p| p["run"] == 3 && p["key"] == "train/batch_loss")
            .count() as u64;
        let stored = batch_losses(
            served.get("/api/projects/base/runs").json()["runs"]
                .as_array()
                .expect("runs")
                .iter()
                .find(|r| r["run"]["id"] == 3)
                .expect("run 3"),
        );
        assert_eq!(streamed, stored);
    }

    // Register the new run, point an alias at it, export it: each a queued job.
    for (method, path, body) in [
        (
            "POST",
            "/api/projects/base/models/penguins/versions",
            r#"{"run": 3}"#,
        ),
        (
            "PUT",
            "/api/projects/base/models/penguins/aliases/challenger",
            r#"{"version": 2}"#,
        ),
        (
            "POST",
            "/api/projects/base/models/penguins/exports",
            r#"{"alias": "challenger"}"#,
        ),
    ] {
        let reply = served.write(method, path, Some(&token), body);
        assert_eq!(reply.status, 202, "{method} {path}: {}", reply.body);
    }
    let ended = wait_jobs(&served, "base");
    for job in ended.as_array().expect("ended").iter().take(3) {
        assert_eq!(job["state"], "done", "{ended}");
    }
    let model = served.get("/api/projects/base/models/penguins").json();
    let versions = model["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 2);
    assert!(
        versions
            .iter()
            .any(|v| v["version"] == 2 && v["aliases"][0] == "challenger")
    );
    let exports = model["exports"].as_array().expect("exports");
    assert_eq!(exports.len(), 1, "{model}");
    assert_eq!(exports[0]["version"], 2);
    // Written beside the project, where the server chose.
    assert!(
        dir.path()
            .join("base-triton/penguins/config.pbtxt")
            .is_file()
    );
}

#[test]
fn tokens_guard_reads_and_writes_as_promised() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("base.kiln");
    penguins_project(&file);
    let f = path_str(&file);
    let chosen = "a-chosen-token-0123456789";

    // A read-only server with a chosen token: reads need it, writes are refused even with it.
    let served = Served::start(&[f, "--bind", "127.0.0.1:0", "--token", chosen]);
    assert!(
        !served.banner.contains("shown once"),
        "a given token is not printed as new"
    );
    let refused = served.get("/api/projects");
    assert_eq!(refused.status, 401);
    assert!(
        refused
            .headers
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer")
    );
    assert_eq!(
        served
            .get_with("/api/projects", "wrong-token-0123456789")
            .status,
        401
    );
    assert_eq!(
        served
            .get_with("/api/projects", &chosen[..chosen.len() - 1])
            .status,
        401
    );
    assert_eq!(served.get_with("/api/projects", chosen).status, 200);
    // The dashboard itself loads without the token (it asks for it).
    assert_eq!(served.get("/").status, 200);
    let body = r#"{"dataset": "penguins"}"#;
    let write = served.write("POST", "/api/projects/base/studies", Some(chosen), body);
    assert_eq!(write.status, 403, "{}", write.body);
    assert!(write.error().contains("--allow-writes"), "{}", write.body);
    drop(served);

    // A writing server: writes need the (generated) token, a wrong one is refused.
    let served = Served::start(&[f, "--bind", "127.0.0.1:0", "--allow-writes"]);
    let token = served.token().to_owned();
    for bad in [None, Some("0000000000000000000000000000")] {
        let reply = served.write("POST", "/api/projects/base/studies", bad, body);
        assert_eq!(reply.status, 401, "{}", reply.body);
    }
    // Oversized bodies and queries.
    let big = format!(
        r#"{{"dataset": "penguins", "space": "{}"}}"#,
        "x".repeat(100 * 1024)
    );
    let reply = served.write("POST", "/api/projects/base/studies", Some(&token), &big);
    assert_eq!(reply.status, 413, "{}", reply.body);
    let long = format!("/api/projects/base/runs?{}", "q".repeat(4096));
    assert_eq!(served.get(&long).status, 414);
    // A page elsewhere that rebinds its name to 127.0.0.1 is refused.
    let rebound = request(
        &served.addr,
        "GET",
        "/api/projects",
        &[("Host", "attacker.example:7860")],
        None,
    );
    assert_eq!(rebound.status, 421, "{}", rebound.body);
    // Path traversal and odd identifiers, in every place a path names one.
    for (path, status) in [
        ("/api/projects/..%2F..%2Fetc%2Fpasswd/runs", 404),
        ("/api/projects/../../etc/passwd", 404),
        ("/api/projects/base/runs/..%2F1", 400),
        ("/api/projects/base/runs/-1", 400),
        ("/api/projects/base/models/..%2F..%2Fetc", 400),
        ("/api/projects/base/models/.hidden", 400),
        ("/api/projects/base/models/nobody", 404),
        ("/api/projects/base/chart?key=..%2F..%2Fetc&runs=1", 400),
        ("/api/projects/base/chart?key=loss&runs=1,..%2F2", 400),
        ("/api/projects/base/chart?key=loss&runs=1&width=100000", 400),
        ("/api/projects/base/chart?key=loss&runs=99", 404),
    ] {
        let reply = served.get(path);
        assert_eq!(reply.status, status, "{path}: {}", reply.body);
        assert!(!reply.body.contains("root:"), "{path} leaked a file");
    }
    for (method, path, body, status) in [
        (
            "PUT",
            "/api/projects/base/models/..%2Fx/aliases/a",
            r#"{"version": 1}"#,
            400,
        ),
        (
            "POST",
            "/api/projects/base/models/p/versions",
            r#"{"run": 1, "alias": "../a"}"#,
            400,
        ),
        ("POST", "/api/projects/base/jobs/..%2F1/cancel", "{}", 400),
        (
            "POST",
            "/api/projects/base/studies",
            r#"{"dataset": "../penguins"}"#,
            400,
        ),
        // A client never names a file: unknown fields are refused, not ignored.
        (
            "POST",
            "/api/projects/base/models/p/exports",
            r#"{"target": "/tmp/x"}"#,
            422,
        ),
    ] {
        let reply = served.write(method, path, Some(&token), body);
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.body);
    }
    // No cookies, and nothing that lets another site's scripts in.
    let page = served.get("/");
    let lower = page.headers.to_ascii_lowercase();
    assert!(!lower.contains("set-cookie"));
    assert!(!lower.contains("access-control-allow-origin"));
    assert!(lower.contains("content-security-policy"));
    let preflight = request(
        &served.addr,
        "OPTIONS",
        "/api/projects/base/studies",
        &[
            ("Origin", "http://attacker.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
        None,
    );
    assert!(
        !preflight
            .headers
            .to_ascii_lowercase()
            .contains("access-control-allow"),
        "{preflight:?}"
    );
    assert_eq!(preflight.status, 405, "{preflight:?}");
    let delete = request(&served.addr, "DELETE", "/api/projects/base", &[], None);
    assert_eq!(delete.status, 405, "{delete:?}");
    drop(served);

    // Any other address needs a token: one is generated, and reads need it too.
    let served = Served::start(&[f, "--bind", "0.0.0.0:0"]);
    assert!(
        served.banner.contains("token (shown once"),
        "{}",
        served.banner
    );
    let port = served.addr.rsplit(':').next().expect("port").to_owned();
    let local = format!("127.0.0.1:{port}");
    let reply = request(&local, "GET", "/api/projects", &[], None);
    assert_eq!(reply.status, 401, "{}", reply.body);
    let auth = format!("Bearer {}", served.token());
    let reply = request(
        &local,
        "GET",
        "/api/projects",
        &[("Authorization", &auth)],
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[test]
fn serving_refuses_what_it_cannot_do_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nothing.kiln");
    let out = kiln(&["serve", path_str(&missing), "--bind", "127.0.0.1:0"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("nothing.kiln: no such project file"),
        "{}",
        stderr(&out)
    );
    let not_kiln = dir.path().join("notes.kiln");
    std::fs::write(&not_kiln, "not a project").expect("write");
    let out = kiln(&["serve", path_str(&not_kiln), "--bind", "127.0.0.1:0"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("notes.kiln"), "{}", stderr(&out));
    let file = dir.path().join("base.kiln");
    penguins_project(&file);
    let out = kiln(&["serve", path_str(&file), "--token", "short"]);
    assert!(
        stderr(&out).contains("at least 16 characters"),
        "{}",
        stderr(&out)
    );
    // Another process holds the writer: a writing server says so and stops.
    let holder = Served::start(&[path_str(&file), "--bind", "127.0.0.1:0", "--allow-writes"]);
    let out = kiln(&[
        "serve",
        path_str(&file),
        "--bind",
        "127.0.0.1:0",
        "--allow-writes",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("another process is writing"),
        "{}",
        stderr(&out)
    );
    // A port already taken is named, with what to do.
    let port = holder.addr.rsplit(':').next().expect("port").to_owned();
    let other = dir.path().join("other.kiln");
    penguins_project(&other);
    let out = kiln(&[
        "serve",
        path_str(&other),
        "--bind",
        &format!("127.0.0.1:{port}"),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("cannot listen on 127.0.0.1:{port}"))
            && stderr(&out).contains("choose another with --bind"),
        "{}",
        stderr(&out)
    );
    drop(holder);
    assert!(Path::new(&file).is_file());
}

/// A program that starts kiln serve (Kiln Remote does) holds its standard input; with
/// `--stop-on-eof` the server stops cleanly when that closes, and lets the project go.
#[test]
fn a_server_stops_when_the_program_that_started_it_goes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("base.kiln");
    penguins_project(&file);
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["serve", path_str(&file), "--bind", "127.0.0.1:0"])
        .args(["--allow-writes", "--stop-on-eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kiln serve starts");
    let input = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut addr = None;
    for line in lines.by_ref() {
        let line = line.expect("a line");
        if let Some(rest) = line.strip_prefix("open: http://") {
            addr = rest.split('/').next().map(str::to_owned);
        }
        if line.starts_with("press Ctrl-C") {
            break;
        }
    }
    let addr = addr.expect("kiln serve printed its address");
    assert_eq!(request(&addr, "GET", "/api/", &[], None).status, 200);
    drop(input);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "kiln serve still runs after its input closed"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    let said: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        said.iter().any(|l| l.contains("standard input closed"))
            && said.iter().any(|l| l == "kiln serve stopped"),
        "{said:?}"
    );
    // The project's writer was let go.
    let again = Served::start(&[path_str(&file), "--bind", "127.0.0.1:0", "--allow-writes"]);
    assert_eq!(again.get("/api/").status, 200);
}
