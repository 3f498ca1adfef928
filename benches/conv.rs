//! Criterion benchmarks of the convolution and pooling kernels on the MNIST network's shapes at batch 64
//! and 256 (`digits_tensor::bench::conv::cases`), on the CPU backend and the default GPU adapter (skipped
//! with a notice when there is none), plus the GEMMs that an im2col convolution of conv2 would run
//! (forward 7744×64×288, input gradient 7744×288×64, weight gradient 64×288×7744), for comparison with the
//! implicit-GEMM kernels.
//!
//! Convolutions report criterion's `Elements` as floating-point operations (`elem/s` reads as FLOP/s);
//! pooling reports bytes. GPU runs are recorded back to back and synchronised once per sample.
//!
//! `cargo bench --bench conv` (`-- conv2` to filter, `-- --test` to run each case once).

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use digits_tensor::bench;

fn conv(c: &mut Criterion) {
    let im2col_gemm = bench::cases()
        .into_iter()
        .filter(|case| case.name.starts_with("gemm conv2 "));
    common::bench_cases(c, bench::conv::cases().into_iter().chain(im2col_gemm));
}

criterion_group!(benches, conv);
criterion_main!(benches);
