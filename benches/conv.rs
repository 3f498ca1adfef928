//! Criterion benchmarks of the convolution and pooling kernels on the MNIST network's shapes at batch 64
//! and 256 (`digits_tensor::bench::conv::cases`), on the CPU backend and the default GPU adapter (skipped
//! with a notice when there is none), plus the GEMM that an im2col convolution of conv2 would run
//! (7744×64×288), for comparison with the implicit-GEMM kernels.
//!
//! Convolutions report criterion's `Elements` as floating-point operations (`elem/s` reads as FLOP/s);
//! pooling reports bytes. GPU runs are recorded back to back and synchronised once per sample.
//!
//! `cargo bench --bench conv` (`-- conv2` to filter, `-- --test` to run each case once).

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use digits_tensor::bench::{self, Case, Setup, Work};
use digits_tensor::{Backend, Cpu, Gpu};

fn throughput(work: Work) -> Throughput {
    match work {
        Work::Flops(n) => Throughput::Elements(n),
        Work::Bytes(n) => Throughput::Bytes(n),
    }
}

/// One case on one backend: setup and a warm-up run outside the timing, then `iters` runs per sample.
fn bench_case<B: Backend>(
    c: &mut Criterion,
    backend: &B,
    label: &str,
    case: &Case,
    setup: &Setup<B>,
) {
    let mut group = c.benchmark_group(format!("{} {}", case.name, case.shape));
    group.throughput(throughput(case.work));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    let mut run = setup(backend)
        .and_then(|mut run| {
            run(backend)?;
            backend.synchronize()?;
            Ok(run)
        })
        .unwrap_or_else(|e| panic!("{} {} on {label}: {e}", case.name, case.shape));
    group.bench_function(label, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                run(backend).expect("kernel run");
            }
            backend.synchronize().expect("synchronize");
            start.elapsed()
        })
    });
    group.finish();
}

fn conv(c: &mut Criterion) {
    let cpu = Cpu::new();
    let gpu = match Gpu::default_adapter() {
        Ok(gpu) => {
            let warm_up = gpu.warm_up().expect("warm-up");
            eprintln!(
                "GPU: {} (warm-up {:.2} s)",
                gpu.name(),
                warm_up.as_secs_f64()
            );
            Some(gpu)
        }
        Err(e) => {
            eprintln!("SKIPPED the GPU cases: no GPU adapter ({e})");
            None
        }
    };
    let im2col_gemm = bench::cases()
        .into_iter()
        .filter(|case| case.name == "gemm conv2 as GEMM");
    for case in bench::conv::cases().into_iter().chain(im2col_gemm) {
        if let Some(setup) = &case.cpu {
            bench_case(c, &cpu, "cpu", &case, setup);
        }
        if let (Some(gpu), Some(setup)) = (&gpu, &case.gpu) {
            bench_case(c, gpu, "gpu", &case, setup);
        }
    }
}

criterion_group!(benches, conv);
criterion_main!(benches);
