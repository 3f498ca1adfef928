// Gradients of a convolution's weights and bias from textures, for CPU-emulated adapters (see
// conv2d_texture.wgsl for why textures):
//   dw[o, c, ky, kx] = Σ_{n, oy, ox} dy[n, o, oy, ox] · xt(n, oy·stride + ky, ox·stride + kx)[c]
//   db[o]            = Σ_{n, oy, ox} dy[n, o, oy, ox]
// conv2d_texture_layout.wgsl first copies the padded input into `xt` (as for the forward pass) and the
// output gradient into `dyt` (unpadded), four channels per texel:
//   dyt: texel (ox · o4 + q, n · out_h + oy) = dy[n, 4q .. 4q+3, oy, ox]
// GEMM view: rows are output channels, columns are (tap, input channel), the reduction runs over the output
// pixels. No atomics, so results are bit-identical run to run: the batch is cut into a fixed number of
// slices, each invocation sums its slice's pixels in order into partials[slice] ([dw | db], the layout of
// conv2d_backward_weight.wgsl), and that file's `reduce` adds the slices in order.
//
// Each invocation computes 16 output channels × 16 input channels of one tap as 4×4 mat4x4 accumulators
// a_ij (columns: 4 input channels of quad j; rows: 4 output channels of quad i), 256 multiply-adds per output
// pixel from 4 + 4 texel fetches. Invocation (gid.x, gid.y, gid.z) computes input channel block gid.x %
// c_blocks of tap gid.x / c_blocks, output channel block gid.y, slice gid.z.

struct Params {
    in_channels: u32,
    out_channels: u32,
    in_quads: u32,   // ceil(in_channels / 4): texels of one pixel in xt
    out_quads: u32,  // ceil(out_channels / 4): texels of one pixel in dyt
    in_h: u32,       // rows of one padded image in xt
    out_h: u32,
    out_w: u32,
    kernel_h: u32,
    kernel_w: u32,
    stride: u32,
    c_blocks: u32,   // ceil(in_quads / 4)
    images: u32,     // in this piece of the batch
    per_slice: u32,  // images per slice
    len: u32,        // out_channels · in_channels · kh · kw + out_channels: the floats of one partial
    _pad0: u32,
    _pad1: u32,
}

const WG: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var xt: texture_2d<f32>;
@group(0) @binding(2) var dyt: texture_2d<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

// The outer product of 4 output channels' gradients and 4 input channels' values: column j is input j's.
fn outer(g: vec4<f32>, v: vec4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(g * v.x, g * v.y, g * v.z, g * v.w);
}

// One of four values by a loop variable, with selects: the accumulators stay indexed by constants only.
fn pick4(v0: mat4x4<f32>, v1: mat4x4<f32>, v2: mat4x4<f32>, v3: mat4x4<f32>, i: u32) -> mat4x4<f32> {
    return mat4x4<f32>(
        select(select(select(v0[0], v1[0], i == 1u), v2[0], i == 2u), v3[0], i == 3u),
        select(select(select(v0[1], v1[1], i == 1u), v2[1], i == 2u), v3[1], i == 3u),
        select(select(select(v0[2], v1[2], i == 1u), v2[2], i == 2u), v3[2], i == 3u),
        select(select(select(v0[3], v1[3], i == 1u), v2[3], i == 2u), v3[3], i == 3u),
    );
}

// Stores a_ij: rows are output channels o0 .. o0+3, columns input channels c0 .. c0+3.
fn store(base: u32, o0: u32, c0: u32, tap: u32, a: mat4x4<f32>) {
    let taps = p.kernel_h * p.kernel_w;
    let k = p.in_channels * taps;
    for (var col = 0u; col < 4u; col++) {
        let c = c0 + col;
        let v = a[col];
        for (var row = 0u; row < 4u; row++) {
            let o = o0 + row;
            if o < p.out_channels && c < p.in_channels {
                partials[base + o * k + c * taps + tap] = v[row];
            }
        }
    }
}

@compute @workgroup_size(WG)
fn partial(@builtin(global_invocation_id) gid: vec3<u32>) {
    let taps = p.kernel_h * p.kernel_w;
    if gid.x >= taps * p.c_blocks {
        return;
    }
    let tap = gid.x / p.c_blocks;
    let cb = gid.x - tap * p.c_blocks;
    let ky = tap / p.kernel_w;
    let kx = tap - ky * p.kernel_w;
    // Texel columns of the block's quads (past the last quad: the last one again, never stored).
    let last_in = p.in_quads - 1u;
    let last_out = p.out_quads - 1u;
    let xq = min(vec4<u32>(cb * 4u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last_in));
    let gq = min(vec4<u32>(gid.y * 4u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last_out));
    var a00 = mat4x4<f32>(); var a01 = mat4x4<f32>(); var a02 = mat4x4<f32>(); var a03 = mat4x4<f32>();
    var a10 = mat4x4<f32>(); var a11 = mat4x4<f32>(); var a12 = mat4x4<f32>(); var a13 = mat4x4<f32>();
    var a20 = mat4x4<f32>(); var a21 = mat4x4<f32>(); var a22 = mat4x4<f32>(); var a23 = mat4x4<f32>();
    var a30 = mat4x4<f32>(); var a31 = mat4x4<f32>(); var a32 = mat4x4<f32>(); var a33 = mat4x4<f32>();
    var db0 = vec4<f32>(); var db1 = vec4<f32>(); var db2 = vec4<f32>(); var db3 = vec4<f32>();
    let first = gid.z * p.per_slice;
    let end = min(first + p.per_slice, p.images);
    for (var n = first; n < end; n++) {
        for (var oy = 0u; oy < p.out_h; oy++) {
            let gy = n * p.out_h + oy;
            let xy = n * p.in_h + oy * p.stride + ky;
            for (var ox = 0u; ox < p.out_w; ox++) {
                let gx = ox * p.out_quads;
                let xx = (ox * p.stride + kx) * p.in_quads;
                let g0 = textureLoad(dyt, vec2(gx + gq.x, gy), 0);
                let g1 = textureLoad(dyt, vec2(gx + gq.y, gy), 0);
                let g2 = textureLoad(dyt, vec2(gx + gq.z, gy), 0);
                let g3 = textureLoad(dyt, vec2(gx + gq.w, gy), 0);
                let v0 = textureLoad(xt, vec2(xx + xq.x, xy), 0);
                let v1 = textureLoad(xt, vec2(xx + xq.y, xy), 0);
                let v2 = textureLoad(xt, vec2(xx + xq.z, xy), 0);
                let v3 = textureLoad(xt, vec2(xx + xq.w, xy), 0);
                a00 += outer(g0, v0); a01 += outer(g0, v1); a02 += outer(g0, v2); a03 += outer(g0, v3);
                a10 += outer(g1, v0); a11 += outer(g1, v1); a12 += outer(g1, v2); a13 += outer(g1, v3);
                a20 += outer(g2, v0); a21 += outer(g2, v1); a22 += outer(g2, v2); a23 += outer(g2, v3);
                a30 += outer(g3, v0); a31 += outer(g3, v1); a32 += outer(g3, v2); a33 += outer(g3, v3);
                db0 += g0; db1 += g1; db2 += g2; db3 += g3;
            }
        }
    }
    let base = gid.z * p.len;
    let o0 = gid.y * 16u;
    let c0 = cb * 16u;
    // Looped rather than written out, for compile time (llvmpipe compiles at the first dispatch).
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            let a = pick4(pick4(a00, a01, a02, a03, j), pick4(a10, a11, a12, a13, j),
                          pick4(a20, a21, a22, a23, j), pick4(a30, a31, a32, a33, j), i);
            store(base, o0 + 4u * i, c0 + 4u * j, tap, a);
        }
    }
    // The bias gradient, once per output channel: by the invocations of the first tap and channel block.
    if gid.x == 0u {
        let k = p.in_channels * taps;
        let db = mat4x4<f32>(db0, db1, db2, db3);
        for (var i = 0u; i < 4u; i++) {
            for (var row = 0u; row < 4u; row++) {
                let o = o0 + 4u * i + row;
                if o < p.out_channels {
                    partials[base + p.out_channels * k + o] = db[i][row];
                }
            }
        }
    }
}
