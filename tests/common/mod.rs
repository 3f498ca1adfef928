//! Shared test set-up: the GPU under test, or a visible skip when there is none.
#![allow(dead_code)] // each test binary compiles this module; not every one uses both helpers

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

/// The default adapter's device with its queue (for tests that drive wgpu themselves), wrapped as a `Gpu`
/// too; the same skip rule as [`gpu`].
pub fn gpu_with_queue() -> Option<(Gpu, wgpu::Queue)> {
    let opened =
        digits_tensor::gpu::adapter::open_adapter(&Default::default()).and_then(|adapter| {
            let (device, queue) = digits_tensor::gpu::adapter::open_device(&adapter)?;
            Ok((
                Gpu::from_device(adapter.get_info(), device, queue.clone()),
                queue,
            ))
        });
    match opened {
        Ok(pair) => Some(pair),
        Err(e) if std::env::var("DIGITS_REQUIRE_GPU").is_ok_and(|v| v == "1") => {
            panic!("DIGITS_REQUIRE_GPU=1 but no GPU adapter is usable: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: no GPU adapter ({e}); install mesa-vulkan-drivers for lavapipe");
            None
        }
    }
}
