//! `digits predict`: read handwritten digits from pictures (PNG, JPEG), or from the test set by index.

use std::path::PathBuf;

use anyhow::{Context, bail};
use digits_idx::Split;
use digits_nn::Sequential;
use digits_tensor::Ops;
use serde::Serialize;

use super::data::DataArgs;
use super::device::{DeviceArgs, with_backend};
use super::eval::ensure_model_file;
use super::shown;
use digits::prepare::{self, SIDE};

/// Predict the digit in each picture (prepared as MNIST was: grayscale, light ink on black, cropped,
/// scaled to 20 pixels, centred by mass in 28x28) and show the three likeliest digits.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model file (model.safetensors or a checkpoint written by `digits train`).
    #[arg(long, value_name = "FILE")]
    model: PathBuf,

    /// Pictures of one handwritten digit each: PNG or JPEG, any size, dark ink on light paper or the reverse.
    #[arg(value_name = "IMAGE", required_unless_present = "test_index")]
    images: Vec<PathBuf>,

    /// Predict the N-th test image (from 0) instead of, or as well as, pictures; repeatable.
    #[arg(long, value_name = "N")]
    test_index: Vec<usize>,

    #[command(flatten)]
    data: DataArgs,

    /// Run on this device [default: cpu, as one picture does not repay starting a GPU]; see `digits train --help`.
    #[arg(long, value_name = "DEVICE")]
    device: Option<String>,

    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,

    /// Also write each picture as the model sees it (28x28 PNG) into this folder.
    #[arg(long, value_name = "DIR")]
    save_prepared: Option<PathBuf>,
}

/// One input: where it came from, its prepared pixels and, for test images, the label.
struct Input {
    source: String,
    pixels: Vec<u8>,
    label: Option<u8>,
    preparation: Option<Preparation>,
}

/// What preparing a picture decided, reported in the JSON output.
#[derive(Serialize, Clone)]
struct Preparation {
    /// Whether the picture had a light background and was inverted.
    inverted: bool,
    /// The ink's bounding box in the picture: x, y, width, height.
    ink_box: [u32; 4],
}

#[derive(Serialize)]
struct Ranked {
    digit: usize,
    probability: f32,
}

#[derive(Serialize)]
struct Answer {
    source: String,
    digit: usize,
    probability: f32,
    top: Vec<Ranked>,
    probabilities: Vec<f32>,
    /// The scores before the softmax (what an exported ONNX model outputs).
    logits: Vec<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preparation: Option<Preparation>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    ensure_model_file(&args.model)?;
    let mut inputs = Vec::new();
    let mut unreadable = 0;
    for path in &args.images {
        let prepared = match prepare::prepare_file(path) {
            Ok(prepared) => prepared,
            Err(error) => {
                // Report it and go on: one bad picture must not hide the answers for the good ones.
                eprintln!("error: {}", shown(&format!("{error:#}")));
                unreadable += 1;
                continue;
            }
        };
        let (x, y, width, height) = prepared.ink_box;
        inputs.push(Input {
            source: path.display().to_string(),
            pixels: prepared.pixels,
            label: None,
            preparation: Some(Preparation {
                inverted: prepared.inverted,
                ink_box: [x, y, width, height],
            }),
        });
    }
    if !args.test_index.is_empty() {
        let (_, test) = args.data.load_split(Split::Test)?;
        for &index in &args.test_index {
            let pixels = test.image(index).with_context(|| {
                format!(
                    "--test-index {index} is out of range: the test set has {} images",
                    test.len()
                )
            })?;
            inputs.push(Input {
                source: format!("test[{index}]"),
                pixels: pixels.to_vec(),
                label: test.labels().get(index).copied(),
                preparation: None,
            });
        }
    }
    if inputs.is_empty() {
        bail!("none of the {unreadable} pictures could be read");
    }
    if let Some(dir) = &args.save_prepared {
        save_prepared(dir, &inputs)?;
    }
    let device = DeviceArgs {
        device: args.device.clone(),
    }
    .open_prefer_cpu()?;
    let answers = with_backend!(device, |backend| predict_on(&backend, &args, &inputs))?;
    if args.json {
        let document = serde_json::json!({ "model": args.model.display().to_string(), "predictions": answers });
        println!("{}", serde_json::to_string_pretty(&document)?);
    } else {
        for answer in &answers {
            println!("{}", describe(answer));
        }
    }
    if unreadable > 0 {
        bail!(
            "{unreadable} of the {} pictures could not be read (see above)",
            args.images.len()
        );
    }
    Ok(())
}

fn predict_on<B: Ops>(backend: &B, args: &Args, inputs: &[Input]) -> anyhow::Result<Vec<Answer>> {
    let mut model = Sequential::load(backend, &args.model)
        .with_context(|| format!("cannot load the model {}", args.model.display()))?;
    let input = model.spec().input;
    if input != [1, SIDE, SIDE] {
        bail!(
            "{} takes {}x{}x{} inputs; predict reads pictures into 1x{SIDE}x{SIDE} (MNIST-style) only",
            args.model.display(),
            input[0],
            input[1],
            input[2]
        );
    }
    let pixels: Vec<u8> = inputs
        .iter()
        .flat_map(|i| i.pixels.iter().copied())
        .collect();
    let predictions = model.predict(&pixels).context("prediction failed")?;
    let logits = model.logits(&pixels).context("prediction failed")?;
    let classes = predictions.classes;
    Ok(inputs
        .iter()
        .zip(predictions.probabilities.chunks_exact(classes))
        .zip(logits.chunks_exact(classes))
        .map(|((input, probabilities), logits)| {
            let mut order: Vec<usize> = (0..classes).collect();
            order.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]));
            let top: Vec<Ranked> = order
                .iter()
                .take(3)
                .map(|&digit| Ranked {
                    digit,
                    probability: probabilities[digit],
                })
                .collect();
            Answer {
                source: input.source.clone(),
                digit: top[0].digit,
                probability: top[0].probability,
                top,
                probabilities: probabilities.to_vec(),
                logits: logits.to_vec(),
                label: input.label,
                preparation: input.preparation.clone(),
            }
        })
        .collect())
}

/// `picture.png: 7 (99.2%) - top 3: 7 99.21%, 1 0.52%, 2 0.13%`, plus the label for test images.
fn describe(answer: &Answer) -> String {
    let top: Vec<String> = answer
        .top
        .iter()
        .map(|r| format!("{} {:.2}%", r.digit, 100.0 * r.probability))
        .collect();
    let mut line = format!(
        "{}: {} ({:.1}%) - top 3: {}",
        shown(&answer.source),
        answer.digit,
        100.0 * answer.probability,
        top.join(", ")
    );
    if let Some(label) = answer.label {
        let verdict = if usize::from(label) == answer.digit {
            "correct"
        } else {
            "wrong"
        };
        line.push_str(&format!(" - label {label}, {verdict}"));
    }
    line
}

fn save_prepared(dir: &std::path::Path, inputs: &[Input]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (index, input) in inputs.iter().enumerate() {
        let image = image::GrayImage::from_raw(SIDE as u32, SIDE as u32, input.pixels.clone())
            .context("a prepared image has the wrong size")?;
        let stem: String = input
            .source
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or("image")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{index:03}-{stem}.png"));
        super::plot::save_png(&path, &image)?;
    }
    Ok(())
}
