//! `digits`: train, evaluate and use handwritten-digit classifiers from the command line.

mod commands;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "digits", version, about = "Train and use handwritten-digit classifiers on any GPU, or none")]
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
    /// Measure speed: `digits bench kernels`.
    Bench(commands::bench::Args),
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
    }
}
