//! `global_avg_pool2d`: the mean of each channel over the whole image, `[c, h, w]` to `[c]`.
//!
//! Per batch it is a GEMM against a constant column: `y[n·c] = x[n·c, h·w] · (1/hw)[h·w]`, and the gradient
//! the outer product `dx[n·c, h·w] = dy[n·c] · (1/hw)[h·w]`, so it runs on the conformance-checked GEMM.

use std::fmt;

use digits_tensor::{Gemm, Ops};

use super::{Backward, Forward, Layer, LayerKind};
use crate::error::Result;
use crate::onnx::{self, OnnxNode};

pub(crate) struct GlobalAvgPool2d;

impl GlobalAvgPool2d {
    pub(super) fn build<B: Ops>(backend: &B, input: &[usize]) -> Result<GlobalAvgPool2dLayer<B>> {
        let pixels = input[1] * input[2];
        Ok(GlobalAvgPool2dLayer {
            channels: input[0],
            pixels,
            weights: backend.upload(&vec![1.0 / pixels as f32; pixels])?,
        })
    }
}

impl LayerKind for GlobalAvgPool2d {
    fn output_shape(&self, inputs: &[&[usize]]) -> std::result::Result<Vec<usize>, String> {
        match inputs[0] {
            &[c, _, _] => Ok(vec![c]),
            other => Err(format!(
                "needs a [channels, height, width] input, got {other:?}"
            )),
        }
    }

    fn to_onnx(&self, node: &mut OnnxNode<'_>) -> String {
        // GlobalAveragePool keeps [n, c, 1, 1]; the layer's output is [n, c].
        let pooled = node.op("GlobalAveragePool", vec![node.input()], Vec::new());
        node.op("Flatten", vec![pooled], vec![onnx::int("axis", 1)])
    }

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "global_avg_pool2d")
    }
}

pub(crate) struct GlobalAvgPool2dLayer<B: Ops> {
    channels: usize,
    pixels: usize,
    /// `1 / pixels`, `pixels` times.
    weights: B::Buf<f32>,
}

impl<B: Ops> Layer<B> for GlobalAvgPool2dLayer<B> {
    fn forward(&self, backend: &B, io: &Forward<'_, B>) -> Result<()> {
        let rows = io.batch * self.channels;
        backend.gemm(
            &Gemm::new(rows, 1, self.pixels),
            io.inputs[0],
            &self.weights,
            None,
            io.output,
        )?;
        Ok(())
    }

    fn backward(&self, backend: &B, io: &Backward<'_, B>) -> Result<()> {
        if let Some(dx) = io.input_grads[0] {
            let rows = io.batch * self.channels;
            backend.gemm(
                &Gemm::new(rows, self.pixels, 1),
                io.output_grad,
                &self.weights,
                None,
                dx,
            )?;
        }
        Ok(())
    }
}
