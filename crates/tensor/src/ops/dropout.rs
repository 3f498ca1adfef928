//! Dropout with a counter-based random generator: the mask is a hash of (seed, stream, element index), so it
//! is reproducible, needs no stored state, and is the same on the CPU and the GPU, bit for bit.
//!
//! ```
//! use digits_tensor::{Backend, Cpu, Dropout, DropoutOps};
//!
//! let cpu = Cpu::new();
//! let spec = Dropout { rate: 0.5, seed: 7, stream: 0 };
//! let x = cpu.upload(&[1.0f32; 8])?;
//! let y = cpu.zeros::<f32>(8)?;
//! cpu.dropout(&spec, &x, &y)?;
//! // Each element is dropped (0) or kept and scaled by 1 / (1 - rate).
//! assert!(cpu.download(&y)?.iter().all(|&v| v == 0.0 || v == 2.0));
//! # Ok::<(), digits_tensor::TensorError>(())
//! ```

use rayon::prelude::*;

use crate::cpu::{Cpu, CpuBuf};
use crate::error::{check_len, shape_error};
use crate::gpu::{Dispatch, Gpu, GpuBuf};
use crate::ops::elementwise::{WG_1D, chunks};
use crate::{Backend, Result};

/// Drops each element with probability `rate` and scales the kept ones by `1 / (1 - rate)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    /// Probability of dropping an element.
    pub rate: f32,
    /// The run's seed.
    pub seed: u64,
    /// Distinguishes masks within a run: e.g. the step number times the number of dropout layers plus the layer.
    pub stream: u64,
}

impl Dropout {
    /// Elements whose 24-bit uniform draw is below this are dropped: `rate · 2²⁴`, rounded. Computed once on
    /// the host, so that both backends compare the same integers.
    fn threshold(&self) -> u32 {
        (f64::from(self.rate) * f64::from(1u32 << 24)).round() as u32
    }

    fn scale(&self) -> f32 {
        1.0 / (1.0 - self.rate)
    }

    /// Whether element `index` is kept.
    pub fn keeps(&self, index: u32) -> bool {
        random_bits(self.seed, self.stream, index) >> 8 >= self.threshold()
    }

    fn check(&self, op: &'static str, x: usize, out: usize) -> Result<()> {
        if !(0.0..1.0).contains(&self.rate) {
            return Err(shape_error(
                op,
                format!("rate {} is outside [0, 1)", self.rate),
            ));
        }
        if x > u32::MAX as usize {
            return Err(shape_error(
                op,
                format!("{x} elements exceed the 32-bit element counter"),
            ));
        }
        check_len(op, "out", out, x)
    }
}

/// One round of a 32-bit integer mixer (Wellons' `lowbias32`): a bijection with good avalanche.
fn mix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x21f0_aaad);
    h ^= h >> 15;
    h = h.wrapping_mul(0x735a_2d97);
    h ^ (h >> 15)
}

/// 32 random bits for `counter` in the stream `(seed, stream)`: the seed and stream words are absorbed one
/// by one, then the counter, then two more rounds. Only 32-bit operations, so WGSL computes the same bits
/// (`random_bits` in `shaders/dropout.wgsl` and `shaders/augment.wgsl`). For a fixed stream it is a
/// bijection of the counter, so no two elements of a mask share their bits.
pub fn random_bits(seed: u64, stream: u64, counter: u32) -> u32 {
    let mut h = mix(seed as u32 ^ 0x9e37_79b9);
    h = mix(h ^ (seed >> 32) as u32);
    h = mix(h ^ stream as u32);
    h = mix(h ^ (stream >> 32) as u32);
    mix(mix(h ^ counter))
}

/// A uniform draw in [0, 1) with 24 bits (exact in f32) from [`random_bits`].
pub fn random_unit(seed: u64, stream: u64, counter: u32) -> f32 {
    (random_bits(seed, stream, counter) >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// Dropout on a backend.
pub trait DropoutOps: Backend {
    /// `out = x · keep / (1 - rate)`.
    fn dropout(&self, spec: &Dropout, x: &Self::Buf<f32>, out: &Self::Buf<f32>) -> Result<()>;
    /// `grad_in = grad_out · keep / (1 - rate)`, with the same mask (regenerated from the counter).
    fn dropout_backward(
        &self,
        spec: &Dropout,
        grad_out: &Self::Buf<f32>,
        grad_in: &Self::Buf<f32>,
    ) -> Result<()>;
}

/// Elements per rayon task.
const CHUNK: usize = 1 << 14;

fn cpu_dropout(op: &'static str, spec: &Dropout, x: &CpuBuf<f32>, out: &CpuBuf<f32>) -> Result<()> {
    spec.check(op, x.len(), out.len())?;
    let (threshold, scale) = (spec.threshold(), spec.scale());
    let x = x.read();
    out.write()
        .par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .enumerate()
        .for_each(|(chunk, (out, x))| {
            let first = (chunk * CHUNK) as u32;
            for (i, (o, &v)) in out.iter_mut().zip(x).enumerate() {
                let keep = random_bits(spec.seed, spec.stream, first + i as u32) >> 8 >= threshold;
                *o = if keep { v * scale } else { 0.0 };
            }
        });
    Ok(())
}

impl DropoutOps for Cpu {
    fn dropout(&self, spec: &Dropout, x: &CpuBuf<f32>, out: &CpuBuf<f32>) -> Result<()> {
        cpu_dropout("dropout", spec, x, out)
    }

    fn dropout_backward(
        &self,
        spec: &Dropout,
        grad_out: &CpuBuf<f32>,
        grad_in: &CpuBuf<f32>,
    ) -> Result<()> {
        cpu_dropout("dropout_backward", spec, grad_out, grad_in)
    }
}

/// Uniform parameters of `shaders/dropout.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct DropoutParams {
    n: u32,
    /// Counter of this piece's first element.
    offset: u32,
    seed_lo: u32,
    seed_hi: u32,
    stream_lo: u32,
    stream_hi: u32,
    threshold: u32,
    scale: f32,
}

#[cfg(test)]
pub(crate) fn dropout_uniform() -> crate::gpu::uniform::UniformLayout {
    crate::gpu::uniform::uniform_layout!(DropoutParams for ["dropout"] { n, offset, seed_lo, seed_hi, stream_lo, stream_hi, threshold, scale })
}

fn gpu_dropout(
    gpu: &Gpu,
    op: &'static str,
    spec: &Dropout,
    x: &GpuBuf<f32>,
    out: &GpuBuf<f32>,
) -> Result<()> {
    spec.check(op, x.len(), out.len())?;
    let limit = gpu.max_binding_elements::<f32>();
    for (offset, n) in chunks(x.len(), limit, gpu.view_alignment::<f32>()) {
        let (xs, ys) = (gpu.slice(x, offset, n)?, gpu.slice(out, offset, n)?);
        let params = DropoutParams {
            n: n as u32,
            offset: offset as u32,
            seed_lo: spec.seed as u32,
            seed_hi: (spec.seed >> 32) as u32,
            stream_lo: spec.stream as u32,
            stream_hi: (spec.stream >> 32) as u32,
            threshold: spec.threshold(),
            scale: spec.scale(),
        };
        gpu.dispatch(Dispatch {
            kernel: &DROPOUT,
            entry: "main",
            constants: &[],
            params: bytemuck::bytes_of(&params),
            buffers: &[xs.binding(), ys.binding()],
            workgroups: gpu.grid_1d((n as u64).div_ceil(WG_1D))?,
        })?;
    }
    Ok(())
}

impl DropoutOps for Gpu {
    fn dropout(&self, spec: &Dropout, x: &GpuBuf<f32>, out: &GpuBuf<f32>) -> Result<()> {
        gpu_dropout(self, "dropout", spec, x, out)
    }

    fn dropout_backward(
        &self,
        spec: &Dropout,
        grad_out: &GpuBuf<f32>,
        grad_in: &GpuBuf<f32>,
    ) -> Result<()> {
        gpu_dropout(self, "dropout_backward", spec, grad_out, grad_in)
    }
}

/// Compiles the dropout pipeline.
pub(crate) fn warm_up(gpu: &Gpu) -> Result<()> {
    let (x, y) = (gpu.zeros::<f32>(4)?, gpu.zeros::<f32>(4)?);
    gpu.dropout(
        &Dropout {
            rate: 0.5,
            seed: 0,
            stream: 0,
        },
        &x,
        &y,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_and_seeds_change_the_bits() {
        let a: Vec<u32> = (0..64).map(|i| random_bits(1, 0, i)).collect();
        let b: Vec<u32> = (0..64).map(|i| random_bits(1, 1, i)).collect();
        let c: Vec<u32> = (0..64).map(|i| random_bits(2, 0, i)).collect();
        let d: Vec<u32> = (0..64).map(|i| random_bits(1, 1 << 32, i)).collect();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert_ne!(b, d);
    }

    #[test]
    fn threshold_rounds_the_rate() {
        let spec = |rate| Dropout {
            rate,
            seed: 0,
            stream: 0,
        };
        assert_eq!(spec(0.0).threshold(), 0);
        assert_eq!(spec(0.5).threshold(), 1 << 23);
        assert!((0..1000).all(|i| spec(0.0).keeps(i)));
    }
}

crate::family::family!(
    "dropout",
    kernels: [
        DROPOUT => "dropout",
    ],
    warm_up: warm_up,
    check: crate::conformance::dropout::check,
    uniforms: [dropout_uniform],
);
