//! Kernel families. Each module holds a spec type, a trait with the operation, the CPU implementation
//! (the reference) and the GPU implementation (which records WGSL dispatches).

pub use augment::{Augment, AugmentOps};
pub use batch_norm::{BatchNorm, BatchNormOps};
pub use conv::{Conv2d, ConvOps, ConvVariant};
pub use copy_rows::{CopyRows, CopyRowsOps};
pub use dropout::{Dropout, DropoutOps};
pub use elementwise::{ElementwiseOps, Gather};
pub use gemm::{Gemm, GemmOps, GemmVariant};
pub use optim::{AdadeltaStep, AdamStep, NadamStep, OptimOps, RmspropStep, SgdStep};
pub use pool::{Pool2d, PoolOps};
pub use reduce::{Distillation, ReduceOps, SoftmaxCrossEntropy};

/// The kernel families, one line each: the module, and the trait with its operations. This declares the
/// modules, makes [`Ops`] the sum of the traits and lists the modules' registrations in [`FAMILIES`].
macro_rules! families {
    ($($module:ident: $ops:ident),+ $(,)?) => {
        $(pub mod $module;)+

        /// Every operation a network needs; implemented by [`crate::Cpu`] and [`crate::Gpu`].
        pub trait Ops
        where
            $(Self: $ops,)+
        {
        }

        impl<B> Ops for B where $(B: $ops,)+ {}

        /// Every kernel family's registration (see [`crate::family`]).
        pub static FAMILIES: &[&crate::family::Family] = &[$(&$module::FAMILY),+];
    };
}

families! {
    gemm: GemmOps,
    elementwise: ElementwiseOps,
    reduce: ReduceOps,
    optim: OptimOps,
    conv: ConvOps,
    pool: PoolOps,
    dropout: DropoutOps,
    augment: AugmentOps,
    batch_norm: BatchNormOps,
    copy_rows: CopyRowsOps,
}
