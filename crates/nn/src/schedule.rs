//! Learning-rate schedules that step per batch: the learning rate of every step is a pure function of the
//! step's index and the run's length, computed on the host and passed to the optimizer's dispatch, so a
//! schedule costs nothing on the device and a resumed run continues it exactly.
//!
//! ```
//! use digits_nn::Schedule;
//!
//! let one_cycle = Schedule::one_cycle();
//! // PyTorch's OneCycleLR: from max_lr / 25, up to max_lr at 30% of the steps, down to max_lr / 25 / 1e4.
//! assert!((one_cycle.at(0, 100).lr_factor - 0.04).abs() < 1e-6);
//! assert!((one_cycle.at(29, 100).lr_factor - 1.0).abs() < 1e-6);
//! assert!((one_cycle.at(99, 100).lr_factor - 4e-6).abs() < 1e-9);
//! ```

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

/// How the learning rate moves over the steps of a run, as a factor of the optimizer's learning rate (after
/// any per-epoch callback such as `ExponentialDecay`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// The learning rate as the optimizer and callbacks set it.
    #[default]
    Constant,
    /// PyTorch's `OneCycleLR` (cosine annealing, two phases): from `lr / div_factor` up to `lr` over the first
    /// `pct_start` of the steps, then down to `lr / div_factor / final_div_factor`. With `cycle_momentum`,
    /// Adam's β1 (SGD's momentum) moves the other way, from `max_momentum` down to `base_momentum` and back,
    /// as PyTorch does by default.
    OneCycle {
        pct_start: f64,
        div_factor: f64,
        final_div_factor: f64,
        cycle_momentum: bool,
        base_momentum: f64,
        max_momentum: f64,
    },
    /// A linear warm-up from 0 over `warmup_steps`, then a cosine decay to `min_factor` at the last step.
    Cosine { warmup_steps: u64, min_factor: f64 },
}

/// A schedule's settings for one step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScheduleStep {
    /// Multiplies the learning rate.
    pub lr_factor: f64,
    /// Replaces Adam's β1 or SGD's momentum, when the schedule cycles it.
    pub momentum: Option<f64>,
}

impl Schedule {
    /// One-cycle with PyTorch's defaults (`pct_start` 0.3, `div_factor` 25, `final_div_factor` 1e4, momentum
    /// cycled between 0.85 and 0.95).
    pub fn one_cycle() -> Self {
        Schedule::OneCycle {
            pct_start: 0.3,
            div_factor: 25.0,
            final_div_factor: 1e4,
            cycle_momentum: true,
            base_momentum: 0.85,
            max_momentum: 0.95,
        }
    }

    /// Whether it changes anything from step to step.
    pub fn is_constant(&self) -> bool {
        *self == Schedule::Constant
    }

    /// The settings of step `step` (from 0) of a run of `total` steps.
    pub fn at(&self, step: u64, total: u64) -> ScheduleStep {
        let step = step.min(total.saturating_sub(1)) as f64;
        match *self {
            Schedule::Constant => ScheduleStep {
                lr_factor: 1.0,
                momentum: None,
            },
            Schedule::OneCycle {
                pct_start,
                div_factor,
                final_div_factor,
                cycle_momentum,
                base_momentum,
                max_momentum,
            } => {
                // PyTorch's phase ends: step pct_start·total - 1 peaks, step total - 1 ends.
                let peak = pct_start * total as f64 - 1.0;
                let end = total as f64 - 1.0;
                let initial = 1.0 / div_factor;
                let last = initial / final_div_factor;
                let (lr_factor, momentum) = if step <= peak {
                    let pct = if peak > 0.0 { step / peak } else { 1.0 };
                    (
                        cosine(initial, 1.0, pct),
                        cosine(max_momentum, base_momentum, pct),
                    )
                } else {
                    let pct = if end > peak {
                        (step - peak) / (end - peak)
                    } else {
                        1.0
                    };
                    (
                        cosine(1.0, last, pct),
                        cosine(base_momentum, max_momentum, pct),
                    )
                };
                ScheduleStep {
                    lr_factor,
                    momentum: cycle_momentum.then_some(momentum),
                }
            }
            Schedule::Cosine {
                warmup_steps,
                min_factor,
            } => {
                let warmup = warmup_steps as f64;
                let lr_factor = if step < warmup {
                    (step + 1.0) / warmup
                } else {
                    let span = (total as f64 - 1.0 - warmup).max(1.0);
                    cosine(1.0, min_factor, ((step - warmup) / span).min(1.0))
                };
                ScheduleStep {
                    lr_factor,
                    momentum: None,
                }
            }
        }
    }

    /// Why the settings cannot train, if they cannot.
    pub(crate) fn validate(&self) -> Result<(), String> {
        match *self {
            Schedule::Constant => Ok(()),
            Schedule::OneCycle {
                pct_start,
                div_factor,
                final_div_factor,
                base_momentum,
                max_momentum,
                ..
            } => {
                if !(pct_start > 0.0 && pct_start < 1.0) {
                    return Err(format!("one-cycle pct_start {pct_start} must be in (0, 1)"));
                }
                if !(div_factor >= 1.0 && final_div_factor >= 1.0) {
                    return Err(format!(
                        "one-cycle div_factor {div_factor} and final_div_factor {final_div_factor} must be at least 1"
                    ));
                }
                if !((0.0..1.0).contains(&base_momentum) && (0.0..1.0).contains(&max_momentum)) {
                    return Err(format!(
                        "one-cycle momenta {base_momentum} and {max_momentum} must be in [0, 1)"
                    ));
                }
                Ok(())
            }
            Schedule::Cosine { min_factor, .. } => {
                if (0.0..=1.0).contains(&min_factor) {
                    Ok(())
                } else {
                    Err(format!("cosine min_factor {min_factor} must be in [0, 1]"))
                }
            }
        }
    }
}

/// From `start` at `pct` 0 to `end` at `pct` 1 along half a cosine (PyTorch's `_annealing_cos`).
fn cosine(start: f64, end: f64, pct: f64) -> f64 {
    end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.01, total_steps=235)` over `Adam(betas=(0.7, 0.9))`
    /// (torch 2.15): `get_last_lr()[0]` and the optimizer's β1 after `k` calls of `step()`.
    #[test]
    fn one_cycle_matches_pytorch() {
        let pytorch = [
            (0, 0.0003999999999999993, 0.95),
            (1, 0.0004049030624798597, 0.9499489264325014),
            (35, 0.005254242171870302, 0.899434977376351),
            (69, 0.009998774077829497, 0.8500127700226093),
            (70, 0.009999772048255069, 0.8500022795265674),
            (150, 0.005167094216738833, 0.8983292511496163),
            (234, 4e-08, 0.95),
        ];
        let schedule = Schedule::one_cycle();
        for (step, lr, beta1) in pytorch {
            let s = schedule.at(step, 235);
            assert!(
                (s.lr_factor * 0.01 - lr).abs() < 1e-12,
                "step {step}: {} against {lr}",
                s.lr_factor * 0.01
            );
            let momentum = s.momentum.unwrap();
            assert!(
                (momentum - beta1).abs() < 1e-12,
                "step {step}: β1 {momentum}"
            );
        }
    }

    #[test]
    fn cosine_warms_up_then_decays_to_its_floor() {
        let schedule = Schedule::Cosine {
            warmup_steps: 10,
            min_factor: 0.1,
        };
        assert!((schedule.at(0, 110).lr_factor - 0.1).abs() < 1e-12);
        assert!((schedule.at(9, 110).lr_factor - 1.0).abs() < 1e-12);
        assert!((schedule.at(10, 110).lr_factor - 1.0).abs() < 1e-12);
        assert!((schedule.at(109, 110).lr_factor - 0.1).abs() < 1e-12);
        let middle = schedule.at(59, 110).lr_factor;
        assert!((middle - 0.55).abs() < 0.01, "{middle}");
        assert!(Schedule::Constant.at(5, 10).lr_factor == 1.0);
    }

    #[test]
    fn bad_settings_are_refused() {
        let one_cycle = |pct_start, base_momentum| Schedule::OneCycle {
            pct_start,
            div_factor: 25.0,
            final_div_factor: 1e4,
            cycle_momentum: true,
            base_momentum,
            max_momentum: 0.95,
        };
        assert!(one_cycle(0.3, 0.85).validate().is_ok());
        assert!(one_cycle(1.5, 0.85).validate().is_err());
        assert!(one_cycle(0.3, 1.0).validate().is_err());
        let cosine = Schedule::Cosine {
            warmup_steps: 0,
            min_factor: 2.0,
        };
        assert!(cosine.validate().is_err());
    }
}
