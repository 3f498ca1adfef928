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
// (columns: 4 pixels; rows: 4 channels). Two entry points differ only in how they store: `main` one value
// at a time, `main_vec4` four pixels of a channel at a time where planes are whole vec4s (oh·ow % 4 == 0),
// a quarter of the stores, which matters when the reduction is short (9 taps for the first layer).
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
@group(0) @binding(4) var<storage, read_write> out: array<f32>;       // main
@group(0) @binding(4) var<storage, read_write> out4: array<vec4<f32>>; // main_vec4

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

// The four pixels' rows of channel c at tap row ky: their offsets in `x` ...
fn row_at(q: Quad, c: u32, ky: u32) -> vec4<i32> {
    let y = (q.iy + i32(ky)) / i32(DILATION);
    return q.base + i32(c * p.in_h * p.in_w) + y * i32(p.in_w);
}

// ... and whether they hold values (inside the image, and on the dilation's grid).
fn row_ok(q: Quad, ky: u32) -> vec4<bool> {
    let d = i32(DILATION);
    let iy = q.iy + i32(ky);
    let y = iy / d;
    return (iy >= vec4<i32>(0)) & (y * d == iy) & (y < vec4<i32>(i32(p.in_h)));
}

// The four pixels' inputs at tap column kx; zero in the padding and between dilated values.
fn load(at_row: vec4<i32>, ok_row: vec4<bool>, ix: vec4<i32>) -> vec4<f32> {
    let d = i32(DILATION);
    let xx = ix / d;
    let ok = ok_row & (ix >= vec4<i32>(0)) & (xx * d == ix) & (xx < vec4<i32>(i32(p.in_w)));
    let at = vec4<u32>(select(vec4<i32>(0), at_row + xx, ok));
    return select(vec4<f32>(0.0), vec4<f32>(x[at.x], x[at.y], x[at.z], x[at.w]), ok);
}

// The epilogue of one output value: a previous range's partial sum, the bias, the ReLU.
fn finish(y: f32, previous: f32, o: u32) -> f32 {
    var v = y;
    if (p.flags & 4u) != 0u {
        v += previous;
    }
    if (p.flags & 1u) != 0u {
        v += bias[o];
    }
    if (p.flags & 2u) != 0u {
        v = max(v, 0.0);
    }
    return v;
}

// a{pixel quad}{channel quad}: 16 pixels × 16 channels.
struct Block {
    a00: mat4x4<f32>, a01: mat4x4<f32>, a02: mat4x4<f32>, a03: mat4x4<f32>,
    a10: mat4x4<f32>, a11: mat4x4<f32>, a12: mat4x4<f32>, a13: mat4x4<f32>,
    a20: mat4x4<f32>, a21: mat4x4<f32>, a22: mat4x4<f32>, a23: mat4x4<f32>,
    a30: mat4x4<f32>, a31: mat4x4<f32>, a32: mat4x4<f32>, a33: mat4x4<f32>,
}

// The sums of pixels px0 .. px0+15 for this window's taps.
fn accumulate(px0: u32) -> Block {
    let q0 = quad(px0);
    let q1 = quad(px0 + 4u);
    let q2 = quad(px0 + 8u);
    let q3 = quad(px0 + 12u);
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
    return Block(a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33);
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
        out[at] = finish(v[j / 4u][j % 4u], out[at], o);
    }
}

// Writes channels o0 .. o0+3 (the rows of a quad's accumulator) of the quad of pixels at px, a vec4 each:
// with whole-vec4 planes, a quad lies in one image and starts on a vec4.
fn store4(px: u32, o0: u32, a: mat4x4<f32>) {
    if px >= p.pixels {
        return;
    }
    let plane = p.out_h * p.out_w;
    let n = px / plane;
    let r = px - n * plane;
    let rows = transpose(a);
    for (var i = 0u; i < 4u; i++) {
        let o = o0 + i;
        if o >= p.out_channels {
            break;
        }
        let at = ((n * p.out_channels + o) * plane + r) / 4u;
        let previous = out4[at];
        let y = rows[i];
        out4[at] = vec4<f32>(
            finish(y.x, previous.x, o),
            finish(y.y, previous.y, o),
            finish(y.z, previous.z, o),
            finish(y.w, previous.w, o),
        );
    }
}

// Picks one of four values by a loop variable with selects: the epilogues below loop over the block's
// pixels instead of storing all 256 values written out, which made up most of the kernel's code and
// tripled its compile time on lavapipe (it compiles at the first dispatch). Selects keep the accumulators
// indexed by constants only: indexing them with a variable would move them out of registers.
fn pick(v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>, i: u32) -> vec4<f32> {
    return select(select(select(v0, v1, i == 1u), v2, i == 2u), v3, i == 3u);
}

// Pixel quad q's accumulator of one channel quad, given that channel quad's four (one per pixel quad).
fn pick_quad(m0: mat4x4<f32>, m1: mat4x4<f32>, m2: mat4x4<f32>, m3: mat4x4<f32>, q: u32) -> mat4x4<f32> {
    return mat4x4<f32>(
        pick(m0[0], m1[0], m2[0], m3[0], q),
        pick(m0[1], m1[1], m2[1], m3[1], q),
        pick(m0[2], m1[2], m2[2], m3[2], q),
        pick(m0[3], m1[3], m2[3], m3[3], q),
    );
}

// Pixel i's 4 channels of one channel quad (column i % 4 of pixel quad i / 4's accumulator).
fn pick_pixel(m0: mat4x4<f32>, m1: mat4x4<f32>, m2: mat4x4<f32>, m3: mat4x4<f32>, i: u32) -> vec4<f32> {
    let m = pick_quad(m0, m1, m2, m3, i / 4u);
    return pick(m[0], m[1], m[2], m[3], i % 4u);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let px0 = (gid.x + gid.y * groups.x * WG) * 16u;
    if px0 >= p.pixels {
        return;
    }
    let b = accumulate(px0);
    for (var i = 0u; i < 16u; i++) {
        store(
            px0 + i,
            pick_pixel(b.a00, b.a10, b.a20, b.a30, i),
            pick_pixel(b.a01, b.a11, b.a21, b.a31, i),
            pick_pixel(b.a02, b.a12, b.a22, b.a32, i),
            pick_pixel(b.a03, b.a13, b.a23, b.a33, i),
        );
    }
}

@compute @workgroup_size(WG)
fn main_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let px0 = (gid.x + gid.y * groups.x * WG) * 16u;
    if px0 >= p.pixels {
        return;
    }
    let o0 = p.group * 16u;
    let b = accumulate(px0);
    for (var q = 0u; q < 4u; q++) {
        let px = px0 + 4u * q;
        store4(px, o0, pick_quad(b.a00, b.a10, b.a20, b.a30, q));
        store4(px, o0 + 4u, pick_quad(b.a01, b.a11, b.a21, b.a31, q));
        store4(px, o0 + 8u, pick_quad(b.a02, b.a12, b.a22, b.a32, q));
        store4(px, o0 + 12u, pick_quad(b.a03, b.a13, b.a23, b.a33, q));
    }
}
