//! Finding the dataset folder every command reads: `--data`, else `DIGITS_DATA`, else a shipped copy, else the
//! cache, else a first-use download.

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
    /// A copy shipped with the program (a checkout's `data/mnist`).
    Bundled,
    /// The per-user download cache ([`download::default_dir`]).
    Cache,
    /// Downloaded into the cache just now, on first use.
    Downloaded,
}

impl fmt::Display for DataOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Explicit => f.write_str("--data"),
            Self::Env => f.write_str(DATA_ENV),
            Self::Bundled => f.write_str("the copy shipped with digits"),
            Self::Cache => f.write_str("download cache"),
            Self::Downloaded => f.write_str("a download just made, on first use"),
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

/// Finds the dataset folder: `explicit` if given, else `$DIGITS_DATA` if set and not empty, else the
/// download cache of [`DEFAULT_DATASET`]. See [`DataPlaces`] for a shipped copy and first-use download.
pub fn resolve_data_dir(explicit: Option<&Path>) -> Result<DataLocation> {
    DataPlaces::from_env(explicit, None).resolve()
}

/// The places a dataset folder may be, tried in this order: `explicit` (`--data`), the [`DATA_ENV`]
/// environment variable, a `bundled` copy shipped with the program, the per-user `cache`.
///
/// A folder given explicitly or through the environment must hold the files: it is never skipped silently
/// in favour of the next candidate. A bundled copy or cache that lacks them is passed over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataPlaces {
    /// The folder named on the command line.
    pub explicit: Option<PathBuf>,
    /// The value of [`DATA_ENV`] (an empty value counts as unset).
    pub env_value: Option<OsString>,
    /// A copy shipped with the program, used when it holds the files.
    pub bundled: Option<PathBuf>,
    /// The download cache of [`DEFAULT_DATASET`].
    pub cache: Option<PathBuf>,
}

impl DataPlaces {
    /// The places for this process: its [`DATA_ENV`] and the per-user cache.
    pub fn from_env(explicit: Option<&Path>, bundled: Option<&Path>) -> Self {
        DataPlaces {
            explicit: explicit.map(Path::to_path_buf),
            env_value: std::env::var_os(DATA_ENV),
            bundled: bundled.map(Path::to_path_buf),
            cache: download::default_dir(DEFAULT_DATASET).ok(),
        }
    }

    /// The first place that holds the dataset. When nothing is found the error says how to get the data
    /// (`digits download`) or where to point (`--data`, `DIGITS_DATA`).
    pub fn resolve(&self) -> Result<DataLocation> {
        let env_dir = self
            .env_value
            .as_ref()
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let (origin, dir) = match (&self.explicit, env_dir) {
            (Some(dir), _) => (DataOrigin::Explicit, dir.clone()),
            (None, Some(dir)) => (DataOrigin::Env, dir),
            (None, None) => {
                if let Some(files) = self
                    .bundled
                    .as_ref()
                    .and_then(|d| DatasetFiles::locate(d).ok())
                {
                    return Ok(DataLocation {
                        origin: DataOrigin::Bundled,
                        files,
                    });
                }
                match &self.cache {
                    Some(dir) => (DataOrigin::Cache, dir.clone()),
                    None => {
                        return Err(not_found(
                            "no dataset folder given and no per-user cache folder exists",
                        ));
                    }
                }
            }
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
                    _ => format!(
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

    /// Like [`DataPlaces::resolve`], but when no folder was named (no `explicit`, no [`DATA_ENV`]) and neither
    /// the bundled copy nor the cache holds the data, downloads `source` into the cache first, as Keras's
    /// `mnist.load_data()` does on first use.
    pub fn resolve_or_download(
        &self,
        source: &download::DatasetSource,
        progress: &mut dyn download::Progress,
    ) -> Result<DataLocation> {
        let named =
            self.explicit.is_some() || self.env_value.as_ref().is_some_and(|v| !v.is_empty());
        match self.resolve() {
            Err(Error::DataNotFound(_)) if !named => {
                let cache = self.cache.as_ref().ok_or(Error::NoCacheDir)?;
                download::download(source, cache, progress)?;
                let files = DatasetFiles::locate(cache)?;
                Ok(DataLocation {
                    origin: DataOrigin::Downloaded,
                    files,
                })
            }
            found => found,
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
