//! 2-D convolution, NCHW, forward (with fused bias and ReLU) and backward.

use crate::{Backend, Result};

/// A convolution of `[batch, in_channels, height, width]` by weights `[out_channels, in_channels, kh, kw]`
/// (PyTorch's layout), giving `[batch, out_channels, out_height, out_width]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Conv2d {
    /// Images in the batch.
    pub batch: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels (filters).
    pub out_channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// Stride in both directions.
    pub stride: usize,
    /// Zero padding on every side (0: "valid"; (k-1)/2 with stride 1: "same").
    pub padding: usize,
    /// Apply `max(x, 0)` after the bias (forward only; backward takes the already-masked gradient).
    pub relu: bool,
}

impl Conv2d {
    /// Output height: `(height + 2·padding - kernel_h) / stride + 1`.
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.padding - self.kernel_h) / self.stride + 1
    }
    /// Output width: `(width + 2·padding - kernel_w) / stride + 1`.
    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.padding - self.kernel_w) / self.stride + 1
    }
    /// Elements of the input.
    pub fn input_len(&self) -> usize {
        self.batch * self.in_channels * self.height * self.width
    }
    /// Elements of the weights.
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.in_channels * self.kernel_h * self.kernel_w
    }
    /// Elements of the output.
    pub fn output_len(&self) -> usize {
        self.batch * self.out_channels * self.out_height() * self.out_width()
    }
    /// Floating-point operations of the forward pass (a multiply-add counts two).
    pub fn flops(&self) -> u64 {
        2 * (self.output_len() * self.in_channels * self.kernel_h * self.kernel_w) as u64
    }
}

/// Convolution on a backend.
pub trait ConvOps: Backend {
    /// `out = conv(input, weight) (+ bias[oc]) (ReLU)`.
    fn conv2d(
        &self,
        spec: &Conv2d,
        input: &Self::Buf<f32>,
        weight: &Self::Buf<f32>,
        bias: Option<&Self::Buf<f32>>,
        out: &Self::Buf<f32>,
    ) -> Result<()>;
    /// Gradient of the input from the gradient of the output (overwrites `grad_in`).
    fn conv2d_backward_input(
        &self,
        spec: &Conv2d,
        grad_out: &Self::Buf<f32>,
        weight: &Self::Buf<f32>,
        grad_in: &Self::Buf<f32>,
    ) -> Result<()>;
    /// Gradients of the weights and bias, summed over the batch in a fixed order (bit-reproducible);
    /// overwrites `grad_weight` and `grad_bias`.
    fn conv2d_backward_weight(
        &self,
        spec: &Conv2d,
        input: &Self::Buf<f32>,
        grad_out: &Self::Buf<f32>,
        grad_weight: &Self::Buf<f32>,
        grad_bias: Option<&Self::Buf<f32>>,
    ) -> Result<()>;
}
