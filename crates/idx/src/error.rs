//! The error type of this crate.

use std::path::PathBuf;

use crate::format::ElementType;

/// Shorthand for results with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong reading, checking or downloading IDX data.
///
/// Every variant about a file carries its path, and its message starts with it, so that a user
/// reading the error knows which file to look at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system refused an operation on the file (open, read, write, rename...).
    #[error("{}: {action}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// What was being done, e.g. "cannot open".
        action: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },

    /// The first two bytes are not the zeros that start every IDX file.
    #[error(
        "{}: not an IDX file: starts with bytes {found:02x?}, expected 00 00 <type> <number of dimensions>",
        path.display()
    )]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The first four bytes read.
        found: [u8; 4],
    },

    /// The third byte names no IDX element type.
    #[error(
        "{}: unknown IDX element type code 0x{code:02X} (known: 08 u8, 09 i8, 0B i16, 0C i32, 0D f32, 0E f64)",
        path.display()
    )]
    UnknownType {
        /// The file.
        path: PathBuf,
        /// The type code read.
        code: u8,
    },

    /// The header declares zero dimensions.
    #[error("{}: IDX header declares no dimensions", path.display())]
    NoDimensions {
        /// The file.
        path: PathBuf,
    },

    /// One dimension of the header is zero.
    #[error("{}: IDX dimension {index} is zero (dimensions {dims:?})", path.display())]
    ZeroDimension {
        /// The file.
        path: PathBuf,
        /// Which dimension (from 0).
        index: usize,
        /// All dimensions read.
        dims: Vec<u32>,
    },

    /// The dimensions multiply to more bytes than this machine can address.
    #[error("{}: IDX dimensions {dims:?} describe more data than fits in memory", path.display())]
    DimensionOverflow {
        /// The file.
        path: PathBuf,
        /// All dimensions read.
        dims: Vec<u32>,
    },

    /// The file ends before the header or the data it declares.
    #[error(
        "{}: truncated: the IDX {part} needs {expected} bytes but only {found} are there",
        path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// "header" or "data".
        part: &'static str,
        /// Bytes the header implies.
        expected: u64,
        /// Bytes actually present.
        found: u64,
    },

    /// The header declares more data than the reader accepts (a forged header, or a gzip bomb).
    #[error(
        "{}: the IDX header declares {declared} bytes of data, more than the limit of {limit} bytes \
         (raise it if the file is real: `--max-data-mib` on the command line)",
        path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Bytes the header declares.
        declared: u64,
        /// The limit in force.
        limit: u64,
    },

    /// Bytes follow the data declared by the header.
    #[error(
        "{}: {extra} unexpected bytes after the {expected} data bytes the IDX header declares",
        path.display()
    )]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// Data bytes the header implies.
        expected: u64,
        /// Bytes found after them.
        extra: u64,
    },

    /// The file starts like gzip but does not decompress.
    #[error("{}: corrupt gzip stream: {source}", path.display())]
    CorruptGzip {
        /// The file.
        path: PathBuf,
        /// The decoder's complaint.
        source: std::io::Error,
    },

    /// The array has another element type than the one the dataset needs.
    #[error("{}: expected {expected} elements, found {found}", path.display())]
    UnexpectedType {
        /// The file.
        path: PathBuf,
        /// The type needed.
        expected: ElementType,
        /// The type read.
        found: ElementType,
    },

    /// The array has another number of dimensions than the one the dataset needs.
    #[error("{}: expected {expected}, found dimensions {dims:?}", path.display())]
    UnexpectedShape {
        /// The file.
        path: PathBuf,
        /// What was needed, in words ("3 dimensions (count, rows, columns)").
        expected: &'static str,
        /// The dimensions read.
        dims: Vec<usize>,
    },

    /// An image file and its label file hold a different number of items.
    #[error(
        "{} holds {images} images but {} holds {labels} labels",
        images_path.display(),
        labels_path.display()
    )]
    CountMismatch {
        /// The image file.
        images_path: PathBuf,
        /// The label file.
        labels_path: PathBuf,
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },

    /// A label is not below the number of classes.
    #[error(
        "{}: label {label} at index {index} is outside the {num_classes} classes 0..{num_classes}",
        path.display()
    )]
    LabelOutOfRange {
        /// The label file.
        path: PathBuf,
        /// Position of the first bad label.
        index: usize,
        /// Its value.
        label: u8,
        /// The number of classes expected.
        num_classes: usize,
    },

    /// Images and labels that do not form a dataset (sizes or labels inconsistent); the message
    /// names the files when they came from files.
    #[error("invalid dataset: {0}")]
    InvalidDataset(String),

    /// A dataset folder lacks one of its files (with or without `.gz`).
    #[error("{}: missing {name} (or {name}.gz)", dir.display())]
    MissingFile {
        /// The folder searched.
        dir: PathBuf,
        /// The file name, without `.gz`.
        name: &'static str,
    },

    /// No dataset folder was found; the message says how to get one.
    #[error("{0}")]
    DataNotFound(String),

    /// A validation fraction outside `[0, 1)`, or one that leaves a part empty.
    #[error("validation split {fraction} is invalid for {len} samples: {reason}")]
    InvalidSplit {
        /// The fraction asked for.
        fraction: f64,
        /// Number of samples to split.
        len: usize,
        /// Why it is refused.
        reason: &'static str,
    },

    /// No built-in dataset has this name.
    #[error("unknown dataset {name:?} (known: {known})")]
    UnknownDataset {
        /// The name asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },

    /// The platform has no per-user cache folder (no `$HOME`), so a folder must be given.
    #[error("no per-user cache folder on this system: give a folder explicitly")]
    NoCacheDir,

    /// Every mirror failed for one file; each attempt's reason is listed.
    #[error(
        "{}: download failed from every mirror:\n  {}",
        path.display(),
        attempts.join("\n  ")
    )]
    DownloadFailed {
        /// Where the file should have gone.
        path: PathBuf,
        /// One line per mirror: URL and reason.
        attempts: Vec<String>,
    },
}

impl Error {
    /// Builds an [`Error::Io`] for `path`.
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        action: &'static str,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            path: path.into(),
            action,
            source,
        }
    }
}

/// Dimensions that cannot describe the given elements in an IDX file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid IDX shape {dims:?} for {len} elements: {reason}")]
pub struct ShapeError {
    /// The dimensions given.
    pub dims: Vec<usize>,
    /// The number of elements given.
    pub len: usize,
    /// What is wrong.
    pub reason: &'static str,
}
