//! Verified download of the built-in datasets (MNIST, Fashion-MNIST) from a list of mirrors.
//!
//! Each file is streamed into a temporary file in the target folder while its SHA-256 is
//! computed, checked, and only then renamed to its final name, so a failed or interrupted download
//! never leaves a partial file under a real name. A mirror that fails (HTTP error, connection
//! error, truncated body, digest mismatch) is followed by the next one. Files already present with
//! the right digest are not fetched again.
//!
//! A file is accepted when the SHA-256 of its bytes equals [`RemoteFile::sha256`] (the file as the
//! mirrors serve it) or the SHA-256 of its decompressed IDX content equals
//! [`RemoteFile::content_sha256`]. The content digest also accepts a copy that was recompressed
//! (or decompressed in transit by an HTTP `Content-Encoding`), which changes the bytes but not the
//! data. An entry with neither digest is only checked for IDX structure.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use flate2::bufread::MultiGzDecoder;
use sha2::{Digest, Sha256};

use crate::dataset::Split;
use crate::error::{Error, Result};
use crate::format::{GZIP_MAGIC, IdxArray};

/// Refuse bodies above this size: no dataset file is near it, and an endless body must not fill
/// the disk.
const MAX_DOWNLOAD_BYTES: u64 = 1 << 30;

/// One file of a dataset and what it must hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// File name on the mirrors and on disk, e.g. `train-images-idx3-ubyte.gz`.
    pub name: String,
    /// Lower-case hex SHA-256 of the file as served, if known.
    pub sha256: Option<String>,
    /// Lower-case hex SHA-256 of the decompressed IDX bytes, if known.
    pub content_sha256: Option<String>,
}

/// A downloadable dataset: its files and the mirrors serving them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetSource {
    /// Short name, also the name of its cache folder (`mnist`, `fashion-mnist`).
    pub name: String,
    /// Base URLs, tried in order; a file's URL is the base followed by its name.
    pub mirrors: Vec<String>,
    /// The files, each fetched from the first mirror that serves it correctly.
    pub files: Vec<RemoteFile>,
}

/// A built-in table row (static strings, turned into a [`DatasetSource`] on request).
struct BuiltIn {
    name: &'static str,
    mirrors: &'static [&'static str],
    /// Per file in [`Split`] order (train images, train labels, test images, test labels):
    /// digest of the `.gz` as served, and digest of the decompressed content if known.
    digests: [(&'static str, Option<&'static str>); 4],
}

/// MNIST digests: the `.gz` digests are those of the files on the mirrors below (also published
/// by TensorFlow Datasets and torchvision users); the content digests are those of the
/// decompressed originals (47,040,016 / 60,008 / 7,840,016 / 10,008 bytes).
///
/// Fashion-MNIST digests: the `.gz` digests published for the files of the official mirror (the
/// same values appear in several independent projects); their content digests are not recorded,
/// so a recompressed copy of Fashion-MNIST is re-downloaded rather than accepted.
const BUILT_IN: [BuiltIn; 2] = [
    BuiltIn {
        name: "mnist",
        mirrors: &[
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ],
        digests: [
            (
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                Some("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
            ),
            (
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                Some("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
            ),
            (
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                Some("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
            ),
            (
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                Some("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
            ),
        ],
    },
    BuiltIn {
        name: "fashion-mnist",
        mirrors: &["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        digests: [
            (
                "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
                None,
            ),
            (
                "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
                None,
            ),
            (
                "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
                None,
            ),
            (
                "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
                None,
            ),
        ],
    },
];

/// Names of the built-in datasets.
pub fn builtin_names() -> Vec<&'static str> {
    BUILT_IN.iter().map(|b| b.name).collect()
}

/// The built-in dataset called `name` (`mnist` or `fashion-mnist`).
pub fn builtin(name: &str) -> Result<DatasetSource> {
    let Some(entry) = BUILT_IN.iter().find(|b| b.name == name) else {
        return Err(Error::UnknownDataset {
            name: name.to_string(),
            known: builtin_names().join(", "),
        });
    };
    let names = Split::ALL
        .iter()
        .flat_map(|s| [s.images_file(), s.labels_file()]);
    let files = names
        .zip(entry.digests)
        .map(|(name, (sha256, content))| RemoteFile {
            name: format!("{name}.gz"),
            sha256: Some(sha256.to_string()),
            content_sha256: content.map(str::to_string),
        })
        .collect();
    Ok(DatasetSource {
        name: entry.name.to_string(),
        mirrors: entry.mirrors.iter().map(|m| m.to_string()).collect(),
        files,
    })
}

/// The per-user download folder of a dataset: `<cache dir>/digits/<dataset>` (for example
/// `~/.cache/digits/mnist` on Linux).
pub fn default_dir(dataset: &str) -> Result<PathBuf> {
    let cache = dirs::cache_dir().ok_or(Error::NoCacheDir)?;
    Ok(cache.join("digits").join(dataset))
}

/// Receives download progress, e.g. to draw a progress bar. Every method does nothing by default;
/// `()` implements it for callers that want no report.
pub trait Progress {
    /// A download of `file` from `url` starts; `total_bytes` is the body length if announced.
    fn start(&mut self, file: &str, url: &str, total_bytes: Option<u64>) {
        let _ = (file, url, total_bytes);
    }

    /// `bytes` more bytes of the current download arrived.
    fn advance(&mut self, bytes: u64) {
        let _ = bytes;
    }

    /// The attempt from `url` failed for `reason`; the next mirror is tried, if any.
    fn mirror_failed(&mut self, file: &str, url: &str, reason: &str) {
        let _ = (file, url, reason);
    }

    /// `report.name` is ready.
    fn finished(&mut self, report: &FileReport) {
        let _ = report;
    }
}

impl Progress for () {}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    /// It was already there with a correct digest.
    AlreadyPresent,
    /// It was fetched from this URL.
    Downloaded {
        /// The URL that served it.
        url: String,
    },
}

/// The outcome for one file of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// The file name.
    pub name: String,
    /// Its final path.
    pub path: PathBuf,
    /// Whether it was fetched or already present.
    pub status: FileStatus,
}

/// Makes sure every file of `source` is in `dir` (created if needed) with a correct digest,
/// downloading what is missing or wrong.
///
/// Stops at the first file that no mirror serves correctly, with [`Error::DownloadFailed`] naming
/// the file and each mirror's failure; files completed before stay in place.
pub fn download(
    source: &DatasetSource,
    dir: &Path,
    progress: &mut dyn Progress,
) -> Result<Vec<FileReport>> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, "cannot create folder", e))?;
    let config = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        // Ask for the bytes as stored, so the served digest applies.
        .accept_encoding("")
        .user_agent(concat!("digits/", env!("CARGO_PKG_VERSION")))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    source
        .files
        .iter()
        .map(|file| {
            let report = fetch_file(&agent, source, file, dir, progress)?;
            progress.finished(&report);
            Ok(report)
        })
        .collect()
}

/// Why one mirror attempt failed.
enum AttemptError {
    /// The mirror's fault: try the next one.
    Mirror(String),
    /// A local failure (disk full, permissions): other mirrors would not help.
    Local(Error),
}

fn fetch_file(
    agent: &ureq::Agent,
    source: &DatasetSource,
    file: &RemoteFile,
    dir: &Path,
    progress: &mut dyn Progress,
) -> Result<FileReport> {
    let path = dir.join(&file.name);
    let report = |status| FileReport {
        name: file.name.clone(),
        path: path.clone(),
        status,
    };
    // An unreadable or wrong existing file is simply replaced.
    if path.is_file() && sha256_file(&path).is_ok_and(|digest| verify(&path, &digest, file).is_ok())
    {
        return Ok(report(FileStatus::AlreadyPresent));
    }
    let mut attempts = Vec::new();
    for base in &source.mirrors {
        let url = format!("{}/{}", base.trim_end_matches('/'), file.name);
        match fetch_from(agent, &url, file, dir, progress) {
            Ok(temp) => {
                temp.persist(&path).map_err(|e| {
                    Error::io(&path, "cannot move the download into place", e.error)
                })?;
                return Ok(report(FileStatus::Downloaded { url }));
            }
            Err(AttemptError::Mirror(reason)) => {
                progress.mirror_failed(&file.name, &url, &reason);
                attempts.push(format!("{url}: {reason}"));
            }
            Err(AttemptError::Local(error)) => return Err(error),
        }
    }
    if attempts.is_empty() {
        attempts.push("no mirror configured".to_string());
    }
    Err(Error::DownloadFailed { path, attempts })
}

/// Downloads `url` into a temporary file in `dir` and verifies it; the file is deleted on failure
/// (dropping a `NamedTempFile` removes it).
fn fetch_from(
    agent: &ureq::Agent,
    url: &str,
    file: &RemoteFile,
    dir: &Path,
    progress: &mut dyn Progress,
) -> std::result::Result<tempfile::NamedTempFile, AttemptError> {
    let response = agent
        .get(url)
        .call()
        .map_err(|e| AttemptError::Mirror(e.to_string()))?;
    let body = response.into_body();
    let total = body.content_length();
    if total.is_some_and(|t| t > MAX_DOWNLOAD_BYTES) {
        return Err(AttemptError::Mirror(format!(
            "announces {total:?} bytes, more than any dataset file"
        )));
    }
    progress.start(&file.name, url, total);
    let mut reader = body.into_reader();
    let temp = crate::atomic::temp_file_in(dir, &format!(".{}.", file.name), ".part")
        .map_err(|e| AttemptError::Local(Error::io(dir, "cannot create a temporary file in", e)))?;
    let local = |e| AttemptError::Local(Error::io(temp.path(), "cannot write", e));
    let mut writer = BufWriter::new(temp.as_file());
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut received = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(AttemptError::Mirror(format!(
                    "transfer failed after {received} bytes: {e}"
                )));
            }
        };
        hasher.update(&buf[..n]);
        writer.write_all(&buf[..n]).map_err(local)?;
        received += n as u64;
        if received > MAX_DOWNLOAD_BYTES {
            return Err(AttemptError::Mirror(format!(
                "sent more than {MAX_DOWNLOAD_BYTES} bytes"
            )));
        }
        progress.advance(n as u64);
    }
    writer.flush().map_err(local)?;
    drop(writer);
    if let Some(total) = total.filter(|&t| t != received) {
        return Err(AttemptError::Mirror(format!(
            "truncated: {received} of {total} bytes"
        )));
    }
    let digest = format!("{:x}", hasher.finalize());
    verify(temp.path(), &digest, file).map_err(AttemptError::Mirror)?;
    temp.as_file().sync_all().map_err(local)?;
    Ok(temp)
}

/// Checks a file whose byte digest is `file_digest` against what `spec` knows about it.
fn verify(path: &Path, file_digest: &str, spec: &RemoteFile) -> std::result::Result<(), String> {
    let matches = |expected: &Option<String>, actual: &str| {
        expected
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(actual))
    };
    if matches(&spec.sha256, file_digest) {
        return Ok(());
    }
    if spec.content_sha256.is_some() {
        let content = content_sha256(path).map_err(|e| format!("cannot read the data: {e}"))?;
        if matches(&spec.content_sha256, &content) {
            return Ok(());
        }
    }
    if let Some(expected) = spec.sha256.as_deref().or(spec.content_sha256.as_deref()) {
        return Err(format!(
            "SHA-256 mismatch: got {file_digest}, expected {expected}"
        ));
    }
    // No digest known: at least make sure it is a complete, well-formed IDX file.
    IdxArray::read_file(path)
        .map(drop)
        .map_err(|e| format!("not a valid IDX file: {e}"))
}

/// Lower-case hex SHA-256 of a file's bytes, read in a streaming fashion.
pub fn sha256_file(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    let mut file = File::open(path).map_err(|e| Error::io(path, "cannot open", e))?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher).map_err(|e| Error::io(path, "cannot read", e))?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// Lower-case hex SHA-256 of a file's content after gzip decompression (if it is gzip).
fn content_sha256(path: &Path) -> io::Result<String> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut hasher = Sha256::new();
    if reader.fill_buf()?.starts_with(&GZIP_MAGIC) {
        io::copy(&mut MultiGzDecoder::new(reader), &mut hasher)?;
    } else {
        io::copy(&mut reader, &mut hasher)?;
    }
    Ok(format!("{:x}", hasher.finalize()))
}
