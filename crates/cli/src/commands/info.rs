//! `digits info`: what a dataset folder holds.

use anyhow::Context;
use digits_idx::download::sha256_file;
use digits_idx::{LabelledImages, Split};

use super::data::DataArgs;

/// Show image counts, shapes, class histograms, and file paths with their SHA-256.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    data: DataArgs,
}

/// Length of the longest histogram bar, in characters.
const BAR_WIDTH: usize = 40;

/// Prints what the dataset folder holds.
pub fn run(args: Args) -> anyhow::Result<()> {
    let (location, dataset) = args.data.load()?;
    println!(
        "dataset: {} (from {})",
        location.dir().display(),
        location.origin
    );
    for split in Split::ALL {
        let part = dataset.split(split);
        let files = dataset.files.split(split);
        println!();
        println!(
            "{}: {} images of {}x{}, {} classes",
            split.name(),
            part.len(),
            part.rows(),
            part.cols(),
            part.num_classes()
        );
        for (kind, path) in [("images", &files.images), ("labels", &files.labels)] {
            let digest =
                sha256_file(path).with_context(|| format!("cannot checksum {}", path.display()))?;
            println!("  {kind}: {}", path.display());
            println!("          sha256 {digest}");
        }
        print_histogram(part);
    }
    Ok(())
}

/// One line per class: count, share and a bar scaled to the largest class.
fn print_histogram(part: &LabelledImages) {
    let counts = part.class_counts();
    let largest = counts.iter().copied().max().unwrap_or(0).max(1);
    let total = part.len().max(1);
    println!("  class   count   share");
    for (class, &count) in counts.iter().enumerate() {
        let share = 100.0 * count as f64 / total as f64;
        let bar = "#".repeat(count * BAR_WIDTH / largest);
        println!("  {class:>5} {count:>7} {share:>6.2}%  {bar}");
    }
}
