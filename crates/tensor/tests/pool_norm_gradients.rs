//! The CPU pooling and batch normalisation gradients against central finite differences of f64 references
//! written from the definitions (PyTorch's semantics), independent of the kernels: an independent check of the
//! backward formulas and of the forward reference the GPU kernels are compared with.

use digits_tensor::conformance::TestRng;
use digits_tensor::{Backend, BatchNorm, BatchNormOps, Cpu, Pool2d, PoolOps};

/// Central differences of `f` at `x` with respect to each element.
fn finite_differences(x: &[f64], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let h = 1e-4;
    let mut p = x.to_vec();
    (0..p.len())
        .map(|i| {
            let v = p[i];
            p[i] = v + h;
            let up = f(&p);
            p[i] = v - h;
            let down = f(&p);
            p[i] = v;
            (up - down) / (2.0 * h)
        })
        .collect()
}

fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// `Σ r · y`, so that `dL/dy = r` is the output gradient the backward kernels are given.
fn dot(y: &[f64], r: &[f64]) -> f64 {
    y.iter().zip(r).map(|(y, r)| y * r).sum()
}

/// `|got - want| <= 1e-4 · (1 + |want|)`: the CPU works in f32 on sums of a few dozen terms below 1 (error
/// near 1e-6) and the f64 differences are exact to about 1e-9 for these piecewise-linear or smooth functions,
/// while a missing or misplaced term is off by at least 0.05 / window².
fn assert_close(what: &str, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (f64::from(g) - w).abs() <= 1e-4 * (1.0 + w.abs()),
            "{what}: [{i}] cpu {g}, finite differences {w}"
        );
    }
}

/// Pooling in f64 from the definition: each window's taps inside the input, reduced to their maximum (`max`)
/// or to their sum divided by `window²` (padded zeros count in the mean).
fn pool_f64(s: &Pool2d, x: &[f64], max: bool) -> Vec<f64> {
    let (oh, ow) = (s.out_height(), s.out_width());
    let mut y = Vec::with_capacity(s.output_len());
    for plane in 0..s.batch * s.channels {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut taps = Vec::new();
                for ky in 0..s.window {
                    for kx in 0..s.window {
                        let iy = (oy * s.stride + ky) as isize - s.padding as isize;
                        let ix = (ox * s.stride + kx) as isize - s.padding as isize;
                        if (0..s.height as isize).contains(&iy)
                            && (0..s.width as isize).contains(&ix)
                        {
                            taps.push(x[(plane * s.height + iy as usize) * s.width + ix as usize]);
                        }
                    }
                }
                y.push(if max {
                    taps.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                } else {
                    taps.iter().sum::<f64>() / (s.window * s.window) as f64
                });
            }
        }
    }
    y
}

fn pool_shapes() -> Vec<Pool2d> {
    vec![
        Pool2d::new(2, 3, (6, 6), 2),
        Pool2d::new(1, 2, (7, 5), 3).stride(2),
        Pool2d::new(2, 2, (5, 5), 3).stride(1).padding(1),
        Pool2d::new(1, 3, (9, 8), 4).stride(3).padding(2),
        Pool2d::new(3, 1, (4, 4), 2).stride(1),
    ]
}

#[test]
fn avg_pool_gradients_match_finite_differences() {
    let cpu = Cpu::new();
    let mut rng = TestRng::new(0xa1);
    for s in pool_shapes() {
        let x = widen(&rng.values(s.input_len()));
        let r = widen(&rng.values(s.output_len()));
        let y = cpu.zeros::<f32>(s.output_len()).unwrap();
        cpu.avg_pool2d(&s, &cpu.upload(&f32s(&x)).unwrap(), &y)
            .unwrap();
        assert_close(
            &format!("avg forward {s:?}"),
            &y.read(),
            &pool_f64(&s, &x, false),
        );
        let dx = cpu.zeros::<f32>(s.input_len()).unwrap();
        cpu.avg_pool2d_backward(&s, &cpu.upload(&f32s(&r)).unwrap(), &dx)
            .unwrap();
        let want = finite_differences(&x, |x| dot(&pool_f64(&s, x, false), &r));
        assert_close(&format!("avg gradient {s:?}"), &dx.read(), &want);
    }
}

#[test]
fn max_pool_gradients_match_finite_differences() {
    let cpu = Cpu::new();
    let mut rng = TestRng::new(0xa2);
    for s in pool_shapes() {
        // Distinct values at least 1e-3 apart, so that no step of 1e-4 changes which tap is the maximum.
        let mut x: Vec<f64> = (0..s.input_len()).map(|i| i as f64 * 1e-3).collect();
        for i in (1..x.len()).rev() {
            x.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let r = widen(&rng.values(s.output_len()));
        let (y, arg) = (
            cpu.zeros::<f32>(s.output_len()).unwrap(),
            cpu.zeros::<u32>(s.output_len()).unwrap(),
        );
        cpu.max_pool2d(&s, &cpu.upload(&f32s(&x)).unwrap(), &y, &arg)
            .unwrap();
        assert_close(
            &format!("max forward {s:?}"),
            &y.read(),
            &pool_f64(&s, &x, true),
        );
        let dx = cpu.zeros::<f32>(s.input_len()).unwrap();
        cpu.max_pool2d_backward(&s, &cpu.upload(&f32s(&r)).unwrap(), &arg, &dx)
            .unwrap();
        let want = finite_differences(&x, |x| dot(&pool_f64(&s, x, true), &r));
        assert_close(&format!("max gradient {s:?}"), &dx.read(), &want);
    }
}

/// Training-mode batch normalisation in f64 from its definition: per channel, the batch mean and biased
/// variance over samples and pixels.
fn batch_norm_f64(s: &BatchNorm, x: &[f64], gamma: &[f64], beta: &[f64]) -> Vec<f64> {
    let mut y = vec![0.0; x.len()];
    let m = (s.batch * s.pixels) as f64;
    for c in 0..s.channels {
        let at = |j: usize| (j / s.pixels * s.channels + c) * s.pixels + j % s.pixels;
        let elements: Vec<usize> = (0..s.batch * s.pixels).map(at).collect();
        let mean = elements.iter().map(|&i| x[i]).sum::<f64>() / m;
        let var = elements.iter().map(|&i| (x[i] - mean).powi(2)).sum::<f64>() / m;
        for &i in &elements {
            y[i] = (x[i] - mean) / (var + f64::from(s.eps)).sqrt() * gamma[c] + beta[c];
        }
    }
    y
}

#[test]
fn batch_norm_gradients_match_finite_differences() {
    let cpu = Cpu::new();
    let mut rng = TestRng::new(0xb1);
    for (batch, channels, pixels) in [(4, 3, 5), (8, 2, 1), (2, 3, 9), (3, 1, 16)] {
        let s = BatchNorm {
            batch,
            channels,
            pixels,
            eps: 1e-5,
            momentum: 0.1,
        };
        let len = batch * channels * pixels;
        let (x, r) = (widen(&rng.values(len)), widen(&rng.values(len)));
        let (gamma, beta) = (widen(&rng.values(channels)), widen(&rng.values(channels)));
        let up = |v: &[f64]| cpu.upload(&f32s(v)).unwrap();
        let (cx, cgamma, cbeta) = (up(&x), up(&gamma), up(&beta));
        let y = cpu.zeros::<f32>(len).unwrap();
        let saved = [
            cpu.zeros::<f32>(channels).unwrap(),
            cpu.zeros::<f32>(channels).unwrap(),
        ];
        let running = [
            cpu.zeros::<f32>(channels).unwrap(),
            up(&vec![1.0; channels]),
        ];
        cpu.batch_norm_train(
            &s,
            &cx,
            &cgamma,
            &cbeta,
            &y,
            [&saved[0], &saved[1]],
            [&running[0], &running[1]],
        )
        .unwrap();
        let what = format!("batch norm {batch}x{channels}x{pixels}");
        assert_close(
            &format!("{what} forward"),
            &y.read(),
            &batch_norm_f64(&s, &x, &gamma, &beta),
        );

        let grads = [
            cpu.zeros::<f32>(channels).unwrap(),
            cpu.zeros::<f32>(channels).unwrap(),
        ];
        let dx = cpu.zeros::<f32>(len).unwrap();
        cpu.batch_norm_backward(
            &s,
            &cx,
            &up(&r),
            &cgamma,
            [&saved[0], &saved[1]],
            [&grads[0], &grads[1]],
            Some(&dx),
        )
        .unwrap();
        let want = finite_differences(&x, |x| dot(&batch_norm_f64(&s, x, &gamma, &beta), &r));
        assert_close(&format!("{what} input gradient"), &dx.read(), &want);
        let want = finite_differences(&gamma, |g| dot(&batch_norm_f64(&s, &x, g, &beta), &r));
        assert_close(&format!("{what} gamma gradient"), &grads[0].read(), &want);
        let want = finite_differences(&beta, |b| dot(&batch_norm_f64(&s, &x, &gamma, b), &r));
        assert_close(&format!("{what} beta gradient"), &grads[1].read(), &want);
    }
}
