//! The CPU convolution's gradients against central finite differences of a convolution computed in f64 by
//! direct summation (no im2col, no GEMM): an independent check of both the backward formulas and the
//! forward reference the GPU kernels are compared with.

use digits_tensor::conformance::TestRng;
use digits_tensor::{Backend, Conv2d, ConvOps, Cpu};

/// `y[b, o, oy, ox] = bias[o] + Σ x[b, c, oy·s + ky - p, ox·s + kx - p] · w[o, c, ky, kx]`, in f64.
fn conv_f64(s: &Conv2d, x: &[f64], w: &[f64], bias: &[f64]) -> Vec<f64> {
    let (oh, ow) = (s.out_height(), s.out_width());
    let mut y = vec![0.0; s.output_len()];
    for b in 0..s.batch {
        for o in 0..s.out_channels {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut sum = bias[o];
                    for c in 0..s.in_channels {
                        for ky in 0..s.kernel_h {
                            for kx in 0..s.kernel_w {
                                let iy = (oy * s.stride + ky) as isize - s.padding as isize;
                                let ix = (ox * s.stride + kx) as isize - s.padding as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= s.height as isize
                                    || ix >= s.width as isize
                                {
                                    continue;
                                }
                                let xi = ((b * s.in_channels + c) * s.height + iy as usize)
                                    * s.width
                                    + ix as usize;
                                let wi =
                                    ((o * s.in_channels + c) * s.kernel_h + ky) * s.kernel_w + kx;
                                sum += x[xi] * w[wi];
                            }
                        }
                    }
                    y[((b * s.out_channels + o) * oh + oy) * ow + ox] = sum;
                }
            }
        }
    }
    y
}

/// The loss `L = Σ r · y`, so that `dL/dy = r` is the output gradient fed to the backward kernels.
fn loss(s: &Conv2d, x: &[f64], w: &[f64], bias: &[f64], r: &[f64]) -> f64 {
    conv_f64(s, x, w, bias)
        .iter()
        .zip(r)
        .map(|(y, r)| y * r)
        .sum()
}

/// Central differences of `L` with respect to each element of `param` (which `eval` reads).
fn finite_differences(param: &[f64], eval: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let h = 1e-3;
    let mut p = param.to_vec();
    (0..p.len())
        .map(|i| {
            let v = p[i];
            p[i] = v + h;
            let up = eval(&p);
            p[i] = v - h;
            let down = eval(&p);
            p[i] = v;
            (up - down) / (2.0 * h)
        })
        .collect()
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// `|a - b| <= 1e-4 · (1 + |b|)`: the CPU works in f32 on sums of at most a few hundred products of values
/// below 1, so its error is near 1e-6; 1e-4 still catches any misplaced or missing term (each is ≥ 0.0025).
fn assert_close(what: &str, s: &Conv2d, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (f64::from(g) - w).abs() <= 1e-4 * (1.0 + w.abs()),
            "{what} of {s:?}: [{i}] cpu {g}, finite differences {w}"
        );
    }
}

fn check(s: Conv2d, seed: u64) {
    let mut rng = TestRng::new(seed);
    // Inputs rounded to f32 first, so that the f64 reference sees exactly what the CPU backend sees.
    let x = widen(&rng.values(s.input_len()));
    let w = widen(&rng.values(s.weight_len()));
    let bias = widen(&rng.values(s.out_channels));
    let r = widen(&rng.values(s.output_len()));

    let cpu = Cpu::new();
    let (cx, cw, cb, cr) = (
        cpu.upload(&f32s(&x)).unwrap(),
        cpu.upload(&f32s(&w)).unwrap(),
        cpu.upload(&f32s(&bias)).unwrap(),
        cpu.upload(&f32s(&r)).unwrap(),
    );
    let y = cpu.zeros::<f32>(s.output_len()).unwrap();
    cpu.conv2d(&s, &cx, &cw, Some(&cb), &y).unwrap();
    assert_close("forward", &s, &y.read(), &conv_f64(&s, &x, &w, &bias));

    let dx = cpu.zeros::<f32>(s.input_len()).unwrap();
    cpu.conv2d_backward_input(&s, &cr, &cw, &dx).unwrap();
    let want = finite_differences(&x, |x| loss(&s, x, &w, &bias, &r));
    assert_close("input gradient", &s, &dx.read(), &want);

    let (dw, db) = (
        cpu.zeros::<f32>(s.weight_len()).unwrap(),
        cpu.zeros::<f32>(s.out_channels).unwrap(),
    );
    cpu.conv2d_backward_weight(&s, &cx, &cr, &dw, Some(&db))
        .unwrap();
    let want = finite_differences(&w, |w| loss(&s, &x, w, &bias, &r));
    assert_close("weight gradient", &s, &dw.read(), &want);
    let want = finite_differences(&bias, |b| loss(&s, &x, &w, b, &r));
    assert_close("bias gradient", &s, &db.read(), &want);
}

#[test]
fn valid_convolution_gradients_match_finite_differences() {
    check(Conv2d::new(2, 3, 4, (6, 7), (3, 3)), 1);
}

#[test]
fn strided_padded_non_square_gradients_match_finite_differences() {
    check(Conv2d::new(2, 2, 3, (7, 6), (3, 2)).stride(2).padding(1), 2);
}

#[test]
fn pointwise_and_same_padding_gradients_match_finite_differences() {
    check(Conv2d::new(3, 4, 2, (5, 5), (1, 1)), 3);
    check(Conv2d::new(1, 2, 5, (5, 4), (3, 3)).padding(1), 4);
}

#[test]
fn bad_specs_are_typed_errors() {
    let cpu = Cpu::new();
    let buf = cpu.zeros::<f32>(16).unwrap();
    for spec in [
        Conv2d::new(1, 1, 1, (4, 4), (3, 3)).stride(0),
        Conv2d::new(1, 1, 1, (2, 2), (3, 3)),
        Conv2d::new(1, 0, 1, (4, 4), (3, 3)),
        Conv2d::new(1, 1, 1, (4, 4), (3, 3)).padding(3),
    ] {
        let err = cpu.conv2d(&spec, &buf, &buf, None, &buf).unwrap_err();
        assert!(err.to_string().starts_with("conv2d"), "{err}");
    }
    // Right spec, wrong buffer length.
    let spec = Conv2d::new(1, 1, 1, (4, 4), (3, 3));
    let (x, w, y) = (
        cpu.zeros::<f32>(15).unwrap(),
        cpu.zeros::<f32>(9).unwrap(),
        cpu.zeros::<f32>(4).unwrap(),
    );
    assert!(
        cpu.conv2d(&spec, &x, &w, None, &y)
            .unwrap_err()
            .to_string()
            .contains("input has 15 elements")
    );
}
