//! `digits-tensor`: a small tensor runtime with a fast CPU backend and hand-written WGSL kernels run
//! through wgpu on any Vulkan, Metal or DX12 GPU.
//!
//! Every GPU kernel has a CPU twin that computes the same function; the conformance tests and
//! `digits check` compare them.
//!
//! ```
//! use digits_tensor::{Backend, Cpu, Gemm, GemmOps};
//!
//! let cpu = Cpu::new();
//! let a = cpu.upload(&[1.0f32, 2.0, 3.0, 4.0])?; // 2x2
//! let b = cpu.upload(&[5.0f32, 6.0, 7.0, 8.0])?; // 2x2
//! let c = cpu.zeros::<f32>(4)?;
//! cpu.gemm(&Gemm::new(2, 2, 2), &a, &b, None, &c)?;
//! assert_eq!(cpu.download(&c)?, vec![19.0, 22.0, 43.0, 50.0]);
//! # Ok::<(), digits_tensor::TensorError>(())
//! ```

mod backend;
pub mod bench;
pub mod conformance;
pub mod cpu;
mod element;
mod error;
pub mod family;
pub mod gpu;
pub mod ops;

pub use backend::Backend;
pub use cpu::{Cpu, CpuBuf};
pub use element::Element;
pub use error::{Result, TensorError};
pub use gpu::{AdapterRequest, Gpu, GpuBuf, Kernel, Readback, Trace, TraceRange, TraceStep};
pub use ops::*;
