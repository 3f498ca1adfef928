//! `add`: the elementwise sum of two inputs of the same shape (a residual connection).

use std::fmt;

use digits_tensor::Ops;

use super::{Backward, Forward, Layer, LayerKind};
use crate::error::Result;
use crate::onnx::OnnxNode;

pub(crate) struct Add;

impl LayerKind for Add {
    fn output_shape(&self, inputs: &[&[usize]]) -> std::result::Result<Vec<usize>, String> {
        let &[a, b] = inputs else {
            return Err(format!("adds two inputs, not {}", inputs.len()));
        };
        if a != b {
            return Err(format!("cannot add inputs of shapes {a:?} and {b:?}"));
        }
        Ok(a.to_vec())
    }

    fn takes_many(&self) -> bool {
        true
    }

    fn to_onnx(&self, node: &mut OnnxNode<'_>) -> String {
        node.op("Add", node.inputs.clone(), Vec::new())
    }

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "add")
    }
}

impl<B: Ops> Layer<B> for Add {
    fn forward(&self, backend: &B, io: &Forward<'_, B>) -> Result<()> {
        backend.add(io.inputs[0], io.inputs[1], io.output)?;
        Ok(())
    }

    fn backward(&self, backend: &B, io: &Backward<'_, B>) -> Result<()> {
        // d(a + b)/da = d(a + b)/db = 1: each input's gradient is the output's.
        for dx in io.input_grads.iter().flatten() {
            backend.copy(io.output_grad, dx)?;
        }
        Ok(())
    }
}
