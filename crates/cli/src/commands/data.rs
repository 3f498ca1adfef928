//! The `--data DIR` option shared by every command that reads the dataset.

use std::path::PathBuf;

use anyhow::Context;
use digits_idx::{DataLocation, Dataset, Split, resolve_data_dir};

/// Where to read the dataset from; flatten into a command's arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct DataArgs {
    /// Dataset folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte,
    /// t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each optionally .gz).
    /// Default: $DIGITS_DATA, else the folder `digits download` fills.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

impl DataArgs {
    /// Finds the dataset folder: `--data`, else `DIGITS_DATA`, else the download cache.
    pub fn locate(&self) -> anyhow::Result<DataLocation> {
        resolve_data_dir(self.data.as_deref()).context("cannot find the dataset")
    }

    /// Finds and loads both splits.
    pub fn load(&self) -> anyhow::Result<(DataLocation, Dataset)> {
        let location = self.locate()?;
        let dataset = Dataset::load(location.dir())
            .with_context(|| format!("cannot load the dataset in {}", location.dir().display()))?;
        Ok((location, dataset))
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
