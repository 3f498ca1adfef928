//! The CPU backend: the reference every GPU kernel is checked against, and a fast path on its own
//! (GEMM through `matrixmultiply`, batch-parallel loops through rayon).

use std::ops::{Deref, DerefMut, Range};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::error::{check_len, shape_error};
use crate::{Backend, Element, Readback, Result};

/// The CPU device. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Cpu;

impl Cpu {
    /// The CPU backend, using rayon's global thread pool.
    pub fn new() -> Self {
        Cpu
    }
}

/// A buffer (or a view of one) in host memory.
#[derive(Clone, Debug)]
pub struct CpuBuf<T> {
    data: Arc<RwLock<Vec<T>>>,
    range: Range<usize>,
}

impl<T: Element> CpuBuf<T> {
    /// Wraps a vector.
    pub fn from_vec(data: Vec<T>) -> Self {
        let range = 0..data.len();
        CpuBuf {
            data: Arc::new(RwLock::new(data)),
            range,
        }
    }

    /// Number of elements in the view.
    pub fn len(&self) -> usize {
        self.range.len()
    }

    /// Whether the view is empty.
    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }

    /// Shared access to the elements. Panics if the same storage is being written (an aliasing bug in the caller).
    pub fn read(&self) -> ReadView<'_, T> {
        let guard = self.data.try_read().expect(
            "CPU buffer read while it is being written: an operation aliases its input and output",
        );
        ReadView {
            guard,
            range: self.range.clone(),
        }
    }

    /// Exclusive access to the elements. Panics if the same storage is already borrowed (an aliasing bug in the caller).
    pub fn write(&self) -> WriteView<'_, T> {
        let guard = self.data.try_write().expect(
            "CPU buffer written while it is borrowed: an operation aliases its input and output",
        );
        WriteView {
            guard,
            range: self.range.clone(),
        }
    }
}

/// Shared access to a [`CpuBuf`]'s elements.
pub struct ReadView<'a, T> {
    guard: RwLockReadGuard<'a, Vec<T>>,
    range: Range<usize>,
}

impl<T> Deref for ReadView<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.guard[self.range.clone()]
    }
}

/// Exclusive access to a [`CpuBuf`]'s elements.
pub struct WriteView<'a, T> {
    guard: RwLockWriteGuard<'a, Vec<T>>,
    range: Range<usize>,
}

impl<T> Deref for WriteView<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.guard[self.range.clone()]
    }
}

impl<T> DerefMut for WriteView<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        let range = self.range.clone();
        &mut self.guard[range]
    }
}

impl Backend for Cpu {
    type Buf<T: Element> = CpuBuf<T>;

    fn name(&self) -> String {
        format!("cpu ({} threads)", rayon::current_num_threads())
    }

    fn zeros<T: Element>(&self, len: usize) -> Result<CpuBuf<T>> {
        Ok(CpuBuf::from_vec(vec![T::default(); len]))
    }

    fn upload<T: Element>(&self, data: &[T]) -> Result<CpuBuf<T>> {
        Ok(CpuBuf::from_vec(data.to_vec()))
    }

    fn write<T: Element>(&self, buf: &CpuBuf<T>, data: &[T]) -> Result<()> {
        check_len("write", "data", data.len(), buf.len())?;
        buf.write().copy_from_slice(data);
        Ok(())
    }

    fn download<T: Element>(&self, buf: &CpuBuf<T>) -> Result<Vec<T>> {
        Ok(buf.read().to_vec())
    }

    fn download_async<T: Element>(&self, buf: &CpuBuf<T>) -> Result<Readback<T>> {
        Ok(Readback::ready(buf.read().to_vec()))
    }

    fn copy<T: Element>(&self, src: &CpuBuf<T>, dst: &CpuBuf<T>) -> Result<()> {
        check_len("copy", "destination", dst.len(), src.len())?;
        let values = src.read().to_vec();
        dst.write().copy_from_slice(&values);
        Ok(())
    }

    fn len<T: Element>(buf: &CpuBuf<T>) -> usize {
        buf.len()
    }

    fn slice<T: Element>(&self, buf: &CpuBuf<T>, offset: usize, len: usize) -> Result<CpuBuf<T>> {
        if offset + len > buf.len() {
            return Err(shape_error(
                "slice",
                format!(
                    "view {offset}..{} of a buffer of {} elements",
                    offset + len,
                    buf.len()
                ),
            ));
        }
        let start = buf.range.start + offset;
        Ok(CpuBuf {
            data: buf.data.clone(),
            range: start..start + len,
        })
    }

    fn view_alignment<T: Element>(&self) -> usize {
        1
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn synchronize(&self) -> Result<()> {
        Ok(())
    }
}
