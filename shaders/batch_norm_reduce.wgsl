// Batch normalisation's per-channel sums over x[n, c, p] (p = h·w pixels per channel; 1 after a dense layer),
// one workgroup per channel c, m = n·p elements each:
//   stats:         mean[c] = Σ x / m, var = Σ (x - mean)² / m (two passes), inv_std[c] = 1 / sqrt(var + eps);
//                  (a, b) = the running mean and variance, updated as r = (1 - momentum)·r + momentum·s, with the
//                  unbiased variance var·m / (m - 1) (PyTorch's convention)
//   backward_sums: (a, b) = (dgamma, dbeta) with dgamma = Σ dy·x̂, dbeta = Σ dy, x̂ = (x - mean)·inv_std
// Each invocation adds a fixed stride of elements, then a fixed tree in workgroup memory adds the 256 partial
// sums: no atomics, so the same input gives the same bits.

struct Params {
    batch: u32,
    channels: u32,
    pixels: u32,
    eval: u32, // unused here; the layout is shared with batch_norm.wgsl
    eps: f32,
    momentum: f32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> inv_std: array<f32>;
@group(0) @binding(4) var<storage, read_write> a: array<f32>;
@group(0) @binding(5) var<storage, read_write> b: array<f32>;
@group(0) @binding(6) var<storage, read> dy: array<f32>;

var<workgroup> partial: array<f32, WG>;

// Index of the j-th element (j < n·p) of channel c.
fn element(c: u32, j: u32) -> u32 {
    let b = j / p.pixels;
    return (b * p.channels + c) * p.pixels + (j - b * p.pixels);
}

// The sum of every invocation's `value`, in a fixed tree; every invocation gets it.
fn workgroup_sum(t: u32, value: f32) -> f32 {
    partial[t] = value;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half = half / 2u) {
        if t < half {
            partial[t] = partial[t] + partial[t + half];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(WG)
fn stats(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let c = wg.x;
    let t = lid.x;
    let m = p.batch * p.pixels;
    var sum = 0.0;
    for (var j = t; j < m; j += WG) {
        sum += x[element(c, j)];
    }
    let mu = workgroup_sum(t, sum) / f32(m);
    var squares = 0.0;
    for (var j = t; j < m; j += WG) {
        let d = x[element(c, j)] - mu;
        squares += d * d;
    }
    let variance = workgroup_sum(t, squares) / f32(m);
    if t == 0u {
        mean[c] = mu;
        inv_std[c] = 1.0 / sqrt(variance + p.eps);
        let unbiased = variance * f32(m) / f32(max(m, 2u) - 1u);
        a[c] = (1.0 - p.momentum) * a[c] + p.momentum * mu;
        b[c] = (1.0 - p.momentum) * b[c] + p.momentum * unbiased;
    }
}

@compute @workgroup_size(WG)
fn backward_sums(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let c = wg.x;
    let t = lid.x;
    let m = p.batch * p.pixels;
    let mu = mean[c];
    let scale = inv_std[c];
    var dy_sum = 0.0;
    var dy_xhat = 0.0;
    for (var j = t; j < m; j += WG) {
        let e = element(c, j);
        dy_sum += dy[e];
        dy_xhat += dy[e] * ((x[e] - mu) * scale);
    }
    let dbeta = workgroup_sum(t, dy_sum);
    let dgamma = workgroup_sum(t, dy_xhat);
    if t == 0u {
        a[c] = dgamma;
        b[c] = dbeta;
    }
}
