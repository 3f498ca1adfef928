//! The error type of this crate.

use std::path::PathBuf;

use digits_tensor::TensorError;

/// Shorthand for results with [`NnError`].
pub type Result<T, E = NnError> = std::result::Result<T, E>;

/// Everything that can go wrong describing, building, training, saving or loading a model.
///
/// Variants about a file carry its path and start their message with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NnError {
    /// The tensor runtime failed (a device error, or a shape bug).
    #[error(transparent)]
    Tensor(#[from] TensorError),

    /// A model description is malformed or does not fit its input shape.
    #[error("{origin}: {detail}")]
    Spec {
        /// Where the description came from: a file path or `preset <name>`.
        origin: String,
        /// What is wrong, naming the layer.
        detail: String,
    },

    /// A preset name that does not exist (and no file of that name either).
    #[error("unknown model `{name}`: not a preset ({known}) and no such file")]
    UnknownPreset {
        /// The name asked for.
        name: String,
        /// The known presets, comma-separated.
        known: String,
    },

    /// The operating system refused an operation on a file.
    #[error("{}: {action}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done, e.g. "cannot read".
        action: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A model or checkpoint file is truncated or not a file this crate wrote.
    #[error("{}: not a valid digits model file: {detail}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What could not be read.
        detail: String,
    },

    /// A model file holds another architecture than the model it is loaded into.
    #[error("{}: holds a different architecture: expected {expected}, the file has {found}", path.display())]
    Architecture {
        /// The file.
        path: PathBuf,
        /// The model's layers.
        expected: String,
        /// The file's layers.
        found: String,
    },

    /// A tensor the architecture needs is not in the file.
    #[error("{}: tensor `{tensor}` is missing", path.display())]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name, e.g. `3.weight`.
        tensor: String,
    },

    /// A tensor has another shape or element type than the architecture needs.
    #[error("{}: tensor `{tensor}` is {found}, expected F32 {expected:?}", path.display())]
    TensorShape {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// The shape the architecture needs.
        expected: Vec<usize>,
        /// The element type and shape found, e.g. `F32 [64, 32, 5, 5]`.
        found: String,
    },

    /// A dataset does not fit the model (image size, classes) or is empty.
    #[error("{0}")]
    Data(String),

    /// A training or evaluation setting is out of range.
    #[error("{0}")]
    Config(String),

    /// A checkpoint cannot be resumed with the data given.
    #[error("{}: cannot resume: {detail}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
}
