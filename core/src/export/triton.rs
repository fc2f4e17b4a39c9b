//! Triton model configurations: written from the ONNX graph, and linted against it.
//!
//! The linter reads a `config.pbtxt` (protobuf text format) and refuses anything that
//! contradicts the graph: the platform or backend, input and output names, data types, ranks
//! and dims, and the batch rule (with `max_batch_size` > 0, `dims` leave out the batch axis).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::onnx::GraphTensor;

/// Where Triton runs the model's instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceKind {
    Gpu,
    Cpu,
}

impl InstanceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceKind::Gpu => "gpu",
            InstanceKind::Cpu => "cpu",
        }
    }
}

impl std::fmt::Display for InstanceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for InstanceKind {
    type Err = String;

    fn from_str(s: &str) -> Result<InstanceKind, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "gpu" => Ok(InstanceKind::Gpu),
            "cpu" => Ok(InstanceKind::Cpu),
            other => Err(format!("unknown instance kind {other:?}: use gpu or cpu")),
        }
    }
}

/// Which versions Triton serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionPolicy {
    Latest(u32),
    All,
    Specific(Vec<u32>),
}

/// The deployment settings a user chooses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TritonOptions {
    pub max_batch_size: u32,
    pub max_queue_delay_microseconds: u64,
    pub preferred_batch_sizes: Vec<u32>,
    pub instance_kind: InstanceKind,
    pub instance_count: u32,
    pub version_policy: VersionPolicy,
    /// What the graph reads.
    pub input: InputChoice,
}

/// What the exported graph reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputChoice {
    /// Raw rows where the pipeline composes into the graph, else features.
    #[default]
    Auto,
    /// Raw rows: one input per column; refused for a pipeline that does not compose.
    Raw,
    /// The feature pipeline's output (`pipeline.json` applied by the client).
    Features,
}

impl std::str::FromStr for InputChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<InputChoice, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(InputChoice::Auto),
            "raw" => Ok(InputChoice::Raw),
            "features" => Ok(InputChoice::Features),
            other => Err(format!(
                "unknown input form {other:?}: use raw, features or auto"
            )),
        }
    }
}

impl Default for TritonOptions {
    fn default() -> TritonOptions {
        TritonOptions {
            max_batch_size: 32,
            max_queue_delay_microseconds: 100,
            preferred_batch_sizes: Vec::new(),
            instance_kind: InstanceKind::Cpu,
            instance_count: 1,
            version_policy: VersionPolicy::Latest(1),
            input: InputChoice::Auto,
        }
    }
}

impl TritonOptions {
    /// Settings that Triton would refuse, or that would serve nothing, named by their flag.
    pub fn check(&self) -> Result<(), String> {
        if self.max_batch_size == 0 {
            return Err("--max-batch-size 0 would turn batching off for a model with a batch axis; use at least 1".into());
        }
        if self.instance_count == 0 {
            return Err("--count 0 would start no instance of the model; use at least 1".into());
        }
        if let Some(p) = self
            .preferred_batch_sizes
            .iter()
            .find(|&&p| p == 0 || p > self.max_batch_size)
        {
            return Err(format!(
                "--preferred {p}: each preferred batch size must be between 1 and --max-batch-size ({})",
                self.max_batch_size
            ));
        }
        match &self.version_policy {
            VersionPolicy::Latest(0) => {
                Err("--versions 0 would serve no version; use at least 1".into())
            }
            VersionPolicy::Specific(versions) => check_specific(versions),
            _ => Ok(()),
        }
    }
}

/// `text` as a protobuf text-format string: quoted, with quotes, backslashes and line breaks
/// escaped (a column may be called `bill length, "mm"`).
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A `specific` list that serves something: versions from 1, each once.
fn check_specific(versions: &[u32]) -> Result<(), String> {
    if versions.is_empty() {
        return Err(
            "a specific version policy with no versions would serve nothing; name at least one"
                .into(),
        );
    }
    if versions.contains(&0) {
        return Err("version 0 does not exist: Triton's versions count from 1".into());
    }
    let mut seen = versions.to_vec();
    seen.sort_unstable();
    if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!(
            "version {} is named twice in the specific version policy",
            w[0]
        ));
    }
    Ok(())
}

pub const LABELS_FILE: &str = "labels.txt";

/// Writes the `config.pbtxt` of `name` for a graph with these inputs and outputs.
pub fn config_pbtxt(
    name: &str,
    inputs: &[GraphTensor],
    outputs: &[GraphTensor],
    options: &TritonOptions,
) -> String {
    let batched = options.max_batch_size > 0;
    let mut out = String::new();
    let _ = writeln!(out, "name: {}", quoted(name));
    let _ = writeln!(out, "platform: \"onnxruntime_onnx\"");
    let _ = writeln!(out, "max_batch_size: {}", options.max_batch_size);
    let tensor = |t: &GraphTensor, label: bool| {
        let dims: Vec<String> = (if batched {
            &t.dims[1.min(t.dims.len())..]
        } else {
            &t.dims[..]
        })
        .iter()
        .map(i64::to_string)
        .collect();
        let mut entry = format!(
            "  {{\n    name: {}\n    data_type: {}\n    dims: [ {} ]\n",
            quoted(&t.name),
            triton_type(&t.elem_type),
            dims.join(", ")
        );
        if label {
            let _ = writeln!(entry, "    label_filename: \"{LABELS_FILE}\"");
        }
        entry + "  }"
    };
    // Entries of a list are separated by commas: Triton's parser refuses them without.
    let inputs: Vec<String> = inputs.iter().map(|t| tensor(t, false)).collect();
    // Triton's classification extension reads class names for the probabilities only.
    let outputs: Vec<String> = outputs
        .iter()
        .map(|t| tensor(t, t.name == super::onnx::OUTPUT_NAME))
        .collect();
    let _ = writeln!(out, "input [\n{}\n]", inputs.join(",\n"));
    let _ = writeln!(out, "output [\n{}\n]", outputs.join(",\n"));
    if batched {
        let _ = writeln!(
            out,
            "dynamic_batching {{\n  max_queue_delay_microseconds: {}",
            options.max_queue_delay_microseconds
        );
        if !options.preferred_batch_sizes.is_empty() {
            let sizes: Vec<String> = options
                .preferred_batch_sizes
                .iter()
                .map(u32::to_string)
                .collect();
            let _ = writeln!(out, "  preferred_batch_size: [ {} ]", sizes.join(", "));
        }
        let _ = writeln!(out, "}}");
    }
    let kind = match options.instance_kind {
        InstanceKind::Gpu => "KIND_GPU",
        InstanceKind::Cpu => "KIND_CPU",
    };
    let _ = writeln!(
        out,
        "instance_group [\n  {{\n    count: {}\n    kind: {kind}\n  }}\n]",
        options.instance_count
    );
    let policy = match &options.version_policy {
        VersionPolicy::Latest(n) => format!("latest {{ num_versions: {n} }}"),
        VersionPolicy::All => "all { }".to_string(),
        VersionPolicy::Specific(v) => {
            let v: Vec<String> = v.iter().map(u32::to_string).collect();
            format!("specific {{ versions: [ {} ] }}", v.join(", "))
        }
    };
    let _ = writeln!(out, "version_policy {{ {policy} }}");
    out
}

fn triton_type(onnx: &str) -> String {
    match onnx {
        "FLOAT" => "TYPE_FP32".into(),
        "DOUBLE" => "TYPE_FP64".into(),
        "INT64" => "TYPE_INT64".into(),
        "STRING" => "TYPE_STRING".into(),
        other => format!("TYPE_{other}"),
    }
}

/// A value of the protobuf text format.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(String),
    Message(BTreeMap<String, Vec<Value>>),
    List(Vec<Value>),
}

impl Value {
    fn fields(&self) -> Option<&BTreeMap<String, Vec<Value>>> {
        match self {
            Value::Message(m) => Some(m),
            _ => None,
        }
    }

    fn scalar(&self) -> Option<&str> {
        match self {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// A field's values, with lists flattened (`input [ {..}, {..} ]` and repeated `input {..}`).
    fn all(&self, key: &str) -> Vec<&Value> {
        let mut out = Vec::new();
        for v in self.fields().and_then(|m| m.get(key)).into_iter().flatten() {
            match v {
                Value::List(items) => out.extend(items.iter()),
                other => out.push(other),
            }
        }
        out
    }

    fn first_scalar(&self, key: &str) -> Option<&str> {
        self.all(key).first().and_then(|v| v.scalar())
    }
}

/// Parses the protobuf text format into a tree of fields.
pub fn parse_pbtxt(text: &str) -> Result<Value, String> {
    let tokens = tokenize(text)?;
    let mut pos = 0;
    let message = parse_fields(&tokens, &mut pos, None)?;
    Ok(Value::Message(message))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Punct(char),
}

fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, String> {
    let mut tokens = Vec::new();
    for (line_no, line) in text.lines().enumerate() {
        let mut chars = line.char_indices().peekable();
        while let Some((_, c)) = chars.next() {
            match c {
                '#' => break,
                c if c.is_whitespace() => {}
                '{' | '}' | '[' | ']' | ':' | ',' | ';' => {
                    tokens.push((Token::Punct(c), line_no + 1))
                }
                '"' | '\'' => {
                    let mut s = String::new();
                    let mut closed = false;
                    while let Some((_, d)) = chars.next() {
                        match d {
                            '\\' => {
                                if let Some((_, e)) = chars.next() {
                                    s.push(match e {
                                        'n' => '\n',
                                        't' => '\t',
                                        'r' => '\r',
                                        other => other,
                                    });
                                }
                            }
                            d if d == c => {
                                closed = true;
                                break;
                            }
                            d => s.push(d),
                        }
                    }
                    if !closed {
                        return Err(format!("line {}: a string is not closed", line_no + 1));
                    }
                    tokens.push((Token::Text(s), line_no + 1));
                }
                _ => {
                    let mut s = c.to_string();
                    while let Some(&(_, d)) = chars.peek() {
                        if d.is_alphanumeric() || matches!(d, '_' | '-' | '.' | '+') {
                            s.push(d);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    tokens.push((Token::Word(s), line_no + 1));
                }
            }
        }
    }
    Ok(tokens)
}

fn parse_fields(
    tokens: &[(Token, usize)],
    pos: &mut usize,
    close: Option<char>,
) -> Result<BTreeMap<String, Vec<Value>>, String> {
    let mut fields: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    loop {
        match tokens.get(*pos) {
            None if close.is_none() => return Ok(fields),
            None => return Err("the configuration ends inside a { }".into()),
            Some((Token::Punct(c), _)) if Some(*c) == close => {
                *pos += 1;
                return Ok(fields);
            }
            Some((Token::Punct(',' | ';'), _)) => *pos += 1,
            Some((Token::Word(key), _)) => {
                *pos += 1;
                if matches!(tokens.get(*pos), Some((Token::Punct(':'), _))) {
                    *pos += 1;
                }
                let value = parse_value(tokens, pos)?;
                fields.entry(key.clone()).or_default().push(value);
            }
            Some((other, line)) => {
                return Err(format!(
                    "line {line}: expected a field name, found {other:?}"
                ));
            }
        }
    }
}

fn parse_value(tokens: &[(Token, usize)], pos: &mut usize) -> Result<Value, String> {
    match tokens.get(*pos) {
        Some((Token::Punct('{'), _)) => {
            *pos += 1;
            Ok(Value::Message(parse_fields(tokens, pos, Some('}'))?))
        }
        Some((Token::Punct('['), _)) => {
            *pos += 1;
            let mut items = Vec::new();
            // Items are separated by commas, as Triton's parser requires.
            let mut separated = true;
            loop {
                match tokens.get(*pos) {
                    Some((Token::Punct(']'), _)) => {
                        *pos += 1;
                        return Ok(Value::List(items));
                    }
                    Some((Token::Punct(','), line)) if separated => {
                        return Err(format!("line {line}: a ',' without a list item before it"));
                    }
                    Some((Token::Punct(','), _)) => {
                        *pos += 1;
                        separated = true;
                    }
                    Some((_, line)) if !separated => {
                        return Err(format!(
                            "line {line}: list items must be separated by ',' (Triton refuses the configuration without)"
                        ));
                    }
                    Some(_) => {
                        items.push(parse_value(tokens, pos)?);
                        separated = false;
                    }
                    None => return Err("the configuration ends inside a [ ]".into()),
                }
            }
        }
        Some((Token::Word(w), _)) | Some((Token::Text(w), _)) => {
            *pos += 1;
            Ok(Value::Scalar(w.clone()))
        }
        Some((Token::Punct(c), line)) => Err(format!("line {line}: unexpected {c:?}")),
        None => Err("the configuration ends where a value was expected".into()),
    }
}

/// Every way `config` contradicts the ONNX graph (inputs and outputs) it is meant to serve.
/// Empty when the configuration is sound.
pub fn lint(config: &str, inputs: &[GraphTensor], outputs: &[GraphTensor]) -> Vec<String> {
    let root = match parse_pbtxt(config) {
        Ok(root) => root,
        Err(e) => return vec![format!("the configuration cannot be parsed: {e}")],
    };
    let mut problems = Vec::new();
    let platform = root.first_scalar("platform");
    let backend = root.first_scalar("backend");
    match (platform, backend) {
        (Some("onnxruntime_onnx"), None) | (None, Some("onnxruntime")) => {}
        (None, None) => problems.push("neither platform nor backend is set; an ONNX model needs platform: \"onnxruntime_onnx\"".into()),
        (_, Some(b)) if b != "onnxruntime" => problems.push(format!(
            "backend: \"{b}\" cannot load an ONNX model (model.onnx); use platform: \"onnxruntime_onnx\" or backend: \"onnxruntime\""
        )),
        (Some(p), _) if p != "onnxruntime_onnx" => problems.push(format!(
            "platform: \"{p}\" cannot load an ONNX model (model.onnx); use platform: \"onnxruntime_onnx\""
        )),
        _ => {}
    }
    problems.extend(lint_version_policy(&root));
    let max_batch: i64 = root
        .first_scalar("max_batch_size")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    for (section, graph) in [("input", inputs), ("output", outputs)] {
        let declared = root.all(section);
        for entry in &declared {
            problems.extend(lint_tensor(section, entry, graph, max_batch));
        }
        for tensor in graph {
            if !declared
                .iter()
                .any(|e| e.first_scalar("name") == Some(tensor.name.as_str()))
            {
                problems.push(format!(
                    "the graph's {section} \"{}\" is missing from the configuration",
                    tensor.name
                ));
            }
        }
    }
    problems
}

/// Triton's three version policies: `latest { num_versions: N }` (N >= 1), `all { }`, and
/// `specific { versions: [..] }` (at least one, from 1, none twice); at most one of them.
fn lint_version_policy(root: &Value) -> Vec<String> {
    let policies = root.all("version_policy");
    let Some(policy) = policies.first() else {
        return Vec::new();
    };
    if policies.len() > 1 {
        return vec!["version_policy is given more than once".into()];
    }
    let Some(fields) = policy.fields() else {
        return vec!["version_policy must be a message: { latest { num_versions: N } }, { all { } } or { specific { versions: [..] } }".into()];
    };
    let kinds: Vec<&String> = fields.keys().collect();
    match kinds.as_slice() {
        [kind] if kind.as_str() == "latest" => {
            let n = fields[*kind]
                .first()
                .and_then(|m| m.first_scalar("num_versions"))
                .and_then(|n| n.parse::<i64>().ok());
            match n {
                Some(n) if n >= 1 => Vec::new(),
                _ => vec!["version_policy latest needs num_versions of at least 1".into()],
            }
        }
        [kind] if kind.as_str() == "all" => Vec::new(),
        [kind] if kind.as_str() == "specific" => {
            let versions: Option<Vec<u32>> = fields[*kind]
                .first()
                .map(|m| m.all("versions"))
                .unwrap_or_default()
                .iter()
                .map(|v| v.scalar().and_then(|s| s.parse().ok()))
                .collect();
            match versions {
                Some(versions) => check_specific(&versions)
                    .err()
                    .map(|e| format!("version_policy specific: {e}"))
                    .into_iter()
                    .collect(),
                None => vec!["version_policy specific: versions must be whole numbers".into()],
            }
        }
        _ => vec![format!(
            "version_policy must name exactly one of latest, all and specific (found {})",
            if kinds.is_empty() {
                "none".to_string()
            } else {
                kinds
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )],
    }
}

fn lint_tensor(section: &str, entry: &Value, graph: &[GraphTensor], max_batch: i64) -> Vec<String> {
    let name = entry.first_scalar("name").unwrap_or("");
    let Some(tensor) = graph.iter().find(|t| t.name == name) else {
        let names: Vec<&str> = graph.iter().map(|t| t.name.as_str()).collect();
        return vec![format!(
            "{section} \"{name}\" is not in the ONNX graph, whose {section}s are {}",
            names.join(", ")
        )];
    };
    let mut problems = Vec::new();
    if let Some(dt) = entry.first_scalar("data_type")
        && dt != triton_type(&tensor.elem_type)
    {
        problems.push(format!(
            "{section} \"{name}\": data_type {dt}, but the graph has {}",
            triton_type(&tensor.elem_type)
        ));
    }
    let dims: Vec<i64> = entry
        .all("dims")
        .iter()
        .filter_map(|v| v.scalar())
        .filter_map(|s| s.parse().ok())
        .collect();
    let graph_dims = &tensor.dims;
    if max_batch > 0 {
        let batch_axis_dynamic = graph_dims.first().is_some_and(|&d| d < 0);
        if !batch_axis_dynamic {
            problems.push(format!("{section} \"{name}\": max_batch_size is {max_batch}, but the graph's first axis is not a batch axis"));
        }
        let expected = &graph_dims[1.min(graph_dims.len())..];
        if dims.len() == graph_dims.len() && dims.first().is_some_and(|&d| d < 0) {
            let suggested: Vec<String> = expected.iter().map(i64::to_string).collect();
            problems.push(format!(
                "{section} \"{name}\": dims [{}] repeat the batch dimension; with max_batch_size {max_batch} Triton adds it, so write dims: [ {} ]",
                dims.iter().map(i64::to_string).collect::<Vec<_>>().join(", "),
                suggested.join(", ")
            ));
        } else if dims.len() != expected.len() {
            problems.push(format!("{section} \"{name}\": dims have rank {}, but the graph's (batch axis excluded) have rank {}", dims.len(), expected.len()));
        } else if dims.iter().zip(expected).any(|(a, b)| a != b && *b >= 0) {
            problems.push(format!("{section} \"{name}\": dims {dims:?}, but the graph has {expected:?} after the batch axis"));
        }
    } else if dims.len() != graph_dims.len() {
        problems.push(format!("{section} \"{name}\": dims have rank {}, but the graph's have rank {} (max_batch_size is 0, so dims include every axis)", dims.len(), graph_dims.len()));
    } else if dims.iter().zip(graph_dims).any(|(a, b)| a != b && *b >= 0) {
        problems.push(format!(
            "{section} \"{name}\": dims {dims:?}, but the graph has {graph_dims:?}"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(name: &str, dims: &[i64]) -> GraphTensor {
        GraphTensor {
            name: name.into(),
            elem_type: "FLOAT".into(),
            dims: dims.to_vec(),
        }
    }

    /// The configuration example of the course chapter, verbatim.
    const COURSE_EXAMPLE: &str = r#"name: "document_model"
backend: "tensorrt"
max_batch_size: 16
input: [
  {
    name: "input"
    data_type: TYPE_FP32
    dims: [ -1, 512 ]
  }
]
output: [
  {
    name: "output"
    data_type: TYPE_FP32
    dims: [ -1, 10 ]
  }
]
dynamic_batching: { }
"#;

    #[test]
    fn the_course_example_is_refused_for_tensorrt_and_the_repeated_batch_dimension() {
        let problems = lint(
            COURSE_EXAMPLE,
            &[tensor("input", &[-1, 512])],
            &[tensor("output", &[-1, 10])],
        );
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(
            problems[0].starts_with("backend: \"tensorrt\" cannot load an ONNX model"),
            "{problems:#?}"
        );
        assert!(
            problems[1].contains("input \"input\": dims [-1, 512] repeat the batch dimension")
                && problems[1].contains("dims: [ 512 ]"),
            "{problems:#?}"
        );
        assert!(
            problems[2].contains("output \"output\": dims [-1, 10] repeat the batch dimension"),
            "{problems:#?}"
        );
    }

    #[test]
    fn a_generated_config_matches_its_golden_text_and_passes_the_linter() {
        let inputs = [tensor("features", &[-1, 12])];
        let outputs = [tensor("probabilities", &[-1, 3])];
        let options = TritonOptions {
            preferred_batch_sizes: vec![8, 16],
            instance_kind: InstanceKind::Gpu,
            instance_count: 2,
            version_policy: VersionPolicy::Latest(2),
            ..TritonOptions::default()
        };
        let config = config_pbtxt("penguins", &inputs, &outputs, &options);
        let golden = r#"name: "penguins"
platform: "onnxruntime_onnx"
max_batch_size: 32
input [
  {
    name: "features"
    data_type: TYPE_FP32
    dims: [ 12 ]
  }
]
output [
  {
    name: "probabilities"
    data_type: TYPE_FP32
    dims: [ 3 ]
    label_filename: "labels.txt"
  }
]
dynamic_batching {
  max_queue_delay_microseconds: 100
  preferred_batch_size: [ 8, 16 ]
}
instance_group [
  {
    count: 2
    kind: KIND_GPU
  }
]
version_policy { latest { num_versions: 2 } }
"#;
        assert_eq!(config, golden);
        assert_eq!(lint(&config, &inputs, &outputs), Vec::<String>::new());
    }

    #[test]
    fn the_linter_names_wrong_names_types_and_ranks() {
        let inputs = [tensor("features", &[-1, 12])];
        let outputs = [tensor("probabilities", &[-1, 3])];
        let unbatched = config_pbtxt(
            "m",
            &inputs,
            &outputs,
            &TritonOptions {
                max_batch_size: 0,
                ..TritonOptions::default()
            },
        );
        assert_eq!(
            lint(&unbatched, &inputs, &outputs),
            Vec::<String>::new(),
            "max_batch_size 0 keeps every axis"
        );
        let bad = unbatched.replace("\"features\"", "\"input_1\"").replace(
            "TYPE_FP32\n    dims: [ -1, 3 ]",
            "TYPE_INT64\n    dims: [ 3 ]",
        );
        let problems = lint(&bad, &inputs, &outputs);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("input \"input_1\" is not in the ONNX graph")),
            "{problems:#?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("the graph's input \"features\" is missing")),
            "{problems:#?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("data_type TYPE_INT64")),
            "{problems:#?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("rank 1")),
            "{problems:#?}"
        );
        assert!(
            lint("name: \"x\" platform: { ", &inputs, &outputs)[0].contains("cannot be parsed")
        );
    }

    #[test]
    fn the_linter_knows_the_three_version_policies() {
        let inputs = [tensor("features", &[-1, 3])];
        let outputs = [tensor("probabilities", &[-1, 2])];
        let with = |policy: VersionPolicy| {
            let options = TritonOptions {
                version_policy: policy,
                ..TritonOptions::default()
            };
            config_pbtxt("m", &inputs, &outputs, &options)
        };
        for policy in [
            VersionPolicy::Latest(2),
            VersionPolicy::All,
            VersionPolicy::Specific(vec![1, 2]),
        ] {
            let config = with(policy.clone());
            assert_eq!(
                lint(&config, &inputs, &outputs),
                Vec::<String>::new(),
                "{policy:?}"
            );
        }
        assert!(
            with(VersionPolicy::Specific(vec![1, 2])).contains("specific { versions: [ 1, 2 ] }")
        );
        let lint_of = |policy: &str| {
            let config = with(VersionPolicy::All).replace("version_policy { all { } }", policy);
            lint(&config, &inputs, &outputs).join("; ")
        };
        assert!(lint_of("version_policy { latest { num_versions: 0 } }").contains("at least 1"));
        assert!(lint_of("version_policy { specific { versions: [ ] } }").contains("serve nothing"));
        assert!(
            lint_of("version_policy { specific { versions: [ 2, 2 ] } }").contains("named twice")
        );
        assert!(
            lint_of("version_policy { specific { versions: [ 0 ] } }").contains("count from 1")
        );
        assert!(
            lint_of("version_policy { all { } latest { num_versions: 1 } }")
                .contains("exactly one of latest, all and specific")
        );
        assert!(lint_of("version_policy { newest { } }").contains("exactly one"));
        let options = TritonOptions {
            version_policy: VersionPolicy::Specific(vec![3, 3]),
            ..TritonOptions::default()
        };
        assert!(options.check().expect_err("twice").contains("named twice"));
    }

    #[test]
    fn list_entries_are_separated_by_commas_as_triton_requires() {
        let inputs = [tensor("a", &[-1, 1]), tensor("b", &[-1, 1])];
        let outputs = [tensor("label", &[-1, 1]), tensor("probabilities", &[-1, 3])];
        let config = config_pbtxt("m", &inputs, &outputs, &TritonOptions::default());
        assert!(config.contains("  },\n  {"), "{config}");
        assert!(lint(&config, &inputs, &outputs).is_empty());
        let without = config.replace("  },\n  {", "  }\n  {");
        let problems = lint(&without, &inputs, &outputs);
        assert!(problems[0].contains("separated by ','"), "{problems:?}");
        assert_eq!(config.matches("label_filename").count(), 1, "{config}");
    }
}
