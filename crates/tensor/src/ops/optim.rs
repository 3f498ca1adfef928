//! Optimizer updates over a flat parameter arena: one dispatch updates every parameter of a model.

use rayon::prelude::*;

use crate::cpu::{Cpu, CpuBuf};
use crate::error::check_len;
use crate::gpu::{Gpu, GpuBuf, Kernel};
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

/// One RMSprop step as Keras defines it (defaults: lr 1e-3, rho 0.9, epsilon 1e-7):
/// `v = ρ·v + (1-ρ)·g²`, `p -= lr·g/sqrt(v + ε)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmspropStep {
    pub lr: f32,
    /// Decay of the squared gradients' average.
    pub rho: f32,
    /// Added to the average under the root.
    pub epsilon: f32,
}

/// One Adadelta step as Keras and PyTorch define it (Keras's defaults lr 1e-3, rho 0.95, epsilon 1e-7;
/// PyTorch's MNIST example uses lr 1.0, rho 0.9, epsilon 1e-6): `a = ρ·a + (1-ρ)·g²`,
/// `d = sqrt(u + ε)/sqrt(a + ε)·g`, `u = ρ·u + (1-ρ)·d²`, `p -= lr·d`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdadeltaStep {
    pub lr: f32,
    /// Decay of both accumulators.
    pub rho: f32,
    pub epsilon: f32,
}

/// One Nadam step as Keras defines it (defaults: lr 1e-3, betas 0.9/0.999, epsilon 1e-7), with its momentum
/// schedule `u_t = β1·(1 - 0.5·0.96^(0.004·t))`: `m = β1·m + (1-β1)·g`, `v = β2·v + (1-β2)·g²`,
/// `p -= lr·(c_m·m + c_g·g)/(sqrt(v·c_v) + ε)` with `c_m = u_{t+1}/(1 - Π_{k≤t+1} u_k)`,
/// `c_g = (1 - u_t)/(1 - Π_{k≤t} u_k)` and `c_v = 1/(1 - β2^t)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NadamStep {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
    /// The step number `t`, from 1.
    pub step: u32,
    /// `Π_{k<t} u_k`, each `u_k` with the β1 of its own step (1 at the first step): a training loop
    /// carries it from step to step ([`NadamStep::momentum`]), as Keras keeps its `u_product`.
    pub momentum_product: f64,
}

impl NadamStep {
    /// The momentum `u_t` of step `t` for this β1.
    pub fn momentum(beta1: f32, t: u32) -> f64 {
        f64::from(beta1) * (1.0 - 0.5 * 0.96f64.powf(0.004 * f64::from(t)))
    }

    /// `Π_{k<t} u_k` for a β1 that stays the same (tests and warm-up; a training loop multiplies as it goes).
    pub fn product_before(beta1: f32, t: u32) -> f64 {
        (1..t).map(|k| Self::momentum(beta1, k)).product()
    }

    /// `(c_m, c_g, c_v)`, computed in f64 and rounded once, the same on every backend.
    pub fn coefficients(&self) -> (f32, f32, f32) {
        let t = self.step.max(1);
        let (now, next) = (
            Self::momentum(self.beta1, t),
            Self::momentum(self.beta1, t + 1),
        );
        let product = self.momentum_product * now;
        let momentum = next / (1.0 - product * next);
        let gradient = (1.0 - now) / (1.0 - product);
        let second = 1.0 / (1.0 - f64::from(self.beta2).powi(t as i32));
        (momentum as f32, gradient as f32, second as f32)
    }
}

/// Optimizer updates; all buffers have the same length (the arena).
pub trait OptimOps: Backend {
    /// Updates `params` and the squared gradients' average `v` in place from `grads`.
    fn rmsprop(
        &self,
        hp: &RmspropStep,
        params: &Self::Buf<f32>,
        grads: &Self::Buf<f32>,
        v: &Self::Buf<f32>,
    ) -> Result<()>;
    /// Updates `params` and the accumulators `a` (gradients) and `u` (updates) in place from `grads`.
    fn adadelta(
        &self,
        hp: &AdadeltaStep,
        params: &Self::Buf<f32>,
        grads: &Self::Buf<f32>,
        a: &Self::Buf<f32>,
        u: &Self::Buf<f32>,
    ) -> Result<()>;
    /// Updates `params` and the moments `m`, `v` in place from `grads`.
    fn nadam(
        &self,
        hp: &NadamStep,
        params: &Self::Buf<f32>,
        grads: &Self::Buf<f32>,
        m: &Self::Buf<f32>,
        v: &Self::Buf<f32>,
    ) -> Result<()>;
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

fn check_decay(decay: f32) -> Result<()> {
    if !(0.0..1.0).contains(&decay) {
        return Err(crate::error::shape_error(
            "ema",
            format!("decay {decay} is not in [0, 1)"),
        ));
    }
    Ok(())
}

/// The uniform parameters of `shaders/rmsprop.wgsl` and `shaders/adadelta.wgsl` (the same layout).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct RhoParams {
    n: u32,
    start: u32,
    lr: f32,
    rho: f32,
    one_minus_rho: f32,
    epsilon: f32,
    _pad: [u32; 2],
}

#[cfg(test)]
pub(crate) fn rho_uniform() -> crate::gpu::uniform::UniformLayout {
    crate::gpu::uniform::uniform_layout!(RhoParams for ["rmsprop", "adadelta"] { n, start, lr, rho, one_minus_rho, epsilon })
}

impl RhoParams {
    fn new(lr: f32, rho: f32, epsilon: f32, n: u32, start: u32) -> Self {
        RhoParams {
            n,
            start,
            lr,
            rho,
            one_minus_rho: 1.0 - rho,
            epsilon,
            _pad: [0; 2],
        }
    }

    /// One RMSprop element, written as in the shader.
    #[inline]
    fn rmsprop(&self, p: &mut f32, g: f32, v: &mut f32) {
        *v = self.rho * *v + self.one_minus_rho * (g * g);
        *p -= self.lr * g / (*v + self.epsilon).sqrt();
    }

    /// One Adadelta element, written as in the shader.
    #[inline]
    fn adadelta(&self, p: &mut f32, g: f32, a: &mut f32, u: &mut f32) {
        *a = self.rho * *a + self.one_minus_rho * (g * g);
        let d = (*u + self.epsilon).sqrt() / (*a + self.epsilon).sqrt() * g;
        *u = self.rho * *u + self.one_minus_rho * (d * d);
        *p -= self.lr * d;
    }
}

/// Nadam's uniform parameters (`Params` in shaders/nadam.wgsl).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct NadamParams {
    n: u32,
    start: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    epsilon: f32,
    momentum_coefficient: f32,
    gradient_coefficient: f32,
    second_moment_coefficient: f32,
    _pad: u32,
}

#[cfg(test)]
pub(crate) fn nadam_uniform() -> crate::gpu::uniform::UniformLayout {
    crate::gpu::uniform::uniform_layout!(NadamParams for ["nadam"] { n, start, lr, beta1, beta2, one_minus_beta1, one_minus_beta2, epsilon, momentum_coefficient, gradient_coefficient, second_moment_coefficient })
}

impl NadamParams {
    fn new(hp: &NadamStep, n: u32, start: u32) -> Self {
        let (momentum_coefficient, gradient_coefficient, second_moment_coefficient) =
            hp.coefficients();
        NadamParams {
            n,
            start,
            lr: hp.lr,
            beta1: hp.beta1,
            beta2: hp.beta2,
            one_minus_beta1: 1.0 - hp.beta1,
            one_minus_beta2: 1.0 - hp.beta2,
            epsilon: hp.epsilon,
            momentum_coefficient,
            gradient_coefficient,
            second_moment_coefficient,
            _pad: 0,
        }
    }

    /// One element's update, written as in the shader.
    #[inline]
    fn update(&self, p: &mut f32, g: f32, m: &mut f32, v: &mut f32) {
        *m = self.beta1 * *m + self.one_minus_beta1 * g;
        *v = self.beta2 * *v + self.one_minus_beta2 * (g * g);
        let step = self.momentum_coefficient * *m + self.gradient_coefficient * g;
        *p -= self.lr * step / ((*v * self.second_moment_coefficient).sqrt() + self.epsilon);
    }
}

/// Runs `update` on every element of an arena and its gradient and two state arenas, in parallel chunks for
/// large arenas.
fn update_with_two_states(
    p: &mut [f32],
    g: &[f32],
    a: &mut [f32],
    b: &mut [f32],
    update: impl Fn(&mut f32, f32, &mut f32, &mut f32) + Sync,
) {
    let run = |p: &mut [f32], g: &[f32], a: &mut [f32], b: &mut [f32]| {
        for (((p, &g), a), b) in p.iter_mut().zip(g).zip(a.iter_mut()).zip(b.iter_mut()) {
            update(p, g, a, b);
        }
    };
    if p.len() >= PAR_MIN {
        p.par_chunks_mut(PAR_CHUNK)
            .zip(g.par_chunks(PAR_CHUNK))
            .zip(a.par_chunks_mut(PAR_CHUNK))
            .zip(b.par_chunks_mut(PAR_CHUNK))
            .for_each(|(((p, g), a), b)| run(p, g, a, b));
    } else {
        run(p, g, a, b);
    }
}

/// [`update_with_two_states`] with one state arena.
fn update_with_one_state(
    p: &mut [f32],
    g: &[f32],
    a: &mut [f32],
    update: impl Fn(&mut f32, f32, &mut f32) + Sync,
) {
    let run = |p: &mut [f32], g: &[f32], a: &mut [f32]| {
        for ((p, &g), a) in p.iter_mut().zip(g).zip(a.iter_mut()) {
            update(p, g, a);
        }
    };
    if p.len() >= PAR_MIN {
        p.par_chunks_mut(PAR_CHUNK)
            .zip(g.par_chunks(PAR_CHUNK))
            .zip(a.par_chunks_mut(PAR_CHUNK))
            .for_each(|((p, g), a)| run(p, g, a));
    } else {
        run(p, g, a);
    }
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
    fn rmsprop(
        &self,
        hp: &RmspropStep,
        params: &CpuBuf<f32>,
        grads: &CpuBuf<f32>,
        v: &CpuBuf<f32>,
    ) -> Result<()> {
        check_arena("rmsprop", params.len(), &[("grads", grads.len()), ("v", v.len())])?;
        let k = RhoParams::new(hp.lr, hp.rho, hp.epsilon, params.len() as u32, 0);
        let (mut p, g, mut v) = (params.write(), grads.read(), v.write());
        update_with_one_state(&mut p, &g, &mut v, |p, g, v| k.rmsprop(p, g, v));
        Ok(())
    }

    fn adadelta(
        &self,
        hp: &AdadeltaStep,
        params: &CpuBuf<f32>,
        grads: &CpuBuf<f32>,
        a: &CpuBuf<f32>,
        u: &CpuBuf<f32>,
    ) -> Result<()> {
        check_arena(
            "adadelta",
            params.len(),
            &[("grads", grads.len()), ("a", a.len()), ("u", u.len())],
        )?;
        let k = RhoParams::new(hp.lr, hp.rho, hp.epsilon, params.len() as u32, 0);
        let (mut p, g, mut a, mut u) = (params.write(), grads.read(), a.write(), u.write());
        update_with_two_states(&mut p, &g, &mut a, &mut u, |p, g, a, u| {
            k.adadelta(p, g, a, u)
        });
        Ok(())
    }

    fn nadam(
        &self,
        hp: &NadamStep,
        params: &CpuBuf<f32>,
        grads: &CpuBuf<f32>,
        m: &CpuBuf<f32>,
        v: &CpuBuf<f32>,
    ) -> Result<()> {
        check_arena(
            "nadam",
            params.len(),
            &[("grads", grads.len()), ("m", m.len()), ("v", v.len())],
        )?;
        let k = NadamParams::new(hp, params.len() as u32, 0);
        let (mut p, g, mut m, mut v) = (params.write(), grads.read(), m.write(), v.write());
        update_with_two_states(&mut p, &g, &mut m, &mut v, |p, g, m, v| k.update(p, g, m, v));
        Ok(())
    }

    fn ema(&self, decay: f32, average: &CpuBuf<f32>, value: &CpuBuf<f32>) -> Result<()> {
        check_decay(decay)?;
        check_arena("ema", average.len(), &[("value", value.len())])?;
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
        update_with_two_states(&mut p, &g, &mut m, &mut v, |p, g, m, v| k.update(p, g, m, v));
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
        update_with_one_state(&mut p, &g, &mut v, |p, g, v| k.update(p, g, v));
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
        let arenas = [("params", params), ("grads", grads), ("m", m), ("v", v)];
        self.update_arenas_in_pieces("adam", &ADAM, &arenas, limit, |n, start| {
            hp.params(n, start)
        })
    }

    /// Records one update kernel over an arena and the arenas beside it (`(name, buffer)`, the updated arena
    /// first), after checking that they have its length.
    fn update_arenas<P: bytemuck::Pod>(
        &self,
        op: &'static str,
        kernel: &'static Kernel,
        arenas: &[(&str, &GpuBuf<f32>)],
        params: impl Fn(u32, u32) -> P,
    ) -> Result<()> {
        let limit = self.max_binding_elements::<f32>();
        self.update_arenas_in_pieces(op, kernel, arenas, limit, params)
    }

    /// [`Gpu::update_arenas`] in dispatches of at most `limit` elements.
    fn update_arenas_in_pieces<P: bytemuck::Pod>(
        &self,
        op: &'static str,
        kernel: &'static Kernel,
        arenas: &[(&str, &GpuBuf<f32>)],
        limit: usize,
        params: impl Fn(u32, u32) -> P,
    ) -> Result<()> {
        let lens: Vec<(&str, usize)> = arenas[1..].iter().map(|(n, b)| (*n, b.len())).collect();
        check_arena(op, arenas[0].1.len(), &lens)?;
        let buffers: Vec<&GpuBuf<f32>> = arenas.iter().map(|(_, b)| *b).collect();
        self.dispatch_1d(kernel, ["main4", "main"], &buffers, limit, params)
    }
}

impl OptimOps for Gpu {
    fn rmsprop(
        &self,
        hp: &RmspropStep,
        params: &GpuBuf<f32>,
        grads: &GpuBuf<f32>,
        v: &GpuBuf<f32>,
    ) -> Result<()> {
        let arenas = [("params", params), ("grads", grads), ("v", v)];
        self.update_arenas("rmsprop", &RMSPROP, &arenas, |n, start| {
            RhoParams::new(hp.lr, hp.rho, hp.epsilon, n, start)
        })
    }

    fn adadelta(
        &self,
        hp: &AdadeltaStep,
        params: &GpuBuf<f32>,
        grads: &GpuBuf<f32>,
        a: &GpuBuf<f32>,
        u: &GpuBuf<f32>,
    ) -> Result<()> {
        let arenas = [("params", params), ("grads", grads), ("a", a), ("u", u)];
        self.update_arenas("adadelta", &ADADELTA, &arenas, |n, start| {
            RhoParams::new(hp.lr, hp.rho, hp.epsilon, n, start)
        })
    }

    fn nadam(
        &self,
        hp: &NadamStep,
        params: &GpuBuf<f32>,
        grads: &GpuBuf<f32>,
        m: &GpuBuf<f32>,
        v: &GpuBuf<f32>,
    ) -> Result<()> {
        let arenas = [("params", params), ("grads", grads), ("m", m), ("v", v)];
        self.update_arenas("nadam", &NADAM, &arenas, |n, start| {
            NadamParams::new(hp, n, start)
        })
    }

    fn ema(&self, decay: f32, average: &GpuBuf<f32>, value: &GpuBuf<f32>) -> Result<()> {
        check_decay(decay)?;
        let arenas = [("average", average), ("value", value)];
        self.update_arenas("ema", &EMA, &arenas, |n, start| {
            EmaParams::new(decay, n, start)
        })
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
        let arenas = [("params", params), ("grads", grads), ("velocity", velocity)];
        self.update_arenas("sgd", &SGD, &arenas, |n, start| {
            SgdParams::new(hp, n, start)
        })
    }
}

/// Every optimizer's kernel and the weights' average.
pub(crate) fn warm_up(gpu: &Gpu) -> Result<()> {
    // One vec4 and one single float, as for the elementwise kernels.
    let [p, g, m, v] = [0; 4].map(|_| gpu.zeros::<f32>(5));
    let (p, g, m, v) = (p?, g?, m?, v?);
    gpu.adam(&AdamStep::default(), &p, &g, &m, &v)?;
    gpu.ema(0.999, &m, &p)?;
    let rho = RmspropStep {
        lr: 1e-3,
        rho: 0.9,
        epsilon: 1e-7,
    };
    gpu.rmsprop(&rho, &p, &g, &v)?;
    let delta = AdadeltaStep {
        lr: 1e-3,
        rho: 0.95,
        epsilon: 1e-7,
    };
    gpu.adadelta(&delta, &p, &g, &m, &v)?;
    let nadam = NadamStep {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-7,
        step: 1,
        momentum_product: 1.0,
    };
    gpu.nadam(&nadam, &p, &g, &m, &v)?;
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
        RMSPROP => "rmsprop",
        ADADELTA => "adadelta",
        NADAM => "nadam",
    ],
    warm_up: warm_up,
    check: crate::conformance::dense::check_optim,
    uniforms: [adam_uniform, sgd_uniform, ema_uniform, rho_uniform, nadam_uniform],
);
