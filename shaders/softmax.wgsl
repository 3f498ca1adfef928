// Row softmax, numerically stable: out[r, c] = exp(x[r, c] - m) / sum_j exp(x[r, j] - m), m = max_j x[r, j].
// One invocation per row (rows are short: 10 classes); grids past 65535 workgroups fold into y.

struct Params {
    rows: u32,
    cols: u32,
}

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let r = gid.x + gid.y * groups.x * WG;
    if r >= p.rows {
        return;
    }
    let base = r * p.cols;
    var m = x[base];
    for (var c = 1u; c < p.cols; c++) {
        m = max(m, x[base + c]);
    }
    var sum = 0.0;
    for (var c = 0u; c < p.cols; c++) {
        let e = exp(x[base + c] - m);
        out[base + c] = e;
        sum += e;
    }
    let inv = 1.0 / sum;
    for (var c = 0u; c < p.cols; c++) {
        out[base + c] *= inv;
    }
}
