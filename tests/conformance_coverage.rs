//! Every WGSL kernel is dispatched by its family's conformance checks, so no kernel ships without a CPU
//! comparison: each family's checks run on a device of their own, which must then have compiled exactly the
//! family's kernels. (That every file in `shaders/` belongs to a family is `crates/tensor/tests/shaders.rs`.)

mod common;

use digits_tensor::family::FAMILIES;

/// Every family and its kernels (the files in `shaders/`), written out: adding or dropping a kernel is a visible
/// change here, and each one below is then held to the test after this one.
const REGISTERED: &[(&str, &[&str])] = &[
    ("gemm", &["gemm_scalar", "gemm_tiled", "gemm_vec4"]),
    (
        "conv",
        &[
            "conv2d",
            "conv2d_backward_weight",
            "conv2d_layout",
            "conv2d_texture",
            "conv2d_texture_backward_weight",
            "conv2d_texture_layout",
        ],
    ),
    ("pool", &["avg_pool", "maxpool"]),
    ("batch_norm", &["batch_norm", "batch_norm_reduce"]),
    ("elementwise", &["elementwise", "gather"]),
    ("copy_rows", &["copy_rows"]),
    ("dropout", &["dropout"]),
    ("augment", &["augment"]),
    (
        "reduce",
        &["argmax", "reduce_sum", "softmax", "softmax_cross_entropy"],
    ),
    (
        "optim",
        &["adadelta", "adam", "ema", "nadam", "rmsprop", "sgd"],
    ),
];

#[test]
fn the_registry_holds_exactly_these_families_and_kernels() {
    let mut registered: Vec<(&str, Vec<&str>)> = FAMILIES
        .iter()
        .map(|family| {
            let mut kernels: Vec<&str> = family.kernels.iter().map(|k| k.name).collect();
            kernels.sort_unstable();
            (family.name, kernels)
        })
        .collect();
    registered.sort_unstable();
    let mut expected: Vec<(&str, Vec<&str>)> = REGISTERED
        .iter()
        .map(|(name, kernels)| (*name, kernels.to_vec()))
        .collect();
    expected.sort_unstable();
    assert_eq!(registered, expected);
}

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
