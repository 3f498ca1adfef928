//! Reductions: sums along an axis, argmax, and the fused softmax + cross-entropy forward and backward that
//! also accumulates loss and accuracy on the device, deterministically (no float atomics).

use rayon::prelude::*;

use crate::cpu::{Cpu, CpuBuf};
use crate::error::{check_len, shape_error};
use crate::gpu::{Dispatch, Gpu, GpuBuf, Kernel};
use crate::ops::elementwise::WG_1D;
use crate::{Backend, Element, Result, TensorError};

/// Softmax cross-entropy over `rows` rows of `classes` logits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftmaxCrossEntropy {
    /// Samples in the batch.
    pub rows: usize,
    /// Classes per sample.
    pub classes: usize,
    /// Multiplies the gradient `softmax - target`: `1 / rows` for a mean loss.
    pub grad_scale: f32,
    /// Label smoothing ε (Keras's and PyTorch's `label_smoothing`): the target is `(1 - ε)·onehot + ε / classes`.
    /// 0 is plain cross-entropy, bit for bit.
    pub label_smoothing: f32,
}

/// Knowledge distillation's loss (Hinton et al., 2015): the hard loss of `hard` weighted `1 - alpha`, plus
/// `alpha · T² · KL(softmax(teacher / T) ‖ softmax(logits / T))`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Distillation {
    /// The hard loss against the labels (rows, classes, gradient scale, label smoothing).
    pub hard: SoftmaxCrossEntropy,
    /// The temperature `T` (> 0) softening both distributions.
    pub temperature: f32,
    /// The weight of the soft part, in [0, 1].
    pub alpha: f32,
}

/// Reduction operations.
pub trait ReduceOps: Backend {
    /// `out[o, i] = Σ_a x[o, a, i]` for `x` of shape `[outer, axis, inner]` (the mean when `mean`).
    /// Bias gradients are `shape = [1, batch, features]`.
    fn sum_axis(
        &self,
        x: &Self::Buf<f32>,
        shape: [usize; 3],
        mean: bool,
        out: &Self::Buf<f32>,
    ) -> Result<()>;
    /// `out[r] = argmax_c x[r, c]` (the first maximum on ties).
    fn argmax_rows(
        &self,
        x: &Self::Buf<f32>,
        rows: usize,
        cols: usize,
        out: &Self::Buf<u32>,
    ) -> Result<()>;
    /// Softmax of each row (for predictions).
    fn softmax(
        &self,
        logits: &Self::Buf<f32>,
        rows: usize,
        cols: usize,
        out: &Self::Buf<f32>,
    ) -> Result<()>;
    /// The fused loss: numerically stable softmax (row max subtracted), then
    /// `grad = (softmax - onehot(label)) · grad_scale` when `grad` is given, and
    /// `stats[0] += Σ_rows -log softmax[label]`, `stats[1] += number of rows whose argmax equals the label`.
    /// `stats` has 2 elements and accumulates across calls (an epoch's running loss and accuracy).
    /// A label `>= classes` is an error on the CPU; the GPU cannot see the labels without a readback and
    /// clamps it to `classes - 1`.
    fn softmax_cross_entropy(
        &self,
        spec: &SoftmaxCrossEntropy,
        logits: &Self::Buf<f32>,
        labels: &Self::Buf<u32>,
        grad: Option<&Self::Buf<f32>>,
        stats: &Self::Buf<f32>,
    ) -> Result<()>;
    /// The fused distillation loss and its gradient (see [`Distillation`] and
    /// `shaders/softmax_cross_entropy.wgsl`): `grad = ((1 - α)(softmax - target) + α·T·(q - p))·grad_scale`
    /// with `p`, `q` the teacher's and the student's softmax at temperature `T`. `stats` accumulates the
    /// combined loss and the student's hits, as [`ReduceOps::softmax_cross_entropy`] does.
    fn distillation_loss(
        &self,
        spec: &Distillation,
        logits: &Self::Buf<f32>,
        teacher: &Self::Buf<f32>,
        labels: &Self::Buf<u32>,
        grad: &Self::Buf<f32>,
        stats: &Self::Buf<f32>,
    ) -> Result<()>;
}

impl Distillation {
    fn check(&self, logits: usize, teacher: usize, labels: usize, grad: usize, stats: usize) -> Result<()> {
        const OP: &str = "distillation_loss";
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(shape_error(
                OP,
                format!("temperature {} is not a positive number", self.temperature),
            ));
        }
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(shape_error(OP, format!("alpha {} is not in [0, 1]", self.alpha)));
        }
        self.hard.check(logits, labels, Some(grad), stats)?;
        check_len(OP, "teacher logits", teacher, logits)
    }
}

impl SoftmaxCrossEntropy {
    /// The target's `(on, off)`: `t[c] = on·(c == label) + off`, rounded once in f32, the same on every backend.
    fn targets(&self) -> (f32, f32) {
        let eps = f64::from(self.label_smoothing);
        ((1.0 - eps) as f32, (eps / self.classes as f64) as f32)
    }

    fn check(&self, logits: usize, labels: usize, grad: Option<usize>, stats: usize) -> Result<()> {
        const OP: &str = "softmax_cross_entropy";
        if self.classes == 0 {
            return Err(shape_error(OP, "classes is 0"));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(shape_error(
                OP,
                format!("label smoothing {} is not in [0, 1)", self.label_smoothing),
            ));
        }
        check_len(
            OP,
            &format!("logits ({}x{})", self.rows, self.classes),
            logits,
            self.rows * self.classes,
        )?;
        check_len(OP, "labels", labels, self.rows)?;
        if let Some(grad) = grad {
            check_len(OP, "grad", grad, self.rows * self.classes)?;
        }
        check_len(OP, "stats", stats, 2)
    }
}

/// The CPU's check of the labels (the GPU cannot see them without a readback, and clamps instead).
fn check_labels(op: &'static str, labels: &[u32], classes: usize) -> Result<()> {
    match labels.iter().position(|&l| l as usize >= classes) {
        Some(at) => Err(shape_error(
            op,
            format!("label {} of row {at} is not below {classes} classes", labels[at]),
        )),
        None => Ok(()),
    }
}

fn check_sum_axis(
    x: usize,
    [outer, axis, inner]: [usize; 3],
    mean: bool,
    out: usize,
) -> Result<()> {
    check_len(
        "sum_axis",
        &format!("x ({outer}x{axis}x{inner})"),
        x,
        outer * axis * inner,
    )?;
    check_len(
        "sum_axis",
        &format!("out ({outer}x{inner})"),
        out,
        outer * inner,
    )?;
    if mean && axis == 0 {
        return Err(shape_error(
            "sum_axis",
            "the mean over an empty axis is undefined",
        ));
    }
    Ok(())
}

/// The factor applied to the sums: 1, or `1/axis` for a mean (the same f32 on both backends).
fn sum_scale(axis: usize, mean: bool) -> f32 {
    if mean { 1.0 / axis as f32 } else { 1.0 }
}

fn check_rows(
    op: &'static str,
    x: usize,
    rows: usize,
    cols: usize,
    out: usize,
    out_len: usize,
) -> Result<()> {
    if cols == 0 {
        return Err(shape_error(op, "cols is 0"));
    }
    check_len(op, &format!("x ({rows}x{cols})"), x, rows * cols)?;
    check_len(op, "out", out, out_len)
}

/// Rows of at least this many elements in all are processed in parallel.
const PAR_MIN: usize = 1 << 15;

/// The first index of the largest value (a strictly greater value replaces the best, like the kernels).
fn first_argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (c, &v) in row.iter().enumerate().skip(1) {
        if v > row[best] {
            best = c;
        }
    }
    best
}

/// `(max, sum of exp(x - max))` of a row, in the kernels' order.
fn max_and_exp_sum(row: &[f32]) -> (f32, f32) {
    let max = row.iter().copied().fold(row[0], f32::max);
    (max, row.iter().map(|&x| (x - max).exp()).sum())
}

impl ReduceOps for Cpu {
    fn sum_axis(
        &self,
        x: &CpuBuf<f32>,
        shape: [usize; 3],
        mean: bool,
        out: &CpuBuf<f32>,
    ) -> Result<()> {
        check_sum_axis(x.len(), shape, mean, out.len())?;
        let [_, axis, inner] = shape;
        let scale = sum_scale(axis, mean);
        let x = x.read();
        let mut out = out.write();
        if inner == 0 {
            return Ok(());
        }
        // One block [axis, inner] of x per row of out; adding whole rows of x keeps the loop vectorisable.
        let reduce = |(out, x): (&mut [f32], &[f32])| {
            out.fill(0.0);
            for row in x.chunks_exact(inner) {
                out.iter_mut().zip(row).for_each(|(o, &v)| *o += v);
            }
            out.iter_mut().for_each(|o| *o *= scale);
        };
        let block = (axis * inner).max(1);
        if x.len() >= PAR_MIN {
            out.par_chunks_mut(inner)
                .zip(x.par_chunks(block))
                .for_each(reduce);
        } else if axis == 0 {
            out.fill(0.0);
        } else {
            out.chunks_mut(inner).zip(x.chunks(block)).for_each(reduce);
        }
        Ok(())
    }

    fn argmax_rows(
        &self,
        x: &CpuBuf<f32>,
        rows: usize,
        cols: usize,
        out: &CpuBuf<u32>,
    ) -> Result<()> {
        check_rows("argmax_rows", x.len(), rows, cols, out.len(), rows)?;
        let x = x.read();
        for (o, row) in out.write().iter_mut().zip(x.chunks_exact(cols)) {
            *o = first_argmax(row) as u32;
        }
        Ok(())
    }

    fn softmax(
        &self,
        logits: &CpuBuf<f32>,
        rows: usize,
        cols: usize,
        out: &CpuBuf<f32>,
    ) -> Result<()> {
        check_rows("softmax", logits.len(), rows, cols, out.len(), rows * cols)?;
        let x = logits.read();
        let softmax_row = |(out, x): (&mut [f32], &[f32])| {
            let (max, sum) = max_and_exp_sum(x);
            let inv = 1.0 / sum;
            out.iter_mut()
                .zip(x)
                .for_each(|(o, &v)| *o = (v - max).exp() * inv);
        };
        let mut out = out.write();
        if x.len() >= PAR_MIN {
            out.par_chunks_mut(cols)
                .zip(x.par_chunks(cols))
                .for_each(softmax_row);
        } else {
            out.chunks_mut(cols)
                .zip(x.chunks(cols))
                .for_each(softmax_row);
        }
        Ok(())
    }

    fn softmax_cross_entropy(
        &self,
        spec: &SoftmaxCrossEntropy,
        logits: &CpuBuf<f32>,
        labels: &CpuBuf<u32>,
        grad: Option<&CpuBuf<f32>>,
        stats: &CpuBuf<f32>,
    ) -> Result<()> {
        spec.check(
            logits.len(),
            labels.len(),
            grad.map(CpuBuf::len),
            stats.len(),
        )?;
        let SoftmaxCrossEntropy {
            classes,
            grad_scale,
            ..
        } = *spec;
        let (on, off) = spec.targets();
        let (x, labels) = (logits.read(), labels.read());
        check_labels("softmax_cross_entropy", &labels, classes)?;
        let mut grad = grad.map(CpuBuf::write);
        let (mut loss, mut hits) = (0.0f32, 0.0f32);
        for (r, (row, &label)) in x.chunks_exact(classes).zip(labels.iter()).enumerate() {
            let label = label as usize;
            let (max, sum) = max_and_exp_sum(row);
            let deviations: f32 = row.iter().map(|&v| v - max).sum();
            loss += sum.ln() - on * (row[label] - max) - off * deviations;
            if first_argmax(row) == label {
                hits += 1.0;
            }
            if let Some(grad) = grad.as_mut() {
                let inv = 1.0 / sum;
                for (c, (g, &v)) in grad[r * classes..][..classes]
                    .iter_mut()
                    .zip(row)
                    .enumerate()
                {
                    let target = if c == label { on + off } else { off };
                    *g = ((v - max).exp() * inv - target) * grad_scale;
                }
            }
        }
        let mut stats = stats.write();
        stats[0] += loss;
        stats[1] += hits;
        Ok(())
    }

    fn distillation_loss(
        &self,
        spec: &Distillation,
        logits: &CpuBuf<f32>,
        teacher: &CpuBuf<f32>,
        labels: &CpuBuf<u32>,
        grad: &CpuBuf<f32>,
        stats: &CpuBuf<f32>,
    ) -> Result<()> {
        spec.check(logits.len(), teacher.len(), labels.len(), grad.len(), stats.len())?;
        let Distillation {
            hard,
            temperature: t,
            alpha,
        } = *spec;
        let classes = hard.classes;
        let (on, off) = hard.targets();
        let (x, z, labels) = (logits.read(), teacher.read(), labels.read());
        check_labels("distillation_loss", &labels, classes)?;
        let mut grad = grad.write();
        let (mut loss, mut hits) = (0.0f32, 0.0f32);
        let rows = x.chunks_exact(classes).zip(z.chunks_exact(classes));
        for (r, ((row, teacher), &label)) in rows.zip(labels.iter()).enumerate() {
            let label = label as usize;
            let (max, sum) = max_and_exp_sum(row);
            let deviations: f32 = row.iter().map(|&v| v - max).sum();
            let hard_loss = sum.ln() - on * (row[label] - max) - off * deviations;
            if first_argmax(row) == label {
                hits += 1.0;
            }
            // The same operations, in the same order, as the kernel.
            let teacher_top = teacher.iter().map(|&v| v / t).fold(teacher[0] / t, f32::max);
            let teacher_sum: f32 = teacher.iter().map(|&v| (v / t - teacher_top).exp()).sum();
            let student_top = max / t;
            let student_sum: f32 = row.iter().map(|&v| (v / t - student_top).exp()).sum();
            let (log_t, log_q) = (teacher_sum.ln(), student_sum.ln());
            let inv = 1.0 / sum;
            let mut kl = 0.0f32;
            for (c, g) in grad[r * classes..][..classes].iter_mut().enumerate() {
                let log_pc = teacher[c] / t - teacher_top - log_t;
                let log_qc = row[c] / t - student_top - log_q;
                let pc = log_pc.exp();
                kl += pc * (log_pc - log_qc);
                let target = if c == label { on + off } else { off };
                let hard_grad = (row[c] - max).exp() * inv - target;
                let soft_grad = log_qc.exp() - pc;
                *g = ((1.0 - alpha) * hard_grad + alpha * t * soft_grad) * hard.grad_scale;
            }
            loss += (1.0 - alpha) * hard_loss + alpha * t * t * kl;
        }
        let mut stats = stats.write();
        stats[0] += loss;
        stats[1] += hits;
        Ok(())
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SumParams {
    outer: u32,
    axis: u32,
    inner: u32,
    scale: f32,
}

#[cfg(test)]
pub(crate) fn sum_uniform() -> crate::gpu::uniform::UniformLayout {
    crate::gpu::uniform::uniform_layout!(SumParams for ["reduce_sum"] { outer, axis, inner, scale })
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct RowParams {
    rows: u32,
    cols: u32,
}

#[cfg(test)]
pub(crate) fn row_uniform() -> crate::gpu::uniform::UniformLayout {
    crate::gpu::uniform::uniform_layout!(RowParams for ["argmax", "softmax"] { rows, cols })
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct LossParams {
    rows: u32,
    classes: u32,
    grad_scale: f32,
    target_on: f32,
    target_off: f32,
    temperature: f32,
    alpha: f32,
    _pad: u32,
}

#[cfg(test)]
pub(crate) fn loss_uniform() -> crate::gpu::uniform::UniformLayout {
    crate::gpu::uniform::uniform_layout!(LossParams for ["softmax_cross_entropy"] { rows, classes, grad_scale, target_on, target_off, temperature, alpha })
}

/// Invocations per workgroup of the row kernels (`WG` in argmax.wgsl and softmax.wgsl).
const WG_ROWS: u64 = 64;

impl Gpu {
    /// Fails when a buffer is too large for one binding: these kernels do not split their work.
    fn check_binding<T: Element>(&self, op: &str, buf: &GpuBuf<T>) -> Result<()> {
        let limit = self.max_binding_elements::<T>();
        if buf.len() > limit {
            return Err(TensorError::Limit(format!(
                "{op}: {} {}s exceed one binding ({limit}) on {}",
                buf.len(),
                T::NAME,
                self.info().name
            )));
        }
        Ok(())
    }

    /// One invocation per row of `rows`: argmax and softmax.
    fn per_row<T: Element>(
        &self,
        kernel: &'static Kernel,
        x: &GpuBuf<f32>,
        rows: usize,
        cols: usize,
        out: &GpuBuf<T>,
    ) -> Result<()> {
        self.check_binding(kernel.name, x)?;
        if rows == 0 {
            return Ok(());
        }
        let params = RowParams {
            rows: rows as u32,
            cols: cols as u32,
        };
        self.dispatch(Dispatch {
            kernel,
            entry: "main",
            constants: &[],
            params: bytemuck::bytes_of(&params),
            buffers: &[x.binding(), out.binding()],
            workgroups: self.grid_1d((rows as u64).div_ceil(WG_ROWS))?,
        })
    }
}

/// `sum_axis` takes one workgroup per output (a tree over the axis) when outputs are too few to fill a GPU
/// with one invocation each and the axis is long; the choice depends on the shape alone.
fn sum_per_workgroup(outputs: usize, axis: usize) -> bool {
    outputs < 8192 && axis >= 512
}

impl ReduceOps for Gpu {
    fn sum_axis(
        &self,
        x: &GpuBuf<f32>,
        shape: [usize; 3],
        mean: bool,
        out: &GpuBuf<f32>,
    ) -> Result<()> {
        check_sum_axis(x.len(), shape, mean, out.len())?;
        self.check_binding("sum_axis", x)?;
        let [outer, axis, inner] = shape;
        let outputs = outer * inner;
        if outputs == 0 {
            return Ok(());
        }
        let params = SumParams {
            outer: outer as u32,
            axis: axis as u32,
            inner: inner as u32,
            scale: sum_scale(axis, mean),
        };
        let (entry, groups) = if sum_per_workgroup(outputs, axis) {
            ("per_workgroup", outputs as u64)
        } else {
            ("per_output", (outputs as u64).div_ceil(WG_1D))
        };
        self.dispatch(Dispatch {
            kernel: &REDUCE_SUM,
            entry,
            constants: &[],
            params: bytemuck::bytes_of(&params),
            buffers: &[x.binding(), out.binding()],
            workgroups: self.grid_1d(groups)?,
        })
    }

    fn argmax_rows(
        &self,
        x: &GpuBuf<f32>,
        rows: usize,
        cols: usize,
        out: &GpuBuf<u32>,
    ) -> Result<()> {
        check_rows("argmax_rows", x.len(), rows, cols, out.len(), rows)?;
        self.per_row(&ARGMAX, x, rows, cols, out)
    }

    fn softmax(
        &self,
        logits: &GpuBuf<f32>,
        rows: usize,
        cols: usize,
        out: &GpuBuf<f32>,
    ) -> Result<()> {
        check_rows("softmax", logits.len(), rows, cols, out.len(), rows * cols)?;
        self.per_row(&SOFTMAX, logits, rows, cols, out)
    }

    fn softmax_cross_entropy(
        &self,
        spec: &SoftmaxCrossEntropy,
        logits: &GpuBuf<f32>,
        labels: &GpuBuf<u32>,
        grad: Option<&GpuBuf<f32>>,
        stats: &GpuBuf<f32>,
    ) -> Result<()> {
        spec.check(
            logits.len(),
            labels.len(),
            grad.map(GpuBuf::len),
            stats.len(),
        )?;
        self.check_binding("softmax_cross_entropy", logits)?;
        let (target_on, target_off) = spec.targets();
        let params = LossParams {
            rows: spec.rows as u32,
            classes: spec.classes as u32,
            grad_scale: spec.grad_scale,
            target_on,
            target_off,
            temperature: 0.0,
            alpha: 0.0,
            _pad: 0,
        };
        let mut buffers = vec![logits.binding(), labels.binding(), stats.binding()];
        let entry = match grad {
            Some(grad) => {
                buffers.push(grad.binding());
                "loss_grad"
            }
            None => "loss",
        };
        // One workgroup: the batch's loss is summed in one fixed tree (see the shader).
        self.dispatch(Dispatch {
            kernel: &SOFTMAX_CROSS_ENTROPY,
            entry,
            constants: &[],
            params: bytemuck::bytes_of(&params),
            buffers: &buffers,
            workgroups: [1, 1, 1],
        })
    }

    fn distillation_loss(
        &self,
        spec: &Distillation,
        logits: &GpuBuf<f32>,
        teacher: &GpuBuf<f32>,
        labels: &GpuBuf<u32>,
        grad: &GpuBuf<f32>,
        stats: &GpuBuf<f32>,
    ) -> Result<()> {
        spec.check(logits.len(), teacher.len(), labels.len(), grad.len(), stats.len())?;
        self.check_binding("distillation_loss", logits)?;
        let (target_on, target_off) = spec.hard.targets();
        let params = LossParams {
            rows: spec.hard.rows as u32,
            classes: spec.hard.classes as u32,
            grad_scale: spec.hard.grad_scale,
            target_on,
            target_off,
            temperature: spec.temperature,
            alpha: spec.alpha,
            _pad: 0,
        };
        // One workgroup, as the hard loss.
        self.dispatch(Dispatch {
            kernel: &SOFTMAX_CROSS_ENTROPY,
            entry: "distill_grad",
            constants: &[],
            params: bytemuck::bytes_of(&params),
            buffers: &[
                logits.binding(),
                labels.binding(),
                stats.binding(),
                grad.binding(),
                teacher.binding(),
            ],
            workgroups: [1, 1, 1],
        })
    }
}

/// Both summation strategies, and each row kernel.
pub(crate) fn warm_up(gpu: &Gpu) -> Result<()> {
    // A short axis and a long one: the two summation strategies.
    for shape in [[1, 2, 2], [1, 1024, 1]] {
        let x = gpu.zeros::<f32>(shape.iter().product())?;
        gpu.sum_axis(&x, shape, false, &gpu.zeros::<f32>(shape[0] * shape[2])?)?;
    }
    let (logits, out) = (gpu.zeros::<f32>(4)?, gpu.zeros::<f32>(4)?);
    gpu.argmax_rows(&logits, 2, 2, &gpu.zeros::<u32>(2)?)?;
    gpu.softmax(&logits, 2, 2, &out)?;
    let spec = SoftmaxCrossEntropy {
        rows: 2,
        classes: 2,
        grad_scale: 0.5,
        label_smoothing: 0.0,
    };
    let (labels, stats) = (gpu.zeros::<u32>(2)?, gpu.zeros::<f32>(2)?);
    gpu.softmax_cross_entropy(&spec, &logits, &labels, Some(&out), &stats)?;
    gpu.softmax_cross_entropy(&spec, &logits, &labels, None, &stats)?;
    let distill = Distillation {
        hard: spec,
        temperature: 2.0,
        alpha: 0.5,
    };
    gpu.distillation_loss(&distill, &logits, &gpu.zeros::<f32>(4)?, &labels, &out, &stats)
}

crate::family::family!(
    "reduce",
    kernels: [
        REDUCE_SUM => "reduce_sum",
        ARGMAX => "argmax",
        SOFTMAX => "softmax",
        SOFTMAX_CROSS_ENTROPY => "softmax_cross_entropy",
    ],
    warm_up: warm_up,
    check: crate::conformance::dense::check_reduce,
    uniforms: [sum_uniform, row_uniform, loss_uniform],
);
