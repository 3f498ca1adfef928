//! `concat`: joins its inputs along the channel axis (`[c₁, h, w]` and `[c₂, h, w]` into `[c₁ + c₂, h, w]`;
//! flat features likewise), as Inception blocks join their branches.

use std::fmt;

use digits_tensor::{CopyRows, Ops};

use super::{Backward, Forward, Layer, LayerKind};
use crate::error::Result;
use crate::onnx::{self, OnnxNode};

pub(crate) struct Concat;

impl Concat {
    pub(super) fn build(inputs: &[&[usize]]) -> ConcatLayer {
        ConcatLayer {
            lens: inputs.iter().map(|s| s.iter().product()).collect(),
        }
    }
}

impl LayerKind for Concat {
    fn output_shape(&self, inputs: &[&[usize]]) -> std::result::Result<Vec<usize>, String> {
        let first = inputs[0];
        if let Some(other) = inputs
            .iter()
            .find(|s| s.len() != first.len() || s[1..] != first[1..])
        {
            return Err(format!(
                "cannot join inputs of shapes {first:?} and {other:?} along channels: the other dimensions differ"
            ));
        }
        let mut shape = first.to_vec();
        shape[0] = inputs.iter().map(|s| s[0]).sum();
        Ok(shape)
    }

    fn takes_many(&self) -> bool {
        true
    }

    fn to_onnx(&self, node: &mut OnnxNode<'_>) -> String {
        node.op("Concat", node.inputs.clone(), vec![onnx::int("axis", 1)])
    }

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "concat")
    }
}

/// Per sample, input `i` fills columns `offset(i)..offset(i) + lens[i]` of the output's row.
pub(crate) struct ConcatLayer {
    lens: Vec<usize>,
}

impl ConcatLayer {
    /// The copy of input `i` into the output (`into_output`) or of the output's gradient back into input `i`'s.
    fn block(&self, i: usize, batch: usize, into_output: bool) -> CopyRows {
        let total = self.lens.iter().sum();
        let offset = self.lens[..i].iter().sum();
        let len = self.lens[i];
        let (src_stride, src_offset, dst_stride, dst_offset) = if into_output {
            (len, 0, total, offset)
        } else {
            (total, offset, len, 0)
        };
        CopyRows {
            rows: batch,
            len,
            src_stride,
            src_offset,
            dst_stride,
            dst_offset,
        }
    }
}

impl<B: Ops> Layer<B> for ConcatLayer {
    fn forward(&self, backend: &B, io: &Forward<'_, B>) -> Result<()> {
        for (i, x) in io.inputs.iter().enumerate() {
            backend.copy_rows(&self.block(i, io.batch, true), x, io.output)?;
        }
        Ok(())
    }

    fn backward(&self, backend: &B, io: &Backward<'_, B>) -> Result<()> {
        for (i, dx) in io.input_grads.iter().enumerate() {
            if let Some(dx) = dx {
                backend.copy_rows(&self.block(i, io.batch, false), io.output_grad, dx)?;
            }
        }
        Ok(())
    }
}
