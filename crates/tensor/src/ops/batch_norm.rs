//! Batch normalisation over `x[n, c, p]` (NCHW with `p = h·w` pixels per channel, or `[n, c]` with `p = 1`
//! after a dense layer), per channel, as PyTorch defines it:
//!
//! - training: `mean = Σ x / m`, `var = Σ (x - mean)² / m` (two passes, `m = n·p`),
//!   `y = (x - mean) / sqrt(var + eps) · gamma + beta`, and the running statistics move towards the batch's:
//!   `r = (1 - momentum)·r + momentum·s`, with the unbiased variance `var·m / (m - 1)`;
//! - evaluation: the same with the running mean and variance;
//! - backward: `dbeta = Σ dy`, `dgamma = Σ dy·x̂` with `x̂ = (x - mean)·inv_std`, and
//!   `dx = gamma·inv_std·(dy - dbeta / m - x̂·dgamma / m)`.
//!
//! The sums are per channel in a fixed order on both backends (on the GPU one workgroup per channel and a
//! fixed tree), so the same input gives the same bits on the same device.
//!
//! ```
//! use digits_tensor::{Backend, BatchNorm, BatchNormOps, Cpu};
//!
//! let cpu = Cpu::new();
//! let spec = BatchNorm { batch: 2, channels: 1, pixels: 2, eps: 1e-5, momentum: 0.1 };
//! let x = cpu.upload(&[1.0f32, 2.0, 3.0, 4.0])?;
//! let (gamma, beta) = (cpu.upload(&[1.0f32])?, cpu.upload(&[0.0f32])?);
//! let (y, mean, inv_std) = (cpu.zeros::<f32>(4)?, cpu.zeros::<f32>(1)?, cpu.zeros::<f32>(1)?);
//! let (running_mean, running_var) = (cpu.zeros::<f32>(1)?, cpu.upload(&[1.0f32])?);
//! cpu.batch_norm_train(&spec, &x, &gamma, &beta, &y, [&mean, &inv_std], [&running_mean, &running_var])?;
//! assert_eq!(cpu.download(&mean)?, [2.5]);
//! assert!((cpu.download(&running_mean)?[0] - 0.25).abs() < 1e-6);
//! # Ok::<(), digits_tensor::TensorError>(())
//! ```

use rayon::prelude::*;

use crate::cpu::{Cpu, CpuBuf};
use crate::error::{check_len, shape_error};
use crate::gpu::{Dispatch, Gpu, GpuBuf};
use crate::ops::elementwise::WG_1D;
use crate::{Backend, Result};

/// The shape and constants of a batch normalisation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNorm {
    /// Samples `n`.
    pub batch: usize,
    /// Channels (or features) `c`, each with its own statistics.
    pub channels: usize,
    /// Elements per channel and sample `p` (`h·w`; 1 after a dense layer).
    pub pixels: usize,
    /// Added to the variance (PyTorch 1e-5, Keras 1e-3).
    pub eps: f32,
    /// Weight of the batch's statistics in the running ones (PyTorch 0.1; Keras's 0.99 is 1 - this).
    pub momentum: f32,
}

impl BatchNorm {
    fn len(&self) -> usize {
        self.batch * self.channels * self.pixels
    }

    fn check(
        &self,
        op: &'static str,
        x: usize,
        per_channel: &[(&'static str, usize)],
    ) -> Result<()> {
        if self.batch == 0 || self.channels == 0 || self.pixels == 0 {
            return Err(shape_error(op, format!("empty shape {self:?}")));
        }
        if u32::try_from(self.len()).is_err() {
            return Err(shape_error(
                op,
                format!("{} elements exceed u32", self.len()),
            ));
        }
        if !(self.eps > 0.0 && (0.0..=1.0).contains(&self.momentum)) {
            return Err(shape_error(
                op,
                format!(
                    "eps {} must be positive, momentum {} in [0, 1]",
                    self.eps, self.momentum
                ),
            ));
        }
        check_len(op, "x", x, self.len())?;
        for &(name, len) in per_channel {
            check_len(op, name, len, self.channels)?;
        }
        Ok(())
    }

    /// The index of element `j` (below `n·p`) of channel `c`.
    fn element(&self, c: usize, j: usize) -> usize {
        let (b, q) = (j / self.pixels, j % self.pixels);
        (b * self.channels + c) * self.pixels + q
    }
}

/// Checks the buffers of a training forward pass against the spec.
fn check_train<B: Backend>(
    spec: &BatchNorm,
    x: &B::Buf<f32>,
    gamma: &B::Buf<f32>,
    beta: &B::Buf<f32>,
    y: &B::Buf<f32>,
    [mean, inv_std]: [&B::Buf<f32>; 2],
    [running_mean, running_var]: [&B::Buf<f32>; 2],
) -> Result<()> {
    let per_channel = [
        ("gamma", B::len(gamma)),
        ("beta", B::len(beta)),
        ("mean", B::len(mean)),
        ("inv_std", B::len(inv_std)),
        ("running_mean", B::len(running_mean)),
        ("running_var", B::len(running_var)),
    ];
    spec.check("batch_norm_train", B::len(x), &per_channel)?;
    check_len("batch_norm_train", "y", B::len(y), spec.len())
}

/// Checks the buffers of an evaluation forward pass against the spec.
fn check_eval<B: Backend>(
    spec: &BatchNorm,
    x: &B::Buf<f32>,
    gamma: &B::Buf<f32>,
    beta: &B::Buf<f32>,
    [running_mean, running_var]: [&B::Buf<f32>; 2],
    y: &B::Buf<f32>,
) -> Result<()> {
    let per_channel = [
        ("gamma", B::len(gamma)),
        ("beta", B::len(beta)),
        ("running_mean", B::len(running_mean)),
        ("running_var", B::len(running_var)),
    ];
    spec.check("batch_norm_eval", B::len(x), &per_channel)?;
    check_len("batch_norm_eval", "y", B::len(y), spec.len())
}

/// Checks the buffers of a backward pass against the spec.
fn check_backward<B: Backend>(
    spec: &BatchNorm,
    x: &B::Buf<f32>,
    dy: &B::Buf<f32>,
    gamma: &B::Buf<f32>,
    [mean, inv_std]: [&B::Buf<f32>; 2],
    [dgamma, dbeta]: [&B::Buf<f32>; 2],
    dx: Option<&B::Buf<f32>>,
) -> Result<()> {
    let per_channel = [
        ("gamma", B::len(gamma)),
        ("mean", B::len(mean)),
        ("inv_std", B::len(inv_std)),
        ("dgamma", B::len(dgamma)),
        ("dbeta", B::len(dbeta)),
    ];
    spec.check("batch_norm_backward", B::len(x), &per_channel)?;
    check_len("batch_norm_backward", "dy", B::len(dy), spec.len())?;
    dx.map_or(Ok(()), |dx| {
        check_len("batch_norm_backward", "dx", B::len(dx), spec.len())
    })
}

/// Batch normalisation on a backend.
pub trait BatchNormOps: Backend {
    /// Training forward: the batch's statistics into `saved` (`[mean, inv_std]`, each `[c]`, kept for the
    /// backward pass), the output `y`, and `running` (`[mean, var]`) updated.
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_train(
        &self,
        spec: &BatchNorm,
        x: &Self::Buf<f32>,
        gamma: &Self::Buf<f32>,
        beta: &Self::Buf<f32>,
        y: &Self::Buf<f32>,
        saved: [&Self::Buf<f32>; 2],
        running: [&Self::Buf<f32>; 2],
    ) -> Result<()>;

    /// Evaluation forward with the running statistics (`[mean, var]`).
    fn batch_norm_eval(
        &self,
        spec: &BatchNorm,
        x: &Self::Buf<f32>,
        gamma: &Self::Buf<f32>,
        beta: &Self::Buf<f32>,
        running: [&Self::Buf<f32>; 2],
        y: &Self::Buf<f32>,
    ) -> Result<()>;

    /// Backward: the parameter gradients `grads` (`[dgamma, dbeta]`) and, when given, the input gradient.
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_backward(
        &self,
        spec: &BatchNorm,
        x: &Self::Buf<f32>,
        dy: &Self::Buf<f32>,
        gamma: &Self::Buf<f32>,
        saved: [&Self::Buf<f32>; 2],
        grads: [&Self::Buf<f32>; 2],
        dx: Option<&Self::Buf<f32>>,
    ) -> Result<()>;
}

impl BatchNormOps for Cpu {
    fn batch_norm_train(
        &self,
        spec: &BatchNorm,
        x: &CpuBuf<f32>,
        gamma: &CpuBuf<f32>,
        beta: &CpuBuf<f32>,
        y: &CpuBuf<f32>,
        [mean, inv_std]: [&CpuBuf<f32>; 2],
        [running_mean, running_var]: [&CpuBuf<f32>; 2],
    ) -> Result<()> {
        check_train::<Self>(
            spec,
            x,
            gamma,
            beta,
            y,
            [mean, inv_std],
            [running_mean, running_var],
        )?;
        let m = spec.batch * spec.pixels;
        let xs = x.read();
        let stats: Vec<(f32, f32)> = (0..spec.channels)
            .into_par_iter()
            .map(|c| {
                // f64 sums: the reference is closer to exact than the GPU's f32 tree, not just different.
                let mu = (0..m)
                    .map(|j| f64::from(xs[spec.element(c, j)]))
                    .sum::<f64>()
                    / m as f64;
                let var = (0..m)
                    .map(|j| {
                        let d = f64::from(xs[spec.element(c, j)]) - mu;
                        d * d
                    })
                    .sum::<f64>()
                    / m as f64;
                (mu as f32, var as f32)
            })
            .collect();
        let unbiased = m as f32 / (m.max(2) - 1) as f32;
        // One buffer at a time: views of one arena (the running mean and variance) share a lock.
        let decay = |r: &CpuBuf<f32>, batch: &dyn Fn(usize) -> f32| {
            for (c, value) in r.write().iter_mut().enumerate() {
                *value = (1.0 - spec.momentum) * *value + spec.momentum * batch(c);
            }
        };
        decay(running_mean, &|c| stats[c].0);
        decay(running_var, &|c| stats[c].1 * unbiased);
        let means: Vec<f32> = stats.iter().map(|s| s.0).collect();
        let inv_stds: Vec<f32> = stats
            .iter()
            .map(|s| 1.0 / (s.1 + spec.eps).sqrt())
            .collect();
        mean.write().copy_from_slice(&means);
        inv_std.write().copy_from_slice(&inv_stds);
        let (gamma, beta) = (gamma.read().to_vec(), beta.read().to_vec());
        normalize(spec, &xs, &means, &inv_stds, &gamma, &beta, &mut y.write());
        Ok(())
    }

    fn batch_norm_eval(
        &self,
        spec: &BatchNorm,
        x: &CpuBuf<f32>,
        gamma: &CpuBuf<f32>,
        beta: &CpuBuf<f32>,
        [running_mean, running_var]: [&CpuBuf<f32>; 2],
        y: &CpuBuf<f32>,
    ) -> Result<()> {
        check_eval::<Self>(spec, x, gamma, beta, [running_mean, running_var], y)?;
        let inv_std: Vec<f32> = running_var
            .read()
            .iter()
            .map(|v| 1.0 / (v + spec.eps).sqrt())
            .collect();
        let (gamma, beta) = (gamma.read().to_vec(), beta.read().to_vec());
        let mean = running_mean.read().to_vec();
        normalize(
            spec,
            &x.read(),
            &mean,
            &inv_std,
            &gamma,
            &beta,
            &mut y.write(),
        );
        Ok(())
    }

    fn batch_norm_backward(
        &self,
        spec: &BatchNorm,
        x: &CpuBuf<f32>,
        dy: &CpuBuf<f32>,
        gamma: &CpuBuf<f32>,
        [mean, inv_std]: [&CpuBuf<f32>; 2],
        [dgamma, dbeta]: [&CpuBuf<f32>; 2],
        dx: Option<&CpuBuf<f32>>,
    ) -> Result<()> {
        check_backward::<Self>(spec, x, dy, gamma, [mean, inv_std], [dgamma, dbeta], dx)?;
        let (xs, dys) = (x.read(), dy.read());
        let (mean, inv_std, gamma) = (mean.read(), inv_std.read(), gamma.read());
        let m = spec.batch * spec.pixels;
        let sums: Vec<(f32, f32)> = (0..spec.channels)
            .into_par_iter()
            .map(|c| {
                let (mut dg, mut db) = (0.0f64, 0.0f64);
                for j in 0..m {
                    let e = spec.element(c, j);
                    db += f64::from(dys[e]);
                    dg += f64::from(dys[e] * ((xs[e] - mean[c]) * inv_std[c]));
                }
                (dg as f32, db as f32)
            })
            .collect();
        // One buffer at a time: views of one arena (the gradients) share a lock.
        let dg: Vec<f32> = sums.iter().map(|s| s.0).collect();
        dgamma.write().copy_from_slice(&dg);
        let db: Vec<f32> = sums.iter().map(|s| s.1).collect();
        dbeta.write().copy_from_slice(&db);
        if let Some(dx) = dx {
            let (p, channels, m) = (spec.pixels, spec.channels, m as f32);
            dx.write().par_iter_mut().enumerate().for_each(|(i, out)| {
                let c = (i / p) % channels;
                let s = inv_std[c];
                let xhat = (xs[i] - mean[c]) * s;
                let (dg, db) = sums[c];
                *out = gamma[c] * s * (dys[i] - db / m - xhat * dg / m);
            });
        }
        Ok(())
    }
}

/// `y = (x - mean[c])·inv_std[c]·gamma[c] + beta[c]`.
fn normalize(
    spec: &BatchNorm,
    x: &[f32],
    mean: &[f32],
    inv_std: &[f32],
    gamma: &[f32],
    beta: &[f32],
    y: &mut [f32],
) {
    let (p, channels) = (spec.pixels, spec.channels);
    y.par_iter_mut().enumerate().for_each(|(i, out)| {
        let c = (i / p) % channels;
        *out = (x[i] - mean[c]) * inv_std[c] * gamma[c] + beta[c];
    });
}

/// Uniform parameters of `shaders/batch_norm.wgsl` and `shaders/batch_norm_reduce.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct BatchNormParams {
    batch: u32,
    channels: u32,
    pixels: u32,
    eval: u32,
    eps: f32,
    momentum: f32,
    _pad: [u32; 2],
}

#[cfg(test)]
pub(crate) fn batch_norm_uniform() -> crate::gpu::uniform::UniformLayout {
    crate::gpu::uniform::uniform_layout!(BatchNormParams for ["batch_norm", "batch_norm_reduce"] { batch, channels, pixels, eval, eps, momentum })
}

impl BatchNormParams {
    fn new(spec: &BatchNorm, eval: bool) -> Self {
        BatchNormParams {
            batch: spec.batch as u32,
            channels: spec.channels as u32,
            pixels: spec.pixels as u32,
            eval: u32::from(eval),
            eps: spec.eps,
            momentum: spec.momentum,
            _pad: [0; 2],
        }
    }
}

/// Refuses tensors past one storage binding (the kernels bind them whole) and more channels than a grid row.
fn check_gpu_limits(gpu: &Gpu, op: &'static str, spec: &BatchNorm) -> Result<()> {
    let limit = gpu.max_binding_elements::<f32>();
    let groups = gpu.limits().max_compute_workgroups_per_dimension as usize;
    if spec.channels > groups {
        return Err(shape_error(
            op,
            format!("{} channels exceed {groups} workgroups", spec.channels),
        ));
    }
    if spec.len() > limit {
        return Err(shape_error(
            op,
            format!(
                "{} elements exceed one storage binding ({limit})",
                spec.len()
            ),
        ));
    }
    Ok(())
}

fn dispatch(
    gpu: &Gpu,
    kernel: &'static crate::gpu::Kernel,
    entry: &'static str,
    params: &BatchNormParams,
    buffers: &[&GpuBuf<f32>],
    workgroups: [u32; 3],
) -> Result<()> {
    let bindings: Vec<_> = buffers.iter().map(|b| b.binding()).collect();
    gpu.dispatch(Dispatch {
        kernel,
        entry,
        constants: &[],
        params: bytemuck::bytes_of(params),
        buffers: &bindings,
        workgroups,
    })
}

/// One invocation per element.
fn elementwise_grid(gpu: &Gpu, spec: &BatchNorm) -> Result<[u32; 3]> {
    gpu.grid_1d((spec.len() as u64).div_ceil(WG_1D))
}

impl BatchNormOps for Gpu {
    fn batch_norm_train(
        &self,
        spec: &BatchNorm,
        x: &GpuBuf<f32>,
        gamma: &GpuBuf<f32>,
        beta: &GpuBuf<f32>,
        y: &GpuBuf<f32>,
        [mean, inv_std]: [&GpuBuf<f32>; 2],
        [running_mean, running_var]: [&GpuBuf<f32>; 2],
    ) -> Result<()> {
        check_train::<Self>(
            spec,
            x,
            gamma,
            beta,
            y,
            [mean, inv_std],
            [running_mean, running_var],
        )?;
        check_gpu_limits(self, "batch_norm_train", spec)?;
        let params = BatchNormParams::new(spec, false);
        dispatch(
            self,
            &BATCH_NORM_REDUCE,
            "stats",
            &params,
            &[x, mean, inv_std, running_mean, running_var],
            [spec.channels as u32, 1, 1],
        )?;
        dispatch(
            self,
            &BATCH_NORM,
            "normalize",
            &params,
            &[x, mean, inv_std, gamma, beta, y],
            elementwise_grid(self, spec)?,
        )
    }

    fn batch_norm_eval(
        &self,
        spec: &BatchNorm,
        x: &GpuBuf<f32>,
        gamma: &GpuBuf<f32>,
        beta: &GpuBuf<f32>,
        [running_mean, running_var]: [&GpuBuf<f32>; 2],
        y: &GpuBuf<f32>,
    ) -> Result<()> {
        check_eval::<Self>(spec, x, gamma, beta, [running_mean, running_var], y)?;
        check_gpu_limits(self, "batch_norm_eval", spec)?;
        dispatch(
            self,
            &BATCH_NORM,
            "normalize",
            &BatchNormParams::new(spec, true),
            &[x, running_mean, running_var, gamma, beta, y],
            elementwise_grid(self, spec)?,
        )
    }

    fn batch_norm_backward(
        &self,
        spec: &BatchNorm,
        x: &GpuBuf<f32>,
        dy: &GpuBuf<f32>,
        gamma: &GpuBuf<f32>,
        [mean, inv_std]: [&GpuBuf<f32>; 2],
        [dgamma, dbeta]: [&GpuBuf<f32>; 2],
        dx: Option<&GpuBuf<f32>>,
    ) -> Result<()> {
        check_backward::<Self>(spec, x, dy, gamma, [mean, inv_std], [dgamma, dbeta], dx)?;
        check_gpu_limits(self, "batch_norm_backward", spec)?;
        let params = BatchNormParams::new(spec, false);
        dispatch(
            self,
            &BATCH_NORM_REDUCE,
            "backward_sums",
            &params,
            &[x, mean, inv_std, dgamma, dbeta, dy],
            [spec.channels as u32, 1, 1],
        )?;
        if let Some(dx) = dx {
            dispatch(
                self,
                &BATCH_NORM,
                "backward_input",
                &params,
                &[x, mean, inv_std, gamma, dy, dx, dgamma, dbeta],
                elementwise_grid(self, spec)?,
            )?;
        }
        Ok(())
    }
}

/// Compiles the batch normalisation pipelines.
pub(crate) fn warm_up(gpu: &Gpu) -> Result<()> {
    let spec = BatchNorm {
        batch: 2,
        channels: 1,
        pixels: 2,
        eps: 1e-5,
        momentum: 0.1,
    };
    let buf = |len| gpu.zeros::<f32>(len);
    let (x, y, dx) = (buf(4)?, buf(4)?, buf(4)?);
    let c: Vec<GpuBuf<f32>> = (0..6).map(|_| buf(1)).collect::<Result<_>>()?;
    gpu.batch_norm_train(&spec, &x, &c[0], &c[1], &y, [&c[2], &c[3]], [&c[4], &c[5]])?;
    gpu.batch_norm_eval(&spec, &x, &c[0], &c[1], [&c[4], &c[5]], &y)?;
    gpu.batch_norm_backward(
        &spec,
        &x,
        &y,
        &c[0],
        [&c[2], &c[3]],
        [&c[4], &c[5]],
        Some(&dx),
    )
}

crate::family::family!(
    "batch_norm",
    kernels: [
        BATCH_NORM => "batch_norm",
        BATCH_NORM_REDUCE => "batch_norm_reduce",
    ],
    warm_up: warm_up,
    check: crate::conformance::batch_norm::check,
    uniforms: [batch_norm_uniform],
);
