// Average pooling, NCHW, square windows, with PADDING rows and columns of zeros around the input that count in
// the mean (PyTorch's count_include_pad=True), so every window divides by WINDOW²:
//   forward:  out[p, oy, ox] = (Σ x[p, iy, ix] over the window's taps inside the input, row-major) / WINDOW²
//   backward: dx[p, iy, ix] = (Σ dy[p, oy, ox] over the outputs whose window covers (iy, ix), oy then ox) / WINDOW²
//             (gather form: no atomics, deterministic, right for overlapping windows)
// One element per invocation (an output forward, an input backward); grids past 65535 workgroups fold into y.
// The window, stride and padding are pipeline constants, as in maxpool.wgsl, whose Params this shares.

struct Params {
    planes: u32, // batch·channels in this piece
    height: u32,
    width: u32,
    out_h: u32,
    out_w: u32,
    window: u32, // = WINDOW
    stride: u32, // = STRIDE
    base: u32,   // unused here (max pooling's argmax offset)
    padding: u32, // = PADDING
}

override WINDOW: u32 = 2u;
override STRIDE: u32 = 2u;
override PADDING: u32 = 0u;

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let o = gid.x + gid.y * groups.x * WG;
    let out_plane = p.out_h * p.out_w;
    if o >= p.planes * out_plane {
        return;
    }
    let plane = o / out_plane;
    let r = o - plane * out_plane;
    let oy = r / p.out_w;
    let ox = r - oy * p.out_w;
    let first = plane * p.height * p.width;
    var sum = 0.0;
    for (var wy = 0u; wy < WINDOW; wy++) {
        // Padded coordinates: the tap is inside the input when PADDING <= y < PADDING + height.
        let y = oy * STRIDE + wy;
        if y < PADDING || y - PADDING >= p.height {
            continue;
        }
        let row = first + (y - PADDING) * p.width;
        for (var wx = 0u; wx < WINDOW; wx++) {
            let x_ = ox * STRIDE + wx;
            if x_ < PADDING || x_ - PADDING >= p.width {
                continue;
            }
            sum += x[row + x_ - PADDING];
        }
    }
    out[o] = sum * (1.0 / f32(WINDOW * WINDOW));
}

@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    let in_plane = p.height * p.width;
    if i >= p.planes * in_plane {
        return;
    }
    let plane = i / in_plane;
    let r = i - plane * in_plane;
    let iy = r / p.width + PADDING;
    let ix = r - (r / p.width) * p.width + PADDING;
    // The outputs whose window covers (iy, ix): o·stride <= i < o·stride + window.
    let oy0 = (max(iy + 1u, WINDOW) - WINDOW + STRIDE - 1u) / STRIDE;
    let oy1 = min(iy / STRIDE + 1u, p.out_h);
    let ox0 = (max(ix + 1u, WINDOW) - WINDOW + STRIDE - 1u) / STRIDE;
    let ox1 = min(ix / STRIDE + 1u, p.out_w);
    var sum = 0.0;
    for (var oy = oy0; oy < oy1; oy++) {
        for (var ox = ox0; ox < ox1; ox++) {
            sum += dy[(plane * p.out_h + oy) * p.out_w + ox];
        }
    }
    dx[i] = sum * (1.0 / f32(WINDOW * WINDOW));
}
