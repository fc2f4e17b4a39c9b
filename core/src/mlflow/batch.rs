//! MLflow's limits, checked before anything is sent, and `log-batch` bodies cut to fit them.

use std::fmt::Write as _;

use crate::tracking::MetricPoint;

/// What one MLflow request and one value may hold (MLflow's `log-batch` and its validation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub metrics_per_request: usize,
    pub params_per_request: usize,
    pub tags_per_request: usize,
    pub items_per_request: usize,
    pub bytes_per_request: usize,
    pub key_length: usize,
    pub param_value_length: usize,
    pub tag_value_length: usize,
}

impl Limits {
    pub const MLFLOW: Limits = Limits {
        metrics_per_request: 1000,
        params_per_request: 100,
        tags_per_request: 100,
        items_per_request: 1000,
        bytes_per_request: 1_000_000,
        key_length: 250,
        param_value_length: 6000,
        tag_value_length: 8000,
    };
}

/// Every key and value of one run that MLflow would cut short (or refuse: a name with other
/// characters than MLflow allows), named: "run 'trial 3': param
/// 'notes' is 7,012 characters (at most 6,000)". Empty when all fit.
pub fn check_limits<'a>(
    run: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    metric_keys: impl IntoIterator<Item = &'a str>,
    limits: &Limits,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check = |what: &str, name: &str, length: usize, limit: usize| {
        if length > limit {
            let shown: String = name.chars().take(60).collect();
            problems.push(format!(
                "run {run:?}: {what} {shown:?} is {length} characters (at most {limit})"
            ));
        }
    };
    let mut names = Vec::new();
    let mut name = |what: &str, key: &str| {
        // MLflow's rule for names: letters, digits, and _ - . space / : only.
        let allowed = |c: char| c.is_alphanumeric() || "_-. /:".contains(c);
        if !key.chars().all(allowed) || key.is_empty() {
            let shown: String = key.chars().take(60).collect();
            names.push(format!(
                "run {run:?}: {what} {shown:?} has characters MLflow refuses in names (use letters, digits, _ - . space / :)"
            ));
        }
    };
    let params: Vec<(&str, &str)> = params.into_iter().collect();
    let tags: Vec<(&str, &str)> = tags.into_iter().collect();
    let metric_keys: Vec<&str> = metric_keys.into_iter().collect();
    for (k, _) in &params {
        name("param", k);
    }
    for (k, _) in &tags {
        name("tag", k);
    }
    for k in &metric_keys {
        name("metric", k);
    }
    for (k, v) in params {
        check("param key", k, k.chars().count(), limits.key_length);
        check(
            "the value of param",
            k,
            v.chars().count(),
            limits.param_value_length,
        );
    }
    for (k, v) in tags {
        check("tag key", k, k.chars().count(), limits.key_length);
        check(
            "the value of tag",
            k,
            v.chars().count(),
            limits.tag_value_length,
        );
    }
    for k in metric_keys {
        check("metric key", k, k.chars().count(), limits.key_length);
    }
    problems.extend(names);
    problems
}

/// Cuts a run's params, tags and metric points into `log-batch` bodies within [`Limits`]:
/// the params and tags ride in the first bodies, the points fill the rest.
pub struct MetricBatcher<'a> {
    run_id: &'a str,
    limits: Limits,
    params: Vec<String>,
    tags: Vec<String>,
}

/// One `log-batch` body, ready to send, and what it carries.
#[derive(Debug, Clone)]
pub struct Body {
    pub json: Vec<u8>,
    pub metrics: usize,
    pub params: usize,
    pub tags: usize,
}

impl<'a> MetricBatcher<'a> {
    pub fn new(run_id: &'a str, limits: Limits) -> MetricBatcher<'a> {
        MetricBatcher {
            run_id,
            limits,
            params: Vec::new(),
            tags: Vec::new(),
        }
    }

    pub fn param(&mut self, key: &str, value: &str) {
        self.params.push(format!(
            "{{\"key\":{},\"value\":{}}}",
            quote(key),
            quote(value)
        ));
    }

    pub fn tag(&mut self, key: &str, value: &str) {
        self.tags.push(format!(
            "{{\"key\":{},\"value\":{}}}",
            quote(key),
            quote(value)
        ));
    }

    /// The bodies for the params and tags given, and `points`, in order.
    pub fn bodies(&mut self, points: &[MetricPoint]) -> Vec<Body> {
        let limits = self.limits;
        let head = format!("{{\"run_id\":{},", quote(self.run_id));
        let params = std::mem::take(&mut self.params);
        let tags = std::mem::take(&mut self.tags);
        let metrics: Vec<String> = points.iter().map(metric_json).collect();
        let sources = [
            (&params, limits.params_per_request),
            (&tags, limits.tags_per_request),
            (&metrics, limits.metrics_per_request),
        ];
        let mut next = [0usize; 3];
        let mut bodies = Vec::new();
        // Room for the head, the three keys and the brackets.
        let overhead = head.len() + 48;
        while (0..3).any(|i| next[i] < sources[i].0.len()) {
            let mut size = overhead;
            let mut items = 0;
            let mut taken: [&[String]; 3] = [&[], &[], &[]];
            for (i, (source, per_request)) in sources.iter().enumerate() {
                let first = next[i];
                let mut end = first;
                while end < source.len() {
                    let grown = size + source[end].len() + 1;
                    // A lone item always goes, so that the loop ends; lengths were checked.
                    let fits = end - first < *per_request
                        && items < limits.items_per_request
                        && (grown <= limits.bytes_per_request || items == 0);
                    if !fits {
                        break;
                    }
                    size = grown;
                    items += 1;
                    end += 1;
                }
                taken[i] = &source[first..end];
                next[i] = end;
            }
            let mut json = String::with_capacity(size);
            json.push_str(&head);
            let _ = write!(
                json,
                "\"params\":[{}],\"tags\":[{}],\"metrics\":[{}]}}",
                taken[0].join(","),
                taken[1].join(","),
                taken[2].join(",")
            );
            bodies.push(Body {
                json: json.into_bytes(),
                params: taken[0].len(),
                tags: taken[1].len(),
                metrics: taken[2].len(),
            });
        }
        bodies
    }
}

/// A metric point as MLflow's JSON: a number, or "NaN" / "Infinity" as protobuf's JSON writes
/// them.
fn metric_json(p: &MetricPoint) -> String {
    let value = if p.value.is_nan() {
        "\"NaN\"".to_owned()
    } else if p.value == f64::INFINITY {
        "\"Infinity\"".to_owned()
    } else if p.value == f64::NEG_INFINITY {
        "\"-Infinity\"".to_owned()
    } else {
        // serde_json's shortest form that reads back as the same f64.
        serde_json::Value::from(p.value).to_string()
    };
    format!(
        "{{\"key\":{},\"value\":{value},\"timestamp\":{},\"step\":{}}}",
        quote(&p.key),
        p.timestamp,
        p.step
    )
}

fn quote(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// A metric value as MLflow's JSON gave it back.
pub(crate) fn value_of(v: &serde_json::Value) -> f64 {
    match v {
        serde_json::Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        serde_json::Value::String(s) => match s.as_str() {
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            other => other.parse().unwrap_or(f64::NAN),
        },
        _ => f64::NAN,
    }
}
