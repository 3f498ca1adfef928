//! Conformance of the strided row copy: a copy, so the GPU must give the CPU's bits exactly, and must leave
//! every element outside the block as it was (both start from the same poisoned buffer).

use super::{Report, TestRng};
use crate::{Backend, CopyRows, CopyRowsOps, Cpu, Gpu, Result};

/// `(rows, len, src_stride, src_offset, dst_stride, dst_offset)`: concatenation (contiguous source into a
/// wider row) and its gradient (a slice of a wide row out), whole rows, one column, one row, lengths around the
/// 256-wide workgroup, and the inception block's branch sizes.
pub const COPY_ROWS_SHAPES: &[(usize, usize, usize, usize, usize, usize)] = &[
    (1, 1, 1, 0, 1, 0),
    (2, 2, 2, 0, 3, 1),
    (3, 5, 5, 0, 5, 0),
    (4, 3, 7, 2, 3, 0),
    (64, 8 * 784, 8 * 784, 0, 32 * 784, 8 * 784),
    (64, 16 * 196, 32 * 196, 16 * 196, 16 * 196, 0),
    (1, 255, 255, 0, 512, 257),
    (1, 257, 300, 43, 257, 0),
    (7, 256, 256, 0, 1024, 768),
    (5, 1, 9, 8, 1, 0),
    (9, 4, 4, 0, 12, 4),
    (16, 100, 100, 0, 300, 200),
    (2, 1000, 3000, 1000, 1000, 0),
    (13, 17, 17, 0, 51, 34),
    (1, 4096, 4096, 0, 4097, 1),
    (33, 10, 30, 20, 10, 0),
    (8, 49, 49, 0, 196, 147),
    (3, 6, 6, 0, 18, 12),
    (100, 3, 3, 0, 9, 6),
    (6, 31, 93, 62, 31, 0),
];

/// Every shape, CPU against GPU bit for bit, outside the block included.
pub fn check_copy_rows(gpu: &Gpu) -> Result<Report> {
    let cpu = Cpu::new();
    let mut report = Report::new("copy_rows");
    let mut rng = TestRng::new(0xc09e);
    for &(rows, len, src_stride, src_offset, dst_stride, dst_offset) in COPY_ROWS_SHAPES {
        let spec = CopyRows {
            rows,
            len,
            src_stride,
            src_offset,
            dst_stride,
            dst_offset,
        };
        let src = rng.values(rows * src_stride);
        let poison = vec![f32::NAN; rows * dst_stride];
        let (cdst, gdst) = (cpu.upload(&poison)?, gpu.upload(&poison)?);
        cpu.copy_rows(&spec, &cpu.upload(&src)?, &cdst)?;
        gpu.copy_rows(&spec, &gpu.upload(&src)?, &gdst)?;
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
        let copied = bits(&cdst.read())
            .iter()
            .filter(|b| f32::from_bits(**b).is_finite())
            .count();
        if copied != rows * len {
            report.mismatches.push(format!(
                "{spec:?}: the CPU copied {copied} elements, not {}",
                rows * len
            ));
        }
        report.compare_exact(
            &format!("{spec:?}"),
            &bits(&gpu.download(&gdst)?),
            &bits(&cdst.read()),
        );
    }
    Ok(report)
}

/// This family's checks.
pub fn check(gpu: &Gpu) -> Result<Vec<Report>> {
    Ok(vec![check_copy_rows(gpu)?])
}
