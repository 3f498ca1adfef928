//! [`Gpu::warm_up`]: compiles and runs every pipeline once, so that no timing (and no first training step)
//! pays for shader compilation. Drivers may compile at pipeline creation or, like lavapipe, at the first
//! dispatch (30-500 ms a kernel), so each pipeline is dispatched, on tiny inputs, not just created.

use std::time::{Duration, Instant};

use crate::{
    AdamStep, Backend, ElementwiseOps, Gather, Gemm, GemmOps, Gpu, OptimOps, ReduceOps, Result,
    SgdStep, SoftmaxCrossEntropy,
};

/// A kernel family's warm-up: records every pipeline of the family once on tiny inputs.
pub type WarmUp = fn(&Gpu) -> Result<()>;

/// Every kernel family's warm-up, by name. A new family adds one line.
pub const WARM_UPS: &[(&str, WarmUp)] = &[
    ("gemm", warm_gemm),
    ("elementwise", warm_elementwise),
    ("reduce", warm_reduce),
    ("optim", warm_optim),
    ("conv", crate::ops::conv::warm_up),
    ("pool", crate::ops::pool::warm_up),
    ("dropout", crate::ops::dropout::warm_up),
    ("augment", crate::ops::augment::warm_up),
    ("batch_norm", crate::ops::batch_norm::warm_up),
    ("copy_rows", crate::ops::copy_rows::warm_up),
];

impl Gpu {
    /// Compiles and runs every pipeline in [`WARM_UPS`] once, and returns how long that took.
    pub fn warm_up(&self) -> Result<Duration> {
        let start = Instant::now();
        for (_, warm) in WARM_UPS {
            warm(self)?;
        }
        self.synchronize()?;
        Ok(start.elapsed())
    }
}

/// The GEMM pipelines that [`crate::GemmVariant::pick`] uses on this device: every form, on a shape the vec4
/// kernel takes and on one it does not.
fn warm_gemm(gpu: &Gpu) -> Result<()> {
    for (m, n, k) in [(8, 8, 8), (3, 5, 7)] {
        for spec in [
            Gemm::new(m, n, k),
            Gemm::new(m, n, k).transpose_a(),
            Gemm::new(m, n, k).transpose_b(),
        ] {
            let (a, b, c) = (
                gpu.zeros::<f32>(m * k)?,
                gpu.zeros::<f32>(k * n)?,
                gpu.zeros::<f32>(m * n)?,
            );
            gpu.gemm(&spec, &a, &b, None, &c)?;
        }
    }
    Ok(())
}

fn warm_elementwise(gpu: &Gpu) -> Result<()> {
    // Five elements: one vec4 and one single float, so both forms of each kernel compile.
    let (a, b, out) = (
        gpu.zeros::<f32>(5)?,
        gpu.zeros::<f32>(5)?,
        gpu.zeros::<f32>(5)?,
    );
    gpu.add(&a, &b, &out)?;
    gpu.scale(&a, 2.0, &out)?;
    gpu.relu(&a, &out)?;
    gpu.relu_backward(&a, &b, &out)?;
    gpu.fill(&out, 1.0)?;
    let spec = Gather {
        row_len: 1,
        index_offset: 0,
        count: 4,
        scale: 1.0,
        shift: 0.0,
    };
    let (data, indices) = (gpu.zeros::<u8>(4)?, gpu.zeros::<u32>(4)?);
    gpu.gather_normalize(&spec, &data, &indices, &gpu.zeros::<f32>(4)?)?;
    gpu.gather_labels(&spec, &data, &indices, &gpu.zeros::<u32>(4)?)
}

fn warm_reduce(gpu: &Gpu) -> Result<()> {
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
    };
    let (labels, stats) = (gpu.zeros::<u32>(2)?, gpu.zeros::<f32>(2)?);
    gpu.softmax_cross_entropy(&spec, &logits, &labels, Some(&out), &stats)?;
    gpu.softmax_cross_entropy(&spec, &logits, &labels, None, &stats)
}

fn warm_optim(gpu: &Gpu) -> Result<()> {
    // One vec4 and one single float, as for the elementwise kernels.
    let [p, g, m, v] = [0; 4].map(|_| gpu.zeros::<f32>(5));
    let (p, g, m, v) = (p?, g?, m?, v?);
    gpu.adam(&AdamStep::default(), &p, &g, &m, &v)?;
    let hp = SgdStep {
        lr: 0.01,
        momentum: 0.9,
        nesterov: false,
    };
    gpu.sgd(&hp, &p, &g, &v)
}
