// GEMM for CPU-emulated adapters (lavapipe): C[m,n] = op(A)·op(B) (+ bias[n]) (ReLU), row-major.
// Each invocation computes a 4x8 block of C from vec4 loads, with no workgroup memory: llvmpipe runs
// 8 invocations per SIMD instruction and turns loads into gathers, so register blocking with vector loads
// wins there (12 GFLOP/s on 1024^3) and workgroup-memory tiling loses (3.3).
//
// The vec4 dimension of each operand must be a multiple of 4 (checked by the host):
//   nn: A [m,k] along k, B [k,n] along n      -> k % 4 == 0, n % 4 == 0
//   nt: A [m,k] along k, B [n,k] along k      -> k % 4 == 0
//   tn: A [k,m] along m, B [k,n] along n      -> m % 4 == 0, n % 4 == 0
// Rows and columns past the edge of C are computed on clamped inputs and not stored.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    flags: u32, // bit 0: add bias, bit 1: ReLU
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const TM: u32 = 4u;
const TN: u32 = 8u;

fn store_row(row: u32, col0: u32, lo: vec4<f32>, hi: vec4<f32>) {
    if row >= p.m {
        return;
    }
    var v = array<f32, 8>(lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w);
    for (var j = 0u; j < TN; j++) {
        let col = col0 + j;
        if col < p.n {
            var x = v[j];
            if (p.flags & 1u) != 0u {
                x += bias[col];
            }
            if (p.flags & 2u) != 0u {
                x = max(x, 0.0);
            }
            c[row * p.n + col] = x;
        }
    }
}

// A·B: per step of 4 along k, 4 vec4 of A (one per row) times 4x2 vec4 of B.
@compute @workgroup_size(8, 8)
fn nn(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * TM;
    let col0 = gid.x * TN;
    if row0 >= p.m || col0 >= p.n {
        return;
    }
    let k4 = p.k / 4u;
    let n4 = p.n / 4u;
    let c4 = col0 / 4u;
    let c4b = min(c4 + 1u, n4 - 1u);
    var rows: array<u32, 4>;
    for (var i = 0u; i < TM; i++) {
        rows[i] = min(row0 + i, p.m - 1u) * k4;
    }
    var lo: array<vec4<f32>, 4>;
    var hi: array<vec4<f32>, 4>;
    for (var kk = 0u; kk < k4; kk++) {
        let kb = kk * 4u * n4;
        let b0l = b[kb + c4];
        let b0h = b[kb + c4b];
        let b1l = b[kb + n4 + c4];
        let b1h = b[kb + n4 + c4b];
        let b2l = b[kb + 2u * n4 + c4];
        let b2h = b[kb + 2u * n4 + c4b];
        let b3l = b[kb + 3u * n4 + c4];
        let b3h = b[kb + 3u * n4 + c4b];
        for (var i = 0u; i < TM; i++) {
            let av = a[rows[i] + kk];
            lo[i] += av.x * b0l + av.y * b1l + av.z * b2l + av.w * b3l;
            hi[i] += av.x * b0h + av.y * b1h + av.z * b2h + av.w * b3h;
        }
    }
    for (var i = 0u; i < TM; i++) {
        store_row(row0 + i, col0, lo[i], hi[i]);
    }
}

// A·Bᵀ: B is [n,k]; each output is a dot product of two rows read as vec4 along k.
@compute @workgroup_size(8, 8)
fn nt(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * TM;
    let col0 = gid.x * TN;
    if row0 >= p.m || col0 >= p.n {
        return;
    }
    let k4 = p.k / 4u;
    var rows: array<u32, 4>;
    for (var i = 0u; i < TM; i++) {
        rows[i] = min(row0 + i, p.m - 1u) * k4;
    }
    var cols: array<u32, 8>;
    for (var j = 0u; j < TN; j++) {
        cols[j] = min(col0 + j, p.n - 1u) * k4;
    }
    var acc: array<array<f32, 8>, 4>;
    for (var kk = 0u; kk < k4; kk++) {
        var bv: array<vec4<f32>, 8>;
        for (var j = 0u; j < TN; j++) {
            bv[j] = b[cols[j] + kk];
        }
        for (var i = 0u; i < TM; i++) {
            let av = a[rows[i] + kk];
            for (var j = 0u; j < TN; j++) {
                acc[i][j] += dot(av, bv[j]);
            }
        }
    }
    for (var i = 0u; i < TM; i++) {
        let r = acc[i];
        store_row(row0 + i, col0, vec4(r[0], r[1], r[2], r[3]), vec4(r[4], r[5], r[6], r[7]));
    }
}

// Aᵀ·B: A is [k,m]; per step along k, one vec4 of A (4 rows of C) times two vec4 of B (8 columns).
@compute @workgroup_size(8, 8)
fn tn(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * TM;
    let col0 = gid.x * TN;
    if row0 >= p.m || col0 >= p.n {
        return;
    }
    let m4 = p.m / 4u;
    let n4 = p.n / 4u;
    let r4 = row0 / 4u;
    let c4 = col0 / 4u;
    let c4b = min(c4 + 1u, n4 - 1u);
    var lo: array<vec4<f32>, 4>;
    var hi: array<vec4<f32>, 4>;
    for (var kk = 0u; kk < p.k; kk++) {
        let av = a[kk * m4 + r4];
        let bl = b[kk * n4 + c4];
        let bh = b[kk * n4 + c4b];
        lo[0] += av.x * bl;
        hi[0] += av.x * bh;
        lo[1] += av.y * bl;
        hi[1] += av.y * bh;
        lo[2] += av.z * bl;
        hi[2] += av.z * bh;
        lo[3] += av.w * bl;
        hi[3] += av.w * bh;
    }
    for (var i = 0u; i < TM; i++) {
        store_row(row0 + i, col0, lo[i], hi[i]);
    }
}
