//! IDX reading and writing: round trips of every element type and crafted broken files.

use std::io::Write;
use std::path::{Path, PathBuf};

use digits_idx::{Compression, ElementType, Error, IdxArray, IdxData};
use flate2::write::GzEncoder;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("write to memory");
    encoder.finish().expect("finish in memory")
}

/// An IDX header: magic with `code` and one big-endian u32 per dimension.
fn header(code: u8, dims: &[u32]) -> Vec<u8> {
    let mut bytes = vec![0, 0, code, dims.len() as u8];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes
}

fn write_temp(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write test file");
    path
}

/// Reads a crafted file and checks that the error message names it.
fn read_err(path: &Path) -> Error {
    let err = IdxArray::read_file(path).expect_err("crafted file must be refused");
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "message does not name the file: {message}"
    );
    err
}

fn sample_arrays() -> Vec<IdxArray> {
    let dims = vec![2, 3, 4];
    let n: usize = 24;
    let datas = [
        IdxData::U8((0..n).map(|i| (i * 11) as u8).collect()),
        IdxData::I8((0..n).map(|i| (i as i8 - 12) * 10).collect()),
        IdxData::I16((0..n).map(|i| (i as i16 - 12) * 1000 + 7).collect()),
        IdxData::I32((0..n).map(|i| (i as i32 - 12) * 100_000_007).collect()),
        IdxData::F32((0..n).map(|i| (i as f32 - 12.5) * 1.5e-3).collect()),
        IdxData::F64(
            (0..n)
                .map(|i| (i as f64 - 12.5) * 1.234_567_890_123e100)
                .collect(),
        ),
    ];
    datas
        .into_iter()
        .map(|data| IdxArray::new(dims.clone(), data).expect("valid shape"))
        .collect()
}

#[test]
fn every_type_round_trips_plain_and_gzip_through_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    for array in sample_arrays() {
        for compression in [Compression::None, Compression::Gzip] {
            let path = dir
                .path()
                .join(format!("{}-{compression:?}", array.element_type()));
            array.write_file(&path, compression).expect("write");
            let bytes = std::fs::read(&path).expect("read back");
            assert_eq!(
                bytes.starts_with(&[0x1f, 0x8b]),
                compression == Compression::Gzip
            );
            assert_eq!(IdxArray::read_file(&path).expect("read"), array);
        }
    }
}

#[test]
fn every_type_and_rank_round_trips_through_readers() {
    for rank in 1..=5usize {
        let dims: Vec<usize> = (0..rank).map(|i| i + 1).collect();
        let n: usize = dims.iter().product();
        for element in ElementType::ALL {
            let data = match element {
                ElementType::U8 => IdxData::U8(vec![200; n]),
                ElementType::I8 => IdxData::I8(vec![-100; n]),
                ElementType::I16 => IdxData::I16(vec![-30_000; n]),
                ElementType::I32 => IdxData::I32(vec![i32::MIN; n]),
                ElementType::F32 => IdxData::F32(vec![f32::MAX; n]),
                ElementType::F64 => IdxData::F64(vec![-0.1; n]),
            };
            let array = IdxArray::new(dims.clone(), data).expect("valid shape");
            for compression in [Compression::None, Compression::Gzip] {
                let mut bytes = Vec::new();
                array
                    .write(&mut bytes, compression)
                    .expect("write to memory");
                let back = IdxArray::read(bytes.as_slice(), "memory").expect("read");
                assert_eq!(back, array);
                assert_eq!(back.element_type(), element);
                assert_eq!(back.dims(), dims.as_slice());
            }
        }
    }
}

#[test]
fn written_bytes_follow_the_format_exactly() {
    let array = IdxArray::new(vec![2, 1], IdxData::I16(vec![0x0102, -2])).expect("valid shape");
    let mut bytes = Vec::new();
    array.write(&mut bytes, Compression::None).expect("write");
    assert_eq!(
        bytes,
        [
            0, 0, 0x0B, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0x01, 0x02, 0xFF, 0xFE
        ]
    );
}

#[test]
fn large_multibyte_arrays_cross_conversion_chunks() {
    // More than one 64 KiB conversion chunk, and not a multiple of it.
    let n = 50_001;
    let array = IdxArray::new(
        vec![n],
        IdxData::F64((0..n).map(|i| i as f64 / 3.0).collect()),
    )
    .expect("shape");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("big.idx.gz");
    array.write_file(&path, Compression::Gzip).expect("write");
    assert_eq!(IdxArray::read_file(&path).expect("read"), array);
}

#[test]
fn gzip_is_detected_by_magic_not_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let array = IdxArray::new(vec![3], IdxData::U8(vec![1, 2, 3])).expect("shape");
    let plain_named_gz = dir.path().join("plain.gz");
    let gzip_without_suffix = dir.path().join("compressed-idx1-ubyte");
    array
        .write_file(&plain_named_gz, Compression::None)
        .expect("write");
    array
        .write_file(&gzip_without_suffix, Compression::Gzip)
        .expect("write");
    assert_eq!(IdxArray::read_file(&plain_named_gz).expect("read"), array);
    assert_eq!(
        IdxArray::read_file(&gzip_without_suffix).expect("read"),
        array
    );
}

#[test]
fn new_refuses_shapes_an_idx_header_cannot_hold() {
    let u8s = |n| IdxData::U8(vec![0; n]);
    assert!(IdxArray::new(vec![], u8s(1)).is_err());
    assert!(IdxArray::new(vec![2, 0], u8s(0)).is_err());
    assert!(IdxArray::new(vec![2, 3], u8s(5)).is_err());
    assert!(IdxArray::new(vec![1; 256], u8s(1)).is_err());
    assert!(IdxArray::new(vec![1; 255], u8s(1)).is_ok());
    #[cfg(target_pointer_width = "64")]
    assert!(IdxArray::new(vec![1 << 32], u8s(0)).is_err());
    let err = IdxArray::new(vec![2, 3], u8s(5)).expect_err("mismatch");
    assert!(err.to_string().contains("[2, 3]"), "{err}");
}

#[test]
fn bad_magic_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut bytes = header(0x08, &[1]);
    bytes[0] = 0x7f;
    bytes.push(1);
    let path = write_temp(&dir, "bad-magic", &bytes);
    assert!(matches!(
        read_err(&path),
        Error::BadMagic {
            found: [0x7f, 0, 8, 1],
            ..
        }
    ));
    let text = write_temp(&dir, "text", b"hello, world");
    assert!(matches!(read_err(&text), Error::BadMagic { .. }));
}

#[test]
fn unknown_type_code_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    for code in [0x00, 0x07, 0x0A, 0x0F, 0xFF] {
        let mut bytes = header(code, &[1]);
        bytes.push(0);
        let path = write_temp(&dir, &format!("type-{code}"), &bytes);
        let err = read_err(&path);
        assert!(
            matches!(err, Error::UnknownType { code: c, .. } if c == code),
            "{err}"
        );
    }
}

#[test]
fn zero_dimensions_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let none = write_temp(&dir, "rank0", &header(0x08, &[]));
    assert!(matches!(read_err(&none), Error::NoDimensions { .. }));
    let zero = write_temp(&dir, "dim0", &header(0x08, &[3, 0, 2]));
    assert!(matches!(
        read_err(&zero),
        Error::ZeroDimension { index: 1, .. }
    ));
}

#[test]
fn overflowing_dimensions_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    // 2^96 elements: overflows on every platform, before anything is allocated.
    let path = write_temp(
        &dir,
        "overflow",
        &header(0x08, &[u32::MAX, u32::MAX, u32::MAX]),
    );
    assert!(matches!(read_err(&path), Error::DimensionOverflow { .. }));
    let path = write_temp(
        &dir,
        "overflow-f64",
        &header(0x0E, &[u32::MAX, u32::MAX, 1 << 30]),
    );
    assert!(matches!(read_err(&path), Error::DimensionOverflow { .. }));
}

#[test]
fn truncated_header_and_data_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = write_temp(&dir, "empty", &[]);
    assert!(matches!(
        read_err(&empty),
        Error::Truncated {
            part: "header",
            found: 0,
            ..
        }
    ));
    let short_dims = write_temp(&dir, "short-dims", &header(0x08, &[60_000, 28, 28])[..9]);
    assert!(matches!(
        read_err(&short_dims),
        Error::Truncated {
            part: "header",
            expected: 16,
            found: 9,
            ..
        }
    ));
    // A header claiming 60000 images over 10 bytes of data: refused from the file length.
    let mut bytes = header(0x08, &[60_000, 28, 28]);
    bytes.extend_from_slice(&[0; 10]);
    let short = write_temp(&dir, "short-data", &bytes);
    assert!(matches!(
        read_err(&short),
        Error::Truncated {
            part: "data",
            expected: 47_040_000,
            found: 10,
            ..
        }
    ));
    let short_gz = write_temp(&dir, "short-data.gz", &gzip(&bytes));
    assert!(matches!(
        read_err(&short_gz),
        Error::Truncated {
            part: "data",
            expected: 47_040_000,
            found: 10,
            ..
        }
    ));
    // Multi-byte elements: 3 i32 declared, 9 bytes present.
    let mut bytes = header(0x0C, &[3]);
    bytes.extend_from_slice(&[0; 9]);
    let short_i32 = write_temp(&dir, "short-i32.gz", &gzip(&bytes));
    assert!(matches!(
        read_err(&short_i32),
        Error::Truncated {
            part: "data",
            expected: 12,
            found: 9,
            ..
        }
    ));
}

#[test]
fn trailing_bytes_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut bytes = header(0x08, &[2]);
    bytes.extend_from_slice(&[1, 2, 3, 4, 5]);
    let plain = write_temp(&dir, "trailing", &bytes);
    assert!(matches!(
        read_err(&plain),
        Error::TrailingBytes {
            expected: 2,
            extra: 3,
            ..
        }
    ));
    let gz = write_temp(&dir, "trailing.gz", &gzip(&bytes));
    assert!(matches!(
        read_err(&gz),
        Error::TrailingBytes {
            expected: 2,
            extra: 3,
            ..
        }
    ));
}

#[test]
fn corrupt_gzip_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let array = IdxArray::new(
        vec![100, 10],
        IdxData::U8((0..1000).map(|i| (i * 7 % 251) as u8).collect()),
    )
    .expect("shape");
    let mut compressed = Vec::new();
    array
        .write(&mut compressed, Compression::Gzip)
        .expect("write");

    // Garbage right after the gzip header: the deflate stream is invalid.
    let mut garbage = compressed.clone();
    for byte in &mut garbage[10..30] {
        *byte = 0xFF;
    }
    let path = write_temp(&dir, "garbage.gz", &garbage);
    assert!(matches!(read_err(&path), Error::CorruptGzip { .. }));

    // The stream cut in the middle.
    let path = write_temp(&dir, "cut.gz", &compressed[..compressed.len() / 2]);
    assert!(matches!(read_err(&path), Error::CorruptGzip { .. }));

    // Only the magic bytes.
    let path = write_temp(&dir, "magic-only.gz", &[0x1f, 0x8b]);
    assert!(matches!(read_err(&path), Error::CorruptGzip { .. }));

    // Intact deflate data but a wrong CRC in the trailer.
    let mut bad_crc = compressed.clone();
    let crc_at = bad_crc.len() - 8;
    bad_crc[crc_at] ^= 0x55;
    let path = write_temp(&dir, "bad-crc.gz", &bad_crc);
    assert!(matches!(read_err(&path), Error::CorruptGzip { .. }));

    // Junk after a complete gzip member.
    let mut junk = compressed;
    junk.extend_from_slice(b"junk");
    let path = write_temp(&dir, "junk.gz", &junk);
    assert!(matches!(
        read_err(&path),
        Error::CorruptGzip { .. } | Error::TrailingBytes { .. }
    ));
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("does-not-exist");
    assert!(matches!(read_err(&path), Error::Io { .. }));
}
