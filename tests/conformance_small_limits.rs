//! Kernels that cut their work into pieces, on a device opened with small limits: 128 KiB storage bindings
//! and 2-D textures of 64 texels a side. The GEMM splits A and C into bands of rows, the convolutions and
//! the pools the batch into pieces that fit a binding, and the texture convolutions into pieces that fit a
//! texture;
//! with the default limits (128 MiB, 16384 texels on lavapipe) no test shape reaches those paths. Each
//! result is compared with the CPU's, within `Tolerance::for_sum` of its number of terms.

mod common;

use digits_tensor::conformance::{TestRng, Tolerance};
use digits_tensor::gpu::adapter::open_adapter;
use digits_tensor::{
    AdapterRequest, Backend, Conv2d, ConvOps, ConvVariant, Cpu, Gemm, GemmOps, Gpu, Pool2d, PoolOps,
};

fn gpu_with_small_limits() -> Option<Gpu> {
    // The same skip-or-fail rule as every GPU test when there is no adapter.
    common::gpu()?;
    let adapter = open_adapter(&AdapterRequest::default()).unwrap();
    let limits = wgpu::Limits {
        max_storage_buffer_binding_size: 128 << 10,
        max_texture_dimension_2d: 64,
        ..adapter.limits()
    };
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        required_limits: limits,
        ..Default::default()
    }))
    .unwrap();
    Some(Gpu::from_device(adapter.get_info(), device, queue))
}

fn assert_close(what: &str, gpu: &[f32], cpu: &[f32], tol: Tolerance) {
    assert_eq!(gpu.len(), cpu.len(), "{what}");
    for (i, (&g, &c)) in gpu.iter().zip(cpu).enumerate() {
        assert!(
            (g - c).abs() <= tol.abs + tol.rel * c.abs(),
            "{what}: [{i}] gpu {g}, cpu {c} (tolerance {tol})"
        );
    }
}

/// Every buffer of these is over one 32768-float binding in all, each image under it, and every padded
/// image stack taller than 64 texels; their weight textures fit 64 texels (at most 16 taps × channel quads).
fn piece_specs() -> [Conv2d; 3] {
    [
        Conv2d::new(64, 4, 4, (12, 12), (3, 3)).padding(1).relu(),
        Conv2d::new(30, 16, 12, (10, 10), (2, 2)).stride(2),
        Conv2d::new(25, 32, 24, (8, 8), (1, 1)).relu(),
    ]
}

#[test]
fn convolutions_in_pieces_match_the_cpu_with_every_kernel() {
    let Some(gpu) = gpu_with_small_limits() else {
        return;
    };
    let cpu = Cpu::new();
    let mut rng = TestRng::new(0x91ece);
    for spec in piece_specs() {
        let limit = gpu.max_binding_elements::<f32>();
        assert!(
            spec.input_len() > limit || spec.output_len() > limit,
            "{spec:?}"
        );
        let (x, w, b, dy) = (
            rng.values(spec.input_len()),
            rng.values(spec.weight_len()),
            rng.values(spec.out_channels),
            rng.values(spec.output_len()),
        );
        let (cx, cw, cb, cdy) = (
            cpu.upload(&x).unwrap(),
            cpu.upload(&w).unwrap(),
            cpu.upload(&b).unwrap(),
            cpu.upload(&dy).unwrap(),
        );
        let (y, dx) = (
            cpu.zeros::<f32>(spec.output_len()).unwrap(),
            cpu.zeros::<f32>(spec.input_len()).unwrap(),
        );
        let (dw, db) = (
            cpu.zeros::<f32>(spec.weight_len()).unwrap(),
            cpu.zeros::<f32>(spec.out_channels).unwrap(),
        );
        cpu.conv2d(&spec, &cx, &cw, Some(&cb), &y).unwrap();
        cpu.conv2d_backward_input(&spec, &cdy, &cw, &dx).unwrap();
        cpu.conv2d_backward_weight(&spec, &cx, &cdy, &dw, Some(&db))
            .unwrap();

        let (gx, gw, gb, gdy) = (
            gpu.upload(&x).unwrap(),
            gpu.upload(&w).unwrap(),
            gpu.upload(&b).unwrap(),
            gpu.upload(&dy).unwrap(),
        );
        for variant in ConvVariant::ALL {
            assert!(variant.supports(&gpu, &spec), "{variant:?} {spec:?}");
            let what = |pass: &str| format!("{pass} {variant:?} {spec:?}");
            let out = gpu.upload(&vec![f32::NAN; spec.output_len()]).unwrap();
            gpu.conv2d_with(variant, &spec, &gx, &gw, Some(&gb), &out)
                .unwrap();
            let tol = Tolerance::for_sum(spec.patch_len() + 1);
            assert_close(
                &what("forward"),
                &gpu.download(&out).unwrap(),
                &y.read(),
                tol,
            );

            let grad_in = gpu.upload(&vec![f32::NAN; spec.input_len()]).unwrap();
            gpu.conv2d_backward_input_with(variant, &spec, &gdy, &gw, &grad_in)
                .unwrap();
            let tol = Tolerance::for_sum(spec.out_channels * spec.kernel_h * spec.kernel_w);
            assert_close(
                &what("input gradient"),
                &gpu.download(&grad_in).unwrap(),
                &dx.read(),
                tol,
            );

            let grad_w = gpu.upload(&vec![f32::NAN; spec.weight_len()]).unwrap();
            let grad_b = gpu.upload(&vec![f32::NAN; spec.out_channels]).unwrap();
            gpu.conv2d_backward_weight_with(variant, &spec, &gx, &gdy, &grad_w, Some(&grad_b))
                .unwrap();
            let tol = Tolerance::for_sum(spec.batch * spec.out_height() * spec.out_width());
            assert_close(
                &what("weight gradient"),
                &gpu.download(&grad_w).unwrap(),
                &dw.read(),
                tol,
            );
            assert_close(
                &what("bias gradient"),
                &gpu.download(&grad_b).unwrap(),
                &db.read(),
                tol,
            );
        }
    }
}

#[test]
fn gemm_in_bands_of_rows_matches_the_cpu() {
    let Some(gpu) = gpu_with_small_limits() else {
        return;
    };
    let cpu = Cpu::new();
    let mut rng = TestRng::new(0xba2d);
    // A (1000×64) and C (1000×40) are each over one binding; B is under it.
    let spec = Gemm::new(1000, 40, 64);
    let (a, b, bias) = (
        rng.values(spec.m * spec.k),
        rng.values(spec.k * spec.n),
        rng.values(spec.n),
    );
    let want = cpu.zeros::<f32>(spec.m * spec.n).unwrap();
    let cb = cpu.upload(&bias).unwrap();
    cpu.gemm(
        &spec,
        &cpu.upload(&a).unwrap(),
        &cpu.upload(&b).unwrap(),
        Some(&cb),
        &want,
    )
    .unwrap();
    let got = gpu.upload(&vec![f32::NAN; spec.m * spec.n]).unwrap();
    let gb = gpu.upload(&bias).unwrap();
    gpu.gemm(
        &spec,
        &gpu.upload(&a).unwrap(),
        &gpu.upload(&b).unwrap(),
        Some(&gb),
        &got,
    )
    .unwrap();
    assert_close(
        "gemm in bands",
        &gpu.download(&got).unwrap(),
        &want.read(),
        Tolerance::for_sum(spec.k + 1),
    );
}

#[test]
fn max_pooling_in_pieces_matches_the_cpu_exactly() {
    let Some(gpu) = gpu_with_small_limits() else {
        return;
    };
    let cpu = Cpu::new();
    let mut rng = TestRng::new(0x9001);
    // 80 images of 3×13×11 (429 floats each, odd sizes): 34320 floats, over one 32768-float binding.
    let spec = Pool2d::new(80, 3, (13, 11), 2);
    assert!(spec.input_len() > gpu.max_binding_elements::<f32>());
    let (x, dy) = (rng.values(spec.input_len()), rng.values(spec.output_len()));
    let (y, arg, dx) = (
        cpu.zeros::<f32>(spec.output_len()).unwrap(),
        cpu.zeros::<u32>(spec.output_len()).unwrap(),
        cpu.zeros::<f32>(spec.input_len()).unwrap(),
    );
    cpu.max_pool2d(&spec, &cpu.upload(&x).unwrap(), &y, &arg)
        .unwrap();
    cpu.max_pool2d_backward(&spec, &cpu.upload(&dy).unwrap(), &arg, &dx)
        .unwrap();
    let (gy, garg, gdx) = (
        gpu.upload(&vec![f32::NAN; spec.output_len()]).unwrap(),
        gpu.upload(&vec![u32::MAX; spec.output_len()]).unwrap(),
        gpu.upload(&vec![f32::NAN; spec.input_len()]).unwrap(),
    );
    gpu.max_pool2d(&spec, &gpu.upload(&x).unwrap(), &gy, &garg)
        .unwrap();
    gpu.max_pool2d_backward(&spec, &gpu.upload(&dy).unwrap(), &garg, &gdx)
        .unwrap();
    assert_eq!(gpu.download(&gy).unwrap(), cpu.download(&y).unwrap());
    assert_eq!(gpu.download(&garg).unwrap(), cpu.download(&arg).unwrap());
    assert_eq!(gpu.download(&gdx).unwrap(), cpu.download(&dx).unwrap());
}

#[test]
fn a_kernel_whose_textures_do_not_fit_is_a_limit_error_and_not_picked() {
    let Some(gpu) = gpu_with_small_limits() else {
        return;
    };
    // conv2 of the MNIST network: its weight texture is 9 taps × 8 channel quads × 4 = 288 rows.
    let spec = Conv2d::new(2, 32, 64, (13, 13), (3, 3));
    assert!(!ConvVariant::Texture.supports(&gpu, &spec));
    let x = gpu.upload(&vec![0.5; spec.input_len()]).unwrap();
    let w = gpu.upload(&vec![0.25; spec.weight_len()]).unwrap();
    let y = gpu.zeros::<f32>(spec.output_len()).unwrap();
    let err = gpu
        .conv2d_with(ConvVariant::Texture, &spec, &x, &w, None, &y)
        .unwrap_err();
    assert!(
        matches!(err, digits_tensor::TensorError::Limit(ref m) if m.contains("64 texels")),
        "{err}"
    );
    // What `ConvOps` picks instead computes it: every output sums 288 products of 0.5 · 0.25.
    gpu.conv2d(&spec, &x, &w, None, &y).unwrap();
    assert!(gpu.download(&y).unwrap().iter().all(|&v| v == 36.0));
}
