//! 2-D convolution, NCHW, forward (with fused bias and ReLU) and backward.
//!
//! Tensors are flat buffers: a buffer carries no shape, so flattening `[batch, c, h, w]` into
//! `[batch, c·h·w]` for a dense layer is the same buffer, not a copy. The flatten order is NCHW's (channel,
//! then row, then column), PyTorch's order.
//!
//! The two backends compute the same function by different algorithms:
//! - CPU: im2col into a per-thread scratch buffer and a `matrixmultiply` GEMM per image, parallel over the
//!   batch with rayon; the weight gradient sums fixed chunks of the batch in a fixed order.
//! - GPU: implicit GEMMs with no im2col buffer, each pass with two kernels ([`ConvVariant`]). The forward
//!   pass and, as the transposed convolution of the output gradient, the input gradient:
//!   - `shaders/conv2d.wgsl` computes 16 pixels × 16 channels per invocation from the input directly,
//!     with the weights re-laid out (`shaders/conv2d_layout.wgsl`) into 64 KiB windows bound as a uniform
//!     buffer, which every invocation reads at the same index.
//!   - `shaders/conv2d_texture.wgsl` computes 32 pixels × 16 channels per invocation from textures that
//!     hold the padded input and the weights four channels per texel (`shaders/conv2d_texture_layout.wgsl`):
//!     CPU-emulated adapters fetch a texel for less than half the cost of a storage-buffer load.
//!
//!   The weight and bias gradients: `shaders/conv2d_backward_weight.wgsl` from the buffers, or
//!   `shaders/conv2d_texture_backward_weight.wgsl` from the input's texture and one of the output gradient,
//!   each over fixed slices of the batch, then the slices in order. Every value is summed by one invocation
//!   in a fixed order, with no atomics, so results are bit-identical run to run.
//!
//! ```
//! use digits_tensor::{Backend, Conv2d, ConvOps, Cpu};
//!
//! let cpu = Cpu::new();
//! // One 3x3 image, one 2x2 filter of ones: each output sums a 2x2 window.
//! let spec = Conv2d::new(1, 1, 1, (3, 3), (2, 2));
//! let x = cpu.upload(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])?;
//! let w = cpu.upload(&[1.0f32; 4])?;
//! let y = cpu.zeros::<f32>(spec.output_len())?;
//! cpu.conv2d(&spec, &x, &w, None, &y)?;
//! assert_eq!(cpu.download(&y)?, vec![12.0, 16.0, 24.0, 28.0]);
//! # Ok::<(), digits_tensor::TensorError>(())
//! ```

use std::cell::RefCell;

use rayon::prelude::*;

use crate::cpu::{Cpu, CpuBuf};
use crate::error::{check_len, shape_error};
use crate::gpu::{Binding, Dispatch, Gpu, GpuBuf};
use crate::ops::gemm::sgemm;
use crate::{Backend, Element, ElementwiseOps, Result, TensorError};

/// A convolution of `[batch, in_channels, height, width]` by weights `[out_channels, in_channels, kh, kw]`
/// (PyTorch's layout), giving `[batch, out_channels, out_height, out_width]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Conv2d {
    /// Images in the batch.
    pub batch: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels (filters).
    pub out_channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// Stride in both directions.
    pub stride: usize,
    /// Zero padding on every side (0: "valid"; (k-1)/2 with stride 1: "same").
    pub padding: usize,
    /// Apply `max(x, 0)` after the bias (forward only; backward takes the already-masked gradient).
    pub relu: bool,
}

impl Conv2d {
    /// A stride-1, unpadded ("valid") convolution of `batch` images of `(height, width)` by `(kh, kw)` kernels.
    pub fn new(
        batch: usize,
        in_channels: usize,
        out_channels: usize,
        (height, width): (usize, usize),
        (kernel_h, kernel_w): (usize, usize),
    ) -> Self {
        Conv2d {
            batch,
            in_channels,
            out_channels,
            height,
            width,
            kernel_h,
            kernel_w,
            stride: 1,
            padding: 0,
            relu: false,
        }
    }

    /// Sets the stride.
    pub fn stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }

    /// Sets the zero padding on every side.
    pub fn padding(mut self, padding: usize) -> Self {
        self.padding = padding;
        self
    }

    /// Fuses a ReLU after the bias.
    pub fn relu(mut self) -> Self {
        self.relu = true;
        self
    }

    /// Output height: `(height + 2·padding - kernel_h) / stride + 1`.
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.padding - self.kernel_h) / self.stride + 1
    }
    /// Output width: `(width + 2·padding - kernel_w) / stride + 1`.
    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.padding - self.kernel_w) / self.stride + 1
    }
    /// Elements of the input.
    pub fn input_len(&self) -> usize {
        self.batch * self.in_channels * self.height * self.width
    }
    /// Elements of the weights.
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.in_channels * self.kernel_h * self.kernel_w
    }
    /// Elements of the output.
    pub fn output_len(&self) -> usize {
        self.batch * self.out_channels * self.out_height() * self.out_width()
    }
    /// Floating-point operations of the forward pass (a multiply-add counts two). Each backward kernel
    /// (input gradient, weight gradient) costs the same.
    pub fn flops(&self) -> u64 {
        2 * (self.output_len() * self.in_channels * self.kernel_h * self.kernel_w) as u64
    }

    /// Terms in each output's sum: `in_channels · kernel_h · kernel_w` (the GEMM's k).
    pub fn patch_len(&self) -> usize {
        self.in_channels * self.kernel_h * self.kernel_w
    }

    fn in_image(&self) -> usize {
        self.in_channels * self.height * self.width
    }

    fn out_plane(&self) -> usize {
        self.out_height() * self.out_width()
    }

    fn out_image(&self) -> usize {
        self.out_channels * self.out_plane()
    }

    /// Checks that the spec describes a convolution at all (before any size is computed from it).
    fn validate(&self, op: &'static str) -> Result<()> {
        if self.stride == 0 {
            return Err(shape_error(op, "stride is 0"));
        }
        if self.in_channels == 0
            || self.out_channels == 0
            || self.kernel_h == 0
            || self.kernel_w == 0
        {
            return Err(shape_error(
                op,
                format!("empty channels or kernel in {self:?}"),
            ));
        }
        if self.kernel_h > self.height + 2 * self.padding
            || self.kernel_w > self.width + 2 * self.padding
        {
            return Err(shape_error(
                op,
                format!(
                    "a {}x{} kernel does not fit a {}x{} input padded by {}",
                    self.kernel_h, self.kernel_w, self.height, self.width, self.padding
                ),
            ));
        }
        if self.padding >= self.kernel_h.min(self.kernel_w) {
            // Border outputs would read padding only (and the input gradient's transposed convolution would
            // need a negative padding); no layer wants that.
            return Err(shape_error(
                op,
                format!(
                    "padding {} is not smaller than the {}x{} kernel",
                    self.padding, self.kernel_h, self.kernel_w
                ),
            ));
        }
        let largest = self
            .input_len()
            .max(self.output_len())
            .max(self.weight_len());
        if largest > u32::MAX as usize {
            return Err(TensorError::Limit(format!(
                "{op}: {largest} elements exceed 32-bit indexing"
            )));
        }
        Ok(())
    }

    fn check_forward(
        &self,
        input: usize,
        weight: usize,
        bias: Option<usize>,
        out: usize,
    ) -> Result<()> {
        self.validate("conv2d")?;
        check_len("conv2d", "input", input, self.input_len())?;
        check_len("conv2d", "weight", weight, self.weight_len())?;
        check_len("conv2d", "out", out, self.output_len())?;
        if let Some(bias) = bias {
            check_len("conv2d", "bias", bias, self.out_channels)?;
        }
        Ok(())
    }

    fn check_backward_input(&self, grad_out: usize, weight: usize, grad_in: usize) -> Result<()> {
        const OP: &str = "conv2d_backward_input";
        self.validate(OP)?;
        check_len(OP, "grad_out", grad_out, self.output_len())?;
        check_len(OP, "weight", weight, self.weight_len())?;
        check_len(OP, "grad_in", grad_in, self.input_len())
    }

    fn check_backward_weight(
        &self,
        input: usize,
        grad_out: usize,
        grad_weight: usize,
        grad_bias: Option<usize>,
    ) -> Result<()> {
        const OP: &str = "conv2d_backward_weight";
        self.validate(OP)?;
        check_len(OP, "input", input, self.input_len())?;
        check_len(OP, "grad_out", grad_out, self.output_len())?;
        check_len(OP, "grad_weight", grad_weight, self.weight_len())?;
        if let Some(bias) = grad_bias {
            check_len(OP, "grad_bias", bias, self.out_channels)?;
        }
        Ok(())
    }
}

/// Convolution on a backend.
pub trait ConvOps: Backend {
    /// `out = conv(input, weight) (+ bias[oc]) (ReLU)`.
    fn conv2d(
        &self,
        spec: &Conv2d,
        input: &Self::Buf<f32>,
        weight: &Self::Buf<f32>,
        bias: Option<&Self::Buf<f32>>,
        out: &Self::Buf<f32>,
    ) -> Result<()>;
    /// Gradient of the input from the gradient of the output (overwrites `grad_in`).
    fn conv2d_backward_input(
        &self,
        spec: &Conv2d,
        grad_out: &Self::Buf<f32>,
        weight: &Self::Buf<f32>,
        grad_in: &Self::Buf<f32>,
    ) -> Result<()>;
    /// Gradients of the weights and bias, summed over the batch in a fixed order (bit-reproducible);
    /// overwrites `grad_weight` and `grad_bias`.
    fn conv2d_backward_weight(
        &self,
        spec: &Conv2d,
        input: &Self::Buf<f32>,
        grad_out: &Self::Buf<f32>,
        grad_weight: &Self::Buf<f32>,
        grad_bias: Option<&Self::Buf<f32>>,
    ) -> Result<()>;
}

// ---------------------------------------------------------------------------------------------------------
// CPU: im2col + GEMM per image.

thread_local! {
    /// The im2col matrix of the image a thread is working on; grows to the largest layer and stays.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's scratch buffer, at least `len` long (contents undefined).
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        if scratch.len() < len {
            scratch.resize(len, 0.0);
        }
        f(&mut scratch[..len])
    })
}

/// Images the weight gradient sums per partial: fixed (not derived from the thread count), so the sum's
/// order, and with it every bit of the result, is the same on every machine.
const WEIGHT_GRAD_CHUNK: usize = 8;

/// Whether the im2col matrix of an image is the image itself (1×1 kernel, stride 1, no padding).
fn is_pointwise(s: &Conv2d) -> bool {
    s.kernel_h == 1 && s.kernel_w == 1 && s.stride == 1 && s.padding == 0
}

/// For kernel column `kx`, the output columns whose input column is inside the image, and that input
/// column for the first of them: `ix = ox·stride + kx - padding`.
fn valid_columns(s: &Conv2d, kx: usize) -> (usize, usize) {
    let ow = s.out_width();
    // First ox with ox·stride + kx >= padding, and one past the last with ox·stride + kx < width + padding.
    let first = s.padding.saturating_sub(kx).div_ceil(s.stride).min(ow);
    let end = (s.width + s.padding)
        .saturating_sub(kx)
        .div_ceil(s.stride)
        .min(ow);
    (first, end.max(first))
}

/// `col[(c·kh + ky)·kw + kx][oy·ow + ox] = x[c][oy·s + ky - pad][ox·s + kx - pad]` (0 in the padding).
fn im2col(s: &Conv2d, x: &[f32], col: &mut [f32]) {
    let (h, w, oh, ow) = (s.height, s.width, s.out_height(), s.out_width());
    let plane = oh * ow;
    let mut rows = col.chunks_exact_mut(plane);
    for c in 0..s.in_channels {
        let image = &x[c * h * w..][..h * w];
        for ky in 0..s.kernel_h {
            for kx in 0..s.kernel_w {
                let row = rows.next().expect("col has patch_len rows");
                let (first, end) = valid_columns(s, kx);
                for oy in 0..oh {
                    let out = &mut row[oy * ow..][..ow];
                    let iy = (oy * s.stride + ky) as isize - s.padding as isize;
                    if iy < 0 || iy >= h as isize || first == end {
                        out.fill(0.0);
                        continue;
                    }
                    let src = &image[iy as usize * w..][..w];
                    out[..first].fill(0.0);
                    out[end..].fill(0.0);
                    let ix0 = first * s.stride + kx - s.padding;
                    if s.stride == 1 {
                        out[first..end].copy_from_slice(&src[ix0..ix0 + end - first]);
                    } else {
                        for (o, ix) in out[first..end].iter_mut().zip((ix0..).step_by(s.stride)) {
                            *o = src[ix];
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: `x` (overwritten) = the sum of every column entry at its input position, in a
/// fixed order.
fn col2im(s: &Conv2d, col: &[f32], x: &mut [f32]) {
    let (h, w, oh, ow) = (s.height, s.width, s.out_height(), s.out_width());
    let plane = oh * ow;
    x.fill(0.0);
    let mut rows = col.chunks_exact(plane);
    for c in 0..s.in_channels {
        let image = &mut x[c * h * w..][..h * w];
        for ky in 0..s.kernel_h {
            for kx in 0..s.kernel_w {
                let row = rows.next().expect("col has patch_len rows");
                let (first, end) = valid_columns(s, kx);
                if first == end {
                    continue;
                }
                for oy in 0..oh {
                    let iy = (oy * s.stride + ky) as isize - s.padding as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    let dst = &mut image[iy as usize * w..][..w];
                    let ix0 = first * s.stride + kx - s.padding;
                    for (&g, ix) in row[oy * ow + first..oy * ow + end]
                        .iter()
                        .zip((ix0..).step_by(s.stride))
                    {
                        dst[ix] += g;
                    }
                }
            }
        }
    }
}

impl ConvOps for Cpu {
    fn conv2d(
        &self,
        spec: &Conv2d,
        input: &CpuBuf<f32>,
        weight: &CpuBuf<f32>,
        bias: Option<&CpuBuf<f32>>,
        out: &CpuBuf<f32>,
    ) -> Result<()> {
        spec.check_forward(input.len(), weight.len(), bias.map(CpuBuf::len), out.len())?;
        if spec.batch == 0 {
            return Ok(());
        }
        let (x, w) = (input.read(), weight.read());
        let bias = bias.map(CpuBuf::read);
        let mut y = out.write();
        let (k, plane, oc) = (spec.patch_len(), spec.out_plane(), spec.out_channels);
        let image = |(y, x): (&mut [f32], &[f32])| {
            // y[oc, plane] = w[oc, k] · col[k, plane]
            if is_pointwise(spec) {
                sgemm((oc, k, plane), &w, (k, 1), x, (plane, 1), y, false);
            } else {
                with_scratch(k * plane, |col| {
                    im2col(spec, x, col);
                    sgemm((oc, k, plane), &w, (k, 1), col, (plane, 1), y, false);
                });
            }
            for (o, row) in y.chunks_exact_mut(plane).enumerate() {
                let b = bias.as_ref().map_or(0.0, |b| b[o]);
                if spec.relu {
                    row.iter_mut().for_each(|v| *v = (*v + b).max(0.0));
                } else if b != 0.0 {
                    row.iter_mut().for_each(|v| *v += b);
                }
            }
        };
        y.par_chunks_mut(spec.out_image())
            .zip(x.par_chunks(spec.in_image()))
            .for_each(image);
        Ok(())
    }

    fn conv2d_backward_input(
        &self,
        spec: &Conv2d,
        grad_out: &CpuBuf<f32>,
        weight: &CpuBuf<f32>,
        grad_in: &CpuBuf<f32>,
    ) -> Result<()> {
        spec.check_backward_input(grad_out.len(), weight.len(), grad_in.len())?;
        if spec.batch == 0 {
            return Ok(());
        }
        let (dy, w) = (grad_out.read(), weight.read());
        let mut dx = grad_in.write();
        let (k, plane, oc) = (spec.patch_len(), spec.out_plane(), spec.out_channels);
        let image = |(dx, dy): (&mut [f32], &[f32])| {
            // dcol[k, plane] = wᵀ[k, oc] · dy[oc, plane]
            if is_pointwise(spec) {
                sgemm((k, oc, plane), &w, (1, k), dy, (plane, 1), dx, false);
            } else {
                with_scratch(k * plane, |dcol| {
                    sgemm((k, oc, plane), &w, (1, k), dy, (plane, 1), dcol, false);
                    col2im(spec, dcol, dx);
                });
            }
        };
        dx.par_chunks_mut(spec.in_image())
            .zip(dy.par_chunks(spec.out_image()))
            .for_each(image);
        Ok(())
    }

    fn conv2d_backward_weight(
        &self,
        spec: &Conv2d,
        input: &CpuBuf<f32>,
        grad_out: &CpuBuf<f32>,
        grad_weight: &CpuBuf<f32>,
        grad_bias: Option<&CpuBuf<f32>>,
    ) -> Result<()> {
        spec.check_backward_weight(
            input.len(),
            grad_out.len(),
            grad_weight.len(),
            grad_bias.map(CpuBuf::len),
        )?;
        let (x, dy) = (input.read(), grad_out.read());
        let (k, plane, oc) = (spec.patch_len(), spec.out_plane(), spec.out_channels);
        // One partial [dW | db] per fixed chunk of images, in parallel; then the partials summed in order.
        let partial = |(x, dy): (&[f32], &[f32])| -> Vec<f32> {
            let mut sums = vec![0.0f32; oc * k + oc];
            let (dw, db) = sums.split_at_mut(oc * k);
            for (i, (x, dy)) in x
                .chunks_exact(spec.in_image())
                .zip(dy.chunks_exact(spec.out_image()))
                .enumerate()
            {
                // dw[oc, k] += dy[oc, plane] · colᵀ[plane, k]
                if is_pointwise(spec) {
                    sgemm((oc, plane, k), dy, (plane, 1), x, (1, plane), dw, i > 0);
                } else {
                    with_scratch(k * plane, |col| {
                        im2col(spec, x, col);
                        sgemm((oc, plane, k), dy, (plane, 1), col, (1, plane), dw, i > 0);
                    });
                }
                for (b, row) in db.iter_mut().zip(dy.chunks_exact(plane)) {
                    *b += row.iter().sum::<f32>();
                }
            }
            sums
        };
        let partials: Vec<Vec<f32>> = x
            .par_chunks(WEIGHT_GRAD_CHUNK * spec.in_image())
            .zip(dy.par_chunks(WEIGHT_GRAD_CHUNK * spec.out_image()))
            .map(partial)
            .collect();
        let mut total = vec![0.0f32; oc * k + oc];
        for p in &partials {
            total.iter_mut().zip(p).for_each(|(t, v)| *t += v);
        }
        grad_weight.write().copy_from_slice(&total[..oc * k]);
        if let Some(grad_bias) = grad_bias {
            grad_bias.write().copy_from_slice(&total[oc * k..]);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------
// GPU: implicit GEMMs.

/// A direct convolution as `shaders/conv2d.wgsl` computes it: the forward pass, or the transposed
/// convolution that gives the input gradient.
#[derive(Clone, Copy, Debug)]
struct Direct {
    images: usize,
    in_channels: usize,
    out_channels: usize,
    in_h: usize,
    in_w: usize,
    out_h: usize,
    out_w: usize,
    kernel_h: usize,
    kernel_w: usize,
    stride: usize,
    pad_y: usize,
    pad_x: usize,
    /// The input is dilated by this (zeros between its values): the stride of the convolution whose input
    /// gradient this is.
    dilation: usize,
    /// The weights are the transposed, flipped weights of that convolution.
    transposed: bool,
    /// Apply `max(x, 0)` after the bias.
    relu: bool,
}

impl Direct {
    fn forward(s: &Conv2d) -> Self {
        Direct {
            images: s.batch,
            in_channels: s.in_channels,
            out_channels: s.out_channels,
            in_h: s.height,
            in_w: s.width,
            out_h: s.out_height(),
            out_w: s.out_width(),
            kernel_h: s.kernel_h,
            kernel_w: s.kernel_w,
            stride: s.stride,
            pad_y: s.padding,
            pad_x: s.padding,
            dilation: 1,
            transposed: false,
            relu: s.relu,
        }
    }

    /// `dx = dy (dilated by the stride) ⋆ flipped transposed w`, padded by `k - 1 - padding`.
    fn input_gradient(s: &Conv2d) -> Self {
        Direct {
            images: s.batch,
            in_channels: s.out_channels,
            out_channels: s.in_channels,
            in_h: s.out_height(),
            in_w: s.out_width(),
            out_h: s.height,
            out_w: s.width,
            kernel_h: s.kernel_h,
            kernel_w: s.kernel_w,
            stride: 1,
            pad_y: s.kernel_h - 1 - s.padding,
            pad_x: s.kernel_w - 1 - s.padding,
            dilation: s.stride,
            transposed: true,
            relu: false,
        }
    }

    fn in_image(&self) -> usize {
        self.in_channels * self.in_h * self.in_w
    }

    fn out_image(&self) -> usize {
        self.out_channels * self.out_h * self.out_w
    }
}

/// Uniform parameters of `shaders/conv2d.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct DirectParams {
    images: u32,
    in_channels: u32,
    out_channels: u32,
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    kernel_h: u32,
    kernel_w: u32,
    stride: u32,
    pad_y: u32,
    pad_x: u32,
    flags: u32,
    c_begin: u32,
    c_end: u32,
    group: u32,
    pixels: u32,
    _pad: [u32; 3],
}

#[cfg(test)]
pub(crate) fn direct_uniform() -> crate::gpu::uniform::UniformLayout {
    crate::gpu::uniform::uniform_layout!(DirectParams for ["conv2d"] { images, in_channels, out_channels, in_h, in_w, out_h, out_w, kernel_h, kernel_w, stride, pad_y, pad_x, flags, c_begin, c_end, group, pixels })
}

/// Uniform parameters of `shaders/conv2d_backward_weight.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct WeightGradParams {
    batch: u32,
    in_channels: u32,
    out_channels: u32,
    height: u32,
    width: u32,
    out_h: u32,
    out_w: u32,
    kernel_h: u32,
    kernel_w: u32,
    stride: u32,
    padding: u32,
    flags: u32,
    per_slice: u32,
    slices: u32,
    len: u32,
    _pad: u32,
}

#[cfg(test)]
pub(crate) fn weight_grad_uniform() -> crate::gpu::uniform::UniformLayout {
    crate::gpu::uniform::uniform_layout!(WeightGradParams for ["conv2d_backward_weight"] { batch, in_channels, out_channels, height, width, out_h, out_w, kernel_h, kernel_w, stride, padding, flags, per_slice, slices, len })
}

/// Uniform parameters of `shaders/conv2d_layout.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct LayoutParams {
    in_channels: u32,
    out_channels: u32,
    taps: u32,
    per_window: u32,
    windows: u32,
    block: u32,
    items: u32,
    transposed: u32,
}

#[cfg(test)]
pub(crate) fn layout_uniform() -> crate::gpu::uniform::UniformLayout {
    crate::gpu::uniform::uniform_layout!(LayoutParams for ["conv2d_layout"] { in_channels, out_channels, taps, per_window, windows, block, items, transposed })
}

const FLAG_BIAS: u32 = 1;
const FLAG_RELU: u32 = 2;
const FLAG_ACCUMULATE: u32 = 4;

/// Invocations per workgroup of the 1-D conv kernels (`WG` in the shaders).
const WG: u64 = 64;
/// Output pixels and channels per invocation of `conv2d.wgsl`.
const DIRECT_PIXELS: usize = 16;
const DIRECT_CHANNELS: usize = 16;
/// Output channels and values of k per invocation of the weight-gradient kernel, and its workgroup size.
const WGRAD_TILE: usize = 16;
const WGRAD_WG: usize = 8;
/// The weight gradient cuts the batch into slices until it has about this many invocations.
const WGRAD_INVOCATIONS: usize = 128;
/// Floats in one uniform window of weights (64 KiB, the binding size every device offers).
const WINDOW: usize = 16384;

/// Images per dispatch so that every per-image buffer's piece fits one binding and starts at an aligned
/// view: `per_image` lists each batch-major buffer's elements per image. All `batch` when they fit.
pub(crate) fn images_per_piece<T: Element>(
    gpu: &Gpu,
    op: &'static str,
    batch: usize,
    per_image: &[usize],
) -> Result<usize> {
    images_per_piece_at_most::<T>(gpu, op, batch, per_image, usize::MAX, "one binding")
}

/// [`images_per_piece`], with at most `cap` images per piece (what else must fit: `what`).
fn images_per_piece_at_most<T: Element>(
    gpu: &Gpu,
    op: &'static str,
    batch: usize,
    per_image: &[usize],
    cap: usize,
    what: &str,
) -> Result<usize> {
    let limit = gpu.max_binding_elements::<T>();
    let align = gpu.view_alignment::<T>();
    let largest = per_image.iter().copied().max().unwrap_or(1).max(1);
    if largest * batch <= limit && batch <= cap {
        return Ok(batch.max(1));
    }
    // Pieces must start at multiples of `align` elements in every buffer.
    let step = per_image
        .iter()
        .map(|&n| align / gcd(n.max(1), align))
        .fold(1, lcm);
    let images = (limit / largest).min(cap) / step * step;
    if images == 0 {
        return Err(TensorError::Limit(format!(
            "{op}: {step} images of {largest} elements exceed {what} on {} (bindings of {limit} elements)",
            gpu.info().name
        )));
    }
    Ok(images)
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn lcm(a: usize, b: usize) -> usize {
    a / gcd(a, b) * b
}

impl Gpu {
    /// Records `out = direct(input, weight) (+ bias) (ReLU)` (see [`Direct`]) with `shaders/conv2d.wgsl`.
    fn direct_conv(
        &self,
        op: &'static str,
        d: &Direct,
        input: &GpuBuf<f32>,
        weight: &GpuBuf<f32>,
        bias: Option<&GpuBuf<f32>>,
        out: &GpuBuf<f32>,
    ) -> Result<()> {
        // At most WINDOW / DIRECT_CHANNELS taps (`ConvVariant::supports`).
        let taps = d.kernel_h * d.kernel_w;
        // The weights, cut into 64 KiB windows: per group of 16 output channels, ranges of input channels.
        let per_window = d.in_channels.min(WINDOW / DIRECT_CHANNELS / taps);
        let windows = d.in_channels.div_ceil(per_window);
        let groups = d.out_channels.div_ceil(DIRECT_CHANNELS);
        let block = (per_window * taps * DIRECT_CHANNELS).next_multiple_of(64);
        let items = groups * windows * block;
        // The last window's binding reaches a whole WINDOW past its start.
        let relaid = self.new_uniform_buf::<f32>(items - block + WINDOW)?;
        let layout = LayoutParams {
            in_channels: d.in_channels as u32,
            out_channels: d.out_channels as u32,
            taps: taps as u32,
            per_window: per_window as u32,
            windows: windows as u32,
            block: block as u32,
            items: items as u32,
            transposed: u32::from(d.transposed),
        };
        self.dispatch(Dispatch {
            kernel: &CONV2D_LAYOUT,
            entry: "main",
            constants: &[],
            params: bytemuck::bytes_of(&layout),
            buffers: &[weight.binding(), relaid.binding()],
            workgroups: self.grid_1d((items as u64).div_ceil(WG))?,
        })?;

        // Planes of whole vec4s take the kernel's vec4 stores.
        let entry = if (d.out_h * d.out_w) & 3 == 0 {
            "main_vec4"
        } else {
            "main"
        };
        let per_piece =
            images_per_piece::<f32>(self, op, d.images, &[d.in_image(), d.out_image()])?;
        for first in (0..d.images).step_by(per_piece) {
            let n = per_piece.min(d.images - first);
            let x = self.slice(input, first * d.in_image(), n * d.in_image())?;
            let y = self.slice(out, first * d.out_image(), n * d.out_image())?;
            // Without a bias, the input stands in for the unused binding (both are read-only).
            let b = bias.unwrap_or(&x);
            let pixels = n * d.out_h * d.out_w;
            let workgroups = self.grid_1d((pixels.div_ceil(DIRECT_PIXELS) as u64).div_ceil(WG))?;
            for group in 0..groups {
                for window in 0..windows {
                    let last = window + 1 == windows;
                    let flags = if window > 0 { FLAG_ACCUMULATE } else { 0 }
                        | if last && bias.is_some() { FLAG_BIAS } else { 0 }
                        | if last && d.relu { FLAG_RELU } else { 0 };
                    let params = DirectParams {
                        images: n as u32,
                        in_channels: d.in_channels as u32,
                        out_channels: d.out_channels as u32,
                        in_h: d.in_h as u32,
                        in_w: d.in_w as u32,
                        out_h: d.out_h as u32,
                        out_w: d.out_w as u32,
                        kernel_h: d.kernel_h as u32,
                        kernel_w: d.kernel_w as u32,
                        stride: d.stride as u32,
                        pad_y: d.pad_y as u32,
                        pad_x: d.pad_x as u32,
                        flags,
                        c_begin: (window * per_window) as u32,
                        c_end: ((window + 1) * per_window).min(d.in_channels) as u32,
                        group: group as u32,
                        pixels: pixels as u32,
                        _pad: [0; 3],
                    };
                    let w = self.slice(&relaid, (group * windows + window) * block, WINDOW)?;
                    self.dispatch(Dispatch {
                        kernel: &CONV2D,
                        entry,
                        constants: &[("DILATION", d.dilation as f64)],
                        params: bytemuck::bytes_of(&params),
                        buffers: &[x.binding(), w.binding(), b.binding(), y.binding()],
                        workgroups,
                    })?;
                }
            }
        }
        Ok(())
    }
}

/// The GPU kernels of the forward pass and the input gradient; [`ConvVariant::pick`] chooses one per device
/// and shape. Both compute the same sums in the same order of taps but group the input channels differently,
/// so results agree to rounding, not bit for bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvVariant {
    /// `shaders/conv2d.wgsl`: the input read from a storage buffer, the weights from 64 KiB uniform
    /// windows. Any shape with at most 1024 taps.
    Direct,
    /// `shaders/conv2d_texture.wgsl`: the padded input and the weights copied into textures, four channels
    /// per texel. Needs both textures to fit the device's 2-D texture size.
    Texture,
}

impl ConvVariant {
    /// Every variant, for conformance tests and benchmarks.
    pub const ALL: [ConvVariant; 2] = [ConvVariant::Direct, ConvVariant::Texture];

    /// Whether the variant can compute the forward pass, the input gradient and the weight gradient of `spec`
    /// on `gpu`.
    pub fn supports(self, gpu: &Gpu, spec: &Conv2d) -> bool {
        match self {
            ConvVariant::Direct => spec.kernel_h * spec.kernel_w * DIRECT_CHANNELS <= WINDOW,
            ConvVariant::Texture => {
                let max = gpu.limits().max_texture_dimension_2d as usize;
                // The weight gradient's texture of the output gradient, too.
                let gradient = spec.out_width() * spec.out_channels.div_ceil(4);
                [Direct::forward(spec), Direct::input_gradient(spec)]
                    .iter()
                    .all(|d| TextureGeometry::of(d).fits(max))
                    && gradient <= max
                    && spec.out_height() <= max
            }
        }
    }

    /// The variant measured fastest for this device and pass (BENCHMARKS.md): textures on CPU-emulated
    /// adapters, unless the texels of the pass's input (`channels`: the input's, or the output gradient's
    /// for the input gradient) would hold fewer than 4 channels and so mostly zeros; the direct kernels on
    /// real GPUs, where the texture kernels are not measured yet.
    fn pick(gpu: &Gpu, spec: &Conv2d, channels: usize) -> ConvVariant {
        if gpu.is_cpu_emulated() && channels >= 4 && ConvVariant::Texture.supports(gpu, spec) {
            ConvVariant::Texture
        } else {
            ConvVariant::Direct
        }
    }
}

/// The textures of [`ConvVariant::Texture`] for one convolution, in texels.
struct TextureGeometry {
    /// Input channels / 4, rounded up: the texels of one input pixel.
    quads: usize,
    /// One padded image: every window of the output lies inside it.
    image_h: usize,
    image_w: usize,
    /// Output channels / 16, rounded up: the channel blocks of one invocation each.
    blocks_n: usize,
    /// The weight texture: a texel per 4 output channels, 4 rows per tap and input channel quad.
    weights_w: usize,
    weights_h: usize,
}

impl TextureGeometry {
    fn of(d: &Direct) -> Self {
        let quads = d.in_channels.div_ceil(4);
        let blocks_n = d.out_channels.div_ceil(TEXTURE_CHANNELS);
        TextureGeometry {
            quads,
            image_h: (d.out_h - 1) * d.stride + d.kernel_h,
            image_w: (d.out_w - 1) * d.stride + d.kernel_w,
            blocks_n,
            weights_w: blocks_n * TEXTURE_CHANNELS / 4,
            weights_h: d.kernel_h * d.kernel_w * quads * 4,
        }
    }

    /// Whether one image and the weights fit textures of `max` texels a side.
    fn fits(&self, max: usize) -> bool {
        self.image_w * self.quads <= max
            && self.image_h <= max
            && self.weights_w <= max
            && self.weights_h <= max
    }
}

/// Uniform parameters of `shaders/conv2d_texture.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct TextureParams {
    quads: u32,
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    kernel_h: u32,
    kernel_w: u32,
    stride: u32,
    out_channels: u32,
    blocks_n: u32,
    pixels: u32,
    invocations: u32,
    flags: u32,
    _pad: [u32; 3],
}

#[cfg(test)]
pub(crate) fn texture_uniform() -> crate::gpu::uniform::UniformLayout {
    crate::gpu::uniform::uniform_layout!(TextureParams for ["conv2d_texture"] { quads, in_h, in_w, out_h, out_w, kernel_h, kernel_w, stride, out_channels, blocks_n, pixels, invocations, flags })
}

/// Uniform parameters of `shaders/conv2d_texture_layout.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct TextureLayoutParams {
    channels: u32,
    out_channels: u32,
    src_h: u32,
    src_w: u32,
    tex_h: u32,
    tex_w: u32,
    pad_y: u32,
    pad_x: u32,
    quads: u32,
    images: u32,
    kernel_h: u32,
    kernel_w: u32,
    transposed: u32,
    _pad: [u32; 3],
}

#[cfg(test)]
pub(crate) fn texture_layout_uniform() -> crate::gpu::uniform::UniformLayout {
    crate::gpu::uniform::uniform_layout!(TextureLayoutParams for ["conv2d_texture_layout"] { channels, out_channels, src_h, src_w, tex_h, tex_w, pad_y, pad_x, quads, images, kernel_h, kernel_w, transposed })
}

impl TextureLayoutParams {
    fn new(d: &Direct, g: &TextureGeometry, images: usize) -> Self {
        TextureLayoutParams {
            channels: d.in_channels as u32,
            out_channels: d.out_channels as u32,
            src_h: d.in_h as u32,
            src_w: d.in_w as u32,
            tex_h: g.image_h as u32,
            tex_w: g.image_w as u32,
            pad_y: d.pad_y as u32,
            pad_x: d.pad_x as u32,
            quads: g.quads as u32,
            images: images as u32,
            kernel_h: d.kernel_h as u32,
            kernel_w: d.kernel_w as u32,
            transposed: u32::from(d.transposed),
            _pad: [0; 3],
        }
    }
}

/// Output pixels and channels per invocation of `conv2d_texture.wgsl`.
const TEXTURE_PIXELS: usize = 32;
const TEXTURE_CHANNELS: usize = 16;

impl Gpu {
    /// Runs the forward convolution with a chosen kernel (tests and benchmarks compare them;
    /// [`ConvOps::conv2d`] picks).
    pub fn conv2d_with(
        &self,
        variant: ConvVariant,
        spec: &Conv2d,
        input: &GpuBuf<f32>,
        weight: &GpuBuf<f32>,
        bias: Option<&GpuBuf<f32>>,
        out: &GpuBuf<f32>,
    ) -> Result<()> {
        spec.check_forward(input.len(), weight.len(), bias.map(GpuBuf::len), out.len())?;
        self.check_variant("conv2d", variant, spec)?;
        if spec.batch == 0 {
            return Ok(());
        }
        let d = Direct::forward(spec);
        self.implicit_conv("conv2d", variant, &d, input, weight, bias, out)
    }

    /// Runs the input gradient with a chosen kernel (tests and benchmarks compare them;
    /// [`ConvOps::conv2d_backward_input`] picks).
    pub fn conv2d_backward_input_with(
        &self,
        variant: ConvVariant,
        spec: &Conv2d,
        grad_out: &GpuBuf<f32>,
        weight: &GpuBuf<f32>,
        grad_in: &GpuBuf<f32>,
    ) -> Result<()> {
        spec.check_backward_input(grad_out.len(), weight.len(), grad_in.len())?;
        self.check_variant("conv2d_backward_input", variant, spec)?;
        if spec.batch == 0 {
            return Ok(());
        }
        let d = Direct::input_gradient(spec);
        let op = "conv2d_backward_input";
        self.implicit_conv(op, variant, &d, grad_out, weight, None, grad_in)
    }

    fn check_variant(&self, op: &'static str, variant: ConvVariant, spec: &Conv2d) -> Result<()> {
        if variant.supports(self, spec) {
            return Ok(());
        }
        let why = match variant {
            ConvVariant::Direct => format!(
                "a {}x{} kernel has more than {} taps",
                spec.kernel_h,
                spec.kernel_w,
                WINDOW / DIRECT_CHANNELS
            ),
            ConvVariant::Texture => format!(
                "its textures exceed {} texels a side",
                self.limits().max_texture_dimension_2d
            ),
        };
        Err(TensorError::Limit(format!(
            "{op} with the {variant:?} kernel on {}: {why}",
            self.info().name
        )))
    }

    #[allow(clippy::too_many_arguments)]
    fn implicit_conv(
        &self,
        op: &'static str,
        variant: ConvVariant,
        d: &Direct,
        input: &GpuBuf<f32>,
        weight: &GpuBuf<f32>,
        bias: Option<&GpuBuf<f32>>,
        out: &GpuBuf<f32>,
    ) -> Result<()> {
        match variant {
            ConvVariant::Direct => self.direct_conv(op, d, input, weight, bias, out),
            ConvVariant::Texture => self.texture_conv(op, d, input, weight, bias, out),
        }
    }

    /// Records `out = direct(input, weight) (+ bias) (ReLU)` (see [`Direct`]) with
    /// `shaders/conv2d_texture.wgsl`: the weights into one texture, then per piece of the batch that fits a
    /// texture, the padded input into another and the convolution.
    fn texture_conv(
        &self,
        op: &'static str,
        d: &Direct,
        input: &GpuBuf<f32>,
        weight: &GpuBuf<f32>,
        bias: Option<&GpuBuf<f32>>,
        out: &GpuBuf<f32>,
    ) -> Result<()> {
        let g = TextureGeometry::of(d);
        let weights = self.scratch_texture("conv2d weights", g.weights_w, g.weights_h)?;
        self.dispatch(Dispatch {
            kernel: &CONV2D_TEXTURE_LAYOUT,
            entry: "weights",
            constants: &[],
            params: bytemuck::bytes_of(&TextureLayoutParams::new(d, &g, 0)),
            buffers: &[weight.binding(), Binding::Texture(&weights)],
            workgroups: [
                g.weights_w.div_ceil(8) as u32,
                g.weights_h.div_ceil(8) as u32,
                1,
            ],
        })?;
        let max_rows = self.limits().max_texture_dimension_2d as usize;
        let per_image = [d.in_image(), d.out_image()];
        let per_piece = images_per_piece_at_most::<f32>(
            self,
            op,
            d.images,
            &per_image,
            max_rows / g.image_h,
            "one binding or texture",
        )?;
        for first in (0..d.images).step_by(per_piece) {
            let n = per_piece.min(d.images - first);
            let x = self.slice(input, first * d.in_image(), n * d.in_image())?;
            let y = self.slice(out, first * d.out_image(), n * d.out_image())?;
            let padded = self.texture_input("conv2d input", d, &g, n, &x)?;
            let pixels = n * d.out_h * d.out_w;
            let invocations = pixels.div_ceil(TEXTURE_PIXELS) * g.blocks_n;
            let params = TextureParams {
                quads: g.quads as u32,
                in_h: g.image_h as u32,
                in_w: g.image_w as u32,
                out_h: d.out_h as u32,
                out_w: d.out_w as u32,
                kernel_h: d.kernel_h as u32,
                kernel_w: d.kernel_w as u32,
                stride: d.stride as u32,
                out_channels: d.out_channels as u32,
                blocks_n: g.blocks_n as u32,
                pixels: pixels as u32,
                invocations: invocations as u32,
                flags: if bias.is_some() { FLAG_BIAS } else { 0 }
                    | if d.relu { FLAG_RELU } else { 0 },
                _pad: [0; 3],
            };
            // Without a bias, the input stands in for the unused binding (the flag keeps it unread).
            let b = bias.unwrap_or(&x);
            self.dispatch(Dispatch {
                kernel: &CONV2D_TEXTURE,
                entry: "main",
                constants: &[],
                params: bytemuck::bytes_of(&params),
                buffers: &[
                    Binding::Texture(&padded),
                    Binding::Texture(&weights),
                    b.binding(),
                    y.binding(),
                ],
                workgroups: self.grid_1d((invocations as u64).div_ceil(WG))?,
            })?;
        }
        Ok(())
    }

    /// Records the copy of `images` images of `x` (a piece of [`Direct`]'s input) into the padded input
    /// texture of `role`.
    fn texture_input(
        &self,
        role: &'static str,
        d: &Direct,
        g: &TextureGeometry,
        images: usize,
        x: &GpuBuf<f32>,
    ) -> Result<wgpu::TextureView> {
        let height = images * g.image_h;
        let padded = self.scratch_texture(role, g.image_w * g.quads, height)?;
        self.dispatch(Dispatch {
            kernel: &CONV2D_TEXTURE_LAYOUT,
            entry: "input",
            constants: &[("DILATION", d.dilation as f64)],
            params: bytemuck::bytes_of(&TextureLayoutParams::new(d, g, images)),
            buffers: &[x.binding(), Binding::Texture(&padded)],
            workgroups: [g.image_w.div_ceil(8) as u32, height.div_ceil(8) as u32, 1],
        })?;
        Ok(padded)
    }

    /// Records the copy of `images` images of `dy` (the gradient of the forward pass `d`'s output) into a
    /// texture, unpadded: the input copy of a 1×1 convolution whose input is `dy`.
    fn texture_output_gradient(
        &self,
        d: &Direct,
        images: usize,
        dy: &GpuBuf<f32>,
    ) -> Result<wgpu::TextureView> {
        let as_input = Direct {
            images,
            in_channels: d.out_channels,
            in_h: d.out_h,
            in_w: d.out_w,
            kernel_h: 1,
            kernel_w: 1,
            stride: 1,
            pad_y: 0,
            pad_x: 0,
            dilation: 1,
            ..*d
        };
        let g = TextureGeometry::of(&as_input);
        self.texture_input("conv2d output gradient", &as_input, &g, images, dy)
    }
}

impl ConvOps for Gpu {
    fn conv2d(
        &self,
        spec: &Conv2d,
        input: &GpuBuf<f32>,
        weight: &GpuBuf<f32>,
        bias: Option<&GpuBuf<f32>>,
        out: &GpuBuf<f32>,
    ) -> Result<()> {
        let variant = ConvVariant::pick(self, spec, spec.in_channels);
        self.conv2d_with(variant, spec, input, weight, bias, out)
    }

    fn conv2d_backward_input(
        &self,
        spec: &Conv2d,
        grad_out: &GpuBuf<f32>,
        weight: &GpuBuf<f32>,
        grad_in: &GpuBuf<f32>,
    ) -> Result<()> {
        // The transposed convolution's input is the output gradient.
        let variant = ConvVariant::pick(self, spec, spec.out_channels);
        self.conv2d_backward_input_with(variant, spec, grad_out, weight, grad_in)
    }

    fn conv2d_backward_weight(
        &self,
        spec: &Conv2d,
        input: &GpuBuf<f32>,
        grad_out: &GpuBuf<f32>,
        grad_weight: &GpuBuf<f32>,
        grad_bias: Option<&GpuBuf<f32>>,
    ) -> Result<()> {
        let variant = ConvVariant::pick(self, spec, spec.in_channels);
        self.conv2d_backward_weight_with(variant, spec, input, grad_out, grad_weight, grad_bias)
    }
}

/// Uniform parameters of `shaders/conv2d_texture_backward_weight.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct TextureWeightGradParams {
    in_channels: u32,
    out_channels: u32,
    in_quads: u32,
    out_quads: u32,
    in_h: u32,
    out_h: u32,
    out_w: u32,
    kernel_h: u32,
    kernel_w: u32,
    stride: u32,
    c_blocks: u32,
    images: u32,
    per_slice: u32,
    len: u32,
    _pad: [u32; 2],
}

#[cfg(test)]
pub(crate) fn texture_weight_grad_uniform() -> crate::gpu::uniform::UniformLayout {
    crate::gpu::uniform::uniform_layout!(TextureWeightGradParams for ["conv2d_texture_backward_weight"] { in_channels, out_channels, in_quads, out_quads, in_h, out_h, out_w, kernel_h, kernel_w, stride, c_blocks, images, per_slice, len })
}

impl Gpu {
    /// Runs the weight and bias gradients with a chosen kernel (tests and benchmarks compare them;
    /// [`ConvOps::conv2d_backward_weight`] picks). Both sum in the same fixed order of slices, each slice's
    /// pixels in order, so each is bit-identical run to run.
    pub fn conv2d_backward_weight_with(
        &self,
        variant: ConvVariant,
        spec: &Conv2d,
        input: &GpuBuf<f32>,
        grad_out: &GpuBuf<f32>,
        grad_weight: &GpuBuf<f32>,
        grad_bias: Option<&GpuBuf<f32>>,
    ) -> Result<()> {
        spec.check_backward_weight(
            input.len(),
            grad_out.len(),
            grad_weight.len(),
            grad_bias.map(GpuBuf::len),
        )?;
        self.check_variant("conv2d_backward_weight", variant, spec)?;
        if spec.batch == 0 {
            // An empty sum.
            self.fill(grad_weight, 0.0)?;
            return grad_bias.map_or(Ok(()), |db| self.fill(db, 0.0));
        }
        let k = spec.patch_len();
        let len = spec.out_channels * k + spec.out_channels;
        // The texture kernel's input and output-gradient textures, as for the forward pass.
        let d = Direct::forward(spec);
        let g = TextureGeometry::of(&d);
        let out_quads = spec.out_channels.div_ceil(4);
        let c_blocks = g.quads.div_ceil(4);
        let taps = spec.kernel_h * spec.kernel_w;
        let tiles = match variant {
            ConvVariant::Direct => k.div_ceil(WGRAD_TILE) * spec.out_channels.div_ceil(WGRAD_TILE),
            ConvVariant::Texture => taps * c_blocks * spec.out_channels.div_ceil(16),
        };
        // The texture kernel's pieces must also fit its textures' rows.
        let max_rows = match variant {
            ConvVariant::Direct => usize::MAX,
            ConvVariant::Texture => {
                self.limits().max_texture_dimension_2d as usize / g.image_h.max(d.out_h)
            }
        };
        let per_piece = images_per_piece_at_most::<f32>(
            self,
            "conv2d_backward_weight",
            spec.batch,
            &[spec.in_image(), spec.out_image()],
            max_rows,
            "one binding or texture",
        )?;
        // Slices of the batch: enough invocations to fill the device, fixed by the shape so that the sum's
        // order is the same on every run.
        let slices = WGRAD_INVOCATIONS.div_ceil(tiles).clamp(1, per_piece);
        let per_slice = per_piece.div_ceil(slices);
        let slices = per_piece.div_ceil(per_slice);
        if slices * len > self.max_binding_elements::<f32>() {
            return Err(TensorError::Limit(format!(
                "conv2d_backward_weight: {slices} partial gradients of {len} floats exceed one binding"
            )));
        }
        let partials = self.new_buf::<f32>(slices * len)?;
        // Without a bias gradient, a scratch word stands in for its binding (two writable bindings must not alias).
        let scratch;
        let db = match grad_bias {
            Some(db) => db,
            None => {
                scratch = self.new_buf::<f32>(1)?;
                &scratch
            }
        };
        for first in (0..spec.batch).step_by(per_piece) {
            let n = per_piece.min(spec.batch - first);
            let x = self.slice(input, first * spec.in_image(), n * spec.in_image())?;
            let dy = self.slice(grad_out, first * spec.out_image(), n * spec.out_image())?;
            let piece_slices = n.div_ceil(per_slice);
            let params = WeightGradParams {
                batch: n as u32,
                in_channels: spec.in_channels as u32,
                out_channels: spec.out_channels as u32,
                height: spec.height as u32,
                width: spec.width as u32,
                out_h: spec.out_height() as u32,
                out_w: spec.out_width() as u32,
                kernel_h: spec.kernel_h as u32,
                kernel_w: spec.kernel_w as u32,
                stride: spec.stride as u32,
                padding: spec.padding as u32,
                flags: (u32::from(grad_bias.is_some()) * FLAG_BIAS)
                    | if first > 0 { FLAG_ACCUMULATE } else { 0 },
                per_slice: per_slice as u32,
                slices: piece_slices as u32,
                len: len as u32,
                _pad: 0,
            };
            let groups = [
                k.div_ceil(WGRAD_TILE).div_ceil(WGRAD_WG) as u32,
                spec.out_channels.div_ceil(WGRAD_TILE) as u32,
                piece_slices as u32,
            ];
            if groups[0] > self.limits().max_compute_workgroups_per_dimension {
                return Err(TensorError::Limit(format!(
                    "conv2d_backward_weight: k = {k} is too large a grid"
                )));
            }
            match variant {
                ConvVariant::Direct => self.dispatch(Dispatch {
                    kernel: &CONV2D_BACKWARD_WEIGHT,
                    entry: "partial",
                    constants: &[],
                    params: bytemuck::bytes_of(&params),
                    buffers: &[x.binding(), dy.binding(), partials.binding()],
                    workgroups: groups,
                })?,
                ConvVariant::Texture => {
                    let padded = self.texture_input("conv2d input", &d, &g, n, &x)?;
                    let gradient = self.texture_output_gradient(&d, n, &dy)?;
                    let texture_params = TextureWeightGradParams {
                        in_channels: spec.in_channels as u32,
                        out_channels: spec.out_channels as u32,
                        in_quads: g.quads as u32,
                        out_quads: out_quads as u32,
                        in_h: g.image_h as u32,
                        out_h: d.out_h as u32,
                        out_w: d.out_w as u32,
                        kernel_h: spec.kernel_h as u32,
                        kernel_w: spec.kernel_w as u32,
                        stride: spec.stride as u32,
                        c_blocks: c_blocks as u32,
                        images: n as u32,
                        per_slice: per_slice as u32,
                        len: len as u32,
                        _pad: [0; 2],
                    };
                    self.dispatch(Dispatch {
                        kernel: &CONV2D_TEXTURE_BACKWARD_WEIGHT,
                        entry: "partial",
                        constants: &[],
                        params: bytemuck::bytes_of(&texture_params),
                        buffers: &[
                            Binding::Texture(&padded),
                            Binding::Texture(&gradient),
                            partials.binding(),
                        ],
                        workgroups: [
                            (taps * c_blocks).div_ceil(8) as u32,
                            spec.out_channels.div_ceil(16) as u32,
                            piece_slices as u32,
                        ],
                    })?
                }
            }
            self.dispatch(Dispatch {
                kernel: &CONV2D_BACKWARD_WEIGHT,
                entry: "reduce",
                constants: &[],
                params: bytemuck::bytes_of(&params),
                buffers: &[partials.binding(), grad_weight.binding(), db.binding()],
                workgroups: self.grid_1d((len as u64).div_ceil(WG))?,
            })?;
        }
        Ok(())
    }
}

/// Compiles every convolution pipeline that training uses: the forward pass and the input gradient with
/// the kernels [`ConvVariant::pick`] chooses here (a 1-channel and a 4-channel input), the transposed
/// convolution's stride 1 and 2 (the direct kernel takes the stride as a pipeline constant), both weight
/// layouts, and the weight gradient's two passes.
pub(crate) fn warm_up(gpu: &Gpu) -> Result<()> {
    for (channels, stride) in [(1, 1), (1, 2), (4, 1)] {
        let spec = Conv2d::new(1, channels, channels, (3, 3), (1, 1)).stride(stride);
        let (x, w, b) = (
            gpu.zeros::<f32>(spec.input_len())?,
            gpu.zeros::<f32>(spec.weight_len())?,
            gpu.zeros::<f32>(channels)?,
        );
        let y = gpu.zeros::<f32>(spec.output_len())?;
        gpu.conv2d(&spec, &x, &w, Some(&b), &y)?;
        gpu.conv2d_backward_input(&spec, &y, &w, &x)?;
        gpu.conv2d_backward_weight(&spec, &x, &y, &w, Some(&b))?;
    }
    Ok(())
}

crate::family::family!(
    "conv",
    kernels: [
        CONV2D => "conv2d",
        CONV2D_LAYOUT => "conv2d_layout",
        CONV2D_TEXTURE => "conv2d_texture",
        CONV2D_TEXTURE_LAYOUT => "conv2d_texture_layout",
        CONV2D_TEXTURE_BACKWARD_WEIGHT => "conv2d_texture_backward_weight",
        CONV2D_BACKWARD_WEIGHT => "conv2d_backward_weight",
    ],
    warm_up: warm_up,
    check: crate::conformance::conv::check,
    uniforms: [direct_uniform, weight_grad_uniform, layout_uniform, texture_uniform, texture_layout_uniform, texture_weight_grad_uniform],
);
