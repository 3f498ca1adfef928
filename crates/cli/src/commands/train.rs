//! `digits train`: train a network, with a progress bar per epoch, Keras-like epoch lines, a checkpoint per
//! epoch, the training curves, and the test accuracy at the end.
//!
//! The output folder holds `model.safetensors` (the final model), `checkpoints/epoch-NNN.safetensors`
//! (model, optimizer and callback state after each epoch; `--resume` continues from the last),
//! `history.csv`, `history.png`, `run.json` (the settings) and `summary.json` (the test result).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use digits_idx::{Dataset, LabelledImages};
use digits_nn::{
    AugmentConfig, Callback, DeviceDataset, DistillConfig, EarlyStopping, EpochStats, EvalOptions,
    Evaluation, ExponentialDecay, ModelSpec, NnError, OptimizerConfig, Progress, Recipe,
    ReduceLrOnPlateau, Schedule, Sequential, StopReason, TrainConfig, Trainer,
};
use digits_tensor::Ops;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use super::data::DataArgs;
use super::device::{DeviceArgs, with_backend};
use super::run_folder::{
    CHECKPOINTS, RunLock, checkpoints_in, clear_run, prune_checkpoints, remove_stale_temporaries,
    run_files,
};
use super::{plot, shown};

/// Train a network on a dataset; writes the model, checkpoints and training curves to --out.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[command(flatten)]
    data: DataArgs,

    /// The network: a preset (tutorial, mlp, resnet, inception, fast) or a model description file (.toml or
    /// .json). A preset or file with a recipe (`fast`) brings its own defaults for the training flags below;
    /// flags given still win. `--student` says the same in `digits distill`.
    #[arg(
        long,
        visible_alias = "student",
        default_value = "tutorial",
        value_name = "NAME|FILE"
    )]
    model: String,

    /// Epochs to train [default: 15]. With --resume: the new total, to train a finished run longer.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    epochs: Option<u32>,

    /// Samples per training step.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    batch: u32,

    /// Learning rate.
    #[arg(long, default_value_t = 1e-3, value_parser = positive_f32)]
    lr: f32,

    /// Optimizer.
    #[arg(long, value_enum, default_value_t = OptimizerArg::Adam)]
    optimizer: OptimizerArg,

    /// AdamW's decoupled weight decay: each step the weights shrink by lr × this of themselves.
    #[arg(long, default_value_t = 0.004, value_parser = non_negative_f32)]
    weight_decay: f32,

    /// RMSprop's and Adadelta's decay of their running averages [default: Keras's, 0.9 and 0.95].
    #[arg(long, value_parser = below_one)]
    rho: Option<f32>,

    /// Adam's β1, the decay of the gradient's running mean.
    #[arg(long, default_value_t = 0.9, value_parser = below_one)]
    beta1: f32,

    /// Adam's β2, the decay of the squared gradient's running mean.
    #[arg(long, default_value_t = 0.999, value_parser = below_one)]
    beta2: f32,

    /// How the learning rate moves from step to step: `one-cycle` is PyTorch's OneCycleLR (up to --lr over
    /// the first 30% of the steps, then down to --lr / 25e4, Adam's β1 cycled 0.95 to 0.85 and back);
    /// `cosine` warms up over --warmup-steps, then decays along a cosine to 0.
    #[arg(long, value_enum, default_value_t = ScheduleArg::Constant)]
    schedule: ScheduleArg,

    /// Label smoothing of the training loss: the target is (1 - this) on the label plus this / classes on every
    /// class (Keras's and PyTorch's label_smoothing). Validation and test losses stay plain cross-entropy.
    #[arg(long, default_value_t = 0.0, value_parser = below_one)]
    label_smoothing: f32,

    /// Keep an exponential moving average of the weights with this decay (e.g. 0.999), updated on the device
    /// after every step; validation, early stopping and the saved model use the average (a per-epoch
    /// checkpoint holds both and evaluates with the live weights).
    #[arg(long, value_name = "DECAY", value_parser = below_one)]
    ema: Option<f32>,

    /// With --schedule cosine: steps of linear warm-up.
    #[arg(long, default_value_t = 0, value_name = "STEPS")]
    warmup_steps: u64,

    /// Momentum of SGD (ignored by Adam).
    #[arg(long, default_value_t = 0.9, value_parser = unit_interval)]
    momentum: f32,

    /// Nesterov momentum for SGD.
    #[arg(long)]
    nesterov: bool,

    /// Fraction of the training set held out for validation, taken from its end as Keras does (0: none).
    #[arg(long, default_value_t = 0.2, value_parser = validation_fraction)]
    validation_split: f64,

    /// Seed of the initial weights, the shuffles, dropout and augmentation: same seed, same run.
    #[arg(long, default_value_t = 42)]
    seed: u64,

    #[command(flatten)]
    device: DeviceArgs,

    /// Output folder [default: runs/<model>-<UTC date and time>].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Continue the run in --out from its last checkpoint that loads (its settings come from the checkpoint).
    #[arg(long, requires = "out")]
    resume: bool,

    /// Replace the run already in --out (its model, history and checkpoints are deleted).
    #[arg(long, conflicts_with = "resume")]
    force: bool,

    /// Augment training images with a random rotation, shift and zoom (see --rotation, --shift, --zoom).
    #[arg(long)]
    augment: bool,

    /// With --augment: largest rotation, in degrees either way.
    #[arg(long, default_value_t = 10.0, value_parser = non_negative_f32, requires = "augment")]
    rotation: f32,

    /// With --augment: largest shift, as a fraction of the image size.
    #[arg(long, default_value_t = 0.1, value_parser = unit_interval, requires = "augment")]
    shift: f32,

    /// With --augment: largest zoom, as a fraction (0.1: 90% to 110%).
    #[arg(long, default_value_t = 0.1, value_parser = unit_interval, requires = "augment")]
    zoom: f32,

    /// Reduce the learning rate when val_loss has not improved for this many epochs (Keras ReduceLROnPlateau).
    #[arg(long, value_name = "EPOCHS")]
    reduce_lr_patience: Option<usize>,

    /// With --reduce-lr-patience: the factor the learning rate is multiplied by.
    #[arg(long, default_value_t = 0.1, value_parser = unit_interval, requires = "reduce_lr_patience")]
    reduce_lr_factor: f32,

    /// Multiply the learning rate by this factor after every epoch (PyTorch's example uses 0.7).
    #[arg(long, value_name = "FACTOR", value_parser = unit_interval)]
    lr_decay: Option<f32>,

    /// Stop when val_loss has not improved for this many epochs, keeping the best epoch's weights.
    #[arg(long, value_name = "PATIENCE")]
    early_stopping: Option<usize>,

    /// Update the progress bar every this many steps.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    log_interval: u32,

    /// Samples per forward pass when validating and testing.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    eval_batch: u32,

    /// Keep only the newest this many per-epoch checkpoints (default: keep all).
    #[arg(long, value_name = "COUNT", value_parser = clap::value_parser!(u32).range(1..))]
    keep_checkpoints: Option<u32>,

    /// Check the set-up in seconds: a few steps on a slice of the data, nothing written.
    #[arg(long, conflicts_with = "resume")]
    dry_run: bool,

    /// Train this many models, seeds --seed, --seed + 1, ..., each into its own run folder --out/member-K (which
    /// `--resume` continues one by one), then evaluate their ensemble (averaged probabilities) on the test set
    /// into --out/ensemble.json.
    #[arg(long, default_value_t = 1, value_name = "K", conflicts_with_all = ["resume", "dry_run"],
          value_parser = clap::value_parser!(u32).range(1..=100))]
    ensemble: u32,

    /// Distil this model (a model file of any architecture) into the one trained: each step also learns
    /// the teacher's probabilities softened by --temperature, weighted --alpha (Hinton's soft targets).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["resume", "dry_run", "ensemble"])]
    teacher: Option<PathBuf>,

    /// With --teacher: the temperature both models' logits are divided by before the softmax.
    #[arg(long, default_value_t = 4.0, value_parser = positive_f32, requires = "teacher")]
    temperature: f32,

    /// With --teacher: the weight of the soft targets; the labels' cross-entropy gets 1 - alpha.
    #[arg(long, default_value_t = 0.9, value_parser = unit_interval, requires = "teacher")]
    alpha: f32,

    /// A recipe's one-cycle settings, where they are not PyTorch's defaults.
    #[arg(skip)]
    one_cycle: Option<Schedule>,
}

impl Args {
    /// The teacher model file, when distilling.
    pub fn teacher(&self) -> Option<&Path> {
        self.teacher.as_deref()
    }
}

/// A learning-rate schedule as a command-line value.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleArg {
    /// The rate --lr and the callbacks give.
    Constant,
    /// PyTorch's OneCycleLR with its defaults, stepped per batch.
    OneCycle,
    /// Linear warm-up, then cosine decay to 0, stepped per batch.
    Cosine,
}

impl ScheduleArg {
    fn of(schedule: &Schedule) -> Self {
        match schedule {
            Schedule::Constant => ScheduleArg::Constant,
            Schedule::OneCycle { .. } => ScheduleArg::OneCycle,
            Schedule::Cosine { .. } => ScheduleArg::Cosine,
        }
    }
}

fn below_one(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "expected a number from 0 up to (not including) 1, got {text:?}"
        )),
    }
}

/// An optimizer as a command-line value.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerArg {
    /// Adam with Keras's defaults (β1 0.9, β2 0.999, ε 1e-7).
    Adam,
    /// AdamW: Adam with decoupled weight decay (--weight-decay, Keras's default 0.004).
    Adamw,
    /// Nadam: Adam with Nesterov momentum (Keras's defaults; --beta1, --beta2).
    Nadam,
    /// RMSprop (Keras's: --rho 0.9, ε 1e-7 under the root).
    Rmsprop,
    /// Adadelta (Keras's: --rho 0.95, ε 1e-7; the PyTorch MNIST example uses --lr 1.0 --rho 0.9).
    Adadelta,
    /// Stochastic gradient descent, with --momentum.
    Sgd,
}

fn positive_f32(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("expected a positive number, got {text:?}")),
    }
}

fn non_negative_f32(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("expected a number ≥ 0, got {text:?}")),
    }
}

fn unit_interval(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("expected a number from 0 to 1, got {text:?}")),
    }
}

fn validation_fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "expected a fraction from 0 up to (not including) 1, got {text:?}"
        )),
    }
}

/// The settings of a run that are not in the checkpoint, recorded in `run.json` for `--resume`.
#[derive(Serialize, Deserialize, Debug)]
struct RunRecord {
    /// The `--model` argument.
    model: String,
    /// The dataset folder.
    data: PathBuf,
    /// Fraction of the training set held out.
    validation_split: f64,
    /// The device the run started on.
    device: String,
    /// When the run started, UTC.
    started: String,
    /// The teacher's model file, for a distilled run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    teacher: Option<PathBuf>,
}

const RUN_RECORD: &str = "run.json";

/// The settings a run keeps in its checkpoint: with `--resume` they come from there, so giving them is an
/// error rather than silently ignored.
const FIXED_BY_THE_RUN: &[&str] = &[
    "model",
    "batch",
    "lr",
    "optimizer",
    "beta1",
    "beta2",
    "weight_decay",
    "rho",
    "schedule",
    "warmup_steps",
    "label_smoothing",
    "ema",
    "momentum",
    "nesterov",
    "validation_split",
    "seed",
    "augment",
    "rotation",
    "shift",
    "zoom",
    "reduce_lr_patience",
    "reduce_lr_factor",
    "lr_decay",
    "early_stopping",
];

/// The ids of the `train` flags given on the command line (not defaulted).
pub fn flags_given(matches: &clap::ArgMatches) -> Vec<String> {
    matches
        .ids()
        .filter(|id| {
            matches.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine)
        })
        .map(|id| id.as_str().to_string())
        .collect()
}

/// Refuses, with `--resume`, the flags whose values the run's checkpoint decides.
fn refuse_fixed_flags(given: &[String]) -> anyhow::Result<()> {
    let fixed: Vec<String> = FIXED_BY_THE_RUN
        .iter()
        .filter(|id| given.iter().any(|g| g == *id))
        .map(|id| format!("--{}", id.replace('_', "-")))
        .collect();
    if !fixed.is_empty() {
        bail!(
            "--resume continues with the run's own settings, so {} cannot change {}; \
             drop {} or start a new run with another --out",
            fixed.join(", "),
            if fixed.len() == 1 { "it" } else { "them" },
            if fixed.len() == 1 { "it" } else { "them" },
        );
    }
    Ok(())
}

pub fn run(mut args: Args, given: &[String]) -> anyhow::Result<()> {
    if args.resume {
        refuse_fixed_flags(given)?;
    }
    if given.iter().any(|g| g == "weight_decay") && args.optimizer != OptimizerArg::Adamw {
        bail!("--weight-decay is AdamW's: add --optimizer adamw");
    }
    let spec = if args.resume {
        None
    } else {
        Some(ModelSpec::resolve(&args.model).context("cannot use the model")?)
    };
    if let Some(recipe) = spec.as_ref().and_then(|s| s.recipe.as_ref()) {
        apply_recipe(&mut args, recipe, given);
        if let Some(about) = &recipe.about {
            println!("recipe: {about}");
        }
    }
    let (location, dataset) = args.data.load()?;
    let out = match (&args.out, args.dry_run) {
        (Some(out), _) => out.clone(),
        (None, true) => PathBuf::new(), // nothing is written
        (None, false) => default_out_dir(&args.model),
    };
    // Held for the whole run: a second process on the same folder stops here, naming this one.
    let _lock = if args.dry_run {
        None
    } else {
        Some(RunLock::acquire(&out)?)
    };
    let record = if args.resume {
        let record = read_record(&out)?;
        if let Some(teacher) = &record.teacher {
            bail!(
                "{} is a distilled run (teacher {}): resuming one is not supported; train it again with --force",
                out.display(),
                teacher.display()
            );
        }
        Some(record)
    } else {
        if !args.dry_run {
            let found = run_files(&out)?;
            if !found.is_empty() && !args.force {
                bail!(
                    "{} already holds a run ({}); continue it with --resume, replace it with --force, or choose another --out",
                    out.display(),
                    found.join(", ")
                );
            }
            clear_run(&out)?;
        }
        None
    };
    if !args.dry_run {
        let removed = remove_stale_temporaries(&out)?;
        if removed > 0 {
            eprintln!(
                "removed {removed} temporary file{} left by an interrupted run",
                if removed == 1 { "" } else { "s" }
            );
        }
    }
    let split = record
        .as_ref()
        .map_or(args.validation_split, |r| r.validation_split);
    let (train, validation) = split_validation(dataset.train.clone(), split)?;
    let device = args.device.open()?;
    let device_name = device.name();
    let device_line = device.describe();
    with_backend!(device, |backend| {
        let data = RunData {
            location_dir: location.dir().to_path_buf(),
            device_line: device_line.clone(),
            spec: spec.as_ref(),
            dataset: &dataset,
            train: &train,
            validation: validation.as_ref(),
        };
        if args.dry_run {
            dry_run(&backend, &args, &data)
        } else if args.ensemble > 1 {
            train_ensemble(&backend, &args, &data, &out, &device_name)
        } else {
            train_on(&backend, &args, &data, &out, &device_name)
        }
    })
}

/// Trains `--ensemble` members into `out/member-K`, then evaluates their averaged probabilities.
fn train_ensemble<B: Ops>(
    backend: &B,
    args: &Args,
    data: &RunData<'_>,
    out: &Path,
    device_name: &str,
) -> anyhow::Result<()> {
    let mut members = Vec::new();
    for k in 1..=args.ensemble {
        let member_out = out.join(format!("member-{k}"));
        let member = Args {
            seed: args.seed + u64::from(k - 1),
            out: Some(member_out.clone()),
            ..args.clone()
        };
        println!(
            "ensemble member {k} of {} (seed {}): {}",
            args.ensemble,
            member.seed,
            member_out.display()
        );
        // Each member is a run folder of its own: locked while it trains, never silently overwritten.
        let _lock = RunLock::acquire(&member_out)?;
        let found = run_files(&member_out)?;
        if !found.is_empty() && !args.force {
            bail!(
                "{} already holds a run ({}); continue it with --resume --out {}, replace the ensemble with --force, or choose another --out",
                member_out.display(),
                found.join(", "),
                member_out.display()
            );
        }
        clear_run(&member_out)?;
        train_on(backend, &member, data, &member_out, device_name)?;
        members.push(member_out.join("model.safetensors"));
    }
    let test = DeviceDataset::upload(backend, &data.dataset.test)
        .context("cannot load the test set on the device")?;
    let options = EvalOptions {
        batch_size: args.eval_batch as usize,
        probabilities: true,
    };
    let mut evaluations = Vec::new();
    for path in &members {
        let mut model = Sequential::load(backend, path)
            .with_context(|| format!("cannot load the model {}", path.display()))?;
        evaluations.push(
            model
                .evaluate(&test, &options)
                .context("cannot evaluate on the test set")?,
        );
    }
    let ensemble = Evaluation::average(&evaluations, data.dataset.test.labels())?;
    let correct = ensemble
        .predictions
        .iter()
        .zip(data.dataset.test.labels())
        .filter(|(p, l)| **p == u32::from(**l))
        .count();
    println!(
        "ensemble of {}: test loss: {:.4} - accuracy: {:.4} ({correct}/{} correct)",
        members.len(),
        ensemble.loss,
        ensemble.accuracy,
        ensemble.samples
    );
    let decimal = |v: f32| v.to_string().parse::<f64>().unwrap_or(f64::NAN);
    let summary = serde_json::json!({
        "members": members.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "member_test_accuracy": evaluations.iter().map(|e| decimal(e.accuracy)).collect::<Vec<_>>(),
        "test_loss": decimal(ensemble.loss),
        "test_accuracy": decimal(ensemble.accuracy),
        "test_samples": ensemble.samples,
    });
    write_file(
        &out.join("ensemble.json"),
        &serde_json::to_string_pretty(&summary)?,
    )?;
    Ok(())
}

/// What every training path reads.
struct RunData<'a> {
    location_dir: PathBuf,
    /// The device and why it was chosen.
    device_line: String,
    /// The model of a new run (`None` when resuming: the checkpoint has it).
    spec: Option<&'a ModelSpec>,
    dataset: &'a Dataset,
    train: &'a LabelledImages,
    validation: Option<&'a LabelledImages>,
}

/// Splits off the last `fraction` of the training set as validation (`None` when the fraction is 0).
fn split_validation(
    train: LabelledImages,
    fraction: f64,
) -> anyhow::Result<(LabelledImages, Option<LabelledImages>)> {
    if fraction == 0.0 {
        return Ok((train, None));
    }
    let (train, validation) = train.split_validation(fraction).with_context(|| {
        format!("cannot hold out {fraction} of the training set for validation")
    })?;
    Ok((train, Some(validation)))
}

fn train_config(args: &Args) -> TrainConfig {
    let optimizer = match args.optimizer {
        OptimizerArg::Adam => OptimizerConfig::adam_with(args.lr, args.beta1, args.beta2, 0.0),
        OptimizerArg::Adamw => {
            OptimizerConfig::adam_with(args.lr, args.beta1, args.beta2, args.weight_decay)
        }
        OptimizerArg::Nadam => OptimizerConfig::nadam(args.lr, args.beta1, args.beta2),
        OptimizerArg::Rmsprop => OptimizerConfig::rmsprop(args.lr, args.rho.unwrap_or(0.9)),
        OptimizerArg::Adadelta => OptimizerConfig::adadelta(args.lr, args.rho.unwrap_or(0.95)),
        OptimizerArg::Sgd => OptimizerConfig::Sgd {
            lr: args.lr,
            momentum: args.momentum,
            nesterov: args.nesterov,
        },
    };
    let augment = args.augment.then_some(AugmentConfig {
        max_rotation_degrees: args.rotation,
        max_shift: args.shift,
        max_zoom: args.zoom,
    });
    let mut callbacks = Vec::new();
    if let Some(rate) = args.lr_decay {
        callbacks.push(Callback::ExponentialDecay(ExponentialDecay {
            initial_lr: args.lr,
            rate,
        }));
    }
    if let Some(patience) = args.reduce_lr_patience {
        callbacks.push(Callback::ReduceLrOnPlateau(ReduceLrOnPlateau {
            patience,
            factor: f64::from(args.reduce_lr_factor),
            ..ReduceLrOnPlateau::default()
        }));
    }
    if let Some(patience) = args.early_stopping {
        callbacks.push(Callback::EarlyStopping(EarlyStopping {
            patience,
            restore_best_weights: true,
            ..EarlyStopping::default()
        }));
    }
    TrainConfig {
        epochs: args.epochs.map_or(15, |e| e as usize),
        batch_size: args.batch as usize,
        seed: args.seed,
        optimizer,
        augment,
        progress_every: args.log_interval as usize,
        eval_batch_size: args.eval_batch as usize,
        callbacks,
        label_smoothing: args.label_smoothing,
        ema: args.ema,
        schedule: match args.schedule {
            ScheduleArg::Constant => Schedule::Constant,
            ScheduleArg::OneCycle => args.one_cycle.unwrap_or_else(Schedule::one_cycle),
            ScheduleArg::Cosine => Schedule::Cosine {
                warmup_steps: args.warmup_steps,
                min_factor: 0.0,
            },
        },
    }
}

/// Takes the defaults of the flags not given from the description's recipe.
fn apply_recipe(args: &mut Args, recipe: &Recipe, given: &[String]) {
    let open = |flag: &str| !given.iter().any(|g| g == flag);
    if let (true, Some(epochs)) = (args.epochs.is_none(), recipe.epochs) {
        args.epochs = Some(epochs as u32);
    }
    if let (true, Some(batch)) = (open("batch"), recipe.batch_size) {
        args.batch = batch as u32;
    }
    if let (true, Some(lr)) = (open("lr"), recipe.lr) {
        args.lr = lr;
    }
    if let (true, Some(beta1)) = (open("beta1"), recipe.beta1) {
        args.beta1 = beta1;
    }
    if let (true, Some(beta2)) = (open("beta2"), recipe.beta2) {
        args.beta2 = beta2;
    }
    if let (true, Some(schedule)) = (open("schedule"), recipe.schedule) {
        args.schedule = ScheduleArg::of(&schedule);
        if let Schedule::OneCycle { .. } = schedule {
            args.one_cycle = Some(schedule);
        }
        if let Schedule::Cosine { warmup_steps, .. } = schedule
            && open("warmup_steps")
        {
            args.warmup_steps = warmup_steps;
        }
    }
    if let (true, Some(smoothing)) = (open("label_smoothing"), recipe.label_smoothing) {
        args.label_smoothing = smoothing;
    }
    if let (true, Some(decay)) = (open("ema"), recipe.ema) {
        args.ema = Some(decay);
    }
    if let (true, Some(rate)) = (open("lr_decay"), recipe.lr_decay) {
        args.lr_decay = Some(rate);
    }
    if let (true, Some(split)) = (open("validation_split"), recipe.validation_split) {
        args.validation_split = split;
    }
    if let (true, Some(augment)) = (open("augment"), recipe.augment) {
        args.augment = true;
        for (flag, arg, value) in [
            ("rotation", &mut args.rotation, augment.max_rotation_degrees),
            ("shift", &mut args.shift, augment.max_shift),
            ("zoom", &mut args.zoom, augment.max_zoom),
        ] {
            if open(flag) {
                *arg = value;
            }
        }
    }
}

fn train_on<B: Ops>(
    backend: &B,
    args: &Args,
    data: &RunData<'_>,
    out: &Path,
    device_name: &str,
) -> anyhow::Result<()> {
    let checkpoints = out.join(CHECKPOINTS);
    let mut trainer = if let Some(spec) = data.spec {
        let model =
            Sequential::new(backend, spec.clone(), args.seed).context("cannot build the model")?;
        let mut trainer = Trainer::new(model, train_config(args), data.train, data.validation)
            .context("cannot start training")?;
        if let Some(path) = &args.teacher {
            let teacher = Sequential::load(backend, path)
                .with_context(|| format!("cannot load the teacher {}", path.display()))?;
            println!(
                "distilling {} ({} parameters) at temperature {}, alpha {}",
                path.display(),
                teacher.spec().param_count().unwrap_or(0),
                args.temperature,
                args.alpha
            );
            let distill = DistillConfig {
                temperature: args.temperature,
                alpha: args.alpha,
            };
            trainer
                .set_teacher(teacher, distill)
                .with_context(|| format!("cannot distil {}", path.display()))?;
        }
        std::fs::create_dir_all(&checkpoints)
            .with_context(|| format!("cannot create {}", checkpoints.display()))?;
        let record = RunRecord {
            model: args.model.clone(),
            data: data.location_dir.clone(),
            validation_split: args.validation_split,
            device: device_name.to_string(),
            started: utc_timestamp(SystemTime::now(), true),
            teacher: args.teacher.clone(),
        };
        write_file(
            &out.join(RUN_RECORD),
            &serde_json::to_string_pretty(&record)?,
        )?;
        trainer
    } else {
        let mut trainer = resume_from_newest(backend, out, data)?;
        if let Some(epochs) = args.epochs {
            trainer.set_epochs(epochs as usize);
        }
        println!(
            "resuming {} after epoch {}",
            out.display(),
            trainer.epochs_done()
        );
        if trainer.is_finished() {
            println!(
                "the run has finished its {} epochs; pass --epochs N to train it longer",
                trainer.config().epochs
            );
        }
        trainer
    };
    print_header(&trainer, data);
    println!("output: {}", out.display());

    while !trainer.is_finished() {
        let stats = run_epoch_with_bar(&mut trainer)?;
        println!("{}", epoch_line(&stats, trainer.config().epochs));
        let checkpoint = checkpoints.join(format!("epoch-{:03}.safetensors", stats.epoch));
        trainer
            .save_checkpoint(&checkpoint)
            .with_context(|| format!("cannot write the checkpoint {}", checkpoint.display()))?;
        if let Some(keep) = args.keep_checkpoints {
            prune_checkpoints(out, keep as usize)?;
        }
        write_history(out, trainer.history())?;
    }
    if trainer.epochs_done() == 0 {
        bail!("nothing to train: the run has 0 epochs");
    }
    if let Some(StopReason::EarlyStopping { epoch }) = trainer.stop_reason() {
        println!(
            "early stopping after epoch {epoch}: val_loss stopped improving; keeping the best weights"
        );
    }
    let (mut model, history) = trainer.finish().context("cannot finish training")?;
    write_history(out, &history)?;
    let model_path = out.join("model.safetensors");
    model
        .save(&model_path)
        .with_context(|| format!("cannot write the model {}", model_path.display()))?;

    let test = DeviceDataset::upload(backend, &data.dataset.test)
        .context("cannot load the test set on the device")?;
    let options = EvalOptions {
        batch_size: args.eval_batch as usize,
        probabilities: false,
    };
    let evaluation = model
        .evaluate(&test, &options)
        .context("cannot evaluate on the test set")?;
    let correct = (f64::from(evaluation.accuracy) * evaluation.samples as f64).round() as usize;
    println!(
        "test: loss: {:.4} - accuracy: {:.4} ({correct}/{} correct)",
        evaluation.loss, evaluation.accuracy, evaluation.samples
    );
    let total_seconds: f64 = history.iter().map(|s| s.seconds).sum();
    // f32 → f64 through the shortest decimal, so the JSON says 0.9921, not 0.9921000003814697.
    let decimal = |v: f32| v.to_string().parse::<f64>().unwrap_or(f64::NAN);
    let summary = serde_json::json!({
        "model": model.spec().name,
        "device": device_name,
        "epochs": history.len(),
        "train_seconds": total_seconds,
        "test_loss": decimal(evaluation.loss),
        "test_accuracy": decimal(evaluation.accuracy),
        "test_samples": evaluation.samples,
    });
    write_file(
        &out.join("summary.json"),
        &serde_json::to_string_pretty(&summary)?,
    )?;
    println!("model written to {}", model_path.display());
    Ok(())
}

/// Resumes from the newest checkpoint that loads, saying which ones were passed over and why.
fn resume_from_newest<B: Ops>(
    backend: &B,
    out: &Path,
    data: &RunData<'_>,
) -> anyhow::Result<Trainer<B>> {
    let checkpoints = checkpoints_in(out)?;
    if checkpoints.is_empty() {
        bail!(
            "{} holds no checkpoint to resume from",
            out.join(CHECKPOINTS).display()
        );
    }
    let mut passed_over = 0;
    for (_, path) in checkpoints.iter().rev() {
        match Trainer::resume(backend, path, data.train, data.validation) {
            Ok(trainer) => {
                if passed_over > 0 {
                    println!("resuming from {} instead", path.display());
                }
                return Ok(trainer);
            }
            // A damaged file: an older checkpoint may still be whole.
            Err(
                error @ (NnError::Corrupt { .. }
                | NnError::Io { .. }
                | NnError::MissingTensor { .. }
                | NnError::TensorShape { .. }),
            ) => {
                eprintln!("warning: {error}; trying the checkpoint before it");
                passed_over += 1;
            }
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("cannot resume from {}", path.display()));
            }
        }
    }
    bail!(
        "no checkpoint in {} loads (all {} are damaged)",
        out.join(CHECKPOINTS).display(),
        checkpoints.len()
    )
}

/// A few steps on a slice of the data, validating once: builds everything a real run builds, writes nothing.
fn dry_run<B: Ops>(backend: &B, args: &Args, data: &RunData<'_>) -> anyhow::Result<()> {
    let spec = data.spec.context("a dry run starts a new run")?.clone();
    let batch = args.batch as usize;
    let head = |images: &LabelledImages, count: usize| {
        let indices: Vec<usize> = (0..count.min(images.len())).collect();
        images.subset(&indices).context("the dataset is empty")
    };
    let train = head(data.train, 3 * batch)?;
    let validation = data.validation.map(|v| head(v, batch)).transpose()?;
    let mut config = train_config(args);
    config.epochs = 1;
    let model = Sequential::new(backend, spec, args.seed).context("cannot build the model")?;
    let mut trainer = Trainer::new(model, config, &train, validation.as_ref())
        .context("cannot start training")?;
    print_header(&trainer, data);
    let stats = run_epoch_with_bar(&mut trainer)?;
    println!("{}", epoch_line(&stats, 1));
    println!(
        "dry run: {} steps on {} training samples worked; nothing written",
        trainer.steps_per_epoch(),
        train.len()
    );
    Ok(())
}

fn print_header<B: Ops>(trainer: &Trainer<B>, data: &RunData<'_>) {
    // The name comes from a file: print it escaped.
    let mut spec = trainer.model().spec().clone();
    spec.name = shown(&spec.name);
    match spec.summary() {
        Ok(summary) => println!("{summary}"),
        Err(_) => println!("model: {}", spec.name),
    }
    let config = trainer.config();
    println!(
        "device: {}\ndata: {} ({} training, {} validation, {} test samples)\n\
         training: {} epochs, batch {}, {}{}{}, seed {}{}",
        data.device_line,
        data.location_dir.display(),
        data.train.len(),
        data.validation.map_or(0, LabelledImages::len),
        data.dataset.test.len(),
        config.epochs,
        config.batch_size,
        describe_optimizer(&config.optimizer),
        match config.schedule {
            Schedule::Constant => "",
            Schedule::OneCycle { .. } => ", one-cycle schedule",
            Schedule::Cosine { .. } => ", cosine schedule",
        },
        if config.label_smoothing > 0.0 {
            format!(", label smoothing {}", config.label_smoothing)
        } else {
            String::new()
        } + &config
            .ema
            .map_or(String::new(), |decay| format!(", weight EMA {decay}")),
        config.seed,
        if config.augment.is_some() {
            ", augmented"
        } else {
            ""
        },
    );
}

fn describe_optimizer(optimizer: &OptimizerConfig) -> String {
    match optimizer {
        OptimizerConfig::Adam {
            lr, weight_decay, ..
        } if *weight_decay > 0.0 => {
            format!("AdamW lr {} weight decay {weight_decay}", format_lr(*lr))
        }
        OptimizerConfig::Adam {
            lr, beta1, beta2, ..
        } if *optimizer != OptimizerConfig::adam(*lr) => {
            format!("Adam lr {} β {beta1}/{beta2}", format_lr(*lr))
        }
        OptimizerConfig::Adam { lr, .. } => format!("Adam lr {}", format_lr(*lr)),
        OptimizerConfig::Rmsprop { lr, rho, .. } => {
            format!("RMSprop lr {} rho {rho}", format_lr(*lr))
        }
        OptimizerConfig::Adadelta { lr, rho, .. } => {
            format!("Adadelta lr {} rho {rho}", format_lr(*lr))
        }
        OptimizerConfig::Nadam { lr, .. } => format!("Nadam lr {}", format_lr(*lr)),
        OptimizerConfig::Sgd {
            lr,
            momentum,
            nesterov,
        } => format!(
            "SGD lr {} momentum {momentum}{}",
            format_lr(*lr),
            if *nesterov { " (Nesterov)" } else { "" }
        ),
    }
}

/// Runs one epoch with a progress bar (running loss, accuracy and samples/s), cleared at the end.
pub(super) fn run_epoch_with_bar<B: Ops>(trainer: &mut Trainer<B>) -> anyhow::Result<EpochStats> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30.cyan/blue}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(250));
    let start = Instant::now();
    let stats = trainer.run_epoch(&mut |p: &Progress| {
        bar.set_length(p.total as u64);
        bar.set_position(p.samples as u64);
        bar.set_prefix(format!("Epoch {}/{}", p.epoch, p.epochs));
        let rate = p.samples as f64 / start.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!(
            "loss: {:.4} - accuracy: {:.4} - lr: {} - {rate:.0} samples/s",
            p.loss,
            p.accuracy,
            format_lr(p.lr)
        ));
    });
    bar.finish_and_clear();
    stats.context("training failed")
}

/// The Keras-like line printed after each epoch.
pub(super) fn epoch_line(stats: &EpochStats, epochs: usize) -> String {
    let mut line = format!(
        "Epoch {}/{} - {:.0}s - loss: {:.4} - accuracy: {:.4}",
        stats.epoch, epochs, stats.seconds, stats.loss, stats.accuracy
    );
    if let (Some(loss), Some(accuracy)) = (stats.val_loss, stats.val_accuracy) {
        let _ = write!(line, " - val_loss: {loss:.4} - val_accuracy: {accuracy:.4}");
    }
    let _ = write!(line, " - lr: {}", format_lr(stats.lr));
    line
}

/// A learning rate as Keras prints it: `1.0e-03`.
fn format_lr(lr: f32) -> String {
    let text = format!("{lr:.1e}");
    match text.split_once('e') {
        Some((mantissa, exponent)) => {
            let (sign, digits) = exponent
                .strip_prefix('-')
                .map_or(("+", exponent), |d| ("-", d));
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => text,
    }
}

/// Writes history.csv and history.png.
fn write_history(out: &Path, history: &[EpochStats]) -> anyhow::Result<()> {
    write_file(&out.join("history.csv"), &history_csv(history))?;
    plot::history_png(&out.join("history.png"), history)
}

const HISTORY_HEADER: &str =
    "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,samples_per_second";

/// One row per epoch; validation columns are empty without validation.
fn history_csv(history: &[EpochStats]) -> String {
    let optional = |v: Option<f32>| v.map_or(String::new(), |v| v.to_string());
    let mut csv = format!("{HISTORY_HEADER}\n");
    for s in history {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{:.3},{:.1}",
            s.epoch,
            s.loss,
            s.accuracy,
            optional(s.val_loss),
            optional(s.val_accuracy),
            s.lr,
            s.seconds,
            s.samples_per_second
        );
    }
    csv
}

/// Writes `text` to `path` through a temporary file and a rename, so a crash never leaves half a file.
fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let write = || -> anyhow::Result<()> {
        let mut file = digits_idx::atomic::temp_file_for(path)?;
        file.write_all(text.as_bytes())?;
        file.persist(path)?;
        Ok(())
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}

fn read_record(out: &Path) -> anyhow::Result<RunRecord> {
    let path = out.join(RUN_RECORD);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot resume: {} is not a training run folder (no {RUN_RECORD})",
            out.display()
        )
    })?;
    serde_json::from_str(&text)
        .with_context(|| format!("cannot resume: {} is damaged", path.display()))
}

/// `runs/<model>-<YYYYMMDD-HHMMSS>`, the model named by its preset or file stem.
fn default_out_dir(model: &str) -> PathBuf {
    let name = Path::new(model)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("model");
    PathBuf::from("runs").join(format!(
        "{name}-{}",
        utc_timestamp(SystemTime::now(), false)
    ))
}

/// UTC date and time: `2026-11-27T20:30:15Z` (iso) or `20261127-203015`.
fn utc_timestamp(time: SystemTime, iso: bool) -> String {
    let seconds = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (seconds / 86_400, seconds % 86_400);
    let (hour, minute, second) = (rem / 3600, rem / 60 % 60, rem % 60);
    let (year, month, day) = civil_from_days(days as i64);
    if iso {
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
    } else {
        format!("{year:04}{month:02}{day:02}-{hour:02}{minute:02}{second:02}")
    }
}

/// The Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(epoch: usize, validation: bool) -> EpochStats {
        EpochStats {
            epoch,
            loss: 0.0412,
            accuracy: 0.9871,
            val_loss: validation.then_some(0.0401),
            val_accuracy: validation.then_some(0.9883),
            seconds: 12.2,
            samples_per_second: 3934.4,
            lr: 1e-3,
        }
    }

    #[test]
    fn epoch_line_is_keras_like() {
        assert_eq!(
            epoch_line(&stats(3, true), 15),
            "Epoch 3/15 - 12s - loss: 0.0412 - accuracy: 0.9871 - val_loss: 0.0401 - val_accuracy: 0.9883 - lr: 1.0e-03"
        );
        assert_eq!(
            epoch_line(&stats(1, false), 2),
            "Epoch 1/2 - 12s - loss: 0.0412 - accuracy: 0.9871 - lr: 1.0e-03"
        );
    }

    #[test]
    fn learning_rates_print_with_two_exponent_digits() {
        assert_eq!(format_lr(1e-3), "1.0e-03");
        assert_eq!(format_lr(2.5e-4), "2.5e-04");
        assert_eq!(format_lr(0.1), "1.0e-01");
        assert_eq!(format_lr(12.0), "1.2e+01");
    }

    #[test]
    fn history_csv_has_one_row_per_epoch() {
        let csv = history_csv(&[stats(1, true), stats(2, false)]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], HISTORY_HEADER);
        assert_eq!(
            lines[1],
            "1,0.0412,0.9871,0.0401,0.9883,0.001,12.200,3934.4"
        );
        assert_eq!(lines[2], "2,0.0412,0.9871,,,0.001,12.200,3934.4");
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(utc_timestamp(at(0), true), "1970-01-01T00:00:00Z");
        // 2000-02-29 12:34:56 (a leap day in a century leap year).
        assert_eq!(utc_timestamp(at(951_827_696), true), "2000-02-29T12:34:56Z");
        assert_eq!(utc_timestamp(at(1_798_675_200), false), "20261231-000000");
    }
}
