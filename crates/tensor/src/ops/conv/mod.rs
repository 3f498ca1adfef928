//! 2-D convolution, NCHW, forward (with fused bias and ReLU) and backward.
//!
//! Tensors are flat buffers: a buffer carries no shape, so flattening `[batch, c, h, w]` into
//! `[batch, c·h·w]` for a dense layer is the same buffer, not a copy. The flatten order is NCHW's (channel,
//! then row, then column), PyTorch's order.
//!
//! The two backends compute the same function by different algorithms:
//! - CPU: im2col into a per-thread scratch buffer and a `matrixmultiply` GEMM per image, parallel over the
//!   batch with rayon; the weight gradient sums fixed chunks of the batch in a fixed order.
//! - GPU: implicit GEMMs with no im2col buffer, each pass with two kernels ([`ConvVariant`]). The forward
//!   pass and, as the transposed convolution of the output gradient, the input gradient:
//!   - `shaders/conv2d.wgsl` computes 16 pixels × 16 channels per invocation from the input directly,
//!     with the weights re-laid out (`shaders/conv2d_layout.wgsl`) into 64 KiB windows bound as a uniform
//!     buffer, which every invocation reads at the same index.
//!   - `shaders/conv2d_texture.wgsl` computes 32 pixels × 16 channels per invocation from textures that
//!     hold the padded input and the weights four channels per texel (`shaders/conv2d_texture_layout.wgsl`):
//!     CPU-emulated adapters fetch a texel for less than half the cost of a storage-buffer load.
//!
//!   The weight and bias gradients: `shaders/conv2d_backward_weight.wgsl` from the buffers, or
//!   `shaders/conv2d_texture_backward_weight.wgsl` from the input's texture and one of the output gradient,
//!   each over fixed slices of the batch, then the slices in order. Every value is summed by one invocation
//!   in a fixed order, with no atomics, so results are bit-identical run to run.
//!
//! ```
//! use digits_tensor::{Backend, Conv2d, ConvOps, Cpu};
//!
//! let cpu = Cpu::new();
//! // One 3x3 image, one 2x2 filter of ones: each output sums a 2x2 window.
//! let spec = Conv2d::new(1, 1, 1, (3, 3), (2, 2));
//! let x = cpu.upload(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])?;
//! let w = cpu.upload(&[1.0f32; 4])?;
//! let y = cpu.zeros::<f32>(spec.output_len())?;
//! cpu.conv2d(&spec, &x, &w, None, &y)?;
//! assert_eq!(cpu.download(&y)?, vec![12.0, 16.0, 24.0, 28.0]);
//! # Ok::<(), digits_tensor::TensorError>(())
//! ```
//!
//! The files: this one holds the shape ([`Conv2d`]), the trait, the GPU kernel choice ([`ConvVariant`]) and
//! the registration; `cpu.rs` the reference, `direct.rs` and `texture.rs` the two GPU kernels of the
//! forward pass and the input gradient, `weight_gradient.rs` the GPU weight and bias gradients.

mod cpu;
mod direct;
mod texture;
mod weight_gradient;

use crate::error::{check_len, shape_error};
use crate::gpu::{Gpu, GpuBuf};
use crate::{Backend, Result, TensorError};
use direct::{DIRECT_CHANNELS, WINDOW};
use texture::TextureGeometry;

/// A convolution of `[batch, in_channels, height, width]` by weights `[out_channels, in_channels, kh, kw]`
/// (PyTorch's layout), giving `[batch, out_channels, out_height, out_width]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Conv2d {
    /// Images in the batch.
    pub batch: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels (filters).
    pub out_channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// Stride in both directions.
    pub stride: usize,
    /// Zero padding on every side (0: "valid"; (k-1)/2 with stride 1: "same").
    pub padding: usize,
    /// Apply `max(x, 0)` after the bias (forward only; backward takes the already-masked gradient).
    pub relu: bool,
}

impl Conv2d {
    /// A stride-1, unpadded ("valid") convolution of `batch` images of `(height, width)` by `(kh, kw)` kernels.
    pub fn new(
        batch: usize,
        in_channels: usize,
        out_channels: usize,
        (height, width): (usize, usize),
        (kernel_h, kernel_w): (usize, usize),
    ) -> Self {
        Conv2d {
            batch,
            in_channels,
            out_channels,
            height,
            width,
            kernel_h,
            kernel_w,
            stride: 1,
            padding: 0,
            relu: false,
        }
    }

    /// Sets the stride.
    pub fn stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }

    /// Sets the zero padding on every side.
    pub fn padding(mut self, padding: usize) -> Self {
        self.padding = padding;
        self
    }

    /// Fuses a ReLU after the bias.
    pub fn relu(mut self) -> Self {
        self.relu = true;
        self
    }

    /// Output height: `(height + 2·padding - kernel_h) / stride + 1`.
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.padding - self.kernel_h) / self.stride + 1
    }
    /// Output width: `(width + 2·padding - kernel_w) / stride + 1`.
    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.padding - self.kernel_w) / self.stride + 1
    }
    /// Elements of the input.
    pub fn input_len(&self) -> usize {
        self.batch * self.in_channels * self.height * self.width
    }
    /// Elements of the weights.
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.in_channels * self.kernel_h * self.kernel_w
    }
    /// Elements of the output.
    pub fn output_len(&self) -> usize {
        self.batch * self.out_channels * self.out_height() * self.out_width()
    }
    /// Floating-point operations of the forward pass (a multiply-add counts two). Each backward kernel
    /// (input gradient, weight gradient) costs the same.
    pub fn flops(&self) -> u64 {
        2 * (self.output_len() * self.in_channels * self.kernel_h * self.kernel_w) as u64
    }

    /// Terms in each output's sum: `in_channels · kernel_h · kernel_w` (the GEMM's k).
    pub fn patch_len(&self) -> usize {
        self.in_channels * self.kernel_h * self.kernel_w
    }

    fn in_image(&self) -> usize {
        self.in_channels * self.height * self.width
    }

    fn out_plane(&self) -> usize {
        self.out_height() * self.out_width()
    }

    fn out_image(&self) -> usize {
        self.out_channels * self.out_plane()
    }

    /// Checks that the spec describes a convolution at all (before any size is computed from it).
    fn validate(&self, op: &'static str) -> Result<()> {
        if self.stride == 0 {
            return Err(shape_error(op, "stride is 0"));
        }
        if self.in_channels == 0
            || self.out_channels == 0
            || self.kernel_h == 0
            || self.kernel_w == 0
        {
            return Err(shape_error(
                op,
                format!("empty channels or kernel in {self:?}"),
            ));
        }
        if self.kernel_h > self.height + 2 * self.padding
            || self.kernel_w > self.width + 2 * self.padding
        {
            return Err(shape_error(
                op,
                format!(
                    "a {}x{} kernel does not fit a {}x{} input padded by {}",
                    self.kernel_h, self.kernel_w, self.height, self.width, self.padding
                ),
            ));
        }
        if self.padding >= self.kernel_h.min(self.kernel_w) {
            // Border outputs would read padding only (and the input gradient's transposed convolution would
            // need a negative padding); no layer wants that.
            return Err(shape_error(
                op,
                format!(
                    "padding {} is not smaller than the {}x{} kernel",
                    self.padding, self.kernel_h, self.kernel_w
                ),
            ));
        }
        let largest = self
            .input_len()
            .max(self.output_len())
            .max(self.weight_len());
        if largest > u32::MAX as usize {
            return Err(TensorError::Limit(format!(
                "{op}: {largest} elements exceed 32-bit indexing"
            )));
        }
        Ok(())
    }

    fn check_forward(
        &self,
        input: usize,
        weight: usize,
        bias: Option<usize>,
        out: usize,
    ) -> Result<()> {
        self.validate("conv2d")?;
        check_len("conv2d", "input", input, self.input_len())?;
        check_len("conv2d", "weight", weight, self.weight_len())?;
        check_len("conv2d", "out", out, self.output_len())?;
        if let Some(bias) = bias {
            check_len("conv2d", "bias", bias, self.out_channels)?;
        }
        Ok(())
    }

    fn check_backward_input(&self, grad_out: usize, weight: usize, grad_in: usize) -> Result<()> {
        const OP: &str = "conv2d_backward_input";
        self.validate(OP)?;
        check_len(OP, "grad_out", grad_out, self.output_len())?;
        check_len(OP, "weight", weight, self.weight_len())?;
        check_len(OP, "grad_in", grad_in, self.input_len())
    }

    fn check_backward_weight(
        &self,
        input: usize,
        grad_out: usize,
        grad_weight: usize,
        grad_bias: Option<usize>,
    ) -> Result<()> {
        const OP: &str = "conv2d_backward_weight";
        self.validate(OP)?;
        check_len(OP, "input", input, self.input_len())?;
        check_len(OP, "grad_out", grad_out, self.output_len())?;
        check_len(OP, "grad_weight", grad_weight, self.weight_len())?;
        if let Some(bias) = grad_bias {
            check_len(OP, "grad_bias", bias, self.out_channels)?;
        }
        Ok(())
    }
}

/// Convolution on a backend.
pub trait ConvOps: Backend {
    /// `out = conv(input, weight) (+ bias[oc]) (ReLU)`.
    fn conv2d(
        &self,
        spec: &Conv2d,
        input: &Self::Buf<f32>,
        weight: &Self::Buf<f32>,
        bias: Option<&Self::Buf<f32>>,
        out: &Self::Buf<f32>,
    ) -> Result<()>;
    /// Gradient of the input from the gradient of the output (overwrites `grad_in`).
    fn conv2d_backward_input(
        &self,
        spec: &Conv2d,
        grad_out: &Self::Buf<f32>,
        weight: &Self::Buf<f32>,
        grad_in: &Self::Buf<f32>,
    ) -> Result<()>;
    /// Gradients of the weights and bias, summed over the batch in a fixed order (bit-reproducible);
    /// overwrites `grad_weight` and `grad_bias`.
    fn conv2d_backward_weight(
        &self,
        spec: &Conv2d,
        input: &Self::Buf<f32>,
        grad_out: &Self::Buf<f32>,
        grad_weight: &Self::Buf<f32>,
        grad_bias: Option<&Self::Buf<f32>>,
    ) -> Result<()>;
}

// ---------------------------------------------------------------------------------------------------------
// GPU: implicit GEMMs.

/// A direct convolution as `shaders/conv2d.wgsl` computes it: the forward pass, or the transposed
/// convolution that gives the input gradient.
#[derive(Clone, Copy, Debug)]
struct Direct {
    images: usize,
    in_channels: usize,
    out_channels: usize,
    in_h: usize,
    in_w: usize,
    out_h: usize,
    out_w: usize,
    kernel_h: usize,
    kernel_w: usize,
    stride: usize,
    pad_y: usize,
    pad_x: usize,
    /// The input is dilated by this (zeros between its values): the stride of the convolution whose input
    /// gradient this is.
    dilation: usize,
    /// The weights are the transposed, flipped weights of that convolution.
    transposed: bool,
    /// Apply `max(x, 0)` after the bias.
    relu: bool,
}

impl Direct {
    fn forward(s: &Conv2d) -> Self {
        Direct {
            images: s.batch,
            in_channels: s.in_channels,
            out_channels: s.out_channels,
            in_h: s.height,
            in_w: s.width,
            out_h: s.out_height(),
            out_w: s.out_width(),
            kernel_h: s.kernel_h,
            kernel_w: s.kernel_w,
            stride: s.stride,
            pad_y: s.padding,
            pad_x: s.padding,
            dilation: 1,
            transposed: false,
            relu: s.relu,
        }
    }

    /// `dx = dy (dilated by the stride) ⋆ flipped transposed w`, padded by `k - 1 - padding`.
    fn input_gradient(s: &Conv2d) -> Self {
        Direct {
            images: s.batch,
            in_channels: s.out_channels,
            out_channels: s.in_channels,
            in_h: s.out_height(),
            in_w: s.out_width(),
            out_h: s.height,
            out_w: s.width,
            kernel_h: s.kernel_h,
            kernel_w: s.kernel_w,
            stride: 1,
            pad_y: s.kernel_h - 1 - s.padding,
            pad_x: s.kernel_w - 1 - s.padding,
            dilation: s.stride,
            transposed: true,
            relu: false,
        }
    }

    fn in_image(&self) -> usize {
        self.in_channels * self.in_h * self.in_w
    }

    fn out_image(&self) -> usize {
        self.out_channels * self.out_h * self.out_w
    }
}

const FLAG_BIAS: u32 = 1;
const FLAG_RELU: u32 = 2;
const FLAG_ACCUMULATE: u32 = 4;

/// Invocations per workgroup of the 1-D conv kernels (`WG` in the shaders).
const WG: u64 = 64;

/// The GPU kernels of the forward pass and the input gradient; [`ConvVariant::pick`] chooses one per device
/// and shape. Both compute the same sums in the same order of taps but group the input channels differently,
/// so results agree to rounding, not bit for bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvVariant {
    /// `shaders/conv2d.wgsl`: the input read from a storage buffer, the weights from 64 KiB uniform
    /// windows. Any shape with at most 1024 taps.
    Direct,
    /// `shaders/conv2d_texture.wgsl`: the padded input and the weights copied into textures, four channels
    /// per texel. Needs both textures to fit the device's 2-D texture size.
    Texture,
}

impl ConvVariant {
    /// Every variant, for conformance tests and benchmarks.
    pub const ALL: [ConvVariant; 2] = [ConvVariant::Direct, ConvVariant::Texture];

    /// Whether the variant can compute the forward pass, the input gradient and the weight gradient of `spec`
    /// on `gpu`.
    pub fn supports(self, gpu: &Gpu, spec: &Conv2d) -> bool {
        match self {
            ConvVariant::Direct => spec.kernel_h * spec.kernel_w * DIRECT_CHANNELS <= WINDOW,
            ConvVariant::Texture => {
                let max = gpu.limits().max_texture_dimension_2d as usize;
                // The weight gradient's texture of the output gradient, too.
                let gradient = spec.out_width() * spec.out_channels.div_ceil(4);
                [Direct::forward(spec), Direct::input_gradient(spec)]
                    .iter()
                    .all(|d| TextureGeometry::of(d).fits(max))
                    && gradient <= max
                    && spec.out_height() <= max
            }
        }
    }

    /// The variant measured fastest for this device and pass (BENCHMARKS.md): textures on CPU-emulated
    /// adapters, unless the texels of the pass's input (`channels`: the input's, or the output gradient's
    /// for the input gradient) would hold fewer than 4 channels and so mostly zeros; the direct kernels on
    /// real GPUs, where the texture kernels are not measured yet.
    fn pick(gpu: &Gpu, spec: &Conv2d, channels: usize) -> ConvVariant {
        if gpu.is_cpu_emulated() && channels >= 4 && ConvVariant::Texture.supports(gpu, spec) {
            ConvVariant::Texture
        } else {
            ConvVariant::Direct
        }
    }
}

impl Gpu {
    /// Runs the forward convolution with a chosen kernel (tests and benchmarks compare them;
    /// [`ConvOps::conv2d`] picks).
    pub fn conv2d_with(
        &self,
        variant: ConvVariant,
        spec: &Conv2d,
        input: &GpuBuf<f32>,
        weight: &GpuBuf<f32>,
        bias: Option<&GpuBuf<f32>>,
        out: &GpuBuf<f32>,
    ) -> Result<()> {
        spec.check_forward(input.len(), weight.len(), bias.map(GpuBuf::len), out.len())?;
        self.check_variant("conv2d", variant, spec)?;
        if spec.batch == 0 {
            return Ok(());
        }
        let d = Direct::forward(spec);
        self.implicit_conv("conv2d", variant, &d, input, weight, bias, out)
    }

    /// Runs the input gradient with a chosen kernel (tests and benchmarks compare them;
    /// [`ConvOps::conv2d_backward_input`] picks).
    pub fn conv2d_backward_input_with(
        &self,
        variant: ConvVariant,
        spec: &Conv2d,
        grad_out: &GpuBuf<f32>,
        weight: &GpuBuf<f32>,
        grad_in: &GpuBuf<f32>,
    ) -> Result<()> {
        spec.check_backward_input(grad_out.len(), weight.len(), grad_in.len())?;
        self.check_variant("conv2d_backward_input", variant, spec)?;
        if spec.batch == 0 {
            return Ok(());
        }
        let d = Direct::input_gradient(spec);
        let op = "conv2d_backward_input";
        self.implicit_conv(op, variant, &d, grad_out, weight, None, grad_in)
    }

    fn check_variant(&self, op: &'static str, variant: ConvVariant, spec: &Conv2d) -> Result<()> {
        if variant.supports(self, spec) {
            return Ok(());
        }
        let why = match variant {
            ConvVariant::Direct => format!(
                "a {}x{} kernel has more than {} taps",
                spec.kernel_h,
                spec.kernel_w,
                WINDOW / DIRECT_CHANNELS
            ),
            ConvVariant::Texture => format!(
                "its textures exceed {} texels a side",
                self.limits().max_texture_dimension_2d
            ),
        };
        Err(TensorError::Limit(format!(
            "{op} with the {variant:?} kernel on {}: {why}",
            self.info().name
        )))
    }

    #[allow(clippy::too_many_arguments)]
    fn implicit_conv(
        &self,
        op: &'static str,
        variant: ConvVariant,
        d: &Direct,
        input: &GpuBuf<f32>,
        weight: &GpuBuf<f32>,
        bias: Option<&GpuBuf<f32>>,
        out: &GpuBuf<f32>,
    ) -> Result<()> {
        match variant {
            ConvVariant::Direct => self.direct_conv(op, d, input, weight, bias, out),
            ConvVariant::Texture => self.texture_conv(op, d, input, weight, bias, out),
        }
    }
}

impl ConvOps for Gpu {
    fn conv2d(
        &self,
        spec: &Conv2d,
        input: &GpuBuf<f32>,
        weight: &GpuBuf<f32>,
        bias: Option<&GpuBuf<f32>>,
        out: &GpuBuf<f32>,
    ) -> Result<()> {
        let variant = ConvVariant::pick(self, spec, spec.in_channels);
        self.conv2d_with(variant, spec, input, weight, bias, out)
    }

    fn conv2d_backward_input(
        &self,
        spec: &Conv2d,
        grad_out: &GpuBuf<f32>,
        weight: &GpuBuf<f32>,
        grad_in: &GpuBuf<f32>,
    ) -> Result<()> {
        // The transposed convolution's input is the output gradient.
        let variant = ConvVariant::pick(self, spec, spec.out_channels);
        self.conv2d_backward_input_with(variant, spec, grad_out, weight, grad_in)
    }

    fn conv2d_backward_weight(
        &self,
        spec: &Conv2d,
        input: &GpuBuf<f32>,
        grad_out: &GpuBuf<f32>,
        grad_weight: &GpuBuf<f32>,
        grad_bias: Option<&GpuBuf<f32>>,
    ) -> Result<()> {
        let variant = ConvVariant::pick(self, spec, spec.in_channels);
        self.conv2d_backward_weight_with(variant, spec, input, grad_out, grad_weight, grad_bias)
    }
}

/// Compiles every convolution pipeline that training uses: the forward pass and the input gradient with
/// the kernels [`ConvVariant::pick`] chooses here (a 1-channel and a 4-channel input), the transposed
/// convolution's stride 1 and 2 (the direct kernel takes the stride as a pipeline constant), both weight
/// layouts, and the weight gradient's two passes.
pub(crate) fn warm_up(gpu: &Gpu) -> Result<()> {
    for (channels, stride) in [(1, 1), (1, 2), (4, 1)] {
        let spec = Conv2d::new(1, channels, channels, (3, 3), (1, 1)).stride(stride);
        let (x, w, b) = (
            gpu.zeros::<f32>(spec.input_len())?,
            gpu.zeros::<f32>(spec.weight_len())?,
            gpu.zeros::<f32>(channels)?,
        );
        let y = gpu.zeros::<f32>(spec.output_len())?;
        gpu.conv2d(&spec, &x, &w, Some(&b), &y)?;
        gpu.conv2d_backward_input(&spec, &y, &w, &x)?;
        gpu.conv2d_backward_weight(&spec, &x, &y, &w, Some(&b))?;
    }
    Ok(())
}

crate::family::family!(
    "conv",
    kernels: [
        CONV2D => "conv2d",
        CONV2D_LAYOUT => "conv2d_layout",
        CONV2D_TEXTURE => "conv2d_texture",
        CONV2D_TEXTURE_LAYOUT => "conv2d_texture_layout",
        CONV2D_TEXTURE_BACKWARD_WEIGHT => "conv2d_texture_backward_weight",
        CONV2D_BACKWARD_WEIGHT => "conv2d_backward_weight",
    ],
    warm_up: warm_up,
    check: crate::conformance::conv::check,
    uniforms: [
        direct::direct_uniform,
        direct::layout_uniform,
        texture::texture_uniform,
        texture::texture_layout_uniform,
        weight_gradient::weight_grad_uniform,
        weight_gradient::texture_weight_grad_uniform,
    ],
);
