// Max pooling, NCHW, square windows (Keras "valid": windows that do not fit are dropped), with PADDING rows and
// columns of -∞ around the input (PyTorch's padding; 0 for Keras):
//   forward:  out[p, oy, ox] = max over the window at (oy·stride - padding, ox·stride - padding) of plane p;
//             argmax[p, oy, ox] = the whole input's index of that maximum, the first on ties
//   backward: dx[p, iy, ix] = Σ dy[p, oy, ox] over the outputs whose window covers (iy, ix) and chose it,
//             summed in output order (gather form: no atomics, deterministic, right for overlapping windows)
// One element per invocation (an output forward, an input backward); grids past 65535 workgroups fold into y.
// The window and stride are pipeline constants: the loops unroll and the divisions by the stride become
// shifts or multiplications (lavapipe has no vector division).

struct Params {
    planes: u32, // batch·channels in this piece
    height: u32,
    width: u32,
    out_h: u32,
    out_w: u32,
    window: u32, // = WINDOW
    stride: u32, // = STRIDE
    base: u32,   // whole-input index of this piece's first element
    padding: u32, // = PADDING
}

override WINDOW: u32 = 2u;
override STRIDE: u32 = 2u;
override PADDING: u32 = 0u;

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;

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
    if PADDING > 0u {
        forward_padded(o, plane, oy, ox);
        return;
    }
    let corner = plane * p.height * p.width + oy * STRIDE * p.width + ox * STRIDE;
    var best = corner;
    var best_value = x[corner];
    for (var wy = 0u; wy < WINDOW; wy++) {
        let row = corner + wy * p.width;
        for (var wx = 0u; wx < WINDOW; wx++) {
            let v = x[row + wx];
            // Strictly greater: the first maximum wins ties.
            if v > best_value {
                best_value = v;
                best = row + wx;
            }
        }
    }
    out[o] = best_value;
    argmax[o] = p.base + best;
}

// The window's taps in row-major order, those outside the input skipped; the first maximum wins ties.
fn forward_padded(o: u32, plane: u32, oy: u32, ox: u32) {
    let first = plane * p.height * p.width;
    var best = 0xffffffffu;
    var best_value = 0.0;
    for (var wy = 0u; wy < WINDOW; wy++) {
        let y = oy * STRIDE + wy;
        if y < PADDING || y - PADDING >= p.height {
            continue;
        }
        for (var wx = 0u; wx < WINDOW; wx++) {
            let x_ = ox * STRIDE + wx;
            if x_ < PADDING || x_ - PADDING >= p.width {
                continue;
            }
            let i = first + (y - PADDING) * p.width + (x_ - PADDING);
            let v = x[i];
            if best == 0xffffffffu || v > best_value {
                best_value = v;
                best = i;
            }
        }
    }
    out[o] = best_value;
    argmax[o] = p.base + best;
}

@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> chosen: array<u32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    let in_plane = p.height * p.width;
    if i >= p.planes * in_plane {
        return;
    }
    let plane = i / in_plane;
    let r = i - plane * in_plane;
    // In padded coordinates: the window of output o covers o·stride <= y < o·stride + window.
    let iy = r / p.width + PADDING;
    let ix = r - (r / p.width) * p.width + PADDING;
    let me = p.base + i;
    if STRIDE >= WINDOW {
        // Windows do not overlap: at most one covers (iy, ix).
        let oy = iy / STRIDE;
        let ox = ix / STRIDE;
        let o = (plane * p.out_h + min(oy, p.out_h - 1u)) * p.out_w + min(ox, p.out_w - 1u);
        let covered = oy < p.out_h && ox < p.out_w && iy - oy * STRIDE < WINDOW && ix - ox * STRIDE < WINDOW;
        dx[i] = select(0.0, dy[o], covered && chosen[o] == me);
        return;
    }
    // The outputs whose window covers (iy, ix): o·stride <= i < o·stride + window.
    let oy0 = (max(iy + 1u, WINDOW) - WINDOW + STRIDE - 1u) / STRIDE;
    let oy1 = min(iy / STRIDE + 1u, p.out_h);
    let ox0 = (max(ix + 1u, WINDOW) - WINDOW + STRIDE - 1u) / STRIDE;
    let ox1 = min(ix / STRIDE + 1u, p.out_w);
    var sum = 0.0;
    for (var oy = oy0; oy < oy1; oy++) {
        for (var ox = ox0; ox < ox1; ox++) {
            let o = (plane * p.out_h + oy) * p.out_w + ox;
            if chosen[o] == me {
                sum += dy[o];
            }
        }
    }
    dx[i] = sum;
}
