//! Tracing: a record of the work a [`Gpu`] is given (buffers, writes, clears, copies, dispatches and reads,
//! in order, with their bytes), so that the same kernels with the same parameters can run again on another
//! WebGPU implementation: `digits serve` sends a model's trace to the browser, whose WebGPU replays it.
//!
//! A trace names buffers by index and carries no device handles. It is recorded on any device, usually on
//! [`Gpu::for_tracing`], which runs nothing and has WebGPU's default limits, so the kernels and grids it
//! picks suit every browser.

use std::collections::HashMap;

use super::{Binding, Dispatch, Gpu, lock};
use crate::{Result, TensorError};

/// A byte range of one traced buffer: its index in [`Trace::buffers`], the offset and the size in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceRange {
    /// Index into [`Trace::buffers`].
    pub buffer: usize,
    /// Offset in bytes.
    pub offset: u64,
    /// Size in bytes (a multiple of 4).
    pub size: u64,
}

/// One thing the device was asked to do, in the order it was asked.
#[derive(Clone, Debug, PartialEq)]
pub enum TraceStep {
    /// Host data written into a buffer (`data.len()` is the range's size: padded to whole words).
    Write {
        /// Where the data goes.
        to: TraceRange,
        /// The bytes.
        data: Vec<u8>,
    },
    /// A range set to zero.
    Clear {
        /// The range.
        range: TraceRange,
    },
    /// A copy between buffers.
    Copy {
        /// Source range.
        from: TraceRange,
        /// Destination range (of the same size).
        to: TraceRange,
    },
    /// One compute dispatch: a kernel of `shaders/` (by file stem), its entry point and override constants,
    /// the bytes of its uniform parameters (binding 0) and its buffers (bindings 1, 2, ...).
    Dispatch {
        /// The kernel's file stem, e.g. `conv2d`.
        kernel: &'static str,
        /// The entry point.
        entry: &'static str,
        /// Pipeline-overridable constants.
        constants: Vec<(&'static str, f64)>,
        /// The uniform parameter struct's bytes.
        params: Vec<u8>,
        /// The buffers bound at 1, 2, ... in order.
        bindings: Vec<TraceRange>,
        /// Workgroup counts.
        workgroups: [u32; 3],
    },
    /// A range read back to the host (what the caller downloaded).
    Read {
        /// The range.
        from: TraceRange,
    },
}

/// Everything recorded between [`Gpu::start_trace`] and [`Gpu::finish_trace`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    /// The size in bytes of each buffer the steps name (a buffer the pool hands out twice is one buffer).
    pub buffers: Vec<u64>,
    /// The steps, in order.
    pub steps: Vec<TraceStep>,
}

/// The trace being recorded on a device.
#[derive(Default)]
pub(super) struct Tracer {
    ids: HashMap<wgpu::Buffer, usize>,
    trace: Trace,
    /// The first thing asked that a trace cannot carry (a texture binding).
    unsupported: Option<String>,
}

impl Tracer {
    pub(super) fn range(&mut self, buffer: &wgpu::Buffer, offset: u64, size: u64) -> TraceRange {
        let next = self.ids.len();
        let id = *self.ids.entry(buffer.clone()).or_insert_with(|| {
            self.trace.buffers.push(buffer.size());
            next
        });
        TraceRange {
            buffer: id,
            offset,
            size,
        }
    }

    pub(super) fn push(&mut self, step: TraceStep) {
        self.trace.steps.push(step);
    }

    pub(super) fn dispatch(&mut self, d: &Dispatch<'_>) {
        let mut bindings = Vec::with_capacity(d.buffers.len());
        for binding in d.buffers {
            match *binding {
                Binding::Buffer {
                    buffer,
                    offset,
                    size,
                } => bindings.push(self.range(buffer, offset, size)),
                Binding::Texture(_) => {
                    self.unsupported.get_or_insert_with(|| {
                        format!(
                            "{}:{} binds a texture, which a trace does not carry",
                            d.kernel.name, d.entry
                        )
                    });
                    return;
                }
            }
        }
        self.push(TraceStep::Dispatch {
            kernel: d.kernel.name,
            entry: d.entry,
            constants: d.constants.to_vec(),
            params: d.params.to_vec(),
            bindings,
            workgroups: d.workgroups,
        });
    }
}

impl Gpu {
    /// A device that runs nothing, with WebGPU's default limits and no optional features, for recording
    /// traces that any WebGPU implementation can replay. Its buffers are host memory; shaders and pipelines
    /// are validated as on any device, but dispatches compute nothing, so what it reads back is meaningless.
    pub fn for_tracing() -> Result<Self> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::NOOP;
        desc.backend_options.noop = wgpu::NoopBackendOptions {
            enable: true,
            limits: Some(wgpu::Limits::default()),
            features: Some(wgpu::Features::empty()),
            device_type: Some(wgpu::DeviceType::Other),
            ..Default::default()
        };
        let instance = wgpu::Instance::new(desc);
        let adapter =
            pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
                .map_err(|e| TensorError::NoAdapter(format!(" for tracing: {e}")))?;
        let (device, queue) = super::adapter::open_device(&adapter)?;
        // wgpu 30's noop adapter reports itself as a CPU whatever `device_type` says; kernels would then
        // pick the texture variants meant for CPU emulation, which a trace cannot carry.
        let info = wgpu::AdapterInfo {
            device_type: wgpu::DeviceType::Other,
            ..adapter.get_info()
        };
        Ok(Self::from_device(info, device, queue))
    }

    /// Starts recording a trace (dropping one in progress). Buffers count from the first one a step names.
    pub fn start_trace(&self) {
        *lock(&self.inner.tracer) = Some(Tracer::default());
    }

    /// Steps recorded so far, or `None` when no trace is being recorded: a caller marks where a phase of
    /// its work begins with it.
    pub fn trace_len(&self) -> Option<usize> {
        lock(&self.inner.tracer)
            .as_ref()
            .map(|tracer| tracer.trace.steps.len())
    }

    /// Stops recording and returns the trace; an error when none was started or when the work used
    /// something a trace cannot carry.
    pub fn finish_trace(&self) -> Result<Trace> {
        let tracer = lock(&self.inner.tracer)
            .take()
            .ok_or_else(|| TensorError::Trace("no trace was started".into()))?;
        match tracer.unsupported {
            Some(what) => Err(TensorError::Trace(what)),
            None => Ok(tracer.trace),
        }
    }

    /// Runs `record` on the trace being recorded, if any.
    pub(super) fn trace(&self, record: impl FnOnce(&mut Tracer)) {
        if let Some(tracer) = lock(&self.inner.tracer).as_mut() {
            record(tracer);
        }
    }
}
