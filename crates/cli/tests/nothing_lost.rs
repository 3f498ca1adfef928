//! Nothing is lost: a run folder is never overwritten by mistake, two processes never share one, an
//! interrupted run leaves no litter and resumes from the newest checkpoint that loads, bit-identical to a run
//! that was never interrupted.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{digits, run, sample_dir, scratch};
use digits_nn::{NamedTensor, Sequential};
use digits_tensor::Cpu;

/// `digits train` on the CPU backend and the committed sample, into `out`; a new run has seed 3 unless
/// `extra` gives one.
fn train(dir: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut command = digits(dir);
    command
        .args(["train", "--device", "cpu", "--out"])
        .arg(out)
        .arg("--data")
        .arg(sample_dir())
        .args(extra);
    if !extra.iter().any(|a| *a == "--resume" || *a == "--seed") {
        command.args(["--seed", "3"]);
    }
    command
}

fn weights(path: &Path) -> Vec<NamedTensor> {
    Sequential::load(&Cpu::new(), path)
        .unwrap_or_else(|e| panic!("{} does not load: {e}", path.display()))
        .weights()
        .expect("weights")
}

#[test]
fn a_finished_run_without_checkpoints_is_still_a_run() {
    let dir = scratch("no-checkpoints");
    let out = dir.join("run");
    let (output, _, stderr) = run(&mut train(&dir, &out, &["--epochs", "1"]));
    assert!(output.status.success(), "{stderr}");
    std::fs::remove_dir_all(out.join("checkpoints")).expect("remove checkpoints");
    let before = std::fs::read(out.join("model.safetensors")).expect("model");

    let (output, _, stderr) = run(&mut train(&dir, &out, &["--epochs", "1", "--seed", "4"]));
    assert!(!output.status.success());
    assert!(
        stderr.contains("already holds a run")
            && stderr.contains("model.safetensors")
            && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(out.join("model.safetensors")).expect("model"),
        before,
        "the refused run changed the model"
    );

    let (output, _, stderr) = run(&mut train(
        &dir,
        &out,
        &["--epochs", "1", "--seed", "4", "--force"],
    ));
    assert!(output.status.success(), "{stderr}");
    assert_ne!(
        std::fs::read(out.join("model.safetensors")).expect("model"),
        before
    );
}

#[test]
fn a_second_process_on_the_same_folder_is_refused_naming_the_first() {
    let dir = scratch("lock");
    let out = dir.join("run");
    let mut first = train(&dir, &out, &["--epochs", "100000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the first run");
    let lock = out.join(".lock");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&lock).is_ok_and(|t| t.contains("pid")) {
        assert!(
            Instant::now() < deadline,
            "the first run never took its lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (second, _, stderr) = run(&mut train(&dir, &out, &["--resume"]));
    let (third, _, third_err) = run(&mut train(&dir, &out, &["--epochs", "1", "--force"]));
    first.kill().expect("stop the first run");
    first.wait().expect("reap the first run");
    for (output, stderr) in [(second, stderr), (third, third_err)] {
        assert!(!output.status.success());
        assert!(
            stderr.contains("in use by another digits process")
                && stderr.contains(&format!("pid {}", first.id())),
            "{stderr}"
        );
    }
}

#[test]
fn resume_cleans_temporaries_and_falls_back_past_a_damaged_checkpoint() {
    let dir = scratch("fallback");
    let out = dir.join("run");
    let (output, _, stderr) = run(&mut train(&dir, &out, &["--epochs", "2"]));
    assert!(output.status.success(), "{stderr}");
    let reference = weights(&out.join("model.safetensors"));

    // As a kill -9 in the middle of writing epoch 2 would leave it: a stale temporary, a damaged file.
    let stale = out.join("checkpoints/.epoch-002.safetensors.Ab12Cd.part");
    std::fs::write(&stale, vec![7u8; 4096]).expect("write");
    let newest = out.join("checkpoints/epoch-002.safetensors");
    let bytes = std::fs::read(&newest).expect("read");
    std::fs::write(&newest, &bytes[..bytes.len() / 2]).expect("truncate");
    std::fs::remove_file(out.join("model.safetensors")).expect("remove");

    let (output, stdout, stderr) = run(&mut train(&dir, &out, &["--resume"]));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("epoch-002.safetensors") && stderr.contains("trying the checkpoint before"),
        "{stderr}"
    );
    assert!(stderr.contains("removed 1 temporary file"), "{stderr}");
    assert!(stdout.contains("epoch-001.safetensors instead"), "{stdout}");
    assert!(stdout.contains("Epoch 2/2"), "{stdout}");
    assert!(!stale.exists());
    assert_eq!(weights(&out.join("model.safetensors")), reference);
}

#[test]
fn resume_refuses_settings_it_would_ignore() {
    let dir = scratch("resume-flags");
    let out = dir.join("run");
    let (output, _, stderr) = run(&mut train(&dir, &out, &["--epochs", "1"]));
    assert!(output.status.success(), "{stderr}");
    let mut resume = digits(&dir);
    resume
        .args(["train", "--device", "cpu", "--resume", "--epochs", "2"])
        .args(["--lr", "0.01", "--batch", "32", "--model", "mlp", "--out"])
        .arg(&out)
        .arg("--data")
        .arg(sample_dir());
    let (output, _, stderr) = run(&mut resume);
    assert!(!output.status.success());
    assert!(
        stderr.contains("--model, --batch, --lr cannot change them"),
        "{stderr}"
    );
}

/// A small deterministic generator for kill times (the test must be the same on every run).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound.max(1)
    }
}

#[test]
fn kill_9_at_random_moments_then_resume_ends_bit_identical() {
    const EPOCHS: &str = "4";
    const TRIALS: usize = 6;
    let dir = scratch("kill");
    let reference = dir.join("reference");
    let start = Instant::now();
    let (output, _, stderr) = run(&mut train(&dir, &reference, &["--epochs", EPOCHS]));
    assert!(output.status.success(), "{stderr}");
    let whole_run_ms = start.elapsed().as_millis() as u64;
    let expected = weights(&reference.join("model.safetensors"));

    let mut random = Lcg(0x5eed);
    for trial in 0..TRIALS {
        let out = dir.join(format!("killed-{trial}"));
        let mut child = train(&dir, &out, &["--epochs", EPOCHS])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start");
        std::thread::sleep(Duration::from_millis(random.below(whole_run_ms)));
        // Child::kill sends SIGKILL on Unix: no handler runs, nothing is flushed.
        let _ = child.kill();
        child.wait().expect("reap");

        // Whatever the moment, every model file in the folder loads.
        let checkpoints: Vec<_> = std::fs::read_dir(out.join("checkpoints"))
            .map(|entries| {
                entries
                    .map(|e| e.expect("entry").path())
                    .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
                    .collect()
            })
            .unwrap_or_default();
        for path in checkpoints.iter().chain(
            Some(out.join("model.safetensors"))
                .filter(|p| p.exists())
                .iter(),
        ) {
            weights(path);
        }
        let mut finish = if checkpoints.is_empty() {
            train(&dir, &out, &["--epochs", EPOCHS])
        } else {
            train(&dir, &out, &["--resume"])
        };
        let (output, stdout, stderr) = run(&mut finish);
        assert!(output.status.success(), "trial {trial}: {stdout}\n{stderr}");
        assert_eq!(
            weights(&out.join("model.safetensors")),
            expected,
            "trial {trial}: the resumed run differs from the uninterrupted one"
        );
    }
}
