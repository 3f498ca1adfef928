//! `relu`: a standalone `max(x, 0)`; the planner folds it into a convolution or dense layer that feeds only it.

use std::fmt;

use digits_tensor::Ops;

use super::{Backward, Forward, Layer, LayerKind};
use crate::error::Result;
use crate::onnx::OnnxNode;

pub(crate) struct Relu;

impl LayerKind for Relu {
    fn output_shape(&self, inputs: &[&[usize]]) -> std::result::Result<Vec<usize>, String> {
        Ok(inputs[0].to_vec())
    }

    fn to_onnx(&self, node: &mut OnnxNode<'_>) -> String {
        node.op("Relu", vec![node.input()], Vec::new())
    }

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "relu")
    }
}

impl<B: Ops> Layer<B> for Relu {
    fn forward(&self, backend: &B, io: &Forward<'_, B>) -> Result<()> {
        backend.relu(io.inputs[0], io.output)?;
        Ok(())
    }

    fn backward(&self, backend: &B, io: &Backward<'_, B>) -> Result<()> {
        if let Some(dx) = io.input_grads[0] {
            backend.relu_backward(io.output, io.output_grad, dx)?;
        }
        Ok(())
    }
}
