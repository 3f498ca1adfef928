// Batch normalisation's elementwise passes over x[n, c, p] (p = h·w pixels per channel; 1 after a dense
// layer), one element per invocation, c = the element's channel, m = n·p:
//   normalize:      y = (x - mean[c])·s·gamma[c] + beta[c], where s = inv_std[c] (training: the batch's
//                   statistics), or s = 1 / sqrt(var[c] + eps) when `eval` (the running statistics)
//   backward_input: dx = gamma[c]·inv_std[c]·(dy - dbeta[c] / m - x̂·dgamma[c] / m), x̂ = (x - mean)·inv_std,
//                   with dgamma and dbeta from batch_norm_reduce.wgsl
// Grids past 65535 workgroups fold into y.

struct Params {
    batch: u32,
    channels: u32,
    pixels: u32,
    eval: u32,
    eps: f32,
    momentum: f32, // unused here; the layout is shared with batch_norm_reduce.wgsl
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>; // inv_std, or the running variance when `eval`
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta_or_dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<storage, read> dgamma: array<f32>;
@group(0) @binding(8) var<storage, read> dbeta: array<f32>;

@compute @workgroup_size(WG)
fn normalize(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= p.batch * p.channels * p.pixels {
        return;
    }
    let c = (i / p.pixels) % p.channels;
    var s = scale[c];
    if p.eval == 1u {
        s = 1.0 / sqrt(scale[c] + p.eps);
    }
    out[i] = (x[i] - mean[c]) * s * gamma[c] + beta_or_dy[c];
}

@compute @workgroup_size(WG)
fn backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= p.batch * p.channels * p.pixels {
        return;
    }
    let c = (i / p.pixels) % p.channels;
    let m = f32(p.batch * p.pixels);
    let s = scale[c];
    let xhat = (x[i] - mean[c]) * s;
    out[i] = gamma[c] * s * (beta_or_dy[i] - dbeta[c] / m - xhat * dgamma[c] / m);
}
