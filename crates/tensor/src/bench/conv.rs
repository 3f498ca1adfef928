//! Benchmark cases of the convolution and pooling kernels on the MNIST network's shapes (conv 1→32 on
//! 28×28, conv 32→64 on 13×13, 2×2 pools on 26×26×32 and 11×11×64), at batch 64 and 256, on both backends.
//! Each convolution kernel also runs with each GPU variant ([`ConvVariant`]) by name.
//! Convolutions count floating-point operations (each backward kernel does as many as the forward pass);
//! pooling counts bytes moved.

use super::{Case, Run, Work, values};
use crate::{Backend, Conv2d, ConvOps, ConvVariant, Cpu, Gpu, Pool2d, PoolOps, Result};

/// The network's convolutions at a batch, with bias and ReLU fused as the layers run them.
pub fn mnist_convs(batch: usize) -> [(&'static str, Conv2d); 2] {
    [
        ("conv1", Conv2d::new(batch, 1, 32, (28, 28), (3, 3)).relu()),
        ("conv2", Conv2d::new(batch, 32, 64, (13, 13), (3, 3)).relu()),
    ]
}

/// The network's pools at a batch.
pub fn mnist_pools(batch: usize) -> [(&'static str, Pool2d); 2] {
    [
        ("pool1", Pool2d::new(batch, 32, (26, 26), 2)),
        ("pool2", Pool2d::new(batch, 64, (11, 11), 2)),
    ]
}

/// One convolution's operands: input, weights, bias, output (also the output gradient) and gradients.
struct ConvBuffers<B: Backend> {
    x: B::Buf<f32>,
    w: B::Buf<f32>,
    bias: B::Buf<f32>,
    y: B::Buf<f32>,
    dx: B::Buf<f32>,
    dw: B::Buf<f32>,
    db: B::Buf<f32>,
}

impl<B: Backend> ConvBuffers<B> {
    fn new(b: &B, spec: &Conv2d) -> Result<Self> {
        Ok(ConvBuffers {
            x: b.upload(&values(spec.input_len()))?,
            w: b.upload(&values(spec.weight_len()))?,
            bias: b.upload(&values(spec.out_channels))?,
            y: b.upload(&values(spec.output_len()))?,
            dx: b.zeros::<f32>(spec.input_len())?,
            dw: b.zeros::<f32>(spec.weight_len())?,
            db: b.zeros::<f32>(spec.out_channels)?,
        })
    }
}

/// The convolution kernels by name: `forward`, `backward_input`, `backward_weight` (with the bias gradient).
fn conv_setup<B: ConvOps>(b: &B, kernel: &'static str, spec: Conv2d) -> Result<Run<B>> {
    let t = ConvBuffers::new(b, &spec)?;
    Ok(Box::new(move |b: &B| match kernel {
        "forward" => b.conv2d(&spec, &t.x, &t.w, Some(&t.bias), &t.y),
        "backward_input" => b.conv2d_backward_input(&spec, &t.y, &t.w, &t.dx),
        _ => b.conv2d_backward_weight(&spec, &t.x, &t.y, &t.dw, Some(&t.db)),
    }))
}

/// A convolution kernel by name, as in [`conv_setup`], with a chosen GPU variant: to compare what
/// [`ConvOps`] picks with the rest.
fn conv_variant_setup(
    gpu: &Gpu,
    variant: ConvVariant,
    kernel: &'static str,
    spec: Conv2d,
) -> Result<Run<Gpu>> {
    let t = ConvBuffers::new(gpu, &spec)?;
    Ok(Box::new(move |gpu: &Gpu| match kernel {
        "forward" => gpu.conv2d_with(variant, &spec, &t.x, &t.w, Some(&t.bias), &t.y),
        "backward_input" => gpu.conv2d_backward_input_with(variant, &spec, &t.y, &t.w, &t.dx),
        _ => gpu.conv2d_backward_weight_with(variant, &spec, &t.x, &t.y, &t.dw, Some(&t.db)),
    }))
}

/// `forward` (values and argmax) or `backward`.
fn pool_setup<B: PoolOps>(b: &B, kernel: &'static str, spec: Pool2d) -> Result<Run<B>> {
    let x = b.upload(&values(spec.input_len()))?;
    let (y, dx) = (
        b.upload(&values(spec.output_len()))?,
        b.zeros::<f32>(spec.input_len())?,
    );
    let arg = b.zeros::<u32>(spec.output_len())?;
    b.max_pool2d(&spec, &x, &y, &arg)?;
    Ok(Box::new(move |b: &B| match kernel {
        "forward" => b.max_pool2d(&spec, &x, &y, &arg),
        _ => b.max_pool2d_backward(&spec, &y, &arg, &dx),
    }))
}

/// Every convolution and pooling case.
pub fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for batch in [64, 256] {
        for (layer, spec) in mnist_convs(batch) {
            let shape = format!(
                "{batch}x{}x{}x{} k{}x{}",
                spec.in_channels, spec.height, spec.width, spec.out_channels, spec.kernel_h
            );
            for kernel in ["forward", "backward_input", "backward_weight"] {
                let case = Case::new(
                    format!("{layer} {kernel}"),
                    shape.clone(),
                    Work::Flops(spec.flops()),
                );
                cases.push(
                    case.cpu(move |cpu: &Cpu| conv_setup(cpu, kernel, spec))
                        .gpu(move |gpu: &Gpu| conv_setup(gpu, kernel, spec)),
                );
            }
            for kernel in ["forward", "backward_input", "backward_weight"] {
                for variant in ConvVariant::ALL {
                    let name = format!("{layer} {kernel} {variant:?}").to_lowercase();
                    let case = Case::new(name, shape.clone(), Work::Flops(spec.flops()));
                    cases.push(
                        case.gpu(move |gpu: &Gpu| conv_variant_setup(gpu, variant, kernel, spec)),
                    );
                }
            }
        }
        for (layer, spec) in mnist_pools(batch) {
            let shape = format!("{batch}x{}x{}x{}", spec.channels, spec.height, spec.width);
            // Forward reads the input, writes values and indices; backward reads both outputs, writes the input.
            let bytes = 4 * (spec.input_len() + 2 * spec.output_len()) as u64;
            for kernel in ["forward", "backward"] {
                let case = Case::new(
                    format!("{layer} max_pool {kernel}"),
                    shape.clone(),
                    Work::Bytes(bytes),
                );
                cases.push(
                    case.cpu(move |cpu: &Cpu| pool_setup(cpu, kernel, spec))
                        .gpu(move |gpu: &Gpu| pool_setup(gpu, kernel, spec)),
                );
            }
        }
    }
    cases
}
