//! [`Sequential`]: a model built from a [`ModelSpec`] on a backend, with its parameters in one flat arena.

use std::path::Path;

use digits_tensor::{Gather, Ops};

use crate::data::DeviceDataset;
use crate::error::{NnError, Result};
use crate::file::{ModelFile, write_atomic};
use crate::graph::{Graph, Node, Workspace};
use crate::init::{Stream, derive_seed, glorot_uniform, torch_uniform};
use crate::layers::LayerSpec;
use crate::layers::{Fused, Init, Mode, Param, ParamDecl, ParamKind, ParamSlot};
use crate::onnx::{self, OnnxOptions};
use crate::spec::{InitScheme, ModelSpec};

/// Largest activation tensor (in f32 elements) an evaluation batch may allocate: 128 MiB, the storage-binding
/// limit of most GPUs, so that evaluation memory stays bounded whatever the batch size asked for.
const EVAL_ACTIVATION_LIMIT: usize = 32 << 20;

/// A parameter tensor copied to the host, named and laid out as PyTorch's `nn.Sequential` would hold it.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// e.g. `0.weight`.
    pub name: String,
    /// e.g. `[32, 1, 3, 3]`.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// Options of [`Sequential::evaluate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvalOptions {
    /// Samples per forward pass (rounded down to the backend's view alignment, and capped so that no
    /// activation exceeds 128 MiB).
    pub batch_size: usize,
    /// Also return every sample's class probabilities.
    pub probabilities: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            batch_size: 1000,
            probabilities: false,
        }
    }
}

/// What [`Sequential::evaluate`] measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Samples evaluated.
    pub samples: usize,
    /// Mean cross-entropy.
    pub loss: f32,
    /// Fraction of samples whose prediction is their label.
    pub accuracy: f32,
    /// The predicted class (argmax of the logits) of each sample.
    pub predictions: Vec<u32>,
    /// `samples × classes` softmax probabilities, row-major, when asked for.
    pub probabilities: Option<Vec<f32>>,
}

impl Evaluation {
    /// The evaluation of the averaged probabilities of several evaluations of the same samples (an
    /// ensemble of models, or test-time augmented copies): each evaluation must hold its probabilities.
    /// The loss is the mean cross-entropy of the averaged probabilities against `labels`.
    pub fn average(parts: &[Evaluation], labels: &[u8]) -> Result<Evaluation> {
        let Some(first) = parts.first() else {
            return Err(NnError::Data("nothing to average".into()));
        };
        let samples = first.samples;
        let mut sum = vec![0.0f64; first.probabilities.as_ref().map_or(0, Vec::len)];
        for part in parts {
            let probabilities = part.probabilities.as_ref().ok_or_else(|| {
                NnError::Data("an evaluation to average holds no probabilities".into())
            })?;
            if part.samples != samples || probabilities.len() != sum.len() {
                return Err(NnError::Data(format!(
                    "cannot average evaluations of {} and {} values",
                    sum.len(),
                    probabilities.len()
                )));
            }
            for (s, &p) in sum.iter_mut().zip(probabilities) {
                *s += f64::from(p);
            }
        }
        if samples == 0 || labels.len() != samples || sum.len() % samples != 0 {
            return Err(NnError::Data(format!(
                "{} labels for {samples} samples of {} probabilities",
                labels.len(),
                sum.len()
            )));
        }
        let classes = sum.len() / samples;
        let scale = 1.0 / parts.len() as f64;
        let mean: Vec<f32> = sum.iter().map(|s| (s * scale) as f32).collect();
        let mut loss = 0.0f64;
        let mut correct = 0usize;
        let predictions: Vec<u32> = mean
            .chunks_exact(classes)
            .zip(labels)
            .map(|(row, &label)| {
                let best = (0..classes).fold(0, |b, c| if row[c] > row[b] { c } else { b });
                correct += usize::from(best == usize::from(label));
                let p = row.get(usize::from(label)).copied().unwrap_or(0.0);
                loss -= f64::from(p.max(f32::MIN_POSITIVE)).ln();
                best as u32
            })
            .collect();
        Ok(Evaluation {
            samples,
            loss: (loss / samples as f64) as f32,
            accuracy: (correct as f64 / samples as f64) as f32,
            predictions,
            probabilities: Some(mean),
        })
    }
}

/// What [`Sequential::predict`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct Predictions {
    /// Classes per sample.
    pub classes: usize,
    /// The predicted class of each sample.
    pub predictions: Vec<u32>,
    /// `samples × classes` softmax probabilities, row-major.
    pub probabilities: Vec<f32>,
}

/// A sequential network on backend `B`.
///
/// Parameters live in one arena buffer (gradients in a second of the same layout), each tensor at an offset
/// aligned for [`digits_tensor::Backend::slice`], so an optimizer updates the whole model in one dispatch.
///
/// ```
/// use digits_nn::{ModelSpec, Sequential};
/// use digits_tensor::Cpu;
///
/// let model = Sequential::new(&Cpu::new(), ModelSpec::preset("tutorial")?, 42)?;
/// assert_eq!(model.param_count(), 225_034);
/// let weights = model.weights()?;
/// assert_eq!((weights[0].name.as_str(), weights[0].shape.as_slice()), ("0.weight", &[32, 1, 3, 3][..]));
/// # Ok::<(), digits_nn::NnError>(())
/// ```
pub struct Sequential<B: Ops> {
    backend: B,
    spec: ModelSpec,
    pub(crate) graph: Graph<B>,
    /// Each trainable tensor's place in `params` (and `grads`).
    pub(crate) slots: Vec<ParamSlot>,
    /// Each running-state tensor's place in `running`.
    pub(crate) running_slots: Vec<ParamSlot>,
    /// All parameters, `slots` giving each tensor's place; padding between tensors is zero.
    pub(crate) params: B::Buf<f32>,
    /// Gradients, same layout; padding stays zero, so an optimizer step leaves it zero.
    pub(crate) grads: B::Buf<f32>,
    /// Running state (never touched by the optimizer), `running_slots` giving each tensor's place.
    pub(crate) running: B::Buf<f32>,
    /// The `num_batches_tracked` tensor names of the layers that count training batches.
    batch_counters: Vec<String>,
    /// Training batches the running state has seen (every counting layer sees every batch).
    pub(crate) batches_tracked: u64,
    eval_ws: Option<Workspace<B>>,
}

impl<B: Ops> Sequential<B> {
    /// Builds a model with Keras's initial weights (Glorot-uniform kernels, zero biases), drawn on the host
    /// from `seed` and uploaded once: every backend starts from the same numbers.
    pub fn new(backend: &B, spec: ModelSpec, seed: u64) -> Result<Self> {
        let slots = Slots::new(&spec, backend.view_alignment::<f32>())?;
        let (trainable, running) = slots.initial(seed);
        Self::with_arenas(backend, spec, slots, &trainable, &running, 0)
    }

    /// Builds the graph over arenas holding `trainable` and `running`.
    fn with_arenas(
        backend: &B,
        spec: ModelSpec,
        slots: Slots,
        trainable: &[f32],
        running: &[f32],
        batches_tracked: u64,
    ) -> Result<Self> {
        let params = backend.upload(trainable)?;
        let grads = backend.zeros::<f32>(trainable.len())?;
        let running = backend.upload(running)?;
        let graph = plan(backend, &spec, &slots, [&params, &grads, &running])?;
        Ok(Sequential {
            backend: backend.clone(),
            spec,
            graph,
            slots: slots.trainable,
            running_slots: slots.running,
            params,
            grads,
            running,
            batch_counters: slots.batch_counters,
            batches_tracked,
            eval_ws: None,
        })
    }

    /// Loads a model file written by [`Sequential::save`] (or a checkpoint), architecture included.
    pub fn load(backend: &B, path: &Path) -> Result<Self> {
        Self::from_file(backend, &ModelFile::read(path)?)
    }

    /// Builds a model from the bytes of a model file (as [`Sequential::load`] reads them); `origin` names the
    /// file in errors.
    pub fn from_bytes(backend: &B, bytes: &[u8], origin: &Path) -> Result<Self> {
        Self::from_file(backend, &ModelFile::parse(bytes, origin)?)
    }

    /// Builds the model a file read describes, with its weights.
    pub(crate) fn from_file(backend: &B, file: &ModelFile) -> Result<Self> {
        let spec = file.spec()?;
        let slots = Slots::new(&spec, backend.view_alignment::<f32>())?;
        let trainable = file.arena(&slots.trainable, "")?;
        let running = file.arena(&slots.running, "")?;
        let batches_tracked = file.counter(&slots.batch_counters, "")?;
        Self::with_arenas(backend, spec, slots, &trainable, &running, batches_tracked)
    }

    /// Replaces the weights by those of a model file of the same architecture (its normalisation comes
    /// along, as the weights were trained with it).
    pub fn load_weights(&mut self, path: &Path) -> Result<()> {
        let file = ModelFile::read(path)?;
        let spec = file.spec()?;
        if !spec.same_architecture(&self.spec) {
            return Err(NnError::Architecture {
                path: path.into(),
                expected: self.spec.architecture(),
                found: spec.architecture(),
            });
        }
        self.backend
            .write(&self.params, &file.arena(&self.slots, "")?)?;
        self.backend
            .write(&self.running, &file.arena(&self.running_slots, "")?)?;
        self.batches_tracked = file.counter(&self.batch_counters, "")?;
        self.spec.normalization = spec.normalization;
        Ok(())
    }

    /// Writes the model as safetensors (see the crate docs for names and layouts), atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut file = ModelFile::new(&self.spec);
        self.add_to(&mut file)?;
        file.write(path)
    }

    /// Adds the parameters and the running state to a file being written.
    pub(crate) fn add_to(&self, file: &mut ModelFile) -> Result<()> {
        file.add_arena(&self.slots, &self.backend.download(&self.params)?, "");
        file.add_arena(
            &self.running_slots,
            &self.backend.download(&self.running)?,
            "",
        );
        file.add_counters(&self.batch_counters, self.batches_tracked, "");
        Ok(())
    }

    /// The description the model was built from.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The backend the model runs on.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Trainable parameters.
    pub fn param_count(&self) -> usize {
        self.slots.iter().map(|s| s.len).sum()
    }

    /// Copies the parameters to the host, with PyTorch's names and layouts.
    pub fn weights(&self) -> Result<Vec<NamedTensor>> {
        Ok(named(&self.slots, &self.backend.download(&self.params)?))
    }

    /// The running state (BatchNorm's `running_mean` and `running_var`), in file order, copied to the host.
    pub fn running_state(&self) -> Result<Vec<NamedTensor>> {
        Ok(named(
            &self.running_slots,
            &self.backend.download(&self.running)?,
        ))
    }

    /// The model as an ONNX file's bytes (see [`OnnxOptions`] for its input and output).
    pub fn to_onnx(&self, options: &OnnxOptions) -> Result<Vec<u8>> {
        let mut tensors = self.weights()?;
        tensors.extend(self.running_state()?);
        onnx::export(&self.spec, &tensors, options)
    }

    /// Writes the model as an ONNX file, atomically.
    pub fn export_onnx(&self, path: &Path, options: &OnnxOptions) -> Result<()> {
        write_atomic(path, &self.to_onnx(options)?)
    }

    /// Training batches the running state has seen (PyTorch's `num_batches_tracked`).
    pub fn batches_tracked(&self) -> u64 {
        self.batches_tracked
    }

    /// Elements of the parameter arena (tensors plus alignment padding).
    pub(crate) fn arena_len(&self) -> usize {
        B::len(&self.params)
    }

    /// Per-sample elements of the largest activation.
    fn largest_activation(&self) -> usize {
        self.graph
            .nodes
            .iter()
            .map(|n| n.out_len)
            .chain([self.graph.in_len])
            .max()
            .unwrap_or(1)
    }

    /// The input gather of `count` samples from position `offset` of an index buffer.
    pub(crate) fn gather(&self, offset: usize, count: usize) -> Gather {
        let (scale, shift) = self.spec.normalization.scale_shift();
        Gather {
            row_len: self.graph.in_len,
            index_offset: offset,
            count,
            scale,
            shift,
        }
    }

    /// Loss, accuracy and predictions (and optionally probabilities) over a whole dataset, dropout off.
    pub fn evaluate(
        &mut self,
        data: &DeviceDataset<B>,
        options: &EvalOptions,
    ) -> Result<Evaluation> {
        data.check_fits(&self.spec, "dataset")?;
        let scores = if options.probabilities {
            Scores::Probabilities
        } else {
            Scores::None
        };
        self.infer(data, options.batch_size, scores, true)
    }

    /// Class predictions and probabilities for `pixels`: whole images of the model's input size, u8.
    pub fn predict(&mut self, pixels: &[u8]) -> Result<Predictions> {
        let data = self.images(pixels)?;
        let eval = self.infer(
            &data,
            EvalOptions::default().batch_size,
            Scores::Probabilities,
            false,
        )?;
        Ok(Predictions {
            classes: self.spec.classes,
            predictions: eval.predictions,
            probabilities: eval.probabilities.unwrap_or_default(),
        })
    }

    /// The logits (before the softmax) for `pixels`, samples × classes, row-major: what an exported ONNX
    /// model's `logits` output is checked against.
    pub fn logits(&mut self, pixels: &[u8]) -> Result<Vec<f32>> {
        let data = self.images(pixels)?;
        let eval = self.infer(
            &data,
            EvalOptions::default().batch_size,
            Scores::Logits,
            false,
        )?;
        Ok(eval.probabilities.unwrap_or_default())
    }

    /// Unlabelled images on the device: whole images of the model's input size, u8.
    fn images(&self, pixels: &[u8]) -> Result<DeviceDataset<B>> {
        let [_, rows, cols] = self.spec.input;
        if !pixels.len().is_multiple_of(rows * cols) {
            return Err(NnError::Data(format!(
                "{} bytes of pixels are not whole {rows}x{cols} images",
                pixels.len()
            )));
        }
        let count = pixels.len() / (rows * cols);
        DeviceDataset::from_parts(
            &self.backend,
            pixels,
            vec![0; count],
            rows,
            cols,
            self.spec.classes,
        )
    }

    /// Runs the model over `data` in batches; `with_loss` accumulates loss and accuracy against the labels.
    /// The `scores` asked for come back in [`Evaluation::probabilities`].
    fn infer(
        &mut self,
        data: &DeviceDataset<B>,
        batch: usize,
        scores: Scores,
        with_loss: bool,
    ) -> Result<Evaluation> {
        let n = data.len();
        if n == 0 {
            return Err(NnError::Data("cannot evaluate an empty dataset".into()));
        }
        let classes = self.spec.classes;
        let capacity = self.eval_capacity(batch, n)?;
        if self
            .eval_ws
            .as_ref()
            .is_none_or(|ws| ws.capacity != capacity)
        {
            self.eval_ws = None; // frees the old buffers before allocating the new ones
            self.eval_ws = Some(Workspace::new(&self.backend, &self.graph, capacity, false)?);
        }
        let b = &self.backend;
        let full = self.eval_ws.as_ref().expect("just ensured");
        let predictions = b.zeros::<u32>(n)?;
        let probs = match scores {
            Scores::None => None,
            Scores::Probabilities | Scores::Logits => Some(b.zeros::<f32>(n * classes)?),
        };
        let stats = b.zeros::<f32>(2)?;
        let mut tail = None;
        for start in (0..n).step_by(capacity) {
            let count = capacity.min(n - start);
            let ws = if count == capacity {
                full
            } else {
                tail.insert(full.rows(b, count)?)
            };
            let gather = self.gather(start, count);
            b.gather_normalize(&gather, &data.images, &data.identity, ws.input())?;
            b.gather_labels(
                &Gather {
                    row_len: 1,
                    ..gather
                },
                &data.labels,
                &data.identity,
                &ws.labels,
            )?;
            self.graph.forward(b, ws, Mode::Eval)?;
            if with_loss {
                self.graph.loss(b, ws, classes, false, 0.0, &stats)?;
            }
            b.argmax_rows(
                ws.logits(),
                count,
                classes,
                &b.slice(&predictions, start, count)?,
            )?;
            if let Some(probs) = &probs {
                let rows = b.slice(probs, start * classes, count * classes)?;
                match scores {
                    Scores::Logits => b.copy(ws.logits(), &rows)?,
                    _ => b.softmax(ws.logits(), count, classes, &rows)?,
                }
            }
            b.flush()?;
        }
        let [loss_sum, correct] =
            <[f32; 2]>::try_from(b.download(&stats)?).expect("stats hold two values");
        Ok(Evaluation {
            samples: n,
            loss: loss_sum / n as f32,
            accuracy: correct / n as f32,
            predictions: b.download(&predictions)?,
            probabilities: probs.map(|p| b.download(&p)).transpose()?,
        })
    }

    /// Samples per evaluation pass: at most `batch`, `n` and the activation limit, and a multiple of the view
    /// alignment so that every batch's slice of the prediction buffers starts at a legal offset.
    fn eval_capacity(&self, batch: usize, n: usize) -> Result<usize> {
        if batch == 0 {
            return Err(NnError::Config(
                "the evaluation batch size must be at least 1".into(),
            ));
        }
        let align = self
            .backend
            .view_alignment::<f32>()
            .max(self.backend.view_alignment::<u32>());
        let limit = (EVAL_ACTIVATION_LIMIT / self.largest_activation()).max(1);
        let capacity = batch.min(limit);
        if capacity >= n {
            return Ok(n);
        }
        Ok((capacity / align * align).max(align).min(n))
    }

    /// Copies the weights and running state into `snapshot`, allocating it the first time.
    pub(crate) fn snapshot_into(&self, snapshot: &mut Option<Snapshot<B>>) -> Result<()> {
        let kept = match snapshot {
            Some(kept) => kept,
            None => snapshot.insert(Snapshot {
                params: self.backend.zeros::<f32>(B::len(&self.params))?,
                running: self.backend.zeros::<f32>(B::len(&self.running))?,
                batches_tracked: 0,
            }),
        };
        self.backend.copy(&self.params, &kept.params)?;
        self.backend.copy(&self.running, &kept.running)?;
        kept.batches_tracked = self.batches_tracked;
        Ok(())
    }

    /// Moves a moving average of the weights and running state toward the current ones:
    /// `average = decay·average + (1 - decay)·current`, one dispatch per arena.
    pub(crate) fn update_average(&self, average: &mut Snapshot<B>, decay: f32) -> Result<()> {
        self.backend.ema(decay, &average.params, &self.params)?;
        if B::len(&self.running) > 0 {
            self.backend.ema(decay, &average.running, &self.running)?;
        }
        average.batches_tracked = self.batches_tracked;
        Ok(())
    }

    /// Puts a snapshot's weights and running state back.
    pub(crate) fn restore(&mut self, snapshot: &Snapshot<B>) -> Result<()> {
        self.backend.copy(&snapshot.params, &self.params)?;
        self.backend.copy(&snapshot.running, &self.running)?;
        self.batches_tracked = snapshot.batches_tracked;
        Ok(())
    }

    /// Adds a snapshot to a file being written, its tensors named `prefix` + the model's names.
    pub(crate) fn add_snapshot_to(
        &self,
        snapshot: &Snapshot<B>,
        file: &mut ModelFile,
        prefix: &str,
    ) -> Result<()> {
        file.add_arena(
            &self.slots,
            &self.backend.download(&snapshot.params)?,
            prefix,
        );
        file.add_arena(
            &self.running_slots,
            &self.backend.download(&snapshot.running)?,
            prefix,
        );
        file.add_counters(&self.batch_counters, snapshot.batches_tracked, prefix);
        Ok(())
    }

    /// Reads a snapshot [`Sequential::add_snapshot_to`] wrote.
    pub(crate) fn read_snapshot(&self, file: &ModelFile, prefix: &str) -> Result<Snapshot<B>> {
        Ok(Snapshot {
            params: self.backend.upload(&file.arena(&self.slots, prefix)?)?,
            running: self
                .backend
                .upload(&file.arena(&self.running_slots, prefix)?)?,
            batches_tracked: file.counter(&self.batch_counters, prefix)?,
        })
    }
}

/// A device copy of a model's weights and running state (the epoch EarlyStopping keeps, or the weights'
/// moving average).
pub(crate) struct Snapshot<B: Ops> {
    params: B::Buf<f32>,
    running: B::Buf<f32>,
    batches_tracked: u64,
}

/// What an inference pass keeps per sample besides the predicted class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scores {
    None,
    Probabilities,
    Logits,
}

/// Host copies of an arena's tensors.
fn named(slots: &[ParamSlot], host: &[f32]) -> Vec<NamedTensor> {
    slots
        .iter()
        .map(|s| NamedTensor {
            name: s.name.clone(),
            shape: s.shape.clone(),
            data: host[s.offset..s.offset + s.len].to_vec(),
        })
        .collect()
}

/// Where each spec node's parameters live: its slots in the trainable and running arenas.
pub(crate) struct Slots {
    /// Trainable tensors, in node order (weight, then bias), each at an aligned offset.
    pub trainable: Vec<ParamSlot>,
    /// Running state (BatchNorm's statistics), likewise in its own arena.
    pub running: Vec<ParamSlot>,
    /// `<node>.num_batches_tracked` of each layer that counts training batches.
    pub batch_counters: Vec<String>,
    /// Per spec node: its declarations, and for each the index into `trainable` or `running`.
    decls: Vec<Vec<(ParamDecl, usize)>>,
    /// Per spec node: what its tensors' names start with (its name, or its `nn.Sequential` index).
    prefixes: Vec<String>,
    /// How weights and biases start.
    scheme: InitScheme,
}

impl Slots {
    /// Names tensors as PyTorch's `nn.Sequential` does: `<module index>.<suffix>`, a fused ReLU counting as
    /// its own module.
    pub(crate) fn new(spec: &ModelSpec, align: usize) -> Result<Self> {
        let (shapes, topology) = spec.graph()?;
        let (mut trainable, mut running) = (Vec::new(), Vec::new());
        let mut batch_counters = Vec::new();
        let mut decls = Vec::with_capacity(spec.layers.len());
        let mut prefixes = Vec::with_capacity(spec.layers.len());
        let mut torch_index = 0;
        for (node, reads) in spec.layers.iter().zip(&topology.inputs) {
            let inputs: Vec<&[usize]> = reads.iter().map(|&v| shapes[v].as_slice()).collect();
            let prefix = node.name.clone().unwrap_or_else(|| torch_index.to_string());
            let mut placed = Vec::new();
            for decl in node.layer.kind().params(&inputs) {
                let arena = match decl.kind {
                    ParamKind::Trainable => &mut trainable,
                    ParamKind::Running => &mut running,
                };
                let offset = arena_len_of(arena).next_multiple_of(align);
                let len = decl.shape.iter().product();
                placed.push((decl.clone(), arena.len()));
                arena.push(ParamSlot {
                    name: format!("{prefix}.{}", decl.suffix),
                    shape: decl.shape,
                    offset,
                    len,
                });
            }
            decls.push(placed);
            if node.layer.kind().counts_batches() {
                batch_counters.push(format!("{prefix}.num_batches_tracked"));
            }
            torch_index += node.layer.torch_modules();
            prefixes.push(prefix);
        }
        Ok(Slots {
            trainable,
            running,
            batch_counters,
            decls,
            prefixes,
            scheme: spec.init,
        })
    }

    /// What spec node `node`'s tensor names start with.
    pub(crate) fn prefix(&self, node: usize) -> &str {
        &self.prefixes[node]
    }

    /// Spec node `node`'s tensor names, by suffix.
    pub(crate) fn names(&self, node: usize) -> Vec<(&'static str, String)> {
        self.decls[node]
            .iter()
            .map(|(decl, index)| {
                let slot = match decl.kind {
                    ParamKind::Trainable => &self.trainable[*index],
                    ParamKind::Running => &self.running[*index],
                };
                (decl.suffix, slot.name.clone())
            })
            .collect()
    }

    /// The initial values of both arenas: Glorot-uniform drawn from `seed` and the spec node's index, or a
    /// constant.
    fn initial(&self, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let mut trainable = vec![0.0f32; arena_len(&self.trainable)];
        let mut running = vec![0.0f32; arena_len(&self.running)];
        for (node, decls) in self.decls.iter().enumerate() {
            for (decl, index) in decls {
                let (arena, slot) = match decl.kind {
                    ParamKind::Trainable => (&mut trainable, &self.trainable[*index]),
                    ParamKind::Running => (&mut running, &self.running[*index]),
                };
                let values = &mut arena[slot.offset..slot.offset + slot.len];
                let weight_seed = derive_seed(seed, Stream::Init, node as u64);
                let bias_seed = derive_seed(seed, Stream::BiasInit, node as u64);
                match (decl.init, self.scheme) {
                    (Init::Weight { fan_in, fan_out }, InitScheme::Keras) => values
                        .copy_from_slice(&glorot_uniform(slot.len, fan_in, fan_out, weight_seed)),
                    (Init::Weight { fan_in, .. }, InitScheme::Pytorch) => {
                        values.copy_from_slice(&torch_uniform(slot.len, fan_in, weight_seed))
                    }
                    (Init::Bias { .. }, InitScheme::Keras) => values.fill(0.0),
                    (Init::Bias { fan_in }, InitScheme::Pytorch) => {
                        values.copy_from_slice(&torch_uniform(slot.len, fan_in, bias_seed))
                    }
                    (Init::Constant(value), _) => values.fill(value),
                }
            }
        }
        (trainable, running)
    }
}

fn arena_len_of(slots: &[ParamSlot]) -> usize {
    slots.last().map_or(0, |s| s.offset + s.len)
}

/// Arena length for `slots` (at least one element, so an empty model still has a buffer).
pub(crate) fn arena_len(slots: &[ParamSlot]) -> usize {
    arena_len_of(slots).max(1)
}

/// Plans the graph of a description: nodes in an order where each comes after its inputs; a standalone ReLU
/// whose input is a convolution or dense layer without activation, read by nothing else, is folded into that
/// layer's epilogue.
fn plan<B: Ops>(
    backend: &B,
    spec: &ModelSpec,
    slots: &Slots,
    arenas: [&B::Buf<f32>; 3],
) -> Result<Graph<B>> {
    let [params, grads, running] = arenas;
    let (shapes, topology) = spec.graph()?;
    let last = spec.layers.len() - 1;
    // The ReLU node folded into node i, if any.
    let fused_relu = |i: usize| {
        (spec.layers[i].layer.kind().takes_relu() && topology.readers[i + 1] == 1 && i != last)
            .then(|| {
                (0..spec.layers.len()).find(|&r| {
                    topology.inputs[r] == [i + 1] && matches!(spec.layers[r].layer, LayerSpec::Relu)
                })
            })
            .flatten()
    };
    let folded: Vec<Option<usize>> = (0..spec.layers.len()).map(fused_relu).collect();
    // Which planned value holds each spec value (a folded ReLU's output is its producer's).
    let mut value_of = vec![0usize; spec.layers.len() + 1];
    let view = |arena: &B::Buf<f32>, slot: &ParamSlot| backend.slice(arena, slot.offset, slot.len);
    let mut nodes: Vec<Node<B>> = Vec::with_capacity(spec.layers.len());
    let mut dropout_index = 0;
    for &i in &topology.order {
        if folded.contains(&Some(i)) {
            let producer = topology.inputs[i][0];
            value_of[i + 1] = value_of[producer];
            continue;
        }
        let node = &spec.layers[i];
        let params = slots.decls[i]
            .iter()
            .map(|(decl, index)| {
                Ok(match decl.kind {
                    ParamKind::Trainable => Param {
                        value: view(params, &slots.trainable[*index])?,
                        grad: Some(view(grads, &slots.trainable[*index])?),
                    },
                    ParamKind::Running => Param {
                        value: view(running, &slots.running[*index])?,
                        grad: None,
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let fused = Fused {
            relu: folded[i].is_some(),
            dropout_index,
        };
        dropout_index += u64::from(node.layer.kind().is_dropout());
        let trains = slots.decls[i]
            .iter()
            .any(|(decl, _)| decl.kind == ParamKind::Trainable);
        let inputs: Vec<&[usize]> = topology.inputs[i]
            .iter()
            .map(|&v| shapes[v].as_slice())
            .collect();
        nodes.push(Node {
            name: match &node.name {
                Some(name) => format!("node `{name}` ({})", node.layer),
                None => format!("layer {} ({})", i + 1, node.layer),
            },
            inputs: topology.inputs[i].iter().map(|&v| value_of[v]).collect(),
            out_len: shapes[i + 1].iter().product(),
            layer: node.layer.build(backend, &inputs, params, fused)?,
            trains,
        });
        value_of[i + 1] = nodes.len();
    }
    Ok(Graph::new(nodes, shapes[0].iter().product(), dropout_index))
}
