// Copies a convolution's operands into the rgba32float textures that conv2d_texture.wgsl and
// conv2d_texture_backward_weight.wgsl read, four channels per texel (`input` also copies the output
// gradient for the latter, as the input of a 1×1 convolution).
//   input:   xt(x · c4 + q, n · tex_h + y) = in[n, 4q .. 4q+3, (y - pad_y) / dilation, (x - pad_x) / dilation],
//            zero in the padding, between dilated values and past the last channel
//   weights: wt(j, k) = w'[4j .. 4j+3, c, ky, kx], k = ((ky · kw + kx) · c4 + c / 4) · 4 + c % 4, zero past
//            the last channels; w' = w[o, c, ky, kx] (forward) or w[c, o, kh-1-ky, kw-1-kx] (the input
//            gradient's transposed convolution)

struct Params {
    channels: u32,     // C: input channels (of w' for the weights)
    out_channels: u32, // O of w'
    src_h: u32,        // input size, before dilation
    src_w: u32,
    tex_h: u32,        // one padded image in xt
    tex_w: u32,
    pad_y: u32,
    pad_x: u32,
    quads: u32,        // c4 = ceil(C / 4)
    images: u32,
    kernel_h: u32,
    kernel_w: u32,
    transposed: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var dst: texture_storage_2d<rgba32float, write>;

// The stride of the convolution whose input gradient this is (1 for the forward pass): a constant, so that
// the divisions by it compile to shifts (llvmpipe runs a vector division one lane at a time).
override DILATION: u32 = 1u;

// One padded pixel (x, y) = gid.xy per invocation, all its channel quads: one division per invocation.
@compute @workgroup_size(8, 8)
fn input(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= p.tex_w || gid.y >= p.images * p.tex_h {
        return;
    }
    let n = gid.y / p.tex_h;
    let d = i32(DILATION);
    let dy = i32(gid.y - n * p.tex_h) - i32(p.pad_y);
    let dx = i32(gid.x) - i32(p.pad_x);
    let sy = dy / d;
    let sx = dx / d;
    let inside = dy >= 0 && dx >= 0 && sy * d == dy && sx * d == dx && sy < i32(p.src_h) && sx < i32(p.src_w);
    let plane = p.src_h * p.src_w;
    let at0 = n * p.channels * plane + u32(sy) * p.src_w + u32(sx);
    for (var q = 0u; q < p.quads; q++) {
        var v = vec4<f32>();
        // A branch rather than a select: llvmpipe skips the loads where no lane of a row is inside.
        if inside {
            for (var i = 0u; i < 4u; i++) {
                let c = q * 4u + i;
                v[i] = select(0.0, src[at0 + min(c, p.channels - 1u) * plane], c < p.channels);
            }
        }
        textureStore(dst, vec2<u32>(gid.x * p.quads + q, gid.y), v);
    }
}

@compute @workgroup_size(8, 8)
fn weights(@builtin(global_invocation_id) gid: vec3<u32>) {
    let taps = p.kernel_h * p.kernel_w;
    if any(gid.xy >= textureDimensions(dst)) {
        return;
    }
    let step = gid.y / 4u;
    let tap = step / p.quads;
    let c = (step - tap * p.quads) * 4u + gid.y % 4u;
    var v = vec4<f32>();
    for (var i = 0u; i < 4u; i++) {
        let o = gid.x * 4u + i;
        let ok = o < p.out_channels && c < p.channels;
        var at = (o * p.channels + c) * taps + tap;
        if p.transposed != 0u {
            at = (c * p.out_channels + o) * taps + (taps - 1u - tap);
        }
        v[i] = select(0.0, src[select(0u, at, ok)], ok);
    }
    textureStore(dst, gid.xy, v);
}
