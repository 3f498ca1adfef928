//! The CPU reference: im2col + GEMM per image.

use std::cell::RefCell;

use rayon::prelude::*;

use super::{Conv2d, ConvOps};
use crate::cpu::{Cpu, CpuBuf};
use crate::ops::gemm::sgemm;
use crate::Result;

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
