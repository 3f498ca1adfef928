//! `digits prune`: gradual magnitude pruning of a trained model, fine-tuned on the training set, with each
//! pruned tensor's sparsity, the test accuracy before and after, and the file's size gzip-compressed.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use digits_nn::{
    DeviceDataset, EvalOptions, OptimizerConfig, PruneConfig, PruneScope, Sequential, TrainConfig,
    Trainer,
};
use digits_tensor::Ops;

use super::data::DataArgs;
use super::device::{DeviceArgs, with_backend};
use super::train::{epoch_line, run_epoch_with_bar};

/// Prune a trained model: its convolution and dense weights are zeroed by smallest magnitude, gradually (the
/// cubic schedule of Zhu & Gupta, as TensorFlow Model Optimization does) over the first two thirds of
/// --epochs of fine-tuning on the whole training set, then held while the rest fine-tune.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    data: DataArgs,

    /// The model file to prune (as `digits train` writes it).
    #[arg(long, value_name = "FILE")]
    model: PathBuf,

    /// The fraction of each pruned tensor set to zero, in [0, 1): 0.5, 0.75, 0.9 ...
    #[arg(long, value_parser = sparsity)]
    sparsity: f32,

    /// Epochs of fine-tuning.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=1000))]
    epochs: u32,

    /// Samples per fine-tuning step.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    batch: u32,

    /// Adam's learning rate for the fine-tuning.
    #[arg(long, default_value_t = 1e-3, value_parser = positive)]
    lr: f32,

    /// One magnitude ranking over all pruned tensors (global: the total reaches --sparsity, layers that
    /// matter more keep more), or each tensor to --sparsity on its own (layer).
    #[arg(long, value_enum, default_value_t = Scope::Global)]
    scope: Scope,

    /// Steps between mask updates.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    frequency: u64,

    /// Seed of the shuffles.
    #[arg(long, default_value_t = 42)]
    seed: u64,

    #[command(flatten)]
    device: DeviceArgs,

    /// Where to write the pruned model (a temporary name, then renamed).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// [`PruneScope`] as a command-line value.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Global,
    Layer,
}

fn sparsity(text: &str) -> Result<f32, String> {
    let value: f32 = text.parse().map_err(|e| format!("{e}"))?;
    if (0.0..1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is not in [0, 1)"))
    }
}

fn positive(text: &str) -> Result<f32, String> {
    let value: f32 = text.parse().map_err(|e| format!("{e}"))?;
    if value > 0.0 && value.is_finite() {
        Ok(value)
    } else {
        Err(format!("{value} is not a positive number"))
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (_, dataset) = args.data.load()?;
    let device = args.device.open()?;
    println!("{}", device.describe());
    with_backend!(device, |backend| prune_on(&backend, &args, &dataset))
}

fn prune_on<B: Ops>(backend: &B, args: &Args, dataset: &digits_idx::Dataset) -> anyhow::Result<()> {
    let model = Sequential::load(backend, &args.model)
        .with_context(|| format!("cannot load the model {}", args.model.display()))?;
    let test = DeviceDataset::upload(backend, &dataset.test).context("cannot load the test set")?;
    let mut dense = Sequential::load(backend, &args.model)?;
    let before = dense.evaluate(&test, &EvalOptions::default())?.accuracy;
    drop(dense);

    let config = TrainConfig {
        epochs: args.epochs as usize,
        batch_size: args.batch as usize,
        seed: args.seed,
        optimizer: OptimizerConfig::adam(args.lr),
        ..Default::default()
    };
    let mut trainer =
        Trainer::new(model, config, &dataset.train, None).context("cannot start fine-tuning")?;
    let total = (trainer.steps_per_epoch() * args.epochs as usize) as u64;
    let schedule = PruneConfig {
        sparsity: args.sparsity,
        begin_step: 0,
        end_step: (total * 2 / 3).max(1),
        frequency: args.frequency,
        scope: match args.scope {
            Scope::Global => PruneScope::Global,
            Scope::Layer => PruneScope::Layer,
        },
    };
    trainer.set_pruning(schedule)?;
    println!(
        "pruning {} to {:.0}% sparsity ({:?}) over {} steps (mask updates every {}), fine-tuning {} epochs, Adam lr {}",
        args.model.display(),
        100.0 * args.sparsity,
        schedule.scope,
        schedule.end_step,
        args.frequency,
        args.epochs,
        args.lr
    );
    while !trainer.is_finished() {
        let stats = run_epoch_with_bar(&mut trainer)?;
        println!("{}", epoch_line(&stats, args.epochs as usize));
    }
    let (mut model, _) = trainer.finish()?;
    let after = model.evaluate(&test, &EvalOptions::default())?.accuracy;

    let tensors = model.sparsity()?;
    let (mut zeros, mut len) = (0, 0);
    for t in &tensors {
        println!(
            "  {:<12} {:>8} weights, {:>8} zero ({:.1}%)",
            t.name,
            t.len,
            t.zeros,
            100.0 * t.zeros as f64 / t.len as f64
        );
        zeros += t.zeros;
        len += t.len;
    }
    let all = model.param_count();
    println!(
        "pruned tensors: {:.1}% zero; all {all} parameters: {:.1}% zero",
        100.0 * zeros as f64 / len as f64,
        100.0 * zeros as f64 / all as f64
    );
    model
        .save(&args.out)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let size = |path: &std::path::Path| -> anyhow::Result<(u64, u64)> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&bytes)?;
        Ok((bytes.len() as u64, gz.finish()?.len() as u64))
    };
    let (raw_before, gz_before) = size(&args.model)?;
    let (raw_after, gz_after) = size(&args.out)?;
    println!(
        "file: {raw_after} bytes ({raw_before} before); gzip-compressed {gz_after} bytes ({gz_before} before, {:.2}x smaller)",
        gz_before as f64 / gz_after as f64
    );
    println!(
        "test accuracy: {:.4} before, {:.4} after ({:+.2} points)",
        before,
        after,
        100.0 * (after - before)
    );
    println!("pruned model written to {}", args.out.display());
    Ok(())
}
