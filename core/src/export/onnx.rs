//! ONNX export with burn-onnx: the classifier's softmax output, a symbolic batch axis, the graph's
//! input and output renamed to `features` and `probabilities`, standardisation folded into the
//! first layer where that is exact, and parity with Burn proven in tract before anything is
//! written.

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use burn_onnx::export::{AxisSpec, InputSpec, OnnxExporter};
use onnx_ir::ModelProto;
use protobuf::Message;

use super::ExportError;
use crate::features::{Matrix, Step};
use crate::registry::LoadedModel;
use crate::train::Classifier;

pub const INPUT_NAME: &str = "features";
pub const OUTPUT_NAME: &str = "probabilities";

/// How the exported graph expects its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputForm {
    /// One input per original column (numbers FP32, categories strings): the whole feature
    /// pipeline is inside the graph, and the label comes out beside the probabilities.
    RawRows,
    /// Raw numeric columns: the standardisation is inside the graph.
    RawNumeric,
    /// The feature pipeline's output: apply `pipeline.json` first.
    Features,
}

/// The ONNX bytes and what they expect.
pub struct OnnxExport {
    pub bytes: Vec<u8>,
    pub input_form: InputForm,
    pub inputs: usize,
    pub classes: usize,
}

/// What the graph declares for one input or output: name, element type, dims (-1 = symbolic).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GraphTensor {
    pub name: String,
    pub elem_type: String,
    pub dims: Vec<i64>,
}

/// Exports `model`; with `fold`, folds the pipeline's standardisation into the first layer when
/// every step is a standardisation (then the graph reads raw numbers).
pub fn export_onnx(model: &LoadedModel, fold: bool) -> Result<OnnxExport, ExportError> {
    let steps = &model.artifact.pipeline.steps;
    let foldable =
        fold && !steps.is_empty() && steps.iter().all(|s| matches!(s, Step::Standardize { .. }));
    let classifier = if foldable {
        fold_standardisation(&model.classifier, steps, &model.device)
    } else {
        model.classifier.clone()
    };
    let inputs = model.artifact.architecture.inputs;
    let sample = Tensor::<2>::zeros([2, inputs], &model.device);
    let validation = Tensor::<2>::zeros([3, inputs], &model.device);
    let specs = [InputSpec::new([
        AxisSpec::dynamic("batch"),
        AxisSpec::Static,
    ])];
    let exported = OnnxExporter::new()
        .export_dynamic(
            &classifier,
            sample,
            validation,
            &specs,
            |m: &Classifier, x: Tensor<2>| m.forward(x),
        )
        .map_err(|e| ExportError::Onnx(format!("{e}")))?;
    let bytes = rename_io(exported.as_bytes())?;
    Ok(OnnxExport {
        bytes,
        input_form: if foldable {
            InputForm::RawNumeric
        } else {
            InputForm::Features
        },
        inputs,
        classes: model.artifact.architecture.classes,
    })
}

/// `W' = W / scale` row by row and `b' = b - (mean / scale) · W`, so that
/// `standardise(x) · W + b == x · W' + b'` exactly in real arithmetic.
fn fold_standardisation(classifier: &Classifier, steps: &[Step], device: &Device) -> Classifier {
    let (means, scales): (Vec<f64>, Vec<f64>) = steps
        .iter()
        .filter_map(|s| match s {
            Step::Standardize { mean, scale, .. } => Some((*mean, *scale)),
            _ => None,
        })
        .unzip();
    let mut folded = classifier.clone();
    let first = folded.first_layer_mut();
    let [rows, cols] = first.weight.val().dims();
    let w: Vec<f32> = first
        .weight
        .val()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap_or_default();
    let b: Vec<f32> = first
        .bias
        .as_ref()
        .map(|p| {
            p.val()
                .into_data()
                .try_into_vec::<f32>()
                .unwrap_or_default()
        })
        .unwrap_or_else(|| vec![0.0; cols]);
    let mut w2 = vec![0f32; rows * cols];
    let mut b2: Vec<f64> = b.iter().map(|&v| f64::from(v)).collect();
    for i in 0..rows {
        for j in 0..cols {
            let wij = f64::from(w[i * cols + j]);
            w2[i * cols + j] = (wij / scales[i]) as f32;
            b2[j] -= means[i] / scales[i] * wij;
        }
    }
    first.weight = Param::from_tensor(Tensor::<2>::from_data(
        TensorData::new(w2, [rows, cols]),
        device,
    ));
    let b2: Vec<f32> = b2.into_iter().map(|v| v as f32).collect();
    first.bias = Some(Param::from_tensor(Tensor::<1>::from_data(
        TensorData::new(b2, [cols]),
        device,
    )));
    folded
}

/// The classifier's logits, inside the graph; a `Softmax` node turns them into the output.
const LOGITS_NAME: &str = "kiln.logits";

/// Renames the graph's generated input and output names (and every reference to them), and ends
/// the graph with one `Softmax` node: Burn traces the logits, and every runtime has a softmax
/// kernel of its own, where the traced form of Burn's softmax would be five nodes.
fn rename_io(bytes: &[u8]) -> Result<Vec<u8>, ExportError> {
    let mut model =
        ModelProto::parse_from_bytes(bytes).map_err(|e| ExportError::Onnx(e.to_string()))?;
    let graph = model.graph.mut_or_insert_default();
    let (Some(input), Some(output)) = (
        graph.input.first().map(|i| i.name.clone()),
        graph.output.first().map(|o| o.name.clone()),
    ) else {
        return Err(ExportError::Onnx(
            "the exported graph has no input or no output".into(),
        ));
    };
    let rename = |name: &mut String| {
        if *name == input {
            *name = INPUT_NAME.into();
        } else if *name == output {
            *name = LOGITS_NAME.into();
        }
    };
    graph.input.iter_mut().for_each(|i| rename(&mut i.name));
    for node in graph.node.iter_mut() {
        node.input.iter_mut().for_each(rename);
        node.output.iter_mut().for_each(rename);
    }
    graph
        .value_info
        .iter_mut()
        .for_each(|v| rename(&mut v.name));
    graph
        .output
        .iter_mut()
        .for_each(|o| o.name = OUTPUT_NAME.into());
    let mut softmax = onnx_ir::NodeProto::new();
    softmax.name = format!("{OUTPUT_NAME}.softmax");
    softmax.op_type = "Softmax".into();
    softmax.input = vec![LOGITS_NAME.into()];
    softmax.output = vec![OUTPUT_NAME.into()];
    softmax.attribute = vec![super::servable::int_attr("axis", -1)];
    graph.node.push(softmax);
    model
        .write_to_bytes()
        .map_err(|e| ExportError::Onnx(e.to_string()))
}

/// The inputs and outputs the ONNX graph declares.
pub fn graph_io(bytes: &[u8]) -> Result<(Vec<GraphTensor>, Vec<GraphTensor>), ExportError> {
    let model =
        ModelProto::parse_from_bytes(bytes).map_err(|e| ExportError::Onnx(e.to_string()))?;
    let Some(graph) = model.graph.as_ref() else {
        return Err(ExportError::Onnx("the model has no graph".into()));
    };
    let describe = |v: &onnx_ir::ValueInfoProto| -> GraphTensor {
        let mut elem_type = "UNDEFINED".to_string();
        let mut dims = Vec::new();
        if let Some(t) = v.type_.as_ref()
            && t.has_tensor_type()
        {
            let tensor = t.tensor_type();
            elem_type = match tensor.elem_type {
                1 => "FLOAT".into(),
                7 => "INT64".into(),
                8 => "STRING".into(),
                9 => "BOOL".into(),
                11 => "DOUBLE".into(),
                other => format!("TYPE_{other}"),
            };
            if let Some(shape) = tensor.shape.as_ref() {
                dims = shape
                    .dim
                    .iter()
                    .map(|d| if d.has_dim_value() { d.dim_value() } else { -1 })
                    .collect();
            }
        }
        GraphTensor {
            name: v.name.clone(),
            elem_type,
            dims,
        }
    };
    Ok((
        graph.input.iter().map(describe).collect(),
        graph.output.iter().map(describe).collect(),
    ))
}

/// How far the ONNX model's outputs are from Burn's on the same rows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Parity {
    pub rows: usize,
    pub argmax_mismatches: usize,
    pub max_abs_diff: f64,
}

impl Parity {
    pub const MAX_ABS_DIFF: f64 = 1e-4;

    pub fn holds(&self) -> bool {
        self.argmax_mismatches == 0 && self.max_abs_diff <= Parity::MAX_ABS_DIFF
    }
}

/// A graph loaded in tract and optimised, ready to run.
pub(crate) type Plan = std::sync::Arc<tract_onnx::prelude::TypedRunnableModel>;

pub(crate) fn tract_error(e: tract_onnx::prelude::TractError) -> ExportError {
    ExportError::Tract(format!("{e:#}"))
}

/// The name of tract's declutter pass that [`tract_plan`] leaves out.
pub(crate) const SPLITS_CONCATENATED_PRODUCTS: &str = "ConcatThenEinsum";

/// `graph` in tract, its inputs `[batch, width]` of the given element types; the batch is
/// `rows`, or a symbol (any size) when `None`.
pub(crate) fn tract_plan(
    graph: &[u8],
    inputs: &[(tract_onnx::prelude::DatumType, usize)],
    rows: Option<usize>,
) -> Result<Plan, ExportError> {
    use tract_onnx::prelude::*;
    let mut model = super::text_ops::onnx()
        .model_for_read(&mut std::io::Cursor::new(graph))
        .map_err(tract_error)?;
    let batch = match rows {
        Some(rows) => rows.to_dim(),
        None => model.symbols.sym("batch").to_dim(),
    };
    for (i, &(datum, width)) in inputs.iter().enumerate() {
        model = model
            .with_input_fact(
                i,
                InferenceFact::dt_shape(datum, tvec!(batch.clone(), width.to_dim())),
            )
            .map_err(tract_error)?;
    }
    // tract's own optimisation, but for one pass: the classifier reads the concatenation of
    // every column's block, and that pass splits its first layer into one matrix product per
    // block, summed, which for blocks one or three columns wide cost twice one product over all.
    let mut model = model.into_typed().map_err(tract_error)?;
    let mut declutter = tract_onnx::tract_core::optim::Optimizer::declutter();
    declutter
        .passes
        .retain(|pass| !format!("{pass:?}").starts_with(SPLITS_CONCATENATED_PRODUCTS));
    declutter.optimize(&mut model).map_err(tract_error)?;
    model.optimize().map_err(tract_error)?;
    super::text_ops::fuse(&mut model).map_err(tract_error)?;
    model.into_runnable().map_err(tract_error)
}

/// The values of a float output, in order.
pub(crate) fn floats(value: &tract_onnx::prelude::TValue) -> Result<Vec<f32>, ExportError> {
    Ok(value
        .to_plain_array_view::<f32>()
        .map_err(tract_error)?
        .iter()
        .copied()
        .collect())
}

/// Runs `onnx` in tract on `input` (already in the graph's input form) and compares with
/// `expected` (Burn's probabilities for the same rows).
pub fn check_parity(
    graph: &[u8],
    input: &Matrix,
    expected: &[Vec<f32>],
) -> Result<Parity, ExportError> {
    // tract's prelude names its own `Tensor`; keep it to this function.
    use tract_onnx::prelude::*;
    let plan = tract_plan(graph, &[(f32::datum_type(), input.cols)], Some(input.rows))?;
    let tensor = Tensor::from_shape(&[input.rows, input.cols], &input.data).map_err(tract_error)?;
    let outputs = plan.run(tvec!(tensor.into())).map_err(tract_error)?;
    let classes = expected.first().map_or(0, Vec::len);
    let got = floats(&outputs[0])?;
    if got.len() != input.rows * classes {
        return Err(ExportError::Tract(format!(
            "tract returned {} values, expected {} x {classes}",
            got.len(),
            input.rows
        )));
    }
    let mut parity = Parity {
        rows: input.rows,
        argmax_mismatches: 0,
        max_abs_diff: 0.0,
    };
    for (row, want) in got.chunks(classes.max(1)).zip(expected) {
        if crate::eval::argmax(row) != crate::eval::argmax(want) {
            parity.argmax_mismatches += 1;
        }
        for (a, b) in row.iter().zip(want) {
            parity.max_abs_diff = parity.max_abs_diff.max(f64::from((a - b).abs()));
        }
    }
    Ok(parity)
}
