//! Every WGSL file parses and validates with naga, and every file in `shaders/` is registered as a kernel.

use std::path::{Path, PathBuf};

fn shader_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shaders")
}

fn shader_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(shader_dir())
        .expect("shaders/ exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wgsl"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shader_parses_and_validates() {
    let files = shader_files();
    assert!(!files.is_empty());
    let mut failures = Vec::new();
    for path in &files {
        let source = std::fs::read_to_string(path).expect("readable shader");
        let name = path.display().to_string();
        let module = match naga::front::wgsl::parse_str(&source) {
            Ok(module) => module,
            Err(e) => {
                failures.push(e.emit_to_string_with_path(&source, &name));
                continue;
            }
        };
        let mut validator = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        );
        if let Err(e) = validator.validate(&module) {
            failures.push(e.emit_to_string_with_path(&source, &name));
        }
    }
    assert!(
        failures.is_empty(),
        "invalid shaders:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_shader_file_is_a_registered_kernel() {
    for path in shader_files() {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        assert!(
            digits_tensor::family::kernels().any(|k| k.name == stem),
            "{} is registered by no kernel family (the `family!` call of an ops module)",
            path.display()
        );
    }
}

#[test]
fn registered_kernels_match_their_files() {
    for kernel in digits_tensor::family::kernels() {
        let path = shader_dir().join(format!("{}.wgsl", kernel.name));
        let on_disk =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(on_disk, kernel.source, "{}", kernel.name);
    }
}
