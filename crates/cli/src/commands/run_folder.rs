//! A training run's folder: what makes a folder a run, its exclusive lock, its checkpoints, and the cleaning
//! of temporary files an interrupted run left behind.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The per-epoch checkpoints' folder inside a run.
pub const CHECKPOINTS: &str = "checkpoints";
/// The lock file inside a run.
const LOCK: &str = ".lock";
/// Files whose presence makes a folder a run (besides a checkpoint).
const RUN_FILES: [&str; 3] = ["model.safetensors", "history.csv", "summary.json"];

/// An exclusive lock on a run folder, held until dropped (or the process ends, however it ends: the
/// operating system releases it, so a `kill -9` leaves no stale lock).
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Locks `out` (created if needed) for this process, or fails naming the process that holds it.
    pub fn acquire(out: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        let path = out.join(LOCK);
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                bail!(
                    "{} is in use by another digits process ({}); wait for it to finish or choose another --out",
                    out.display(),
                    if holder.is_empty() {
                        "which has not said who it is yet"
                    } else {
                        holder
                    }
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        let holder = format!(
            "pid {}, `{}`",
            std::process::id(),
            std::env::args().collect::<Vec<_>>().join(" ")
        );
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(holder.escape_debug().to_string().as_bytes()))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(RunLock { _file: file })
    }
}

/// The files that make `out` a run: a model, a history, a summary or a checkpoint. A folder holding only
/// `run.json` is a run that never finished an epoch, with nothing to lose.
pub fn run_files(out: &Path) -> anyhow::Result<Vec<String>> {
    let mut found: Vec<String> = RUN_FILES
        .iter()
        .filter(|name| out.join(name).exists())
        .map(|name| name.to_string())
        .collect();
    if let Some((_, last)) = checkpoints_in(out)?.last() {
        found.push(format!("{CHECKPOINTS}/{}", file_name(last)));
    }
    Ok(found)
}

/// Removes what a previous run of this folder left: its results and checkpoints (for `--force`).
pub fn clear_run(out: &Path) -> anyhow::Result<()> {
    for name in RUN_FILES.iter().chain(&["history.png", "run.json"]) {
        remove_if_present(&out.join(name))?;
    }
    for (_, path) in checkpoints_in(out)? {
        remove_if_present(&path)?;
    }
    Ok(())
}

/// Removes the temporary files (`.NAME.XXXX.part`, `NAME.tmp`) that a process killed while writing left
/// in `out` and its checkpoints folder; returns how many. Only call it while holding the [`RunLock`]: then
/// no other process is writing them.
pub fn remove_stale_temporaries(out: &Path) -> anyhow::Result<usize> {
    let mut removed = 0;
    for dir in [out.to_path_buf(), out.join(CHECKPOINTS)] {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let temporary =
                (name.starts_with('.') && name.ends_with(".part")) || name.ends_with(".tmp");
            if temporary && entry.file_type().is_ok_and(|t| t.is_file()) {
                remove_if_present(&entry.path())?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// Every `checkpoints/epoch-NNN.safetensors` in `out`, oldest epoch first.
pub fn checkpoints_in(out: &Path) -> anyhow::Result<Vec<(usize, PathBuf)>> {
    let dir = out.join(CHECKPOINTS);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
        let epoch = path.file_name().and_then(|n| n.to_str()).and_then(|n| {
            n.strip_prefix("epoch-")?
                .strip_suffix(".safetensors")?
                .parse::<usize>()
                .ok()
        });
        if let Some(epoch) = epoch {
            found.push((epoch, path));
        }
    }
    found.sort();
    Ok(found)
}

/// Keeps the newest `keep` checkpoints.
pub fn prune_checkpoints(out: &Path, keep: usize) -> anyhow::Result<()> {
    let all = checkpoints_in(out)?;
    for (_, path) in all.iter().take(all.len().saturating_sub(keep)) {
        std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_are_found_in_epoch_order_and_pruned() {
        let dir = tempfile::tempdir().expect("temp dir");
        let checkpoints = dir.path().join(CHECKPOINTS);
        std::fs::create_dir_all(&checkpoints).expect("mkdir");
        for name in [
            "epoch-002.safetensors",
            "epoch-010.safetensors",
            "epoch-001.safetensors",
            "notes.txt",
        ] {
            std::fs::write(checkpoints.join(name), b"x").expect("write");
        }
        let found: Vec<usize> = checkpoints_in(dir.path())
            .expect("list")
            .into_iter()
            .map(|c| c.0)
            .collect();
        assert_eq!(found, [1, 2, 10]);
        prune_checkpoints(dir.path(), 2).expect("prune");
        let left: Vec<usize> = checkpoints_in(dir.path())
            .expect("list")
            .into_iter()
            .map(|c| c.0)
            .collect();
        assert_eq!(left, [2, 10]);
        assert!(checkpoints.join("notes.txt").exists());
    }

    #[test]
    fn a_folder_with_a_model_or_history_is_a_run() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("run.json"), b"{}").expect("write");
        assert!(run_files(dir.path()).expect("list").is_empty());
        for name in RUN_FILES {
            let one = tempfile::tempdir().expect("temp dir");
            std::fs::write(one.path().join(name), b"x").expect("write");
            assert_eq!(run_files(one.path()).expect("list"), [name]);
            clear_run(one.path()).expect("clear");
            assert!(run_files(one.path()).expect("list").is_empty());
        }
    }

    #[test]
    fn only_temporary_files_are_removed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let checkpoints = dir.path().join(CHECKPOINTS);
        std::fs::create_dir_all(&checkpoints).expect("mkdir");
        let stale = [
            dir.path().join(".model.safetensors.a1B2c3.part"),
            dir.path().join("history.tmp"),
            checkpoints.join(".epoch-003.safetensors.x9Y8z7.part"),
        ];
        let kept = [
            dir.path().join("model.safetensors"),
            dir.path().join("notes.part"),
            checkpoints.join("epoch-002.safetensors"),
        ];
        for path in stale.iter().chain(&kept) {
            std::fs::write(path, b"x").expect("write");
        }
        assert_eq!(remove_stale_temporaries(dir.path()).expect("clean"), 3);
        assert!(stale.iter().all(|p| !p.exists()));
        assert!(kept.iter().all(|p| p.exists()));
    }

    #[test]
    fn a_second_lock_on_a_folder_names_the_holder() {
        let dir = tempfile::tempdir().expect("temp dir");
        let held = RunLock::acquire(dir.path()).expect("first lock");
        let err = RunLock::acquire(dir.path())
            .err()
            .expect("a second lock fails")
            .to_string();
        assert!(
            err.contains("in use by another digits process")
                && err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(held);
        RunLock::acquire(dir.path()).expect("free again once dropped");
    }
}
