//! Max pooling, NCHW, forward (saving the argmax) and backward.

use crate::{Backend, Result};

/// Max pooling of `[batch, channels, height, width]` with a square window, giving
/// `[batch, channels, (height - window) / stride + 1, (width - window) / stride + 1]` (Keras "valid").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaxPool2d {
    /// Images in the batch.
    pub batch: usize,
    /// Channels.
    pub channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Window side.
    pub window: usize,
    /// Stride in both directions.
    pub stride: usize,
}

impl MaxPool2d {
    /// Output height.
    pub fn out_height(&self) -> usize {
        (self.height - self.window) / self.stride + 1
    }
    /// Output width.
    pub fn out_width(&self) -> usize {
        (self.width - self.window) / self.stride + 1
    }
    /// Elements of the input.
    pub fn input_len(&self) -> usize {
        self.batch * self.channels * self.height * self.width
    }
    /// Elements of the output.
    pub fn output_len(&self) -> usize {
        self.batch * self.channels * self.out_height() * self.out_width()
    }
}

/// Pooling on a backend.
pub trait PoolOps: Backend {
    /// `out` = the window maxima; `argmax` = for each output, the index within the input of its maximum
    /// (the first on ties).
    fn max_pool2d(
        &self,
        spec: &MaxPool2d,
        input: &Self::Buf<f32>,
        out: &Self::Buf<f32>,
        argmax: &Self::Buf<u32>,
    ) -> Result<()>;
    /// Routes each output gradient to its argmax; overwrites `grad_in` (zero elsewhere).
    fn max_pool2d_backward(
        &self,
        spec: &MaxPool2d,
        grad_out: &Self::Buf<f32>,
        argmax: &Self::Buf<u32>,
        grad_in: &Self::Buf<f32>,
    ) -> Result<()>;
}
