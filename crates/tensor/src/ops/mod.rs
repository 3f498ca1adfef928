//! Kernel families. Each module holds a spec type, a trait with the operation, the CPU implementation
//! (the reference) and the GPU implementation (which records WGSL dispatches).

pub mod augment;
pub mod batch_norm;
pub mod conv;
pub mod copy_rows;
pub mod dropout;
pub mod elementwise;
pub mod gemm;
pub mod optim;
pub mod pool;
pub mod reduce;

pub use augment::{Augment, AugmentOps};
pub use batch_norm::{BatchNorm, BatchNormOps};
pub use conv::{Conv2d, ConvOps, ConvVariant};
pub use copy_rows::{CopyRows, CopyRowsOps};
pub use dropout::{Dropout, DropoutOps};
pub use elementwise::{ElementwiseOps, Gather};
pub use gemm::{Gemm, GemmOps, GemmVariant};
pub use optim::{AdamStep, OptimOps, SgdStep};
pub use pool::{Pool2d, PoolOps};
pub use reduce::{ReduceOps, SoftmaxCrossEntropy};

/// Every operation a network needs; implemented by [`crate::Cpu`] and [`crate::Gpu`].
pub trait Ops:
    GemmOps
    + ElementwiseOps
    + ReduceOps
    + OptimOps
    + ConvOps
    + PoolOps
    + DropoutOps
    + AugmentOps
    + BatchNormOps
    + CopyRowsOps
{
}

impl<B> Ops for B where
    B: GemmOps
        + ElementwiseOps
        + ReduceOps
        + OptimOps
        + ConvOps
        + PoolOps
        + DropoutOps
        + AugmentOps
        + BatchNormOps
        + CopyRowsOps
{
}
