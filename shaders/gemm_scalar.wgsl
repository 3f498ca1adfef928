// GEMM with scalar loads and 4x4 register blocks, no workgroup memory: the fallback on CPU-emulated
// adapters for shapes whose rows are not whole vec4s (k = 9 in the first conv, n = 10 in the last layer).
// C[m,n] = op(A)·op(B) (+ bias[n]) (ReLU), row-major; transposes are strides; any shape.
// Loads clamp their index into range; stores too (the clamped rows and columns repeat real ones).

struct Params {
    m: u32,
    n: u32,
    k: u32,
    flags: u32, // bit 0: add bias, bit 1: ReLU, bit 2: A is [k,m], bit 3: B is [n,k]
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * 4u;
    let col0 = gid.x * 4u;
    if row0 >= p.m || col0 >= p.n {
        return;
    }
    // Element (r, kk) of op(A) is a[r * a_row + kk * a_k]; element (kk, col) of op(B) is b[kk * b_k + col * b_col].
    var a_row = p.k;
    var a_k = 1u;
    if (p.flags & 4u) != 0u {
        a_row = 1u;
        a_k = p.m;
    }
    var b_k = p.n;
    var b_col = 1u;
    if (p.flags & 8u) != 0u {
        b_k = 1u;
        b_col = p.k;
    }
    var ra: array<u32, 4>;
    var cb: array<u32, 4>;
    for (var i = 0u; i < 4u; i++) {
        ra[i] = min(row0 + i, p.m - 1u) * a_row;
        cb[i] = min(col0 + i, p.n - 1u) * b_col;
    }
    var acc: array<array<f32, 4>, 4>;
    for (var kk = 0u; kk < p.k; kk++) {
        var av: array<f32, 4>;
        var bv: array<f32, 4>;
        for (var i = 0u; i < 4u; i++) {
            av[i] = a[ra[i] + kk * a_k];
            bv[i] = b[kk * b_k + cb[i]];
        }
        for (var i = 0u; i < 4u; i++) {
            for (var j = 0u; j < 4u; j++) {
                acc[i][j] = fma(av[i], bv[j], acc[i][j]);
            }
        }
    }
    // The epilogue has no branches (see gemm_vec4.wgsl): rows and columns past the edge were computed on
    // clamped inputs, so storing them at the same clamped indices rewrites the last row and column with
    // their own values.
    var bias4: array<f32, 4>;
    if (p.flags & 1u) != 0u {
        for (var j = 0u; j < 4u; j++) {
            bias4[j] = bias[min(col0 + j, p.n - 1u)];
        }
    }
    let relu = (p.flags & 2u) != 0u;
    for (var i = 0u; i < 4u; i++) {
        let row = min(row0 + i, p.m - 1u) * p.n;
        for (var j = 0u; j < 4u; j++) {
            let x = acc[i][j] + bias4[j];
            c[row + min(col0 + j, p.n - 1u)] = select(x, max(x, 0.0), relu);
        }
    }
}
