//! The harness both kernel benches share: criterion groups for registry cases on the CPU and the GPU.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use digits_tensor::bench::{Case, Setup, Work};
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

/// Benchmarks every case on the CPU backend and on the default GPU adapter, warmed up first (the GPU cases
/// are skipped with a notice when there is no adapter).
pub fn bench_cases(c: &mut Criterion, cases: impl IntoIterator<Item = Case>) {
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
    for case in cases {
        if let Some(setup) = &case.cpu {
            bench_case(c, &cpu, "cpu", &case, setup);
        }
        if let (Some(gpu), Some(setup)) = (&gpu, &case.gpu) {
            bench_case(c, gpu, "gpu", &case, setup);
        }
    }
}
