//! Trains a model on MNIST and reports throughput and test accuracy.
//!
//! ```text
//! cargo run --release -p digits-nn --example train_mnist -- [cpu|gpu] [model] [epochs] [batch] [validation split] [seed] [training images]
//! ```
//! The data folder is `$DIGITS_DATA`, else the MNIST copy shipped in the repository's `data/mnist`.

use std::error::Error;
use std::io::Write;
use std::time::Instant;

use digits_idx::Dataset;
use digits_nn::{DeviceDataset, EvalOptions, ModelSpec, Sequential, TrainConfig, Trainer};
use digits_tensor::{Cpu, Gpu, Ops};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_string());
    let model = ModelSpec::resolve(&arg(1, "tutorial"))?;
    let config = TrainConfig {
        epochs: arg(2, "1").parse()?,
        batch_size: arg(3, "64").parse()?,
        seed: arg(5, "0").parse()?,
        ..Default::default()
    };
    let split: f64 = arg(4, "0.2").parse()?;
    match arg(0, "cpu").as_str() {
        "cpu" => run(&Cpu::new(), model, config, split),
        _ => run(&Gpu::default_adapter()?, model, config, split),
    }
}

fn run<B: Ops>(
    backend: &B,
    spec: ModelSpec,
    config: TrainConfig,
    split: f64,
) -> Result<(), Box<dyn Error>> {
    let dir = std::env::var("DIGITS_DATA")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist").into());
    let data = Dataset::load(dir)?;
    let (mut train, validation) = data.train.split_validation(split)?;
    if let Some(limit) = std::env::args().nth(7) {
        let keep: Vec<usize> = (0..limit.parse::<usize>()?.min(train.len())).collect();
        train = train.subset(&keep).expect("indices are in range");
    }
    println!(
        "{} on {}: {} training, {} validation images",
        spec.name,
        backend.name(),
        train.len(),
        validation.len()
    );
    let model = Sequential::new(backend, spec, config.seed)?;
    let mut trainer = Trainer::new(
        model,
        config,
        &train,
        Some(&validation).filter(|v| !v.is_empty()),
    )?;
    trainer.fit(
        None,
        &mut |p| {
            print!("\r  epoch {}/{} step {}/{} loss {:.4} accuracy {:.4}", p.epoch, p.epochs, p.step, p.steps, p.loss, p.accuracy);
            let _ = std::io::stdout().flush();
        },
        &mut |e| {
            println!(
                "\n  epoch {}: loss {:.4} accuracy {:.4} val_loss {:?} val_accuracy {:?} {:.1} s, {:.0} samples/s",
                e.epoch, e.loss, e.accuracy, e.val_loss, e.val_accuracy, e.seconds, e.samples_per_second
            )
        },
    )?;
    let (mut model, _) = trainer.finish()?;
    let test = DeviceDataset::upload(backend, &data.test)?;
    let started = Instant::now();
    let eval = model.evaluate(&test, &EvalOptions::default())?;
    println!(
        "test: loss {:.4} accuracy {:.4} ({:.0} samples/s)",
        eval.loss,
        eval.accuracy,
        eval.samples as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}
