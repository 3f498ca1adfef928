//! Pooling, NCHW: max pooling (forward saving the argmax, backward routing to it) and average pooling (forward
//! and backward), over the same window geometry, [`Pool2d`].
//!
//! Buffers carry no shape: flattening the pooled `[batch, c, h, w]` for a dense layer is the same buffer, in
//! NCHW order (PyTorch's).
//!
//! ```
//! use digits_tensor::{Backend, Cpu, Pool2d, PoolOps};
//!
//! let cpu = Cpu::new();
//! let spec = Pool2d::new(1, 1, (2, 4), 2); // one 2x4 image, 2x2 windows
//! let x = cpu.upload(&[1.0f32, 5.0, 2.0, 0.0, 3.0, 4.0, 8.0, 6.0])?;
//! let (y, arg) = (cpu.zeros::<f32>(2)?, cpu.zeros::<u32>(2)?);
//! cpu.max_pool2d(&spec, &x, &y, &arg)?;
//! assert_eq!(cpu.download(&y)?, vec![5.0, 8.0]);
//! assert_eq!(cpu.download(&arg)?, vec![1, 6]);
//! # Ok::<(), digits_tensor::TensorError>(())
//! ```

use rayon::prelude::*;

use crate::cpu::{Cpu, CpuBuf};
use crate::error::{check_len, shape_error};
use crate::gpu::{Dispatch, Gpu, GpuBuf};
use crate::{Backend, Result, TensorError};

/// Pooling of `[batch, channels, height, width]` with a square window, giving
/// `[batch, channels, (height + 2·padding - window) / stride + 1, …]` (Keras "valid" without padding; with
/// padding, PyTorch's: for the maximum the border is -∞, never chosen; for the average it is zeros that count,
/// PyTorch's `count_include_pad=True`, so every window divides by `window²`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pool2d {
    /// Images in the batch.
    pub batch: usize,
    /// Channels.
    pub channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Window side.
    pub window: usize,
    /// Stride in both directions.
    pub stride: usize,
    /// Rows and columns of -∞ around the input (at most half the window).
    pub padding: usize,
}

impl Pool2d {
    /// Pooling of `batch` images of `channels` planes of `(height, width)` by `window`×`window` windows with
    /// stride `window` (Keras's `MaxPooling2D(window)`).
    pub fn new(
        batch: usize,
        channels: usize,
        (height, width): (usize, usize),
        window: usize,
    ) -> Self {
        Pool2d {
            batch,
            channels,
            height,
            width,
            window,
            stride: window,
            padding: 0,
        }
    }

    /// Sets the padding (`(window - 1) / 2` with stride 1 keeps the size: an Inception pooling branch).
    pub fn padding(mut self, padding: usize) -> Self {
        self.padding = padding;
        self
    }

    /// Sets the stride (smaller than the window: overlapping windows).
    pub fn stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }

    /// Output height.
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.padding - self.window) / self.stride + 1
    }
    /// Output width.
    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.padding - self.window) / self.stride + 1
    }
    /// Elements of the input.
    pub fn input_len(&self) -> usize {
        self.batch * self.channels * self.height * self.width
    }
    /// Elements of the output.
    pub fn output_len(&self) -> usize {
        self.batch * self.channels * self.out_height() * self.out_width()
    }

    fn validate(&self, op: &'static str) -> Result<()> {
        if self.window == 0 || self.stride == 0 {
            return Err(shape_error(
                op,
                format!(
                    "window {} and stride {} must be positive",
                    self.window, self.stride
                ),
            ));
        }
        if 2 * self.padding > self.window {
            return Err(shape_error(
                op,
                format!(
                    "padding {} is more than half the {}x{1} window",
                    self.padding, self.window
                ),
            ));
        }
        let (h, w) = (
            self.height + 2 * self.padding,
            self.width + 2 * self.padding,
        );
        if self.window > h || self.window > w {
            return Err(shape_error(
                op,
                format!(
                    "a {0}x{0} window does not fit a {1}x{2} input with padding {3}",
                    self.window, self.height, self.width, self.padding
                ),
            ));
        }
        if self.input_len() > u32::MAX as usize {
            return Err(TensorError::Limit(format!(
                "{op}: {} elements exceed the u32 argmax indices",
                self.input_len()
            )));
        }
        Ok(())
    }

    fn check(&self, op: &'static str, input: usize, output: usize, argmax: usize) -> Result<()> {
        self.check_avg(op, input, output)?;
        check_len(op, "argmax", argmax, self.output_len())
    }

    /// The checks of average pooling, which keeps no argmax.
    fn check_avg(&self, op: &'static str, input: usize, output: usize) -> Result<()> {
        self.validate(op)?;
        check_len(op, "input", input, self.input_len())?;
        check_len(op, "output", output, self.output_len())
    }

    fn in_plane(&self) -> usize {
        self.height * self.width
    }

    fn out_plane(&self) -> usize {
        self.out_height() * self.out_width()
    }
}

/// Pooling on a backend.
pub trait PoolOps: Backend {
    /// `out` = the window maxima; `argmax` = for each output, the index within the input of its maximum
    /// (the first on ties).
    fn max_pool2d(
        &self,
        spec: &Pool2d,
        input: &Self::Buf<f32>,
        out: &Self::Buf<f32>,
        argmax: &Self::Buf<u32>,
    ) -> Result<()>;
    /// Routes each output gradient to its argmax; overwrites `grad_in` (zero elsewhere).
    fn max_pool2d_backward(
        &self,
        spec: &Pool2d,
        grad_out: &Self::Buf<f32>,
        argmax: &Self::Buf<u32>,
        grad_in: &Self::Buf<f32>,
    ) -> Result<()>;
    /// `out` = the window means: the sum of the taps inside the input, in row-major order, times
    /// `1 / window²`.
    fn avg_pool2d(&self, spec: &Pool2d, input: &Self::Buf<f32>, out: &Self::Buf<f32>)
    -> Result<()>;
    /// `grad_in[i]` = the sum of `grad_out` over the outputs whose window covers `i` (in output order), times
    /// `1 / window²`; overwrites `grad_in`.
    fn avg_pool2d_backward(
        &self,
        spec: &Pool2d,
        grad_out: &Self::Buf<f32>,
        grad_in: &Self::Buf<f32>,
    ) -> Result<()>;
}

/// The outputs along one axis whose window covers padded coordinate `i`: `o·stride <= i < o·stride + window`.
fn covering(spec: &Pool2d, i: usize, outputs: usize) -> std::ops::Range<usize> {
    let first = (i + 1).saturating_sub(spec.window).div_ceil(spec.stride);
    let last = (i / spec.stride + 1).min(outputs);
    first..last.max(first)
}

/// Takes candidate `v` at index `i` if it is strictly greater than the best so far: the first maximum wins
/// ties, as on the GPU. Selects, not branches: which value wins is a coin toss the branch predictor would lose.
#[inline(always)]
fn keep_max(best: &mut usize, best_value: &mut f32, i: usize, v: f32) {
    let better = v > *best_value;
    *best = if better { i } else { *best };
    *best_value = if better { v } else { *best_value };
}

/// The in-plane indices of the taps of output `(oy, ox)`'s window that lie inside the input, in row-major
/// order (with padding, the taps outside are skipped: -∞ for the maximum, zeros for the average).
fn window_taps(spec: &Pool2d, oy: usize, ox: usize) -> impl Iterator<Item = usize> + '_ {
    let inside = move |o: usize, k: usize, len: usize| {
        (o * spec.stride + k)
            .checked_sub(spec.padding)
            .filter(|&i| i < len)
    };
    (0..spec.window)
        .filter_map(move |wy| inside(oy, wy, spec.height))
        .flat_map(move |iy| {
            (0..spec.window)
                .filter_map(move |wx| inside(ox, wx, spec.width))
                .map(move |ix| iy * spec.width + ix)
        })
}

/// One plane of a padded pooling: the window's taps inside the input in row-major order, the first maximum
/// winning ties, as on the GPU.
fn padded_plane(spec: &Pool2d, x: &[f32], base: usize, y: &mut [f32], arg: &mut [u32]) {
    let ow = spec.out_width();
    for oy in 0..spec.out_height() {
        for ox in 0..ow {
            let (mut best, mut best_value) = (usize::MAX, f32::NEG_INFINITY);
            for i in window_taps(spec, oy, ox).map(|i| base + i) {
                if best == usize::MAX {
                    (best, best_value) = (i, x[i]);
                } else {
                    keep_max(&mut best, &mut best_value, i, x[i]);
                }
            }
            y[oy * ow + ox] = best_value;
            arg[oy * ow + ox] = best as u32;
        }
    }
}

/// Planes per rayon task: a plane of the MNIST network is a few hundred elements.
const PLANES_PER_TASK: usize = 16;

impl PoolOps for Cpu {
    fn max_pool2d(
        &self,
        spec: &Pool2d,
        input: &CpuBuf<f32>,
        out: &CpuBuf<f32>,
        argmax: &CpuBuf<u32>,
    ) -> Result<()> {
        spec.check("max_pool2d", input.len(), out.len(), argmax.len())?;
        let x = input.read();
        let x: &[f32] = &x;
        let (mut y, mut arg) = (out.write(), argmax.write());
        let (in_plane, out_plane) = (spec.in_plane(), spec.out_plane());
        let (oh, ow, w) = (spec.out_height(), spec.out_width(), spec.width);
        let plane = |(p, (y, arg)): (usize, (&mut [f32], &mut [u32]))| {
            let base = p * in_plane;
            if spec.padding > 0 {
                padded_plane(spec, x, base, y, arg);
                return;
            }
            if spec.window == 2 && spec.stride == 2 {
                // The common case with its window unrolled: the same candidates in the same order as the
                // general loop below, 3× faster (the loops over the window do not vectorise or unroll).
                for oy in 0..oh {
                    let top = base + 2 * oy * w;
                    let (r0, r1) = (&x[top..top + 2 * ow], &x[top + w..top + w + 2 * ow]);
                    let (y, arg) = (&mut y[oy * ow..][..ow], &mut arg[oy * ow..][..ow]);
                    for (ox, (y, arg)) in y.iter_mut().zip(arg.iter_mut()).enumerate() {
                        let c = 2 * ox;
                        let (mut best, mut best_value) = (top + c, r0[c]);
                        for (i, v) in [
                            (top + c + 1, r0[c + 1]),
                            (top + w + c, r1[c]),
                            (top + w + c + 1, r1[c + 1]),
                        ] {
                            keep_max(&mut best, &mut best_value, i, v);
                        }
                        *y = best_value;
                        *arg = best as u32;
                    }
                }
                return;
            }
            for oy in 0..oh {
                for ox in 0..ow {
                    let corner = base + oy * spec.stride * w + ox * spec.stride;
                    let (mut best, mut best_value) = (corner, x[corner]);
                    for wy in 0..spec.window {
                        let row = corner + wy * w;
                        for (i, &v) in (row..).zip(&x[row..row + spec.window]) {
                            keep_max(&mut best, &mut best_value, i, v);
                        }
                    }
                    y[oy * ow + ox] = best_value;
                    arg[oy * ow + ox] = best as u32;
                }
            }
        };
        y.par_chunks_mut(out_plane)
            .zip(arg.par_chunks_mut(out_plane))
            .enumerate()
            .with_min_len(PLANES_PER_TASK)
            .for_each(plane);
        Ok(())
    }

    fn max_pool2d_backward(
        &self,
        spec: &Pool2d,
        grad_out: &CpuBuf<f32>,
        argmax: &CpuBuf<u32>,
        grad_in: &CpuBuf<f32>,
    ) -> Result<()> {
        spec.check(
            "max_pool2d_backward",
            grad_in.len(),
            grad_out.len(),
            argmax.len(),
        )?;
        let (dy, arg) = (grad_out.read(), argmax.read());
        let (dy, arg): (&[f32], &[u32]) = (&dy, &arg);
        let mut dx = grad_in.write();
        let (in_plane, out_plane) = (spec.in_plane(), spec.out_plane());
        // Scatter in output order: each input receives the gradients that chose it in the same order as the
        // GPU's gather sums them (oy, then ox, ascending), so the two agree bit for bit, overlapping windows
        // included. An index outside its plane (not from `max_pool2d`) is ignored, as the gather does.
        let plane = |(p, dx): (usize, &mut [f32])| {
            dx.fill(0.0);
            let base = p * in_plane;
            let outputs = p * out_plane..(p + 1) * out_plane;
            for (&g, &i) in dy[outputs.clone()].iter().zip(&arg[outputs]) {
                if let Some(d) = (i as usize).checked_sub(base).and_then(|i| dx.get_mut(i)) {
                    *d += g;
                }
            }
        };
        dx.par_chunks_mut(in_plane)
            .enumerate()
            .with_min_len(PLANES_PER_TASK)
            .for_each(plane);
        Ok(())
    }

    fn avg_pool2d(&self, spec: &Pool2d, input: &CpuBuf<f32>, out: &CpuBuf<f32>) -> Result<()> {
        spec.check_avg("avg_pool2d", input.len(), out.len())?;
        let x = input.read();
        let x: &[f32] = &x;
        let mut y = out.write();
        let (in_plane, oh, ow) = (spec.in_plane(), spec.out_height(), spec.out_width());
        let scale = 1.0 / (spec.window * spec.window) as f32;
        let plane = |(p, y): (usize, &mut [f32])| {
            let x = &x[p * in_plane..][..in_plane];
            for oy in 0..oh {
                for ox in 0..ow {
                    // The taps inside the input, row-major, as the GPU adds them.
                    let sum: f32 = window_taps(spec, oy, ox).map(|i| x[i]).sum();
                    y[oy * ow + ox] = sum * scale;
                }
            }
        };
        y.par_chunks_mut(spec.out_plane())
            .enumerate()
            .with_min_len(PLANES_PER_TASK)
            .for_each(plane);
        Ok(())
    }

    fn avg_pool2d_backward(
        &self,
        spec: &Pool2d,
        grad_out: &CpuBuf<f32>,
        grad_in: &CpuBuf<f32>,
    ) -> Result<()> {
        spec.check_avg("avg_pool2d_backward", grad_in.len(), grad_out.len())?;
        let dy = grad_out.read();
        let dy: &[f32] = &dy;
        let mut dx = grad_in.write();
        let (w, oh, ow) = (spec.width, spec.out_height(), spec.out_width());
        let scale = 1.0 / (spec.window * spec.window) as f32;
        // Gather form, the GPU's: each input sums the outputs covering it, oy then ox ascending.
        let plane = |(p, dx): (usize, &mut [f32])| {
            let dy = &dy[p * oh * ow..][..oh * ow];
            for (i, dx) in dx.iter_mut().enumerate() {
                let (iy, ix) = (i / w + spec.padding, i % w + spec.padding);
                let mut sum = 0.0f32;
                for oy in covering(spec, iy, oh) {
                    for ox in covering(spec, ix, ow) {
                        sum += dy[oy * ow + ox];
                    }
                }
                *dx = sum * scale;
            }
        };
        dx.par_chunks_mut(spec.in_plane())
            .enumerate()
            .with_min_len(PLANES_PER_TASK)
            .for_each(plane);
        Ok(())
    }
}

/// Uniform parameters of `shaders/maxpool.wgsl` and `shaders/avg_pool.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PoolParams {
    planes: u32,
    height: u32,
    width: u32,
    out_h: u32,
    out_w: u32,
    window: u32,
    stride: u32,
    /// Index of this piece's first input element in the whole input (argmax values are whole-input indices).
    base: u32,
    padding: u32,
    _pad: [u32; 3],
}

#[cfg(test)]
pub(crate) fn pool_uniform() -> crate::gpu::uniform::UniformLayout {
    crate::gpu::uniform::uniform_layout!(PoolParams for ["maxpool", "avg_pool"] { planes, height, width, out_h, out_w, window, stride, base, padding })
}

const WG: u64 = 64;

impl Gpu {
    fn pool_pieces(
        &self,
        op: &'static str,
        spec: &Pool2d,
        mut f: impl FnMut(usize, usize, PoolParams) -> Result<()>,
    ) -> Result<()> {
        let (in_image, out_image) = (
            spec.channels * spec.in_plane(),
            spec.channels * spec.out_plane(),
        );
        let per_piece = self.images_per_piece::<f32>(op, spec.batch, &[in_image, out_image])?;
        for first in (0..spec.batch).step_by(per_piece) {
            let n = per_piece.min(spec.batch - first);
            let params = PoolParams {
                planes: (n * spec.channels) as u32,
                height: spec.height as u32,
                width: spec.width as u32,
                out_h: spec.out_height() as u32,
                out_w: spec.out_width() as u32,
                window: spec.window as u32,
                stride: spec.stride as u32,
                base: (first * in_image) as u32,
                padding: spec.padding as u32,
                _pad: [0; 3],
            };
            f(first, n, params)?;
        }
        Ok(())
    }
}

impl PoolOps for Gpu {
    fn max_pool2d(
        &self,
        spec: &Pool2d,
        input: &GpuBuf<f32>,
        out: &GpuBuf<f32>,
        argmax: &GpuBuf<u32>,
    ) -> Result<()> {
        spec.check("max_pool2d", input.len(), out.len(), argmax.len())?;
        let (in_image, out_image) = (
            spec.channels * spec.in_plane(),
            spec.channels * spec.out_plane(),
        );
        self.pool_pieces("max_pool2d", spec, |first, n, params| {
            let x = self.slice(input, first * in_image, n * in_image)?;
            let y = self.slice(out, first * out_image, n * out_image)?;
            let arg = self.slice(argmax, first * out_image, n * out_image)?;
            self.dispatch(Dispatch {
                kernel: &MAXPOOL,
                entry: "forward",
                constants: &[
                    ("WINDOW", spec.window as f64),
                    ("STRIDE", spec.stride as f64),
                    ("PADDING", spec.padding as f64),
                ],
                params: bytemuck::bytes_of(&params),
                buffers: &[x.binding(), y.binding(), arg.binding()],
                workgroups: self.grid_1d(((n * out_image) as u64).div_ceil(WG))?,
            })
        })
    }

    fn max_pool2d_backward(
        &self,
        spec: &Pool2d,
        grad_out: &GpuBuf<f32>,
        argmax: &GpuBuf<u32>,
        grad_in: &GpuBuf<f32>,
    ) -> Result<()> {
        spec.check(
            "max_pool2d_backward",
            grad_in.len(),
            grad_out.len(),
            argmax.len(),
        )?;
        let (in_image, out_image) = (
            spec.channels * spec.in_plane(),
            spec.channels * spec.out_plane(),
        );
        self.pool_pieces("max_pool2d_backward", spec, |first, n, params| {
            let dy = self.slice(grad_out, first * out_image, n * out_image)?;
            let arg = self.slice(argmax, first * out_image, n * out_image)?;
            let dx = self.slice(grad_in, first * in_image, n * in_image)?;
            self.dispatch(Dispatch {
                kernel: &MAXPOOL,
                entry: "backward",
                constants: &[
                    ("WINDOW", spec.window as f64),
                    ("STRIDE", spec.stride as f64),
                    ("PADDING", spec.padding as f64),
                ],
                params: bytemuck::bytes_of(&params),
                buffers: &[dy.binding(), arg.binding(), dx.binding()],
                workgroups: self.grid_1d(((n * in_image) as u64).div_ceil(WG))?,
            })
        })
    }

    fn avg_pool2d(&self, spec: &Pool2d, input: &GpuBuf<f32>, out: &GpuBuf<f32>) -> Result<()> {
        spec.check_avg("avg_pool2d", input.len(), out.len())?;
        self.avg_pool_dispatch("avg_pool2d", spec, input, out, false)
    }

    fn avg_pool2d_backward(
        &self,
        spec: &Pool2d,
        grad_out: &GpuBuf<f32>,
        grad_in: &GpuBuf<f32>,
    ) -> Result<()> {
        spec.check_avg("avg_pool2d_backward", grad_in.len(), grad_out.len())?;
        self.avg_pool_dispatch("avg_pool2d_backward", spec, grad_out, grad_in, true)
    }
}

impl Gpu {
    fn avg_pool_dispatch(
        &self,
        op: &'static str,
        spec: &Pool2d,
        from: &GpuBuf<f32>,
        to: &GpuBuf<f32>,
        backward: bool,
    ) -> Result<()> {
        let (in_image, out_image) = (
            spec.channels * spec.in_plane(),
            spec.channels * spec.out_plane(),
        );
        let (from_image, to_image) = if backward {
            (out_image, in_image)
        } else {
            (in_image, out_image)
        };
        self.pool_pieces(op, spec, |first, n, params| {
            let from = self.slice(from, first * from_image, n * from_image)?;
            let to = self.slice(to, first * to_image, n * to_image)?;
            self.dispatch(Dispatch {
                kernel: &AVG_POOL,
                entry: if backward { "backward" } else { "forward" },
                constants: &[
                    ("WINDOW", spec.window as f64),
                    ("STRIDE", spec.stride as f64),
                    ("PADDING", spec.padding as f64),
                ],
                params: bytemuck::bytes_of(&params),
                buffers: &[from.binding(), to.binding()],
                workgroups: self.grid_1d(((n * to_image) as u64).div_ceil(WG))?,
            })
        })
    }
}

/// Compiles the pooling pipelines of the common window, 2×2 with stride 2 (the window is a pipeline constant).
pub(crate) fn warm_up(gpu: &Gpu) -> Result<()> {
    let spec = Pool2d::new(1, 1, (2, 2), 2);
    let (x, y, arg) = (
        gpu.zeros::<f32>(4)?,
        gpu.zeros::<f32>(1)?,
        gpu.zeros::<u32>(1)?,
    );
    gpu.max_pool2d(&spec, &x, &y, &arg)?;
    gpu.max_pool2d_backward(&spec, &y, &arg, &x)?;
    gpu.avg_pool2d(&spec, &x, &y)?;
    gpu.avg_pool2d_backward(&spec, &y, &x)
}

crate::family::family!(
    "pool",
    kernels: [
        MAXPOOL => "maxpool",
        AVG_POOL => "avg_pool",
    ],
    warm_up: warm_up,
    check: crate::conformance::pool::check,
    uniforms: [pool_uniform],
);
