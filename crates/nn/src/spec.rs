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
use crate::recipe::Recipe;

/// Most layers a description may have: deeper than any network this tool trains, small enough that
/// building the graph and its workspace stays cheap.
pub const MAX_LAYERS: usize = 1_000;

/// Most trainable parameters a model may have: 100 million, 400 MB as f32 (training holds four such arenas:
/// weights, gradients and Adam's two moments).
pub const MAX_PARAMS: usize = 100_000_000;

/// Most values one layer may output per sample: 16 Mi, 64 MiB as f32 (a batch multiplies it).
pub const MAX_ACTIVATION: usize = 1 << 24;

/// The name a description's inputs use for the model's input.
pub const INPUT: &str = "input";

/// One node of a description: a layer, optionally a `name` (which names its tensors, `name.weight`, and lets
/// other nodes read it) and its `inputs` (names of earlier or later nodes, or `input`; default: the node
/// before it). In files the two sit beside the layer's own fields:
/// `{ name = "b1", type = "add", inputs = ["stem", "c2"] }`.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSpec {
    /// The node's name.
    pub name: Option<String>,
    /// The nodes it reads; empty: the node before it (the model's input for the first).
    pub inputs: Vec<String>,
    /// What it computes.
    pub layer: LayerSpec,
}

impl From<LayerSpec> for NodeSpec {
    fn from(layer: LayerSpec) -> Self {
        NodeSpec {
            name: None,
            inputs: Vec::new(),
            layer,
        }
    }
}

impl Serialize for NodeSpec {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        let mut value = serde_json::to_value(&self.layer).map_err(serde::ser::Error::custom)?;
        let object = value
            .as_object_mut()
            .ok_or_else(|| serde::ser::Error::custom("a layer serialises to a map"))?;
        if let Some(name) = &self.name {
            object.insert("name".into(), name.clone().into());
        }
        if !self.inputs.is_empty() {
            object.insert("inputs".into(), self.inputs.clone().into());
        }
        value.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for NodeSpec {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        use serde::de::Error;
        let mut value = serde_json::Value::deserialize(deserializer)?;
        let object = value
            .as_object_mut()
            .ok_or_else(|| D::Error::custom("a layer is a table, e.g. { type = \"flatten\" }"))?;
        let name = match object.remove("name") {
            None => None,
            Some(serde_json::Value::String(name)) => Some(name),
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "name must be a string, got {other}"
                )));
            }
        };
        let inputs = match object.remove("inputs") {
            None => Vec::new(),
            Some(inputs) => Vec::<String>::deserialize(inputs).map_err(|e| {
                D::Error::custom(format!("inputs must be a list of node names: {e}"))
            })?,
        };
        let layer = LayerSpec::deserialize(value).map_err(|e| match &name {
            Some(name) => D::Error::custom(format!("node `{name}`: {e}")),
            None => D::Error::custom(e),
        })?;
        Ok(NodeSpec {
            name,
            inputs,
            layer,
        })
    }
}

/// How errors name a node: `node \`b1\` (add)` or `layer 3 (dense(10))`.
fn node_label(index: usize, node: &NodeSpec) -> String {
    match &node.name {
        Some(name) => format!("node `{name}` ({})", node.layer),
        None => format!("layer {} ({})", index + 1, node.layer),
    }
}

/// The checked graph of a description: for each node, the values it reads (value 0 is the model's input,
/// value `i + 1` node `i`'s output) and an order in which every node comes after its inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Topology {
    pub inputs: Vec<Vec<usize>>,
    /// Node indices, inputs first (the description's order wherever it allows).
    pub order: Vec<usize>,
    /// How many nodes read each value.
    pub readers: Vec<usize>,
}

/// Trainable parameters of a layer for a per-sample input shape; `None` when the count overflows.
fn checked_params(layer: &LayerSpec, inputs: &[&[usize]]) -> Option<usize> {
    layer
        .kind()
        .params(inputs)
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
fn params(layer: &LayerSpec, inputs: &[&[usize]]) -> usize {
    checked_params(layer, inputs).expect("checked against MAX_PARAMS when the shapes were checked")
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

/// How a model's weights and biases start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitScheme {
    /// Keras's: Glorot-uniform weights (`±sqrt(6 / (fan_in + fan_out))`), zero biases.
    #[default]
    Keras,
    /// PyTorch's `Conv2d`/`Linear` default: weights and biases uniform in `±1 / sqrt(fan_in)`.
    Pytorch,
}

impl InitScheme {
    fn is_keras(&self) -> bool {
        *self == InitScheme::Keras
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
    /// How weights and biases start (default Keras's: Glorot-uniform weights, zero biases).
    #[serde(default, skip_serializing_if = "InitScheme::is_keras")]
    pub init: InitScheme,
    /// The nodes; the last one gives the logits.
    pub layers: Vec<NodeSpec>,
    /// How to train it, where the description recommends a way (a preset's recipe).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<Recipe>,
}

fn ten() -> usize {
    10
}

impl ModelSpec {
    /// Names accepted by [`ModelSpec::preset`].
    pub const PRESETS: &[&str] = &["tutorial", "mlp", "resnet", "inception", "fast", "best"];

    /// A named description: `tutorial` is the Keras MNIST convnet (conv 32 3×3 ReLU, max-pool 2, conv 64 3×3
    /// ReLU, max-pool 2, flatten, dense 128 ReLU, dropout 0.5, dense 10); `mlp` a dense baseline (flatten,
    /// dense 128 ReLU, dense 10); `resnet` a small residual network with batch normalisation
    /// (`crates/nn/presets/resnet.toml`); `inception` a small network of Inception blocks
    /// (`crates/nn/presets/inception.toml`); `fast` the one-epoch speed recipe, a small convnet with its
    /// training settings (`crates/nn/presets/fast.toml`); `best` the best single-model recipe, a BatchNorm CNN
    /// with its 30-epoch training settings (`crates/nn/presets/best.toml`).
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
            // Graph presets are descriptions like any user's, in crates/nn/presets/.
            "resnet" => {
                return Self::from_toml_str(
                    include_str!("../presets/resnet.toml"),
                    "preset resnet",
                );
            }
            "inception" => {
                return Self::from_toml_str(
                    include_str!("../presets/inception.toml"),
                    "preset inception",
                );
            }
            "fast" => {
                return Self::from_toml_str(include_str!("../presets/fast.toml"), "preset fast");
            }
            "best" => {
                return Self::from_toml_str(include_str!("../presets/best.toml"), "preset best");
            }
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
            init: InitScheme::Keras,
            layers: layers.into_iter().map(NodeSpec::from).collect(),
            recipe: None,
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
        self.check_in(origin)?;
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
        Ok(self.graph()?.0)
    }

    /// The per-sample shapes (as [`ModelSpec::shapes`]) and the checked graph: every input exists, no cycle,
    /// every node is used.
    pub(crate) fn graph(&self) -> Result<(Vec<Vec<usize>>, Topology)> {
        self.check_in(&self.origin())
    }

    fn origin(&self) -> String {
        if self.name.is_empty() {
            "model".into()
        } else {
            format!("model `{}`", self.name)
        }
    }

    fn check_in(&self, origin: &str) -> Result<(Vec<Vec<usize>>, Topology)> {
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
        let topology = self.topology_in(origin)?;
        let mut shapes = vec![Vec::new(); self.layers.len() + 1];
        shapes[0] = self.input.to_vec();
        let mut total_params = 0usize;
        for &i in &topology.order {
            let node = &self.layers[i];
            let at = |why: String| fail(format!("{}: {why}", node_label(i, node)));
            let inputs: Vec<&[usize]> = topology.inputs[i]
                .iter()
                .map(|&v| shapes[v].as_slice())
                .collect();
            let output = node.layer.kind().output_shape(&inputs).map_err(at)?;
            if volume(&output).is_none() {
                return Err(at(format!(
                    "outputs {output:?} per sample, more than the limit of {MAX_ACTIVATION} values"
                )));
            }
            total_params = checked_params(&node.layer, &inputs)
                .and_then(|p| p.checked_add(total_params))
                .filter(|&p| p <= MAX_PARAMS)
                .ok_or_else(|| {
                    at(format!(
                        "brings the model over the limit of {MAX_PARAMS} parameters"
                    ))
                })?;
            shapes[i + 1] = output;
        }
        let last = shapes.last().expect("at least one layer");
        if *last != [self.classes] {
            return Err(fail(format!(
                "the last layer outputs {last:?}, but the model has {} classes: end with {{ type = \"dense\", units = {} }}",
                self.classes, self.classes
            )));
        }
        if !matches!(
            self.layers.last().map(|n| &n.layer),
            Some(LayerSpec::Dense(DenseSpec {
                activation: Activation::None,
                ..
            }))
        ) {
            return Err(fail(
                "the last layer must be a dense layer without activation (it gives the logits of the softmax)".into(),
            ));
        }
        Ok((shapes, topology))
    }

    /// Whether some node names its inputs (a graph rather than a chain).
    pub fn is_graph(&self) -> bool {
        self.layers.iter().any(|n| !n.inputs.is_empty())
    }

    /// What a value is called: `input`, a node's name, or `layer N`.
    fn value_name(&self, value: usize) -> String {
        match value.checked_sub(1).map(|i| (i, &self.layers[i])) {
            None => INPUT.into(),
            Some((
                _,
                NodeSpec {
                    name: Some(name), ..
                },
            )) => name.clone(),
            Some((i, _)) => format!("layer {}", i + 1),
        }
    }

    fn topology_in(&self, origin: &str) -> Result<Topology> {
        let fail = |i: usize, detail: String| NnError::Spec {
            origin: origin.into(),
            detail: format!("{}: {detail}", node_label(i, &self.layers[i])),
        };
        let mut by_name = std::collections::HashMap::new();
        for (i, node) in self.layers.iter().enumerate() {
            if let Some(name) = &node.name {
                if name == INPUT || name.is_empty() || name.contains(char::is_whitespace) {
                    return Err(fail(
                        i,
                        format!(
                            "`{name}` cannot name a node (`{INPUT}` is the model's input; names have no spaces)"
                        ),
                    ));
                }
                if let Some(first) = by_name.insert(name.as_str(), i) {
                    return Err(fail(
                        i,
                        format!("the name is already taken by layer {}", first + 1),
                    ));
                }
            }
        }
        let mut inputs = Vec::with_capacity(self.layers.len());
        for (i, node) in self.layers.iter().enumerate() {
            let reads: Vec<usize> = if node.inputs.is_empty() {
                vec![i]
            } else {
                node.inputs
                    .iter()
                    .map(|name| match name.as_str() {
                        INPUT => Ok(0),
                        _ => by_name.get(name.as_str()).map(|&k| k + 1).ok_or_else(|| {
                            fail(
                                i,
                                format!(
                                    "reads `{name}`, which no node is called (known: {INPUT}{})",
                                    by_name.keys().map(|k| format!(", {k}")).collect::<String>()
                                ),
                            )
                        }),
                    })
                    .collect::<Result<_>>()?
            };
            if reads.contains(&(i + 1)) {
                return Err(fail(i, "reads its own output".into()));
            }
            if reads.len() > 1 && !node.layer.kind().takes_many() {
                return Err(fail(
                    i,
                    format!("takes one input, but {} are given", reads.len()),
                ));
            }
            if reads.len() < 2 && node.layer.kind().takes_many() {
                return Err(fail(i, "needs at least two inputs".into()));
            }
            inputs.push(reads);
        }
        // Kahn's algorithm, always taking the earliest ready node: a chain keeps the description's order.
        let count = self.layers.len();
        let mut waiting: Vec<usize> = inputs
            .iter()
            .map(|r| r.iter().filter(|&&v| v > 0).count())
            .collect();
        let mut readers = vec![0usize; count + 1];
        let mut dependants = vec![Vec::new(); count + 1];
        for (i, reads) in inputs.iter().enumerate() {
            for &v in reads {
                readers[v] += 1;
                dependants[v].push(i);
            }
        }
        let mut ready: std::collections::BTreeSet<usize> =
            (0..count).filter(|&i| waiting[i] == 0).collect();
        let mut order = Vec::with_capacity(count);
        while let Some(i) = ready.pop_first() {
            order.push(i);
            for &d in &dependants[i + 1] {
                waiting[d] -= 1;
                if waiting[d] == 0 {
                    ready.insert(d);
                }
            }
        }
        if let Some(stuck) = (0..count).find(|&i| waiting[i] > 0) {
            return Err(fail(
                stuck,
                "is part of a cycle: it reads, through other nodes, its own output".into(),
            ));
        }
        if let Some(unused) = (0..count - 1).find(|&i| readers[i + 1] == 0) {
            return Err(fail(
                unused,
                "is never used: no node reads its output, and only the last node gives the logits"
                    .into(),
            ));
        }
        Ok(Topology {
            inputs,
            order,
            readers,
        })
    }

    /// Trainable parameters.
    pub fn param_count(&self) -> Result<usize> {
        let (shapes, topology) = self.graph()?;
        Ok(self
            .layers
            .iter()
            .zip(&topology.inputs)
            .map(|(node, reads)| {
                let inputs: Vec<&[usize]> = reads.iter().map(|&v| shapes[v].as_slice()).collect();
                params(&node.layer, &inputs)
            })
            .sum())
    }

    /// The layers on one line, e.g. `conv2d(32, 3x3, relu) → max_pool2d(2) → …` (used in errors).
    pub fn architecture(&self) -> String {
        let layers: Vec<String> = self.layers.iter().map(|n| n.layer.to_string()).collect();
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
        let (shapes, topology) = self.graph()?;
        let graph = self.is_graph();
        let label = |node: &NodeSpec| match &node.name {
            Some(name) => format!("{name}: {}", node.layer),
            None => node.layer.to_string(),
        };
        // The layer column fits the longest label (a named graph node with its description runs long).
        let width = self
            .layers
            .iter()
            .map(|node| label(node).chars().count() + 2)
            .fold(30, usize::max);
        let mut out = String::new();
        let rule = "─".repeat(width + if graph { 58 } else { 34 });
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
        let _ = write!(
            out,
            "{:<width$}{:<22}{:>12}",
            "Layer", "Output shape", "Params"
        );
        let _ = writeln!(out, "{}", if graph { "  Reads" } else { "" });
        let _ = writeln!(out, "{rule}");
        let mut total = 0;
        for (i, node) in self.layers.iter().enumerate() {
            let inputs: Vec<&[usize]> = topology.inputs[i]
                .iter()
                .map(|&v| shapes[v].as_slice())
                .collect();
            let params = params(&node.layer, &inputs);
            total += params;
            let _ = write!(
                out,
                "{:<width$}{:<22}{params:>12}",
                label(node),
                format!("{:?}", shapes[i + 1])
            );
            if graph {
                let reads: Vec<String> = topology.inputs[i]
                    .iter()
                    .map(|&v| self.value_name(v))
                    .collect();
                let _ = write!(out, "  {}", reads.join(", "));
            }
            let _ = writeln!(out);
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
                .map(|n| n.layer.torch_modules())
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

    /// A graph description with `body` as its nodes (input 1×6×6, 3 classes).
    fn graph(body: &str) -> Result<ModelSpec> {
        ModelSpec::from_toml_str(
            &format!("input = [1, 6, 6]\nclasses = 3\nlayers = [\n{body}\n]"),
            "graph.toml",
        )
    }

    fn graph_error(body: &str) -> String {
        graph(body).expect_err("a bad graph").to_string()
    }

    const HEAD: &str = r#"{ type = "global_avg_pool2d" }, { type = "dense", units = 3 },"#;

    #[test]
    fn graphs_parse_round_trip_and_count_parameters_per_node() {
        let spec = graph(&format!(
            r#"{{ name = "stem", type = "conv2d", filters = 2, kernel = 3, padding = "same" }},
               {{ name = "a", type = "conv2d", filters = 2, kernel = 1 }},
               {{ name = "sum", type = "add", inputs = ["stem", "a"] }},
               {HEAD}"#
        ))
        .unwrap();
        assert!(spec.is_graph());
        assert_eq!(
            spec.param_count().unwrap(),
            (2 * 9 + 2) + (2 * 2 + 2) + (2 * 3 + 3)
        );
        assert_eq!(
            ModelSpec::from_toml_str(&spec.to_toml(), "t").unwrap(),
            spec
        );
        assert_eq!(
            ModelSpec::from_json_str(&spec.to_json(), "j").unwrap(),
            spec
        );
        let summary = spec.summary().unwrap();
        assert!(
            summary.contains("sum: add") && summary.contains("stem, a"),
            "{summary}"
        );
    }

    #[test]
    fn bad_graphs_name_the_node() {
        let conv = r#"{ name = "c", type = "conv2d", filters = 2, kernel = 3, padding = "same" },"#;
        let missing = graph_error(&format!(
            r#"{conv} {{ name = "s", type = "add", inputs = ["c", "nowhere"] }}, {HEAD}"#
        ));
        assert!(
            missing.starts_with("graph.toml: node `s` (add): reads `nowhere`"),
            "{missing}"
        );
        let cycle = graph_error(&format!(
            r#"{{ name = "x", type = "conv2d", filters = 1, kernel = 1, inputs = ["y"] }},
               {{ name = "y", type = "conv2d", filters = 1, kernel = 1, inputs = ["x"] }}, {HEAD}"#
        ));
        assert!(
            cycle.contains("node `x`") && cycle.contains("cycle"),
            "{cycle}"
        );
        let mismatch = graph_error(&format!(
            r#"{conv} {{ name = "p", type = "max_pool2d", pool = 2 }},
               {{ name = "s", type = "add", inputs = ["c", "p"] }}, {HEAD}"#
        ));
        assert!(
            mismatch.contains("node `s` (add)") && mismatch.contains("[2, 6, 6] and [2, 3, 3]"),
            "{mismatch}"
        );
        let unused = graph_error(&format!(
            r#"{conv} {{ name = "lost", type = "max_pool2d", pool = 2 }},
               {{ type = "global_avg_pool2d", inputs = ["c"] }}, {{ type = "dense", units = 3 }},"#
        ));
        assert!(
            unused.contains("node `lost` (max_pool2d(2)): is never used"),
            "{unused}"
        );
        let twice = graph_error(&format!(r#"{conv} {conv} {HEAD}"#));
        assert!(
            twice.contains("node `c`") && twice.contains("already taken"),
            "{twice}"
        );
        let one_input = graph_error(&format!(
            r#"{conv} {{ type = "relu", inputs = ["c", "input"] }}, {HEAD}"#
        ));
        assert!(one_input.contains("takes one input"), "{one_input}");
    }

    /// PyTorch counts the same network's `parameters()`: convolution weights and biases, BatchNorm weights and
    /// biases (not its running statistics), the classifier.
    #[test]
    fn resnet_preset_counts_parameters_as_pytorch_does() {
        let spec = ModelSpec::preset("resnet").unwrap();
        // Convolutions followed by batch normalisation have no bias (PyTorch's `bias=False`).
        let conv = |i: usize, o: usize, k: usize| o * i * k * k;
        let bn = |c: usize| 2 * c;
        let expected = conv(1, 16, 3)
            + bn(16)
            + 2 * (conv(16, 16, 3) + bn(16))
            + conv(16, 32, 3)
            + conv(32, 32, 3)
            + conv(16, 32, 1)
            + 3 * bn(32)
            + conv(32, 64, 3)
            + conv(64, 64, 3)
            + conv(32, 64, 1)
            + 3 * bn(64)
            + (64 * 10 + 10);
        assert_eq!(spec.param_count().unwrap(), expected);
        assert_eq!(spec.shapes().unwrap().last(), Some(&vec![10]));
        let summary = spec.summary().unwrap();
        assert!(
            summary.contains(&format!("Total params: {expected}")),
            "{summary}"
        );
        assert!(
            summary.contains("block2_shortcut_bn, block2_bn2"),
            "{summary}"
        );
    }

    #[test]
    fn inception_preset_joins_four_branches_and_counts_as_pytorch_does() {
        let spec = ModelSpec::preset("inception").unwrap();
        let conv = |i: usize, o: usize, k: usize| o * i * k * k + o;
        let block = |i: usize, b1: usize, r3: usize, b3: usize, r5: usize, b5: usize, bp: usize| {
            conv(i, b1, 1)
                + conv(i, r3, 1)
                + conv(r3, b3, 3)
                + conv(i, r5, 1)
                + conv(r5, b5, 5)
                + conv(i, bp, 1)
        };
        let expected = 32 * 9
            + 2 * 32
            + block(32, 32, 32, 48, 8, 16, 16)
            + 2 * 112
            + block(112, 64, 48, 96, 16, 32, 32)
            + 2 * 224
            + (224 * 10 + 10);
        assert_eq!(spec.param_count().unwrap(), expected);
        let shapes = spec.shapes().unwrap();
        assert!(
            shapes.contains(&vec![112, 14, 14]) && shapes.contains(&vec![224, 7, 7]),
            "{shapes:?}"
        );
        let summary = spec.summary().unwrap();
        assert!(
            summary.contains("a_1x1, a_3x3, a_5x5, a_pool_proj"),
            "{summary}"
        );
    }
}
