//! End to end: pictures the way users bring them (dark ink on light paper, large, off-centre, with margins,
//! noisy JPEG, transparent background) are read correctly by `digits predict` with a tutorial model trained
//! by `digits train` on the full MNIST training set (tests/fixtures/models/README.md says how).

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// The true digit of a fixture, from the first word of its name (`seven_offcentre.png` → 7).
fn label_of(path: &Path) -> usize {
    const NAMES: [&str; 10] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("a file name");
    let word = stem.split('_').next().expect("a word");
    NAMES
        .iter()
        .position(|n| *n == word)
        .unwrap_or_else(|| panic!("{} does not start with a digit's name", path.display()))
}

#[test]
fn pictures_of_digits_are_read_correctly() {
    let mut pictures: Vec<PathBuf> = std::fs::read_dir(fixtures().join("digits"))
        .expect("tests/fixtures/digits")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "png" || e == "jpg"))
        .collect();
    pictures.sort();
    assert!(
        pictures.len() >= 5,
        "expected the committed pictures, found {pictures:?}"
    );
    let output = Command::new(env!("CARGO_BIN_EXE_digits"))
        .args(["predict", "--device", "cpu", "--json", "--model"])
        .arg(fixtures().join("models/tutorial-mnist.safetensors"))
        .args(&pictures)
        .output()
        .expect("run digits");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let document: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let predictions = document["predictions"].as_array().expect("predictions");
    assert_eq!(predictions.len(), pictures.len());
    for (picture, prediction) in pictures.iter().zip(predictions) {
        assert_eq!(
            prediction["digit"].as_u64(),
            Some(label_of(picture) as u64),
            "{} misread: {prediction}",
            picture.display()
        );
        // Not a lucky guess: the model is confident.
        assert!(
            prediction["probability"].as_f64().is_some_and(|p| p > 0.8),
            "{prediction}"
        );
    }
}
