//! Layers: one file each. A layer file holds its description (the fields a TOML or JSON description gives,
//! what it outputs, which parameters it declares) and its computation (forward, and a backward pass that
//! writes its inputs' gradients), as kernel calls on a backend.
//!
//! Adding a layer: a shader and an ops file with its conformance check in `digits-tensor`, a file here (its
//! description, its computation and its ONNX nodes), and one line in each of [`LayerSpec`], [`LayerSpec::kind`]
//! and [`LayerSpec::build`]. Both matches are
//! exhaustive, so a kind that is not wired in fails to compile.
//!
//! Shapes in comments are per batch: `n` samples, NCHW images, `[n, features]` vectors.

mod add;
mod avg_pool2d;
mod batch_norm;
mod concat;
mod conv2d;
mod dense;
mod dropout;
mod flatten;
mod global_avg_pool2d;
mod max_pool2d;
mod relu;

use std::fmt;

use digits_tensor::Ops;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::onnx::OnnxNode;

pub use avg_pool2d::AvgPool2dSpec;
pub use batch_norm::{BatchNormSpec, BatchNormStyle};
pub use conv2d::{Conv2dSpec, Padding};
pub use dense::DenseSpec;
pub use dropout::DropoutSpec;
pub use max_pool2d::MaxPool2dSpec;

/// An activation fused into a convolution or dense layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Linear output.
    #[default]
    None,
    /// `max(x, 0)`.
    Relu,
}

fn relu_suffix(activation: Activation) -> &'static str {
    if activation == Activation::Relu {
        ", relu"
    } else {
        ""
    }
}

/// One layer of a description. In files, `type` names the kind (`conv2d`, `max_pool2d`, `avg_pool2d`, `flatten`,
/// `dense`, `dropout`, `relu`, `add`, `concat`, `batch_norm`, `global_avg_pool2d`); omitted fields take their defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LayerSpec {
    /// A 2-D convolution with bias (Keras `Conv2D`, PyTorch `Conv2d`).
    #[serde(alias = "conv")]
    Conv2d(Conv2dSpec),
    /// Max pooling over square windows (Keras `MaxPooling2D`).
    #[serde(alias = "max_pool", alias = "maxpool")]
    MaxPool2d(MaxPool2dSpec),
    /// Average pooling over square windows (PyTorch `AvgPool2d`, Keras `AveragePooling2D`).
    #[serde(alias = "avg_pool", alias = "avgpool")]
    AvgPool2d(AvgPool2dSpec),
    /// Flattens `[c, h, w]` to `[c·h·w]` in that (NCHW) order.
    Flatten,
    /// A fully connected layer with bias (Keras `Dense`, PyTorch `Linear`).
    #[serde(alias = "linear")]
    Dense(DenseSpec),
    /// Drops inputs with a probability while training.
    Dropout(DropoutSpec),
    /// A standalone ReLU (fused into a convolution or dense layer that feeds only it).
    Relu,
    /// The elementwise sum of two inputs (a residual connection).
    Add,
    /// The mean of each channel over the image, `[c, h, w]` to `[c]`.
    #[serde(alias = "gap")]
    GlobalAvgPool2d,
    /// Batch normalisation per channel or feature (PyTorch `BatchNorm2d`/`BatchNorm1d`, Keras
    /// `BatchNormalization`).
    #[serde(alias = "batchnorm", alias = "bn")]
    BatchNorm(BatchNormSpec),
    /// Joins its inputs along the channel axis (Inception branches).
    Concat,
}

impl LayerSpec {
    /// What the layer is, as the rest of the crate asks it.
    pub(crate) fn kind(&self) -> &dyn LayerKind {
        match self {
            LayerSpec::Conv2d(spec) => spec,
            LayerSpec::MaxPool2d(spec) => spec,
            LayerSpec::AvgPool2d(spec) => spec,
            LayerSpec::Flatten => &flatten::Flatten,
            LayerSpec::Dense(spec) => spec,
            LayerSpec::Dropout(spec) => spec,
            LayerSpec::Relu => &relu::Relu,
            LayerSpec::Add => &add::Add,
            LayerSpec::GlobalAvgPool2d => &global_avg_pool2d::GlobalAvgPool2d,
            LayerSpec::BatchNorm(spec) => spec,
            LayerSpec::Concat => &concat::Concat,
        }
    }

    /// The executable layer for per-sample `inputs` shapes, with its parameters as views of the arenas.
    pub(crate) fn build<B: Ops>(
        &self,
        backend: &B,
        inputs: &[&[usize]],
        params: Vec<Param<B>>,
        fused: Fused,
    ) -> Result<Box<dyn Layer<B>>> {
        Ok(match self {
            LayerSpec::Conv2d(spec) => Box::new(spec.build(inputs[0], params, fused)),
            LayerSpec::MaxPool2d(spec) => Box::new(spec.build(inputs[0])),
            LayerSpec::AvgPool2d(spec) => Box::new(spec.build(inputs[0])),
            LayerSpec::Flatten => Box::new(flatten::Flatten),
            LayerSpec::Dense(spec) => Box::new(spec.build(inputs[0], params, fused)),
            LayerSpec::Dropout(spec) => Box::new(spec.build(fused.dropout_index)),
            LayerSpec::Relu => Box::new(relu::Relu),
            LayerSpec::Add => Box::new(add::Add),
            LayerSpec::GlobalAvgPool2d => Box::new(global_avg_pool2d::GlobalAvgPool2d::build(
                backend, inputs[0],
            )?),
            LayerSpec::BatchNorm(spec) => Box::new(spec.build(backend, inputs[0], params)?),
            LayerSpec::Concat => Box::new(concat::Concat::build(inputs)),
        })
    }

    /// How many modules the layer is in the equivalent `torch.nn.Sequential` (a fused ReLU is its own module).
    pub(crate) fn torch_modules(&self) -> usize {
        self.kind().torch_modules()
    }
}

impl fmt::Display for LayerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind().describe(f)
    }
}

/// What every layer description answers.
pub(crate) trait LayerKind {
    /// The per-sample output shape for per-sample input shapes, or why the layer does not fit them.
    fn output_shape(&self, inputs: &[&[usize]]) -> std::result::Result<Vec<usize>, String>;

    /// Its parameters for these inputs, in PyTorch's order (weight, then bias).
    fn params(&self, inputs: &[&[usize]]) -> Vec<ParamDecl> {
        let _ = inputs;
        Vec::new()
    }

    /// Modules in the equivalent `torch.nn.Sequential`.
    fn torch_modules(&self) -> usize {
        1
    }

    /// Whether it reads several inputs (`add`, `concat`) rather than one.
    fn takes_many(&self) -> bool {
        false
    }

    /// Whether a standalone ReLU right after it can be folded into its epilogue.
    fn takes_relu(&self) -> bool {
        false
    }

    /// Whether it draws dropout masks.
    fn is_dropout(&self) -> bool {
        false
    }

    /// Whether its running state counts the training batches it has seen (saved as PyTorch's
    /// `num_batches_tracked`).
    fn counts_batches(&self) -> bool {
        false
    }

    /// One line for summaries and errors, e.g. `conv2d(32, 3x3, relu)`.
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;

    /// Adds its inference-time computation to an ONNX graph being exported; returns the value it outputs.
    fn to_onnx(&self, node: &mut OnnxNode<'_>) -> String;
}

/// How a parameter starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Init {
    /// A weight of these fans: Keras's `GlorotUniform`, or PyTorch's default (see [`crate::InitScheme`]).
    Weight { fan_in: usize, fan_out: usize },
    /// A bias after a weight of this fan-in: zeros (Keras), or PyTorch's default.
    Bias { fan_in: usize },
    /// Every element this value (BatchNorm's gamma 1, beta 0).
    Constant(f32),
}

/// Whether the optimizer trains a parameter or the layer keeps it as running state (saved with the model,
/// never touched by the optimizer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParamKind {
    /// In the trainable arena, with a gradient.
    Trainable,
    /// In the running-state arena.
    Running,
}

/// A parameter a layer declares.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ParamDecl {
    /// The name after the layer's: `weight`, `bias`, `running_mean`.
    pub suffix: &'static str,
    /// PyTorch's layout: conv `[out, in, kh, kw]`, dense `[out, in]`, bias `[out]`.
    pub shape: Vec<usize>,
    pub init: Init,
    pub kind: ParamKind,
}

impl ParamDecl {
    pub fn trainable(suffix: &'static str, shape: Vec<usize>, init: Init) -> Self {
        ParamDecl {
            suffix,
            shape,
            init,
            kind: ParamKind::Trainable,
        }
    }
}

/// A parameter tensor's place in an arena, with its file name and shape.
#[derive(Clone, Debug)]
pub(crate) struct ParamSlot {
    /// e.g. `3.weight`.
    pub name: String,
    pub shape: Vec<usize>,
    /// First element in the arena (a multiple of the backend's view alignment).
    pub offset: usize,
    /// Elements.
    pub len: usize,
}

/// A parameter as a layer holds it: its values and, when trainable, its gradient, as views of the arenas.
pub(crate) struct Param<B: Ops> {
    pub value: B::Buf<f32>,
    pub grad: Option<B::Buf<f32>>,
}

impl<B: Ops> Param<B> {
    /// The gradient of a trainable parameter.
    pub fn grad(&self) -> &B::Buf<f32> {
        self.grad
            .as_ref()
            .expect("a trainable parameter has a gradient")
    }
}

/// What the planner decided for a layer when building it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Fused {
    /// A ReLU that followed it is computed in its epilogue.
    pub relu: bool,
    /// Dropout layers before this one (picks the mask stream).
    pub dropout_index: u64,
}

/// Where dropout masks come from in a training step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StepRandom {
    /// The run's dropout seed.
    pub seed: u64,
    /// The global step (counted over the whole run, so resuming continues the sequence).
    pub step: u64,
    /// Dropout layers in the model.
    pub dropout_layers: u64,
}

/// Training (dropout on, batch statistics) or evaluation.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mode {
    Train(StepRandom),
    Eval,
}

/// The buffers of one forward call: `[n, ...]` inputs and output.
pub(crate) struct Forward<'a, B: Ops> {
    pub batch: usize,
    pub inputs: &'a [&'a B::Buf<f32>],
    pub output: &'a B::Buf<f32>,
    /// What [`Layer::saved_u32`] asked for, kept for the backward pass.
    pub saved: Option<&'a B::Buf<u32>>,
    pub mode: Mode,
}

/// The buffers of one backward call.
pub(crate) struct Backward<'a, B: Ops> {
    pub batch: usize,
    pub inputs: &'a [&'a B::Buf<f32>],
    pub output: &'a B::Buf<f32>,
    /// The loss's gradient with respect to the output.
    pub output_grad: &'a B::Buf<f32>,
    /// Where to write each input's gradient; `None` where no parameter before it trains.
    pub input_grads: &'a [Option<&'a B::Buf<f32>>],
    pub saved: Option<&'a B::Buf<u32>>,
    /// At least [`Layer::backward_scratch`] elements per sample, shared by all layers.
    pub scratch: Option<&'a B::Buf<f32>>,
    pub random: StepRandom,
}

/// A built layer.
pub(crate) trait Layer<B: Ops> {
    /// Per-sample u32 elements kept from forward to backward (max pooling's argmax).
    fn saved_u32(&self) -> usize {
        0
    }

    /// Per-sample f32 elements of scratch the backward pass needs (a fused ReLU's pre-activation gradient).
    fn backward_scratch(&self) -> usize {
        0
    }

    /// Whether the output is the input buffer itself in this mode (a reshape; dropout when evaluating).
    fn output_is_input(&self, training: bool) -> bool {
        let _ = training;
        false
    }

    /// Computes the output.
    fn forward(&self, backend: &B, io: &Forward<'_, B>) -> Result<()>;

    /// Writes the parameters' gradients and the inputs' gradients that are asked for, overwriting them.
    fn backward(&self, backend: &B, io: &Backward<'_, B>) -> Result<()>;
}
