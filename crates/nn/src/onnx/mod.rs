//! ONNX export: a model as an ONNX file (opset 13, IR version 7) that ONNX Runtime, tract and the other
//! runtimes load. Each layer writes its own nodes ([`crate::layers::LayerKind::to_onnx`]); this module holds the
//! graph being built, the model's edges (input normalisation, the optional softmax) and the file.
//!
//! The graph's input `input` is `float32 [batch, channels, height, width]`, pixels scaled to `[0, 1]`
//! (`pixel / 255`) as the Keras tutorial feeds them; a model trained with another normalisation subtracts and
//! divides in the graph. Its output is `logits` `[batch, classes]`, or `probabilities` with
//! [`OnnxOptions::softmax`]. `batch` is a named dynamic dimension. The weights are initializers named as in
//! the model file (`0.weight`); dropout is left out, as at inference. The metadata holds the description
//! (`digits.model`, JSON) and what the input is (`digits.input`).

pub(crate) mod proto;

use std::collections::HashSet;

use prost::Message;

use crate::error::Result;
use crate::model::{NamedTensor, Slots};
use crate::spec::{ModelSpec, Normalization};
use proto::{
    AttributeProto, AttributeType, DataType, Dimension, DimensionValue, GraphProto, ModelProto,
    NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto,
    TensorTypeProto, TypeProto, ValueInfoProto,
};

/// The operator set the nodes are written for.
pub const OPSET: i64 = 13;

/// The IR version that goes with [`OPSET`].
const IR_VERSION: i64 = 7;

/// What an export adds to the model's own layers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OnnxOptions {
    /// End with a softmax: the output is `probabilities` instead of `logits`.
    pub softmax: bool,
}

/// The nodes and initializers of the graph being built.
#[derive(Default)]
pub(crate) struct OnnxGraph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    /// Every value name given out so far (initializers included), to keep names unique.
    names: HashSet<String>,
}

impl OnnxGraph {
    /// A float tensor initializer.
    fn constant(&mut self, name: &str, shape: &[usize], values: &[f32]) -> String {
        self.names.insert(name.to_string());
        self.initializers.push(TensorProto {
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: DataType::Float as i32,
            name: name.to_string(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name.to_string()
    }

    /// Adds `op_type` reading `inputs`; returns its output's name, `prefix/op_type` made unique.
    fn op(
        &mut self,
        prefix: &str,
        op_type: &str,
        inputs: Vec<String>,
        attribute: Vec<AttributeProto>,
    ) -> String {
        let base = format!("{prefix}/{op_type}");
        let mut output = base.clone();
        let mut copy = 1;
        while !self.names.insert(output.clone()) {
            copy += 1;
            output = format!("{base}_{copy}");
        }
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![output.clone()],
            name: output.clone(),
            op_type: op_type.to_string(),
            attribute,
        });
        output
    }

    /// Renames the value `from` (a node's output) to `to` wherever it is written or read.
    fn rename(&mut self, from: &str, to: &str) {
        for node in &mut self.nodes {
            for name in node.input.iter_mut().chain(node.output.iter_mut()) {
                if name == from {
                    *name = to.to_string();
                }
            }
        }
    }
}

/// What a layer's export is given: the graph to add its nodes to, the ONNX names of its inputs, and the names
/// of its parameters.
pub(crate) struct OnnxNode<'a> {
    graph: &'a mut OnnxGraph,
    /// Names its tensors and nodes (the node's name, or its `nn.Sequential` index).
    prefix: String,
    /// The values it reads.
    pub inputs: Vec<String>,
    /// Its parameters' initializer names, by suffix (`weight`, `running_mean`).
    params: Vec<(&'static str, String)>,
}

impl OnnxNode<'_> {
    /// The value it reads (its first input).
    pub fn input(&self) -> String {
        self.inputs[0].clone()
    }

    /// The initializer holding its parameter `suffix`.
    pub fn param(&self, suffix: &str) -> String {
        self.params
            .iter()
            .find(|(s, _)| *s == suffix)
            .map(|(_, name)| name.clone())
            .unwrap_or_else(|| unreachable!("a layer exports only the parameters it declares"))
    }

    /// Adds a node; returns its output's name.
    pub fn op(
        &mut self,
        op_type: &str,
        inputs: Vec<String>,
        attributes: Vec<AttributeProto>,
    ) -> String {
        self.graph.op(&self.prefix, op_type, inputs, attributes)
    }
}

/// An integer attribute.
pub(crate) fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..Default::default()
    }
}

/// A float attribute.
pub(crate) fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: Some(AttributeType::Float as i32),
        f: Some(value),
        ..Default::default()
    }
}

/// A list-of-integers attribute.
pub(crate) fn ints(name: &str, values: &[usize]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: Some(AttributeType::Ints as i32),
        ints: values.iter().map(|&v| v as i64).collect(),
        ..Default::default()
    }
}

/// A `float32` value with a dynamic first dimension named `batch`.
fn batched(name: &str, shape: &[usize]) -> ValueInfoProto {
    let dims = std::iter::once(DimensionValue::DimParam("batch".into()))
        .chain(shape.iter().map(|&d| DimensionValue::DimValue(d as i64)))
        .map(|value| Dimension { value: Some(value) })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim: dims }),
            }),
        }),
    }
}

/// The ONNX file of a model: its description and its tensors (trainable and running, as the model file names
/// them).
pub(crate) fn export(
    spec: &ModelSpec,
    tensors: &[NamedTensor],
    options: &OnnxOptions,
) -> Result<Vec<u8>> {
    let (_, topology) = spec.graph()?;
    let slots = Slots::new(spec, 1)?;
    let mut graph = OnnxGraph::default();
    for tensor in tensors {
        graph.constant(&tensor.name, &tensor.shape, &tensor.data);
    }
    let input = "input".to_string();
    graph.names.insert(input.clone());
    // value_names[v]: the ONNX value holding description value v (0 the model's input).
    let mut value_names = vec![normalized(&mut graph, &input, spec.normalization); 1];
    value_names.resize(spec.layers.len() + 1, String::new());
    for &i in &topology.order {
        let node = &spec.layers[i];
        let mut onnx = OnnxNode {
            graph: &mut graph,
            prefix: slots.prefix(i).to_string(),
            inputs: topology.inputs[i]
                .iter()
                .map(|&v| value_names[v].clone())
                .collect(),
            params: slots.names(i),
        };
        value_names[i + 1] = node.layer.kind().to_onnx(&mut onnx);
    }
    let last = value_names
        .last()
        .expect("a description has layers")
        .clone();
    let output = if options.softmax {
        let probabilities = graph.op("softmax", "Softmax", vec![last], vec![int("axis", 1)]);
        graph.rename(&probabilities, "probabilities");
        "probabilities"
    } else {
        let logits = if graph.nodes.iter().any(|n| n.output == [last.clone()]) {
            last
        } else {
            // The last layer added no node (a model ending in dropout, or with no layer that computes).
            graph.op("output", "Identity", vec![last], Vec::new())
        };
        graph.rename(&logits, "logits");
        "logits"
    };
    let model = ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "digits".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: spec.architecture(),
        graph: Some(GraphProto {
            node: graph.nodes,
            name: spec.name.clone(),
            initializer: graph.initializers,
            doc_string: spec.architecture(),
            input: vec![batched(&input, &spec.input)],
            output: vec![batched(output, &[spec.classes])],
        }),
        metadata_props: vec![
            entry("digits.model", spec.to_json()),
            entry(
                "digits.input",
                format!(
                    "float32 [batch, {}, {}, {}]: pixels / 255 (0 black, 1 white, as MNIST); {}",
                    spec.input[0],
                    spec.input[1],
                    spec.input[2],
                    if spec.normalization == Normalization::UNIT {
                        "no further normalisation".to_string()
                    } else {
                        format!(
                            "the graph subtracts {} and divides by {}",
                            spec.normalization.mean, spec.normalization.std
                        )
                    }
                ),
            ),
        ],
    };
    Ok(model.encode_to_vec())
}

fn entry(key: &str, value: String) -> StringStringEntryProto {
    StringStringEntryProto {
        key: key.into(),
        value,
    }
}

/// The model's input after its normalisation: `(x - mean) / std` in the graph, or `x` itself.
fn normalized(graph: &mut OnnxGraph, input: &str, normalization: Normalization) -> String {
    if normalization == Normalization::UNIT {
        return input.to_string();
    }
    let mean = graph.constant("normalization.mean", &[], &[normalization.mean]);
    let std = graph.constant("normalization.std", &[], &[normalization.std]);
    let centred = graph.op("normalization", "Sub", vec![input.into(), mean], Vec::new());
    graph.op("normalization", "Div", vec![centred, std], Vec::new())
}
