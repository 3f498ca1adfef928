//! PyTorch loads what `digits train` writes: `scripts/torch_check.py` rebuilds each preset from the file's
//! metadata as torch.nn modules, loads the tensors with `load_state_dict(strict=True)` and must get the
//! accuracy and the probabilities digits gets.
//!
//! Needs a Python with torch, numpy and safetensors (`scripts/requirements.txt`): `DIGITS_TORCH_PYTHON`,
//! else `python3`. Without one the test skips with a notice; `DIGITS_REQUIRE_TORCH=1` (set by CI) makes it
//! fail instead.

use std::process::Command;

mod common;

use common::{peer_python, repo_root, sample_dir, scratch, train_on_sample};

/// The `(k/n` of a line such as `PyTorch test accuracy: 14.0000% (28/200)`.
fn correct_count(text: &str, line_start: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.starts_with(line_start))
        .unwrap_or_else(|| panic!("no line starting `{line_start}` in:\n{text}"));
    let open = line.rfind('(').expect("a count in parentheses");
    line[open + 1..]
        .split([' ', ')'])
        .next()
        .expect("k/n")
        .to_string()
}

#[test]
fn pytorch_loads_every_preset_strictly_and_computes_the_same() {
    let Some(python) = peer_python("torch, numpy, safetensors") else {
        return;
    };
    let dir = scratch("pytorch");
    // The chain (`tutorial`: Sequential names), batch norm and residual adds (`resnet`), concatenated
    // branches and padded pooling (`inception`).
    for preset in ["tutorial", "resnet", "inception"] {
        let (out, printed) = train_on_sample(&dir, preset);
        let ours = correct_count(&printed, "test:");

        let check = Command::new(&python)
            .arg(repo_root().join("scripts/torch_check.py"))
            .arg(out.join("model.safetensors"))
            .arg("--data")
            .arg(sample_dir())
            .arg("--digits")
            .arg(env!("CARGO_BIN_EXE_digits"))
            .output()
            .expect("run python");
        let text = String::from_utf8_lossy(&check.stdout);
        assert!(
            check.status.success(),
            "{preset}: {text}{}",
            String::from_utf8_lossy(&check.stderr)
        );
        assert!(text.contains("load_state_dict(strict=True)"), "{text}");
        assert_eq!(
            correct_count(&text, "PyTorch test accuracy"),
            ours,
            "{preset}: {text}"
        );
    }
}
