//! The fused losses' gradients (plain, label-smoothed and distillation) against central finite differences
//! of f64 losses written from their definitions, independent of the kernels and their CPU twins' formulas.

use digits_tensor::conformance::TestRng;
use digits_tensor::{Backend, Cpu, Distillation, ReduceOps, SoftmaxCrossEntropy};

fn log_softmax(row: &[f64]) -> Vec<f64> {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let log_sum = row.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
    row.iter().map(|v| v - max - log_sum).collect()
}

/// `grad_scale · Σ_rows [(1 - α)·(-Σ_c t_c log softmax(x)_c) + α·T²·Σ_c p_c (log p_c - log q_c)]`, with
/// `t = (1 - ε)·onehot + ε / classes`, `p = softmax(z / T)`, `q = softmax(x / T)`.
fn loss_f64(spec: &Distillation, x: &[f64], z: &[f64], labels: &[u32]) -> f64 {
    let hard = spec.hard;
    let (t, alpha, eps) = (
        f64::from(spec.temperature),
        f64::from(spec.alpha),
        f64::from(hard.label_smoothing),
    );
    let mut total = 0.0;
    for (r, &label) in labels.iter().enumerate() {
        let row = &x[r * hard.classes..][..hard.classes];
        let teacher = &z[r * hard.classes..][..hard.classes];
        let log_s = log_softmax(row);
        let cross: f64 = (0..hard.classes)
            .map(|c| {
                let target =
                    eps / hard.classes as f64 + if c == label as usize { 1.0 - eps } else { 0.0 };
                -target * log_s[c]
            })
            .sum();
        let log_p = log_softmax(&teacher.iter().map(|v| v / t).collect::<Vec<_>>());
        let log_q = log_softmax(&row.iter().map(|v| v / t).collect::<Vec<_>>());
        let kl: f64 = (0..hard.classes)
            .map(|c| log_p[c].exp() * (log_p[c] - log_q[c]))
            .sum();
        total += (1.0 - alpha) * cross + alpha * t * t * kl;
    }
    f64::from(hard.grad_scale) * total
}

#[test]
fn loss_gradients_match_finite_differences() {
    let cpu = Cpu::new();
    let mut rng = TestRng::new(0x10557);
    for (rows, classes, smoothing, temperature, alpha) in [
        (1, 10, 0.0, 1.0, 0.0),
        (3, 10, 0.1, 1.0, 0.0),
        (4, 7, 0.0, 1.0, 0.5),
        (5, 10, 0.0, 4.0, 0.9),
        (2, 3, 0.1, 2.0, 1.0),
        (6, 13, 0.05, 8.0, 0.7),
    ] {
        let x = rng.values(rows * classes);
        let z: Vec<f32> = rng.values(rows * classes).iter().map(|v| 3.0 * v).collect();
        let labels: Vec<u32> = (0..rows)
            .map(|_| rng.below(classes as u64) as u32)
            .collect();
        let spec = Distillation {
            hard: SoftmaxCrossEntropy {
                rows,
                classes,
                grad_scale: 1.0 / rows as f32,
                label_smoothing: smoothing,
            },
            temperature,
            alpha,
        };
        let grad = cpu.zeros::<f32>(rows * classes).unwrap();
        let stats = cpu.zeros::<f32>(2).unwrap();
        let (xs, zs, ls) = (
            cpu.upload(&x).unwrap(),
            cpu.upload(&z).unwrap(),
            cpu.upload(&labels).unwrap(),
        );
        cpu.distillation_loss(&spec, &xs, &zs, &ls, &grad, &stats)
            .unwrap();
        let got = cpu.download(&grad).unwrap();
        let wide = |v: &[f32]| v.iter().map(|&a| f64::from(a)).collect::<Vec<f64>>();
        let (xw, zw) = (wide(&x), wide(&z));
        let loss = cpu.download(&stats).unwrap()[0];
        let want_loss = loss_f64(&spec, &xw, &zw, &labels) / f64::from(spec.hard.grad_scale);
        assert!(
            (f64::from(loss) - want_loss).abs() <= 1e-5 * (1.0 + want_loss.abs()),
            "{rows}x{classes} T={temperature} α={alpha}: loss {loss}, f64 {want_loss}"
        );
        // With α = 0 the hard loss alone: its own kernel must give the same gradient.
        if alpha == 0.0 {
            let plain = cpu.zeros::<f32>(rows * classes).unwrap();
            cpu.softmax_cross_entropy(
                &spec.hard,
                &xs,
                &ls,
                Some(&plain),
                &cpu.zeros::<f32>(2).unwrap(),
            )
            .unwrap();
            assert_eq!(cpu.download(&plain).unwrap(), got);
        }
        let h = 1e-5;
        for i in 0..x.len() {
            let mut up = xw.clone();
            up[i] += h;
            let mut down = xw.clone();
            down[i] -= h;
            let want = (loss_f64(&spec, &up, &zw, &labels) - loss_f64(&spec, &down, &zw, &labels))
                / (2.0 * h);
            // f32 sums of a dozen terms below T·2 (error near 1e-6) against f64 differences exact to ~1e-10;
            // a missing factor of T or α is off by far more.
            assert!(
                (f64::from(got[i]) - want).abs() <= 2e-5 * (1.0 + want.abs()),
                "{rows}x{classes} T={temperature} α={alpha} ε={smoothing}: [{i}] cpu {}, finite differences {want}",
                got[i]
            );
        }
    }
}
