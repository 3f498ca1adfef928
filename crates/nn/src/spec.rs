//! Model descriptions: a short list of layers with the input shape and the number of classes, read from a
//! TOML or JSON file or taken from a named preset, and checked before anything is allocated.
//!
//! ```
//! use digits_nn::ModelSpec;
//!
//! let spec = ModelSpec::from_toml_str(
//!     r#"
//!     input = [1, 28, 28]
//!     classes = 10
//!     layers = [
//!         { type = "conv2d", filters = 8, kernel = 3, activation = "relu" },
//!         { type = "max_pool2d", pool = 2 },
//!         { type = "flatten" },
//!         { type = "dense", units = 10 },
//!     ]
//!     "#,
//!     "example.toml",
//! )?;
//! assert_eq!(spec.shapes()?.last(), Some(&vec![10]));
//! assert_eq!(spec.param_count()?, 8 * 9 + 8 + 8 * 13 * 13 * 10 + 10);
//! # Ok::<(), digits_nn::NnError>(())
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{NnError, Result};
use crate::layers::{Activation, Conv2dSpec, DenseSpec, DropoutSpec, LayerSpec, MaxPool2dSpec};

/// Most layers a description may have: deeper than any network this tool trains, small enough that
/// building the graph and its workspace stays cheap.
pub const MAX_LAYERS: usize = 1_000;

/// Most trainable parameters a model may have: 100 million, 400 MB as f32 (training holds four such arenas:
/// weights, gradients and Adam's two moments).
pub const MAX_PARAMS: usize = 100_000_000;

/// Most values one layer may output per sample: 16 Mi, 64 MiB as f32 (a batch multiplies it).
pub const MAX_ACTIVATION: usize = 1 << 24;

/// Trainable parameters of a layer for a per-sample input shape; `None` when the count overflows.
fn checked_params(layer: &LayerSpec, input: &[usize]) -> Option<usize> {
    layer
        .kind()
        .params(&[input])
        .iter()
        .filter(|d| d.kind == crate::layers::ParamKind::Trainable)
        .try_fold(0usize, |acc, d| {
            d.shape
                .iter()
                .try_fold(1usize, |p, &x| p.checked_mul(x))?
                .checked_add(acc)
        })
}

/// Trainable parameters of a layer whose shapes [`ModelSpec::shapes`] accepted.
fn params(layer: &LayerSpec, input: &[usize]) -> usize {
    checked_params(layer, input).expect("checked against MAX_PARAMS when the shapes were checked")
}

/// How u8 pixels become network inputs: `(pixel / 255 - mean) / std`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalization {
    /// Subtracted after scaling to [0, 1].
    pub mean: f32,
    /// Divides after subtracting the mean.
    pub std: f32,
}

impl Normalization {
    /// `pixel / 255`, as the Keras tutorial does (the default).
    pub const UNIT: Normalization = Normalization {
        mean: 0.0,
        std: 1.0,
    };
    /// MNIST's training-set mean and standard deviation (PyTorch's example).
    pub const MNIST: Normalization = Normalization {
        mean: 0.1307,
        std: 0.3081,
    };

    /// The `(scale, shift)` with `input = pixel · scale + shift`.
    pub fn scale_shift(&self) -> (f32, f32) {
        (1.0 / (255.0 * self.std), -self.mean / self.std)
    }
}

impl Default for Normalization {
    fn default() -> Self {
        Normalization::UNIT
    }
}

/// A sequential network: input shape, classes, normalisation and layers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// A short name (the preset's, or the file's stem).
    #[serde(default)]
    pub name: String,
    /// Per-sample input shape `[channels, height, width]`.
    pub input: [usize; 3],
    /// Number of classes: the last layer must output this many logits.
    #[serde(default = "ten")]
    pub classes: usize,
    /// Input normalisation (default `pixel / 255`).
    #[serde(default)]
    pub normalization: Normalization,
    /// The layers, in order.
    pub layers: Vec<LayerSpec>,
}

fn ten() -> usize {
    10
}

impl ModelSpec {
    /// Names accepted by [`ModelSpec::preset`].
    pub const PRESETS: &[&str] = &["tutorial", "mlp"];

    /// A named description: `tutorial` is the Keras MNIST convnet (conv 32 3×3 ReLU, max-pool 2, conv 64 3×3
    /// ReLU, max-pool 2, flatten, dense 128 ReLU, dropout 0.5, dense 10); `mlp` a dense baseline (flatten,
    /// dense 128 ReLU, dense 10).
    pub fn preset(name: &str) -> Result<ModelSpec> {
        let relu = |spec: Conv2dSpec| Conv2dSpec {
            activation: Activation::Relu,
            ..spec
        };
        let dense_relu = |units| {
            LayerSpec::Dense(DenseSpec {
                activation: Activation::Relu,
                ..DenseSpec::new(units)
            })
        };
        let layers = match name {
            "tutorial" => vec![
                LayerSpec::Conv2d(relu(Conv2dSpec::new(32, 3))),
                LayerSpec::MaxPool2d(MaxPool2dSpec::new(2)),
                LayerSpec::Conv2d(relu(Conv2dSpec::new(64, 3))),
                LayerSpec::MaxPool2d(MaxPool2dSpec::new(2)),
                LayerSpec::Flatten,
                dense_relu(128),
                LayerSpec::Dropout(DropoutSpec { rate: 0.5 }),
                LayerSpec::Dense(DenseSpec::new(10)),
            ],
            "mlp" => vec![
                LayerSpec::Flatten,
                dense_relu(128),
                LayerSpec::Dense(DenseSpec::new(10)),
            ],
            _ => {
                return Err(NnError::UnknownPreset {
                    name: name.into(),
                    known: Self::PRESETS.join(", "),
                });
            }
        };
        Ok(ModelSpec {
            name: name.into(),
            input: [1, 28, 28],
            classes: 10,
            normalization: Normalization::UNIT,
            layers,
        })
    }

    /// A preset name, or else the path of a `.toml` or `.json` description.
    pub fn resolve(name_or_path: &str) -> Result<ModelSpec> {
        if Self::PRESETS.contains(&name_or_path) {
            return Self::preset(name_or_path);
        }
        let path = Path::new(name_or_path);
        if path.exists() {
            Self::from_file(path)
        } else {
            Self::preset(name_or_path)
        }
    }

    /// Reads a description from a TOML file, or JSON when the name ends in `.json`; the name is the file
    /// stem unless the file gives one.
    pub fn from_file(path: &Path) -> Result<ModelSpec> {
        let action = "cannot read the model description";
        let bytes = crate::file::read_regular_file(path, action)?;
        let text = String::from_utf8(bytes).map_err(|e| NnError::Io {
            path: path.into(),
            action,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
        })?;
        let origin = path.display().to_string();
        let mut spec = if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            Self::from_json_str(&text, &origin)?
        } else {
            Self::from_toml_str(&text, &origin)?
        };
        if spec.name.is_empty() {
            spec.name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
        }
        Ok(spec)
    }

    /// Parses and checks a TOML description; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<ModelSpec> {
        let spec: ModelSpec = toml::from_str(text).map_err(|e| NnError::Spec {
            origin: origin.into(),
            detail: e.to_string().trim_end().into(),
        })?;
        spec.checked(origin)
    }

    /// Parses and checks a JSON description; `origin` names it in errors.
    pub fn from_json_str(text: &str, origin: &str) -> Result<ModelSpec> {
        let spec: ModelSpec = serde_json::from_str(text).map_err(|e| NnError::Spec {
            origin: origin.into(),
            detail: e.to_string(),
        })?;
        spec.checked(origin)
    }

    fn checked(self, origin: &str) -> Result<ModelSpec> {
        self.shapes_in(origin)?;
        Ok(self)
    }

    /// The description as JSON (what model files store).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a model description always serialises")
    }

    /// The description as TOML (what `--model FILE` reads).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a model description always serialises")
    }

    /// The per-sample shape after each layer (the input's first), checking that every layer fits.
    pub fn shapes(&self) -> Result<Vec<Vec<usize>>> {
        self.shapes_in(&self.origin())
    }

    fn origin(&self) -> String {
        if self.name.is_empty() {
            "model".into()
        } else {
            format!("model `{}`", self.name)
        }
    }

    fn shapes_in(&self, origin: &str) -> Result<Vec<Vec<usize>>> {
        let fail = |detail: String| NnError::Spec {
            origin: origin.into(),
            detail,
        };
        if self.input.contains(&0) {
            return Err(fail(format!(
                "input shape {:?} has an empty dimension",
                self.input
            )));
        }
        if self.classes < 2 {
            return Err(fail(format!(
                "classes = {}: a classifier needs at least 2",
                self.classes
            )));
        }
        if self.normalization.std <= 0.0
            || !self.normalization.std.is_finite()
            || !self.normalization.mean.is_finite()
        {
            return Err(fail(format!(
                "normalization std must be positive and mean finite, got {:?}",
                self.normalization
            )));
        }
        if self.layers.is_empty() {
            return Err(fail("no layers".into()));
        }
        if self.layers.len() > MAX_LAYERS {
            return Err(fail(format!(
                "{} layers, more than the limit of {MAX_LAYERS}",
                self.layers.len()
            )));
        }
        let volume = |shape: &[usize]| {
            shape
                .iter()
                .try_fold(1usize, |acc, &d| acc.checked_mul(d))
                .filter(|&v| v <= MAX_ACTIVATION)
        };
        if volume(&self.input).is_none() {
            return Err(fail(format!(
                "input shape {:?} holds more than the limit of {MAX_ACTIVATION} values per sample",
                self.input
            )));
        }
        let mut shapes = vec![self.input.to_vec()];
        let mut total_params = 0usize;
        for (i, layer) in self.layers.iter().enumerate() {
            let at = |why: String| fail(format!("layer {} ({layer}): {why}", i + 1));
            let input = shapes.last().expect("starts with the input shape");
            let output = layer.kind().output_shape(&[input]).map_err(at)?;
            if volume(&output).is_none() {
                return Err(at(format!(
                    "outputs {output:?} per sample, more than the limit of {MAX_ACTIVATION} values"
                )));
            }
            total_params = checked_params(layer, input)
                .and_then(|p| p.checked_add(total_params))
                .filter(|&p| p <= MAX_PARAMS)
                .ok_or_else(|| {
                    at(format!(
                        "brings the model over the limit of {MAX_PARAMS} parameters"
                    ))
                })?;
            shapes.push(output);
        }
        let last = shapes.last().expect("at least one layer");
        if *last != [self.classes] {
            return Err(fail(format!(
                "the last layer outputs {last:?}, but the model has {} classes: end with {{ type = \"dense\", units = {} }}",
                self.classes, self.classes
            )));
        }
        if !matches!(
            self.layers.last(),
            Some(LayerSpec::Dense(DenseSpec {
                activation: Activation::None,
                ..
            }))
        ) {
            return Err(fail(
                "the last layer must be a dense layer without activation (it gives the logits of the softmax)".into(),
            ));
        }
        Ok(shapes)
    }

    /// Trainable parameters.
    pub fn param_count(&self) -> Result<usize> {
        let shapes = self.shapes()?;
        Ok(self
            .layers
            .iter()
            .zip(&shapes)
            .map(|(l, s)| params(l, s))
            .sum())
    }

    /// The layers on one line, e.g. `conv2d(32, 3x3, relu) → max_pool2d(2) → …` (used in errors).
    pub fn architecture(&self) -> String {
        let layers: Vec<String> = self.layers.iter().map(ToString::to_string).collect();
        format!(
            "input {:?} → {} → {} classes",
            self.input,
            layers.join(" → "),
            self.classes
        )
    }

    /// Whether two descriptions build the same tensors (normalisation and name may differ).
    pub(crate) fn same_architecture(&self, other: &ModelSpec) -> bool {
        self.input == other.input && self.classes == other.classes && self.layers == other.layers
    }

    /// A Keras-like table: layer, output shape, parameters.
    pub fn summary(&self) -> Result<String> {
        use std::fmt::Write;
        let shapes = self.shapes()?;
        let mut out = String::new();
        let rule = "─".repeat(64);
        let _ = writeln!(
            out,
            "Model: {}",
            if self.name.is_empty() {
                "unnamed"
            } else {
                &self.name
            }
        );
        let _ = writeln!(out, "{rule}");
        let _ = writeln!(out, "{:<30}{:<22}{:>12}", "Layer", "Output shape", "Params");
        let _ = writeln!(out, "{rule}");
        let mut total = 0;
        for (layer, (input, output)) in self.layers.iter().zip(shapes.iter().zip(&shapes[1..])) {
            let params = params(layer, input);
            total += params;
            let _ = writeln!(
                out,
                "{:<30}{:<22}{:>12}",
                layer.to_string(),
                format!("{output:?}"),
                params
            );
        }
        let _ = writeln!(out, "{rule}");
        let _ = writeln!(out, "Total params: {total}");
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tutorial_preset_matches_keras() {
        let spec = ModelSpec::preset("tutorial").unwrap();
        let shapes = spec.shapes().unwrap();
        assert_eq!(
            shapes,
            vec![
                vec![1, 28, 28],
                vec![32, 26, 26],
                vec![32, 13, 13],
                vec![64, 11, 11],
                vec![64, 5, 5],
                vec![1600],
                vec![128],
                vec![128],
                vec![10]
            ]
        );
        // Keras's model.summary() for the tutorial: 320 + 18496 + 204928 + 1290.
        assert_eq!(spec.param_count().unwrap(), 225_034);
        assert_eq!(
            spec.layers
                .iter()
                .map(LayerSpec::torch_modules)
                .sum::<usize>(),
            11
        );
        assert!(spec.summary().unwrap().contains("Total params: 225034"));
    }

    #[test]
    fn toml_and_json_round_trip() {
        for name in ModelSpec::PRESETS {
            let spec = ModelSpec::preset(name).unwrap();
            assert_eq!(
                ModelSpec::from_toml_str(&spec.to_toml(), "t").unwrap(),
                spec
            );
            assert_eq!(
                ModelSpec::from_json_str(&spec.to_json(), "j").unwrap(),
                spec
            );
        }
    }

    #[test]
    fn bad_descriptions_name_the_origin_and_layer() {
        let unknown = ModelSpec::from_toml_str(
            "input = [1, 28, 28]\nlayers = [{ type = \"conv3d\", filters = 2 }]",
            "bad.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            unknown.starts_with("bad.toml: ") && unknown.contains("conv3d"),
            "{unknown}"
        );

        let too_big = ModelSpec::from_json_str(
            r#"{"input": [1, 4, 4], "classes": 2, "layers": [
                {"type": "max_pool2d", "pool": 5}, {"type": "flatten"}, {"type": "dense", "units": 2}]}"#,
            "pool.json",
        )
        .unwrap_err()
        .to_string();
        assert!(
            too_big.contains("pool.json")
                && too_big.contains("layer 1 (max_pool2d(5))")
                && too_big.contains("larger"),
            "{too_big}"
        );

        let unflattened = ModelSpec::from_toml_str(
            "input = [1, 4, 4]\nclasses = 3\nlayers = [{ type = \"dense\", units = 3 }]",
            "d.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(unflattened.contains("flatten"), "{unflattened}");

        let wrong_classes = ModelSpec::from_toml_str(
            "input = [1, 4, 4]\nlayers = [{ type = \"flatten\" }, { type = \"dense\", units = 3 }]",
            "c.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(wrong_classes.contains("10 classes"), "{wrong_classes}");

        let typo = ModelSpec::from_toml_str(
            "input = [1, 4, 4]\nlayers = [{ type = \"flatten\" }, { type = \"dense\", unit = 10 }]",
            "typo.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(typo.contains("unit"), "{typo}");

        assert!(matches!(
            ModelSpec::preset("lenet"),
            Err(NnError::UnknownPreset { .. })
        ));
        assert!(matches!(
            ModelSpec::resolve("no/such/model.toml"),
            Err(NnError::UnknownPreset { .. })
        ));
    }

    #[test]
    fn normalization_maps_pixels() {
        let (scale, shift) = Normalization::MNIST.scale_shift();
        let x = 255.0 * scale + shift;
        assert!((x - (1.0 - 0.1307) / 0.3081).abs() < 1e-5);
        assert_eq!(Normalization::UNIT.scale_shift(), (1.0 / 255.0, 0.0));
    }
}
