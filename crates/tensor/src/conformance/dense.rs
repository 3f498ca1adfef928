//! Conformance of the dense kernels beyond GEMM: elementwise, gathers, reductions, the fused loss, optimizers.
//!
//! Each check runs the GPU kernel and its CPU twin on the same random inputs over at least 20 shapes
//! (including 1, primes, the workgroup size ± 1 and the MNIST network's own), with the GPU output poisoned.
//! `f32::EPSILON` is written `EPS` below; each tolerance says why it is what it is.

use super::{Report, TestRng, Tolerance, poisoned};
use crate::{
    AdadeltaStep, AdamStep, Backend, Cpu, CpuBuf, Distillation, ElementwiseOps, Gather, Gpu,
    GpuBuf, NadamStep, OptimOps, ReduceOps, Result, RmspropStep, SgdStep, SoftmaxCrossEntropy,
};

const EPS: f32 = f32::EPSILON;

/// Lengths for the 1-D kernels: 1, primes, the workgroup size (256) ± 1, and lengths past the CPU's
/// parallel threshold (65536), so both CPU paths are the reference somewhere.
pub const LENGTHS: &[usize] = &[
    1, 2, 3, 5, 7, 13, 31, 97, 255, 256, 257, 509, 1000, 1021, 4093, 4096, 8191, 65536, 65537,
    131071, 250007,
];

/// A binary elementwise implementation under test: `(a, b, out)`.
pub type BinaryFn<'a> = dyn Fn(&GpuBuf<f32>, &GpuBuf<f32>, &GpuBuf<f32>) -> Result<()> + 'a;

/// Checks an implementation of `out = a + b` over [`LENGTHS`]. Exact: IEEE addition is correctly rounded on
/// both sides (Vulkan requires it of `OpFAdd`), and the inputs hold no denormals to flush.
pub fn check_add_with(gpu: &Gpu, name: &str, run: &BinaryFn<'_>) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new(name);
    let mut rng = TestRng::new(0xadd);
    for &n in LENGTHS {
        let (a, b) = (rng.values(n), rng.values(n));
        let expected = cpu.zeros::<f32>(n)?;
        cpu.add(&cpu.upload(&a)?, &cpu.upload(&b)?, &expected)?;
        let out = poisoned(gpu, n)?;
        run(&gpu.upload(&a)?, &gpu.upload(&b)?, &out)?;
        report.compare(
            &n.to_string(),
            &gpu.download(&out)?,
            &expected.read(),
            Tolerance::EXACT,
        );
    }
    Ok(report)
}

/// `add` on the GPU.
pub fn check_add(gpu: &Gpu) -> Result<Report> {
    check_add_with(gpu, "add", &|a, b, out| gpu.add(a, b, out))
}

/// `scale`: exact, since one multiplication is correctly rounded on both sides.
pub fn check_scale(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("scale");
    let mut rng = TestRng::new(0x5ca1e);
    for &n in LENGTHS {
        let x = rng.values(n);
        let alpha = rng.values(1)[0] * 3.0;
        let expected = cpu.zeros::<f32>(n)?;
        cpu.scale(&cpu.upload(&x)?, alpha, &expected)?;
        let out = poisoned(gpu, n)?;
        gpu.scale(&gpu.upload(&x)?, alpha, &out)?;
        report.compare(
            &format!("{n} ·{alpha}"),
            &gpu.download(&out)?,
            &expected.read(),
            Tolerance::EXACT,
        );
    }
    Ok(report)
}

/// `mul_assign` in place: exact, one correctly rounded multiplication on both sides. The factors are random
/// values, not only the zeros and ones of a mask.
pub fn check_mul_assign(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("mul_assign");
    let mut rng = TestRng::new(0x3a5c);
    for &n in LENGTHS {
        let (x, by) = (rng.values(n), rng.values(n));
        let expected = cpu.upload(&x)?;
        cpu.mul_assign(&expected, &cpu.upload(&by)?)?;
        let out = gpu.upload(&x)?;
        gpu.mul_assign(&out, &gpu.upload(&by)?)?;
        report.compare(
            &format!("{n}"),
            &gpu.download(&out)?,
            &expected.read(),
            Tolerance::EXACT,
        );
    }
    Ok(report)
}

/// `relu`: exact (a comparison, no arithmetic). Inputs have both signs.
pub fn check_relu(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("relu");
    let mut rng = TestRng::new(0x4e1);
    for &n in LENGTHS {
        let x = rng.values(n);
        let expected = cpu.zeros::<f32>(n)?;
        cpu.relu(&cpu.upload(&x)?, &expected)?;
        let out = poisoned(gpu, n)?;
        gpu.relu(&gpu.upload(&x)?, &out)?;
        report.compare(
            &n.to_string(),
            &gpu.download(&out)?,
            &expected.read(),
            Tolerance::EXACT,
        );
    }
    Ok(report)
}

/// `relu_backward`: exact (a selection, no arithmetic). `y` has both signs, so half the gradient is masked.
pub fn check_relu_backward(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("relu_backward");
    let mut rng = TestRng::new(0x4e1b);
    for &n in LENGTHS {
        let (y, g) = (rng.values(n), rng.values(n));
        let expected = cpu.zeros::<f32>(n)?;
        cpu.relu_backward(&cpu.upload(&y)?, &cpu.upload(&g)?, &expected)?;
        let out = poisoned(gpu, n)?;
        gpu.relu_backward(&gpu.upload(&y)?, &gpu.upload(&g)?, &out)?;
        report.compare(
            &n.to_string(),
            &gpu.download(&out)?,
            &expected.read(),
            Tolerance::EXACT,
        );
    }
    Ok(report)
}

/// `fill`: exact, into a poisoned buffer.
pub fn check_fill(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("fill");
    let mut rng = TestRng::new(0xf111);
    for &n in LENGTHS {
        let value = rng.values(1)[0];
        let expected = cpu.upload(&vec![f32::NAN; n])?;
        cpu.fill(&expected, value)?;
        let out = poisoned(gpu, n)?;
        gpu.fill(&out, value)?;
        report.compare(
            &format!("{n} ={value}"),
            &gpu.download(&out)?,
            &expected.read(),
            Tolerance::EXACT,
        );
    }
    Ok(report)
}

/// Gather shapes `(row_len, count, rows in the data)`: single bytes, odd row lengths that straddle the u32
/// words the GPU packs bytes into, MNIST images (784) and labels (1), batches around the workgroup size.
pub const GATHER_SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (1, 64, 100),
    (1, 255, 300),
    (1, 257, 1000),
    (2, 3, 5),
    (3, 7, 11),
    (4, 16, 16),
    (5, 13, 40),
    (7, 31, 29),
    (13, 64, 97),
    (28, 10, 12),
    (31, 37, 41),
    (255, 3, 9),
    (256, 2, 4),
    (257, 5, 6),
    (784, 1, 1),
    (784, 64, 500),
    (784, 65, 100),
    (784, 257, 300),
    (1000, 17, 23),
    (3, 1025, 2000),
];

/// Random bytes, none zero (a kernel reading the wrong byte of a word would otherwise often still read 0).
fn nonzero_bytes(rng: &mut TestRng, len: usize) -> Vec<u8> {
    (0..len).map(|_| 1 + rng.below(255) as u8).collect()
}

/// Gather inputs: the data, an index buffer with `offset` leading entries, and that offset.
fn gather_inputs(
    rng: &mut TestRng,
    row_len: usize,
    count: usize,
    rows: usize,
) -> (Vec<u8>, Vec<u32>, usize) {
    let data = nonzero_bytes(rng, row_len * rows);
    let offset = rng.below(5) as usize;
    let indices = (0..offset + count + rng.below(3) as usize)
        .map(|_| rng.below(rows as u64) as u32)
        .collect();
    (data, indices, offset)
}

/// `gather_normalize` with MNIST's normalisation. Tolerance: `b·scale + shift` may be one fused multiply-add on
/// the GPU (one rounding) and two roundings on the CPU, so they may differ by an ulp of each term:
/// `2·EPS·(255·|scale| + |shift|)`.
pub fn check_gather_normalize(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("gather_normalize");
    let mut rng = TestRng::new(0x6a7);
    let (scale, shift) = (1.0 / (255.0 * 0.3081), -0.1307 / 0.3081);
    let tol = Tolerance {
        abs: 2.0 * EPS * (255.0 * scale + f32::abs(shift)),
        rel: 0.0,
    };
    for &(row_len, count, rows) in GATHER_SHAPES {
        let (data, indices, index_offset) = gather_inputs(&mut rng, row_len, count, rows);
        let spec = Gather {
            row_len,
            index_offset,
            count,
            scale,
            shift,
        };
        let expected = cpu.zeros::<f32>(count * row_len)?;
        cpu.gather_normalize(
            &spec,
            &cpu.upload(&data)?,
            &cpu.upload(&indices)?,
            &expected,
        )?;
        let out = poisoned(gpu, count * row_len)?;
        gpu.gather_normalize(&spec, &gpu.upload(&data)?, &gpu.upload(&indices)?, &out)?;
        let shape = format!("{count} of {rows} rows of {row_len} from {index_offset}");
        report.compare(&shape, &gpu.download(&out)?, &expected.read(), tol);
    }
    Ok(report)
}

/// `gather_labels`: exact (integers), into an output poisoned with `u32::MAX`.
pub fn check_gather_labels(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("gather_labels");
    let mut rng = TestRng::new(0x1abe1);
    for &(_, count, rows) in GATHER_SHAPES {
        let (labels, indices, index_offset) = gather_inputs(&mut rng, 1, count, rows);
        let spec = Gather {
            row_len: 1,
            index_offset,
            count,
            scale: 1.0,
            shift: 0.0,
        };
        let expected = cpu.zeros::<u32>(count)?;
        cpu.gather_labels(
            &spec,
            &cpu.upload(&labels)?,
            &cpu.upload(&indices)?,
            &expected,
        )?;
        let out = gpu.upload(&vec![u32::MAX; count])?;
        gpu.gather_labels(&spec, &gpu.upload(&labels)?, &gpu.upload(&indices)?, &out)?;
        let shape = format!("{count} of {rows} from {index_offset}");
        report.compare_exact(&shape, &gpu.download(&out)?, &expected.read());
    }
    Ok(report)
}

/// `[outer, axis, inner]` shapes for `sum_axis`: bias gradients of the MNIST network (`[1, 64, 128]`,
/// `[1, 64, 10]`), conv-style layouts, and long axes with few outputs, which take the GPU's tree path.
pub const SUM_SHAPES: &[[usize; 3]] = &[
    [1, 1, 1],
    [1, 64, 128],
    [1, 64, 10],
    [2, 3, 5],
    [7, 11, 13],
    [1, 255, 3],
    [1, 256, 1],
    [1, 257, 2],
    [3, 1, 7],
    [64, 32, 169],
    [1, 64, 1600],
    [5, 31, 257],
    [1, 511, 17],
    [1, 512, 1],
    [1, 1000, 1],
    [2, 4097, 3],
    [32, 1021, 1],
    [1, 43264, 1],
    [9, 2, 255],
    [1, 3, 70001],
    [4, 600, 2],
];

/// `sum_axis`, as a sum and as a mean. Tolerance [`Tolerance::for_sum`]`(axis)` (scaled by `1/axis` for the
/// mean): the terms are in ±[0.05, 1), like the products that tolerance is derived for, and the GPU may add
/// them in another order (a tree over the workgroup on long axes).
pub fn check_sum_axis(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("sum_axis");
    let mut rng = TestRng::new(0x5a);
    for &shape in SUM_SHAPES {
        let [outer, axis, inner] = shape;
        let x = rng.values(outer * axis * inner);
        for mean in [false, true] {
            let expected = cpu.zeros::<f32>(outer * inner)?;
            cpu.sum_axis(&cpu.upload(&x)?, shape, mean, &expected)?;
            let out = poisoned(gpu, outer * inner)?;
            gpu.sum_axis(&gpu.upload(&x)?, shape, mean, &out)?;
            let mut tol = Tolerance::for_sum(axis);
            if mean {
                tol.abs /= axis as f32;
            }
            let name = format!("{outer}x{axis}x{inner}{}", if mean { " mean" } else { "" });
            report.compare(&name, &gpu.download(&out)?, &expected.read(), tol);
        }
    }
    Ok(report)
}

/// `(rows, cols)` for the row kernels: MNIST's batch of 10 classes, evaluation batches, one row, one column,
/// workgroup sizes ± 1 in rows (64 for the row kernels, 256 rows per invocation set for the loss), long rows.
pub const ROW_SHAPES: &[(usize, usize)] = &[
    (1, 1),
    (1, 10),
    (64, 10),
    (2, 3),
    (3, 2),
    (7, 13),
    (63, 10),
    (65, 10),
    (255, 10),
    (256, 10),
    (257, 10),
    (1000, 10),
    (10, 1),
    (31, 97),
    (5, 256),
    (3, 257),
    (2, 1000),
    (513, 7),
    (129, 100),
    (4099, 3),
    (64, 1),
];

/// Row-major `rows x cols` values where every fourth row (with 2+ columns) holds its maximum twice, so the
/// first-on-ties rule is exercised.
fn rows_with_ties(rng: &mut TestRng, rows: usize, cols: usize) -> Vec<f32> {
    let mut x = rng.values(rows * cols);
    if cols >= 2 {
        for r in (0..rows).step_by(4) {
            let first = rng.below(cols as u64 - 1) as usize;
            let second = first + 1 + rng.below((cols - first - 1) as u64) as usize;
            x[r * cols + first] = 2.0;
            x[r * cols + second] = 2.0;
        }
    }
    x
}

/// `argmax_rows`: exact (indices), ties included, into an output poisoned with `u32::MAX`.
pub fn check_argmax(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("argmax_rows");
    let mut rng = TestRng::new(0xa4);
    for &(rows, cols) in ROW_SHAPES {
        let x = rows_with_ties(&mut rng, rows, cols);
        let expected = cpu.zeros::<u32>(rows)?;
        cpu.argmax_rows(&cpu.upload(&x)?, rows, cols, &expected)?;
        let out = gpu.upload(&vec![u32::MAX; rows])?;
        gpu.argmax_rows(&gpu.upload(&x)?, rows, cols, &out)?;
        report.compare_exact(
            &format!("{rows}x{cols}"),
            &gpu.download(&out)?,
            &expected.read(),
        );
    }
    Ok(report)
}

/// Error budget, in units of `EPS`, of a softmax probability of a row of `cols`: Vulkan allows `exp(x)`
/// 3 + 2·|x| ulp, here x = v - max ∈ [-2, 0] (inputs within ±1), so 7; the reciprocal of the sum 2.5; the
/// product 0.5; and the sum of `cols` positive terms in possibly another rounding (fused or not) up to
/// `cols` ulp relative. Twice that, for the CPU's own (smaller) rounding.
fn softmax_budget(cols: usize) -> f32 {
    2.0 * (10.0 + cols as f32)
}

/// `softmax`, relative tolerance [`softmax_budget`]; every output is at least e⁻²/cols, far from zero.
pub fn check_softmax(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("softmax");
    let mut rng = TestRng::new(0x50f7);
    for &(rows, cols) in ROW_SHAPES {
        let x = rng.values(rows * cols);
        let expected = cpu.zeros::<f32>(rows * cols)?;
        cpu.softmax(&cpu.upload(&x)?, rows, cols, &expected)?;
        let out = poisoned(gpu, rows * cols)?;
        gpu.softmax(&gpu.upload(&x)?, rows, cols, &out)?;
        let tol = Tolerance {
            abs: 0.0,
            rel: softmax_budget(cols) * EPS,
        };
        report.compare(
            &format!("{rows}x{cols}"),
            &gpu.download(&out)?,
            &expected.read(),
            tol,
        );
    }
    Ok(report)
}

/// The fused softmax cross-entropy, with and without the gradient, accumulating into non-zero stats.
///
/// Tolerances: the gradient is `(p - target)·grad_scale`, so its error is a softmax error of `p ≤ 1`:
/// absolute [`softmax_budget`]`·EPS·|grad_scale|`. The loss sum: each row's `log(s) - on·(x - m) - off·Σ(x - m)`
/// is within about 8 ulp of terms below log(cols) + 2, plus ε·3 with smoothing ε ≤ 0.1 (the logits span at
/// most 3) (Vulkan's `log` is within 2⁻²¹ absolute near 1 and 3 ulp elsewhere),
/// and the rows are added in another order (a tree on the GPU): [`Tolerance::for_sum`]`(rows)` scaled by the
/// largest term, plus 16 ulp of each term. The hit count is a sum of small integers in f32: exact.
pub fn check_softmax_cross_entropy(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("softmax_cross_entropy");
    let mut rng = TestRng::new(0xce);
    for &(rows, classes) in ROW_SHAPES {
        let x = rows_with_ties(&mut rng, rows, classes);
        let labels: Vec<u32> = (0..rows)
            .map(|_| rng.below(classes as u64) as u32)
            .collect();
        let stats_before = [1.0 + 10.0 * rng.unit(), rng.below(100) as f32];
        // Every other shape with label smoothing.
        let spec = SoftmaxCrossEntropy {
            rows,
            classes,
            grad_scale: 1.0 / rows as f32,
            label_smoothing: if rows % 2 == 1 { 0.1 } else { 0.0 },
        };
        for with_grad in [true, false] {
            let (c_logits, c_labels) = (cpu.upload(&x)?, cpu.upload(&labels)?);
            let c_stats = cpu.upload(&stats_before)?;
            let c_grad = cpu.zeros::<f32>(rows * classes)?;
            cpu.softmax_cross_entropy(
                &spec,
                &c_logits,
                &c_labels,
                with_grad.then_some(&c_grad),
                &c_stats,
            )?;
            let (g_logits, g_labels) = (gpu.upload(&x)?, gpu.upload(&labels)?);
            let g_stats = gpu.upload(&stats_before)?;
            let g_grad = poisoned(gpu, rows * classes)?;
            gpu.softmax_cross_entropy(
                &spec,
                &g_logits,
                &g_labels,
                with_grad.then_some(&g_grad),
                &g_stats,
            )?;

            let shape = format!(
                "{rows}x{classes} ε={}{}",
                spec.label_smoothing,
                if with_grad { " +grad" } else { "" }
            );
            let (gs, cs) = (gpu.download(&g_stats)?, c_stats.read().to_vec());
            let term = (classes as f32).ln() + 2.0 + 3.0 * spec.label_smoothing;
            let loss_tol = Tolerance {
                abs: Tolerance::for_sum(rows).abs * term + 16.0 * EPS * term * rows as f32,
                rel: 4.0 * EPS,
            };
            report.compare(&format!("{shape} loss"), &gs[..1], &cs[..1], loss_tol);
            report.compare_also(
                &format!("{shape} hits"),
                &gs[1..],
                &cs[1..],
                Tolerance::EXACT,
            );
            if with_grad {
                let grad_tol = Tolerance {
                    abs: softmax_budget(classes) * EPS * spec.grad_scale,
                    rel: 0.0,
                };
                report.compare_also(
                    &format!("{shape} grad"),
                    &gpu.download(&g_grad)?,
                    &c_grad.read(),
                    grad_tol,
                );
            }
        }
    }
    Ok(report)
}

/// The fused distillation loss and gradient against the CPU twin: random student and teacher logits (the
/// teacher's spread ×3, as a trained teacher is surer than its student), temperatures 1, 2 and 4, α of 0.5 and
/// 0.9, label smoothing on odd shapes, accumulating into non-zero stats, the gradient poisoned.
///
/// Tolerances: the hard part as [`check_softmax_cross_entropy`]'s, weighted `1 - α`. The soft part of the
/// gradient is `α·T·(q - p)` with `q = exp(log q)`, `log q = x/T - max - log Σ`: the exponential's 3 + 2|x|
/// ulp over |x| ≤ ln(cols) + 6/T, plus the log's and the sum's as in [`softmax_budget`]: twice
/// `softmax_budget(cols) + 2·(ln(cols) + 6/T)` ulp for each of p and q. The loss's soft part, `α·T²·KL`, sums
/// `cols` products `p·(log p - log q)` whose differences (at most 12/T + ln(cols)) are rounded to a few ulp of
/// `|log p| + |log q|`: per row `4·cols` ulp of `α·T²·(2 ln(cols) + 12/T)`; rows are added in another order as
/// for the hard loss.
pub fn check_distillation(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("distillation_loss");
    let mut rng = TestRng::new(0xd157);
    for (i, &(rows, classes)) in ROW_SHAPES.iter().enumerate() {
        let x = rows_with_ties(&mut rng, rows, classes);
        let z: Vec<f32> = rng.values(rows * classes).iter().map(|v| 3.0 * v).collect();
        let labels: Vec<u32> = (0..rows)
            .map(|_| rng.below(classes as u64) as u32)
            .collect();
        let stats_before = [1.0 + 10.0 * rng.unit(), rng.below(100) as f32];
        let spec = Distillation {
            hard: SoftmaxCrossEntropy {
                rows,
                classes,
                grad_scale: 1.0 / rows as f32,
                label_smoothing: if rows % 2 == 1 { 0.1 } else { 0.0 },
            },
            temperature: [1.0, 2.0, 4.0][i % 3],
            alpha: [0.5, 0.9][i % 2],
        };
        let (c_stats, c_grad) = (
            cpu.upload(&stats_before)?,
            cpu.zeros::<f32>(rows * classes)?,
        );
        cpu.distillation_loss(
            &spec,
            &cpu.upload(&x)?,
            &cpu.upload(&z)?,
            &cpu.upload(&labels)?,
            &c_grad,
            &c_stats,
        )?;
        let (g_stats, g_grad) = (gpu.upload(&stats_before)?, poisoned(gpu, rows * classes)?);
        gpu.distillation_loss(
            &spec,
            &gpu.upload(&x)?,
            &gpu.upload(&z)?,
            &gpu.upload(&labels)?,
            &g_grad,
            &g_stats,
        )?;
        let Distillation {
            temperature: t,
            alpha,
            ..
        } = spec;
        let shape = format!(
            "{rows}x{classes} T={t} α={alpha} ε={}",
            spec.hard.label_smoothing
        );
        let ln = (classes as f32).ln();
        let hard_term = (ln + 2.0 + 3.0 * spec.hard.label_smoothing) * (1.0 - alpha);
        let soft_term = alpha * t * t * (2.0 * ln + 12.0 / t);
        let (gs, cs) = (gpu.download(&g_stats)?, c_stats.read().to_vec());
        let loss_tol = Tolerance {
            abs: Tolerance::for_sum(rows).abs * (hard_term + soft_term)
                + 16.0 * EPS * hard_term * rows as f32
                + 4.0 * classes as f32 * EPS * soft_term * rows as f32,
            rel: 4.0 * EPS,
        };
        report.compare(&format!("{shape} loss"), &gs[..1], &cs[..1], loss_tol);
        report.compare_also(
            &format!("{shape} hits"),
            &gs[1..],
            &cs[1..],
            Tolerance::EXACT,
        );
        let soft_budget = 2.0 * (softmax_budget(classes) + 2.0 * (ln + 6.0 / t));
        let grad_tol = Tolerance {
            abs: ((1.0 - alpha) * softmax_budget(classes) + alpha * t * 2.0 * soft_budget)
                * EPS
                * spec.hard.grad_scale,
            rel: 0.0,
        };
        report.compare_also(
            &format!("{shape} grad"),
            &gpu.download(&g_grad)?,
            &c_grad.read(),
            grad_tol,
        );
    }
    Ok(report)
}

/// Optimizer inputs: parameters and gradients in ±[0.05, 1), a first moment (or velocity) of both signs, and
/// a second moment in [0.05, 1) (it is never negative).
fn arena(rng: &mut TestRng, n: usize) -> [Vec<f32>; 4] {
    let v = rng.values(n).into_iter().map(f32::abs).collect();
    [rng.values(n), rng.values(n), rng.values(n), v]
}

/// Adam on random arenas and steps. Tolerances: `m` and `v` are two products and a sum of terms below 1 in
/// magnitude, each rounded once or twice (a fused multiply-add rounds once): `2·EPS` absolute. The parameter
/// moves by `u = α·m/(sqrt(v)+ε)`, which Vulkan lets the GPU compute within 2.5 ulp for the division and 3 for
/// the root: `16·EPS·max|u|` absolute, plus an ulp of the parameter.
pub fn check_adam(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("adam");
    let mut rng = TestRng::new(0xada);
    for &n in LENGTHS {
        // Every other length as AdamW.
        let hp = AdamStep {
            lr: 1e-2,
            step: 1 + rng.below(2000) as u32,
            weight_decay: if n % 2 == 0 { 0.0 } else { 0.004 },
            ..AdamStep::default()
        };
        let [p, g, m, v] = arena(&mut rng, n);
        let c: [CpuBuf<f32>; 4] = [
            cpu.upload(&p)?,
            cpu.upload(&g)?,
            cpu.upload(&m)?,
            cpu.upload(&v)?,
        ];
        cpu.adam(&hp, &c[0], &c[1], &c[2], &c[3])?;
        let x: [GpuBuf<f32>; 4] = [
            gpu.upload(&p)?,
            gpu.upload(&g)?,
            gpu.upload(&m)?,
            gpu.upload(&v)?,
        ];
        gpu.adam(&hp, &x[0], &x[1], &x[2], &x[3])?;
        let (cm, cv) = (c[2].read().to_vec(), c[3].read().to_vec());
        let largest_update = cm
            .iter()
            .zip(&cv)
            .map(|(m, v)| (hp.alpha() * m / (v.sqrt() + hp.epsilon)).abs())
            .fold(0.0, f32::max);
        let p_tol = Tolerance {
            abs: 16.0 * EPS * largest_update,
            rel: EPS,
        };
        let moment_tol = Tolerance {
            abs: 2.0 * EPS,
            rel: 0.0,
        };
        let shape = format!("{n} t={} wd={}", hp.step, hp.weight_decay);
        report.compare(
            &format!("{shape} p"),
            &gpu.download(&x[0])?,
            &c[0].read(),
            p_tol,
        );
        report.compare_also(
            &format!("{shape} m"),
            &gpu.download(&x[2])?,
            &cm,
            moment_tol,
        );
        report.compare_also(
            &format!("{shape} v"),
            &gpu.download(&x[3])?,
            &cv,
            moment_tol,
        );
    }
    Ok(report)
}

/// SGD with and without momentum, plain and Nesterov. Tolerance `8·EPS` absolute: every input is below 1 in
/// magnitude, lr + momentum < 1.1, and each output is at most three roundings (fewer when fused) of terms
/// below 2.
pub fn check_sgd(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("sgd");
    let mut rng = TestRng::new(0x56d);
    let tol = Tolerance {
        abs: 8.0 * EPS,
        rel: 0.0,
    };
    for (i, &n) in LENGTHS.iter().enumerate() {
        let hp = SgdStep {
            lr: 0.01 + 0.09 * rng.unit(),
            momentum: [0.0, 0.9, 0.5][i % 3],
            nesterov: i % 2 == 1,
        };
        let [p, g, v, _] = arena(&mut rng, n);
        let c: [CpuBuf<f32>; 3] = [cpu.upload(&p)?, cpu.upload(&g)?, cpu.upload(&v)?];
        cpu.sgd(&hp, &c[0], &c[1], &c[2])?;
        let x: [GpuBuf<f32>; 3] = [gpu.upload(&p)?, gpu.upload(&g)?, gpu.upload(&v)?];
        gpu.sgd(&hp, &x[0], &x[1], &x[2])?;
        let shape = format!(
            "{n} momentum {}{}",
            hp.momentum,
            if hp.nesterov { " nesterov" } else { "" }
        );
        report.compare(
            &format!("{shape} p"),
            &gpu.download(&x[0])?,
            &c[0].read(),
            tol,
        );
        report.compare_also(
            &format!("{shape} v"),
            &gpu.download(&x[2])?,
            &c[2].read(),
            tol,
        );
    }
    Ok(report)
}

/// The elementwise family's checks: arithmetic, ReLU and its gradient, fill, both gathers.
pub fn check_elementwise(gpu: &Gpu) -> Result<Vec<Report>> {
    Ok(vec![
        check_add(gpu)?,
        check_scale(gpu)?,
        check_relu(gpu)?,
        check_relu_backward(gpu)?,
        check_fill(gpu)?,
        check_mul_assign(gpu)?,
        check_gather_normalize(gpu)?,
        check_gather_labels(gpu)?,
    ])
}

/// The reduction family's checks: sums along an axis, argmax, softmax and its cross-entropy.
pub fn check_reduce(gpu: &Gpu) -> Result<Vec<Report>> {
    Ok(vec![
        check_sum_axis(gpu)?,
        check_argmax(gpu)?,
        check_softmax(gpu)?,
        check_softmax_cross_entropy(gpu)?,
        check_distillation(gpu)?,
    ])
}

/// The optimizers' checks.
pub fn check_optim(gpu: &Gpu) -> Result<Vec<Report>> {
    Ok(vec![
        check_adam(gpu)?,
        check_sgd(gpu)?,
        check_ema(gpu)?,
        check_rmsprop(gpu)?,
        check_adadelta(gpu)?,
        check_nadam(gpu)?,
    ])
}

/// The largest parameter move of an update and the tolerance of the parameter it implies: a root and a
/// division, each within a few ulp on Vulkan, give `16·EPS` of the largest move, plus an ulp of the parameter.
fn update_tolerance(before: &[f32], after: &[f32]) -> Tolerance {
    let largest = before
        .iter()
        .zip(after)
        .map(|(b, a)| (a - b).abs())
        .fold(0.0, f32::max);
    Tolerance {
        abs: 16.0 * EPS * largest,
        rel: EPS,
    }
}

/// Moving averages of squares and products of terms below 1: `2·EPS` absolute (Adadelta's update accumulator
/// holds squares of a ratio of roots: `8·EPS` of its largest value).
fn state_tolerance(values: &[f32], ulps: f32) -> Tolerance {
    let largest = values.iter().map(|v| v.abs()).fold(1.0, f32::max);
    Tolerance {
        abs: ulps * EPS * largest,
        rel: 0.0,
    }
}

/// RMSprop on random arenas and settings, as [`check_adam`].
pub fn check_rmsprop(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("rmsprop");
    let mut rng = TestRng::new(0x7a5);
    for (i, &n) in LENGTHS.iter().enumerate() {
        let hp = RmspropStep {
            lr: 1e-3 + 1e-2 * rng.unit(),
            rho: [0.9, 0.99, 0.5][i % 3],
            epsilon: 1e-7,
        };
        let [p, g, _, v] = arena(&mut rng, n);
        let c = [cpu.upload(&p)?, cpu.upload(&g)?, cpu.upload(&v)?];
        cpu.rmsprop(&hp, &c[0], &c[1], &c[2])?;
        let x = [gpu.upload(&p)?, gpu.upload(&g)?, gpu.upload(&v)?];
        gpu.rmsprop(&hp, &x[0], &x[1], &x[2])?;
        let (cp, cv) = (c[0].read().to_vec(), c[2].read().to_vec());
        let shape = format!("{n} rho {}", hp.rho);
        let p_tol = update_tolerance(&p, &cp);
        report.compare(&format!("{shape} p"), &gpu.download(&x[0])?, &cp, p_tol);
        let v_tol = state_tolerance(&cv, 2.0);
        report.compare_also(&format!("{shape} v"), &gpu.download(&x[2])?, &cv, v_tol);
    }
    Ok(report)
}

/// Adadelta on random arenas and settings (Keras's and PyTorch's), as [`check_adam`].
pub fn check_adadelta(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("adadelta");
    let mut rng = TestRng::new(0xade);
    for (i, &n) in LENGTHS.iter().enumerate() {
        let (lr, rho, epsilon) = [(1e-3, 0.95, 1e-7), (1.0, 0.9, 1e-6)][i % 2];
        let hp = AdadeltaStep { lr, rho, epsilon };
        let [p, g, a, u] = arena(&mut rng, n);
        let a: Vec<f32> = a.iter().map(|v| v.abs()).collect();
        let c = [
            cpu.upload(&p)?,
            cpu.upload(&g)?,
            cpu.upload(&a)?,
            cpu.upload(&u)?,
        ];
        cpu.adadelta(&hp, &c[0], &c[1], &c[2], &c[3])?;
        let x = [
            gpu.upload(&p)?,
            gpu.upload(&g)?,
            gpu.upload(&a)?,
            gpu.upload(&u)?,
        ];
        gpu.adadelta(&hp, &x[0], &x[1], &x[2], &x[3])?;
        let (cp, ca, cu) = (
            c[0].read().to_vec(),
            c[2].read().to_vec(),
            c[3].read().to_vec(),
        );
        let shape = format!("{n} lr {lr} rho {rho}");
        let p_tol = update_tolerance(&p, &cp);
        report.compare(&format!("{shape} p"), &gpu.download(&x[0])?, &cp, p_tol);
        let a_tol = state_tolerance(&ca, 2.0);
        report.compare_also(&format!("{shape} a"), &gpu.download(&x[2])?, &ca, a_tol);
        let u_tol = state_tolerance(&cu, 8.0);
        report.compare_also(&format!("{shape} u"), &gpu.download(&x[3])?, &cu, u_tol);
    }
    Ok(report)
}

/// Nadam on random arenas and steps, as [`check_adam`].
pub fn check_nadam(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("nadam");
    let mut rng = TestRng::new(0x4ad);
    for &n in LENGTHS {
        let step = 1 + rng.below(2000) as u32;
        let hp = NadamStep {
            lr: 1e-2,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
            step,
            momentum_product: NadamStep::product_before(0.9, step),
        };
        let [p, g, m, v] = arena(&mut rng, n);
        let c = [
            cpu.upload(&p)?,
            cpu.upload(&g)?,
            cpu.upload(&m)?,
            cpu.upload(&v)?,
        ];
        cpu.nadam(&hp, &c[0], &c[1], &c[2], &c[3])?;
        let x = [
            gpu.upload(&p)?,
            gpu.upload(&g)?,
            gpu.upload(&m)?,
            gpu.upload(&v)?,
        ];
        gpu.nadam(&hp, &x[0], &x[1], &x[2], &x[3])?;
        let (cp, cm, cv) = (
            c[0].read().to_vec(),
            c[2].read().to_vec(),
            c[3].read().to_vec(),
        );
        let shape = format!("{n} t={}", hp.step);
        let p_tol = update_tolerance(&p, &cp);
        report.compare(&format!("{shape} p"), &gpu.download(&x[0])?, &cp, p_tol);
        let m_tol = state_tolerance(&cm, 2.0);
        report.compare_also(&format!("{shape} m"), &gpu.download(&x[2])?, &cm, m_tol);
        let v_tol = state_tolerance(&cv, 2.0);
        report.compare_also(&format!("{shape} v"), &gpu.download(&x[3])?, &cv, v_tol);
    }
    Ok(report)
}

/// The weights' moving average on random arenas and decays. Tolerance: two products and a sum of terms below 1
/// in magnitude, each rounded once or twice (a fused multiply-add rounds once): `2·EPS` absolute.
pub fn check_ema(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("ema");
    let mut rng = TestRng::new(0xe3a);
    let tol = Tolerance {
        abs: 2.0 * EPS,
        rel: 0.0,
    };
    for (i, &n) in LENGTHS.iter().enumerate() {
        let decay = [0.999, 0.9, 0.5 * rng.unit()][i % 3];
        let [average, value, _, _] = arena(&mut rng, n);
        let (ca, cv) = (cpu.upload(&average)?, cpu.upload(&value)?);
        cpu.ema(decay, &ca, &cv)?;
        let (ga, gv) = (gpu.upload(&average)?, gpu.upload(&value)?);
        gpu.ema(decay, &ga, &gv)?;
        report.compare(
            &format!("{n} decay {decay}"),
            &gpu.download(&ga)?,
            &ca.read(),
            tol,
        );
    }
    Ok(report)
}
