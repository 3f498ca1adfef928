//! Data augmentation on the device: gathers a batch of u8 images by index, applies a random affine transform
//! to each (rotation, shift, zoom) with bilinear sampling, and writes normalised f32.
//!
//! Each image's transform comes from the counter-based generator of [`crate::ops::dropout::random_bits`]
//! (counters `4·i .. 4·i + 3` for the image at batch position `i`), so the CPU and the GPU draw the same
//! transforms; their sines and cosines come from the same polynomial ([`sin_cos`]), not from each platform's
//! own, so the two differ only by rounding.
//!
//! ```
//! use digits_tensor::{Augment, AugmentOps, Backend, Cpu};
//!
//! let cpu = Cpu::new();
//! let images = cpu.upload(&[0u8, 255, 0, 0, 255, 0, 0, 255, 0])?; // one 3x3 image: a vertical bar
//! let indices = cpu.upload(&[0u32])?;
//! let out = cpu.zeros::<f32>(9)?;
//! let mut spec = Augment::identity(3, 3, 1);
//! spec.scale = 1.0 / 255.0;
//! cpu.augment(&spec, &images, &indices, &out)?;
//! assert_eq!(cpu.download(&out)?, vec![0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0]);
//! # Ok::<(), digits_tensor::TensorError>(())
//! ```

use rayon::prelude::*;

use crate::cpu::{Cpu, CpuBuf};
use crate::error::{check_len, shape_error};
use crate::gpu::{Dispatch, Gpu, GpuBuf};
use crate::ops::dropout::random_unit;
use crate::ops::elementwise::WG_1D;
use crate::{Backend, Result, TensorError};

/// A random affine transform per image, seeded by a counter-based hash of (seed, stream, image).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augment {
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Rotation drawn uniformly in ±this many degrees.
    pub max_rotation_degrees: f32,
    /// Shift drawn uniformly in ±this fraction of the size, per axis.
    pub max_shift: f32,
    /// Scale drawn uniformly in [1 - max_zoom, 1 + max_zoom].
    pub max_zoom: f32,
    /// The run's seed.
    pub seed: u64,
    /// Distinguishes batches: e.g. the step number.
    pub stream: u64,
    /// First position in the index buffer.
    pub index_offset: usize,
    /// Images to produce.
    pub count: usize,
    /// Output is `pixel · scale + shift`.
    pub scale: f32,
    /// See `scale`.
    pub shift: f32,
}

/// The transform of one image, as the sampler uses it: output pixel `(x, y)` reads the input at
/// `c + R(angle)·((x, y) - c - shift) / zoom`, with `c` the image centre and pixel centres at integers.
/// Positive angles turn the content counter-clockwise as displayed (y down), as Keras does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    /// Cosine of the rotation.
    pub cos: f32,
    /// Sine of the rotation.
    pub sin: f32,
    /// `1 / zoom`.
    pub inv_zoom: f32,
    /// Shift right, in pixels.
    pub shift_x: f32,
    /// Shift down, in pixels.
    pub shift_y: f32,
}

impl Augment {
    /// No transform: gathers `count` images of `(height, width)` unchanged, as raw pixel values (scale 1,
    /// shift 0). Set the maxima, seed, stream and normalisation on the result.
    pub fn identity(height: usize, width: usize, count: usize) -> Self {
        Augment {
            height,
            width,
            max_rotation_degrees: 0.0,
            max_shift: 0.0,
            max_zoom: 0.0,
            seed: 0,
            stream: 0,
            index_offset: 0,
            count,
            scale: 1.0,
            shift: 0.0,
        }
    }

    /// The transform drawn for the image at batch position `image`.
    pub fn transform(&self, image: u32) -> Affine {
        let draw = |j: u32| 2.0 * random_unit(self.seed, self.stream, 4 * image + j) - 1.0;
        let angle = draw(0) * self.max_rotation_degrees * (std::f32::consts::PI / 180.0);
        let (sin, cos) = sin_cos(angle);
        Affine {
            cos,
            sin,
            inv_zoom: 1.0 / (1.0 + draw(3) * self.max_zoom),
            shift_x: draw(1) * self.max_shift * self.width as f32,
            shift_y: draw(2) * self.max_shift * self.height as f32,
        }
    }

    fn check(&self, data: usize, indices: usize, out: usize) -> Result<()> {
        const OP: &str = "augment";
        let image = self.height * self.width;
        if image == 0 {
            return Err(shape_error(OP, "images of 0 pixels"));
        }
        if !(0.0..1.0).contains(&self.max_zoom)
            || !self.max_shift.is_finite()
            || !self.max_rotation_degrees.is_finite()
        {
            return Err(shape_error(
                OP,
                format!(
                    "max_zoom {} must be in [0, 1) and the other maxima finite ({} degrees, shift {})",
                    self.max_zoom, self.max_rotation_degrees, self.max_shift
                ),
            ));
        }
        if data / image * image != data {
            return Err(shape_error(
                OP,
                format!(
                    "data of {data} bytes is not whole {}x{} images",
                    self.height, self.width
                ),
            ));
        }
        if self.index_offset + self.count > indices {
            return Err(shape_error(
                OP,
                format!(
                    "indices {}..{} of an index buffer of {indices}",
                    self.index_offset,
                    self.index_offset + self.count
                ),
            ));
        }
        if 4 * self.count > u32::MAX as usize || data > u32::MAX as usize {
            return Err(TensorError::Limit(format!(
                "{OP}: {} images exceed 32-bit counters",
                self.count
            )));
        }
        check_len(OP, "out", out, self.count * image)
    }
}

/// `(sin a, cos a)` from one polynomial that the GPU kernel evaluates too (`sin_cos` in
/// `shaders/augment.wgsl`): `a` is reduced to `r` in [-π/4, π/4] and a quadrant, then Taylor series to the
/// r⁹ and r⁸ terms give errors under 1e-7. Exact at 0 (sin 0 = 0, cos 0 = 1), so a zero rotation is exact.
pub fn sin_cos(a: f32) -> (f32, f32) {
    let q = (a * std::f32::consts::FRAC_2_PI).round();
    let r = a - q * std::f32::consts::FRAC_PI_2;
    let r2 = r * r;
    let s = r
        * (1.0
            + r2 * (-1.0 / 6.0
                + r2 * (1.0 / 120.0 + r2 * (-1.0 / 5040.0 + r2 * (1.0 / 362_880.0)))));
    let c = 1.0 + r2 * (-0.5 + r2 * (1.0 / 24.0 + r2 * (-1.0 / 720.0 + r2 * (1.0 / 40320.0))));
    match (q as i32).rem_euclid(4) {
        0 => (s, c),
        1 => (c, -s),
        2 => (-s, -c),
        _ => (-c, s),
    }
}

/// Bilinear sample of `image` (`width` pixels per row) at `(sx, sy)`, pixels outside reading as 0.
fn bilinear(image: &[u8], height: usize, width: usize, sx: f32, sy: f32) -> f32 {
    let (x0, y0) = (sx.floor(), sy.floor());
    let (fx, fy) = (sx - x0, sy - y0);
    let pixel = |x: f32, y: f32| -> f32 {
        if x >= 0.0 && y >= 0.0 && (x as usize) < width && (y as usize) < height {
            f32::from(image[y as usize * width + x as usize])
        } else {
            0.0
        }
    };
    let top = pixel(x0, y0) * (1.0 - fx) + pixel(x0 + 1.0, y0) * fx;
    let bottom = pixel(x0, y0 + 1.0) * (1.0 - fx) + pixel(x0 + 1.0, y0 + 1.0) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Augmentation on a backend.
pub trait AugmentOps: Backend {
    /// Writes `count · height · width` values to `out`. A zero transform (all maxima 0) returns the gathered
    /// input exactly.
    fn augment(
        &self,
        spec: &Augment,
        data: &Self::Buf<u8>,
        indices: &Self::Buf<u32>,
        out: &Self::Buf<f32>,
    ) -> Result<()>;
}

impl AugmentOps for Cpu {
    fn augment(
        &self,
        spec: &Augment,
        data: &CpuBuf<u8>,
        indices: &CpuBuf<u32>,
        out: &CpuBuf<f32>,
    ) -> Result<()> {
        spec.check(data.len(), indices.len(), out.len())?;
        let (data, indices) = (data.read(), indices.read());
        let (h, w) = (spec.height, spec.width);
        let rows = &indices[spec.index_offset..spec.index_offset + spec.count];
        let images = data.len() / (h * w);
        if let Some(at) = rows.iter().position(|&r| r as usize >= images) {
            return Err(shape_error(
                "augment",
                format!(
                    "index {} at position {} is past the data's {images} images",
                    rows[at],
                    spec.index_offset + at
                ),
            ));
        }
        let (cx, cy) = ((w as f32 - 1.0) / 2.0, (h as f32 - 1.0) / 2.0);
        let mut out = out.write();
        out.par_chunks_mut(h * w)
            .zip(rows.par_iter())
            .enumerate()
            .for_each(|(i, (out, &row))| {
                let t = spec.transform(i as u32);
                let image = &data[row as usize * h * w..][..h * w];
                for (at, o) in out.iter_mut().enumerate() {
                    let dx = ((at % w) as f32 - cx - t.shift_x) * t.inv_zoom;
                    let dy = ((at / w) as f32 - cy - t.shift_y) * t.inv_zoom;
                    let sx = cx + (t.cos * dx - t.sin * dy);
                    let sy = cy + (t.sin * dx + t.cos * dy);
                    *o = bilinear(image, h, w, sx, sy) * spec.scale + spec.shift;
                }
            });
        Ok(())
    }
}

/// Uniform parameters of `shaders/augment.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct AugmentParams {
    count: u32,
    height: u32,
    width: u32,
    index_offset: u32,
    images: u32,
    seed_lo: u32,
    seed_hi: u32,
    stream_lo: u32,
    stream_hi: u32,
    max_angle: f32,
    max_shift: f32,
    max_zoom: f32,
    scale: f32,
    shift: f32,
    /// Image of this piece's first output (its counters and index position).
    first: u32,
    _pad: u32,
}

#[cfg(test)]
pub(crate) fn augment_uniform() -> crate::gpu::uniform::UniformLayout {
    crate::gpu::uniform::uniform_layout!(AugmentParams for ["augment"] { count, height, width, index_offset, images, seed_lo, seed_hi, stream_lo, stream_hi, max_angle, max_shift, max_zoom, scale, shift, first })
}

impl AugmentOps for Gpu {
    fn augment(
        &self,
        spec: &Augment,
        data: &GpuBuf<u8>,
        indices: &GpuBuf<u32>,
        out: &GpuBuf<f32>,
    ) -> Result<()> {
        spec.check(data.len(), indices.len(), out.len())?;
        let limit_bytes = self.max_binding_elements::<u8>();
        for (what, bytes) in [("data", data.len()), ("indices", indices.len() * 4)] {
            if bytes > limit_bytes {
                return Err(TensorError::Limit(format!(
                    "augment: the {what} ({bytes} bytes) exceed one binding ({limit_bytes} bytes) on {}",
                    self.info().name
                )));
            }
        }
        let image = spec.height * spec.width;
        let per_piece =
            self.images_per_piece::<f32>("augment", spec.count, &[image])?;
        for first in (0..spec.count).step_by(per_piece) {
            let n = per_piece.min(spec.count - first);
            let view = self.slice(out, first * image, n * image)?;
            let params = AugmentParams {
                count: n as u32,
                height: spec.height as u32,
                width: spec.width as u32,
                index_offset: spec.index_offset as u32,
                images: (data.len() / image) as u32,
                seed_lo: spec.seed as u32,
                seed_hi: (spec.seed >> 32) as u32,
                stream_lo: spec.stream as u32,
                stream_hi: (spec.stream >> 32) as u32,
                max_angle: spec.max_rotation_degrees * (std::f32::consts::PI / 180.0),
                max_shift: spec.max_shift,
                max_zoom: spec.max_zoom,
                scale: spec.scale,
                shift: spec.shift,
                first: first as u32,
                _pad: 0,
            };
            self.dispatch(Dispatch {
                kernel: &AUGMENT,
                entry: "main",
                constants: &[],
                params: bytemuck::bytes_of(&params),
                buffers: &[data.binding(), indices.binding(), view.binding()],
                workgroups: self.grid_1d(((n * image) as u64).div_ceil(WG_1D))?,
            })?;
        }
        Ok(())
    }
}

/// Compiles the augmentation pipeline.
pub(crate) fn warm_up(gpu: &Gpu) -> Result<()> {
    let (data, indices, out) = (
        gpu.zeros::<u8>(4)?,
        gpu.zeros::<u32>(1)?,
        gpu.zeros::<f32>(4)?,
    );
    gpu.augment(&Augment::identity(2, 2, 1), &data, &indices, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sin_cos_matches_the_standard_library() {
        for i in -2000..=2000 {
            let a = i as f32 * 0.005; // ±10 radians
            let (s, c) = sin_cos(a);
            assert!((s - a.sin()).abs() < 4e-7, "sin {a}: {s} vs {}", a.sin());
            assert!((c - a.cos()).abs() < 4e-7, "cos {a}: {c} vs {}", a.cos());
        }
        assert_eq!(sin_cos(0.0), (0.0, 1.0));
    }

    #[test]
    fn a_zero_spec_draws_the_identity() {
        let spec = Augment {
            seed: 3,
            stream: 9,
            ..Augment::identity(28, 28, 4)
        };
        for i in 0..4 {
            let t = spec.transform(i);
            assert_eq!(
                (
                    t.cos,
                    t.sin.abs(),
                    t.inv_zoom,
                    t.shift_x.abs(),
                    t.shift_y.abs()
                ),
                (1.0, 0.0, 1.0, 0.0, 0.0)
            );
        }
    }
}

crate::family::family!(
    "augment",
    kernels: [
        AUGMENT => "augment",
    ],
    warm_up: warm_up,
    check: crate::conformance::augment::check,
    uniforms: [augment_uniform],
);
