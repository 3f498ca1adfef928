//! `digits train`, `eval`, `predict` and `bench train` run as a user would, on the committed MNIST sample
//! (500 training and 200 test images): one short epoch each, on the CPU backend and on the GPU.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::{digits, repo_root, run, sample_dir, scratch};

fn fixture_pictures() -> PathBuf {
    repo_root().join("tests/fixtures/digits")
}

/// Whether a GPU adapter is usable; without one, prints a visible skip, or fails when DIGITS_REQUIRE_GPU=1.
fn gpu_available(test: &str) -> bool {
    match digits_tensor::Gpu::default_adapter() {
        Ok(_) => true,
        Err(e) if std::env::var("DIGITS_REQUIRE_GPU").is_ok_and(|v| v == "1") => {
            panic!("DIGITS_REQUIRE_GPU=1 but no GPU adapter is usable: {e}")
        }
        Err(e) => {
            eprintln!(
                "SKIPPED {test}: no GPU adapter ({e}); install mesa-vulkan-drivers for lavapipe"
            );
            false
        }
    }
}

fn assert_png(path: &Path) {
    let image = image::open(path)
        .unwrap_or_else(|e| panic!("{} is not a readable PNG: {e}", path.display()));
    assert!(
        image.width() > 100 && image.height() > 100,
        "{} is {}x{}",
        path.display(),
        image.width(),
        image.height()
    );
}

/// Checks what one training run leaves in its folder after `epochs` epochs.
fn assert_run_folder(out: &Path, epochs: usize, validation: bool) {
    assert!(
        out.join("model.safetensors").is_file(),
        "no model in {}",
        out.display()
    );
    for epoch in 1..=epochs {
        let checkpoint = out.join(format!("checkpoints/epoch-{epoch:03}.safetensors"));
        assert!(checkpoint.is_file(), "missing {}", checkpoint.display());
    }
    let csv = std::fs::read_to_string(out.join("history.csv")).expect("history.csv");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,samples_per_second")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), epochs, "{csv}");
    for (index, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), 8, "{csv}");
        assert_eq!(row[0], (index + 1).to_string());
        let loss: f32 = row[1].parse().expect("loss");
        let accuracy: f32 = row[2].parse().expect("accuracy");
        assert!(loss.is_finite() && loss > 0.0, "{csv}");
        assert!((0.0..=1.0).contains(&accuracy), "{csv}");
        assert_eq!(!row[3].is_empty(), validation, "{csv}");
    }
    assert_png(&out.join("history.png"));
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("summary.json")).expect("summary.json"),
    )
    .expect("JSON");
    assert_eq!(summary["test_samples"], 200);
}

/// Train one epoch, resume for a second, evaluate, and predict, all on the CPU backend.
#[test]
fn cpu_train_resume_eval_predict() {
    let dir = scratch("cpu");
    let out = dir.join("run");
    let (output, stdout, stderr) = run(digits(&dir)
        .args([
            "train", "--device", "cpu", "--epochs", "1", "--seed", "7", "--out",
        ])
        .arg(&out)
        .arg("--data")
        .arg(sample_dir()));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    // 500 samples, 20% held out: 400 training, 100 validation.
    assert!(
        stdout.contains("400 training, 100 validation, 200 test samples"),
        "{stdout}"
    );
    assert!(stdout.contains("Epoch 1/1 - "), "{stdout}");
    assert!(
        stdout.contains(" - val_loss: ") && stdout.contains(" - lr: 1.0e-03"),
        "{stdout}"
    );
    assert!(stdout.contains("test: loss: "), "{stdout}");
    assert_run_folder(&out, 1, true);

    // A second run into the same folder is refused, not overwritten.
    let (output, _, stderr) = run(digits(&dir)
        .args(["train", "--device", "cpu", "--epochs", "1", "--out"])
        .arg(&out)
        .arg("--data")
        .arg(sample_dir()));
    assert!(!output.status.success());
    assert!(
        stderr.contains("already holds a run") && stderr.contains("--resume"),
        "{stderr}"
    );

    // Resume to a total of two epochs.
    let (output, stdout, stderr) = run(digits(&dir)
        .args([
            "train", "--device", "cpu", "--resume", "--epochs", "2", "--out",
        ])
        .arg(&out)
        .arg("--data")
        .arg(sample_dir()));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("resuming") && stdout.contains("after epoch 1"),
        "{stdout}"
    );
    assert!(stdout.contains("Epoch 2/2 - "), "{stdout}");
    assert!(
        !stdout.contains("Epoch 1/2"),
        "epoch 1 was trained again: {stdout}"
    );
    assert_run_folder(&out, 2, true);

    // Evaluate: text report and pictures next to the model.
    let model = out.join("model.safetensors");
    let (output, stdout, stderr) = run(digits(&dir)
        .args(["eval", "--device", "cpu", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(sample_dir()));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("test: 200 samples - loss: "), "{stdout}");
    assert!(
        stdout.contains("per class:") && stdout.contains("confusion matrix"),
        "{stdout}"
    );
    assert_png(&out.join("confusion.png"));
    assert!(out.join("misclassified.png").is_file());

    // An ensemble of the model and its first checkpoint, each on three shifted copies of every image.
    let (output, stdout, stderr) = run(digits(&dir)
        .args(["eval", "--device", "cpu", "--tta", "3", "--model"])
        .arg(&model)
        .arg("--model")
        .arg(out.join("checkpoints/epoch-001.safetensors"))
        .arg("--data")
        .arg(sample_dir()));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        stdout.matches("alone with 3 copies: loss").count(),
        2,
        "{stdout}"
    );
    assert!(stdout.contains("test: 200 samples - loss: "), "{stdout}");

    // Predict pictures and a test image, as JSON.
    let (output, stdout, stderr) = run(digits(&dir)
        .args(["predict", "--json", "--test-index", "0", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(sample_dir())
        .arg(fixture_pictures().join("seven_offcentre.png"))
        .arg(fixture_pictures().join("three_noisy.jpg")));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let document: serde_json::Value =
        serde_json::from_str(&stdout).expect("predict --json prints JSON");
    let predictions = document["predictions"]
        .as_array()
        .expect("a predictions array");
    assert_eq!(predictions.len(), 3);
    for prediction in predictions {
        let probabilities: Vec<f64> = prediction["probabilities"]
            .as_array()
            .expect("probabilities")
            .iter()
            .map(|p| p.as_f64().expect("a number"))
            .collect();
        assert_eq!(probabilities.len(), 10);
        assert!(
            (probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-4,
            "{prediction}"
        );
        let top = prediction["top"].as_array().expect("top");
        assert_eq!(top.len(), 3);
        assert_eq!(prediction["digit"], top[0]["digit"]);
    }
    assert_eq!(predictions[2]["source"], "test[0]");
    assert_eq!(predictions[2]["label"], 7);
}

#[test]
fn gpu_train_one_epoch() {
    if !gpu_available("gpu_train_one_epoch") {
        return;
    }
    let dir = scratch("gpu");
    let out = dir.join("run");
    let (output, stdout, stderr) = run(digits(&dir)
        .args(["train", "--device", "gpu", "--epochs", "1", "--out"])
        .arg(&out)
        .arg("--data")
        .arg(sample_dir()));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(!stdout.contains("device: cpu"), "ran on the CPU: {stdout}");
    assert!(
        stdout.contains("Epoch 1/1 - ") && stdout.contains("test: loss: "),
        "{stdout}"
    );
    assert_run_folder(&out, 1, true);

    let (output, stdout, stderr) = run(digits(&dir)
        .args(["eval", "--device", "gpu", "--model"])
        .arg(out.join("model.safetensors"))
        .arg("--data")
        .arg(sample_dir())
        .arg("--out")
        .arg(dir.join("eval")));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_png(&dir.join("eval/confusion.png"));
}

#[test]
fn train_without_validation_and_dry_run() {
    let dir = scratch("dry");
    let (output, stdout, stderr) = run(digits(&dir)
        .args([
            "train",
            "--device",
            "cpu",
            "--model",
            "mlp",
            "--dry-run",
            "--data",
        ])
        .arg(sample_dir()));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("dry run: ") && stdout.contains("nothing written"),
        "{stdout}"
    );
    assert!(!dir.join("runs").exists(), "a dry run wrote files");

    let out = dir.join("noval");
    let (output, stdout, stderr) = run(digits(&dir)
        .args([
            "train",
            "--device",
            "cpu",
            "--model",
            "mlp",
            "--epochs",
            "1",
            "--validation-split",
            "0",
        ])
        .args(["--optimizer", "sgd", "--lr", "0.05", "--out"])
        .arg(&out)
        .arg("--data")
        .arg(sample_dir()));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("500 training, 0 validation"), "{stdout}");
    assert!(!stdout.contains("val_loss"), "{stdout}");
    assert_run_folder(&out, 1, false);
}

/// A preset with a recipe trains by it with no other flag; flags given replace its settings one by one.
#[test]
fn the_fast_recipe_brings_its_settings_and_flags_override_them() {
    let dir = scratch("recipe");
    let out = dir.join("fast");
    let (output, stdout, stderr) = run(digits(&dir)
        .args(["train", "--device", "cpu", "--model", "fast", "--out"])
        .arg(&out)
        .arg("--data")
        .arg(sample_dir()));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("recipe: the one-epoch speed recipe"),
        "{stdout}"
    );
    assert!(stdout.contains("500 training, 0 validation"), "{stdout}");
    assert!(
        stdout.contains(
            "training: 1 epochs, batch 256, Adam lr 1.0e-02 β 0.7/0.9, one-cycle schedule, label smoothing 0.1"
        ),
        "{stdout}"
    );
    assert_run_folder(&out, 1, false);
    // The last step of a one-cycle run is at lr / 25 / 1e4.
    let csv = std::fs::read_to_string(out.join("history.csv")).unwrap();
    let lr: f64 = csv
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(5)
        .unwrap()
        .parse()
        .unwrap();
    assert!((lr - 4e-8).abs() < 1e-12, "{csv}");

    let (output, stdout, stderr) = run(digits(&dir)
        .args(["train", "--device", "cpu", "--model", "fast", "--dry-run"])
        .args(["--batch", "100", "--schedule", "constant", "--beta1", "0.9"])
        .args(["--label-smoothing", "0"])
        .arg("--data")
        .arg(sample_dir()));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("training: 1 epochs, batch 100, Adam lr 1.0e-02 β 0.9/0.9, seed"),
        "{stdout}"
    );

    let (output, stdout, stderr) = run(digits(&dir)
        .args(["train", "--device", "cpu", "--model", "mlp", "--dry-run"])
        .args(["--optimizer", "adamw", "--weight-decay", "0.01"])
        .arg("--data")
        .arg(sample_dir()));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("AdamW lr 1.0e-03 weight decay 0.01"),
        "{stdout}"
    );
    let (output, _, stderr) = run(digits(&dir)
        .args(["train", "--device", "cpu", "--model", "mlp", "--dry-run"])
        .args(["--weight-decay", "0.01"])
        .arg("--data")
        .arg(sample_dir()));
    assert!(!output.status.success());
    assert!(stderr.contains("--optimizer adamw"), "{stderr}");
}

/// `--ensemble K` trains K seeds into member folders and evaluates their average; a second run into the same
/// folder is refused.
#[test]
fn an_ensemble_trains_its_members_and_evaluates_them_together() {
    let dir = scratch("ensemble");
    let out = dir.join("ens");
    let train = || {
        let mut command = digits(&dir);
        command
            .args([
                "train", "--device", "cpu", "--model", "mlp", "--epochs", "1",
            ])
            .args(["--ensemble", "2", "--out"])
            .arg(&out)
            .arg("--data")
            .arg(sample_dir());
        command
    };
    let (output, stdout, stderr) = run(&mut train());
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("ensemble member 2 of 2 (seed 43)"),
        "{stdout}"
    );
    assert!(stdout.contains("ensemble of 2: test loss: "), "{stdout}");
    for member in ["member-1", "member-2"] {
        assert_run_folder(&out.join(member), 1, true);
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("ensemble.json")).unwrap()).unwrap();
    assert_eq!(summary["member_test_accuracy"].as_array().unwrap().len(), 2);
    assert_eq!(summary["test_samples"], 200);

    let (output, _, stderr) = run(&mut train());
    assert!(!output.status.success());
    assert!(stderr.contains("already holds a run"), "{stderr}");
}

#[test]
fn bench_train_reports_json() {
    let dir = scratch("bench");
    let (output, stdout, stderr) = run(digits(&dir)
        .args([
            "bench", "train", "--device", "cpu", "--model", "mlp", "--steps", "3", "--warmup", "1",
        ])
        .args([
            "--inference-runs",
            "1",
            "--latency-runs",
            "3",
            "--json",
            "--data",
        ])
        .arg(sample_dir()));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&stdout).expect("bench train --json prints JSON");
    for key in [
        "first_step_s",
        "train_samples_per_s",
        "inference_samples_per_s",
        "latency_ms",
    ] {
        let value = report[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing: {report}"));
        assert!(value.is_finite() && value > 0.0, "{key}: {report}");
    }
    assert_eq!(report["inference_samples"], 200);
}

#[test]
fn bad_inputs_give_clear_errors() {
    let dir = scratch("errors");
    let check = |command: &mut Command, expected: &[&str]| {
        let (output, stdout, stderr) = run(command);
        assert!(!output.status.success(), "succeeded: {stdout}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        for text in expected {
            assert!(stderr.contains(text), "expected {text:?} in: {stderr}");
        }
    };

    let missing = dir.join("nothing.safetensors");
    check(
        digits(&dir)
            .args(["eval", "--device", "cpu", "--data"])
            .arg(sample_dir())
            .arg("--model")
            .arg(&missing),
        &["cannot read the model file", "nothing.safetensors"],
    );
    let corrupt = dir.join("corrupt.safetensors");
    std::fs::write(&corrupt, b"this is not a safetensors file at all").expect("write");
    check(
        digits(&dir)
            .args(["predict", "--test-index", "0", "--data"])
            .arg(sample_dir())
            .arg("--model")
            .arg(&corrupt),
        &["cannot load the model", "corrupt.safetensors"],
    );
    // The picture is checked before the model is read, so any model path will do.
    check(
        digits(&dir)
            .args(["predict", "--model"])
            .arg(&corrupt)
            .arg(dir.join("no-such-picture.png")),
        &["cannot read", "no-such-picture.png"],
    );
    let not_a_picture = dir.join("notes.png");
    std::fs::write(&not_a_picture, b"plain text").expect("write");
    check(
        digits(&dir)
            .args(["predict", "--model"])
            .arg(&corrupt)
            .arg(&not_a_picture),
        &["notes.png"],
    );
    let blank = dir.join("blank.png");
    image::GrayImage::from_pixel(64, 64, image::Luma([230]))
        .save(&blank)
        .expect("write");
    check(
        digits(&dir)
            .args(["predict", "--model"])
            .arg(&corrupt)
            .arg(&blank),
        &["cannot find a digit in", "blank.png", "nearly uniform"],
    );
    check(
        digits(&dir)
            .args(["train", "--device", "cpu", "--resume", "--out"])
            .arg(dir.join("empty"))
            .arg("--data")
            .arg(sample_dir()),
        &["cannot resume", "not a training run folder"],
    );
    check(
        digits(&dir)
            .args([
                "train",
                "--device",
                "cpu",
                "--model",
                "no-such-model",
                "--out",
            ])
            .arg(dir.join("x"))
            .arg("--data")
            .arg(sample_dir()),
        &["unknown model", "no-such-model"],
    );
    check(
        digits(&dir)
            .args(["train", "--device", "cpu", "--data"])
            .arg(dir.join("no-data-here")),
        &["cannot find the dataset"],
    );
    check(
        digits(&dir)
            .args(["train", "--validation-split", "1.5", "--data"])
            .arg(sample_dir()),
        &["--validation-split"],
    );
}

#[test]
fn distill_trains_a_student_from_a_teacher_and_refuses_what_it_cannot_do() {
    let dir = scratch("distill");
    let (teacher, _) = common::train_on_sample(&dir, "tutorial");
    let teacher = teacher.join("model.safetensors");
    let out = dir.join("student");
    let (output, stdout, stderr) = run(digits(&dir)
        .args([
            "distill",
            "--student",
            "mlp",
            "--device",
            "cpu",
            "--epochs",
            "1",
            "--temperature",
            "3",
        ])
        .arg("--teacher")
        .arg(&teacher)
        .arg("--data")
        .arg(sample_dir())
        .arg("--out")
        .arg(&out));
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("distilling") && stdout.contains("temperature 3"),
        "{stdout}"
    );
    assert_run_folder(&out, 1, true);

    // A distilled run does not resume (the teacher is not in the checkpoint).
    let (output, _, stderr) = run(digits(&dir)
        .args(["train", "--resume", "--epochs", "2", "--out"])
        .arg(&out));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("distilled run"), "{stderr}");

    // Without --teacher, a missing teacher, a bad alpha: clear errors naming the problem.
    let (output, _, stderr) = run(digits(&dir).args(["distill", "--student", "mlp"]));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("--teacher"), "{stderr}");
    let (output, _, stderr) = run(digits(&dir)
        .args([
            "distill",
            "--student",
            "mlp",
            "--device",
            "cpu",
            "--epochs",
            "1",
            "--teacher",
            "nowhere.safetensors",
            "--data",
        ])
        .arg(sample_dir())
        .arg("--out")
        .arg(dir.join("none")));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("nowhere.safetensors"), "{stderr}");
    let (output, _, stderr) = run(digits(&dir)
        .args(["distill", "--student", "mlp", "--alpha", "1.5", "--teacher"])
        .arg(&teacher));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("--alpha"), "{stderr}");
}

#[test]
fn prune_zeroes_the_asked_share_and_reports_sizes() {
    let dir = scratch("prune");
    let (run_dir, _) = common::train_on_sample(&dir, "tutorial");
    let model = run_dir.join("model.safetensors");
    let pruned = dir.join("pruned.safetensors");
    let (output, stdout, stderr) = run(digits(&dir)
        .args([
            "prune",
            "--sparsity",
            "0.75",
            "--epochs",
            "1",
            "--frequency",
            "2",
            "--device",
            "cpu",
            "--model",
        ])
        .arg(&model)
        .arg("--data")
        .arg(sample_dir())
        .arg("--out")
        .arg(&pruned));
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("pruned tensors: 75.0% zero"), "{stdout}");
    assert!(
        stdout.contains("gzip-compressed") && stdout.contains("test accuracy"),
        "{stdout}"
    );
    // The zeros are in the file: digits eval reads it, and gzip shrinks it.
    let (output, _, stderr) = run(digits(&dir)
        .args(["eval", "--device", "cpu", "--model"])
        .arg(&pruned)
        .arg("--data")
        .arg(sample_dir()));
    assert!(output.status.success(), "{stderr}");

    let (output, _, stderr) = run(digits(&dir)
        .args([
            "prune",
            "--sparsity",
            "1",
            "--out",
            "x.safetensors",
            "--model",
        ])
        .arg(&model));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("--sparsity"), "{stderr}");
}
