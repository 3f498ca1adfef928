//! The layers of a [`crate::Sequential`] model and their forward and backward passes, as kernel calls on a
//! backend. Activations live in a [`Workspace`] allocated once per batch capacity; parameters and their
//! gradients are views of the model's two arenas.
//!
//! Shapes in comments are per batch: `n` samples, NCHW images, `[n, features]` vectors.

use digits_tensor::{Conv2d, Dropout, Gemm, MaxPool2d, Ops, SoftmaxCrossEntropy};

use crate::error::{NnError, Result};

/// A parameter tensor's place in the arena, with its PyTorch name and shape.
#[derive(Clone, Debug)]
pub(crate) struct ParamSlot {
    /// e.g. `3.weight`.
    pub name: String,
    /// PyTorch layout: conv `[out, in, kh, kw]`, dense `[out, in]`, bias `[out]`.
    pub shape: Vec<usize>,
    /// First element in the arena (a multiple of the backend's view alignment).
    pub offset: usize,
    /// Elements.
    pub len: usize,
}

/// A weight and a bias, and the gradients the backward pass writes, as views of the arenas.
pub(crate) struct Params<B: Ops> {
    pub w: B::Buf<f32>,
    pub b: B::Buf<f32>,
    pub gw: B::Buf<f32>,
    pub gb: B::Buf<f32>,
}

/// What a layer computes; specs have `batch = 0`, filled in per call.
pub(crate) enum Op {
    /// `y = conv(x, w) + b`, ReLU fused when `spec.relu`.
    Conv(Conv2d),
    Pool(MaxPool2d),
    /// A reshape: the output is the input buffer.
    Flatten,
    /// `y[n, units] = x[n, inputs]·wᵀ + b`, w `[units, inputs]`, ReLU fused when `relu`.
    Dense {
        inputs: usize,
        units: usize,
        relu: bool,
    },
    /// `index` counts the dropout layers before this one (it picks the mask stream).
    Dropout {
        rate: f32,
        index: u64,
    },
    Relu,
}

/// A built layer.
pub(crate) struct Layer<B: Ops> {
    pub op: Op,
    /// Elements per sample of the input and the output.
    pub in_len: usize,
    pub out_len: usize,
    pub params: Option<Params<B>>,
}

impl<B: Ops> Layer<B> {
    fn fused_relu(&self) -> bool {
        match self.op {
            Op::Conv(spec) => spec.relu,
            Op::Dense { relu, .. } => relu,
            _ => false,
        }
    }
}

/// Where dropout masks come from in a training step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StepRandom {
    /// The run's dropout seed.
    pub seed: u64,
    /// The global step (counted over the whole run, so resuming continues the sequence).
    pub step: u64,
    /// Dropout layers in the model.
    pub dropout_layers: u64,
}

/// Most bytes a [`Workspace`] may take (activations, their gradients, pooling indices): 8 GiB. A batch size
/// that needs more is refused before anything is allocated.
pub const MAX_WORKSPACE_BYTES: usize = 8 << 30;

/// Activation buffers for batches of up to `capacity` samples (and, for training, their gradients).
///
/// `acts[i]` is the input of layer `i` (`acts[0]` the batch), `acts[len]` the logits; a flatten (and, when
/// not training, a dropout) shares its input's buffer. `grads[i]` is the gradient of `acts[i]`, present only
/// where some earlier layer has parameters to train.
pub(crate) struct Workspace<B: Ops> {
    pub capacity: usize,
    pub acts: Vec<B::Buf<f32>>,
    pub labels: B::Buf<u32>,
    pub grads: Vec<Option<B::Buf<f32>>>,
    /// Per layer with a fused ReLU (training): its gradient before the ReLU, a view of one shared buffer.
    pub pre_relu: Vec<Option<B::Buf<f32>>>,
    /// Per pooling layer: the argmax of each output.
    pub argmax: Vec<Option<B::Buf<u32>>>,
}

impl<B: Ops> Workspace<B> {
    /// Allocates the buffers for `capacity` samples.
    pub fn new(backend: &B, layers: &[Layer<B>], capacity: usize, training: bool) -> Result<Self> {
        check_workspace_size(layers, capacity, training)?;
        let in_len = layers[0].in_len;
        let mut acts = vec![backend.zeros::<f32>(capacity * in_len)?];
        let mut argmax = Vec::with_capacity(layers.len());
        for layer in layers {
            let aliases = matches!(layer.op, Op::Flatten)
                || (!training && matches!(layer.op, Op::Dropout { .. }));
            let out = if aliases {
                acts.last().expect("starts with the input").clone()
            } else {
                backend.zeros::<f32>(capacity * layer.out_len)?
            };
            acts.push(out);
            argmax.push(match layer.op {
                Op::Pool(_) => Some(backend.zeros::<u32>(capacity * layer.out_len)?),
                _ => None,
            });
        }
        let mut grads = vec![None];
        let mut pre_relu = Vec::with_capacity(layers.len());
        if training {
            let largest_fused = layers
                .iter()
                .filter(|l| l.fused_relu())
                .map(|l| l.out_len)
                .max()
                .unwrap_or(0);
            let shared = backend.zeros::<f32>((capacity * largest_fused).max(1))?;
            let mut trainable_before = false;
            for layer in layers {
                trainable_before |= layer.params.is_some();
                let grad = match (&layer.op, trainable_before) {
                    (_, false) => None,
                    (Op::Flatten, true) => grads.last().cloned().flatten(),
                    (_, true) => Some(backend.zeros::<f32>(capacity * layer.out_len)?),
                };
                grads.push(grad);
                pre_relu.push(if layer.fused_relu() {
                    Some(backend.slice(&shared, 0, capacity * layer.out_len)?)
                } else {
                    None
                });
            }
        }
        Ok(Workspace {
            capacity,
            acts,
            labels: backend.zeros::<u32>(capacity)?,
            grads,
            pre_relu,
            argmax,
        })
    }
}

/// Refuses a workspace over [`MAX_WORKSPACE_BYTES`], counting generously: per layer its output, and when
/// training the output's gradient and a pre-ReLU or argmax buffer.
fn check_workspace_size<B: Ops>(
    layers: &[Layer<B>],
    capacity: usize,
    training: bool,
) -> Result<()> {
    let per_layer = if training { 3 } else { 2 };
    let per_sample = layers.iter().try_fold(layers[0].in_len, |acc, layer| {
        layer.out_len.checked_mul(per_layer)?.checked_add(acc)
    });
    let bytes = per_sample
        .and_then(|v| v.checked_mul(capacity))
        .and_then(|v| v.checked_mul(4));
    if bytes.is_some_and(|b| b <= MAX_WORKSPACE_BYTES) {
        return Ok(());
    }
    let (largest, layer) = layers
        .iter()
        .enumerate()
        .max_by_key(|(_, l)| l.out_len)
        .expect("a model has layers");
    Err(NnError::Config(format!(
        "a batch of {capacity} samples needs {} of activations, more than the limit of {} GiB \
         (layer {} outputs the most, {} values per sample): use a smaller batch",
        bytes.map_or_else(
            || "more memory than exists".to_string(),
            |b| format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30))
        ),
        MAX_WORKSPACE_BYTES >> 30,
        largest + 1,
        layer.out_len
    )))
}

impl<B: Ops> Workspace<B> {
    /// Views of the first `count` samples of every buffer (the last, smaller batch of an epoch).
    pub fn rows(&self, backend: &B, layers: &[Layer<B>], count: usize) -> Result<Self> {
        let per_sample = |i: usize| {
            if i == 0 {
                layers[0].in_len
            } else {
                layers[i - 1].out_len
            }
        };
        let view = |buf: &B::Buf<f32>, len: usize| backend.slice(buf, 0, count * len);
        Ok(Workspace {
            capacity: count,
            acts: (self.acts.iter().enumerate())
                .map(|(i, a)| view(a, per_sample(i)))
                .collect::<Result<_, _>>()?,
            labels: backend.slice(&self.labels, 0, count)?,
            grads: (self.grads.iter().enumerate())
                .map(|(i, g)| g.as_ref().map(|g| view(g, per_sample(i))).transpose())
                .collect::<Result<_, _>>()?,
            pre_relu: (self.pre_relu.iter().zip(layers))
                .map(|(g, l)| g.as_ref().map(|g| view(g, l.out_len)).transpose())
                .collect::<Result<_, _>>()?,
            argmax: (self.argmax.iter().zip(layers))
                .map(|(a, l)| {
                    a.as_ref()
                        .map(|a| backend.slice(a, 0, count * l.out_len))
                        .transpose()
                })
                .collect::<Result<_, _>>()?,
        })
    }

    /// The batch input `[n, c, h, w]`.
    pub fn input(&self) -> &B::Buf<f32> {
        &self.acts[0]
    }

    /// The logits `[n, classes]`.
    pub fn logits(&self) -> &B::Buf<f32> {
        self.acts.last().expect("at least the input")
    }
}

/// Runs the layers on the `ws.capacity` samples in `ws.acts[0]`; `random` is `Some` when training (dropout on).
pub(crate) fn forward<B: Ops>(
    backend: &B,
    layers: &[Layer<B>],
    ws: &Workspace<B>,
    random: Option<StepRandom>,
) -> Result<()> {
    let n = ws.capacity;
    for (i, layer) in layers.iter().enumerate() {
        let (x, y) = (&ws.acts[i], &ws.acts[i + 1]);
        match layer.op {
            Op::Conv(spec) => {
                let p = layer.params.as_ref().expect("conv layers have parameters");
                backend.conv2d(&Conv2d { batch: n, ..spec }, x, &p.w, Some(&p.b), y)?;
            }
            Op::Pool(spec) => {
                let argmax = ws.argmax[i]
                    .as_ref()
                    .expect("pool layers have an argmax buffer");
                backend.max_pool2d(&MaxPool2d { batch: n, ..spec }, x, y, argmax)?;
            }
            Op::Flatten => {}
            Op::Dense {
                inputs,
                units,
                relu,
            } => {
                let p = layer.params.as_ref().expect("dense layers have parameters");
                let mut gemm = Gemm::new(n, units, inputs).transpose_b();
                gemm.relu = relu;
                backend.gemm(&gemm, x, &p.w, Some(&p.b), y)?;
            }
            Op::Dropout { rate, index } => {
                if let Some(r) = random {
                    backend.dropout(&dropout_spec(rate, index, r), x, y)?;
                }
            }
            Op::Relu => backend.relu(x, y)?,
        }
    }
    Ok(())
}

fn dropout_spec(rate: f32, index: u64, r: StepRandom) -> Dropout {
    Dropout {
        rate,
        seed: r.seed,
        stream: r.step * r.dropout_layers + index,
    }
}

/// The fused loss on the logits: accumulates `[loss sum, correct]` into `stats` and, when training, writes the
/// gradient of the mean loss into the logits' gradient buffer.
pub(crate) fn loss<B: Ops>(
    backend: &B,
    ws: &Workspace<B>,
    classes: usize,
    train: bool,
    stats: &B::Buf<f32>,
) -> Result<()> {
    let n = ws.capacity;
    let spec = SoftmaxCrossEntropy {
        rows: n,
        classes,
        grad_scale: 1.0 / n as f32,
    };
    let grad = if train {
        ws.grads.last().and_then(Option::as_ref)
    } else {
        None
    };
    Ok(backend.softmax_cross_entropy(&spec, ws.logits(), &ws.labels, grad, stats)?)
}

/// Back-propagates the logits' gradient, writing every parameter gradient (overwriting, so no zeroing is
/// needed between steps).
pub(crate) fn backward<B: Ops>(
    backend: &B,
    layers: &[Layer<B>],
    ws: &Workspace<B>,
    random: StepRandom,
) -> Result<()> {
    let n = ws.capacity;
    for (i, layer) in layers.iter().enumerate().rev() {
        let (x, y) = (&ws.acts[i], &ws.acts[i + 1]);
        let dx = ws.grads[i].as_ref();
        let Some(dy) = ws.grads[i + 1].as_ref() else {
            // Nothing before this layer trains: the pass is complete.
            break;
        };
        // A fused ReLU's gradient first goes through the mask of its output: dz = dy · (y > 0).
        let dz = match ws.pre_relu[i].as_ref() {
            Some(dz) => {
                backend.relu_backward(y, dy, dz)?;
                dz
            }
            None => dy,
        };
        match layer.op {
            Op::Conv(spec) => {
                let spec = Conv2d { batch: n, ..spec };
                let p = layer.params.as_ref().expect("conv layers have parameters");
                backend.conv2d_backward_weight(&spec, x, dz, &p.gw, Some(&p.gb))?;
                if let Some(dx) = dx {
                    backend.conv2d_backward_input(&spec, dz, &p.w, dx)?;
                }
            }
            Op::Pool(spec) => {
                if let Some(dx) = dx {
                    let argmax = ws.argmax[i]
                        .as_ref()
                        .expect("pool layers have an argmax buffer");
                    backend.max_pool2d_backward(&MaxPool2d { batch: n, ..spec }, dz, argmax, dx)?;
                }
            }
            Op::Flatten => {}
            Op::Dense { inputs, units, .. } => {
                let p = layer.params.as_ref().expect("dense layers have parameters");
                // dW[units, inputs] = dzᵀ·x, with dz stored [n, units] = [k, m].
                backend.gemm(
                    &Gemm::new(units, inputs, n).transpose_a(),
                    dz,
                    x,
                    None,
                    &p.gw,
                )?;
                // db[units] = Σ_n dz.
                backend.sum_axis(dz, [1, n, units], false, &p.gb)?;
                if let Some(dx) = dx {
                    // dx[n, inputs] = dz[n, units]·W[units, inputs].
                    backend.gemm(&Gemm::new(n, inputs, units), dz, &p.w, None, dx)?;
                }
            }
            Op::Dropout { rate, index } => {
                if let Some(dx) = dx {
                    backend.dropout_backward(&dropout_spec(rate, index, random), dz, dx)?;
                }
            }
            Op::Relu => {
                if let Some(dx) = dx {
                    backend.relu_backward(y, dz, dx)?;
                }
            }
        }
    }
    Ok(())
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
    #[test]
    fn gradients_match_finite_differences() {
        let cpu = Cpu::new();
        let spec = ModelSpec::from_toml_str(SPEC, "gradient check").unwrap();
        let model = Sequential::new(&cpu, spec, 5).unwrap();
        assert_eq!(
            model.layers.len(),
            8,
            "the ReLU after the second convolution is fused"
        );
        let n = 4;
        let ws = Workspace::new(&cpu, &model.layers, n, true).unwrap();
        let mut rng = SplitMix64::new(11);
        let input: Vec<f32> = (0..n * 64).map(|_| rng.next_f64() as f32).collect();
        cpu.write(ws.input(), &input).unwrap();
        cpu.write(&ws.labels, &[0, 2, 1, 2]).unwrap();
        let random = StepRandom {
            seed: 9,
            step: 3,
            dropout_layers: 1,
        };
        let stats = cpu.zeros::<f32>(2).unwrap();
        let mean_loss = |params: &[f32]| {
            cpu.write(&model.params, params).unwrap();
            cpu.fill(&stats, 0.0).unwrap();
            forward(&cpu, &model.layers, &ws, Some(random)).unwrap();
            loss(&cpu, &ws, 3, false, &stats).unwrap();
            cpu.download(&stats).unwrap()[0] / n as f32
        };

        let params = cpu.download(&model.params).unwrap();
        mean_loss(&params);
        loss(&cpu, &ws, 3, true, &stats).unwrap();
        backward(&cpu, &model.layers, &ws, random).unwrap();
        let analytic = cpu.download(&model.grads).unwrap();

        let h = 1e-3;
        let mut checked = 0;
        for slot in &model.slots {
            for i in slot.offset..slot.offset + slot.len {
                let mut p = params.clone();
                p[i] = params[i] + h;
                let up = mean_loss(&p);
                p[i] = params[i] - h;
                let down = mean_loss(&p);
                let fd = (up - down) / (2.0 * h);
                let a = analytic[i];
                assert!(
                    (fd - a).abs() <= 1e-3 + 1e-2 * a.abs(),
                    "{}[{}]: analytic {a}, finite difference {fd}",
                    slot.name,
                    i - slot.offset
                );
                checked += 1;
            }
        }
        assert_eq!(checked, model.param_count());
        // The gradient is not trivially zero: most parameters get some.
        let nonzero = analytic.iter().filter(|g| g.abs() > 1e-6).count();
        assert!(
            nonzero > checked / 2,
            "only {nonzero} of {checked} gradients are non-zero"
        );
    }
}
