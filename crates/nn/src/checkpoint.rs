//! Checkpoints: a model file that also holds the optimizer's moments, the best weights EarlyStopping kept,
//! and the run's position (epoch, step, learning rate, history, callback state) in its metadata.
//!
//! Randomness is a pure function of (seed, epoch, step), so the position is all the generator state there
//! is: a run resumed from the checkpoint of epoch `k` repeats exactly what the uninterrupted run did from
//! epoch `k + 1` on.

use std::path::Path;

use digits_idx::LabelledImages;
use digits_tensor::Ops;
use serde::{Deserialize, Serialize};

use crate::error::{NnError, Result};
use crate::file::ModelFile;
use crate::model::Sequential;
use crate::train::{EpochStats, TrainConfig, Trainer};

/// Metadata key holding [`CheckpointMeta`] as JSON.
const CHECKPOINT_KEY: &str = "digits.checkpoint";
/// Tensor name prefixes: optimizer state `optimizer.<state>.<param>`, the best epoch's weights and running
/// state `best.<param>`.
const BEST_PREFIX: &str = "best.";
/// The weights' moving average: `ema.<param>`.
const EMA_PREFIX: &str = "ema.";

fn one() -> f64 {
    1.0
}

/// The run's position, stored as JSON.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointMeta {
    /// The settings, callbacks with their state.
    config: TrainConfig,
    epochs_done: usize,
    global_step: u64,
    /// Optimizer steps taken (Adam's bias correction needs it).
    optimizer_step: u32,
    /// Nadam's product of momenta so far (1 for the other optimizers).
    #[serde(default = "one")]
    momentum_product: f64,
    lr: f32,
    history: Vec<EpochStats>,
    early_stopped: Option<usize>,
    /// Sizes of the data the run trained on; resuming on other data is refused.
    train_len: usize,
    validation_len: usize,
}

impl<B: Ops> Trainer<B> {
    /// Writes a checkpoint after an epoch, atomically. [`Sequential::load`] also reads it as a model file.
    pub fn save_checkpoint(&self, path: &Path) -> Result<()> {
        if self.mid_epoch() {
            return Err(NnError::Config(
                "checkpoints are written between epochs, not in the middle of one".into(),
            ));
        }
        let b = self.model.backend();
        let slots = &self.model.slots;
        let mut file = ModelFile::new(self.model.spec());
        self.model.add_to(&mut file)?;
        for (name, state) in self
            .optimizer
            .config
            .state_names()
            .iter()
            .zip(&self.optimizer.state)
        {
            file.add_arena(slots, &b.download(state)?, &format!("optimizer.{name}."));
        }
        if let Some(best) = &self.best {
            self.model.add_snapshot_to(best, &mut file, BEST_PREFIX)?;
        }
        if let Some(average) = &self.ema {
            self.model.add_snapshot_to(average, &mut file, EMA_PREFIX)?;
        }
        let (train_len, validation_len) = self.data_lens();
        let meta = CheckpointMeta {
            config: self.config.clone(),
            epochs_done: self.epochs_done,
            global_step: self.global_step,
            optimizer_step: self.optimizer.step,
            momentum_product: self.optimizer.momentum_product,
            lr: self.lr,
            history: self.history.clone(),
            early_stopped: self.early_stopped,
            train_len,
            validation_len,
        };
        file.set_metadata(
            CHECKPOINT_KEY,
            serde_json::to_string(&meta).expect("checkpoint metadata always serialises"),
        );
        file.write(path)
    }

    /// Continues a run from its checkpoint, on the same data (checked by size).
    pub fn resume(
        backend: &B,
        path: &Path,
        train: &LabelledImages,
        validation: Option<&LabelledImages>,
    ) -> Result<Self> {
        let file = ModelFile::read(path)?;
        let fail = |detail: String| NnError::Checkpoint {
            path: path.into(),
            detail,
        };
        let meta: CheckpointMeta = match file.metadata(CHECKPOINT_KEY) {
            Some(json) => serde_json::from_str(json).map_err(|e| NnError::Corrupt {
                path: path.into(),
                detail: format!("metadata `{CHECKPOINT_KEY}`: {e}"),
            })?,
            None => {
                return Err(fail(
                    "a model file, not a checkpoint (it holds no training state)".into(),
                ));
            }
        };
        let validation_len = validation.map_or(0, LabelledImages::len);
        if (train.len(), validation_len) != (meta.train_len, meta.validation_len) {
            return Err(fail(format!(
                "it was trained on {} training and {} validation images, not {} and {}",
                meta.train_len,
                meta.validation_len,
                train.len(),
                validation_len
            )));
        }
        let model = Sequential::from_file(backend, &file)?;
        let mut trainer = Trainer::new(model, meta.config, train, validation)?;
        let slots = trainer.model.slots.clone();
        for (name, state) in trainer
            .optimizer
            .config
            .state_names()
            .iter()
            .zip(&trainer.optimizer.state)
        {
            backend.write(state, &file.arena(&slots, &format!("optimizer.{name}."))?)?;
        }
        if file.has_tensor(&format!("{BEST_PREFIX}{}", slots[0].name)) {
            trainer.best = Some(trainer.model.read_snapshot(&file, BEST_PREFIX)?);
        }
        if trainer.ema.is_some() {
            trainer.ema = Some(trainer.model.read_snapshot(&file, EMA_PREFIX)?);
        }
        trainer.optimizer.step = meta.optimizer_step;
        trainer.optimizer.momentum_product = meta.momentum_product;
        trainer.lr = meta.lr;
        trainer.epochs_done = meta.epochs_done;
        trainer.global_step = meta.global_step;
        trainer.history = meta.history;
        trainer.early_stopped = meta.early_stopped;
        Ok(trainer)
    }
}
