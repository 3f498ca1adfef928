//! Shared test set-up: the GPU under test, or a visible skip when there is none.

use digits_tensor::Gpu;

/// The default adapter. Without one, tests skip with a notice, unless `DIGITS_REQUIRE_GPU=1` (as in CI),
/// where a missing adapter fails the test.
pub fn gpu() -> Option<Gpu> {
    match Gpu::default_adapter() {
        Ok(gpu) => Some(gpu),
        Err(e) if std::env::var("DIGITS_REQUIRE_GPU").is_ok_and(|v| v == "1") => {
            panic!("DIGITS_REQUIRE_GPU=1 but no GPU adapter is usable: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: no GPU adapter ({e}); install mesa-vulkan-drivers for lavapipe");
            None
        }
    }
}
