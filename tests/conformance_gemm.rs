//! GEMM kernels against the CPU backend, on the default adapter.

mod common;

use digits_tensor::conformance::{self, check_gemm_with};
use digits_tensor::{Backend, Gemm, GemmOps, GpuBuf};

#[test]
fn every_gemm_variant_matches_the_cpu() {
    let Some(gpu) = common::gpu() else { return };
    let reports = conformance::check_gemm(&gpu).unwrap();
    assert_eq!(reports.len(), 9, "three variants in three forms");
    for report in &reports {
        // Each shape runs twice: plain, and with the bias + ReLU epilogue.
        assert!(report.shapes >= 40, "{report:?}");
        assert!(
            report.passed(),
            "{} failed: {:?}",
            report.kernel,
            report.mismatches
        );
    }
}

#[test]
fn a_broken_gemm_fails_the_check() {
    let Some(gpu) = common::gpu() else { return };
    // Test-only breakage: a correct GEMM whose last output element is then overwritten.
    let broken = |s: &Gemm,
                  a: &GpuBuf<f32>,
                  b: &GpuBuf<f32>,
                  bias: Option<&GpuBuf<f32>>,
                  c: &GpuBuf<f32>| {
        gpu.gemm(s, a, b, bias, c)?;
        let last = gpu.slice(c, 0, c.len())?;
        let mut values = gpu.download(&last)?;
        *values.last_mut().unwrap() += 0.5;
        gpu.write(c, &values)
    };
    let report = check_gemm_with(&gpu, "broken", |g| g, &broken, &|_| true).unwrap();
    assert!(!report.passed());
    assert!(report.worst > 1.0);
}
