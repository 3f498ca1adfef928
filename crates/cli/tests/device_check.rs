//! `scripts/device-check.sh`, the one-run measurement for a lent GPU, runs end to end here (quick mode, on
//! lavapipe in CI), so that a device's minutes go to measuring, not to debugging the script.

use std::process::Command;

mod common;

use common::{repo_root, scratch};

#[test]
fn the_device_check_script_runs_every_step() {
    if let Err(e) = digits_tensor::Gpu::default_adapter() {
        assert!(
            std::env::var("DIGITS_REQUIRE_GPU").as_deref() != Ok("1"),
            "DIGITS_REQUIRE_GPU=1 but no GPU adapter is usable: {e}"
        );
        eprintln!("SKIPPED: no GPU adapter ({e})");
        return;
    }
    let out = scratch("device-check");
    let output = Command::new("bash")
        .arg(repo_root().join("scripts/device-check.sh"))
        .current_dir(repo_root())
        .env("OUT", &out)
        .env("DIGITS", env!("CARGO_BIN_EXE_digits"))
        .env("DEVICE_CHECK_QUICK", "1")
        .output()
        .expect("run bash");
    let log = std::fs::read_to_string(out.join("log.txt")).unwrap_or_default();
    assert!(output.status.success(), "{log}");
    assert!(log.contains("0 failed steps"), "{log}");
    for file in ["devices.txt", "check.txt"] {
        let text = std::fs::read_to_string(out.join(file)).unwrap();
        assert!(!text.trim().is_empty(), "{file} is empty");
    }
    for file in [
        "bench_kernels.json",
        "bench_train_tutorial.json",
        "bench_train_fast.json",
        "fast_run.json",
    ] {
        let text = std::fs::read_to_string(out.join(file)).unwrap();
        let value: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}\n{text}"));
        assert!(value.is_object(), "{file}: {text}");
    }
    let fast: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("bench_train_fast.json")).unwrap())
            .unwrap();
    assert_eq!(
        fast["batch"], 128,
        "quick mode halves the fast recipe's batch"
    );
}
