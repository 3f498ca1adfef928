//! The model as a graph of layers, and its execution: a planner that orders the nodes, folds ReLUs into the
//! layer before them, decides which gradients are needed and which buffers are shared; a [`Workspace`] of
//! activations and gradients for batches of up to `capacity` samples; and the forward and backward passes.
//!
//! Values are numbered: value 0 is the model's input, value `k + 1` the output of node `k`. Nodes are in
//! topological order (every input of a node is an earlier value), so the forward pass runs them in order and
//! the backward pass in reverse. Where a value feeds several nodes, each writes its share of the value's
//! gradient into a buffer of its own and the shares are added before the value's producer runs backward:
//! gradients add, in a fixed order, so the same seed still gives the same bits.

use digits_tensor::{Ops, SoftmaxCrossEntropy};

use crate::error::{NnError, Result};
use crate::layers::{Backward, Forward, Layer, Mode, StepRandom};

/// Most bytes the activations of one batch may take (activations, their gradients, pooling indices): 8 GiB.
/// A batch size that needs more is refused before anything is allocated.
pub const MAX_WORKSPACE_BYTES: usize = 8 << 30;

/// One node: a layer and the values it reads.
pub(crate) struct Node<B: Ops> {
    /// What errors and summaries call it (its name, or its position in the description).
    pub name: String,
    /// Value ids of its inputs.
    pub inputs: Vec<usize>,
    /// Per-sample elements of its output.
    pub out_len: usize,
    pub layer: Box<dyn Layer<B>>,
    /// Whether it has parameters to train.
    pub trains: bool,
}

/// The planned graph.
pub(crate) struct Graph<B: Ops> {
    pub nodes: Vec<Node<B>>,
    /// Per-sample elements of the model's input.
    pub in_len: usize,
    /// Per value, the nodes that read it and at which input position, in node order.
    consumers: Vec<Vec<(usize, usize)>>,
    /// Per value, whether the loss's gradient with respect to it is needed (some parameter at or before it
    /// trains).
    needs_grad: Vec<bool>,
    /// Dropout layers (each draws its own mask stream).
    pub dropout_layers: u64,
}

impl<B: Ops> Graph<B> {
    /// Plans `nodes` (in topological order, each input an earlier value; the last node gives the logits).
    pub fn new(nodes: Vec<Node<B>>, in_len: usize, dropout_layers: u64) -> Self {
        let values = nodes.len() + 1;
        let mut consumers = vec![Vec::new(); values];
        let mut needs_grad = vec![false; values];
        for (k, node) in nodes.iter().enumerate() {
            for (slot, &v) in node.inputs.iter().enumerate() {
                consumers[v].push((k, slot));
            }
            needs_grad[k + 1] = node.trains || node.inputs.iter().any(|&v| needs_grad[v]);
        }
        Graph {
            nodes,
            in_len,
            consumers,
            needs_grad,
            dropout_layers,
        }
    }

    /// Per-sample elements of value `v`.
    fn value_len(&self, v: usize) -> usize {
        if v == 0 {
            self.in_len
        } else {
            self.nodes[v - 1].out_len
        }
    }

    /// Whether node `k`'s output is its input buffer in this mode, and so is its gradient: a reshape (or an
    /// evaluation-time dropout) whose input feeds only it.
    fn shares_input(&self, k: usize, training: bool) -> bool {
        let node = &self.nodes[k];
        node.layer.output_is_input(training)
            && node.inputs.len() == 1
            && self.consumers[node.inputs[0]].len() == 1
    }

    /// The fused loss on the logits (with `label_smoothing`, 0 for plain cross-entropy): accumulates `[loss
    /// sum, correct]` into `stats` and, when training, writes the gradient of the mean loss with respect to the
    /// logits.
    pub fn loss(
        &self,
        backend: &B,
        ws: &Workspace<B>,
        classes: usize,
        train: bool,
        label_smoothing: f32,
        stats: &B::Buf<f32>,
    ) -> Result<()> {
        let n = ws.capacity;
        let spec = SoftmaxCrossEntropy {
            rows: n,
            classes,
            grad_scale: 1.0 / n as f32,
            label_smoothing,
        };
        let grad = if train {
            ws.grads.last().and_then(Option::as_ref).map(|g| &g.buf)
        } else {
            None
        };
        Ok(backend.softmax_cross_entropy(&spec, ws.logits(), &ws.labels, grad, stats)?)
    }

    /// The distillation loss (see [`digits_tensor::Distillation`]) against a teacher's logits for the same
    /// samples: accumulates `[loss sum, correct]` into `stats` and writes the gradient of the mean loss.
    #[allow(clippy::too_many_arguments)] // the hard loss's arguments and the teacher's two
    pub fn distillation_loss(
        &self,
        backend: &B,
        ws: &Workspace<B>,
        teacher_logits: &B::Buf<f32>,
        classes: usize,
        label_smoothing: f32,
        distill: crate::train::DistillConfig,
        stats: &B::Buf<f32>,
    ) -> Result<()> {
        let n = ws.capacity;
        let spec = digits_tensor::Distillation {
            hard: SoftmaxCrossEntropy {
                rows: n,
                classes,
                grad_scale: 1.0 / n as f32,
                label_smoothing,
            },
            temperature: distill.temperature,
            alpha: distill.alpha,
        };
        let grad = ws
            .grads
            .last()
            .and_then(Option::as_ref)
            .map(|g| &g.buf)
            .ok_or_else(|| NnError::Config("distillation needs a training workspace".into()))?;
        Ok(backend.distillation_loss(
            &spec,
            ws.logits(),
            teacher_logits,
            &ws.labels,
            grad,
            stats,
        )?)
    }

    /// Runs the nodes on the `ws.capacity` samples of the workspace's input.
    pub fn forward(&self, backend: &B, ws: &Workspace<B>, mode: Mode) -> Result<()> {
        for (k, node) in self.nodes.iter().enumerate() {
            let inputs: Vec<&B::Buf<f32>> =
                node.inputs.iter().map(|&v| &ws.values[v].buf).collect();
            node.layer.forward(
                backend,
                &Forward {
                    batch: ws.capacity,
                    inputs: &inputs,
                    output: &ws.values[k + 1].buf,
                    saved: ws.saved[k].as_ref().map(|s| &s.buf),
                    mode,
                },
            )?;
        }
        Ok(())
    }

    /// Back-propagates the logits' gradient, writing every parameter gradient (overwriting, so no zeroing is
    /// needed between steps).
    pub fn backward(&self, backend: &B, ws: &Workspace<B>, random: StepRandom) -> Result<()> {
        for (k, node) in self.nodes.iter().enumerate().rev() {
            let Some(output_grad) = ws.grads[k + 1].as_ref() else {
                continue; // nothing at or before this node trains
            };
            // Several readers of this node's output each wrote a share of its gradient: add them, in order.
            let shares: Vec<&B::Buf<f32>> = self.consumers[k + 1]
                .iter()
                .filter_map(|&(c, slot)| ws.shares[c][slot].as_ref().map(|s| &s.buf))
                .collect();
            if let [first, second, rest @ ..] = shares.as_slice() {
                add_shares(
                    backend,
                    first,
                    second,
                    rest,
                    &output_grad.buf,
                    ws.sum_scratch.as_ref(),
                )?;
            }
            let inputs: Vec<&B::Buf<f32>> =
                node.inputs.iter().map(|&v| &ws.values[v].buf).collect();
            let input_grads: Vec<Option<&B::Buf<f32>>> = ws.shares[k]
                .iter()
                .map(|share| share.as_ref().map(|s| &s.buf))
                .collect();
            node.layer.backward(
                backend,
                &Backward {
                    batch: ws.capacity,
                    inputs: &inputs,
                    output: &ws.values[k + 1].buf,
                    output_grad: &output_grad.buf,
                    input_grads: &input_grads,
                    saved: ws.saved[k].as_ref().map(|s| &s.buf),
                    scratch: ws.scratch.as_ref().map(|s| &s.buf),
                    random,
                },
            )?;
        }
        Ok(())
    }
}

/// `out = first + second + rest...`, left to right. With more than two shares the running sum alternates
/// between `out` and `scratch`, so that it ends in `out`.
fn add_shares<B: Ops>(
    backend: &B,
    first: &B::Buf<f32>,
    second: &B::Buf<f32>,
    rest: &[&B::Buf<f32>],
    out: &B::Buf<f32>,
    scratch: Option<&Rows<B, f32>>,
) -> Result<()> {
    if rest.is_empty() {
        return Ok(backend.add(first, second, out)?);
    }
    let scratch = &scratch.expect("planned for more than two shares").buf;
    let scratch = backend.slice(scratch, 0, B::len(out))?;
    // An odd number of additions after the first lands in `out` when the first goes to `scratch`.
    let (mut acc, mut other) = if rest.len() % 2 == 1 {
        (&scratch, out)
    } else {
        (out, &scratch)
    };
    backend.add(first, second, acc)?;
    for share in rest {
        backend.add(acc, share, other)?;
        std::mem::swap(&mut acc, &mut other);
    }
    Ok(())
}

/// A buffer of `per_sample` elements for each of `capacity` samples.
pub(crate) struct Rows<B: Ops, T: digits_tensor::Element> {
    pub buf: B::Buf<T>,
    per_sample: usize,
}

impl<B: Ops, T: digits_tensor::Element> Clone for Rows<B, T> {
    fn clone(&self) -> Self {
        Rows {
            buf: self.buf.clone(),
            per_sample: self.per_sample,
        }
    }
}

impl<B: Ops, T: digits_tensor::Element> Rows<B, T> {
    fn new(backend: &B, capacity: usize, per_sample: usize) -> Result<Self> {
        Ok(Rows {
            buf: backend.zeros::<T>((capacity * per_sample).max(1))?,
            per_sample,
        })
    }

    /// The first `count` samples.
    fn head(&self, backend: &B, count: usize) -> Result<Self> {
        Ok(Rows {
            buf: backend.slice(&self.buf, 0, count * self.per_sample)?,
            per_sample: self.per_sample,
        })
    }
}

fn heads<B: Ops, T: digits_tensor::Element>(
    backend: &B,
    rows: &[Option<Rows<B, T>>],
    count: usize,
) -> Result<Vec<Option<Rows<B, T>>>> {
    rows.iter()
        .map(|r| r.as_ref().map(|r| r.head(backend, count)).transpose())
        .collect()
}

/// Activation buffers for batches of up to `capacity` samples (and, for training, their gradients).
pub(crate) struct Workspace<B: Ops> {
    pub capacity: usize,
    /// Per value: its activations (`values[0]` the batch, the last the logits). A node that
    /// [`Graph::shares_input`] holds its input's buffer.
    values: Vec<Rows<B, f32>>,
    /// Per value: the loss's gradient with respect to it, where needed.
    grads: Vec<Option<Rows<B, f32>>>,
    /// Per node and input: where its backward pass writes that input's gradient. The input's own gradient
    /// buffer when the node is its only reader; a share to be added when there are several; `None` when the
    /// input needs no gradient, or shares its buffer with the node's output gradient.
    shares: Vec<Vec<Option<Rows<B, f32>>>>,
    /// Per node: what it keeps from forward to backward.
    saved: Vec<Option<Rows<B, u32>>>,
    /// Backward scratch shared by every node.
    scratch: Option<Rows<B, f32>>,
    /// The running sum when more than two shares are added.
    sum_scratch: Option<Rows<B, f32>>,
    pub labels: B::Buf<u32>,
}

impl<B: Ops> Workspace<B> {
    /// Allocates the buffers for `capacity` samples.
    pub fn new(backend: &B, graph: &Graph<B>, capacity: usize, training: bool) -> Result<Self> {
        check_workspace_size(graph, capacity, training)?;
        let mut values = vec![Rows::new(backend, capacity, graph.in_len)?];
        for (k, node) in graph.nodes.iter().enumerate() {
            let value = if graph.shares_input(k, training) {
                values[node.inputs[0]].clone()
            } else {
                Rows::new(backend, capacity, node.out_len)?
            };
            values.push(value);
        }
        let saved = graph
            .nodes
            .iter()
            .map(|node| match node.layer.saved_u32() {
                0 => Ok(None),
                len => Rows::new(backend, capacity, len).map(Some),
            })
            .collect::<Result<Vec<_>>>()?;
        let mut grads: Vec<Option<Rows<B, f32>>> = vec![None; values.len()];
        let mut shares: Vec<Vec<Option<Rows<B, f32>>>> = graph
            .nodes
            .iter()
            .map(|n| vec![None; n.inputs.len()])
            .collect();
        let (mut scratch, mut sum_scratch) = (None, None);
        if training {
            for v in 1..values.len() {
                if !graph.needs_grad[v] {
                    continue;
                }
                let k = v - 1;
                grads[v] = Some(if graph.shares_input(k, true) {
                    let input = graph.nodes[k].inputs[0];
                    grads[input]
                        .clone()
                        .expect("a trainable value's input has a gradient")
                } else {
                    Rows::new(backend, capacity, graph.value_len(v))?
                });
            }
            for (v, readers) in graph.consumers.iter().enumerate() {
                let Some(grad) = grads[v].as_ref() else {
                    continue;
                };
                for &(k, slot) in readers {
                    shares[k][slot] = if readers.len() == 1 {
                        (!graph.shares_input(k, true)).then(|| grad.clone())
                    } else {
                        Some(Rows::new(backend, capacity, graph.value_len(v))?)
                    };
                }
            }
            let largest =
                |f: &dyn Fn(&Node<B>) -> usize| graph.nodes.iter().map(f).max().unwrap_or(0);
            let per_sample = largest(&|n| n.layer.backward_scratch());
            if per_sample > 0 {
                scratch = Some(Rows::new(backend, capacity, per_sample)?);
            }
            let widest_sum = (0..values.len())
                .filter(|&v| graph.consumers[v].len() > 2 && grads[v].is_some())
                .map(|v| graph.value_len(v))
                .max();
            if let Some(per_sample) = widest_sum {
                sum_scratch = Some(Rows::new(backend, capacity, per_sample)?);
            }
        }
        Ok(Workspace {
            capacity,
            values,
            grads,
            shares,
            saved,
            scratch,
            sum_scratch,
            labels: backend.zeros::<u32>(capacity)?,
        })
    }

    /// Views of the first `count` samples of every buffer (the last, smaller batch of an epoch).
    pub fn rows(&self, backend: &B, count: usize) -> Result<Self> {
        Ok(Workspace {
            capacity: count,
            values: self
                .values
                .iter()
                .map(|v| v.head(backend, count))
                .collect::<Result<_>>()?,
            grads: heads(backend, &self.grads, count)?,
            shares: self
                .shares
                .iter()
                .map(|s| heads(backend, s, count))
                .collect::<Result<_>>()?,
            saved: heads(backend, &self.saved, count)?,
            scratch: self
                .scratch
                .as_ref()
                .map(|s| s.head(backend, count))
                .transpose()?,
            sum_scratch: self
                .sum_scratch
                .as_ref()
                .map(|s| s.head(backend, count))
                .transpose()?,
            labels: backend.slice(&self.labels, 0, count)?,
        })
    }

    /// The batch input `[n, c, h, w]`.
    pub fn input(&self) -> &B::Buf<f32> {
        &self.values[0].buf
    }

    /// The logits `[n, classes]`.
    pub fn logits(&self) -> &B::Buf<f32> {
        &self.values.last().expect("at least the input").buf
    }
}

/// Refuses a workspace over [`MAX_WORKSPACE_BYTES`], counting generously: per node its output, and when
/// training the output's gradient and a share, scratch or argmax buffer.
fn check_workspace_size<B: Ops>(graph: &Graph<B>, capacity: usize, training: bool) -> Result<()> {
    let per_node = if training { 3 } else { 2 };
    let per_sample = graph.nodes.iter().try_fold(graph.in_len, |acc, node| {
        node.out_len.checked_mul(per_node)?.checked_add(acc)
    });
    let bytes = per_sample
        .and_then(|v| v.checked_mul(capacity))
        .and_then(|v| v.checked_mul(4));
    if bytes.is_some_and(|b| b <= MAX_WORKSPACE_BYTES) {
        return Ok(());
    }
    let largest = graph
        .nodes
        .iter()
        .max_by_key(|node| node.out_len)
        .expect("a model has layers");
    Err(NnError::Config(format!(
        "a batch of {capacity} samples needs {} of activations, more than the limit of {} GiB \
         ({} outputs the most, {} values per sample): use a smaller batch",
        bytes.map_or_else(
            || "more memory than exists".to_string(),
            |b| format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30))
        ),
        MAX_WORKSPACE_BYTES >> 30,
        largest.name,
        largest.out_len
    )))
}

#[cfg(test)]
mod tests {
    use digits_idx::SplitMix64;
    use digits_tensor::{Backend, Cpu, ElementwiseOps};

    use super::*;
    use crate::model::Sequential;
    use crate::spec::ModelSpec;

    /// Every layer kind, two convolutions (so the input gradient of a convolution is exercised), a
    /// standalone ReLU fused into the second one and another after pooling that is not.
    const SPEC: &str = r#"
        input = [1, 8, 8]
        classes = 3
        layers = [
            { type = "conv2d", filters = 2, kernel = 3, activation = "relu" },
            { type = "conv2d", filters = 3, kernel = 3, padding = "same" },
            { type = "relu" },
            { type = "max_pool2d", pool = 2 },
            { type = "relu" },
            { type = "flatten" },
            { type = "dense", units = 5, activation = "relu" },
            { type = "dropout", rate = 0.25 },
            { type = "dense", units = 3 },
        ]"#;

    /// The analytic gradient of the mean loss against central finite differences, for every parameter.
    ///
    /// Tolerance: the mean loss (about 1.1) is an f32 value with a rounding error of about 1.2e-7, so a
    /// central difference with step h = 1e-3 carries about 2.4e-7 / 2e-3 = 1.2e-4 of rounding noise; its
    /// truncation error (h² times the third derivative, over 6) is of order 1e-7.
    /// `|fd - analytic| <= 1e-3 + 1e-2·|analytic|` leaves room for that while any real mistake (a transposed
    /// weight, a wrong mask, a missing 1/n) is off by O(1). Larger steps are not usable: with h = 5e-3 some
    /// perturbations cross a ReLU or max-pool kink.
    /// Every analytic parameter gradient of `spec` (inputs of `n` samples, `classes` classes) against
    /// central finite differences of the mean loss; `nodes` is the planned node count.
    ///
    /// Tolerance: the mean loss (about 1.1) is an f32 value with a rounding error of about 1.2e-7, so a
    /// central difference with step h = 1e-3 carries about 2.4e-7 / 2e-3 = 1.2e-4 of rounding noise; its
    /// truncation error (h² times the third derivative, over 6) is of order 1e-7.
    /// `|fd - analytic| <= 1e-3 + 1e-2·|analytic|` leaves room for that while any real mistake (a transposed
    /// weight, a wrong mask, a missing 1/n, a share of a gradient not added) is off by O(1). Larger steps are
    /// not usable: with h = 5e-3 some perturbations cross a ReLU or max-pool kink.
    fn check_gradients(text: &str, nodes: usize) {
        let cpu = Cpu::new();
        let spec = ModelSpec::from_toml_str(text, "gradient check").unwrap();
        let (classes, input_len) = (spec.classes, spec.input.iter().product::<usize>());
        let model = Sequential::new(&cpu, spec, 5).unwrap();
        assert_eq!(model.graph.nodes.len(), nodes, "planned nodes");
        let n = 4;
        let ws = Workspace::new(&cpu, &model.graph, n, true).unwrap();
        let mut rng = SplitMix64::new(11);
        let input: Vec<f32> = (0..n * input_len).map(|_| rng.next_f64() as f32).collect();
        cpu.write(ws.input(), &input).unwrap();
        let labels: Vec<u32> = (0..n as u32)
            .map(|i| (i * 2 + 1) % classes as u32)
            .collect();
        cpu.write(&ws.labels, &labels).unwrap();
        let random = StepRandom {
            seed: 9,
            step: 3,
            dropout_layers: model.graph.dropout_layers,
        };
        let stats = cpu.zeros::<f32>(2).unwrap();
        let mean_loss = |params: &[f32]| {
            cpu.write(&model.params, params).unwrap();
            cpu.fill(&stats, 0.0).unwrap();
            model.graph.forward(&cpu, &ws, Mode::Train(random)).unwrap();
            model
                .graph
                .loss(&cpu, &ws, classes, false, 0.0, &stats)
                .unwrap();
            cpu.download(&stats).unwrap()[0] / n as f32
        };

        let params = cpu.download(&model.params).unwrap();
        mean_loss(&params);
        model
            .graph
            .loss(&cpu, &ws, classes, true, 0.0, &stats)
            .unwrap();
        model.graph.backward(&cpu, &ws, random).unwrap();
        let analytic = cpu.download(&model.grads).unwrap();

        let h = 1e-3;
        let center = mean_loss(&params);
        let (mut checked, mut kinks) = (0, 0);
        for slot in &model.slots {
            for i in slot.offset..slot.offset + slot.len {
                let mut p = params.clone();
                p[i] = params[i] + h;
                let up = mean_loss(&p);
                p[i] = params[i] - h;
                let down = mean_loss(&p);
                let fd = (up - down) / (2.0 * h);
                let a = analytic[i];
                // A ReLU or max-pool kink within h of this point makes the one-sided slopes disagree: there
                // the loss has no derivative to compare with, only a subgradient.
                let (up_slope, down_slope) = ((up - center) / h, (center - down) / h);
                if (up_slope - down_slope).abs() > 2.0 * (1e-3 + 1e-2 * a.abs()) {
                    kinks += 1;
                    continue;
                }
                assert!(
                    (fd - a).abs() <= 1e-3 + 1e-2 * a.abs(),
                    "{}[{}]: analytic {a}, finite difference {fd}",
                    slot.name,
                    i - slot.offset
                );
                checked += 1;
            }
        }
        assert_eq!(checked + kinks, model.param_count());
        assert!(
            kinks * 20 <= checked,
            "{kinks} kinks in {checked} parameters"
        );
        // The gradient is not trivially zero: most parameters get some.
        let nonzero = analytic.iter().filter(|g| g.abs() > 1e-6).count();
        assert!(
            nonzero > checked / 2,
            "only {nonzero} of {checked} gradients are non-zero"
        );
    }

    #[test]
    fn gradients_match_finite_differences() {
        // The ReLU after the second convolution is fused: 8 nodes.
        check_gradients(SPEC, 8);
    }

    /// A residual graph: `stem` feeds three nodes (so three shares of its gradient are added), batch
    /// normalisation (batch statistics, so the loss depends on every sample of the batch), a ReLU after an
    /// `add` stays standalone and feeds two nodes, a channel concatenation, overlapping padded average pooling,
    /// global average pooling before the classifier.
    const RESIDUAL: &str = r#"
        input = [1, 6, 6]
        classes = 3
        layers = [
            { name = "stem", type = "conv2d", filters = 2, kernel = 3, padding = "same", activation = "relu" },
            { name = "a", type = "conv2d", filters = 2, kernel = 3, padding = "same" },
            { name = "bn", type = "batch_norm" },
            { name = "sum", type = "add", inputs = ["stem", "bn"] },
            { name = "r", type = "relu" },
            { name = "b", type = "conv2d", filters = 2, kernel = 1, inputs = ["stem"] },
            { name = "sum2", type = "add", inputs = ["r", "b"] },
            { name = "c", type = "conv2d", filters = 3, kernel = 1, inputs = ["r"] },
            { name = "joined", type = "concat", inputs = ["sum2", "c"] },
            { type = "avg_pool2d", pool = 3, stride = 1, padding = 1 },
            { type = "global_avg_pool2d" },
            { type = "dense", units = 3 },
        ]"#;

    #[test]
    fn gradients_add_where_a_value_feeds_several_nodes() {
        check_gradients(RESIDUAL, 12);
    }
}
