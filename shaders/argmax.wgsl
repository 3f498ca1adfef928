// out[r] = argmax_c x[r, c] over rows of `cols` values: the first maximum on ties (a strictly greater value
// replaces the best). One invocation per row; grids past 65535 workgroups fold into y.

struct Params {
    rows: u32,
    cols: u32,
}

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let r = gid.x + gid.y * groups.x * WG;
    if r >= p.rows {
        return;
    }
    let base = r * p.cols;
    var best = 0u;
    var top = x[base];
    for (var c = 1u; c < p.cols; c++) {
        let v = x[base + c];
        if v > top {
            top = v;
            best = c;
        }
    }
    out[r] = best;
}
