//! The `--data DIR` option shared by every command that reads the dataset.

use std::path::PathBuf;

use anyhow::Context;
use digits_idx::download::{self, DatasetSource};
use digits_idx::{
    DEFAULT_DATASET, DEFAULT_MAX_DATA_BYTES, DEFAULT_NUM_CLASSES, DataLocation, DataOrigin,
    DataPlaces, Dataset, LabelledImages, Split, SplitFiles,
};

use super::download::BarProgress;

/// Environment variable replacing the built-in download mirrors: base URLs separated by commas.
pub const MIRRORS_ENV: &str = "DIGITS_MIRRORS";

/// Where to read the dataset from; flatten into a command's arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct DataArgs {
    /// Dataset folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
    /// t10k-labels-idx1-ubyte (each optionally .gz). Default, in order: $DIGITS_DATA; the MNIST copy in this
    /// repository's data/mnist (in a checkout); the per-user cache (~/.cache/digits/mnist); else MNIST is
    /// downloaded into the cache on first use (mirrors from $DIGITS_MIRRORS if set).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,

    /// Refuse IDX files that declare more data than this many MiB (a forged header or a gzip bomb).
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_MAX_DATA_BYTES >> 20,
          value_parser = clap::value_parser!(u64).range(1..=1 << 24))]
    pub max_data_mib: u64,
}

/// The MNIST copy shipped in a checkout of the repository, if this binary was built from one that has it.
fn bundled_copy() -> Option<PathBuf> {
    std::fs::canonicalize(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist"))
        .ok()
        .filter(|dir| dir.is_dir())
}

/// The built-in MNIST source, with the mirrors of [`MIRRORS_ENV`] when it is set.
pub fn mnist_source(dataset: &str) -> anyhow::Result<DatasetSource> {
    let mut source = download::builtin(dataset)?;
    if let Some(mirrors) = std::env::var_os(MIRRORS_ENV).filter(|m| !m.is_empty()) {
        let mirrors = mirrors.to_string_lossy().into_owned();
        source.mirrors = mirrors
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect();
    }
    Ok(source)
}

impl DataArgs {
    /// Finds the dataset folder (see `--data`), downloading MNIST into the cache on first use.
    pub fn locate(&self) -> anyhow::Result<DataLocation> {
        let places = DataPlaces::from_env(self.data.as_deref(), bundled_copy().as_deref());
        let source = mnist_source(DEFAULT_DATASET)?;
        let mut progress = BarProgress::default();
        let location = places.resolve_or_download(&source, &mut progress);
        progress.finish();
        let location = location.context("cannot find the dataset")?;
        if location.origin == DataOrigin::Downloaded {
            eprintln!(
                "MNIST downloaded into {}; later runs use it from there",
                location.dir().display()
            );
        }
        Ok(location)
    }

    /// The largest IDX file accepted, in bytes.
    fn max_data_bytes(&self) -> u64 {
        self.max_data_mib << 20
    }

    /// Finds and loads both splits.
    pub fn load(&self) -> anyhow::Result<(DataLocation, Dataset)> {
        let location = self.locate()?;
        let dataset =
            Dataset::load_limited(location.dir(), DEFAULT_NUM_CLASSES, self.max_data_bytes())
                .with_context(|| {
                    format!("cannot load the dataset in {}", location.dir().display())
                })?;
        Ok((location, dataset))
    }

    /// Finds and loads one split.
    pub fn load_split(&self, split: Split) -> anyhow::Result<(DataLocation, LabelledImages)> {
        let location = self.locate()?;
        let files: &SplitFiles = location.files.split(split);
        let images = LabelledImages::load_limited(
            &files.images,
            &files.labels,
            DEFAULT_NUM_CLASSES,
            self.max_data_bytes(),
        )
        .with_context(|| {
            format!(
                "cannot load the {} split from {}",
                split.name(),
                location.dir().display()
            )
        })?;
        Ok((location, images))
    }
}

/// A dataset split as a command-line value.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitArg {
    /// The training set.
    Train,
    /// The test set.
    Test,
}

impl From<SplitArg> for Split {
    fn from(split: SplitArg) -> Self {
        match split {
            SplitArg::Train => Split::Train,
            SplitArg::Test => Split::Test,
        }
    }
}
