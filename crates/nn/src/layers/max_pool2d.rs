//! `max_pool2d`: max pooling over square windows; the argmax of each output is kept for the backward pass.

use std::fmt;

use digits_tensor::{Ops, Pool2d};
use serde::{Deserialize, Serialize};

use super::{Backward, Forward, Layer, LayerKind};
use crate::error::Result;
use crate::onnx::proto::AttributeProto;
use crate::onnx::{self, OnnxNode};

/// Max pooling's description (Keras `MaxPooling2D`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxPool2dSpec {
    /// Window side.
    pub pool: usize,
    /// Stride (default: the window side).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride: Option<usize>,
    /// Rows and columns of -∞ around the input (default 0; at most half the window). A 3×3 window with
    /// stride 1 and padding 1 keeps the size, as an Inception pooling branch needs.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub padding: usize,
}

pub(super) fn is_zero(value: &usize) -> bool {
    *value == 0
}

impl MaxPool2dSpec {
    /// Non-overlapping `pool`×`pool` windows.
    pub fn new(pool: usize) -> Self {
        MaxPool2dSpec {
            pool,
            stride: None,
            padding: 0,
        }
    }

    pub(super) fn build(&self, input: &[usize]) -> MaxPool2dLayer {
        let spec = window_geometry(input, self.pool, self.stride, self.padding);
        MaxPool2dLayer {
            out_len: input[0] * spec.out_height() * spec.out_width(),
            spec,
        }
    }
}

/// The pooling geometry of one sample (`batch` 0, filled in per call), for max and average pooling alike.
pub(super) fn window_geometry(
    input: &[usize],
    pool: usize,
    stride: Option<usize>,
    padding: usize,
) -> Pool2d {
    Pool2d {
        batch: 0,
        channels: input[0],
        height: input[1],
        width: input[2],
        window: pool,
        stride: stride.unwrap_or(pool),
        padding,
    }
}

/// The output shape of pooling `[c, h, w]` by `pool`×`pool` windows, or why they do not fit.
pub(super) fn pooled_shape(
    inputs: &[&[usize]],
    pool: usize,
    stride: Option<usize>,
    pad: usize,
) -> std::result::Result<Vec<usize>, String> {
    let &[c, h, w] = inputs[0] else {
        return Err(format!(
            "needs a [channels, height, width] input, got {:?}",
            inputs[0]
        ));
    };
    let stride = stride.unwrap_or(pool);
    if pool == 0 || stride == 0 {
        return Err("pool and stride must be at least 1".into());
    }
    if 2 * pad > pool {
        return Err(format!(
            "padding {pad} is more than half the {pool}x{pool} window"
        ));
    }
    let (h, w) = (h.saturating_add(2 * pad), w.saturating_add(2 * pad));
    if pool > h || pool > w {
        return Err(format!(
            "pool {pool}x{pool} is larger than its padded input {h}x{w}"
        ));
    }
    Ok(vec![c, (h - pool) / stride + 1, (w - pool) / stride + 1])
}

/// The attributes of an ONNX pooling node over this window (floor rounding, ONNX's default as ours).
pub(super) fn onnx_window(
    pool: usize,
    stride: Option<usize>,
    padding: usize,
) -> Vec<AttributeProto> {
    let stride = stride.unwrap_or(pool);
    vec![
        onnx::ints("kernel_shape", &[pool, pool]),
        onnx::ints("strides", &[stride, stride]),
        onnx::ints("pads", &[padding; 4]),
    ]
}

/// `name(pool[, stride s][, padding p])`.
pub(super) fn describe_window(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    pool: usize,
    stride: Option<usize>,
    padding: usize,
) -> fmt::Result {
    write!(f, "{name}({pool}")?;
    if let Some(s) = stride.filter(|&s| s != pool) {
        write!(f, ", stride {s}")?;
    }
    if padding > 0 {
        write!(f, ", padding {padding}")?;
    }
    write!(f, ")")
}

impl LayerKind for MaxPool2dSpec {
    fn output_shape(&self, inputs: &[&[usize]]) -> std::result::Result<Vec<usize>, String> {
        pooled_shape(inputs, self.pool, self.stride, self.padding)
    }

    fn to_onnx(&self, node: &mut OnnxNode<'_>) -> String {
        let window = onnx_window(self.pool, self.stride, self.padding);
        node.op("MaxPool", vec![node.input()], window)
    }

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        describe_window(f, "max_pool2d", self.pool, self.stride, self.padding)
    }
}

pub(crate) struct MaxPool2dLayer {
    /// `batch` is 0, filled in per call.
    spec: Pool2d,
    out_len: usize,
}

impl<B: Ops> Layer<B> for MaxPool2dLayer {
    fn saved_u32(&self) -> usize {
        self.out_len
    }

    fn forward(&self, backend: &B, io: &Forward<'_, B>) -> Result<()> {
        let argmax = io.saved.expect("the argmax buffer asked for");
        let spec = Pool2d {
            batch: io.batch,
            ..self.spec
        };
        backend.max_pool2d(&spec, io.inputs[0], io.output, argmax)?;
        Ok(())
    }

    fn backward(&self, backend: &B, io: &Backward<'_, B>) -> Result<()> {
        if let Some(dx) = io.input_grads[0] {
            let argmax = io.saved.expect("the argmax buffer asked for");
            let spec = Pool2d {
                batch: io.batch,
                ..self.spec
            };
            backend.max_pool2d_backward(&spec, io.output_grad, argmax, dx)?;
        }
        Ok(())
    }
}
