//! Model and checkpoint files: safetensors with the architecture in the metadata, written atomically
//! (a temporary file in the same folder, renamed over the target).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::error::{NnError, Result};
use crate::layers::ParamSlot;
use crate::spec::ModelSpec;

/// Metadata key holding the [`ModelSpec`] as JSON.
pub(crate) const MODEL_KEY: &str = "digits.model";
/// Metadata key holding the file format version.
const FORMAT_KEY: &str = "digits.format";
const FORMAT: &str = "1";

/// Reads a whole file, refusing anything but a regular file: opening a FIFO with no writer blocks forever, and
/// a device can be endless.
pub(crate) fn read_regular_file(path: &Path, action: &'static str) -> Result<Vec<u8>> {
    let io = |source| NnError::Io {
        path: path.into(),
        action,
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a folder, pipe or device)",
        )));
    }
    std::fs::read(path).map_err(io)
}

/// A tensor as stored in a file.
struct Stored {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    /// Little-endian element bytes.
    data: Vec<u8>,
}

/// A safetensors file being written or read: named tensors and string metadata.
pub(crate) struct ModelFile {
    /// The file read (empty while writing).
    path: PathBuf,
    metadata: HashMap<String, String>,
    tensors: Vec<Stored>,
}

impl ModelFile {
    /// An empty file for a model of `spec`.
    pub fn new(spec: &ModelSpec) -> Self {
        let metadata = HashMap::from([
            (MODEL_KEY.to_string(), spec.to_json()),
            (FORMAT_KEY.to_string(), FORMAT.to_string()),
        ]);
        ModelFile {
            path: PathBuf::new(),
            metadata,
            tensors: Vec::new(),
        }
    }

    /// Adds a metadata entry.
    pub fn set_metadata(&mut self, key: &str, value: String) {
        self.metadata.insert(key.into(), value);
    }

    /// Adds each slot's tensor from a host copy of an arena, named `prefix` + the slot's name.
    pub fn add_arena(&mut self, slots: &[ParamSlot], arena: &[f32], prefix: &str) {
        for s in slots {
            let bytes = bytemuck::cast_slice(&arena[s.offset..s.offset + s.len]).to_vec();
            self.tensors.push(Stored {
                name: format!("{prefix}{}", s.name),
                dtype: Dtype::F32,
                shape: s.shape.clone(),
                data: bytes,
            });
        }
    }

    /// Adds a count under each of `names` (`prefix` + name), as the int64 scalar PyTorch writes for
    /// `num_batches_tracked`.
    pub fn add_counters(&mut self, names: &[String], count: u64, prefix: &str) {
        let value = i64::try_from(count).unwrap_or(i64::MAX);
        for name in names {
            self.tensors.push(Stored {
                name: format!("{prefix}{name}"),
                dtype: Dtype::I64,
                shape: Vec::new(),
                data: value.to_le_bytes().to_vec(),
            });
        }
    }

    /// The count stored under the first of `names` (`prefix` + name) the file holds, or 0 when it holds none
    /// (a model without such layers, or one written before they were counted).
    pub fn counter(&self, names: &[String], prefix: &str) -> Result<u64> {
        let Some((name, t)) = names.iter().find_map(|n| {
            let name = format!("{prefix}{n}");
            let t = self.tensors.iter().find(|t| t.name == name)?;
            Some((name, t))
        }) else {
            return Ok(0);
        };
        let corrupt = |detail: String| NnError::Corrupt {
            path: self.path.clone(),
            detail: format!("tensor `{name}` {detail}"),
        };
        let bytes = <[u8; 8]>::try_from(t.data.as_slice());
        match (t.dtype, t.shape.as_slice(), bytes) {
            (Dtype::I64, [] | [1], Ok(bytes)) => u64::try_from(i64::from_le_bytes(bytes))
                .map_err(|_| corrupt("is a negative count".into())),
            _ => Err(corrupt(format!(
                "is {:?} {:?}, expected an I64 scalar (a count)",
                t.dtype, t.shape
            ))),
        }
    }

    /// Writes the file atomically: readers see the old file or the new one, never a partial one.
    pub fn write(&self, path: &Path) -> Result<()> {
        let views = self
            .tensors
            .iter()
            .map(|t| {
                let view = TensorView::new(t.dtype, t.shape.clone(), &t.data)
                    .expect("sizes match by construction");
                (t.name.as_str(), view)
            })
            .collect::<Vec<_>>();
        let bytes = safetensors::serialize(views, Some(self.metadata.clone())).map_err(|e| {
            NnError::Corrupt {
                path: path.into(),
                detail: format!("cannot serialise: {e}"),
            }
        })?;
        write_atomic(path, &bytes)
    }

    /// Reads and parses a file; a truncated or foreign file is [`NnError::Corrupt`].
    pub fn read(path: &Path) -> Result<Self> {
        Self::parse(&read_regular_file(path, "cannot read")?, path)
    }

    /// Parses the bytes of a file; `path` names it in errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self> {
        let corrupt = |detail: String| NnError::Corrupt {
            path: path.into(),
            detail,
        };
        // Validates the header and that the tensors cover the data exactly (a truncated file fails here).
        let parsed = SafeTensors::deserialize(bytes)
            .map_err(|e| corrupt(format!("{e} (truncated or not safetensors?)")))?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| corrupt(e.to_string()))?;
        let metadata = header.metadata().clone().unwrap_or_default();
        if !metadata.contains_key(MODEL_KEY) {
            return Err(corrupt(format!(
                "no `{MODEL_KEY}` metadata: a safetensors file not written by digits"
            )));
        }
        let tensors = parsed
            .tensors()
            .into_iter()
            .map(|(name, view)| Stored {
                name,
                dtype: view.dtype(),
                shape: view.shape().to_vec(),
                data: view.data().to_vec(),
            })
            .collect();
        Ok(ModelFile {
            path: path.into(),
            metadata,
            tensors,
        })
    }

    /// The metadata value of `key`, if present.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// The model description stored in the file.
    pub fn spec(&self) -> Result<ModelSpec> {
        let json = self.metadata(MODEL_KEY).expect("checked on read");
        ModelSpec::from_json_str(
            json,
            &format!("{} (metadata `{MODEL_KEY}`)", self.path.display()),
        )
        .map_err(|e| NnError::Corrupt {
            path: self.path.clone(),
            detail: e.to_string(),
        })
    }

    /// Whether a tensor of this name is in the file.
    pub fn has_tensor(&self, name: &str) -> bool {
        self.tensors.iter().any(|t| t.name == name)
    }

    /// Reads each slot's tensor (named `prefix` + the slot's name) into a host arena, checking types and shapes.
    ///
    /// Every tensor is checked against the file before the arena is allocated, so metadata that claims a huge
    /// architecture costs nothing when the stored tensors do not back it. Infinite and NaN values are refused:
    /// such a model would only predict garbage.
    pub fn arena(&self, slots: &[ParamSlot], prefix: &str) -> Result<Vec<f32>> {
        let stored = slots
            .iter()
            .map(|s| {
                let name = format!("{prefix}{}", s.name);
                let Some(t) = self.tensors.iter().find(|t| t.name == name) else {
                    return Err(NnError::MissingTensor {
                        path: self.path.clone(),
                        tensor: name,
                    });
                };
                if t.dtype != Dtype::F32 || t.shape != s.shape {
                    return Err(NnError::TensorShape {
                        path: self.path.clone(),
                        tensor: name,
                        expected: s.shape.clone(),
                        found: format!("{:?} {:?}", t.dtype, t.shape),
                    });
                }
                Ok((s, name, t))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut arena = vec![0.0f32; crate::model::arena_len(slots)];
        for (s, name, t) in stored {
            let values = &mut arena[s.offset..s.offset + s.len];
            // The data is not necessarily 4-byte aligned in the file: copy rather than cast in place.
            bytemuck::cast_slice_mut::<f32, u8>(values).copy_from_slice(&t.data);
            if let Some(index) = values.iter().position(|v| !v.is_finite()) {
                return Err(NnError::Corrupt {
                    path: self.path.clone(),
                    detail: format!(
                        "tensor `{name}` holds {} at index {index}: the weights are not finite",
                        values[index]
                    ),
                });
            }
        }
        Ok(arena)
    }
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, flushed, then renamed over it, so readers
/// see the old file or the new one, never a partial one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |action| {
        move |source| NnError::Io {
            path: path.into(),
            action,
            source,
        }
    };
    let mut tmp = digits_idx::atomic::temp_file_for(path)
        .map_err(io("cannot create a temporary file beside"))?;
    tmp.write_all(bytes).map_err(io("cannot write"))?;
    tmp.as_file().sync_all().map_err(io("cannot flush"))?;
    tmp.persist(path)
        .map_err(|e| io("cannot rename the temporary file to")(e.error))?;
    Ok(())
}
