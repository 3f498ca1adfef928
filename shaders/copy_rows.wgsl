// Copies a block of columns between row-major matrices (channel concatenation and its gradient):
//   dst[r·dst_stride + dst_offset + j] = src[r·src_stride + src_offset + j]   for r < rows, j < len
// Everything else in dst is left as it is. One element per invocation; grids past 65535 workgroups fold into y.

struct Params {
    rows: u32,
    len: u32,
    src_stride: u32,
    src_offset: u32,
    dst_stride: u32,
    dst_offset: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= p.rows * p.len {
        return;
    }
    let r = i / p.len;
    let j = i - r * p.len;
    dst[r * p.dst_stride + p.dst_offset + j] = src[r * p.src_stride + p.src_offset + j];
}
