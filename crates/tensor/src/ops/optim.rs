//! Optimizer updates over a flat parameter arena: one dispatch updates every parameter of a model.

use crate::{Backend, Result};

/// One Adam step as Keras defines it (defaults: lr 1e-3, betas 0.9/0.999, epsilon 1e-7):
/// `m = β1·m + (1-β1)·g`, `v = β2·v + (1-β2)·g²`, `α = lr·sqrt(1-β2^t)/(1-β1^t)`, `p -= α·m/(sqrt(v)+ε)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    /// Learning rate of this step (schedules change it between steps).
    pub lr: f32,
    /// Decay of the first moment.
    pub beta1: f32,
    /// Decay of the second moment.
    pub beta2: f32,
    /// Added to the root of the second moment.
    pub epsilon: f32,
    /// The step number `t`, from 1.
    pub step: u32,
}

impl Default for AdamStep {
    fn default() -> Self {
        AdamStep {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
            step: 1,
        }
    }
}

/// One SGD step with momentum as Keras defines it: `v = momentum·v - lr·g`, `p += v`
/// (Nesterov: `p += momentum·v - lr·g`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdStep {
    /// Learning rate of this step.
    pub lr: f32,
    /// Momentum (0 for plain SGD).
    pub momentum: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
}

/// Optimizer updates; all buffers have the same length (the arena).
pub trait OptimOps: Backend {
    /// Updates `params` and the moments `m`, `v` in place from `grads`.
    fn adam(
        &self,
        hp: &AdamStep,
        params: &Self::Buf<f32>,
        grads: &Self::Buf<f32>,
        m: &Self::Buf<f32>,
        v: &Self::Buf<f32>,
    ) -> Result<()>;
    /// Updates `params` and `velocity` in place from `grads`.
    fn sgd(&self, hp: &SgdStep, params: &Self::Buf<f32>, grads: &Self::Buf<f32>, velocity: &Self::Buf<f32>)
    -> Result<()>;
}
