//! Every WGSL kernel is dispatched by some conformance check, so no kernel ships without a CPU comparison.

mod common;

use digits_tensor::{conformance, shaders};

/// Every file in `shaders/`, by name: a new kernel must be added here and reached by a check in
/// `conformance::run_all`.
const KERNELS: [&str; 24] = [
    "adam",
    "argmax",
    "augment",
    "avg_pool",
    "batch_norm",
    "batch_norm_reduce",
    "conv2d",
    "conv2d_backward_weight",
    "conv2d_layout",
    "conv2d_texture",
    "conv2d_texture_backward_weight",
    "conv2d_texture_layout",
    "copy_rows",
    "dropout",
    "elementwise",
    "gather",
    "gemm_scalar",
    "gemm_tiled",
    "gemm_vec4",
    "maxpool",
    "reduce_sum",
    "sgd",
    "softmax",
    "softmax_cross_entropy",
];

#[test]
fn the_kernel_list_names_every_registered_shader() {
    let mut registered: Vec<&str> = shaders::ALL.iter().map(|k| k.name).collect();
    registered.sort_unstable();
    assert_eq!(registered, KERNELS);
}

#[test]
fn run_all_dispatches_every_kernel_and_passes() {
    let Some(gpu) = common::gpu() else { return };
    let reports = conformance::run_all(&gpu).unwrap();
    for report in &reports {
        assert!(
            report.passed(),
            "{} failed: {:?}",
            report.kernel,
            report.mismatches
        );
    }
    assert_eq!(
        gpu.compiled_kernels(),
        KERNELS,
        "kernels never dispatched by a conformance check"
    );
}
