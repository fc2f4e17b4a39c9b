//! What needs no server: limits, batching, names, URLs and selections. The round trips against
//! a real MLflow server are in the binary's `tests/mlflow.rs`, which CI runs.

use serde_json::Value;

use super::*;
use crate::tracking::MetricPoint;

fn point(i: i64, value: f64) -> MetricPoint {
    MetricPoint {
        key: format!("metric/{}", i % 3),
        step: i,
        value,
        timestamp: 1_700_000_000_000 + i,
    }
}

fn parse(body: &batch::Body) -> Value {
    serde_json::from_slice(&body.json).expect("a body is JSON")
}

#[test]
fn batches_keep_every_point_once_in_order_within_each_limit() {
    let points: Vec<MetricPoint> = (0..2_503).map(|i| point(i, i as f64 * 0.5)).collect();
    let mut batcher = MetricBatcher::new("abc", Limits::MLFLOW);
    for i in 0..250 {
        batcher.param(&format!("p{i}"), "v");
    }
    for i in 0..130 {
        batcher.tag(&format!("t{i}"), "v");
    }
    let bodies = batcher.bodies(&points);
    let mut sent = Vec::new();
    let (mut params, mut tags) = (0, 0);
    for body in &bodies {
        let v = parse(body);
        let m = v["metrics"].as_array().expect("metrics");
        let p = v["params"].as_array().expect("params").len();
        let t = v["tags"].as_array().expect("tags").len();
        assert!(m.len() <= 1000 && p <= 100 && t <= 100);
        assert!(m.len() + p + t <= 1000, "{} items", m.len() + p + t);
        assert!(body.json.len() <= 1_000_000);
        assert_eq!(v["run_id"], "abc");
        assert_eq!((body.metrics, body.params, body.tags), (m.len(), p, t));
        params += p;
        tags += t;
        for item in m {
            sent.push((
                item["key"].as_str().expect("key").to_owned(),
                item["step"].as_i64().expect("step"),
                item["value"].as_f64().expect("value"),
                item["timestamp"].as_i64().expect("timestamp"),
            ));
        }
    }
    assert_eq!((params, tags), (250, 130));
    let expected: Vec<_> = points
        .iter()
        .map(|p| (p.key.clone(), p.step, p.value, p.timestamp))
        .collect();
    assert_eq!(sent, expected);
    // 250 params need three bodies (100 + 100 + 50); the points fill the room left in them.
    assert_eq!(bodies.len(), 3);
}

#[test]
fn batches_stay_under_a_megabyte_when_values_are_long() {
    let mut limits = Limits::MLFLOW;
    limits.bytes_per_request = 10_000;
    let mut batcher = MetricBatcher::new("run", limits);
    for i in 0..40 {
        batcher.param(&format!("p{i}"), &"x".repeat(1_000));
    }
    let bodies = batcher.bodies(&[]);
    assert!(bodies.len() >= 4, "{} bodies", bodies.len());
    assert!(bodies.iter().all(|b| b.json.len() <= 10_000));
    assert_eq!(bodies.iter().map(|b| b.params).sum::<usize>(), 40);
}

#[test]
fn special_values_travel_as_protobuf_json_writes_them() {
    let points = [
        point(0, f64::NAN),
        point(1, f64::INFINITY),
        point(2, -f64::INFINITY),
        point(3, 0.1 + 0.2),
    ];
    let bodies = MetricBatcher::new("r", Limits::MLFLOW).bodies(&points);
    let v = parse(&bodies[0]);
    let values: Vec<&Value> = v["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .map(|m| &m["value"])
        .collect();
    assert_eq!(values[0], "NaN");
    assert_eq!(values[1], "Infinity");
    assert_eq!(values[2], "-Infinity");
    assert_eq!(
        values[3].as_f64(),
        Some(0.1 + 0.2),
        "the shortest form reads back exactly"
    );
    assert!(batch::value_of(values[0]).is_nan());
    assert_eq!(batch::value_of(values[2]), f64::NEG_INFINITY);
}

#[test]
fn over_long_keys_and_values_are_refused_by_name() {
    let long_value = "v".repeat(6_001);
    let long_key = "k".repeat(251);
    let problems = check_limits(
        "trial 3",
        [("notes", long_value.as_str()), ("lr", "0.1")],
        [("kiln.space", "x".repeat(8_000).leak() as &str)],
        [long_key.as_str(), "val/accuracy"],
        &Limits::MLFLOW,
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
    let odd = check_limits("r", [("lr", "1")], [], ["val/f1 (macro)"], &Limits::MLFLOW);
    assert_eq!(odd.len(), 1, "{odd:?}");
    assert!(
        odd[0].contains("\"val/f1 (macro)\" has characters MLflow refuses"),
        "{odd:?}"
    );
    assert!(problems[0].contains("param \"notes\" is 6001 characters (at most 6000)"));
    assert!(problems[1].contains("metric key") && problems[1].contains("at most 250"));
    let message = SyncError::TooLong(problems).to_string();
    assert!(message.starts_with("nothing was sent"));
}

#[test]
fn basic_authentication_is_rfc_4648_base64() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    assert_eq!(base64(b"admin:password1234"), "YWRtaW46cGFzc3dvcmQxMjM0");
}

#[test]
fn urls_are_checked_and_https_gets_advice() {
    assert_eq!(
        normalize_url(" http://127.0.0.1:5000/ ").ok().as_deref(),
        Some("http://127.0.0.1:5000")
    );
    let https = normalize_url("https://mlflow.example.org").expect_err("https");
    assert!(https.to_string().contains("plain HTTP"), "{https}");
    assert!(normalize_url("127.0.0.1:5000").is_err());
    assert!(normalize_url("http://").is_err());
    assert!(normalize_url("").is_err());
}

#[test]
fn an_unreachable_server_is_named_with_advice() {
    // A port nothing listens on: bound, then freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let e = Client::connect(&format!("http://127.0.0.1:{port}"))
        .err()
        .expect("nothing listens");
    let text = e.to_string();
    assert!(
        text.contains(&format!(
            "cannot reach the MLflow server at http://127.0.0.1:{port}"
        )),
        "{text}"
    );
    assert!(text.contains("mlflow server --host"), "{text}");
}

#[test]
fn selections_parse_ids_ranges_and_studies() {
    assert_eq!("all".parse::<RunSelection>(), Ok(RunSelection::All));
    assert_eq!(
        "study:4".parse::<RunSelection>(),
        Ok(RunSelection::Study(4))
    );
    assert_eq!(
        "3,5,7-9,5".parse::<RunSelection>(),
        Ok(RunSelection::Ids(vec![3, 5, 7, 8, 9]))
    );
    assert!("9-7".parse::<RunSelection>().is_err());
    assert!("study:x".parse::<RunSelection>().is_err());
    assert!("three".parse::<RunSelection>().is_err());
}

#[test]
fn server_versions_compare_by_major_and_minor() {
    assert!(push::at_least("3.1.0", 2, 3));
    assert!(push::at_least("2.3.0", 2, 3));
    assert!(push::at_least("2.10.1.dev0", 2, 3));
    assert!(!push::at_least("2.2.9", 2, 3));
    assert!(!push::at_least("1.30.0", 2, 3));
}

#[test]
fn a_403_explains_the_host_check_and_a_401_the_login() {
    let forbidden = SyncError::Forbidden {
        url: "http://10.0.0.5:5000".into(),
        host: "10.0.0.5:5000".into(),
        message: "Invalid Host header".into(),
        had_credentials: false,
    };
    assert!(
        forbidden
            .to_string()
            .contains("--allowed-hosts 10.0.0.5:5000"),
        "{forbidden}"
    );
    let login = SyncError::LoginNeeded {
        url: "http://127.0.0.1:5000".into(),
        had_credentials: false,
    };
    assert!(
        login.to_string().contains("MLFLOW_TRACKING_USERNAME"),
        "{login}"
    );
}
