//! Cutting a batch into pieces that fit the device: a binding holds at most `max_storage_buffer_binding_size`
//! bytes, and a view of a buffer must start at an aligned offset.

use super::Gpu;
use crate::{Backend, Element, Result, TensorError};

impl Gpu {
    /// Images per dispatch so that every per-image buffer's piece fits one binding and starts at an aligned
    /// view: `per_image` lists each batch-major buffer's elements per image. All `batch` when they fit.
    pub(crate) fn images_per_piece<T: Element>(
        &self,
        op: &'static str,
        batch: usize,
        per_image: &[usize],
    ) -> Result<usize> {
        self.images_per_piece_at_most::<T>(op, batch, per_image, usize::MAX, "one binding")
    }

    /// [`Gpu::images_per_piece`], with at most `cap` images per piece (what else must fit: `what`).
    pub(crate) fn images_per_piece_at_most<T: Element>(
        &self,
        op: &'static str,
        batch: usize,
        per_image: &[usize],
        cap: usize,
        what: &str,
    ) -> Result<usize> {
        let limit = self.max_binding_elements::<T>();
        let align = self.view_alignment::<T>();
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
                self.info().name
            )));
        }
        Ok(images)
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn lcm(a: usize, b: usize) -> usize {
    a / gcd(a, b) * b
}
