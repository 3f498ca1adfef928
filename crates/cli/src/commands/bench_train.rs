//! `digits bench train`: training throughput over fixed steps after warm-up, the first step's time on its
//! own (pipeline compilation and warm-up), inference throughput on the test set and single-image latency.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use digits_nn::{DeviceDataset, EvalOptions, ModelSpec, Sequential, TrainConfig, Trainer};
use digits_tensor::Ops;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::data::DataArgs;
use super::device::{DeviceArgs, with_backend};

/// Measure training and inference speed of a model on a device.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    data: DataArgs,

    #[command(flatten)]
    device: DeviceArgs,

    /// The network: a preset (tutorial, mlp) or a model description file.
    #[arg(long, default_value = "tutorial", value_name = "NAME|FILE")]
    model: String,

    /// Samples per training step.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    batch: u32,

    /// Timed training steps, after the warm-up steps.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    steps: u32,

    /// Untimed steps after the first one, so caches and clocks settle.
    #[arg(long, default_value_t = 5)]
    warmup: u32,

    /// Timed passes over the test set (the median is reported).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    inference_runs: u32,

    /// Timed single-image predictions (the median is reported).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    latency_runs: u32,

    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Batch size of the inference measurement.
const INFERENCE_BATCH: usize = 1000;

#[derive(Serialize)]
struct Report {
    device: String,
    model: String,
    batch: usize,
    /// Trainer set-up: weights, optimizer state and the training set uploaded.
    setup_s: f64,
    /// The first training step, with pipeline compilation and first-use costs.
    first_step_s: f64,
    steps: usize,
    train_s: f64,
    train_samples_per_s: f64,
    inference_samples: usize,
    /// The first pass over the test set: a whole pass, plus the few pipelines training did not compile.
    first_inference_s: f64,
    inference_samples_per_s: f64,
    latency_ms: f64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (_, dataset) = args.data.load()?;
    let device = args.device.open()?;
    let name = device.describe();
    let report = with_backend!(device, |backend| measure(&backend, &args, &dataset, name))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "device: {}\nmodel: {}, batch {}",
            report.device, report.model, report.batch
        );
        println!(
            "set-up (weights, optimizer, training set upload): {:.3} s",
            report.setup_s
        );
        println!(
            "first step (compile + warm-up): {:.3} s",
            report.first_step_s
        );
        println!(
            "training: {:.0} samples/s ({} steps in {:.2} s)",
            report.train_samples_per_s, report.steps, report.train_s
        );
        println!(
            "first inference pass (untimed; compiles what training did not): {:.3} s",
            report.first_inference_s
        );
        println!(
            "inference: {:.0} samples/s ({} test images, batch {INFERENCE_BATCH})",
            report.inference_samples_per_s, report.inference_samples
        );
        println!("latency (one image): {:.3} ms", report.latency_ms);
    }
    Ok(())
}

fn measure<B: Ops>(
    backend: &B,
    args: &Args,
    dataset: &digits_idx::Dataset,
    device: String,
) -> anyhow::Result<Report> {
    let spec = ModelSpec::resolve(&args.model).context("cannot use the model")?;
    let batch = args.batch as usize;
    let needed = (1 + args.warmup as usize + args.steps as usize) * batch;
    if dataset.train.len() < needed {
        bail!(
            "the training set has {} images; {} steps of {batch} (1 first + {} warm-up + {} timed) need {needed} \
             in one epoch: lower --steps or --batch",
            dataset.train.len(),
            1 + args.warmup + args.steps,
            args.warmup,
            args.steps
        );
    }
    let start = Instant::now();
    let model_name = spec.name.clone();
    let model = Sequential::new(backend, spec, 0).context("cannot build the model")?;
    let config = TrainConfig {
        epochs: 1,
        batch_size: batch,
        // No progress readbacks during the timed steps.
        progress_every: usize::MAX,
        ..TrainConfig::default()
    };
    let mut trainer =
        Trainer::new(model, config, &dataset.train, None).context("cannot start training")?;
    backend.synchronize()?;
    let setup = start.elapsed();

    let spinner = spinner("first step (compiling pipelines)");
    trainer.begin_epoch()?;
    let start = Instant::now();
    trainer.step()?;
    backend.synchronize()?;
    let first_step = start.elapsed();
    spinner.set_message("warm-up");
    for _ in 0..args.warmup {
        trainer.step()?;
    }
    backend.synchronize()?;
    spinner.set_message(format!("timing {} training steps", args.steps));
    let start = Instant::now();
    for _ in 0..args.steps {
        // The size check above keeps every timed step inside the epoch.
        trainer.step()?;
    }
    backend.synchronize()?;
    let train = start.elapsed();

    spinner.set_message("inference on the test set");
    let model = trainer.model_mut();
    let test = DeviceDataset::upload(backend, &dataset.test)
        .context("cannot load the test set on the device")?;
    let options = EvalOptions {
        batch_size: INFERENCE_BATCH,
        probabilities: false,
    };
    let start = Instant::now();
    model.evaluate(&test, &options)?;
    let first_inference = start.elapsed();
    let inference = median((0..args.inference_runs).map(|_| {
        let start = Instant::now();
        model.evaluate(&test, &options).map(|_| start.elapsed())
    }))?;

    spinner.set_message("single-image latency");
    let image = dataset.test.image(0).context("the test set is empty")?;
    model.predict(image)?; // warm-up: compiles the batch-1 path
    let latency = median((0..args.latency_runs).map(|_| {
        let start = Instant::now();
        model.predict(image).map(|_| start.elapsed())
    }))?;
    spinner.finish_and_clear();

    let steps = args.steps as usize;
    Ok(Report {
        device,
        model: model_name,
        batch,
        setup_s: setup.as_secs_f64(),
        first_step_s: first_step.as_secs_f64(),
        steps,
        train_s: train.as_secs_f64(),
        train_samples_per_s: (steps * batch) as f64 / train.as_secs_f64(),
        inference_samples: test.len(),
        first_inference_s: first_inference.as_secs_f64(),
        inference_samples_per_s: test.len() as f64 / inference.as_secs_f64(),
        latency_ms: latency.as_secs_f64() * 1e3,
    })
}

/// The median of timings (the upper one of an even count), or the first error.
fn median<E>(runs: impl Iterator<Item = Result<Duration, E>>) -> Result<Duration, E> {
    let mut times = runs.collect::<Result<Vec<_>, E>>()?;
    times.sort();
    Ok(times.get(times.len() / 2).copied().unwrap_or_default())
}

fn spinner(message: &str) -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("a valid template"),
    );
    spinner.enable_steady_tick(Duration::from_millis(200));
    spinner.set_message(message.to_string());
    spinner
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_picks_the_middle_run() {
        let ms = |v: u64| Ok::<_, ()>(Duration::from_millis(v));
        assert_eq!(
            median([ms(5), ms(1), ms(3)].into_iter()),
            Ok(Duration::from_millis(3))
        );
        assert_eq!(
            median([ms(4), ms(2)].into_iter()),
            Ok(Duration::from_millis(4))
        );
        assert_eq!(median([ms(1), Err(())].into_iter()), Err(()));
    }
}
