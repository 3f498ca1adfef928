//! Data augmentation on the device: gathers a batch of u8 images by index, applies a random affine transform
//! to each (rotation, shift, zoom) with bilinear sampling, and writes normalised f32.

use crate::{Backend, Result};

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
