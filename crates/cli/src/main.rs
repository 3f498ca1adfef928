//! `digits`: train, evaluate and use handwritten-digit classifiers from the command line.

mod commands;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "digits",
    version,
    about = "Train and use handwritten-digit classifiers on any GPU, or none"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show dataset counts, shapes, class histograms and file checksums.
    Info(commands::info::Args),
    /// Draw the first images of a split with their labels into a picture.
    Show(commands::show::Args),
    /// Download a dataset (MNIST, Fashion-MNIST), verifying checksums.
    Download(commands::download::Args),
    /// List the GPU adapters wgpu finds and which one is the default.
    Devices(commands::devices::Args),
    /// Check every GPU kernel against the CPU backend; exits with 1 on any mismatch.
    Check(commands::check::Args),
    /// Measure speed: `digits bench kernels`, `digits bench train`.
    Bench(commands::bench::Args),
    /// Train a network; writes the model, a checkpoint per epoch and the training curves.
    Train(commands::train::Args),
    /// Evaluate a model: accuracy per class, confusion matrix, misclassified images.
    Eval(commands::eval::Args),
    /// Read handwritten digits from pictures (PNG, JPEG) or test images.
    Predict(commands::predict::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Info(args) => commands::info::run(args),
        Command::Show(args) => commands::show::run(args),
        Command::Download(args) => commands::download::run(args),
        Command::Devices(args) => commands::devices::run(args),
        Command::Check(args) => commands::check::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Predict(args) => commands::predict::run(args),
    }
}
