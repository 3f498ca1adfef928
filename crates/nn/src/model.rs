//! [`Sequential`]: a model built from a [`ModelSpec`] on a backend, with its parameters in one flat arena.

use std::path::Path;

use digits_tensor::{Conv2d, Gather, MaxPool2d, Ops};

use crate::data::DeviceDataset;
use crate::error::{NnError, Result};
use crate::file::ModelFile;
use crate::init::{Stream, derive_seed, glorot_uniform};
use crate::layers::{self, Layer, Op, ParamSlot, Params, Workspace};
use crate::spec::{Activation, LayerSpec, ModelSpec, Padding};

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
    pub(crate) layers: Vec<Layer<B>>,
    pub(crate) slots: Vec<ParamSlot>,
    /// All parameters, `slots` giving each tensor's place; padding between tensors is zero.
    pub(crate) params: B::Buf<f32>,
    /// Gradients, same layout; padding stays zero, so an optimizer step leaves it zero.
    pub(crate) grads: B::Buf<f32>,
    eval_ws: Option<Workspace<B>>,
}

impl<B: Ops> Sequential<B> {
    /// Builds a model with Keras's initial weights (Glorot-uniform kernels, zero biases), drawn on the host
    /// from `seed` and uploaded once: every backend starts from the same numbers.
    pub fn new(backend: &B, spec: ModelSpec, seed: u64) -> Result<Self> {
        let slots = param_slots(&spec, backend.view_alignment::<f32>())?;
        let mut host = vec![0.0f32; arena_len(&slots)];
        for (slot, (fan_in, fan_out, layer)) in slots.iter().zip(fans(&spec)?) {
            if slot.name.ends_with(".weight") {
                let values = glorot_uniform(
                    slot.len,
                    fan_in,
                    fan_out,
                    derive_seed(seed, Stream::Init, layer as u64),
                );
                host[slot.offset..slot.offset + slot.len].copy_from_slice(&values);
            }
        }
        Self::with_arena(backend, spec, slots, &host)
    }

    /// Builds the layers over an arena holding `host`.
    fn with_arena(
        backend: &B,
        spec: ModelSpec,
        slots: Vec<ParamSlot>,
        host: &[f32],
    ) -> Result<Self> {
        let params = backend.upload(host)?;
        let grads = backend.zeros::<f32>(host.len())?;
        let layers = build_layers(backend, &spec, &slots, &params, &grads)?;
        Ok(Sequential {
            backend: backend.clone(),
            spec,
            layers,
            slots,
            params,
            grads,
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
        let slots = param_slots(&spec, backend.view_alignment::<f32>())?;
        let host = file.arena(&slots, "")?;
        Self::with_arena(backend, spec, slots, &host)
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
        let host = file.arena(&self.slots, "")?;
        self.backend.write(&self.params, &host)?;
        self.spec.normalization = spec.normalization;
        Ok(())
    }

    /// Writes the model as safetensors (see the crate docs for names and layouts), atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let host = self.backend.download(&self.params)?;
        let mut file = ModelFile::new(&self.spec);
        file.add_arena(&self.slots, &host, "");
        file.write(path)
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
        let host = self.backend.download(&self.params)?;
        Ok(self
            .slots
            .iter()
            .map(|s| NamedTensor {
                name: s.name.clone(),
                shape: s.shape.clone(),
                data: host[s.offset..s.offset + s.len].to_vec(),
            })
            .collect())
    }

    /// Elements of the parameter arena (tensors plus alignment padding).
    pub(crate) fn arena_len(&self) -> usize {
        B::len(&self.params)
    }

    /// Dropout layers in the model (each draws its own mask stream).
    pub(crate) fn dropout_layers(&self) -> u64 {
        self.layers
            .iter()
            .filter(|l| matches!(l.op, Op::Dropout { .. }))
            .count() as u64
    }

    /// Per-sample elements of the largest activation.
    fn largest_activation(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.out_len)
            .chain([self.layers[0].in_len])
            .max()
            .unwrap_or(1)
    }

    /// The input gather of `count` samples from position `offset` of an index buffer.
    pub(crate) fn gather(&self, offset: usize, count: usize) -> Gather {
        let (scale, shift) = self.spec.normalization.scale_shift();
        Gather {
            row_len: self.layers[0].in_len,
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
        self.infer(data, options.batch_size, options.probabilities, true)
    }

    /// Class predictions and probabilities for `pixels`: whole images of the model's input size, u8.
    pub fn predict(&mut self, pixels: &[u8]) -> Result<Predictions> {
        let [_, rows, cols] = self.spec.input;
        if !pixels.len().is_multiple_of(rows * cols) {
            return Err(NnError::Data(format!(
                "{} bytes of pixels are not whole {rows}x{cols} images",
                pixels.len()
            )));
        }
        let count = pixels.len() / (rows * cols);
        let data = DeviceDataset::from_parts(
            &self.backend,
            pixels,
            vec![0; count],
            rows,
            cols,
            self.spec.classes,
        )?;
        let eval = self.infer(&data, EvalOptions::default().batch_size, true, false)?;
        Ok(Predictions {
            classes: self.spec.classes,
            predictions: eval.predictions,
            probabilities: eval.probabilities.unwrap_or_default(),
        })
    }

    /// Runs the model over `data` in batches; `with_loss` accumulates loss and accuracy against the labels.
    fn infer(
        &mut self,
        data: &DeviceDataset<B>,
        batch: usize,
        probabilities: bool,
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
            self.eval_ws = Some(Workspace::new(
                &self.backend,
                &self.layers,
                capacity,
                false,
            )?);
        }
        let b = &self.backend;
        let full = self.eval_ws.as_ref().expect("just ensured");
        let predictions = b.zeros::<u32>(n)?;
        let probs = if probabilities {
            Some(b.zeros::<f32>(n * classes)?)
        } else {
            None
        };
        let stats = b.zeros::<f32>(2)?;
        let mut tail = None;
        for start in (0..n).step_by(capacity) {
            let count = capacity.min(n - start);
            let ws = if count == capacity {
                full
            } else {
                tail.insert(full.rows(b, &self.layers, count)?)
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
            layers::forward(b, &self.layers, ws, None)?;
            if with_loss {
                layers::loss(b, ws, classes, false, &stats)?;
            }
            b.argmax_rows(
                ws.logits(),
                count,
                classes,
                &b.slice(&predictions, start, count)?,
            )?;
            if let Some(probs) = &probs {
                b.softmax(
                    ws.logits(),
                    count,
                    classes,
                    &b.slice(probs, start * classes, count * classes)?,
                )?;
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

    /// Copies the parameters into `dst` (an arena-sized buffer), e.g. to keep the best weights.
    pub(crate) fn copy_params_to(&self, dst: &B::Buf<f32>) -> Result<()> {
        Ok(self.backend.copy(&self.params, dst)?)
    }

    /// Replaces the parameters by `src` (an arena-sized buffer).
    pub(crate) fn copy_params_from(&self, src: &B::Buf<f32>) -> Result<()> {
        Ok(self.backend.copy(src, &self.params)?)
    }
}

/// Each trainable tensor's name, shape and aligned arena offset, in layer order (weight, then bias).
pub(crate) fn param_slots(spec: &ModelSpec, align: usize) -> Result<Vec<ParamSlot>> {
    let shapes = spec.shapes()?;
    let mut slots = Vec::new();
    let mut torch_index = 0;
    let mut end = 0usize;
    for (layer, input) in spec.layers.iter().zip(&shapes) {
        let tensors = match *layer {
            LayerSpec::Conv2d {
                filters, kernel, ..
            } => Some((vec![filters, input[0], kernel, kernel], filters)),
            LayerSpec::Dense { units, .. } => Some((vec![units, input[0]], units)),
            _ => None,
        };
        if let Some((weight, bias)) = tensors {
            for (suffix, shape) in [("weight", weight), ("bias", vec![bias])] {
                let offset = end.next_multiple_of(align);
                let len = shape.iter().product();
                end = offset + len;
                slots.push(ParamSlot {
                    name: format!("{torch_index}.{suffix}"),
                    shape,
                    offset,
                    len,
                });
            }
        }
        torch_index += layer.torch_modules();
    }
    Ok(slots)
}

/// Arena length for `slots` (at least one element, so an empty model still has a buffer).
pub(crate) fn arena_len(slots: &[ParamSlot]) -> usize {
    slots.last().map_or(1, |s| s.offset + s.len)
}

/// Keras's fans per parameter slot (`fan_in = in·kh·kw`, `fan_out = out·kh·kw` for convolutions), with the
/// index of the spec layer the slot belongs to.
fn fans(spec: &ModelSpec) -> Result<Vec<(usize, usize, usize)>> {
    let shapes = spec.shapes()?;
    let mut fans = Vec::new();
    for (i, (layer, input)) in spec.layers.iter().zip(&shapes).enumerate() {
        let fan = match *layer {
            LayerSpec::Conv2d {
                filters, kernel, ..
            } => (input[0] * kernel * kernel, filters * kernel * kernel),
            LayerSpec::Dense { units, .. } => (input[0], units),
            _ => continue,
        };
        // One entry for the weight and one for the bias (which starts at zero).
        fans.extend([(fan.0, fan.1, i), (fan.0, fan.1, i)]);
    }
    Ok(fans)
}

/// Builds the executable layers; a standalone ReLU right after a convolution or dense layer without
/// activation is fused into it.
fn build_layers<B: Ops>(
    backend: &B,
    spec: &ModelSpec,
    slots: &[ParamSlot],
    params: &B::Buf<f32>,
    grads: &B::Buf<f32>,
) -> Result<Vec<Layer<B>>> {
    let shapes = spec.shapes()?;
    let mut slots = slots.iter();
    let view = |buf: &B::Buf<f32>, slot: &ParamSlot| backend.slice(buf, slot.offset, slot.len);
    let mut next_params = || -> Result<Params<B>> {
        let (w, b) = (
            slots.next().expect("a weight slot"),
            slots.next().expect("a bias slot"),
        );
        Ok(Params {
            w: view(params, w)?,
            b: view(params, b)?,
            gw: view(grads, w)?,
            gb: view(grads, b)?,
        })
    };
    let mut layers: Vec<Layer<B>> = Vec::with_capacity(spec.layers.len());
    let mut dropout_index = 0;
    for (layer, (input, output)) in spec.layers.iter().zip(shapes.iter().zip(&shapes[1..])) {
        let (in_len, out_len) = (input.iter().product(), output.iter().product());
        let (op, params) = match *layer {
            LayerSpec::Conv2d {
                filters,
                kernel,
                stride,
                padding,
                activation,
            } => {
                let conv = Conv2d {
                    batch: 0,
                    in_channels: input[0],
                    out_channels: filters,
                    height: input[1],
                    width: input[2],
                    kernel_h: kernel,
                    kernel_w: kernel,
                    stride,
                    padding: if padding == Padding::Same {
                        (kernel - 1) / 2
                    } else {
                        0
                    },
                    relu: activation == Activation::Relu,
                };
                (Op::Conv(conv), Some(next_params()?))
            }
            LayerSpec::MaxPool2d { pool, stride } => {
                let pool = MaxPool2d {
                    batch: 0,
                    channels: input[0],
                    height: input[1],
                    width: input[2],
                    window: pool,
                    stride: stride.unwrap_or(pool),
                };
                (Op::Pool(pool), None)
            }
            LayerSpec::Flatten => (Op::Flatten, None),
            LayerSpec::Dense { units, activation } => (
                Op::Dense {
                    inputs: input[0],
                    units,
                    relu: activation == Activation::Relu,
                },
                Some(next_params()?),
            ),
            LayerSpec::Dropout { rate } => {
                dropout_index += 1;
                (
                    Op::Dropout {
                        rate,
                        index: dropout_index - 1,
                    },
                    None,
                )
            }
            LayerSpec::Relu => match layers.last_mut().map(|l| &mut l.op) {
                Some(Op::Conv(conv)) if !conv.relu => {
                    conv.relu = true;
                    continue;
                }
                Some(Op::Dense { relu, .. }) if !*relu => {
                    *relu = true;
                    continue;
                }
                _ => (Op::Relu, None),
            },
        };
        layers.push(Layer {
            op,
            in_len,
            out_len,
            params,
        });
    }
    Ok(layers)
}
