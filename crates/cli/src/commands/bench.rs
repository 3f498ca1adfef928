//! `digits bench`: speed measurements. `digits bench kernels` times every kernel in the tensor crate's
//! benchmark registry (`digits_tensor::bench`) after warm-up.

use std::time::Duration;

use anyhow::Context;
use digits_tensor::Backend;
use digits_tensor::bench::{self, Case, Measurement, Setup};

use super::device::{DeviceArgs, DeviceBackend};

/// Measure speed.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: BenchCommand,
}

/// What to measure.
#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Time every kernel (GEMM, elementwise, reductions, optimizers) on the MNIST network's shapes and
    /// larger ones, after warm-up; reports GFLOP/s or GB/s.
    Kernels(KernelsArgs),
    /// Training throughput (samples/s after warm-up, first step separately), inference throughput on the
    /// test set and single-image latency of a model.
    Train(super::bench_train::Args),
}

/// Options of `digits bench kernels`.
#[derive(clap::Args, Debug)]
pub struct KernelsArgs {
    #[command(flatten)]
    device: DeviceArgs,

    /// Only cases whose name contains this text (e.g. `gemm`, `adam`).
    #[arg(long, value_name = "TEXT")]
    filter: Option<String>,

    /// Time to spend measuring each case, in milliseconds (after its warm-up run).
    #[arg(long, default_value_t = 500, value_name = "MS")]
    budget_ms: u64,

    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        BenchCommand::Kernels(args) => kernels(args),
        BenchCommand::Train(args) => super::bench_train::run(args),
    }
}

fn kernels(args: KernelsArgs) -> anyhow::Result<()> {
    let device = args.device.open()?;
    let cases: Vec<Case> = bench::cases()
        .into_iter()
        .filter(|c| args.filter.as_deref().is_none_or(|f| c.name.contains(f)))
        .collect();
    let budget = Duration::from_millis(args.budget_ms);
    let mut table = Table::new(device.describe(), args.json);
    match &device.backend {
        DeviceBackend::Cpu(cpu) => {
            table.header(None);
            for case in &cases {
                table.row(case, cpu, case.cpu.as_ref(), budget)?;
            }
        }
        DeviceBackend::Gpu(gpu) => {
            let warm_up = gpu.warm_up().context("warming up the GPU pipelines")?;
            table.header(Some(warm_up));
            for case in &cases {
                table.row(case, gpu, case.gpu.as_ref(), budget)?;
            }
        }
    }
    table.finish()
}

/// Prints measurements as they come (text), or collects them for one JSON object at the end.
struct Table {
    device: String,
    json: bool,
    warm_up: Option<Duration>,
    rows: Vec<Measurement>,
}

impl Table {
    fn new(device: String, json: bool) -> Self {
        Table {
            device,
            json,
            warm_up: None,
            rows: Vec::new(),
        }
    }

    fn header(&mut self, warm_up: Option<Duration>) {
        self.warm_up = warm_up;
        if self.json {
            return;
        }
        println!("device: {}", self.device);
        if let Some(warm_up) = warm_up {
            println!(
                "warm-up (compiling every pipeline): {:.2} s",
                warm_up.as_secs_f64()
            );
        }
        println!();
        println!(
            "{:<34} {:>18} {:>6} {:>12} {:>10}",
            "kernel", "shape", "runs", "per run", "rate"
        );
    }

    /// Measures a case on `backend` if it has a setup there.
    fn row<B: Backend>(
        &mut self,
        case: &Case,
        backend: &B,
        setup: Option<&Setup<B>>,
        budget: Duration,
    ) -> anyhow::Result<()> {
        let Some(setup) = setup else { return Ok(()) };
        let m = bench::measure(backend, setup, case, budget)
            .with_context(|| format!("benchmark {} {}", case.name, case.shape))?;
        if !self.json {
            println!(
                "{:<34} {:>18} {:>6} {:>12} {:>10}",
                m.name,
                m.shape,
                m.runs,
                format_seconds(m.seconds),
                format!("{:.2} {}", m.rate, m.unit)
            );
        }
        self.rows.push(m);
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        if !self.json {
            return Ok(());
        }
        let cases: Vec<_> = self
            .rows
            .iter()
            .map(|m| {
                serde_json::json!({
                    "kernel": m.name,
                    "shape": m.shape,
                    "runs": m.runs,
                    "seconds_per_run": m.seconds,
                    "rate": m.rate,
                    "unit": m.unit,
                })
            })
            .collect();
        let report = serde_json::json!({
            "device": self.device,
            "warm_up_seconds": self.warm_up.map(|d| d.as_secs_f64()),
            "cases": cases,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        Ok(())
    }
}

/// Seconds with a unit that keeps 3 significant digits readable: `512 µs`, `12.3 ms`, `1.20 s`.
fn format_seconds(seconds: f64) -> String {
    if seconds < 1e-3 {
        format!("{:.1} µs", seconds * 1e6)
    } else if seconds < 1.0 {
        format!("{:.2} ms", seconds * 1e3)
    } else {
        format!("{seconds:.2} s")
    }
}
