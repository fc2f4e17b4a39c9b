//! The model families: logistic regression (one linear layer) and an MLP with configurable
//! hidden layers, activation and dropout. Both read the feature pipeline's output.
//!
//! Weights are initialised, and dropout masks drawn, from Kiln's own seeded generator rather
//! than the backend's, so a seed gives the same model on every device and however many trials
//! run at once.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::rng::SeededRng;

/// The model family a study searches over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFamily {
    /// Logistic regression: a linear classifier.
    Logreg,
    /// A multi-layer perceptron.
    Mlp,
}

impl ModelFamily {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelFamily::Logreg => "logreg",
            ModelFamily::Mlp => "mlp",
        }
    }
}

impl std::fmt::Display for ModelFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ModelFamily {
    type Err = String;

    fn from_str(s: &str) -> Result<ModelFamily, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "logreg" | "logistic" => Ok(ModelFamily::Logreg),
            "mlp" => Ok(ModelFamily::Mlp),
            other => Err(format!("unknown model {other:?}: use mlp or logreg")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    #[default]
    Relu,
    Tanh,
    Gelu,
}

/// The shape of a model: what is needed, with the weights, to rebuild it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    pub family: ModelFamily,
    pub inputs: usize,
    pub classes: usize,
    /// Hidden layer widths; empty for logistic regression.
    pub hidden: Vec<usize>,
    pub activation: Activation,
    pub dropout: f64,
}

/// A classifier: linear layers with an activation (and dropout while training) between them.
#[derive(Module, Debug)]
pub struct Classifier {
    layers: Vec<Linear>,
    #[module(skip)]
    activation: Activation,
}

impl Classifier {
    /// A freshly initialised model, with PyTorch's default `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`
    /// for weights and biases.
    pub fn init(arch: &Architecture, rng: &mut SeededRng, device: &Device) -> Classifier {
        let mut widths = vec![arch.inputs];
        if arch.family == ModelFamily::Mlp {
            widths.extend(&arch.hidden);
        }
        widths.push(arch.classes);
        let layers = widths
            .windows(2)
            .map(|w| {
                let (fan_in, fan_out) = (w[0], w[1]);
                let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
                let mut uniform = |n: usize| -> Vec<f32> {
                    (0..n)
                        .map(|_| ((rng.unit() * 2.0 - 1.0) * bound) as f32)
                        .collect()
                };
                let weight = Tensor::<2>::from_data(
                    TensorData::new(uniform(fan_in * fan_out), [fan_in, fan_out]),
                    device,
                );
                let bias =
                    Tensor::<1>::from_data(TensorData::new(uniform(fan_out), [fan_out]), device);
                Linear {
                    weight: Param::from_tensor(weight),
                    bias: Some(Param::from_tensor(bias)),
                }
            })
            .collect();
        Classifier {
            layers,
            activation: arch.activation,
        }
    }

    /// A logistic regression with the given coefficients (one row of `inputs` values per
    /// class) and intercepts.
    pub fn linear(coef: &[Vec<f64>], intercept: &[f64], device: &Device) -> Classifier {
        let classes = coef.len();
        let inputs = coef.first().map_or(0, Vec::len);
        let mut weight = vec![0.0f32; inputs * classes];
        for (k, row) in coef.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                weight[j * classes + k] = v as f32;
            }
        }
        let bias: Vec<f32> = intercept.iter().map(|&v| v as f32).collect();
        Classifier {
            layers: vec![Linear {
                weight: Param::from_tensor(Tensor::<2>::from_data(
                    TensorData::new(weight, [inputs, classes]),
                    device,
                )),
                bias: Some(Param::from_tensor(Tensor::<1>::from_data(
                    TensorData::new(bias, [classes]),
                    device,
                ))),
            }],
            activation: Activation::Relu,
        }
    }

    /// Logits for a batch, without dropout.
    ///
    /// - input: `[batch, inputs]`
    /// - output: `[batch, classes]`
    pub fn forward(&self, input: Tensor<2>) -> Tensor<2> {
        self.forward_with(input, |_, x| x)
    }

    /// Logits for a training batch, with each hidden activation multiplied by its dropout mask.
    ///
    /// - input: `[batch, inputs]`; `masks[i]`: `[batch, hidden[i]]`, already scaled by `1/keep`
    /// - output: `[batch, classes]`
    pub fn forward_train(&self, input: Tensor<2>, masks: &[Tensor<2>]) -> Tensor<2> {
        self.forward_with(input, |layer, x| match masks.get(layer) {
            Some(mask) => x * mask.clone(),
            None => x,
        })
    }

    /// Class probabilities: a numerically stable softmax built from the operations that ONNX
    /// export can lower (max with indices, exp, sum, division).
    ///
    /// - input: `[batch, inputs]`
    /// - output: `[batch, classes]`, each row summing to 1
    pub fn probabilities(&self, input: Tensor<2>) -> Tensor<2> {
        let logits = self.forward(input);
        let (max, _) = logits.clone().max_dim_with_indices(1);
        let exp = (logits - max).exp();
        let sum = exp.clone().sum_dim(1);
        exp / sum
    }

    /// The first layer, which reads the features (for folding standardisation into it).
    pub(crate) fn first_layer_mut(&mut self) -> &mut Linear {
        &mut self.layers[0]
    }

    /// The hidden layer widths, for drawing dropout masks.
    pub fn hidden_widths(&self) -> Vec<usize> {
        let n = self.layers.len();
        self.layers[..n.saturating_sub(1)]
            .iter()
            .map(|l| l.weight.val().dims()[1])
            .collect()
    }

    fn forward_with(
        &self,
        input: Tensor<2>,
        mut after_hidden: impl FnMut(usize, Tensor<2>) -> Tensor<2>,
    ) -> Tensor<2> {
        let last = self.layers.len().saturating_sub(1);
        let mut x = input;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if i < last {
                x = after_hidden(i, self.activate(x));
            }
        }
        x
    }

    fn activate(&self, x: Tensor<2>) -> Tensor<2> {
        match self.activation {
            Activation::Relu => burn::tensor::activation::relu(x),
            Activation::Tanh => burn::tensor::activation::tanh(x),
            Activation::Gelu => burn::tensor::activation::gelu(x),
        }
    }
}

/// Dropout masks for one batch, drawn from `rng`: each entry is `0` with probability `p` and
/// `1/(1-p)` otherwise.
pub fn dropout_masks(
    widths: &[usize],
    batch: usize,
    p: f64,
    rng: &mut SeededRng,
    device: &Device,
) -> Vec<Tensor<2>> {
    if p <= 0.0 {
        return Vec::new();
    }
    let keep = 1.0 - p;
    widths
        .iter()
        .map(|&w| {
            let values: Vec<f32> = (0..batch * w)
                .map(|_| {
                    if rng.unit() < keep {
                        (1.0 / keep) as f32
                    } else {
                        0.0
                    }
                })
                .collect();
            Tensor::<2>::from_data(TensorData::new(values, [batch, w]), device)
        })
        .collect()
}
