//! Every committed fuzz input (the seeds in `fuzz/seeds/TARGET`, and in `fuzz/regressions/TARGET` every input a
//! fuzzer once crashed on) through the same check the libFuzzer target runs, on every `cargo test`.

#[allow(dead_code)] // all four checks are used below; the attribute is for the fuzz targets' copy
#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

/// Runs `check` on every file of `fuzz/seeds/TARGET` and `fuzz/regressions/TARGET`; returns how many.
fn run_inputs(target: &str, check: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut count = 0;
    for kind in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(kind).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a readable folder").path();
            let bytes = std::fs::read(&path).expect("a readable input");
            let outcome = std::panic::catch_unwind(|| check(&bytes));
            assert!(outcome.is_ok(), "{} fails its check", path.display());
            count += 1;
        }
    }
    count
}

#[test]
fn idx_inputs() {
    assert!(run_inputs("idx", checks::idx) >= 5);
}

#[test]
fn model_file_inputs() {
    assert!(run_inputs("model_file", checks::model_file) >= 1);
}

#[test]
fn model_description_inputs() {
    assert!(run_inputs("model_description", checks::model_description) >= 3);
}

#[test]
fn picture_inputs() {
    assert!(run_inputs("picture", checks::picture) >= 3);
}
