//! `max_pool2d`: max pooling over square windows; the argmax of each output is kept for the backward pass.

use std::fmt;

use digits_tensor::{MaxPool2d, Ops};
use serde::{Deserialize, Serialize};

use super::{Backward, Forward, Layer, LayerKind};
use crate::error::Result;

/// Max pooling's description (Keras `MaxPooling2D`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxPool2dSpec {
    /// Window side.
    pub pool: usize,
    /// Stride (default: the window side).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride: Option<usize>,
}

impl MaxPool2dSpec {
    /// Non-overlapping `pool`×`pool` windows.
    pub fn new(pool: usize) -> Self {
        MaxPool2dSpec { pool, stride: None }
    }

    pub(super) fn build(&self, input: &[usize]) -> MaxPool2dLayer {
        let stride = self.stride.unwrap_or(self.pool);
        let spec = MaxPool2d {
            batch: 0,
            channels: input[0],
            height: input[1],
            width: input[2],
            window: self.pool,
            stride,
        };
        MaxPool2dLayer {
            spec,
            out_len: input[0]
                * ((input[1] - self.pool) / stride + 1)
                * ((input[2] - self.pool) / stride + 1),
        }
    }
}

impl LayerKind for MaxPool2dSpec {
    fn output_shape(&self, inputs: &[&[usize]]) -> std::result::Result<Vec<usize>, String> {
        let &[c, h, w] = inputs[0] else {
            return Err(format!(
                "needs a [channels, height, width] input, got {:?}",
                inputs[0]
            ));
        };
        let (pool, stride) = (self.pool, self.stride.unwrap_or(self.pool));
        if pool == 0 || stride == 0 {
            return Err("pool and stride must be at least 1".into());
        }
        if pool > h || pool > w {
            return Err(format!(
                "pool {pool}x{pool} is larger than its input {h}x{w}"
            ));
        }
        Ok(vec![c, (h - pool) / stride + 1, (w - pool) / stride + 1])
    }

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.stride {
            Some(s) if s != self.pool => write!(f, "max_pool2d({}, stride {s})", self.pool),
            _ => write!(f, "max_pool2d({})", self.pool),
        }
    }
}

pub(crate) struct MaxPool2dLayer {
    /// `batch` is 0, filled in per call.
    spec: MaxPool2d,
    out_len: usize,
}

impl<B: Ops> Layer<B> for MaxPool2dLayer {
    fn saved_u32(&self) -> usize {
        self.out_len
    }

    fn forward(&self, backend: &B, io: &Forward<'_, B>) -> Result<()> {
        let argmax = io.saved.expect("the argmax buffer asked for");
        let spec = MaxPool2d {
            batch: io.batch,
            ..self.spec
        };
        backend.max_pool2d(&spec, io.inputs[0], io.output, argmax)?;
        Ok(())
    }

    fn backward(&self, backend: &B, io: &Backward<'_, B>) -> Result<()> {
        if let Some(dx) = io.input_grads[0] {
            let argmax = io.saved.expect("the argmax buffer asked for");
            let spec = MaxPool2d {
                batch: io.batch,
                ..self.spec
            };
            backend.max_pool2d_backward(&spec, io.output_grad, argmax, dx)?;
        }
        Ok(())
    }
}
