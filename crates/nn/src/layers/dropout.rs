//! `dropout`: zeroes inputs with probability `rate` while training (scaling the rest by `1 / (1 - rate)`);
//! when evaluating its output is its input buffer.

use std::fmt;

use digits_tensor::{Dropout, Ops};
use serde::{Deserialize, Serialize};

use super::{Backward, Forward, Layer, LayerKind, Mode, StepRandom};
use crate::error::Result;
use crate::onnx::OnnxNode;

/// Dropout's description.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropoutSpec {
    /// Probability of dropping, in `[0, 1)`.
    pub rate: f32,
}

impl DropoutSpec {
    pub(super) fn build(&self, index: u64) -> DropoutLayer {
        DropoutLayer {
            rate: self.rate,
            index,
        }
    }
}

impl LayerKind for DropoutSpec {
    fn output_shape(&self, inputs: &[&[usize]]) -> std::result::Result<Vec<usize>, String> {
        if !(0.0..1.0).contains(&self.rate) {
            return Err(format!("rate {} is outside [0, 1)", self.rate));
        }
        Ok(inputs[0].to_vec())
    }

    fn is_dropout(&self) -> bool {
        true
    }

    /// Inference keeps every input, unscaled (inverted dropout scales while training): no node.
    fn to_onnx(&self, node: &mut OnnxNode<'_>) -> String {
        node.input()
    }

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dropout({})", self.rate)
    }
}

pub(crate) struct DropoutLayer {
    rate: f32,
    /// Dropout layers before this one: picks the mask stream.
    index: u64,
}

impl DropoutLayer {
    fn spec(&self, r: StepRandom) -> Dropout {
        Dropout {
            rate: self.rate,
            seed: r.seed,
            stream: r.step * r.dropout_layers + self.index,
        }
    }
}

impl<B: Ops> Layer<B> for DropoutLayer {
    fn output_is_input(&self, training: bool) -> bool {
        !training
    }

    fn forward(&self, backend: &B, io: &Forward<'_, B>) -> Result<()> {
        if let Mode::Train(random) = io.mode {
            backend.dropout(&self.spec(random), io.inputs[0], io.output)?;
        }
        Ok(())
    }

    fn backward(&self, backend: &B, io: &Backward<'_, B>) -> Result<()> {
        if let Some(dx) = io.input_grads[0] {
            backend.dropout_backward(&self.spec(io.random), io.output_grad, dx)?;
        }
        Ok(())
    }
}
