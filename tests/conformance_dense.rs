//! The dense kernels beyond GEMM (elementwise, gathers, reductions, the fused loss, optimizers) against the
//! CPU backend, on the default adapter.

mod common;

use digits_tensor::conformance::{self, Report, dense};
use digits_tensor::{Backend, ElementwiseOps, Gather, Gpu, GpuBuf};

fn assert_passes(check: fn(&Gpu) -> digits_tensor::Result<Report>) {
    let Some(gpu) = common::gpu() else { return };
    let report = check(&gpu).unwrap();
    assert!(
        report.shapes >= 20,
        "{} tried only {} shapes",
        report.kernel,
        report.shapes
    );
    assert!(
        report.passed(),
        "{} failed: {:?}",
        report.kernel,
        report.mismatches
    );
    assert!(report.worst <= 1.0, "{report:?}");
}

macro_rules! conformance_tests {
    ($($test:ident => $check:path),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                assert_passes($check);
            }
        )*
    };
}

conformance_tests! {
    add_matches_the_cpu => dense::check_add,
    scale_matches_the_cpu => dense::check_scale,
    relu_matches_the_cpu => dense::check_relu,
    relu_backward_matches_the_cpu => dense::check_relu_backward,
    fill_matches_the_cpu => dense::check_fill,
    gather_normalize_matches_the_cpu => dense::check_gather_normalize,
    gather_labels_match_the_cpu => dense::check_gather_labels,
    sum_axis_matches_the_cpu => dense::check_sum_axis,
    argmax_matches_the_cpu => dense::check_argmax,
    softmax_matches_the_cpu => dense::check_softmax,
    softmax_cross_entropy_matches_the_cpu => dense::check_softmax_cross_entropy,
    adam_matches_the_cpu => dense::check_adam,
    sgd_matches_the_cpu => dense::check_sgd,
    ema_matches_the_cpu => dense::check_ema,
    rmsprop_matches_the_cpu => dense::check_rmsprop,
    adadelta_matches_the_cpu => dense::check_adadelta,
    nadam_matches_the_cpu => dense::check_nadam,
}

#[test]
fn a_broken_add_fails_the_check() {
    let Some(gpu) = common::gpu() else { return };
    // Test-only breakage: a correct sum whose element 256 (the first of the second workgroup) is then changed.
    let broken = |a: &GpuBuf<f32>, b: &GpuBuf<f32>, out: &GpuBuf<f32>| {
        gpu.add(a, b, out)?;
        let mut values = gpu.download(out)?;
        if let Some(x) = values.get_mut(256) {
            *x += 1e-3;
        }
        gpu.write(out, &values)
    };
    let report = dense::check_add_with(&gpu, "broken add", &broken).unwrap();
    assert!(!report.passed());
    assert!(report.worst > 1.0);
    assert!(
        report.mismatches[0].contains("[256]"),
        "{:?}",
        report.mismatches
    );
}

#[test]
fn run_all_includes_every_dense_kernel() {
    let Some(gpu) = common::gpu() else { return };
    let reports = conformance::run_all(&gpu).unwrap();
    for kernel in [
        "add",
        "scale",
        "relu",
        "relu_backward",
        "fill",
        "gather_normalize",
        "gather_labels",
        "sum_axis",
        "argmax_rows",
        "softmax",
        "softmax_cross_entropy",
        "adam",
        "sgd",
    ] {
        let report = reports
            .iter()
            .find(|r| r.kernel == kernel)
            .unwrap_or_else(|| panic!("{kernel} missing"));
        assert!(report.passed(), "{kernel}: {:?}", report.mismatches);
    }
}

#[test]
fn elementwise_kernels_cover_large_buffers_and_a_ragged_tail() {
    let Some(gpu) = common::gpu() else { return };
    // 70,000 workgroups' worth of floats and 3 more: vec4s for the bulk, single floats for the tail.
    let n: usize = 70_000 * 256 + 3;
    let x = gpu.zeros::<f32>(n).unwrap();
    let y = gpu.zeros::<f32>(n).unwrap();
    gpu.fill(&x, 1.5).unwrap();
    gpu.scale(&x, -2.0, &y).unwrap();
    let values = gpu.download(&y).unwrap();
    let wrong: Vec<usize> = (0..n).filter(|&i| values[i] != -3.0).take(5).collect();
    assert!(
        wrong.is_empty(),
        "elements {wrong:?} of {n} were not written"
    );
}

#[test]
fn one_float_per_invocation_kernels_cover_grids_past_65535_workgroups() {
    let Some(gpu) = common::gpu() else { return };
    // 65,600 rows of 256 bytes: 16.8M outputs, 65,600 workgroups of 256, so the grid folds into y.
    let (rows, row_len, count): (usize, usize, usize) = (1000, 256, 65_600);
    assert!(
        (count * row_len).div_ceil(256)
            > gpu.limits().max_compute_workgroups_per_dimension as usize
    );
    let data: Vec<u8> = (0..rows * row_len).map(|i| (i % 251) as u8 + 1).collect();
    let indices: Vec<u32> = (0..count).map(|i| (i * 7 % rows) as u32).collect();
    let spec = Gather {
        row_len,
        index_offset: 0,
        count,
        scale: 1.0,
        shift: 0.0,
    };
    let out = conformance::poisoned(&gpu, count * row_len).unwrap();
    gpu.gather_normalize(
        &spec,
        &gpu.upload(&data).unwrap(),
        &gpu.upload(&indices).unwrap(),
        &out,
    )
    .unwrap();
    let values = gpu.download(&out).unwrap();
    // Small integers in f32: exact.
    let wrong: Vec<usize> = (0..count * row_len)
        .filter(|&i| {
            values[i] != data[indices[i / row_len] as usize * row_len + i % row_len] as f32
        })
        .take(5)
        .collect();
    assert!(wrong.is_empty(), "outputs {wrong:?} are wrong");
}

#[test]
fn warm_up_runs_every_pipeline_once() {
    let Some(gpu) = common::gpu() else { return };
    let took = gpu.warm_up().unwrap();
    assert!(took > std::time::Duration::ZERO);
    // Everything it recorded has run: nothing is left pending and the device reports no error.
    gpu.synchronize().unwrap();
}
