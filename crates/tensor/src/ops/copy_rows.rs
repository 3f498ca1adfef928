//! A strided copy of a block of columns between row-major matrices: the channel concatenation of per-sample
//! tensors (`[n, c₁·h·w]` and `[n, c₂·h·w]` into `[n, (c₁ + c₂)·h·w]`) and, the other way, its gradient.
//!
//! ```
//! use digits_tensor::{Backend, CopyRows, CopyRowsOps, Cpu};
//!
//! let cpu = Cpu::new();
//! let (a, out) = (cpu.upload(&[1.0f32, 2.0, 3.0, 4.0])?, cpu.zeros::<f32>(6)?);
//! // Two rows of two into columns 1..3 of two rows of three.
//! cpu.copy_rows(&CopyRows { rows: 2, len: 2, src_stride: 2, src_offset: 0, dst_stride: 3, dst_offset: 1 }, &a, &out)?;
//! assert_eq!(cpu.download(&out)?, [0.0, 1.0, 2.0, 0.0, 3.0, 4.0]);
//! # Ok::<(), digits_tensor::TensorError>(())
//! ```

use rayon::prelude::*;

use crate::cpu::{Cpu, CpuBuf};
use crate::error::shape_error;
use crate::gpu::{Dispatch, Gpu, GpuBuf};
use crate::ops::elementwise::WG_1D;
use crate::{Backend, Result};

/// `dst[r·dst_stride + dst_offset + j] = src[r·src_stride + src_offset + j]` for `r < rows`, `j < len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyRows {
    /// Rows copied.
    pub rows: usize,
    /// Elements copied from each row.
    pub len: usize,
    /// Row length of `src`.
    pub src_stride: usize,
    /// First column read in each row of `src`.
    pub src_offset: usize,
    /// Row length of `dst`.
    pub dst_stride: usize,
    /// First column written in each row of `dst`.
    pub dst_offset: usize,
}

impl CopyRows {
    fn check(&self, src: usize, dst: usize) -> Result<()> {
        let fits = |stride: usize, offset: usize, buf: usize| {
            offset + self.len <= stride && self.rows.checked_mul(stride).is_some_and(|n| n <= buf)
        };
        if !fits(self.src_stride, self.src_offset, src)
            || !fits(self.dst_stride, self.dst_offset, dst)
        {
            return Err(shape_error(
                "copy_rows",
                format!("{self:?} does not fit buffers of {src} and {dst} elements"),
            ));
        }
        if u32::try_from(self.rows * self.src_stride.max(self.dst_stride)).is_err() {
            return Err(shape_error(
                "copy_rows",
                format!("{self:?} exceeds u32 indices"),
            ));
        }
        Ok(())
    }
}

/// Strided row copies on a backend.
pub trait CopyRowsOps: Backend {
    /// Copies the block `spec` describes from `src` into `dst`, leaving the rest of `dst` as it is.
    fn copy_rows(&self, spec: &CopyRows, src: &Self::Buf<f32>, dst: &Self::Buf<f32>) -> Result<()>;
}

impl CopyRowsOps for Cpu {
    fn copy_rows(&self, spec: &CopyRows, src: &CpuBuf<f32>, dst: &CpuBuf<f32>) -> Result<()> {
        spec.check(src.len(), dst.len())?;
        let src = src.read();
        let mut dst = dst.write();
        dst[..spec.rows * spec.dst_stride]
            .par_chunks_mut(spec.dst_stride)
            .zip(src.par_chunks(spec.src_stride))
            .for_each(|(d, s)| {
                d[spec.dst_offset..spec.dst_offset + spec.len]
                    .copy_from_slice(&s[spec.src_offset..spec.src_offset + spec.len]);
            });
        Ok(())
    }
}

/// Uniform parameters of `shaders/copy_rows.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct CopyRowsParams {
    rows: u32,
    len: u32,
    src_stride: u32,
    src_offset: u32,
    dst_stride: u32,
    dst_offset: u32,
    _pad: [u32; 2],
}

#[cfg(test)]
pub(crate) fn copy_rows_uniform() -> crate::gpu::uniform::UniformLayout {
    crate::gpu::uniform::uniform_layout!(CopyRowsParams for ["copy_rows"] { rows, len, src_stride, src_offset, dst_stride, dst_offset })
}

impl CopyRowsOps for Gpu {
    fn copy_rows(&self, spec: &CopyRows, src: &GpuBuf<f32>, dst: &GpuBuf<f32>) -> Result<()> {
        spec.check(src.len(), dst.len())?;
        let limit = self.max_binding_elements::<f32>();
        if src.len() > limit || dst.len() > limit {
            return Err(shape_error(
                "copy_rows",
                format!(
                    "buffers of {} and {} elements exceed one storage binding ({limit})",
                    src.len(),
                    dst.len()
                ),
            ));
        }
        let params = CopyRowsParams {
            rows: spec.rows as u32,
            len: spec.len as u32,
            src_stride: spec.src_stride as u32,
            src_offset: spec.src_offset as u32,
            dst_stride: spec.dst_stride as u32,
            dst_offset: spec.dst_offset as u32,
            _pad: [0; 2],
        };
        self.dispatch(Dispatch {
            kernel: &COPY_ROWS,
            entry: "main",
            constants: &[],
            params: bytemuck::bytes_of(&params),
            buffers: &[src.binding(), dst.binding()],
            workgroups: self.grid_1d(((spec.rows * spec.len) as u64).div_ceil(WG_1D))?,
        })
    }
}

/// Compiles the copy pipeline.
pub(crate) fn warm_up(gpu: &Gpu) -> Result<()> {
    let (src, dst) = (gpu.zeros::<f32>(4)?, gpu.zeros::<f32>(4)?);
    let spec = CopyRows {
        rows: 2,
        len: 2,
        src_stride: 2,
        src_offset: 0,
        dst_stride: 2,
        dst_offset: 0,
    };
    gpu.copy_rows(&spec, &src, &dst)
}

crate::family::family!(
    "copy_rows",
    kernels: [
        COPY_ROWS => "copy_rows",
    ],
    warm_up: warm_up,
    check: crate::conformance::copy_rows::check,
    uniforms: [copy_rows_uniform],
);
