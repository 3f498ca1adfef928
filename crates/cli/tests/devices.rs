//! `digits devices` lists every adapter wgpu finds and marks the default.

use std::process::Command;

#[test]
fn devices_lists_every_adapter_and_the_default() {
    let adapters = digits_tensor::gpu::list_adapters();
    let output = Command::new(env!("CARGO_BIN_EXE_digits"))
        .arg("devices")
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("the digits binary runs");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
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
    assert_eq!(stdout.matches("(default)").count(), 1, "{stdout}");
}
