//! ONNX Runtime runs what `digits export` writes: `scripts/onnx_check.py` validates each file with the ONNX
//! checker, runs it with ONNX Runtime on the 10,000 test images of the repository's MNIST copy and compares
//! with `digits predict`: the same digit for every image, logits within 1e-4.
//!
//! Needs a Python with onnx, onnxruntime and numpy (`scripts/requirements.txt`), found as the PyTorch test
//! finds it (`DIGITS_TORCH_PYTHON`, `DIGITS_REQUIRE_TORCH=1` in CI).

use std::process::Command;

mod common;

use common::{digits, peer_python, repo_root, run, scratch, train_on_sample};

#[test]
fn onnx_runtime_computes_what_digits_computes_on_every_test_image() {
    let Some(python) = peer_python("onnx, onnxruntime, numpy") else {
        return;
    };
    let dir = scratch("onnx-runtime");
    // A chain with dropout (`tutorial`), a dense-only network (`mlp`), batch norm and residual adds
    // (`resnet`), concatenated branches and padded pooling (`inception`).
    for preset in ["tutorial", "mlp", "resnet", "inception"] {
        let (out, _) = train_on_sample(&dir, preset);
        let model = out.join("model.safetensors");
        let onnx = out.join("model.onnx");
        let (output, stdout, stderr) = run(digits(&dir)
            .args(["export", "--format", "onnx", "--model"])
            .arg(&model)
            .arg("--out")
            .arg(&onnx));
        assert!(output.status.success(), "{preset}: {stderr}");
        assert!(stdout.contains("ONNX opset 13"), "{stdout}");

        let check = Command::new(&python)
            .arg(repo_root().join("scripts/onnx_check.py"))
            .arg(&onnx)
            .arg("--model")
            .arg(&model)
            .arg("--digits")
            .arg(env!("CARGO_BIN_EXE_digits"))
            .arg("--data")
            .arg(repo_root().join("data/mnist"))
            .output()
            .expect("run python");
        let text = String::from_utf8_lossy(&check.stdout);
        assert!(
            check.status.success(),
            "{preset}: {text}{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let report: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
        assert_eq!(report["images"], 10_000, "{text}");
        assert_eq!(report["predictions_differ"], 0, "{text}");
        assert!(
            report["max_abs_difference"].as_f64().unwrap() <= 1e-4,
            "{text}"
        );
    }
}

#[test]
fn export_refuses_what_is_not_a_model_naming_the_file() {
    let dir = scratch("onnx-bad");
    let bogus = dir.join("notes.safetensors");
    std::fs::write(&bogus, b"not a model").unwrap();
    let (output, _, stderr) = run(digits(&dir)
        .args(["export", "--model"])
        .arg(&bogus)
        .args(["--out", "out.onnx"]));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("notes.safetensors"), "{stderr}");
    assert!(!dir.join("out.onnx").exists());
}
