// Convolution backward, gradients of the weights and bias, NCHW, as an implicit GEMM:
//   dw[o, c, ky, kx] = Σ_{b, oy, ox} dy[b, o, oy, ox] · x[b, c, oy·s + ky - pad, ox·s + kx - pad]
//   db[o]            = Σ_{b, oy, ox} dy[b, o, oy, ox]
// GEMM view: rows are output channels (m = oc), columns are k = (c, ky, kx) (n = ic·kh·kw), the reduction
// runs over the batch's output pixels (b, oy, ox) in that order. Each gradient is summed by one invocation
// in that fixed order, with no atomics: bit-identical run to run.
//
// Each invocation computes 4 output channels (one vec4 of accumulators per k) × TK values of k; the
// invocations of the first k block also sum the bias gradient of their channels.

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
    flags: u32,     // bit 0: write the bias gradient, bit 2: add to the gradients instead of overwriting
    channels4: u32,
    items: u32,     // k = ic·kh·kw
    blocks: u32,    // blocks of 4 output channels
    _pad: u32,
}

const WG: u32 = 64u;
const TK: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;
@group(0) @binding(4) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = gid.x + gid.y * groups.x * WG;
    let block = id % p.blocks;
    let k0 = (id / p.blocks) * TK;
    if k0 >= p.items {
        return;
    }
    let o0 = block * 4u;
    let plane = p.out_h * p.out_w;
    let in_plane = p.height * p.width;
    let window = p.kernel_h * p.kernel_w;

    // Per channel: its row of dy within an image (clamped past the last channel).
    var orow: array<u32, 4>;
    for (var j = 0u; j < 4u; j++) {
        orow[j] = min(o0 + j, p.out_channels - 1u) * plane;
    }
    // Per k: the input channel's offset within an image, and the tap's offset from the window's corner.
    var cbase: array<u32, TK>;
    var dky: array<i32, TK>;
    var dkx: array<i32, TK>;
    for (var i = 0u; i < TK; i++) {
        let k = min(k0 + i, p.items - 1u);
        let c = k / window;
        let tap = k - c * window;
        let ky = tap / p.kernel_w;
        cbase[i] = c * in_plane;
        dky[i] = i32(ky) - i32(p.padding);
        dkx[i] = i32(tap - ky * p.kernel_w) - i32(p.padding);
    }

    var acc: array<vec4<f32>, TK>;
    var bias_acc = vec4<f32>(0.0);
    for (var b = 0u; b < p.batch; b++) {
        let xb = b * p.in_channels * in_plane;
        let yb = b * p.out_channels * plane;
        for (var oy = 0u; oy < p.out_h; oy++) {
            var row: array<i32, TK>;
            var row_ok: array<bool, TK>;
            for (var i = 0u; i < TK; i++) {
                let iy = i32(oy * p.stride) + dky[i];
                row_ok[i] = iy >= 0 && iy < i32(p.height);
                row[i] = i32(xb + cbase[i]) + iy * i32(p.width);
            }
            let yrow = yb + oy * p.out_w;
            for (var ox = 0u; ox < p.out_w; ox++) {
                let g = vec4<f32>(
                    dy[yrow + orow[0] + ox],
                    dy[yrow + orow[1] + ox],
                    dy[yrow + orow[2] + ox],
                    dy[yrow + orow[3] + ox],
                );
                bias_acc += g;
                for (var i = 0u; i < TK; i++) {
                    let ix = i32(ox * p.stride) + dkx[i];
                    let ok = row_ok[i] && ix >= 0 && ix < i32(p.width);
                    let v = select(0.0, x[u32(select(0, row[i] + ix, ok))], ok);
                    acc[i] += g * v;
                }
            }
        }
    }

    let accumulate = (p.flags & 4u) != 0u;
    for (var i = 0u; i < TK; i++) {
        let k = k0 + i;
        if k >= p.items {
            break;
        }
        var v = array<f32, 4>(acc[i].x, acc[i].y, acc[i].z, acc[i].w);
        for (var j = 0u; j < 4u; j++) {
            let o = o0 + j;
            if o < p.out_channels {
                let at = o * p.items + k;
                dw[at] = select(v[j], dw[at] + v[j], accumulate);
            }
        }
    }
    if k0 == 0u && (p.flags & 1u) != 0u {
        var v = array<f32, 4>(bias_acc.x, bias_acc.y, bias_acc.z, bias_acc.w);
        for (var j = 0u; j < 4u; j++) {
            let o = o0 + j;
            if o < p.out_channels {
                db[o] = select(v[j], db[o] + v[j], accumulate);
            }
        }
    }
}
