//! `shaders/conv2d.wgsl`: the forward pass and the input gradient from the input buffer, the weights
//! re-laid out by `shaders/conv2d_layout.wgsl` into 64 KiB uniform windows.

use super::{CONV2D, CONV2D_LAYOUT, Direct, FLAG_ACCUMULATE, FLAG_BIAS, FLAG_RELU, WG};
use crate::{Backend, Result};
use crate::gpu::{Dispatch, Gpu, GpuBuf};

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

/// Output pixels and channels per invocation of `conv2d.wgsl`.
const DIRECT_PIXELS: usize = 16;
pub(super) const DIRECT_CHANNELS: usize = 16;
/// Floats in one uniform window of weights (64 KiB, the binding size every device offers).
pub(super) const WINDOW: usize = 16384;

impl Gpu {
    /// Records `out = direct(input, weight) (+ bias) (ReLU)` (see [`Direct`]) with `shaders/conv2d.wgsl`.
    pub(super) fn direct_conv(
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
            self.images_per_piece::<f32>(op, d.images, &[d.in_image(), d.out_image()])?;
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
