//! Typed errors of the tensor runtime.

/// Everything that can go wrong in the runtime. Shape errors carry the shapes involved.
#[derive(Debug, thiserror::Error)]
pub enum TensorError {
    /// An operation was given buffers whose sizes do not match its shape description.
    #[error("{op}: {detail}")]
    Shape {
        /// The operation, e.g. `gemm`.
        op: &'static str,
        /// What did not match, with the sizes involved.
        detail: String,
    },
    /// No GPU adapter matched the request.
    #[error("no GPU adapter found{0}")]
    NoAdapter(String),
    /// The adapter refused to create a device.
    #[error("could not open a device on {adapter}: {source}")]
    RequestDevice {
        /// Adapter name.
        adapter: String,
        /// The driver's reason.
        source: wgpu::RequestDeviceError,
    },
    /// The device ran out of memory while allocating `bytes`.
    #[error("out of device memory allocating {bytes} bytes on {device}")]
    OutOfMemory {
        /// Device name.
        device: String,
        /// Size of the failed allocation.
        bytes: u64,
    },
    /// The device was lost (driver reset, GPU removed) or reported a validation error.
    #[error("device {device}: {detail}")]
    Device {
        /// Device name.
        device: String,
        /// The driver's message.
        detail: String,
    },
    /// A request exceeds what the device can do at all.
    #[error("{0}")]
    Limit(String),
    /// A trace was misused, or the traced work used something a trace cannot carry.
    #[error("trace: {0}")]
    Trace(String),
}

/// Result with [`TensorError`].
pub type Result<T, E = TensorError> = std::result::Result<T, E>;

/// Builds a [`TensorError::Shape`]; `detail` should name the sizes involved.
pub(crate) fn shape_error(op: &'static str, detail: impl Into<String>) -> TensorError {
    TensorError::Shape {
        op,
        detail: detail.into(),
    }
}

/// Checks that a buffer holds exactly `expected` elements.
pub(crate) fn check_len(
    op: &'static str,
    what: &str,
    actual: usize,
    expected: usize,
) -> Result<()> {
    if actual == expected {
        Ok(())
    } else {
        Err(shape_error(
            op,
            format!("{what} has {actual} elements, the shape needs {expected}"),
        ))
    }
}
