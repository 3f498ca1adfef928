//! Training on the committed MNIST sample (500 training, 200 test images) on the CPU backend: reproducibility,
//! resuming, callbacks, evaluation.

use std::path::PathBuf;

use digits_idx::{Dataset, LabelledImages};
use digits_nn::{
    Callback, DeviceDataset, DistillConfig, EarlyStopping, EvalOptions, Evaluation, ModelSpec,
    Monitor, NamedTensor, OptimizerConfig, PruneConfig, PruneScope, ReduceLrOnPlateau, Schedule,
    Sequential, StopReason, TrainConfig, Trainer,
};
use digits_tensor::Cpu;

fn sample() -> Dataset {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/mnist-sample");
    Dataset::load(dir).expect("the committed MNIST sample loads")
}

/// A small network with every layer kind the tutorial has, cheap enough to train for several epochs here.
fn small_spec() -> ModelSpec {
    ModelSpec::from_toml_str(
        r#"
        name = "small"
        input = [1, 28, 28]
        layers = [
            { type = "conv2d", filters = 8, kernel = 3, activation = "relu" },
            { type = "max_pool2d", pool = 2 },
            { type = "flatten" },
            { type = "dense", units = 32, activation = "relu" },
            { type = "dropout", rate = 0.5 },
            { type = "dense", units = 10 },
        ]"#,
        "small",
    )
    .unwrap()
}

fn config(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 32,
        seed: 7,
        progress_every: 4,
        eval_batch_size: 64,
        ..Default::default()
    }
}

fn train(
    spec: ModelSpec,
    config: TrainConfig,
    train: &LabelledImages,
    val: Option<&LabelledImages>,
) -> Vec<NamedTensor> {
    let model = Sequential::new(&Cpu::new(), spec, config.seed).unwrap();
    let mut trainer = Trainer::new(model, config, train, val).unwrap();
    trainer.fit(None, &mut |_| {}, &mut |_| {}).unwrap();
    trainer.finish().unwrap().0.weights().unwrap()
}

#[test]
fn same_seed_gives_bit_identical_weights() {
    let data = sample();
    let a = train(
        ModelSpec::preset("tutorial").unwrap(),
        config(1),
        &data.train,
        None,
    );
    let b = train(
        ModelSpec::preset("tutorial").unwrap(),
        config(1),
        &data.train,
        None,
    );
    assert!(a == b, "two runs with the same seed differ");
    let other = train(
        ModelSpec::preset("tutorial").unwrap(),
        TrainConfig {
            seed: 8,
            ..config(1)
        },
        &data.train,
        None,
    );
    assert!(a != other, "another seed gives the same weights");
}

#[test]
fn learns_and_reports_progress_without_blocking() {
    let data = sample();
    let (train, val) = data.train.clone().split_validation(0.2).unwrap();
    let model = Sequential::new(&Cpu::new(), small_spec(), 7).unwrap();
    let fast = TrainConfig {
        optimizer: OptimizerConfig::adam(3e-3),
        ..config(4)
    };
    let mut trainer = Trainer::new(model, fast, &train, Some(&val)).unwrap();
    assert_eq!(trainer.steps_per_epoch(), 13); // 400 samples: 12 batches of 32 and one of 16
    let mut reports = Vec::new();
    trainer
        .fit(None, &mut |p| reports.push(*p), &mut |_| {})
        .unwrap();
    // Every 4 steps, then once at the end of each epoch.
    let first: Vec<(usize, usize)> = reports
        .iter()
        .take(4)
        .map(|p| (p.step, p.samples))
        .collect();
    assert_eq!(first, [(4, 128), (8, 256), (12, 384), (13, 400)]);
    assert_eq!(reports.len(), 16);
    let history = trainer.history().to_vec();
    assert_eq!(history.len(), 4);
    assert_eq!(trainer.stop_reason(), Some(StopReason::Completed));
    let last_report = reports[3];
    assert_eq!(
        (last_report.loss, last_report.accuracy),
        (history[0].loss, history[0].accuracy)
    );
    assert!(history[3].loss < history[0].loss * 0.6, "{history:?}");
    assert!(history[3].val_accuracy.unwrap() > 0.7, "{history:?}");
    assert!(
        history
            .iter()
            .all(|e| e.lr == 3e-3 && e.samples_per_second > 0.0)
    );

    let (mut model, _) = trainer.finish().unwrap();
    let test = digits_nn::DeviceDataset::upload(model.backend(), &data.test).unwrap();
    let options = EvalOptions {
        batch_size: 64,
        probabilities: true,
    };
    let eval = model.evaluate(&test, &options).unwrap();
    assert_eq!((eval.samples, eval.predictions.len()), (200, 200));
    let correct = eval
        .predictions
        .iter()
        .zip(data.test.labels())
        .filter(|(p, l)| **p == u32::from(**l))
        .count();
    assert_eq!(eval.accuracy, correct as f32 / 200.0);
    assert!(eval.accuracy > 0.7, "test accuracy {}", eval.accuracy);
    let probabilities = eval.probabilities.unwrap();
    assert_eq!(probabilities.len(), 2000);
    // The most probable class is the prediction.
    for (row, &p) in probabilities.chunks(10).zip(&eval.predictions) {
        let best = row
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert_eq!(best as u32, p);
    }
    // Evaluating in other batch sizes (a last partial batch) gives the same predictions.
    let again = model
        .evaluate(
            &test,
            &EvalOptions {
                batch_size: 48,
                probabilities: false,
            },
        )
        .unwrap();
    assert_eq!(again.predictions, eval.predictions);
    assert!((again.loss - eval.loss).abs() < 1e-5);
}

fn callbacks() -> Vec<Callback> {
    vec![
        Callback::ReduceLrOnPlateau(ReduceLrOnPlateau {
            patience: 0,
            factor: 0.5,
            min_delta: 0.3,
            ..Default::default()
        }),
        Callback::EarlyStopping(EarlyStopping {
            monitor: Monitor::ValLoss,
            patience: 5,
            restore_best_weights: true,
            ..Default::default()
        }),
    ]
}

#[test]
fn resuming_after_a_crash_mid_epoch_matches_an_uninterrupted_run() {
    let data = sample();
    let (train, val) = data.train.clone().split_validation(0.2).unwrap();
    let config = TrainConfig {
        callbacks: callbacks(),
        ..config(3)
    };
    let cpu = Cpu::new();

    let model = Sequential::new(&cpu, small_spec(), 7).unwrap();
    let mut whole = Trainer::new(model, config.clone(), &train, Some(&val)).unwrap();
    whole.fit(None, &mut |_| {}, &mut |_| {}).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("run.ckpt");
    let model = Sequential::new(&cpu, small_spec(), 7).unwrap();
    let mut first = Trainer::new(model, config, &train, Some(&val)).unwrap();
    first.run_epoch(&mut |_| {}).unwrap();
    first.save_checkpoint(&checkpoint).unwrap();
    drop(first);

    // A second process resumes, gets half way through epoch 2 and dies.
    let mut crashed = Trainer::resume(&cpu, &checkpoint, &train, Some(&val)).unwrap();
    assert_eq!(crashed.epochs_done(), 1);
    crashed.begin_epoch().unwrap();
    for _ in 0..5 {
        assert!(crashed.step().unwrap());
    }
    assert!(
        crashed.save_checkpoint(&checkpoint).is_err(),
        "no checkpoints mid-epoch"
    );
    drop(crashed);

    let mut resumed = Trainer::resume(&cpu, &checkpoint, &train, Some(&val)).unwrap();
    resumed
        .fit(Some(&checkpoint), &mut |_| {}, &mut |_| {})
        .unwrap();
    assert_eq!(
        without_times(resumed.history()),
        without_times(whole.history())
    );
    assert_eq!(resumed.lr(), whole.lr());
    assert!(
        resumed.lr() < 1e-3,
        "the plateau callback acted: {:?}",
        whole.history()
    );
    assert_eq!(
        resumed.config().callbacks,
        whole.config().callbacks,
        "callback state carries over"
    );
    // The last checkpoint is also a model file (holding the last epoch's weights).
    let last = resumed.model().weights().unwrap();
    assert!(
        Sequential::load(&cpu, &checkpoint)
            .unwrap()
            .weights()
            .unwrap()
            == last
    );
    let (a, _) = resumed.finish().unwrap();
    let (b, _) = whole.finish().unwrap();
    assert!(
        a.weights().unwrap() == b.weights().unwrap(),
        "resumed weights differ"
    );

    // Resuming on other data is refused.
    let err = Trainer::resume(&cpu, &checkpoint, &data.train, None)
        .err()
        .unwrap();
    assert!(
        matches!(err, digits_nn::NnError::Checkpoint { .. }),
        "{err:?}"
    );
}

/// An epoch's number, loss, accuracy, validation loss and accuracy, and learning rate.
type Untimed = (usize, f32, f32, Option<f32>, Option<f32>, f32);

/// Epoch statistics without the timings, which differ between runs.
fn without_times(history: &[digits_nn::EpochStats]) -> Vec<Untimed> {
    history
        .iter()
        .map(|e| {
            (
                e.epoch,
                e.loss,
                e.accuracy,
                e.val_loss,
                e.val_accuracy,
                e.lr,
            )
        })
        .collect()
}

#[test]
fn early_stopping_stops_and_restores_the_best_weights() {
    let data = sample();
    let (train, val) = data.train.clone().split_validation(0.2).unwrap();
    // Monitoring the training loss in max mode makes epoch 1 the "best" and every later epoch worse, so the
    // run stops after epoch 2 (patience 1) and must end with epoch 1's weights.
    let stopping = EarlyStopping {
        monitor: Monitor::Loss,
        mode: digits_nn::Mode::Max,
        patience: 1,
        restore_best_weights: true,
        ..Default::default()
    };
    let config = TrainConfig {
        callbacks: vec![Callback::EarlyStopping(stopping)],
        ..config(5)
    };
    // Batch normalisation: the best epoch's running statistics come back with its weights.
    let model = Sequential::new(&Cpu::new(), residual_spec(), 7).unwrap();
    let mut trainer = Trainer::new(model, config, &train, Some(&val)).unwrap();
    let (mut weights, mut running) = (Vec::new(), Vec::new());
    while !trainer.is_finished() {
        trainer.run_epoch(&mut |_| {}).unwrap();
        weights.push(trainer.model().weights().unwrap());
        running.push(trainer.model().running_state().unwrap());
    }
    assert_eq!(
        trainer.stop_reason(),
        Some(StopReason::EarlyStopping { epoch: 2 })
    );
    assert!(
        trainer.begin_epoch().is_err(),
        "a finished run does not start another epoch"
    );
    assert!(weights[0] != weights[1] && running[0] != running[1]);
    let steps_per_epoch = trainer.steps_per_epoch() as u64;
    assert_eq!(trainer.model().batches_tracked(), 2 * steps_per_epoch);
    let (model, history) = trainer.finish().unwrap();
    assert_eq!(history.len(), 2);
    assert!(
        model.weights().unwrap() == weights[0],
        "the best (first) epoch's weights are restored"
    );
    assert!(
        model.running_state().unwrap() == running[0],
        "and its running statistics"
    );
    assert_eq!(model.batches_tracked(), steps_per_epoch);
}

/// A checkpoint keeps the best epoch's running statistics and batch count with its weights.
#[test]
fn a_resumed_run_restores_the_best_running_statistics() {
    let data = sample();
    let (train, val) = data.train.clone().split_validation(0.2).unwrap();
    let stopping = EarlyStopping {
        monitor: Monitor::Loss,
        mode: digits_nn::Mode::Max,
        patience: 1,
        restore_best_weights: true,
        ..Default::default()
    };
    let config = TrainConfig {
        callbacks: vec![Callback::EarlyStopping(stopping)],
        ..config(5)
    };
    let cpu = Cpu::new();
    let model = Sequential::new(&cpu, residual_spec(), 7).unwrap();
    let mut first = Trainer::new(model, config, &train, Some(&val)).unwrap();
    first.run_epoch(&mut |_| {}).unwrap();
    let best = (
        first.model().running_state().unwrap(),
        first.model().batches_tracked(),
    );
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("run.ckpt");
    first.save_checkpoint(&checkpoint).unwrap();
    drop(first);

    let mut resumed = Trainer::resume(&cpu, &checkpoint, &train, Some(&val)).unwrap();
    assert_eq!(resumed.model().batches_tracked(), best.1);
    resumed.fit(None, &mut |_| {}, &mut |_| {}).unwrap();
    assert_eq!(
        resumed.stop_reason(),
        Some(StopReason::EarlyStopping { epoch: 2 })
    );
    assert_ne!(resumed.model().running_state().unwrap(), best.0);
    let (model, _) = resumed.finish().unwrap();
    assert_eq!(
        (model.running_state().unwrap(), model.batches_tracked()),
        best
    );
}

/// A one-cycle run steps its rate per batch: each epoch reports the rate of its last step, and the run ends
/// near zero.
#[test]
fn a_one_cycle_schedule_moves_the_rate_every_step() {
    let data = sample();
    let config = TrainConfig {
        schedule: Schedule::one_cycle(),
        optimizer: OptimizerConfig::adam_with(0.01, 0.7, 0.9, 0.0),
        ..config(2)
    };
    let model = Sequential::new(&Cpu::new(), small_spec(), 7).unwrap();
    let mut trainer = Trainer::new(model, config.clone(), &data.train, None).unwrap();
    let steps = trainer.steps_per_epoch() as u64;
    trainer.fit(None, &mut |_| {}, &mut |_| {}).unwrap();
    let rates: Vec<f32> = trainer.history().iter().map(|e| e.lr).collect();
    for (epoch, rate) in rates.iter().enumerate() {
        let last = (epoch as u64 + 1) * steps - 1;
        let expected = 0.01 * config.schedule.at(last, 2 * steps).lr_factor;
        assert!((f64::from(*rate) - expected).abs() < 1e-9, "{rates:?}");
    }
    assert!(rates[1] < 1e-5, "{rates:?}");
    // Not the constant run: the schedule (rate and β1) changed the weights.
    let constant = TrainConfig {
        schedule: Schedule::Constant,
        ..config
    };
    let model = Sequential::new(&Cpu::new(), small_spec(), 7).unwrap();
    let mut plain = Trainer::new(model, constant, &data.train, None).unwrap();
    plain.fit(None, &mut |_| {}, &mut |_| {}).unwrap();
    assert_ne!(
        plain.model().weights().unwrap(),
        trainer.model().weights().unwrap()
    );
}

/// Averaging evaluations: one evaluation averages to itself; two models' average is between them.
#[test]
fn evaluations_average_into_an_ensemble() {
    let data = sample();
    let cpu = Cpu::new();
    let test = DeviceDataset::upload(&cpu, &data.test).unwrap();
    let options = EvalOptions {
        probabilities: true,
        ..EvalOptions::default()
    };
    let mut evaluations = Vec::new();
    for seed in [1, 2] {
        let model = Sequential::new(&cpu, small_spec(), seed).unwrap();
        let mut trainer = Trainer::new(model, config(1), &data.train, None).unwrap();
        trainer.fit(None, &mut |_| {}, &mut |_| {}).unwrap();
        let (mut model, _) = trainer.finish().unwrap();
        evaluations.push(model.evaluate(&test, &options).unwrap());
    }
    let labels = data.test.labels();
    let alone = Evaluation::average(&evaluations[..1], labels).unwrap();
    assert_eq!(alone.predictions, evaluations[0].predictions);
    assert!((alone.loss - evaluations[0].loss).abs() < 1e-4);
    assert!((alone.accuracy - evaluations[0].accuracy).abs() < 1e-6);

    let both = Evaluation::average(&evaluations, labels).unwrap();
    let (a, b) = (
        evaluations[0].probabilities.as_ref().unwrap(),
        evaluations[1].probabilities.as_ref().unwrap(),
    );
    let mean = both.probabilities.as_ref().unwrap();
    for i in 0..mean.len() {
        assert!((mean[i] - (a[i] + b[i]) / 2.0).abs() < 1e-6);
    }
    assert_ne!(a, b);
    // Without probabilities there is nothing to average.
    let mut bare = evaluations[0].clone();
    bare.probabilities = None;
    assert!(Evaluation::average(&[bare], labels).is_err());
}

/// With a weight EMA the finished model holds the average of the weights after every step, computed here on
/// the host from the live weights; a run resumed from a checkpoint ends with the same average.
#[test]
fn the_weights_moving_average_is_the_finished_model_and_survives_a_resume() {
    let data = sample();
    let (train, val) = data.train.clone().split_validation(0.2).unwrap();
    let decay = 0.8f32;
    let config = TrainConfig {
        ema: Some(decay),
        ..config(2)
    };
    let cpu = Cpu::new();
    let model = Sequential::new(&cpu, residual_spec(), 5).unwrap();
    let mut average: Vec<Vec<f32>> = model
        .weights()
        .unwrap()
        .into_iter()
        .map(|t| t.data)
        .collect();
    let mut trainer = Trainer::new(model, config.clone(), &train, Some(&val)).unwrap();
    while !trainer.is_finished() {
        trainer.begin_epoch().unwrap();
        while trainer.step().unwrap() {
            for (a, t) in average.iter_mut().zip(trainer.model().weights().unwrap()) {
                for (a, v) in a.iter_mut().zip(t.data) {
                    *a = decay * *a + (1.0 - decay) * v;
                }
            }
        }
        trainer.end_epoch().unwrap();
    }
    let live = trainer.model().weights().unwrap();
    let (model, _) = trainer.finish().unwrap();
    let finished = model.weights().unwrap();
    assert_ne!(
        finished, live,
        "the finished model is the average, not the last step"
    );
    for (a, t) in average.iter().zip(&finished) {
        for (x, y) in a.iter().zip(&t.data) {
            assert!((x - y).abs() < 1e-6, "{}: {x} against {y}", t.name);
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("run.ckpt");
    let model = Sequential::new(&cpu, residual_spec(), 5).unwrap();
    let mut first = Trainer::new(model, config, &train, Some(&val)).unwrap();
    first.run_epoch(&mut |_| {}).unwrap();
    first.save_checkpoint(&checkpoint).unwrap();
    drop(first);
    let mut resumed = Trainer::resume(&cpu, &checkpoint, &train, Some(&val)).unwrap();
    resumed.fit(None, &mut |_| {}, &mut |_| {}).unwrap();
    let (model, _) = resumed.finish().unwrap();
    assert!(model.weights().unwrap() == finished);
    assert_eq!(model.running_state().unwrap().len(), 4);
}

/// Every optimizer learns (the second epoch's loss below the first's) and resumes from a checkpoint to the
/// same weights as an uninterrupted run (its state arenas are saved under their names).
#[test]
fn every_optimizer_learns_and_resumes_exactly() {
    let data = sample();
    let cpu = Cpu::new();
    for optimizer in [
        OptimizerConfig::rmsprop(1e-3, 0.9),
        OptimizerConfig::adadelta(1.0, 0.9),
        OptimizerConfig::nadam(1e-3, 0.9, 0.999),
        OptimizerConfig::adamw(1e-3, 0.004),
        OptimizerConfig::sgd(0.05, 0.9),
    ] {
        let config = TrainConfig {
            optimizer,
            // Nadam's product of momenta, each with its step's β1, must survive the checkpoint too.
            schedule: match optimizer {
                OptimizerConfig::Nadam { .. } => Schedule::one_cycle(),
                _ => Schedule::Constant,
            },
            ..config(2)
        };
        let model = Sequential::new(&cpu, small_spec(), 3).unwrap();
        let mut whole = Trainer::new(model, config.clone(), &data.train, None).unwrap();
        whole.fit(None, &mut |_| {}, &mut |_| {}).unwrap();
        let losses: Vec<f32> = whole.history().iter().map(|e| e.loss).collect();
        assert!(losses[1] < losses[0], "{optimizer:?}: {losses:?}");

        let dir = tempfile::tempdir().unwrap();
        let checkpoint = dir.path().join("run.ckpt");
        let model = Sequential::new(&cpu, small_spec(), 3).unwrap();
        let mut first = Trainer::new(model, config, &data.train, None).unwrap();
        first.run_epoch(&mut |_| {}).unwrap();
        first.save_checkpoint(&checkpoint).unwrap();
        drop(first);
        let mut resumed = Trainer::resume(&cpu, &checkpoint, &data.train, None).unwrap();
        resumed.fit(None, &mut |_| {}, &mut |_| {}).unwrap();
        assert!(
            resumed.model().weights().unwrap() == whole.model().weights().unwrap(),
            "{optimizer:?} resumed differently"
        );
    }
}

#[test]
fn bad_settings_are_refused_before_training() {
    let data = sample();
    let cpu = Cpu::new();
    let model = || Sequential::new(&cpu, small_spec(), 0).unwrap();
    let needs_validation = TrainConfig {
        callbacks: vec![Callback::ReduceLrOnPlateau(ReduceLrOnPlateau::default())],
        ..config(1)
    };
    let err = Trainer::new(model(), needs_validation, &data.train, None)
        .err()
        .unwrap();
    assert!(err.to_string().contains("val_loss"), "{err}");
    let zero_batch = TrainConfig {
        batch_size: 0,
        ..config(1)
    };
    assert!(Trainer::new(model(), zero_batch, &data.train, None).is_err());
    let small_images = data.train.subset(&[0, 1]).unwrap();
    let cropped = LabelledImages::new(
        small_images.pixels()[..2 * 27 * 28].to_vec(),
        vec![0, 1],
        27,
        28,
        10,
    )
    .unwrap();
    let err = Trainer::new(model(), config(1), &cropped, None)
        .err()
        .unwrap();
    assert!(err.to_string().contains("27x28"), "{err}");
}

/// FNV-1a over the bits of every weight, in order: a fingerprint that changes with any single bit.
fn fingerprint(weights: &[NamedTensor]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for tensor in weights {
        for bits in tensor.data.iter().map(|v| v.to_bits()) {
            for byte in bits.to_le_bytes() {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    hash
}

/// One epoch of the tutorial network on the committed sample gives exactly the weights it gave before the
/// model became a graph (pinned by their fingerprint), so every description and preset trains as it did.
/// Two threads: the CPU backend is bit-identical for a given thread count.
#[test]
fn tutorial_trains_bit_identically_to_the_sequential_model() {
    let data = sample();
    let (train_split, validation) = data.train.clone().split_validation(0.2).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a thread pool");
    let weights = pool.install(|| {
        let config = TrainConfig {
            epochs: 1,
            seed: 42,
            ..Default::default()
        };
        train(
            ModelSpec::preset("tutorial").unwrap(),
            config,
            &train_split,
            Some(&validation),
        )
    });
    assert_eq!(weights.len(), 8);
    assert_eq!(
        fingerprint(&weights),
        0xb49e_7841_ef23_0fc8,
        "fingerprint {:#018x}",
        fingerprint(&weights)
    );
}

/// A small residual network with batch normalisation.
fn residual_spec() -> ModelSpec {
    ModelSpec::from_toml_str(
        r#"
        name = "residual"
        input = [1, 28, 28]
        layers = [
            { name = "stem", type = "conv2d", filters = 4, kernel = 3, stride = 2 },
            { name = "stem_bn", type = "batch_norm" },
            { name = "stem_relu", type = "relu" },
            { name = "conv", type = "conv2d", filters = 4, kernel = 3, padding = "same" },
            { name = "bn", type = "batch_norm" },
            { name = "sum", type = "add", inputs = ["stem_relu", "bn"] },
            { name = "relu", type = "relu" },
            { type = "global_avg_pool2d" },
            { name = "fc", type = "dense", units = 10 },
        ]"#,
        "residual",
    )
    .unwrap()
}

/// Evaluation uses the running statistics: one image gives the same probabilities alone as in a batch (with
/// batch statistics a lone image normalises to zero), and a saved and loaded model evaluates identically.
#[test]
fn batch_norm_evaluates_with_running_statistics_and_survives_a_file() {
    let data = sample();
    let cpu = Cpu::new();
    let model = Sequential::new(&cpu, residual_spec(), 3).unwrap();
    let mut trainer = Trainer::new(model, config(2), &data.train, None).unwrap();
    trainer.fit(None, &mut |_| {}, &mut |_| {}).unwrap();
    let steps = 2 * trainer.steps_per_epoch() as u64;
    let (mut model, _) = trainer.finish().unwrap();
    let names: Vec<String> = model
        .weights()
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert!(
        names.contains(&"bn.weight".to_string()) && names.contains(&"fc.bias".to_string()),
        "{names:?}"
    );

    let images = &data.test.pixels()[..8 * 784];
    let batch = model.predict(images).unwrap();
    let alone = model.predict(&images[..784]).unwrap();
    for (a, b) in alone.probabilities.iter().zip(&batch.probabilities[..10]) {
        assert!(
            (a - b).abs() < 1e-6,
            "alone {:?}, in a batch {:?}",
            alone.probabilities,
            &batch.probabilities[..10]
        );
    }
    // Not trivially so: different images get different answers.
    assert_ne!(batch.probabilities[..10], batch.probabilities[10..20]);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("residual.safetensors");
    model.save(&path).unwrap();
    // PyTorch's BatchNorm2d tensors, `num_batches_tracked` an int64 scalar counting the training batches.
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for name in ["bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"] {
        let t = file.tensor(name).unwrap();
        assert_eq!((t.dtype(), t.shape()), (safetensors::Dtype::F32, &[4][..]));
    }
    for name in ["stem_bn.num_batches_tracked", "bn.num_batches_tracked"] {
        let t = file.tensor(name).unwrap();
        assert_eq!((t.dtype(), t.shape()), (safetensors::Dtype::I64, &[][..]));
        assert_eq!(t.data(), &(steps as i64).to_le_bytes());
    }
    let mut loaded = Sequential::load(&cpu, &path).unwrap();
    assert_eq!(loaded.batches_tracked(), steps);
    assert!(loaded.running_state().unwrap() == model.running_state().unwrap());
    let test = DeviceDataset::upload(&cpu, &data.test).unwrap();
    let options = EvalOptions::default();
    assert_eq!(
        loaded.evaluate(&test, &options).unwrap(),
        model.evaluate(&test, &options).unwrap()
    );
}

/// A teacher for distillation tests: the small network after two epochs on the sample.
fn teacher(data: &Dataset) -> Sequential<Cpu> {
    let model = Sequential::new(&Cpu::new(), small_spec(), 11).unwrap();
    let mut trainer = Trainer::new(model, config(2), &data.train, None).unwrap();
    trainer.fit(None, &mut |_| {}, &mut |_| {}).unwrap();
    trainer.finish().unwrap().0
}

fn distilled(
    data: &Dataset,
    config: TrainConfig,
    distill: Option<DistillConfig>,
) -> Vec<NamedTensor> {
    let student =
        Sequential::new(&Cpu::new(), ModelSpec::preset("mlp").unwrap(), config.seed).unwrap();
    let mut trainer = Trainer::new(student, config, &data.train, None).unwrap();
    if let Some(distill) = distill {
        trainer.set_teacher(teacher(data), distill).unwrap();
    }
    trainer.fit(None, &mut |_| {}, &mut |_| {}).unwrap();
    trainer.finish().unwrap().0.weights().unwrap()
}

/// With α = 0 the soft part weighs nothing and the fused loss is the plain one bit for bit, so the teacher
/// (a different architecture, augmented batches included) must change nothing; with α = 0.9 it must change
/// the weights, and the same seed must give the same bits again.
#[test]
fn distillation_trains_from_a_teacher_and_reduces_to_plain_training_at_alpha_zero() {
    let data = sample();
    let mut config = config(1);
    config.augment = Some(digits_nn::AugmentConfig::default());
    let plain = distilled(&data, config.clone(), None);
    let zero = DistillConfig {
        temperature: 4.0,
        alpha: 0.0,
    };
    assert_eq!(
        fingerprint(&distilled(&data, config.clone(), Some(zero))),
        fingerprint(&plain)
    );
    let soft = distilled(&data, config.clone(), Some(DistillConfig::default()));
    assert_ne!(fingerprint(&soft), fingerprint(&plain));
    assert_eq!(
        fingerprint(&distilled(&data, config, Some(DistillConfig::default()))),
        fingerprint(&soft)
    );
}

#[test]
fn bad_distillation_settings_are_refused() {
    let data = sample();
    let student = Sequential::new(&Cpu::new(), ModelSpec::preset("mlp").unwrap(), 1).unwrap();
    let mut trainer = Trainer::new(student, config(1), &data.train, None).unwrap();
    for (temperature, alpha, says) in [
        (0.0, 0.5, "temperature"),
        (f32::NAN, 0.5, "temperature"),
        (4.0, 1.5, "alpha"),
    ] {
        let error = trainer
            .set_teacher(teacher(&data), DistillConfig { temperature, alpha })
            .unwrap_err()
            .to_string();
        assert!(error.contains(says), "{error}");
    }
}

/// Gradual magnitude pruning reaches its sparsity in every convolution and dense weight tensor (and no
/// further), along the cubic schedule, with the biases left alone; the half-pruned network still learns.
#[test]
fn pruning_zeroes_the_scheduled_share_of_every_weight_tensor() {
    let schedule = PruneConfig {
        sparsity: 0.75,
        begin_step: 0,
        end_step: 20,
        frequency: 5,
        scope: PruneScope::Layer,
    };
    assert_eq!(schedule.sparsity_at(0), 0.0);
    assert!((schedule.sparsity_at(10) - 0.75 * 0.875).abs() < 1e-6);
    assert_eq!(schedule.sparsity_at(20), 0.75);
    assert_eq!(schedule.sparsity_at(500), 0.75);
    assert!(schedule.updates_at(15) && !schedule.updates_at(16) && !schedule.updates_at(25));

    let data = sample();
    let model = Sequential::new(&Cpu::new(), small_spec(), 3).unwrap();
    let mut trainer = Trainer::new(model, config(4), &data.train, None).unwrap();
    trainer
        .set_pruning(PruneConfig {
            sparsity: 0.5,
            ..schedule
        })
        .unwrap();
    trainer.fit(None, &mut |_| {}, &mut |_| {}).unwrap();
    let (mut model, _) = trainer.finish().unwrap();
    let test = DeviceDataset::upload(model.backend(), &data.test).unwrap();
    let eval = model.evaluate(&test, &EvalOptions::default()).unwrap();
    assert!(
        eval.accuracy > 0.6,
        "accuracy {} after pruning half",
        eval.accuracy
    );

    let sparsity = model.sparsity().unwrap();
    let names: Vec<&str> = sparsity.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["0.weight", "4.weight", "7.weight"]);
    for tensor in &sparsity {
        let wanted = (0.5 * tensor.len as f64).round() as usize;
        assert_eq!(
            tensor.zeros, wanted,
            "{}: {} of {}",
            tensor.name, tensor.zeros, tensor.len
        );
    }
    let weights = model.weights().unwrap();
    let bias = weights.iter().find(|t| t.name == "4.bias").unwrap();
    assert!(bias.data.iter().all(|&v| v != 0.0), "biases are not pruned");
    // One ranking over all the tensors: the total is exact, the share of each tensor its own.
    let model = Sequential::new(&Cpu::new(), small_spec(), 3).unwrap();
    let mut trainer = Trainer::new(model, config(2), &data.train, None).unwrap();
    let global = PruneConfig {
        sparsity: 0.5,
        scope: PruneScope::Global,
        ..schedule
    };
    trainer.set_pruning(global).unwrap();
    trainer.fit(None, &mut |_| {}, &mut |_| {}).unwrap();
    let tensors = trainer.finish().unwrap().0.sparsity().unwrap();
    let total: usize = tensors.iter().map(|t| t.len).sum();
    let zeros: usize = tensors.iter().map(|t| t.zeros).sum();
    assert_eq!(zeros, (0.5 * total as f64).round() as usize);
    assert!(tensors.iter().any(|t| 2 * t.zeros != t.len), "{tensors:?}");

    let mut with_ema = config(1);
    with_ema.ema = Some(0.99);
    let model = Sequential::new(&Cpu::new(), small_spec(), 3).unwrap();
    let mut trainer = Trainer::new(model, with_ema, &data.train, None).unwrap();
    assert!(
        trainer
            .set_pruning(schedule)
            .unwrap_err()
            .to_string()
            .contains("moving average")
    );
}
