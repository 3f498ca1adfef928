//! Convolution, pooling, dropout and augmentation kernels against the CPU backend, on the default adapter.

mod common;

use digits_tensor::conformance::{augment, conv, dropout, pool};
use digits_tensor::{Backend, Conv2d, ConvOps, ConvVariant, GpuBuf};

fn assert_passed(report: &digits_tensor::conformance::Report, shapes: usize) {
    assert!(
        report.shapes >= shapes,
        "{} ran {} shapes",
        report.kernel,
        report.shapes
    );
    assert!(
        report.passed(),
        "{} failed: {:?}",
        report.kernel,
        report.mismatches
    );
}

#[test]
fn conv2d_forward_matches_the_cpu_with_every_kernel() {
    let Some(gpu) = common::gpu() else { return };
    for variant in ConvVariant::ALL {
        assert_passed(&conv::check_conv2d(&gpu, variant).unwrap(), 20);
    }
}

#[test]
fn conv2d_input_gradient_matches_the_cpu_with_every_kernel() {
    let Some(gpu) = common::gpu() else { return };
    for variant in ConvVariant::ALL {
        assert_passed(
            &conv::check_conv2d_backward_input(&gpu, variant).unwrap(),
            20,
        );
    }
}

#[test]
fn conv2d_weight_gradient_matches_the_cpu_and_is_reproducible_with_every_kernel() {
    let Some(gpu) = common::gpu() else { return };
    for variant in ConvVariant::ALL {
        assert_passed(
            &conv::check_conv2d_backward_weight(&gpu, variant).unwrap(),
            20,
        );
    }
}

#[test]
fn max_pooling_matches_the_cpu_exactly() {
    let Some(gpu) = common::gpu() else { return };
    assert_passed(&pool::check_max_pool2d(&gpu).unwrap(), 20);
}

#[test]
fn dropout_masks_match_the_cpu_bit_for_bit() {
    let Some(gpu) = common::gpu() else { return };
    assert_passed(&dropout::check_dropout(&gpu).unwrap(), 20);
}

#[test]
fn augmentation_matches_the_cpu_and_keeps_identity_and_rotation() {
    let Some(gpu) = common::gpu() else { return };
    assert_passed(&augment::check_augment(&gpu).unwrap(), 20);
    assert_passed(&augment::check_augment_identity(&gpu).unwrap(), 20);
    assert_passed(&augment::check_augment_rotation(&gpu).unwrap(), 3);
}

#[test]
fn a_broken_convolution_fails_the_check() {
    let Some(gpu) = common::gpu() else { return };
    // Test-only breakage: a correct convolution whose first output of the last channel is then nudged.
    let broken =
        |s: &Conv2d, x: &GpuBuf<f32>, w: &GpuBuf<f32>, b: Option<&GpuBuf<f32>>, y: &GpuBuf<f32>| {
            gpu.conv2d(s, x, w, b, y)?;
            let mut values = gpu.download(y)?;
            let plane = s.out_height() * s.out_width();
            values[(s.out_channels - 1) * plane] += 1e-3;
            gpu.write(y, &values)
        };
    let report = conv::check_conv2d_with(&gpu, "broken", &broken, &|_| true).unwrap();
    assert!(!report.passed());
    assert!(report.worst > 1.0);
}
