//! Following a server: one thread per project reads its event stream (`GET
//! /api/projects/{id}/events`, Server-Sent Events) and tells when a study it saw running has
//! finished, failed or been cancelled, so that the app can raise a notification.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Deserialize;

/// How long one event stream is read before it is opened anew (studies are re-read then).
const STREAM_FOR: Duration = Duration::from_secs(600);
/// The wait before trying again after a server could not be reached.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// What a notification says.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub title: String,
    pub body: String,
}

/// One study as the server's `changed` and `hello` events list it.
#[derive(Debug, Clone, Deserialize)]
struct Study {
    id: serde_json::Value,
    name: String,
    status: String,
}

/// The studies of one project as last seen, and what changed since.
#[derive(Debug, Default)]
pub struct Studies {
    status: HashMap<String, String>,
}

impl Studies {
    /// Takes the newest list of studies and returns a notice for each study seen running before
    /// that has now ended. A study first seen ended tells nothing: it ended before anyone
    /// followed it.
    pub fn update(
        &mut self,
        project: &str,
        server: &str,
        studies: &serde_json::Value,
    ) -> Vec<Notice> {
        let Ok(studies) = serde_json::from_value::<Vec<Study>>(studies.clone()) else {
            return Vec::new();
        };
        let mut notices = Vec::new();
        for study in studies {
            let key = study.id.to_string();
            let before = self.status.insert(key, study.status.clone());
            if before.as_deref() != Some("running") || study.status == "running" {
                continue;
            }
            let (verb, what) = match study.status.as_str() {
                "finished" => ("finished", "Its trials are done"),
                "failed" => ("failed", "It could not record its trials; resume it"),
                "cancelled" => ("was cancelled", "The trials it finished are kept"),
                _ => continue,
            };
            notices.push(Notice {
                title: format!("Study {} {verb}", study.name),
                body: format!("{what}. Project {project} on {server}."),
            });
        }
        notices
    }
}

/// Reads Server-Sent Events a line at a time.
#[derive(Debug, Default)]
pub struct SseReader {
    event: String,
    data: String,
}

impl SseReader {
    /// Takes one line (without its end); returns an event when the line ended one.
    pub fn line(&mut self, line: &str) -> Option<(String, String)> {
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            let data = std::mem::take(&mut self.data);
            return (!data.is_empty() || !event.is_empty()).then(|| {
                (
                    if event.is_empty() {
                        "message".into()
                    } else {
                        event
                    },
                    data,
                )
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.event = value.to_owned(),
            "data" => {
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(value);
            }
            _ => {}
        }
        None
    }
}

/// Following one server; dropping it stops the following (threads end at their next event or
/// keep-alive, and say nothing more).
pub struct Following {
    stop: Arc<AtomicBool>,
}

impl Drop for Following {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Starts following every project of the server at `url` (`http://host:port/`).
pub fn start(
    url: String,
    token: Option<String>,
    server_name: String,
    notify: Arc<dyn Fn(Notice) + Send + Sync>,
) -> Following {
    let stop = Arc::new(AtomicBool::new(false));
    let following = Following { stop: stop.clone() };
    let spawned = std::thread::Builder::new()
        .name("kiln-remote: projects".into())
        .spawn(move || {
            let agent = agent(Some(Duration::from_secs(20)));
            // The projects a server serves are fixed while it runs; ask until it answers.
            let projects = loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                match get_json(&agent, &format!("{url}api/projects"), token.as_deref()) {
                    Ok(list) => break list,
                    Err(e) => {
                        eprintln!("kiln-remote: {url}: {e}");
                        std::thread::sleep(RETRY_AFTER);
                    }
                }
            };
            let ids: Vec<String> = projects
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("id").and_then(|i| i.as_str()).map(str::to_owned))
                .collect();
            for id in ids {
                let (project, url, token, name, stop, notify) = (
                    id.clone(),
                    url.clone(),
                    token.clone(),
                    server_name.clone(),
                    stop.clone(),
                    notify.clone(),
                );
                let spawned = std::thread::Builder::new()
                    .name(format!("kiln-remote: follow {id}"))
                    .spawn(move || {
                        follow_project(&url, token.as_deref(), &project, &name, &stop, &*notify)
                    });
                if let Err(e) = spawned {
                    eprintln!("kiln-remote: could not follow {id}: {e}");
                }
            }
        });
    if let Err(e) = spawned {
        eprintln!("kiln-remote: could not follow the server: {e}");
    }
    following
}

fn follow_project(
    url: &str,
    token: Option<&str>,
    project: &str,
    server: &str,
    stop: &AtomicBool,
    notify: &(dyn Fn(Notice) + Send + Sync),
) {
    let agent = agent(Some(STREAM_FOR));
    let mut studies = Studies::default();
    let events = format!("{url}api/projects/{project}/events");
    while !stop.load(Ordering::SeqCst) {
        let request = get(&agent, &events, token).header("Accept", "text/event-stream");
        let response = match request.call() {
            Ok(r) if r.status() == 200 => r,
            Ok(r) => {
                eprintln!("kiln-remote: {events}: the server answered {}", r.status());
                std::thread::sleep(RETRY_AFTER * 5);
                continue;
            }
            Err(e) => {
                eprintln!("kiln-remote: {events}: {e}");
                std::thread::sleep(RETRY_AFTER);
                continue;
            }
        };
        let mut reader = SseReader::default();
        for line in BufReader::new(response.into_body().into_reader()).lines() {
            let Ok(line) = line else { break };
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let Some((event, data)) = reader.line(&line) else {
                continue;
            };
            let Ok(data) = serde_json::from_str::<serde_json::Value>(&data) else {
                continue;
            };
            let list = match event.as_str() {
                "hello" => data.pointer("/changed/studies"),
                "changed" => data.get("studies"),
                "bye" => break,
                _ => None,
            };
            if let Some(list) = list {
                for notice in studies.update(project, server, list) {
                    if !stop.load(Ordering::SeqCst) {
                        notify(notice);
                    }
                }
            }
        }
        if !stop.load(Ordering::SeqCst) {
            std::thread::sleep(RETRY_AFTER);
        }
    }
}

fn agent(body_for: Option<Duration>) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_recv_response(Some(Duration::from_secs(20)))
        .timeout_recv_body(body_for)
        .user_agent(concat!("kiln-remote/", env!("CARGO_PKG_VERSION")))
        .build();
    ureq::Agent::new_with_config(config)
}

/// A GET of `url`, with the token as kiln serve takes it.
fn get(
    agent: &ureq::Agent,
    url: &str,
    token: Option<&str>,
) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
    let request = agent.get(url);
    match token {
        Some(token) => request.header("Authorization", format!("Bearer {token}")),
        None => request,
    }
}

/// Asks the server for `url` with the token; a refusal is said in words.
pub fn get_json(
    agent: &ureq::Agent,
    url: &str,
    token: Option<&str>,
) -> Result<serde_json::Value, String> {
    let response = get(agent, url, token)
        .call()
        .map_err(|e| format!("could not reach the server: {e}"))?;
    match response.status().as_u16() {
        200 => {
            let text = response
                .into_body()
                .read_to_string()
                .map_err(|e| format!("the server's answer was cut short: {e}"))?;
            serde_json::from_str(&text)
                .map_err(|e| format!("the server's answer is not Kiln's: {e}"))
        }
        401 => Err(match token {
            None => "the server wants a token: paste the one kiln serve printed".into(),
            Some(_) => {
                "the server refused this token: copy it again from the line kiln serve printed"
                    .into()
            }
        }),
        404 => Err("this address answers, but not as a Kiln server (no /api/projects)".into()),
        421 => Err(
            "the server only answers to its loopback name: connect to it as 127.0.0.1 or localhost"
                .into(),
        ),
        status => Err(format!("the server answered {status}")),
    }
}

/// Checks that `url` is a Kiln server that takes `token`; returns its projects.
pub fn probe(url: &str, token: Option<&str>) -> Result<serde_json::Value, String> {
    get_json(
        &agent(Some(Duration::from_secs(10))),
        &format!("{url}api/projects"),
        token,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_across_lines() {
        let mut reader = SseReader::default();
        let mut got = Vec::new();
        for line in [
            ": keep-alive",
            "event: changed",
            "data: {\"a\":",
            "data: 1}",
            "",
            "",
            "data: plain",
            "",
        ] {
            got.extend(reader.line(line));
        }
        assert_eq!(
            got,
            vec![
                ("changed".to_owned(), "{\"a\":\n1}".to_owned()),
                ("message".to_owned(), "plain".to_owned())
            ]
        );
    }

    fn list(entries: &[(i64, &str, &str)]) -> serde_json::Value {
        serde_json::Value::Array(
            entries
                .iter()
                .map(|(id, name, status)| serde_json::json!({"id": id, "name": name, "status": status, "strategy": "grid"}))
                .collect(),
        )
    }

    #[test]
    fn a_study_seen_running_tells_once_when_it_ends() {
        let mut studies = Studies::default();
        // Ended before anyone followed: nothing to tell.
        assert!(
            studies
                .update("lab", "gpu-box", &list(&[(1, "old", "finished")]))
                .is_empty()
        );
        assert!(
            studies
                .update(
                    "lab",
                    "gpu-box",
                    &list(&[
                        (1, "old", "finished"),
                        (2, "sweep", "running"),
                        (3, "wide", "running")
                    ])
                )
                .is_empty()
        );
        let ended = studies.update(
            "lab",
            "gpu-box",
            &list(&[
                (1, "old", "finished"),
                (2, "sweep", "finished"),
                (3, "wide", "failed"),
            ]),
        );
        assert_eq!(ended.len(), 2);
        assert_eq!(ended[0].title, "Study sweep finished");
        assert_eq!(ended[1].title, "Study wide failed");
        assert!(ended[1].body.contains("Project lab on gpu-box"));
        // Told once.
        assert!(
            studies
                .update(
                    "lab",
                    "gpu-box",
                    &list(&[(2, "sweep", "finished"), (3, "wide", "failed")])
                )
                .is_empty()
        );
        // Resumed and cancelled: told again.
        studies.update("lab", "gpu-box", &list(&[(3, "wide", "running")]));
        let cancelled = studies.update("lab", "gpu-box", &list(&[(3, "wide", "cancelled")]));
        assert_eq!(cancelled[0].title, "Study wide was cancelled");
        // Something that is not a study list changes nothing.
        assert!(
            studies
                .update("lab", "gpu-box", &serde_json::json!({"x": 1}))
                .is_empty()
        );
    }
}
