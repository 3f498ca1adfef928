//! A pool of device buffers keyed by size class, so a training loop allocates nothing after its first step.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// All storage buffers share one usage set, so any pooled buffer can serve any tensor.
pub(crate) const STORAGE_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Free buffers by size class (a power of two in bytes, at least 256).
#[derive(Default)]
pub(crate) struct Pool {
    free: HashMap<(u64, wgpu::BufferUsages), Vec<wgpu::Buffer>>,
    /// Bytes held by live and free pooled buffers, for memory reports.
    pub(crate) allocated_bytes: u64,
}

/// A device buffer that goes back to its pool when the last handle drops.
pub(crate) struct PooledBuffer {
    pub(crate) buffer: wgpu::Buffer,
    usage: wgpu::BufferUsages,
    pool: Weak<Mutex<Pool>>,
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        // Reuse is safe even while recorded work still uses the buffer: work runs in recording order, so the
        // next user's commands run after the previous user's.
        if let Some(pool) = self.pool.upgrade()
            && let Ok(mut pool) = pool.lock()
        {
            pool.free
                .entry((self.buffer.size(), self.usage))
                .or_default()
                .push(self.buffer.clone());
        }
    }
}

/// The size class for a request: the next power of two, so waste is under half and classes are few.
pub(crate) fn size_class(bytes: u64) -> u64 {
    bytes.max(256).next_power_of_two()
}

/// Takes a free buffer of the class, or returns `None` so the caller allocates one.
pub(crate) fn take(
    pool: &Arc<Mutex<Pool>>,
    class: u64,
    usage: wgpu::BufferUsages,
) -> Option<Arc<PooledBuffer>> {
    let buffer = pool.lock().ok()?.free.get_mut(&(class, usage))?.pop()?;
    Some(wrap(pool, buffer, usage))
}

/// Puts a newly created buffer under the pool's management.
pub(crate) fn wrap(
    pool: &Arc<Mutex<Pool>>,
    buffer: wgpu::Buffer,
    usage: wgpu::BufferUsages,
) -> Arc<PooledBuffer> {
    Arc::new(PooledBuffer {
        buffer,
        usage,
        pool: Arc::downgrade(pool),
    })
}
