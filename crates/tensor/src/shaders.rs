//! Every WGSL kernel, from the workspace's `shaders/` folder, one concern per file.

use crate::gpu::Kernel;

macro_rules! kernels {
    ($($ident:ident => $file:literal),* $(,)?) => {
        $(
            #[doc = concat!("`shaders/", $file, ".wgsl`")]
            pub static $ident: Kernel = Kernel {
                name: $file,
                source: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shaders/", $file, ".wgsl")),
            };
        )*
        /// All kernels, for validation and warm-up.
        pub static ALL: &[&Kernel] = &[$(&$ident),*];
    };
}

kernels! {
    GEMM_VEC4 => "gemm_vec4",
    GEMM_SCALAR => "gemm_scalar",
    GEMM_TILED => "gemm_tiled",
    ELEMENTWISE => "elementwise",
    GATHER => "gather",
    REDUCE_SUM => "reduce_sum",
    ARGMAX => "argmax",
    SOFTMAX => "softmax",
    SOFTMAX_CROSS_ENTROPY => "softmax_cross_entropy",
    ADAM => "adam",
    SGD => "sgd",
    CONV2D => "conv2d",
    CONV2D_LAYOUT => "conv2d_layout",
    CONV2D_TEXTURE => "conv2d_texture",
    CONV2D_TEXTURE_LAYOUT => "conv2d_texture_layout",
    CONV2D_TEXTURE_BACKWARD_WEIGHT => "conv2d_texture_backward_weight",
    CONV2D_BACKWARD_WEIGHT => "conv2d_backward_weight",
    MAXPOOL => "maxpool",
    AVG_POOL => "avg_pool",
    DROPOUT => "dropout",
    AUGMENT => "augment",
    BATCH_NORM => "batch_norm",
    BATCH_NORM_REDUCE => "batch_norm_reduce",
    COPY_ROWS => "copy_rows",
}
