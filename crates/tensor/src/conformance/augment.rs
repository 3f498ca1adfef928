//! Conformance of augmentation: the GPU against the CPU twin within one grey level per pixel (they draw the
//! same transforms from the same counters and evaluate the same sine polynomial; they differ by rounding,
//! which moves a sample point by about 1e-6 pixels), a zero transform returning its input exactly on both,
//! and a 90° rotation landing where a rotation by hand puts it.

use super::{Report, TestRng, Tolerance, poisoned};
use crate::{Augment, AugmentOps, Backend, Cpu, Gpu, Result};

/// `(height, width, images in the data, count, max degrees, max shift, max zoom)`: MNIST's 28×28 with
/// typical and extreme ranges, odd and non-square sizes, single pixels and rows, no transform at all.
pub const AUGMENT_SHAPES: &[(usize, usize, usize, usize, f32, f32, f32)] = &[
    (28, 28, 50, 64, 10.0, 0.1, 0.1),
    (28, 28, 10, 3, 0.0, 0.0, 0.0),
    (28, 28, 10, 7, 180.0, 0.0, 0.0),
    (28, 28, 5, 5, 0.0, 0.3, 0.0),
    (28, 28, 5, 5, 0.0, 0.0, 0.5),
    (9, 9, 3, 17, 45.0, 0.2, 0.2),
    (1, 1, 4, 4, 30.0, 0.5, 0.5),
    (1, 13, 4, 4, 15.0, 0.1, 0.1),
    (13, 1, 4, 4, 15.0, 0.1, 0.1),
    (5, 7, 6, 11, 90.0, 0.25, 0.3),
    (32, 32, 3, 2, 20.0, 0.05, 0.05),
    (2, 2, 8, 8, 360.0, 1.0, 0.9),
    (17, 23, 4, 9, 12.5, 0.12, 0.08),
    (28, 28, 100, 1, 5.0, 0.02, 0.02),
    (28, 28, 7, 33, 25.0, 0.15, 0.2),
    (3, 3, 2, 65, 720.0, 0.0, 0.0),
    (16, 8, 5, 6, 0.0, 0.5, 0.0),
    (8, 16, 5, 6, 60.0, 0.0, 0.6),
    (28, 28, 3, 2, 1.0, 0.001, 0.001),
    (11, 11, 3, 4, 100.0, 0.3, 0.3),
];

fn images(rng: &mut TestRng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.below(256) as u8).collect()
}

/// CPU against GPU within one grey level (`|scale|`, the inputs being noise: the worst case for bilinear
/// sampling), with the output normalised as a training run does.
pub fn check_augment(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("augment");
    let mut rng = TestRng::new(0xa06);
    for &(h, w, available, count, degrees, shift, zoom) in AUGMENT_SHAPES {
        let data = images(&mut rng, available * h * w);
        let offset = rng.below(5) as usize;
        let indices: Vec<u32> = (0..offset + count)
            .map(|_| rng.below(available as u64) as u32)
            .collect();
        let spec = Augment {
            max_rotation_degrees: degrees,
            max_shift: shift,
            max_zoom: zoom,
            seed: rng.next_u64(),
            stream: rng.next_u64(),
            index_offset: offset,
            scale: 1.0 / (255.0 * 0.3081),
            shift: -0.1307 / 0.3081,
            ..Augment::identity(h, w, count)
        };
        let expected = cpu.zeros::<f32>(count * h * w)?;
        cpu.augment(
            &spec,
            &cpu.upload(&data)?,
            &cpu.upload(&indices)?,
            &expected,
        )?;
        let out = poisoned(gpu, count * h * w)?;
        gpu.augment(&spec, &gpu.upload(&data)?, &gpu.upload(&indices)?, &out)?;
        let shape = format!("{count} of {h}x{w} ±{degrees}° ±{shift} ×(1±{zoom})");
        let one_grey = Tolerance {
            abs: spec.scale.abs(),
            rel: 0.0,
        };
        report.compare(&shape, &gpu.download(&out)?, &expected.read(), one_grey);
    }
    Ok(report)
}

/// All maxima 0 (with a random seed and stream): both backends return the gathered pixels exactly.
pub fn check_augment_identity(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("augment identity");
    let mut rng = TestRng::new(0x1d);
    for &(h, w, available, count, ..) in AUGMENT_SHAPES {
        let data = images(&mut rng, available * h * w);
        let indices: Vec<u32> = (0..count)
            .map(|_| rng.below(available as u64) as u32)
            .collect();
        let spec = Augment {
            seed: rng.next_u64(),
            stream: rng.next_u64(),
            ..Augment::identity(h, w, count)
        };
        let gathered: Vec<f32> = indices
            .iter()
            .flat_map(|&i| {
                data[i as usize * h * w..][..h * w]
                    .iter()
                    .map(|&b| f32::from(b))
            })
            .collect();
        let on_cpu = cpu.zeros::<f32>(count * h * w)?;
        cpu.augment(&spec, &cpu.upload(&data)?, &cpu.upload(&indices)?, &on_cpu)?;
        let on_gpu = poisoned(gpu, count * h * w)?;
        gpu.augment(&spec, &gpu.upload(&data)?, &gpu.upload(&indices)?, &on_gpu)?;
        let shape = format!("{count} of {h}x{w}");
        report.compare(
            &format!("{shape} cpu"),
            &on_cpu.read(),
            &gathered,
            Tolerance::EXACT,
        );
        report.compare_also(
            &format!("{shape} gpu"),
            &gpu.download(&on_gpu)?,
            &gathered,
            Tolerance::EXACT,
        );
    }
    Ok(report)
}

/// A seed whose first image turns by 90° (within 1e-5 rad) under ±180°: then output pixel `(x, y)` must
/// read input pixel `(n-1-y, x)`, a counter-clockwise quarter turn. Within half a grey level on noise
/// (1e-5 rad moves a corner sample by 3e-4 pixels).
pub fn check_augment_rotation(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("augment rotation 90°");
    let mut rng = TestRng::new(0x90);
    for n in [28, 9, 2] {
        let base = Augment {
            max_rotation_degrees: 180.0,
            ..Augment::identity(n, n, 1)
        };
        let spec = (0..)
            .map(|seed| Augment { seed, ..base })
            .find(|s| {
                let t = s.transform(0);
                t.sin > 0.0 && t.cos.abs() < 1e-5
            })
            .expect("some seed turns by 90°");
        let data = images(&mut rng, n * n);
        let expected: Vec<f32> = (0..n * n)
            .map(|at| f32::from(data[(at % n) * n + (n - 1 - at / n)]))
            .collect();
        let indices = [0u32];
        let on_cpu = cpu.zeros::<f32>(n * n)?;
        cpu.augment(&spec, &cpu.upload(&data)?, &cpu.upload(&indices)?, &on_cpu)?;
        let on_gpu = poisoned(gpu, n * n)?;
        gpu.augment(&spec, &gpu.upload(&data)?, &gpu.upload(&indices)?, &on_gpu)?;
        let half_grey = Tolerance { abs: 0.5, rel: 0.0 };
        let shape = format!("{n}x{n} seed {}", spec.seed);
        report.compare(
            &format!("{shape} cpu"),
            &on_cpu.read(),
            &expected,
            half_grey,
        );
        report.compare_also(
            &format!("{shape} gpu"),
            &gpu.download(&on_gpu)?,
            &expected,
            half_grey,
        );
    }
    Ok(report)
}

/// The augmentation kernel: random transforms, the identity, a pure rotation.
pub fn check(gpu: &Gpu) -> Result<Vec<Report>> {
    Ok(vec![
        check_augment(gpu)?,
        check_augment_identity(gpu)?,
        check_augment_rotation(gpu)?,
    ])
}
