//! A small client of MLflow's REST API (`/api/2.0/mlflow/...` and the artifact proxy), over plain
//! HTTP, with MLflow's own ways of logging in, and every failure turned into advice.

use std::time::Duration;

use serde_json::{Value, json};
use ureq::RequestBuilder;

use super::SyncError;

/// How long one request may take before the server counts as unreachable.
const TIMEOUT: Duration = Duration::from_secs(120);

/// A connection to one tracking server.
pub struct Client {
    agent: ureq::Agent,
    /// The server's URL without a trailing slash: `http://127.0.0.1:5000`.
    base: String,
    authorization: Option<String>,
    version: Option<String>,
    /// Requests made and body bytes sent, for the progress line.
    pub requests: u64,
    pub bytes_sent: u64,
}

/// Credentials as MLflow's client reads them from the environment: a token, or a user and a
/// password.
pub fn authorization_from_env() -> Option<String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(token) = var("MLFLOW_TRACKING_TOKEN") {
        return Some(format!("Bearer {token}"));
    }
    let user = var("MLFLOW_TRACKING_USERNAME")?;
    let password = var("MLFLOW_TRACKING_PASSWORD").unwrap_or_default();
    Some(format!(
        "Basic {}",
        base64(format!("{user}:{password}").as_bytes())
    ))
}

/// Standard Base64 with padding (RFC 4648), for HTTP basic authentication.
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The server's URL as Kiln uses it, or why it cannot be used.
pub fn normalize_url(url: &str) -> Result<String, SyncError> {
    let url = url.trim().trim_end_matches('/');
    let bad = |why: &str| SyncError::BadUrl {
        url: url.to_owned(),
        why: why.to_owned(),
    };
    if url.is_empty() {
        return Err(bad(
            "give the tracking server's address, such as http://127.0.0.1:5000",
        ));
    }
    if url.starts_with("https://") {
        return Err(bad(
            "Kiln speaks plain HTTP to MLflow; reach an HTTPS server through a local tunnel or proxy (for example ssh -L 5000:localhost:5000 host) and use http://127.0.0.1:5000",
        ));
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(bad(
            "it must start with http://, as in http://127.0.0.1:5000",
        ));
    };
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return Err(bad("it names no host: use http://HOST:PORT"));
    }
    Ok(url.to_owned())
}

/// The `host[:port]` part of a URL: what the server sees in the Host header.
fn host_of(url: &str) -> &str {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    rest.split('/').next().unwrap_or(rest)
}

impl Client {
    /// A client of the server at `url`, logging in as the environment says, once the server
    /// has answered: a server that cannot be reached, or wants a login it lacks, is named
    /// before anything else is done. The version it gave is [`Client::version`].
    pub fn connect(url: &str) -> Result<Client, SyncError> {
        let mut client = Client::with_authorization(url, authorization_from_env())?;
        client.version = client.server_version()?;
        Ok(client)
    }

    fn with_authorization(url: &str, authorization: Option<String>) -> Result<Client, SyncError> {
        let base = normalize_url(url)?;
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .timeout_connect(Some(Duration::from_secs(10)))
            .user_agent(format!("kiln/{}", crate::KILN_VERSION))
            .build();
        Ok(Client {
            agent: ureq::Agent::new_with_config(config),
            base,
            authorization,
            version: None,
            requests: 0,
            bytes_sent: 0,
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// The server's MLflow version, as it said on [`Client::connect`] (`None`: it did not say).
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// `request` with the login, counted; `sent` body bytes go with it.
    fn prepared<B>(&mut self, request: RequestBuilder<B>, sent: usize) -> RequestBuilder<B> {
        self.requests += 1;
        self.bytes_sent += sent as u64;
        match &self.authorization {
            Some(auth) => request.header("Authorization", auth),
            None => request,
        }
    }

    /// POSTs `body` to `/api/2.0/mlflow/{endpoint}` and returns the answer.
    pub fn post(&mut self, endpoint: &str, body: &Value) -> Result<Value, SyncError> {
        let bytes = serde_json::to_vec(body).map_err(|e| SyncError::Internal(e.to_string()))?;
        self.post_bytes(endpoint, &bytes)
    }

    /// POSTs a body already serialised.
    pub fn post_bytes(&mut self, endpoint: &str, bytes: &[u8]) -> Result<Value, SyncError> {
        let url = format!("{}/api/2.0/mlflow/{endpoint}", self.base);
        let request = self.agent.post(&url).content_type("application/json");
        let request = self.prepared(request, bytes.len());
        let response = request.send(bytes).map_err(|e| self.unreachable(e))?;
        self.answer(endpoint, response)
    }

    /// GETs `/api/2.0/mlflow/{endpoint}` with `query`.
    pub fn get(&mut self, endpoint: &str, query: &[(&str, &str)]) -> Result<Value, SyncError> {
        let url = format!("{}/api/2.0/mlflow/{endpoint}", self.base);
        let request = self
            .agent
            .get(&url)
            .query_pairs(query.iter().map(|(k, v)| (*k, *v)));
        let request = self.prepared(request, 0);
        let response = request.call().map_err(|e| self.unreachable(e))?;
        self.answer(endpoint, response)
    }

    /// Uploads `bytes` as the artifact at `path` through the server's artifact proxy.
    pub fn put_artifact(&mut self, path: &str, bytes: &[u8]) -> Result<(), SyncError> {
        let endpoint = format!("mlflow-artifacts/artifacts/{path}");
        let url = format!("{}/api/2.0/{endpoint}", self.base);
        let request = self
            .agent
            .put(&url)
            .content_type("application/octet-stream");
        let request = self.prepared(request, bytes.len());
        let response = request.send(bytes).map_err(|e| self.unreachable(e))?;
        self.answer(&endpoint, response).map(|_| ())
    }

    /// The server's MLflow version (`GET /version`), if it says.
    fn server_version(&mut self) -> Result<Option<String>, SyncError> {
        let url = format!("{}/version", self.base);
        let request = self.prepared(self.agent.get(&url), 0);
        let mut response = request.call().map_err(|e| self.unreachable(e))?;
        let status = response.status().as_u16();
        if status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            return self.answer("version", response).map(|_| None);
        }
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| self.unreachable(e))?;
        Ok(Some(text.trim().to_owned()))
    }

    fn unreachable(&self, e: ureq::Error) -> SyncError {
        SyncError::Unreachable {
            url: self.base.clone(),
            detail: e.to_string(),
        }
    }

    /// The JSON of a successful answer, or the failure it reports, as advice.
    fn answer(
        &self,
        endpoint: &str,
        mut response: ureq::http::Response<ureq::Body>,
    ) -> Result<Value, SyncError> {
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .unwrap_or_default();
        if (200..300).contains(&status) {
            if text.trim().is_empty() {
                return Ok(json!({}));
            }
            return serde_json::from_str(&text).map_err(|_| SyncError::NotMlflow {
                url: self.base.clone(),
                endpoint: endpoint.to_owned(),
                body: excerpt(&text),
            });
        }
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        if parsed.is_none() && status == 404 {
            // A page, not MLflow's JSON error: something else answers at this address.
            return Err(SyncError::NotMlflow {
                url: self.base.clone(),
                endpoint: endpoint.to_owned(),
                body: excerpt(&text),
            });
        }
        let field = |k: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let (code, message) = (field("error_code"), field("message"));
        let message = if message.is_empty() {
            excerpt(&text)
        } else {
            message
        };
        Err(match status {
            401 => SyncError::LoginNeeded {
                url: self.base.clone(),
                had_credentials: self.authorization.is_some(),
            },
            403 => SyncError::Forbidden {
                url: self.base.clone(),
                host: host_of(&self.base).to_owned(),
                message,
                had_credentials: self.authorization.is_some(),
            },
            _ => SyncError::Server {
                url: self.base.clone(),
                endpoint: endpoint.to_owned(),
                status,
                code,
                message,
            },
        })
    }
}

/// At most 300 characters of `text`, on one line.
fn excerpt(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(300) {
        Some((i, _)) => format!("{}...", &one_line[..i]),
        None => one_line,
    }
}
