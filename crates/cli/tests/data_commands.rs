//! `digits info`, `show` and `download` run as a user would, on the committed MNIST sample.

use sha2::{Digest, Sha256};

mod common;

use common::{digits, run, sample_dir, scratch};

#[test]
fn info_reports_counts_shapes_histogram_and_checksums() {
    let cache = scratch("info");
    let (output, stdout, stderr) = run(digits(&cache).arg("info").arg("--data").arg(sample_dir()));
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("train: 500 images of 28x28, 10 classes"),
        "{stdout}"
    );
    assert!(
        stdout.contains("test: 200 images of 28x28, 10 classes"),
        "{stdout}"
    );
    // First histogram rows: 50 zeros and 66 ones in the training sample.
    assert!(stdout.contains("      0      50  10.00%"), "{stdout}");
    assert!(stdout.contains("      1      66  13.20%"), "{stdout}");
    let labels = sample_dir().join("train-labels-idx1-ubyte.gz");
    let digest = format!(
        "{:x}",
        Sha256::digest(std::fs::read(&labels).expect("fixture"))
    );
    assert!(stdout.contains(&digest), "{stdout}");
    assert!(stdout.contains("train-labels-idx1-ubyte.gz"), "{stdout}");
}

#[test]
fn info_uses_digits_data_from_the_environment() {
    let cache = scratch("env");
    let (output, stdout, stderr) = run(digits(&cache).arg("info").env("DIGITS_DATA", sample_dir()));
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("(from DIGITS_DATA)"), "{stdout}");
}

#[test]
fn show_writes_a_png_grid_of_the_expected_size() {
    let dir = scratch("show");
    let out = dir.join("grid.png");
    let (output, _, stderr) = run(digits(&dir)
        .args(["show", "--data"])
        .arg(sample_dir())
        .arg("--out")
        .arg(&out));
    assert!(output.status.success(), "{stderr}");
    let grid = image::open(&out).expect("a readable PNG").to_rgb8();
    // 5 × 5 cells of 84 × (84 + 5 + 21) pixels, with 8 pixels around and between them.
    assert_eq!(grid.dimensions(), (8 + 5 * (84 + 8), 8 + 5 * (110 + 8)));
    // The first image (a 5) has white ink; its label under it is drawn in black.
    let image_area = (8..92).flat_map(|y| (8..92).map(move |x| (x, y)));
    assert!(
        image_area
            .clone()
            .any(|(x, y)| grid.get_pixel(x, y).0 == [255; 3])
    );
    let label_area = (97..118).flat_map(|y| (8..92).map(move |x| (x, y)));
    assert!(
        label_area
            .clone()
            .any(|(x, y)| grid.get_pixel(x, y).0 == [0; 3])
    );

    let smaller = dir.join("ten.png");
    let (output, stdout, stderr) = run(digits(&dir)
        .args(["show", "--split", "test", "--count", "10", "--data"])
        .arg(sample_dir())
        .arg("--out")
        .arg(&smaller));
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("wrote 10 test images"), "{stdout}");
    assert_eq!(
        image::open(&smaller).expect("PNG").to_rgb8().dimensions(),
        (8 + 4 * 92, 8 + 3 * 118)
    );
}

#[test]
fn bad_data_folder_is_a_clear_error() {
    let dir = scratch("bad-data");
    let missing = dir.join("no-such-folder");
    let (output, stdout, stderr) = run(digits(&dir).arg("info").arg("--data").arg(&missing));
    assert!(!output.status.success());
    assert!(stdout.is_empty(), "{stdout}");
    for needle in [
        missing.display().to_string().as_str(),
        "no such folder",
        "digits download",
        "DIGITS_DATA",
    ] {
        assert!(stderr.contains(needle), "{needle:?} missing from: {stderr}");
    }
    // A folder that exists but lacks a file names the file.
    let (output, _, stderr) = run(digits(&dir)
        .args(["show", "--out", "x.png", "--data"])
        .arg(&dir));
    assert!(!output.status.success());
    assert!(stderr.contains("train-images-idx3-ubyte"), "{stderr}");
}

#[test]
fn without_data_the_copy_shipped_in_the_checkout_is_used() {
    // An empty cache and no DIGITS_DATA: a fresh machine. The checkout's data/mnist is found, nothing is
    // downloaded (the mirrors point at a port where nothing listens).
    let cache = scratch("no-data");
    let (output, stdout, stderr) = run(digits(&cache)
        .arg("info")
        .env("DIGITS_MIRRORS", "http://127.0.0.1:9/"));
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("(from the copy shipped with digits)")
            && stdout.contains("train: 60000 images of 28x28")
            && stdout.contains("test: 10000 images of 28x28"),
        "{stdout}"
    );
    assert!(!cache.join("digits").exists(), "nothing is downloaded");
}

#[test]
fn corrupt_file_is_named_in_the_error() {
    let dir = scratch("corrupt");
    for entry in std::fs::read_dir(sample_dir()).expect("fixtures") {
        let path = entry.expect("entry").path();
        if let Some(name) = path.file_name() {
            std::fs::copy(&path, dir.join(name)).expect("copy fixture");
        }
    }
    let broken = dir.join("t10k-labels-idx1-ubyte.gz");
    std::fs::write(&broken, [0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad]).expect("break file");
    let (output, _, stderr) = run(digits(&dir).arg("info").arg("--data").arg(&dir));
    assert!(!output.status.success());
    assert!(
        stderr.contains(&broken.display().to_string()) && stderr.contains("gzip"),
        "{stderr}"
    );
}

#[test]
fn download_into_an_unusable_folder_fails_cleanly() {
    let dir = scratch("download");
    let file = dir.join("a-file");
    std::fs::write(&file, b"not a folder").expect("write");
    let (output, _, stderr) = run(digits(&dir)
        .args(["download", "--dir"])
        .arg(file.join("sub")));
    assert!(!output.status.success());
    assert!(
        stderr.contains("cannot download mnist") && stderr.contains("a-file"),
        "{stderr}"
    );
}

#[test]
fn download_lists_the_known_datasets() {
    let dir = scratch("download-help");
    let (output, stdout, _) = run(digits(&dir).args(["download", "--help"]));
    assert!(output.status.success());
    assert!(
        stdout.contains("mnist") && stdout.contains("fashion-mnist"),
        "{stdout}"
    );
    let (output, _, stderr) = run(digits(&dir).args(["download", "--dataset", "cifar"]));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
}
