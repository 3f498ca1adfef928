//! Files that appear whole or not at all: written to a temporary file beside the target, then renamed over it.

use std::io;
use std::path::Path;

use tempfile::NamedTempFile;

/// A temporary file in `dir` (named `{prefix}…{suffix}`) for a file that will be renamed into place.
///
/// It gets the permissions of any new file (`0o666` less the umask on Unix), not the owner-only `0o600` of
/// temporary files: a model or a dataset is meant to be read by others, as if it had been created directly.
pub fn temp_file_in(dir: &Path, prefix: &str, suffix: &str) -> io::Result<NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(suffix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

/// The temporary file for writing `path`: beside it (so the rename stays on one file system), named
/// `.NAME.XXXXXX.part` (hidden, and recognisable as a leftover when a crash leaves it).
pub fn temp_file_for(path: &Path) -> io::Result<NamedTempFile> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    temp_file_in(dir, &format!(".{name}."), ".part")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_renamed_file_has_the_permissions_of_a_file_created_directly() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let mode = |p: &Path| p.metadata().expect("metadata").permissions().mode() & 0o777;
        let direct = dir.path().join("direct");
        std::fs::write(&direct, b"x").expect("write");
        let renamed = dir.path().join("renamed");
        temp_file_in(dir.path(), ".renamed.", ".part")
            .expect("temp file")
            .persist(&renamed)
            .expect("persist");
        assert_eq!(mode(&renamed), mode(&direct));
        assert_ne!(
            mode(&renamed),
            0o600,
            "the umask here would hide the difference"
        );
    }
}
