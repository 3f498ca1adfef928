//! `flatten`: `[c, h, w]` to `[c·h·w]` in that (NCHW) order; a reshape, so its output is its input buffer.

use std::fmt;

use digits_tensor::Ops;

use super::{Backward, Forward, Layer, LayerKind};
use crate::error::Result;
use crate::onnx::{self, OnnxNode};

pub(crate) struct Flatten;

impl LayerKind for Flatten {
    fn output_shape(&self, inputs: &[&[usize]]) -> std::result::Result<Vec<usize>, String> {
        // The input's own size was checked against the limits, so the product fits.
        Ok(vec![inputs[0].iter().product()])
    }

    fn to_onnx(&self, node: &mut OnnxNode<'_>) -> String {
        node.op("Flatten", vec![node.input()], vec![onnx::int("axis", 1)])
    }

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "flatten")
    }
}

impl<B: Ops> Layer<B> for Flatten {
    fn output_is_input(&self, _training: bool) -> bool {
        true
    }

    fn forward(&self, _backend: &B, _io: &Forward<'_, B>) -> Result<()> {
        Ok(())
    }

    fn backward(&self, backend: &B, io: &Backward<'_, B>) -> Result<()> {
        // Where the planner shares the gradient buffer too, there is nothing to write (no input gradient is
        // asked for); otherwise the gradient is passed on as it is.
        if let Some(dx) = io.input_grads[0] {
            backend.copy(io.output_grad, dx)?;
        }
        Ok(())
    }
}
