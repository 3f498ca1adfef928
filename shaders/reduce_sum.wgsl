// Sum along the middle axis: out[o, i] = scale * sum_a x[o, a, i] for x of shape [outer, axis, inner]
// (scale is 1, or 1/axis for a mean). Two strategies, picked by the host from the shape alone, so the
// summation order (and the result, bit for bit) depends only on the shape:
//   per_output:    one invocation per output, summing a = 0, 1, ... in order (many outputs, short axis);
//   per_workgroup: one workgroup per output, invocation t summing a = t, t + WG, ..., then a fixed tree
//                  over the WG partial sums (few outputs, long axis, e.g. a bias gradient over a big batch).
// Grids past 65535 workgroups fold into y.

struct Params {
    outer: u32,
    axis: u32,
    inner: u32,
    scale: f32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn per_output(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let j = gid.x + gid.y * groups.x * WG;
    if j >= p.outer * p.inner {
        return;
    }
    let o = j / p.inner;
    let i = j - o * p.inner;
    let base = o * p.axis * p.inner + i;
    var sum = 0.0;
    for (var a = 0u; a < p.axis; a++) {
        sum += x[base + a * p.inner];
    }
    out[j] = sum * p.scale;
}

@compute @workgroup_size(WG)
fn per_workgroup(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // Uniform across the workgroup, so the early return keeps the barriers below in uniform control flow.
    let j = wid.x + wid.y * groups.x;
    if j >= p.outer * p.inner {
        return;
    }
    let o = j / p.inner;
    let i = j - o * p.inner;
    let base = o * p.axis * p.inner + i;
    var sum = 0.0;
    for (var a = lid; a < p.axis; a += WG) {
        sum += x[base + a * p.inner];
    }
    partial[lid] = sum;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if lid < s {
            partial[lid] += partial[lid + s];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        out[j] = partial[0] * p.scale;
    }
}
