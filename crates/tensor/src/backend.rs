//! The [`Backend`] trait: storage and transfers. Kernel families add their own traits in [`crate::ops`].

use crate::{Element, Readback, Result};

/// A device that holds buffers and runs kernels: [`crate::Cpu`] or [`crate::Gpu`].
///
/// Buffers are cheap handles (`Clone` shares the storage, like an `Arc`); [`Backend::slice`] makes a view
/// of part of a buffer, which is how a flat parameter arena hands each layer its weights. Operations on the
/// CPU run at once; on the GPU they are recorded and run at the next [`Backend::flush`] or download, so a
/// training step needs no synchronisation.
pub trait Backend: Clone + Send + Sync + 'static {
    /// A buffer of `T` on this device.
    type Buf<T: Element>: Clone + Send + Sync;

    /// A human-readable device name, e.g. `cpu (2 threads)` or `llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan)`.
    fn name(&self) -> String;

    /// A new buffer of `len` elements, set to zero.
    fn zeros<T: Element>(&self, len: usize) -> Result<Self::Buf<T>>;

    /// A new buffer holding a copy of `data`.
    fn upload<T: Element>(&self, data: &[T]) -> Result<Self::Buf<T>>;

    /// Overwrites `buf` with `data` (same length), ordered after all work recorded so far.
    fn write<T: Element>(&self, buf: &Self::Buf<T>, data: &[T]) -> Result<()>;

    /// Copies a buffer back to the host, waiting for all recorded work.
    fn download<T: Element>(&self, buf: &Self::Buf<T>) -> Result<Vec<T>>;

    /// Starts copying a buffer back to the host without waiting; poll the [`Readback`] later.
    /// This is how a training loop reads its running loss without stalling the device.
    fn download_async<T: Element>(&self, buf: &Self::Buf<T>) -> Result<Readback<T>>;

    /// Copies `src` into `dst` (same length), ordered after all work recorded so far.
    fn copy<T: Element>(&self, src: &Self::Buf<T>, dst: &Self::Buf<T>) -> Result<()>;

    /// Number of elements in a buffer or view.
    fn len<T: Element>(buf: &Self::Buf<T>) -> usize;

    /// A view of `len` elements starting at element `offset`, sharing storage with `buf`.
    ///
    /// On the GPU the offset must be a multiple of [`Backend::view_alignment`] elements.
    fn slice<T: Element>(
        &self,
        buf: &Self::Buf<T>,
        offset: usize,
        len: usize,
    ) -> Result<Self::Buf<T>>;

    /// The element alignment that [`Backend::slice`] offsets need (1 on the CPU).
    fn view_alignment<T: Element>(&self) -> usize;

    /// Runs everything recorded so far (GPU: one submit); does not wait for it to finish.
    fn flush(&self) -> Result<()>;

    /// Waits until all submitted work has finished.
    fn synchronize(&self) -> Result<()>;
}
