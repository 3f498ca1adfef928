//! ONNX export, checked by another runtime: tract loads each preset's exported file and must compute the logits
//! digits computes on test images, at two batch sizes (the batch dimension is dynamic). ONNX Runtime checks the
//! same files on all 10,000 test images in `crates/cli/tests/onnx_runtime.rs`.

use std::path::PathBuf;

use digits_idx::{Dataset, Split};
use digits_nn::{ModelSpec, OnnxOptions, Sequential, TrainConfig, Trainer};
use digits_tensor::Cpu;
use tract_onnx::prelude::*;

/// Largest difference allowed between the two runtimes' logits: both compute in f32, in different summation
/// orders (tract's GEMM against im2col); over the few hundred terms of a dot product that reorders rounding
/// by about 1e-6 of the logits' size (~10 at most after a little training).
const TOLERANCE: f32 = 1e-4;

fn sample() -> Dataset {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/mnist-sample");
    Dataset::load(dir).expect("the committed MNIST sample loads")
}

/// The preset after one epoch on the sample: weights away from their start, batch norm's running statistics
/// away from 0 and 1, so a mistake in either shows.
fn trained(preset: &str, data: &Dataset) -> Sequential<Cpu> {
    let spec = ModelSpec::preset(preset).unwrap();
    let model = Sequential::new(&Cpu::new(), spec, 3).unwrap();
    let config = TrainConfig {
        epochs: 1,
        batch_size: 50,
        seed: 3,
        ..Default::default()
    };
    let mut trainer = Trainer::new(model, config, data.split(Split::Train), None).unwrap();
    trainer.fit(None, &mut |_| {}, &mut |_| {}).unwrap();
    trainer.finish().unwrap().0
}

/// tract's output for `count` images (u8, 28×28 each), fed as the export documents: pixels / 255.
fn tract_run(onnx: &[u8], pixels: &[u8], count: usize) -> Vec<f32> {
    let plan = tract_onnx::onnx()
        .model_for_read(&mut &onnx[..])
        .expect("tract reads the file")
        .into_optimized()
        .expect("tract optimises the graph")
        .into_runnable()
        .expect("tract plans it");
    let input: Vec<f32> = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
    let input = Tensor::from_shape(&[count, 1, 28, 28], &input).unwrap();
    let outputs = plan.run(tvec!(input.into())).expect("tract runs the graph");
    let view = outputs[0].to_plain_array_view::<f32>().unwrap();
    view.iter().copied().collect()
}

fn largest_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn tract_computes_every_presets_logits() {
    let data = sample();
    let test = data.split(Split::Test);
    for preset in ["tutorial", "mlp", "resnet", "inception", "fast", "best"] {
        let mut model = trained(preset, &data);
        let onnx = model.to_onnx(&OnnxOptions::default()).unwrap();
        for count in [1, 37] {
            let pixels = &test.pixels()[..count * 784];
            let ours = model.logits(pixels).unwrap();
            let theirs = tract_run(&onnx, pixels, count);
            let difference = largest_difference(&ours, &theirs);
            assert!(
                difference <= TOLERANCE,
                "{preset}, batch {count}: logits differ by {difference}"
            );
            let spread = ours.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(spread > 0.1, "{preset}: logits this small test nothing");
        }
    }
}

#[test]
fn a_softmax_ending_gives_the_probabilities_predict_gives() {
    let data = sample();
    let pixels = &data.split(Split::Test).pixels()[..20 * 784];
    let mut model = trained("tutorial", &data);
    let onnx = model.to_onnx(&OnnxOptions { softmax: true }).unwrap();
    let ours = model.predict(pixels).unwrap().probabilities;
    let theirs = tract_run(&onnx, pixels, 20);
    assert!(largest_difference(&ours, &theirs) <= 1e-6);
    for row in theirs.chunks(10) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
}
