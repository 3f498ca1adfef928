// Re-lays out convolution weights w[oc, ic, kh, kw] (PyTorch's layout) for the implicit-GEMM kernels, so that
// a block of channels loads as vec4s. Cheap (one pass over the weights) next to the convolution itself.
//   forward_layout:  wt[k, o] = w[o, k]                  k = (c, ky, kx); o padded to channels4·4 with zeros
//   backward_layout: wb[(o, ky, kx), c] = w[o, c, ky, kx]  c padded to channels4·4 with zeros
// One output element per invocation; grids past 65535 workgroups fold into y.

struct Params {
    batch: u32,
    in_channels: u32,
    out_channels: u32,
    height: u32,
    width: u32,
    kernel_h: u32,
    kernel_w: u32,
    stride: u32,
    padding: u32,
    out_h: u32,
    out_w: u32,
    flags: u32,
    channels4: u32, // the padded dimension, in vec4s
    items: u32,     // elements of the re-laid-out matrix
    blocks: u32,
    _pad: u32,
}

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> relaid: array<f32>;

@compute @workgroup_size(WG)
fn forward_layout(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= p.items {
        return;
    }
    let padded = p.channels4 * 4u;
    let k = i / padded;
    let o = i % padded;
    let taps = p.in_channels * p.kernel_h * p.kernel_w;
    relaid[i] = select(0.0, w[min(o, p.out_channels - 1u) * taps + k], o < p.out_channels);
}

@compute @workgroup_size(WG)
fn backward_layout(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= p.items {
        return;
    }
    let padded = p.channels4 * 4u;
    let row = i / padded; // (o, ky, kx)
    let c = i % padded;
    let window = p.kernel_h * p.kernel_w;
    let o = row / window;
    let tap = row % window;
    relaid[i] = select(0.0, w[(o * p.in_channels + min(c, p.in_channels - 1u)) * window + tap], c < p.in_channels);
}

@compute @workgroup_size(WG)
fn grouped_layout(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= p.items {
        return;
    }
    let tc = p.channels4;
    let g = i / p.blocks;
    let r = i % p.blocks;
    let k = r / tc;
    let o = g * tc + r % tc;
    let taps = p.in_channels * p.kernel_h * p.kernel_w;
    let ok = k < taps && o < p.out_channels;
    relaid[i] = select(0.0, w[select(0u, o * taps + k, ok)], ok);
}
