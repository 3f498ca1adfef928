//! Dropout with a counter-based random generator: the mask is a hash of (seed, stream, element index), so it
//! is reproducible, needs no stored state, and is the same on the CPU and the GPU.

use crate::{Backend, Result};

/// Drops each element with probability `rate` and scales the kept ones by `1 / (1 - rate)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    /// Probability of dropping an element.
    pub rate: f32,
    /// The run's seed.
    pub seed: u64,
    /// Distinguishes masks within a run: e.g. the step number times the number of dropout layers plus the layer.
    pub stream: u64,
}

/// Dropout on a backend.
pub trait DropoutOps: Backend {
    /// `out = x · keep / (1 - rate)`.
    fn dropout(&self, spec: &Dropout, x: &Self::Buf<f32>, out: &Self::Buf<f32>) -> Result<()>;
    /// `grad_in = grad_out · keep / (1 - rate)`, with the same mask (regenerated from the counter).
    fn dropout_backward(&self, spec: &Dropout, grad_out: &Self::Buf<f32>, grad_in: &Self::Buf<f32>) -> Result<()>;
}
