// Batch gathers from a dataset that lives on the device as u8, packed four to a u32 word (WGSL has no 8-bit
// type; byte j of a buffer is bits 8*(j%4).. of word j/4, little-endian):
//   gather_normalize: out[r * row_len + c] = f32(data[indices[offset + r] * row_len + c]) * scale + shift
//   gather_labels:    out[r] = u32(labels[indices[offset + r]])
// One output element per invocation; grids past 65535 workgroups fold into y. A row index past the end of the
// data (which the host cannot check without a readback) reads as zero bytes.

struct Params {
    count: u32,        // rows to gather
    row_len: u32,      // bytes per row
    index_offset: u32, // first position in indices
    rows: u32,         // rows in data
    scale: f32,
    shift: f32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> data: array<u32>;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read_write> out_f32: array<f32>;
@group(0) @binding(3) var<storage, read_write> out_u32: array<u32>;

// Byte c of row `row` of the data.
fn byte_at(row: u32, c: u32) -> u32 {
    if row >= p.rows {
        return 0u;
    }
    let j = row * p.row_len + c;
    return (data[j / 4u] >> (8u * (j % 4u))) & 0xffu;
}

@compute @workgroup_size(WG)
fn gather_normalize(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= p.count * p.row_len {
        return;
    }
    let r = i / p.row_len;
    let c = i - r * p.row_len;
    out_f32[i] = f32(byte_at(indices[p.index_offset + r], c)) * p.scale + p.shift;
}

@compute @workgroup_size(WG)
fn gather_labels(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let r = gid.x + gid.y * groups.x * WG;
    if r >= p.count {
        return;
    }
    out_u32[r] = byte_at(indices[p.index_offset + r], 0u);
}
