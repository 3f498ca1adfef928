//! `dense`: a fully connected layer with bias, ReLU optionally fused into its epilogue.

use std::fmt;

use digits_tensor::{Gemm, Ops};
use serde::{Deserialize, Serialize};

use super::{
    Activation, Backward, Forward, Fused, Init, Layer, LayerKind, Param, ParamDecl, relu_suffix,
};
use crate::error::Result;
use crate::onnx::{self, OnnxNode};

/// A fully connected layer's description (Keras `Dense`, PyTorch `Linear`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseSpec {
    /// Output features.
    pub units: usize,
    /// `none` (default) or `relu`, fused into the kernel.
    #[serde(default)]
    pub activation: Activation,
}

impl DenseSpec {
    /// `units` outputs, no activation.
    pub fn new(units: usize) -> Self {
        DenseSpec {
            units,
            activation: Activation::None,
        }
    }

    pub(super) fn build<B: Ops>(
        &self,
        input: &[usize],
        params: Vec<Param<B>>,
        fused: Fused,
    ) -> DenseLayer<B> {
        let [weight, bias] = <[Param<B>; 2]>::try_from(params)
            .unwrap_or_else(|_| unreachable!("dense declares a weight and a bias"));
        DenseLayer {
            inputs: input[0],
            units: self.units,
            relu: self.activation == Activation::Relu || fused.relu,
            weight,
            bias,
        }
    }
}

impl LayerKind for DenseSpec {
    fn output_shape(&self, inputs: &[&[usize]]) -> std::result::Result<Vec<usize>, String> {
        if inputs[0].len() != 1 {
            return Err(format!(
                "needs a flat input, got {:?}: add a {{ type = \"flatten\" }} layer before it",
                inputs[0]
            ));
        }
        if self.units == 0 {
            return Err("units must be at least 1".into());
        }
        Ok(vec![self.units])
    }

    fn params(&self, inputs: &[&[usize]]) -> Vec<ParamDecl> {
        let fans = Init::Weight {
            fan_in: inputs[0][0],
            fan_out: self.units,
        };
        vec![
            ParamDecl::trainable("weight", vec![self.units, inputs[0][0]], fans),
            ParamDecl::trainable(
                "bias",
                vec![self.units],
                Init::Bias {
                    fan_in: inputs[0][0],
                },
            ),
        ]
    }

    fn torch_modules(&self) -> usize {
        1 + usize::from(self.activation == Activation::Relu)
    }

    fn takes_relu(&self) -> bool {
        self.activation == Activation::None
    }

    fn to_onnx(&self, node: &mut OnnxNode<'_>) -> String {
        // Gemm computes x·Wᵀ + b with the weight kept in PyTorch's [out, in] layout.
        let inputs = vec![node.input(), node.param("weight"), node.param("bias")];
        let gemm = node.op("Gemm", inputs, vec![onnx::int("transB", 1)]);
        match self.activation {
            Activation::None => gemm,
            Activation::Relu => node.op("Relu", vec![gemm], Vec::new()),
        }
    }

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dense({}{})", self.units, relu_suffix(self.activation))
    }
}

/// `y[n, units] = x[n, inputs]·wᵀ + b`, w `[units, inputs]`, ReLU fused when `relu`.
pub(crate) struct DenseLayer<B: Ops> {
    inputs: usize,
    units: usize,
    relu: bool,
    weight: Param<B>,
    bias: Param<B>,
}

impl<B: Ops> Layer<B> for DenseLayer<B> {
    fn backward_scratch(&self) -> usize {
        if self.relu { self.units } else { 0 }
    }

    fn forward(&self, backend: &B, io: &Forward<'_, B>) -> Result<()> {
        let mut gemm = Gemm::new(io.batch, self.units, self.inputs).transpose_b();
        gemm.relu = self.relu;
        backend.gemm(
            &gemm,
            io.inputs[0],
            &self.weight.value,
            Some(&self.bias.value),
            io.output,
        )?;
        Ok(())
    }

    fn backward(&self, backend: &B, io: &Backward<'_, B>) -> Result<()> {
        let (n, units, inputs) = (io.batch, self.units, self.inputs);
        // A fused ReLU's gradient first goes through the mask of its output: dz = dy · (y > 0).
        let dz = match io.scratch.filter(|_| self.relu) {
            Some(scratch) => {
                let dz = backend.slice(scratch, 0, n * units)?;
                backend.relu_backward(io.output, io.output_grad, &dz)?;
                dz
            }
            None => io.output_grad.clone(),
        };
        // dW[units, inputs] = dzᵀ·x, with dz stored [n, units] = [k, m].
        backend.gemm(
            &Gemm::new(units, inputs, n).transpose_a(),
            &dz,
            io.inputs[0],
            None,
            self.weight.grad(),
        )?;
        // db[units] = Σ_n dz.
        backend.sum_axis(&dz, [1, n, units], false, self.bias.grad())?;
        if let Some(dx) = io.input_grads[0] {
            // dx[n, inputs] = dz[n, units]·W[units, inputs].
            backend.gemm(
                &Gemm::new(n, inputs, units),
                &dz,
                &self.weight.value,
                None,
                dx,
            )?;
        }
        Ok(())
    }
}
