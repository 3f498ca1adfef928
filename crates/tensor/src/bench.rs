//! Kernel benchmarks: a registry of cases, shared by `digits bench kernels` and the criterion benches in
//! `benches/kernels.rs`, and a runner that times them.
//!
//! A [`Case`] names a kernel and a shape, states the work of one run (floating-point operations, or bytes
//! moved for memory-bound kernels), and holds a setup per backend that allocates the inputs and returns the
//! run. The runner warms a case up, then times N runs; on the GPU the N dispatches are recorded and
//! synchronised once, so the time is the device's, not a round trip per run.
//!
//! Adding a case is a few lines in [`cases`]: a generic setup function (or a closure) and one `push`.
//!
//! ```
//! use digits_tensor::bench::{self, Case, Work};
//! use digits_tensor::{Backend, Cpu, ElementwiseOps};
//!
//! let case = Case::new("relu", "1000", Work::Bytes(8 * 1000)).cpu(|cpu: &Cpu| {
//!     let (x, y) = (cpu.upload(&vec![1.0f32; 1000])?, cpu.zeros::<f32>(1000)?);
//!     Ok(Box::new(move |cpu: &Cpu| cpu.relu(&x, &y)))
//! });
//! let m = bench::measure(&Cpu::new(), case.cpu.as_ref().unwrap(), &case, std::time::Duration::from_millis(10))?;
//! assert!(m.rate > 0.0 && m.runs >= 1);
//! # Ok::<(), digits_tensor::TensorError>(())
//! ```

pub mod conv;

use std::time::{Duration, Instant};

use crate::conformance::TestRng;
use crate::{
    AdamStep, Backend, Cpu, ElementwiseOps, Gather, Gemm, GemmOps, GemmVariant, Gpu, OptimOps,
    ReduceOps, Result, SgdStep, SoftmaxCrossEntropy,
};

/// The work of one run, for the rate: compute-bound kernels count operations, memory-bound ones bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Floating-point operations (a multiply-add counts two); reported in GFLOP/s.
    Flops(u64),
    /// Bytes read and written; reported in GB/s.
    Bytes(u64),
}

impl Work {
    /// The amount, in operations or bytes.
    pub fn amount(self) -> u64 {
        match self {
            Work::Flops(n) | Work::Bytes(n) => n,
        }
    }

    /// The rate's unit: `GFLOP/s` or `GB/s`.
    pub fn unit(self) -> &'static str {
        match self {
            Work::Flops(_) => "GFLOP/s",
            Work::Bytes(_) => "GB/s",
        }
    }
}

/// One prepared run: performs (CPU) or records (GPU) one execution of the kernel on buffers it owns.
pub type Run<B> = Box<dyn FnMut(&B) -> Result<()>>;

/// Prepares a run on a backend: allocates and fills its buffers.
pub type Setup<B> = Box<dyn Fn(&B) -> Result<Run<B>>>;

/// A benchmark case: a kernel on one shape, on the backends it has a setup for.
pub struct Case {
    /// Kernel (and variant), e.g. `gemm vec4 A·B`.
    pub name: String,
    /// The shape, as people write it, e.g. `1024x1024x1024` or `64x10`.
    pub shape: String,
    /// Work of one run.
    pub work: Work,
    /// Setup on the CPU, if the case runs there.
    pub cpu: Option<Setup<Cpu>>,
    /// Setup on the GPU, if the case runs there.
    pub gpu: Option<Setup<Gpu>>,
}

impl Case {
    /// A case with no backend yet; add them with [`Case::cpu`] and [`Case::gpu`] (or the `both` helper).
    pub fn new(name: impl Into<String>, shape: impl Into<String>, work: Work) -> Self {
        Case {
            name: name.into(),
            shape: shape.into(),
            work,
            cpu: None,
            gpu: None,
        }
    }

    /// Runs on the CPU with this setup.
    pub fn cpu(mut self, setup: impl Fn(&Cpu) -> Result<Run<Cpu>> + 'static) -> Self {
        self.cpu = Some(Box::new(setup));
        self
    }

    /// Runs on the GPU with this setup.
    pub fn gpu(mut self, setup: impl Fn(&Gpu) -> Result<Run<Gpu>> + 'static) -> Self {
        self.gpu = Some(Box::new(setup));
        self
    }
}

/// Gives a case the same generic setup on both backends: `both!(Case::new(..), |b| relu_setup(b, n))`.
/// Captured variables must be `Copy` (shapes, specs).
macro_rules! both {
    ($case:expr, |$b:ident| $setup:expr) => {
        $case
            .cpu(move |$b: &Cpu| $setup)
            .gpu(move |$b: &Gpu| $setup)
    };
}

/// The result of timing one case on one backend.
#[derive(Clone, Debug)]
pub struct Measurement {
    /// Kernel name, from the case.
    pub name: String,
    /// Shape, from the case.
    pub shape: String,
    /// Runs timed, in all batches.
    pub runs: usize,
    /// Mean seconds per run of the fastest batch.
    pub seconds: f64,
    /// Work per second, in `unit`s (GFLOP/s or GB/s).
    pub rate: f64,
    /// `GFLOP/s` or `GB/s`.
    pub unit: &'static str,
}

/// At most about this many runs are timed per case (tiny kernels would otherwise record millions of dispatches).
const MAX_RUNS: usize = 2000;

/// Times one case on `backend` with `setup`: one warm-up run (compiling the GPU pipelines), one timed run to
/// size the batches, then three batches that together take about `budget`, each timed as a whole (on the GPU:
/// all its runs recorded, then one synchronisation). Reports the best batch's mean: on a shared machine
/// the fastest batch is the one least disturbed by other work. A run slower than a third of the budget is
/// its own batch, and the sizing run counts as the first.
pub fn measure<B: Backend>(
    backend: &B,
    setup: &Setup<B>,
    case: &Case,
    budget: Duration,
) -> Result<Measurement> {
    let mut run = setup(backend)?;
    run(backend)?;
    backend.synchronize()?;
    let mut time_batch = |runs: usize| -> Result<f64> {
        let start = Instant::now();
        for _ in 0..runs {
            run(backend)?;
        }
        backend.synchronize()?;
        Ok(start.elapsed().as_secs_f64() / runs as f64)
    };
    let single = time_batch(1)?.max(1e-9);
    let batch = ((budget.as_secs_f64() / 3.0 / single) as usize).clamp(1, MAX_RUNS / 3);
    let (mut seconds, mut runs, mut batches) = if batch == 1 {
        (single, 1, 1)
    } else {
        (f64::INFINITY, 0, 0)
    };
    while batches < 3 {
        seconds = seconds.min(time_batch(batch)?);
        runs += batch;
        batches += 1;
    }
    Ok(Measurement {
        name: case.name.clone(),
        shape: case.shape.clone(),
        runs,
        seconds,
        rate: case.work.amount() as f64 / seconds / 1e9,
        unit: case.work.unit(),
    })
}

/// Deterministic non-zero inputs.
fn values(len: usize) -> Vec<f32> {
    TestRng::new(len as u64).values(len)
}

fn gemm_setup<B: GemmOps>(b: &B, spec: Gemm) -> Result<Run<B>> {
    let (a, w) = (
        b.upload(&values(spec.m * spec.k))?,
        b.upload(&values(spec.k * spec.n))?,
    );
    let c = b.zeros::<f32>(spec.m * spec.n)?;
    Ok(Box::new(move |b: &B| b.gemm(&spec, &a, &w, None, &c)))
}

fn gemm_variant_setup(gpu: &Gpu, variant: GemmVariant, spec: Gemm) -> Result<Run<Gpu>> {
    let (a, w) = (
        gpu.upload(&values(spec.m * spec.k))?,
        gpu.upload(&values(spec.k * spec.n))?,
    );
    let c = gpu.zeros::<f32>(spec.m * spec.n)?;
    Ok(Box::new(move |gpu: &Gpu| {
        gpu.gemm_with(variant, &spec, &a, &w, None, &c)
    }))
}

/// The elementwise kernels by name: `add`, `relu`, `relu_backward`, `scale`, `fill`.
fn elementwise_setup<B: ElementwiseOps>(b: &B, op: &'static str, n: usize) -> Result<Run<B>> {
    let (x, y, out) = (
        b.upload(&values(n))?,
        b.upload(&values(n))?,
        b.zeros::<f32>(n)?,
    );
    Ok(Box::new(move |b: &B| match op {
        "add" => b.add(&x, &y, &out),
        "relu" => b.relu(&x, &out),
        "relu_backward" => b.relu_backward(&x, &y, &out),
        "scale" => b.scale(&x, 0.5, &out),
        _ => b.fill(&out, 0.5),
    }))
}

fn gather_setup<B: ElementwiseOps>(
    b: &B,
    rows: usize,
    row_len: usize,
    count: usize,
) -> Result<Run<B>> {
    let data: Vec<u8> = (0..rows * row_len).map(|i| (i * 7 % 251) as u8).collect();
    let indices: Vec<u32> = (0..count).map(|i| (i * 7919 % rows) as u32).collect();
    let (data, indices) = (b.upload(&data)?, b.upload(&indices)?);
    let (out, labels) = (b.zeros::<f32>(count * row_len)?, b.zeros::<u32>(count)?);
    let spec = Gather {
        row_len,
        index_offset: 0,
        count,
        scale: 1.0 / 255.0,
        shift: 0.0,
    };
    Ok(Box::new(move |b: &B| {
        if row_len == 1 {
            b.gather_labels(&spec, &data, &indices, &labels)
        } else {
            b.gather_normalize(&spec, &data, &indices, &out)
        }
    }))
}

fn sum_setup<B: ReduceOps>(b: &B, shape: [usize; 3]) -> Result<Run<B>> {
    let x = b.upload(&values(shape.iter().product()))?;
    let out = b.zeros::<f32>(shape[0] * shape[2])?;
    Ok(Box::new(move |b: &B| b.sum_axis(&x, shape, false, &out)))
}

/// The row kernels by name: `argmax`, `softmax`, `softmax_cross_entropy` (with the gradient).
fn rows_setup<B: ReduceOps>(b: &B, op: &'static str, rows: usize, cols: usize) -> Result<Run<B>> {
    let x = b.upload(&values(rows * cols))?;
    let labels = b.upload(&(0..rows).map(|r| (r % cols) as u32).collect::<Vec<_>>())?;
    let (out, index, stats) = (
        b.zeros::<f32>(rows * cols)?,
        b.zeros::<u32>(rows)?,
        b.zeros::<f32>(2)?,
    );
    let spec = SoftmaxCrossEntropy {
        rows,
        classes: cols,
        grad_scale: 1.0 / rows as f32,
        label_smoothing: 0.0,
    };
    Ok(Box::new(move |b: &B| match op {
        "argmax" => b.argmax_rows(&x, rows, cols, &index),
        "softmax" => b.softmax(&x, rows, cols, &out),
        _ => b.softmax_cross_entropy(&spec, &x, &labels, Some(&out), &stats),
    }))
}

fn adam_setup<B: OptimOps>(b: &B, n: usize) -> Result<Run<B>> {
    let (p, g, m) = (
        b.upload(&values(n))?,
        b.upload(&values(n))?,
        b.zeros::<f32>(n)?,
    );
    let v = b.zeros::<f32>(n)?;
    let mut step = 0;
    Ok(Box::new(move |b: &B| {
        step += 1;
        let hp = AdamStep {
            step,
            ..AdamStep::default()
        };
        b.adam(&hp, &p, &g, &m, &v)
    }))
}

fn sgd_setup<B: OptimOps>(b: &B, n: usize) -> Result<Run<B>> {
    let (p, g, v) = (
        b.upload(&values(n))?,
        b.upload(&values(n))?,
        b.zeros::<f32>(n)?,
    );
    let hp = SgdStep {
        lr: 0.01,
        momentum: 0.9,
        nesterov: false,
    };
    Ok(Box::new(move |b: &B| b.sgd(&hp, &p, &g, &v)))
}

/// The MNIST network's GEMMs at batch 64: the two convolutions as im2col GEMMs (`[N·H·W, C·9]·[C·9, K]`),
/// the second one's gradients too (input: `dy·W` before col2im, weights: `dyᵀ·col`), and the dense layers
/// forward (`x·Wᵀ`) and backward (`gᵀ·x` for weights, `g·W` for inputs).
pub const MNIST_GEMMS: &[(&str, Gemm)] = &[
    (
        "conv1 as GEMM",
        Gemm {
            m: 43264,
            n: 32,
            k: 9,
            transpose_a: false,
            transpose_b: false,
            relu: false,
        },
    ),
    (
        "conv2 as GEMM",
        Gemm {
            m: 7744,
            n: 64,
            k: 288,
            transpose_a: false,
            transpose_b: false,
            relu: false,
        },
    ),
    (
        "conv2 input gradient as GEMM",
        Gemm {
            m: 7744,
            n: 288,
            k: 64,
            transpose_a: false,
            transpose_b: false,
            relu: false,
        },
    ),
    (
        "conv2 weight gradient as GEMM",
        Gemm {
            m: 64,
            n: 288,
            k: 7744,
            transpose_a: true,
            transpose_b: false,
            relu: false,
        },
    ),
    (
        "dense1 x·Wᵀ",
        Gemm {
            m: 64,
            n: 128,
            k: 1600,
            transpose_a: false,
            transpose_b: true,
            relu: false,
        },
    ),
    (
        "dense1 gᵀ·x",
        Gemm {
            m: 128,
            n: 1600,
            k: 64,
            transpose_a: true,
            transpose_b: false,
            relu: false,
        },
    ),
    (
        "dense1 g·W",
        Gemm {
            m: 64,
            n: 1600,
            k: 128,
            transpose_a: false,
            transpose_b: false,
            relu: false,
        },
    ),
    (
        "dense2 x·Wᵀ",
        Gemm {
            m: 64,
            n: 10,
            k: 128,
            transpose_a: false,
            transpose_b: true,
            relu: false,
        },
    ),
];

/// Parameters of the Keras MNIST network (conv 32, conv 64, dense 128, dense 10), and a larger arena.
pub const ARENAS: &[usize] = &[225_034, 1_200_000];

fn form_name(spec: &Gemm) -> &'static str {
    match (spec.transpose_a, spec.transpose_b) {
        (true, _) => "Aᵀ·B",
        (_, true) => "A·Bᵀ",
        _ => "A·B",
    }
}

fn gemm_shape(spec: &Gemm) -> String {
    format!("{}x{}x{}", spec.m, spec.n, spec.k)
}

/// Every benchmark case.
pub fn cases() -> Vec<Case> {
    let mut cases = Vec::new();

    // GEMM: the network's shapes with the variant the runtime picks, and 1024³ with every GPU variant.
    for &(layer, spec) in MNIST_GEMMS {
        let name = format!("gemm {layer}");
        cases.push(both!(
            Case::new(name, gemm_shape(&spec), Work::Flops(spec.flops())),
            |b| gemm_setup(b, spec)
        ));
    }
    let cube = Gemm::new(1024, 1024, 1024);
    for spec in [cube, cube.transpose_a(), cube.transpose_b()] {
        let case = Case::new(
            format!("gemm {}", form_name(&spec)),
            gemm_shape(&spec),
            Work::Flops(spec.flops()),
        );
        cases.push(case.cpu(move |cpu| gemm_setup(cpu, spec)));
        for variant in GemmVariant::ALL {
            let name = format!("gemm {variant:?} {}", form_name(&spec)).to_lowercase();
            let case = Case::new(name, gemm_shape(&spec), Work::Flops(spec.flops()));
            cases.push(case.gpu(move |gpu| gemm_variant_setup(gpu, variant, spec)));
        }
    }

    // Elementwise on the first convolution's output at batch 64 ([64, 32, 26, 26]).
    let n = 64 * 32 * 26 * 26;
    for (op, bytes_per) in [
        ("add", 12),
        ("relu", 8),
        ("relu_backward", 12),
        ("scale", 8),
        ("fill", 4),
    ] {
        let case = Case::new(op, format!("{n}"), Work::Bytes(bytes_per * n as u64));
        cases.push(both!(case, |b| elementwise_setup(b, op, n)));
    }
    // A batch of 64 MNIST images from 60,000 (read 1 byte, write 4 per pixel) and its labels.
    let (rows, pixels) = (60_000, 784);
    let case = Case::new(
        "gather_normalize",
        format!("64x{pixels}"),
        Work::Bytes(5 * 64 * pixels as u64),
    );
    cases.push(both!(case, |b| gather_setup(b, rows, pixels, 64)));
    let case = Case::new("gather_labels", "64", Work::Bytes(64 * (4 + 1 + 4)));
    cases.push(both!(case, |b| gather_setup(b, rows, 1, 64)));

    // Reductions: bias gradients of the dense layers, a long axis (the tree path), the loss at batch 64.
    for shape in [[1, 64, 128], [1, 64, 10], [1, 43264, 1]] {
        let [outer, axis, inner] = shape;
        let case = Case::new(
            "sum_axis",
            format!("{outer}x{axis}x{inner}"),
            Work::Bytes(4 * (outer * axis * inner + outer * inner) as u64),
        );
        cases.push(both!(case, |b| sum_setup(b, shape)));
    }
    for (op, rows, cols) in [
        ("argmax", 64, 10),
        ("softmax", 64, 10),
        ("softmax_cross_entropy", 64, 10),
        ("softmax_cross_entropy", 10_000, 10),
    ] {
        let bytes = 4 * rows * cols * if op == "argmax" { 1 } else { 2 };
        let case = Case::new(op, format!("{rows}x{cols}"), Work::Bytes(bytes as u64));
        cases.push(both!(case, |b| rows_setup(b, op, rows, cols)));
    }

    // Optimizers over a whole parameter arena: Adam reads p, g, m, v and writes p, m, v; SGD 3 and 2.
    for &n in ARENAS {
        cases.push(both!(
            Case::new("adam", format!("{n}"), Work::Bytes(28 * n as u64)),
            |b| adam_setup(b, n)
        ));
        cases.push(both!(
            Case::new("sgd", format!("{n}"), Work::Bytes(20 * n as u64)),
            |b| sgd_setup(b, n)
        ));
    }
    cases.extend(conv::cases());
    cases
}
