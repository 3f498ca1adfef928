// Convolution backward, gradient of the input, NCHW, as an implicit GEMM (no col2im buffer):
//   dx[b, c, y, x] = Σ_{o, ky, kx} dy[b, o, oy, ox] · w[o, c, ky, kx]
//                    over the taps with y = oy·s + ky - pad and x = ox·s + kx - pad inside the output.
// GEMM view: rows are input pixels (b, y, x), columns are input channels, the reduction runs over
// (o, ky, kx), oc·kh·kw terms, in that order. Each input value is written by one invocation: no atomics.
//
// Each invocation computes TP consecutive input pixels × 8 input channels, with the weights re-laid out as
// wb[(o, ky, kx), ic4·4] (conv2d_weights.wgsl) so that its channels load as two vec4s, as in conv2d_forward.
// The stride is a pipeline constant: the divisibility tests in the inner loop then cost no division.

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
    channels4: u32, // ic padded, in vec4s: the row length of wb
    items: u32,     // input pixels, batch·h·w
    blocks: u32,    // blocks of 8 input channels
    _pad: u32,
}

override STRIDE: u32 = 1u;

const WG: u32 = 64u;
const TP: u32 = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> wb: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = gid.x + gid.y * groups.x * WG;
    let block = id % p.blocks;
    let px0 = (id / p.blocks) * TP;
    if px0 >= p.items {
        return;
    }
    let c4 = block * 2u;
    let c4b = min(c4 + 1u, p.channels4 - 1u);
    let plane = p.out_h * p.out_w;
    let in_plane = p.height * p.width;

    // Per pixel: the offset of its image's gradient and its position shifted by the padding.
    var base: array<u32, TP>;
    var ty0: array<i32, TP>;
    var tx0: array<i32, TP>;
    for (var i = 0u; i < TP; i++) {
        let px = min(px0 + i, p.items - 1u);
        let b = px / in_plane;
        let r = px - b * in_plane;
        let y = r / p.width;
        base[i] = b * p.out_channels * plane;
        ty0[i] = i32(y + p.padding);
        tx0[i] = i32(r - y * p.width + p.padding);
    }

    var lo: array<vec4<f32>, TP>;
    var hi: array<vec4<f32>, TP>;
    var tap = 0u;
    for (var o = 0u; o < p.out_channels; o++) {
        for (var ky = 0u; ky < p.kernel_h; ky++) {
            var row: array<i32, TP>;
            var row_ok: array<bool, TP>;
            for (var i = 0u; i < TP; i++) {
                let ty = ty0[i] - i32(ky);
                let oy = ty / i32(STRIDE);
                row_ok[i] = ty >= 0 && oy * i32(STRIDE) == ty && oy < i32(p.out_h);
                row[i] = i32(base[i] + o * plane) + oy * i32(p.out_w);
            }
            for (var kx = 0u; kx < p.kernel_w; kx++) {
                let w0 = wb[tap * p.channels4 + c4];
                let w1 = wb[tap * p.channels4 + c4b];
                for (var i = 0u; i < TP; i++) {
                    let tx = tx0[i] - i32(kx);
                    let ox = tx / i32(STRIDE);
                    let ok = row_ok[i] && tx >= 0 && ox * i32(STRIDE) == tx && ox < i32(p.out_w);
                    let g = select(0.0, dy[u32(select(0, row[i] + ox, ok))], ok);
                    lo[i] += g * w0;
                    hi[i] += g * w1;
                }
                tap++;
            }
        }
    }

    for (var i = 0u; i < TP; i++) {
        let px = px0 + i;
        if px >= p.items {
            break;
        }
        let b = px / in_plane;
        let r = px - b * in_plane;
        var v = array<f32, 8>(lo[i].x, lo[i].y, lo[i].z, lo[i].w, hi[i].x, hi[i].y, hi[i].z, hi[i].w);
        for (var j = 0u; j < 8u; j++) {
            let c = block * 8u + j;
            if c < p.in_channels {
                dx[(b * p.in_channels + c) * in_plane + r] = v[j];
            }
        }
    }
}
