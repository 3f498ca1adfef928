//! Optimizers over the parameter arena: one dispatch per step updates every parameter.

use digits_tensor::{AdadeltaStep, AdamStep, NadamStep, Ops, RmspropStep, SgdStep};
use serde::{Deserialize, Serialize};

use crate::error::{NnError, Result};

/// An optimizer and its hyper-parameters (Keras's names and defaults).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// Adam (Kingma and Ba), as Keras computes it; with a weight decay, AdamW (decoupled: the weights shrink
    /// by `lr·weight_decay` of themselves each step, apart from the gradient's moments).
    Adam {
        /// Initial learning rate.
        lr: f32,
        /// First-moment decay.
        beta1: f32,
        /// Second-moment decay.
        beta2: f32,
        /// Added to the root of the second moment.
        epsilon: f32,
        /// AdamW's decoupled weight decay (0: Adam; Keras's AdamW default is 0.004, PyTorch's 0.01).
        #[serde(default, skip_serializing_if = "is_zero")]
        weight_decay: f32,
    },
    /// RMSprop as Keras computes it (ε under the root).
    Rmsprop {
        lr: f32,
        /// Decay of the squared gradients' average (Keras 0.9).
        rho: f32,
        epsilon: f32,
    },
    /// Adadelta (Keras's defaults lr 1e-3, ρ 0.95, ε 1e-7; the PyTorch MNIST example's lr 1.0, ρ 0.9, ε 1e-6).
    Adadelta { lr: f32, rho: f32, epsilon: f32 },
    /// Nadam, Adam with Nesterov momentum, as Keras computes it (its momentum schedule).
    Nadam {
        lr: f32,
        beta1: f32,
        beta2: f32,
        epsilon: f32,
    },
    /// Stochastic gradient descent with (optionally Nesterov) momentum.
    Sgd {
        /// Initial learning rate.
        lr: f32,
        /// Momentum (0: plain SGD).
        momentum: f32,
        /// Nesterov momentum.
        nesterov: bool,
    },
}

fn is_zero(value: &f32) -> bool {
    *value == 0.0
}

impl Default for OptimizerConfig {
    /// Keras's Adam: lr 1e-3, betas 0.9 / 0.999, epsilon 1e-7.
    fn default() -> Self {
        Self::adam(1e-3)
    }
}

impl OptimizerConfig {
    /// Adam with Keras's betas and epsilon.
    pub fn adam(lr: f32) -> Self {
        let d = AdamStep::default();
        Self::adam_with(lr, d.beta1, d.beta2, 0.0)
    }

    /// AdamW: Adam with Keras's betas and epsilon and this decoupled weight decay.
    pub fn adamw(lr: f32, weight_decay: f32) -> Self {
        let d = AdamStep::default();
        Self::adam_with(lr, d.beta1, d.beta2, weight_decay)
    }

    /// Adam (AdamW where `weight_decay` is positive) with these betas and Keras's epsilon.
    pub fn adam_with(lr: f32, beta1: f32, beta2: f32, weight_decay: f32) -> Self {
        OptimizerConfig::Adam {
            lr,
            beta1,
            beta2,
            epsilon: AdamStep::default().epsilon,
            weight_decay,
        }
    }

    /// RMSprop with Keras's ε (Keras's ρ is 0.9).
    pub fn rmsprop(lr: f32, rho: f32) -> Self {
        OptimizerConfig::Rmsprop {
            lr,
            rho,
            epsilon: AdamStep::default().epsilon,
        }
    }

    /// Adadelta with Keras's ε (Keras's ρ is 0.95).
    pub fn adadelta(lr: f32, rho: f32) -> Self {
        OptimizerConfig::Adadelta {
            lr,
            rho,
            epsilon: AdamStep::default().epsilon,
        }
    }

    /// Nadam with Keras's ε (Keras's betas are 0.9 and 0.999).
    pub fn nadam(lr: f32, beta1: f32, beta2: f32) -> Self {
        OptimizerConfig::Nadam {
            lr,
            beta1,
            beta2,
            epsilon: AdamStep::default().epsilon,
        }
    }

    /// SGD with momentum (not Nesterov).
    pub fn sgd(lr: f32, momentum: f32) -> Self {
        OptimizerConfig::Sgd {
            lr,
            momentum,
            nesterov: false,
        }
    }

    /// The initial learning rate.
    pub fn lr(&self) -> f32 {
        match *self {
            OptimizerConfig::Adam { lr, .. }
            | OptimizerConfig::Rmsprop { lr, .. }
            | OptimizerConfig::Adadelta { lr, .. }
            | OptimizerConfig::Nadam { lr, .. }
            | OptimizerConfig::Sgd { lr, .. } => lr,
        }
    }

    /// Checks that the hyper-parameters are in range.
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(NnError::Config(format!("optimizer: {what}")));
        let lr = self.lr();
        if !(lr.is_finite() && lr > 0.0) {
            return bad(format!("learning rate {lr} must be positive"));
        }
        match *self {
            OptimizerConfig::Adam {
                beta1,
                beta2,
                epsilon,
                weight_decay,
                ..
            } => {
                if !(0.0..1.0).contains(&beta1) || !(0.0..1.0).contains(&beta2) {
                    return bad(format!("betas {beta1}, {beta2} must be in [0, 1)"));
                }
                if !(weight_decay >= 0.0 && f64::from(lr) * f64::from(weight_decay) < 1.0) {
                    return bad(format!(
                        "weight decay {weight_decay} must be at least 0, and below 1 / lr"
                    ));
                }
                if !(epsilon.is_finite() && epsilon > 0.0) {
                    return bad(format!("epsilon {epsilon} must be positive"));
                }
            }
            OptimizerConfig::Rmsprop { rho, epsilon, .. }
            | OptimizerConfig::Adadelta { rho, epsilon, .. } => {
                if !(0.0..1.0).contains(&rho) {
                    return bad(format!("rho {rho} must be in [0, 1)"));
                }
                if !(epsilon.is_finite() && epsilon > 0.0) {
                    return bad(format!("epsilon {epsilon} must be positive"));
                }
            }
            OptimizerConfig::Nadam {
                beta1,
                beta2,
                epsilon,
                ..
            } => {
                if !(0.0..1.0).contains(&beta1) || !(0.0..1.0).contains(&beta2) {
                    return bad(format!("betas {beta1}, {beta2} must be in [0, 1)"));
                }
                if !(epsilon.is_finite() && epsilon > 0.0) {
                    return bad(format!("epsilon {epsilon} must be positive"));
                }
            }
            OptimizerConfig::Sgd { momentum, .. } => {
                if !(0.0..1.0).contains(&momentum) {
                    return bad(format!("momentum {momentum} must be in [0, 1)"));
                }
            }
        }
        Ok(())
    }

    /// Names of the per-parameter state tensors, as checkpoints store them.
    pub(crate) fn state_names(&self) -> &'static [&'static str] {
        match self {
            OptimizerConfig::Adam { .. } | OptimizerConfig::Nadam { .. } => &["m", "v"],
            OptimizerConfig::Rmsprop { .. } => &["v"],
            OptimizerConfig::Adadelta { .. } => &["accumulated_gradient", "accumulated_update"],
            OptimizerConfig::Sgd { .. } => &["velocity"],
        }
    }
}

/// An optimizer's state on the device: moment arenas shaped like the parameter arena, and the step count.
pub(crate) struct Optimizer<B: Ops> {
    pub config: OptimizerConfig,
    /// One arena per name of [`OptimizerConfig::state_names`] (Adam: `[m, v]`; SGD: `[velocity]`).
    pub state: Vec<B::Buf<f32>>,
    /// Steps taken so far (Adam's `t` of the next step is `step + 1`).
    pub step: u32,
    /// Nadam's `Π u_k` over the steps taken, each with its step's β1 (checkpointed: a schedule may cycle β1).
    pub momentum_product: f64,
}

impl<B: Ops> Optimizer<B> {
    /// Zero state for an arena of `len` elements.
    pub fn new(backend: &B, config: OptimizerConfig, len: usize) -> Result<Self> {
        config.validate()?;
        let state = config
            .state_names()
            .iter()
            .map(|_| backend.zeros::<f32>(len))
            .collect::<Result<_, _>>()?;
        Ok(Optimizer {
            config,
            state,
            step: 0,
            momentum_product: 1.0,
        })
    }

    /// One update of `params` from `grads` with learning rate `lr`; `scheduled` replaces Adam's β1 or SGD's
    /// momentum for this step (a one-cycle schedule cycles it).
    pub fn apply(
        &mut self,
        backend: &B,
        params: &B::Buf<f32>,
        grads: &B::Buf<f32>,
        lr: f32,
        scheduled: Option<f32>,
    ) -> Result<()> {
        self.step += 1;
        match self.config {
            OptimizerConfig::Adam {
                beta1,
                beta2,
                epsilon,
                weight_decay,
                ..
            } => {
                let hp = AdamStep {
                    lr,
                    beta1: scheduled.unwrap_or(beta1),
                    beta2,
                    epsilon,
                    step: self.step,
                    weight_decay,
                };
                backend.adam(&hp, params, grads, &self.state[0], &self.state[1])?;
            }
            OptimizerConfig::Rmsprop { rho, epsilon, .. } => {
                let hp = RmspropStep { lr, rho, epsilon };
                backend.rmsprop(&hp, params, grads, &self.state[0])?;
            }
            OptimizerConfig::Adadelta { rho, epsilon, .. } => {
                let hp = AdadeltaStep { lr, rho, epsilon };
                backend.adadelta(&hp, params, grads, &self.state[0], &self.state[1])?;
            }
            OptimizerConfig::Nadam {
                beta1,
                beta2,
                epsilon,
                ..
            } => {
                let beta1 = scheduled.unwrap_or(beta1);
                let hp = NadamStep {
                    lr,
                    beta1,
                    beta2,
                    epsilon,
                    step: self.step,
                    momentum_product: self.momentum_product,
                };
                backend.nadam(&hp, params, grads, &self.state[0], &self.state[1])?;
                self.momentum_product *= NadamStep::momentum(beta1, self.step);
            }
            OptimizerConfig::Sgd {
                momentum, nesterov, ..
            } => {
                let hp = SgdStep {
                    lr,
                    momentum: scheduled.unwrap_or(momentum),
                    nesterov,
                };
                backend.sgd(&hp, params, grads, &self.state[0])?;
            }
        }
        Ok(())
    }
}
