//! Criterion benchmarks of every kernel in the tensor crate's registry (`digits_tensor::bench::cases`), on
//! the CPU backend and on the default GPU adapter (skipped with a notice when there is none).
//!
//! Throughput is criterion's `Elements` for compute-bound cases (one element = one floating-point operation,
//! so `elem/s` reads as FLOP/s) and `Bytes` for memory-bound ones. GPU runs are recorded back to back and
//! synchronised once per sample, so a sample times the device, not a round trip per run.
//!
//! `cargo bench --bench kernels` (`-- gemm` to filter, `-- --test` to run each case once).

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use digits_tensor::bench;

fn kernels(c: &mut Criterion) {
    common::bench_cases(c, bench::cases());
}

criterion_group!(benches, kernels);
criterion_main!(benches);
