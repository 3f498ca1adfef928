//! Data folder resolution: `--data`, then `DIGITS_DATA`, then a shipped copy, then the cache, with helpful errors.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use digits_idx::{DataOrigin, DataPlaces, Error};

fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/mnist-sample")
}

/// Resolves with no shipped copy.
fn resolve_data_dir_from(
    explicit: Option<&Path>,
    env_value: Option<OsString>,
    cache: Option<PathBuf>,
) -> Result<digits_idx::DataLocation, Error> {
    DataPlaces {
        explicit: explicit.map(Path::to_path_buf),
        env_value,
        bundled: None,
        cache,
    }
    .resolve()
}

fn assert_helpful(err: &Error, mentions: &str) {
    let message = err.to_string();
    for needle in [
        "digits download",
        "--data",
        "DIGITS_DATA",
        "train-images-idx3-ubyte",
        mentions,
    ] {
        assert!(
            message.contains(needle),
            "{needle:?} missing from: {message}"
        );
    }
}

#[test]
fn explicit_folder_wins() {
    let empty = tempfile::tempdir().expect("temp dir");
    let env = Some(OsString::from(empty.path()));
    let found = resolve_data_dir_from(Some(&sample_dir()), env, Some(empty.path().to_path_buf()))
        .expect("found");
    assert_eq!(found.origin, DataOrigin::Explicit);
    assert_eq!(found.dir(), sample_dir());
}

#[test]
fn env_is_used_without_explicit_folder() {
    let empty = tempfile::tempdir().expect("temp dir");
    let found = resolve_data_dir_from(
        None,
        Some(sample_dir().into()),
        Some(empty.path().to_path_buf()),
    )
    .expect("found");
    assert_eq!(found.origin, DataOrigin::Env);
    assert!(
        found
            .files
            .test
            .labels
            .ends_with("t10k-labels-idx1-ubyte.gz")
    );
}

#[test]
fn cache_is_the_fallback_and_empty_env_is_ignored() {
    let found =
        resolve_data_dir_from(None, Some(OsString::new()), Some(sample_dir())).expect("found");
    assert_eq!(found.origin, DataOrigin::Cache);
}

#[test]
fn unusable_explicit_folder_is_not_skipped() {
    let empty = tempfile::tempdir().expect("temp dir");
    let err = resolve_data_dir_from(Some(empty.path()), None, Some(sample_dir()))
        .expect_err("empty folder");
    assert_helpful(&err, &empty.path().display().to_string());

    let missing = empty.path().join("nope");
    let err =
        resolve_data_dir_from(Some(&missing), None, Some(sample_dir())).expect_err("no folder");
    assert_helpful(&err, "no such folder");
}

#[test]
fn unusable_env_folder_is_reported_as_such() {
    let empty = tempfile::tempdir().expect("temp dir");
    let err = resolve_data_dir_from(None, Some(empty.path().into()), Some(sample_dir()))
        .expect_err("empty env");
    assert_helpful(&err, "DIGITS_DATA=");
}

#[test]
fn nothing_found_says_how_to_download() {
    let empty = tempfile::tempdir().expect("temp dir");
    let err = resolve_data_dir_from(None, None, Some(empty.path().to_path_buf()))
        .expect_err("empty cache");
    assert_helpful(&err, "none downloaded");
    let err = resolve_data_dir_from(None, None, None).expect_err("no cache at all");
    assert_helpful(&err, "no per-user cache folder");
}

#[test]
fn a_shipped_copy_comes_before_the_cache_and_after_named_folders() {
    let empty = tempfile::tempdir().expect("temp dir");
    let places = DataPlaces {
        explicit: None,
        env_value: None,
        bundled: Some(sample_dir()),
        cache: Some(empty.path().to_path_buf()),
    };
    let found = places.resolve().expect("found");
    assert_eq!(found.origin, DataOrigin::Bundled);
    assert_eq!(found.dir(), sample_dir());

    // A copy without the files is passed over in favour of the cache.
    let passed_over = DataPlaces {
        bundled: Some(empty.path().join("missing")),
        cache: Some(sample_dir()),
        ..places.clone()
    };
    assert_eq!(
        passed_over.resolve().expect("found").origin,
        DataOrigin::Cache
    );

    // A named folder is never replaced by the shipped copy.
    let named = DataPlaces {
        env_value: Some(empty.path().into()),
        ..places
    };
    assert_helpful(&named.resolve().expect_err("empty env"), "DIGITS_DATA=");
}
