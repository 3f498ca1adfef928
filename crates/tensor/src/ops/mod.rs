//! Kernel families. Each module holds a spec type, a trait with the operation, the CPU implementation
//! (the reference) and the GPU implementation (which records WGSL dispatches).

pub mod gemm;

pub use gemm::{Gemm, GemmOps, GemmVariant};
