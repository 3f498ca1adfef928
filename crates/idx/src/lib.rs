//! IDX files, labelled image datasets and their verified download, for the `digits` trainer.
//!
//! - [`IdxArray`]: read and write IDX arrays of every element type and rank, gzip or not, with
//!   typed [`Error`]s naming the file and allocations bounded by the file size.
//! - [`Dataset`] / [`LabelledImages`]: an MNIST-style folder (train and test images and labels),
//!   with a Keras-style validation split ([`LabelledImages::split_validation`]).
//! - [`permutation`] / [`SplitMix64`]: seeded shuffling, identical on every platform;
//!   [`batches`]: mini-batches of an index order.
//! - [`resolve_data_dir`]: where every command finds its data (`--data`, `DIGITS_DATA`, cache).
//! - [`download`]: fetch MNIST or Fashion-MNIST from mirrors, verifying SHA-256 digests.
//! - [`atomic::temp_file_in`]: the temporary file of a write-then-rename, with ordinary permissions.
//!
//! ```no_run
//! use std::num::NonZeroUsize;
//! use digits_idx::{batches, permutation, resolve_data_dir, Dataset, LastBatch};
//!
//! let location = resolve_data_dir(None)?;
//! let data = Dataset::load(location.dir())?;
//! let (train, validation) = data.train.split_validation(0.1)?;
//! let order = permutation(train.len(), 42);
//! let batch_size = NonZeroUsize::new(128).expect("non-zero");
//! for batch in batches(&order, batch_size, LastBatch::Keep) {
//!     let images = train.subset(batch).expect("indices come from the permutation");
//!     // ... feed images.pixels() and images.labels() to the model
//! #   let _ = (images, &validation);
//! }
//! # Ok::<(), digits_idx::Error>(())
//! ```

#![warn(missing_docs)]

pub mod atomic;
mod batch;
mod dataset;
pub mod download;
mod error;
mod format;
mod location;
mod rng;

pub use batch::{Batches, LastBatch, batches};
pub use dataset::{DEFAULT_NUM_CLASSES, Dataset, DatasetFiles, LabelledImages, Split, SplitFiles};
pub use error::{Error, Result, ShapeError};
pub use format::{
    Compression, DEFAULT_MAX_DATA_BYTES, ElementType, GZIP_MAGIC, GZIP_RESERVE_CAP, IdxArray,
    IdxData,
};
pub use location::{
    DATA_ENV, DEFAULT_DATASET, DataLocation, DataOrigin, DataPlaces, resolve_data_dir,
};
pub use rng::{SplitMix64, permutation};
