//! `avg_pool2d`: the mean of each square window (PyTorch `AvgPool2d`, Keras `AveragePooling2D`).

use std::fmt;

use digits_tensor::{Ops, Pool2d};
use serde::{Deserialize, Serialize};

use super::max_pool2d::{describe_window, is_zero, onnx_window, pooled_shape, window_geometry};
use super::{Backward, Forward, Layer, LayerKind};
use crate::error::Result;
use crate::onnx::{self, OnnxNode};

/// Average pooling's description.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvgPool2dSpec {
    /// Window side.
    pub pool: usize,
    /// Stride (default: the window side).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride: Option<usize>,
    /// Rows and columns of zeros around the input (default 0; at most half the window). They count in the
    /// mean, as in PyTorch's default (`count_include_pad=True`): every window divides by `pool²`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub padding: usize,
}

impl AvgPool2dSpec {
    /// Non-overlapping `pool`×`pool` windows.
    pub fn new(pool: usize) -> Self {
        AvgPool2dSpec {
            pool,
            stride: None,
            padding: 0,
        }
    }

    pub(super) fn build(&self, input: &[usize]) -> AvgPool2dLayer {
        AvgPool2dLayer {
            spec: window_geometry(input, self.pool, self.stride, self.padding),
        }
    }
}

impl LayerKind for AvgPool2dSpec {
    fn output_shape(&self, inputs: &[&[usize]]) -> std::result::Result<Vec<usize>, String> {
        pooled_shape(inputs, self.pool, self.stride, self.padding)
    }

    fn to_onnx(&self, node: &mut OnnxNode<'_>) -> String {
        let mut attributes = onnx_window(self.pool, self.stride, self.padding);
        attributes.push(onnx::int("count_include_pad", 1));
        node.op("AveragePool", vec![node.input()], attributes)
    }

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        describe_window(f, "avg_pool2d", self.pool, self.stride, self.padding)
    }
}

pub(crate) struct AvgPool2dLayer {
    /// `batch` is 0, filled in per call.
    spec: Pool2d,
}

impl<B: Ops> Layer<B> for AvgPool2dLayer {
    fn forward(&self, backend: &B, io: &Forward<'_, B>) -> Result<()> {
        let spec = Pool2d {
            batch: io.batch,
            ..self.spec
        };
        backend.avg_pool2d(&spec, io.inputs[0], io.output)?;
        Ok(())
    }

    fn backward(&self, backend: &B, io: &Backward<'_, B>) -> Result<()> {
        if let Some(dx) = io.input_grads[0] {
            let spec = Pool2d {
                batch: io.batch,
                ..self.spec
            };
            backend.avg_pool2d_backward(&spec, io.output_grad, dx)?;
        }
        Ok(())
    }
}
