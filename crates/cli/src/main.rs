//! `digits`: train, evaluate and use handwritten-digit classifiers from the command line.

mod commands;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

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
    /// Distil a teacher model into a student: `train` with --teacher required (--student names the student).
    Distill(commands::train::Args),
    /// Prune a trained model's weights by magnitude, fine-tuning as it goes; reports sparsity and sizes.
    Prune(commands::prune::Args),
    /// Evaluate a model: accuracy per class, confusion matrix, misclassified images.
    Eval(commands::eval::Args),
    /// Read handwritten digits from pictures (PNG, JPEG) or test images.
    Predict(commands::predict::Args),
    /// Write a model in another format (ONNX) for other runtimes.
    Export(commands::export::Args),
    /// Serve a page to draw digits on, and a prediction API, on localhost.
    Serve(commands::serve::Args),
}

fn main() -> anyhow::Result<()> {
    let _runtime_dir = ensure_runtime_dir();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match cli.command {
        Command::Info(args) => commands::info::run(args),
        Command::Show(args) => commands::show::run(args),
        Command::Download(args) => commands::download::run(args),
        Command::Devices(args) => commands::devices::run(args),
        Command::Check(args) => commands::check::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Train(args) => {
            let given = matches
                .subcommand_matches("train")
                .map(commands::train::flags_given)
                .unwrap_or_default();
            commands::train::run(args, &given)
        }
        Command::Distill(args) => {
            if args.teacher().is_none() {
                anyhow::bail!("digits distill needs --teacher FILE (the model to learn from)");
            }
            let given = matches
                .subcommand_matches("distill")
                .map(commands::train::flags_given)
                .unwrap_or_default();
            commands::train::run(args, &given)
        }
        Command::Prune(args) => commands::prune::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Predict(args) => commands::predict::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Serve(args) => commands::serve::run(args),
    }
}

/// Mesa's drivers print `error: XDG_RUNTIME_DIR is invalid or not set` when listing adapters without one (as
/// in CI, containers and ssh sessions), which users read as a failure. When it is unset or not a folder, point
/// it at a private folder that lives as long as the process.
fn ensure_runtime_dir() -> Option<tempfile::TempDir> {
    let usable = std::env::var_os("XDG_RUNTIME_DIR")
        .is_some_and(|dir| !dir.is_empty() && std::path::Path::new(&dir).is_dir());
    if usable {
        return None;
    }
    let dir = tempfile::Builder::new()
        .prefix("digits-runtime-")
        .tempdir()
        .ok()?;
    // SAFETY: called first thing in `main`, before any other thread exists to read the environment.
    unsafe { std::env::set_var("XDG_RUNTIME_DIR", dir.path()) };
    Some(dir)
}
