// Convolution forward, NCHW, as an implicit GEMM (no im2col buffer):
//   out[b, o, oy, ox] = bias[o] + Σ_{c, ky, kx} x[b, c, oy·s + ky - pad, ox·s + kx - pad] · w[o, c, ky, kx]  (ReLU)
// GEMM view: rows are output pixels (b, oy, ox), m = batch·oh·ow; columns are output channels, n = oc; the
// reduction runs over k = (c, ky, kx), ic·kh·kw terms, in that order.
//
// Each invocation computes TP consecutive pixels (in the flattened (b, oy, ox) order, so a block may span two
// rows or images) × 8 output channels. Per step of k it loads TP input values (zero in the padding) and the
// weights of its 8 channels as two vec4s from wt[k, oc4·4] (re-laid out by conv2d_weights.wgsl): register
// blocking with vector loads, no workgroup memory, which is what wins on lavapipe (see gemm_vec4.wgsl).
// Pixels and channels past the edge are computed on clamped indices and not stored.

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
    flags: u32,     // bit 0: add bias, bit 1: ReLU
    channels4: u32, // oc padded, in vec4s: the row length of wt
    items: u32,     // output pixels, batch·oh·ow
    blocks: u32,    // blocks of 8 output channels
    _pad: u32,
}

override KH: u32 = 3u;
override KW: u32 = 3u;
override STRIDE: u32 = 1u;
override PAD: u32 = 0u;
const WG: u32 = 64u;
const TP: u32 = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;


@group(0) @binding(2) var<uniform> wu: array<vec4<f32>, 4096>;

fn outer(w: vec4<f32>, v: vec4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(w * v.x, w * v.y, w * v.z, w * v.w);
}

// The input values at 4 pixels' taps: `row` holds each pixel's row offset, `ix` its column; zero outside.
fn load4(row: vec4<i32>, row_ok: vec4<bool>, ix: vec4<i32>) -> vec4<f32> {
    let ok = row_ok & (ix >= vec4<i32>(0)) & (ix < vec4<i32>(i32(p.width)));
    let at = vec4<u32>(select(vec4<i32>(0), row + ix, ok));
    return select(vec4<f32>(0.0), vec4<f32>(x[at.x], x[at.y], x[at.z], x[at.w]), ok);
}

fn store4(b: u32, r: u32, o0: u32, v: vec4<f32>) {
    let plane = p.out_h * p.out_w;
    for (var j = 0u; j < 4u; j++) {
        let o = o0 + j;
        if o < p.out_channels {
            var y = v[j];
            if (p.flags & 1u) != 0u {
                y += bias[o];
            }
            if (p.flags & 2u) != 0u {
                y = max(y, 0.0);
            }
            out[(b * p.out_channels + o) * plane + r] = y;
        }
    }
}

@compute @workgroup_size(WG)
fn uw8c32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let id = gid.x + gid.y * groups.x * WG;
    let block = p._pad;
    let px0 = (gid.x + gid.y * groups.x * WG) * 8u;
    if px0 >= p.items {
        return;
    }
    let plane = p.out_h * p.out_w;
    let in_plane = p.height * p.width;
    let q0 = min(vec4<u32>(px0 + 0u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.items - 1u));
    let b0 = q0 / plane;
    let r0 = q0 - b0 * plane;
    let oy0 = r0 / p.out_w;
    let base0 = vec4<i32>(b0 * p.in_channels * in_plane);
    let iy0 = vec4<i32>(oy0 * p.stride) - i32(p.padding);
    let ix0 = vec4<i32>((r0 - oy0 * p.out_w) * p.stride) - i32(p.padding);
    let q1 = min(vec4<u32>(px0 + 4u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.items - 1u));
    let b1 = q1 / plane;
    let r1 = q1 - b1 * plane;
    let oy1 = r1 / p.out_w;
    let base1 = vec4<i32>(b1 * p.in_channels * in_plane);
    let iy1 = vec4<i32>(oy1 * p.stride) - i32(p.padding);
    let ix1 = vec4<i32>((r1 - oy1 * p.out_w) * p.stride) - i32(p.padding);
    var acc00 = mat4x4<f32>();
    var acc01 = mat4x4<f32>();
    var acc02 = mat4x4<f32>();
    var acc03 = mat4x4<f32>();
    var acc04 = mat4x4<f32>();
    var acc05 = mat4x4<f32>();
    var acc06 = mat4x4<f32>();
    var acc07 = mat4x4<f32>();
    var acc10 = mat4x4<f32>();
    var acc11 = mat4x4<f32>();
    var acc12 = mat4x4<f32>();
    var acc13 = mat4x4<f32>();
    var acc14 = mat4x4<f32>();
    var acc15 = mat4x4<f32>();
    var acc16 = mat4x4<f32>();
    var acc17 = mat4x4<f32>();
    var k = 0u;
    for (var c = 0u; c < p.in_channels; c++) {
        let cb = i32(c * in_plane);
        for (var ky = 0u; ky < p.kernel_h; ky++) {
            let y0 = iy0 + i32(ky);
            let rok0 = (y0 >= vec4<i32>(0)) & (y0 < vec4<i32>(i32(p.height)));
            let row0 = base0 + cb + y0 * i32(p.width);
            let y1 = iy1 + i32(ky);
            let rok1 = (y1 >= vec4<i32>(0)) & (y1 < vec4<i32>(i32(p.height)));
            let row1 = base1 + cb + y1 * i32(p.width);
            for (var kx = 0u; kx < p.kernel_w; kx++) {
                let w0 = wu[k * 8u + 0u];
                let w1 = wu[k * 8u + 1u];
                let w2 = wu[k * 8u + 2u];
                let w3 = wu[k * 8u + 3u];
                let w4 = wu[k * 8u + 4u];
                let w5 = wu[k * 8u + 5u];
                let w6 = wu[k * 8u + 6u];
                let w7 = wu[k * 8u + 7u];
                let v0 = load4(row0, rok0, ix0 + i32(kx));
                acc00 += outer(w0, v0);
                acc01 += outer(w1, v0);
                acc02 += outer(w2, v0);
                acc03 += outer(w3, v0);
                acc04 += outer(w4, v0);
                acc05 += outer(w5, v0);
                acc06 += outer(w6, v0);
                acc07 += outer(w7, v0);
                let v1 = load4(row1, rok1, ix1 + i32(kx));
                acc10 += outer(w0, v1);
                acc11 += outer(w1, v1);
                acc12 += outer(w2, v1);
                acc13 += outer(w3, v1);
                acc14 += outer(w4, v1);
                acc15 += outer(w5, v1);
                acc16 += outer(w6, v1);
                acc17 += outer(w7, v1);
                k++;
            }
        }
    }
    if px0 + 0u < p.items {
        store4(b0[0], r0[0], block * 32u + 0u, acc00[0]);
        store4(b0[0], r0[0], block * 32u + 4u, acc01[0]);
        store4(b0[0], r0[0], block * 32u + 8u, acc02[0]);
        store4(b0[0], r0[0], block * 32u + 12u, acc03[0]);
        store4(b0[0], r0[0], block * 32u + 16u, acc04[0]);
        store4(b0[0], r0[0], block * 32u + 20u, acc05[0]);
        store4(b0[0], r0[0], block * 32u + 24u, acc06[0]);
        store4(b0[0], r0[0], block * 32u + 28u, acc07[0]);
    }
    if px0 + 1u < p.items {
        store4(b0[1], r0[1], block * 32u + 0u, acc00[1]);
        store4(b0[1], r0[1], block * 32u + 4u, acc01[1]);
        store4(b0[1], r0[1], block * 32u + 8u, acc02[1]);
        store4(b0[1], r0[1], block * 32u + 12u, acc03[1]);
        store4(b0[1], r0[1], block * 32u + 16u, acc04[1]);
        store4(b0[1], r0[1], block * 32u + 20u, acc05[1]);
        store4(b0[1], r0[1], block * 32u + 24u, acc06[1]);
        store4(b0[1], r0[1], block * 32u + 28u, acc07[1]);
    }
    if px0 + 2u < p.items {
        store4(b0[2], r0[2], block * 32u + 0u, acc00[2]);
        store4(b0[2], r0[2], block * 32u + 4u, acc01[2]);
        store4(b0[2], r0[2], block * 32u + 8u, acc02[2]);
        store4(b0[2], r0[2], block * 32u + 12u, acc03[2]);
        store4(b0[2], r0[2], block * 32u + 16u, acc04[2]);
        store4(b0[2], r0[2], block * 32u + 20u, acc05[2]);
        store4(b0[2], r0[2], block * 32u + 24u, acc06[2]);
        store4(b0[2], r0[2], block * 32u + 28u, acc07[2]);
    }
    if px0 + 3u < p.items {
        store4(b0[3], r0[3], block * 32u + 0u, acc00[3]);
        store4(b0[3], r0[3], block * 32u + 4u, acc01[3]);
        store4(b0[3], r0[3], block * 32u + 8u, acc02[3]);
        store4(b0[3], r0[3], block * 32u + 12u, acc03[3]);
        store4(b0[3], r0[3], block * 32u + 16u, acc04[3]);
        store4(b0[3], r0[3], block * 32u + 20u, acc05[3]);
        store4(b0[3], r0[3], block * 32u + 24u, acc06[3]);
        store4(b0[3], r0[3], block * 32u + 28u, acc07[3]);
    }
    if px0 + 4u < p.items {
        store4(b1[0], r1[0], block * 32u + 0u, acc10[0]);
        store4(b1[0], r1[0], block * 32u + 4u, acc11[0]);
        store4(b1[0], r1[0], block * 32u + 8u, acc12[0]);
        store4(b1[0], r1[0], block * 32u + 12u, acc13[0]);
        store4(b1[0], r1[0], block * 32u + 16u, acc14[0]);
        store4(b1[0], r1[0], block * 32u + 20u, acc15[0]);
        store4(b1[0], r1[0], block * 32u + 24u, acc16[0]);
        store4(b1[0], r1[0], block * 32u + 28u, acc17[0]);
    }
    if px0 + 5u < p.items {
        store4(b1[1], r1[1], block * 32u + 0u, acc10[1]);
        store4(b1[1], r1[1], block * 32u + 4u, acc11[1]);
        store4(b1[1], r1[1], block * 32u + 8u, acc12[1]);
        store4(b1[1], r1[1], block * 32u + 12u, acc13[1]);
        store4(b1[1], r1[1], block * 32u + 16u, acc14[1]);
        store4(b1[1], r1[1], block * 32u + 20u, acc15[1]);
        store4(b1[1], r1[1], block * 32u + 24u, acc16[1]);
        store4(b1[1], r1[1], block * 32u + 28u, acc17[1]);
    }
    if px0 + 6u < p.items {
        store4(b1[2], r1[2], block * 32u + 0u, acc10[2]);
        store4(b1[2], r1[2], block * 32u + 4u, acc11[2]);
        store4(b1[2], r1[2], block * 32u + 8u, acc12[2]);
        store4(b1[2], r1[2], block * 32u + 12u, acc13[2]);
        store4(b1[2], r1[2], block * 32u + 16u, acc14[2]);
        store4(b1[2], r1[2], block * 32u + 20u, acc15[2]);
        store4(b1[2], r1[2], block * 32u + 24u, acc16[2]);
        store4(b1[2], r1[2], block * 32u + 28u, acc17[2]);
    }
    if px0 + 7u < p.items {
        store4(b1[3], r1[3], block * 32u + 0u, acc10[3]);
        store4(b1[3], r1[3], block * 32u + 4u, acc11[3]);
        store4(b1[3], r1[3], block * 32u + 8u, acc12[3]);
        store4(b1[3], r1[3], block * 32u + 12u, acc13[3]);
        store4(b1[3], r1[3], block * 32u + 16u, acc14[3]);
        store4(b1[3], r1[3], block * 32u + 20u, acc15[3]);
        store4(b1[3], r1[3], block * 32u + 24u, acc16[3]);
        store4(b1[3], r1[3], block * 32u + 28u, acc17[3]);
    }
}

@compute @workgroup_size(WG)
fn uw16c32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let id = gid.x + gid.y * groups.x * WG;
    let block = p._pad;
    let px0 = (gid.x + gid.y * groups.x * WG) * 16u;
    if px0 >= p.items {
        return;
    }
    let plane = p.out_h * p.out_w;
    let in_plane = p.height * p.width;
    let q0 = min(vec4<u32>(px0 + 0u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.items - 1u));
    let b0 = q0 / plane;
    let r0 = q0 - b0 * plane;
    let oy0 = r0 / p.out_w;
    let base0 = vec4<i32>(b0 * p.in_channels * in_plane);
    let iy0 = vec4<i32>(oy0 * p.stride) - i32(p.padding);
    let ix0 = vec4<i32>((r0 - oy0 * p.out_w) * p.stride) - i32(p.padding);
    let q1 = min(vec4<u32>(px0 + 4u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.items - 1u));
    let b1 = q1 / plane;
    let r1 = q1 - b1 * plane;
    let oy1 = r1 / p.out_w;
    let base1 = vec4<i32>(b1 * p.in_channels * in_plane);
    let iy1 = vec4<i32>(oy1 * p.stride) - i32(p.padding);
    let ix1 = vec4<i32>((r1 - oy1 * p.out_w) * p.stride) - i32(p.padding);
    let q2 = min(vec4<u32>(px0 + 8u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.items - 1u));
    let b2 = q2 / plane;
    let r2 = q2 - b2 * plane;
    let oy2 = r2 / p.out_w;
    let base2 = vec4<i32>(b2 * p.in_channels * in_plane);
    let iy2 = vec4<i32>(oy2 * p.stride) - i32(p.padding);
    let ix2 = vec4<i32>((r2 - oy2 * p.out_w) * p.stride) - i32(p.padding);
    let q3 = min(vec4<u32>(px0 + 12u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.items - 1u));
    let b3 = q3 / plane;
    let r3 = q3 - b3 * plane;
    let oy3 = r3 / p.out_w;
    let base3 = vec4<i32>(b3 * p.in_channels * in_plane);
    let iy3 = vec4<i32>(oy3 * p.stride) - i32(p.padding);
    let ix3 = vec4<i32>((r3 - oy3 * p.out_w) * p.stride) - i32(p.padding);
    var acc00 = mat4x4<f32>();
    var acc01 = mat4x4<f32>();
    var acc02 = mat4x4<f32>();
    var acc03 = mat4x4<f32>();
    var acc04 = mat4x4<f32>();
    var acc05 = mat4x4<f32>();
    var acc06 = mat4x4<f32>();
    var acc07 = mat4x4<f32>();
    var acc10 = mat4x4<f32>();
    var acc11 = mat4x4<f32>();
    var acc12 = mat4x4<f32>();
    var acc13 = mat4x4<f32>();
    var acc14 = mat4x4<f32>();
    var acc15 = mat4x4<f32>();
    var acc16 = mat4x4<f32>();
    var acc17 = mat4x4<f32>();
    var acc20 = mat4x4<f32>();
    var acc21 = mat4x4<f32>();
    var acc22 = mat4x4<f32>();
    var acc23 = mat4x4<f32>();
    var acc24 = mat4x4<f32>();
    var acc25 = mat4x4<f32>();
    var acc26 = mat4x4<f32>();
    var acc27 = mat4x4<f32>();
    var acc30 = mat4x4<f32>();
    var acc31 = mat4x4<f32>();
    var acc32 = mat4x4<f32>();
    var acc33 = mat4x4<f32>();
    var acc34 = mat4x4<f32>();
    var acc35 = mat4x4<f32>();
    var acc36 = mat4x4<f32>();
    var acc37 = mat4x4<f32>();
    var k = 0u;
    for (var c = 0u; c < p.in_channels; c++) {
        let cb = i32(c * in_plane);
        for (var ky = 0u; ky < p.kernel_h; ky++) {
            let y0 = iy0 + i32(ky);
            let rok0 = (y0 >= vec4<i32>(0)) & (y0 < vec4<i32>(i32(p.height)));
            let row0 = base0 + cb + y0 * i32(p.width);
            let y1 = iy1 + i32(ky);
            let rok1 = (y1 >= vec4<i32>(0)) & (y1 < vec4<i32>(i32(p.height)));
            let row1 = base1 + cb + y1 * i32(p.width);
            let y2 = iy2 + i32(ky);
            let rok2 = (y2 >= vec4<i32>(0)) & (y2 < vec4<i32>(i32(p.height)));
            let row2 = base2 + cb + y2 * i32(p.width);
            let y3 = iy3 + i32(ky);
            let rok3 = (y3 >= vec4<i32>(0)) & (y3 < vec4<i32>(i32(p.height)));
            let row3 = base3 + cb + y3 * i32(p.width);
            for (var kx = 0u; kx < p.kernel_w; kx++) {
                let w0 = wu[k * 8u + 0u];
                let w1 = wu[k * 8u + 1u];
                let w2 = wu[k * 8u + 2u];
                let w3 = wu[k * 8u + 3u];
                let w4 = wu[k * 8u + 4u];
                let w5 = wu[k * 8u + 5u];
                let w6 = wu[k * 8u + 6u];
                let w7 = wu[k * 8u + 7u];
                let v0 = load4(row0, rok0, ix0 + i32(kx));
                acc00 += outer(w0, v0);
                acc01 += outer(w1, v0);
                acc02 += outer(w2, v0);
                acc03 += outer(w3, v0);
                acc04 += outer(w4, v0);
                acc05 += outer(w5, v0);
                acc06 += outer(w6, v0);
                acc07 += outer(w7, v0);
                let v1 = load4(row1, rok1, ix1 + i32(kx));
                acc10 += outer(w0, v1);
                acc11 += outer(w1, v1);
                acc12 += outer(w2, v1);
                acc13 += outer(w3, v1);
                acc14 += outer(w4, v1);
                acc15 += outer(w5, v1);
                acc16 += outer(w6, v1);
                acc17 += outer(w7, v1);
                let v2 = load4(row2, rok2, ix2 + i32(kx));
                acc20 += outer(w0, v2);
                acc21 += outer(w1, v2);
                acc22 += outer(w2, v2);
                acc23 += outer(w3, v2);
                acc24 += outer(w4, v2);
                acc25 += outer(w5, v2);
                acc26 += outer(w6, v2);
                acc27 += outer(w7, v2);
                let v3 = load4(row3, rok3, ix3 + i32(kx));
                acc30 += outer(w0, v3);
                acc31 += outer(w1, v3);
                acc32 += outer(w2, v3);
                acc33 += outer(w3, v3);
                acc34 += outer(w4, v3);
                acc35 += outer(w5, v3);
                acc36 += outer(w6, v3);
                acc37 += outer(w7, v3);
                k++;
            }
        }
    }
    if px0 + 0u < p.items {
        store4(b0[0], r0[0], block * 32u + 0u, acc00[0]);
        store4(b0[0], r0[0], block * 32u + 4u, acc01[0]);
        store4(b0[0], r0[0], block * 32u + 8u, acc02[0]);
        store4(b0[0], r0[0], block * 32u + 12u, acc03[0]);
        store4(b0[0], r0[0], block * 32u + 16u, acc04[0]);
        store4(b0[0], r0[0], block * 32u + 20u, acc05[0]);
        store4(b0[0], r0[0], block * 32u + 24u, acc06[0]);
        store4(b0[0], r0[0], block * 32u + 28u, acc07[0]);
    }
    if px0 + 1u < p.items {
        store4(b0[1], r0[1], block * 32u + 0u, acc00[1]);
        store4(b0[1], r0[1], block * 32u + 4u, acc01[1]);
        store4(b0[1], r0[1], block * 32u + 8u, acc02[1]);
        store4(b0[1], r0[1], block * 32u + 12u, acc03[1]);
        store4(b0[1], r0[1], block * 32u + 16u, acc04[1]);
        store4(b0[1], r0[1], block * 32u + 20u, acc05[1]);
        store4(b0[1], r0[1], block * 32u + 24u, acc06[1]);
        store4(b0[1], r0[1], block * 32u + 28u, acc07[1]);
    }
    if px0 + 2u < p.items {
        store4(b0[2], r0[2], block * 32u + 0u, acc00[2]);
        store4(b0[2], r0[2], block * 32u + 4u, acc01[2]);
        store4(b0[2], r0[2], block * 32u + 8u, acc02[2]);
        store4(b0[2], r0[2], block * 32u + 12u, acc03[2]);
        store4(b0[2], r0[2], block * 32u + 16u, acc04[2]);
        store4(b0[2], r0[2], block * 32u + 20u, acc05[2]);
        store4(b0[2], r0[2], block * 32u + 24u, acc06[2]);
        store4(b0[2], r0[2], block * 32u + 28u, acc07[2]);
    }
    if px0 + 3u < p.items {
        store4(b0[3], r0[3], block * 32u + 0u, acc00[3]);
        store4(b0[3], r0[3], block * 32u + 4u, acc01[3]);
        store4(b0[3], r0[3], block * 32u + 8u, acc02[3]);
        store4(b0[3], r0[3], block * 32u + 12u, acc03[3]);
        store4(b0[3], r0[3], block * 32u + 16u, acc04[3]);
        store4(b0[3], r0[3], block * 32u + 20u, acc05[3]);
        store4(b0[3], r0[3], block * 32u + 24u, acc06[3]);
        store4(b0[3], r0[3], block * 32u + 28u, acc07[3]);
    }
    if px0 + 4u < p.items {
        store4(b1[0], r1[0], block * 32u + 0u, acc10[0]);
        store4(b1[0], r1[0], block * 32u + 4u, acc11[0]);
        store4(b1[0], r1[0], block * 32u + 8u, acc12[0]);
        store4(b1[0], r1[0], block * 32u + 12u, acc13[0]);
        store4(b1[0], r1[0], block * 32u + 16u, acc14[0]);
        store4(b1[0], r1[0], block * 32u + 20u, acc15[0]);
        store4(b1[0], r1[0], block * 32u + 24u, acc16[0]);
        store4(b1[0], r1[0], block * 32u + 28u, acc17[0]);
    }
    if px0 + 5u < p.items {
        store4(b1[1], r1[1], block * 32u + 0u, acc10[1]);
        store4(b1[1], r1[1], block * 32u + 4u, acc11[1]);
        store4(b1[1], r1[1], block * 32u + 8u, acc12[1]);
        store4(b1[1], r1[1], block * 32u + 12u, acc13[1]);
        store4(b1[1], r1[1], block * 32u + 16u, acc14[1]);
        store4(b1[1], r1[1], block * 32u + 20u, acc15[1]);
        store4(b1[1], r1[1], block * 32u + 24u, acc16[1]);
        store4(b1[1], r1[1], block * 32u + 28u, acc17[1]);
    }
    if px0 + 6u < p.items {
        store4(b1[2], r1[2], block * 32u + 0u, acc10[2]);
        store4(b1[2], r1[2], block * 32u + 4u, acc11[2]);
        store4(b1[2], r1[2], block * 32u + 8u, acc12[2]);
        store4(b1[2], r1[2], block * 32u + 12u, acc13[2]);
        store4(b1[2], r1[2], block * 32u + 16u, acc14[2]);
        store4(b1[2], r1[2], block * 32u + 20u, acc15[2]);
        store4(b1[2], r1[2], block * 32u + 24u, acc16[2]);
        store4(b1[2], r1[2], block * 32u + 28u, acc17[2]);
    }
    if px0 + 7u < p.items {
        store4(b1[3], r1[3], block * 32u + 0u, acc10[3]);
        store4(b1[3], r1[3], block * 32u + 4u, acc11[3]);
        store4(b1[3], r1[3], block * 32u + 8u, acc12[3]);
        store4(b1[3], r1[3], block * 32u + 12u, acc13[3]);
        store4(b1[3], r1[3], block * 32u + 16u, acc14[3]);
        store4(b1[3], r1[3], block * 32u + 20u, acc15[3]);
        store4(b1[3], r1[3], block * 32u + 24u, acc16[3]);
        store4(b1[3], r1[3], block * 32u + 28u, acc17[3]);
    }
    if px0 + 8u < p.items {
        store4(b2[0], r2[0], block * 32u + 0u, acc20[0]);
        store4(b2[0], r2[0], block * 32u + 4u, acc21[0]);
        store4(b2[0], r2[0], block * 32u + 8u, acc22[0]);
        store4(b2[0], r2[0], block * 32u + 12u, acc23[0]);
        store4(b2[0], r2[0], block * 32u + 16u, acc24[0]);
        store4(b2[0], r2[0], block * 32u + 20u, acc25[0]);
        store4(b2[0], r2[0], block * 32u + 24u, acc26[0]);
        store4(b2[0], r2[0], block * 32u + 28u, acc27[0]);
    }
    if px0 + 9u < p.items {
        store4(b2[1], r2[1], block * 32u + 0u, acc20[1]);
        store4(b2[1], r2[1], block * 32u + 4u, acc21[1]);
        store4(b2[1], r2[1], block * 32u + 8u, acc22[1]);
        store4(b2[1], r2[1], block * 32u + 12u, acc23[1]);
        store4(b2[1], r2[1], block * 32u + 16u, acc24[1]);
        store4(b2[1], r2[1], block * 32u + 20u, acc25[1]);
        store4(b2[1], r2[1], block * 32u + 24u, acc26[1]);
        store4(b2[1], r2[1], block * 32u + 28u, acc27[1]);
    }
    if px0 + 10u < p.items {
        store4(b2[2], r2[2], block * 32u + 0u, acc20[2]);
        store4(b2[2], r2[2], block * 32u + 4u, acc21[2]);
        store4(b2[2], r2[2], block * 32u + 8u, acc22[2]);
        store4(b2[2], r2[2], block * 32u + 12u, acc23[2]);
        store4(b2[2], r2[2], block * 32u + 16u, acc24[2]);
        store4(b2[2], r2[2], block * 32u + 20u, acc25[2]);
        store4(b2[2], r2[2], block * 32u + 24u, acc26[2]);
        store4(b2[2], r2[2], block * 32u + 28u, acc27[2]);
    }
    if px0 + 11u < p.items {
        store4(b2[3], r2[3], block * 32u + 0u, acc20[3]);
        store4(b2[3], r2[3], block * 32u + 4u, acc21[3]);
        store4(b2[3], r2[3], block * 32u + 8u, acc22[3]);
        store4(b2[3], r2[3], block * 32u + 12u, acc23[3]);
        store4(b2[3], r2[3], block * 32u + 16u, acc24[3]);
        store4(b2[3], r2[3], block * 32u + 20u, acc25[3]);
        store4(b2[3], r2[3], block * 32u + 24u, acc26[3]);
        store4(b2[3], r2[3], block * 32u + 28u, acc27[3]);
    }
    if px0 + 12u < p.items {
        store4(b3[0], r3[0], block * 32u + 0u, acc30[0]);
        store4(b3[0], r3[0], block * 32u + 4u, acc31[0]);
        store4(b3[0], r3[0], block * 32u + 8u, acc32[0]);
        store4(b3[0], r3[0], block * 32u + 12u, acc33[0]);
        store4(b3[0], r3[0], block * 32u + 16u, acc34[0]);
        store4(b3[0], r3[0], block * 32u + 20u, acc35[0]);
        store4(b3[0], r3[0], block * 32u + 24u, acc36[0]);
        store4(b3[0], r3[0], block * 32u + 28u, acc37[0]);
    }
    if px0 + 13u < p.items {
        store4(b3[1], r3[1], block * 32u + 0u, acc30[1]);
        store4(b3[1], r3[1], block * 32u + 4u, acc31[1]);
        store4(b3[1], r3[1], block * 32u + 8u, acc32[1]);
        store4(b3[1], r3[1], block * 32u + 12u, acc33[1]);
        store4(b3[1], r3[1], block * 32u + 16u, acc34[1]);
        store4(b3[1], r3[1], block * 32u + 20u, acc35[1]);
        store4(b3[1], r3[1], block * 32u + 24u, acc36[1]);
        store4(b3[1], r3[1], block * 32u + 28u, acc37[1]);
    }
    if px0 + 14u < p.items {
        store4(b3[2], r3[2], block * 32u + 0u, acc30[2]);
        store4(b3[2], r3[2], block * 32u + 4u, acc31[2]);
        store4(b3[2], r3[2], block * 32u + 8u, acc32[2]);
        store4(b3[2], r3[2], block * 32u + 12u, acc33[2]);
        store4(b3[2], r3[2], block * 32u + 16u, acc34[2]);
        store4(b3[2], r3[2], block * 32u + 20u, acc35[2]);
        store4(b3[2], r3[2], block * 32u + 24u, acc36[2]);
        store4(b3[2], r3[2], block * 32u + 28u, acc37[2]);
    }
    if px0 + 15u < p.items {
        store4(b3[3], r3[3], block * 32u + 0u, acc30[3]);
        store4(b3[3], r3[3], block * 32u + 4u, acc31[3]);
        store4(b3[3], r3[3], block * 32u + 8u, acc32[3]);
        store4(b3[3], r3[3], block * 32u + 12u, acc33[3]);
        store4(b3[3], r3[3], block * 32u + 16u, acc34[3]);
        store4(b3[3], r3[3], block * 32u + 20u, acc35[3]);
        store4(b3[3], r3[3], block * 32u + 24u, acc36[3]);
        store4(b3[3], r3[3], block * 32u + 28u, acc37[3]);
    }
}

@compute @workgroup_size(WG)
fn uw12c32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let id = gid.x + gid.y * groups.x * WG;
    let block = p._pad;
    let px0 = (gid.x + gid.y * groups.x * WG) * 12u;
    if px0 >= p.items {
        return;
    }
    let plane = p.out_h * p.out_w;
    let in_plane = p.height * p.width;
    let q0 = min(vec4<u32>(px0 + 0u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.items - 1u));
    let b0 = q0 / plane;
    let r0 = q0 - b0 * plane;
    let oy0 = r0 / p.out_w;
    let base0 = vec4<i32>(b0 * p.in_channels * in_plane);
    let iy0 = vec4<i32>(oy0 * p.stride) - i32(p.padding);
    let ix0 = vec4<i32>((r0 - oy0 * p.out_w) * p.stride) - i32(p.padding);
    let q1 = min(vec4<u32>(px0 + 4u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.items - 1u));
    let b1 = q1 / plane;
    let r1 = q1 - b1 * plane;
    let oy1 = r1 / p.out_w;
    let base1 = vec4<i32>(b1 * p.in_channels * in_plane);
    let iy1 = vec4<i32>(oy1 * p.stride) - i32(p.padding);
    let ix1 = vec4<i32>((r1 - oy1 * p.out_w) * p.stride) - i32(p.padding);
    let q2 = min(vec4<u32>(px0 + 8u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.items - 1u));
    let b2 = q2 / plane;
    let r2 = q2 - b2 * plane;
    let oy2 = r2 / p.out_w;
    let base2 = vec4<i32>(b2 * p.in_channels * in_plane);
    let iy2 = vec4<i32>(oy2 * p.stride) - i32(p.padding);
    let ix2 = vec4<i32>((r2 - oy2 * p.out_w) * p.stride) - i32(p.padding);
    var acc00 = mat4x4<f32>();
    var acc01 = mat4x4<f32>();
    var acc02 = mat4x4<f32>();
    var acc03 = mat4x4<f32>();
    var acc04 = mat4x4<f32>();
    var acc05 = mat4x4<f32>();
    var acc06 = mat4x4<f32>();
    var acc07 = mat4x4<f32>();
    var acc10 = mat4x4<f32>();
    var acc11 = mat4x4<f32>();
    var acc12 = mat4x4<f32>();
    var acc13 = mat4x4<f32>();
    var acc14 = mat4x4<f32>();
    var acc15 = mat4x4<f32>();
    var acc16 = mat4x4<f32>();
    var acc17 = mat4x4<f32>();
    var acc20 = mat4x4<f32>();
    var acc21 = mat4x4<f32>();
    var acc22 = mat4x4<f32>();
    var acc23 = mat4x4<f32>();
    var acc24 = mat4x4<f32>();
    var acc25 = mat4x4<f32>();
    var acc26 = mat4x4<f32>();
    var acc27 = mat4x4<f32>();
    var k = 0u;
    for (var c = 0u; c < p.in_channels; c++) {
        let cb = i32(c * in_plane);
        for (var ky = 0u; ky < p.kernel_h; ky++) {
            let y0 = iy0 + i32(ky);
            let rok0 = (y0 >= vec4<i32>(0)) & (y0 < vec4<i32>(i32(p.height)));
            let row0 = base0 + cb + y0 * i32(p.width);
            let y1 = iy1 + i32(ky);
            let rok1 = (y1 >= vec4<i32>(0)) & (y1 < vec4<i32>(i32(p.height)));
            let row1 = base1 + cb + y1 * i32(p.width);
            let y2 = iy2 + i32(ky);
            let rok2 = (y2 >= vec4<i32>(0)) & (y2 < vec4<i32>(i32(p.height)));
            let row2 = base2 + cb + y2 * i32(p.width);
            for (var kx = 0u; kx < p.kernel_w; kx++) {
                let w0 = wu[k * 8u + 0u];
                let w1 = wu[k * 8u + 1u];
                let w2 = wu[k * 8u + 2u];
                let w3 = wu[k * 8u + 3u];
                let w4 = wu[k * 8u + 4u];
                let w5 = wu[k * 8u + 5u];
                let w6 = wu[k * 8u + 6u];
                let w7 = wu[k * 8u + 7u];
                let v0 = load4(row0, rok0, ix0 + i32(kx));
                acc00 += outer(w0, v0);
                acc01 += outer(w1, v0);
                acc02 += outer(w2, v0);
                acc03 += outer(w3, v0);
                acc04 += outer(w4, v0);
                acc05 += outer(w5, v0);
                acc06 += outer(w6, v0);
                acc07 += outer(w7, v0);
                let v1 = load4(row1, rok1, ix1 + i32(kx));
                acc10 += outer(w0, v1);
                acc11 += outer(w1, v1);
                acc12 += outer(w2, v1);
                acc13 += outer(w3, v1);
                acc14 += outer(w4, v1);
                acc15 += outer(w5, v1);
                acc16 += outer(w6, v1);
                acc17 += outer(w7, v1);
                let v2 = load4(row2, rok2, ix2 + i32(kx));
                acc20 += outer(w0, v2);
                acc21 += outer(w1, v2);
                acc22 += outer(w2, v2);
                acc23 += outer(w3, v2);
                acc24 += outer(w4, v2);
                acc25 += outer(w5, v2);
                acc26 += outer(w6, v2);
                acc27 += outer(w7, v2);
                k++;
            }
        }
    }
    if px0 + 0u < p.items {
        store4(b0[0], r0[0], block * 32u + 0u, acc00[0]);
        store4(b0[0], r0[0], block * 32u + 4u, acc01[0]);
        store4(b0[0], r0[0], block * 32u + 8u, acc02[0]);
        store4(b0[0], r0[0], block * 32u + 12u, acc03[0]);
        store4(b0[0], r0[0], block * 32u + 16u, acc04[0]);
        store4(b0[0], r0[0], block * 32u + 20u, acc05[0]);
        store4(b0[0], r0[0], block * 32u + 24u, acc06[0]);
        store4(b0[0], r0[0], block * 32u + 28u, acc07[0]);
    }
    if px0 + 1u < p.items {
        store4(b0[1], r0[1], block * 32u + 0u, acc00[1]);
        store4(b0[1], r0[1], block * 32u + 4u, acc01[1]);
        store4(b0[1], r0[1], block * 32u + 8u, acc02[1]);
        store4(b0[1], r0[1], block * 32u + 12u, acc03[1]);
        store4(b0[1], r0[1], block * 32u + 16u, acc04[1]);
        store4(b0[1], r0[1], block * 32u + 20u, acc05[1]);
        store4(b0[1], r0[1], block * 32u + 24u, acc06[1]);
        store4(b0[1], r0[1], block * 32u + 28u, acc07[1]);
    }
    if px0 + 2u < p.items {
        store4(b0[2], r0[2], block * 32u + 0u, acc00[2]);
        store4(b0[2], r0[2], block * 32u + 4u, acc01[2]);
        store4(b0[2], r0[2], block * 32u + 8u, acc02[2]);
        store4(b0[2], r0[2], block * 32u + 12u, acc03[2]);
        store4(b0[2], r0[2], block * 32u + 16u, acc04[2]);
        store4(b0[2], r0[2], block * 32u + 20u, acc05[2]);
        store4(b0[2], r0[2], block * 32u + 24u, acc06[2]);
        store4(b0[2], r0[2], block * 32u + 28u, acc07[2]);
    }
    if px0 + 3u < p.items {
        store4(b0[3], r0[3], block * 32u + 0u, acc00[3]);
        store4(b0[3], r0[3], block * 32u + 4u, acc01[3]);
        store4(b0[3], r0[3], block * 32u + 8u, acc02[3]);
        store4(b0[3], r0[3], block * 32u + 12u, acc03[3]);
        store4(b0[3], r0[3], block * 32u + 16u, acc04[3]);
        store4(b0[3], r0[3], block * 32u + 20u, acc05[3]);
        store4(b0[3], r0[3], block * 32u + 24u, acc06[3]);
        store4(b0[3], r0[3], block * 32u + 28u, acc07[3]);
    }
    if px0 + 4u < p.items {
        store4(b1[0], r1[0], block * 32u + 0u, acc10[0]);
        store4(b1[0], r1[0], block * 32u + 4u, acc11[0]);
        store4(b1[0], r1[0], block * 32u + 8u, acc12[0]);
        store4(b1[0], r1[0], block * 32u + 12u, acc13[0]);
        store4(b1[0], r1[0], block * 32u + 16u, acc14[0]);
        store4(b1[0], r1[0], block * 32u + 20u, acc15[0]);
        store4(b1[0], r1[0], block * 32u + 24u, acc16[0]);
        store4(b1[0], r1[0], block * 32u + 28u, acc17[0]);
    }
    if px0 + 5u < p.items {
        store4(b1[1], r1[1], block * 32u + 0u, acc10[1]);
        store4(b1[1], r1[1], block * 32u + 4u, acc11[1]);
        store4(b1[1], r1[1], block * 32u + 8u, acc12[1]);
        store4(b1[1], r1[1], block * 32u + 12u, acc13[1]);
        store4(b1[1], r1[1], block * 32u + 16u, acc14[1]);
        store4(b1[1], r1[1], block * 32u + 20u, acc15[1]);
        store4(b1[1], r1[1], block * 32u + 24u, acc16[1]);
        store4(b1[1], r1[1], block * 32u + 28u, acc17[1]);
    }
    if px0 + 6u < p.items {
        store4(b1[2], r1[2], block * 32u + 0u, acc10[2]);
        store4(b1[2], r1[2], block * 32u + 4u, acc11[2]);
        store4(b1[2], r1[2], block * 32u + 8u, acc12[2]);
        store4(b1[2], r1[2], block * 32u + 12u, acc13[2]);
        store4(b1[2], r1[2], block * 32u + 16u, acc14[2]);
        store4(b1[2], r1[2], block * 32u + 20u, acc15[2]);
        store4(b1[2], r1[2], block * 32u + 24u, acc16[2]);
        store4(b1[2], r1[2], block * 32u + 28u, acc17[2]);
    }
    if px0 + 7u < p.items {
        store4(b1[3], r1[3], block * 32u + 0u, acc10[3]);
        store4(b1[3], r1[3], block * 32u + 4u, acc11[3]);
        store4(b1[3], r1[3], block * 32u + 8u, acc12[3]);
        store4(b1[3], r1[3], block * 32u + 12u, acc13[3]);
        store4(b1[3], r1[3], block * 32u + 16u, acc14[3]);
        store4(b1[3], r1[3], block * 32u + 20u, acc15[3]);
        store4(b1[3], r1[3], block * 32u + 24u, acc16[3]);
        store4(b1[3], r1[3], block * 32u + 28u, acc17[3]);
    }
    if px0 + 8u < p.items {
        store4(b2[0], r2[0], block * 32u + 0u, acc20[0]);
        store4(b2[0], r2[0], block * 32u + 4u, acc21[0]);
        store4(b2[0], r2[0], block * 32u + 8u, acc22[0]);
        store4(b2[0], r2[0], block * 32u + 12u, acc23[0]);
        store4(b2[0], r2[0], block * 32u + 16u, acc24[0]);
        store4(b2[0], r2[0], block * 32u + 20u, acc25[0]);
        store4(b2[0], r2[0], block * 32u + 24u, acc26[0]);
        store4(b2[0], r2[0], block * 32u + 28u, acc27[0]);
    }
    if px0 + 9u < p.items {
        store4(b2[1], r2[1], block * 32u + 0u, acc20[1]);
        store4(b2[1], r2[1], block * 32u + 4u, acc21[1]);
        store4(b2[1], r2[1], block * 32u + 8u, acc22[1]);
        store4(b2[1], r2[1], block * 32u + 12u, acc23[1]);
        store4(b2[1], r2[1], block * 32u + 16u, acc24[1]);
        store4(b2[1], r2[1], block * 32u + 20u, acc25[1]);
        store4(b2[1], r2[1], block * 32u + 24u, acc26[1]);
        store4(b2[1], r2[1], block * 32u + 28u, acc27[1]);
    }
    if px0 + 10u < p.items {
        store4(b2[2], r2[2], block * 32u + 0u, acc20[2]);
        store4(b2[2], r2[2], block * 32u + 4u, acc21[2]);
        store4(b2[2], r2[2], block * 32u + 8u, acc22[2]);
        store4(b2[2], r2[2], block * 32u + 12u, acc23[2]);
        store4(b2[2], r2[2], block * 32u + 16u, acc24[2]);
        store4(b2[2], r2[2], block * 32u + 20u, acc25[2]);
        store4(b2[2], r2[2], block * 32u + 24u, acc26[2]);
        store4(b2[2], r2[2], block * 32u + 28u, acc27[2]);
    }
    if px0 + 11u < p.items {
        store4(b2[3], r2[3], block * 32u + 0u, acc20[3]);
        store4(b2[3], r2[3], block * 32u + 4u, acc21[3]);
        store4(b2[3], r2[3], block * 32u + 8u, acc22[3]);
        store4(b2[3], r2[3], block * 32u + 12u, acc23[3]);
        store4(b2[3], r2[3], block * 32u + 16u, acc24[3]);
        store4(b2[3], r2[3], block * 32u + 20u, acc25[3]);
        store4(b2[3], r2[3], block * 32u + 24u, acc26[3]);
        store4(b2[3], r2[3], block * 32u + 28u, acc27[3]);
    }
}

@compute @workgroup_size(WG)
fn uw16c16(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let id = gid.x + gid.y * groups.x * WG;
    let block = p._pad;
    let px0 = (gid.x + gid.y * groups.x * WG) * 16u;
    if px0 >= p.items {
        return;
    }
    let plane = p.out_h * p.out_w;
    let in_plane = p.height * p.width;
    let q0 = min(vec4<u32>(px0 + 0u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.items - 1u));
    let b0 = q0 / plane;
    let r0 = q0 - b0 * plane;
    let oy0 = r0 / p.out_w;
    let base0 = vec4<i32>(b0 * p.in_channels * in_plane);
    let iy0 = vec4<i32>(oy0 * p.stride) - i32(p.padding);
    let ix0 = vec4<i32>((r0 - oy0 * p.out_w) * p.stride) - i32(p.padding);
    let q1 = min(vec4<u32>(px0 + 4u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.items - 1u));
    let b1 = q1 / plane;
    let r1 = q1 - b1 * plane;
    let oy1 = r1 / p.out_w;
    let base1 = vec4<i32>(b1 * p.in_channels * in_plane);
    let iy1 = vec4<i32>(oy1 * p.stride) - i32(p.padding);
    let ix1 = vec4<i32>((r1 - oy1 * p.out_w) * p.stride) - i32(p.padding);
    let q2 = min(vec4<u32>(px0 + 8u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.items - 1u));
    let b2 = q2 / plane;
    let r2 = q2 - b2 * plane;
    let oy2 = r2 / p.out_w;
    let base2 = vec4<i32>(b2 * p.in_channels * in_plane);
    let iy2 = vec4<i32>(oy2 * p.stride) - i32(p.padding);
    let ix2 = vec4<i32>((r2 - oy2 * p.out_w) * p.stride) - i32(p.padding);
    let q3 = min(vec4<u32>(px0 + 12u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.items - 1u));
    let b3 = q3 / plane;
    let r3 = q3 - b3 * plane;
    let oy3 = r3 / p.out_w;
    let base3 = vec4<i32>(b3 * p.in_channels * in_plane);
    let iy3 = vec4<i32>(oy3 * p.stride) - i32(p.padding);
    let ix3 = vec4<i32>((r3 - oy3 * p.out_w) * p.stride) - i32(p.padding);
    var acc00 = mat4x4<f32>();
    var acc01 = mat4x4<f32>();
    var acc02 = mat4x4<f32>();
    var acc03 = mat4x4<f32>();
    var acc10 = mat4x4<f32>();
    var acc11 = mat4x4<f32>();
    var acc12 = mat4x4<f32>();
    var acc13 = mat4x4<f32>();
    var acc20 = mat4x4<f32>();
    var acc21 = mat4x4<f32>();
    var acc22 = mat4x4<f32>();
    var acc23 = mat4x4<f32>();
    var acc30 = mat4x4<f32>();
    var acc31 = mat4x4<f32>();
    var acc32 = mat4x4<f32>();
    var acc33 = mat4x4<f32>();
    var k = 0u;
    for (var c = 0u; c < p.in_channels; c++) {
        let cb = i32(c * in_plane);
        for (var ky = 0u; ky < p.kernel_h; ky++) {
            let y0 = iy0 + i32(ky);
            let rok0 = (y0 >= vec4<i32>(0)) & (y0 < vec4<i32>(i32(p.height)));
            let row0 = base0 + cb + y0 * i32(p.width);
            let y1 = iy1 + i32(ky);
            let rok1 = (y1 >= vec4<i32>(0)) & (y1 < vec4<i32>(i32(p.height)));
            let row1 = base1 + cb + y1 * i32(p.width);
            let y2 = iy2 + i32(ky);
            let rok2 = (y2 >= vec4<i32>(0)) & (y2 < vec4<i32>(i32(p.height)));
            let row2 = base2 + cb + y2 * i32(p.width);
            let y3 = iy3 + i32(ky);
            let rok3 = (y3 >= vec4<i32>(0)) & (y3 < vec4<i32>(i32(p.height)));
            let row3 = base3 + cb + y3 * i32(p.width);
            for (var kx = 0u; kx < p.kernel_w; kx++) {
                let w0 = wu[k * 4u + 0u];
                let w1 = wu[k * 4u + 1u];
                let w2 = wu[k * 4u + 2u];
                let w3 = wu[k * 4u + 3u];
                let v0 = load4(row0, rok0, ix0 + i32(kx));
                acc00 += outer(w0, v0);
                acc01 += outer(w1, v0);
                acc02 += outer(w2, v0);
                acc03 += outer(w3, v0);
                let v1 = load4(row1, rok1, ix1 + i32(kx));
                acc10 += outer(w0, v1);
                acc11 += outer(w1, v1);
                acc12 += outer(w2, v1);
                acc13 += outer(w3, v1);
                let v2 = load4(row2, rok2, ix2 + i32(kx));
                acc20 += outer(w0, v2);
                acc21 += outer(w1, v2);
                acc22 += outer(w2, v2);
                acc23 += outer(w3, v2);
                let v3 = load4(row3, rok3, ix3 + i32(kx));
                acc30 += outer(w0, v3);
                acc31 += outer(w1, v3);
                acc32 += outer(w2, v3);
                acc33 += outer(w3, v3);
                k++;
            }
        }
    }
    if px0 + 0u < p.items {
        store4(b0[0], r0[0], block * 16u + 0u, acc00[0]);
        store4(b0[0], r0[0], block * 16u + 4u, acc01[0]);
        store4(b0[0], r0[0], block * 16u + 8u, acc02[0]);
        store4(b0[0], r0[0], block * 16u + 12u, acc03[0]);
    }
    if px0 + 1u < p.items {
        store4(b0[1], r0[1], block * 16u + 0u, acc00[1]);
        store4(b0[1], r0[1], block * 16u + 4u, acc01[1]);
        store4(b0[1], r0[1], block * 16u + 8u, acc02[1]);
        store4(b0[1], r0[1], block * 16u + 12u, acc03[1]);
    }
    if px0 + 2u < p.items {
        store4(b0[2], r0[2], block * 16u + 0u, acc00[2]);
        store4(b0[2], r0[2], block * 16u + 4u, acc01[2]);
        store4(b0[2], r0[2], block * 16u + 8u, acc02[2]);
        store4(b0[2], r0[2], block * 16u + 12u, acc03[2]);
    }
    if px0 + 3u < p.items {
        store4(b0[3], r0[3], block * 16u + 0u, acc00[3]);
        store4(b0[3], r0[3], block * 16u + 4u, acc01[3]);
        store4(b0[3], r0[3], block * 16u + 8u, acc02[3]);
        store4(b0[3], r0[3], block * 16u + 12u, acc03[3]);
    }
    if px0 + 4u < p.items {
        store4(b1[0], r1[0], block * 16u + 0u, acc10[0]);
        store4(b1[0], r1[0], block * 16u + 4u, acc11[0]);
        store4(b1[0], r1[0], block * 16u + 8u, acc12[0]);
        store4(b1[0], r1[0], block * 16u + 12u, acc13[0]);
    }
    if px0 + 5u < p.items {
        store4(b1[1], r1[1], block * 16u + 0u, acc10[1]);
        store4(b1[1], r1[1], block * 16u + 4u, acc11[1]);
        store4(b1[1], r1[1], block * 16u + 8u, acc12[1]);
        store4(b1[1], r1[1], block * 16u + 12u, acc13[1]);
    }
    if px0 + 6u < p.items {
        store4(b1[2], r1[2], block * 16u + 0u, acc10[2]);
        store4(b1[2], r1[2], block * 16u + 4u, acc11[2]);
        store4(b1[2], r1[2], block * 16u + 8u, acc12[2]);
        store4(b1[2], r1[2], block * 16u + 12u, acc13[2]);
    }
    if px0 + 7u < p.items {
        store4(b1[3], r1[3], block * 16u + 0u, acc10[3]);
        store4(b1[3], r1[3], block * 16u + 4u, acc11[3]);
        store4(b1[3], r1[3], block * 16u + 8u, acc12[3]);
        store4(b1[3], r1[3], block * 16u + 12u, acc13[3]);
    }
    if px0 + 8u < p.items {
        store4(b2[0], r2[0], block * 16u + 0u, acc20[0]);
        store4(b2[0], r2[0], block * 16u + 4u, acc21[0]);
        store4(b2[0], r2[0], block * 16u + 8u, acc22[0]);
        store4(b2[0], r2[0], block * 16u + 12u, acc23[0]);
    }
    if px0 + 9u < p.items {
        store4(b2[1], r2[1], block * 16u + 0u, acc20[1]);
        store4(b2[1], r2[1], block * 16u + 4u, acc21[1]);
        store4(b2[1], r2[1], block * 16u + 8u, acc22[1]);
        store4(b2[1], r2[1], block * 16u + 12u, acc23[1]);
    }
    if px0 + 10u < p.items {
        store4(b2[2], r2[2], block * 16u + 0u, acc20[2]);
        store4(b2[2], r2[2], block * 16u + 4u, acc21[2]);
        store4(b2[2], r2[2], block * 16u + 8u, acc22[2]);
        store4(b2[2], r2[2], block * 16u + 12u, acc23[2]);
    }
    if px0 + 11u < p.items {
        store4(b2[3], r2[3], block * 16u + 0u, acc20[3]);
        store4(b2[3], r2[3], block * 16u + 4u, acc21[3]);
        store4(b2[3], r2[3], block * 16u + 8u, acc22[3]);
        store4(b2[3], r2[3], block * 16u + 12u, acc23[3]);
    }
    if px0 + 12u < p.items {
        store4(b3[0], r3[0], block * 16u + 0u, acc30[0]);
        store4(b3[0], r3[0], block * 16u + 4u, acc31[0]);
        store4(b3[0], r3[0], block * 16u + 8u, acc32[0]);
        store4(b3[0], r3[0], block * 16u + 12u, acc33[0]);
    }
    if px0 + 13u < p.items {
        store4(b3[1], r3[1], block * 16u + 0u, acc30[1]);
        store4(b3[1], r3[1], block * 16u + 4u, acc31[1]);
        store4(b3[1], r3[1], block * 16u + 8u, acc32[1]);
        store4(b3[1], r3[1], block * 16u + 12u, acc33[1]);
    }
    if px0 + 14u < p.items {
        store4(b3[2], r3[2], block * 16u + 0u, acc30[2]);
        store4(b3[2], r3[2], block * 16u + 4u, acc31[2]);
        store4(b3[2], r3[2], block * 16u + 8u, acc32[2]);
        store4(b3[2], r3[2], block * 16u + 12u, acc33[2]);
    }
    if px0 + 15u < p.items {
        store4(b3[3], r3[3], block * 16u + 0u, acc30[3]);
        store4(b3[3], r3[3], block * 16u + 4u, acc31[3]);
        store4(b3[3], r3[3], block * 16u + 8u, acc32[3]);
        store4(b3[3], r3[3], block * 16u + 12u, acc33[3]);
    }
}

@compute @workgroup_size(WG)
fn uw24c16(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let id = gid.x + gid.y * groups.x * WG;
    let block = p._pad;
    let px0 = (gid.x + gid.y * groups.x * WG) * 24u;
    if px0 >= p.items {
        return;
    }
    let plane = p.out_h * p.out_w;
    let in_plane = p.height * p.width;
    let q0 = min(vec4<u32>(px0 + 0u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.items - 1u));
    let b0 = q0 / plane;
    let r0 = q0 - b0 * plane;
    let oy0 = r0 / p.out_w;
    let base0 = vec4<i32>(b0 * p.in_channels * in_plane);
    let iy0 = vec4<i32>(oy0 * p.stride) - i32(p.padding);
    let ix0 = vec4<i32>((r0 - oy0 * p.out_w) * p.stride) - i32(p.padding);
    let q1 = min(vec4<u32>(px0 + 4u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.items - 1u));
    let b1 = q1 / plane;
    let r1 = q1 - b1 * plane;
    let oy1 = r1 / p.out_w;
    let base1 = vec4<i32>(b1 * p.in_channels * in_plane);
    let iy1 = vec4<i32>(oy1 * p.stride) - i32(p.padding);
    let ix1 = vec4<i32>((r1 - oy1 * p.out_w) * p.stride) - i32(p.padding);
    let q2 = min(vec4<u32>(px0 + 8u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.items - 1u));
    let b2 = q2 / plane;
    let r2 = q2 - b2 * plane;
    let oy2 = r2 / p.out_w;
    let base2 = vec4<i32>(b2 * p.in_channels * in_plane);
    let iy2 = vec4<i32>(oy2 * p.stride) - i32(p.padding);
    let ix2 = vec4<i32>((r2 - oy2 * p.out_w) * p.stride) - i32(p.padding);
    let q3 = min(vec4<u32>(px0 + 12u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.items - 1u));
    let b3 = q3 / plane;
    let r3 = q3 - b3 * plane;
    let oy3 = r3 / p.out_w;
    let base3 = vec4<i32>(b3 * p.in_channels * in_plane);
    let iy3 = vec4<i32>(oy3 * p.stride) - i32(p.padding);
    let ix3 = vec4<i32>((r3 - oy3 * p.out_w) * p.stride) - i32(p.padding);
    let q4 = min(vec4<u32>(px0 + 16u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.items - 1u));
    let b4 = q4 / plane;
    let r4 = q4 - b4 * plane;
    let oy4 = r4 / p.out_w;
    let base4 = vec4<i32>(b4 * p.in_channels * in_plane);
    let iy4 = vec4<i32>(oy4 * p.stride) - i32(p.padding);
    let ix4 = vec4<i32>((r4 - oy4 * p.out_w) * p.stride) - i32(p.padding);
    let q5 = min(vec4<u32>(px0 + 20u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.items - 1u));
    let b5 = q5 / plane;
    let r5 = q5 - b5 * plane;
    let oy5 = r5 / p.out_w;
    let base5 = vec4<i32>(b5 * p.in_channels * in_plane);
    let iy5 = vec4<i32>(oy5 * p.stride) - i32(p.padding);
    let ix5 = vec4<i32>((r5 - oy5 * p.out_w) * p.stride) - i32(p.padding);
    var acc00 = mat4x4<f32>();
    var acc01 = mat4x4<f32>();
    var acc02 = mat4x4<f32>();
    var acc03 = mat4x4<f32>();
    var acc10 = mat4x4<f32>();
    var acc11 = mat4x4<f32>();
    var acc12 = mat4x4<f32>();
    var acc13 = mat4x4<f32>();
    var acc20 = mat4x4<f32>();
    var acc21 = mat4x4<f32>();
    var acc22 = mat4x4<f32>();
    var acc23 = mat4x4<f32>();
    var acc30 = mat4x4<f32>();
    var acc31 = mat4x4<f32>();
    var acc32 = mat4x4<f32>();
    var acc33 = mat4x4<f32>();
    var acc40 = mat4x4<f32>();
    var acc41 = mat4x4<f32>();
    var acc42 = mat4x4<f32>();
    var acc43 = mat4x4<f32>();
    var acc50 = mat4x4<f32>();
    var acc51 = mat4x4<f32>();
    var acc52 = mat4x4<f32>();
    var acc53 = mat4x4<f32>();
    var k = 0u;
    for (var c = 0u; c < p.in_channels; c++) {
        let cb = i32(c * in_plane);
        for (var ky = 0u; ky < p.kernel_h; ky++) {
            let y0 = iy0 + i32(ky);
            let rok0 = (y0 >= vec4<i32>(0)) & (y0 < vec4<i32>(i32(p.height)));
            let row0 = base0 + cb + y0 * i32(p.width);
            let y1 = iy1 + i32(ky);
            let rok1 = (y1 >= vec4<i32>(0)) & (y1 < vec4<i32>(i32(p.height)));
            let row1 = base1 + cb + y1 * i32(p.width);
            let y2 = iy2 + i32(ky);
            let rok2 = (y2 >= vec4<i32>(0)) & (y2 < vec4<i32>(i32(p.height)));
            let row2 = base2 + cb + y2 * i32(p.width);
            let y3 = iy3 + i32(ky);
            let rok3 = (y3 >= vec4<i32>(0)) & (y3 < vec4<i32>(i32(p.height)));
            let row3 = base3 + cb + y3 * i32(p.width);
            let y4 = iy4 + i32(ky);
            let rok4 = (y4 >= vec4<i32>(0)) & (y4 < vec4<i32>(i32(p.height)));
            let row4 = base4 + cb + y4 * i32(p.width);
            let y5 = iy5 + i32(ky);
            let rok5 = (y5 >= vec4<i32>(0)) & (y5 < vec4<i32>(i32(p.height)));
            let row5 = base5 + cb + y5 * i32(p.width);
            for (var kx = 0u; kx < p.kernel_w; kx++) {
                let w0 = wu[k * 4u + 0u];
                let w1 = wu[k * 4u + 1u];
                let w2 = wu[k * 4u + 2u];
                let w3 = wu[k * 4u + 3u];
                let v0 = load4(row0, rok0, ix0 + i32(kx));
                acc00 += outer(w0, v0);
                acc01 += outer(w1, v0);
                acc02 += outer(w2, v0);
                acc03 += outer(w3, v0);
                let v1 = load4(row1, rok1, ix1 + i32(kx));
                acc10 += outer(w0, v1);
                acc11 += outer(w1, v1);
                acc12 += outer(w2, v1);
                acc13 += outer(w3, v1);
                let v2 = load4(row2, rok2, ix2 + i32(kx));
                acc20 += outer(w0, v2);
                acc21 += outer(w1, v2);
                acc22 += outer(w2, v2);
                acc23 += outer(w3, v2);
                let v3 = load4(row3, rok3, ix3 + i32(kx));
                acc30 += outer(w0, v3);
                acc31 += outer(w1, v3);
                acc32 += outer(w2, v3);
                acc33 += outer(w3, v3);
                let v4 = load4(row4, rok4, ix4 + i32(kx));
                acc40 += outer(w0, v4);
                acc41 += outer(w1, v4);
                acc42 += outer(w2, v4);
                acc43 += outer(w3, v4);
                let v5 = load4(row5, rok5, ix5 + i32(kx));
                acc50 += outer(w0, v5);
                acc51 += outer(w1, v5);
                acc52 += outer(w2, v5);
                acc53 += outer(w3, v5);
                k++;
            }
        }
    }
    if px0 + 0u < p.items {
        store4(b0[0], r0[0], block * 16u + 0u, acc00[0]);
        store4(b0[0], r0[0], block * 16u + 4u, acc01[0]);
        store4(b0[0], r0[0], block * 16u + 8u, acc02[0]);
        store4(b0[0], r0[0], block * 16u + 12u, acc03[0]);
    }
    if px0 + 1u < p.items {
        store4(b0[1], r0[1], block * 16u + 0u, acc00[1]);
        store4(b0[1], r0[1], block * 16u + 4u, acc01[1]);
        store4(b0[1], r0[1], block * 16u + 8u, acc02[1]);
        store4(b0[1], r0[1], block * 16u + 12u, acc03[1]);
    }
    if px0 + 2u < p.items {
        store4(b0[2], r0[2], block * 16u + 0u, acc00[2]);
        store4(b0[2], r0[2], block * 16u + 4u, acc01[2]);
        store4(b0[2], r0[2], block * 16u + 8u, acc02[2]);
        store4(b0[2], r0[2], block * 16u + 12u, acc03[2]);
    }
    if px0 + 3u < p.items {
        store4(b0[3], r0[3], block * 16u + 0u, acc00[3]);
        store4(b0[3], r0[3], block * 16u + 4u, acc01[3]);
        store4(b0[3], r0[3], block * 16u + 8u, acc02[3]);
        store4(b0[3], r0[3], block * 16u + 12u, acc03[3]);
    }
    if px0 + 4u < p.items {
        store4(b1[0], r1[0], block * 16u + 0u, acc10[0]);
        store4(b1[0], r1[0], block * 16u + 4u, acc11[0]);
        store4(b1[0], r1[0], block * 16u + 8u, acc12[0]);
        store4(b1[0], r1[0], block * 16u + 12u, acc13[0]);
    }
    if px0 + 5u < p.items {
        store4(b1[1], r1[1], block * 16u + 0u, acc10[1]);
        store4(b1[1], r1[1], block * 16u + 4u, acc11[1]);
        store4(b1[1], r1[1], block * 16u + 8u, acc12[1]);
        store4(b1[1], r1[1], block * 16u + 12u, acc13[1]);
    }
    if px0 + 6u < p.items {
        store4(b1[2], r1[2], block * 16u + 0u, acc10[2]);
        store4(b1[2], r1[2], block * 16u + 4u, acc11[2]);
        store4(b1[2], r1[2], block * 16u + 8u, acc12[2]);
        store4(b1[2], r1[2], block * 16u + 12u, acc13[2]);
    }
    if px0 + 7u < p.items {
        store4(b1[3], r1[3], block * 16u + 0u, acc10[3]);
        store4(b1[3], r1[3], block * 16u + 4u, acc11[3]);
        store4(b1[3], r1[3], block * 16u + 8u, acc12[3]);
        store4(b1[3], r1[3], block * 16u + 12u, acc13[3]);
    }
    if px0 + 8u < p.items {
        store4(b2[0], r2[0], block * 16u + 0u, acc20[0]);
        store4(b2[0], r2[0], block * 16u + 4u, acc21[0]);
        store4(b2[0], r2[0], block * 16u + 8u, acc22[0]);
        store4(b2[0], r2[0], block * 16u + 12u, acc23[0]);
    }
    if px0 + 9u < p.items {
        store4(b2[1], r2[1], block * 16u + 0u, acc20[1]);
        store4(b2[1], r2[1], block * 16u + 4u, acc21[1]);
        store4(b2[1], r2[1], block * 16u + 8u, acc22[1]);
        store4(b2[1], r2[1], block * 16u + 12u, acc23[1]);
    }
    if px0 + 10u < p.items {
        store4(b2[2], r2[2], block * 16u + 0u, acc20[2]);
        store4(b2[2], r2[2], block * 16u + 4u, acc21[2]);
        store4(b2[2], r2[2], block * 16u + 8u, acc22[2]);
        store4(b2[2], r2[2], block * 16u + 12u, acc23[2]);
    }
    if px0 + 11u < p.items {
        store4(b2[3], r2[3], block * 16u + 0u, acc20[3]);
        store4(b2[3], r2[3], block * 16u + 4u, acc21[3]);
        store4(b2[3], r2[3], block * 16u + 8u, acc22[3]);
        store4(b2[3], r2[3], block * 16u + 12u, acc23[3]);
    }
    if px0 + 12u < p.items {
        store4(b3[0], r3[0], block * 16u + 0u, acc30[0]);
        store4(b3[0], r3[0], block * 16u + 4u, acc31[0]);
        store4(b3[0], r3[0], block * 16u + 8u, acc32[0]);
        store4(b3[0], r3[0], block * 16u + 12u, acc33[0]);
    }
    if px0 + 13u < p.items {
        store4(b3[1], r3[1], block * 16u + 0u, acc30[1]);
        store4(b3[1], r3[1], block * 16u + 4u, acc31[1]);
        store4(b3[1], r3[1], block * 16u + 8u, acc32[1]);
        store4(b3[1], r3[1], block * 16u + 12u, acc33[1]);
    }
    if px0 + 14u < p.items {
        store4(b3[2], r3[2], block * 16u + 0u, acc30[2]);
        store4(b3[2], r3[2], block * 16u + 4u, acc31[2]);
        store4(b3[2], r3[2], block * 16u + 8u, acc32[2]);
        store4(b3[2], r3[2], block * 16u + 12u, acc33[2]);
    }
    if px0 + 15u < p.items {
        store4(b3[3], r3[3], block * 16u + 0u, acc30[3]);
        store4(b3[3], r3[3], block * 16u + 4u, acc31[3]);
        store4(b3[3], r3[3], block * 16u + 8u, acc32[3]);
        store4(b3[3], r3[3], block * 16u + 12u, acc33[3]);
    }
    if px0 + 16u < p.items {
        store4(b4[0], r4[0], block * 16u + 0u, acc40[0]);
        store4(b4[0], r4[0], block * 16u + 4u, acc41[0]);
        store4(b4[0], r4[0], block * 16u + 8u, acc42[0]);
        store4(b4[0], r4[0], block * 16u + 12u, acc43[0]);
    }
    if px0 + 17u < p.items {
        store4(b4[1], r4[1], block * 16u + 0u, acc40[1]);
        store4(b4[1], r4[1], block * 16u + 4u, acc41[1]);
        store4(b4[1], r4[1], block * 16u + 8u, acc42[1]);
        store4(b4[1], r4[1], block * 16u + 12u, acc43[1]);
    }
    if px0 + 18u < p.items {
        store4(b4[2], r4[2], block * 16u + 0u, acc40[2]);
        store4(b4[2], r4[2], block * 16u + 4u, acc41[2]);
        store4(b4[2], r4[2], block * 16u + 8u, acc42[2]);
        store4(b4[2], r4[2], block * 16u + 12u, acc43[2]);
    }
    if px0 + 19u < p.items {
        store4(b4[3], r4[3], block * 16u + 0u, acc40[3]);
        store4(b4[3], r4[3], block * 16u + 4u, acc41[3]);
        store4(b4[3], r4[3], block * 16u + 8u, acc42[3]);
        store4(b4[3], r4[3], block * 16u + 12u, acc43[3]);
    }
    if px0 + 20u < p.items {
        store4(b5[0], r5[0], block * 16u + 0u, acc50[0]);
        store4(b5[0], r5[0], block * 16u + 4u, acc51[0]);
        store4(b5[0], r5[0], block * 16u + 8u, acc52[0]);
        store4(b5[0], r5[0], block * 16u + 12u, acc53[0]);
    }
    if px0 + 21u < p.items {
        store4(b5[1], r5[1], block * 16u + 0u, acc50[1]);
        store4(b5[1], r5[1], block * 16u + 4u, acc51[1]);
        store4(b5[1], r5[1], block * 16u + 8u, acc52[1]);
        store4(b5[1], r5[1], block * 16u + 12u, acc53[1]);
    }
    if px0 + 22u < p.items {
        store4(b5[2], r5[2], block * 16u + 0u, acc50[2]);
        store4(b5[2], r5[2], block * 16u + 4u, acc51[2]);
        store4(b5[2], r5[2], block * 16u + 8u, acc52[2]);
        store4(b5[2], r5[2], block * 16u + 12u, acc53[2]);
    }
    if px0 + 23u < p.items {
        store4(b5[3], r5[3], block * 16u + 0u, acc50[3]);
        store4(b5[3], r5[3], block * 16u + 4u, acc51[3]);
        store4(b5[3], r5[3], block * 16u + 8u, acc52[3]);
        store4(b5[3], r5[3], block * 16u + 12u, acc53[3]);
    }
}

@compute @workgroup_size(WG)
fn uw8c48(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let id = gid.x + gid.y * groups.x * WG;
    let block = p._pad;
    let px0 = (gid.x + gid.y * groups.x * WG) * 8u;
    if px0 >= p.items {
        return;
    }
    let plane = p.out_h * p.out_w;
    let in_plane = p.height * p.width;
    let q0 = min(vec4<u32>(px0 + 0u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.items - 1u));
    let b0 = q0 / plane;
    let r0 = q0 - b0 * plane;
    let oy0 = r0 / p.out_w;
    let base0 = vec4<i32>(b0 * p.in_channels * in_plane);
    let iy0 = vec4<i32>(oy0 * p.stride) - i32(p.padding);
    let ix0 = vec4<i32>((r0 - oy0 * p.out_w) * p.stride) - i32(p.padding);
    let q1 = min(vec4<u32>(px0 + 4u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.items - 1u));
    let b1 = q1 / plane;
    let r1 = q1 - b1 * plane;
    let oy1 = r1 / p.out_w;
    let base1 = vec4<i32>(b1 * p.in_channels * in_plane);
    let iy1 = vec4<i32>(oy1 * p.stride) - i32(p.padding);
    let ix1 = vec4<i32>((r1 - oy1 * p.out_w) * p.stride) - i32(p.padding);
    var acc00 = mat4x4<f32>();
    var acc01 = mat4x4<f32>();
    var acc02 = mat4x4<f32>();
    var acc03 = mat4x4<f32>();
    var acc04 = mat4x4<f32>();
    var acc05 = mat4x4<f32>();
    var acc06 = mat4x4<f32>();
    var acc07 = mat4x4<f32>();
    var acc08 = mat4x4<f32>();
    var acc09 = mat4x4<f32>();
    var acc010 = mat4x4<f32>();
    var acc011 = mat4x4<f32>();
    var acc10 = mat4x4<f32>();
    var acc11 = mat4x4<f32>();
    var acc12 = mat4x4<f32>();
    var acc13 = mat4x4<f32>();
    var acc14 = mat4x4<f32>();
    var acc15 = mat4x4<f32>();
    var acc16 = mat4x4<f32>();
    var acc17 = mat4x4<f32>();
    var acc18 = mat4x4<f32>();
    var acc19 = mat4x4<f32>();
    var acc110 = mat4x4<f32>();
    var acc111 = mat4x4<f32>();
    var k = 0u;
    for (var c = 0u; c < p.in_channels; c++) {
        let cb = i32(c * in_plane);
        for (var ky = 0u; ky < p.kernel_h; ky++) {
            let y0 = iy0 + i32(ky);
            let rok0 = (y0 >= vec4<i32>(0)) & (y0 < vec4<i32>(i32(p.height)));
            let row0 = base0 + cb + y0 * i32(p.width);
            let y1 = iy1 + i32(ky);
            let rok1 = (y1 >= vec4<i32>(0)) & (y1 < vec4<i32>(i32(p.height)));
            let row1 = base1 + cb + y1 * i32(p.width);
            for (var kx = 0u; kx < p.kernel_w; kx++) {
                let w0 = wu[k * 12u + 0u];
                let w1 = wu[k * 12u + 1u];
                let w2 = wu[k * 12u + 2u];
                let w3 = wu[k * 12u + 3u];
                let w4 = wu[k * 12u + 4u];
                let w5 = wu[k * 12u + 5u];
                let w6 = wu[k * 12u + 6u];
                let w7 = wu[k * 12u + 7u];
                let w8 = wu[k * 12u + 8u];
                let w9 = wu[k * 12u + 9u];
                let w10 = wu[k * 12u + 10u];
                let w11 = wu[k * 12u + 11u];
                let v0 = load4(row0, rok0, ix0 + i32(kx));
                acc00 += outer(w0, v0);
                acc01 += outer(w1, v0);
                acc02 += outer(w2, v0);
                acc03 += outer(w3, v0);
                acc04 += outer(w4, v0);
                acc05 += outer(w5, v0);
                acc06 += outer(w6, v0);
                acc07 += outer(w7, v0);
                acc08 += outer(w8, v0);
                acc09 += outer(w9, v0);
                acc010 += outer(w10, v0);
                acc011 += outer(w11, v0);
                let v1 = load4(row1, rok1, ix1 + i32(kx));
                acc10 += outer(w0, v1);
                acc11 += outer(w1, v1);
                acc12 += outer(w2, v1);
                acc13 += outer(w3, v1);
                acc14 += outer(w4, v1);
                acc15 += outer(w5, v1);
                acc16 += outer(w6, v1);
                acc17 += outer(w7, v1);
                acc18 += outer(w8, v1);
                acc19 += outer(w9, v1);
                acc110 += outer(w10, v1);
                acc111 += outer(w11, v1);
                k++;
            }
        }
    }
    if px0 + 0u < p.items {
        store4(b0[0], r0[0], block * 48u + 0u, acc00[0]);
        store4(b0[0], r0[0], block * 48u + 4u, acc01[0]);
        store4(b0[0], r0[0], block * 48u + 8u, acc02[0]);
        store4(b0[0], r0[0], block * 48u + 12u, acc03[0]);
        store4(b0[0], r0[0], block * 48u + 16u, acc04[0]);
        store4(b0[0], r0[0], block * 48u + 20u, acc05[0]);
        store4(b0[0], r0[0], block * 48u + 24u, acc06[0]);
        store4(b0[0], r0[0], block * 48u + 28u, acc07[0]);
        store4(b0[0], r0[0], block * 48u + 32u, acc08[0]);
        store4(b0[0], r0[0], block * 48u + 36u, acc09[0]);
        store4(b0[0], r0[0], block * 48u + 40u, acc010[0]);
        store4(b0[0], r0[0], block * 48u + 44u, acc011[0]);
    }
    if px0 + 1u < p.items {
        store4(b0[1], r0[1], block * 48u + 0u, acc00[1]);
        store4(b0[1], r0[1], block * 48u + 4u, acc01[1]);
        store4(b0[1], r0[1], block * 48u + 8u, acc02[1]);
        store4(b0[1], r0[1], block * 48u + 12u, acc03[1]);
        store4(b0[1], r0[1], block * 48u + 16u, acc04[1]);
        store4(b0[1], r0[1], block * 48u + 20u, acc05[1]);
        store4(b0[1], r0[1], block * 48u + 24u, acc06[1]);
        store4(b0[1], r0[1], block * 48u + 28u, acc07[1]);
        store4(b0[1], r0[1], block * 48u + 32u, acc08[1]);
        store4(b0[1], r0[1], block * 48u + 36u, acc09[1]);
        store4(b0[1], r0[1], block * 48u + 40u, acc010[1]);
        store4(b0[1], r0[1], block * 48u + 44u, acc011[1]);
    }
    if px0 + 2u < p.items {
        store4(b0[2], r0[2], block * 48u + 0u, acc00[2]);
        store4(b0[2], r0[2], block * 48u + 4u, acc01[2]);
        store4(b0[2], r0[2], block * 48u + 8u, acc02[2]);
        store4(b0[2], r0[2], block * 48u + 12u, acc03[2]);
        store4(b0[2], r0[2], block * 48u + 16u, acc04[2]);
        store4(b0[2], r0[2], block * 48u + 20u, acc05[2]);
        store4(b0[2], r0[2], block * 48u + 24u, acc06[2]);
        store4(b0[2], r0[2], block * 48u + 28u, acc07[2]);
        store4(b0[2], r0[2], block * 48u + 32u, acc08[2]);
        store4(b0[2], r0[2], block * 48u + 36u, acc09[2]);
        store4(b0[2], r0[2], block * 48u + 40u, acc010[2]);
        store4(b0[2], r0[2], block * 48u + 44u, acc011[2]);
    }
    if px0 + 3u < p.items {
        store4(b0[3], r0[3], block * 48u + 0u, acc00[3]);
        store4(b0[3], r0[3], block * 48u + 4u, acc01[3]);
        store4(b0[3], r0[3], block * 48u + 8u, acc02[3]);
        store4(b0[3], r0[3], block * 48u + 12u, acc03[3]);
        store4(b0[3], r0[3], block * 48u + 16u, acc04[3]);
        store4(b0[3], r0[3], block * 48u + 20u, acc05[3]);
        store4(b0[3], r0[3], block * 48u + 24u, acc06[3]);
        store4(b0[3], r0[3], block * 48u + 28u, acc07[3]);
        store4(b0[3], r0[3], block * 48u + 32u, acc08[3]);
        store4(b0[3], r0[3], block * 48u + 36u, acc09[3]);
        store4(b0[3], r0[3], block * 48u + 40u, acc010[3]);
        store4(b0[3], r0[3], block * 48u + 44u, acc011[3]);
    }
    if px0 + 4u < p.items {
        store4(b1[0], r1[0], block * 48u + 0u, acc10[0]);
        store4(b1[0], r1[0], block * 48u + 4u, acc11[0]);
        store4(b1[0], r1[0], block * 48u + 8u, acc12[0]);
        store4(b1[0], r1[0], block * 48u + 12u, acc13[0]);
        store4(b1[0], r1[0], block * 48u + 16u, acc14[0]);
        store4(b1[0], r1[0], block * 48u + 20u, acc15[0]);
        store4(b1[0], r1[0], block * 48u + 24u, acc16[0]);
        store4(b1[0], r1[0], block * 48u + 28u, acc17[0]);
        store4(b1[0], r1[0], block * 48u + 32u, acc18[0]);
        store4(b1[0], r1[0], block * 48u + 36u, acc19[0]);
        store4(b1[0], r1[0], block * 48u + 40u, acc110[0]);
        store4(b1[0], r1[0], block * 48u + 44u, acc111[0]);
    }
    if px0 + 5u < p.items {
        store4(b1[1], r1[1], block * 48u + 0u, acc10[1]);
        store4(b1[1], r1[1], block * 48u + 4u, acc11[1]);
        store4(b1[1], r1[1], block * 48u + 8u, acc12[1]);
        store4(b1[1], r1[1], block * 48u + 12u, acc13[1]);
        store4(b1[1], r1[1], block * 48u + 16u, acc14[1]);
        store4(b1[1], r1[1], block * 48u + 20u, acc15[1]);
        store4(b1[1], r1[1], block * 48u + 24u, acc16[1]);
        store4(b1[1], r1[1], block * 48u + 28u, acc17[1]);
        store4(b1[1], r1[1], block * 48u + 32u, acc18[1]);
        store4(b1[1], r1[1], block * 48u + 36u, acc19[1]);
        store4(b1[1], r1[1], block * 48u + 40u, acc110[1]);
        store4(b1[1], r1[1], block * 48u + 44u, acc111[1]);
    }
    if px0 + 6u < p.items {
        store4(b1[2], r1[2], block * 48u + 0u, acc10[2]);
        store4(b1[2], r1[2], block * 48u + 4u, acc11[2]);
        store4(b1[2], r1[2], block * 48u + 8u, acc12[2]);
        store4(b1[2], r1[2], block * 48u + 12u, acc13[2]);
        store4(b1[2], r1[2], block * 48u + 16u, acc14[2]);
        store4(b1[2], r1[2], block * 48u + 20u, acc15[2]);
        store4(b1[2], r1[2], block * 48u + 24u, acc16[2]);
        store4(b1[2], r1[2], block * 48u + 28u, acc17[2]);
        store4(b1[2], r1[2], block * 48u + 32u, acc18[2]);
        store4(b1[2], r1[2], block * 48u + 36u, acc19[2]);
        store4(b1[2], r1[2], block * 48u + 40u, acc110[2]);
        store4(b1[2], r1[2], block * 48u + 44u, acc111[2]);
    }
    if px0 + 7u < p.items {
        store4(b1[3], r1[3], block * 48u + 0u, acc10[3]);
        store4(b1[3], r1[3], block * 48u + 4u, acc11[3]);
        store4(b1[3], r1[3], block * 48u + 8u, acc12[3]);
        store4(b1[3], r1[3], block * 48u + 12u, acc13[3]);
        store4(b1[3], r1[3], block * 48u + 16u, acc14[3]);
        store4(b1[3], r1[3], block * 48u + 20u, acc15[3]);
        store4(b1[3], r1[3], block * 48u + 24u, acc16[3]);
        store4(b1[3], r1[3], block * 48u + 28u, acc17[3]);
        store4(b1[3], r1[3], block * 48u + 32u, acc18[3]);
        store4(b1[3], r1[3], block * 48u + 36u, acc19[3]);
        store4(b1[3], r1[3], block * 48u + 40u, acc110[3]);
        store4(b1[3], r1[3], block * 48u + 44u, acc111[3]);
    }
}
