// Convolution backward, gradients of the weights and bias, NCHW, as an implicit GEMM (no im2col buffer):
//   dw[o, c, ky, kx] = Σ_{b, oy, ox} dy[b, o, oy, ox] · x[b, c, oy·s + ky - pad, ox·s + kx - pad]
//   db[o]            = Σ_{b, oy, ox} dy[b, o, oy, ox]
// GEMM view: rows are output channels (m = oc), columns are k = (c, ky, kx) (n = ic·kh·kw), the reduction
// runs over the batch's output pixels (b, oy, ox). No atomics, so results are bit-identical run to run:
//   partial: the batch is cut into a fixed number of slices; invocation (k block, o block, slice) sums its
//            slice's pixels in order into partials[slice] ([dw | db], oc·k + oc floats);
//   reduce:  each gradient is the sum of its partials in slice order.
// The slices give small layers (oc·k of a few hundred) enough invocations to fill the device.
//
// Each partial invocation computes 16 output channels × 16 values of k, as 4×4 blocks of mat4x4 accumulators
// (columns: 4 channels' gradients; rows: 4 values of k) from 4+4 vec4s of dy and x values per pixel.

struct Params {
    batch: u32,        // images in this piece of the batch
    in_channels: u32,
    out_channels: u32,
    height: u32,
    width: u32,
    out_h: u32,
    out_w: u32,
    kernel_h: u32,
    kernel_w: u32,
    stride: u32,
    padding: u32,
    flags: u32,        // reduce: bit 0: write the bias gradient, bit 2: add to the gradients (a later piece)
    per_slice: u32,    // images per slice
    slices: u32,
    len: u32,          // oc·k + oc: the floats of one partial
    _pad: u32,
}

const WG: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

// The outer product of 4 k values' inputs and 4 channels' gradients: column j is channel j's contribution.
fn outer(v: vec4<f32>, g: vec4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(v * g.x, v * g.y, v * g.z, v * g.w);
}

// Four values of k = (c, ky, kx): the channel's offset within an image and the tap's offset from the
// window's corner (the padding folded in).
struct Taps {
    c: vec4<i32>,
    dy: vec4<i32>,
    dx: vec4<i32>,
}

fn taps(k0: u32) -> Taps {
    let taps = p.kernel_h * p.kernel_w;
    let k = min(vec4<u32>(k0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.in_channels * taps - 1u));
    let c = k / taps;
    let t = k - c * taps;
    let ky = t / p.kernel_w;
    return Taps(
        vec4<i32>(c * p.height * p.width),
        vec4<i32>(ky) - i32(p.padding),
        vec4<i32>(t - ky * p.kernel_w) - i32(p.padding),
    );
}

// A row of the input for 4 taps at output row oy of image b: its offset in `x` and whether it is inside.
struct Row {
    at: vec4<i32>,
    ok: vec4<bool>,
}

fn row(t: Taps, b: u32, oy: u32) -> Row {
    let iy = i32(oy * p.stride) + t.dy;
    let ok = (iy >= vec4<i32>(0)) & (iy < vec4<i32>(i32(p.height)));
    return Row(i32(b * p.in_channels * p.height * p.width) + t.c + iy * i32(p.width), ok);
}

fn load(r: Row, t: Taps, ox: u32) -> vec4<f32> {
    let ix = i32(ox * p.stride) + t.dx;
    let ok = r.ok & (ix >= vec4<i32>(0)) & (ix < vec4<i32>(i32(p.width)));
    let at = vec4<u32>(select(vec4<i32>(0), r.at + ix, ok));
    return select(vec4<f32>(0.0), vec4<f32>(x[at.x], x[at.y], x[at.z], x[at.w]), ok);
}

// Gradients of 4 channels (offsets of their planes, clamped past the last channel) at one pixel.
fn grad(planes: vec4<u32>, at: u32) -> vec4<f32> {
    return vec4<f32>(dy[planes.x + at], dy[planes.y + at], dy[planes.z + at], dy[planes.w + at]);
}

// Writes the partial sums of 4 values of k (a column of each of a k quad's four accumulators) for 16 channels.
fn store(base: u32, k: u32, o0: u32, c0: vec4<f32>, c1: vec4<f32>, c2: vec4<f32>, c3: vec4<f32>) {
    let n = p.in_channels * p.kernel_h * p.kernel_w;
    if k >= n {
        return;
    }
    let v = array<vec4<f32>, 4>(c0, c1, c2, c3);
    for (var j = 0u; j < 16u; j++) {
        let o = o0 + j;
        if o < p.out_channels {
            partials[base + o * n + k] = v[j / 4u][j % 4u];
        }
    }
}

fn pick(v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>, i: u32) -> vec4<f32> {
    return select(select(select(v0, v1, i == 1u), v2, i == 2u), v3, i == 3u);
}

// k quad q's accumulator of one channel quad, given that channel quad's four (one per k quad).
fn pick_quad(m0: mat4x4<f32>, m1: mat4x4<f32>, m2: mat4x4<f32>, m3: mat4x4<f32>, q: u32) -> mat4x4<f32> {
    return mat4x4<f32>(
        pick(m0[0], m1[0], m2[0], m3[0], q),
        pick(m0[1], m1[1], m2[1], m3[1], q),
        pick(m0[2], m1[2], m2[2], m3[2], q),
        pick(m0[3], m1[3], m2[3], m3[3], q),
    );
}

// Row r of an accumulator: one value of k for its 4 channels.
fn pick_row(m: mat4x4<f32>, r: u32) -> vec4<f32> {
    let t = transpose(m);
    return pick(t[0], t[1], t[2], t[3], r);
}

@compute @workgroup_size(WG)
fn partial(@builtin(global_invocation_id) gid: vec3<u32>) {
    let k0 = gid.x * 16u;
    let o0 = gid.y * 16u;
    let slice = gid.z;
    if k0 >= p.in_channels * p.kernel_h * p.kernel_w {
        return;
    }
    let plane = p.out_h * p.out_w;
    let t0 = taps(k0);
    let t1 = taps(k0 + 4u);
    let t2 = taps(k0 + 8u);
    let t3 = taps(k0 + 12u);
    let last = vec4<u32>(p.out_channels - 1u);
    let o = vec4<u32>(0u, 1u, 2u, 3u);
    let p0 = min(vec4<u32>(o0) + o, last) * plane;
    let p1 = min(vec4<u32>(o0 + 4u) + o, last) * plane;
    let p2 = min(vec4<u32>(o0 + 8u) + o, last) * plane;
    let p3 = min(vec4<u32>(o0 + 12u) + o, last) * plane;
    // a{k quad}{channel quad}; s{channel quad}: the bias gradient's sums
    var a00 = mat4x4<f32>(); var a01 = mat4x4<f32>(); var a02 = mat4x4<f32>(); var a03 = mat4x4<f32>();
    var a10 = mat4x4<f32>(); var a11 = mat4x4<f32>(); var a12 = mat4x4<f32>(); var a13 = mat4x4<f32>();
    var a20 = mat4x4<f32>(); var a21 = mat4x4<f32>(); var a22 = mat4x4<f32>(); var a23 = mat4x4<f32>();
    var a30 = mat4x4<f32>(); var a31 = mat4x4<f32>(); var a32 = mat4x4<f32>(); var a33 = mat4x4<f32>();
    var s0 = vec4<f32>(); var s1 = vec4<f32>(); var s2 = vec4<f32>(); var s3 = vec4<f32>();
    let b_end = min((slice + 1u) * p.per_slice, p.batch);
    for (var b = slice * p.per_slice; b < b_end; b++) {
        let image = b * p.out_channels * plane;
        for (var oy = 0u; oy < p.out_h; oy++) {
            let r0 = row(t0, b, oy);
            let r1 = row(t1, b, oy);
            let r2 = row(t2, b, oy);
            let r3 = row(t3, b, oy);
            for (var ox = 0u; ox < p.out_w; ox++) {
                let at = image + oy * p.out_w + ox;
                let g0 = grad(p0, at);
                let g1 = grad(p1, at);
                let g2 = grad(p2, at);
                let g3 = grad(p3, at);
                s0 += g0; s1 += g1; s2 += g2; s3 += g3;
                let v0 = load(r0, t0, ox);
                a00 += outer(v0, g0); a01 += outer(v0, g1); a02 += outer(v0, g2); a03 += outer(v0, g3);
                let v1 = load(r1, t1, ox);
                a10 += outer(v1, g0); a11 += outer(v1, g1); a12 += outer(v1, g2); a13 += outer(v1, g3);
                let v2 = load(r2, t2, ox);
                a20 += outer(v2, g0); a21 += outer(v2, g1); a22 += outer(v2, g2); a23 += outer(v2, g3);
                let v3 = load(r3, t3, ox);
                a30 += outer(v3, g0); a31 += outer(v3, g1); a32 += outer(v3, g2); a33 += outer(v3, g3);
            }
        }
    }
    // Column j of a{q}{c} holds channel 4c+j for k values 4q..4q+3: transposed, row i holds k value 4q+i.
    // A loop over the 16 values of k with selects, not 256 stores written out: those made up most of the
    // kernel's code and its compile time on lavapipe. The accumulators stay indexed by constants only
    // (indexing them with a variable would move them out of registers for the whole kernel).
    let base = slice * p.len;
    for (var i = 0u; i < 16u; i++) {
        let q = i / 4u;
        let r = i % 4u;
        store(
            base,
            k0 + i,
            o0,
            pick_row(pick_quad(a00, a10, a20, a30, q), r),
            pick_row(pick_quad(a01, a11, a21, a31, q), r),
            pick_row(pick_quad(a02, a12, a22, a32, q), r),
            pick_row(pick_quad(a03, a13, a23, a33, q), r),
        );
    }
    if k0 == 0u {
        let sums = array<vec4<f32>, 4>(s0, s1, s2, s3);
        let n = p.in_channels * p.kernel_h * p.kernel_w;
        for (var j = 0u; j < 16u; j++) {
            if o0 + j < p.out_channels {
                partials[base + p.out_channels * n + o0 + j] = sums[j / 4u][j % 4u];
            }
        }
    }
}

@group(0) @binding(1) var<storage, read> sums: array<f32>;
@group(0) @binding(2) var<storage, read_write> dw: array<f32>;
@group(0) @binding(3) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(64)
fn reduce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    let weights = p.len - p.out_channels;
    if i >= p.len || (i >= weights && (p.flags & 1u) == 0u) {
        return;
    }
    var total = 0.0;
    for (var s = 0u; s < p.slices; s++) {
        total += sums[s * p.len + i];
    }
    let accumulate = (p.flags & 4u) != 0u;
    if i < weights {
        dw[i] = select(total, dw[i] + total, accumulate);
    } else {
        let o = i - weights;
        db[o] = select(total, db[o] + total, accumulate);
    }
}
