//! `digits devices` lists every adapter wgpu finds and marks the default.

use std::process::Command;

#[test]
fn devices_lists_every_adapter_and_the_default() {
    let adapters = digits_tensor::gpu::list_adapters();
    let output = Command::new(env!("CARGO_BIN_EXE_digits"))
        .arg("devices")
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .expect("the digits binary runs");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Mesa complains about an unset XDG_RUNTIME_DIR; the binary gives it a private folder first.
    assert!(!stderr.contains("XDG_RUNTIME_DIR"), "{stderr}");
    if adapters.is_empty() {
        assert!(
            std::env::var("DIGITS_REQUIRE_GPU").as_deref() != Ok("1"),
            "DIGITS_REQUIRE_GPU=1 but wgpu finds no adapter"
        );
        assert!(stdout.contains("No GPU adapter found"), "{stdout}");
        eprintln!("SKIPPED: no GPU adapter");
        return;
    }
    for adapter in &adapters {
        assert!(
            stdout.contains(&adapter.info.name),
            "{} missing from:\n{stdout}",
            adapter.info.name
        );
    }
    // The default is the best real GPU; software adapters (lavapipe in CI) are never the default.
    let hardware = adapters.iter().filter(|a| !a.rank.is_software()).count();
    assert_eq!(
        stdout.matches("(default)").count(),
        usize::from(hardware > 0),
        "{stdout}"
    );
    if hardware == 0 {
        assert!(stdout.contains("No real GPU"), "{stdout}");
    }
}
