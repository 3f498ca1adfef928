//! A description's recommended training settings: a preset such as `fast` is a network and the way to train
//! it. Each setting given replaces the default of the matching `digits train` flag; a flag given on the
//! command line still wins.

use serde::{Deserialize, Serialize};

use crate::schedule::Schedule;
use crate::train::AugmentConfig;

/// Training settings that go with a network (`[recipe]` in a description file).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Recipe {
    /// One line on what the recipe is and what it reaches, shown when training starts.
    pub about: Option<String>,
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    /// Adam's (or SGD's) learning rate; the peak rate under a one-cycle schedule.
    pub lr: Option<f32>,
    /// Adam's β1 and β2.
    pub beta1: Option<f32>,
    pub beta2: Option<f32>,
    pub schedule: Option<Schedule>,
    /// Per-epoch learning-rate factor (`--lr-decay`).
    pub lr_decay: Option<f32>,
    /// Fraction of the training set held out for validation (0: train on all of it).
    pub validation_split: Option<f64>,
    pub augment: Option<AugmentConfig>,
    /// Label smoothing of the training loss.
    pub label_smoothing: Option<f32>,
    /// The decay of the weights' moving average.
    pub ema: Option<f32>,
}
