//! `digits devices`: every adapter wgpu finds, with the limits that matter to the kernels.

use digits_tensor::gpu::list_adapters;

/// No options: lists everything.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    let adapters = list_adapters();
    if adapters.is_empty() {
        println!("No GPU adapter found. `--device cpu` runs everything on the CPU backend.");
        println!(
            "Without a GPU, Mesa's lavapipe provides a Vulkan device on the CPU: apt-get install mesa-vulkan-drivers"
        );
        return Ok(());
    }
    for adapter in &adapters {
        let info = &adapter.info;
        let limits = &adapter.limits;
        println!(
            "[{}]{} {}",
            adapter.index,
            if adapter.is_default { " (default)" } else { "" },
            info.name
        );
        println!(
            "    backend: {:?}, type: {:?} ({})",
            info.backend,
            info.device_type,
            adapter.rank.describe()
        );
        println!("    driver: {} {}", info.driver, info.driver_info);
        println!(
            "    limits: {} MiB per storage binding, {} MiB per buffer, {} invocations and {} KiB workgroup memory per workgroup, {} storage buffers per stage",
            limits.max_storage_buffer_binding_size >> 20,
            limits.max_buffer_size >> 20,
            limits.max_compute_invocations_per_workgroup,
            limits.max_compute_workgroup_storage_size >> 10,
            limits.max_storage_buffers_per_shader_stage,
        );
    }
    if !adapters.iter().any(|a| a.is_default) {
        println!(
            "No real GPU: commands run on the CPU backend unless --device names an adapter (software adapters are slower)."
        );
    }
    println!(
        "Choose one with --device INDEX, a part of its name, or a backend (vulkan, metal, dx12, gl); --device cpu for the CPU backend."
    );
    Ok(())
}
