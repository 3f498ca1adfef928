//! Gradual magnitude pruning (Zhu & Gupta, 2017, as TensorFlow Model Optimization's `PolynomialDecay`):
//! during training, every `frequency` steps from `begin_step` to `end_step`, each convolution and dense
//! weight tensor is pruned to the schedule's sparsity by zeroing its smallest magnitudes; a mask of zeros
//! and ones over the parameter arena, kept on the device, is applied after every optimizer step so pruned
//! weights stay zero while the rest fine-tune. Biases and BatchNorm's parameters are never pruned.
//!
//! The magnitudes are ranked on the host: at each mask update (every `frequency` steps, 100 by default) the
//! weights are read back once, which the steps in between never do.

use digits_tensor::Ops;
use serde::{Deserialize, Serialize};

use crate::error::{NnError, Result};
use crate::layers::ParamSlot;
use crate::model::Sequential;

/// Which weights one magnitude ranking covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PruneScope {
    /// All pruned tensors together (PyTorch's `global_unstructured`): the total reaches the sparsity, and
    /// layers whose weights matter more (larger magnitudes, as in a small first convolution) keep more.
    #[default]
    Global,
    /// Each tensor to the sparsity on its own (TF-MOT's `prune_low_magnitude`).
    Layer,
}

/// The pruning schedule: sparsity `s(t) = final · (1 - (1 - (t - begin) / (end - begin))³)` from `begin_step`
/// to `end_step`, updated every `frequency` steps, then held.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneConfig {
    /// The final fraction of each pruned tensor that is zero, in [0, 1).
    pub sparsity: f32,
    /// The first step that prunes.
    pub begin_step: u64,
    /// The step where the final sparsity is reached.
    pub end_step: u64,
    /// Steps between mask updates.
    pub frequency: u64,
    /// One ranking over every pruned tensor, or one per tensor.
    pub scope: PruneScope,
}

impl PruneConfig {
    /// The schedule's sparsity at `step`.
    pub fn sparsity_at(&self, step: u64) -> f32 {
        if step < self.begin_step {
            return 0.0;
        }
        let span = (self.end_step - self.begin_step).max(1) as f64;
        let done = ((step - self.begin_step) as f64 / span).min(1.0);
        (f64::from(self.sparsity) * (1.0 - (1.0 - done).powi(3))) as f32
    }

    /// Whether the mask is updated after `step`: every `frequency` steps from `begin_step`, and at
    /// `end_step`, so the final sparsity is reached whatever the frequency.
    pub fn updates_at(&self, step: u64) -> bool {
        step >= self.begin_step
            && step <= self.end_step
            && ((step - self.begin_step).is_multiple_of(self.frequency) || step == self.end_step)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.sparsity) {
            return Err(NnError::Config(format!(
                "sparsity {} is not in [0, 1)",
                self.sparsity
            )));
        }
        if self.frequency == 0 || self.end_step < self.begin_step {
            return Err(NnError::Config(format!(
                "a pruning schedule needs frequency > 0 and end_step >= begin_step, got {self:?}"
            )));
        }
        Ok(())
    }
}

/// One pruned tensor's zeros, as [`sparsity`] counts them.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSparsity {
    /// The tensor, e.g. `0.weight`.
    pub name: String,
    /// Elements that are exactly zero.
    pub zeros: usize,
    /// Elements.
    pub len: usize,
}

/// Whether a parameter is pruned: the weights of convolutions and dense layers (two or more axes).
pub(crate) fn is_pruned(slot: &ParamSlot) -> bool {
    slot.shape.len() >= 2 && slot.name.ends_with("weight")
}

/// The mask for `params`: zeros at the `round(sparsity · len)` smallest magnitudes of the pruned tensors (all
/// together, or each tensor on its own, as `scope` says; ties broken by position, so the mask is the same on
/// every backend), ones everywhere else.
pub(crate) fn mask(
    slots: &[ParamSlot],
    params: &[f32],
    sparsity: f32,
    scope: PruneScope,
) -> Vec<f32> {
    let mut mask = vec![1.0; params.len()];
    let pruned: Vec<&ParamSlot> = slots.iter().filter(|s| is_pruned(s)).collect();
    let groups: Vec<Vec<&ParamSlot>> = match scope {
        PruneScope::Global => vec![pruned],
        PruneScope::Layer => pruned.into_iter().map(|s| vec![s]).collect(),
    };
    for group in groups {
        let mut order: Vec<usize> = group
            .iter()
            .flat_map(|s| s.offset..s.offset + s.len)
            .collect();
        let prune = (f64::from(sparsity) * order.len() as f64).round() as usize;
        order.sort_by(|&a, &b| params[a].abs().total_cmp(&params[b].abs()).then(a.cmp(&b)));
        for &i in &order[..prune] {
            mask[i] = 0.0;
        }
    }
    mask
}

impl<B: Ops> Sequential<B> {
    /// The zeros of every tensor pruning prunes (convolution and dense weights), copied to the host.
    pub fn sparsity(&self) -> Result<Vec<TensorSparsity>> {
        let params = self.backend().download(&self.params)?;
        Ok(self
            .slots
            .iter()
            .filter(|s| is_pruned(s))
            .map(|s| TensorSparsity {
                name: s.name.clone(),
                zeros: params[s.offset..s.offset + s.len]
                    .iter()
                    .filter(|&&v| v == 0.0)
                    .count(),
                len: s.len,
            })
            .collect())
    }
}
