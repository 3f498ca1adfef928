//! `conv2d`: a 2-D convolution with bias, ReLU optionally fused into its epilogue.

use std::fmt;

use digits_tensor::{Conv2d, Ops};
use serde::{Deserialize, Serialize};

use super::{
    Activation, Backward, Forward, Fused, Init, Layer, LayerKind, Param, ParamDecl, relu_suffix,
};
use crate::error::Result;
use crate::onnx::{self, OnnxNode};

/// Zero padding of a convolution, as Keras names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// No padding: the output shrinks by `kernel - 1`.
    #[default]
    Valid,
    /// `(kernel - 1) / 2` on every side (odd kernels): the output is `ceil(size / stride)`, the size itself at
    /// stride 1, as in Keras. With a stride, the padding is PyTorch's symmetric `padding = (k - 1) / 2`, where
    /// Keras would put the odd row and column of padding at the bottom and right.
    Same,
}

/// A convolution's description (Keras `Conv2D`, PyTorch `Conv2d`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv2dSpec {
    /// Output channels.
    pub filters: usize,
    /// Square kernel side.
    pub kernel: usize,
    /// Stride (default 1).
    #[serde(default = "one")]
    pub stride: usize,
    /// `valid` (default) or `same`.
    #[serde(default)]
    pub padding: Padding,
    /// `none` (default) or `relu`, fused into the kernel.
    #[serde(default)]
    pub activation: Activation,
    /// Whether it adds a bias (default true). A convolution followed by batch normalisation needs none (the
    /// normalisation removes it, and its gradient is only rounding noise), as in PyTorch's `bias=False`.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub bias: bool,
}

fn one() -> usize {
    1
}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

impl Conv2dSpec {
    /// A `kernel`×`kernel` convolution with `filters` outputs, stride 1, no padding, no activation.
    pub fn new(filters: usize, kernel: usize) -> Self {
        Conv2dSpec {
            filters,
            kernel,
            stride: 1,
            padding: Padding::Valid,
            activation: Activation::None,
            bias: true,
        }
    }

    fn pad(&self) -> usize {
        match self.padding {
            Padding::Valid => 0,
            Padding::Same => (self.kernel - 1) / 2,
        }
    }

    pub(super) fn build<B: Ops>(
        &self,
        input: &[usize],
        params: Vec<Param<B>>,
        fused: Fused,
    ) -> Conv2dLayer<B> {
        let mut params = params.into_iter();
        let weight = params.next().expect("conv2d declares a weight");
        let bias = params.next();
        Conv2dLayer {
            spec: Conv2d {
                batch: 0,
                in_channels: input[0],
                out_channels: self.filters,
                height: input[1],
                width: input[2],
                kernel_h: self.kernel,
                kernel_w: self.kernel,
                stride: self.stride,
                padding: self.pad(),
                relu: self.activation == Activation::Relu || fused.relu,
            },
            out_len: self.filters
                * ((input[1] + 2 * self.pad() - self.kernel) / self.stride + 1)
                * ((input[2] + 2 * self.pad() - self.kernel) / self.stride + 1),
            weight,
            bias,
        }
    }
}

impl LayerKind for Conv2dSpec {
    fn output_shape(&self, inputs: &[&[usize]]) -> std::result::Result<Vec<usize>, String> {
        let &[_, h, w] = inputs[0] else {
            return Err(format!(
                "needs a [channels, height, width] input, got {:?}",
                inputs[0]
            ));
        };
        let (filters, kernel, stride) = (self.filters, self.kernel, self.stride);
        if filters == 0 || kernel == 0 || stride == 0 {
            return Err("filters, kernel and stride must be at least 1".into());
        }
        if self.padding == Padding::Same && kernel % 2 == 0 {
            return Err("padding = \"same\" needs an odd kernel".into());
        }
        let pad = self.pad();
        if kernel > h.saturating_add(2 * pad) || kernel > w.saturating_add(2 * pad) {
            return Err(format!(
                "kernel {kernel}x{kernel} is larger than its input {h}x{w}"
            ));
        }
        Ok(vec![
            filters,
            (h + 2 * pad - kernel) / stride + 1,
            (w + 2 * pad - kernel) / stride + 1,
        ])
    }

    fn params(&self, inputs: &[&[usize]]) -> Vec<ParamDecl> {
        let (filters, channels, kernel) = (self.filters, inputs[0][0], self.kernel);
        // Keras's fans: in·kh·kw and out·kh·kw.
        let fans = Init::Weight {
            fan_in: channels * kernel * kernel,
            fan_out: filters * kernel * kernel,
        };
        let mut decls = vec![ParamDecl::trainable(
            "weight",
            vec![filters, channels, kernel, kernel],
            fans,
        )];
        if self.bias {
            decls.push(ParamDecl::trainable(
                "bias",
                vec![filters],
                Init::Bias {
                    fan_in: channels * kernel * kernel,
                },
            ));
        }
        decls
    }

    fn torch_modules(&self) -> usize {
        1 + usize::from(self.activation == Activation::Relu)
    }

    fn takes_relu(&self) -> bool {
        self.activation == Activation::None
    }

    fn to_onnx(&self, node: &mut OnnxNode<'_>) -> String {
        let mut inputs = vec![node.input(), node.param("weight")];
        if self.bias {
            inputs.push(node.param("bias"));
        }
        let pad = self.pad();
        let conv = node.op(
            "Conv",
            inputs,
            vec![
                onnx::ints("kernel_shape", &[self.kernel, self.kernel]),
                onnx::ints("strides", &[self.stride, self.stride]),
                onnx::ints("pads", &[pad; 4]),
            ],
        );
        match self.activation {
            Activation::None => conv,
            Activation::Relu => node.op("Relu", vec![conv], Vec::new()),
        }
    }

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "conv2d({}, {}x{}",
            self.filters, self.kernel, self.kernel
        )?;
        if self.stride != 1 {
            write!(f, ", stride {}", self.stride)?;
        }
        if self.padding == Padding::Same {
            write!(f, ", same")?;
        }
        if !self.bias {
            write!(f, ", no bias")?;
        }
        write!(f, "{})", relu_suffix(self.activation))
    }
}

/// `y[n, out, oh, ow] = conv(x, w) + b`, w `[out, in, kh, kw]`, ReLU fused when `spec.relu`.
pub(crate) struct Conv2dLayer<B: Ops> {
    /// `batch` is 0, filled in per call.
    spec: Conv2d,
    out_len: usize,
    weight: Param<B>,
    bias: Option<Param<B>>,
}

impl<B: Ops> Layer<B> for Conv2dLayer<B> {
    fn backward_scratch(&self) -> usize {
        if self.spec.relu { self.out_len } else { 0 }
    }

    fn forward(&self, backend: &B, io: &Forward<'_, B>) -> Result<()> {
        let spec = Conv2d {
            batch: io.batch,
            ..self.spec
        };
        backend.conv2d(
            &spec,
            io.inputs[0],
            &self.weight.value,
            self.bias.as_ref().map(|b| &b.value),
            io.output,
        )?;
        Ok(())
    }

    fn backward(&self, backend: &B, io: &Backward<'_, B>) -> Result<()> {
        let spec = Conv2d {
            batch: io.batch,
            ..self.spec
        };
        // A fused ReLU's gradient first goes through the mask of its output: dz = dy · (y > 0).
        let dz = match io.scratch.filter(|_| spec.relu) {
            Some(scratch) => {
                let dz = backend.slice(scratch, 0, io.batch * self.out_len)?;
                backend.relu_backward(io.output, io.output_grad, &dz)?;
                dz
            }
            None => io.output_grad.clone(),
        };
        backend.conv2d_backward_weight(
            &spec,
            io.inputs[0],
            &dz,
            self.weight.grad(),
            self.bias.as_ref().map(Param::grad),
        )?;
        if let Some(dx) = io.input_grads[0] {
            backend.conv2d_backward_input(&spec, &dz, &self.weight.value, dx)?;
        }
        Ok(())
    }
}
