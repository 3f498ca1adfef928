//! Matrix multiplication `C = op(A)·op(B)` with an optional fused epilogue (bias add, ReLU).

use crate::cpu::{Cpu, CpuBuf};
use crate::error::{check_len, shape_error};
use crate::gpu::{Dispatch, Gpu, GpuBuf};
use crate::{Backend, Result};

use rayon::prelude::*;

/// Shape and options of a row-major GEMM: `C[m,n] = op(A)·op(B) (+ bias[n]) (ReLU)`.
///
/// `A` is `[m,k]`, or `[k,m]` when `transpose_a`; `B` is `[k,n]`, or `[n,k]` when `transpose_b`.
/// A network needs three forms: `A·B`, `Aᵀ·B` (weight gradients) and `A·Bᵀ` (dense layers with
/// PyTorch's `[out,in]` weights).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gemm {
    /// Rows of C.
    pub m: usize,
    /// Columns of C.
    pub n: usize,
    /// The shared dimension.
    pub k: usize,
    /// A is stored `[k,m]`.
    pub transpose_a: bool,
    /// B is stored `[n,k]`.
    pub transpose_b: bool,
    /// Apply `max(x, 0)` after the bias.
    pub relu: bool,
}

impl Gemm {
    /// `C[m,n] = A[m,k]·B[k,n]`.
    pub fn new(m: usize, n: usize, k: usize) -> Self {
        Gemm {
            m,
            n,
            k,
            ..Default::default()
        }
    }

    /// Marks A as stored `[k,m]`.
    pub fn transpose_a(mut self) -> Self {
        self.transpose_a = true;
        self
    }

    /// Marks B as stored `[n,k]`.
    pub fn transpose_b(mut self) -> Self {
        self.transpose_b = true;
        self
    }

    /// Fuses a ReLU into the epilogue.
    pub fn relu(mut self) -> Self {
        self.relu = true;
        self
    }

    /// Floating-point operations of one run (a multiply-add counts two).
    pub fn flops(&self) -> u64 {
        2 * (self.m * self.n * self.k) as u64
    }

    fn check(&self, a: usize, b: usize, bias: Option<usize>, c: usize) -> Result<()> {
        if self.transpose_a && self.transpose_b {
            return Err(shape_error(
                "gemm",
                "Aᵀ·Bᵀ is not supported; swap the operands",
            ));
        }
        check_len(
            "gemm",
            &format!("A ({}x{})", self.m, self.k),
            a,
            self.m * self.k,
        )?;
        check_len(
            "gemm",
            &format!("B ({}x{})", self.k, self.n),
            b,
            self.k * self.n,
        )?;
        check_len(
            "gemm",
            &format!("C ({}x{})", self.m, self.n),
            c,
            self.m * self.n,
        )?;
        if let Some(bias) = bias {
            check_len("gemm", "bias", bias, self.n)?;
        }
        Ok(())
    }
}

/// Multiply-adds below which the CPU GEMM runs on one thread (splitting costs more than it saves).
const PARALLEL_GEMM_MACS: usize = 1 << 18;

/// `c[m,n] = a[m,k]·b[k,n] (+ c if accumulate)`, with row and column strides for a and b, c row-major, on
/// the calling thread: callers parallelise around it (rayon), so that one thread pool serves every op.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm(
    (m, k, n): (usize, usize, usize),
    a: &[f32],
    (rsa, csa): (usize, usize),
    b: &[f32],
    (rsb, csb): (usize, usize),
    c: &mut [f32],
    accumulate: bool,
) {
    if m * n == 0 {
        return;
    }
    assert!(
        (m - 1) * rsa + (k.max(1) - 1) * csa < a.len().max(1) || k == 0,
        "sgemm: A out of bounds"
    );
    assert!(
        (k.max(1) - 1) * rsb + (n - 1) * csb < b.len().max(1) || k == 0,
        "sgemm: B out of bounds"
    );
    assert!(c.len() >= m * n, "sgemm: C out of bounds");
    // SAFETY: the asserts above keep every strided access of A and B in bounds, C holds m×n row-major
    // elements and is exclusively borrowed.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            if accumulate { 1.0 } else { 0.0 },
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// GEMM on a backend.
pub trait GemmOps: Backend {
    /// Computes `c = op(a)·op(b) (+ bias) (ReLU)` as `spec` describes; `c` is overwritten.
    fn gemm(
        &self,
        spec: &Gemm,
        a: &Self::Buf<f32>,
        b: &Self::Buf<f32>,
        bias: Option<&Self::Buf<f32>>,
        c: &Self::Buf<f32>,
    ) -> Result<()>;
}

impl GemmOps for Cpu {
    fn gemm(
        &self,
        spec: &Gemm,
        a: &CpuBuf<f32>,
        b: &CpuBuf<f32>,
        bias: Option<&CpuBuf<f32>>,
        c: &CpuBuf<f32>,
    ) -> Result<()> {
        spec.check(a.len(), b.len(), bias.map(CpuBuf::len), c.len())?;
        let (a, b) = (a.read(), b.read());
        let mut c = c.write();
        let Gemm { m, n, k, .. } = *spec;
        let (rsa, csa) = if spec.transpose_a { (1, m) } else { (k, 1) };
        let (rsb, csb) = if spec.transpose_b { (1, k) } else { (n, 1) };
        // Row blocks of C in parallel, each one single-threaded GEMM; small products stay on one thread.
        let rows = if m * n * k < PARALLEL_GEMM_MACS {
            m.max(1)
        } else {
            m.div_ceil(rayon::current_num_threads()).max(1)
        };
        c.par_chunks_mut(rows * n.max(1))
            .enumerate()
            .for_each(|(i, c)| {
                let (i0, rows) = (i * rows, c.len() / n.max(1));
                sgemm(
                    (rows, k, n),
                    &a[i0 * rsa..],
                    (rsa, csa),
                    &b,
                    (rsb, csb),
                    c,
                    false,
                );
            });
        if let Some(bias) = bias {
            let bias = bias.read();
            for row in c.chunks_exact_mut(n) {
                for (x, b) in row.iter_mut().zip(bias.iter()) {
                    *x += b;
                }
            }
        }
        if spec.relu {
            c.iter_mut().for_each(|x| *x = x.max(0.0));
        }
        Ok(())
    }
}

/// The GPU GEMM kernels; [`GemmVariant::pick`] chooses one per device and shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmVariant {
    /// `shaders/gemm_vec4.wgsl`: vec4 loads, 16×8 per invocation, no workgroup memory (fastest on lavapipe).
    Vec4,
    /// `shaders/gemm_scalar.wgsl`: scalar loads, 4×4 per invocation, any shape.
    Scalar,
    /// `shaders/gemm_tiled.wgsl`: 64×64 tiles in workgroup memory (what real GPUs want), any shape.
    Tiled,
}

impl GemmVariant {
    /// Every variant, for conformance tests and benchmarks.
    pub const ALL: [GemmVariant; 3] = [GemmVariant::Vec4, GemmVariant::Scalar, GemmVariant::Tiled];

    /// Whether the variant can compute `spec` (the vec4 kernel needs its vector dimensions, and the rows of C
    /// it writes, in whole vec4s).
    pub fn supports(self, spec: &Gemm) -> bool {
        match self {
            GemmVariant::Vec4 => {
                let along = if spec.transpose_a { spec.m } else { spec.k };
                along.is_multiple_of(4) && spec.n.is_multiple_of(4)
            }
            GemmVariant::Scalar | GemmVariant::Tiled => true,
        }
    }

    /// The variant measured fastest for this kind of device (BENCHMARKS.md): register blocking on
    /// CPU-emulated adapters, workgroup-memory tiles on real GPUs.
    pub fn pick(gpu: &Gpu, spec: &Gemm) -> GemmVariant {
        if !gpu.is_cpu_emulated() {
            GemmVariant::Tiled
        } else if GemmVariant::Vec4.supports(spec) {
            GemmVariant::Vec4
        } else {
            GemmVariant::Scalar
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GemmParams {
    m: u32,
    n: u32,
    k: u32,
    flags: u32,
}

#[cfg(test)]
pub(crate) fn gemm_uniform() -> crate::gpu::uniform::UniformLayout {
    crate::gpu::uniform::uniform_layout!(GemmParams for ["gemm_vec4", "gemm_scalar", "gemm_tiled"] { m, n, k, flags })
}

impl Gpu {
    /// Runs GEMM with a chosen kernel variant (tests and benchmarks compare them; [`GemmOps::gemm`] picks).
    pub fn gemm_with(
        &self,
        variant: GemmVariant,
        spec: &Gemm,
        a: &GpuBuf<f32>,
        b: &GpuBuf<f32>,
        bias: Option<&GpuBuf<f32>>,
        c: &GpuBuf<f32>,
    ) -> Result<()> {
        spec.check(a.len(), b.len(), bias.map(GpuBuf::len), c.len())?;
        if !variant.supports(spec) {
            return Err(shape_error(
                "gemm",
                format!("{variant:?} kernel cannot compute {spec:?}"),
            ));
        }
        if spec.m * spec.n == 0 {
            return Ok(());
        }
        let limit = self.max_binding_elements::<f32>();
        if a.len() > limit || b.len() > limit || c.len() > limit {
            return self.gemm_in_row_chunks(variant, spec, a, b, bias, c, limit);
        }
        if spec.k == 0 {
            return Err(shape_error("gemm", "k = 0: nothing to multiply"));
        }
        let flags = u32::from(bias.is_some())
            | (u32::from(spec.relu) << 1)
            | (u32::from(spec.transpose_a) << 2)
            | (u32::from(spec.transpose_b) << 3);
        let params = GemmParams {
            m: spec.m as u32,
            n: spec.n as u32,
            k: spec.k as u32,
            flags,
        };
        let (kernel, entry, workgroups) = match variant {
            GemmVariant::Vec4 => {
                let entry = match (spec.transpose_a, spec.transpose_b) {
                    (false, false) => "nn",
                    (false, true) => "nt",
                    _ => "tn",
                };
                let groups = [
                    spec.n.div_ceil(8 * 8) as u32,
                    spec.m.div_ceil(8 * 16) as u32,
                    1,
                ];
                (&GEMM_VEC4, entry, groups)
            }
            GemmVariant::Scalar => (
                &GEMM_SCALAR,
                "main",
                [
                    spec.n.div_ceil(8 * 4) as u32,
                    spec.m.div_ceil(8 * 4) as u32,
                    1,
                ],
            ),
            GemmVariant::Tiled => (
                &GEMM_TILED,
                "main",
                [spec.n.div_ceil(64) as u32, spec.m.div_ceil(64) as u32, 1],
            ),
        };
        let max = self.limits().max_compute_workgroups_per_dimension;
        if workgroups[0] > max || workgroups[1] > max {
            return self.gemm_in_row_chunks(
                variant,
                spec,
                a,
                b,
                bias,
                c,
                spec.m / 2 * spec.k.max(spec.n),
            );
        }
        // Without a bias, A stands in for the unused binding (both are read-only, so this is legal).
        let bias = bias.unwrap_or(a);
        self.dispatch(Dispatch {
            kernel,
            entry,
            constants: &[],
            params: bytemuck::bytes_of(&params),
            buffers: &[a.binding(), b.binding(), bias.binding(), c.binding()],
            workgroups,
        })
    }

    /// Splits a GEMM too large for one binding or one grid into bands of rows of A and C.
    #[allow(clippy::too_many_arguments)]
    fn gemm_in_row_chunks(
        &self,
        variant: GemmVariant,
        spec: &Gemm,
        a: &GpuBuf<f32>,
        b: &GpuBuf<f32>,
        bias: Option<&GpuBuf<f32>>,
        c: &GpuBuf<f32>,
        limit: usize,
    ) -> Result<()> {
        if spec.transpose_a || b.len() > limit {
            return Err(shape_error(
                "gemm",
                format!(
                    "{spec:?} needs a binding over the device's limit of {limit} floats; only A·B and A·Bᵀ with B under it can be split"
                ),
            ));
        }
        let align = self.view_alignment::<f32>();
        // Rows per band: as many as fit, rounded so that every band starts at an aligned offset.
        let widest = spec.k.max(spec.n);
        let mut rows = (limit / widest).clamp(1, 65535 * 32);
        while rows > 1
            && (!(rows * spec.k).is_multiple_of(align) || !(rows * spec.n).is_multiple_of(align))
        {
            rows -= 1;
        }
        let mut row = 0;
        while row < spec.m {
            let band = rows.min(spec.m - row);
            let sub = Gemm { m: band, ..*spec };
            let a_band = self.slice(a, row * spec.k, band * spec.k)?;
            let c_band = self.slice(c, row * spec.n, band * spec.n)?;
            self.gemm_with(variant, &sub, &a_band, b, bias, &c_band)?;
            row += band;
        }
        Ok(())
    }
}

impl GemmOps for Gpu {
    fn gemm(
        &self,
        spec: &Gemm,
        a: &GpuBuf<f32>,
        b: &GpuBuf<f32>,
        bias: Option<&GpuBuf<f32>>,
        c: &GpuBuf<f32>,
    ) -> Result<()> {
        self.gemm_with(GemmVariant::pick(self, spec), spec, a, b, bias, c)
    }
}

/// The GEMM pipelines that [`crate::GemmVariant::pick`] uses on this device: every form, on a shape the vec4
/// kernel takes and on one it does not.
pub(crate) fn warm_up(gpu: &Gpu) -> Result<()> {
    for (m, n, k) in [(8, 8, 8), (3, 5, 7)] {
        for spec in [
            Gemm::new(m, n, k),
            Gemm::new(m, n, k).transpose_a(),
            Gemm::new(m, n, k).transpose_b(),
        ] {
            let (a, b, c) = (
                gpu.zeros::<f32>(m * k)?,
                gpu.zeros::<f32>(k * n)?,
                gpu.zeros::<f32>(m * n)?,
            );
            gpu.gemm(&spec, &a, &b, None, &c)?;
        }
    }
    Ok(())
}

crate::family::family!(
    "gemm",
    kernels: [
        GEMM_VEC4 => "gemm_vec4",
        GEMM_SCALAR => "gemm_scalar",
        GEMM_TILED => "gemm_tiled",
    ],
    warm_up: warm_up,
    check: crate::conformance::check_gemm,
    uniforms: [gemm_uniform],
);
