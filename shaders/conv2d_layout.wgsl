// Re-lays out convolution weights w[oc, ic, kh, kw] (PyTorch's layout) into the 64 KiB windows that
// conv2d.wgsl binds as a uniform buffer: for each group of 16 output channels and each range of `per_window`
// input channels, a block [tap][16 channels], tap = (c - c_begin, ky, kx), zero past the last channel.
// Blocks start every `block` floats (a multiple of 64, so that every window is a legal binding offset).
//   forward:    w'[o, c, ky, kx] = w[o, c, ky, kx]
//   transposed: w'[o, c, ky, kx] = w[c, o, kh-1-ky, kw-1-kx]  (the input gradient's transposed convolution)
// One output element per invocation; grids past 65535 workgroups fold into y.

struct Params {
    in_channels: u32,  // C of w' (oc of w when transposed)
    out_channels: u32, // O of w'
    taps: u32,         // kh·kw
    per_window: u32,   // input channels per window
    windows: u32,      // windows per group
    block: u32,        // floats from one window's start to the next
    items: u32,        // floats to write: groups · windows · block
    transposed: u32,
}

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> windows: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= p.items {
        return;
    }
    let window = i / p.block;
    let r = i - window * p.block;
    let group = window / p.windows;
    let c_begin = (window - group * p.windows) * p.per_window;
    let t = r / 16u;
    let o = group * 16u + r % 16u;
    let c = c_begin + t / p.taps;
    let tap = t % p.taps;
    let ok = t < p.per_window * p.taps && c < p.in_channels && o < p.out_channels;
    var at = (o * p.in_channels + c) * p.taps + tap;
    if p.transposed != 0u {
        at = (c * p.out_channels + o) * p.taps + (p.taps - 1u - tap);
    }
    windows[i] = select(0.0, w[select(0u, at, ok)], ok);
}
