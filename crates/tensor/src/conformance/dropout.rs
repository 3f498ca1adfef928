//! Conformance of dropout: the GPU's mask and outputs must equal the CPU's bit for bit (both hash the same
//! counters with 32-bit integer operations and scale by the same f32), and the mask must behave like one:
//! the kept fraction within 1% of `1 - rate` on a million elements, and other streams or seeds giving
//! other masks.

use super::{Report, TestRng, poisoned};
use crate::{Backend, Cpu, Dropout, DropoutOps, Gpu, Result};

/// `(length, rate)`: 1, primes, the workgroup size (256) ± 1, a million, and rates from 0 to 0.9.
pub const DROPOUT_SHAPES: &[(usize, f32)] = &[
    (1, 0.5),
    (2, 0.5),
    (7, 0.25),
    (255, 0.5),
    (256, 0.1),
    (257, 0.9),
    (1000, 0.0),
    (4093, 0.5),
    (8192, 0.3),
    (65537, 0.5),
    (131071, 0.75),
    (1_000_000, 0.5),
];

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// Forward and backward, CPU against GPU bit for bit, plus the mask's statistics.
pub fn check_dropout(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("dropout");
    let mut rng = TestRng::new(0xd209);
    for (i, &(n, rate)) in DROPOUT_SHAPES.iter().enumerate() {
        let spec = Dropout {
            rate,
            seed: rng.next_u64(),
            stream: i as u64 * 0x1_0000_0001,
        };
        let x = rng.values(n);
        let (cx, gx) = (cpu.upload(&x)?, gpu.upload(&x)?);
        let shape = format!("{n} rate {rate}");
        for backward in [false, true] {
            let expected = cpu.zeros::<f32>(n)?;
            let out = poisoned(gpu, n)?;
            if backward {
                cpu.dropout_backward(&spec, &cx, &expected)?;
                gpu.dropout_backward(&spec, &gx, &out)?;
            } else {
                cpu.dropout(&spec, &cx, &expected)?;
                gpu.dropout(&spec, &gx, &out)?;
            }
            let name = if backward {
                format!("{shape} backward")
            } else {
                shape.clone()
            };
            report.compare_exact(&name, &bits(&gpu.download(&out)?), &bits(&expected.read()));
        }
        if n >= 1_000_000 {
            check_statistics(&mut report, &spec, n as u32);
        }
    }
    Ok(report)
}

/// The kept fraction is within 1% (relative) of `1 - rate`, about 10 standard deviations at a million
/// elements; other streams and seeds change about `2·rate·(1 - rate)` of the decisions (at least 80% of that).
fn check_statistics(report: &mut Report, spec: &Dropout, n: u32) {
    let kept = (0..n).filter(|&i| spec.keeps(i)).count() as f64 / f64::from(n);
    let expected = 1.0 - f64::from(spec.rate);
    if (kept - expected).abs() > 0.01 * expected {
        report.mismatches.push(format!(
            "kept fraction {kept:.4}, expected {expected:.4} ± 1%"
        ));
    }
    let p = f64::from(spec.rate);
    for other in [
        Dropout {
            stream: spec.stream + 1,
            ..*spec
        },
        Dropout {
            seed: spec.seed ^ 1,
            ..*spec
        },
    ] {
        let changed =
            (0..n).filter(|&i| spec.keeps(i) != other.keeps(i)).count() as f64 / f64::from(n);
        if changed < 0.8 * 2.0 * p * (1.0 - p) {
            report.mismatches.push(format!(
                "seed {} stream {} changes only {changed:.4} of the mask",
                other.seed, other.stream
            ));
        }
    }
}

/// This family's checks.
pub fn check(gpu: &Gpu) -> Result<Vec<Report>> {
    Ok(vec![check_dropout(gpu)?])
}
