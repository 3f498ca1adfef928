//! Datasets: loading the committed MNIST sample, consistency checks, validation split, shuffling
//! and batching.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use digits_idx::{
    Compression, Dataset, DatasetFiles, Error, IdxArray, IdxData, LabelledImages, LastBatch, Split,
    batches, permutation,
};

fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/mnist-sample")
}

fn write_u8(path: &Path, dims: Vec<usize>, data: Vec<u8>) {
    IdxArray::new(dims, IdxData::U8(data))
        .expect("valid shape")
        .write_file(path, Compression::None)
        .expect("write");
}

/// A folder with `n` train and `n` test images of 2×3 pixels, labels `i % 10`.
fn tiny_folder(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for split in Split::ALL {
        let pixels = (0..n * 6).map(|i| i as u8).collect();
        write_u8(&dir.path().join(split.images_file()), vec![n, 2, 3], pixels);
        let labels = (0..n).map(|i| (i % 10) as u8).collect();
        write_u8(&dir.path().join(split.labels_file()), vec![n], labels);
    }
    dir
}

#[test]
fn loads_the_committed_mnist_sample() {
    let data = Dataset::load(sample_dir()).expect("sample loads");
    assert_eq!((data.train.len(), data.test.len()), (500, 200));
    for part in [&data.train, &data.test] {
        assert_eq!((part.rows(), part.cols(), part.image_size()), (28, 28, 784));
        assert_eq!(part.num_classes(), 10);
        assert_eq!(part.pixels().len(), part.len() * 784);
    }
    assert_eq!(&data.train.labels()[..8], [5, 0, 4, 1, 9, 2, 1, 3]);
    assert_eq!(&data.test.labels()[..8], [7, 2, 1, 0, 4, 1, 4, 9]);
    assert_eq!(
        data.train.class_counts(),
        [50, 66, 52, 50, 52, 39, 45, 52, 39, 55]
    );
    assert_eq!(
        data.test.class_counts(),
        [17, 28, 16, 16, 28, 20, 20, 24, 10, 21]
    );
    // The first training image (a 5) has ink in its middle rows and a blank first row.
    let first = data.train.image(0).expect("image 0");
    assert!(first[..28].iter().all(|&p| p == 0));
    assert!(first.iter().filter(|&&p| p > 128).count() > 50);
    assert!(data.train.image(500).is_none());
    assert_eq!(data.split(Split::Test).len(), 200);
    assert!(
        data.files
            .train
            .images
            .ends_with("train-images-idx3-ubyte.gz")
    );
}

#[test]
fn sample_labels_above_num_classes_are_refused() {
    let err = Dataset::load_limited(sample_dir(), 5, digits_idx::DEFAULT_MAX_DATA_BYTES)
        .expect_err("labels up to 9");
    assert!(
        matches!(
            err,
            Error::LabelOutOfRange {
                label: 5,
                index: 0,
                num_classes: 5,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("train-labels-idx1-ubyte.gz"),
        "{err}"
    );
}

#[test]
fn plain_files_are_preferred_and_gz_found() {
    let dir = tiny_folder(4);
    let files = DatasetFiles::locate(dir.path()).expect("all four present");
    assert_eq!(
        files.train.images,
        dir.path().join("train-images-idx3-ubyte")
    );
    let gz = dir.path().join("t10k-labels-idx1-ubyte.gz");
    std::fs::rename(&files.test.labels, &gz).expect("rename");
    assert_eq!(
        DatasetFiles::locate(dir.path()).expect("found").test.labels,
        gz
    );
}

#[test]
fn missing_file_is_named() {
    let dir = tiny_folder(4);
    std::fs::remove_file(dir.path().join("t10k-images-idx3-ubyte")).expect("remove");
    let err = Dataset::load(dir.path()).expect_err("missing file");
    assert!(
        matches!(
            err,
            Error::MissingFile {
                name: "t10k-images-idx3-ubyte",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("t10k-images-idx3-ubyte.gz"),
        "{err}"
    );
}

#[test]
fn differing_counts_are_refused() {
    let dir = tiny_folder(4);
    let labels = dir.path().join("train-labels-idx1-ubyte");
    write_u8(&labels, vec![3], vec![0, 1, 2]);
    let err = Dataset::load(dir.path()).expect_err("4 images, 3 labels");
    assert!(
        matches!(
            err,
            Error::CountMismatch {
                images: 4,
                labels: 3,
                ..
            }
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("train-images-idx3-ubyte") && message.contains("train-labels-idx1-ubyte")
    );
}

#[test]
fn label_outside_class_range_is_refused() {
    let dir = tiny_folder(4);
    write_u8(
        &dir.path().join("t10k-labels-idx1-ubyte"),
        vec![4],
        vec![0, 1, 10, 3],
    );
    let err = Dataset::load(dir.path()).expect_err("label 10");
    assert!(
        matches!(
            err,
            Error::LabelOutOfRange {
                index: 2,
                label: 10,
                num_classes: 10,
                ..
            }
        ),
        "{err}"
    );
    // With more classes the same folder is fine.
    assert_eq!(
        Dataset::load_limited(dir.path(), 11, digits_idx::DEFAULT_MAX_DATA_BYTES)
            .expect("11 classes")
            .test
            .class_counts()[10],
        1
    );
}

#[test]
fn wrong_element_type_or_rank_is_refused() {
    let dir = tiny_folder(4);
    let images = dir.path().join("train-images-idx3-ubyte");
    IdxArray::new(vec![4, 2, 3], IdxData::F32(vec![0.0; 24]))
        .expect("shape")
        .write_file(&images, Compression::None)
        .expect("write");
    let err = Dataset::load(dir.path()).expect_err("f32 images");
    assert!(matches!(err, Error::UnexpectedType { .. }), "{err}");

    write_u8(&images, vec![4, 6], vec![0; 24]);
    let err = Dataset::load(dir.path()).expect_err("2-d images");
    assert!(matches!(err, Error::UnexpectedShape { .. }), "{err}");

    write_u8(&images, vec![4, 2, 3], vec![0; 24]);
    write_u8(
        &dir.path().join("train-labels-idx1-ubyte"),
        vec![4, 1],
        vec![0; 4],
    );
    let err = Dataset::load(dir.path()).expect_err("2-d labels");
    assert!(matches!(err, Error::UnexpectedShape { .. }), "{err}");
}

#[test]
fn train_and_test_image_sizes_must_agree() {
    let dir = tiny_folder(4);
    write_u8(
        &dir.path().join("t10k-images-idx3-ubyte"),
        vec![4, 3, 2],
        vec![0; 24],
    );
    let err = Dataset::load(dir.path()).expect_err("2x3 vs 3x2");
    assert!(matches!(err, Error::InvalidDataset(_)), "{err}");
}

#[test]
fn new_checks_sizes_and_labels() {
    assert!(LabelledImages::new(vec![0; 12], vec![0, 1], 2, 3, 10).is_ok());
    assert!(LabelledImages::new(vec![0; 11], vec![0, 1], 2, 3, 10).is_err());
    assert!(LabelledImages::new(vec![], vec![], 0, 3, 10).is_err());
    assert!(LabelledImages::new(vec![0; 12], vec![0, 2], 2, 3, 2).is_err());
}

fn numbered(n: usize) -> LabelledImages {
    // Image i has all pixels equal to i, so order is visible.
    let pixels = (0..n).flat_map(|i| [i as u8; 4]).collect();
    LabelledImages::new(pixels, (0..n).map(|i| (i % 10) as u8).collect(), 2, 2, 10).expect("valid")
}

#[test]
fn validation_split_takes_the_end_like_keras() {
    // Expected training sizes from Python: int(n * (1 - validation_split)).
    for (n, fraction, train_len) in [
        (60_000, 0.1, 54_000),
        (500, 0.1, 450),
        (100, 0.29, 71),
        (7, 0.5, 3),
        (20, 0.8, 3), // 3.999..., not 4
        (15, 0.8, 2),
        (1000, 0.001, 999),
        (49, 0.2, 39),
    ] {
        let (train, validation) = numbered(n).split_validation(fraction).expect("valid split");
        assert_eq!(train.len(), train_len, "n={n} fraction={fraction}");
        assert_eq!(validation.len(), n - train_len);
        assert_eq!(
            train.image(train_len - 1).map(|p| p[0]),
            Some((train_len - 1) as u8)
        );
        assert_eq!(validation.image(0).map(|p| p[0]), Some(train_len as u8));
        assert_eq!(validation.pixels().len(), validation.len() * 4);
    }
    let (train, validation) = numbered(10).split_validation(0.0).expect("no split");
    assert_eq!((train.len(), validation.len()), (10, 0));
    assert!(validation.is_empty());
}

#[test]
fn invalid_validation_splits_are_refused() {
    for fraction in [-0.1, 1.0, 1.5, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            numbered(10).split_validation(fraction),
            Err(Error::InvalidSplit { .. })
        ));
    }
    // Keras refuses a split leaving a part empty: int(10 * 0.1...) = 0 training samples.
    assert!(numbered(10).split_validation(0.9).is_err());
    assert!(numbered(1).split_validation(0.5).is_err());
}

#[test]
fn subset_gathers_in_order() {
    let set = numbered(5);
    let picked = set.subset(&[4, 0, 4]).expect("in range");
    assert_eq!(picked.pixels(), [4, 4, 4, 4, 0, 0, 0, 0, 4, 4, 4, 4]);
    assert_eq!(picked.labels(), [4, 0, 4]);
    assert!(set.subset(&[5]).is_none());
}

#[test]
fn shuffled_batches_cover_every_sample_once() {
    let order = permutation(1003, 7);
    let size = NonZeroUsize::new(100).expect("non-zero");
    let kept: Vec<&[usize]> = batches(&order, size, LastBatch::Keep).collect();
    assert_eq!(kept.len(), 11);
    assert_eq!(batches(&order, size, LastBatch::Keep).len(), 11);
    assert_eq!(kept.last().map(|b| b.len()), Some(3));
    let mut seen: Vec<usize> = kept.concat();
    seen.sort_unstable();
    assert_eq!(seen, (0..1003).collect::<Vec<_>>());

    let dropped: Vec<&[usize]> = batches(&order, size, LastBatch::Drop).collect();
    assert_eq!(dropped.len(), 10);
    assert_eq!(batches(&order, size, LastBatch::Drop).len(), 10);
    assert!(dropped.iter().all(|b| b.len() == 100));

    let exact = permutation(200, 1);
    assert_eq!(batches(&exact, size, LastBatch::Drop).count(), 2);
    assert_eq!(batches(&exact, size, LastBatch::Keep).count(), 2);
    assert_eq!(batches(&[], size, LastBatch::Keep).count(), 0);
}

#[test]
fn shuffle_is_roughly_uniform() {
    // All 6 orders of 3 items should appear about equally often over many seeds.
    let mut counts = std::collections::HashMap::new();
    for seed in 0..60_000 {
        *counts.entry(permutation(3, seed)).or_insert(0u32) += 1;
    }
    assert_eq!(counts.len(), 6);
    assert!(
        counts.values().all(|&c| (9_400..10_600).contains(&c)),
        "{counts:?}"
    );
}
