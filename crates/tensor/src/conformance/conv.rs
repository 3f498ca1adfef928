//! Conformance of the convolution kernels: forward (with bias and ReLU), input gradient, weight and bias
//! gradients, each against the CPU's im2col + GEMM over [`CONV_SHAPES`], with the GPU outputs poisoned.
//!
//! Tolerances come from [`Tolerance::for_sum`] with the number of terms in each output's sum: the two
//! backends add the same products in different orders (and the CPU's GEMM blocks them), so results differ
//! by rounding that grows like the square root of the terms. Inputs are in ±[0.05, 1), so every product is
//! in [-1, 1] as `for_sum` assumes.

use super::{Report, TestRng, Tolerance, poisoned};
use crate::{Backend, Conv2d, ConvOps, ConvVariant, Cpu, Gpu, GpuBuf, Result};

/// A convolution's shape: `(batch, in, out, (height, width), (kh, kw), stride, padding)`.
pub type ConvShape = (
    usize,
    usize,
    usize,
    (usize, usize),
    (usize, usize),
    usize,
    usize,
);

/// 1×1 kernels, odd and non-square sizes
/// and kernels, channel counts that are not multiples of 4 or 16, more than 16 output channels (several
/// kernel groups), more than 1024 taps (several weight windows), strides 1-3, "same" padding, and the MNIST
/// network's two convolutions.
pub const CONV_SHAPES: &[ConvShape] = &[
    (1, 1, 1, (5, 5), (3, 3), 1, 0),
    (2, 1, 32, (28, 28), (3, 3), 1, 0),
    (2, 32, 64, (13, 13), (3, 3), 1, 0),
    (3, 3, 5, (7, 7), (1, 1), 1, 0),
    (2, 6, 10, (9, 9), (3, 3), 1, 1),
    (1, 5, 7, (11, 9), (3, 2), 2, 1),
    (2, 4, 17, (6, 6), (2, 2), 2, 0),
    (1, 2, 3, (13, 17), (5, 5), 1, 2),
    (3, 7, 16, (10, 10), (3, 3), 2, 1),
    (1, 120, 3, (5, 5), (3, 3), 1, 1),
    (1, 1, 33, (4, 4), (4, 4), 1, 0),
    (5, 3, 8, (1, 7), (1, 3), 1, 0),
    (1, 16, 16, (8, 8), (3, 3), 3, 0),
    (2, 9, 1, (12, 12), (1, 1), 2, 0),
    (1, 13, 31, (15, 15), (3, 3), 1, 1),
    (4, 2, 4, (3, 3), (3, 3), 1, 1),
    (1, 1, 64, (29, 31), (3, 3), 1, 0),
    (3, 11, 12, (7, 5), (2, 3), 1, 1),
    (1, 64, 20, (5, 5), (5, 5), 1, 2),
    (7, 3, 9, (6, 6), (3, 3), 2, 0),
    (1, 8, 24, (16, 16), (7, 7), 1, 3),
    (17, 1, 5, (5, 5), (2, 2), 1, 0),
];

/// The specs of [`CONV_SHAPES`]; shape `i` fuses a bias when `i` is even and a ReLU when `i % 3 == 0`.
pub fn conv_specs() -> Vec<(Conv2d, bool)> {
    CONV_SHAPES
        .iter()
        .enumerate()
        .map(|(i, &(batch, ic, oc, size, kernel, stride, padding))| {
            let mut spec = Conv2d::new(batch, ic, oc, size, kernel)
                .stride(stride)
                .padding(padding);
            spec.relu = i % 3 == 0;
            (spec, i % 2 == 0)
        })
        .collect()
}

fn describe(s: &Conv2d) -> String {
    format!(
        "{}x{}x{}x{} *{}x{}x{}x{} s{} p{}{}",
        s.batch,
        s.in_channels,
        s.height,
        s.width,
        s.out_channels,
        s.in_channels,
        s.kernel_h,
        s.kernel_w,
        s.stride,
        s.padding,
        if s.relu { " relu" } else { "" }
    )
}

/// A forward convolution under test: the real kernel, or a deliberately broken one in tests.
pub type ConvFn<'a> = dyn Fn(&Conv2d, &GpuBuf<f32>, &GpuBuf<f32>, Option<&GpuBuf<f32>>, &GpuBuf<f32>) -> Result<()>
    + 'a;

/// Checks a forward convolution against the CPU over the shapes of [`CONV_SHAPES`] it `supports`:
/// tolerance `for_sum(ic·kh·kw + 1)` (the products and the bias).
pub fn check_conv2d_with(
    gpu: &Gpu,
    name: &str,
    run: &ConvFn<'_>,
    supports: &dyn Fn(&Conv2d) -> bool,
) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new(name);
    let mut rng = TestRng::new(0xc0f);
    for (spec, with_bias) in conv_specs().into_iter().filter(|(s, _)| supports(s)) {
        let (x, w, b) = (
            rng.values(spec.input_len()),
            rng.values(spec.weight_len()),
            rng.values(spec.out_channels),
        );
        let expected = cpu.zeros::<f32>(spec.output_len())?;
        let cb = cpu.upload(&b)?;
        cpu.conv2d(
            &spec,
            &cpu.upload(&x)?,
            &cpu.upload(&w)?,
            with_bias.then_some(&cb),
            &expected,
        )?;
        let out = poisoned(gpu, spec.output_len())?;
        let gb = gpu.upload(&b)?;
        run(
            &spec,
            &gpu.upload(&x)?,
            &gpu.upload(&w)?,
            with_bias.then_some(&gb),
            &out,
        )?;
        let shape = format!(
            "{}{}",
            describe(&spec),
            if with_bias { " bias" } else { "" }
        );
        report.compare(
            &shape,
            &gpu.download(&out)?,
            &expected.read(),
            Tolerance::for_sum(spec.patch_len() + 1),
        );
    }
    Ok(report)
}

/// `conv2d` forward on the GPU with one kernel variant, over the shapes it supports.
pub fn check_conv2d(gpu: &Gpu, variant: ConvVariant) -> Result<Report> {
    let name = format!("conv2d {variant:?}").to_lowercase();
    let run =
        |s: &Conv2d, x: &GpuBuf<f32>, w: &GpuBuf<f32>, b: Option<&GpuBuf<f32>>, y: &GpuBuf<f32>| {
            gpu.conv2d_with(variant, s, x, w, b, y)
        };
    check_conv2d_with(gpu, &name, &run, &|s| variant.supports(gpu, s))
}

/// `conv2d_backward_input` with one kernel variant: each input gradient sums at most `oc·kh·kw` products.
pub fn check_conv2d_backward_input(gpu: &Gpu, variant: ConvVariant) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new(format!("conv2d_backward_input {variant:?}").to_lowercase());
    let mut rng = TestRng::new(0xdc0f);
    for (spec, _) in conv_specs() {
        if !variant.supports(gpu, &spec) {
            continue;
        }
        let (dy, w) = (rng.values(spec.output_len()), rng.values(spec.weight_len()));
        let expected = cpu.zeros::<f32>(spec.input_len())?;
        cpu.conv2d_backward_input(&spec, &cpu.upload(&dy)?, &cpu.upload(&w)?, &expected)?;
        let out = poisoned(gpu, spec.input_len())?;
        gpu.conv2d_backward_input_with(variant, &spec, &gpu.upload(&dy)?, &gpu.upload(&w)?, &out)?;
        report.compare(
            &describe(&spec),
            &gpu.download(&out)?,
            &expected.read(),
            Tolerance::for_sum(spec.out_channels * spec.kernel_h * spec.kernel_w),
        );
    }
    Ok(report)
}

/// `conv2d_backward_weight` with one kernel variant: weight and bias gradients sum `batch·oh·ow` products
/// each; the GPU's are also required to be bit-identical on a second run (no float atomics, a fixed order).
pub fn check_conv2d_backward_weight(gpu: &Gpu, variant: ConvVariant) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new(format!("conv2d_backward_weight {variant:?}").to_lowercase());
    let mut rng = TestRng::new(0xdc0e);
    for (spec, with_bias) in conv_specs() {
        if !variant.supports(gpu, &spec) {
            continue;
        }
        let (x, dy) = (rng.values(spec.input_len()), rng.values(spec.output_len()));
        let (dw, db) = (
            cpu.zeros::<f32>(spec.weight_len())?,
            cpu.zeros::<f32>(spec.out_channels)?,
        );
        cpu.conv2d_backward_weight(&spec, &cpu.upload(&x)?, &cpu.upload(&dy)?, &dw, Some(&db))?;
        let (gx, gdy) = (gpu.upload(&x)?, gpu.upload(&dy)?);
        let mut runs = Vec::new();
        for _ in 0..2 {
            let (gdw, gdb) = (
                poisoned(gpu, spec.weight_len())?,
                poisoned(gpu, spec.out_channels)?,
            );
            let db = with_bias.then_some(&gdb);
            gpu.conv2d_backward_weight_with(variant, &spec, &gx, &gdy, &gdw, db)?;
            runs.push((gpu.download(&gdw)?, gpu.download(&gdb)?));
        }
        let shape = describe(&spec);
        let tol = Tolerance::for_sum(spec.batch * spec.out_height() * spec.out_width());
        report.compare(&shape, &runs[0].0, &dw.read(), tol);
        if with_bias {
            report.compare_also(&format!("{shape} bias"), &runs[0].1, &db.read(), tol);
        }
        report.compare_also(
            &format!("{shape} rerun"),
            &runs[1].0,
            &runs[0].0,
            Tolerance::EXACT,
        );
    }
    Ok(report)
}

/// Every convolution variant, forward and both gradients.
pub fn check(gpu: &Gpu) -> Result<Vec<Report>> {
    let mut reports = Vec::new();
    for variant in ConvVariant::ALL {
        reports.push(check_conv2d(gpu, variant)?);
        reports.push(check_conv2d_backward_input(gpu, variant)?);
        reports.push(check_conv2d_backward_weight(gpu, variant)?);
    }
    Ok(reports)
}
