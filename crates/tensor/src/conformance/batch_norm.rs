//! Conformance of batch normalisation: training (statistics, output, running statistics), evaluation and
//! backward (parameter and input gradients) against the CPU on random inputs, outputs poisoned first.
//!
//! Tolerance: every result rests on per-channel sums of `m = n·p` terms of size up to about 2 (inputs in
//! ±[0.05, 1), normalised values up to about 1.7 / 0.6), summed in another order on each backend; the mean and
//! variance then pass through `1 / sqrt` and a multiply. [`Tolerance::for_sum`] of `m` terms, four times over,
//! covers that: it allows 8·sqrt(m)·2⁻²⁴ relative, about 4e-5 at m = 4096, where a wrong index, a missing
//! term or a wrong 1/m is off by far more.

use super::{Report, TestRng, Tolerance, poisoned};
use crate::{Backend, BatchNorm, BatchNormOps, Cpu, Gpu, Result};

/// `(batch, channels, pixels)`: the residual network's shapes (16 and 32 channels of 28×28 and 14×14), dense
/// features (`pixels` 1), one channel, one sample, sizes around the 256-wide workgroup, primes.
pub const BATCH_NORM_SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 2),
    (2, 1, 1),
    (3, 2, 5),
    (4, 16, 784),
    (2, 32, 196),
    (64, 10, 1),
    (32, 128, 1),
    (1, 3, 257),
    (1, 5, 255),
    (1, 1, 256),
    (7, 3, 37),
    (5, 7, 11),
    (2, 64, 49),
    (3, 1, 1000),
    (17, 4, 9),
    (9, 13, 1),
    (1, 29, 31),
    (8, 8, 64),
    (2, 2, 4099),
    (6, 33, 3),
    (11, 1, 23),
];

fn tolerance(m: usize) -> Tolerance {
    let t = Tolerance::for_sum(m);
    Tolerance {
        abs: 4.0 * t.abs,
        rel: 4.0 * t.rel,
    }
}

/// Every pass of every shape against the CPU.
pub fn check_batch_norm(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("batch_norm");
    let mut rng = TestRng::new(0xb47c);
    for &(batch, channels, pixels) in BATCH_NORM_SHAPES {
        let spec = BatchNorm {
            batch,
            channels,
            pixels,
            eps: 1e-5,
            momentum: 0.1,
        };
        let len = batch * channels * pixels;
        let tol = tolerance(batch * pixels);
        let shape = format!("{batch}x{channels}x{pixels}");
        let x = rng.values(len);
        let dy = rng.values(len);
        let gamma = rng.values(channels);
        let beta = rng.values(channels);
        let running_mean = rng.values(channels);
        let running_var: Vec<f32> = (0..channels).map(|_| 0.5 + rng.unit()).collect();
        let up =
            |cpu_data: &[f32]| -> Result<_> { Ok((cpu.upload(cpu_data)?, gpu.upload(cpu_data)?)) };
        let (cx, gx) = up(&x)?;
        let (cdy, gdy) = up(&dy)?;
        let (cg, gg) = up(&gamma)?;
        let (cb, gb) = up(&beta)?;
        let (crm, grm) = up(&running_mean)?;
        let (crv, grv) = up(&running_var)?;

        // Training forward.
        let (cy, gy) = (cpu.zeros::<f32>(len)?, poisoned(gpu, len)?);
        let (cmean, gmean) = (cpu.zeros::<f32>(channels)?, poisoned(gpu, channels)?);
        let (cinv, ginv) = (cpu.zeros::<f32>(channels)?, poisoned(gpu, channels)?);
        cpu.batch_norm_train(&spec, &cx, &cg, &cb, &cy, [&cmean, &cinv], [&crm, &crv])?;
        gpu.batch_norm_train(&spec, &gx, &gg, &gb, &gy, [&gmean, &ginv], [&grm, &grv])?;
        report.compare(
            &format!("{shape} train y"),
            &gpu.download(&gy)?,
            &cy.read(),
            tol,
        );
        let pairs = [
            ("train mean", &gmean, &cmean),
            ("train inv_std", &ginv, &cinv),
            ("train running_mean", &grm, &crm),
            ("train running_var", &grv, &crv),
        ];
        for (what, g, c) in pairs {
            report.compare_also(
                &format!("{shape} {what}"),
                &gpu.download(g)?,
                &c.read(),
                tol,
            );
        }

        // Evaluation with the updated running statistics.
        let (cy, gy) = (cpu.zeros::<f32>(len)?, poisoned(gpu, len)?);
        cpu.batch_norm_eval(&spec, &cx, &cg, &cb, [&crm, &crv], &cy)?;
        gpu.batch_norm_eval(&spec, &gx, &gg, &gb, [&grm, &grv], &gy)?;
        report.compare_also(
            &format!("{shape} eval y"),
            &gpu.download(&gy)?,
            &cy.read(),
            tol,
        );

        // Backward from the same saved statistics (the CPU's, on both, so only the backward pass differs).
        let (cmean_saved, gmean_saved) = up(&cmean.read())?;
        let (cdgamma, gdgamma) = (cpu.zeros::<f32>(channels)?, poisoned(gpu, channels)?);
        let (cdbeta, gdbeta) = (cpu.zeros::<f32>(channels)?, poisoned(gpu, channels)?);
        let (cdx, gdx) = (cpu.zeros::<f32>(len)?, poisoned(gpu, len)?);
        let (cinv_saved, ginv_saved) = up(&cinv.read())?;
        cpu.batch_norm_backward(
            &spec,
            &cx,
            &cdy,
            &cg,
            [&cmean_saved, &cinv_saved],
            [&cdgamma, &cdbeta],
            Some(&cdx),
        )?;
        gpu.batch_norm_backward(
            &spec,
            &gx,
            &gdy,
            &gg,
            [&gmean_saved, &ginv_saved],
            [&gdgamma, &gdbeta],
            Some(&gdx),
        )?;
        let pairs = [
            ("dgamma", &gdgamma, &cdgamma),
            ("dbeta", &gdbeta, &cdbeta),
            ("dx", &gdx, &cdx),
        ];
        for (what, g, c) in pairs {
            report.compare_also(
                &format!("{shape} {what}"),
                &gpu.download(g)?,
                &c.read(),
                tol,
            );
        }
    }
    Ok(report)
}

/// This family's checks.
pub fn check(gpu: &Gpu) -> Result<Vec<Report>> {
    Ok(vec![check_batch_norm(gpu)?])
}
