//! Time to read the real MNIST files: each IDX file alone, and the whole dataset as training
//! code loads it (`Dataset::load`, both splits in parallel, with consistency checks).
//!
//! The data folder is `$DIGITS_DATA`, else the MNIST copy shipped in `data/mnist`; without the files the
//! benchmark prints a message and measures nothing.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use digits_idx::{Dataset, DatasetFiles, IdxArray};

fn data_dir() -> PathBuf {
    std::env::var_os("DIGITS_DATA")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/mnist"))
}

fn idx_read(c: &mut Criterion) {
    let dir = data_dir();
    let files = match DatasetFiles::locate(&dir) {
        Ok(files) => files,
        Err(err) => {
            println!(
                "skipping idx_read: no MNIST data ({err}); set DIGITS_DATA to a folder holding it"
            );
            return;
        }
    };
    let mut group = c.benchmark_group("idx_read");
    group.sample_size(10);
    for path in [
        &files.train.images,
        &files.train.labels,
        &files.test.images,
        &files.test.labels,
    ] {
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        group.bench_function(name, |b| {
            b.iter(|| black_box(IdxArray::read_file(path).expect("readable")))
        });
    }
    group.bench_function("Dataset::load", |b| {
        b.iter(|| black_box(Dataset::load(&dir).expect("loads")))
    });
    group.finish();
}

criterion_group!(benches, idx_read);
criterion_main!(benches);
