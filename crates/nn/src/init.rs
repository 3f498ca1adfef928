//! Seeds and initial weights. Every random choice of a run is a pure function of the run's seed and a
//! position (layer, epoch, step), derived here, so a resumed run and a run on another backend see the same
//! numbers.

use digits_idx::SplitMix64;

/// What a derived seed is for; keeps the streams of different purposes apart.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stream {
    /// Initial weights of one layer.
    Init = 1,
    /// The shuffle of one epoch.
    Shuffle = 2,
    /// Dropout masks (the kernel adds the step to this seed through its own `stream` counter).
    Dropout = 3,
    /// Augmentation transforms (likewise per step).
    Augment = 4,
    /// Initial biases of one layer (PyTorch's scheme draws them).
    BiasInit = 5,
}

/// A seed for `(stream, index)` of a run: SplitMix64's mixer over the three, so nearby inputs give unrelated
/// seeds.
pub(crate) fn derive_seed(seed: u64, stream: Stream, index: u64) -> u64 {
    let mut rng = SplitMix64::new(seed ^ (stream as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let first = rng.next_u64();
    SplitMix64::new(first ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_u64()
}

/// The epoch's sample order (0-based `epoch`), as u32 indices for the device.
pub(crate) fn epoch_order(seed: u64, epoch: usize, len: usize) -> Vec<u32> {
    digits_idx::permutation(len, derive_seed(seed, Stream::Shuffle, epoch as u64))
        .into_iter()
        .map(|i| i as u32)
        .collect()
}

/// Keras's `GlorotUniform`: uniform in `±sqrt(6 / (fan_in + fan_out))`, drawn in the tensor's memory order.
pub(crate) fn glorot_uniform(len: usize, fan_in: usize, fan_out: usize, seed: u64) -> Vec<f32> {
    uniform(len, (6.0 / (fan_in + fan_out) as f64).sqrt(), seed)
}

/// PyTorch's default for `Conv2d` and `Linear` weights and biases: uniform in `±1 / sqrt(fan_in)` (for weights,
/// `kaiming_uniform_(a = sqrt(5))`).
pub(crate) fn torch_uniform(len: usize, fan_in: usize, seed: u64) -> Vec<f32> {
    uniform(len, 1.0 / (fan_in.max(1) as f64).sqrt(), seed)
}

/// `len` values uniform in `±limit`, drawn in order.
fn uniform(len: usize, limit: f64, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    (0..len)
        .map(|_| ((rng.next_f64() * 2.0 - 1.0) * limit) as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glorot_stays_in_bounds_with_the_right_spread() {
        let (fan_in, fan_out) = (288, 576); // a 3×3 conv from 32 to 64 channels, as Keras counts fans
        let w = glorot_uniform(18_432, fan_in, fan_out, 7);
        let limit = (6.0f32 / 864.0).sqrt();
        assert!(w.iter().all(|x| x.abs() <= limit));
        // A uniform on ±limit has variance limit²/3 = 2 / (fan_in + fan_out).
        let var = w.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / w.len() as f64;
        assert!(
            (var - 2.0 / 864.0).abs() < 0.05 * 2.0 / 864.0,
            "variance {var}"
        );
        assert_eq!(w, glorot_uniform(18_432, fan_in, fan_out, 7));
        assert_ne!(w, glorot_uniform(18_432, fan_in, fan_out, 8));
    }

    #[test]
    fn derived_seeds_differ_by_stream_and_index() {
        let a = derive_seed(1, Stream::Shuffle, 0);
        assert_ne!(a, derive_seed(1, Stream::Shuffle, 1));
        assert_ne!(a, derive_seed(1, Stream::Init, 0));
        assert_ne!(a, derive_seed(2, Stream::Shuffle, 0));
        assert_eq!(a, derive_seed(1, Stream::Shuffle, 0));
        let order = epoch_order(3, 2, 100);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<u32>>());
        assert_ne!(order, epoch_order(3, 3, 100));
    }
}
