//! Cutting an order of sample indices into mini-batches.

use std::num::NonZeroUsize;

/// What to do with a last batch smaller than the batch size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LastBatch {
    /// Yield it (every sample is used once per epoch).
    #[default]
    Keep,
    /// Skip it (every batch has the full size).
    Drop,
}

/// Iterator over consecutive batches of an index order; see [`batches`].
#[derive(Debug, Clone)]
pub struct Batches<'a> {
    rest: &'a [usize],
    batch_size: usize,
    last: LastBatch,
}

/// Cuts `order` (for example a [`crate::permutation`]) into batches of `batch_size` indices.
///
/// ```
/// use std::num::NonZeroUsize;
/// use digits_idx::{batches, LastBatch};
///
/// let order = [4, 2, 0, 1, 3];
/// let size = NonZeroUsize::new(2).unwrap();
/// let kept: Vec<&[usize]> = batches(&order, size, LastBatch::Keep).collect();
/// assert_eq!(kept, [&[4, 2][..], &[0, 1], &[3]]);
/// assert_eq!(batches(&order, size, LastBatch::Drop).count(), 2);
/// ```
pub fn batches(order: &[usize], batch_size: NonZeroUsize, last: LastBatch) -> Batches<'_> {
    Batches {
        rest: order,
        batch_size: batch_size.get(),
        last,
    }
}

impl<'a> Iterator for Batches<'a> {
    type Item = &'a [usize];

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty()
            || (self.rest.len() < self.batch_size && self.last == LastBatch::Drop)
        {
            return None;
        }
        let (batch, rest) = self.rest.split_at(self.batch_size.min(self.rest.len()));
        self.rest = rest;
        Some(batch)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match self.last {
            LastBatch::Keep => self.rest.len().div_ceil(self.batch_size),
            LastBatch::Drop => self.rest.len() / self.batch_size,
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for Batches<'_> {}
