//! The GPU weight and bias gradients: `shaders/conv2d_backward_weight.wgsl` from the buffers or
//! `shaders/conv2d_texture_backward_weight.wgsl` from textures, over fixed slices of the batch, then the
//! slices summed in order.

use super::{
    CONV2D_BACKWARD_WEIGHT, CONV2D_TEXTURE_BACKWARD_WEIGHT, Conv2d, ConvVariant, Direct,
    FLAG_ACCUMULATE, FLAG_BIAS, WG,
};
use super::texture::TextureGeometry;
use crate::gpu::{Binding, Dispatch, Gpu, GpuBuf};
use crate::{Backend, ElementwiseOps, Result, TensorError};

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

/// Output channels and values of k per invocation of the weight-gradient kernel, and its workgroup size.
const WGRAD_TILE: usize = 16;
const WGRAD_WG: usize = 8;
/// The weight gradient cuts the batch into slices until it has about this many invocations.
const WGRAD_INVOCATIONS: usize = 128;

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
        let per_piece = self.images_per_piece_at_most::<f32>(
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
