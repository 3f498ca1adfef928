//! Labelled image sets and MNIST-style dataset folders.
//!
//! A dataset folder holds four IDX files with the names MNIST made standard, each optionally
//! gzip-compressed (`.gz`): see [`Split::images_file`] and [`Split::labels_file`]. Nothing else is
//! MNIST-specific, so Fashion-MNIST and other look-alikes load the same way.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::{DEFAULT_MAX_DATA_BYTES, IdxArray, IdxData};

/// Number of classes assumed when none is given (the ten digits).
pub const DEFAULT_NUM_CLASSES: usize = 10;

/// One of the two parts of a dataset folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// The training set (`train-*` files).
    Train,
    /// The test set (`t10k-*` files).
    Test,
}

impl Split {
    /// Both splits, training first.
    pub const ALL: [Split; 2] = [Split::Train, Split::Test];

    /// Name of the image file, without `.gz`.
    pub const fn images_file(self) -> &'static str {
        match self {
            Split::Train => "train-images-idx3-ubyte",
            Split::Test => "t10k-images-idx3-ubyte",
        }
    }

    /// Name of the label file, without `.gz`.
    pub const fn labels_file(self) -> &'static str {
        match self {
            Split::Train => "train-labels-idx1-ubyte",
            Split::Test => "t10k-labels-idx1-ubyte",
        }
    }

    /// "train" or "test".
    pub const fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// The image and label files of one split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitFiles {
    /// The image file (N × rows × columns, u8).
    pub images: PathBuf,
    /// The label file (N, u8).
    pub labels: PathBuf,
}

/// The four files of a dataset folder, as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetFiles {
    /// The folder.
    pub dir: PathBuf,
    /// Training files.
    pub train: SplitFiles,
    /// Test files.
    pub test: SplitFiles,
}

impl DatasetFiles {
    /// Finds the four files in `dir`, each as is or with `.gz` (the uncompressed one wins when
    /// both exist, as it reads faster).
    pub fn locate(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let find = |name: &'static str| -> Result<PathBuf> {
            let plain = dir.join(name);
            if plain.is_file() {
                return Ok(plain);
            }
            let gz = dir.join(format!("{name}.gz"));
            if gz.is_file() {
                return Ok(gz);
            }
            Err(Error::MissingFile {
                dir: dir.to_path_buf(),
                name,
            })
        };
        let split = |split: Split| -> Result<SplitFiles> {
            Ok(SplitFiles {
                images: find(split.images_file())?,
                labels: find(split.labels_file())?,
            })
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            train: split(Split::Train)?,
            test: split(Split::Test)?,
        })
    }

    /// The files of one split.
    pub fn split(&self, split: Split) -> &SplitFiles {
        match split {
            Split::Train => &self.train,
            Split::Test => &self.test,
        }
    }
}

/// A set of same-sized grayscale images (u8 pixels) with one class label (u8) each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledImages {
    pixels: Vec<u8>,
    labels: Vec<u8>,
    rows: usize,
    cols: usize,
    num_classes: usize,
}

impl LabelledImages {
    /// Builds a set from `pixels` (N × `rows` × `cols`, row-major) and N `labels`, each below
    /// `num_classes`.
    pub fn new(
        pixels: Vec<u8>,
        labels: Vec<u8>,
        rows: usize,
        cols: usize,
        num_classes: usize,
    ) -> Result<Self> {
        let invalid = |reason: String| Err(Error::InvalidDataset(reason));
        let image_size = rows.checked_mul(cols).filter(|&s| s > 0);
        let Some(image_size) = image_size else {
            return invalid(format!("image size {rows}x{cols} is empty or too large"));
        };
        if labels.len().checked_mul(image_size) != Some(pixels.len()) {
            return invalid(format!(
                "{} pixels do not make {} images of {rows}x{cols}",
                pixels.len(),
                labels.len()
            ));
        }
        if let Some((index, &label)) = labels
            .iter()
            .enumerate()
            .find(|&(_, &l)| usize::from(l) >= num_classes)
        {
            return invalid(format!(
                "label {label} at index {index} is outside the {num_classes} classes"
            ));
        }
        Ok(Self {
            pixels,
            labels,
            rows,
            cols,
            num_classes,
        })
    }

    /// Loads an image file (u8, N × rows × columns) and a label file (u8, N) and checks that they
    /// agree and that every label is below `num_classes`.
    pub fn load(
        images_path: impl AsRef<Path>,
        labels_path: impl AsRef<Path>,
        num_classes: usize,
    ) -> Result<Self> {
        Self::load_limited(
            images_path,
            labels_path,
            num_classes,
            DEFAULT_MAX_DATA_BYTES,
        )
    }

    /// Like [`LabelledImages::load`], refusing a file that declares more than `max_data_bytes` of data
    /// ([`IdxArray::read_file_limited`]).
    pub fn load_limited(
        images_path: impl AsRef<Path>,
        labels_path: impl AsRef<Path>,
        num_classes: usize,
        max_data_bytes: u64,
    ) -> Result<Self> {
        let (images_path, labels_path) = (images_path.as_ref(), labels_path.as_ref());
        let images = IdxArray::read_file_limited(images_path, max_data_bytes)?;
        let labels = IdxArray::read_file_limited(labels_path, max_data_bytes)?;
        Self::from_arrays(images, labels, num_classes, images_path, labels_path)
    }

    /// Checks and combines arrays already read; the paths only name them in errors.
    pub fn from_arrays(
        images: IdxArray,
        labels: IdxArray,
        num_classes: usize,
        images_path: &Path,
        labels_path: &Path,
    ) -> Result<Self> {
        let (image_dims, pixels) = u8_parts(images, images_path)?;
        let [count, rows, cols] = image_dims[..] else {
            return Err(Error::UnexpectedShape {
                path: images_path.to_path_buf(),
                expected: "3 dimensions (count, rows, columns)",
                dims: image_dims,
            });
        };
        let (label_dims, labels) = u8_parts(labels, labels_path)?;
        if label_dims.len() != 1 {
            return Err(Error::UnexpectedShape {
                path: labels_path.to_path_buf(),
                expected: "1 dimension (count)",
                dims: label_dims,
            });
        }
        if labels.len() != count {
            return Err(Error::CountMismatch {
                images_path: images_path.to_path_buf(),
                labels_path: labels_path.to_path_buf(),
                images: count,
                labels: labels.len(),
            });
        }
        if let Some(index) = labels.iter().position(|&l| usize::from(l) >= num_classes) {
            return Err(Error::LabelOutOfRange {
                path: labels_path.to_path_buf(),
                index,
                label: labels[index],
                num_classes,
            });
        }
        Ok(Self {
            pixels,
            labels,
            rows,
            cols,
            num_classes,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images (only possible after a split or subset).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Rows (height) of each image.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns (width) of each image.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Pixels per image (`rows × cols`).
    pub fn image_size(&self) -> usize {
        self.rows * self.cols
    }

    /// Number of classes; every label is below it.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// All pixels, image after image, each row-major.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// All labels, in image order.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The pixels of image `index`, or `None` past the end.
    pub fn image(&self, index: usize) -> Option<&[u8]> {
        let size = self.image_size();
        let start = index.checked_mul(size)?;
        self.pixels.get(start..start.checked_add(size)?)
    }

    /// How many images each class has (index = label).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &label in &self.labels {
            counts[usize::from(label)] += 1; // labels are checked below num_classes on creation
        }
        counts
    }

    /// The same images moved `dy` rows down and `dx` columns right (negative: up, left), the pixels that
    /// enter filled with 0 (MNIST's background); test-time augmentation evaluates such copies.
    ///
    /// ```
    /// use digits_idx::LabelledImages;
    ///
    /// let one = LabelledImages::new(vec![1, 2, 3, 4], vec![0], 2, 2, 10)?;
    /// assert_eq!(one.shifted(0, 1).pixels(), &[0, 1, 0, 3]);
    /// assert_eq!(one.shifted(-1, 0).pixels(), &[3, 4, 0, 0]);
    /// # Ok::<(), digits_idx::Error>(())
    /// ```
    pub fn shifted(&self, dy: isize, dx: isize) -> Self {
        let (rows, cols) = (self.rows, self.cols);
        let mut pixels = vec![0u8; self.pixels.len()];
        for (from, to) in self
            .pixels
            .chunks_exact(self.image_size())
            .zip(pixels.chunks_exact_mut(rows * cols))
        {
            for y in 0..rows {
                let Some(source_y) = y.checked_add_signed(-dy).filter(|&v| v < rows) else {
                    continue;
                };
                for x in 0..cols {
                    if let Some(source_x) = x.checked_add_signed(-dx).filter(|&v| v < cols) {
                        to[y * cols + x] = from[source_y * cols + source_x];
                    }
                }
            }
        }
        Self {
            pixels,
            labels: self.labels.clone(),
            rows,
            cols,
            num_classes: self.num_classes,
        }
    }

    /// A new set holding the images at `indices`, in that order (repeats allowed), or `None` if an
    /// index is out of range. Useful to materialise a shuffled copy or gather a batch.
    pub fn subset(&self, indices: &[usize]) -> Option<Self> {
        let mut pixels = Vec::with_capacity(indices.len().saturating_mul(self.image_size()));
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i)?);
            labels.push(self.labels[i]);
        }
        Some(Self {
            pixels,
            labels,
            rows: self.rows,
            cols: self.cols,
            num_classes: self.num_classes,
        })
    }

    /// Splits off the last `fraction` of the images for validation, as Keras's `validation_split`
    /// does: the training part is the first `floor(len × (1 − fraction))` images (computed in
    /// `f64` like Keras), the validation part the rest, with no shuffling beforehand.
    ///
    /// `fraction` must be in `[0, 1)`; 0 gives an empty validation set. A positive fraction that
    /// leaves either part empty is refused, as Keras refuses it.
    pub fn split_validation(mut self, fraction: f64) -> Result<(Self, Self)> {
        let len = self.len();
        let refuse = |reason| {
            Err(Error::InvalidSplit {
                fraction,
                len,
                reason,
            })
        };
        if !(0.0..1.0).contains(&fraction) {
            return refuse("the fraction must be at least 0 and below 1");
        }
        // Same float expression as Keras: int(n * (1 - validation_split)).
        let split_at = (len as f64 * (1.0 - fraction)).floor() as usize;
        if fraction > 0.0 && (split_at == 0 || split_at == len) {
            return refuse("one of the two parts would be empty");
        }
        let validation = Self {
            pixels: self.pixels.split_off(split_at * self.image_size()),
            labels: self.labels.split_off(split_at),
            rows: self.rows,
            cols: self.cols,
            num_classes: self.num_classes,
        };
        Ok((self, validation))
    }
}

/// Takes the dimensions and u8 elements of an array, refusing other element types.
fn u8_parts(array: IdxArray, path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    match array.into_parts() {
        (dims, IdxData::U8(data)) => Ok((dims, data)),
        (_, other) => Err(Error::UnexpectedType {
            path: path.to_path_buf(),
            expected: crate::format::ElementType::U8,
            found: other.element_type(),
        }),
    }
}

/// A training set and a test set loaded from one folder.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Where each part was read from.
    pub files: DatasetFiles,
    /// The training set.
    pub train: LabelledImages,
    /// The test set.
    pub test: LabelledImages,
}

impl Dataset {
    /// Loads an MNIST-style folder with [`DEFAULT_NUM_CLASSES`] classes.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        Self::load_limited(dir, DEFAULT_NUM_CLASSES, DEFAULT_MAX_DATA_BYTES)
    }

    /// Loads an MNIST-style folder whose labels are below `num_classes`, refusing a file that declares more
    /// than `max_data_bytes` of data. The two splits are read on two threads, as decompressing the training
    /// images dominates the time.
    pub fn load_limited(
        dir: impl AsRef<Path>,
        num_classes: usize,
        max_data_bytes: u64,
    ) -> Result<Self> {
        let files = DatasetFiles::locate(dir)?;
        let load = |split: &SplitFiles| {
            LabelledImages::load_limited(&split.images, &split.labels, num_classes, max_data_bytes)
        };
        let (train, test) = std::thread::scope(|scope| {
            let train = scope.spawn(|| load(&files.train));
            let test = load(&files.test);
            // Re-raise a panic of the other thread as is rather than inventing a new one.
            let train = train
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (train, test)
        });
        let (train, test) = (train?, test?);
        if (train.rows, train.cols) != (test.rows, test.cols) {
            return Err(Error::InvalidDataset(format!(
                "{} holds {}x{} images but {} holds {}x{} images",
                files.train.images.display(),
                train.rows,
                train.cols,
                files.test.images.display(),
                test.rows,
                test.cols
            )));
        }
        Ok(Self { files, train, test })
    }

    /// One of the two parts.
    pub fn split(&self, split: Split) -> &LabelledImages {
        match split {
            Split::Train => &self.train,
            Split::Test => &self.test,
        }
    }
}
