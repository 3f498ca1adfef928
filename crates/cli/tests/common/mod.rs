//! What the command-line tests share: the binary in a clean environment, fixtures, scratch folders.

#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The committed MNIST sample: 500 training and 200 test images.
pub fn sample_dir() -> PathBuf {
    repo_root().join("tests/fixtures/mnist-sample")
}

/// The binary as a new user runs it: no `DIGITS_DATA`, no backtraces, no `XDG_RUNTIME_DIR`, a private home
/// and cache folder, working in `scratch`.
pub fn digits(scratch: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_digits"));
    command
        .env_remove("DIGITS_DATA")
        .env_remove("DIGITS_MIRRORS")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .env_remove("XDG_RUNTIME_DIR")
        .env("XDG_CACHE_HOME", scratch)
        .env("HOME", scratch)
        .current_dir(scratch);
    command
}

/// Runs to the end: the output and its text.
pub fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("run digits");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

/// A fresh folder under Cargo's scratch space for integration tests.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("digits-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// The Python of the peer checks (`scripts/requirements.txt`): `DIGITS_TORCH_PYTHON`, else `python3`, if it
/// imports every one of `modules`. Without one the caller skips with a notice; `DIGITS_REQUIRE_TORCH=1` (set
/// by CI) makes it fail instead.
pub fn peer_python(modules: &str) -> Option<String> {
    let python = std::env::var("DIGITS_TORCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let found = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(python);
    }
    assert!(
        std::env::var("DIGITS_REQUIRE_TORCH").as_deref() != Ok("1"),
        "DIGITS_REQUIRE_TORCH=1 but `{python}` cannot import {modules}"
    );
    eprintln!(
        "SKIPPED: `{python}` cannot import {modules} (pip install -r scripts/requirements.txt, then \
         DIGITS_TORCH_PYTHON=that python)"
    );
    None
}

/// Trains `preset` for one epoch of the committed sample on the CPU backend into `dir/<preset>`; returns the
/// run folder and what the run printed (stdout, then stderr).
pub fn train_on_sample(dir: &Path, preset: &str) -> (PathBuf, String) {
    let out = dir.join(preset);
    let (output, stdout, stderr) = run(digits(dir)
        .args([
            "train", "--device", "cpu", "--epochs", "1", "--model", preset,
        ])
        .arg("--data")
        .arg(sample_dir())
        .arg("--out")
        .arg(&out));
    assert!(output.status.success(), "{preset}: {stderr}");
    (out, format!("{stdout}{stderr}"))
}

/// A running server, stopped when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub stderr_first_line: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `digits serve --port 0 --model MODEL EXTRA...`, once it prints its address.
pub fn serve(dir: &Path, model: &Path, extra: &[&str]) -> Server {
    let mut child = digits(dir)
        .args(["serve", "--port", "0", "--model"])
        .arg(model)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start digits serve");
    let mut stderr_first_line = String::new();
    if extra.contains(&"0.0.0.0") {
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut stderr_first_line)
            .unwrap();
    }
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in `{line}`"))
        .trim_end_matches('/')
        .to_string();
    Server {
        child,
        url,
        stderr_first_line,
    }
}

/// An HTTP client that returns error statuses as responses.
pub fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build(),
    )
}
