//! Finding the dataset folder every command reads: `--data`, else `DIGITS_DATA`, else the cache.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::dataset::{DatasetFiles, Split};
use crate::download;
use crate::error::{Error, Result};

/// Environment variable naming the dataset folder when no folder is given explicitly.
pub const DATA_ENV: &str = "DIGITS_DATA";

/// The dataset looked for in the download cache when nothing else is given.
pub const DEFAULT_DATASET: &str = "mnist";

/// Where a dataset folder came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataOrigin {
    /// Given explicitly (the `--data` option).
    Explicit,
    /// The [`DATA_ENV`] environment variable.
    Env,
    /// The per-user download cache ([`download::default_dir`]).
    Cache,
}

impl fmt::Display for DataOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Explicit => f.write_str("--data"),
            Self::Env => f.write_str(DATA_ENV),
            Self::Cache => f.write_str("download cache"),
        }
    }
}

/// A dataset folder that holds all four files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataLocation {
    /// How the folder was chosen.
    pub origin: DataOrigin,
    /// The files found in it.
    pub files: DatasetFiles,
}

impl DataLocation {
    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.files.dir
    }
}

/// Finds the dataset folder: `explicit` if given, else `$DIGITS_DATA` if set and not empty, else
/// the download cache of [`DEFAULT_DATASET`].
///
/// A folder given explicitly or through the environment must hold the files: it is never skipped
/// silently in favour of the next candidate. When nothing is found the error says how to get the
/// data (`digits download`) or where to point (`--data`, `DIGITS_DATA`).
pub fn resolve_data_dir(explicit: Option<&Path>) -> Result<DataLocation> {
    resolve_data_dir_from(
        explicit,
        std::env::var_os(DATA_ENV),
        download::default_dir(DEFAULT_DATASET).ok(),
    )
}

/// [`resolve_data_dir`] with the environment value and cache folder given, for tests and for
/// callers with their own configuration.
pub fn resolve_data_dir_from(
    explicit: Option<&Path>,
    env_value: Option<OsString>,
    cache_dir: Option<PathBuf>,
) -> Result<DataLocation> {
    let env_dir = env_value.filter(|v| !v.is_empty()).map(PathBuf::from);
    let (origin, dir) = match (explicit, env_dir) {
        (Some(dir), _) => (DataOrigin::Explicit, dir.to_path_buf()),
        (None, Some(dir)) => (DataOrigin::Env, dir),
        (None, None) => match cache_dir {
            Some(dir) => (DataOrigin::Cache, dir),
            None => {
                return Err(not_found(
                    "no dataset folder given and no per-user cache folder exists",
                ));
            }
        },
    };
    match DatasetFiles::locate(&dir) {
        Ok(files) => Ok(DataLocation { origin, files }),
        Err(cause) => {
            let what = match origin {
                DataOrigin::Explicit => format!(
                    "the folder given with --data ({}) is unusable",
                    dir.display()
                ),
                DataOrigin::Env => format!("{DATA_ENV}={} is unusable", dir.display()),
                DataOrigin::Cache => format!(
                    "no dataset given (--data, {DATA_ENV}) and none downloaded to {}",
                    dir.display()
                ),
            };
            let reason = if dir.is_dir() {
                cause.to_string()
            } else {
                "no such folder".to_string()
            };
            Err(not_found(&format!("{what}: {reason}")))
        }
    }
}

fn not_found(what: &str) -> Error {
    let names: Vec<&str> = Split::ALL
        .iter()
        .flat_map(|s| [s.images_file(), s.labels_file()])
        .collect();
    Error::DataNotFound(format!(
        "{what}.\nRun `digits download` to fetch MNIST into the cache, or point --data DIR or \
         {DATA_ENV}=DIR at a folder holding {} (each may end in .gz).",
        names.join(", ")
    ))
}
