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
}
