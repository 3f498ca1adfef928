//! Optimizer updates over a flat parameter arena: one dispatch updates every parameter of a model.

use rayon::prelude::*;

use crate::cpu::{Cpu, CpuBuf};
use crate::error::check_len;
use crate::gpu::{Gpu, GpuBuf};
use crate::{Backend, Result};

/// One Adam step as Keras defines it (defaults: lr 1e-3, betas 0.9/0.999, epsilon 1e-7):
/// `m = β1·m + (1-β1)·g`, `v = β2·v + (1-β2)·g²`, `α = lr·sqrt(1-β2^t)/(1-β1^t)`, `p -= α·m/(sqrt(v)+ε)`.
/// With a weight decay it is AdamW (Loshchilov and Hutter's decoupled decay, as Keras's and PyTorch's
/// `AdamW`): `p = p·(1 - lr·weight_decay) - α·m/(sqrt(v)+ε)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    /// Learning rate of this step (schedules change it between steps).
    pub lr: f32,
    /// Decay of the first moment.
    pub beta1: f32,
    /// Decay of the second moment.
    pub beta2: f32,
    /// Added to the root of the second moment.
    pub epsilon: f32,
    /// The step number `t`, from 1.
    pub step: u32,
    /// AdamW's decoupled weight decay (0: Adam).
    pub weight_decay: f32,
}

impl Default for AdamStep {
    fn default() -> Self {
        AdamStep {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
            step: 1,
            weight_decay: 0.0,
        }
    }
}

/// One SGD step with momentum as Keras defines it: `v = momentum·v - lr·g`, `p += v`
/// (Nesterov: `p += momentum·v - lr·g`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdStep {
    /// Learning rate of this step.
    pub lr: f32,
    /// Momentum (0 for plain SGD).
    pub momentum: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
}

/// Optimizer updates; all buffers have the same length (the arena).
pub trait OptimOps: Backend {
    /// `average = decay·average + (1 - decay)·value`, in place: the weights' exponential moving average.
    fn ema(&self, decay: f32, average: &Self::Buf<f32>, value: &Self::Buf<f32>) -> Result<()>;
    /// Updates `params` and the moments `m`, `v` in place from `grads`.
    fn adam(
        &self,
        hp: &AdamStep,
        params: &Self::Buf<f32>,
        grads: &Self::Buf<f32>,
        m: &Self::Buf<f32>,
        v: &Self::Buf<f32>,
    ) -> Result<()>;
    /// Updates `params` and `velocity` in place from `grads`.
    fn sgd(
        &self,
        hp: &SgdStep,
        params: &Self::Buf<f32>,
        grads: &Self::Buf<f32>,
        velocity: &Self::Buf<f32>,
    ) -> Result<()>;
}

impl AdamStep {
    /// The step size `α = lr·sqrt(1-β2^t)/(1-β1^t)`, computed in f64 and rounded once, the same on every backend.
    pub fn alpha(&self) -> f32 {
        let t = self.step.max(1) as i32;
        let (b1, b2) = (self.beta1 as f64, self.beta2 as f64);
        (self.lr as f64 * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t))) as f32
    }

    /// AdamW's factor `1 - lr·weight_decay`, computed in f64 and rounded once (exactly 1 for Adam).
    pub fn decay(&self) -> f32 {
        (1.0 - self.lr as f64 * self.weight_decay as f64) as f32
    }

    fn params(&self, n: u32, start: u32) -> AdamParams {
        AdamParams {
            n,
            start,
            alpha: self.alpha(),
            beta1: self.beta1,
            beta2: self.beta2,
            one_minus_beta1: 1.0 - self.beta1,
            one_minus_beta2: 1.0 - self.beta2,
            epsilon: self.epsilon,
            decay: self.decay(),
            _pad: [0; 3],
        }
    }
}

/// Adam's uniform parameters (`Params` in shaders/adam.wgsl); the CPU uses the same values.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct AdamParams {
    n: u32,
    start: u32,
    alpha: f32,
    beta1: f32,
    beta2: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    epsilon: f32,
    decay: f32,
    _pad: [u32; 3],
}

#[cfg(test)]
pub(crate) fn adam_uniform() -> crate::gpu::uniform::UniformLayout {
    crate::gpu::uniform::uniform_layout!(AdamParams for ["adam"] { n, start, alpha, beta1, beta2, one_minus_beta1, one_minus_beta2, epsilon, decay })
}

impl AdamParams {
    /// One element's update, written as in the shader.
    #[inline]
    fn update(&self, p: &mut f32, g: f32, m: &mut f32, v: &mut f32) {
        *m = self.beta1 * *m + self.one_minus_beta1 * g;
        *v = self.beta2 * *v + self.one_minus_beta2 * (g * g);
        *p = *p * self.decay - self.alpha * *m / (v.sqrt() + self.epsilon);
    }
}

/// SGD's uniform parameters (`Params` in shaders/sgd.wgsl).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SgdParams {
    n: u32,
    start: u32,
    lr: f32,
    momentum: f32,
    nesterov: u32,
}

#[cfg(test)]
pub(crate) fn sgd_uniform() -> crate::gpu::uniform::UniformLayout {
    crate::gpu::uniform::uniform_layout!(SgdParams for ["sgd"] { n, start, lr, momentum, nesterov })
}

impl SgdParams {
    fn new(hp: &SgdStep, n: u32, start: u32) -> Self {
        SgdParams {
            n,
            start,
            lr: hp.lr,
            momentum: hp.momentum,
            nesterov: u32::from(hp.nesterov),
        }
    }

    /// One element's update, written as in the shader.
    #[inline]
    fn update(&self, p: &mut f32, g: f32, v: &mut f32) {
        *v = self.momentum * *v - self.lr * g;
        if self.nesterov != 0 {
            *p += self.momentum * *v - self.lr * g;
        } else {
            *p += *v;
        }
    }
}

/// The EMA's uniform parameters (`Params` in shaders/ema.wgsl); the CPU uses the same values.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct EmaParams {
    n: u32,
    start: u32,
    decay: f32,
    one_minus_decay: f32,
}

#[cfg(test)]
pub(crate) fn ema_uniform() -> crate::gpu::uniform::UniformLayout {
    crate::gpu::uniform::uniform_layout!(EmaParams for ["ema"] { n, start, decay, one_minus_decay })
}

impl EmaParams {
    fn new(decay: f32, n: u32, start: u32) -> Self {
        EmaParams {
            n,
            start,
            decay,
            one_minus_decay: 1.0 - decay,
        }
    }

    /// One element's update, written as in the shader.
    #[inline]
    fn update(&self, average: &mut f32, value: f32) {
        *average = self.decay * *average + self.one_minus_decay * value;
    }
}

fn check_ema(decay: f32, average: usize, value: usize) -> Result<()> {
    if !(0.0..1.0).contains(&decay) {
        return Err(crate::error::shape_error(
            "ema",
            format!("decay {decay} is not in [0, 1)"),
        ));
    }
    check_arena("ema", average, &[("value", value)])
}

fn check_arena(op: &'static str, params: usize, others: &[(&str, usize)]) -> Result<()> {
    for &(what, len) in others {
        check_len(op, what, len, params)?;
    }
    Ok(())
}

/// Arenas at least this long are updated by rayon in chunks (a model's 1.2M parameters are; a bias is not).
const PAR_MIN: usize = 1 << 16;
const PAR_CHUNK: usize = 1 << 14;

impl OptimOps for Cpu {
    fn ema(&self, decay: f32, average: &CpuBuf<f32>, value: &CpuBuf<f32>) -> Result<()> {
        check_ema(decay, average.len(), value.len())?;
        let k = EmaParams::new(decay, average.len() as u32, 0);
        let (mut a, v) = (average.write(), value.read());
        let update = |a: &mut [f32], v: &[f32]| {
            for (a, &v) in a.iter_mut().zip(v) {
                k.update(a, v);
            }
        };
        if a.len() >= PAR_MIN {
            a.par_chunks_mut(PAR_CHUNK)
                .zip(v.par_chunks(PAR_CHUNK))
                .for_each(|(a, v)| update(a, v));
        } else {
            update(&mut a, &v);
        }
        Ok(())
    }

    fn adam(
        &self,
        hp: &AdamStep,
        params: &CpuBuf<f32>,
        grads: &CpuBuf<f32>,
        m: &CpuBuf<f32>,
        v: &CpuBuf<f32>,
    ) -> Result<()> {
        check_arena(
            "adam",
            params.len(),
            &[("grads", grads.len()), ("m", m.len()), ("v", v.len())],
        )?;
        let k = hp.params(params.len() as u32, 0);
        let (mut p, g, mut m, mut v) = (params.write(), grads.read(), m.write(), v.write());
        let update = |p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]| {
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                k.update(p, g, m, v);
            }
        };
        if p.len() >= PAR_MIN {
            p.par_chunks_mut(PAR_CHUNK)
                .zip(g.par_chunks(PAR_CHUNK))
                .zip(m.par_chunks_mut(PAR_CHUNK))
                .zip(v.par_chunks_mut(PAR_CHUNK))
                .for_each(|(((p, g), m), v)| update(p, g, m, v));
        } else {
            update(&mut p, &g, &mut m, &mut v);
        }
        Ok(())
    }

    fn sgd(
        &self,
        hp: &SgdStep,
        params: &CpuBuf<f32>,
        grads: &CpuBuf<f32>,
        velocity: &CpuBuf<f32>,
    ) -> Result<()> {
        check_arena(
            "sgd",
            params.len(),
            &[("grads", grads.len()), ("velocity", velocity.len())],
        )?;
        let k = SgdParams::new(hp, params.len() as u32, 0);
        let (mut p, g, mut v) = (params.write(), grads.read(), velocity.write());
        let update = |p: &mut [f32], g: &[f32], v: &mut [f32]| {
            for ((p, &g), v) in p.iter_mut().zip(g).zip(v.iter_mut()) {
                k.update(p, g, v);
            }
        };
        if p.len() >= PAR_MIN {
            p.par_chunks_mut(PAR_CHUNK)
                .zip(g.par_chunks(PAR_CHUNK))
                .zip(v.par_chunks_mut(PAR_CHUNK))
                .for_each(|((p, g), v)| update(p, g, v));
        } else {
            update(&mut p, &g, &mut v);
        }
        Ok(())
    }
}

impl Gpu {
    /// [`OptimOps::adam`] in pieces of at most `limit` elements (crate tests exercise the splitting).
    pub(crate) fn adam_in_pieces(
        &self,
        hp: &AdamStep,
        params: &GpuBuf<f32>,
        grads: &GpuBuf<f32>,
        m: &GpuBuf<f32>,
        v: &GpuBuf<f32>,
        limit: usize,
    ) -> Result<()> {
        check_arena(
            "adam",
            params.len(),
            &[("grads", grads.len()), ("m", m.len()), ("v", v.len())],
        )?;
        let buffers = [params, grads, m, v];
        self.dispatch_1d(
            &ADAM,
            ["main4", "main"],
            &buffers,
            limit,
            |n, start| hp.params(n, start),
        )
    }
}

impl OptimOps for Gpu {
    fn ema(&self, decay: f32, average: &GpuBuf<f32>, value: &GpuBuf<f32>) -> Result<()> {
        check_ema(decay, average.len(), value.len())?;
        let limit = self.max_binding_elements::<f32>();
        self.dispatch_1d(
            &EMA,
            ["main4", "main"],
            &[average, value],
            limit,
            |n, start| EmaParams::new(decay, n, start),
        )
    }

    fn adam(
        &self,
        hp: &AdamStep,
        params: &GpuBuf<f32>,
        grads: &GpuBuf<f32>,
        m: &GpuBuf<f32>,
        v: &GpuBuf<f32>,
    ) -> Result<()> {
        self.adam_in_pieces(hp, params, grads, m, v, self.max_binding_elements::<f32>())
    }

    fn sgd(
        &self,
        hp: &SgdStep,
        params: &GpuBuf<f32>,
        grads: &GpuBuf<f32>,
        velocity: &GpuBuf<f32>,
    ) -> Result<()> {
        check_arena(
            "sgd",
            params.len(),
            &[("grads", grads.len()), ("velocity", velocity.len())],
        )?;
        let limit = self.max_binding_elements::<f32>();
        self.dispatch_1d(
            &SGD,
            ["main4", "main"],
            &[params, grads, velocity],
            limit,
            |n, start| SgdParams::new(hp, n, start),
        )
    }
}

/// Both optimizers' kernels and the weights' average.
pub(crate) fn warm_up(gpu: &Gpu) -> Result<()> {
    // One vec4 and one single float, as for the elementwise kernels.
    let [p, g, m, v] = [0; 4].map(|_| gpu.zeros::<f32>(5));
    let (p, g, m, v) = (p?, g?, m?, v?);
    gpu.adam(&AdamStep::default(), &p, &g, &m, &v)?;
    gpu.ema(0.999, &m, &p)?;
    let hp = SgdStep {
        lr: 0.01,
        momentum: 0.9,
        nesterov: false,
    };
    gpu.sgd(&hp, &p, &g, &v)
}

crate::family::family!(
    "optim",
    kernels: [
        ADAM => "adam",
        SGD => "sgd",
        EMA => "ema",
    ],
    warm_up: warm_up,
    check: crate::conformance::dense::check_optim,
    uniforms: [adam_uniform, sgd_uniform, ema_uniform],
);
