//! Kernel families: each ops module registers its WGSL kernels, their warm-up and their conformance check in
//! one place, the [`family!`] call at its end. Everything that must know every kernel (the shader list, the
//! warm-up, `conformance::run_all`, the coverage and uniform-layout tests) reads [`FAMILIES`], which
//! `ops/mod.rs` builds from its module list.

use std::time::{Duration, Instant};

use crate::conformance::Report;
use crate::gpu::Kernel;
use crate::{Backend, Gpu, Result};

pub use crate::ops::FAMILIES;

/// One ops module's kernels, as the rest of the crate needs them.
pub struct Family {
    /// The ops module, e.g. `pool`.
    pub name: &'static str,
    /// The WGSL kernels it dispatches, one per file of `shaders/`.
    pub kernels: &'static [&'static Kernel],
    /// Compiles and runs each of its pipelines once on tiny inputs.
    pub warm_up: fn(&Gpu) -> Result<()>,
    /// Its conformance checks against the CPU twins; together they dispatch every kernel in `kernels`.
    pub check: fn(&Gpu) -> Result<Vec<Report>>,
    /// The Rust twins of its kernels' uniform structs.
    #[cfg(test)]
    pub(crate) uniforms: fn() -> Vec<crate::gpu::uniform::UniformLayout>,
}

/// `family!("pool", kernels: [MAXPOOL => "maxpool", ...], warm_up: f, check: g, uniforms: [h, ...])`: declares
/// the module's kernel statics (from `shaders/<file>.wgsl`) and its `FAMILY`.
macro_rules! family {
    (
        $name:literal,
        kernels: [$($ident:ident => $file:literal),+ $(,)?],
        warm_up: $warm:path,
        check: $check:path,
        uniforms: [$($uniform:path),* $(,)?] $(,)?
    ) => {
        $(
            #[doc = concat!("`shaders/", $file, ".wgsl`")]
            pub(crate) static $ident: $crate::gpu::Kernel = $crate::gpu::Kernel {
                name: $file,
                source: include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../shaders/",
                    $file,
                    ".wgsl"
                )),
            };
        )+

        /// This module's registration: its kernels, warm-up and conformance check.
        pub(crate) static FAMILY: $crate::family::Family = $crate::family::Family {
            name: $name,
            kernels: &[$(&$ident),+],
            warm_up: $warm,
            check: $check,
            #[cfg(test)]
            uniforms: || vec![$($uniform()),*],
        };
    };
}
pub(crate) use family;

/// Every registered kernel, family by family.
pub fn kernels() -> impl Iterator<Item = &'static Kernel> {
    FAMILIES
        .iter()
        .flat_map(|family| family.kernels.iter().copied())
}

impl Gpu {
    /// Compiles and runs every family's pipelines once, and returns how long that took. Drivers may compile at
    /// pipeline creation or, like lavapipe, at the first dispatch (30-500 ms a kernel), so each pipeline is
    /// dispatched, on tiny inputs, not just created: no timing (and no first training step) pays for it.
    pub fn warm_up(&self) -> Result<Duration> {
        let start = Instant::now();
        for family in FAMILIES {
            (family.warm_up)(self)?;
        }
        self.synchronize()?;
        Ok(start.elapsed())
    }
}
