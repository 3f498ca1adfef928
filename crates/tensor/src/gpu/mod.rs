//! The wgpu backend: hand-written WGSL kernels, recorded into one command encoder and submitted once per
//! [`Backend::flush`].
//!
//! Device setup ([`adapter`]) is kept apart from the work, so a caller can open the device itself and hand it
//! to [`Gpu::from_device`].

pub mod adapter;
mod pieces;
mod pool;
mod readback;
mod trace;
#[cfg(test)]
pub(crate) mod uniform;

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};

pub use adapter::{
    AdapterRank, AdapterRequest, AdapterSummary, HardwareChoice, best_hardware_adapter,
    list_adapters,
};
pub use readback::Readback;
pub use trace::{Trace, TraceRange, TraceStep};

use crate::error::{check_len, shape_error};
use crate::{Backend, Element, Result, TensorError};
use pool::{Pool, PooledBuffer, STORAGE_USAGE};

/// A WGSL source file from `shaders/`, compiled once per set of override constants.
#[derive(Debug)]
pub struct Kernel {
    /// The file's stem, e.g. `gemm`; names the kernel in caches and errors.
    pub name: &'static str,
    /// The WGSL source.
    pub source: &'static str,
}

/// One compute dispatch, as a kernel module describes it to [`Gpu::dispatch`].
pub(crate) struct Dispatch<'a> {
    pub kernel: &'static Kernel,
    pub entry: &'static str,
    /// Pipeline-overridable constants (`override` declarations), e.g. tile sizes.
    pub constants: &'a [(&'static str, f64)],
    /// The bytes of the kernel's uniform parameter struct (binding 0).
    pub params: &'a [u8],
    /// Buffers and textures, bound at 1, 2, ... in order.
    pub buffers: &'a [Binding<'a>],
    pub workgroups: [u32; 3],
}

/// A buffer view or a texture as bound to a kernel.
pub(crate) enum Binding<'a> {
    Buffer {
        buffer: &'a wgpu::Buffer,
        offset: u64,
        size: u64,
    },
    Texture(&'a wgpu::TextureView),
}

/// The GPU device. Cheap to clone; clones share the device, caches and pending work.
#[derive(Clone)]
pub struct Gpu {
    inner: Arc<Inner>,
}

struct Inner {
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    device: wgpu::Device,
    queue: wgpu::Queue,
    pool: Arc<Mutex<Pool>>,
    modules: Mutex<HashMap<&'static str, wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<String, Arc<Pipeline>>>,
    recording: Mutex<Option<Recording>>,
    /// Scratch textures by (role, width, height), kept for the next call of the same shape.
    textures: Mutex<HashMap<(&'static str, u32, u32), wgpu::TextureView>>,
    /// The first uncaptured error or device loss, reported by the next flush or download.
    failure: Arc<Mutex<Option<String>>>,
    /// The trace being recorded ([`Gpu::start_trace`]), if any.
    tracer: Mutex<Option<trace::Tracer>>,
}

struct Pipeline {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

/// Work recorded since the last submit: one encoder, one open compute pass, and the dispatches' parameters.
struct Recording {
    // `pass` borrows `encoder` (its lifetime was erased), so it must be dropped first: field order matters.
    pass: Option<wgpu::ComputePass<'static>>,
    encoder: wgpu::CommandEncoder,
    params: Vec<ParamChunk>,
}

/// Uniform parameters of many dispatches packed in one buffer, uploaded once at submit.
struct ParamChunk {
    buffer: Arc<PooledBuffer>,
    bytes: Vec<u8>,
}

const PARAM_CHUNK_BYTES: u64 = 64 * 1024;
const PARAM_USAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::UNIFORM.union(wgpu::BufferUsages::COPY_DST);

/// A buffer (or a view of one) in device memory. `u8` data is packed four to a word.
pub struct GpuBuf<T> {
    raw: Arc<PooledBuffer>,
    /// Offset of the view in bytes.
    offset: u64,
    len: usize,
    _element: PhantomData<fn() -> T>,
}

impl<T> Clone for GpuBuf<T> {
    fn clone(&self) -> Self {
        GpuBuf {
            raw: self.raw.clone(),
            offset: self.offset,
            len: self.len,
            _element: PhantomData,
        }
    }
}

impl<T: Element> GpuBuf<T> {
    /// Number of elements in the view.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the view is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the view occupies, rounded up to whole 32-bit words (what a binding covers).
    fn bytes(&self) -> u64 {
        padded_bytes::<T>(self.len)
    }

    pub(crate) fn binding(&self) -> Binding<'_> {
        Binding::Buffer {
            buffer: &self.raw.buffer,
            offset: self.offset,
            size: self.bytes().max(4),
        }
    }
}

fn padded_bytes<T>(len: usize) -> u64 {
    ((len * std::mem::size_of::<T>()) as u64).div_ceil(4) * 4
}

impl Gpu {
    /// Opens the adapter a request names (see [`AdapterRequest::parse`]).
    pub fn new(request: &AdapterRequest) -> Result<Self> {
        Self::open(&adapter::open_adapter(request)?)
    }

    /// Opens a device on an adapter found elsewhere (e.g. by [`best_hardware_adapter`]).
    pub fn open(adapter: &wgpu::Adapter) -> Result<Self> {
        let (device, queue) = adapter::open_device(adapter)?;
        Ok(Self::from_device(adapter.get_info(), device, queue))
    }

    /// The best-ranked adapter, software adapters included: what tests and benches run on.
    pub fn default_adapter() -> Result<Self> {
        Self::new(&AdapterRequest::default())
    }

    /// Wraps a device the caller opened (tests inject theirs this way).
    pub fn from_device(info: wgpu::AdapterInfo, device: wgpu::Device, queue: wgpu::Queue) -> Self {
        let failure: Arc<Mutex<Option<String>>> = Arc::default();
        let on_error = failure.clone();
        device.on_uncaptured_error(Arc::new(move |error| {
            record_failure(&on_error, error.to_string());
        }));
        let on_lost = failure.clone();
        device.set_device_lost_callback(move |reason, message| {
            record_failure(&on_lost, format!("device lost ({reason:?}): {message}"));
        });
        Gpu {
            inner: Arc::new(Inner {
                limits: device.limits(),
                info,
                device,
                queue,
                pool: Arc::default(),
                modules: Mutex::default(),
                pipelines: Mutex::default(),
                recording: Mutex::default(),
                textures: Mutex::default(),
                failure,
                tracer: Mutex::default(),
            }),
        }
    }

    /// The adapter's name, backend, type and driver.
    pub fn info(&self) -> &wgpu::AdapterInfo {
        &self.inner.info
    }

    /// The limits the device was opened with (the adapter's own).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.inner.limits
    }

    /// The wgpu device, for callers that add their own work.
    pub fn device(&self) -> &wgpu::Device {
        &self.inner.device
    }

    /// Whether the adapter is a CPU emulation (lavapipe, SwiftShader, WARP): kernels pick variants by it.
    pub fn is_cpu_emulated(&self) -> bool {
        self.inner.info.device_type == wgpu::DeviceType::Cpu
    }

    /// The kernels (WGSL file stems) that have at least one compiled pipeline on this device.
    pub fn compiled_kernels(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = lock(&self.inner.modules).keys().copied().collect();
        names.sort_unstable();
        names
    }

    /// Bytes held in the buffer pool (live and free) and in scratch textures.
    pub fn pool_bytes(&self) -> u64 {
        lock(&self.inner.pool).allocated_bytes
    }

    /// The largest number of `T` one binding can cover (the storage-binding limit, 128 MiB on most drivers).
    pub fn max_binding_elements<T: Element>(&self) -> usize {
        let bytes = self.inner.limits.max_storage_buffer_binding_size as usize;
        let align = self.inner.limits.min_storage_buffer_offset_alignment as usize;
        // Keep chunks aligned so that the next chunk's view offset is legal.
        (bytes / align * align) / std::mem::size_of::<T>()
    }

    /// Workgroup counts for `count` workgroups of a 1-D kernel: past the per-dimension limit the grid folds
    /// into y, and the kernel rebuilds the linear index as `id.x + id.y * num_workgroups.x * size`.
    pub(crate) fn grid_1d(&self, count: u64) -> Result<[u32; 3]> {
        let max = self.inner.limits.max_compute_workgroups_per_dimension as u64;
        if count <= max {
            return Ok([count.max(1) as u32, 1, 1]);
        }
        let rows = count.div_ceil(max);
        if rows > max {
            return Err(TensorError::Limit(format!(
                "{count} workgroups exceed the device's {max}x{max} grid"
            )));
        }
        Ok([max as u32, rows as u32, 1])
    }

    /// Allocates a pooled buffer of at least `bytes` with `usage`.
    fn allocate(&self, bytes: u64, usage: wgpu::BufferUsages) -> Result<Arc<PooledBuffer>> {
        let class = pool::size_class(bytes);
        if let Some(buffer) = pool::take(&self.inner.pool, class, usage) {
            return Ok(buffer);
        }
        if class > self.inner.limits.max_buffer_size {
            return Err(TensorError::Limit(format!(
                "a buffer of {bytes} bytes exceeds {}'s max_buffer_size of {} bytes",
                self.inner.info.name, self.inner.limits.max_buffer_size
            )));
        }
        let scope = self
            .inner
            .device
            .push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buffer = self.inner.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: class,
            usage,
            mapped_at_creation: false,
        });
        if pollster::block_on(scope.pop()).is_some() {
            return Err(TensorError::OutOfMemory {
                device: self.inner.info.name.clone(),
                bytes: class,
            });
        }
        lock(&self.inner.pool).allocated_bytes += class;
        Ok(pool::wrap(&self.inner.pool, buffer, usage))
    }

    /// A scratch `rgba32float` texture of `width` × `height` texels that kernels write as a storage texture
    /// and read with `textureLoad`. Cached by `role` and size: the next call of the same shape gets the same
    /// texture back, which is safe because every use writes it before reading it and work on one device
    /// runs in order. Callers check the size against `max_texture_dimension_2d`.
    pub(crate) fn scratch_texture(
        &self,
        role: &'static str,
        width: usize,
        height: usize,
    ) -> Result<wgpu::TextureView> {
        let key = (role, width as u32, height as u32);
        if let Some(view) = lock(&self.inner.textures).get(&key) {
            return Ok(view.clone());
        }
        let bytes = (width * height * 16) as u64;
        let scope = self
            .inner
            .device
            .push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let texture = self.inner.device.create_texture(&wgpu::TextureDescriptor {
            label: Some(role),
            size: wgpu::Extent3d {
                width: key.1,
                height: key.2,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba32Float,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::STORAGE_BINDING,
            view_formats: &[],
        });
        if pollster::block_on(scope.pop()).is_some() {
            return Err(TensorError::OutOfMemory {
                device: self.inner.info.name.clone(),
                bytes,
            });
        }
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        lock(&self.inner.pool).allocated_bytes += bytes;
        lock(&self.inner.textures).insert(key, view.clone());
        Ok(view)
    }

    /// A pooled buffer of `len` elements with undefined contents, for scratch that a kernel overwrites.
    pub(crate) fn new_buf<T: Element>(&self, len: usize) -> Result<GpuBuf<T>> {
        Ok(GpuBuf {
            raw: self.allocate(padded_bytes::<T>(len), STORAGE_USAGE)?,
            offset: 0,
            len,
            _element: PhantomData,
        })
    }

    /// A pooled buffer that kernels may also bind as a uniform buffer, for small tables that every invocation
    /// reads at the same index (convolution weights): CPU-emulated adapters load uniform data with one scalar
    /// load where a storage load costs one load per invocation.
    pub(crate) fn new_uniform_buf<T: Element>(&self, len: usize) -> Result<GpuBuf<T>> {
        Ok(GpuBuf {
            raw: self.allocate(
                padded_bytes::<T>(len),
                STORAGE_USAGE | wgpu::BufferUsages::UNIFORM,
            )?,
            offset: 0,
            len,
            _element: PhantomData,
        })
    }

    /// Runs `f` on the open recording (starting one if needed), with the compute pass closed, for copies.
    fn with_encoder<R>(&self, f: impl FnOnce(&mut wgpu::CommandEncoder) -> R) -> R {
        let mut recording = lock(&self.inner.recording);
        let recording = recording.get_or_insert_with(|| self.new_recording());
        recording.pass = None;
        f(&mut recording.encoder)
    }

    fn new_recording(&self) -> Recording {
        Recording {
            pass: None,
            encoder: self
                .inner
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("step"),
                }),
            params: Vec::new(),
        }
    }

    fn pipeline(
        &self,
        kernel: &'static Kernel,
        entry: &'static str,
        constants: &[(&'static str, f64)],
    ) -> Arc<Pipeline> {
        let key = format!("{}:{entry}:{constants:?}", kernel.name);
        if let Some(found) = lock(&self.inner.pipelines).get(&key) {
            return found.clone();
        }
        let module = lock(&self.inner.modules)
            .entry(kernel.name)
            .or_insert_with(|| {
                self.inner
                    .device
                    .create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(kernel.name),
                        source: wgpu::ShaderSource::Wgsl(kernel.source.into()),
                    })
            })
            .clone();
        let pipeline =
            self.inner
                .device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(&key),
                    layout: None,
                    module: &module,
                    entry_point: Some(entry),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants,
                        // Kernels initialise the workgroup memory they read; zeroing it again is wasted work.
                        zero_initialize_workgroup_memory: false,
                    },
                    cache: None,
                });
        let layout = pipeline.get_bind_group_layout(0);
        let compiled = Arc::new(Pipeline { pipeline, layout });
        lock(&self.inner.pipelines).insert(key, compiled.clone());
        compiled
    }

    /// Records one dispatch into the open compute pass.
    pub(crate) fn dispatch(&self, d: Dispatch<'_>) -> Result<()> {
        self.trace(|tracer| tracer.dispatch(&d));
        let pipeline = self.pipeline(d.kernel, d.entry, d.constants);
        let slot = (d.params.len() as u64)
            .max(16)
            .next_multiple_of(self.inner.limits.min_uniform_buffer_offset_alignment as u64);
        let mut guard = lock(&self.inner.recording);
        let recording = guard.get_or_insert_with(|| self.new_recording());
        let needs_chunk = recording
            .params
            .last()
            .is_none_or(|chunk| chunk.bytes.len() as u64 + slot > PARAM_CHUNK_BYTES);
        if needs_chunk {
            let buffer = self.allocate(PARAM_CHUNK_BYTES, PARAM_USAGE)?;
            recording.params.push(ParamChunk {
                buffer,
                bytes: Vec::with_capacity(PARAM_CHUNK_BYTES as usize),
            });
        }
        let chunk = recording
            .params
            .last_mut()
            .expect("a chunk was just ensured");
        let param_offset = chunk.bytes.len() as u64;
        chunk.bytes.extend_from_slice(d.params);
        chunk.bytes.resize((param_offset + slot) as usize, 0);

        let mut entries = Vec::with_capacity(d.buffers.len() + 1);
        entries.push(wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &chunk.buffer.buffer,
                offset: param_offset,
                size: wgpu::BufferSize::new(d.params.len().max(16) as u64),
            }),
        });
        for (i, b) in d.buffers.iter().enumerate() {
            let resource = match *b {
                Binding::Buffer {
                    buffer,
                    offset,
                    size,
                } => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer,
                    offset,
                    size: wgpu::BufferSize::new(size),
                }),
                Binding::Texture(view) => wgpu::BindingResource::TextureView(view),
            };
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource,
            });
        }
        let bind_group = self
            .inner
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(d.kernel.name),
                layout: &pipeline.layout,
                entries: &entries,
            });
        let pass = match &mut recording.pass {
            Some(pass) => pass,
            slot @ None => {
                let pass = recording
                    .encoder
                    .begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: None,
                        timestamp_writes: None,
                    })
                    .forget_lifetime();
                slot.insert(pass)
            }
        };
        pass.set_pipeline(&pipeline.pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        let [x, y, z] = d.workgroups;
        pass.dispatch_workgroups(x, y, z);
        Ok(())
    }

    fn check_failure(&self) -> Result<()> {
        match lock(&self.inner.failure).take() {
            Some(detail) => Err(TensorError::Device {
                device: self.inner.info.name.clone(),
                detail,
            }),
            None => Ok(()),
        }
    }

    /// Submits the recording, if any.
    fn submit(&self) -> Result<()> {
        let recording = lock(&self.inner.recording).take();
        if let Some(mut recording) = recording {
            recording.pass = None;
            for chunk in &recording.params {
                self.inner
                    .queue
                    .write_buffer(&chunk.buffer.buffer, 0, &chunk.bytes);
            }
            self.inner.queue.submit([recording.encoder.finish()]);
        }
        self.check_failure()
    }

    fn wait(&self) -> Result<()> {
        self.inner
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| TensorError::Device {
                device: self.inner.info.name.clone(),
                detail: e.to_string(),
            })?;
        self.check_failure()
    }

    /// Records a copy of `buf` into a fresh staging buffer and submits it.
    fn stage_for_read<T: Element>(&self, buf: &GpuBuf<T>) -> Result<Arc<PooledBuffer>> {
        let bytes = buf.bytes();
        let staging = self.allocate(
            bytes,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        )?;
        self.trace(|tracer| {
            let from = tracer.range(&buf.raw.buffer, buf.offset, bytes);
            tracer.push(TraceStep::Read { from });
        });
        if bytes > 0 {
            self.with_encoder(|encoder| {
                encoder.copy_buffer_to_buffer(
                    &buf.raw.buffer,
                    buf.offset,
                    &staging.buffer,
                    0,
                    bytes,
                )
            });
        }
        self.submit()?;
        Ok(staging)
    }
}

fn record_failure(slot: &Mutex<Option<String>>, message: String) {
    if let Ok(mut slot) = slot.lock() {
        slot.get_or_insert(message);
    }
}

/// Locks a mutex, recovering from poisoning: the guarded caches stay consistent even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Backend for Gpu {
    type Buf<T: Element> = GpuBuf<T>;

    fn name(&self) -> String {
        format!("{} ({:?})", self.inner.info.name, self.inner.info.backend)
    }

    fn zeros<T: Element>(&self, len: usize) -> Result<GpuBuf<T>> {
        let buf = self.new_buf::<T>(len)?;
        self.trace(|tracer| {
            let range = tracer.range(&buf.raw.buffer, 0, buf.bytes());
            tracer.push(TraceStep::Clear { range });
        });
        self.with_encoder(|encoder| encoder.clear_buffer(&buf.raw.buffer, 0, Some(buf.bytes())));
        Ok(buf)
    }

    fn upload<T: Element>(&self, data: &[T]) -> Result<GpuBuf<T>> {
        let buf = self.new_buf::<T>(data.len())?;
        self.write(&buf, data)?;
        Ok(buf)
    }

    fn write<T: Element>(&self, buf: &GpuBuf<T>, data: &[T]) -> Result<()> {
        check_len("write", "data", data.len(), buf.len)?;
        // A queue write lands before the next submit's commands, so submit the recorded work first: it may
        // still read the old contents (or a pooled predecessor of this buffer).
        self.submit()?;
        let bytes: &[u8] = bytemuck::cast_slice(data);
        self.trace(|tracer| {
            let to = tracer.range(&buf.raw.buffer, buf.offset, buf.bytes());
            let mut data = bytes.to_vec();
            data.resize(buf.bytes() as usize, 0);
            tracer.push(TraceStep::Write { to, data });
        });
        let whole = bytes.len() / 4 * 4;
        self.inner
            .queue
            .write_buffer(&buf.raw.buffer, buf.offset, &bytes[..whole]);
        if whole < bytes.len() {
            let mut tail = [0u8; 4];
            tail[..bytes.len() - whole].copy_from_slice(&bytes[whole..]);
            self.inner
                .queue
                .write_buffer(&buf.raw.buffer, buf.offset + whole as u64, &tail);
        }
        Ok(())
    }

    fn download<T: Element>(&self, buf: &GpuBuf<T>) -> Result<Vec<T>> {
        let staging = self.stage_for_read(buf)?;
        Readback::pending(
            self.inner.device.clone(),
            staging,
            buf.len,
            self.inner.failure.clone(),
        )
        .wait()
    }

    fn download_async<T: Element>(&self, buf: &GpuBuf<T>) -> Result<Readback<T>> {
        let staging = self.stage_for_read(buf)?;
        Ok(Readback::pending(
            self.inner.device.clone(),
            staging,
            buf.len,
            self.inner.failure.clone(),
        ))
    }

    fn copy<T: Element>(&self, src: &GpuBuf<T>, dst: &GpuBuf<T>) -> Result<()> {
        check_len("copy", "destination", dst.len, src.len)?;
        if std::mem::size_of::<T>() < 4 && !src.len.is_multiple_of(4) {
            return Err(shape_error(
                "copy",
                format!("{} {}s do not fill whole words", src.len, T::NAME),
            ));
        }
        self.trace(|tracer| {
            let from = tracer.range(&src.raw.buffer, src.offset, src.bytes());
            let to = tracer.range(&dst.raw.buffer, dst.offset, src.bytes());
            tracer.push(TraceStep::Copy { from, to });
        });
        self.with_encoder(|encoder| {
            encoder.copy_buffer_to_buffer(
                &src.raw.buffer,
                src.offset,
                &dst.raw.buffer,
                dst.offset,
                src.bytes(),
            )
        });
        Ok(())
    }

    fn len<T: Element>(buf: &GpuBuf<T>) -> usize {
        buf.len
    }

    fn slice<T: Element>(&self, buf: &GpuBuf<T>, offset: usize, len: usize) -> Result<GpuBuf<T>> {
        if offset + len > buf.len {
            return Err(shape_error(
                "slice",
                format!(
                    "view {offset}..{} of a buffer of {} elements",
                    offset + len,
                    buf.len
                ),
            ));
        }
        let align = self.view_alignment::<T>();
        if !offset.is_multiple_of(align) {
            return Err(shape_error(
                "slice",
                format!(
                    "offset {offset} is not a multiple of the device's view alignment of {align} elements"
                ),
            ));
        }
        Ok(GpuBuf {
            raw: buf.raw.clone(),
            offset: buf.offset + (offset * std::mem::size_of::<T>()) as u64,
            len,
            _element: PhantomData,
        })
    }

    fn view_alignment<T: Element>(&self) -> usize {
        self.inner.limits.min_storage_buffer_offset_alignment as usize / std::mem::size_of::<T>()
    }

    fn flush(&self) -> Result<()> {
        self.submit()
    }

    fn synchronize(&self) -> Result<()> {
        self.submit()?;
        self.wait()
    }
}
