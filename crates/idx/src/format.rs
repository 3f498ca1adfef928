//! The IDX file format: reading and writing arrays of any element type and rank.
//!
//! An IDX file is a 4-byte magic number (`00 00 <type code> <number of dimensions>`), one big-endian
//! `u32` per dimension, then the elements in row-major order, big-endian. Files may be gzip
//! compressed; this is detected from the gzip magic bytes, never from the file name.
//!
//! Reading streams the data straight into the final `Vec`: for an uncompressed file the size the
//! header implies is compared with the file length before anything is allocated; for a gzip file
//! the first reservation is capped (by [`GZIP_RESERVE_CAP`] and by what the compressed size can
//! possibly expand to) and the vector only grows as real data arrives. A forged header can
//! therefore not make the reader allocate more than the file can hold.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;
use flate2::write::GzEncoder;

use crate::error::{Error, Result, ShapeError};

/// The two bytes every gzip stream starts with.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Largest first reservation, in bytes, made for the data of a gzip-compressed file (64 MiB).
///
/// The header of a compressed file cannot be checked against the file length, so the data vector
/// starts at most this big and grows only as decompressed bytes actually arrive.
pub const GZIP_RESERVE_CAP: usize = 64 << 20;

/// The most data, in bytes, [`IdxArray::read_file`] and [`IdxArray::read`] accept (2 GiB): four times the
/// largest IDX dataset in common use (EMNIST ByClass, 0.55 GB), far below what a forged header can claim
/// (a 19 MB gzip can declare 25 million images and inflate to 20 GB). The `_limited` readers take another.
pub const DEFAULT_MAX_DATA_BYTES: u64 = 2 << 30;

/// Deflate cannot expand data by more than about 1032:1, so a compressed file of `n` bytes holds
/// at most this many times `n` bytes of data: a tighter reservation bound for small files.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// Size of the buffer used to convert multi-byte elements from big-endian (a multiple of 8).
const CONVERT_CHUNK: usize = 64 << 10;

/// The element type of an IDX array, as coded in the third magic byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElementType {
    /// Unsigned byte, code `0x08`.
    U8,
    /// Signed byte, code `0x09`.
    I8,
    /// Big-endian `i16`, code `0x0B`.
    I16,
    /// Big-endian `i32`, code `0x0C`.
    I32,
    /// Big-endian IEEE 754 `f32`, code `0x0D`.
    F32,
    /// Big-endian IEEE 754 `f64`, code `0x0E`.
    F64,
}

impl ElementType {
    /// All element types, in code order.
    pub const ALL: [ElementType; 6] = [
        Self::U8,
        Self::I8,
        Self::I16,
        Self::I32,
        Self::F32,
        Self::F64,
    ];

    /// The type code stored in the file.
    pub const fn code(self) -> u8 {
        match self {
            Self::U8 => 0x08,
            Self::I8 => 0x09,
            Self::I16 => 0x0B,
            Self::I32 => 0x0C,
            Self::F32 => 0x0D,
            Self::F64 => 0x0E,
        }
    }

    /// The type with this code, if any.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0x08 => Some(Self::U8),
            0x09 => Some(Self::I8),
            0x0B => Some(Self::I16),
            0x0C => Some(Self::I32),
            0x0D => Some(Self::F32),
            0x0E => Some(Self::F64),
            _ => None,
        }
    }

    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::I16 => 2,
            Self::I32 | Self::F32 => 4,
            Self::F64 => 8,
        }
    }
}

impl fmt::Display for ElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::U8 => "u8",
            Self::I8 => "i8",
            Self::I16 => "i16",
            Self::I32 => "i32",
            Self::F32 => "f32",
            Self::F64 => "f64",
        })
    }
}

/// The elements of an IDX array, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum IdxData {
    /// `0x08` elements.
    U8(Vec<u8>),
    /// `0x09` elements.
    I8(Vec<i8>),
    /// `0x0B` elements.
    I16(Vec<i16>),
    /// `0x0C` elements.
    I32(Vec<i32>),
    /// `0x0D` elements.
    F32(Vec<f32>),
    /// `0x0E` elements.
    F64(Vec<f64>),
}

impl IdxData {
    /// The element type of this data.
    pub fn element_type(&self) -> ElementType {
        match self {
            Self::U8(_) => ElementType::U8,
            Self::I8(_) => ElementType::I8,
            Self::I16(_) => ElementType::I16,
            Self::I32(_) => ElementType::I32,
            Self::F32(_) => ElementType::F32,
            Self::F64(_) => ElementType::F64,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Self::U8(v) => v.len(),
            Self::I8(v) => v.len(),
            Self::I16(v) => v.len(),
            Self::I32(v) => v.len(),
            Self::F32(v) => v.len(),
            Self::F64(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether [`IdxArray::write`] compresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Plain IDX bytes.
    #[default]
    None,
    /// A gzip stream (default compression level, no timestamp, so output is reproducible).
    Gzip,
}

/// An n-dimensional IDX array: its dimensions and its row-major elements.
///
/// Invariant: at least one and at most 255 dimensions, each between 1 and `u32::MAX`, and as many
/// elements as their product.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    dims: Vec<usize>,
    data: IdxData,
}

impl IdxArray {
    /// Builds an array, checking that `dims` can be stored in an IDX header and matches `data`.
    pub fn new(dims: Vec<usize>, data: IdxData) -> Result<Self, ShapeError> {
        let len = data.len();
        let refuse = |reason| {
            Err(ShapeError {
                dims: dims.clone(),
                len,
                reason,
            })
        };
        if dims.is_empty() {
            return refuse("an IDX array needs at least one dimension");
        }
        if dims.len() > usize::from(u8::MAX) {
            return refuse("an IDX header holds at most 255 dimensions");
        }
        if dims.iter().any(|&d| d == 0 || u32::try_from(d).is_err()) {
            return refuse("each dimension must be between 1 and u32::MAX");
        }
        if dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)) != Some(len) {
            return refuse("the dimensions do not multiply to the number of elements");
        }
        Ok(Self { dims, data })
    }

    /// The dimensions, outermost first (for MNIST images: count, rows, columns).
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The elements.
    pub fn data(&self) -> &IdxData {
        &self.data
    }

    /// The element type.
    pub fn element_type(&self) -> ElementType {
        self.data.element_type()
    }

    /// Number of elements (the product of the dimensions; never zero).
    pub fn num_elements(&self) -> usize {
        self.data.len()
    }

    /// Splits the array into its dimensions and its elements.
    pub fn into_parts(self) -> (Vec<usize>, IdxData) {
        (self.dims, self.data)
    }

    /// Reads an IDX file, gzip-compressed or not.
    ///
    /// Errors name `path`: see [`Error`] for the cases (bad magic, unknown type code, zero or
    /// overflowing dimensions, truncated data, trailing bytes, corrupt gzip, I/O).
    pub fn read_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::read_file_limited(path, DEFAULT_MAX_DATA_BYTES)
    }

    /// Like [`IdxArray::read_file`], refusing ([`Error::TooLarge`]) a header that declares more than
    /// `max_data_bytes` of data before reading any of it.
    pub fn read_file_limited(path: impl AsRef<Path>, max_data_bytes: u64) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io(path, "cannot open", e))?;
        let stored_len = file
            .metadata()
            .map_err(|e| Error::io(path, "cannot stat", e))?
            .len();
        read_buffered(
            BufReader::with_capacity(CONVERT_CHUNK, file),
            Some(stored_len),
            path,
            max_data_bytes,
        )
    }

    /// Reads an IDX array from any reader, gzip-compressed or not; `path` only names the source in
    /// errors.
    ///
    /// As the length of the input is unknown, the first reservation is capped at
    /// [`GZIP_RESERVE_CAP`] whether or not the input is compressed; at most [`DEFAULT_MAX_DATA_BYTES`] are read.
    pub fn read(reader: impl Read, path: impl AsRef<Path>) -> Result<Self> {
        read_buffered(
            BufReader::new(reader),
            None,
            path.as_ref(),
            DEFAULT_MAX_DATA_BYTES,
        )
    }

    /// Writes the array as an IDX stream.
    pub fn write(&self, writer: impl Write, compression: Compression) -> io::Result<()> {
        match compression {
            Compression::None => self.write_plain(writer),
            Compression::Gzip => {
                let mut encoder = GzEncoder::new(writer, flate2::Compression::default());
                self.write_plain(&mut encoder)?;
                encoder.finish()?.flush()
            }
        }
    }

    /// Writes the array to a file, creating or truncating it.
    pub fn write_file(&self, path: impl AsRef<Path>, compression: Compression) -> Result<()> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|e| Error::io(path, "cannot create", e))?;
        let mut writer = BufWriter::new(file);
        self.write(&mut writer, compression)
            .and_then(|()| writer.flush())
            .map_err(|e| Error::io(path, "cannot write", e))
    }

    fn write_plain(&self, mut w: impl Write) -> io::Result<()> {
        // `new` guarantees at most 255 dimensions, each fitting a u32.
        let rank = u8::try_from(self.dims.len()).map_err(io::Error::other)?;
        w.write_all(&[0, 0, self.element_type().code(), rank])?;
        for &d in &self.dims {
            let d = u32::try_from(d).map_err(io::Error::other)?;
            w.write_all(&d.to_be_bytes())?;
        }
        match &self.data {
            IdxData::U8(v) => w.write_all(v),
            IdxData::I8(v) => write_elements(w, v, |x| x.to_be_bytes()),
            IdxData::I16(v) => write_elements(w, v, |x| x.to_be_bytes()),
            IdxData::I32(v) => write_elements(w, v, |x| x.to_be_bytes()),
            IdxData::F32(v) => write_elements(w, v, |x| x.to_be_bytes()),
            IdxData::F64(v) => write_elements(w, v, |x| x.to_be_bytes()),
        }
    }
}

/// Converts elements to big-endian through a bounded buffer rather than a full second copy.
fn write_elements<T: Copy, const N: usize>(
    mut w: impl Write,
    values: &[T],
    to_be: impl Fn(T) -> [u8; N],
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(CONVERT_CHUNK);
    for chunk in values.chunks(CONVERT_CHUNK / N) {
        buf.clear();
        buf.extend(chunk.iter().flat_map(|&x| to_be(x)));
        w.write_all(&buf)?;
    }
    Ok(())
}

/// Where the bytes come from, to turn read failures into the right error.
struct Source<'a> {
    path: &'a Path,
    gzip: bool,
}

impl Source<'_> {
    fn read_error(&self, e: io::Error) -> Error {
        // flate2 reports bad or cut-off deflate data with these kinds; anything else is the OS.
        let decoder_error = matches!(
            e.kind(),
            io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
        );
        if self.gzip && decoder_error {
            Error::CorruptGzip {
                path: self.path.to_path_buf(),
                source: e,
            }
        } else {
            Error::io(self.path, "cannot read", e)
        }
    }
}

/// A parsed header.
struct Header {
    element: ElementType,
    dims: Vec<usize>,
    num_elements: usize,
    /// Header size in bytes (magic and dimensions).
    header_bytes: u64,
    /// Data size in bytes.
    data_bytes: u64,
}

fn read_buffered(
    mut reader: impl BufRead,
    stored_len: Option<u64>,
    path: &Path,
    max_data_bytes: u64,
) -> Result<IdxArray> {
    let gzip = reader
        .fill_buf()
        .map_err(|e| Error::io(path, "cannot read", e))?
        .starts_with(&GZIP_MAGIC);
    if gzip {
        let source = Source { path, gzip };
        let reserve_cap = stored_len.map_or(GZIP_RESERVE_CAP, |len| {
            let possible = len.saturating_mul(MAX_DEFLATE_RATIO);
            usize::try_from(possible).map_or(GZIP_RESERVE_CAP, |p| p.min(GZIP_RESERVE_CAP))
        });
        decode(
            MultiGzDecoder::new(reader),
            &source,
            None,
            reserve_cap,
            max_data_bytes,
        )
    } else {
        let source = Source { path, gzip };
        // With a known length the size check below makes any reservation safe.
        let reserve_cap = if stored_len.is_some() {
            usize::MAX
        } else {
            GZIP_RESERVE_CAP
        };
        decode(reader, &source, stored_len, reserve_cap, max_data_bytes)
    }
}

/// Decodes header and data; `plain_len` is the length of an uncompressed input when known.
fn decode(
    mut r: impl Read,
    source: &Source,
    plain_len: Option<u64>,
    reserve_cap: usize,
    max_data_bytes: u64,
) -> Result<IdxArray> {
    let header = read_header(&mut r, source)?;
    if header.data_bytes > max_data_bytes {
        return Err(Error::TooLarge {
            path: source.path.to_path_buf(),
            declared: header.data_bytes,
            limit: max_data_bytes,
        });
    }
    if let Some(len) = plain_len {
        let available = len.saturating_sub(header.header_bytes);
        if available < header.data_bytes {
            return Err(Error::Truncated {
                path: source.path.to_path_buf(),
                part: "data",
                expected: header.data_bytes,
                found: available,
            });
        }
        if available > header.data_bytes {
            return Err(Error::TrailingBytes {
                path: source.path.to_path_buf(),
                expected: header.data_bytes,
                extra: available - header.data_bytes,
            });
        }
    }
    let n = header.num_elements;
    let mut r = DataReader {
        reader: &mut r,
        source,
        expected_bytes: header.data_bytes,
    };
    let data = match header.element {
        ElementType::U8 => IdxData::U8(r.read_bytes(n, reserve_cap)?),
        ElementType::I8 => IdxData::I8(r.read_elements(n, reserve_cap, i8::from_be_bytes)?),
        ElementType::I16 => IdxData::I16(r.read_elements(n, reserve_cap, i16::from_be_bytes)?),
        ElementType::I32 => IdxData::I32(r.read_elements(n, reserve_cap, i32::from_be_bytes)?),
        ElementType::F32 => IdxData::F32(r.read_elements(n, reserve_cap, f32::from_be_bytes)?),
        ElementType::F64 => IdxData::F64(r.read_elements(n, reserve_cap, f64::from_be_bytes)?),
    };
    // Reading to the end also makes the gzip decoder check its CRC and length trailer.
    let extra = io::copy(r.reader, &mut io::sink()).map_err(|e| source.read_error(e))?;
    if extra > 0 {
        return Err(Error::TrailingBytes {
            path: source.path.to_path_buf(),
            expected: header.data_bytes,
            extra,
        });
    }
    Ok(IdxArray {
        dims: header.dims,
        data,
    })
}

fn read_header(r: &mut impl Read, source: &Source) -> Result<Header> {
    let path = source.path;
    let mut magic = [0u8; 4];
    let got = read_full(r, &mut magic).map_err(|e| source.read_error(e))?;
    if got < magic.len() {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            part: "header",
            expected: 4,
            found: got as u64,
        });
    }
    if magic[..2] != [0, 0] {
        return Err(Error::BadMagic {
            path: path.to_path_buf(),
            found: magic,
        });
    }
    let element = ElementType::from_code(magic[2]).ok_or_else(|| Error::UnknownType {
        path: path.to_path_buf(),
        code: magic[2],
    })?;
    let rank = usize::from(magic[3]);
    if rank == 0 {
        return Err(Error::NoDimensions {
            path: path.to_path_buf(),
        });
    }
    // At most 255 × 4 bytes: a fixed-size buffer needs no allocation decided by the input.
    let mut dim_bytes = [0u8; 4 * 255];
    let dim_bytes = &mut dim_bytes[..4 * rank];
    let got = read_full(r, dim_bytes).map_err(|e| source.read_error(e))?;
    let header_bytes = 4 + dim_bytes.len() as u64;
    if got < dim_bytes.len() {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            part: "header",
            expected: header_bytes,
            found: 4 + got as u64,
        });
    }
    let raw_dims: Vec<u32> = dim_bytes
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if let Some(index) = raw_dims.iter().position(|&d| d == 0) {
        return Err(Error::ZeroDimension {
            path: path.to_path_buf(),
            index,
            dims: raw_dims,
        });
    }
    let overflow = || Error::DimensionOverflow {
        path: path.to_path_buf(),
        dims: raw_dims.clone(),
    };
    let dims = raw_dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| overflow()))
        .collect::<Result<Vec<usize>>>()?;
    let num_elements = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(overflow)?;
    // The byte count must also fit in memory and in a file length.
    let data_bytes = num_elements
        .checked_mul(element.size())
        .and_then(|b| u64::try_from(b).ok())
        .ok_or_else(overflow)?;
    Ok(Header {
        element,
        dims,
        num_elements,
        header_bytes,
        data_bytes,
    })
}

/// Reads the data part, tracking how much was expected for truncation errors.
struct DataReader<'r, 's, R> {
    reader: &'r mut R,
    source: &'s Source<'s>,
    expected_bytes: u64,
}

impl<R: Read> DataReader<'_, '_, R> {
    fn truncated(&self, found: u64) -> Error {
        Error::Truncated {
            path: self.source.path.to_path_buf(),
            part: "data",
            expected: self.expected_bytes,
            found,
        }
    }

    /// Reads `n` bytes straight into their final vector.
    fn read_bytes(&mut self, n: usize, reserve_cap: usize) -> Result<Vec<u8>> {
        let mut data = Vec::with_capacity(n.min(reserve_cap));
        let got = Read::take(&mut *self.reader, n as u64)
            .read_to_end(&mut data)
            .map_err(|e| self.source.read_error(e))?;
        if got < n {
            return Err(self.truncated(got as u64));
        }
        Ok(data)
    }

    /// Reads `n` big-endian elements of `N` bytes through a bounded conversion buffer.
    fn read_elements<T, const N: usize>(
        &mut self,
        n: usize,
        reserve_cap: usize,
        from_be: fn([u8; N]) -> T,
    ) -> Result<Vec<T>> {
        let mut data = Vec::with_capacity(n.min(reserve_cap / N));
        let mut chunk = vec![0u8; CONVERT_CHUNK];
        let mut remaining = n * N; // cannot overflow: the header check bounded n × N
        while remaining > 0 {
            let want = remaining.min(CONVERT_CHUNK);
            let got = read_full(self.reader, &mut chunk[..want])
                .map_err(|e| self.source.read_error(e))?;
            if got < want {
                return Err(self.truncated((n * N - remaining + got) as u64));
            }
            data.extend(chunk[..want].chunks_exact(N).map(|bytes| {
                let mut array = [0u8; N];
                array.copy_from_slice(bytes);
                from_be(array)
            }));
            remaining -= want;
        }
        Ok(data)
    }
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
