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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
    }
}
