//! The servable model: raw rows in, the label and probabilities out. Kiln's feature pipeline is
//! composed into the ONNX graph in front of the classifier, as skl2onnx composes a scikit-learn
//! pipeline, so that a client sends the columns it has and needs nothing of `pipeline.json`.
//!
//! - A number column is one FLOAT input `[batch, 1]`: `(x - mean) / scale`, and a missing value
//!   (NaN) becomes 0, the mean, as in [`crate::features::FeaturePipeline::transform`].
//! - A category column is one STRING input `[batch, 1]`: `ai.onnx.ml.CategoryMapper` gives the
//!   category's index (-1 for an empty or unseen one), and `Equal` against `0..k` then `Cast`
//!   gives the one-hot block (all zeros for -1, as in Kiln).
//! - A text column is one STRING input `[batch, 1]`, turned into its TF-IDF block as skl2onnx
//!   turns a `TfidfVectorizer`: `StringNormalizer` lowercases, onnxruntime's
//!   `com.microsoft.Tokenizer` finds the tokens (the token pattern in RE2 syntax, see
//!   [`tokenexp`]), `TfIdfVectorizer` counts the vocabulary's n-grams, then arithmetic gives
//!   `1 + ln(count)` where asked, multiplies by the idf and scales each row to unit norm (an
//!   all-zero row stays zero). Triton's onnxruntime backend runs these; tract runs them through
//!   [`super::text_ops`], so parity is checked in-process as for the other columns.
//! - The blocks are concatenated into the classifier's `features`; its `probabilities` come
//!   out, and `label` beside them: `ArgMax` mapped to the class name by `CategoryMapper`.

use onnx_ir::{AttributeProto, AttributeType, Message, ModelProto, NodeProto, TensorProto};

use super::ExportError;
use super::onnx::{INPUT_NAME, OUTPUT_NAME, Parity, Plan, floats, tract_error, tract_plan};
use crate::data::Table;
use crate::features::tfidf::{Norm, Tfidf};
use crate::features::{FeaturePipeline, Step};

/// The output that carries the predicted class name.
pub const LABEL_NAME: &str = "label";

const ML_DOMAIN: &str = "ai.onnx.ml";
/// onnxruntime's own operators (the tokenizer).
const MS_DOMAIN: &str = "com.microsoft";
/// ONNX element types.
const FLOAT: i32 = 1;
const STRING: i32 = 8;
const INT64: i32 = 7;

/// What composing `pipeline` into a graph needs beyond the pipeline itself: each TF-IDF step as
/// the graph spells it, in the pipeline's order. [`composable`] makes it.
pub struct Composable(Vec<TextGraph>);

/// Whether every step of `pipeline` can be composed into the graph; `Err` names the first that
/// cannot, and why.
pub fn composable(pipeline: &FeaturePipeline) -> Result<Composable, String> {
    let mut texts = Vec::new();
    for step in &pipeline.steps {
        if let Step::Tfidf { column, model } = step {
            texts.push(TextGraph::of(model).map_err(|why| {
                format!("the text column {column:?} cannot be composed into the graph: {why}")
            })?);
        }
    }
    Ok(Composable(texts))
}

/// Rust's `\w` (Alphabetic, marks, decimal digits, connector punctuation and the joiners) in
/// the classes RE2 can spell: letters, marks, decimal digits, connector punctuation, letter
/// numbers (Roman numerals), the zero-width joiners and the circled and squared letters that
/// are Alphabetic symbols. A test checks it against Rust's `\w` over every character.
pub(crate) const WORD: &str = r"\p{L}\p{M}\p{Nd}\p{Pc}\p{Nl}\x{200C}\x{200D}\x{24B6}-\x{24E9}\x{1F130}-\x{1F149}\x{1F150}-\x{1F169}\x{1F170}-\x{1F189}";
/// Unicode white space, as Rust's `\s` reads it (RE2's `\s` is ASCII only).
pub(crate) const SPACE: &str = r"\t\n\x0B\f\r\x{85}\p{Z}";

/// The token pattern `pattern` (Kiln's, read by the `regex` crate as scikit-learn's is read by
/// Python) in the RE2 syntax of onnxruntime's tokenizer, matching the same tokens: Python's
/// `(?u)` flag goes, `\w`, `\d` and `\s` (Unicode in Kiln, ASCII in RE2) become explicit
/// Unicode classes, and `\b` around a run of `\w`s that ends unbounded goes, since a greedy
/// leftmost match of such a run starts and ends at word boundaries anyway. `Err` says what has
/// no RE2 equivalent: another `\b` or `\B`, a negated class inside brackets, a capture group
/// (scikit-learn keeps the group, the tokenizer the whole match), or a nested class.
pub fn tokenexp(pattern: &str) -> Result<String, String> {
    let body = pattern.strip_prefix("(?u)").unwrap_or(pattern);
    let body = match body.strip_prefix(r"\b").and_then(|b| b.strip_suffix(r"\b")) {
        Some(inner) if word_run(inner) => inner,
        _ => body,
    };
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    return Err("the token pattern ends with a lone backslash".into());
                };
                let class = match e {
                    'w' => Some((WORD, false)),
                    'W' => Some((WORD, true)),
                    'd' => Some((r"\p{Nd}", false)),
                    'D' => Some((r"\p{Nd}", true)),
                    's' => Some((SPACE, false)),
                    'S' => Some((SPACE, true)),
                    'b' | 'B' => {
                        return Err(format!(
                            "\\{e} reads ASCII word characters in RE2 and Unicode ones here, and only \\b around a run of \\w ending in + or * can be dropped"
                        ));
                    }
                    _ => None,
                };
                match class {
                    Some((set, false)) if in_class => out.push_str(set),
                    Some((_, true)) if in_class => {
                        return Err(format!("\\{e} inside brackets has no RE2 equivalent"));
                    }
                    Some((set, negated)) => {
                        out.push_str(if negated { "[^" } else { "[" });
                        out.push_str(set);
                        out.push(']');
                    }
                    None => copy_escape(e, &mut chars, &mut out)?,
                }
            }
            '[' if in_class => {
                if chars.peek() != Some(&':') {
                    return Err("nested character classes have no RE2 equivalent".into());
                }
                // A POSIX class, `[:alpha:]`: copied through its closing `]`.
                out.push(c);
                for p in chars.by_ref() {
                    out.push(p);
                    if p == ']' {
                        break;
                    }
                }
            }
            '[' => {
                in_class = true;
                out.push(c);
                for lead in ['^', ']'] {
                    if chars.peek() == Some(&lead) {
                        out.push(lead);
                        chars.next();
                    }
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '&' | '-' | '~' if in_class && chars.peek() == Some(&c) => {
                return Err(format!("the class operation {c}{c} has no RE2 equivalent"));
            }
            '(' if !in_class && chars.peek() != Some(&'?') => {
                return Err(
                    "a capture group keeps only the group's text in Kiln and the whole match in the tokenizer; use (?:...)".into(),
                );
            }
            '(' if !in_class => {
                out.push(c);
                let mut ahead = chars.clone();
                ahead.next();
                if matches!(ahead.next(), Some('P' | '<')) && ahead.next() != Some('=') {
                    return Err("a named capture group keeps only the group's text in Kiln and the whole match in the tokenizer".into());
                }
                // Inline flags, `(?i)` or `(?i:...)`: RE2 knows i, m and s (and their negation);
                // x (verbose), U (swapped greed) and u are Rust's alone.
                let flags: String = chars
                    .clone()
                    .skip(1)
                    .take_while(|f| f.is_ascii_alphabetic() || *f == '-')
                    .collect();
                if let Some(flag) = flags.chars().find(|f| !"ims-".contains(*f)) {
                    return Err(format!(
                        "the flag {flag} in (?{flags}) has no RE2 equivalent; RE2 knows i, m and s"
                    ));
                }
            }
            _ => out.push(c),
        }
    }
    let compiled = regex::Regex::new(&out).map_err(|e| format!("{out:?} does not compile: {e}"))?;
    if compiled.is_match("") {
        return Err("the pattern matches the empty string, which Kiln counts as a token and the tokenizer never returns; use + where it has *".into());
    }
    Ok(out)
}

/// Unicode general categories, and scripts, that both RE2 and Rust read in `\p{...}`.
const PROPERTIES: [&str; 54] = [
    "L",
    "Lu",
    "Ll",
    "Lt",
    "Lm",
    "Lo",
    "M",
    "Mn",
    "Mc",
    "Me",
    "N",
    "Nd",
    "Nl",
    "No",
    "P",
    "Pc",
    "Pd",
    "Ps",
    "Pe",
    "Pi",
    "Pf",
    "Po",
    "S",
    "Sm",
    "Sc",
    "Sk",
    "So",
    "Z",
    "Zs",
    "Zl",
    "Zp",
    "C",
    "Cc",
    "Cf",
    "Co",
    "Any",
    "Latin",
    "Greek",
    "Cyrillic",
    "Arabic",
    "Hebrew",
    "Han",
    "Hiragana",
    "Katakana",
    "Hangul",
    "Thai",
    "Devanagari",
    "Armenian",
    "Georgian",
    "Bengali",
    "Tamil",
    "Ethiopic",
    "Common",
    "Inherited",
];

/// Copies the escape `\e` (and what it takes, as `\p{Greek}` or `\x{263A}`) from `chars` to
/// `out`, where RE2 reads it as the `regex` crate does; `Err` names one it would not.
fn copy_escape(
    e: char,
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    out: &mut String,
) -> Result<(), String> {
    out.push('\\');
    out.push(e);
    match e {
        'p' | 'P' => {
            let name: String = if chars.peek() == Some(&'{') {
                chars.next();
                let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                out.push('{');
                out.push_str(&name);
                out.push('}');
                name
            } else {
                let letter = chars.next().map(String::from).unwrap_or_default();
                out.push_str(&letter);
                letter
            };
            if !PROPERTIES.contains(&name.as_str()) {
                return Err(format!(
                    "\\{e}{{{name}}}: RE2 reads only general categories and scripts in \\p (such as L, Nd, Greek)"
                ));
            }
        }
        'x' => {
            // Two hex digits, or any number of them in braces: the same in both.
            if chars.peek() == Some(&'{') {
                for c in chars.by_ref() {
                    out.push(c);
                    if c == '}' {
                        break;
                    }
                }
            } else {
                out.extend(chars.by_ref().take(2));
            }
        }
        't' | 'n' | 'r' | 'f' | 'v' | 'a' | 'A' | 'z' => {}
        // `\<` and `\>` are word boundaries in Rust and plain characters in RE2.
        c if c.is_ascii_punctuation() && c != '<' && c != '>' => {}
        _ => {
            return Err(format!(
                "\\{e} is not read the same way by RE2 (onnxruntime's tokenizer) as here"
            ));
        }
    }
    Ok(())
}

/// Whether `inner` is a run of `\w` atoms whose last one is unbounded (`+`, `*` or `{m,}`),
/// such as `\w\w+`: between `\b`s, such a run matches exactly what it matches without them.
fn word_run(inner: &str) -> bool {
    let mut rest = inner;
    let mut unbounded = false;
    if rest.is_empty() {
        return false;
    }
    while let Some(after) = rest.strip_prefix(r"\w") {
        rest = after;
        unbounded = false;
        if let Some(after) = rest.strip_prefix(['+', '*']) {
            rest = after;
            unbounded = true;
        } else if let Some(after) = rest.strip_prefix('?') {
            rest = after;
        } else if let Some(after) = rest.strip_prefix('{') {
            let Some(end) = after.find('}') else {
                return false;
            };
            let bounds = &after[..end];
            let valid = bounds
                .split(',')
                .all(|b| b.is_empty() || b.bytes().all(|d| d.is_ascii_digit()));
            if !valid || bounds.split(',').count() > 2 || bounds.starts_with(',') {
                return false;
            }
            unbounded = bounds.ends_with(',');
            rest = &after[end + 1..];
        }
    }
    rest.is_empty() && unbounded
}

/// What the graph of one TF-IDF step is built from: the token pattern in RE2 syntax and the
/// vocabulary as `TfIdfVectorizer`'s pool, grouped by n-gram length.
struct TextGraph {
    tokenexp: String,
    /// The pool's tokens, the 1-grams first, then the 2-grams, and so on.
    pool: Vec<String>,
    /// Where each length's n-grams start in `pool`, for n = 1 up to the longest.
    starts: Vec<i64>,
    /// The vocabulary column of each n-gram of the pool, in pool order.
    columns: Vec<i64>,
}

impl TextGraph {
    fn of(tfidf: &Tfidf) -> Result<TextGraph, String> {
        let settings = &tfidf.settings;
        let tokenexp = tokenexp(&settings.token_pattern)?;
        let (min_n, max_n) = settings.ngram_range;
        let mut by_length: Vec<Vec<(usize, Vec<&str>)>> = vec![Vec::new(); max_n];
        for (column, term) in tfidf.vocabulary.iter().enumerate() {
            // A term is its tokens joined by single spaces; it must split back into them.
            let parts: Vec<&str> = term.split(' ').collect();
            let n = parts.len();
            if n < min_n.max(1) || n > max_n || tfidf.tokens(term) != parts {
                return Err(format!(
                    "the vocabulary's term {term:?} does not split into the tokens of one n-gram (does the token pattern match spaces?)"
                ));
            }
            by_length[n - 1].push((column, parts));
        }
        let mut graph = TextGraph {
            tokenexp,
            pool: Vec::new(),
            starts: Vec::new(),
            columns: Vec::new(),
        };
        for grams in by_length {
            graph.starts.push(graph.pool.len() as i64);
            for (column, parts) in grams {
                graph.columns.push(column as i64);
                graph.pool.extend(parts.into_iter().map(str::to_owned));
            }
        }
        Ok(graph)
    }
}

/// The graph's inputs, in order: one per pipeline step, named by its column, with whether it
/// is a string.
pub fn raw_inputs(pipeline: &FeaturePipeline) -> Vec<(&str, bool)> {
    pipeline
        .steps
        .iter()
        .map(|s| (s.column(), !matches!(s, Step::Standardize { .. })))
        .collect()
}

/// Builds the nodes of one graph.
struct Builder {
    nodes: Vec<NodeProto>,
    constants: Vec<TensorProto>,
    count: usize,
}

impl Builder {
    fn fresh(&mut self, hint: &str) -> String {
        self.count += 1;
        format!("kiln.{hint}.{}", self.count)
    }

    fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        attributes: Vec<AttributeProto>,
        domain: &str,
    ) -> String {
        let output = self.fresh(&op.to_ascii_lowercase());
        self.node_to(op, inputs, attributes, domain, &output);
        output
    }

    fn node_to(
        &mut self,
        op: &str,
        inputs: &[&str],
        attributes: Vec<AttributeProto>,
        domain: &str,
        output: &str,
    ) {
        let mut node = NodeProto::new();
        node.name = format!("{output}.node");
        node.op_type = op.into();
        node.domain = domain.into();
        node.input = inputs.iter().map(|s| (*s).to_owned()).collect();
        node.output = vec![output.to_owned()];
        node.attribute = attributes;
        self.nodes.push(node);
    }

    /// A one-dimensional constant of `len` values, which `fill` sets with their type.
    fn constant(&mut self, len: usize, fill: impl FnOnce(&mut TensorProto)) -> String {
        let name = self.fresh("const");
        let mut t = TensorProto::new();
        t.name = name.clone();
        t.dims = vec![len as i64];
        fill(&mut t);
        self.constants.push(t);
        name
    }

    fn floats(&mut self, values: &[f32]) -> String {
        self.constant(values.len(), |t| {
            t.data_type = FLOAT;
            t.float_data = values.to_vec();
        })
    }

    fn ints(&mut self, values: &[i64]) -> String {
        self.constant(values.len(), |t| {
            t.data_type = INT64;
            t.int64_data = values.to_vec();
        })
    }
}

pub(super) fn int_attr(name: &str, value: i64) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::INT.into();
    a.i = value;
    a
}

fn ints_attr(name: &str, values: Vec<i64>) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::INTS.into();
    a.ints = values;
    a
}

fn string_attr(name: &str, value: &str) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::STRING.into();
    a.s = value.as_bytes().to_vec().into();
    a
}

fn strings_attr(name: &str, values: &[String]) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::STRINGS.into();
    a.strings = values
        .iter()
        .map(|s| s.as_bytes().to_vec().into())
        .collect();
    a
}

/// Composes `pipeline` in front of `classifier`, the classifier's ONNX graph in the `features`
/// form (its input `features`, its output `probabilities`); `texts` is what [`composable`] made
/// of the same pipeline.
pub fn compose(
    classifier: &[u8],
    pipeline: &FeaturePipeline,
    texts: Composable,
) -> Result<Vec<u8>, ExportError> {
    let mut model =
        ModelProto::parse_from_bytes(classifier).map_err(|e| ExportError::Onnx(e.to_string()))?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(1, |o| o.version);
    // The row sums below take their axes as an input, as operator set 13 introduced.
    if opset < 13 {
        return Err(ExportError::Onnx(format!(
            "the classifier's graph uses operator set {opset}; composing the pipeline into it needs 13 or later"
        )));
    }
    let mut texts = texts.0.into_iter();
    let graph = model.graph.mut_or_insert_default();
    let (Some(features), Some(probabilities)) = (
        graph.input.iter().find(|i| i.name == INPUT_NAME).cloned(),
        graph.output.iter().find(|o| o.name == OUTPUT_NAME).cloned(),
    ) else {
        return Err(ExportError::Onnx(format!(
            "the classifier's graph lacks its {INPUT_NAME:?} input or {OUTPUT_NAME:?} output"
        )));
    };
    // The classifier's input becomes an inner value, fed by the preprocessing.
    let inner = "kiln.features";
    for node in graph.node.iter_mut() {
        for input in node.input.iter_mut().filter(|i| *i == INPUT_NAME) {
            *input = inner.into();
        }
    }
    let mut b = Builder {
        nodes: Vec::new(),
        constants: Vec::new(),
        count: 0,
    };
    let mut blocks = Vec::new();
    let mut inputs = Vec::new();
    let mut uses_tokenizer = false;
    for step in &pipeline.steps {
        let column = step.column();
        let mut input = features.clone();
        input.name = column.to_owned();
        let tensor = input.type_.mut_or_insert_default().mut_tensor_type();
        let shape = tensor.shape.mut_or_insert_default();
        if let Some(width) = shape.dim.get_mut(1) {
            width.set_dim_value(1);
        }
        match step {
            Step::Standardize { mean, scale, .. } => {
                tensor.elem_type = FLOAT;
                let (mean, scale, zero) = (
                    b.floats(&[*mean as f32]),
                    b.floats(&[*scale as f32]),
                    b.floats(&[0.0]),
                );
                let centred = b.node("Sub", &[column, &mean], vec![], "");
                let scaled = b.node("Div", &[&centred, &scale], vec![], "");
                let missing = b.node("IsNaN", &[&scaled], vec![], "");
                blocks.push(b.node("Where", &[&missing, &zero, &scaled], vec![], ""));
            }
            Step::OneHot { categories, .. } => {
                tensor.elem_type = STRING;
                let index = b.node(
                    "CategoryMapper",
                    &[column],
                    vec![
                        strings_attr("cats_strings", categories),
                        ints_attr("cats_int64s", (0..categories.len() as i64).collect()),
                        int_attr("default_int64", -1),
                    ],
                    ML_DOMAIN,
                );
                let range = b.ints(&(0..categories.len() as i64).collect::<Vec<_>>());
                let hot = b.node("Equal", &[&index, &range], vec![], "");
                blocks.push(b.node("Cast", &[&hot], vec![int_attr("to", FLOAT as i64)], ""));
            }
            Step::Tfidf { model, .. } => {
                tensor.elem_type = STRING;
                let Some(text) = texts.next() else {
                    return Err(ExportError::Options(format!(
                        "the text column {column:?} was not checked as composable"
                    )));
                };
                blocks.push(tfidf_block(&mut b, column, model, text));
                uses_tokenizer = true;
            }
        }
        inputs.push(input);
    }
    let refs: Vec<&str> = blocks.iter().map(String::as_str).collect();
    if refs.len() == 1 {
        b.node_to("Identity", &refs, vec![], "", inner);
    } else {
        b.node_to("Concat", &refs, vec![int_attr("axis", 1)], "", inner);
    }
    let preprocessing = std::mem::take(&mut b.nodes);
    // The label after the classifier: the index of the largest probability, as a class name.
    let top = b.node(
        "ArgMax",
        &[OUTPUT_NAME],
        vec![int_attr("axis", 1), int_attr("keepdims", 1)],
        "",
    );
    let classes: Vec<i64> = (0..pipeline.classes.len() as i64).collect();
    b.node_to(
        "CategoryMapper",
        &[&top],
        vec![
            ints_attr("cats_int64s", classes),
            strings_attr("cats_strings", &pipeline.classes),
            string_attr("default_string", ""),
        ],
        ML_DOMAIN,
        LABEL_NAME,
    );
    let mut label = probabilities.clone();
    label.name = LABEL_NAME.into();
    let tensor = label.type_.mut_or_insert_default().mut_tensor_type();
    tensor.elem_type = STRING;
    if let Some(width) = tensor.shape.mut_or_insert_default().dim.get_mut(1) {
        width.set_dim_value(1);
    }

    let classifier_nodes = std::mem::take(&mut graph.node);
    graph.node = preprocessing
        .into_iter()
        .chain(classifier_nodes)
        .chain(b.nodes)
        .collect();
    graph.initializer.extend(b.constants);
    graph.input = inputs;
    graph.output = vec![label, probabilities];
    let imports = [(ML_DOMAIN, 3, true), (MS_DOMAIN, 1, uses_tokenizer)];
    for (domain, version, needed) in imports {
        if !needed || model.opset_import.iter().any(|o| o.domain == domain) {
            continue;
        }
        let Some(mut import) = model.opset_import.first().cloned() else {
            return Err(ExportError::Onnx(
                "the graph imports no operator set".into(),
            ));
        };
        import.domain = domain.into();
        import.version = version;
        model.opset_import.push(import);
    }
    model
        .write_to_bytes()
        .map_err(|e| ExportError::Onnx(e.to_string()))
}

/// The nodes that turn the text input `column` (`[batch, 1]` strings) into its TF-IDF block
/// `[batch, vocabulary]`, as [`Tfidf::transform_into`] computes it; returns the block's name.
fn tfidf_block(b: &mut Builder, column: &str, tfidf: &Tfidf, text: TextGraph) -> String {
    let settings = &tfidf.settings;
    let flat_shape = b.ints(&[-1]);
    let mut texts = b.node("Reshape", &[column, &flat_shape], vec![], "");
    if settings.lowercase {
        texts = b.node(
            "StringNormalizer",
            &[&texts],
            // onnxruntime's default locale, en_US.UTF-8, is missing from many servers (Triton's
            // images among them); C.UTF-8 is built into glibc and folds case over all of Unicode.
            vec![
                string_attr("case_change_action", "LOWER"),
                string_attr("locale", "C.UTF-8"),
            ],
            "",
        );
    }
    // No token is empty, so the empty padding can never be (part of) a vocabulary n-gram.
    let tokens = b.node(
        "Tokenizer",
        &[&texts],
        vec![
            string_attr("tokenexp", &text.tokenexp),
            int_attr("mincharnum", 1),
            int_attr("mark", 0),
            string_attr("pad_value", ""),
        ],
        MS_DOMAIN,
    );
    let (min_n, max_n) = settings.ngram_range;
    let idf: Vec<f32> = tfidf.idf.iter().map(|&v| v as f32).collect();
    // With the pool in the vocabulary's order (one n-gram length) and raw counts, the vectorizer
    // multiplies by the idf itself (mode TFIDF), as skl2onnx has it do; otherwise it counts and
    // arithmetic follows.
    let in_order = text.columns.iter().enumerate().all(|(i, &c)| c == i as i64);
    let fused = in_order && !settings.sublinear_tf;
    let mut attributes = vec![
        string_attr("mode", if fused { "TFIDF" } else { "TF" }),
        int_attr("min_gram_length", min_n.max(1) as i64),
        int_attr("max_gram_length", max_n as i64),
        int_attr("max_skip_count", 0),
        strings_attr("pool_strings", &text.pool),
        ints_attr("ngram_counts", text.starts),
        ints_attr("ngram_indexes", text.columns),
    ];
    if fused {
        let mut weights = AttributeProto::new();
        weights.name = "weights".into();
        weights.type_ = AttributeType::FLOATS.into();
        weights.floats = idf.clone();
        attributes.push(weights);
    }
    let counts = b.node("TfIdfVectorizer", &[&tokens], attributes, "");
    let (zero, one) = (b.floats(&[0.0]), b.floats(&[1.0]));
    let weighted = if fused {
        counts
    } else {
        let tf = if settings.sublinear_tf {
            let seen = b.node("Greater", &[&counts, &zero], vec![], "");
            let log = b.node("Log", &[&counts], vec![], "");
            let damped = b.node("Add", &[&log, &one], vec![], "");
            b.node("Where", &[&seen, &damped, &zero], vec![], "")
        } else {
            counts
        };
        let idf = b.floats(&idf);
        b.node("Mul", &[&tf, &idf], vec![], "")
    };
    let Some(norm) = settings.norm else {
        return weighted;
    };
    // Every value is at least 0, so the L1 norm is the row's sum.
    let row_sum = |b: &mut Builder, x: &str| {
        let axes = b.ints(&[1]);
        b.node("ReduceSum", &[x, &axes], vec![int_attr("keepdims", 1)], "")
    };
    let length = match norm {
        Norm::L1 => row_sum(b, &weighted),
        Norm::L2 => {
            let squares = b.node("Mul", &[&weighted, &weighted], vec![], "");
            let sum = row_sum(b, &squares);
            b.node("Sqrt", &[&sum], vec![], "")
        }
    };
    let empty = b.node("Equal", &[&length, &zero], vec![], "");
    let divisor = b.node("Where", &[&empty, &one, &length], vec![], "");
    b.node("Div", &[&weighted, &divisor], vec![], "")
}

/// One raw input column, as the graph takes it.
pub enum RawColumn {
    Numbers(Vec<f32>),
    Strings(Vec<String>),
}

/// The graph's inputs for `rows` of `table`, read raw: a number that is missing (or does not
/// parse) is NaN, a missing category the empty string.
pub fn raw_columns(
    pipeline: &FeaturePipeline,
    table: &Table,
    rows: &[usize],
) -> Result<Vec<RawColumn>, ExportError> {
    raw_inputs(pipeline)
        .into_iter()
        .map(|(column, string)| {
            let cells = table.column(column).ok_or_else(|| {
                ExportError::Options(format!("the rows have no column {column:?}"))
            })?;
            Ok(if string {
                RawColumn::Strings(
                    rows.iter()
                        .map(|&r| cells[r].clone().unwrap_or_default())
                        .collect(),
                )
            } else {
                RawColumn::Numbers(
                    rows.iter()
                        .map(|&r| {
                            cells[r]
                                .as_deref()
                                .and_then(crate::data::parse_number)
                                .map_or(f32::NAN, |v| v as f32)
                        })
                        .collect(),
                )
            })
        })
        .collect()
}

/// The servable graph's answers for some rows: a label and the probabilities of each.
pub struct Served {
    pub labels: Vec<String>,
    pub probabilities: Vec<f32>,
    pub classes: usize,
}

/// A servable graph loaded in tract, ready to run batches of any size; calls of one chosen size
/// run a plan optimised for exactly that size.
pub struct ServableRunner {
    plan: Plan,
    /// A batch size and its own plan.
    fixed: Option<(usize, Plan)>,
    strings: Vec<bool>,
    pipeline: FeaturePipeline,
}

impl ServableRunner {
    pub fn load(graph: &[u8], pipeline: &FeaturePipeline) -> Result<ServableRunner, ExportError> {
        Self::load_for(graph, pipeline, None)
    }

    /// [`ServableRunner::load`], with a second plan for calls of exactly `fixed` rows.
    pub fn load_for(
        graph: &[u8],
        pipeline: &FeaturePipeline,
        fixed: Option<usize>,
    ) -> Result<ServableRunner, ExportError> {
        use tract_onnx::prelude::*;
        let strings: Vec<bool> = raw_inputs(pipeline).iter().map(|(_, s)| *s).collect();
        let inputs: Vec<(DatumType, usize)> = strings
            .iter()
            .map(|&string| {
                let datum = if string {
                    String::datum_type()
                } else {
                    f32::datum_type()
                };
                (datum, 1)
            })
            .collect();
        let plan = |rows: Option<usize>| tract_plan(graph, &inputs, rows);
        Ok(ServableRunner {
            plan: plan(None)?,
            fixed: fixed
                .map(|rows| plan(Some(rows)).map(|p| (rows, p)))
                .transpose()?,
            strings,
            pipeline: pipeline.clone(),
        })
    }

    /// The operators of the plan for calls of any size, in order.
    #[cfg(test)]
    pub(crate) fn operators(&self) -> Vec<String> {
        let model = self.plan.model();
        self.plan
            .order_without_consts()
            .iter()
            .map(|&n| model.node(n).op().name().to_string())
            .collect()
    }

    /// Runs the graph on `rows` of `table`, read raw as [`raw_columns`] reads them.
    pub fn run_table(&self, table: &Table, rows: &[usize]) -> Result<Served, ExportError> {
        let columns = raw_columns(&self.pipeline, table, rows)?;
        self.run(columns, rows.len())
    }

    /// Runs the graph on `columns` (as [`raw_columns`] gives them), all of `rows` rows. The
    /// columns move into the input tensors, and the labels out of the output, uncopied.
    pub fn run(&self, columns: Vec<RawColumn>, rows: usize) -> Result<Served, ExportError> {
        use tract_onnx::prelude::*;
        if columns.len() != self.strings.len() {
            return Err(ExportError::Tract(format!(
                "{} input columns for a graph of {}",
                columns.len(),
                self.strings.len()
            )));
        }
        let inputs: TVec<TValue> = columns
            .into_iter()
            .map(|c| match c {
                RawColumn::Numbers(v) => tract_ndarray::Array2::from_shape_vec((rows, 1), v)
                    .map(Tensor::from)
                    .map_err(TractError::from),
                RawColumn::Strings(v) => tract_ndarray::Array2::from_shape_vec((rows, 1), v)
                    .map(Tensor::from)
                    .map_err(TractError::from),
            })
            .map(|t| t.map(TValue::from))
            .collect::<TractResult<_>>()
            .map_err(tract_error)?;
        let plan = match &self.fixed {
            Some((fixed, plan)) if *fixed == rows => plan,
            _ => &self.plan,
        };
        let mut outputs = plan.run(inputs).map_err(tract_error)?;
        let probabilities = floats(&outputs[1])?;
        let labels: Vec<String> = outputs
            .remove(0)
            .into_tensor()
            .into_plain_array::<String>()
            .map_err(tract_error)?
            .into_iter()
            .collect();
        let classes = probabilities.len() / rows.max(1);
        if labels.len() != rows || classes * rows != probabilities.len() {
            return Err(ExportError::Tract(format!(
                "the graph returned {} labels and {} probabilities for {rows} rows",
                labels.len(),
                probabilities.len()
            )));
        }
        Ok(Served {
            labels,
            probabilities,
            classes,
        })
    }
}

/// Runs the servable `graph` in tract on `rows` of `table`, read raw, and compares with
/// `expected`, Burn's probabilities for the same rows through Kiln's pipeline: a label that is
/// not the class of Burn's largest probability counts as a mismatch.
pub fn check_parity(
    graph: &[u8],
    pipeline: &FeaturePipeline,
    table: &Table,
    rows: &[usize],
    expected: &[Vec<f32>],
) -> Result<Parity, ExportError> {
    let runner = ServableRunner::load(graph, pipeline)?;
    let columns = raw_columns(pipeline, table, rows)?;
    let served = runner.run(columns, rows.len())?;
    let mut parity = Parity {
        rows: rows.len(),
        argmax_mismatches: 0,
        max_abs_diff: 0.0,
    };
    for ((label, got), want) in served
        .labels
        .iter()
        .zip(served.probabilities.chunks(served.classes.max(1)))
        .zip(expected)
    {
        let class = &pipeline.classes[crate::eval::argmax(want)];
        if label != class || crate::eval::argmax(got) != crate::eval::argmax(want) {
            parity.argmax_mismatches += 1;
        }
        for (a, b) in got.iter().zip(want) {
            parity.max_abs_diff = parity.max_abs_diff.max(f64::from((a - b).abs()));
        }
    }
    Ok(parity)
}

/// A graph as exported, loaded in tract, that scores rows of a table as a server would: the
/// servable form reads the raw columns; the `features` form reads the pipeline's output, which a
/// client computes from `pipeline.json` (here, Kiln's own pipeline).
pub enum GraphRunner {
    Raw(ServableRunner),
    Features {
        plan: std::sync::Arc<tract_onnx::prelude::TypedRunnableModel>,
        pipeline: FeaturePipeline,
    },
}

impl GraphRunner {
    /// Loads `graph`; with `fixed`, calls of exactly that many rows run a plan of their own.
    pub fn load(
        graph: &[u8],
        form: super::InputForm,
        pipeline: &FeaturePipeline,
        fixed: Option<usize>,
    ) -> Result<GraphRunner, ExportError> {
        use tract_onnx::prelude::*;
        if form == super::InputForm::RawRows {
            return Ok(GraphRunner::Raw(ServableRunner::load_for(
                graph, pipeline, fixed,
            )?));
        }
        if form != super::InputForm::Features {
            return Err(ExportError::Options(format!(
                "a graph that reads {form:?} cannot score rows here"
            )));
        }
        let plan = tract_plan(graph, &[(f32::datum_type(), pipeline.width())], None)?;
        Ok(GraphRunner::Features {
            plan,
            pipeline: pipeline.clone(),
        })
    }

    /// Scores `rows` of `table`, in one call of the graph.
    pub fn run_rows(&self, table: &Table, rows: &[usize]) -> Result<Served, ExportError> {
        use tract_onnx::prelude::*;
        match self {
            GraphRunner::Raw(runner) => runner.run_table(table, rows),
            GraphRunner::Features { plan, pipeline } => {
                let features = pipeline
                    .transform(table, rows)
                    .map_err(|e| ExportError::Options(e.to_string()))?;
                let input = Tensor::from_shape(&[features.rows, features.cols], &features.data)
                    .map_err(tract_error)?;
                let outputs = plan.run(tvec!(input.into())).map_err(tract_error)?;
                let probabilities = floats(&outputs[0])?;
                let classes = pipeline.classes.len();
                let labels = probabilities
                    .chunks(classes.max(1))
                    .map(|p| pipeline.classes[crate::eval::argmax(p)].clone())
                    .collect();
                Ok(Served {
                    labels,
                    probabilities,
                    classes,
                })
            }
        }
    }
}

/// One call's rows, decoded into what the graph reads: the raw columns of a servable graph (as
/// a server receives its tensors), or the rows themselves for the `features` form, whose client
/// computes the features for each call.
pub enum Decoded {
    Raw(Vec<RawColumn>, usize),
    Rows(Vec<usize>),
}

impl Decoded {
    /// The rows of the call.
    pub fn rows(&self) -> usize {
        match self {
            Decoded::Raw(_, rows) => *rows,
            Decoded::Rows(rows) => rows.len(),
        }
    }
}

impl GraphRunner {
    /// Decodes `rows` of `table` into calls of at most `batch` rows each, for
    /// [`GraphRunner::run_decoded`]: every cell is read and every call's columns cut here, so
    /// that running a call does nothing a server would not.
    pub fn decode(
        &self,
        table: &Table,
        rows: &[usize],
        batch: usize,
    ) -> Result<Vec<Decoded>, ExportError> {
        rows.chunks(batch.max(1))
            .map(|call| {
                Ok(match self {
                    GraphRunner::Raw(runner) => {
                        Decoded::Raw(raw_columns(&runner.pipeline, table, call)?, call.len())
                    }
                    GraphRunner::Features { .. } => Decoded::Rows(call.to_vec()),
                })
            })
            .collect()
    }

    /// Scores one decoded call.
    pub fn run_decoded(&self, table: &Table, call: Decoded) -> Result<Served, ExportError> {
        match (self, call) {
            (GraphRunner::Raw(runner), Decoded::Raw(columns, rows)) => runner.run(columns, rows),
            (_, Decoded::Rows(rows)) => self.run_rows(table, &rows),
            (GraphRunner::Features { .. }, Decoded::Raw(..)) => Err(ExportError::Options(
                "raw columns cannot feed a graph that reads features".into(),
            )),
        }
    }
}
