// Convolution as an implicit GEMM that reads both operands from rgba32float textures, for CPU-emulated
// adapters. Serves the forward pass and, as the transposed convolution, the gradient of the input (the
// mapping is conv2d.wgsl's). conv2d_texture_layout.wgsl first copies the input into `xt`, padded (and
// dilated) so that every window lies inside it, four channels per texel, and the weights into `wt`:
//   xt: texel (x · c4 + q, n · in_h + y) = channels 4q .. 4q+3 of padded image n at (y, x)
//   wt: texel (j, k) = w[4j .. 4j+3, c, ky, kx] with k = ((ky · kw + kx) · c4 + c / 4) · 4 + c % 4
//   out[n, o, oy, ox] = Σ_{ky, kx, c} xt(n, oy·stride + ky, ox·stride + kx)[c] · w[o, c, ky, kx] (+ bias[o]) (ReLU)
//
// Why textures: llvmpipe loads from a storage buffer one lane and one component at a time, with a branch per
// lane (2.35 ns per vec4 per invocation, BENCHMARKS.md), while a texel fetch is a branch-free gather of whole
// vec4s (0.99 ns). Each invocation computes 32 consecutive output pixels (flattened, so a block may span rows
// and images, and no work lands past the edges) × 16 output channels, in 128 vec4 accumulators written out
// (an array indexed in a loop would live in memory). Each step of the reduction is one tap and four input
// channels: 32 input fetches and 16 weight fetches for 2048 multiply-adds, a_ij += W_j · x_i, where x_i holds
// pixel i's four input channels and the columns of W_j are their weights for output channels 4j .. 4j+3 of
// the block. Invocation i computes channel block i % blocks_n of pixel block i / blocks_n.

struct Params {
    quads: u32,       // c4: input channels / 4, rounded up
    in_h: u32,        // rows and columns of one padded image in xt
    in_w: u32,
    out_h: u32,
    out_w: u32,
    kernel_h: u32,
    kernel_w: u32,
    stride: u32,
    out_channels: u32,
    blocks_n: u32,    // ceil(out_channels / 16)
    pixels: u32,      // images · out_h · out_w
    invocations: u32, // ceil(pixels / 32) · blocks_n
    flags: u32,       // bit 0: add bias, bit 1: ReLU
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var xt: texture_2d<f32>;
@group(0) @binding(2) var wt: texture_2d<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// The texel of pixel px's window corner (tap 0, channel quad 0); pixels past the end repeat the last one.
fn corner(px: u32) -> vec2<u32> {
    let q = min(px, p.pixels - 1u);
    let plane = p.out_h * p.out_w;
    let n = q / plane;
    let r = q - n * plane;
    let oy = r / p.out_w;
    let ox = r - oy * p.out_w;
    return vec2<u32>(ox * p.stride * p.quads, n * p.in_h + oy * p.stride);
}

// Channels o .. o+3 of the bias (zero past the last channel), or zeros without a bias.
fn bias4(o: u32) -> vec4<f32> {
    if (p.flags & 1u) == 0u {
        return vec4<f32>();
    }
    let last = p.out_channels - 1u;
    let at = min(vec4<u32>(o) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last));
    let b = vec4<f32>(bias[at.x], bias[at.y], bias[at.z], bias[at.w]);
    return select(vec4<f32>(), b, vec4<u32>(o) + vec4<u32>(0u, 1u, 2u, 3u) <= vec4<u32>(last));
}

// One of four values by a loop variable, with selects: the accumulators stay indexed by constants only.
fn pick4(v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>, i: u32) -> vec4<f32> {
    return select(select(select(v0, v1, i == 1u), v2, i == 2u), v3, i == 3u);
}

// One of eight values by a loop variable.
fn pick8(v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>,
         v4: vec4<f32>, v5: vec4<f32>, v6: vec4<f32>, v7: vec4<f32>, i: u32) -> vec4<f32> {
    return select(pick4(v0, v1, v2, v3, i), pick4(v4, v5, v6, v7, i - 4u), i >= 4u);
}

// Writes pixel px's channels o0 .. o0+15 (a0: the first 4, ...), with the bias (b0 ..) and the ReLU.
fn store(px: u32, o0: u32, a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>,
         b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32>) {
    if px >= p.pixels {
        return;
    }
    let plane = p.out_h * p.out_w;
    let n = px / plane;
    let at = (n * p.out_channels + o0) * plane + px - n * plane;
    let relu = (p.flags & 2u) != 0u;
    for (var g = 0u; g < 4u; g++) {
        let v = pick4(a0, a1, a2, a3, g) + pick4(b0, b1, b2, b3, g);
        let y = select(v, max(v, vec4(0.0)), relu);
        for (var i = 0u; i < 4u; i++) {
            if o0 + 4u * g + i < p.out_channels {
                out[at + (4u * g + i) * plane] = y[i];
            }
        }
    }
}

// The step's weights for output channels 4j .. 4j+3 of the block: column c is input channel c of the quad.
fn weights(j: u32, k: u32) -> mat4x4<f32> {
    return mat4x4<f32>(textureLoad(wt, vec2(j, k), 0), textureLoad(wt, vec2(j, k + 1u), 0),
                       textureLoad(wt, vec2(j, k + 2u), 0), textureLoad(wt, vec2(j, k + 3u), 0));
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = gid.x + gid.y * groups.x * WG;
    if id >= p.invocations {
        return;
    }
    let block_n = id % p.blocks_n;
    let px0 = (id / p.blocks_n) * 32u;
    let col = block_n * 4u; // wt column of the block's first 4 channels
    let c0 = corner(px0 + 0u); let c1 = corner(px0 + 1u); let c2 = corner(px0 + 2u); let c3 = corner(px0 + 3u);
    let c4 = corner(px0 + 4u); let c5 = corner(px0 + 5u); let c6 = corner(px0 + 6u); let c7 = corner(px0 + 7u);
    let c8 = corner(px0 + 8u); let c9 = corner(px0 + 9u); let c10 = corner(px0 + 10u); let c11 = corner(px0 + 11u);
    let c12 = corner(px0 + 12u); let c13 = corner(px0 + 13u); let c14 = corner(px0 + 14u); let c15 = corner(px0 + 15u);
    let c16 = corner(px0 + 16u); let c17 = corner(px0 + 17u); let c18 = corner(px0 + 18u); let c19 = corner(px0 + 19u);
    let c20 = corner(px0 + 20u); let c21 = corner(px0 + 21u); let c22 = corner(px0 + 22u); let c23 = corner(px0 + 23u);
    let c24 = corner(px0 + 24u); let c25 = corner(px0 + 25u); let c26 = corner(px0 + 26u); let c27 = corner(px0 + 27u);
    let c28 = corner(px0 + 28u); let c29 = corner(px0 + 29u); let c30 = corner(px0 + 30u); let c31 = corner(px0 + 31u);
    var a0_0: vec4<f32>; var a0_1: vec4<f32>; var a0_2: vec4<f32>; var a0_3: vec4<f32>;
    var a1_0: vec4<f32>; var a1_1: vec4<f32>; var a1_2: vec4<f32>; var a1_3: vec4<f32>;
    var a2_0: vec4<f32>; var a2_1: vec4<f32>; var a2_2: vec4<f32>; var a2_3: vec4<f32>;
    var a3_0: vec4<f32>; var a3_1: vec4<f32>; var a3_2: vec4<f32>; var a3_3: vec4<f32>;
    var a4_0: vec4<f32>; var a4_1: vec4<f32>; var a4_2: vec4<f32>; var a4_3: vec4<f32>;
    var a5_0: vec4<f32>; var a5_1: vec4<f32>; var a5_2: vec4<f32>; var a5_3: vec4<f32>;
    var a6_0: vec4<f32>; var a6_1: vec4<f32>; var a6_2: vec4<f32>; var a6_3: vec4<f32>;
    var a7_0: vec4<f32>; var a7_1: vec4<f32>; var a7_2: vec4<f32>; var a7_3: vec4<f32>;
    var a8_0: vec4<f32>; var a8_1: vec4<f32>; var a8_2: vec4<f32>; var a8_3: vec4<f32>;
    var a9_0: vec4<f32>; var a9_1: vec4<f32>; var a9_2: vec4<f32>; var a9_3: vec4<f32>;
    var a10_0: vec4<f32>; var a10_1: vec4<f32>; var a10_2: vec4<f32>; var a10_3: vec4<f32>;
    var a11_0: vec4<f32>; var a11_1: vec4<f32>; var a11_2: vec4<f32>; var a11_3: vec4<f32>;
    var a12_0: vec4<f32>; var a12_1: vec4<f32>; var a12_2: vec4<f32>; var a12_3: vec4<f32>;
    var a13_0: vec4<f32>; var a13_1: vec4<f32>; var a13_2: vec4<f32>; var a13_3: vec4<f32>;
    var a14_0: vec4<f32>; var a14_1: vec4<f32>; var a14_2: vec4<f32>; var a14_3: vec4<f32>;
    var a15_0: vec4<f32>; var a15_1: vec4<f32>; var a15_2: vec4<f32>; var a15_3: vec4<f32>;
    var a16_0: vec4<f32>; var a16_1: vec4<f32>; var a16_2: vec4<f32>; var a16_3: vec4<f32>;
    var a17_0: vec4<f32>; var a17_1: vec4<f32>; var a17_2: vec4<f32>; var a17_3: vec4<f32>;
    var a18_0: vec4<f32>; var a18_1: vec4<f32>; var a18_2: vec4<f32>; var a18_3: vec4<f32>;
    var a19_0: vec4<f32>; var a19_1: vec4<f32>; var a19_2: vec4<f32>; var a19_3: vec4<f32>;
    var a20_0: vec4<f32>; var a20_1: vec4<f32>; var a20_2: vec4<f32>; var a20_3: vec4<f32>;
    var a21_0: vec4<f32>; var a21_1: vec4<f32>; var a21_2: vec4<f32>; var a21_3: vec4<f32>;
    var a22_0: vec4<f32>; var a22_1: vec4<f32>; var a22_2: vec4<f32>; var a22_3: vec4<f32>;
    var a23_0: vec4<f32>; var a23_1: vec4<f32>; var a23_2: vec4<f32>; var a23_3: vec4<f32>;
    var a24_0: vec4<f32>; var a24_1: vec4<f32>; var a24_2: vec4<f32>; var a24_3: vec4<f32>;
    var a25_0: vec4<f32>; var a25_1: vec4<f32>; var a25_2: vec4<f32>; var a25_3: vec4<f32>;
    var a26_0: vec4<f32>; var a26_1: vec4<f32>; var a26_2: vec4<f32>; var a26_3: vec4<f32>;
    var a27_0: vec4<f32>; var a27_1: vec4<f32>; var a27_2: vec4<f32>; var a27_3: vec4<f32>;
    var a28_0: vec4<f32>; var a28_1: vec4<f32>; var a28_2: vec4<f32>; var a28_3: vec4<f32>;
    var a29_0: vec4<f32>; var a29_1: vec4<f32>; var a29_2: vec4<f32>; var a29_3: vec4<f32>;
    var a30_0: vec4<f32>; var a30_1: vec4<f32>; var a30_2: vec4<f32>; var a30_3: vec4<f32>;
    var a31_0: vec4<f32>; var a31_1: vec4<f32>; var a31_2: vec4<f32>; var a31_3: vec4<f32>;
    var k = 0u;
    for (var ky = 0u; ky < p.kernel_h; ky++) {
        for (var kx = 0u; kx < p.kernel_w; kx++) {
            for (var q = 0u; q < p.quads; q++) {
                let d = vec2<u32>(kx * p.quads + q, ky);
                let w0 = weights(col, k); let w1 = weights(col + 1u, k);
                let w2 = weights(col + 2u, k); let w3 = weights(col + 3u, k);
                let x0 = textureLoad(xt, c0 + d, 0);
                a0_0 += w0 * x0; a0_1 += w1 * x0; a0_2 += w2 * x0; a0_3 += w3 * x0;
                let x1 = textureLoad(xt, c1 + d, 0);
                a1_0 += w0 * x1; a1_1 += w1 * x1; a1_2 += w2 * x1; a1_3 += w3 * x1;
                let x2 = textureLoad(xt, c2 + d, 0);
                a2_0 += w0 * x2; a2_1 += w1 * x2; a2_2 += w2 * x2; a2_3 += w3 * x2;
                let x3 = textureLoad(xt, c3 + d, 0);
                a3_0 += w0 * x3; a3_1 += w1 * x3; a3_2 += w2 * x3; a3_3 += w3 * x3;
                let x4 = textureLoad(xt, c4 + d, 0);
                a4_0 += w0 * x4; a4_1 += w1 * x4; a4_2 += w2 * x4; a4_3 += w3 * x4;
                let x5 = textureLoad(xt, c5 + d, 0);
                a5_0 += w0 * x5; a5_1 += w1 * x5; a5_2 += w2 * x5; a5_3 += w3 * x5;
                let x6 = textureLoad(xt, c6 + d, 0);
                a6_0 += w0 * x6; a6_1 += w1 * x6; a6_2 += w2 * x6; a6_3 += w3 * x6;
                let x7 = textureLoad(xt, c7 + d, 0);
                a7_0 += w0 * x7; a7_1 += w1 * x7; a7_2 += w2 * x7; a7_3 += w3 * x7;
                let x8 = textureLoad(xt, c8 + d, 0);
                a8_0 += w0 * x8; a8_1 += w1 * x8; a8_2 += w2 * x8; a8_3 += w3 * x8;
                let x9 = textureLoad(xt, c9 + d, 0);
                a9_0 += w0 * x9; a9_1 += w1 * x9; a9_2 += w2 * x9; a9_3 += w3 * x9;
                let x10 = textureLoad(xt, c10 + d, 0);
                a10_0 += w0 * x10; a10_1 += w1 * x10; a10_2 += w2 * x10; a10_3 += w3 * x10;
                let x11 = textureLoad(xt, c11 + d, 0);
                a11_0 += w0 * x11; a11_1 += w1 * x11; a11_2 += w2 * x11; a11_3 += w3 * x11;
                let x12 = textureLoad(xt, c12 + d, 0);
                a12_0 += w0 * x12; a12_1 += w1 * x12; a12_2 += w2 * x12; a12_3 += w3 * x12;
                let x13 = textureLoad(xt, c13 + d, 0);
                a13_0 += w0 * x13; a13_1 += w1 * x13; a13_2 += w2 * x13; a13_3 += w3 * x13;
                let x14 = textureLoad(xt, c14 + d, 0);
                a14_0 += w0 * x14; a14_1 += w1 * x14; a14_2 += w2 * x14; a14_3 += w3 * x14;
                let x15 = textureLoad(xt, c15 + d, 0);
                a15_0 += w0 * x15; a15_1 += w1 * x15; a15_2 += w2 * x15; a15_3 += w3 * x15;
                let x16 = textureLoad(xt, c16 + d, 0);
                a16_0 += w0 * x16; a16_1 += w1 * x16; a16_2 += w2 * x16; a16_3 += w3 * x16;
                let x17 = textureLoad(xt, c17 + d, 0);
                a17_0 += w0 * x17; a17_1 += w1 * x17; a17_2 += w2 * x17; a17_3 += w3 * x17;
                let x18 = textureLoad(xt, c18 + d, 0);
                a18_0 += w0 * x18; a18_1 += w1 * x18; a18_2 += w2 * x18; a18_3 += w3 * x18;
                let x19 = textureLoad(xt, c19 + d, 0);
                a19_0 += w0 * x19; a19_1 += w1 * x19; a19_2 += w2 * x19; a19_3 += w3 * x19;
                let x20 = textureLoad(xt, c20 + d, 0);
                a20_0 += w0 * x20; a20_1 += w1 * x20; a20_2 += w2 * x20; a20_3 += w3 * x20;
                let x21 = textureLoad(xt, c21 + d, 0);
                a21_0 += w0 * x21; a21_1 += w1 * x21; a21_2 += w2 * x21; a21_3 += w3 * x21;
                let x22 = textureLoad(xt, c22 + d, 0);
                a22_0 += w0 * x22; a22_1 += w1 * x22; a22_2 += w2 * x22; a22_3 += w3 * x22;
                let x23 = textureLoad(xt, c23 + d, 0);
                a23_0 += w0 * x23; a23_1 += w1 * x23; a23_2 += w2 * x23; a23_3 += w3 * x23;
                let x24 = textureLoad(xt, c24 + d, 0);
                a24_0 += w0 * x24; a24_1 += w1 * x24; a24_2 += w2 * x24; a24_3 += w3 * x24;
                let x25 = textureLoad(xt, c25 + d, 0);
                a25_0 += w0 * x25; a25_1 += w1 * x25; a25_2 += w2 * x25; a25_3 += w3 * x25;
                let x26 = textureLoad(xt, c26 + d, 0);
                a26_0 += w0 * x26; a26_1 += w1 * x26; a26_2 += w2 * x26; a26_3 += w3 * x26;
                let x27 = textureLoad(xt, c27 + d, 0);
                a27_0 += w0 * x27; a27_1 += w1 * x27; a27_2 += w2 * x27; a27_3 += w3 * x27;
                let x28 = textureLoad(xt, c28 + d, 0);
                a28_0 += w0 * x28; a28_1 += w1 * x28; a28_2 += w2 * x28; a28_3 += w3 * x28;
                let x29 = textureLoad(xt, c29 + d, 0);
                a29_0 += w0 * x29; a29_1 += w1 * x29; a29_2 += w2 * x29; a29_3 += w3 * x29;
                let x30 = textureLoad(xt, c30 + d, 0);
                a30_0 += w0 * x30; a30_1 += w1 * x30; a30_2 += w2 * x30; a30_3 += w3 * x30;
                let x31 = textureLoad(xt, c31 + d, 0);
                a31_0 += w0 * x31; a31_1 += w1 * x31; a31_2 += w2 * x31; a31_3 += w3 * x31;
                k += 4u;
            }
        }
    }
    let o0 = block_n * 16u;
    let b0 = bias4(o0); let b1 = bias4(o0 + 4u); let b2 = bias4(o0 + 8u); let b3 = bias4(o0 + 12u);
    // The epilogue loops over the block's pixels rather than storing all 32 written out, which took most of
    // the kernel's compile time (llvmpipe compiles at the first dispatch): per quad of pixels, each pixel's
    // accumulators are picked by selects, so that they stay indexed by constants only.
    for (var q = 0u; q < 8u; q++) {
        let p0_0 = pick8(a0_0, a4_0, a8_0, a12_0, a16_0, a20_0, a24_0, a28_0, q);
        let p0_1 = pick8(a0_1, a4_1, a8_1, a12_1, a16_1, a20_1, a24_1, a28_1, q);
        let p0_2 = pick8(a0_2, a4_2, a8_2, a12_2, a16_2, a20_2, a24_2, a28_2, q);
        let p0_3 = pick8(a0_3, a4_3, a8_3, a12_3, a16_3, a20_3, a24_3, a28_3, q);
        let p1_0 = pick8(a1_0, a5_0, a9_0, a13_0, a17_0, a21_0, a25_0, a29_0, q);
        let p1_1 = pick8(a1_1, a5_1, a9_1, a13_1, a17_1, a21_1, a25_1, a29_1, q);
        let p1_2 = pick8(a1_2, a5_2, a9_2, a13_2, a17_2, a21_2, a25_2, a29_2, q);
        let p1_3 = pick8(a1_3, a5_3, a9_3, a13_3, a17_3, a21_3, a25_3, a29_3, q);
        let p2_0 = pick8(a2_0, a6_0, a10_0, a14_0, a18_0, a22_0, a26_0, a30_0, q);
        let p2_1 = pick8(a2_1, a6_1, a10_1, a14_1, a18_1, a22_1, a26_1, a30_1, q);
        let p2_2 = pick8(a2_2, a6_2, a10_2, a14_2, a18_2, a22_2, a26_2, a30_2, q);
        let p2_3 = pick8(a2_3, a6_3, a10_3, a14_3, a18_3, a22_3, a26_3, a30_3, q);
        let p3_0 = pick8(a3_0, a7_0, a11_0, a15_0, a19_0, a23_0, a27_0, a31_0, q);
        let p3_1 = pick8(a3_1, a7_1, a11_1, a15_1, a19_1, a23_1, a27_1, a31_1, q);
        let p3_2 = pick8(a3_2, a7_2, a11_2, a15_2, a19_2, a23_2, a27_2, a31_2, q);
        let p3_3 = pick8(a3_3, a7_3, a11_3, a15_3, a19_3, a23_3, a27_3, a31_3, q);
        for (var r = 0u; r < 4u; r++) {
            store(px0 + 4u * q + r, o0, pick4(p0_0, p1_0, p2_0, p3_0, r), pick4(p0_1, p1_1, p2_1, p3_1, r),
                  pick4(p0_2, p1_2, p2_2, p3_2, r), pick4(p0_3, p1_3, p2_3, p3_3, r), b0, b1, b2, b3);
        }
    }
}
