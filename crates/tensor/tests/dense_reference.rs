//! The CPU backend's dense kernels against hand-written f64 references: Keras's optimizer formulas step by
//! step, and the backward kernels against central finite differences of their forward functions.
//! (The GPU kernels are checked against these CPU kernels by the conformance tests.)

use digits_tensor::conformance::TestRng;
use digits_tensor::{
    AdamStep, Backend, Cpu, ElementwiseOps, OptimOps, ReduceOps, SgdStep, SoftmaxCrossEntropy,
};

fn assert_close(what: &str, got: &[f32], want: &[f64], abs: f64, rel: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let allowed = abs + rel * w.abs();
        assert!(
            (g as f64 - w).abs() <= allowed,
            "{what}[{i}]: got {g}, want {w} (allowed {allowed:e})"
        );
    }
}

fn to_f64(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

/// Keras's Adam in f64: m = β1·m + (1-β1)·g, v = β2·v + (1-β2)·g², α = lr·sqrt(1-β2^t)/(1-β1^t),
/// p -= α·m/(sqrt(v)+ε).
fn adam_f64(hp: &AdamStep, p: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64]) {
    let (b1, b2, eps) = (hp.beta1 as f64, hp.beta2 as f64, hp.epsilon as f64);
    let t = hp.step as i32;
    let alpha = hp.lr as f64 * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
    // AdamW's decoupled decay (PyTorch's `p.mul_(1 - lr * weight_decay)` before the update).
    let decay = 1.0 - hp.lr as f64 * hp.weight_decay as f64;
    for i in 0..p.len() {
        m[i] = b1 * m[i] + (1.0 - b1) * g[i];
        v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
        p[i] = p[i] * decay - alpha * m[i] / (v[i].sqrt() + eps);
    }
}

#[test]
fn adam_and_adamw_follow_the_keras_formulas_over_many_steps() {
    let cpu = Cpu::new();
    let mut rng = TestRng::new(1);
    // Long enough for the CPU's parallel path (65536 and up); the moments start at zero, as in training.
    for (n, weight_decay) in [(1, 0.0), (7, 0.0), (1000, 0.0), (70_001, 0.0), (1000, 0.05)] {
        let p0 = rng.values(n);
        let (p, m, v) = (
            cpu.upload(&p0).unwrap(),
            cpu.zeros::<f32>(n).unwrap(),
            cpu.zeros::<f32>(n).unwrap(),
        );
        let (mut rp, mut rm, mut rv) = (to_f64(&p0), vec![0.0; n], vec![0.0; n]);
        for step in 1..=20 {
            let g = rng.values(n);
            let hp = AdamStep {
                step,
                weight_decay,
                ..AdamStep::default()
            };
            cpu.adam(&hp, &p, &cpu.upload(&g).unwrap(), &m, &v).unwrap();
            adam_f64(&hp, &mut rp, &to_f64(&g), &mut rm, &mut rv);
        }
        // f32 keeps ~7 digits: parameters near 1 after 20 updates of 1e-3, moments of size up to 1.
        assert_close("p", &cpu.download(&p).unwrap(), &rp, 1e-6, 0.0);
        assert_close("m", &cpu.download(&m).unwrap(), &rm, 1e-6, 1e-5);
        assert_close("v", &cpu.download(&v).unwrap(), &rv, 1e-7, 1e-5);
        // The parameters did move: 20 steps of about lr each.
        let moved = cpu
            .download(&p)
            .unwrap()
            .iter()
            .zip(&p0)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(moved > 1e-3, "moved only {moved}");
    }
}

#[test]
fn adam_first_step_moves_each_parameter_by_lr_against_its_gradient() {
    // With zero moments, step 1 gives m = (1-β1)g, v = (1-β2)g², so p moves by lr·g/(|g| + ε/sqrt(1-β2)).
    let cpu = Cpu::new();
    let g = [0.5f32, -0.25, 1.0, -0.75];
    let (p, m, v) = (
        cpu.zeros::<f32>(4).unwrap(),
        cpu.zeros::<f32>(4).unwrap(),
        cpu.zeros::<f32>(4).unwrap(),
    );
    cpu.adam(&AdamStep::default(), &p, &cpu.upload(&g).unwrap(), &m, &v)
        .unwrap();
    let eps_hat = 1e-7 / (1.0f64 - 0.999).sqrt();
    let want: Vec<f64> = g
        .iter()
        .map(|&g| -1e-3 * g as f64 / ((g as f64).abs() + eps_hat))
        .collect();
    assert_close("p", &cpu.download(&p).unwrap(), &want, 1e-9, 1e-5);
}

/// Keras's SGD in f64: v = momentum·v - lr·g; p += v, or p += momentum·v - lr·g (Nesterov).
fn sgd_f64(hp: &SgdStep, p: &mut [f64], g: &[f64], v: &mut [f64]) {
    let (lr, mu) = (hp.lr as f64, hp.momentum as f64);
    for i in 0..p.len() {
        v[i] = mu * v[i] - lr * g[i];
        p[i] += if hp.nesterov {
            mu * v[i] - lr * g[i]
        } else {
            v[i]
        };
    }
}

#[test]
fn sgd_follows_the_keras_formulas_over_many_steps() {
    let cpu = Cpu::new();
    let mut rng = TestRng::new(2);
    for (momentum, nesterov) in [(0.0, false), (0.9, false), (0.9, true), (0.5, true)] {
        for n in [1, 13, 70_001] {
            let hp = SgdStep {
                lr: 0.01,
                momentum,
                nesterov,
            };
            let p0 = rng.values(n);
            let (p, v) = (cpu.upload(&p0).unwrap(), cpu.zeros::<f32>(n).unwrap());
            let (mut rp, mut rv) = (to_f64(&p0), vec![0.0; n]);
            for _ in 0..20 {
                let g = rng.values(n);
                cpu.sgd(&hp, &p, &cpu.upload(&g).unwrap(), &v).unwrap();
                sgd_f64(&hp, &mut rp, &to_f64(&g), &mut rv);
            }
            let case = format!("momentum {momentum} nesterov {nesterov} n {n}");
            assert_close(
                &format!("p ({case})"),
                &cpu.download(&p).unwrap(),
                &rp,
                2e-6,
                0.0,
            );
            assert_close(
                &format!("v ({case})"),
                &cpu.download(&v).unwrap(),
                &rv,
                1e-7,
                1e-5,
            );
        }
    }
}

/// Central differences of `f` at `x` for every coordinate, in f64.
fn finite_differences(x: &[f64], h: f64, f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut x = x.to_vec();
    (0..x.len())
        .map(|i| {
            let keep = x[i];
            x[i] = keep + h;
            let up = f(&x);
            x[i] = keep - h;
            let down = f(&x);
            x[i] = keep;
            (up - down) / (2.0 * h)
        })
        .collect()
}

#[test]
fn relu_backward_is_the_derivative_of_relu() {
    // L(x) = Σ w·relu(x): dL/dx = w where x > 0, else 0. Inputs keep |x| ≥ 0.05, away from the kink.
    let cpu = Cpu::new();
    let mut rng = TestRng::new(3);
    for n in [1, 10, 257, 70_001] {
        let (x, w) = (rng.values(n), rng.values(n));
        let y = cpu.zeros::<f32>(n).unwrap();
        cpu.relu(&cpu.upload(&x).unwrap(), &y).unwrap();
        let grad = cpu.zeros::<f32>(n).unwrap();
        cpu.relu_backward(&y, &cpu.upload(&w).unwrap(), &grad)
            .unwrap();
        let w64 = to_f64(&w);
        let loss = |x: &[f64]| x.iter().zip(&w64).map(|(x, w)| w * x.max(0.0)).sum::<f64>();
        if n <= 257 {
            let fd = finite_differences(&to_f64(&x), 1e-3, loss);
            assert_close("relu grad", &cpu.download(&grad).unwrap(), &fd, 1e-9, 1e-9);
        } else {
            // Too many coordinates for a full sweep: L is linear per coordinate, so check a sample.
            let g = cpu.download(&grad).unwrap();
            for i in (0..n).step_by(997) {
                let want = if x[i] > 0.0 { w[i] } else { 0.0 };
                assert_eq!(g[i], want, "[{i}]");
            }
        }
    }
}

/// grad_scale · Σ_r Σ_c -t_c log softmax(x_r)[c], the target `t = (1 - ε)·onehot(label_r) + ε / classes`, in
/// f64 from the definition (log-softmax with the row max subtracted).
fn cross_entropy_f64(
    x: &[f64],
    labels: &[u32],
    classes: usize,
    grad_scale: f64,
    smoothing: f64,
) -> f64 {
    x.chunks(classes)
        .zip(labels)
        .map(|(row, &label)| {
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let log_sum = row.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
            let loss: f64 = row
                .iter()
                .enumerate()
                .map(|(c, v)| {
                    let onehot = if c == label as usize { 1.0 } else { 0.0 };
                    let target = (1.0 - smoothing) * onehot + smoothing / classes as f64;
                    -target * (v - max - log_sum)
                })
                .sum();
            grad_scale * loss
        })
        .sum()
}

#[test]
fn softmax_cross_entropy_gradient_is_the_derivative_of_its_loss() {
    let cpu = Cpu::new();
    let mut rng = TestRng::new(4);
    for (rows, classes, smoothing) in [
        (1, 1, 0.0),
        (1, 10, 0.0),
        (3, 2, 0.0),
        (64, 10, 0.0),
        (5, 37, 0.0),
        (1, 10, 0.1),
        (64, 10, 0.1),
        (5, 37, 0.3),
    ] {
        let x: Vec<f32> = rng.values(rows * classes).iter().map(|v| 3.0 * v).collect();
        let labels: Vec<u32> = (0..rows)
            .map(|_| rng.below(classes as u64) as u32)
            .collect();
        let spec = SoftmaxCrossEntropy {
            rows,
            classes,
            grad_scale: 1.0 / rows as f32,
            label_smoothing: smoothing as f32,
        };
        let grad = cpu.zeros::<f32>(rows * classes).unwrap();
        let stats = cpu.upload(&[0.5f32, 2.0]).unwrap();
        let (cx, cl) = (cpu.upload(&x).unwrap(), cpu.upload(&labels).unwrap());
        cpu.softmax_cross_entropy(&spec, &cx, &cl, Some(&grad), &stats)
            .unwrap();

        let scale = spec.grad_scale as f64;
        let fd = finite_differences(&to_f64(&x), 1e-4, |x| {
            cross_entropy_f64(x, &labels, classes, scale, smoothing)
        });
        // Truncation error h²·f'''/6 is below 1e-8; the f32 kernel keeps about 7 digits of values below 1.
        assert_close(
            "grad",
            &cpu.download(&grad).unwrap(),
            &fd,
            1e-6 * scale,
            0.0,
        );

        // The forward loss (unscaled) and the hit count accumulate onto the stats.
        let loss = cross_entropy_f64(&to_f64(&x), &labels, classes, 1.0, smoothing);
        let hits = x
            .chunks(classes)
            .zip(&labels)
            .filter(|(row, l)| {
                let best = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                row.iter().position(|&v| v == best) == Some(**l as usize)
            })
            .count();
        assert_close(
            "stats",
            &cpu.download(&stats).unwrap(),
            &[0.5 + loss, 2.0 + hits as f64],
            1e-6 * rows as f64,
            1e-6,
        );
    }
}

#[test]
fn softmax_and_its_loss_are_stable_for_huge_logits() {
    // exp(1000) overflows f32; subtracting the row max keeps every exponent at most 0.
    let cpu = Cpu::new();
    let x = cpu
        .upload(&[1000.0f32, 1001.0, 999.0, -1000.0, -1001.0, -1002.0])
        .unwrap();
    let probs = cpu.zeros::<f32>(6).unwrap();
    cpu.softmax(&x, 2, 3, &probs).unwrap();
    let row = [0.0f64, 1.0, -1.0];
    let denom: f64 = row.iter().map(|v| v.exp()).sum();
    let want: Vec<f64> = [row, [0.0, -1.0, -2.0]]
        .iter()
        .flat_map(|r| {
            let d: f64 = r.iter().map(|v| v.exp()).sum();
            r.iter().map(move |v| v.exp() / d).collect::<Vec<_>>()
        })
        .collect();
    assert_close("softmax", &cpu.download(&probs).unwrap(), &want, 1e-7, 1e-6);

    let spec = SoftmaxCrossEntropy {
        rows: 2,
        classes: 3,
        grad_scale: 1.0,
        label_smoothing: 0.0,
    };
    let stats = cpu.zeros::<f32>(2).unwrap();
    let grad = cpu.zeros::<f32>(6).unwrap();
    cpu.softmax_cross_entropy(
        &spec,
        &x,
        &cpu.upload(&[1u32, 0]).unwrap(),
        Some(&grad),
        &stats,
    )
    .unwrap();
    let loss = (denom.ln() - 1.0) + (1.0 + (-1f64).exp() + (-2f64).exp()).ln();
    assert_close(
        "stats",
        &cpu.download(&stats).unwrap(),
        &[loss, 2.0],
        1e-6,
        1e-6,
    );
    assert!(cpu.download(&grad).unwrap().iter().all(|g| g.is_finite()));
}

#[test]
fn bad_shapes_and_labels_are_typed_errors() {
    let cpu = Cpu::new();
    let (a, b) = (cpu.zeros::<f32>(3).unwrap(), cpu.zeros::<f32>(4).unwrap());
    assert!(cpu.add(&a, &b, &a.clone()).is_err());
    let spec = SoftmaxCrossEntropy {
        rows: 1,
        classes: 3,
        grad_scale: 1.0,
        label_smoothing: 0.0,
    };
    let stats = cpu.zeros::<f32>(2).unwrap();
    let err = cpu
        .softmax_cross_entropy(&spec, &a, &cpu.upload(&[3u32]).unwrap(), None, &stats)
        .unwrap_err();
    assert!(err.to_string().contains("label 3"), "{err}");
    let err = cpu
        .sum_axis(&cpu.zeros::<f32>(0).unwrap(), [1, 0, 3], true, &a)
        .unwrap_err();
    assert!(err.to_string().contains("empty axis"), "{err}");
}
