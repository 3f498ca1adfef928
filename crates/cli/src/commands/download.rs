//! `digits download`: fetch a dataset from its mirrors, checking SHA-256 digests.

use std::path::PathBuf;

use anyhow::Context;
use digits_idx::download::{self, FileReport, FileStatus, Progress};
use digits_idx::{DATA_ENV, DEFAULT_DATASET};
use indicatif::{ProgressBar, ProgressStyle};

/// Download a dataset (MNIST by default) into the per-user cache or a folder, verifying
/// checksums; files already present and correct are kept. `DIGITS_MIRRORS=URL,URL` replaces the
/// built-in mirrors (base URLs; each file's URL is the base followed by its name).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Which dataset to fetch.
    #[arg(long, value_enum, default_value_t = DatasetArg::Mnist)]
    dataset: DatasetArg,

    /// Target folder. Default: the per-user cache folder, where the other commands look for MNIST.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// The datasets `digits download` knows.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum DatasetArg {
    /// Handwritten digits (LeCun, Cortes, Burges).
    Mnist,
    /// Zalando's clothing images, same format and sizes.
    FashionMnist,
}

impl DatasetArg {
    fn name(self) -> &'static str {
        match self {
            DatasetArg::Mnist => "mnist",
            DatasetArg::FashionMnist => "fashion-mnist",
        }
    }
}

/// Downloads and verifies the chosen dataset, showing progress on stderr.
pub fn run(args: Args) -> anyhow::Result<()> {
    let name = args.dataset.name();
    let source = super::data::mnist_source(name)?;
    let dir = match args.dir {
        Some(dir) => dir,
        None => download::default_dir(name).context("use --dir to choose a folder")?,
    };
    println!("downloading {name} into {}", dir.display());
    let mut progress = BarProgress::default();
    let result = download::download(&source, &dir, &mut progress);
    progress.finish();
    result.with_context(|| format!("cannot download {name}"))?;
    println!("{name} is ready in {}", dir.display());
    let found_by_default = download::default_dir(DEFAULT_DATASET).is_ok_and(|d| d == dir);
    if found_by_default {
        println!("other commands find it there unless --data or {DATA_ENV} says otherwise");
    } else {
        println!("use it with --data {0} or {DATA_ENV}={0}", dir.display());
    }
    Ok(())
}

/// Shows one progress bar per file being downloaded (on stderr, hidden when not a terminal).
#[derive(Default)]
pub struct BarProgress {
    bar: Option<ProgressBar>,
}

impl BarProgress {
    /// Clears a bar left by a download that stopped.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Progress for BarProgress {
    fn start(&mut self, file: &str, _url: &str, total_bytes: Option<u64>) {
        let bar = match total_bytes {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template(
                    "{msg:28} [{bar:30}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner(),
        };
        bar.set_message(file.to_string());
        self.bar = Some(bar);
    }

    fn advance(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn mirror_failed(&mut self, file: &str, url: &str, reason: &str) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        eprintln!("warning: {file}: {url} failed: {reason}");
    }

    fn finished(&mut self, report: &FileReport) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        match &report.status {
            FileStatus::AlreadyPresent => {
                println!("  {}: already present, checksum ok", report.name)
            }
            FileStatus::Downloaded { url } => {
                println!("  {}: downloaded from {url}, checksum ok", report.name)
            }
        }
    }
}
