//! `batch_norm`: normalises each channel (after a convolution) or feature (after a dense layer) by the batch's
//! statistics while training and by running statistics when evaluating, then scales and shifts it.
//! PyTorch's semantics and defaults (momentum 0.1, eps 1e-5); `style = "keras"` takes Keras's (momentum
//! 0.99 in its convention, 0.01 in this one; eps 1e-3).

use std::fmt;

use digits_tensor::{BatchNorm, Ops};
use serde::{Deserialize, Serialize};

use super::{Backward, Forward, Init, Layer, LayerKind, Mode, Param, ParamDecl, ParamKind};
use crate::error::Result;
use crate::onnx::{self, OnnxNode};

/// Whose defaults a batch normalisation takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchNormStyle {
    /// momentum 0.1, eps 1e-5.
    #[default]
    Pytorch,
    /// Keras's momentum 0.99 (0.01 as the weight of the batch), eps 1e-3.
    Keras,
}

/// A batch normalisation's description.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchNormSpec {
    /// Whose defaults.
    #[serde(default)]
    pub style: BatchNormStyle,
    /// Weight of each batch's statistics in the running ones (PyTorch's convention).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f32>,
    /// Added to the variance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eps: Option<f32>,
}

impl BatchNormSpec {
    fn momentum(&self) -> f32 {
        self.momentum.unwrap_or(match self.style {
            BatchNormStyle::Pytorch => 0.1,
            BatchNormStyle::Keras => 0.01,
        })
    }

    fn eps(&self) -> f32 {
        self.eps.unwrap_or(match self.style {
            BatchNormStyle::Pytorch => 1e-5,
            BatchNormStyle::Keras => 1e-3,
        })
    }

    pub(super) fn build<B: Ops>(
        &self,
        backend: &B,
        input: &[usize],
        params: Vec<Param<B>>,
    ) -> Result<BatchNormLayer<B>> {
        let [gamma, beta, running_mean, running_var] = <[Param<B>; 4]>::try_from(params)
            .unwrap_or_else(|_| unreachable!("batch_norm declares four tensors"));
        let channels = input[0];
        Ok(BatchNormLayer {
            spec: BatchNorm {
                batch: 0,
                channels,
                pixels: input[1..].iter().product(),
                eps: self.eps(),
                momentum: self.momentum(),
            },
            gamma,
            beta,
            running_mean,
            running_var,
            mean: backend.zeros::<f32>(channels)?,
            inv_std: backend.zeros::<f32>(channels)?,
        })
    }
}

impl LayerKind for BatchNormSpec {
    fn output_shape(&self, inputs: &[&[usize]]) -> std::result::Result<Vec<usize>, String> {
        if !matches!(inputs[0].len(), 1 | 3) {
            return Err(format!(
                "needs a [channels, height, width] or [features] input, got {:?}",
                inputs[0]
            ));
        }
        let (momentum, eps) = (self.momentum(), self.eps());
        if !((0.0..=1.0).contains(&momentum) && eps > 0.0 && eps.is_finite()) {
            return Err(format!(
                "momentum {momentum} must be in [0, 1] and eps {eps} positive"
            ));
        }
        Ok(inputs[0].to_vec())
    }

    fn params(&self, inputs: &[&[usize]]) -> Vec<ParamDecl> {
        let channels = inputs[0][0];
        let running = |suffix, value| ParamDecl {
            suffix,
            shape: vec![channels],
            init: Init::Constant(value),
            kind: ParamKind::Running,
        };
        vec![
            ParamDecl::trainable("weight", vec![channels], Init::Constant(1.0)),
            ParamDecl::trainable("bias", vec![channels], Init::Constant(0.0)),
            running("running_mean", 0.0),
            running("running_var", 1.0),
        ]
    }

    fn counts_batches(&self) -> bool {
        true
    }

    /// Inference mode: the running statistics (ONNX's default `training_mode` of 0).
    fn to_onnx(&self, node: &mut OnnxNode<'_>) -> String {
        let inputs = vec![
            node.input(),
            node.param("weight"),
            node.param("bias"),
            node.param("running_mean"),
            node.param("running_var"),
        ];
        node.op(
            "BatchNormalization",
            inputs,
            vec![onnx::float("epsilon", self.eps())],
        )
    }

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.style {
            BatchNormStyle::Pytorch => write!(f, "batch_norm"),
            BatchNormStyle::Keras => write!(f, "batch_norm(keras)"),
        }
    }
}

/// `y = (x - mean)·inv_std·gamma + beta` per channel; statistics of the batch (training) or running ones.
pub(crate) struct BatchNormLayer<B: Ops> {
    /// `batch` is 0, filled in per call.
    spec: BatchNorm,
    gamma: Param<B>,
    beta: Param<B>,
    running_mean: Param<B>,
    running_var: Param<B>,
    /// The last training batch's statistics, for its backward pass.
    mean: B::Buf<f32>,
    inv_std: B::Buf<f32>,
}

impl<B: Ops> Layer<B> for BatchNormLayer<B> {
    fn forward(&self, backend: &B, io: &Forward<'_, B>) -> Result<()> {
        let spec = BatchNorm {
            batch: io.batch,
            ..self.spec
        };
        let running = [&self.running_mean.value, &self.running_var.value];
        let (gamma, beta) = (&self.gamma.value, &self.beta.value);
        match io.mode {
            Mode::Train(_) => backend.batch_norm_train(
                &spec,
                io.inputs[0],
                gamma,
                beta,
                io.output,
                [&self.mean, &self.inv_std],
                running,
            )?,
            Mode::Eval => {
                backend.batch_norm_eval(&spec, io.inputs[0], gamma, beta, running, io.output)?
            }
        }
        Ok(())
    }

    fn backward(&self, backend: &B, io: &Backward<'_, B>) -> Result<()> {
        let spec = BatchNorm {
            batch: io.batch,
            ..self.spec
        };
        backend.batch_norm_backward(
            &spec,
            io.inputs[0],
            io.output_grad,
            &self.gamma.value,
            [&self.mean, &self.inv_std],
            [self.gamma.grad(), self.beta.grad()],
            io.input_grads[0],
        )?;
        Ok(())
    }
}
