//! The training loop: epochs of shuffled mini-batches gathered on the device, one submit per step, with
//! loss and accuracy accumulated on the device and read back asynchronously.

use std::collections::VecDeque;
use std::time::Instant;

use digits_idx::LabelledImages;
use digits_tensor::{Augment, Gather, Ops, Readback};
use serde::{Deserialize, Serialize};

use crate::callbacks::Callback;
use crate::data::DeviceDataset;
use crate::error::{NnError, Result};
use crate::graph::Workspace;
use crate::init::{Stream, derive_seed, epoch_order};
use crate::layers::{Mode, StepRandom};
use crate::model::{EvalOptions, Sequential, Snapshot};
use crate::optim::{Optimizer, OptimizerConfig};
use crate::prune::{self, PruneConfig};
use crate::schedule::Schedule;

/// Readbacks of the running statistics allowed in flight; past this the loop waits for the oldest, which
/// only happens when the device is more than this many progress intervals behind the host.
const MAX_READBACKS_IN_FLIGHT: usize = 3;

/// Random affine augmentation of training images (off by default).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentConfig {
    /// Rotation, uniformly within ± this many degrees.
    pub max_rotation_degrees: f32,
    /// Shift, uniformly within ± this fraction of the image size, per axis.
    pub max_shift: f32,
    /// Scale, uniformly within `1 ± max_zoom`.
    pub max_zoom: f32,
}

impl Default for AugmentConfig {
    /// Mild settings that suit handwritten digits: ±10°, ±10 % shift, ±10 % zoom.
    fn default() -> Self {
        AugmentConfig {
            max_rotation_degrees: 10.0,
            max_shift: 0.1,
            max_zoom: 0.1,
        }
    }
}

/// How to train: the Keras tutorial's settings by default (15 epochs of batch 64, Adam 1e-3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Epochs to run.
    pub epochs: usize,
    /// Samples per step (the last step of an epoch takes the rest).
    pub batch_size: usize,
    /// Seeds the shuffles, dropout masks and augmentation (pass the same seed to [`Sequential::new`]).
    pub seed: u64,
    /// The optimizer.
    pub optimizer: OptimizerConfig,
    /// Augmentation of the training batches.
    pub augment: Option<AugmentConfig>,
    /// Steps between asynchronous reads of the running loss and accuracy.
    pub progress_every: usize,
    /// Samples per forward pass when validating.
    pub eval_batch_size: usize,
    /// Callbacks, run in order at each epoch's end (schedules at its start).
    pub callbacks: Vec<Callback>,
    /// The per-step learning-rate schedule, a factor on the rate the optimizer and callbacks give.
    pub schedule: Schedule,
    /// Label smoothing of the training loss (the training loss reported is the smoothed one; validation and
    /// evaluation use plain cross-entropy).
    pub label_smoothing: f32,
    /// The decay of an exponential moving average of the weights (and BatchNorm's running statistics),
    /// updated after every step on the device. When set, validation, callbacks and the finished model use the
    /// average; checkpoints keep both.
    pub ema: Option<f32>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 15,
            batch_size: 64,
            seed: 0,
            optimizer: OptimizerConfig::default(),
            augment: None,
            progress_every: 20,
            eval_batch_size: EvalOptions::default().batch_size,
            callbacks: Vec::new(),
            schedule: Schedule::Constant,
            label_smoothing: 0.0,
            ema: None,
        }
    }
}

/// Knowledge distillation (Hinton et al., 2015): the model learns from a teacher's softened probabilities as
/// well as from the labels. Hinton's and the Keras guide's settings by default (T = 4, α = 0.9).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistillConfig {
    /// The temperature `T` (> 0) both models' logits are divided by before the softmax.
    pub temperature: f32,
    /// The weight of the soft part, in [0, 1]; the labels' cross-entropy gets `1 - alpha`.
    pub alpha: f32,
}

impl Default for DistillConfig {
    fn default() -> Self {
        DistillConfig {
            temperature: 4.0,
            alpha: 0.9,
        }
    }
}

/// The teacher of a distillation: its model in evaluation mode, with buffers for a batch.
struct Teacher<B: Ops> {
    model: Sequential<B>,
    ws: Workspace<B>,
    tail: Option<Workspace<B>>,
    config: DistillConfig,
}

/// Pruning in progress: its schedule and the mask over the parameter arena, on the device.
struct Pruning<B: Ops> {
    config: PruneConfig,
    mask: B::Buf<f32>,
}

/// Where an epoch stands, as last read from the device.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Progress {
    /// The epoch, from 1.
    pub epoch: usize,
    /// Epochs in the run.
    pub epochs: usize,
    /// Steps done in this epoch when the values were read.
    pub step: usize,
    /// Steps in the epoch.
    pub steps: usize,
    /// Samples seen in this epoch when the values were read.
    pub samples: usize,
    /// Samples in the epoch.
    pub total: usize,
    /// Mean loss over the samples seen.
    pub loss: f32,
    /// Accuracy over the samples seen.
    pub accuracy: f32,
    /// The learning rate of the newest step submitted (a schedule moves it within the epoch).
    pub lr: f32,
}

/// One epoch's results (what Keras prints at the end of an epoch).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// The epoch, from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch (with dropout on, as Keras reports it).
    pub loss: f32,
    /// Training accuracy over the epoch.
    pub accuracy: f32,
    /// Validation loss at the epoch's end, when there is a validation set.
    pub val_loss: Option<f32>,
    /// Validation accuracy at the epoch's end.
    pub val_accuracy: Option<f32>,
    /// Wall time of the epoch, validation included.
    pub seconds: f64,
    /// Training throughput (validation excluded).
    pub samples_per_second: f64,
    /// The learning rate of the epoch's last step (the rate of every step, unless a schedule moves it).
    pub lr: f32,
}

/// Why training ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopReason {
    /// All epochs ran.
    Completed,
    /// Early stopping ended training after this epoch (from 1).
    EarlyStopping {
        /// The last epoch run.
        epoch: usize,
    },
}

/// An epoch in progress.
struct EpochRun {
    step: usize,
    started: Instant,
    /// The rate the callbacks set for the epoch.
    lr: f32,
    /// The rate of the latest step (after the schedule).
    step_lr: f32,
    /// Readbacks of the statistics in flight, with the steps done when each was issued.
    pending: VecDeque<(usize, Readback<f32>)>,
    /// The newest statistics arrived and not yet reported.
    arrived: Option<(usize, Vec<f32>)>,
}

impl Drop for EpochRun {
    /// An epoch abandoned with readbacks in flight (an error, or a dropped trainer) waits for them: a readback
    /// dropped while its staging buffer is being mapped would hand the buffer back to the pool still mapped.
    fn drop(&mut self) {
        for (_, readback) in self.pending.drain(..) {
            // Nothing to do about a failure here: the device error resurfaces at the next operation.
            let _ = readback.wait();
        }
    }
}

/// Trains a [`Sequential`] model on a dataset that lives on the model's device.
///
/// ```no_run
/// use digits_idx::Dataset;
/// use digits_nn::{ModelSpec, Sequential, TrainConfig, Trainer};
/// use digits_tensor::Cpu;
///
/// let data = Dataset::load("/data/mnist")?;
/// let (train, validation) = data.train.split_validation(0.2)?;
/// let model = Sequential::new(&Cpu::new(), ModelSpec::preset("tutorial")?, 0)?;
/// let mut trainer = Trainer::new(model, TrainConfig::default(), &train, Some(&validation))?;
/// trainer.fit(None, &mut |p| eprint!("\r{}/{} loss {:.4}", p.step, p.steps, p.loss), &mut |e| {
///     eprintln!("\repoch {}: val_accuracy {:?}", e.epoch, e.val_accuracy)
/// })?;
/// let (model, _history) = trainer.finish()?;
/// model.save("model.safetensors".as_ref())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Trainer<B: Ops> {
    pub(crate) model: Sequential<B>,
    pub(crate) config: TrainConfig,
    pub(crate) optimizer: Optimizer<B>,
    train: DeviceDataset<B>,
    validation: Option<DeviceDataset<B>>,
    /// The epoch's sample order, uploaded once per epoch.
    order: B::Buf<u32>,
    /// Buffers for a full batch, and views of them for the epoch's last, smaller batch.
    ws: Workspace<B>,
    tail: Option<Workspace<B>>,
    /// `[loss sum, correct]` of the epoch so far, accumulated on the device.
    stats: B::Buf<f32>,
    /// The weights EarlyStopping keeps (an arena copy on the device).
    pub(crate) best: Option<Snapshot<B>>,
    /// The weights' moving average, with `config.ema`.
    pub(crate) ema: Option<Snapshot<B>>,
    pub(crate) lr: f32,
    pub(crate) epochs_done: usize,
    pub(crate) global_step: u64,
    pub(crate) history: Vec<EpochStats>,
    /// The epoch (from 1) after which early stopping ended the run.
    pub(crate) early_stopped: Option<usize>,
    running: Option<EpochRun>,
    teacher: Option<Teacher<B>>,
    pruning: Option<Pruning<B>>,
}

impl<B: Ops> Trainer<B> {
    /// Prepares training: uploads the datasets (u8) and allocates every buffer a step needs.
    pub fn new(
        model: Sequential<B>,
        config: TrainConfig,
        train: &LabelledImages,
        validation: Option<&LabelledImages>,
    ) -> Result<Self> {
        let backend = model.backend().clone();
        validate(&config, validation.is_some_and(|v| !v.is_empty()))?;
        if train.is_empty() {
            return Err(NnError::Data("the training set is empty".into()));
        }
        let train = DeviceDataset::upload(&backend, train)?;
        train.check_fits(model.spec(), "training set")?;
        let validation = match validation.filter(|v| !v.is_empty()) {
            Some(v) => {
                let v = DeviceDataset::upload(&backend, v)?;
                v.check_fits(model.spec(), "validation set")?;
                Some(v)
            }
            None => None,
        };
        let n = train.len();
        let capacity = config.batch_size.min(n);
        let ws = Workspace::new(&backend, &model.graph, capacity, true)?;
        let tail = match n % capacity {
            0 => None,
            rest => Some(ws.rows(&backend, rest)?),
        };
        let optimizer = Optimizer::new(&backend, config.optimizer, model.arena_len())?;
        let mut ema = None;
        if config.ema.is_some() {
            model.snapshot_into(&mut ema)?;
        }
        Ok(Trainer {
            ema,
            lr: config.optimizer.lr(),
            order: backend.zeros::<u32>(n)?,
            stats: backend.zeros::<f32>(2)?,
            model,
            config,
            optimizer,
            train,
            validation,
            ws,
            tail,
            best: None,
            epochs_done: 0,
            global_step: 0,
            history: Vec::new(),
            early_stopped: None,
            running: None,
            teacher: None,
            pruning: None,
        })
    }

    /// Prunes the model while it trains, on `config`'s schedule (see [`crate::prune`]): after every optimizer
    /// step the mask zeroes the pruned weights again. Not with a moving average of the weights (which the
    /// mask would not cover).
    pub fn set_pruning(&mut self, config: PruneConfig) -> Result<()> {
        config.validate()?;
        if self.config.ema.is_some() {
            return Err(NnError::Config(
                "pruning does not combine with a moving average of the weights".into(),
            ));
        }
        let mask = self
            .model
            .backend()
            .upload(&vec![1.0f32; self.model.arena_len()])?;
        self.pruning = Some(Pruning { config, mask });
        Ok(())
    }

    /// Distils `teacher` (any architecture on the same device, with the same input and classes) into the
    /// model: each step also runs the teacher on the same batch (augmented alike) in evaluation mode, and
    /// the loss becomes [`digits_tensor::Distillation`]'s. Validation and the saved model are the student's.
    pub fn set_teacher(&mut self, teacher: Sequential<B>, config: DistillConfig) -> Result<()> {
        if !(config.temperature.is_finite() && config.temperature > 0.0) {
            return Err(NnError::Config(format!(
                "the distillation temperature {} is not a positive number",
                config.temperature
            )));
        }
        if !(0.0..=1.0).contains(&config.alpha) {
            return Err(NnError::Config(format!(
                "the distillation alpha {} is not in [0, 1]",
                config.alpha
            )));
        }
        let (student, taught) = (self.model.spec(), teacher.spec());
        if student.input != taught.input || student.classes != taught.classes {
            return Err(NnError::Config(format!(
                "the teacher {} reads {:?} into {} classes, the student {} reads {:?} into {}",
                taught.name,
                taught.input,
                taught.classes,
                student.name,
                student.input,
                student.classes
            )));
        }
        let b = self.model.backend();
        let ws = Workspace::new(b, &teacher.graph, self.ws.capacity, false)?;
        let tail = match &self.tail {
            Some(tail) => Some(ws.rows(b, tail.capacity)?),
            None => None,
        };
        self.teacher = Some(Teacher {
            model: teacher,
            ws,
            tail,
            config,
        });
        Ok(())
    }

    /// Runs epochs until [`Trainer::is_finished`], writing a checkpoint after each when `checkpoint` is given.
    pub fn fit(
        &mut self,
        checkpoint: Option<&std::path::Path>,
        progress: &mut dyn FnMut(&Progress),
        on_epoch: &mut dyn FnMut(&EpochStats),
    ) -> Result<()> {
        while !self.is_finished() {
            let stats = self.run_epoch(progress)?;
            if let Some(path) = checkpoint {
                self.save_checkpoint(path)?;
            }
            on_epoch(&stats);
        }
        Ok(())
    }

    /// Runs one epoch: `progress` gets the running loss and accuracy every `progress_every` steps, as soon as
    /// the device has them (never waiting for it), and once more at the end.
    pub fn run_epoch(&mut self, progress: &mut dyn FnMut(&Progress)) -> Result<EpochStats> {
        self.begin_epoch()?;
        while self.step()? {
            self.report_arrived(progress)?;
        }
        self.finish_epoch(progress)
    }

    /// Starts an epoch: applies schedules, uploads the epoch's order, zeroes the running statistics.
    pub fn begin_epoch(&mut self) -> Result<()> {
        if self.running.is_some() {
            return Err(NnError::Config("an epoch is already running".into()));
        }
        if self.is_finished() {
            return Err(NnError::Config(format!(
                "training is finished ({} of {} epochs{})",
                self.epochs_done,
                self.config.epochs,
                if self.early_stopped.is_some() {
                    ", stopped early"
                } else {
                    ""
                }
            )));
        }
        let epoch = self.epochs_done;
        for cb in &self.config.callbacks {
            if let Callback::ExponentialDecay(d) = cb {
                self.lr = d.lr(epoch);
            }
        }
        let b = self.model.backend();
        b.write(
            &self.order,
            &epoch_order(self.config.seed, epoch, self.train.len()),
        )?;
        b.fill(&self.stats, 0.0)?;
        self.running = Some(EpochRun {
            step: 0,
            started: Instant::now(),
            lr: self.lr,
            step_lr: self.lr,
            pending: VecDeque::new(),
            arrived: None,
        });
        Ok(())
    }

    /// Steps in an epoch.
    pub fn steps_per_epoch(&self) -> usize {
        self.train.len().div_ceil(self.ws.capacity)
    }

    /// Records and submits one training step (gather, forward, loss, backward, optimizer): no waiting, no
    /// readback except the periodic asynchronous one. Returns `false`, doing nothing, once the epoch's steps
    /// are done.
    pub fn step(&mut self) -> Result<bool> {
        let steps = self.steps_per_epoch();
        let Some(done) = self.running.as_ref().map(|run| run.step) else {
            return Err(NnError::Config(
                "step() outside an epoch: call begin_epoch() first".into(),
            ));
        };
        if done == steps {
            return Ok(false);
        }
        let b = self.model.backend();
        let capacity = self.ws.capacity;
        let start = done * capacity;
        let count = capacity.min(self.train.len() - start);
        let ws = if count == capacity {
            &self.ws
        } else {
            self.tail
                .as_ref()
                .expect("a tail workspace exists when the last batch is smaller")
        };
        let gather = self.model.gather(start, count);
        self.fill_input(gather, start, count, ws.input())?;
        b.gather_labels(
            &Gather {
                row_len: 1,
                ..gather
            },
            &self.train.labels,
            &self.order,
            &ws.labels,
        )?;
        let random = StepRandom {
            seed: derive_seed(self.config.seed, Stream::Dropout, 0),
            step: self.global_step,
            dropout_layers: self.model.graph.dropout_layers,
        };
        let graph = &self.model.graph;
        graph.forward(b, ws, Mode::Train(random))?;
        let classes = self.model.spec().classes;
        match &self.teacher {
            Some(teacher) => {
                let tws = if count == capacity {
                    &teacher.ws
                } else {
                    teacher
                        .tail
                        .as_ref()
                        .expect("a teacher tail exists when the student has one")
                };
                self.fill_input(
                    teacher.model.gather(start, count),
                    start,
                    count,
                    tws.input(),
                )?;
                teacher.model.graph.forward(b, tws, Mode::Eval)?;
                graph.distillation_loss(
                    b,
                    ws,
                    tws.logits(),
                    classes,
                    self.config.label_smoothing,
                    teacher.config,
                    &self.stats,
                )?;
            }
            None => graph.loss(
                b,
                ws,
                classes,
                true,
                self.config.label_smoothing,
                &self.stats,
            )?,
        }
        graph.backward(b, ws, random)?;
        let total = (self.config.epochs * steps) as u64;
        let at = self.config.schedule.at(self.global_step, total);
        let run = self.running.as_mut().expect("checked above");
        run.step_lr = (f64::from(run.lr) * at.lr_factor) as f32;
        self.optimizer.apply(
            b,
            &self.model.params,
            &self.model.grads,
            run.step_lr,
            at.momentum.map(|m| m as f32),
        )?;
        if let Some(pruning) = &self.pruning {
            b.mul_assign(&self.model.params, &pruning.mask)?;
            if pruning.config.updates_at(self.global_step) {
                // The one readback pruning makes: at mask updates, every `frequency` steps. Weights pruned
                // before are zero again by now, so they stay the smallest.
                let params = b.download(&self.model.params)?;
                let sparsity = pruning.config.sparsity_at(self.global_step);
                let mask = prune::mask(&self.model.slots, &params, sparsity, pruning.config.scope);
                b.write(&pruning.mask, &mask)?;
                b.mul_assign(&self.model.params, &pruning.mask)?;
            }
        }
        b.flush()?;
        run.step += 1;
        self.global_step += 1;
        if run.step.is_multiple_of(self.config.progress_every) && run.step < steps {
            run.pending
                .push_back((run.step, b.download_async(&self.stats)?));
            if run.pending.len() > MAX_READBACKS_IN_FLIGHT {
                let (step, oldest) = run
                    .pending
                    .pop_front()
                    .expect("more than the limit in flight");
                run.arrived = Some((step, oldest.wait()?));
            }
        }
        // The forward pass above updated the running state once more.
        self.model.batches_tracked += 1;
        if let (Some(decay), Some(average)) = (self.config.ema, self.ema.as_mut()) {
            self.model.update_average(average, decay)?;
        }
        Ok(true)
    }

    /// Writes samples `start..start + count` of the epoch's order into `input`, normalised by `gather` (the
    /// student's or the teacher's), augmented when the run augments: the same images for any model.
    fn fill_input(
        &self,
        gather: Gather,
        start: usize,
        count: usize,
        input: &B::Buf<f32>,
    ) -> Result<()> {
        let b = self.model.backend();
        match self.config.augment {
            Some(a) => b.augment(
                &Augment {
                    height: self.train.rows(),
                    width: self.train.cols(),
                    max_rotation_degrees: a.max_rotation_degrees,
                    max_shift: a.max_shift,
                    max_zoom: a.max_zoom,
                    seed: derive_seed(self.config.seed, Stream::Augment, 0),
                    stream: self.global_step,
                    index_offset: start,
                    count,
                    scale: gather.scale,
                    shift: gather.shift,
                },
                &self.train.images,
                &self.order,
                input,
            )?,
            None => b.gather_normalize(&gather, &self.train.images, &self.order, input)?,
        }
        Ok(())
    }

    /// The epoch's running `(loss sum, correct count, samples)` so far, waiting for the device (tests and
    /// debugging; the training loop itself never blocks on this).
    pub fn running_stats(&self) -> Result<(f64, f64, usize)> {
        let done = self.running.as_ref().map_or(0, |r| r.step);
        let stats = self.model.backend().download(&self.stats)?;
        Ok((
            f64::from(stats[0]),
            f64::from(stats[1]),
            (done * self.ws.capacity).min(self.train.len()),
        ))
    }

    /// Reports the newest statistics that have arrived, if any.
    fn report_arrived(&mut self, progress: &mut dyn FnMut(&Progress)) -> Result<()> {
        let Some(run) = self.running.as_mut() else {
            return Ok(());
        };
        while let Some((step, readback)) = run.pending.front_mut() {
            match readback.try_take()? {
                Some(values) => {
                    run.arrived = Some((*step, values));
                    run.pending.pop_front();
                }
                None => break,
            }
        }
        if let Some((step, values)) = run.arrived.take() {
            progress(&self.progress_at(step, &values));
        }
        Ok(())
    }

    fn progress_at(&self, step: usize, values: &[f32]) -> Progress {
        let samples = (step * self.ws.capacity).min(self.train.len());
        let per_sample = |v: f32| {
            if samples == 0 {
                0.0
            } else {
                v / samples as f32
            }
        };
        Progress {
            epoch: self.epochs_done + 1,
            epochs: self.config.epochs,
            step,
            steps: self.steps_per_epoch(),
            samples,
            total: self.train.len(),
            loss: per_sample(values[0]),
            accuracy: per_sample(values[1]),
            lr: self.running.as_ref().map_or(self.lr, |run| run.step_lr),
        }
    }

    /// Ends the epoch once its steps are done: reads the statistics, validates, runs the callbacks.
    pub fn end_epoch(&mut self) -> Result<EpochStats> {
        self.finish_epoch(&mut |_| {})
    }

    fn finish_epoch(&mut self, progress: &mut dyn FnMut(&Progress)) -> Result<EpochStats> {
        let steps = self.steps_per_epoch();
        let mut run = match self.running.take() {
            Some(run) if run.step == steps => run,
            Some(run) => {
                let done = run.step;
                self.running = Some(run);
                return Err(NnError::Config(format!(
                    "the epoch has run {done} of its {steps} steps"
                )));
            }
            None => return Err(NnError::Config("end_epoch() without begin_epoch()".into())),
        };
        // Readbacks still in flight own staging buffers that are being mapped: let them land first.
        for (_, readback) in std::mem::take(&mut run.pending) {
            readback.wait()?;
        }
        let b = self.model.backend();
        let values = b.download(&self.stats)?;
        let train_seconds = run.started.elapsed().as_secs_f64();
        let last = Progress {
            lr: run.step_lr,
            ..self.progress_at(steps, &values)
        };
        progress(&last);
        // With an average, the epoch is judged (and EarlyStopping keeps) by the averaged weights.
        let mut live = None;
        if let Some(average) = &self.ema {
            self.model.snapshot_into(&mut live)?;
            self.model.restore(average)?;
        }
        let (val_loss, val_accuracy) = match &self.validation {
            Some(v) => {
                let options = EvalOptions {
                    batch_size: self.config.eval_batch_size,
                    probabilities: false,
                };
                let eval = self.model.evaluate(v, &options)?;
                (Some(eval.loss), Some(eval.accuracy))
            }
            None => (None, None),
        };
        let stats = EpochStats {
            epoch: self.epochs_done + 1,
            loss: last.loss,
            accuracy: last.accuracy,
            val_loss,
            val_accuracy,
            seconds: run.started.elapsed().as_secs_f64(),
            samples_per_second: self.train.len() as f64 / train_seconds,
            lr: run.step_lr,
        };
        self.run_callbacks(&stats)?;
        if let Some(live) = &live {
            self.model.restore(live)?;
        }
        self.epochs_done += 1;
        self.history.push(stats.clone());
        Ok(stats)
    }

    fn run_callbacks(&mut self, stats: &EpochStats) -> Result<()> {
        let epoch = self.epochs_done;
        for cb in &mut self.config.callbacks {
            match cb {
                Callback::ReduceLrOnPlateau(c) => self.lr = c.on_epoch_end(stats, self.lr),
                Callback::EarlyStopping(c) => {
                    let action = c.on_epoch_end(epoch, stats);
                    if action.snapshot {
                        self.model.snapshot_into(&mut self.best)?;
                    }
                    if action.stop {
                        self.early_stopped = Some(epoch + 1);
                    }
                }
                Callback::ExponentialDecay(_) => {}
            }
        }
        Ok(())
    }

    /// Whether all epochs have run or a callback stopped training.
    pub fn is_finished(&self) -> bool {
        self.stop_reason().is_some()
    }

    /// Why training ended, once it has.
    pub fn stop_reason(&self) -> Option<StopReason> {
        match self.early_stopped {
            Some(epoch) => Some(StopReason::EarlyStopping { epoch }),
            None if self.epochs_done >= self.config.epochs => Some(StopReason::Completed),
            None => None,
        }
    }

    /// Epochs completed.
    pub fn epochs_done(&self) -> usize {
        self.epochs_done
    }

    /// Changes the number of epochs (e.g. to extend a resumed run).
    pub fn set_epochs(&mut self, epochs: usize) {
        self.config.epochs = epochs;
    }

    /// Statistics of every completed epoch.
    pub fn history(&self) -> &[EpochStats] {
        &self.history
    }

    /// The learning rate of the next step.
    pub fn lr(&self) -> f32 {
        self.lr
    }

    /// The settings (callbacks with their current state).
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The model being trained.
    pub fn model(&self) -> &Sequential<B> {
        &self.model
    }

    /// The model being trained, e.g. to evaluate it between epochs.
    pub fn model_mut(&mut self) -> &mut Sequential<B> {
        &mut self.model
    }

    /// Ends training: with EarlyStopping's `restore_best_weights`, puts the best epoch's weights back (as
    /// Keras does at the end of training). Returns the model and the history.
    pub fn finish(mut self) -> Result<(Sequential<B>, Vec<EpochStats>)> {
        let restores = self
            .config
            .callbacks
            .iter()
            .any(|cb| matches!(cb, Callback::EarlyStopping(c) if c.restores()));
        if let (true, Some(best)) = (restores, &self.best) {
            self.model.restore(best)?;
        } else if let Some(average) = &self.ema {
            self.model.restore(average)?;
        }
        Ok((self.model, self.history))
    }

    /// Training and validation set sizes (checkpoints check them on resume).
    pub(crate) fn data_lens(&self) -> (usize, usize) {
        (
            self.train.len(),
            self.validation.as_ref().map_or(0, DeviceDataset::len),
        )
    }

    /// Whether an epoch is in progress.
    pub(crate) fn mid_epoch(&self) -> bool {
        self.running.is_some()
    }
}

/// Checks a configuration before anything is allocated.
fn validate(config: &TrainConfig, has_validation: bool) -> Result<()> {
    let bad = |what: String| Err(NnError::Config(what));
    if config.batch_size == 0 {
        return bad("the batch size must be at least 1".into());
    }
    if config.progress_every == 0 {
        return bad("progress_every must be at least 1 step".into());
    }
    if config.eval_batch_size == 0 {
        return bad("the evaluation batch size must be at least 1".into());
    }
    config.optimizer.validate()?;
    config.schedule.validate().map_err(NnError::Config)?;
    if let Some(decay) = config.ema.filter(|d| !(0.0..1.0).contains(d)) {
        return bad(format!("the EMA decay {decay} must be in [0, 1)"));
    }
    if !(0.0..1.0).contains(&config.label_smoothing) {
        return bad(format!(
            "label smoothing {} must be in [0, 1)",
            config.label_smoothing
        ));
    }
    if let Some(a) = config.augment {
        let values = [a.max_rotation_degrees, a.max_shift, a.max_zoom];
        if values.iter().any(|v| !v.is_finite() || *v < 0.0) || a.max_zoom >= 1.0 {
            return bad(format!(
                "augmentation {a:?}: values must be finite and non-negative, zoom below 1"
            ));
        }
    }
    for cb in &config.callbacks {
        cb.validate()?;
        if let Some(monitor) = cb
            .monitor()
            .filter(|m| m.needs_validation() && !has_validation)
        {
            return bad(format!(
                "a callback monitors {monitor}, but there is no validation set (use a validation split, or monitor loss)"
            ));
        }
    }
    Ok(())
}
