//! Elementwise kernels: add, scale, ReLU and its gradient, fill, and the batch gather that turns u8 pixels
//! on the device into normalised f32 inputs.

use rayon::prelude::*;

use crate::cpu::{Cpu, CpuBuf};
use crate::error::{check_len, shape_error};
use crate::gpu::{Dispatch, Gpu, GpuBuf, Kernel};
use crate::{Backend, Element, Result, TensorError};

/// Gathers a batch from a dataset that lives on the device: rows `indices[index_offset .. index_offset + count]`
/// of `data` (each `row_len` bytes), written as `x * scale + shift` in f32.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gather {
    /// Elements per row (784 for a 28×28 image, 1 for a label).
    pub row_len: usize,
    /// First position in the index buffer (the step's offset into the epoch's permutation).
    pub index_offset: usize,
    /// Rows to gather.
    pub count: usize,
    /// Multiplier (1/255 for pixels, or 1/(255·std)).
    pub scale: f32,
    /// Added after scaling (0, or -mean/std).
    pub shift: f32,
}

/// Elementwise operations. Buffers must have equal lengths unless stated.
pub trait ElementwiseOps: Backend {
    /// `out = a + b`.
    fn add(&self, a: &Self::Buf<f32>, b: &Self::Buf<f32>, out: &Self::Buf<f32>) -> Result<()>;
    /// `out = alpha · x`.
    fn scale(&self, x: &Self::Buf<f32>, alpha: f32, out: &Self::Buf<f32>) -> Result<()>;
    /// `out = max(x, 0)`.
    fn relu(&self, x: &Self::Buf<f32>, out: &Self::Buf<f32>) -> Result<()>;
    /// `grad_in = grad_out` where the ReLU's output `y > 0`, else 0.
    fn relu_backward(
        &self,
        y: &Self::Buf<f32>,
        grad_out: &Self::Buf<f32>,
        grad_in: &Self::Buf<f32>,
    ) -> Result<()>;
    /// Sets every element to `value`.
    fn fill(&self, x: &Self::Buf<f32>, value: f32) -> Result<()>;
    /// `x = x · by`, in place (a pruning mask of zeros and ones on the weights).
    fn mul_assign(&self, x: &Self::Buf<f32>, by: &Self::Buf<f32>) -> Result<()>;
    /// Gathers and normalises rows of u8 data (see [`Gather`]); `out` holds `count · row_len` values.
    /// An index past the data's rows is an error on the CPU; the GPU cannot see the indices without a
    /// readback, so there it reads as a row of zero bytes.
    fn gather_normalize(
        &self,
        spec: &Gather,
        data: &Self::Buf<u8>,
        indices: &Self::Buf<u32>,
        out: &Self::Buf<f32>,
    ) -> Result<()>;
    /// Gathers u8 labels as u32 (`spec.row_len` must be 1; scale and shift are ignored).
    fn gather_labels(
        &self,
        spec: &Gather,
        labels: &Self::Buf<u8>,
        indices: &Self::Buf<u32>,
        out: &Self::Buf<u32>,
    ) -> Result<()>;
}

impl Gather {
    /// Checks the buffers' sizes against the spec; `data_len` is in bytes.
    fn check(
        &self,
        op: &'static str,
        data_len: usize,
        indices_len: usize,
        out_len: usize,
    ) -> Result<()> {
        if self.row_len == 0 {
            return Err(shape_error(op, "row_len is 0"));
        }
        if self.index_offset + self.count > indices_len {
            return Err(shape_error(
                op,
                format!(
                    "indices {}..{} of an index buffer of {indices_len}",
                    self.index_offset,
                    self.index_offset + self.count
                ),
            ));
        }
        if !data_len.is_multiple_of(self.row_len) {
            return Err(shape_error(
                op,
                format!(
                    "data of {data_len} bytes is not whole rows of {}",
                    self.row_len
                ),
            ));
        }
        check_len(op, "out", out_len, self.count * self.row_len)
    }
}

/// Buffers at least this long are processed by rayon in chunks; shorter ones in one plain loop, because
/// handing work to other threads costs more than a few thousand additions.
const PAR_MIN: usize = 1 << 16;
/// Elements per rayon task.
const PAR_CHUNK: usize = 1 << 14;

/// `out[i] = f(a[i])`, in parallel for long buffers.
fn map1(out: &mut [f32], a: &[f32], f: impl Fn(f32) -> f32 + Sync) {
    if out.len() >= PAR_MIN {
        out.par_chunks_mut(PAR_CHUNK)
            .zip(a.par_chunks(PAR_CHUNK))
            .for_each(|(out, a)| out.iter_mut().zip(a).for_each(|(o, &x)| *o = f(x)));
    } else {
        out.iter_mut().zip(a).for_each(|(o, &x)| *o = f(x));
    }
}

/// `out[i] = f(a[i], b[i])`, in parallel for long buffers.
fn map2(out: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) {
    if out.len() >= PAR_MIN {
        out.par_chunks_mut(PAR_CHUNK)
            .zip(a.par_chunks(PAR_CHUNK).zip(b.par_chunks(PAR_CHUNK)))
            .for_each(|(out, (a, b))| {
                for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                    *o = f(x, y);
                }
            });
    } else {
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = f(x, y);
        }
    }
}

impl ElementwiseOps for Cpu {
    fn add(&self, a: &CpuBuf<f32>, b: &CpuBuf<f32>, out: &CpuBuf<f32>) -> Result<()> {
        check_len("add", "b", b.len(), a.len())?;
        check_len("add", "out", out.len(), a.len())?;
        map2(&mut out.write(), &a.read(), &b.read(), |x, y| x + y);
        Ok(())
    }

    fn scale(&self, x: &CpuBuf<f32>, alpha: f32, out: &CpuBuf<f32>) -> Result<()> {
        check_len("scale", "out", out.len(), x.len())?;
        map1(&mut out.write(), &x.read(), |x| alpha * x);
        Ok(())
    }

    fn relu(&self, x: &CpuBuf<f32>, out: &CpuBuf<f32>) -> Result<()> {
        check_len("relu", "out", out.len(), x.len())?;
        map1(&mut out.write(), &x.read(), |x| x.max(0.0));
        Ok(())
    }

    fn mul_assign(&self, x: &CpuBuf<f32>, by: &CpuBuf<f32>) -> Result<()> {
        check_len("mul_assign", "by", by.len(), x.len())?;
        let by = by.read();
        let mut x = x.write();
        x.iter_mut().zip(by.iter()).for_each(|(x, b)| *x *= b);
        Ok(())
    }

    fn relu_backward(
        &self,
        y: &CpuBuf<f32>,
        grad_out: &CpuBuf<f32>,
        grad_in: &CpuBuf<f32>,
    ) -> Result<()> {
        check_len("relu_backward", "grad_out", grad_out.len(), y.len())?;
        check_len("relu_backward", "grad_in", grad_in.len(), y.len())?;
        map2(&mut grad_in.write(), &y.read(), &grad_out.read(), |y, g| {
            if y > 0.0 { g } else { 0.0 }
        });
        Ok(())
    }

    fn fill(&self, x: &CpuBuf<f32>, value: f32) -> Result<()> {
        x.write().fill(value);
        Ok(())
    }

    fn gather_normalize(
        &self,
        spec: &Gather,
        data: &CpuBuf<u8>,
        indices: &CpuBuf<u32>,
        out: &CpuBuf<f32>,
    ) -> Result<()> {
        spec.check("gather_normalize", data.len(), indices.len(), out.len())?;
        let (data, indices) = (data.read(), indices.read());
        let rows = cpu_rows("gather_normalize", spec, data.len(), &indices)?;
        let Gather {
            row_len,
            scale,
            shift,
            ..
        } = *spec;
        let gather_row = |(out, &row): (&mut [f32], &u32)| {
            let src = &data[row as usize * row_len..][..row_len];
            for (o, &b) in out.iter_mut().zip(src) {
                *o = f32::from(b) * scale + shift;
            }
        };
        let mut out = out.write();
        if out.len() >= PAR_MIN {
            out.par_chunks_mut(row_len)
                .zip(rows.par_iter())
                .for_each(gather_row);
        } else {
            out.chunks_mut(row_len).zip(rows).for_each(gather_row);
        }
        Ok(())
    }

    fn gather_labels(
        &self,
        spec: &Gather,
        labels: &CpuBuf<u8>,
        indices: &CpuBuf<u32>,
        out: &CpuBuf<u32>,
    ) -> Result<()> {
        check_labels_spec(spec)?;
        spec.check("gather_labels", labels.len(), indices.len(), out.len())?;
        let (labels, indices) = (labels.read(), indices.read());
        let rows = cpu_rows("gather_labels", spec, labels.len(), &indices)?;
        for (o, &row) in out.write().iter_mut().zip(rows) {
            *o = u32::from(labels[row as usize]);
        }
        Ok(())
    }
}

/// The spec's slice of the index buffer, each index checked against the rows in the data.
fn cpu_rows<'a>(
    op: &'static str,
    spec: &Gather,
    data_len: usize,
    indices: &'a [u32],
) -> Result<&'a [u32]> {
    let rows = &indices[spec.index_offset..spec.index_offset + spec.count];
    let available = data_len / spec.row_len;
    match rows.iter().position(|&r| r as usize >= available) {
        Some(at) => Err(shape_error(
            op,
            format!(
                "index {} at position {} is past the data's {available} rows",
                rows[at],
                spec.index_offset + at
            ),
        )),
        None => Ok(rows),
    }
}

fn check_labels_spec(spec: &Gather) -> Result<()> {
    if spec.row_len != 1 {
        return Err(shape_error(
            "gather_labels",
            format!("row_len is {}; labels are one byte per row", spec.row_len),
        ));
    }
    Ok(())
}

/// Invocations per workgroup of the 1-D kernels (`WG` in the shaders).
pub(crate) const WG_1D: u64 = 256;

/// `(offset, len)` pieces of `len` elements, each at most `limit` long and starting at a multiple of `align`
/// (so every piece can be a view), for buffers longer than one binding may cover.
pub(crate) fn chunks(
    len: usize,
    limit: usize,
    align: usize,
) -> impl Iterator<Item = (usize, usize)> {
    let step = (limit / align * align).max(align);
    (0..len)
        .step_by(step)
        .map(move |offset| (offset, step.min(len - offset)))
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ElementwiseParams {
    n: u32,
    alpha: f32,
    start: u32,
}

#[cfg(test)]
pub(crate) fn elementwise_uniform() -> crate::gpu::uniform::UniformLayout {
    crate::gpu::uniform::uniform_layout!(ElementwiseParams for ["elementwise"] { n, alpha, start })
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GatherParams {
    count: u32,
    row_len: u32,
    index_offset: u32,
    rows: u32,
    scale: f32,
    shift: f32,
}

#[cfg(test)]
pub(crate) fn gather_uniform() -> crate::gpu::uniform::UniformLayout {
    crate::gpu::uniform::uniform_layout!(GatherParams for ["gather"] { count, row_len, index_offset, rows, scale, shift })
}

impl Gpu {
    /// Records a 1-D kernel over `len` elements of equally long `buffers`, in pieces of at most `limit`
    /// elements (the binding limit; tests pass less), each piece a dispatch on views. `entries` names the
    /// kernel's two forms: one vec4 per invocation over the piece's first `4·⌊n/4⌋` elements (lavapipe moves
    /// 2.5× more bytes per second so), then, when `n` is not a multiple of 4, one float per invocation over
    /// the rest. `params(count, start)` builds the uniform parameters: `count` vec4s for the first form,
    /// elements `start..count` for the second.
    pub(crate) fn dispatch_1d<P: bytemuck::Pod>(
        &self,
        kernel: &'static Kernel,
        entries: [&'static str; 2],
        buffers: &[&GpuBuf<f32>],
        limit: usize,
        params: impl Fn(u32, u32) -> P,
    ) -> Result<()> {
        let len = buffers.first().map_or(0, |b| b.len());
        for (offset, n) in chunks(len, limit, self.view_alignment::<f32>()) {
            let vec4s = n / 4;
            let pieces = [
                (entries[0], 4 * vec4s, vec4s, 0),
                (entries[1], n, n, 4 * vec4s),
            ];
            for (entry, view_len, count, start) in pieces {
                let invocations = count - start;
                if invocations == 0 {
                    continue;
                }
                let views = buffers
                    .iter()
                    .map(|b| self.slice(b, offset, view_len))
                    .collect::<Result<Vec<_>>>()?;
                let bindings: Vec<_> = views.iter().map(GpuBuf::binding).collect();
                self.dispatch(Dispatch {
                    kernel,
                    entry,
                    constants: &[],
                    params: bytemuck::bytes_of(&params(count as u32, start as u32)),
                    buffers: &bindings,
                    workgroups: self.grid_1d((invocations as u64).div_ceil(WG_1D))?,
                })?;
            }
        }
        Ok(())
    }

    fn elementwise(
        &self,
        entries: [&'static str; 2],
        buffers: &[&GpuBuf<f32>],
        alpha: f32,
        limit: usize,
    ) -> Result<()> {
        self.dispatch_1d(
            &ELEMENTWISE,
            entries,
            buffers,
            limit,
            |n, start| ElementwiseParams { n, alpha, start },
        )
    }

    /// [`ElementwiseOps::add`] in pieces of at most `limit` elements (crate tests exercise the splitting).
    pub(crate) fn add_in_pieces(
        &self,
        a: &GpuBuf<f32>,
        b: &GpuBuf<f32>,
        out: &GpuBuf<f32>,
        limit: usize,
    ) -> Result<()> {
        check_len("add", "b", b.len(), a.len())?;
        check_len("add", "out", out.len(), a.len())?;
        self.elementwise(["add4", "add"], &[a, b, out], 0.0, limit)
    }

    /// Gathers `spec.count` rows into `out` (f32 or u32), in bands of rows whose output fits one binding.
    fn gather_rows<T: Element>(
        &self,
        entry: &'static str,
        spec: &Gather,
        data: &GpuBuf<u8>,
        indices: &GpuBuf<u32>,
        out: &GpuBuf<T>,
    ) -> Result<()> {
        let limit_bytes = self.max_binding_elements::<u8>();
        for (what, bytes) in [("data", data.len()), ("indices", indices.len() * 4)] {
            if bytes > limit_bytes {
                return Err(TensorError::Limit(format!(
                    "{entry}: the {what} ({bytes} bytes) exceed one binding ({limit_bytes} bytes) on {}; \
                     the kernel indexes it at random, so it cannot be split",
                    self.info().name
                )));
            }
        }
        let align = self.view_alignment::<T>();
        // Rows per band: as many as one binding holds, rounded so that every band starts at an aligned view.
        let mut band = (self.max_binding_elements::<T>() / spec.row_len).max(1);
        while band > 1 && !(band * spec.row_len).is_multiple_of(align) {
            band -= 1;
        }
        let mut row = 0;
        while row < spec.count {
            let count = band.min(spec.count - row);
            let view = self.slice(out, row * spec.row_len, count * spec.row_len)?;
            let params = GatherParams {
                count: count as u32,
                row_len: spec.row_len as u32,
                index_offset: (spec.index_offset + row) as u32,
                rows: (data.len() / spec.row_len) as u32,
                scale: spec.scale,
                shift: spec.shift,
            };
            self.dispatch(Dispatch {
                kernel: &GATHER,
                entry,
                constants: &[],
                params: bytemuck::bytes_of(&params),
                buffers: &[data.binding(), indices.binding(), view.binding()],
                workgroups: self.grid_1d(((count * spec.row_len) as u64).div_ceil(WG_1D))?,
            })?;
            row += count;
        }
        Ok(())
    }
}

impl ElementwiseOps for Gpu {
    fn add(&self, a: &GpuBuf<f32>, b: &GpuBuf<f32>, out: &GpuBuf<f32>) -> Result<()> {
        self.add_in_pieces(a, b, out, self.max_binding_elements::<f32>())
    }

    fn scale(&self, x: &GpuBuf<f32>, alpha: f32, out: &GpuBuf<f32>) -> Result<()> {
        check_len("scale", "out", out.len(), x.len())?;
        self.elementwise(
            ["scale4", "scale"],
            &[x, out],
            alpha,
            self.max_binding_elements::<f32>(),
        )
    }

    fn mul_assign(&self, x: &GpuBuf<f32>, by: &GpuBuf<f32>) -> Result<()> {
        check_len("mul_assign", "by", by.len(), x.len())?;
        self.elementwise(
            ["mul_assign4", "mul_assign"],
            &[by, x],
            0.0,
            self.max_binding_elements::<f32>(),
        )
    }

    fn relu(&self, x: &GpuBuf<f32>, out: &GpuBuf<f32>) -> Result<()> {
        check_len("relu", "out", out.len(), x.len())?;
        self.elementwise(
            ["relu4", "relu"],
            &[x, out],
            0.0,
            self.max_binding_elements::<f32>(),
        )
    }

    fn relu_backward(
        &self,
        y: &GpuBuf<f32>,
        grad_out: &GpuBuf<f32>,
        grad_in: &GpuBuf<f32>,
    ) -> Result<()> {
        check_len("relu_backward", "grad_out", grad_out.len(), y.len())?;
        check_len("relu_backward", "grad_in", grad_in.len(), y.len())?;
        self.elementwise(
            ["relu_backward4", "relu_backward"],
            &[y, grad_out, grad_in],
            0.0,
            self.max_binding_elements::<f32>(),
        )
    }

    fn fill(&self, x: &GpuBuf<f32>, value: f32) -> Result<()> {
        self.elementwise(
            ["fill4", "fill"],
            &[x],
            value,
            self.max_binding_elements::<f32>(),
        )
    }

    fn gather_normalize(
        &self,
        spec: &Gather,
        data: &GpuBuf<u8>,
        indices: &GpuBuf<u32>,
        out: &GpuBuf<f32>,
    ) -> Result<()> {
        spec.check("gather_normalize", data.len(), indices.len(), out.len())?;
        self.gather_rows("gather_normalize", spec, data, indices, out)
    }

    fn gather_labels(
        &self,
        spec: &Gather,
        labels: &GpuBuf<u8>,
        indices: &GpuBuf<u32>,
        out: &GpuBuf<u32>,
    ) -> Result<()> {
        check_labels_spec(spec)?;
        spec.check("gather_labels", labels.len(), indices.len(), out.len())?;
        self.gather_rows("gather_labels", spec, labels, indices, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AdamStep;
    use crate::OptimOps;
    use crate::conformance::TestRng;

    #[test]
    fn chunks_cover_the_buffer_in_aligned_pieces_within_the_limit() {
        for (len, limit, align) in [
            (0, 8, 8),
            (1, 8, 8),
            (100, 40, 8),
            (100, 43, 8),
            (64, 64, 8),
            (65, 64, 8),
            (5, 3, 8),
        ] {
            let pieces: Vec<_> = chunks(len, limit, align).collect();
            let mut next = 0;
            for &(offset, n) in &pieces {
                assert_eq!(offset, next, "{pieces:?}");
                assert_eq!(offset % align, 0, "{pieces:?}");
                assert!(n <= limit.max(align) && n > 0, "{pieces:?}");
                next += n;
            }
            assert_eq!(next, len, "{pieces:?}");
        }
    }

    /// The GPU, or `None` with a notice (a failure under `DIGITS_REQUIRE_GPU=1`, as in CI).
    fn gpu() -> Option<Gpu> {
        match Gpu::default_adapter() {
            Ok(gpu) => Some(gpu),
            Err(e) if std::env::var("DIGITS_REQUIRE_GPU").is_ok_and(|v| v == "1") => {
                panic!("no GPU: {e}")
            }
            Err(e) => {
                eprintln!("SKIPPED: no GPU adapter ({e})");
                None
            }
        }
    }

    #[test]
    fn buffers_past_the_binding_limit_are_processed_in_pieces() {
        // A limit of 48 elements stands in for the 128 MiB binding limit: 1003 elements take 20 pieces of 48
        // (vec4s only) and one of 43 (10 vec4s and 3 single floats).
        let Some(gpu) = gpu() else { return };
        let n = 1003;
        let limit = 48;
        let mut rng = TestRng::new(7);
        let (a, b) = (rng.values(n), rng.values(n));
        let out = gpu.upload(&vec![f32::NAN; n]).unwrap();
        gpu.add_in_pieces(
            &gpu.upload(&a).unwrap(),
            &gpu.upload(&b).unwrap(),
            &out,
            limit,
        )
        .unwrap();
        let expected: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        assert_eq!(gpu.download(&out).unwrap(), expected);

        // Adam in pieces equals Adam in one dispatch, bit for bit (the same kernel per element).
        let hp = AdamStep {
            step: 3,
            ..AdamStep::default()
        };
        let arena: Vec<Vec<f32>> = (0..4)
            .map(|_| rng.values(n).iter().map(|x| x.abs()).collect())
            .collect();
        let run = |limit: usize| {
            let bufs: Vec<_> = arena.iter().map(|x| gpu.upload(x).unwrap()).collect();
            gpu.adam_in_pieces(&hp, &bufs[0], &bufs[1], &bufs[2], &bufs[3], limit)
                .unwrap();
            bufs.iter()
                .map(|b| gpu.download(b).unwrap())
                .collect::<Vec<_>>()
        };
        let whole = run(usize::MAX);
        assert_eq!(run(limit), whole);
        assert_ne!(whole[0], arena[0], "the parameters moved");
        // And both agree with the full trait method.
        let bufs: Vec<_> = arena.iter().map(|x| gpu.upload(x).unwrap()).collect();
        gpu.adam(&hp, &bufs[0], &bufs[1], &bufs[2], &bufs[3])
            .unwrap();
        assert_eq!(gpu.download(&bufs[0]).unwrap(), whole[0]);
    }
}

/// Both forms (vec4 and single float) of each elementwise kernel, and both gathers.
pub(crate) fn warm_up(gpu: &Gpu) -> Result<()> {
    // Five elements: one vec4 and one single float, so both forms of each kernel compile.
    let (a, b, out) = (
        gpu.zeros::<f32>(5)?,
        gpu.zeros::<f32>(5)?,
        gpu.zeros::<f32>(5)?,
    );
    gpu.add(&a, &b, &out)?;
    gpu.scale(&a, 2.0, &out)?;
    gpu.relu(&a, &out)?;
    gpu.relu_backward(&a, &b, &out)?;
    gpu.fill(&out, 1.0)?;
    gpu.mul_assign(&out, &a)?;
    let spec = Gather {
        row_len: 1,
        index_offset: 0,
        count: 4,
        scale: 1.0,
        shift: 0.0,
    };
    let (data, indices) = (gpu.zeros::<u8>(4)?, gpu.zeros::<u32>(4)?);
    gpu.gather_normalize(&spec, &data, &indices, &gpu.zeros::<f32>(4)?)?;
    gpu.gather_labels(&spec, &data, &indices, &gpu.zeros::<u32>(4)?)
}

crate::family::family!(
    "elementwise",
    kernels: [
        ELEMENTWISE => "elementwise",
        GATHER => "gather",
    ],
    warm_up: warm_up,
    check: crate::conformance::dense::check_elementwise,
    uniforms: [elementwise_uniform, gather_uniform],
);
