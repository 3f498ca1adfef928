//! `digits check`: every GPU kernel against its CPU twin on random inputs over many shapes, as a table.

use std::time::Instant;

use anyhow::{Context, bail};
use digits_tensor::{AdapterRequest, Backend, Gpu, conformance};

/// Check every GPU kernel against the CPU backend (random inputs, many shapes, outputs poisoned first).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The GPU adapter: an index or part of a name from `digits devices`, or a backend (vulkan, metal, dx12,
    /// gl). Default: the best-ranked adapter, software adapters (llvmpipe) included.
    #[arg(long, value_name = "DEVICE")]
    device: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let wanted = args.device.as_deref().unwrap_or("gpu");
    if wanted.trim().eq_ignore_ascii_case("cpu") {
        bail!(
            "`digits check` compares a GPU with the CPU backend; name a GPU adapter (see `digits devices`)"
        );
    }
    let request = AdapterRequest::parse(wanted).context("--device")?;
    let gpu = Gpu::new(&request).with_context(|| {
        format!("cannot open the GPU adapter {wanted:?} (see `digits devices`)")
    })?;
    println!("device: {}", gpu.name());
    let start = Instant::now();
    let reports = conformance::run_all(&gpu).context("a kernel could not run")?;

    let width = reports
        .iter()
        .map(|r| r.kernel.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    println!();
    println!(
        "{:<width$}  {:>6}  {:>13}  {:<20}  result",
        "kernel", "shapes", "worst / tol", "tolerance"
    );
    for report in &reports {
        println!(
            "{:<width$}  {:>6}  {:>13}  {:<20}  {}",
            report.kernel,
            report.shapes,
            format_ratio(report.worst),
            report.tolerance,
            if report.passed() { "PASS" } else { "FAIL" },
        );
    }
    let failed: Vec<_> = reports.iter().filter(|r| !r.passed()).collect();
    for report in &failed {
        println!();
        println!(
            "{}: first mismatches (shape: [index] gpu, cpu)",
            report.kernel
        );
        for mismatch in &report.mismatches {
            println!("  {mismatch}");
        }
    }
    println!();
    println!(
        "{} kernels checked in {:.1} s",
        reports.len(),
        start.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        bail!(
            "{} of {} kernels do not match the CPU on {}",
            failed.len(),
            reports.len(),
            gpu.name()
        );
    }
    println!("all kernels match the CPU");
    Ok(())
}

/// The worst error as a multiple of the tolerance: `0` for exact agreement, `inf` for NaN or a wrong integer.
fn format_ratio(ratio: f64) -> String {
    if ratio == 0.0 {
        "0".into()
    } else if ratio.is_finite() {
        format!("{ratio:.3}")
    } else {
        "inf".into()
    }
}
