//! `shaders/conv2d_texture.wgsl`: the forward pass and the input gradient from textures holding the padded
//! input and the weights four channels per texel (`shaders/conv2d_texture_layout.wgsl` copies them in).

use super::{
    CONV2D_TEXTURE, CONV2D_TEXTURE_LAYOUT, Direct, FLAG_BIAS, FLAG_RELU, WG,
};
use crate::{Backend, Result};
use crate::gpu::{Binding, Dispatch, Gpu, GpuBuf};

/// The textures of [`super::ConvVariant::Texture`] for one convolution, in texels.
pub(super) struct TextureGeometry {
    /// Input channels / 4, rounded up: the texels of one input pixel.
    pub(super) quads: usize,
    /// One padded image: every window of the output lies inside it.
    pub(super) image_h: usize,
    image_w: usize,
    /// Output channels / 16, rounded up: the channel blocks of one invocation each.
    blocks_n: usize,
    /// The weight texture: a texel per 4 output channels, 4 rows per tap and input channel quad.
    weights_w: usize,
    weights_h: usize,
}

impl TextureGeometry {
    pub(super) fn of(d: &Direct) -> Self {
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
    pub(super) fn fits(&self, max: usize) -> bool {
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
    /// Records `out = direct(input, weight) (+ bias) (ReLU)` (see [`Direct`]) with
    /// `shaders/conv2d_texture.wgsl`: the weights into one texture, then per piece of the batch that fits a
    /// texture, the padded input into another and the convolution.
    pub(super) fn texture_conv(
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
        let per_piece = self.images_per_piece_at_most::<f32>(
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
    pub(super) fn texture_input(
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
    pub(super) fn texture_output_gradient(
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
