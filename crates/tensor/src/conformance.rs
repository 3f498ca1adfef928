//! CPU-versus-GPU conformance checks: each GPU kernel against its CPU twin on random inputs over many
//! shapes, with the output poisoned (NaN) before the run. `cargo test` and `digits check` run the same checks.

pub mod augment;
pub mod batch_norm;
pub mod conv;
pub mod copy_rows;
pub mod dense;
pub mod dropout;
pub mod pool;

use crate::{Backend, Cpu, Gemm, GemmOps, GemmVariant, Gpu, GpuBuf, Result};

/// How close a GPU result must be to the CPU's: `|gpu - cpu| <= abs + rel * |cpu|` for every element.
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    /// Absolute part, for results near zero.
    pub abs: f32,
    /// Relative part.
    pub rel: f32,
}

impl Tolerance {
    /// Exact equality, for integer results and bit-reproducible kernels.
    pub const EXACT: Tolerance = Tolerance { abs: 0.0, rel: 0.0 };

    /// A tolerance for sums of `terms` products of values in [-1, 1] computed in a different order: the
    /// rounding error of a length-n f32 dot product is about sqrt(n) · 2⁻²⁴ · (sum of |products|) for random
    /// signs; this allows 8× that, scaled to the result's size by the relative part.
    pub fn for_sum(terms: usize) -> Tolerance {
        let unit = f32::EPSILON / 2.0;
        let slack = 8.0 * (terms.max(1) as f32).sqrt() * unit;
        Tolerance {
            abs: slack * (terms.max(1) as f32).sqrt(),
            rel: slack.max(4.0 * unit),
        }
    }
}

impl std::fmt::Display for Tolerance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.abs == 0.0 && self.rel == 0.0 {
            return write!(f, "exact");
        }
        write!(f, "{:.0e}+{:.0e}·|x|", self.abs, self.rel)
    }
}

/// The outcome of one check: one kernel (or variant) over all its shapes.
#[derive(Clone, Debug)]
pub struct Report {
    /// Kernel and variant, e.g. `gemm_vec4 nn`.
    pub kernel: String,
    /// How many shapes were tried.
    pub shapes: usize,
    /// The largest `|gpu - cpu| / (abs + rel * |cpu|)` seen: at most 1 passes.
    pub worst: f64,
    /// The tolerance used (of the last shape, for display).
    pub tolerance: String,
    /// The first few mismatches: shape, index, GPU value, CPU value.
    pub mismatches: Vec<String>,
}

impl Report {
    fn new(kernel: impl Into<String>) -> Self {
        Report {
            kernel: kernel.into(),
            shapes: 0,
            worst: 0.0,
            tolerance: String::new(),
            mismatches: Vec::new(),
        }
    }

    /// Whether every element of every shape was within tolerance (a NaN never is).
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }

    /// Compares one shape's results and folds them into the report.
    pub fn compare(&mut self, shape: &str, gpu: &[f32], cpu: &[f32], tol: Tolerance) {
        self.shapes += 1;
        self.tolerance = tol.to_string();
        self.compare_also(shape, gpu, cpu, tol);
    }

    /// Compares another output of the same shape (a kernel with several outputs), counting no new shape.
    pub fn compare_also(&mut self, shape: &str, gpu: &[f32], cpu: &[f32], tol: Tolerance) {
        if gpu.len() != cpu.len() {
            self.mismatches.push(format!(
                "{shape}: GPU gave {} values, CPU {}",
                gpu.len(),
                cpu.len()
            ));
            return;
        }
        for (i, (&g, &c)) in gpu.iter().zip(cpu).enumerate() {
            let allowed = tol.abs as f64 + tol.rel as f64 * (c as f64).abs();
            let diff = (g as f64 - c as f64).abs();
            let ratio = if diff == 0.0 {
                0.0
            } else if allowed == 0.0 {
                f64::INFINITY
            } else {
                diff / allowed
            };
            // NaN fails the comparison and reads as an infinite error.
            let ratio = if ratio.is_nan() { f64::INFINITY } else { ratio };
            self.worst = self.worst.max(ratio);
            if ratio > 1.0 && self.mismatches.len() < 5 {
                self.mismatches
                    .push(format!("{shape}: [{i}] gpu {g} cpu {c}"));
            }
        }
    }

    /// Compares integer results exactly.
    pub fn compare_exact<T: PartialEq + std::fmt::Debug>(
        &mut self,
        shape: &str,
        gpu: &[T],
        cpu: &[T],
    ) {
        self.shapes += 1;
        self.tolerance = "exact".into();
        if gpu.len() != cpu.len() {
            self.mismatches.push(format!(
                "{shape}: GPU gave {} values, CPU {}",
                gpu.len(),
                cpu.len()
            ));
            return;
        }
        for (i, (g, c)) in gpu.iter().zip(cpu).enumerate() {
            if g != c {
                self.worst = f64::INFINITY;
                if self.mismatches.len() < 5 {
                    self.mismatches
                        .push(format!("{shape}: [{i}] gpu {g:?} cpu {c:?}"));
                }
            }
        }
    }
}

/// A small deterministic generator (SplitMix64) for test inputs.
#[derive(Clone, Debug)]
pub struct TestRng(u64);

impl TestRng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        TestRng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// `len` values uniform in ±[0.05, 1): random signs and magnitudes, never zero, so a kernel that drops a
    /// term or reads the wrong element cannot go unnoticed.
    pub fn values(&mut self, len: usize) -> Vec<f32> {
        (0..len)
            .map(|_| {
                let magnitude = 0.05 + 0.95 * self.unit();
                if self.next_u64() & 1 == 0 {
                    magnitude
                } else {
                    -magnitude
                }
            })
            .collect()
    }

    /// An integer below `bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }
}

/// A GPU buffer of `len` NaNs, so that an element a kernel forgets to write fails the comparison.
pub fn poisoned(gpu: &Gpu, len: usize) -> Result<GpuBuf<f32>> {
    gpu.upload(&vec![f32::NAN; len])
}

/// Shapes around the tile sizes: 1, primes, tile ± 1, the MNIST network's own.
pub const GEMM_SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (1, 10, 128),
    (2, 3, 5),
    (7, 13, 11),
    (31, 33, 17),
    (32, 64, 32),
    (33, 65, 31),
    (63, 63, 63),
    (64, 64, 64),
    (65, 64, 65),
    (4, 8, 4),
    (12, 24, 36),
    (100, 36, 44),
    (128, 96, 160),
    (97, 101, 103),
    (3, 500, 7),
    (500, 3, 9),
    (676, 32, 9),
    (121, 64, 288),
    (64, 128, 1600),
    (64, 10, 128),
    (257, 129, 68),
    // Whole vec4s in every dimension, so that the vec4 kernel (which needs them) also sees 20 shapes.
    (4, 4, 4),
    (8, 12, 20),
    (16, 16, 16),
    (28, 36, 44),
    (36, 100, 68),
    (48, 56, 72),
    (60, 68, 4),
    (120, 8, 200),
    (8, 200, 120),
    (124, 132, 12),
    (132, 60, 260),
    (260, 12, 128),
];

/// A GEMM implementation under test: the real kernels, or a deliberately broken one in tests.
pub type GemmFn<'a> = dyn Fn(&Gemm, &GpuBuf<f32>, &GpuBuf<f32>, Option<&GpuBuf<f32>>, &GpuBuf<f32>) -> Result<()>
    + 'a;

/// Checks a GEMM implementation in one transpose form and epilogue against the CPU over [`GEMM_SHAPES`].
pub fn check_gemm_with(
    gpu: &Gpu,
    name: &str,
    form: fn(Gemm) -> Gemm,
    run: &GemmFn<'_>,
    supports: &dyn Fn(&Gemm) -> bool,
) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new(name);
    let mut rng = TestRng::new(0x6e6d);
    for &(m, n, k) in GEMM_SHAPES {
        for epilogue in [false, true] {
            let mut spec = form(Gemm::new(m, n, k));
            spec.relu = epilogue;
            if !supports(&spec) {
                continue;
            }
            let (a, b, bias) = (rng.values(m * k), rng.values(k * n), rng.values(n));
            let expected = cpu.zeros::<f32>(m * n)?;
            let (ca, cb, cbias) = (cpu.upload(&a)?, cpu.upload(&b)?, cpu.upload(&bias)?);
            cpu.gemm(&spec, &ca, &cb, epilogue.then_some(&cbias), &expected)?;
            let (ga, gb, gbias) = (gpu.upload(&a)?, gpu.upload(&b)?, gpu.upload(&bias)?);
            let out = poisoned(gpu, m * n)?;
            run(&spec, &ga, &gb, epilogue.then_some(&gbias), &out)?;
            let shape = format!("{m}x{n}x{k}{}", if epilogue { "+bias+relu" } else { "" });
            report.compare(
                &shape,
                &gpu.download(&out)?,
                &cpu.download(&expected)?,
                Tolerance::for_sum(k),
            );
        }
    }
    Ok(report)
}

/// A transpose form of GEMM: its name and how it marks a spec.
type GemmForm = (&'static str, fn(Gemm) -> Gemm);

/// Every GEMM variant in every form.
pub fn check_gemm(gpu: &Gpu) -> Result<Vec<Report>> {
    let forms: [GemmForm; 3] = [
        ("A·B", |g| g),
        ("Aᵀ·B", Gemm::transpose_a),
        ("A·Bᵀ", Gemm::transpose_b),
    ];
    let mut reports = Vec::new();
    for variant in GemmVariant::ALL {
        for (form_name, form) in forms {
            let name = format!("gemm {variant:?} {form_name}").to_lowercase();
            let run =
                |s: &Gemm,
                 a: &GpuBuf<f32>,
                 b: &GpuBuf<f32>,
                 bias: Option<&GpuBuf<f32>>,
                 c: &GpuBuf<f32>| { gpu.gemm_with(variant, s, a, b, bias, c) };
            reports.push(check_gemm_with(gpu, &name, form, &run, &|s| {
                variant.supports(s)
            })?);
        }
    }
    Ok(reports)
}

/// Runs every family's conformance checks on `gpu`.
pub fn run_all(gpu: &Gpu) -> Result<Vec<Report>> {
    let mut reports = Vec::new();
    for family in crate::family::FAMILIES {
        reports.extend((family.check)(gpu)?);
    }
    Ok(reports)
}
