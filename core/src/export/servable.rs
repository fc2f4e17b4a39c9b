//! The servable model: raw rows in, the label and probabilities out. Kiln's feature pipeline is
//! composed into the ONNX graph in front of the classifier, as skl2onnx composes a scikit-learn
//! pipeline, so that a client sends the columns it has and needs nothing of `pipeline.json`.
//!
//! - A number column is one FLOAT input `[batch, 1]`: `(x - mean) / scale`, and a missing value
//!   (NaN) becomes 0, the mean, as in [`crate::features::FeaturePipeline::transform`].
//! - A category column is one STRING input `[batch, 1]`: `ai.onnx.ml.CategoryMapper` gives the
//!   category's index (-1 for an empty or unseen one), and `Equal` against `0..k` then `Cast`
//!   gives the one-hot block (all zeros for -1, as in Kiln).
//! - The blocks are concatenated into the classifier's `features`; its `probabilities` come
//!   out, and `label` beside them: `ArgMax` mapped to the class name by `CategoryMapper`.
//!
//! TF-IDF needs a tokenizer, which ONNX's standard operators lack (skl2onnx uses onnxruntime's
//! own `com.microsoft.Tokenizer`, which no other runtime has): a model that reads text is
//! exported in the `features` form.

use onnx_ir::{AttributeProto, AttributeType, Message, ModelProto, NodeProto, TensorProto};

use super::ExportError;
use super::onnx::{INPUT_NAME, OUTPUT_NAME, Parity, Plan, floats, tract_error, tract_plan};
use crate::data::Table;
use crate::features::{FeaturePipeline, Step};

/// The output that carries the predicted class name.
pub const LABEL_NAME: &str = "label";

const ML_DOMAIN: &str = "ai.onnx.ml";
/// ONNX element types.
const FLOAT: i32 = 1;
const STRING: i32 = 8;
const INT64: i32 = 7;

/// Whether every step of `pipeline` can be composed into the graph; `Err` names the first that
/// cannot, and why.
pub fn composable(pipeline: &FeaturePipeline) -> Result<(), String> {
    match pipeline
        .steps
        .iter()
        .find(|s| matches!(s, Step::Tfidf { .. }))
    {
        Some(step) => Err(format!(
            "the text column {:?} is turned into TF-IDF features, which standard ONNX operators cannot tokenise; export with --input features and apply pipeline.json before the model",
            step.column()
        )),
        None => Ok(()),
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

fn int_attr(name: &str, value: i64) -> AttributeProto {
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
/// form (its input `features`, its output `probabilities`).
pub fn compose(classifier: &[u8], pipeline: &FeaturePipeline) -> Result<Vec<u8>, ExportError> {
    composable(pipeline).map_err(ExportError::Options)?;
    let mut model =
        ModelProto::parse_from_bytes(classifier).map_err(|e| ExportError::Onnx(e.to_string()))?;
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
            Step::Tfidf { .. } => unreachable!("refused by composable"),
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
    if !model.opset_import.iter().any(|o| o.domain == ML_DOMAIN) {
        let Some(mut ml) = model.opset_import.first().cloned() else {
            return Err(ExportError::Onnx(
                "the graph imports no operator set".into(),
            ));
        };
        ml.domain = ML_DOMAIN.into();
        ml.version = 3;
        model.opset_import.push(ml);
    }
    model
        .write_to_bytes()
        .map_err(|e| ExportError::Onnx(e.to_string()))
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

/// Rows decoded once into what a graph reads, to be scored in slices: the raw columns of a
/// servable graph (as a server receives its tensors), or the rows themselves for the `features`
/// form, whose client computes the features for each call.
pub enum Decoded {
    Raw(Vec<RawColumn>),
    Rows(Vec<usize>),
}

impl GraphRunner {
    /// Decodes `rows` of `table` for [`GraphRunner::run_decoded`].
    pub fn decode(&self, table: &Table, rows: &[usize]) -> Result<Decoded, ExportError> {
        Ok(match self {
            GraphRunner::Raw(runner) => Decoded::Raw(raw_columns(&runner.pipeline, table, rows)?),
            GraphRunner::Features { .. } => Decoded::Rows(rows.to_vec()),
        })
    }

    /// Scores the decoded rows `range` in one call.
    pub fn run_decoded(
        &self,
        table: &Table,
        decoded: &Decoded,
        range: std::ops::Range<usize>,
    ) -> Result<Served, ExportError> {
        match (self, decoded) {
            (GraphRunner::Raw(runner), Decoded::Raw(columns)) => {
                let slice: Vec<RawColumn> = columns
                    .iter()
                    .map(|c| match c {
                        RawColumn::Numbers(v) => RawColumn::Numbers(v[range.clone()].to_vec()),
                        RawColumn::Strings(v) => RawColumn::Strings(v[range.clone()].to_vec()),
                    })
                    .collect();
                runner.run(slice, range.len())
            }
            (_, Decoded::Rows(rows)) => self.run_rows(table, &rows[range]),
            (GraphRunner::Features { .. }, Decoded::Raw(_)) => Err(ExportError::Options(
                "raw columns cannot feed a graph that reads features".into(),
            )),
        }
    }
}
