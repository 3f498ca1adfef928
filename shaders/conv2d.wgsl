// Direct convolution, NCHW, as an implicit GEMM (no im2col buffer). Serves the forward pass and, as the
// transposed convolution, the gradient of the input:
//   out[n, o, oy, ox] = Σ_{c, ky, kx} in[n, c, iy, ix] · w[o, c, ky, kx]  (+ bias[o]) (ReLU)
//   with iy = oy·stride + ky - pad in the input dilated by DILATION (zero between and around its values):
//   in[n, c, iy / DILATION, ...] where iy % DILATION == 0 and the quotient is inside, else 0 (same for x).
// Forward: DILATION = 1. Input gradient of a stride-S convolution: in = dy dilated by S, stride 1,
// pad' = k - 1 - pad, w = the weights transposed (in <-> out channels) and flipped (ky -> kh-1-ky).
//
// GEMM view: rows are output pixels (n, oy, ox), columns are output channels, the reduction runs over
// (c, ky, kx) in that order. Each invocation computes 16 consecutive pixels (flattened, so a block may span
// rows and images) × the 16 output channels of this dispatch's group, as 4×4 blocks of mat4x4 accumulators
// (columns: 4 pixels; rows: 4 channels).
//
// Why the weights are a uniform buffer: on lavapipe a storage load costs a loop over the SIMD lanes, while
// a uniform load at an index every invocation shares is one scalar load. Each dispatch binds a 64 KiB window
// of the weights (conv2d_layout.wgsl): the group's 16 channels × up to 1024 taps of a range of input
// channels [c_begin, c_end). Layers with more taps run as several dispatches that accumulate into `out`.

struct Params {
    images: u32,       // n
    in_channels: u32,  // C of the input (before the range)
    out_channels: u32, // O, all groups
    in_h: u32,         // input size, before dilation
    in_w: u32,
    out_h: u32,
    out_w: u32,
    kernel_h: u32,
    kernel_w: u32,
    stride: u32,
    pad_y: u32,
    pad_x: u32,
    flags: u32,        // bit 0: add bias, bit 1: ReLU, bit 2: add to out (a later range of channels)
    c_begin: u32,      // input channels of this window
    c_end: u32,
    group: u32,        // output channels 16·group .. 16·group + 15
    pixels: u32,       // n·out_h·out_w
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

override DILATION: u32 = 1u;

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<uniform> w: array<vec4<f32>, 4096>; // [tap][16 channels], tap = (c - c_begin, ky, kx)
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// The outer product of 4 channels' weights and 4 pixels' inputs: column j is pixel j's contribution.
fn outer(wv: vec4<f32>, v: vec4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(wv * v.x, wv * v.y, wv * v.z, wv * v.w);
}

// Four pixels: where each one's image starts in `x`, and its window's top-left corner (dilated coordinates).
struct Quad {
    base: vec4<i32>,
    iy: vec4<i32>,
    ix: vec4<i32>,
}

fn quad(first: u32) -> Quad {
    let px = min(vec4<u32>(first) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.pixels - 1u));
    let plane = p.out_h * p.out_w;
    let n = px / plane;
    let r = px - n * plane;
    let oy = r / p.out_w;
    let ox = r - oy * p.out_w;
    return Quad(
        vec4<i32>(n * p.in_channels * p.in_h * p.in_w),
        vec4<i32>(oy * p.stride) - i32(p.pad_y),
        vec4<i32>(ox * p.stride) - i32(p.pad_x),
    );
}

// A row of the dilated input: its offset in `x` and whether it holds values.
struct Row {
    at: vec4<i32>,
    ok: vec4<bool>,
}

fn row_at(q: Quad, c: u32, ky: u32) -> vec4<i32> {
    let d = i32(DILATION);
    let iy = q.iy + i32(ky);
    let y = iy / d;
    return q.base + i32(c * p.in_h * p.in_w) + y * i32(p.in_w);
}
fn row_ok(q: Quad, ky: u32) -> vec4<bool> {
    let d = i32(DILATION);
    let iy = q.iy + i32(ky);
    let y = iy / d;
    return (iy >= vec4<i32>(0)) & (y * d == iy) & (y < vec4<i32>(i32(p.in_h)));
}

// The four pixels' inputs at tap column kx; zero in the padding and between dilated values.
fn load(row_at: vec4<i32>, row_ok: vec4<bool>, ix: vec4<i32>) -> vec4<f32> {
    let d = i32(DILATION);
    let xx = ix / d;
    let ok = row_ok & (ix >= vec4<i32>(0)) & (xx * d == ix) & (xx < vec4<i32>(i32(p.in_w)));
    let at = vec4<u32>(select(vec4<i32>(0), row_at + xx, ok));
    return select(vec4<f32>(0.0), vec4<f32>(x[at.x], x[at.y], x[at.z], x[at.w]), ok);
}

// Writes pixel `px`'s 16 channels (a column of each of its quad's four accumulators).
fn store(px: u32, c0: vec4<f32>, c1: vec4<f32>, c2: vec4<f32>, c3: vec4<f32>) {
    if px >= p.pixels {
        return;
    }
    let plane = p.out_h * p.out_w;
    let n = px / plane;
    let r = px - n * plane;
    let v = array<vec4<f32>, 4>(c0, c1, c2, c3);
    for (var j = 0u; j < 16u; j++) {
        let o = p.group * 16u + j;
        if o >= p.out_channels {
            break;
        }
        let at = (n * p.out_channels + o) * plane + r;
        var y = v[j / 4u][j % 4u];
        if (p.flags & 4u) != 0u {
            y += out[at];
        }
        if (p.flags & 1u) != 0u {
            y += bias[o];
        }
        if (p.flags & 2u) != 0u {
            y = max(y, 0.0);
        }
        out[at] = y;
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let px0 = (gid.x + gid.y * groups.x * WG) * 16u;
    if px0 >= p.pixels {
        return;
    }
    let q0 = quad(px0);
    let q1 = quad(px0 + 4u);
    let q2 = quad(px0 + 8u);
    let q3 = quad(px0 + 12u);
    // a{pixel quad}{channel quad}
    var a00 = mat4x4<f32>(); var a01 = mat4x4<f32>(); var a02 = mat4x4<f32>(); var a03 = mat4x4<f32>();
    var a10 = mat4x4<f32>(); var a11 = mat4x4<f32>(); var a12 = mat4x4<f32>(); var a13 = mat4x4<f32>();
    var a20 = mat4x4<f32>(); var a21 = mat4x4<f32>(); var a22 = mat4x4<f32>(); var a23 = mat4x4<f32>();
    var a30 = mat4x4<f32>(); var a31 = mat4x4<f32>(); var a32 = mat4x4<f32>(); var a33 = mat4x4<f32>();
    var tap = 0u;
    for (var c = p.c_begin; c < p.c_end; c++) {
        for (var ky = 0u; ky < p.kernel_h; ky++) {
            let ra0 = row_at(q0, c, ky);
            let ro0 = row_ok(q0, ky);
            let ra1 = row_at(q1, c, ky);
            let ro1 = row_ok(q1, ky);
            let ra2 = row_at(q2, c, ky);
            let ro2 = row_ok(q2, ky);
            let ra3 = row_at(q3, c, ky);
            let ro3 = row_ok(q3, ky);
            for (var kx = 0u; kx < p.kernel_w; kx++) {
                let w0 = w[tap * 4u];
                let w1 = w[tap * 4u + 1u];
                let w2 = w[tap * 4u + 2u];
                let w3 = w[tap * 4u + 3u];
                let v0 = load(ra0, ro0, q0.ix + i32(kx));
                a00 += outer(w0, v0); a01 += outer(w1, v0); a02 += outer(w2, v0); a03 += outer(w3, v0);
                let v1 = load(ra1, ro1, q1.ix + i32(kx));
                a10 += outer(w0, v1); a11 += outer(w1, v1); a12 += outer(w2, v1); a13 += outer(w3, v1);
                let v2 = load(ra2, ro2, q2.ix + i32(kx));
                a20 += outer(w0, v2); a21 += outer(w1, v2); a22 += outer(w2, v2); a23 += outer(w3, v2);
                let v3 = load(ra3, ro3, q3.ix + i32(kx));
                a30 += outer(w0, v3); a31 += outer(w1, v3); a32 += outer(w2, v3); a33 += outer(w3, v3);
                tap++;
            }
        }
    }
    // Constant indices only: indexing an accumulator with a variable would move it out of registers on
    // lavapipe, for the whole kernel.
    store(px0, a00[0], a01[0], a02[0], a03[0]);
    store(px0 + 1u, a00[1], a01[1], a02[1], a03[1]);
    store(px0 + 2u, a00[2], a01[2], a02[2], a03[2]);
    store(px0 + 3u, a00[3], a01[3], a02[3], a03[3]);
    store(px0 + 4u, a10[0], a11[0], a12[0], a13[0]);
    store(px0 + 5u, a10[1], a11[1], a12[1], a13[1]);
    store(px0 + 6u, a10[2], a11[2], a12[2], a13[2]);
    store(px0 + 7u, a10[3], a11[3], a12[3], a13[3]);
    store(px0 + 8u, a20[0], a21[0], a22[0], a23[0]);
    store(px0 + 9u, a20[1], a21[1], a22[1], a23[1]);
    store(px0 + 10u, a20[2], a21[2], a22[2], a23[2]);
    store(px0 + 11u, a20[3], a21[3], a22[3], a23[3]);
    store(px0 + 12u, a30[0], a31[0], a32[0], a33[0]);
    store(px0 + 13u, a30[1], a31[1], a32[1], a33[1]);
    store(px0 + 14u, a30[2], a31[2], a32[2], a33[2]);
    store(px0 + 15u, a30[3], a31[3], a32[3], a33[3]);
}
