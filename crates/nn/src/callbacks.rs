//! Callbacks a Keras user knows, with Keras's exact semantics: [`ReduceLrOnPlateau`], [`EarlyStopping`], and
//! an [`ExponentialDecay`] learning-rate schedule. Each holds its configuration and its state (serialisable,
//! so checkpoints resume them), and decides from the epoch's statistics alone, which keeps it unit-testable.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{NnError, Result};
use crate::train::EpochStats;

/// A quantity of [`EpochStats`] a callback watches (Keras's log names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    /// Training loss.
    Loss,
    /// Training accuracy.
    Accuracy,
    /// Validation loss (the default, as in Keras).
    #[default]
    ValLoss,
    /// Validation accuracy.
    ValAccuracy,
}

impl Monitor {
    /// The value in an epoch's statistics (`None` for validation values when there is no validation set).
    pub fn value(self, stats: &EpochStats) -> Option<f64> {
        match self {
            Monitor::Loss => Some(stats.loss),
            Monitor::Accuracy => Some(stats.accuracy),
            Monitor::ValLoss => stats.val_loss,
            Monitor::ValAccuracy => stats.val_accuracy,
        }
        .map(f64::from)
    }

    /// Whether the value needs a validation set.
    pub fn needs_validation(self) -> bool {
        matches!(self, Monitor::ValLoss | Monitor::ValAccuracy)
    }

    /// Whether larger is better (what Keras's `mode = "auto"` infers: accuracies up, losses down).
    fn higher_is_better(self) -> bool {
        matches!(self, Monitor::Accuracy | Monitor::ValAccuracy)
    }
}

impl fmt::Display for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Monitor::Loss => "loss",
            Monitor::Accuracy => "accuracy",
            Monitor::ValLoss => "val_loss",
            Monitor::ValAccuracy => "val_accuracy",
        })
    }
}

impl FromStr for Monitor {
    type Err = NnError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "loss" => Ok(Monitor::Loss),
            "accuracy" | "acc" => Ok(Monitor::Accuracy),
            "val_loss" => Ok(Monitor::ValLoss),
            "val_accuracy" | "val_acc" => Ok(Monitor::ValAccuracy),
            _ => Err(NnError::Config(format!(
                "unknown monitor `{s}` (known: loss, accuracy, val_loss, val_accuracy)"
            ))),
        }
    }
}

/// Whether the monitored value should go down or up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Up for accuracies, down for losses.
    #[default]
    Auto,
    /// Lower is better.
    Min,
    /// Higher is better.
    Max,
}

impl Mode {
    fn maximise(self, monitor: Monitor) -> bool {
        match self {
            Mode::Auto => monitor.higher_is_better(),
            Mode::Min => false,
            Mode::Max => true,
        }
    }
}

/// Any callback; a training run holds a list of them, in the order they run at each epoch end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Callback {
    /// See [`ReduceLrOnPlateau`].
    ReduceLrOnPlateau(ReduceLrOnPlateau),
    /// See [`EarlyStopping`].
    EarlyStopping(EarlyStopping),
    /// See [`ExponentialDecay`].
    ExponentialDecay(ExponentialDecay),
}

impl Callback {
    /// The monitored quantity, if the callback watches one.
    pub fn monitor(&self) -> Option<Monitor> {
        match self {
            Callback::ReduceLrOnPlateau(c) => Some(c.monitor),
            Callback::EarlyStopping(c) => Some(c.monitor),
            Callback::ExponentialDecay(_) => None,
        }
    }

    /// Checks the settings (Keras raises on the same values).
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(NnError::Config(what));
        match self {
            Callback::ReduceLrOnPlateau(c) => {
                if !(c.factor < 1.0 && c.factor >= 0.0) {
                    return bad(format!(
                        "ReduceLROnPlateau: factor {} must be in [0, 1)",
                        c.factor
                    ));
                }
                if c.min_lr < 0.0 || c.min_delta.is_nan() {
                    return bad("ReduceLROnPlateau: min_lr must not be negative".into());
                }
            }
            Callback::EarlyStopping(c) => {
                if c.min_delta.is_nan() {
                    return bad("EarlyStopping: min_delta is not a number".into());
                }
            }
            Callback::ExponentialDecay(c) => {
                if !(c.initial_lr > 0.0
                    && c.rate > 0.0
                    && c.initial_lr.is_finite()
                    && c.rate.is_finite())
                {
                    return bad(format!(
                        "exponential decay: initial_lr {} and rate {} must be positive",
                        c.initial_lr, c.rate
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Keras's `ReduceLROnPlateau`: multiplies the learning rate by `factor` when the monitored value has not
/// improved by more than `min_delta` for `patience` epochs, then waits `cooldown` epochs before counting again,
/// never going below `min_lr`.
///
/// ```
/// use digits_nn::{EpochStats, ReduceLrOnPlateau};
///
/// let mut plateau = ReduceLrOnPlateau { patience: 1, factor: 0.5, ..Default::default() };
/// let epoch = |val_loss| EpochStats { val_loss: Some(val_loss), ..Default::default() };
/// assert_eq!(plateau.on_epoch_end(&epoch(1.0), 0.1), 0.1);
/// assert_eq!(plateau.on_epoch_end(&epoch(1.0), 0.1), 0.05); // no improvement for 1 epoch
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReduceLrOnPlateau {
    /// Watched value (default `val_loss`).
    pub monitor: Monitor,
    /// Multiplies the learning rate on a plateau (default 0.1).
    pub factor: f64,
    /// Epochs without improvement before reducing (default 10).
    pub patience: usize,
    /// Smallest change that counts as an improvement (default 1e-4).
    pub min_delta: f64,
    /// Epochs to wait after a reduction before counting again (default 0).
    pub cooldown: usize,
    /// Floor of the learning rate (default 0).
    pub min_lr: f64,
    /// Direction (default auto).
    pub mode: Mode,
    /// Progress so far (checkpointed).
    pub state: PlateauState,
}

/// The running state of a [`ReduceLrOnPlateau`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlateauState {
    /// Best value so far (`None`: none yet, i.e. ±∞).
    best: Option<f64>,
    /// Epochs since the last improvement.
    wait: usize,
    /// Epochs of cooldown left.
    cooldown_counter: usize,
}

impl Default for ReduceLrOnPlateau {
    fn default() -> Self {
        ReduceLrOnPlateau {
            monitor: Monitor::ValLoss,
            factor: 0.1,
            patience: 10,
            min_delta: 1e-4,
            cooldown: 0,
            min_lr: 0.0,
            mode: Mode::Auto,
            state: PlateauState::default(),
        }
    }
}

impl ReduceLrOnPlateau {
    /// The learning rate for the next epoch, given this epoch's statistics and learning rate.
    pub fn on_epoch_end(&mut self, stats: &EpochStats, lr: f32) -> f32 {
        let Some(current) = self.monitor.value(stats) else {
            return lr;
        };
        let maximise = self.mode.maximise(self.monitor);
        let s = &mut self.state;
        if s.cooldown_counter > 0 {
            s.cooldown_counter -= 1;
            s.wait = 0;
        }
        // Keras: np.less(a, b - min_delta) or np.greater(a, b + min_delta), best starting at ±inf.
        let improved = match s.best {
            None => true,
            Some(best) if maximise => current > best + self.min_delta,
            Some(best) => current < best - self.min_delta,
        };
        let mut lr = lr;
        if improved {
            s.best = Some(current);
            s.wait = 0;
        } else if s.cooldown_counter == 0 {
            s.wait += 1;
            if s.wait >= self.patience {
                // Keras holds the rate as float32 and computes the new one in float64.
                if lr > self.min_lr as f32 {
                    lr = (f64::from(lr) * self.factor).max(self.min_lr) as f32;
                    s.cooldown_counter = self.cooldown;
                    s.wait = 0;
                }
            }
        }
        lr
    }
}

/// What [`EarlyStopping::on_epoch_end`] asks of the trainer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EarlyStoppingAction {
    /// Keep a copy of the current weights as the best (only with `restore_best_weights`).
    pub snapshot: bool,
    /// Stop training after this epoch.
    pub stop: bool,
}

/// Keras's `EarlyStopping`: stops when the monitored value has not improved by more than `min_delta` for
/// `patience` epochs; with `restore_best_weights`, the model ends with the weights of its best epoch.
///
/// ```
/// use digits_nn::{EarlyStopping, EpochStats};
///
/// let mut stop = EarlyStopping { patience: 2, ..Default::default() };
/// let epoch = |val_loss| EpochStats { val_loss: Some(val_loss), ..Default::default() };
/// let stops: Vec<bool> = [1.0, 0.9, 0.95, 0.92, 0.91]
///     .iter()
///     .enumerate()
///     .map(|(i, &l)| stop.on_epoch_end(i, &epoch(l)).stop)
///     .collect();
/// assert_eq!(stops, [false, false, false, true, true]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EarlyStopping {
    /// Watched value (default `val_loss`).
    pub monitor: Monitor,
    /// Smallest change that counts as an improvement (default 0).
    pub min_delta: f64,
    /// Epochs without improvement before stopping (default 0).
    pub patience: usize,
    /// Direction (default auto).
    pub mode: Mode,
    /// A value to beat: until it is, improvements do not reset the patience (default none).
    pub baseline: Option<f64>,
    /// End training with the weights of the best epoch (default false).
    pub restore_best_weights: bool,
    /// Epochs (0-based) to ignore at the start (default 0).
    pub start_from_epoch: usize,
    /// Progress so far (checkpointed).
    pub state: EarlyStoppingState,
}

/// The running state of an [`EarlyStopping`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EarlyStoppingState {
    wait: usize,
    best: Option<f64>,
    /// 0-based epoch of the best value.
    best_epoch: usize,
    /// Whether best weights have been kept (the trainer holds them).
    has_best_weights: bool,
    /// 0-based epoch at which training was stopped.
    stopped_epoch: Option<usize>,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        EarlyStopping {
            monitor: Monitor::ValLoss,
            min_delta: 0.0,
            patience: 0,
            mode: Mode::Auto,
            baseline: None,
            restore_best_weights: false,
            start_from_epoch: 0,
            state: EarlyStoppingState::default(),
        }
    }
}

impl EarlyStopping {
    /// Decides after epoch `epoch` (0-based).
    pub fn on_epoch_end(&mut self, epoch: usize, stats: &EpochStats) -> EarlyStoppingAction {
        let mut action = EarlyStoppingAction::default();
        let Some(current) = self.monitor.value(stats) else {
            return action;
        };
        if epoch < self.start_from_epoch {
            return action;
        }
        let s = &mut self.state;
        if self.restore_best_weights && !s.has_best_weights {
            // Until something is better, the current weights are the best.
            s.has_best_weights = true;
            s.best_epoch = epoch;
            action.snapshot = true;
        }
        s.wait += 1;
        let maximise = self.mode.maximise(self.monitor);
        let delta = self.min_delta.abs();
        let better = |value: f64, reference: Option<f64>| match reference {
            None => true,
            Some(r) if maximise => value - delta > r,
            Some(r) => value + delta < r,
        };
        if better(current, s.best) {
            s.best = Some(current);
            s.best_epoch = epoch;
            action.snapshot = self.restore_best_weights;
            if self.baseline.is_none() || better(current, self.baseline) {
                s.wait = 0;
            }
            return action;
        }
        if s.wait >= self.patience && epoch > 0 {
            s.stopped_epoch = Some(epoch);
            action.stop = true;
        }
        action
    }

    /// The 0-based epoch of the best value so far.
    pub fn best_epoch(&self) -> usize {
        self.state.best_epoch
    }

    /// The 0-based epoch at which this callback stopped training, if it did.
    pub fn stopped_epoch(&self) -> Option<usize> {
        self.state.stopped_epoch
    }

    /// Whether the trainer should put the best weights back when training ends.
    pub(crate) fn restores(&self) -> bool {
        self.restore_best_weights && self.state.has_best_weights
    }
}

/// A learning-rate schedule: `lr = initial_lr · rate^epoch` (0-based), set at the start of each epoch (so it
/// overrides what a [`ReduceLrOnPlateau`] set at the end of the previous one; use one or the other).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExponentialDecay {
    /// The first epoch's learning rate.
    pub initial_lr: f32,
    /// Multiplier per epoch, e.g. 0.9.
    pub rate: f32,
}

impl ExponentialDecay {
    /// The learning rate of epoch `epoch` (0-based).
    pub fn lr(&self, epoch: usize) -> f32 {
        (f64::from(self.initial_lr) * f64::from(self.rate).powi(epoch as i32)) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val_loss(v: f32) -> EpochStats {
        EpochStats {
            val_loss: Some(v),
            ..Default::default()
        }
    }

    #[test]
    fn reduce_lr_follows_keras_step_by_step() {
        // patience 2, factor 0.5, cooldown 2, min_delta 0.01, min_lr 0.02; worked by hand from Keras's
        // on_epoch_end: the cooldown counter is decremented first (resetting wait), and epochs still in
        // cooldown after that do not count towards the patience.
        let mut cb = ReduceLrOnPlateau {
            patience: 2,
            factor: 0.5,
            cooldown: 2,
            min_delta: 0.01,
            min_lr: 0.02,
            ..Default::default()
        };
        let losses = [
            1.0, 0.995, 0.99, 0.99, 0.99, 0.99, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5,
        ];
        // 0: best 1.0 | 1: 0.995 is not below 1.0 - 0.01: wait 1 | 2: wait 2 → lr 0.05, cooldown 2
        // 3: cooldown 1 left, not counted | 4: cooldown 0, wait 1 | 5: wait 2 → 0.025, cooldown 2
        // 6: cooldown 1, 0.5 improves: best 0.5 | 7: cooldown 0, wait 1 | 8: wait 2 → max(0.0125, 0.02) = 0.02
        // 9: in cooldown | 10: wait 1 | 11: wait 2, but lr 0.02 is not above min_lr: unchanged | 12: unchanged
        let expected = [
            0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.02, 0.02, 0.02, 0.02, 0.02,
        ];
        let mut lr = 0.1f32;
        for (epoch, (&loss, &want)) in losses.iter().zip(&expected).enumerate() {
            lr = cb.on_epoch_end(&val_loss(loss), lr);
            assert!(
                (lr - want as f32).abs() < 1e-9,
                "epoch {epoch}: lr {lr}, expected {want}"
            );
        }
    }

    #[test]
    fn reduce_lr_in_max_mode_and_min_delta_boundary() {
        let mut cb = ReduceLrOnPlateau {
            monitor: Monitor::ValAccuracy,
            patience: 1,
            min_delta: 0.0,
            ..Default::default()
        };
        let acc = |a: f32| EpochStats {
            val_accuracy: Some(a),
            ..Default::default()
        };
        assert_eq!(cb.on_epoch_end(&acc(0.9), 1.0), 1.0);
        assert_eq!(cb.on_epoch_end(&acc(0.95), 1.0), 1.0); // higher is better for accuracy
        assert_eq!(cb.on_epoch_end(&acc(0.95), 1.0), 0.1); // equal is not an improvement
        // A value missing from the logs changes nothing (Keras warns and skips).
        assert_eq!(cb.on_epoch_end(&EpochStats::default(), 0.1), 0.1);
        // Forcing min mode on an accuracy reverses the direction.
        let mut min = ReduceLrOnPlateau {
            monitor: Monitor::ValAccuracy,
            mode: Mode::Min,
            patience: 1,
            ..Default::default()
        };
        assert_eq!(min.on_epoch_end(&acc(0.5), 1.0), 1.0);
        assert_eq!(min.on_epoch_end(&acc(0.6), 1.0), 0.1);
    }

    #[test]
    fn early_stopping_patience_min_delta_and_best_weights() {
        let mut cb = EarlyStopping {
            patience: 2,
            min_delta: 0.05,
            restore_best_weights: true,
            ..Default::default()
        };
        // epoch 0: first value → snapshot (best weights start as the current ones) and best = 1.0
        // epoch 1: 0.97 is not 0.05 better → wait 1 | epoch 2: 0.9 is → best, snapshot, wait 0
        // epoch 3: wait 1 | epoch 4: wait 2 ≥ patience → stop
        let losses = [1.0, 0.97, 0.9, 0.88, 0.89];
        let actions: Vec<(bool, bool)> = losses
            .iter()
            .enumerate()
            .map(|(e, &l)| {
                let a = cb.on_epoch_end(e, &val_loss(l));
                (a.snapshot, a.stop)
            })
            .collect();
        assert_eq!(
            actions,
            [
                (true, false),
                (false, false),
                (true, false),
                (false, false),
                (false, true)
            ]
        );
        assert_eq!(cb.best_epoch(), 2);
        assert_eq!(cb.stopped_epoch(), Some(4));
        assert!(cb.restores());
    }

    #[test]
    fn early_stopping_baseline_and_start_epoch() {
        // With a baseline of 0.5 nothing above it resets the patience, so training stops after `patience`
        // epochs even though the loss keeps improving.
        let mut cb = EarlyStopping {
            patience: 2,
            baseline: Some(0.5),
            ..Default::default()
        };
        let stops: Vec<bool> = [0.9, 0.8, 0.7]
            .iter()
            .enumerate()
            .map(|(e, &l)| cb.on_epoch_end(e, &val_loss(l)).stop)
            .collect();
        assert_eq!(stops, [false, false, false]);
        // The improvement at epoch 2 returns before the patience check, as in Keras; epoch 3 stops.
        assert!(cb.on_epoch_end(3, &val_loss(0.75)).stop);

        let mut late = EarlyStopping {
            start_from_epoch: 2,
            ..Default::default()
        };
        assert!(!late.on_epoch_end(0, &val_loss(1.0)).stop);
        assert!(!late.on_epoch_end(1, &val_loss(2.0)).stop);
        assert!(!late.on_epoch_end(2, &val_loss(3.0)).stop); // first counted epoch sets the best
        assert!(late.on_epoch_end(3, &val_loss(3.0)).stop); // patience 0
    }

    #[test]
    fn exponential_decay_and_parsing() {
        let d = ExponentialDecay {
            initial_lr: 1e-3,
            rate: 0.5,
        };
        assert_eq!([d.lr(0), d.lr(1), d.lr(3)], [1e-3, 5e-4, 1.25e-4]);
        assert_eq!("val_acc".parse::<Monitor>().unwrap(), Monitor::ValAccuracy);
        assert!("val_f1".parse::<Monitor>().is_err());
        let json =
            serde_json::to_string(&Callback::ReduceLrOnPlateau(ReduceLrOnPlateau::default()))
                .unwrap();
        let back: Callback = serde_json::from_str(&json).unwrap();
        assert_eq!(
            back,
            Callback::ReduceLrOnPlateau(ReduceLrOnPlateau::default())
        );
        assert!(
            Callback::ReduceLrOnPlateau(ReduceLrOnPlateau {
                factor: 1.0,
                ..Default::default()
            })
            .validate()
            .is_err()
        );
    }
}
