//! `digits eval`: a model's loss and accuracy on a split, per class, its confusion matrix, and pictures of
//! the confusion matrix and of the misclassified images.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use digits_idx::{LabelledImages, Split};
use digits_nn::{DeviceDataset, EvalOptions, Evaluation, Sequential};
use digits_tensor::Ops;

use super::data::{DataArgs, SplitArg};
use super::device::{DeviceArgs, with_backend};
use super::plot::{self, Mistake};
use super::shown;

/// Evaluate a model: loss, accuracy, per-class accuracy, confusion matrix, misclassified images.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model file (model.safetensors or a checkpoint written by `digits train`). Repeat it to evaluate an
    /// ensemble: the models' probabilities are averaged (any mix of architectures).
    #[arg(long, value_name = "FILE", required = true)]
    model: Vec<PathBuf>,

    /// Test-time augmentation: average the probabilities of this many copies of each image, the image itself
    /// and copies shifted by one pixel (right, left, down, up, then the diagonals).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=9))]
    tta: u32,

    #[command(flatten)]
    data: DataArgs,

    #[command(flatten)]
    device: DeviceArgs,

    /// Which split to evaluate.
    #[arg(long, value_enum, default_value_t = SplitArg::Test)]
    split: SplitArg,

    /// Folder for confusion.png and misclassified.png [default: the model's folder].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Samples per forward pass.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    batch: u32,

    /// At most this many images in misclassified.png (the first ones in the split).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    max_mistakes: u32,
}

/// The shifts (rows down, columns right) of the test-time augmented copies, in the order `--tta` takes them.
const TTA_SHIFTS: [(isize, isize); 9] = [
    (0, 0),
    (0, 1),
    (0, -1),
    (1, 0),
    (-1, 0),
    (1, 1),
    (-1, -1),
    (1, -1),
    (-1, 1),
];

pub fn run(args: Args) -> anyhow::Result<()> {
    for model in &args.model {
        ensure_model_file(model)?;
    }
    let split = Split::from(args.split);
    let (_, samples) = args.data.load_split(split)?;
    let out = match &args.out {
        Some(out) => out.clone(),
        None => args.model[0]
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    };
    let device = args.device.open()?;
    let device_name = device.describe();
    with_backend!(device, |backend| evaluate_on(
        &backend,
        &args,
        &device_name,
        split,
        &samples,
        &out
    ))
}

/// Fails early, with a message about the path, when the model file is missing or is a folder.
pub fn ensure_model_file(path: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(_) => bail!(
            "{} is a folder, not a model file (try {}/model.safetensors)",
            path.display(),
            path.display()
        ),
        Err(e) => Err(e).with_context(|| format!("cannot read the model file {}", path.display())),
    }
}

fn evaluate_on<B: Ops>(
    backend: &B,
    args: &Args,
    device_name: &str,
    split: Split,
    samples: &LabelledImages,
    out: &Path,
) -> anyhow::Result<()> {
    let copies: Vec<LabelledImages> = TTA_SHIFTS[..args.tta as usize]
        .iter()
        .map(|&(dy, dx)| samples.shifted(dy, dx))
        .collect();
    let uploaded = copies
        .iter()
        .map(|copy| DeviceDataset::upload(backend, copy))
        .collect::<Result<Vec<_>, _>>()
        .context("cannot load the images on the device")?;
    let combined = args.model.len() > 1 || args.tta > 1;
    let options = EvalOptions {
        batch_size: args.batch as usize,
        probabilities: combined,
    };
    println!("device: {device_name}");
    let start = Instant::now();
    let mut parts = Vec::new();
    let mut first_classes = None;
    for path in &args.model {
        let mut model = Sequential::load(backend, path)
            .with_context(|| format!("cannot load the model {}", path.display()))?;
        let classes = model.spec().classes;
        if samples.num_classes() > classes {
            bail!(
                "{} predicts {classes} classes but the {} split has {}",
                path.display(),
                split.name(),
                samples.num_classes()
            );
        }
        if let Some(first) = first_classes.filter(|&first| first != classes) {
            bail!(
                "{} predicts {classes} classes, the first model {first}: an ensemble's models must agree",
                path.display()
            );
        }
        first_classes = Some(classes);
        println!(
            "model: {} ({}, {} parameters)",
            path.display(),
            shown(&model.spec().name),
            model.param_count()
        );
        let mut copies_of_model = Vec::new();
        for data in &uploaded {
            copies_of_model.push(
                model
                    .evaluate(data, &options)
                    .with_context(|| format!("cannot evaluate on the {} split", split.name()))?,
            );
        }
        if combined {
            let alone = Evaluation::average(&copies_of_model, samples.labels())?;
            println!(
                "  alone{}: loss {:.4} - accuracy {:.4}",
                if args.tta > 1 {
                    format!(" with {} copies", args.tta)
                } else {
                    String::new()
                },
                alone.loss,
                alone.accuracy
            );
        }
        parts.extend(copies_of_model);
    }
    let classes = first_classes.expect("at least one model");
    let evaluation = if combined {
        Evaluation::average(&parts, samples.labels())?
    } else {
        parts.pop().expect("one model evaluated")
    };
    let seconds = start.elapsed().as_secs_f64();
    let confusion = confusion_matrix(samples.labels(), &evaluation.predictions, classes);
    let correct: usize = (0..classes).map(|c| confusion[c][c]).sum();
    println!(
        "{}: {} samples - loss: {:.4} - accuracy: {:.4} ({correct} correct) - {seconds:.2}s",
        split.name(),
        evaluation.samples,
        evaluation.loss,
        evaluation.accuracy
    );
    print!("{}", per_class_table(&confusion));
    print!("{}", confusion_table(&confusion));

    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let confusion_path = out.join("confusion.png");
    plot::confusion_png(&confusion_path, &confusion)?;
    let mistakes: Vec<Mistake<'_>> = evaluation
        .predictions
        .iter()
        .enumerate()
        .filter(|&(i, &p)| usize::from(samples.labels()[i]) != p as usize)
        .take(args.max_mistakes as usize)
        .filter_map(|(i, &p)| {
            Some(Mistake {
                pixels: samples.image(i)?,
                label: usize::from(samples.labels()[i]),
                predicted: p as usize,
            })
        })
        .collect();
    let mistakes_path = out.join("misclassified.png");
    plot::mistakes_png(
        &mistakes_path,
        &mistakes,
        samples.rows(),
        samples.cols(),
        10,
    )?;
    println!(
        "wrote {} and {} ({} of {} misclassified images)",
        confusion_path.display(),
        mistakes_path.display(),
        mistakes.len(),
        evaluation.samples - correct
    );
    Ok(())
}

/// `matrix[true][predicted]` counts.
fn confusion_matrix(labels: &[u8], predictions: &[u32], classes: usize) -> Vec<Vec<usize>> {
    let mut matrix = vec![vec![0usize; classes]; classes];
    for (&label, &predicted) in labels.iter().zip(predictions) {
        if let Some(cell) = matrix
            .get_mut(usize::from(label))
            .and_then(|row| row.get_mut(predicted as usize))
        {
            *cell += 1;
        }
    }
    matrix
}

fn per_class_table(confusion: &[Vec<usize>]) -> String {
    let mut text = String::from("per class:\n  class  samples  correct  accuracy\n");
    for (class, row) in confusion.iter().enumerate() {
        let total: usize = row.iter().sum();
        let correct = row[class];
        let accuracy = if total == 0 {
            "-".to_string()
        } else {
            format!("{:.2}%", 100.0 * correct as f64 / total as f64)
        };
        let _ = writeln!(
            text,
            "  {class:>5}  {total:>7}  {correct:>7}  {accuracy:>8}"
        );
    }
    text
}

fn confusion_table(confusion: &[Vec<usize>]) -> String {
    let width = confusion
        .iter()
        .flatten()
        .map(|c| c.to_string().len())
        .max()
        .unwrap_or(1)
        .max(3);
    let mut text =
        String::from("confusion matrix (rows: true class, columns: predicted class):\n      ");
    for class in 0..confusion.len() {
        let _ = write!(text, " {class:>width$}");
    }
    text.push('\n');
    for (class, row) in confusion.iter().enumerate() {
        let _ = write!(text, "  {class:>3} ");
        for count in row {
            let _ = write!(text, " {count:>width$}");
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_counts_true_rows_and_predicted_columns() {
        let matrix = confusion_matrix(&[0, 1, 1, 2, 2, 2], &[0, 1, 2, 2, 2, 0], 3);
        assert_eq!(matrix, vec![vec![1, 0, 0], vec![0, 1, 1], vec![1, 0, 2]]);
    }

    #[test]
    fn tables_show_counts_and_percentages() {
        let matrix = vec![vec![3, 1], vec![0, 0]];
        let per_class = per_class_table(&matrix);
        assert!(
            per_class.contains("      0        4        3    75.00%"),
            "{per_class}"
        );
        assert!(
            per_class.contains("      1        0        0         -"),
            "{per_class}"
        );
        let table = confusion_table(&matrix);
        assert!(table.contains("\n    0    3   1\n"), "{table}");
    }

    #[test]
    fn missing_model_file_is_a_clear_error() {
        let error =
            ensure_model_file(Path::new("/nonexistent/model.safetensors")).expect_err("missing");
        assert!(
            format!("{error:#}")
                .contains("cannot read the model file /nonexistent/model.safetensors")
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let error = ensure_model_file(dir.path()).expect_err("a folder");
        assert!(error.to_string().contains("is a folder"), "{error}");
    }
}
