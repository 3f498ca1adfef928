//! Reductions: sums along an axis, argmax, and the fused softmax + cross-entropy forward and backward that
//! also accumulates loss and accuracy on the device, deterministically (no float atomics).

use crate::{Backend, Result};

/// Softmax cross-entropy over `rows` rows of `classes` logits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftmaxCrossEntropy {
    /// Samples in the batch.
    pub rows: usize,
    /// Classes per sample.
    pub classes: usize,
    /// Multiplies the gradient `softmax - onehot`: `1 / rows` for a mean loss.
    pub grad_scale: f32,
}

/// Reduction operations.
pub trait ReduceOps: Backend {
    /// `out[o, i] = Σ_a x[o, a, i]` for `x` of shape `[outer, axis, inner]` (the mean when `mean`).
    /// Bias gradients are `shape = [1, batch, features]`.
    fn sum_axis(&self, x: &Self::Buf<f32>, shape: [usize; 3], mean: bool, out: &Self::Buf<f32>) -> Result<()>;
    /// `out[r] = argmax_c x[r, c]` (the first maximum on ties).
    fn argmax_rows(&self, x: &Self::Buf<f32>, rows: usize, cols: usize, out: &Self::Buf<u32>) -> Result<()>;
    /// Softmax of each row (for predictions).
    fn softmax(&self, logits: &Self::Buf<f32>, rows: usize, cols: usize, out: &Self::Buf<f32>) -> Result<()>;
    /// The fused loss: numerically stable softmax (row max subtracted), then
    /// `grad = (softmax - onehot(label)) · grad_scale` when `grad` is given, and
    /// `stats[0] += Σ_rows -log softmax[label]`, `stats[1] += number of rows whose argmax equals the label`.
    /// `stats` has 2 elements and accumulates across calls (an epoch's running loss and accuracy).
    fn softmax_cross_entropy(
        &self,
        spec: &SoftmaxCrossEntropy,
        logits: &Self::Buf<f32>,
        labels: &Self::Buf<u32>,
        grad: Option<&Self::Buf<f32>>,
        stats: &Self::Buf<f32>,
    ) -> Result<()>;
}
