//! Bad input gets a clear error naming what was wrong: never an abort, a hang or a silent wrong answer.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{digits, repo_root, run, sample_dir, scratch};

/// Fails unless the command exits non-zero (not by a signal: an abort is exit 134), printing `expected`.
fn assert_clear_error(command: &mut std::process::Command, expected: &[&str]) -> String {
    let (output, stdout, stderr) = run(command);
    assert_eq!(
        output.status.code(),
        Some(1),
        "not a clean error exit: {stdout}\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    for text in expected {
        assert!(stderr.contains(text), "expected {text:?} in: {stderr}");
    }
    stdout
}

fn dry_run(dir: &Path, model: &Path) -> std::process::Command {
    let mut command = digits(dir);
    command
        .args(["train", "--dry-run", "--device", "cpu", "--model"])
        .arg(model)
        .arg("--data")
        .arg(sample_dir());
    command
}

#[test]
fn huge_descriptions_are_refused_before_allocating() {
    let dir = scratch("huge-descriptions");
    let units = dir.join("units.toml");
    std::fs::write(
        &units,
        "input = [1, 28, 28]\nlayers = [{ type = \"flatten\" }, { type = \"dense\", units = 1000000000 }, \
         { type = \"dense\", units = 10 }]\n",
    )
    .expect("write");
    assert_clear_error(
        &mut dry_run(&dir, &units),
        &["units.toml", "layer 2 (dense(1000000000))", "per sample"],
    );
    let params = dir.join("params.toml");
    std::fs::write(
        &params,
        "input = [1, 28, 28]\nlayers = [{ type = \"flatten\" }, { type = \"dense\", units = 200000 }, \
         { type = \"dense\", units = 10 }]\n",
    )
    .expect("write");
    assert_clear_error(
        &mut dry_run(&dir, &params),
        &[
            "params.toml",
            "layer 2 (dense(200000))",
            "limit of 100000000 parameters",
        ],
    );

    let filters = dir.join("filters.json");
    std::fs::write(
        &filters,
        r#"{"input": [1, 28, 28], "layers": [{"type": "conv2d", "filters": 1000000000, "kernel": 3},
            {"type": "flatten"}, {"type": "dense", "units": 10}]}"#,
    )
    .expect("write");
    assert_clear_error(
        &mut dry_run(&dir, &filters),
        &[
            "filters.json",
            "layer 1 (conv2d(1000000000, 3x3))",
            "per sample",
        ],
    );

    let deep = dir.join("deep.toml");
    let mut text = String::from("input = [1, 28, 28]\nlayers = [\n");
    for _ in 0..100_000 {
        text.push_str("{ type = \"relu\" },\n");
    }
    text.push_str("{ type = \"flatten\" }, { type = \"dense\", units = 10 }]\n");
    std::fs::write(&deep, text).expect("write");
    assert_clear_error(
        &mut dry_run(&dir, &deep),
        &["deep.toml", "100002 layers", "limit of 1000"],
    );

    // A batch whose activations would not fit is refused, naming the batch (on the shipped MNIST: the
    // committed sample is smaller than the batch, which caps it).
    let mut big_batch = digits(&dir);
    big_batch.args(["train", "--dry-run", "--device", "cpu", "--batch", "65536"]);
    assert_clear_error(
        &mut big_batch,
        &[
            "a batch of 48000 samples",
            "limit of 8 GiB",
            "smaller batch",
        ],
    );
}

#[test]
fn a_model_file_claiming_a_huge_layer_is_refused_from_its_tensors() {
    let dir = scratch("huge-metadata");
    let model = repo_root().join("tests/fixtures/models/tutorial-mnist.safetensors");
    let bytes = std::fs::read(&model).expect("fixture");
    // The metadata is JSON in the header: claim another size for the first dense layer, keeping the tensors
    // (a size over the parameter limit is refused from the description alone).
    let header_len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header = String::from_utf8(bytes[8..8 + header_len].to_vec()).expect("UTF-8 header");
    let forged = header.replacen(r#"\"units\":128"#, r#"\"units\":1000"#, 1);
    assert_ne!(forged, header, "the fixture's header has no dense(128)");
    let mut out = (forged.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(forged.as_bytes());
    out.extend_from_slice(&bytes[8 + header_len..]);
    let forged_path = dir.join("forged.safetensors");
    std::fs::write(&forged_path, out).expect("write");
    let mut eval = digits(&dir);
    eval.args(["eval", "--device", "cpu", "--model"])
        .arg(&forged_path)
        .arg("--data")
        .arg(sample_dir());
    assert_clear_error(
        &mut eval,
        &[
            "forged.safetensors",
            "tensor `7.weight` is F32 [128, 1600]",
            "expected F32 [1000, 1600]",
        ],
    );
}

#[test]
fn non_finite_weights_are_refused_at_load() {
    let dir = scratch("non-finite");
    let model = repo_root().join("tests/fixtures/models/tutorial-mnist.safetensors");
    let mut bytes = std::fs::read(&model).expect("fixture");
    // The last four bytes are the last float of the last tensor: make it +inf.
    let end = bytes.len();
    bytes[end - 4..].copy_from_slice(&f32::INFINITY.to_le_bytes());
    let broken = dir.join("inf.safetensors");
    std::fs::write(&broken, &bytes).expect("write");
    let mut predict = digits(&dir);
    predict
        .args(["predict", "--test-index", "0", "--model"])
        .arg(&broken)
        .arg("--data")
        .arg(sample_dir());
    assert_clear_error(&mut predict, &["inf.safetensors", "inf", "not finite"]);
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_rather_than_read_forever() {
    let dir = scratch("fifo");
    let fifo = dir.join("pipe.png");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let model = repo_root().join("tests/fixtures/models/tutorial-mnist.safetensors");
    let mut child = digits(&dir)
        .args(["predict", "--model"])
        .arg(&model)
        .arg(&fifo)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("poll").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("digits predict hangs on a FIFO");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("pipe.png") && stderr.contains("not a regular file"),
        "{stderr}"
    );
}

#[test]
fn one_bad_picture_does_not_hide_the_answers_for_the_good_ones() {
    let dir = scratch("one-bad");
    let good = repo_root().join("tests/fixtures/digits");
    let first_good = std::fs::read_dir(&good)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "png"))
        .expect("a fixture picture");
    let bad = dir.join("broken.png");
    std::fs::write(&bad, b"not a picture").expect("write");
    let model = repo_root().join("tests/fixtures/models/tutorial-mnist.safetensors");
    let mut predict = digits(&dir);
    predict
        .args(["predict", "--model"])
        .arg(&model)
        .arg(&bad)
        .arg(&first_good);
    let stdout = assert_clear_error(&mut predict, &["broken.png", "1 of the 2 pictures"]);
    let name = first_good.display().to_string();
    assert!(stdout.contains(&format!("{name}: ")), "{stdout}");
}

#[test]
fn names_from_files_are_printed_escaped() {
    let dir = scratch("escaped");
    let evil = dir.join("evil.toml");
    std::fs::write(
        &evil,
        "name = \"evil\\n\\u001b[2J\"\ninput = [1, 28, 28]\nlayers = [{ type = \"flatten\" }, { type = \"dense\", units = 10 }]\n",
    )
    .expect("write");
    let (output, stdout, stderr) = run(&mut dry_run(&dir, &evil));
    assert!(output.status.success(), "{stderr}");
    assert!(
        !stdout.contains('\u{1b}'),
        "an escape code reached the terminal"
    );
    assert!(stdout.contains("Model: evil\\n\\u{1b}[2J"), "{stdout}");
}

#[test]
fn an_empty_device_name_is_an_error_not_the_default() {
    let dir = scratch("empty-device");
    let mut train = digits(&dir);
    train
        .args(["train", "--dry-run", "--device", "", "--data"])
        .arg(sample_dir());
    assert_clear_error(&mut train, &["--device", "empty"]);
}

#[test]
fn the_default_device_says_why_and_skips_software_adapters() {
    let dir = scratch("default-device");
    let mut train = digits(&dir);
    train
        .args(["train", "--dry-run", "--data"])
        .arg(sample_dir());
    let (output, stdout, stderr) = run(&mut train);
    assert!(output.status.success(), "{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("device: "))
        .expect("a device line");
    let adapters = digits_tensor::gpu::list_adapters();
    match adapters.iter().find(|a| a.is_default) {
        Some(best) => assert!(
            line.contains(&best.info.name) && line.contains("the fastest GPU found"),
            "{line}"
        ),
        None => {
            assert!(line.starts_with("device: cpu"), "{line}");
            for software in adapters.iter().filter(|a| a.rank.is_software()) {
                assert!(line.contains(&software.info.name), "{line}");
            }
        }
    }
}
