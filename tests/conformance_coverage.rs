//! Every WGSL kernel is dispatched by its family's conformance checks, so no kernel ships without a CPU
//! comparison: each family's checks run on a device of their own, which must then have compiled exactly the
//! family's kernels. (That every file in `shaders/` belongs to a family is `crates/tensor/tests/shaders.rs`.)

mod common;

use digits_tensor::family::FAMILIES;

#[test]
fn each_familys_checks_dispatch_each_of_its_kernels_and_pass() {
    let Some(_) = common::gpu() else { return };
    for family in FAMILIES {
        let gpu = common::gpu().expect("a GPU, as for the first");
        for report in (family.check)(&gpu).unwrap() {
            assert!(
                report.passed(),
                "{}: {} failed: {:?}",
                family.name,
                report.kernel,
                report.mismatches
            );
        }
        let mut registered: Vec<&str> = family.kernels.iter().map(|k| k.name).collect();
        registered.sort_unstable();
        assert_eq!(
            gpu.compiled_kernels(),
            registered,
            "{}: the checks must dispatch exactly the family's kernels",
            family.name
        );
    }
}

/// Warm-up compiles every kernel training can use on this device: all of them but the GEMM variants that
/// `GemmVariant::pick` never chooses here.
#[test]
fn warm_up_compiles_every_kernel_in_use() {
    let Some(gpu) = common::gpu() else { return };
    gpu.warm_up().unwrap();
    let compiled = gpu.compiled_kernels();
    let missing: Vec<&str> = digits_tensor::family::kernels()
        .map(|k| k.name)
        .filter(|name| !compiled.contains(name))
        .collect();
    assert!(
        missing.iter().all(|name| name.starts_with("gemm_")),
        "warm-up skipped {missing:?}"
    );
    assert!(compiled.iter().any(|name| name.starts_with("gemm_")));
}
