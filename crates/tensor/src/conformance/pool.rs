//! Conformance of pooling. Max pooling selects values, so outputs, argmax indices and the routed gradients must
//! equal the CPU's exactly. Half the shapes draw inputs from four values, so that windows hold ties and the
//! first-maximum rule is tested too.

use super::{Report, TestRng, Tolerance, poisoned};
use crate::{Backend, Cpu, Gpu, Pool2d, PoolOps, Result};

/// `(batch, channels, height, width, window, stride)`: the MNIST network's two pools (26→13 and 11→5, the
/// floor), overlapping windows (stride < window), gaps (stride > window), windows as large as the input,
/// 1×1 windows, odd and non-square sizes.
pub const POOL_SHAPES: &[(usize, usize, usize, usize, usize, usize)] = &[
    (1, 1, 2, 2, 2, 2),
    (2, 32, 26, 26, 2, 2),
    (2, 64, 11, 11, 2, 2),
    (1, 3, 5, 5, 3, 2),
    (1, 1, 7, 7, 3, 1),
    (3, 5, 9, 9, 3, 3),
    (1, 1, 1, 1, 1, 1),
    (2, 3, 4, 6, 2, 2),
    (1, 2, 13, 17, 2, 2),
    (4, 7, 8, 8, 4, 4),
    (1, 1, 10, 10, 10, 10),
    (2, 2, 6, 9, 2, 1),
    (1, 4, 15, 15, 5, 3),
    (1, 1, 3, 8, 3, 2),
    (5, 1, 5, 5, 2, 2),
    (1, 16, 12, 12, 3, 2),
    (2, 8, 7, 7, 2, 2),
    (1, 1, 9, 9, 4, 2),
    (3, 3, 11, 5, 2, 3),
    (1, 2, 31, 29, 2, 2),
    (17, 3, 6, 6, 1, 1),
];

/// `(batch, channels, height, width, window, stride, padding)`: an Inception pooling branch (3×3, stride 1,
/// padding 1: the size kept), padding with stride 2 and overlapping or not, the largest padding (half the
/// window), windows that overhang the far edge, 1-pixel-wide inputs.
pub const PADDED_POOL_SHAPES: &[(usize, usize, usize, usize, usize, usize, usize)] = &[
    (2, 8, 28, 28, 3, 1, 1),
    (1, 3, 7, 7, 3, 2, 1),
    (2, 4, 6, 6, 2, 2, 1),
    (1, 2, 5, 9, 4, 2, 2),
    (3, 1, 1, 5, 3, 1, 1),
    (1, 5, 13, 11, 5, 3, 2),
    (2, 16, 14, 14, 3, 1, 1),
    (1, 1, 2, 2, 2, 1, 1),
];

/// Forward (values and argmax) and backward against the CPU, exactly.
pub fn check_max_pool2d(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("max_pool2d");
    let mut rng = TestRng::new(0x9001);
    let shapes = POOL_SHAPES
        .iter()
        .map(|&(b, c, h, w, window, stride)| (b, c, h, w, window, stride, 0))
        .chain(PADDED_POOL_SHAPES.iter().copied());
    for (i, (batch, channels, h, w, window, stride, padding)) in shapes.enumerate() {
        let spec = Pool2d::new(batch, channels, (h, w), window)
            .stride(stride)
            .padding(padding);
        let x = if i % 2 == 0 {
            rng.values(spec.input_len())
        } else {
            (0..spec.input_len())
                .map(|_| rng.below(4) as f32 - 1.5)
                .collect()
        };
        let dy = rng.values(spec.output_len());
        let (y, arg, dx) = (
            cpu.zeros::<f32>(spec.output_len())?,
            cpu.zeros::<u32>(spec.output_len())?,
            cpu.zeros::<f32>(spec.input_len())?,
        );
        cpu.max_pool2d(&spec, &cpu.upload(&x)?, &y, &arg)?;
        cpu.max_pool2d_backward(&spec, &cpu.upload(&dy)?, &arg, &dx)?;

        let (gy, gdx) = (
            poisoned(gpu, spec.output_len())?,
            poisoned(gpu, spec.input_len())?,
        );
        let garg = gpu.upload(&vec![u32::MAX; spec.output_len()])?;
        gpu.max_pool2d(&spec, &gpu.upload(&x)?, &gy, &garg)?;
        gpu.max_pool2d_backward(&spec, &gpu.upload(&dy)?, &garg, &gdx)?;

        let shape =
            format!("{batch}x{channels}x{h}x{w} window {window} stride {stride} padding {padding}");
        report.compare(&shape, &gpu.download(&gy)?, &y.read(), Tolerance::EXACT);
        report.compare_also(
            &format!("{shape} backward"),
            &gpu.download(&gdx)?,
            &dx.read(),
            Tolerance::EXACT,
        );
        let (garg, arg) = (gpu.download(&garg)?, arg.read());
        if garg != *arg {
            let at = garg
                .iter()
                .zip(arg.iter())
                .position(|(g, c)| g != c)
                .unwrap_or(0);
            report.worst = f64::INFINITY;
            report.mismatches.push(format!(
                "{shape} argmax: [{at}] gpu {:?} cpu {:?}",
                garg.get(at),
                arg.get(at)
            ));
        }
    }
    Ok(report)
}

/// Average pooling forward and backward against the CPU over the same shapes. Both sides add the same taps in
/// the same order and scale once, so they usually agree exactly; the tolerance allows a sum of `window²`
/// terms rounded differently (a compiler may reassociate the loop).
pub fn check_avg_pool2d(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("avg_pool2d");
    let mut rng = TestRng::new(0xa7a7);
    let shapes = POOL_SHAPES
        .iter()
        .map(|&(b, c, h, w, window, stride)| (b, c, h, w, window, stride, 0))
        .chain(PADDED_POOL_SHAPES.iter().copied());
    for (batch, channels, h, w, window, stride, padding) in shapes {
        let spec = Pool2d::new(batch, channels, (h, w), window)
            .stride(stride)
            .padding(padding);
        let (x, dy) = (rng.values(spec.input_len()), rng.values(spec.output_len()));
        let (y, dx) = (
            cpu.zeros::<f32>(spec.output_len())?,
            cpu.zeros::<f32>(spec.input_len())?,
        );
        cpu.avg_pool2d(&spec, &cpu.upload(&x)?, &y)?;
        cpu.avg_pool2d_backward(&spec, &cpu.upload(&dy)?, &dx)?;

        let (gy, gdx) = (
            poisoned(gpu, spec.output_len())?,
            poisoned(gpu, spec.input_len())?,
        );
        gpu.avg_pool2d(&spec, &gpu.upload(&x)?, &gy)?;
        gpu.avg_pool2d_backward(&spec, &gpu.upload(&dy)?, &gdx)?;

        let shape =
            format!("{batch}x{channels}x{h}x{w} window {window} stride {stride} padding {padding}");
        let taps = window * window;
        report.compare(
            &shape,
            &gpu.download(&gy)?,
            &y.read(),
            Tolerance::for_sum(taps),
        );
        report.compare_also(
            &format!("{shape} backward"),
            &gpu.download(&gdx)?,
            &dx.read(),
            Tolerance::for_sum(taps),
        );
    }
    Ok(report)
}

/// Max and average pooling.
pub fn check(gpu: &Gpu) -> Result<Vec<Report>> {
    Ok(vec![check_max_pool2d(gpu)?, check_avg_pool2d(gpu)?])
}
