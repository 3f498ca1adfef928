//! `digits export`: a model file in a format other runtimes load.

use std::path::PathBuf;

use anyhow::Context;
use digits_nn::{ONNX_OPSET, OnnxOptions, Sequential};
use digits_tensor::Cpu;

/// Formats a model can be exported to.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// ONNX (opset 13), for ONNX Runtime, tract (both checked by the tests) and other ONNX runtimes.
    Onnx,
}

/// Write a trained model in another format. The ONNX graph takes `input`, float32 [batch, 1, 28, 28] of
/// pixels / 255, and gives `logits` [batch, 10] (or `probabilities` with --softmax); the model's own input
/// normalisation is in the graph, dropout is left out, batch normalisation uses the running statistics.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model file to export (as `digits train` writes it).
    #[arg(long, value_name = "FILE")]
    model: PathBuf,

    /// The format to write.
    #[arg(long, value_enum, default_value_t = Format::Onnx)]
    format: Format,

    /// End the graph with a softmax, so that it outputs probabilities instead of logits.
    #[arg(long)]
    softmax: bool,

    /// Where to write the exported file (written to a temporary name, then renamed).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Loads the model on the CPU backend and writes it in `--format`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let model = Sequential::load(&Cpu::new(), &args.model)
        .with_context(|| format!("cannot load the model {}", args.model.display()))?;
    match args.format {
        Format::Onnx => {
            let options = OnnxOptions {
                softmax: args.softmax,
            };
            model
                .export_onnx(&args.out, &options)
                .with_context(|| format!("cannot export {}", args.model.display()))?;
            println!(
                "wrote {} (ONNX opset {ONNX_OPSET}, {} parameters, output `{}`): {}",
                args.out.display(),
                model.param_count(),
                if args.softmax {
                    "probabilities"
                } else {
                    "logits"
                },
                model.spec().architecture()
            );
        }
    }
    Ok(())
}
