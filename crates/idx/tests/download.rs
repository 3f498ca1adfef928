//! Verified download against a small local HTTP/1.1 server with good, corrupt, truncated and
//! missing mirrors.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use digits_idx::download::{self, DatasetSource, FileReport, FileStatus, Progress, RemoteFile};
use digits_idx::{Compression, DataOrigin, DataPlaces, Dataset, Error, IdxArray, IdxData, Split};
use sha2::{Digest, Sha256};

/// What the server answers for one path.
enum Reply {
    Body(Vec<u8>),
    NotFound,
    /// Announces more bytes than it sends, then closes the connection.
    Truncated(Vec<u8>),
}

/// Paths requested so far, shared with the server thread.
type RequestLog = Arc<Mutex<Vec<String>>>;

/// Starts a server on 127.0.0.1 answering `route(path)`; it stops by itself after `max_requests`
/// requests or 30 seconds, whichever comes first. Returns its base URL and the request log.
fn serve(
    max_requests: usize,
    route: impl Fn(&str) -> Reply + Send + 'static,
) -> (String, RequestLog) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("non-blocking");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let log = RequestLog::default();
    let server_log = Arc::clone(&log);
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut served = 0;
        while served < max_requests && Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => {
                    served += 1;
                    // A broken connection only fails the one request, which the client reports.
                    let _ = answer(stream, &route, &server_log);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (base, log)
}

fn answer(
    mut stream: TcpStream,
    route: &impl Fn(&str) -> Reply,
    log: &RequestLog,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 << 10 {
        if stream.read(&mut byte)? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
    log.lock().expect("log lock").push(path.clone());
    let (status, body, announced) = match route(&path) {
        Reply::Body(body) => ("200 OK", body.clone(), body.len()),
        Reply::NotFound => ("404 Not Found", b"not found".to_vec(), 9),
        Reply::Truncated(body) => ("200 OK", body.clone(), body.len() + 1000),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {announced}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
    )?;
    stream.write_all(&body)?;
    stream.flush()?;
    stream.shutdown(std::net::Shutdown::Both)
}

/// Four small gzip IDX files with the standard names: (name, bytes).
fn dataset_files() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for (s, split) in Split::ALL.into_iter().enumerate() {
        let n = 6 + s;
        let images = IdxArray::new(
            vec![n, 4, 4],
            IdxData::U8((0..n * 16).map(|i| (i * 3 + s) as u8).collect()),
        );
        let labels = IdxArray::new(
            vec![n],
            IdxData::U8((0..n).map(|i| (i % 10) as u8).collect()),
        );
        for (name, array) in [(split.images_file(), images), (split.labels_file(), labels)] {
            let mut bytes = Vec::new();
            array
                .expect("shape")
                .write(&mut bytes, Compression::Gzip)
                .expect("write");
            files.push((format!("{name}.gz"), bytes));
        }
    }
    files
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// A source serving `files` from `mirrors`, with their file digests.
fn source(files: &[(String, Vec<u8>)], mirrors: Vec<String>) -> DatasetSource {
    DatasetSource {
        name: "test".to_string(),
        mirrors,
        files: files
            .iter()
            .map(|(name, bytes)| RemoteFile {
                name: name.clone(),
                sha256: Some(sha256_hex(bytes)),
                content_sha256: None,
            })
            .collect(),
    }
}

/// A route with a good, a corrupt, a truncated and a missing mirror for `files`.
fn mirror_route(files: Vec<(String, Vec<u8>)>) -> impl Fn(&str) -> Reply + Send + 'static {
    move |path: &str| {
        let Some((mirror, name)) = path.trim_start_matches('/').split_once('/') else {
            return Reply::NotFound;
        };
        let Some((_, bytes)) = files.iter().find(|(n, _)| n == name) else {
            return Reply::NotFound;
        };
        match mirror {
            "good" => Reply::Body(bytes.clone()),
            "corrupt" => {
                let mut corrupt = bytes.clone();
                let last = corrupt.len() - 1;
                corrupt[last] ^= 1;
                Reply::Body(corrupt)
            }
            "truncated" => Reply::Truncated(bytes[..bytes.len() / 2].to_vec()),
            _ => Reply::NotFound,
        }
    }
}

/// A base URL on which nothing listens.
fn refused_base() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{address}/")
}

#[derive(Default)]
struct Recorder {
    started: Vec<String>,
    bytes: u64,
    failures: Vec<(String, String)>,
    finished: Vec<FileReport>,
}

impl Progress for Recorder {
    fn start(&mut self, _file: &str, url: &str, _total: Option<u64>) {
        self.started.push(url.to_string());
    }
    fn advance(&mut self, bytes: u64) {
        self.bytes += bytes;
    }
    fn mirror_failed(&mut self, _file: &str, url: &str, reason: &str) {
        self.failures.push((url.to_string(), reason.to_string()));
    }
    fn finished(&mut self, report: &FileReport) {
        self.finished.push(report.clone());
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn falls_through_bad_mirrors_to_the_good_one() {
    let files = dataset_files();
    let (base, log) = serve(4 * 4, mirror_route(files.clone()));
    let mirrors = vec![
        refused_base(),
        format!("{base}/missing/"),
        format!("{base}/corrupt"), // no trailing slash: joined all the same
        format!("{base}/truncated/"),
        format!("{base}/good/"),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("nested/folder");
    let mut progress = Recorder::default();
    let reports =
        download::download(&source(&files, mirrors), &target, &mut progress).expect("download");

    assert_eq!(reports.len(), 4);
    for ((name, bytes), report) in files.iter().zip(&reports) {
        assert_eq!(&report.name, name);
        assert_eq!(
            report.status,
            FileStatus::Downloaded {
                url: format!("{base}/good/{name}")
            }
        );
        assert_eq!(
            &std::fs::read(&report.path).expect("downloaded file"),
            bytes
        );
    }
    assert_eq!(progress.finished, reports);
    // Every file went through the four bad mirrors first.
    assert_eq!(progress.failures.len(), 16);
    let reasons: Vec<&str> = progress.failures.iter().map(|(_, r)| r.as_str()).collect();
    assert!(reasons[1].contains("404"), "{reasons:?}");
    assert!(reasons[2].contains("SHA-256 mismatch"), "{reasons:?}");
    assert!(
        reasons[3].contains("truncated") || reasons[3].contains("transfer failed"),
        "{reasons:?}"
    );
    assert!(progress.bytes >= files.iter().map(|(_, b)| b.len() as u64).sum::<u64>());
    assert_eq!(log.lock().expect("log").len(), 16);
    // Only the four final files remain: no temporary file left behind.
    let mut expected: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    expected.sort();
    assert_eq!(names_in(&target), expected);
    // And they form a loadable dataset.
    assert_eq!(Dataset::load(&target).expect("loads").test.len(), 7);
}

#[test]
fn every_mirror_bad_is_a_clear_error_and_leaves_nothing() {
    let files = dataset_files();
    let (base, _log) = serve(3, mirror_route(files.clone()));
    let mirrors = vec![
        format!("{base}/missing/"),
        format!("{base}/corrupt/"),
        format!("{base}/truncated/"),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let err = download::download(&source(&files, mirrors), dir.path(), &mut ())
        .expect_err("no good mirror");
    let Error::DownloadFailed { path, attempts } = &err else {
        panic!("unexpected error {err}");
    };
    assert_eq!(path, &dir.path().join("train-images-idx3-ubyte.gz"));
    assert_eq!(attempts.len(), 3);
    let message = err.to_string();
    assert!(message.contains("train-images-idx3-ubyte.gz"), "{message}");
    assert!(
        message.contains("404") && message.contains("mismatch"),
        "{message}"
    );
    assert!(
        names_in(dir.path()).is_empty(),
        "left behind: {:?}",
        names_in(dir.path())
    );
}

#[test]
fn files_already_present_are_not_fetched_again() {
    let files = dataset_files();
    let (base, log) = serve(1, mirror_route(files.clone()));
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, bytes) in &files {
        std::fs::write(dir.path().join(name), bytes).expect("place file");
    }
    // One present file is damaged: only it is fetched again.
    let damaged = dir.path().join(&files[1].0);
    std::fs::write(&damaged, b"damaged").expect("damage");
    let reports = download::download(
        &source(&files, vec![format!("{base}/good/")]),
        dir.path(),
        &mut (),
    )
    .expect("download");
    let statuses: Vec<bool> = reports
        .iter()
        .map(|r| r.status == FileStatus::AlreadyPresent)
        .collect();
    assert_eq!(statuses, [true, false, true, true]);
    assert_eq!(std::fs::read(&damaged).expect("repaired"), files[1].1);
    assert_eq!(
        log.lock().expect("log").as_slice(),
        [format!("/good/{}", files[1].0)]
    );
}

#[test]
fn content_digest_accepts_a_recompressed_copy() {
    let files = dataset_files();
    // The server holds the same data stored uncompressed: other bytes, same content.
    let served: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(name, gz)| {
            let array = IdxArray::read(gz.as_slice(), name).expect("decodes");
            let mut plain = Vec::new();
            array.write(&mut plain, Compression::None).expect("write");
            (name.clone(), plain)
        })
        .collect();
    let mut spec = source(&files, Vec::new());
    for (file, (_, plain)) in spec.files.iter_mut().zip(&served) {
        file.content_sha256 = Some(sha256_hex(plain).to_uppercase()); // case does not matter
    }
    let (base, _log) = serve(4, mirror_route(served));
    spec.mirrors = vec![format!("{base}/good/")];
    let dir = tempfile::tempdir().expect("temp dir");
    download::download(&spec, dir.path(), &mut ()).expect("accepted by content digest");
    assert_eq!(Dataset::load(dir.path()).expect("loads").train.len(), 6);
}

#[test]
fn without_digests_only_well_formed_idx_is_accepted() {
    let files = dataset_files();
    let mut spec = source(&files[..1], Vec::new());
    spec.files[0].sha256 = None;
    let good_route = mirror_route(files.clone());
    let (base, _log) = serve(2, move |path: &str| {
        if path.starts_with("/junk/") {
            Reply::Body(b"<html>not idx</html>".to_vec())
        } else {
            good_route(path)
        }
    });
    spec.mirrors = vec![format!("{base}/junk/"), format!("{base}/good/")];
    let dir = tempfile::tempdir().expect("temp dir");
    let mut progress = Recorder::default();
    download::download(&spec, dir.path(), &mut progress).expect("second mirror is fine");
    assert_eq!(progress.failures.len(), 1);
    assert!(
        progress.failures[0].1.contains("not a valid IDX file"),
        "{:?}",
        progress.failures
    );
    assert_eq!(progress.started.len(), 2);
}

#[test]
fn built_in_table_is_complete() {
    let mnist = download::builtin("mnist").expect("mnist");
    assert_eq!(mnist.mirrors.len(), 2);
    assert!(
        mnist
            .mirrors
            .iter()
            .all(|m| m.starts_with("https://") && m.ends_with("/mnist/"))
    );
    let fashion = download::builtin("fashion-mnist").expect("fashion-mnist");
    for set in [&mnist, &fashion] {
        let names: Vec<&str> = set.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "train-images-idx3-ubyte.gz",
                "train-labels-idx1-ubyte.gz",
                "t10k-images-idx3-ubyte.gz",
                "t10k-labels-idx1-ubyte.gz"
            ]
        );
        for file in &set.files {
            for digest in file.sha256.iter().chain(&file.content_sha256) {
                assert!(
                    digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{digest}"
                );
            }
            assert!(file.sha256.is_some());
        }
    }
    assert!(mnist.files.iter().all(|f| f.content_sha256.is_some()));
    let err = download::builtin("cifar").expect_err("unknown");
    assert!(err.to_string().contains("mnist, fashion-mnist"), "{err}");
    assert_eq!(download::builtin_names(), ["mnist", "fashion-mnist"]);
}

#[test]
fn default_dir_is_per_dataset_under_the_cache() {
    if let Ok(dir) = download::default_dir("mnist") {
        assert!(dir.ends_with("digits/mnist"), "{}", dir.display());
    }
}

#[test]
fn first_use_downloads_into_an_empty_cache_from_a_loopback_mirror() {
    let files = dataset_files();
    let (base, log) = serve(4, mirror_route(files.clone()));
    let source = source(&files, vec![format!("{base}/good/")]);
    let cache = tempfile::tempdir().expect("temp dir");
    let places = DataPlaces {
        explicit: None,
        env_value: None,
        bundled: Some(cache.path().join("no-shipped-copy")),
        cache: Some(cache.path().join("mnist")),
    };
    let mut recorder = Recorder::default();
    let found = places
        .resolve_or_download(&source, &mut recorder)
        .expect("downloaded on first use");
    assert_eq!(found.origin, DataOrigin::Downloaded);
    assert_eq!(found.dir(), cache.path().join("mnist"));
    assert_eq!(recorder.finished.len(), 4);
    assert!(Dataset::load(found.dir()).is_ok());
    assert_eq!(log.lock().expect("log").len(), 4);

    // The second use finds the cache and fetches nothing.
    let again = places
        .resolve_or_download(&source, &mut ())
        .expect("found in the cache");
    assert_eq!(again.origin, DataOrigin::Cache);
    assert_eq!(log.lock().expect("log").len(), 4);
}

#[test]
fn a_named_folder_is_never_replaced_by_a_download() {
    let empty = tempfile::tempdir().expect("temp dir");
    // Nothing listens here: a download attempt would fail with a different error.
    let source = source(&dataset_files(), vec![refused_base()]);
    let places = DataPlaces {
        explicit: Some(empty.path().to_path_buf()),
        env_value: None,
        bundled: None,
        cache: Some(empty.path().join("cache")),
    };
    let err = places
        .resolve_or_download(&source, &mut ())
        .expect_err("an empty --data folder");
    assert!(matches!(err, Error::DataNotFound(_)), "{err}");
    assert!(!empty.path().join("cache").exists());
}
