//! Random and mutated inputs never make the reader panic or allocate more than the input can hold.
//!
//! A counting global allocator records, per thread, the largest single allocation made while a
//! read is in progress; each case checks it against a bound derived from the file size.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;

use digits_idx::{Compression, DEFAULT_MAX_DATA_BYTES, Error, GZIP_RESERVE_CAP, IdxArray, IdxData};
use proptest::prelude::*;

struct CountingAllocator;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; it only records sizes.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn record(size: usize) {
    // `try_with` because the thread-local may already be gone while a thread shuts down.
    let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Fixed buffers of the reader (BufReader, conversion chunk, gzip state) stay below this.
const FIXED_OVERHEAD: usize = 256 << 10;

/// Reads `bytes` from a file and returns the largest allocation made meanwhile; the result must be
/// Ok or Err, and a panic fails the test.
fn read_and_measure(bytes: &[u8]) -> usize {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("case");
    std::fs::write(&path, bytes).expect("write case");
    LARGEST.with(|l| l.set(0));
    let result = IdxArray::read_file(&path);
    let largest = LARGEST.with(Cell::get);
    if let Err(err) = result {
        // Every error names the file it is about.
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }
    largest
}

/// The largest allocation a file of `len` bytes may cause.
fn bound(bytes: &[u8]) -> usize {
    let len = bytes.len();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        // Data can expand by at most about 1032:1; the first reservation is capped anyway, and
        // growing by doubling may at most double what was actually decompressed.
        (len * 1032).min(GZIP_RESERVE_CAP) * 2 + FIXED_OVERHEAD
    } else {
        len + FIXED_OVERHEAD
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("write to memory");
    encoder.finish().expect("finish in memory")
}

/// A valid small file of every element type to mutate.
fn valid_file(code_index: usize, gzipped: bool) -> Vec<u8> {
    let data = match code_index {
        0 => IdxData::U8(vec![7; 60]),
        1 => IdxData::I8(vec![-7; 60]),
        2 => IdxData::I16(vec![-300; 60]),
        3 => IdxData::I32(vec![70_000; 60]),
        4 => IdxData::F32(vec![0.5; 60]),
        _ => IdxData::F64(vec![-0.25; 60]),
    };
    let array = IdxArray::new(vec![3, 4, 5], data).expect("shape");
    let mut bytes = Vec::new();
    let compression = if gzipped {
        Compression::Gzip
    } else {
        Compression::None
    };
    array.write(&mut bytes, compression).expect("write");
    bytes
}

/// Headers with the right magic, any type byte, any rank up to 6 and dimensions that are
/// usually huge, followed by a little data.
fn forged_header() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u8>(),
        0u8..=6,
        prop::collection::vec(prop_oneof![Just(0u32), 1u32..100, any::<u32>()], 6),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(code, rank, dims, tail)| {
            let mut bytes = vec![0, 0, code, rank];
            for d in &dims[..usize::from(rank)] {
                bytes.extend_from_slice(&d.to_be_bytes());
            }
            bytes.extend_from_slice(&tail);
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let largest = read_and_measure(&bytes);
        prop_assert!(largest <= bound(&bytes), "{largest} bytes allocated for a {}-byte file", bytes.len());
    }

    #[test]
    fn forged_headers_never_panic_or_over_allocate(bytes in forged_header(), compress in any::<bool>()) {
        let bytes = if compress { gzip(&bytes) } else { bytes };
        let largest = read_and_measure(&bytes);
        prop_assert!(largest <= bound(&bytes), "{largest} bytes allocated for a {}-byte file", bytes.len());
    }

    #[test]
    fn mutated_files_never_panic_or_over_allocate(
        code_index in 0usize..6,
        gzipped in any::<bool>(),
        mutations in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let mut bytes = valid_file(code_index, gzipped);
        for (at, value) in mutations {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if do_cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        let largest = read_and_measure(&bytes);
        prop_assert!(largest <= bound(&bytes), "{largest} bytes allocated for a {}-byte file", bytes.len());
    }

    #[test]
    fn mutated_plain_headers_keep_allocation_bounded(
        code_index in 0usize..6,
        header_byte in 0usize..16,
        value in any::<u8>(),
        gzipped in any::<bool>(),
    ) {
        // Mutate the uncompressed header, then optionally compress: reaches the gzip data path
        // with forged dimensions.
        let mut bytes = valid_file(code_index, false);
        bytes[header_byte] = value;
        let bytes = if gzipped { gzip(&bytes) } else { bytes };
        let largest = read_and_measure(&bytes);
        prop_assert!(largest <= bound(&bytes), "{largest} bytes allocated for a {}-byte file", bytes.len());
    }
}

#[test]
fn huge_header_in_a_tiny_gzip_file_reserves_little() {
    // Claims 4 GiB of u8 in a file of a few dozen bytes.
    let mut bytes = vec![0, 0, 0x08, 1];
    bytes.extend_from_slice(&u32::MAX.to_be_bytes());
    let compressed = gzip(&bytes);
    let largest = read_and_measure(&compressed);
    assert!(largest < 1 << 20, "{largest}");
}

/// A gzip bomb: a header declaring 25 million 28×28 images (19.6 GB) followed by zeros that compress
/// 1000:1. It is refused from the header alone, naming the file, before any data is inflated.
#[test]
fn a_header_declaring_more_than_the_limit_is_refused_before_inflating() {
    let mut plain = vec![0, 0, 0x08, 3];
    for d in [25_000_000u32, 28, 28] {
        plain.extend_from_slice(&d.to_be_bytes());
    }
    plain.resize(plain.len() + (8 << 20), 0);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bomb-idx3-ubyte.gz");
    std::fs::write(&path, gzip(&plain)).expect("write");
    let err = IdxArray::read_file(&path).expect_err("over the default limit");
    assert!(
        matches!(err, Error::TooLarge { declared: 19_600_000_000, limit, .. } if limit == DEFAULT_MAX_DATA_BYTES),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("bomb-idx3-ubyte.gz") && message.contains("--max-data-mib"),
        "{message}"
    );
    assert!(read_and_measure(&gzip(&plain)) < 64 << 20);

    // The limit is the caller's: a real file over a lower one is refused, and read under a higher one.
    let small = valid_file(0, true);
    let small_path = dir.path().join("small.gz");
    std::fs::write(&small_path, &small).expect("write");
    let declared = IdxArray::read_file(&small_path)
        .expect("valid")
        .into_parts()
        .1
        .len() as u64;
    assert!(matches!(
        IdxArray::read_file_limited(&small_path, declared - 1),
        Err(Error::TooLarge { .. })
    ));
    assert!(IdxArray::read_file_limited(&small_path, declared).is_ok());
}
