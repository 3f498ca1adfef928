//! Multiplies two matrices on the default GPU and checks the result against the CPU backend.
//!
//! `cargo run --release -p digits-tensor --example gemm [-- M N K]`

use digits_tensor::{Backend, Cpu, Gemm, GemmOps, Gpu};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dims: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let (m, n, k) = match dims[..] {
        [m, n, k] => (m, n, k),
        [] => (256, 192, 320),
        _ => return Err("usage: gemm [M N K]".into()),
    };
    // Deterministic, non-zero inputs.
    let a: Vec<f32> = (0..m * k)
        .map(|i| ((i * 7 + 3) % 19) as f32 / 19.0 - 0.4)
        .collect();
    let b: Vec<f32> = (0..k * n)
        .map(|i| ((i * 5 + 1) % 23) as f32 / 23.0 - 0.6)
        .collect();
    let spec = Gemm::new(m, n, k);

    let gpu = Gpu::default_adapter()?;
    let (ga, gb, gc) = (gpu.upload(&a)?, gpu.upload(&b)?, gpu.zeros::<f32>(m * n)?);
    gpu.gemm(&spec, &ga, &gb, None, &gc)?;
    let on_gpu = gpu.download(&gc)?;

    let cpu = Cpu::new();
    let (ca, cb, cc) = (cpu.upload(&a)?, cpu.upload(&b)?, cpu.zeros::<f32>(m * n)?);
    cpu.gemm(&spec, &ca, &cb, None, &cc)?;
    let on_cpu = cpu.download(&cc)?;

    let worst = on_gpu
        .iter()
        .zip(&on_cpu)
        .map(|(g, c)| (g - c).abs() / (1.0 + c.abs()))
        .fold(0.0f32, f32::max);
    println!(
        "{m}x{k} · {k}x{n} on {}: worst error {worst:.2e} against the CPU",
        gpu.name()
    );
    if worst > 1e-4 {
        return Err(format!("GPU and CPU disagree: {worst}").into());
    }
    Ok(())
}
