//! Elementwise kernels: add, scale, ReLU and its gradient, fill, and the batch gather that turns u8 pixels
//! on the device into normalised f32 inputs.

use crate::{Backend, Result};

/// Gathers a batch from a dataset that lives on the device: rows `indices[index_offset .. index_offset + count]`
/// of `data` (each `row_len` bytes), written as `x * scale + shift` in f32.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gather {
    /// Elements per row (784 for a 28×28 image, 1 for a label).
    pub row_len: usize,
    /// First position in the index buffer (the step's offset into the epoch's permutation).
    pub index_offset: usize,
    /// Rows to gather.
    pub count: usize,
    /// Multiplier (1/255 for pixels, or 1/(255·std)).
    pub scale: f32,
    /// Added after scaling (0, or -mean/std).
    pub shift: f32,
}

/// Elementwise operations. Buffers must have equal lengths unless stated.
pub trait ElementwiseOps: Backend {
    /// `out = a + b`.
    fn add(&self, a: &Self::Buf<f32>, b: &Self::Buf<f32>, out: &Self::Buf<f32>) -> Result<()>;
    /// `out = alpha · x`.
    fn scale(&self, x: &Self::Buf<f32>, alpha: f32, out: &Self::Buf<f32>) -> Result<()>;
    /// `out = max(x, 0)`.
    fn relu(&self, x: &Self::Buf<f32>, out: &Self::Buf<f32>) -> Result<()>;
    /// `grad_in = grad_out` where the ReLU's output `y > 0`, else 0.
    fn relu_backward(&self, y: &Self::Buf<f32>, grad_out: &Self::Buf<f32>, grad_in: &Self::Buf<f32>) -> Result<()>;
    /// Sets every element to `value`.
    fn fill(&self, x: &Self::Buf<f32>, value: f32) -> Result<()>;
    /// Gathers and normalises rows of u8 data (see [`Gather`]); `out` holds `count · row_len` values.
    fn gather_normalize(
        &self,
        spec: &Gather,
        data: &Self::Buf<u8>,
        indices: &Self::Buf<u32>,
        out: &Self::Buf<f32>,
    ) -> Result<()>;
    /// Gathers u8 labels as u32 (`spec.row_len` must be 1; scale and shift are ignored).
    fn gather_labels(
        &self,
        spec: &Gather,
        labels: &Self::Buf<u8>,
        indices: &Self::Buf<u32>,
        out: &Self::Buf<u32>,
    ) -> Result<()>;
}
